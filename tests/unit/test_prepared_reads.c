/* intake's reads as prepared statements (services/intake/stmt.h), against the migrated, seeded
 * test database: each hot read is prepared once on its connection and then executed without
 * being planned again; the generic plan PostgreSQL switches to still finds a ticket through the
 * code index among a county's tickets (made and rolled back in a transaction of their own,
 * county_scale.h); and a read whose connection PostgreSQL closed is answered on a new connection,
 * where the statement is prepared again. The tickets and API key made here are ordinary rows
 * (descriptions "unit prepared reads <pid>"), left for the later tests like any others. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog.h"
#include "county_scale.h"
#include "harness.h"
#include "log.h"
#include "stmt.h"
#include "ticket_store.h"

static db_t *g_db;
static PGconn *g_pg;
static char g_light[40], g_water[40]; /* two tickets made for this run, the second the newer */

static void make_ticket(const char *service, char code[40])
{
    char desc[64];
    snprintf(desc, sizeof desc, "unit prepared reads %d", (int)getpid());
    const char *p[] = {service, desc};
    char *c = h_sql_text(g_pg,
                         "SELECT code FROM intake.create_ticket('api', NULL, $1, $2, 28.2, 113.1, NULL, NULL, '{}',"
                         " NULL, NULL, NULL, NULL, NULL, NULL, NULL, clock_timestamp(), NULL)",
                         2, p);
    snprintf(code, 40, "%s", c);
    free(c);
}

static int group_setup(void **state)
{
    (void)state;
    log_init("unit", LOG_ERROR);
    char err[512];
    g_db = db_connect(h_env("GRIDGOV_DB"), "unit-test-prepared-reads", err, sizeof err);
    if (!g_db) {
        fprintf(stderr, "db_connect: %s\n", err);
        return -1;
    }
    g_pg = h_db();
    make_ticket("LIGHT", g_light);
    make_ticket("WATER", g_water);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    PQfinish(g_pg);
    db_destroy(&g_db);
    return 0;
}

/* What pg_prepared_statements says about name on g_db's own session: -1 when it is not
 * prepared there, else its generic_plans (custom in *custom). */
static long long prepared(const char *name, long long *custom)
{
    char err[512];
    const char *p[] = {name};
    PGresult *r = db_exec(g_db, "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = $1", 1, p,
                          err, sizeof err, NULL);
    if (!r)
        fail_msg("pg_prepared_statements: %s", err);
    long long generic = -1;
    if (PQntuples(r) == 1) {
        generic = atoll(PQgetvalue(r, 0, 0));
        if (custom)
            *custom = atoll(PQgetvalue(r, 0, 1));
    }
    PQclear(r);
    return generic;
}

/* When name was prepared on g_db's session (caller frees); fails when it is not prepared there. */
static char *prepare_time(const char *name)
{
    char err[512];
    const char *p[] = {name};
    PGresult *r = db_exec(g_db, "SELECT prepare_time::text FROM pg_prepared_statements WHERE name = $1", 1, p, err,
                          sizeof err, NULL);
    if (!r || PQntuples(r) != 1)
        fail_msg("%s is not prepared on intake's connection: %s", name, r ? "no row" : err);
    char *at = strdup(PQgetvalue(r, 0, 0));
    PQclear(r);
    return at;
}

static long backend_pid(void)
{
    char err[512];
    PGresult *r = db_exec(g_db, "SELECT pg_backend_pid()", 0, NULL, err, sizeof err, NULL);
    if (!r)
        fail_msg("pg_backend_pid: %s", err);
    long pid = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return pid;
}

/* Ends g_db's session from another one, as an operator or a restart would, and waits until it
 * is gone. g_db does not know yet. */
static void terminate_from_outside(void)
{
    char pid[24];
    snprintf(pid, sizeof pid, "%ld", backend_pid());
    const char *p[] = {pid};
    assert_int_equal(h_sql_int(g_pg, "SELECT pg_terminate_backend($1::int)::int", 1, p), 1);
    assert_true(h_wait_sql(g_pg, "SELECT count(*) FROM pg_stat_activity WHERE pid = $1::int", 1, p, 0, 5000));
}

