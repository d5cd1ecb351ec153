-- The router's writes that run per ticket, as functions, so that one assignment is one round trip.
-- Deadlines come from the caller (the router computes them on its working-time calendar);
-- everything else that decides where a ticket goes lives here, once.

-- Where the problem is, for duplicate detection by distance through a spatial index.
ALTER TABLE router.ticket ADD COLUMN location geography(Point, 4326);
CREATE INDEX router_ticket_open_location ON router.ticket USING gist (location)
    WHERE state NOT IN ('closed', 'rejected', 'merged');

-- The aggregates: one row per level the ticket belongs to, always in the same order.
CREATE FUNCTION router.stats_add(p_ticket bigint, p_received int, p_resolved int, p_on_time int, p_rated int,
                                 p_satisfied int, p_work_s bigint, p_escalations int, p_returns int)
RETURNS void LANGUAGE sql AS $$
    INSERT INTO router.stat_daily AS s (day, unit_id, service_code, received, resolved, resolved_on_time,
                                        rated, satisfied, resolve_work_s, escalations, returns)
    SELECT (t.received_at AT TIME ZONE 'Asia/Shanghai')::date, u.id, t.service_code,
           p_received, p_resolved, p_on_time, p_rated, p_satisfied, p_work_s, p_escalations, p_returns
    FROM router.ticket t
    CROSS JOIN LATERAL unnest(ARRAY[t.county_id, t.township_id, t.village_id, t.group_id]) WITH ORDINALITY AS u(id, n)
    WHERE t.ticket_id = p_ticket AND u.id IS NOT NULL
    ORDER BY u.n
    ON CONFLICT (unit_id, service_code, day) DO UPDATE SET
        received = s.received + EXCLUDED.received, resolved = s.resolved + EXCLUDED.resolved,
        resolved_on_time = s.resolved_on_time + EXCLUDED.resolved_on_time, rated = s.rated + EXCLUDED.rated,
        satisfied = s.satisfied + EXCLUDED.satisfied, resolve_work_s = s.resolve_work_s + EXCLUDED.resolve_work_s,
        escalations = s.escalations + EXCLUDED.escalations, returns = s.returns + EXCLUDED.returns
$$;

-- A transition: recorded, and announced as ticket.<event>.
CREATE FUNCTION router.record(p_ticket bigint, p_action text, p_from text, p_to text, p_actor bigint, p_note text,
                              p_at timestamptz, p_command uuid, p_event text)
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
        'sign_due', to_char(t.sign_due AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'resolve_due', to_char(t.resolve_due AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'at', to_char(tr.at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))), tr.at)
    FROM tr JOIN router.ticket t ON t.ticket_id = tr.ticket_id LEFT JOIN registry.unit u ON u.id = t.unit_id
$$;

-- The person on duty at a unit: the right role for its level, the desk named by p_office (matched
-- on the name tag, e.g. 王建国（水利站）) when there is one, fewest open tickets, then lowest id.
CREATE FUNCTION router.duty(p_unit bigint, p_office text) RETURNS bigint LANGUAGE sql STABLE AS $$
    SELECT s.id FROM registry.staff s JOIN registry.unit u ON u.id = s.unit_id
    WHERE s.unit_id = p_unit AND s.active
      AND s.role = ANY (CASE u.level WHEN 'group' THEN ARRAY['group_leader', 'grid_worker']
                                     WHEN 'county' THEN ARRAY['handler', 'operator'] ELSE ARRAY['handler'] END)
    ORDER BY (coalesce(p_office, '') <> '' AND
              strpos(s.name, p_office) > 0) DESC,
             CASE WHEN s.role IN ('group_leader', 'handler') THEN 0 ELSE 1 END,
             (SELECT count(*) FROM router.ticket t WHERE t.assignee_id = s.id
                AND t.state IN ('assigned', 'accepted', 'in_progress')),
             s.id
    LIMIT 1
$$;

-- Hands a ticket to a unit with a fresh sign-for clock. The office applies only at the level the
-- category's rule names.
CREATE FUNCTION router.hold(p_ticket bigint, p_unit bigint, p_rule_level text, p_office text, p_at timestamptz,
                            p_sign_due timestamptz, p_sign_warn timestamptz)
RETURNS void LANGUAGE sql AS $$
    UPDATE router.ticket SET unit_id = p_unit, level = u.level,
        assignee_id = router.duty(p_unit, CASE WHEN u.level = p_rule_level THEN p_office END),
        assigned_at = p_at, sign_due = p_sign_due, sign_warn_at = p_sign_warn, sign_warned = false
    FROM registry.unit u WHERE u.id = p_unit AND router.ticket.ticket_id = p_ticket
$$;

-- 派单 of a new ticket. Where it lives: its grid cell when one can be found, else the township
-- desk whose area holds the point, else the county desk; in order the household named
-- (address_id, as a grid worker at the door gives it), the point reported (the problem's own
-- place), the reporter's registered household (by phone). Then either the open ticket of the same
-- category nearby that it follows (重复件), or the unit at the rule's level above the placement.
-- Returns 'assigned', 'merged' or 'exists' (already routed: a replay).
CREATE FUNCTION router.assign_ticket(
    p_ticket bigint, p_code text, p_service text, p_lat float8, p_long float8, p_address_id text, p_phone text,
    p_received timestamptz, p_level text, p_office text, p_dup_radius_m float8, p_dup_window_h float8,
    p_sign_due timestamptz, p_sign_warn timestamptz, p_resolve_due timestamptz, p_resolve_warn timestamptz)
