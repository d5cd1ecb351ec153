-- One state machine, written once (issue 9).
--
-- The payload of a transition event (proto/ticket.transition.schema.json) was built three times:
-- in router.record (005, then again in 007) and in router.assign_apply (007). It is built here
-- once, by router.transition_event_data, and both writers use it.
--
-- router.assign_apply no longer names states or actions: what a new ticket's assignment or merge
-- is called, the state it leads to and the event that announces it come with each row from the
-- router (services/router/assign_batch.c), which takes them from its lifecycle table
-- (services/router/lifecycle.c). A row is a merge when it names the ticket it follows.

-- The data of a ticket.<event> envelope. Its arguments are plain values rather than a ticket id
-- to look up, because router.assign_apply announces tickets it inserts in the same statement,
-- which a lookup there cannot see. Absent (NULL) fields are left out. A single SQL expression
-- declared STABLE: PostgreSQL inlines it into the callers' statements, so the set-based
-- assign_apply pays no function call per row.
CREATE FUNCTION router.transition_event_data(
    p_ticket_id bigint, p_code text, p_action text, p_from text, p_to text, p_unit_id bigint, p_unit_name text,
    p_level text, p_assignee_id bigint, p_actor_id bigint, p_note text, p_merged_into text, p_followers jsonb,
    p_sign_due timestamptz, p_resolve_due timestamptz, p_at timestamptz)
