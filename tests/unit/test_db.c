#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "db.h"
#include "db_tx.h"
#include "harness.h"
#include "log.h"

/* As the owner: these tests create tables and schemas and run migrations. */
static db_t *connect_test_db(void)
{
    char err[512] = "";
    db_t *db = db_connect(h_owner_conninfo(), "unit-test-db", err, sizeof err);
    if (!db)
        fail_msg("db_connect: %s", err);
    return db;
}

static int setup(void **state)
{
    *state = connect_test_db();
    return 0;
}

static int teardown(void **state)
{
    db_t *db = *state;
    db_destroy(&db);
    return 0;
}

/* ---- connecting --------------------------------------------------------------------------- */

static void connect_to_missing_socket_fails_with_reason(void **state)
{
    (void)state;
    char err[512] = "";
    db_t *db = db_connect("host=/nonexistent/gridgov-socket-dir port=5 dbname=nothing", "unit", err, sizeof err);
    assert_null(db);
    assert_true(strncmp(err, "cannot connect to PostgreSQL: ", 30) == 0);
    assert_true(strlen(err) > 30);
    assert_int_not_equal(err[strlen(err) - 1], '\n');
}

static void connect_with_bad_conninfo_fails_with_reason(void **state)
{
    (void)state;
    char err[512] = "";
    db_t *db = db_connect("host=/nonexistent bogus_option=1", "unit", err, sizeof err);
    assert_null(db);
    assert_non_null(strstr(err, "cannot connect to PostgreSQL"));
    assert_non_null(strstr(err, "bogus_option"));
}

static void connect_sets_application_name_and_utf8(void **state)
{
    db_t *db = *state;
    char err[512] = "";
    PGresult *r = db_exec(db, "SELECT current_setting('application_name'), current_setting('client_encoding')", 0,
                          NULL, err, sizeof err, NULL);
    assert_non_null(r);
    assert_string_equal(PQgetvalue(r, 0, 0), "unit-test-db");
    assert_string_equal(PQgetvalue(r, 0, 1), "UTF8");
    PQclear(r);
}

static void destroy_twice_is_safe(void **state)
{
    (void)state;
    db_t *db = connect_test_db();
    db_destroy(&db);
    assert_null(db);
    db_destroy(&db);
    db_destroy(NULL);
}

/* ---- statements ----------------------------------------------------------------------------- */

static void exec_passes_parameters_and_returns_rows(void **state)
{
    db_t *db = *state;
    char err[512] = "", st[6] = "XXXXX";
    const char *p[] = {"41", "hello"};
    PGresult *r = db_exec(db, "SELECT $1::int + 1, upper($2), g FROM generate_series(1, 3) g", 2, p, err,
                          sizeof err, st);
    assert_non_null(r);
    assert_string_equal(st, ""); /* cleared on success */
    assert_int_equal(PQntuples(r), 3);
    assert_string_equal(PQgetvalue(r, 0, 0), "42");
    assert_string_equal(PQgetvalue(r, 0, 1), "HELLO");
    assert_string_equal(PQgetvalue(r, 2, 2), "3");
    PQclear(r);
}

static void exec_round_trips_chinese_text(void **state)
{
    db_t *db = *state;
    char err[512] = "";
    const char *text = "示范县果园镇九木村：路灯不亮，请尽快修理。🙂";
    const char *p[] = {text};
    PGresult *r = db_exec(db, "SELECT $1::text, length($1::text), octet_length($1::text)", 1, p, err, sizeof err,
                          NULL);
    assert_non_null(r);
    assert_string_equal(PQgetvalue(r, 0, 0), text);
    assert_string_equal(PQgetvalue(r, 0, 1), "22"); /* characters, not bytes */
    char bytes[16];
    snprintf(bytes, sizeof bytes, "%zu", strlen(text));
    assert_string_equal(PQgetvalue(r, 0, 2), bytes);
    PQclear(r);
}

