-- Field work (issue 14): what grid workers record in the field. Owned by intake, which is the
-- HTTP edge they reach (services/intake/field_*.c, README "Field work"): DESIGN.md gives intake
-- the field-work records. Every table here is written by intake alone; the worker and their
-- group come from registry.staff (role grid_worker, unit a group) through the bearer token.
--
-- Times are instants (timestamptz); "a day" is the county's calendar day, Asia/Shanghai.

-- ==== check-in (平台打卡签到) ====

-- One row per check-in the app sends. Accepted when the point lies inside the worker's group
-- or within intake's field_checkin_distance_m of it (distance_m 0 inside, else to the polygon's
-- edge on the spheroid); otherwise recorded all the same and flagged (accepted false), so a
-- supervisor sees who checked in from where. (staff_id, at) is the app's own key: a retry of
-- the same check-in stores nothing twice.
CREATE TABLE intake.field_checkin (
    id          bigserial   PRIMARY KEY,
    staff_id    bigint      NOT NULL REFERENCES registry.staff (id),
    group_id    bigint      NOT NULL REFERENCES registry.unit (id),  -- the worker's group then
    at          timestamptz NOT NULL,                                -- when the app says it was
    received_at timestamptz NOT NULL,                                -- intake's (injected) clock
    lat         double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    long        double precision NOT NULL CHECK (long BETWEEN -180 AND 180),
    distance_m  double precision NOT NULL CHECK (distance_m >= 0),
    accepted    boolean     NOT NULL,
    UNIQUE (staff_id, at)
);
-- the attendance list: a township's check-ins of one day
CREATE INDEX field_checkin_at ON intake.field_checkin (at);

-- ==== position sharing (即时位置共享) ====

-- Pings, kept for field_position_retention_h and then deleted by intake's sweep (by at: the
-- index below). The latest per worker is what supervisors read.
CREATE TABLE intake.field_position (
    staff_id    bigint      NOT NULL REFERENCES registry.staff (id),
    at          timestamptz NOT NULL,
    lat         double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    long        double precision NOT NULL CHECK (long BETWEEN -180 AND 180),
    accuracy_m  real        CHECK (accuracy_m >= 0),
    received_at timestamptz NOT NULL,
    PRIMARY KEY (staff_id, at)
);
CREATE INDEX field_position_at ON intake.field_position (at);

-- ==== patrol tracks (轨迹记录) ====

-- GPS points from the offline-first app, in batches of up to 10,000 that may arrive late, out of
-- order or twice: the key (staff_id, at) stores each point once (INSERT ... ON CONFLICT DO
-- NOTHING), and reading a worker's day in key order gives the track in time order. Plain
-- coordinates rather than a geometry: the ingest path stays a bare unnest of arrays, and the
-- one day a report reads becomes a geometry then. No other index: the key serves both the
-- upload's conflict check and a day's range.
CREATE TABLE intake.field_track_point (
    staff_id   bigint      NOT NULL REFERENCES registry.staff (id),
    at         timestamptz NOT NULL,
    lat        double precision NOT NULL CHECK (lat BETWEEN -90 AND 90),
    long       double precision NOT NULL CHECK (long BETWEEN -180 AND 180),
    accuracy_m real        CHECK (accuracy_m >= 0),
    PRIMARY KEY (staff_id, at)
);

-- A worker's day as the report computes it (services/intake/field_track.c): the good fixes in
-- time order as arrays, each with the number of the piece it belongs to (a new piece after a gap
-- longer than field_track_gap_s: the line across a gap is not walked ground). Returns the
-- length walked on the spheroid, the area of the group within p_buffer_m of the walked pieces
-- (a lone fix counts as a disc) and the area of the group, in square metres.
-- The buffer is taken in geography (PostGIS picks a local metric projection), so 50 m is 50 m
-- at any latitude. Before it, each piece is simplified within 0.00001° (about a metre): a day
-- of 28,800 fixes becomes a few hundred vertices, the buffer ten times cheaper, and the ground
-- within 50 m moves by a metre at most along its edge (0.3 % of the area on bench/field.sh's
-- day); collapsed pieces (a worker standing still) are kept, as points. The arrays are read
-- with unnest, once: a subscript per fix would detoast the array each time.
CREATE FUNCTION intake.field_track_measure(p_group_id bigint, p_lat float8[], p_long float8[], p_piece int[],
                                           p_buffer_m float8,
                                           OUT distance_m float8, OUT covered_m2 float8, OUT area_m2 float8)