static void expect_one_ticket(PGresult *r, const char *code, const char *what)
{
    if (!r)
        fail_msg("%s: no result", what);
    assert_int_equal(PQntuples(r), 1);
    assert_int_equal(PQnfields(r), TC_NCOLS);
    assert_string_equal(PQgetvalue(r, 0, TC_CODE), code);
    PQclear(r);
}

/* ---- prepared once, then no longer planned ------------------------------------------------ */

static void get_one_is_prepared_once_then_runs_a_cached_plan(void **state)
{
    (void)state;
    char err[512] = "";
    char *first = NULL;
    for (int i = 0; i < 8; i++) {
        expect_one_ticket(ticket_store_get(g_db, i % 2 ? g_light : g_water, err, sizeof err), i % 2 ? g_light : g_water,
                          "ticket_store_get");
        /* prepared once: the statement the first GET left is the one every later GET runs */
        char *at = prepare_time(STMT_TICKET_GET);
        if (!first)
            first = at;
        else {
            assert_string_equal(at, first);
            free(at);
        }
    }
    free(first);
    long long custom = 0, generic = prepared(STMT_TICKET_GET, &custom);
    if (generic < 0)
        fail_msg("%s is not prepared on intake's connection", STMT_TICKET_GET);
    /* PostgreSQL plans the first five executions for their values, then keeps the generic plan
     * when it is no worse: from then on a GET is not planned at all. */
    assert_int_equal(custom + generic, 8);
    assert_true(generic >= 3);
    /* an unknown code is an empty answer, not an error, on the prepared path too */
    PGresult *r = ticket_store_get(g_db, "0000000000000", err, sizeof err);
    assert_non_null(r);
    assert_int_equal(PQntuples(r), 0);
    PQclear(r);
    const char *bad[] = {"'; DROP TABLE intake.ticket; --"};
    r = ticket_store_get(g_db, bad[0], err, sizeof err);
    assert_non_null(r);
    assert_int_equal(PQntuples(r), 0);
    PQclear(r);
}

/* The plan a prepared GET switches to after five executions does not know the code: it must
 * still reach the ticket through the index on code, through intake.ticket_view's joins, and not
 * read every ticket. Which plan PostgreSQL picks depends on the statistics, and on the test
 * database's few rows a sequential scan is the right pick: so this is asked of a county's worth
 * of tickets (county_scale.h), ANALYZEd in a transaction on a connection of its own, where intake's
 * statements are prepared afresh (the same code path, the same texts) and rolled back after. */
typedef struct {
    db_t *db;   /* intake's statements on the owner's role (ANALYZE needs it); not g_db */
    PGconn *pg; /* its connection, in the scale transaction */
} scale_t;

static scale_t scale_begin(void)
{
    char err[512];
    scale_t s = {.db = db_connect(h_owner_conninfo(), "unit-test-prepared-reads-scale", err, sizeof err)};
    if (!s.db || !(s.pg = db_conn(s.db, err, sizeof err)))
        fail_msg("db_connect: %s", err);
    h_sql_exec(s.pg, "BEGIN");
    h_county_scale(s.pg, SCALE_TICKETS);
    return s;
}

static void scale_end(scale_t *s)
{
    h_sql_exec(s->pg, "ROLLBACK");
    h_county_scale_undone(s->pg);
    db_destroy(&s->db);
}

static char *plan_text(db_t *db, const char *explain)
{
    char err[512] = "";
    PGresult *r = db_exec(db, explain, 0, NULL, err, sizeof err, NULL);
    if (!r)
        fail_msg("%s: %s", explain, err);
    buf_t plan = BUF_INIT;
    for (int i = 0; i < PQntuples(r); i++)
        buf_printf(&plan, "%s\n", PQgetvalue(r, i, 0));
    PQclear(r);
    char *text = strdup(buf_str(&plan));
    buf_free(&plan);
    return text;
}