RETURNS text LANGUAGE plpgsql AS $$
DECLARE
    pt geometry := CASE WHEN p_lat IS NULL THEN NULL ELSE ST_SetSRID(ST_MakePoint(p_long, p_lat), 4326) END;
    g bigint; v bigint; tw bigint; c bigint; dup bigint; target bigint;
BEGIN
    IF EXISTS (SELECT 1 FROM router.ticket WHERE ticket_id = p_ticket) THEN
        RETURN 'exists';
    END IF;
    SELECT h.group_id INTO g FROM registry.household h WHERE h.code = p_address_id;
    IF g IS NULL AND pt IS NOT NULL THEN
        SELECT u.id INTO g FROM registry.unit u
        WHERE u.level = 'group' AND ST_Covers(u.boundary, pt) ORDER BY u.id LIMIT 1;
    END IF;
    IF g IS NULL AND p_phone IS NOT NULL THEN
        SELECT h.group_id INTO g FROM registry.resident r JOIN registry.household h ON h.id = r.household_id
        WHERE r.phone = p_phone ORDER BY r.is_head DESC, r.id LIMIT 1;
    END IF;
    SELECT id INTO c FROM registry.unit WHERE level = 'county' ORDER BY id LIMIT 1;
    IF g IS NOT NULL THEN
        SELECT vu.id, vu.parent_id INTO v, tw FROM registry.unit gu JOIN registry.unit vu ON vu.id = gu.parent_id
        WHERE gu.id = g;
    ELSIF pt IS NOT NULL THEN
        SELECT u.id INTO tw FROM registry.unit u
        WHERE u.level = 'township' AND ST_Covers(u.boundary, pt) ORDER BY u.id LIMIT 1;
    END IF;

    IF pt IS NOT NULL AND p_dup_radius_m > 0 THEN
        SELECT r.ticket_id INTO dup FROM router.ticket r
        WHERE ST_DWithin(r.location, pt::geography, p_dup_radius_m)
          AND r.state IN ('assigned', 'accepted', 'in_progress') AND r.service_code = p_service
          AND r.received_at >= p_received - make_interval(secs => p_dup_window_h * 3600)
        ORDER BY r.received_at, r.ticket_id LIMIT 1;
    END IF;

    IF dup IS NOT NULL THEN
        INSERT INTO router.ticket (ticket_id, code, service_code, state, placed_unit_id, group_id, village_id,
                                   township_id, county_id, received_at, updated_at, merged_into, unit_id, location)
        VALUES (p_ticket, p_code, p_service, 'merged', coalesce(g, tw, c), g, v, tw, c, p_received, p_received, dup,
                (SELECT unit_id FROM router.ticket WHERE ticket_id = dup), pt::geography);
        INSERT INTO router.follower (ticket_id, source_ticket_id) VALUES (dup, p_ticket) ON CONFLICT DO NOTHING;
        PERFORM router.record(p_ticket, 'merge', NULL, 'merged', 0,
                              '重复件，已并入 ' || (SELECT code FROM router.ticket WHERE ticket_id = dup),
                              p_received, NULL, 'merged');
        RETURN 'merged';
    END IF;

    -- the unit at the rule's level above the placement (a desk cannot hand down), and its person
    -- on duty: written with the row, in one insert
    target := CASE p_level WHEN 'group' THEN coalesce(g, v, tw, c) WHEN 'village' THEN coalesce(v, tw, c)
                           WHEN 'township' THEN coalesce(tw, c) ELSE c END;
    INSERT INTO router.ticket (ticket_id, code, service_code, state, placed_unit_id, group_id, village_id,
                               township_id, county_id, received_at, updated_at, unit_id, level, assignee_id,
                               assigned_at, sign_due, sign_warn_at, resolve_due, resolve_warn_at, location)
    SELECT p_ticket, p_code, p_service, 'assigned', coalesce(g, tw, c), g, v, tw, c, p_received, p_received,
           target, u.level, router.duty(target, CASE WHEN u.level = p_level THEN p_office END),
           p_received, p_sign_due, p_sign_warn, p_resolve_due, p_resolve_warn, pt::geography
    FROM registry.unit u WHERE u.id = target;
    INSERT INTO router.follower (ticket_id, source_ticket_id) VALUES (p_ticket, p_ticket);
    PERFORM router.stats_add(p_ticket, 1, 0, 0, 0, 0, 0, 0, 0);
    PERFORM router.record(p_ticket, 'assign', NULL, 'assigned', 0, NULL, p_received, NULL, 'assigned');
    RETURN 'assigned';
END
$$;

-- Whether unit p_inner is p_outer or lies inside it (a supervisor may dispatch only within their area).
CREATE FUNCTION router.unit_within(p_outer bigint, p_inner bigint) RETURNS boolean LANGUAGE sql STABLE AS $$
    WITH RECURSIVE up AS (
        SELECT id, parent_id FROM registry.unit WHERE id = p_inner
        UNION ALL
        SELECT u.id, u.parent_id FROM registry.unit u JOIN up ON u.id = up.parent_id)
    SELECT EXISTS (SELECT 1 FROM up WHERE id = p_outer)
$$;