LANGUAGE sql STABLE AS $$
    WITH pt AS (
        SELECT u.i, u.piece, ST_SetSRID(ST_MakePoint(u.lo, u.la), 4326) AS g
        FROM unnest(p_lat, p_long, p_piece) WITH ORDINALITY AS u(la, lo, piece, i)
    ), pieces AS (
        SELECT piece, count(*) AS n, ST_MakeLine(g ORDER BY i) AS line FROM pt GROUP BY piece
    ), walked AS (
        SELECT coalesce(sum(CASE WHEN n > 1 THEN ST_Length(line::geography) ELSE 0 END), 0) AS len,
               ST_Collect(CASE WHEN n > 1 THEN ST_Simplify(line, 0.00001, true) ELSE ST_PointN(line, 1) END) AS geom
        FROM pieces
    ), grp AS (
        SELECT boundary FROM registry.unit WHERE id = p_group_id
    )
    SELECT w.len,
           CASE WHEN w.geom IS NULL OR g.boundary IS NULL THEN 0
                ELSE ST_Area(ST_Intersection(ST_Buffer(w.geom::geography, p_buffer_m)::geometry, g.boundary)::geography)
           END,
           coalesce(ST_Area(g.boundary::geography), 0)
    FROM walked w LEFT JOIN grp g ON true
$$;

-- ==== online forms (数据线上填报) ====

-- Tickets a field form raises come in on channel 'inspection', and alerts of outside systems
-- (the feed API, "一张网") on channel 'feed'.
ALTER TABLE intake.ticket DROP CONSTRAINT ticket_channel_check;
ALTER TABLE intake.ticket ADD CONSTRAINT ticket_channel_check
    CHECK (channel IN ('open311', 'api', 'wechat', 'sms', 'hotline', 'grid_worker', 'inspection', 'feed'));

