-- The event id beside the envelope, so a consumer's sweep can test its inbox without building
-- the envelope of events it has already processed (common/consumer.c).
CREATE OR REPLACE VIEW bus.envelope AS
SELECT seq, xid, source, type,
       jsonb_build_object(
           'id', id, 'type', type, 'version', version,
           'occurred_at', to_char(occurred_at AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US"Z"'),
           'source', source, 'correlation_id', correlation_id, 'data', data) AS envelope,
       id
FROM bus.outbox;
