-- 派单 of new tickets a batch at a time (services/router/assign_batch.c). One call per ticket cost
-- about 2 ms of PostgreSQL time (a dozen statements, each with its executor start-up), so the
-- router fell behind intake; now a chunk of up to 200 tickets takes two calls:
--   router.assign_plan(batch)   reads: where each ticket lives, the open ticket it may follow, the
--                               tickets of the same batch near it, the people on duty and their load;
--   (the router decides, in batch order, what each ticket becomes: assign_resolve.c)
--   router.assign_apply(rows)   writes: the tickets, aggregates, transitions, events,
--                               in one set-based statement.
-- Deciding in C between the two keeps the order-dependent part (a ticket can follow one assigned
-- earlier in the same batch; each assignment adds to its assignee's load) exact and testable.

-- Open tickets per person (assigned, accepted, in progress), kept by statement triggers on
-- router.ticket whatever writes it, so finding the least loaded person reads one row per person
-- instead of counting their tickets (which grew with every ticket they held).
CREATE TABLE router.staff_load (
    staff_id bigint PRIMARY KEY REFERENCES registry.staff (id) ON DELETE CASCADE,
    open     integer NOT NULL CHECK (open >= 0)
);
-- Every person has a row from the start (so the triggers only ever UPDATE: no two writers can
-- race to insert the same person). No ticket may change while the counts are taken.
LOCK TABLE router.ticket IN SHARE ROW EXCLUSIVE MODE;
INSERT INTO router.staff_load (staff_id, open)
SELECT s.id, (SELECT count(*) FROM router.ticket t
              WHERE t.assignee_id = s.id AND t.state IN ('assigned', 'accepted', 'in_progress'))
FROM registry.staff s;

CREATE FUNCTION router.staff_load_new_staff() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    INSERT INTO router.staff_load (staff_id, open) SELECT n.id, 0 FROM new_staff n ON CONFLICT DO NOTHING;
    RETURN NULL;
END
$$;
CREATE TRIGGER staff_load_new_staff AFTER INSERT ON registry.staff REFERENCING NEW TABLE AS new_staff
    FOR EACH STATEMENT EXECUTE FUNCTION router.staff_load_new_staff();

-- The change to each person's count made by one statement on router.ticket, from its transition
-- tables. The rows are locked in staff id order first, so two writers (two router instances)
-- wait for each other instead of deadlocking.
CREATE FUNCTION router.staff_load_track() RETURNS trigger LANGUAGE plpgsql AS $$
DECLARE
    ids bigint[];
    deltas int[];
BEGIN
    IF TG_OP = 'INSERT' THEN
        SELECT array_agg(id ORDER BY id), array_agg(n ORDER BY id) INTO ids, deltas FROM (
            SELECT assignee_id AS id, count(*)::int AS n FROM new_rows
            WHERE assignee_id IS NOT NULL AND state IN ('assigned', 'accepted', 'in_progress') GROUP BY 1) d;
    ELSIF TG_OP = 'UPDATE' THEN
        SELECT array_agg(id ORDER BY id), array_agg(n ORDER BY id) INTO ids, deltas FROM (
            SELECT id, sum(n)::int AS n FROM (
                SELECT assignee_id AS id, 1 AS n FROM new_rows
                WHERE assignee_id IS NOT NULL AND state IN ('assigned', 'accepted', 'in_progress')
                UNION ALL
                SELECT assignee_id, -1 FROM old_rows
                WHERE assignee_id IS NOT NULL AND state IN ('assigned', 'accepted', 'in_progress')) y
            GROUP BY id HAVING sum(n) <> 0) d;
    ELSE
        SELECT array_agg(id ORDER BY id), array_agg(-n ORDER BY id) INTO ids, deltas FROM (
            SELECT assignee_id AS id, count(*)::int AS n FROM old_rows
            WHERE assignee_id IS NOT NULL AND state IN ('assigned', 'accepted', 'in_progress') GROUP BY 1) d;
    END IF;
    IF ids IS NULL THEN
        RETURN NULL;
    END IF;
    PERFORM 1 FROM router.staff_load WHERE staff_id = ANY (ids) ORDER BY staff_id FOR NO KEY UPDATE;
    UPDATE router.staff_load l SET open = l.open + d.n
    FROM unnest(ids, deltas) AS d(id, n) WHERE l.staff_id = d.id;
    RETURN NULL;
END
$$;
CREATE TRIGGER staff_load_insert AFTER INSERT ON router.ticket REFERENCING NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION router.staff_load_track();
CREATE TRIGGER staff_load_update AFTER UPDATE ON router.ticket REFERENCING OLD TABLE AS old_rows NEW TABLE AS new_rows
    FOR EACH STATEMENT EXECUTE FUNCTION router.staff_load_track();
CREATE TRIGGER staff_load_delete AFTER DELETE ON router.ticket REFERENCING OLD TABLE AS old_rows
    FOR EACH STATEMENT EXECUTE FUNCTION router.staff_load_track();

-- The people who can hold a ticket at a unit, best first: the right role for the unit's level;
-- the desk named by p_office first (the handler's name tag, e.g. 王建国（水利站）); group leaders
-- and handlers before grid workers and operators (tier), then fewest open tickets (load).
-- The one place that says who is on duty: router.duty and router.assign_plan both read it.
CREATE FUNCTION router.duty_candidates(p_unit bigint, p_office text)
RETURNS TABLE (staff_id bigint, tier int, load bigint) LANGUAGE sql STABLE AS $$
    SELECT s.id,
           (CASE WHEN coalesce(p_office, '') <> '' AND strpos(s.name, p_office) > 0 THEN 0 ELSE 2 END
            + CASE WHEN s.role IN ('group_leader', 'handler') THEN 0 ELSE 1 END)::int,
           coalesce(l.open, 0)::bigint
    FROM registry.staff s JOIN registry.unit u ON u.id = s.unit_id
    LEFT JOIN router.staff_load l ON l.staff_id = s.id
    WHERE s.unit_id = p_unit AND s.active
      AND s.role = ANY (CASE u.level WHEN 'group' THEN ARRAY['group_leader', 'grid_worker']
                                     WHEN 'county' THEN ARRAY['handler', 'operator'] ELSE ARRAY['handler'] END)
$$;

CREATE OR REPLACE FUNCTION router.duty(p_unit bigint, p_office text) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT staff_id FROM router.duty_candidates(p_unit, p_office) ORDER BY tier, load, staff_id LIMIT 1
$$;

-- Who follows a ticket (is told of its outcome): its own reporter, and the reporters of the
-- duplicates merged into it. That is router.ticket itself, so a view instead of a table the
-- router kept in step with an insert per ticket.
DROP TABLE router.follower;
CREATE INDEX router_ticket_merged_into ON router.ticket (merged_into) WHERE merged_into IS NOT NULL;
CREATE VIEW router.follower AS
SELECT t.ticket_id, t.ticket_id AS source_ticket_id FROM router.ticket t WHERE t.state <> 'merged'
UNION ALL
SELECT t.merged_into, t.ticket_id FROM router.ticket t WHERE t.merged_into IS NOT NULL;

-- Epoch microseconds (as the router passes times) to a timestamp.
CREATE FUNCTION router.ts(p_us bigint) RETURNS timestamptz LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT to_timestamp(p_us::float8 / 1000000)
$$;

-- The read half. p is a JSON array of the new tickets, in commit order:
--   {"ord", "ticket_id", "service", "lat", "long", "address_id", "phone", "received" (epoch µs),
--    "level", "office", "radius" (m), "window_h",  -- these four from the category's rule
--    "cand": [[ord, lat, long], ...]}
-- cand: the earlier tickets of the batch that could be the original it follows (same category,
-- inside the window, roughly inside the radius: the router's cheap pre-filter, assign_batch.c),
-- including ones this connection may not see yet (the router reads on one connection while it
-- writes on another). Distances are on the sphere (use_spheroid false): within a metre of the
-- spheroid at these radii, at a fraction of the cost.
-- One row per ticket:
--   routed       already in router.ticket (a replay): leave it alone
--   group_id .. county_id   where it lives: the household named (address_id, as a grid worker at
--                the door gives it), else the group polygon holding the point, else the
--                reporter's registered household (by phone); without a group, the township whose
--                area holds the point; the county always
--   unit_id, unit_level     the unit at the rule's level above that place (a desk cannot hand down)
--   dup_*        the earliest open ticket of the same category within radius and window (重复件)
--   near         the ords of the candidates really within the radius
--   staff        who can hold it at unit_id: [[staff_id, tier, load], ...]
CREATE FUNCTION router.assign_plan(p jsonb)
RETURNS TABLE (ord int, routed boolean, group_id bigint, village_id bigint, township_id bigint, county_id bigint,
               unit_id bigint, unit_level text, dup_id bigint, dup_received bigint, dup_unit_id bigint,
               dup_code text, near int[], staff jsonb)
-- (Our connections run with jit off, common/db.c: compiling this plan took 200 ms.)
LANGUAGE sql STABLE AS $$
    WITH b AS (
        SELECT x.*, router.ts(x.received) AS received_at,
               CASE WHEN x.lat IS NOT NULL AND x.long IS NOT NULL
                    THEN ST_SetSRID(ST_MakePoint(x.long, x.lat), 4326) END AS pt
        FROM jsonb_to_recordset(p) AS x(ord int, ticket_id bigint, service text, lat float8, long float8,
                                        address_id text, phone text, received bigint, level text, office text,
                                        radius float8, window_h float8, cand jsonb)
    ), placed AS MATERIALIZED (  -- materialized: each lookup runs once per ticket, not once per use
        SELECT b.*, g.id AS g, c.id AS c
        FROM b
        CROSS JOIN (SELECT id FROM registry.unit WHERE level = 'county' ORDER BY id LIMIT 1) c
        CROSS JOIN LATERAL (SELECT coalesce(
                   (SELECT h.group_id FROM registry.household h WHERE h.code = b.address_id),
                   (SELECT u.id FROM registry.unit u
                    WHERE b.pt IS NOT NULL AND u.level = 'group' AND ST_Covers(u.boundary, b.pt) ORDER BY u.id LIMIT 1),
                   (SELECT h.group_id FROM registry.resident r JOIN registry.household h ON h.id = r.household_id
                    WHERE r.phone = b.phone ORDER BY r.is_head DESC, r.id LIMIT 1)) AS id) g
    ), units AS MATERIALIZED (
        SELECT l.*, u.level AS target_level, CASE WHEN u.level = l.level THEN l.office END AS office_used
        FROM (SELECT t.*, CASE t.level WHEN 'group' THEN coalesce(t.g, t.v, t.tw, t.c)
                                       WHEN 'village' THEN coalesce(t.v, t.tw, t.c)
                                       WHEN 'township' THEN coalesce(t.tw, t.c) ELSE t.c END AS target
              FROM (SELECT pl.*, vu.id AS v,
                           CASE WHEN pl.g IS NOT NULL THEN vu.parent_id
                                ELSE (SELECT u.id FROM registry.unit u
                                      WHERE pl.pt IS NOT NULL AND u.level = 'township' AND ST_Covers(u.boundary, pl.pt)
                                      ORDER BY u.id LIMIT 1) END AS tw
                    FROM placed pl
                    LEFT JOIN registry.unit gu ON gu.id = pl.g
                    LEFT JOIN registry.unit vu ON vu.id = gu.parent_id) t) l
        LEFT JOIN registry.unit u ON u.id = l.target
    ), duty AS (
        SELECT k.target, k.office_used,
               jsonb_agg(jsonb_build_array(d.staff_id, d.tier, d.load) ORDER BY d.tier, d.staff_id) AS staff
        FROM (SELECT DISTINCT target, office_used FROM units) k
        CROSS JOIN LATERAL router.duty_candidates(k.target, k.office_used) d
        GROUP BY k.target, k.office_used
    )
    -- (LIMIT 1: one index probe per ticket, never a hash of the whole table)
    SELECT n.ord, (SELECT true FROM router.ticket r WHERE r.ticket_id = n.ticket_id LIMIT 1) IS NOT NULL,
           n.g, n.v, n.tw, n.c, n.target, n.target_level,
           dup.ticket_id, (extract(epoch FROM dup.received_at) * 1000000)::bigint, dup.unit_id, dup.code,
           ARRAY(SELECT (k.v->>0)::int FROM jsonb_array_elements(n.cand) AS k(v)
                 WHERE n.pt IS NOT NULL AND n.radius > 0
                   AND ST_DWithin(ST_SetSRID(ST_MakePoint((k.v->>2)::float8, (k.v->>1)::float8), 4326)::geography,
                                  n.pt::geography, n.radius, false)
                 ORDER BY 1),
           coalesce(d.staff, '[]')
    FROM units n
    LEFT JOIN duty d ON d.target = n.target AND d.office_used IS NOT DISTINCT FROM n.office_used
    LEFT JOIN LATERAL (
        SELECT c.ticket_id, c.received_at, c.unit_id, c.code FROM (
            -- through the location index alone: with the open states named in here the planner
            -- ANDs in router_ticket_assignee, which lists every open ticket of the county
            SELECT r.* FROM router.ticket r
            WHERE n.pt IS NOT NULL AND n.radius > 0
              AND ST_DWithin(r.location, n.pt::geography, n.radius, false)
              AND r.state NOT IN ('closed', 'rejected', 'merged') AND r.service_code = n.service
              AND r.received_at >= n.received_at - make_interval(secs => n.window_h * 3600)
            OFFSET 0) c
        WHERE c.state IN ('assigned', 'accepted', 'in_progress')
        ORDER BY c.received_at, c.ticket_id LIMIT 1) dup ON true
    ORDER BY n.ord
$$;

-- The write half. p is a JSON array of router.assign_row: what the router decided, in commit order
-- (times in epoch microseconds; state 'assigned' or 'merged'; merged_code the original's code).
-- Writes each ticket, the aggregates (assigned tickets count as received), and
-- one transition and event each: ticket.assigned or ticket.merged. Set-based; a LANGUAGE sql body
-- is planned per call, so no plan outlives the table sizes it was made for.
CREATE TYPE router.assign_row AS (
    ord int, ticket_id bigint, code text, service text, state text, group_id bigint, village_id bigint,
    township_id bigint, county_id bigint, received bigint, unit_id bigint, assignee_id bigint,
    merged_into bigint, merged_code text, sign_due bigint, sign_warn bigint, resolve_due bigint,
    resolve_warn bigint, lat float8, long float8);

CREATE FUNCTION router.assign_apply(p jsonb) RETURNS void LANGUAGE sql AS $$
    -- One statement: the rows are decoded once and each insert feeds the next through RETURNING.
    -- (Foreign keys to the tickets inserted here are checked at the end of the statement.)
    WITH a AS MATERIALIZED (
        SELECT * FROM jsonb_populate_recordset(NULL::router.assign_row, p)
    ), t AS (
        INSERT INTO router.ticket (ticket_id, code, service_code, state, placed_unit_id, group_id, village_id,
                                   township_id, county_id, received_at, updated_at, merged_into, unit_id, level,
                                   assignee_id, assigned_at, sign_due, sign_warn_at, resolve_due, resolve_warn_at,
                                   location, status_notes)
        SELECT a.ticket_id, a.code, a.service, a.state, coalesce(a.group_id, a.township_id, a.county_id), a.group_id,
               a.village_id, a.township_id, a.county_id, router.ts(a.received), router.ts(a.received),
               a.merged_into, a.unit_id, CASE WHEN a.state = 'assigned' THEN u.level END,
               a.assignee_id, CASE WHEN a.state = 'assigned' THEN router.ts(a.received) END,
               router.ts(a.sign_due), router.ts(a.sign_warn), router.ts(a.resolve_due),
               router.ts(a.resolve_warn),
               CASE WHEN a.lat IS NOT NULL AND a.long IS NOT NULL
                    THEN ST_SetSRID(ST_MakePoint(a.long, a.lat), 4326)::geography END,
               -- what Open311 shows the reporter of a duplicate: the code of the one it follows
               CASE WHEN a.state = 'merged' THEN '重复件，已并入 ' || a.merged_code END
        FROM a LEFT JOIN registry.unit u ON u.id = a.unit_id
        ORDER BY a.ord
        RETURNING ticket_id, code, unit_id, level, assignee_id, sign_due, resolve_due
    ), s AS (
        -- one upsert per aggregate row, in the order every writer takes them (county, township,
        -- village, group, as router.stats_add does), so concurrent writers wait instead of deadlocking
        INSERT INTO router.stat_daily AS s (day, unit_id, service_code, received)
        SELECT (router.ts(a.received) AT TIME ZONE 'Asia/Shanghai')::date, x.id, a.service, count(*)
        FROM a
        CROSS JOIN LATERAL unnest(ARRAY[a.county_id, a.township_id, a.village_id, a.group_id]) WITH ORDINALITY AS x(id, n)
        WHERE a.state = 'assigned' AND x.id IS NOT NULL
        GROUP BY 1, x.id, x.n, a.service
        ORDER BY x.n, x.id, a.service, 1
        ON CONFLICT (unit_id, service_code, day) DO UPDATE SET received = s.received + EXCLUDED.received
    ), tr AS (
        INSERT INTO router.transition (ticket_id, action, from_state, to_state, unit_id, note, at)
        SELECT a.ticket_id, CASE a.state WHEN 'assigned' THEN 'assign' ELSE 'merge' END, NULL, a.state, a.unit_id,
               CASE WHEN a.state = 'merged' THEN '重复件，已并入 ' || a.merged_code END, router.ts(a.received)
        FROM a ORDER BY a.ord
        RETURNING ticket_id, action, from_state, to_state, note, at
    )
    -- The events, in batch order: what bus.emit does, for all rows at once (bus.emit per row cost
    -- as much as everything else here together).
    INSERT INTO bus.outbox (id, type, source, occurred_at, correlation_id, data)
    SELECT gen_random_uuid(), 'ticket.' || tr.to_state, 'router', tr.at, NULL, jsonb_strip_nulls(jsonb_build_object(
               'ticket_id', t.ticket_id::text, 'code', t.code, 'action', tr.action, 'from_state', tr.from_state,
               'to_state', tr.to_state, 'unit_id', t.unit_id::text, 'unit_name', u.name, 'level', t.level,
               'assignee_id', t.assignee_id::text, 'note', tr.note, 'merged_into', a.merged_code,
               'sign_due', to_char(t.sign_due AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
               'resolve_due', to_char(t.resolve_due AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
               'at', to_char(tr.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')))
    FROM a JOIN t ON t.ticket_id = a.ticket_id JOIN tr ON tr.ticket_id = a.ticket_id
    LEFT JOIN registry.unit u ON u.id = t.unit_id
    ORDER BY a.ord
$$;

-- Duplicates are found through the location index since 005; this one only cost every insert.
DROP INDEX router.router_ticket_dup;

DROP FUNCTION router.assign_ticket(bigint, text, text, float8, float8, text, text, timestamptz, text, text, float8,
                                   float8, timestamptz, timestamptz, timestamptz, timestamptz);

-- Where a ticket was placed (its group, village, township, county) is a copy of the registry's
-- tree taken at assignment, kept for the aggregates. Checking five foreign keys on every new
-- ticket was a fifth of the cost of assigning it; a unit is never deleted once tickets name it
-- (the trigger below says so, and stat_daily and unit_id still reference units by foreign key).
ALTER TABLE router.ticket DROP CONSTRAINT ticket_placed_unit_id_fkey, DROP CONSTRAINT ticket_group_id_fkey,
    DROP CONSTRAINT ticket_village_id_fkey, DROP CONSTRAINT ticket_township_id_fkey,
    DROP CONSTRAINT ticket_county_id_fkey;

CREATE FUNCTION registry.unit_keep_placed() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM router.ticket t
               WHERE OLD.id IN (t.placed_unit_id, t.group_id, t.village_id, t.township_id, t.county_id)) THEN
        RAISE EXCEPTION 'unit % has tickets placed in it and stays in the registry', OLD.id
            USING ERRCODE = 'foreign_key_violation';
    END IF;
    RETURN OLD;
END
$$;
CREATE TRIGGER unit_keep_placed BEFORE DELETE ON registry.unit FOR EACH ROW EXECUTE FUNCTION registry.unit_keep_placed();

-- A transition, recorded and announced as ticket.<event>. An outcome (resolved, rejected, closed)
-- names everyone who follows the ticket (the codes of its own and of the duplicates merged into
-- it), so the notifier tells all of them from the one event.
CREATE OR REPLACE FUNCTION router.record(p_ticket bigint, p_action text, p_from text, p_to text, p_actor bigint,
                                         p_note text, p_at timestamptz, p_command uuid, p_event text)
RETURNS void LANGUAGE sql AS $$
    WITH tr AS (
        INSERT INTO router.transition (ticket_id, action, from_state, to_state, actor_id, unit_id, note, at, command_id)
        SELECT p_ticket, p_action, p_from, p_to, NULLIF(p_actor, 0), unit_id, p_note, p_at, p_command
        FROM router.ticket WHERE ticket_id = p_ticket RETURNING *)
    SELECT bus.emit('ticket.' || p_event, 'router', p_command, jsonb_strip_nulls(jsonb_build_object(
        'ticket_id', t.ticket_id::text, 'code', t.code, 'action', tr.action, 'from_state', tr.from_state,
        'to_state', tr.to_state, 'unit_id', t.unit_id::text, 'unit_name', u.name, 'level', t.level,
        'assignee_id', t.assignee_id::text, 'actor_id', tr.actor_id::text, 'note', tr.note,
        'merged_into', (SELECT m.code FROM router.ticket m WHERE m.ticket_id = t.merged_into),
        'followers', CASE WHEN tr.to_state IN ('resolved', 'rejected', 'closed') THEN
            (SELECT jsonb_agg(ft.code ORDER BY ft.ticket_id) FROM router.follower f
             JOIN router.ticket ft ON ft.ticket_id = f.source_ticket_id WHERE f.ticket_id = t.ticket_id) END,
        'sign_due', to_char(t.sign_due AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'resolve_due', to_char(t.resolve_due AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'at', to_char(tr.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))), tr.at)
    FROM tr JOIN router.ticket t ON t.ticket_id = tr.ticket_id LEFT JOIN registry.unit u ON u.id = t.unit_id
$$;