-- Form definitions are data, versioned: a submission names its form and version and is checked
-- against that version's fields (services/intake/field_form.c reads `definition`):
--   {"fields": [{"code", "label", "type", "required"?, ...}, ...]}
--   type  text (max: characters) | number, integer (min, max) | date (YYYY-MM-DD)
--         | check ("ok" or "fail"; "fail": {service_code, priority, attributes}: the ticket a
--           failed item raises) | text_list (max items) | ticket_codes (tickets filed before)
--         | household (a registered household's code)
-- A new version is a new row; an old one stays (its submissions keep their meaning) and stops
-- taking submissions when active is false. kind says which report counts a form.
CREATE TABLE intake.field_form (
    code       text    NOT NULL CHECK (code ~ '^[a-z_]{1,32}$'),
    version    integer NOT NULL CHECK (version > 0),
    kind       text    NOT NULL CHECK (kind IN ('inspection', 'visit', 'meeting', 'accident', 'model_household')),
    name       text    NOT NULL,
    definition jsonb   NOT NULL CHECK (jsonb_typeof(definition -> 'fields') = 'array'),
    active     boolean NOT NULL DEFAULT true,
    PRIMARY KEY (code, version)
);

-- One row per submission, keyed by the app's own id: a resubmission finds it and creates
-- nothing (body_sha256 tells the same submission from another one under a reused id).
CREATE TABLE intake.field_submission (
    id           uuid        PRIMARY KEY,
    staff_id     bigint      NOT NULL REFERENCES registry.staff (id),
    group_id     bigint      NOT NULL REFERENCES registry.unit (id),
    form_code    text        NOT NULL,
    form_version integer     NOT NULL,
    at           timestamptz NOT NULL,
    received_at  timestamptz NOT NULL,
    lat          double precision CHECK (lat BETWEEN -90 AND 90),
    long         double precision CHECK (long BETWEEN -180 AND 180),
    answers      jsonb       NOT NULL,
    body_sha256  bytea       NOT NULL CHECK (length(body_sha256) = 32),
    FOREIGN KEY (form_code, form_version) REFERENCES intake.field_form (code, version),
    CHECK ((lat IS NULL) = (long IS NULL))
);
CREATE INDEX field_submission_at ON intake.field_submission (at);

-- The ticket each failed inspection item raised: one per (submission, item), ever.
CREATE TABLE intake.field_submission_ticket (
    submission_id uuid   NOT NULL REFERENCES intake.field_submission (id),
    item          text   NOT NULL,
    ticket_id     bigint NOT NULL UNIQUE REFERENCES intake.ticket (id),
    priority      text   NOT NULL CHECK (priority IN ('urgent', 'high', 'normal')),
    PRIMARY KEY (submission_id, item)
);

-- The place a ticket names to land in a group: its township, village and group names written
-- together, which router.group_by_address reads back as that group (migration 019).
CREATE FUNCTION intake.group_address(p_group_id bigint) RETURNS text LANGUAGE sql STABLE AS $$
    SELECT t.name || v.name || g.name FROM registry.unit g
    JOIN registry.unit v ON v.id = g.parent_id JOIN registry.unit t ON t.id = v.parent_id
    WHERE g.id = p_group_id
$$;

-- A submission, validated by intake against its form version, in one transaction: the row,
-- and for each failed inspection item (p_failed: [{item, service_code, priority, attributes,
-- description}]) a ticket through intake.create_ticket, the path of every ticket (its
-- ticket.created event in the same transaction), placed in the worker's group by its address.
-- The households and tickets the answers name must exist (GG404). When the id was submitted
-- before, nothing is written: the rows answer what was created then (created false), and
-- same_body says whether it was this submission or another under a reused id.
CREATE FUNCTION intake.field_submit(
    p_id uuid, p_staff_id bigint, p_group_id bigint, p_form text, p_version integer, p_at timestamptz,
    p_received_at timestamptz, p_lat float8, p_long float8, p_answers jsonb, p_sha256 bytea, p_failed jsonb,
    p_households text[], p_tickets text[])
RETURNS TABLE (created boolean, same_body boolean, item text, code text, priority text)
LANGUAGE plpgsql AS $$
DECLARE
    f record;
    missing text;
    t record;
BEGIN
    INSERT INTO intake.field_submission (id, staff_id, group_id, form_code, form_version, at, received_at, lat, long,
                                         answers, body_sha256)
    VALUES (p_id, p_staff_id, p_group_id, p_form, p_version, p_at, p_received_at, p_lat, p_long, p_answers, p_sha256)
    ON CONFLICT (id) DO NOTHING;
    IF NOT FOUND THEN
        RETURN QUERY
            SELECT false, s.body_sha256 = p_sha256, l.item, k.code, l.priority
            FROM intake.field_submission s
            LEFT JOIN intake.field_submission_ticket l ON l.submission_id = s.id
            LEFT JOIN intake.ticket k ON k.id = l.ticket_id
            WHERE s.id = p_id ORDER BY l.item;
        RETURN;
    END IF;
    SELECT h INTO missing FROM unnest(p_households) h
    WHERE NOT EXISTS (SELECT 1 FROM registry.household x WHERE x.code = h) LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'household % is not registered', missing USING ERRCODE = 'GG404';
    END IF;
    SELECT c INTO missing FROM unnest(p_tickets) c
    WHERE NOT EXISTS (SELECT 1 FROM intake.ticket x WHERE x.code = c) LIMIT 1;
    IF missing IS NOT NULL THEN
        RAISE EXCEPTION 'ticket % does not exist', missing USING ERRCODE = 'GG404';
    END IF;
    FOR f IN SELECT * FROM jsonb_to_recordset(coalesce(p_failed, '[]'))
                 AS x(item text, service_code text, priority text, attributes jsonb, description text)
             ORDER BY x.item LOOP
        SELECT * INTO t FROM intake.create_ticket(
            'inspection', NULL, f.service_code, f.description, NULL, NULL, intake.group_address(p_group_id), NULL,
            coalesce(f.attributes, '{}') || jsonb_build_object('priority', f.priority), NULL, NULL, NULL, NULL,
            NULL, NULL, NULL, p_received_at, p_id);
        INSERT INTO intake.field_submission_ticket (submission_id, item, ticket_id, priority)
        VALUES (p_id, f.item, t.ticket_id, f.priority);
        created := true; same_body := true; item := f.item; code := t.code; priority := f.priority;
        RETURN NEXT;
    END LOOP;
    IF NOT EXISTS (SELECT 1 FROM intake.field_submission_ticket l WHERE l.submission_id = p_id) THEN
        created := true; same_body := true; item := NULL; code := NULL; priority := NULL;
        RETURN NEXT;
    END IF;
END
$$;

-- The forms the county starts with. 山塘水库 and 废旧厂房 inspections: each check item that
-- fails raises a hazard ticket of its category with its priority; 党员联户 visits; 屋场会 /
-- 夜话 house meetings (matters raised, resolved on the spot, and handed on as tickets).
INSERT INTO intake.field_form (code, version, kind, name, definition) VALUES
('reservoir', 1, 'inspection', '山塘水库巡查', '{"fields": [
  {"code": "reservoir", "label": "山塘/水库名称", "type": "text", "required": true, "max": 100},
  {"code": "water_level_m", "label": "水位(米)", "type": "number", "required": true, "min": 0, "max": 300},
  {"code": "below_warning", "label": "水位在警戒线以下", "type": "check", "required": true,
   "fail": {"service_code": "POND", "priority": "urgent", "attributes": {"hazard": "overtopping"}}},
  {"code": "dam_cracks", "label": "坝体无裂缝、无渗漏", "type": "check", "required": true,
   "fail": {"service_code": "POND", "priority": "high", "attributes": {"hazard": "crack"}}},
  {"code": "spillway", "label": "溢洪道畅通", "type": "check", "required": true,
   "fail": {"service_code": "POND", "priority": "high", "attributes": {"hazard": "other"}}},
  {"code": "note", "label": "备注", "type": "text", "max": 1000}]}'),
