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
-- length walked on the spheroid, the share of the group's area within p_buffer_m of the walked
-- pieces (a lone fix counts as a disc) and the area of the group, in square metres.
-- The buffer is taken in geography (PostGIS picks a local metric projection), so 50 m is 50 m
-- at any latitude.
CREATE FUNCTION intake.field_track_measure(p_group_id bigint, p_lat float8[], p_long float8[], p_piece int[],
                                           p_buffer_m float8,
                                           OUT distance_m float8, OUT covered_m2 float8, OUT area_m2 float8)
LANGUAGE sql STABLE AS $$
    WITH pt AS (
        SELECT i, p_piece[i] AS piece, ST_SetSRID(ST_MakePoint(p_long[i], p_lat[i]), 4326) AS g
        FROM generate_subscripts(p_lat, 1) AS i
    ), pieces AS (
        SELECT piece, count(*) AS n, ST_MakeLine(g ORDER BY i) AS line, (array_agg(g ORDER BY i))[1] AS first
        FROM pt GROUP BY piece
    ), walked AS (
        SELECT coalesce(sum(CASE WHEN n > 1 THEN ST_Length(line::geography) ELSE 0 END), 0) AS len,
               ST_Collect(CASE WHEN n > 1 THEN line ELSE first END) AS geom
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
