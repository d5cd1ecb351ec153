-- The message bus kept in PostgreSQL (see proto/WIRE.md).
-- bus.outbox: every event, committed in the same transaction as the state change it announces.
--   Each producing service writes only rows with its own `source`.
-- bus.inbox: what a consumer has processed, written in the same transaction as its effect.
-- bus.cursor: how far a consumer's catch-up sweep has read, by (xid, seq): never by seq alone,
--   because sequence values are not assigned in commit order. A relay keeps its own cursor here
--   too, as 'relay:<source>', so publishing writes nothing per event.

CREATE SCHEMA IF NOT EXISTS bus;

CREATE TABLE bus.outbox (
    seq            bigserial PRIMARY KEY,
    id             uuid        NOT NULL UNIQUE,
    xid            xid8        NOT NULL DEFAULT pg_current_xact_id(),
    type           text        NOT NULL CHECK (type ~ '^[a-z]+(\.[a-z_]+)+$'),
    version        integer     NOT NULL DEFAULT 1 CHECK (version > 0),
    source         text        NOT NULL,
    occurred_at    timestamptz NOT NULL,
    correlation_id uuid,
    data           jsonb       NOT NULL
);
CREATE INDEX outbox_xid_seq ON bus.outbox (xid, seq);
CREATE INDEX outbox_source_xid_seq ON bus.outbox (source, xid, seq);

CREATE TABLE bus.inbox (
    consumer     text        NOT NULL,
    event_id     uuid        NOT NULL,
    processed_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (consumer, event_id)
);

CREATE TABLE bus.cursor (
    consumer   text        PRIMARY KEY,
    xid        xid8        NOT NULL DEFAULT '0',
    seq        bigint      NOT NULL DEFAULT 0,
    updated_at timestamptz NOT NULL DEFAULT now()
);

-- The one way to add an event: call it inside the transaction whose change it announces.
-- Returns the new event id. The event is visible to consumers only when that transaction commits.
CREATE FUNCTION bus.emit(p_type text, p_source text, p_correlation_id uuid, p_data jsonb,
                         p_occurred_at timestamptz DEFAULT now())
RETURNS uuid LANGUAGE sql AS $$
    INSERT INTO bus.outbox (id, type, source, occurred_at, correlation_id, data)
    VALUES (gen_random_uuid(), p_type, p_source, p_occurred_at, p_correlation_id, p_data)
    RETURNING id
$$;

-- The envelope as it travels (proto/envelope.schema.json), built in one place.
CREATE VIEW bus.envelope AS
SELECT seq, xid, source, type,
       jsonb_build_object(
           'id', id, 'type', type, 'version', version,
           'occurred_at', to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           'source', source, 'correlation_id', correlation_id, 'data', data) AS envelope
FROM bus.outbox;

-- What a relay has not published yet (for operators and tests).
CREATE VIEW bus.unpublished AS
SELECT o.* FROM bus.outbox o
LEFT JOIN bus.cursor c ON c.consumer = 'relay:' || o.source
WHERE c.consumer IS NULL OR (o.xid, o.seq) > (c.xid, c.seq);