RETURNS jsonb LANGUAGE sql STABLE AS $$
    SELECT jsonb_strip_nulls(jsonb_build_object(
        'ticket_id', p_ticket_id::text, 'code', p_code, 'action', p_action, 'from_state', p_from,
        'to_state', p_to, 'unit_id', p_unit_id::text, 'unit_name', p_unit_name, 'level', p_level,
        'assignee_id', p_assignee_id::text, 'actor_id', p_actor_id::text, 'note', p_note,
        'merged_into', p_merged_into, 'followers', p_followers,
        'sign_due', to_char(p_sign_due AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'resolve_due', to_char(p_resolve_due AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
        'at', to_char(p_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"')))
$$;

-- A transition, recorded and announced as ticket.<event>. An outcome (resolved, rejected, closed)
-- names everyone who follows the ticket (the codes of its own and of the duplicates merged into
-- it), so the notifier tells all of them from the one event. (As in 007; the payload from above.)
CREATE OR REPLACE FUNCTION router.record(p_ticket bigint, p_action text, p_from text, p_to text, p_actor bigint,
                                         p_note text, p_at timestamptz, p_command uuid, p_event text)
RETURNS void LANGUAGE sql AS $$
    WITH tr AS (
        INSERT INTO router.transition (ticket_id, action, from_state, to_state, actor_id, unit_id, note, at, command_id)
        SELECT p_ticket, p_action, p_from, p_to, NULLIF(p_actor, 0), unit_id, p_note, p_at, p_command
        FROM router.ticket WHERE ticket_id = p_ticket RETURNING *)
    SELECT bus.emit('ticket.' || p_event, 'router', p_command, router.transition_event_data(
        t.ticket_id, t.code, tr.action, tr.from_state, tr.to_state, t.unit_id, u.name, t.level, t.assignee_id,
        tr.actor_id, tr.note, (SELECT m.code FROM router.ticket m WHERE m.ticket_id = t.merged_into),
        CASE WHEN tr.to_state IN ('resolved', 'rejected', 'closed') THEN
            (SELECT jsonb_agg(ft.code ORDER BY ft.ticket_id) FROM router.follower f
             JOIN router.ticket ft ON ft.ticket_id = f.source_ticket_id WHERE f.ticket_id = t.ticket_id) END,
        t.sign_due, t.resolve_due, tr.at), tr.at)
    FROM tr JOIN router.ticket t ON t.ticket_id = tr.ticket_id LEFT JOIN registry.unit u ON u.id = t.unit_id
$$;

-- The lifecycle table's names for each row: the action (assign or merge), the state it leads to
-- and the event suffix.
ALTER TYPE router.assign_row ADD ATTRIBUTE action text, ADD ATTRIBUTE event text;

-- The write half of batch assignment (as in 007, which explains the shape): p is a JSON array of
-- router.assign_row in commit order, times in epoch microseconds. A row with merged_into is a
-- merge (重复件; merged_code the original's code); action, state and event are the lifecycle
-- table's, from the router.
CREATE OR REPLACE FUNCTION router.assign_apply(p jsonb) RETURNS void LANGUAGE sql AS $$
    WITH a AS MATERIALIZED (
        SELECT x.*, x.merged_into IS NOT NULL AS is_merge
        FROM jsonb_populate_recordset(NULL::router.assign_row, p) AS x
    ), t AS (
        INSERT INTO router.ticket (ticket_id, code, service_code, state, placed_unit_id, group_id, village_id,
                                   township_id, county_id, received_at, updated_at, merged_into, unit_id, level,
                                   assignee_id, assigned_at, sign_due, sign_warn_at, resolve_due, resolve_warn_at,
                                   location, status_notes)
        SELECT a.ticket_id, a.code, a.service, a.state, coalesce(a.group_id, a.township_id, a.county_id), a.group_id,
               a.village_id, a.township_id, a.county_id, router.ts(a.received), router.ts(a.received),
               a.merged_into, a.unit_id, CASE WHEN NOT a.is_merge THEN u.level END,
               a.assignee_id, CASE WHEN NOT a.is_merge THEN router.ts(a.received) END,
               router.ts(a.sign_due), router.ts(a.sign_warn), router.ts(a.resolve_due),
               router.ts(a.resolve_warn),
               CASE WHEN a.lat IS NOT NULL AND a.long IS NOT NULL
                    THEN ST_SetSRID(ST_MakePoint(a.long, a.lat), 4326)::geography END,
               -- what Open311 shows the reporter of a duplicate: the code of the one it follows
               CASE WHEN a.is_merge THEN '重复件，已并入 ' || a.merged_code END
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
        WHERE NOT a.is_merge AND x.id IS NOT NULL
        GROUP BY 1, x.id, x.n, a.service
        ORDER BY x.n, x.id, a.service, 1
        ON CONFLICT (unit_id, service_code, day) DO UPDATE SET received = s.received + EXCLUDED.received
    ), tr AS (
        INSERT INTO router.transition (ticket_id, action, from_state, to_state, unit_id, note, at)
        SELECT a.ticket_id, a.action, NULL, a.state, a.unit_id,
               CASE WHEN a.is_merge THEN '重复件，已并入 ' || a.merged_code END, router.ts(a.received)
        FROM a ORDER BY a.ord
        RETURNING ticket_id, action, from_state, to_state, actor_id, note, at
    )
    -- The events, in batch order: what bus.emit does, for all rows at once (bus.emit per row cost
    -- as much as everything else here together).
    INSERT INTO bus.outbox (id, type, source, occurred_at, correlation_id, data)
    SELECT gen_random_uuid(), 'ticket.' || a.event, 'router', tr.at, NULL, router.transition_event_data(
               t.ticket_id, t.code, tr.action, tr.from_state, tr.to_state, t.unit_id, u.name, t.level, t.assignee_id,
               tr.actor_id, tr.note, a.merged_code, NULL, t.sign_due, t.resolve_due, tr.at)
    FROM a JOIN t ON t.ticket_id = a.ticket_id JOIN tr ON tr.ticket_id = a.ticket_id
    LEFT JOIN registry.unit u ON u.id = t.unit_id
    ORDER BY a.ord
$$;

-- The sign clock runs wherever a missed deadline escalates: the from-states of escalate in the
-- lifecycle table, assigned and returned. The sweep (sla.c) and the yellow lights select by those
-- states, which the index for assigned alone did not cover, so they read every ticket. An index
-- predicate cannot take the table's states as a parameter: tests/e2e/test_router_lifecycle.c
-- checks that the sweeps' indexes name the same states as the table.
DROP INDEX router.router_ticket_open_sign;
CREATE INDEX router_ticket_sign_clock ON router.ticket (sign_due) WHERE state IN ('assigned', 'returned');
