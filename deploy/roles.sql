-- The roles of a gridgov database and what each may do. Run it as a superuser in the database,
-- before the first `gridgovctl migrate` and again whenever you like (it changes nothing the second
-- time):  psql -v ON_ERROR_STOP=1 -d gridgov -f deploy/roles.sql
-- deploy/pg.sh runs it at every start of the private cluster and for `pg.sh createdb`.
--
--   gridgov_owner  owns the database, its schemas and every object in them: `gridgovctl migrate`
--                  and `seed-demo` connect as it. No superuser, creates no roles.
--   gridgov_app    what the daemons (and gridgovctl token/apikey/events) connect as: reads and
--                  writes rows, calls functions, takes sequence values. It owns nothing, so it
--                  cannot create, alter, drop or truncate a table, create a schema, or read
--                  another role's secrets (pg_authid).
-- Neither has a password here: the private cluster admits them by peer authentication over its
-- socket (pg.sh), or sets scram passwords itself when it listens on TCP (GRIDGOV_PG_TCP=1). On a
-- server of your own give them passwords (\password gridgov_app) or map OS users to them.
\set ON_ERROR_STOP 1
SELECT current_database() AS db \gset

DO $$
BEGIN
    IF to_regrole('gridgov_owner') IS NULL THEN CREATE ROLE gridgov_owner; END IF;
    IF to_regrole('gridgov_app') IS NULL THEN CREATE ROLE gridgov_app; END IF;
END $$;
-- Spelled out, so a role someone made by hand with more is brought back to this.
ALTER ROLE gridgov_owner LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;
ALTER ROLE gridgov_app LOGIN NOSUPERUSER NOCREATEDB NOCREATEROLE NOREPLICATION NOBYPASSRLS;

ALTER DATABASE :"db" OWNER TO gridgov_owner;
-- Only our two roles (and superusers) may connect; nobody else gets temporary tables either.
REVOKE ALL ON DATABASE :"db" FROM PUBLIC;
GRANT CONNECT ON DATABASE :"db" TO gridgov_app;

-- PostGIS is not a trusted extension: only a superuser may create it. Migration 002 names it
-- with IF NOT EXISTS, which the owner may then run.
CREATE EXTENSION IF NOT EXISTS postgis;

-- Everything gridgov_owner creates from now on (every migration, later ones included) ...
ALTER DEFAULT PRIVILEGES FOR ROLE gridgov_owner GRANT USAGE ON SCHEMAS TO gridgov_app;
ALTER DEFAULT PRIVILEGES FOR ROLE gridgov_owner GRANT SELECT, INSERT, UPDATE, DELETE ON TABLES TO gridgov_app;
ALTER DEFAULT PRIVILEGES FOR ROLE gridgov_owner GRANT USAGE, SELECT ON SEQUENCES TO gridgov_app;
-- (functions: EXECUTE belongs to PUBLIC by default, and only these roles may connect)

-- ... and what was created before: a database migrated before these roles existed.
DO $$
DECLARE
    s name;
BEGIN
    FOR s IN SELECT nspname FROM pg_namespace
             WHERE nspname NOT LIKE 'pg\_%' AND nspname NOT IN ('information_schema', 'public')
    LOOP
        EXECUTE format('GRANT USAGE ON SCHEMA %I TO gridgov_app', s);
        EXECUTE format('GRANT SELECT, INSERT, UPDATE, DELETE ON ALL TABLES IN SCHEMA %I TO gridgov_app', s);
        EXECUTE format('GRANT USAGE, SELECT ON ALL SEQUENCES IN SCHEMA %I TO gridgov_app', s);
    END LOOP;
END $$;
