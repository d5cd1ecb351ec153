-- Tickets as submitted. Written only by intake; the lifecycle belongs to the router.

CREATE SCHEMA IF NOT EXISTS intake;

CREATE SEQUENCE intake.ticket_id_seq;

CREATE TABLE intake.ticket (
    id             bigint      PRIMARY KEY DEFAULT nextval('intake.ticket_id_seq'),
    code           text        NOT NULL UNIQUE,  -- the public code residents quote
    channel        text        NOT NULL CHECK (channel IN ('open311', 'api', 'wechat', 'sms', 'hotline', 'grid_worker')),
    api_client_id  bigint      REFERENCES registry.api_client (id),
    service_code   text        NOT NULL REFERENCES registry.service (code),
    description    text        NOT NULL DEFAULT '' CHECK (char_length(description) <= 4000),
    lat            double precision CHECK (lat BETWEEN -90 AND 90),
    long           double precision CHECK (long BETWEEN -180 AND 180),
    address_string text,
    address_id     text,
    attributes     jsonb       NOT NULL DEFAULT '{}',
    first_name     text,
    last_name      text,
    email          text,
    phone          text,
    device_id      text,
    account_id     text,
    media_url      text,
    requested_at   timestamptz NOT NULL,
    CHECK ((lat IS NULL) = (long IS NULL)),
    CHECK (lat IS NOT NULL OR address_string IS NOT NULL OR address_id IS NOT NULL)
);
CREATE INDEX ticket_requested ON intake.ticket (requested_at, id);
CREATE INDEX ticket_service ON intake.ticket (service_code, requested_at);

-- A retried POST with the same Idempotency-Key gets the first answer and creates nothing.
CREATE TABLE intake.idempotency (
    scope        text        NOT NULL,           -- who may reuse the key: api client or 'anon'
    key          text        NOT NULL,
    request_hash bytea       NOT NULL,
    status       integer     NOT NULL,
    content_type text        NOT NULL,
    body         text        NOT NULL,
    ticket_id    bigint      REFERENCES intake.ticket (id),
    created_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (scope, key)
);

-- What Open311 and the native API show of a ticket. The router (a later migration) replaces
-- this view to add the lifecycle: status, status_notes, agency_responsible, expected_datetime.
CREATE VIEW intake.ticket_view AS
SELECT t.id, t.code, t.channel, t.service_code, s.name AS service_name, t.description,
       t.lat, t.long, t.address_string, t.address_id, t.attributes, t.media_url,
       t.requested_at, t.requested_at AS updated_at,
       'open'::text AS status, NULL::text AS status_notes, NULL::text AS agency_responsible,
       NULL::timestamptz AS expected_datetime, NULL::text AS service_notice
FROM intake.ticket t JOIN registry.service s ON s.code = t.service_code;

-- Creates a ticket and its ticket.created event in the caller's transaction (or, called as one
-- statement, in its own). Returns the ticket id, public code and event id.
-- The public code is the local date (Asia/Shanghai) and the id: 2611290000042.
CREATE FUNCTION intake.create_ticket(
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
    event_id := bus.emit('ticket.created', 'intake', p_correlation_id, jsonb_strip_nulls(jsonb_build_object(
        'ticket_id', ticket_id::text, 'code', code, 'channel', p_channel,
        'service_code', p_service_code, 'description', coalesce(p_description, ''),
        'lat', p_lat, 'long', p_long, 'address_string', p_address_string, 'address_id', p_address_id,
        'attributes', coalesce(p_attributes, '{}'),
        'reporter', jsonb_build_object('first_name', p_first_name, 'last_name', p_last_name,
                                       'email', p_email, 'phone', p_phone, 'account_id', p_account_id,
                                       'device_id', p_device_id),
        'media_url', p_media_url,
        'requested_at', to_char(p_requested_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'))),
        p_requested_at);
END
$$;
