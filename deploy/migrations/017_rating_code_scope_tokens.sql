-- Trust boundaries (issue 10): a resident's rating proves it comes from the reporter, staff scope
-- follows the unit that holds a ticket now, staff tokens always expire.

-- The rating code (评价码): a per-ticket secret only the reporter received (in the answer to the
-- POST that filed the ticket; later in the resolved message, see README). Written by intake when
-- a ticket with a phone is filed; only SHA-256(salt || code) is kept, so neither this table nor a
-- copy of it rates anything. A retried POST (same Idempotency-Key) issues a fresh code and
-- overwrites the hash: the code in the last answer the client received is the one that works.
CREATE TABLE intake.rating_code (
    ticket_id   bigint      PRIMARY KEY REFERENCES intake.ticket (id),
    salt        bytea       NOT NULL CHECK (length(salt) = 16),
    code_sha256 bytea       NOT NULL CHECK (length(code_sha256) = 32),
    issued_at   timestamptz NOT NULL
);

-- Failed rating attempts, kept so that the limit holds across intake instances and restarts
-- (services/intake/rating_guard.c). ticket_code is what the client sent, so guesses at codes that
-- name no ticket count as much as guesses at real ones. Rows older than the window are deleted
-- as new failures come in.
CREATE TABLE intake.rating_failure (
    id            bigserial   PRIMARY KEY,
    ticket_code   text        NOT NULL CHECK (char_length(ticket_code) <= 64),
    api_client_id bigint      NOT NULL REFERENCES registry.api_client (id),
    at            timestamptz NOT NULL
);
CREATE INDEX rating_failure_ticket ON intake.rating_failure (ticket_code, at);
CREATE INDEX rating_failure_client ON intake.rating_failure (api_client_id, at);
CREATE INDEX rating_failure_at ON intake.rating_failure (at);

-- A staff member's area: their unit and every unit below it. A ticket is in a staff member's
-- scope when the unit holding it now (router.ticket.unit_id) is in their area, whatever unit it
-- was first placed in: the set form of router.unit_within(staff unit, holder), for queues.
CREATE OR REPLACE FUNCTION registry.unit_area(p_unit bigint) RETURNS SETOF bigint LANGUAGE sql STABLE AS $$
    WITH RECURSIVE down AS (
        SELECT id FROM registry.unit WHERE id = p_unit
        UNION ALL
        SELECT u.id FROM registry.unit u JOIN down ON u.parent_id = down.id)
    SELECT id FROM down
$$;

-- Every staff token expires. gridgovctl writes expires_at from its staff_token_ttl_h when it
-- issues one; the default covers any other writer. Tokens issued before this migration had none:
-- they get the default life from their issue time (so old ones stop working now).
UPDATE registry.staff_token SET expires_at = issued_at + interval '12 hours' WHERE expires_at IS NULL;
ALTER TABLE registry.staff_token ALTER COLUMN expires_at SET DEFAULT now() + interval '12 hours',
                                 ALTER COLUMN expires_at SET NOT NULL;
-- gridgovctl revoke-token --staff ID
CREATE INDEX staff_token_staff ON registry.staff_token (staff_id) WHERE NOT revoked;