static void exec_passes_null_parameter_as_sql_null(void **state)
{
    db_t *db = *state;
    char err[512] = "";
    const char *p[] = {NULL, "x"};
    PGresult *r = db_exec(db, "SELECT $1::text IS NULL, $1::text, $2::text IS NULL", 2, p, err, sizeof err, NULL);
    assert_non_null(r);
    assert_string_equal(PQgetvalue(r, 0, 0), "t");
    assert_true(PQgetisnull(r, 0, 1));
    assert_string_equal(PQgetvalue(r, 0, 2), "f");
    PQclear(r);
}

static void exec_parameters_are_not_sql(void **state)
{
    db_t *db = *state;
    char err[512] = "";
    const char *p[] = {"'); DROP TABLE bus.outbox; --"};
    PGresult *r = db_exec(db, "SELECT $1::text", 1, p, err, sizeof err, NULL);
    assert_non_null(r);
    assert_string_equal(PQgetvalue(r, 0, 0), p[0]);
    PQclear(r);
    PGconn *c = h_db_owner();
    assert_int_equal(h_sql_int(c, "SELECT count(*) FROM pg_tables WHERE schemaname = 'bus' AND tablename = 'outbox'",
                               0, NULL),
                     1);
    PQfinish(c);
}

static void exec_command_returns_command_ok_result(void **state)
{
    db_t *db = *state;
    char err[512] = "";
    PGresult *r = db_exec(db, "CREATE TEMP TABLE unit_cmd (x int)", 0, NULL, err, sizeof err, NULL);
    assert_non_null(r);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
    const char *p[] = {"7"};
    r = db_exec(db, "INSERT INTO unit_cmd VALUES ($1), ($1)", 1, p, err, sizeof err, NULL);
    assert_non_null(r);
    assert_string_equal(PQcmdTuples(r), "2");
    PQclear(r);
}

static void missing_table_gives_42P01(void **state)
{
    db_t *db = *state;
    char err[512] = "", st[6] = "";
    PGresult *r = db_exec(db, "SELECT * FROM unit_no_such_table", 0, NULL, err, sizeof err, st);
    assert_null(r);
    assert_string_equal(st, "42P01");
    assert_string_equal(err, "42P01: relation \"unit_no_such_table\" does not exist");
}

static void unique_violation_gives_23505(void **state)
{
    db_t *db = *state;
    char err[512] = "", st[6] = "";
    assert_true(db_run(db, "CREATE TEMP TABLE unit_uniq (k text PRIMARY KEY)", 0, NULL, err, sizeof err));
    const char *p[] = {"路灯"};
    assert_true(db_run(db, "INSERT INTO unit_uniq VALUES ($1)", 1, p, err, sizeof err));
    PGresult *r = db_exec(db, "INSERT INTO unit_uniq VALUES ($1)", 1, p, err, sizeof err, st);
    assert_null(r);
    assert_string_equal(st, "23505");
    assert_true(strncmp(err, "23505: duplicate key value violates unique constraint", 53) == 0);
    assert_false(db_sqlstate_retryable(st));
    /* the connection is still usable after an SQL error */
    r = db_exec(db, "SELECT count(*) FROM unit_uniq", 0, NULL, err, sizeof err, st);
    assert_non_null(r);
    assert_string_equal(PQgetvalue(r, 0, 0), "1");
    PQclear(r);
}

static void syntax_error_gives_42601_and_sqlstate_is_optional(void **state)
{
    db_t *db = *state;
    char err[512] = "";
    PGresult *r = db_exec(db, "SELEC 1", 0, NULL, err, sizeof err, NULL);
    assert_null(r);
    assert_true(strncmp(err, "42601: syntax error", 19) == 0);
}

static void raised_exception_message_reaches_err(void **state)
{
    db_t *db = *state;
    char err[512] = "", st[6] = "";
    PGresult *r = db_exec(db, "DO $$BEGIN RAISE EXCEPTION '工单 % 不存在', 7 USING ERRCODE = 'P0002'; END$$", 0,
                          NULL, err, sizeof err, st);
    assert_null(r);
    assert_string_equal(st, "P0002");
    assert_string_equal(err, "P0002: 工单 7 不存在");
}

