-- Residents' data: events carry references, not contact details; private categories show the
-- public their status only; no public read shows a household's code.
--
-- 1. ticket.created version 2 (proto/ticket.created.schema.json) has no `reporter` block: the
--    reporter's name, phone, e-mail, account and device went to every subscriber of intake's
--    events, and into every copy of them. They stay in intake.ticket, and the services that
--    need them read intake.ticket_contact (below): the router, to place a ticket by the
--    reporter's registered household when it has no point and no household code (in
--    router.assign_plan, one index probe per such ticket), and notify, later, to answer the
--    resident. Version 1 events already in bus.outbox stay as they are (proto/WIRE.md): the
--    router routes both alike, because it reads the phone here for either.
-- 2. registry.service.private: a category whose reports are nobody's business but the reporter's
--    and the officials who handle them (邻里纠纷, 土地承包, 社会救助 in the demo county). What the
--    public reads (intake.ticket_view: Open311 and the native GETs, which need no credentials) of
--    such a ticket is its category, status, generic status notes, dates and the unit
--    responsible; its description, attributes, point, address and media are NULL, as
--    FixMyStreet keeps private reports off its public pages. Staff read the whole ticket in
--    their area (GET /api/v1/staff/tickets/{code}). Open311 servicerequestupdates give a
--    private ticket the generic description of each step, not the handler's note.
-- 3. address_id, the code of a registered household, is NULL in intake.ticket_view for every
--    category: it names where a resident lives.
--
-- Nothing here depends on the data, but for the demo county's flags (below).

-- ==== registry: which categories are private ====

ALTER TABLE registry.service ADD COLUMN private boolean NOT NULL DEFAULT false;
COMMENT ON COLUMN registry.service.private IS
    'The public (Open311, the native GETs) sees only the status of this category''s tickets: '
    'no description, attributes, location or media (intake.ticket_view).';

-- The demo county (deploy/seed/demo_county.sql) marks its three private categories itself when it
-- is loaded on this schema; a database seeded before this migration gets them here. A county's own
-- catalogue is its operators' to mark: only the demo jurisdiction is touched.
UPDATE registry.service SET private = true
WHERE code IN ('DISPUTE', 'LAND', 'AID')
  AND EXISTS (SELECT 1 FROM registry.jurisdiction WHERE id = 'demo.gridgov.cn');

-- ==== intake: contact details, published to those who need them ====

CREATE VIEW intake.ticket_contact AS
SELECT id AS ticket_id, code, channel, phone, email, first_name, last_name, account_id, device_id
FROM intake.ticket;
COMMENT ON VIEW intake.ticket_contact IS
    'read by router, notify: the reporter''s contact details, which no event carries. The router places a ticket '
    'without a point or household by the phone''s registered household (router.assign_plan); notify will answer '
    'the resident by phone or WeChat (account_id).';

-- The same as migration 003's but for the event: version 2, the ticket and no reporter. The row
-- is written here rather than through bus.emit, which has no version argument.
CREATE OR REPLACE FUNCTION intake.create_ticket(
    p_channel text, p_api_client_id bigint, p_service_code text, p_description text,
    p_lat double precision, p_long double precision, p_address_string text, p_address_id text,
    p_attributes jsonb, p_first_name text, p_last_name text, p_email text, p_phone text,
    p_device_id text, p_account_id text, p_media_url text, p_requested_at timestamptz,
    p_correlation_id uuid,
    OUT ticket_id bigint, OUT code text, OUT event_id uuid)
LANGUAGE plpgsql AS $$
DECLARE
    home geometry;
BEGIN
    -- address_id names a registered household; a point sent with it must be near that home.
    IF p_address_id IS NOT NULL THEN
        SELECT h.location INTO home FROM registry.household h WHERE h.code = p_address_id;
        IF NOT FOUND THEN
            RAISE EXCEPTION 'address_id % is not a registered household', p_address_id USING ERRCODE = 'GG404';
        END IF;
        IF p_lat IS NOT NULL AND home IS NOT NULL
           AND ST_DistanceSphere(home, ST_SetSRID(ST_MakePoint(p_long, p_lat), 4326)) > 2000 THEN
            RAISE EXCEPTION 'lat/long is more than 2 km from household %', p_address_id USING ERRCODE = 'GG409';
        END IF;
    END IF;
    ticket_id := nextval('intake.ticket_id_seq');
    code := to_char(p_requested_at AT TIME ZONE 'Asia/Shanghai', 'YYMMDD') || lpad(ticket_id::text, 7, '0');
    INSERT INTO intake.ticket (id, code, channel, api_client_id, service_code, description, lat, long,
                               address_string, address_id, attributes, first_name, last_name, email,
                               phone, device_id, account_id, media_url, requested_at)
    VALUES (ticket_id, code, p_channel, p_api_client_id, p_service_code, coalesce(p_description, ''),
            p_lat, p_long, p_address_string, p_address_id, coalesce(p_attributes, '{}'), p_first_name,
            p_last_name, p_email, p_phone, p_device_id, p_account_id, p_media_url, p_requested_at);
    INSERT INTO bus.outbox (id, type, version, source, occurred_at, correlation_id, data)
    VALUES (gen_random_uuid(), 'ticket.created', 2, 'intake', p_requested_at, p_correlation_id,
            jsonb_strip_nulls(jsonb_build_object(
                'ticket_id', ticket_id::text, 'code', code, 'channel', p_channel,
                'service_code', p_service_code, 'description', coalesce(p_description, ''),
                'lat', p_lat, 'long', p_long, 'address_string', p_address_string, 'address_id', p_address_id,
                'attributes', coalesce(p_attributes, '{}'), 'media_url', p_media_url,
                'requested_at', to_char(p_requested_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))))
    RETURNING id INTO event_id;