/* What pg_prepared_statements says of name on db's session: its generic and custom plans so far. */
static void plans_of(db_t *db, const char *name, long long *generic, long long *custom)
{
    char err[512];
    const char *p[] = {name};
    PGresult *r = db_exec(db, "SELECT generic_plans, custom_plans FROM pg_prepared_statements WHERE name = $1", 1, p,
                          err, sizeof err, NULL);
    if (!r || PQntuples(r) != 1)
        fail_msg("%s is not prepared: %s", name, r ? "no row" : err);
    *generic = atoll(PQgetvalue(r, 0, 0));
    *custom = atoll(PQgetvalue(r, 0, 1));
    PQclear(r);
}

/* The generic plan must find the code(s) through the index and read intake.ticket nowhere else. */
static void expect_code_index(const char *plan, const char *index_cond, const char *stmt)
{
    if (!strstr(plan, index_cond) || strstr(plan, "Seq Scan on ticket t"))
        fail_msg("the generic plan of %s does not look the code up in an index:\n%s", stmt, plan);
}

static void generic_plans_look_tickets_up_by_code_at_county_scale(void **state)
{
    (void)state;
    char err[512] = "", code[16], codes[40];
    scale_t s = scale_begin();
    snprintf(code, sizeof code, "SC%011d", SCALE_TICKETS / 2);
    snprintf(codes, sizeof codes, "%s,SC%011d", code, SCALE_TICKETS / 3);

    /* Left to choose, PostgreSQL keeps the generic plan of a GET at this scale too */
    for (int i = 0; i < 8; i++)
        expect_one_ticket(ticket_store_get(s.db, code, err, sizeof err), code, "get at county scale");
    long long generic, custom;
    plans_of(s.db, STMT_TICKET_GET, &generic, &custom);
    assert_int_equal(custom + generic, 8);
    assert_true(generic >= 3);
    /* and that plan, the one each later GET runs, uses the index */
    h_sql_exec(s.pg, "SET LOCAL plan_cache_mode = force_generic_plan");
    char *plan = plan_text(s.db, "EXPLAIN (COSTS OFF) EXECUTE " STMT_TICKET_GET "('0')");
    expect_code_index(plan, "Index Cond: (code = $1)", STMT_TICKET_GET);
    free(plan);

    /* the list by codes: its first plan here is the generic one, made on these statistics */
    ticket_filter_t f = {.codes = codes, .page = 1, .page_size = 10};
    PGresult *r = ticket_store_list(s.db, &f, err, sizeof err);
    if (!r)
        fail_msg("list by codes at county scale: %s", err);
    assert_int_equal(PQntuples(r), 2);
    PQclear(r);
    plans_of(s.db, STMT_TICKET_LIST_CODES, &generic, &custom);
    assert_int_equal(generic, 1);
    assert_int_equal(custom, 0);
    plan = plan_text(s.db, "EXPLAIN (COSTS OFF) EXECUTE " STMT_TICKET_LIST_CODES "('0,1', '10', '0')");
    expect_code_index(plan, "Index Cond: (code = ANY (string_to_array($1, ','::text)))", STMT_TICKET_LIST_CODES);
    free(plan);
    scale_end(&s);
}

/* ---- the lists ------------------------------------------------------------------------------ */

static void list_by_codes_is_prepared_and_ignores_the_other_filters(void **state)
{
    (void)state;
    char err[512] = "", codes[96];
    snprintf(codes, sizeof codes, "%s,%s,0000000000000", g_light, g_water);
    /* service_request_id wins over every other filter (Open311: "overrides all other
     * parameters") */
    ticket_filter_t f = {.codes = codes, .service_codes = "NOPE", .statuses = "closed", .page = 1, .page_size = 10};
    PGresult *r = ticket_store_list(g_db, &f, err, sizeof err);
    if (!r)
        fail_msg("list by codes: %s", err);
    assert_int_equal(PQntuples(r), 2);
    assert_string_equal(PQgetvalue(r, 0, TC_CODE), g_water); /* newest first */
    assert_string_equal(PQgetvalue(r, 1, TC_CODE), g_light);
    PQclear(r);
    assert_true(prepared(STMT_TICKET_LIST_CODES, NULL) >= 0);
    /* paging: one row more than the page tells the caller there is a next page */
    f.page_size = 1;
    r = ticket_store_list(g_db, &f, err, sizeof err);
    assert_non_null(r);
    assert_int_equal(PQntuples(r), 2);
    PQclear(r);
    f.page = 2;
    r = ticket_store_list(g_db, &f, err, sizeof err);
    assert_non_null(r);
    assert_int_equal(PQntuples(r), 1);
    assert_string_equal(PQgetvalue(r, 0, TC_CODE), g_light);
    PQclear(r);
}

