-- pgbench script for bench/run.sh: the PostgreSQL ceiling for intake's durable work.
-- One transaction per "request", exactly the statement intake runs per Open311 POST without an
-- Idempotency-Key (services/intake/ticket_store.c): one ticket row plus its ticket.created outbox
-- row, committed with fsync and synchronous_commit on. :client is the API client id (pgbench -D).
SELECT ticket_id, code FROM intake.create_ticket('open311', :client, 'LIGHT', '村口路灯不亮，晚上出行不便', 28.2, 113.1, NULL, NULL, '{"fault_type":"off"}'::jsonb, NULL, NULL, NULL, NULL, NULL, NULL, NULL, now(), NULL);