static void run_reports_success_and_failure(void **state)
{
    db_t *db = *state;
    char err[512] = "";
    assert_true(db_run(db, "SELECT 1", 0, NULL, err, sizeof err));
    assert_false(db_run(db, "SELECT 1/0", 0, NULL, err, sizeof err));
    assert_string_equal(err, "22012: division by zero");
}

static void pq_exec_works_inside_a_transaction(void **state)
{
    db_t *db = *state;
    char err[512] = "", st[6] = "";
    PGconn *c = db_conn(db, err, sizeof err);
    assert_non_null(c);
    PGresult *r = db_pq_exec(c, "BEGIN", 0, NULL, err, sizeof err, st);
    assert_non_null(r);
    PQclear(r);
    r = db_pq_exec(c, "SELECT nope", 0, NULL, err, sizeof err, st);
    assert_null(r);
    assert_string_equal(st, "42703");
    r = db_pq_exec(c, "SELECT 1", 0, NULL, err, sizeof err, st);
    assert_null(r);
    assert_string_equal(st, "25P02"); /* in failed transaction */
    r = db_pq_exec(c, "ROLLBACK", 0, NULL, err, sizeof err, st);
    assert_non_null(r);
    PQclear(r);
    assert_ptr_equal(db_conn(db, err, sizeof err), c); /* a healthy connection is kept */
}

static void sqlstate_retryable_table(void **state)
{
    (void)state;
    const char *yes[] = {"08000", "08003", "08006", "08001", "08004", "08P01",
                         "57P01", "57P02", "57P03", "40001", "40P01"};
    const char *no[] = {"",      "00000", "23505", "42P01", "42601", "22012", "57014",
                        "57P04", "40002", "40003", "P0001", "XX000", "25P02", "53300"};
    for (size_t i = 0; i < sizeof yes / sizeof yes[0]; i++)
        if (!db_sqlstate_retryable(yes[i]))
            fail_msg("%s should be retryable", yes[i]);
    for (size_t i = 0; i < sizeof no / sizeof no[0]; i++)
        if (db_sqlstate_retryable(no[i]))
            fail_msg("%s should not be retryable", no[i]);
    assert_false(db_sqlstate_retryable(NULL));
}

/* ---- reconnecting ------------------------------------------------------------------------- */

static void terminated_backend_fails_once_then_reconnects(void **state)
{
    db_t *db = *state;
    char err[512] = "", st[6] = "";
    PGresult *r = db_exec(db, "SELECT pg_backend_pid()", 0, NULL, err, sizeof err, NULL);
    assert_non_null(r);
    long pid1 = atol(PQgetvalue(r, 0, 0));
    PQclear(r);

    r = db_exec(db, "SELECT pg_terminate_backend(pg_backend_pid())", 0, NULL, err, sizeof err, st);
    assert_null(r);
    assert_true(db_sqlstate_retryable(st));
    assert_true(strlen(err) > 0);

    r = db_exec(db, "SELECT pg_backend_pid(), current_setting('application_name')", 0, NULL, err, sizeof err, st);
    if (!r)
        fail_msg("no reconnect: %s", err);
    long pid2 = atol(PQgetvalue(r, 0, 0));
    assert_string_equal(PQgetvalue(r, 0, 1), "unit-test-db");
    PQclear(r);
    assert_true(pid2 > 0);
    assert_int_not_equal(pid1, pid2);
}

static void prepared_statement_runs_by_name_and_survives_a_reconnect(void **state)
{
    db_t *db = *state;
    char err[512] = "", st[6] = "";
    const char *p[] = {"路灯"};
    PGresult *r = db_exec_prepared(db, "unit_echo", "SELECT $1::text || '不亮'", 1, p, err, sizeof err, st);
    if (!r)
        fail_msg("prepared: %s", err);
    assert_string_equal(PQgetvalue(r, 0, 0), "路灯不亮");
    PQclear(r);
    r = db_exec(db, "SELECT count(*) FROM pg_prepared_statements WHERE name = 'unit_echo'", 0, NULL, err, sizeof err, st);
    assert_non_null(r);
    assert_string_equal(PQgetvalue(r, 0, 0), "1");
    PQclear(r);
    /* the session dies: the statement is prepared again on the new one */
    r = db_exec(db, "SELECT pg_terminate_backend(pg_backend_pid())", 0, NULL, err, sizeof err, st);
    assert_null(r);
    r = db_exec_prepared(db, "unit_echo", "SELECT $1::text || '不亮'", 1, p, err, sizeof err, st);
    if (!r)
        fail_msg("prepared after reconnect: %s", err);
    assert_string_equal(PQgetvalue(r, 0, 0), "路灯不亮");
    PQclear(r);
    /* an error in the statement is reported like db_exec's */
    r = db_exec_prepared(db, "unit_bad", "SELECT 1/0", 0, NULL, err, sizeof err, st);
    assert_null(r);
    assert_string_equal(st, "22012");
}

