-- bus.emit in PL/pgSQL instead of SQL. PostgreSQL 15 cannot inline a SQL function whose body is
-- an INSERT, so it parsed and planned that body again on every call: about 60 µs of the 300 µs
-- that intake.create_ticket costs (perf: base_yyparse under the SQL function executor).
-- PL/pgSQL keeps the INSERT's plan for the life of the connection. Same signature, same result.
-- bench/run.sh, before and after in one session: pgbench on create_ticket 5,066 -> 5,729 tps,
-- intake 3,690 -> 4,273 req/s (bench/README.md, step 6).
CREATE OR REPLACE FUNCTION bus.emit(p_type text, p_source text, p_correlation_id uuid, p_data jsonb,
                                    p_occurred_at timestamptz DEFAULT now())
RETURNS uuid LANGUAGE plpgsql AS $$
DECLARE
    v_id uuid;
BEGIN
    INSERT INTO bus.outbox (id, type, source, occurred_at, correlation_id, data)
    VALUES (gen_random_uuid(), p_type, p_source, p_occurred_at, p_correlation_id, p_data)
    RETURNING id INTO v_id;
    RETURN v_id;
END
$$;
