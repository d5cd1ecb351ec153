/* A daemon whose database goes away waits, and comes back: intake and the router run on a
 * cluster of this test's own (the suite's cluster is shared by every test of the run); tickets
 * are posted while PostgreSQL is stopped for a few seconds and started again. Every ticket
 * answered 201 is routed exactly once; while the database is away POSTs answer 503 quickly and
 * /healthz 503, after it 200; the daemons' logs stay small (they back off, no tight loop). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "gclock.h"
#include "harness.h"

#define MAX_TICKETS 2000

static char g_pgdir[1100], g_app[1400], g_owner[1400], g_key[128];
static char g_codes[MAX_TICKETS][40];
static int g_ncodes, g_n503, g_nother;

static void sh(const char *cmd, char *out, size_t n) /* cmd's first line into out */
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t got = out ? fread(out, 1, n - 1, p) : 0;
    if (out) {
        out[got] = '\0';
        out[strcspn(out, "\n")] = '\0';
    }
    assert_int_equal(pclose(p), 0);
}

static int lines_of(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    int n = 0, c;
    while ((c = fgetc(f)) != EOF)
        n += c == '\n';
    fclose(f);
    return n;
}

static long healthz(int port)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", port);
    h_resp_t r;
    long st = h_http("GET", url, NULL, NULL, 0, &r) ? r.status : 0;
    h_resp_free(&r);
    return st;
}