/* A daemon may prepare any number of statements on one connection: each stays prepared and
 * runs by name (the table of names used to hold 16; the 17th was prepared again on every call
 * and failed with 42P05, "prepared statement already exists"). */
static void many_prepared_statements_each_run_by_name(void **state)
{
    db_t *db = *state;
    static const char *const names[] = {"unit_p00", "unit_p01", "unit_p02", "unit_p03", "unit_p04", "unit_p05",
                                        "unit_p06", "unit_p07", "unit_p08", "unit_p09", "unit_p10", "unit_p11",
                                        "unit_p12", "unit_p13", "unit_p14", "unit_p15", "unit_p16", "unit_p17",
                                        "unit_p18", "unit_p19", "unit_p20", "unit_p21", "unit_p22", "unit_p23",
                                        "unit_p24", "unit_p25", "unit_p26", "unit_p27", "unit_p28", "unit_p29",
                                        "unit_p30", "unit_p31", "unit_p32", "unit_p33", "unit_p34", "unit_p35"};
    const size_t n = sizeof names / sizeof names[0];
    char err[512] = "", st[6] = "", want[16];
    for (int round = 0; round < 3; round++)
        for (size_t i = 0; i < n; i++) {
            char v[16];
            snprintf(v, sizeof v, "%zu", i);
            const char *p[] = {v};
            PGresult *r = db_exec_prepared(db, names[i], "SELECT $1::int * 2", 1, p, err, sizeof err, st);
            if (!r)
                fail_msg("round %d, %s: %s", round, names[i], err);
            snprintf(want, sizeof want, "%zu", 2 * i);
            assert_string_equal(PQgetvalue(r, 0, 0), want);
            PQclear(r);
        }
    PGresult *r = db_exec(db, "SELECT count(*) FROM pg_prepared_statements WHERE name LIKE 'unit\\_p%'", 0, NULL, err,
                          sizeof err, st);
    assert_non_null(r);
    snprintf(want, sizeof want, "%zu", n);
    assert_string_equal(PQgetvalue(r, 0, 0), want);
    PQclear(r);
}

/* A prepared statement can go stale while its connection lives: a migration changes the row
 * type of what it reads (PostgreSQL then refuses the cached plan: 0A000 "cached plan must not
 * change result type"), or someone DEALLOCATEs it. It is prepared again, once, and answers. */