static void filtered_list_answers_by_service_and_window(void **state)
{
    (void)state;
    char err[512] = "";
    char *from = h_sql_text(g_pg,
                            "SELECT to_char(requested_at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
                            " FROM intake.ticket WHERE code = $1",
                            1, (const char *const[]){g_light});
    ticket_filter_t f = {.service_codes = "WATER,LIGHT", .start = from, .page = 1, .page_size = 500};
    PGresult *r = ticket_store_list(g_db, &f, err, sizeof err);
    if (!r)
        fail_msg("filtered list: %s", err);
    int seen = 0;
    for (int i = 0; i < PQntuples(r); i++)
        seen |= (!strcmp(PQgetvalue(r, i, TC_CODE), g_light) ? 1 : 0) | (!strcmp(PQgetvalue(r, i, TC_CODE), g_water) ? 2 : 0);
    PQclear(r);
    assert_int_equal(seen, 3);
    f.service_codes = "WATER";
    r = ticket_store_list(g_db, &f, err, sizeof err);
    assert_non_null(r);
    for (int i = 0; i < PQntuples(r); i++)
        assert_string_equal(PQgetvalue(r, i, TC_SERVICE_CODE), "WATER");
    PQclear(r);
    /* a window that ends before the tickets were made holds neither */
    f.service_codes = NULL;
    f.start = NULL;
    f.end = "2000-01-01T00:00:00+08:00";
    r = ticket_store_list(g_db, &f, err, sizeof err);
    assert_non_null(r);
    assert_int_equal(PQntuples(r), 0);
    PQclear(r);
    free(from);
}

/* ---- a connection PostgreSQL closed ------------------------------------------------------------ */

static void reads_survive_a_terminated_connection_and_prepare_again(void **state)
{
    (void)state;
    char err[512] = "";
    expect_one_ticket(ticket_store_get(g_db, g_light, err, sizeof err), g_light, "get before");
    long pid1 = backend_pid();

    terminate_from_outside();
    expect_one_ticket(ticket_store_get(g_db, g_light, err, sizeof err), g_light, "get after a terminated connection");
    assert_int_not_equal(backend_pid(), pid1);
    assert_true(prepared(STMT_TICKET_GET, NULL) >= 0); /* prepared again on the new session */

    terminate_from_outside();
    ticket_filter_t f = {.codes = g_water, .page = 1, .page_size = 10};
    expect_one_ticket(ticket_store_list(g_db, &f, err, sizeof err), g_water, "list by code after a terminated connection");

    terminate_from_outside();
    ticket_filter_t all = {.service_codes = "WATER", .page = 1, .page_size = 1};
    PGresult *r = ticket_store_list(g_db, &all, err, sizeof err);
    if (!r)
        fail_msg("filtered list after a terminated connection: %s", err);
    assert_true(PQntuples(r) >= 1);
    PQclear(r);

    /* an API key not in the (here unloaded) catalogue is looked up in PostgreSQL */
    char *key = h_api_key(g_pg);
    terminate_from_outside();
    assert_true(catalog_api_client(g_db, key) > 0);
    assert_true(prepared(STMT_API_CLIENT, NULL) >= 0);
    assert_int_equal(catalog_api_client(g_db, "not-a-key"), 0);
    free(key);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(get_one_is_prepared_once_then_runs_a_cached_plan),
        cmocka_unit_test(generic_plans_look_tickets_up_by_code_at_county_scale),
        cmocka_unit_test(list_by_codes_is_prepared_and_ignores_the_other_filters),
        cmocka_unit_test(filtered_list_answers_by_service_and_window),
        cmocka_unit_test(reads_survive_a_terminated_connection_and_prepare_again),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
