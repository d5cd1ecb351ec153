-- The command beside its reply: router.command keeps what intake asked as well as what the router
-- answered, stored by services/router/commands.c in the same INSERT. The test suite validates both
-- against proto/command.router.schema.json and proto/reply.router.schema.json
-- (tests/proto_check.py), as it validates the events of bus.outbox; an operator reading a reply
-- sees the question it answers.
-- NULL only on rows an earlier release stored: they keep their reply and nothing else changes.
-- The frames the router refuses before storing anything (not JSON, no uuid id, unknown action)
-- never reach this table.
ALTER TABLE router.command
    ADD COLUMN request jsonb
        CONSTRAINT command_request_is_this_command
        CHECK (request IS NULL OR (jsonb_typeof(request) = 'object' AND (request->>'id')::uuid IS NOT DISTINCT FROM id));

COMMENT ON COLUMN router.command.request IS
    'the command as the router received it (proto/command.router.schema.json); NULL on rows stored before migration 012';