('old_factory', 1, 'inspection', '废旧厂房巡查', '{"fields": [
  {"code": "site", "label": "厂房名称/位置", "type": "text", "required": true, "max": 100},
  {"code": "structure", "label": "结构稳固，无坍塌危险", "type": "check", "required": true,
   "fail": {"service_code": "BUILD", "priority": "high", "attributes": {}}},
  {"code": "fire_risk", "label": "无堆放易燃物、无私拉电线", "type": "check", "required": true,
   "fail": {"service_code": "FIRE", "priority": "high", "attributes": {}}},
  {"code": "fenced", "label": "已设围挡和警示标志", "type": "check", "required": true,
   "fail": {"service_code": "SAFETY", "priority": "normal", "attributes": {}}},
  {"code": "note", "label": "备注", "type": "text", "max": 1000}]}'),
('party_visit', 1, 'visit', '党员联户走访', '{"fields": [
  {"code": "party_member", "label": "联户党员", "type": "text", "required": true, "max": 50},
  {"code": "household", "label": "走访户", "type": "household", "required": true},
  {"code": "topics", "label": "走访话题", "type": "text_list", "max": 20},
  {"code": "appeals_raised", "label": "收集诉求(件)", "type": "integer", "required": true, "min": 0, "max": 100},
  {"code": "linked_tickets", "label": "关联工单", "type": "ticket_codes", "max": 100}]}'),
('house_meeting', 1, 'meeting', '屋场会/夜话', '{"fields": [
  {"code": "date", "label": "日期", "type": "date", "required": true},
  {"code": "place", "label": "地点", "type": "text", "required": true, "max": 100},
  {"code": "attendees", "label": "参会人数", "type": "integer", "required": true, "min": 1, "max": 10000},
  {"code": "matters_raised", "label": "提出事项(件)", "type": "integer", "required": true, "min": 0, "max": 1000},
  {"code": "resolved_on_site", "label": "当场解决(件)", "type": "integer", "required": true, "min": 0, "max": 1000},
  {"code": "topics", "label": "议题", "type": "text_list", "max": 50},
  {"code": "linked_tickets", "label": "转办工单", "type": "ticket_codes", "max": 1000}]}');

-- ==== outside systems ("一张网"): alerts by feed ====

-- Which API keys belong to outside systems (the county's water, traffic and agriculture
-- platforms): registry data, written by `gridgovctl feed` as it issues the key. An API key
-- without a row here is an ordinary client and may not post alerts; a feed key may post only
-- alerts. source is the system's short name (it scopes the alert ids it sends), service_code
-- the category its alerts take when they name none.
CREATE TABLE registry.feed_client (
    api_client_id bigint PRIMARY KEY REFERENCES registry.api_client (id),
    source        text   NOT NULL UNIQUE CHECK (source ~ '^[a-z0-9_-]{1,32}$'),
    name          text   NOT NULL,
    service_code  text   NOT NULL REFERENCES registry.service (code)
);

