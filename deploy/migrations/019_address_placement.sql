-- An address that names a village and a group places the ticket in that group, and the
-- operator's tool reads who holds what.
--
-- A grid worker at the door often types where the problem is instead of picking a household:
-- "九木村安全组", "金鼎山社区 一组". Until now such a ticket, without a point or a household, was
-- placed by the reporter's registered household or else at the county desk. router.assign_plan
-- now places it, after the household named (address_id) and the point inside a group's polygon,
-- and before the reporter's own household (where they live says less about where the problem is
-- than the place they name), in the group whose village name and group name, written together,
-- begin the address ("九木村安全组12号" names 九木村's 安全组), with or without its township's name
-- before them. Spaces do not count (nor the full-width space of Chinese input methods). Of the
-- groups whose names begin the address, the longest names win; two groups that both answer as
-- well (two villages of one name in different townships, named without their township) are no
-- answer: the ticket is placed as if no address had been given.
--
-- The address comes to the router in the ticket.created event (address_string), like the
-- household code and the phone. Nothing here depends on the data.

-- An address as compared: without white space of any width.
CREATE FUNCTION router.address_key(p text) RETURNS text LANGUAGE sql IMMUTABLE STRICT AS $$
    SELECT regexp_replace(p, '[[:space:]　]+', '', 'g')
$$;

-- The one group the address begins with, or NULL (no group, or more than one as long).
CREATE FUNCTION router.group_by_address(p_address text) RETURNS bigint LANGUAGE sql STABLE AS $$
    WITH a AS (SELECT router.address_key(p_address) AS k),
    named AS (
        SELECT g.id, greatest(CASE WHEN starts_with(a.k, n.short) THEN length(n.short) END,
                              CASE WHEN starts_with(a.k, n.long) THEN length(n.long) END) AS len
        FROM registry.unit g
        JOIN registry.unit v ON v.id = g.parent_id AND v.level = 'village'
        LEFT JOIN registry.unit t ON t.id = v.parent_id
        CROSS JOIN a
        CROSS JOIN LATERAL (SELECT router.address_key(v.name || g.name) AS short,
                                   router.address_key(t.name || v.name || g.name) AS long) n
        WHERE g.level = 'group' AND a.k <> '' AND (starts_with(a.k, n.short) OR starts_with(a.k, n.long)))
    SELECT CASE WHEN count(*) = 1 THEN min(id) END FROM named WHERE len = (SELECT max(len) FROM named)
$$;

-- As in 007, with address_string among the inputs and its place in the order above, and the
-- reporter's phone read from intake.ticket_contact (migration 018: no event carries it).
--   {"ord", "ticket_id", "service", "lat", "long", "address_id", "address_string",
--    "received" (epoch µs), "level", "office", "radius" (m), "window_h", "cand": [[ord, lat, long], ...]}
-- group_id is where it lives: the household named (address_id), else the group polygon holding
-- the point, else the group the address names (router.group_by_address), else the reporter's
-- registered household (by the phone intake.ticket_contact holds; no event carries it).
CREATE OR REPLACE FUNCTION router.assign_plan(p jsonb)
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
                                        address_id text, address_string text, received bigint,
                                        level text, office text, radius float8, window_h float8, cand jsonb)
    ), placed AS MATERIALIZED (  -- materialized: each lookup runs once per ticket, not once per use
        SELECT b.*, g.id AS g, c.id AS c
        FROM b
        CROSS JOIN (SELECT id FROM registry.unit WHERE level = 'county' ORDER BY id LIMIT 1) c
        -- coalesce evaluates its arguments in order and stops at the first value: the address is
        -- looked up only for a ticket that has no household and no point inside a group
        CROSS JOIN LATERAL (SELECT coalesce(
                   (SELECT h.group_id FROM registry.household h WHERE h.code = b.address_id),
                   (SELECT u.id FROM registry.unit u
                    WHERE b.pt IS NOT NULL AND u.level = 'group' AND ST_Covers(u.boundary, b.pt) ORDER BY u.id LIMIT 1),
                   CASE WHEN b.address_string IS NOT NULL THEN router.group_by_address(b.address_string) END,
                   (SELECT h.group_id FROM intake.ticket_contact k
                    JOIN registry.resident r ON r.phone = k.phone
                    JOIN registry.household h ON h.id = r.household_id
                    WHERE k.ticket_id = b.ticket_id ORDER BY r.is_head DESC, r.id LIMIT 1)) AS id) g
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

-- ==== what the operator's tool reads (gridgovctl staff) ====

-- Each person's open tickets (assigned, accepted, in progress), as router.duty weighs them.
CREATE VIEW router.staff_workload AS
SELECT staff_id, open FROM router.staff_load;
COMMENT ON VIEW router.staff_workload IS
    'read by gridgovctl: the open tickets of each staff member in `gridgovctl staff` '
    '(tools/gridgovctl/staff.c), the count router.duty weighs when it picks who is on duty.';

COMMENT ON VIEW router.ticket_assignment IS
    'read by intake, gridgovctl: which staff may see a ticket and their work list (services/intake/api_staff.c), the '
    'open tickets past their resolve deadline in the closure-rate API (services/intake/api_stats.c), and who '
    'holds a ticket in `gridgovctl staff --ticket` (tools/gridgovctl/staff.c).';
