/* The suite as `make run` starts it (deploy/run.sh with its own PostgreSQL under a var folder):
 * it comes up healthy with the demo county and an API key; an Open311 POST lands in the
 * database and on the event stream (gridgovctl events); the ticket reads back as JSON and XML;
 * SIGTERM stops everything, the database included. */
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    buf_t b = BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    return buf_detach(&b);
}

static bool file_contains(const char *path, const char *needle)
{
    char *s = slurp(path);
    bool yes = s && strstr(s, needle);
    free(s);
    return yes;
}

/* The daemons' connection string from the ready banner ("  database     host=..."). */
static void daemons_conninfo(const char *log, char *out, size_t n)
{
    char *s = slurp(log);
    assert_non_null(s);
    const char *p = strstr(s, "\n  database     ");
    assert_non_null(p);
    p += strlen("\n  database     ");
    snprintf(out, n, "%.*s", (int)strcspn(p, "\n"), p);
    free(s);
}

static void binaries_answer_help_and_version(void **state)
{
    (void)state;
    const char *bins[] = {"gridgov-intake", "gridgov-router", "gridgov-tally", "gridgov-notify", "gridgovctl"};
    for (size_t i = 0; i < 5; i++) {
        char cmd[1200];
        snprintf(cmd, sizeof cmd, "%s/%s --help | grep -q GRIDGOV_DB && %s/%s --version | grep -q %s", h_env("GRIDGOV_BIN"),
                 bins[i], h_env("GRIDGOV_BIN"), bins[i], bins[i]);
        assert_int_equal(system(cmd), 0);
        snprintf(cmd, sizeof cmd, "%s/%s --no-such-option 2>/dev/null", h_env("GRIDGOV_BIN"), bins[i]);
        int st = system(cmd);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 2);
    }
}

/* A year with no holiday file is not a crash: the router says which file to add. */
static void router_names_the_missing_calendar_year(void **state)
{
    (void)state;
    char clock[1100], cmd[4096];
    snprintf(clock, sizeof clock, "%s/clock-2027", h_env("GRIDGOV_TEST_VAR"));
    h_set_clock(clock, "2027-03-01T02:00:00Z");
    snprintf(cmd, sizeof cmd,
             "GRIDGOV_CLOCK_FILE=%s GRIDGOV_DB=host=/nonexistent GRIDGOV_CALENDAR_DIR=%s/deploy/calendar "
             "timeout 2 %s/gridgov-router 2>&1 | grep -q 'no holiday calendar for 2027.*deploy/calendar/2027.txt'",
             clock, h_env("GRIDGOV_TOP"), h_env("GRIDGOV_BIN"));
    assert_int_equal(system(cmd), 0);
}

/* `make run` stopped by SIGTERM sent to make itself (as a service manager would) stops the
 * daemons and the database too. */
static void sigterm_to_make_stops_everything(void **state)
{
    (void)state;
    int http = h_port(55), pub = h_port(56);
    char var[1024], log[1100], e_var[1100], e_http[64], e_pub[64];
    snprintf(var, sizeof var, "%s/makerun-make", h_env("GRIDGOV_TEST_VAR"));
    snprintf(log, sizeof log, "%s.log", var);
    snprintf(e_var, sizeof e_var, "GRIDGOV_VAR=%s", var);
    snprintf(e_http, sizeof e_http, "GRIDGOV_HTTP_PORT=%d", http);
    snprintf(e_pub, sizeof e_pub, "GRIDGOV_PUB_PORT=%d", pub);
    const char *env[] = {e_var, e_http, e_pub, "GRIDGOV_DB=", "GRIDGOV_PGDIR=", NULL};
    /* the same build the tests run from: build-san is SAN=1 */
    bool san = strstr(h_env("GRIDGOV_BIN"), "build-san") != NULL;
    const char *argv[] = {"/usr/bin/make", "--no-print-directory", "-C", h_env("GRIDGOV_TOP"), "run",
                          san ? "SAN=1" : "SAN=", NULL};
    pid_t make = h_spawn(argv, env, log);
    assert_true(h_wait_healthy(http, 120000));
    int st = h_stop(make, SIGTERM);
    (void)st;
    char pidfile[1100];
    snprintf(pidfile, sizeof pidfile, "%s/pg/data/postmaster.pid", var);
    struct stat sb;
    bool gone = false;
    for (int i = 0; i < 200 && !gone; i++) {
        gone = stat(pidfile, &sb) != 0 && !h_wait_healthy(http, 10);
        if (!gone)
            usleep(100 * 1000);
    }
    assert_true(gone);
}