-- One row per alert of a source: its ticket, and where it stands. A second post of the same
-- alert id is an update (or the all-clear) of this row and its ticket, never another ticket.
CREATE TABLE intake.feed_alert (
    source      text        NOT NULL,
    alert_id    text        NOT NULL CHECK (char_length(alert_id) BETWEEN 1 AND 128),
    ticket_id   bigint      NOT NULL UNIQUE REFERENCES intake.ticket (id),
    status      text        NOT NULL CHECK (status IN ('active', 'all_clear')),
    level       text,
    first_at    timestamptz NOT NULL,
    last_at     timestamptz NOT NULL,
    updates     integer     NOT NULL DEFAULT 0,
    PRIMARY KEY (source, alert_id)
);

-- Every alert as it was posted (the raw JSON), once per distinct body: what the source said,
-- kept for the record.
CREATE TABLE intake.feed_alert_raw (
    id          bigserial   PRIMARY KEY,
    source      text        NOT NULL,
    alert_id    text        NOT NULL,
    kind        text        NOT NULL CHECK (kind IN ('alert', 'update', 'all_clear')),
    received_at timestamptz NOT NULL,
    body        jsonb       NOT NULL,
    body_sha256 bytea       NOT NULL CHECK (length(body_sha256) = 32),
    UNIQUE (source, alert_id, body_sha256),
    FOREIGN KEY (source, alert_id) REFERENCES intake.feed_alert (source, alert_id)
);

-- An alert of a source, in one transaction. New alert id: a ticket through intake.create_ticket
-- (channel 'feed'; placed by the router from the point, or the address naming a village and
-- group) and its feed_alert row. Known id: the same body again changes nothing; another
-- body updates the row and the ticket's alert attributes (alert_status, alert_level) and
-- announces ticket.updated in the same transaction (only the router changes a ticket's state:
-- the update is for it and the screens to act on). An all-clear for an id never seen is
-- GG404. Returns the ticket's code, whether it was created and whether anything changed.
CREATE FUNCTION intake.feed_receive(
    p_source text, p_alert_id text, p_kind text, p_service_code text, p_description text, p_lat float8, p_long float8,
    p_address text, p_level text, p_attributes jsonb, p_body jsonb, p_sha256 bytea, p_received_at timestamptz,
    OUT code text, OUT created boolean, OUT changed boolean, OUT status text)
LANGUAGE plpgsql AS $$
DECLARE
    a intake.feed_alert;
    t record;
BEGIN
    SELECT * INTO a FROM intake.feed_alert f WHERE f.source = p_source AND f.alert_id = p_alert_id FOR UPDATE;
    IF NOT FOUND THEN
        IF p_kind = 'all_clear' THEN
            RAISE EXCEPTION 'no alert % of %', p_alert_id, p_source USING ERRCODE = 'GG404';
        END IF;
        IF p_lat IS NULL AND p_address IS NULL THEN
            RAISE EXCEPTION 'alert % is new: it needs lat and long or a place', p_alert_id USING ERRCODE = 'GG422';
        END IF;
        SELECT * INTO t FROM intake.create_ticket(
            'feed', NULL, p_service_code, p_description, p_lat, p_long, p_address, NULL,
            coalesce(p_attributes, '{}') || jsonb_strip_nulls(jsonb_build_object(
                'alert_source', p_source, 'alert_id', p_alert_id, 'alert_status', 'active', 'alert_level', p_level)),
            NULL, NULL, NULL, NULL, NULL, NULL, NULL, p_received_at, NULL);
        INSERT INTO intake.feed_alert (source, alert_id, ticket_id, status, level, first_at, last_at)
        VALUES (p_source, p_alert_id, t.ticket_id, 'active', p_level, p_received_at, p_received_at);
        INSERT INTO intake.feed_alert_raw (source, alert_id, kind, received_at, body, body_sha256)
        VALUES (p_source, p_alert_id, p_kind, p_received_at, p_body, p_sha256);
        code := t.code; created := true; changed := true; status := 'active';
        RETURN;
    END IF;
    SELECT k.code INTO code FROM intake.ticket k WHERE k.id = a.ticket_id;
    created := false;
    INSERT INTO intake.feed_alert_raw (source, alert_id, kind, received_at, body, body_sha256)
    VALUES (p_source, p_alert_id, p_kind, p_received_at, p_body, p_sha256)
    ON CONFLICT (source, alert_id, body_sha256) DO NOTHING;
    IF NOT FOUND THEN  -- this very alert was posted before: nothing changes
        changed := false; status := a.status;
        RETURN;
    END IF;
    status := CASE WHEN p_kind = 'all_clear' THEN 'all_clear' ELSE 'active' END;
    UPDATE intake.feed_alert f SET status = feed_receive.status, level = coalesce(p_level, f.level),
           last_at = p_received_at, updates = f.updates + 1
    WHERE f.source = p_source AND f.alert_id = p_alert_id;
    UPDATE intake.ticket k SET attributes = k.attributes || jsonb_strip_nulls(jsonb_build_object(
               'alert_status', feed_receive.status, 'alert_level', coalesce(p_level, a.level)))
    WHERE k.id = a.ticket_id;
    INSERT INTO bus.outbox (id, type, version, source, occurred_at, correlation_id, data)
    VALUES (gen_random_uuid(), 'ticket.updated', 1, 'intake', p_received_at, NULL, jsonb_strip_nulls(jsonb_build_object(
        'ticket_id', a.ticket_id::text, 'code', code, 'channel', 'feed', 'kind', p_kind, 'status', feed_receive.status,
        'alert_source', p_source, 'alert_id', p_alert_id, 'alert_level', coalesce(p_level, a.level),
        'description', p_description,
        'updated_at', to_char(p_received_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))));
    changed := true;
