-- Tickets as the previous release left them in a county's database, for the upgrade test
-- (tests/run.sh): loaded after the previous release's migrations (tests/previous-release) and the
-- demo county, before this release's migrations run over them. Written only with what existed then:
-- intake.create_ticket, router.assign_plan / assign_apply (the router's batch assignment),
-- router.record and router.stats_add (its transitions), and router.command rows without a request.
--
-- In 李公庙社区 (430121-102-05), filed 2025-09-01, their descriptions starting with 升级前:
--   LIGHT   assigned                                   (sign-for long missed: the router catches up)
--   LIGHT   merged into the first one (重复件, 50 m away)
--   SANIT   accepted
--   WATER   in_progress, an extension requested
--   POLICY  resolved
--   AID     closed, rated satisfied by its reporter through a command (router.command, no request)
--   NOISE, DISPUTE   filed but not routed yet: this release's router routes them when it starts
-- tests/sql/upgrade_check.sql checks after the run that all of them are still there and routed.
BEGIN;

-- One step of the lifecycle as the previous router wrote it: the state change, then router.record.
CREATE FUNCTION pg_temp.step(p_ticket bigint, p_action text, p_to text, p_actor bigint, p_note text,
                             p_at timestamptz, p_event text, p_command uuid DEFAULT NULL) RETURNS void
LANGUAGE plpgsql AS $$
DECLARE
    v_from text;
BEGIN
    SELECT state INTO v_from FROM router.ticket WHERE ticket_id = p_ticket FOR UPDATE;
    UPDATE router.ticket SET state = p_to, updated_at = p_at,
           accepted_at = CASE WHEN p_to = 'accepted' THEN p_at ELSE accepted_at END,
           resolved_at = CASE WHEN p_to = 'resolved' THEN p_at ELSE resolved_at END,
           resolution = CASE WHEN p_to = 'resolved' THEN p_note ELSE resolution END,
           stat_on_time = CASE WHEN p_to = 'resolved' THEN resolve_due >= p_at ELSE stat_on_time END,
           stat_work_s = CASE WHEN p_to = 'resolved' THEN extract(epoch FROM p_at - received_at)::bigint
                              ELSE stat_work_s END,
           closed_at = CASE WHEN p_to = 'closed' THEN p_at ELSE closed_at END,
           rating = CASE WHEN p_action = 'rate' THEN p_note ELSE rating END
    WHERE ticket_id = p_ticket;
    PERFORM router.record(p_ticket, p_action, v_from, p_to, p_actor, p_note, p_at, p_command, p_event);
END
$$;

DO $$
DECLARE
    t0 constant timestamptz := '2025-09-01 09:00:00+08';
    grp bigint;
    hh record;
    ids bigint[] := '{}';
    codes text[] := '{}';
    svc text[] := ARRAY['LIGHT', 'LIGHT', 'SANIT', 'WATER', 'POLICY', 'AID', 'NOISE', 'DISPUTE'];
    what text[] := ARRAY['村口路灯不亮', '路灯不亮，晚上看不见路', '垃圾池满了', '自来水发黄', '新农合报销政策咨询',
                         '低保申请', '夜间机器噪声', '宅基地边界纠纷'];
    plan jsonb;
    decided jsonb;
    r record;
    handler bigint;
    cmd uuid := '01d01d00-0000-4000-8000-000000000001';
    reply jsonb;
BEGIN
    SELECT id INTO grp FROM registry.unit WHERE code = '430121-102-05-01';
    FOR i IN 1 .. 8 LOOP
        -- each report from another household of the group; the duplicate from 50 m beside the first
        SELECT h.code, ST_Y(h.location) AS lat, ST_X(h.location) AS lon,
               (SELECT x.phone FROM registry.resident x WHERE x.household_id = h.id AND x.phone IS NOT NULL
                ORDER BY x.is_head DESC, x.id LIMIT 1) AS phone
        INTO hh FROM registry.household h WHERE h.group_id = grp
        ORDER BY h.id OFFSET CASE WHEN i = 2 THEN 0 ELSE i - 1 END LIMIT 1;
        SELECT ticket_id, code INTO r FROM intake.create_ticket(
            'api', NULL, svc[i], '升级前：' || what[i],
            hh.lat + CASE WHEN i = 2 THEN 0.00045 ELSE 0 END, hh.lon, NULL, NULL, '{}', NULL, NULL, NULL,
            hh.phone, NULL, NULL, NULL, t0 + make_interval(mins => 10 * i), NULL);
        ids := ids || r.ticket_id;
        codes := codes || r.code;
    END LOOP;

    -- The router's batch assignment of the first six, one at a time as it reads them: the plan
    -- (placement, unit, duplicates, who is on duty), then the decision, written by assign_apply.
    FOR i IN 1 .. 6 LOOP
        SELECT jsonb_build_array(jsonb_build_object(
                   'ord', 0, 'ticket_id', t.id, 'service', t.service_code, 'lat', t.lat, 'long', t.long,
                   'address_id', t.address_id, 'phone', t.phone,
                   'received', (extract(epoch FROM t.requested_at) * 1000000)::bigint,
                   'level', c.level, 'office', c.office, 'radius', c.dup_radius_m, 'window_h', c.dup_window_h,
                   'cand', '[]'::jsonb))
        INTO plan FROM intake.ticket t JOIN router.category_rule c ON c.service_code = t.service_code
        WHERE t.id = ids[i];
        SELECT jsonb_agg(jsonb_build_object(
                   'ord', p.ord, 'ticket_id', ids[i], 'code', codes[i], 'service', svc[i],
                   'state', CASE WHEN p.dup_id IS NULL THEN 'assigned' ELSE 'merged' END,
                   'group_id', p.group_id, 'village_id', p.village_id, 'township_id', p.township_id,
                   'county_id', p.county_id, 'received', (plan->0->>'received')::bigint,
                   'unit_id', coalesce(p.dup_unit_id, p.unit_id),
                   'assignee_id', CASE WHEN p.dup_id IS NULL THEN  -- on duty: tier, then fewest open
                       (SELECT (e->>0)::bigint FROM jsonb_array_elements(p.staff) e
                        ORDER BY (e->>1)::int, (e->>2)::int, (e->>0)::bigint LIMIT 1) END,
                   'merged_into', p.dup_id, 'merged_code', p.dup_code,
                   -- deadlines in plain hours: the previous router used the working calendar, which
                   -- gives later times but nothing this test depends on
                   'sign_due', CASE WHEN p.dup_id IS NULL THEN (plan->0->>'received')::bigint + (c.sign_hours * 3600e6)::bigint END,
                   'sign_warn', CASE WHEN p.dup_id IS NULL THEN (plan->0->>'received')::bigint + (c.sign_hours * c.warn_share * 3600e6)::bigint END,
                   'resolve_due', CASE WHEN p.dup_id IS NULL THEN (plan->0->>'received')::bigint + (c.resolve_hours * 3600e6)::bigint END,
                   'resolve_warn', CASE WHEN p.dup_id IS NULL THEN (plan->0->>'received')::bigint + (c.resolve_hours * c.warn_share * 3600e6)::bigint END,
                   'lat', plan->0->'lat', 'long', plan->0->'long'))
        INTO decided FROM router.assign_plan(plan) p JOIN router.category_rule c ON c.service_code = svc[i];
        PERFORM router.assign_apply(decided);
    END LOOP;
    IF (SELECT state FROM router.ticket WHERE ticket_id = ids[2]) IS DISTINCT FROM 'merged' THEN
        RAISE EXCEPTION 'the previous release should have merged % into %', codes[2], codes[1];
    END IF;

    -- Handlers act on them (whoever was given each ticket).
    FOR i IN 3 .. 6 LOOP
        SELECT assignee_id INTO handler FROM router.ticket WHERE ticket_id = ids[i];
        PERFORM pg_temp.step(ids[i], 'accept', 'accepted', handler, NULL, t0 + interval '1 hour', 'accepted');
        IF i >= 4 THEN
            PERFORM pg_temp.step(ids[i], 'start', 'in_progress', handler, NULL, t0 + interval '2 hours', 'started');
        END IF;
        IF i >= 5 THEN
            PERFORM pg_temp.step(ids[i], 'resolve', 'resolved', handler, '已答复', t0 + interval '3 hours', 'resolved');
            PERFORM router.stats_add(ids[i], 0, 1, 1, 0, 0, (SELECT stat_work_s FROM router.ticket WHERE ticket_id = ids[i]),
                                     0, 0);
        END IF;
    END LOOP;
    -- WATER: more time asked for, not decided yet
    SELECT assignee_id INTO handler FROM router.ticket WHERE ticket_id = ids[4];
    INSERT INTO router.extension (ticket_id, hours, reason, requested_by, requested_at)
    VALUES (ids[4], 8, '需更换管道', handler, t0 + interval '150 minutes');
    UPDATE router.ticket SET extension_pending = true WHERE ticket_id = ids[4];
    PERFORM router.record(ids[4], 'request_extension', 'in_progress', 'in_progress', handler, '需更换管道',
                          t0 + interval '150 minutes', NULL, 'extension_requested');

    -- AID: its reporter rates it through intake's command; the router stored the reply, not the request
    PERFORM pg_temp.step(ids[6], 'rate', 'closed', 0, 'satisfied', t0 + interval '1 day', 'rated', cmd);
    PERFORM router.stats_add(ids[6], 0, 0, 0, 1, 1, 0, 0, 0);
    SELECT jsonb_build_object('id', cmd, 'status', 200, 'body', jsonb_build_object('ticket', json_build_object(
               'code', t.code, 'state', t.state, 'service_code', t.service_code,
               'unit', json_build_object('id', u.id, 'code', u.code, 'name', u.name, 'level', u.level),
               'assignee', CASE WHEN s.id IS NULL THEN NULL ELSE json_build_object('id', s.id, 'name', s.name) END,
               'sign_due', t.sign_due, 'resolve_due', t.resolve_due, 'overdue', t.overdue,
               'escalations', t.escalations, 'returns', t.returns, 'reopened', t.reopened,
               'extension_pending', t.extension_pending, 'rating', t.rating, 'resolution', t.resolution,
               'merged_into', NULL)))
    INTO reply FROM router.ticket t LEFT JOIN registry.unit u ON u.id = t.unit_id
    LEFT JOIN registry.staff s ON s.id = t.assignee_id WHERE t.ticket_id = ids[6];
    INSERT INTO router.command (id, status, reply) VALUES (cmd, 200, reply);
END
$$;

COMMIT;
