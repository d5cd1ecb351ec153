-- bus.emit in PL/pgSQL instead of SQL. PostgreSQL 15 cannot inline a SQL function whose body is
-- an INSERT, so it parsed and planned that body again on every call: about 60 µs of the 300 µs
-- that intake.create_ticket costs (perf: base_yyparse under the SQL function executor).
-- PL/pgSQL keeps the INSERT's plan for the life of the connection. Same signature, same result.
-- Measured with bench/run.sh: pgbench on create_ticket 4,950 -> 6,030 tps, intake 3,630 -> 4,150
-- req/s (bench/README.md).
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