/* One POST; a 201 is remembered, a 503 counted; each must come back within 3 s. */
static void post_one(int port, int i)
{
    char url[128], key[160], body[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/tickets", port);
    snprintf(key, sizeof key, "X-API-Key: %s", g_key);
    snprintf(body, sizeof body,
             "{\"service_code\":\"NOISE\",\"lat\":28.25,\"long\":113.15,\"description\":\"重启 %d\","
             "\"attributes\":{\"source\":\"music\"}}",
             i);
    const char *hdr[] = {"Content-Type: application/json", key, NULL};
    h_resp_t r;
    long long t0 = gclock_mono_ms();
    bool sent = h_http("POST", url, hdr, body, strlen(body), &r);
    assert_true(gclock_mono_ms() - t0 < 3000);
    if (sent && r.status == 201 && g_ncodes < MAX_TICKETS) {
        json_error_t je;
        json_t *j = json_loads(buf_str(&r.body), 0, &je);
        const char *c = json_string_value(json_object_get(j, "code"));
        assert_non_null(c);
        snprintf(g_codes[g_ncodes++], 40, "%s", c);
        json_decref(j);
    } else if (sent && r.status == 503) {
        g_n503++;
    } else {
        fprintf(stderr, "POST -> %ld %s\n", sent ? r.status : 0L, sent ? buf_str(&r.body) : "");
        g_nother++;
    }
    h_resp_free(&r);
}

static void post_for(int port, int ms, int *i)
{
    long long until = gclock_mono_ms() + ms;
    while (gclock_mono_ms() < until) {
        post_one(port, (*i)++);
        usleep(50000);
    }
}

static int setup(void **state)
{
    (void)state;
    static char cmd[8000];
    snprintf(g_pgdir, sizeof g_pgdir, "%s/dbrestart/pg", h_env("GRIDGOV_TEST_VAR"));
    snprintf(cmd, sizeof cmd, "mkdir -p %s/dbrestart && %s/deploy/pg.sh start %s", h_env("GRIDGOV_TEST_VAR"), h_env("GRIDGOV_TOP"),
             g_pgdir);
    sh(cmd, g_app, sizeof g_app);
    snprintf(cmd, sizeof cmd, "%s/deploy/pg.sh owner-url %s", h_env("GRIDGOV_TOP"), g_pgdir);
    sh(cmd, g_owner, sizeof g_owner);
    snprintf(cmd, sizeof cmd,
             "GRIDGOV_DB='%s' %s/gridgovctl --set log_level=warn migrate %s/deploy/migrations >/dev/null && "
             "GRIDGOV_DB='%s' %s/gridgovctl --set log_level=warn seed-demo %s/deploy/seed/demo_county.sql %s/dbrestart/api-key >/dev/null && "
             "cat %s/dbrestart/api-key",
             g_owner, h_env("GRIDGOV_BIN"), h_env("GRIDGOV_TOP"), g_owner, h_env("GRIDGOV_BIN"), h_env("GRIDGOV_TOP"),
             h_env("GRIDGOV_TEST_VAR"), h_env("GRIDGOV_TEST_VAR"));
    sh(cmd, g_key, sizeof g_key);
    return strlen(g_key) == 64 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[1300];
    snprintf(cmd, sizeof cmd, "%s/deploy/pg.sh stop %s >/dev/null 2>&1", h_env("GRIDGOV_TOP"), g_pgdir);
    return system(cmd) == 0 ? 0 : -1;
}

static void database_restart_loses_nothing_and_floods_nothing(void **state)
{
    (void)state;
    int http = h_port(80), pub = h_port(81), rbase = h_port(82);
    char e_db[1500];
    snprintf(e_db, sizeof e_db, "GRIDGOV_DB=%s", g_app);
    const char *env[] = {e_db, "GRIDGOV_LOG_LEVEL=info", "GRIDGOV_ROUTER_ENDPOINT=", NULL};
    char e_rep[96];
    snprintf(e_rep, sizeof e_rep, "GRIDGOV_ROUTER_ENDPOINT=tcp://127.0.0.1:%d", rbase);
    env[2] = e_rep;
    pid_t router = h_start_router(rbase, pub, env);
    pid_t intake = h_start_intake(http, pub, env);
    char ilog[1100], rlog[1100], cmd[1300];
    snprintf(ilog, sizeof ilog, "%s/intake-%d.log", h_env("GRIDGOV_TEST_VAR"), http);
    snprintf(rlog, sizeof rlog, "%s/router-%d.log", h_env("GRIDGOV_TEST_VAR"), rbase);

    int i = 0;
    post_for(http, 1500, &i);
    assert_true(g_ncodes > 0);
    assert_int_equal(g_n503, 0);

    /* PostgreSQL goes away for about five seconds while tickets keep coming. */
    snprintf(cmd, sizeof cmd, "%s/deploy/pg.sh stop %s >/dev/null 2>&1", h_env("GRIDGOV_TOP"), g_pgdir);
    assert_int_equal(system(cmd), 0);
    int before = lines_of(ilog) + lines_of(rlog);
    int accepted_before = g_ncodes;
    post_for(http, 5000, &i);
    assert_int_equal(healthz(http), 503);
    int during = lines_of(ilog) + lines_of(rlog) - before;
    assert_true(g_n503 > 0);
    assert_int_equal(g_ncodes, accepted_before); /* nothing is accepted without its database */
    printf("posts while the database was away: %d answered 503; log lines in the window: %d\n", g_n503, during);
    assert_true(during < 200);

    /* It comes back: the daemons find it by themselves. */
    snprintf(cmd, sizeof cmd, "%s/deploy/pg.sh start %s >/dev/null 2>&1", h_env("GRIDGOV_TOP"), g_pgdir);
    assert_int_equal(system(cmd), 0);
    bool up = false;
    for (int k = 0; k < 200 && !up; k++) {
        up = healthz(http) == 200;
        if (!up)
            usleep(50000);
    }
    assert_true(up);
    int after_start = g_ncodes;
    post_for(http, 1500, &i);
    assert_true(g_ncodes > after_start);
    assert_int_equal(g_nother, 0);

    /* Every ticket answered 201 is routed, exactly once. */
    PGconn *db = PQconnectdb(g_app);
    assert_int_equal(PQstatus(db), CONNECTION_OK);
    buf_t arr = BUF_INIT;
    buf_puts(&arr, "{");
    for (int k = 0; k < g_ncodes; k++)
        buf_printf(&arr, "%s%s", k ? "," : "", g_codes[k]);
    buf_puts(&arr, "}");
    const char *p[] = {buf_str(&arr)};
    assert_true(h_wait_sql(db, "SELECT count(*) FROM router.ticket WHERE code = ANY($1::text[])", 1, p, g_ncodes, 20000));
    assert_int_equal(h_sql_int(db, "SELECT count(*) FROM router.ticket", 0, NULL), g_ncodes);
    assert_int_equal(h_sql_int(db,
                               /* the first transition: assign, or merge (same place, a duplicate) */
                               "SELECT count(*) FROM router.transition tr JOIN router.ticket t USING (ticket_id)"
                               " WHERE tr.action IN ('assign', 'merge') AND tr.from_state IS NULL AND t.code = ANY($1::text[])",
                               1, p),
                     g_ncodes);
    assert_int_equal(h_sql_int(db, "SELECT count(*) FROM intake.ticket", 0, NULL), g_ncodes);
    buf_free(&arr);
    PQfinish(db);
    assert_int_equal(h_stop(intake, SIGTERM), 0);
    assert_int_equal(h_stop(router, SIGTERM), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(database_restart_loses_nothing_and_floods_nothing),
    };
    return cmocka_run_group_tests_name("db_restart", tests, setup, teardown);
}