static void stale_prepared_statement_is_prepared_again(void **state)
{
    db_t *db = *state;
    char err[512] = "", st[6] = "";
    assert_true(db_run(db, "CREATE TEMP TABLE unit_stale (a int)", 0, NULL, err, sizeof err));
    assert_true(db_run(db, "INSERT INTO unit_stale VALUES (1)", 0, NULL, err, sizeof err));
    const char *sql = "SELECT * FROM unit_stale";
    PGresult *r = db_exec_prepared(db, "unit_stale", sql, 0, NULL, err, sizeof err, st);
    assert_non_null(r);
    assert_int_equal(PQnfields(r), 1);
    PQclear(r);

    /* the row type changes under the cached plan */
    assert_true(db_run(db, "ALTER TABLE unit_stale ADD COLUMN b text DEFAULT '新列'", 0, NULL, err, sizeof err));
    r = db_exec_prepared(db, "unit_stale", sql, 0, NULL, err, sizeof err, st);
    if (!r)
        fail_msg("after the row type changed: %s", err);
    assert_int_equal(PQnfields(r), 2);
    assert_string_equal(PQgetvalue(r, 0, 1), "新列");
    PQclear(r);

    /* someone else's DEALLOCATE */
    assert_true(db_run(db, "DEALLOCATE unit_stale", 0, NULL, err, sizeof err));
    r = db_exec_prepared(db, "unit_stale", sql, 0, NULL, err, sizeof err, st);
    if (!r)
        fail_msg("after DEALLOCATE: %s", err);
    assert_string_equal(PQgetvalue(r, 0, 0), "1");
    PQclear(r);

    /* inside a transaction the failure is the caller's: the transaction is aborted, and a
     * silent second try could not run in it anyway */
    assert_true(db_run(db, "BEGIN", 0, NULL, err, sizeof err));
    assert_true(db_run(db, "ALTER TABLE unit_stale ADD COLUMN c int", 0, NULL, err, sizeof err));
    r = db_exec_prepared(db, "unit_stale", sql, 0, NULL, err, sizeof err, st);
    assert_null(r);
    assert_string_equal(st, "0A000");
    assert_true(db_run(db, "ROLLBACK", 0, NULL, err, sizeof err));
    r = db_exec_prepared(db, "unit_stale", sql, 0, NULL, err, sizeof err, st);
    if (!r)
        fail_msg("after the rolled back transaction: %s", err);
    assert_int_equal(PQnfields(r), 2);
    PQclear(r);

    /* a statement that is wrong stays an error, reported once, not retried into success */
    r = db_exec_prepared(db, "unit_wrong", "SELECT * FROM unit_no_such_table", 0, NULL, err, sizeof err, st);
    assert_null(r);
    assert_string_equal(st, "42P01");
    assert_non_null(strstr(err, "prepare unit_wrong"));
}

