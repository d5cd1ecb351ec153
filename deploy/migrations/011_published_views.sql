-- One writer per schema, and reads through the owner's views.
--
-- A service writes only its own schema; what another service may read of it, it publishes as
-- views in that same schema, each with a COMMENT ON VIEW that starts "read by <service>: " and
-- says why. Who owns which schema (intake, router, and later tally and notify; registry and bus
-- are shared foundations) is written in deploy/schema-owners.txt, and tests/ownership_check.py
-- fails when SQL of one service (its C code, or the views and functions in its schema) names
-- another service's tables, or a view that was not published to it.
--
-- Before this migration intake read router.ticket, router.transition and router.stat_daily
-- directly, the router's migration 004 defined intake.ticket_view in intake's schema, the router
-- read intake.ticket (the reporter's phone) and registry.unit_keep_placed read router.ticket.
-- Each reader now goes through a view its owner publishes below.
--
-- The one foreign key across service schemas, router.ticket.ticket_id -> intake.ticket (id),
-- stays (router.follower, which 004 also pointed at intake.ticket, is a view since 007). A
-- foreign key is a constraint the referencing service declares on its own rows, checked by
-- PostgreSQL; no code reads through it. It is the last line of defence that the router follows
-- only tickets intake committed, and costs intake nothing (tickets are never deleted). It is
-- listed in deploy/schema-owners.txt, and the check fails on a cross-service foreign key that is
-- not listed there (and on a listed one that is gone), so the next one is a decision made in
-- review, not a habit copied by the next daemon.
--
-- Nothing here depends on the data: it applies to a database of the previous release with
-- tickets in it as to an empty one.

-- ==== router: what the router publishes ====

-- The lifecycle as a reporter sees it. A duplicate (重复件, state 'merged') follows the ticket it
-- was merged into: it is open until that one closes, shows who holds that one and when it is
-- expected, and keeps naming that one's code in its notes.
CREATE VIEW router.ticket_status AS
SELECT r.ticket_id, r.code, r.state,
       CASE WHEN CASE WHEN r.state = 'merged' THEN coalesce(o.state, 'closed') ELSE r.state END
                 IN ('closed', 'rejected', 'merged')
            THEN 'closed' ELSE 'open' END::text AS status,
       coalesce(r.status_notes, CASE r.state
           WHEN 'assigned' THEN '已派单，等待签收' WHEN 'accepted' THEN '已签收' WHEN 'in_progress' THEN '办理中'
           WHEN 'resolved' THEN '已办结，等待评价' WHEN 'closed' THEN '已办结' WHEN 'returned' THEN '已退单，重新派单中'
           WHEN 'rejected' THEN '不予受理' WHEN 'merged' THEN '重复件，已并入 ' || o.code END) AS status_notes,
       CASE WHEN r.state = 'merged' THEN o.unit_id ELSE r.unit_id END AS unit_id,
       CASE WHEN r.state = 'merged' THEN o.resolve_due ELSE r.resolve_due END AS expected_datetime,
       CASE WHEN r.state = 'merged' THEN greatest(r.updated_at, o.updated_at) ELSE r.updated_at END AS updated_at
FROM router.ticket r
LEFT JOIN router.ticket o ON o.ticket_id = r.merged_into;
COMMENT ON VIEW router.ticket_status IS
    'read by intake: the lifecycle Open311 and the native API show for each routed ticket (status open/closed, '
    'status_notes, the unit responsible, expected and updated times), through intake.ticket_view. '
    'A duplicate follows the ticket it was merged into.';

-- Who holds each ticket, the units it belongs to, and its clocks.
CREATE VIEW router.ticket_assignment AS
SELECT ticket_id, code, service_code, state, unit_id, level, assignee_id, group_id, village_id, township_id,
       county_id, received_at, sign_due, resolve_due, overdue
FROM router.ticket;
COMMENT ON VIEW router.ticket_assignment IS
    'read by intake: which staff may see a ticket and their work list (services/intake/api_staff.c), and the '
    'open tickets past their resolve deadline in the closure-rate API (services/intake/api_stats.c).';

-- Every transition, with the public code of its ticket.
CREATE VIEW router.ticket_history AS
SELECT tr.id, tr.ticket_id, t.code, tr.action, tr.from_state, tr.to_state, tr.actor_id, tr.unit_id, tr.note, tr.at
FROM router.transition tr
JOIN router.ticket t ON t.ticket_id = tr.ticket_id;
COMMENT ON VIEW router.ticket_history IS
    'read by intake: a ticket''s history for staff (GET /api/v1/tickets/{code}/history) and Open311 '
    'servicerequestupdates (services/intake/open311_updates.c).';

-- The closure-rate aggregates, per (day of receipt, unit, category).
CREATE VIEW router.closure_stats_daily AS
SELECT day, unit_id, service_code, received, resolved, resolved_on_time, rated, satisfied, resolve_work_s,
       escalations, returns
FROM router.stat_daily;
COMMENT ON VIEW router.closure_stats_daily IS
    'read by intake: the closure-rate API (GET /api/v1/stats, services/intake/api_stats.c) sums these rows, '
    'which the router keeps current with every transition.';

-- A unit that tickets were placed in stays in the registry. The guard is the router's, like a
-- foreign key it declares on registry.unit, so its function lives in the router's schema (as
-- registry.unit_keep_placed it made the registry read a router table).
DROP TRIGGER unit_keep_placed ON registry.unit;
DROP FUNCTION registry.unit_keep_placed();
CREATE FUNCTION router.unit_keep_placed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM router.ticket t
               WHERE OLD.id IN (t.placed_unit_id, t.group_id, t.village_id, t.township_id, t.county_id)) THEN
        RAISE EXCEPTION 'unit % has tickets placed in it and stays in the registry', OLD.id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN OLD;
END
$$;
CREATE TRIGGER unit_keep_placed BEFORE DELETE ON registry.unit FOR EACH ROW EXECUTE FUNCTION router.unit_keep_placed();

-- ==== intake: what intake publishes, and its own read model ====

-- A ticket as submitted, as far as the router needs it beyond the ticket.created event.
CREATE VIEW intake.ticket_submitted AS
SELECT id, code, service_code, requested_at, lat, long, address_id, phone
FROM intake.ticket;
COMMENT ON VIEW intake.ticket_submitted IS
    'read by router: the reporter''s phone, so only the reporter may rate a ticket (services/router/lifecycle.c); '
    'the rest of a ticket reaches the router in its ticket.created event.';

-- What Open311 and the native API show of a ticket: intake's own columns, and the lifecycle the
-- router publishes in router.ticket_status (until the router has taken a ticket it is open).
-- The columns are those of 003 and 004, so views built on this one keep working.
CREATE OR REPLACE VIEW intake.ticket_view AS
SELECT t.id, t.code, t.channel, t.service_code, s.name AS service_name, t.description,
       t.lat, t.long, t.address_string, t.address_id, t.attributes, t.media_url,
       t.requested_at, coalesce(r.updated_at, t.requested_at) AS updated_at,
       coalesce(r.status, 'open')::text AS status,
       r.status_notes,
       u.name AS agency_responsible,
       r.expected_datetime, NULL::text AS service_notice
FROM intake.ticket t
JOIN registry.service s ON s.code = t.service_code
LEFT JOIN router.ticket_status r ON r.ticket_id = t.id
LEFT JOIN registry.unit u ON u.id = r.unit_id;
COMMENT ON VIEW intake.ticket_view IS
    'read by intake: its own read model for Open311 and the native API (services/intake/ticket_store.c).';