static void make_run_serves_open311_and_announces_tickets(void **state)
{
    (void)state;
    int http = h_port(50), pub = h_port(51);
    char var[1024], log[1100], evlog[1100];
    snprintf(var, sizeof var, "%s/makerun", h_env("GRIDGOV_TEST_VAR"));
    snprintf(log, sizeof log, "%s.log", var);
    snprintf(evlog, sizeof evlog, "%s-events.log", var);
    char e_var[1100], e_http[64], e_pub[64], e_build[256];
    snprintf(e_var, sizeof e_var, "GRIDGOV_VAR=%s", var);
    snprintf(e_http, sizeof e_http, "GRIDGOV_HTTP_PORT=%d", http);
    snprintf(e_pub, sizeof e_pub, "GRIDGOV_PUB_PORT=%d", pub);
    /* BUILD is the folder the binaries came from (build or build-san) */
    const char *bin = h_env("GRIDGOV_BIN");
    char bdir[512];
    snprintf(bdir, sizeof bdir, "%s", bin);
    char *slash = strrchr(bdir, '/');
    *slash = '\0';
    snprintf(e_build, sizeof e_build, "BUILD=%s", strrchr(bdir, '/') + 1);
    /* GRIDGOV_CURVE_DIR unset: run.sh makes the keys under its var folder, as for a newcomer */
    const char *env[] = {e_var, e_http, e_pub, e_build, "GRIDGOV_DB=", "GRIDGOV_PGDIR=", "GRIDGOV_CURVE_DIR=", NULL};
    char script[1100];
    snprintf(script, sizeof script, "%s/deploy/run.sh", h_env("GRIDGOV_TOP"));
    const char *argv[] = {"/bin/bash", script, NULL};
    pid_t run = h_spawn(argv, env, log);
    assert_true(h_wait_healthy(http, 180000)); /* a new cluster: initdb on a loaded machine is slow */
    for (int i = 0; i < 100 && !file_contains(log, "gridgov is ready"); i++)
        usleep(50000);
    assert_true(file_contains(log, "gridgov is ready"));
    assert_true(file_contains(log, "/open311/v2/discovery.json"));

    char keypath[1100];
    snprintf(keypath, sizeof keypath, "%s/demo-api-key", var);
    char *key = slurp(keypath);
    assert_non_null(key);
    key[strcspn(key, "\n")] = '\0';
    assert_int_equal(strlen(key), 64);

    /* A key pair for each daemon and for gridgovctl, the secret halves closed to other users. */
    const char *names[] = {"intake", "router", "tally", "notify", "gridgovctl"};
    for (size_t i = 0; i < 5; i++) {
        char kp[1200], pp[1200];
        snprintf(kp, sizeof kp, "%s/curve/%s.key", var, names[i]);
        snprintf(pp, sizeof pp, "%s/curve/%s.pub", var, names[i]);
        struct stat ks, ps;
        assert_int_equal(stat(kp, &ks), 0);
        assert_int_equal(ks.st_mode & 0777, 0600);
        assert_int_equal(stat(pp, &ps), 0);
    }

    /* The event stream, as an operator would watch it (--json: the envelopes as they travel), with
     * gridgovctl's key, which intake admits. */
    char e_sub[96], e_curve[1200];
    snprintf(e_sub, sizeof e_sub, "GRIDGOV_SUB_ENDPOINTS=intake@tcp://127.0.0.1:%d", pub);
    snprintf(e_curve, sizeof e_curve, "GRIDGOV_CURVE_DIR=%s/curve", var);
    char ctl[1100];
    snprintf(ctl, sizeof ctl, "%s/gridgovctl", bin);
    const char *ev_argv[] = {ctl, "events", "--json", "--type", "ticket.created", "--count", "1", NULL};
    const char *ev_env[] = {e_sub, e_curve, NULL};
    pid_t events = h_spawn(ev_argv, ev_env, evlog);
    for (int i = 0; i < 100 && !file_contains(evlog, "subscribed"); i++)
        usleep(50000);
    usleep(500000); /* ZeroMQ's slow joiner: the subscription must reach the publisher */

    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/open311/v2/requests.json", http);
    buf_t body = BUF_INIT;
    buf_printf(&body, "api_key=%s&jurisdiction_id=demo.gridgov.cn&service_code=LIGHT&lat=28.25&long=113.15"
                      "&attribute%%5Bfault_type%%5D=off&description=",
               key);
    h_urlencode(&body, "大塘组路口路灯不亮");
    const char *hdr[] = {"Content-Type: application/x-www-form-urlencoded; charset=utf-8", NULL};
    h_resp_t r;
    assert_true(h_http("POST", url, hdr, body.data, body.len, &r));
    assert_int_equal(r.status, 200);
    json_error_t je;
    json_t *j = json_loads(buf_str(&r.body), 0, &je);
    const char *code = json_string_value(json_object_get(json_array_get(j, 0), "service_request_id"));
    assert_non_null(code);
    char code_s[32];
    snprintf(code_s, sizeof code_s, "%s", code);
    json_decref(j);
    h_resp_free(&r);
    buf_free(&body);

    /* In the database make run created, through the connection string it gave the daemons. */
    char conninfo[1300];
    daemons_conninfo(log, conninfo, sizeof conninfo);
    PGconn *db = PQconnectdb(conninfo);
    assert_int_equal(PQstatus(db), CONNECTION_OK);
    /* ... which is no superuser's, like every connection the daemons hold; and the cluster has
     * no TCP listener (tests/e2e/test_pg_closed.c has the rest) */
    assert_int_equal(h_sql_int(db, "SELECT count(*) FROM pg_roles WHERE rolname = current_user AND NOT rolsuper", 0, NULL), 1);
    assert_true(h_wait_sql(db,
                           "SELECT count(DISTINCT application_name) FROM pg_stat_activity"
                           " WHERE application_name IN ('gridgov-intake', 'gridgov-router') AND usename = 'gridgov_app'",
                           0, NULL, 2, 5000));
    assert_int_equal(h_sql_int(db,
                               "SELECT count(*) FROM pg_stat_activity a JOIN pg_roles r ON r.rolname = a.usename"
                               " WHERE a.backend_type = 'client backend' AND a.datname = 'gridgov' AND a.pid <> pg_backend_pid()"
                               " AND (r.rolsuper OR r.rolname <> 'gridgov_app')",
                               0, NULL),
                     0);
    char pgdir[1100];
    snprintf(pgdir, sizeof pgdir, "%s/pg", var);
    assert_int_equal(h_tcp_listeners(h_postmaster_pid(pgdir)), 0);
    const char *p[] = {code_s};
    assert_int_equal(h_sql_int(db, "SELECT count(*) FROM intake.ticket WHERE code = $1 AND description = '大塘组路口路灯不亮'", 1, p), 1);
    assert_int_equal(h_sql_int(db, "SELECT count(*) FROM bus.outbox WHERE type = 'ticket.created' AND data->>'code' = $1", 1, p), 1);
    assert_true(h_sql_int(db, "SELECT count(*) FROM registry.unit WHERE level = 'group'", 0, NULL) > 0);
    /* seeded on this release's schema, the demo marks its private categories itself */
    assert_int_equal(h_sql_int(db, "SELECT count(*) FROM registry.service WHERE private AND code IN ('DISPUTE', 'LAND', 'AID')",
                               0, NULL), 3);
    assert_int_equal(h_sql_int(db, "SELECT count(*) FROM registry.service WHERE private", 0, NULL), 3);
    PQfinish(db);

    /* On the event stream: the watcher exits after its one event. */
    int st = 0;
    for (int i = 0; i < 100; i++) {
        if (waitpid(events, &st, WNOHANG) == events)
            break;
        usleep(50000);
    }
    if (!WIFEXITED(st))
        h_stop(events, SIGKILL);
    char *line = slurp(evlog);
    char *brace = line ? strstr(line, "{\"id\"") : NULL;
    assert_non_null(brace);
    json_t *ev = json_loads(brace, JSON_DISABLE_EOF_CHECK, &je);
    assert_non_null(ev);
    assert_string_equal(json_string_value(json_object_get(ev, "type")), "ticket.created");
    assert_string_equal(json_string_value(json_object_get(ev, "source")), "intake");
    assert_string_equal(json_string_value(json_object_get(json_object_get(ev, "data"), "code")), code_s);
    json_decref(ev);
    free(line);

    /* The same ticket in both formats. */
    snprintf(url, sizeof url, "http://127.0.0.1:%d/open311/v2/requests/%s.json", http, code_s);
    assert_true(h_http("GET", url, NULL, NULL, 0, &r));
    assert_int_equal(r.status, 200);
    j = json_loads(buf_str(&r.body), 0, &je);
    assert_true(json_is_array(j));
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "service_request_id")), code_s);
    assert_string_equal(json_string_value(json_object_get(json_array_get(j, 0), "description")), "大塘组路口路灯不亮");
    json_decref(j);
    h_resp_free(&r);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/open311/v2/requests/%s.xml", http, code_s);
    assert_true(h_http("GET", url, NULL, NULL, 0, &r));
    assert_int_equal(r.status, 200);
    assert_true(strncmp(buf_str(&r.body), "<?xml version=\"1.0\" encoding=\"utf-8\"?>", 38) == 0);
    char want[128];
    snprintf(want, sizeof want, "<service_request_id>%s</service_request_id>", code_s);
    assert_non_null(strstr(buf_str(&r.body), want));
    assert_non_null(strstr(buf_str(&r.headers), "text/xml"));
    h_resp_free(&r);
    free(key);

    /* SIGTERM stops everything, the database included. */
    st = h_stop(run, SIGTERM);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char pidfile[1100];
    snprintf(pidfile, sizeof pidfile, "%s/pg/data/postmaster.pid", var);
    struct stat sb;
    assert_int_not_equal(stat(pidfile, &sb), 0);
    assert_false(h_wait_healthy(http, 300));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(binaries_answer_help_and_version),
        cmocka_unit_test(router_names_the_missing_calendar_year),
        cmocka_unit_test(make_run_serves_open311_and_announces_tickets),
        cmocka_unit_test(sigterm_to_make_stops_everything),
    };
    return cmocka_run_group_tests_name("make_run", tests, NULL, NULL);
}