static void terminated_from_outside_reconnects(void **state)
{
    db_t *db = *state;
    char err[512] = "", st[6] = "";
    PGresult *r = db_exec(db, "SELECT pg_backend_pid()", 0, NULL, err, sizeof err, NULL);
    assert_non_null(r);
    char pid[32];
    snprintf(pid, sizeof pid, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    PGconn *other = h_db_owner();
    const char *p[] = {pid};
    h_sql_int(other, "SELECT pg_terminate_backend($1::int)::int", 1, p);
    PQfinish(other);
    usleep(100000);

    r = db_exec(db, "SELECT 1", 0, NULL, err, sizeof err, st);
    if (!r) { /* the first statement on the dead connection may fail; the next must not */
        assert_true(db_sqlstate_retryable(st));
        r = db_exec(db, "SELECT 1", 0, NULL, err, sizeof err, st);
    }
    if (!r)
        fail_msg("no reconnect: %s", err);
    assert_string_equal(PQgetvalue(r, 0, 0), "1");
    PQclear(r);
}

/* ---- migrations --------------------------------------------------------------------------- */

typedef struct {
    char dir[128];
    char schema[64];
    char prefix[64]; /* 900_unit_<pid>_ */
} mig_t;

static void write_migration(const mig_t *m, const char *suffix, const char *body)
{
    char path[256];
    snprintf(path, sizeof path, "%s/%s%s", m->dir, m->prefix, suffix);
    FILE *f = fopen(path, "w");
    assert_non_null(f);
    fputs(body, f);
    assert_int_equal(fclose(f), 0);
}

static long long applied_count(PGconn *c, const mig_t *m)
{
    char like[80];
    snprintf(like, sizeof like, "%s%%", m->prefix);
    const char *p[] = {like};
    return h_sql_int(c, "SELECT count(*) FROM public.schema_migrations WHERE name LIKE $1", 1, p);
}

static long long table_exists(PGconn *c, const mig_t *m, const char *table)
{
    const char *p[] = {m->schema, table};
    return h_sql_int(c, "SELECT count(*) FROM pg_tables WHERE schemaname = $1 AND tablename = $2", 2, p);
}

static void migrate_cleanup(const mig_t *m)
{
    PGconn *c = h_db_owner();
    h_sql_exec(c, "SET client_min_messages = warning");
    char like[80], sql[256];
    snprintf(like, sizeof like, "%s%%", m->prefix);
    const char *p[] = {like};
    PQclear(PQexecParams(c, "DELETE FROM public.schema_migrations WHERE name LIKE $1", 1, NULL, p, NULL, NULL, 0));
    snprintf(sql, sizeof sql, "DROP SCHEMA IF EXISTS %s CASCADE", m->schema);
    PQclear(PQexec(c, sql));
    PQfinish(c);
    char cmd[256];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", m->dir);
    if (system(cmd) != 0)
        fprintf(stderr, "could not remove %s\n", m->dir);
}

static void migrate_applies_once_and_broken_file_leaves_nothing(void **state)
{
    db_t *db = *state;
    mig_t m;
    int pid = (int)getpid();
    snprintf(m.dir, sizeof m.dir, "/tmp/gridgov_test_migrate_%d", pid);
    snprintf(m.schema, sizeof m.schema, "unit_migrate_%d", pid);
    snprintf(m.prefix, sizeof m.prefix, "900_unit_%d_", pid);
    migrate_cleanup(&m); /* leftovers of an aborted earlier run with the same pid */
    assert_int_equal(mkdir(m.dir, 0700), 0);

    char sql[1024];
    snprintf(sql, sizeof sql,
             "-- first: a schema and a table\n"
             "CREATE SCHEMA %s;\n"
             "CREATE TABLE %s.a (id int PRIMARY KEY, note text);\n",
             m.schema, m.schema);
    write_migration(&m, "a.sql", sql);
    snprintf(sql, sizeof sql,
             "CREATE TABLE %s.b (id int);\n"
             "INSERT INTO %s.a VALUES (1, '第一条');\n",
             m.schema, m.schema);
    write_migration(&m, "b.sql", sql);
    write_migration(&m, "notes.txt", "not a migration\n");

    PGconn *c = h_db_owner();
    char err[1024] = "";
    log_init("unit", LOG_WARN); /* no "applied migration" lines in the test output */
    if (!db_migrate(db, m.dir, err, sizeof err))
        fail_msg("db_migrate: %s", err);
    assert_int_equal(applied_count(c, &m), 2);
    assert_int_equal(table_exists(c, &m, "a"), 1);
    assert_int_equal(table_exists(c, &m, "b"), 1);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s.a", m.schema);
    assert_int_equal(h_sql_int(c, sql, 0, NULL), 1);
    char like[80];
    snprintf(like, sizeof like, "%s%%", m.prefix);
    const char *lp[] = {like};
    char *names = h_sql_text(c, "SELECT string_agg(name, ',' ORDER BY name) FROM public.schema_migrations "
                                "WHERE name LIKE $1", 1, lp);
    char want[256];
    snprintf(want, sizeof want, "%sa.sql,%sb.sql", m.prefix, m.prefix);
    assert_string_equal(names, want);
    free(names);

    /* second run: nothing new, nothing re-run (b's INSERT would fail on the primary key) */
    if (!db_migrate(db, m.dir, err, sizeof err))
        fail_msg("second db_migrate: %s", err);
    assert_int_equal(applied_count(c, &m), 2);
    assert_int_equal(h_sql_int(c, sql, 0, NULL), 1);

    /* a broken migration: its first statement works, its second fails */
    char broken[1024];
    snprintf(broken, sizeof broken,
             "CREATE TABLE %s.c (id int);\n"
             "INSERT INTO %s.a VALUES (2, 'from c');\n"
             "SELECT * FROM %s.no_such_table;\n",
             m.schema, m.schema, m.schema);
    write_migration(&m, "c.sql", broken);
    err[0] = '\0';
    assert_false(db_migrate(db, m.dir, err, sizeof err));
    char fname[128];
    snprintf(fname, sizeof fname, "%sc.sql", m.prefix);
    assert_non_null(strstr(err, fname));
    assert_non_null(strstr(err, "no_such_table"));
    assert_int_equal(applied_count(c, &m), 2);
    assert_int_equal(table_exists(c, &m, "c"), 0);
    assert_int_equal(h_sql_int(c, sql, 0, NULL), 1); /* c's INSERT is gone too */

    /* the db_t is usable afterwards: no transaction left open, advisory lock released */
    char e2[256] = "";
    PGresult *r = db_exec(db, "SELECT 1", 0, NULL, e2, sizeof e2, NULL);
    if (!r)
        fail_msg("db_t unusable after a failed migration: %s", e2);
    PQclear(r);
    assert_int_equal(h_sql_int(c, "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND objid = 7342001 "
                               "AND database = (SELECT oid FROM pg_database WHERE datname = current_database())",
                               0, NULL),
                     0);

    /* a migration with a syntax error fails the same way */
    snprintf(broken, sizeof broken, "CREATE TABLE %s.c (id int);\nCREAT TABLE oops;\n", m.schema);
    write_migration(&m, "c.sql", broken);
    assert_false(db_migrate(db, m.dir, err, sizeof err));
    assert_non_null(strstr(err, fname));
    assert_int_equal(table_exists(c, &m, "c"), 0);
    assert_int_equal(applied_count(c, &m), 2);

    /* once fixed, it applies */
    snprintf(broken, sizeof broken, "CREATE TABLE %s.c (id int);\n", m.schema);
    write_migration(&m, "c.sql", broken);
    if (!db_migrate(db, m.dir, err, sizeof err))
        fail_msg("db_migrate after the fix: %s", err);
    assert_int_equal(applied_count(c, &m), 3);
    assert_int_equal(table_exists(c, &m, "c"), 1);

    PQfinish(c);
    migrate_cleanup(&m);
    log_init("unit", LOG_INFO);
}

static void migrate_missing_dir_fails_naming_it(void **state)
{
    db_t *db = *state;
    char err[512] = "";
    assert_false(db_migrate(db, "/nonexistent/gridgov-migrations", err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/gridgov-migrations"));
    PGresult *r = db_exec(db, "SELECT 1", 0, NULL, err, sizeof err, NULL);
    assert_non_null(r);
    PQclear(r);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

/* ---- session limits ----------------------------------------------------------------------- */

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static char *setting(db_t *db, const char *name)
{
    char err[512] = "";
    const char *p[] = {name};
    PGresult *r = db_exec(db, "SELECT current_setting($1)", 1, p, err, sizeof err, NULL);
    if (!r)
        fail_msg("current_setting(%s): %s", name, err);
    char *v = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return v;
}

static long backend_pid(db_t *db)
{
    char err[512] = "";
    PGresult *r = db_exec(db, "SELECT pg_backend_pid()", 0, NULL, err, sizeof err, NULL);
    if (!r)
        fail_msg("pg_backend_pid: %s", err);
    long pid = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return pid;
}

static int restore_default_limits(void **state)
{
    (void)state;
    db_set_session_limits(DB_STATEMENT_TIMEOUT_MS_DEFAULT, DB_IDLE_TX_TIMEOUT_MS_DEFAULT);
    return 0;
}

static void connections_get_the_default_session_limits(void **state)
{
    (void)state;
    db_t *db = connect_test_db();
    char *st = setting(db, "statement_timeout"), *idle = setting(db, "idle_in_transaction_session_timeout"),
         *jit = setting(db, "jit");
    assert_string_equal(st, "5s");
    assert_string_equal(idle, "30s");
    assert_string_equal(jit, "off");
    free(st);
    free(idle);
    free(jit);
    db_destroy(&db);
    /* 0 is no limit: what gridgovctl uses for migrations */
    db_set_session_limits(0, 0);
    db = connect_test_db();
    st = setting(db, "statement_timeout");
    idle = setting(db, "idle_in_transaction_session_timeout");
    assert_string_equal(st, "0");
    assert_string_equal(idle, "0");
    free(st);
    free(idle);
    db_destroy(&db);
}

static void long_statement_fails_with_57014_within_the_limit(void **state)
{
    (void)state;
    db_set_session_limits(300, 0);
    db_t *db = connect_test_db();
    long pid = backend_pid(db);
    char err[512] = "", st[6] = "";
    double t0 = now_s();
    PGresult *r = db_exec(db, "SELECT pg_sleep(5)", 0, NULL, err, sizeof err, st);
    double took = now_s() - t0;
    print_message("pg_sleep(5) under a 300 ms statement timeout: %s after %.3f s\n", err, took);
    assert_null(r);
    assert_string_equal(st, "57014");
    assert_true(took >= 0.25);
    assert_true(took < 2.0);
    assert_false(db_sqlstate_retryable(st)); /* the same statement would be cut again */
    /* the session goes on: the same backend answers the next statement, and a short one runs */
    assert_int_equal(backend_pid(db), pid);
    r = db_exec(db, "SELECT pg_sleep(0.05), 1", 0, NULL, err, sizeof err, st);
    if (!r)
        fail_msg("a statement under the limit failed: %s", err);
    PQclear(r);
    /* prepared statements are cut the same way */
    r = db_exec_prepared(db, "unit_sleep", "SELECT pg_sleep($1::float8)", 1, (const char *const[]){"5"}, err, sizeof err,
                         st);
    assert_null(r);
    assert_string_equal(st, "57014");
    db_destroy(&db);
}

static void session_idle_in_a_transaction_is_closed_and_the_next_call_reconnects(void **state)
{
    (void)state;
    db_set_session_limits(0, 300);
    db_t *db = connect_test_db();
    long pid = backend_pid(db);
    char err[512] = "", st[6] = "";
    PGconn *c = db_conn(db, err, sizeof err);
    assert_non_null(c);
    assert_true(db_begin(c, err, sizeof err));
    usleep(900 * 1000); /* a client that went away inside its transaction */
    PGresult *r = db_exec(db, "SELECT 1", 0, NULL, err, sizeof err, st);
    print_message("statement after 0.9 s idle in a transaction: %s\n", r ? "ran" : err);
    assert_null(r);
    /* the server ended that session; the next call gets a new one */
    r = db_exec(db, "SELECT 1", 0, NULL, err, sizeof err, st);
    if (!r)
        fail_msg("no reconnect after the idle timeout: %s", err);
    PQclear(r);
    assert_int_not_equal(backend_pid(db), pid);
    /* idle outside a transaction is no matter */
    usleep(500 * 1000);
    r = db_exec(db, "SELECT 1", 0, NULL, err, sizeof err, st);
    assert_non_null(r);
    PQclear(r);
    db_destroy(&db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(connect_to_missing_socket_fails_with_reason),
        cmocka_unit_test(connect_with_bad_conninfo_fails_with_reason),
        T(connect_sets_application_name_and_utf8),
        cmocka_unit_test(destroy_twice_is_safe),
        T(exec_passes_parameters_and_returns_rows),
        T(exec_round_trips_chinese_text),
        T(exec_passes_null_parameter_as_sql_null),
        T(exec_parameters_are_not_sql),
        T(exec_command_returns_command_ok_result),
        T(missing_table_gives_42P01),
        T(unique_violation_gives_23505),
        T(syntax_error_gives_42601_and_sqlstate_is_optional),
        T(raised_exception_message_reaches_err),
        T(run_reports_success_and_failure),
        T(pq_exec_works_inside_a_transaction),
        cmocka_unit_test(sqlstate_retryable_table),
        T(terminated_backend_fails_once_then_reconnects),
        T(prepared_statement_runs_by_name_and_survives_a_reconnect),
        T(many_prepared_statements_each_run_by_name),
        T(stale_prepared_statement_is_prepared_again),
        T(terminated_from_outside_reconnects),
        T(migrate_applies_once_and_broken_file_leaves_nothing),
        T(migrate_missing_dir_fails_naming_it),
        cmocka_unit_test_teardown(connections_get_the_default_session_limits, restore_default_limits),
        cmocka_unit_test_teardown(long_statement_fails_with_57014_within_the_limit, restore_default_limits),
        cmocka_unit_test_teardown(session_idle_in_a_transaction_is_closed_and_the_next_call_reconnects,
                                  restore_default_limits),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