END
$$;

-- ==== 五零 indicators: what forms add ====

-- Safety accidents (for "days since the last safety accident") and model households (示范户,
-- 文明户 …) are filed by grid workers as forms too.
INSERT INTO intake.field_form (code, version, kind, name, definition) VALUES
('safety_accident', 1, 'accident', '安全事故报告', '{"fields": [
  {"code": "date", "label": "发生日期", "type": "date", "required": true},
  {"code": "description", "label": "经过", "type": "text", "required": true, "max": 2000},
  {"code": "injured", "label": "受伤人数", "type": "integer", "required": true, "min": 0, "max": 10000},
  {"code": "dead", "label": "死亡人数", "type": "integer", "required": true, "min": 0, "max": 10000}]}'),
('model_household', 1, 'model_household', '示范户评定', '{"fields": [
  {"code": "household", "label": "农户", "type": "household", "required": true},
  {"code": "title", "label": "称号", "type": "text", "required": true, "max": 50},
  {"code": "year", "label": "年度", "type": "integer", "required": true, "min": 2000, "max": 2100}]}');

-- Where an alert is, when it names a place instead of a point: a unit code (a group or a
-- village), or the names of a village and, optionally, its group and township. A group gives
-- the address the router reads back as that group (intake.group_address); a village gives a
-- point inside it (the router then places the ticket in the group holding that point) and its
-- name. No row when nothing, or more than one village, answers.
CREATE FUNCTION intake.feed_place(p_unit text, p_township text, p_village text, p_group text)
RETURNS TABLE (address text, lat float8, long float8) LANGUAGE sql STABLE AS $$
    WITH v AS (
        SELECT v.id, v.name, v.boundary, t.name AS township FROM registry.unit v JOIN registry.unit t ON t.id = v.parent_id
        WHERE v.level = 'village' AND p_unit IS NULL AND v.name = p_village AND (p_township IS NULL OR t.name = p_township)
    ), named AS (
        SELECT CASE WHEN p_group IS NULL THEN NULL
                    ELSE (SELECT g.id FROM registry.unit g WHERE g.parent_id = v.id AND g.level = 'group' AND g.name = p_group) END AS gid,
               v.* FROM v WHERE (SELECT count(*) FROM v) = 1
    ), coded AS (
        SELECT u.id, u.level, u.name, u.boundary, t.name AS township FROM registry.unit u
        JOIN registry.unit t ON t.id = u.parent_id
        WHERE p_unit IS NOT NULL AND u.code = p_unit AND u.level IN ('group', 'village')
    )
    SELECT intake.group_address(n.gid), NULL::float8, NULL::float8 FROM named n WHERE n.gid IS NOT NULL
    UNION ALL
    SELECT n.township || n.name, ST_Y(ST_PointOnSurface(n.boundary)), ST_X(ST_PointOnSurface(n.boundary))
    FROM named n WHERE p_group IS NULL AND n.boundary IS NOT NULL
    UNION ALL
    SELECT intake.group_address(c.id), NULL, NULL FROM coded c WHERE c.level = 'group'
    UNION ALL
    SELECT c.township || c.name, ST_Y(ST_PointOnSurface(c.boundary)), ST_X(ST_PointOnSurface(c.boundary))
    FROM coded c WHERE c.level = 'village' AND c.boundary IS NOT NULL
$$;