END
$$;

-- ==== router: a note for private categories ====

-- Placement reads the reporter's phone from intake.ticket_contact by ticket id (the batch no
-- longer carries it; the event has none), only for a ticket that neither a household code nor a
-- group polygon places: router.assign_plan, defined once in migration 019, which also adds the
-- address to the order of placement. (Both migrations ship in one release, so no database runs
-- between them.)

-- The same as migration 011's, and one column more: state_notes, what the state says to anyone
-- (已签收, 办理中, 不予受理, …) without what a handler wrote (a rejection's reason), for the
-- categories whose notes the public does not read.
CREATE OR REPLACE VIEW router.ticket_status AS
SELECT r.ticket_id, r.code, r.state,
       CASE WHEN CASE WHEN r.state = 'merged' THEN coalesce(o.state, 'closed') ELSE r.state END
                 IN ('closed', 'rejected', 'merged')
            THEN 'closed' ELSE 'open' END::text AS status,
       coalesce(r.status_notes, g.notes) AS status_notes,
       CASE WHEN r.state = 'merged' THEN o.unit_id ELSE r.unit_id END AS unit_id,
       CASE WHEN r.state = 'merged' THEN o.resolve_due ELSE r.resolve_due END AS expected_datetime,
       CASE WHEN r.state = 'merged' THEN greatest(r.updated_at, o.updated_at) ELSE r.updated_at END AS updated_at,
       g.notes AS state_notes
FROM router.ticket r
LEFT JOIN router.ticket o ON o.ticket_id = r.merged_into
CROSS JOIN LATERAL (SELECT CASE r.state
           WHEN 'assigned' THEN '已派单，等待签收' WHEN 'accepted' THEN '已签收' WHEN 'in_progress' THEN '办理中'
           WHEN 'resolved' THEN '已办结，等待评价' WHEN 'closed' THEN '已办结' WHEN 'returned' THEN '已退单，重新派单中'
           WHEN 'rejected' THEN '不予受理' WHEN 'merged' THEN '重复件，已并入 ' || o.code END AS notes) g;
COMMENT ON VIEW router.ticket_status IS
    'read by intake: the lifecycle Open311 and the native API show for each routed ticket (status open/closed, '
    'status_notes, the unit responsible, expected and updated times, and state_notes, the notes without what a '
    'handler wrote, for private categories), through intake.ticket_view. A duplicate follows the ticket it was '
    'merged into.';

-- ==== intake: what the public reads ====

-- The same columns as migration 011's, so every reader keeps working; what a private category's
-- ticket does not show is NULL (its attributes '{}'), and address_id is NULL for all.
CREATE OR REPLACE VIEW intake.ticket_view AS
SELECT t.id, t.code, t.channel, t.service_code, s.name AS service_name,
       CASE WHEN s.private THEN NULL ELSE t.description END AS description,
       CASE WHEN s.private THEN NULL ELSE t.lat END AS lat,
       CASE WHEN s.private THEN NULL ELSE t.long END AS long,
       CASE WHEN s.private THEN NULL ELSE t.address_string END AS address_string,
       NULL::text AS address_id,
       CASE WHEN s.private THEN '{}'::jsonb ELSE t.attributes END AS attributes,
       CASE WHEN s.private THEN NULL ELSE t.media_url END AS media_url,
       t.requested_at, coalesce(r.updated_at, t.requested_at) AS updated_at,
       coalesce(r.status, 'open')::text AS status,
       CASE WHEN s.private THEN r.state_notes ELSE r.status_notes END AS status_notes,
       u.name AS agency_responsible,
       r.expected_datetime, NULL::text AS service_notice
FROM intake.ticket t
JOIN registry.service s ON s.code = t.service_code
LEFT JOIN router.ticket_status r ON r.ticket_id = t.id
LEFT JOIN registry.unit u ON u.id = r.unit_id;
COMMENT ON VIEW intake.ticket_view IS
    'read by intake: its own read model for Open311 and the native API (services/intake/ticket_store.c), '
    'which anyone may read: a private category shows its status only, and no ticket its household code.';
