/* intake's reads after PostgreSQL closed intake's connections, through HTTP. intake prepares
 * its reads once per connection (services/intake/stmt.h); when an operator, a failover or a
 * restart ends those sessions, the statements die with them. Every read must still answer, and
 * answer right, on the first request after that: on a new connection, with its statements
 * prepared again. intake runs with one database connection (http_threads=1), so each request
 * below is the first one on a connection that was just terminated. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static pid_t g_pid;
static PGconn *g_db;
static char *g_key, *g_token;
static int g_http;
static char g_code[40];
static int g_teardown_failed;

/* intake's request connections (the pool's; its main and relay connections are named apart) */
#define INTAKE_CONNS "FROM pg_stat_activity WHERE application_name = 'gridgov-intake' AND datname = current_database()"

/* Ends every request connection intake has, waits until they are gone, and returns how many
 * there were. */
static long long terminate_intake(void)
{
    long long n = h_sql_int(g_db, "SELECT count(pg_terminate_backend(pid)) " INTAKE_CONNS, 0, NULL);
    assert_true(h_wait_sql(g_db, "SELECT count(*) " INTAKE_CONNS, 0, NULL, 0, 5000));
    return n;
}

static void get(const char *path, const char *const *headers, h_resp_t *r)
{
    char url[600];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", g_http, path);
    if (!h_http("GET", url, headers, NULL, 0, r))
        fail_msg("GET %s: no HTTP answer", path);
}

/* True when some object in j has member key equal to the string want. */
static bool has_member(const json_t *j, const char *key, const char *want)
{
    if (json_is_object(j)) {
        const char *s = json_string_value(json_object_get(j, key));
        if (s && !strcmp(s, want))
            return true;
        const char *k;
        const json_t *v;
        json_object_foreach((json_t *)j, k, v) if (has_member(v, key, want)) return true;
    } else if (json_is_array(j)) {
        size_t i;
        const json_t *v;
        json_array_foreach(j, i, v) if (has_member(v, key, want)) return true;
    }
    return false;
}

typedef struct {
    const char *what;
    const char *path; /* %s: the ticket's code */
    bool staff;       /* with the staff member's bearer token */
    const char *key;  /* JSON member that holds the code; NULL: XML, or no ticket expected */
    const char *xml;  /* XML: the element that holds the code */
    long status;
} read_t;

static void expect_read(const read_t *rd, const char *when)
{
    char path[512], auth[128];
    snprintf(path, sizeof path, rd->path, g_code);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", g_token);
    const char *hdr[] = {auth, NULL};
    h_resp_t r;
    get(path, rd->staff ? hdr : NULL, &r);
    if (r.status != rd->status)
        fail_msg("%s %s: GET %s answered %ld, not %ld: %s", rd->what, when, path, r.status, rd->status, buf_str(&r.body));
    if (rd->xml) {
        char want[128];
        snprintf(want, sizeof want, "<%s>%s</%s>", rd->xml, g_code, rd->xml);
        if (!strstr(buf_str(&r.body), want))
            fail_msg("%s %s: no %s in %s", rd->what, when, want, buf_str(&r.body));
    } else {
        json_error_t je;
        json_t *j = json_loads(buf_str(&r.body), 0, &je);
        if (!j)
            fail_msg("%s %s: not JSON: %s", rd->what, when, buf_str(&r.body));
        if (rd->key && !has_member(j, rd->key, g_code))
            fail_msg("%s %s: no \"%s\": \"%s\" in %s", rd->what, when, rd->key, g_code, buf_str(&r.body));
        json_decref(j);
    }
    h_resp_free(&r);
}

static void every_read_answers_on_the_first_request_after_its_connection_was_terminated(void **state)
{
    (void)state;
    /* since/until bracket the ticket's second: a filtered list that must hold it, whatever
     * other tests left in the database */
    const char *p[] = {g_code};
    char *since = h_sql_text(g_db,
                             "SELECT to_char(date_trunc('second', requested_at) AT TIME ZONE 'UTC',"
                             " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM intake.ticket WHERE code = $1",
                             1, p);
    char *until = h_sql_text(g_db,
                             "SELECT to_char((date_trunc('second', requested_at) + interval '1 second') AT TIME ZONE 'UTC',"
                             " 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"') FROM intake.ticket WHERE code = $1",
                             1, p);
    char filtered[256];
    snprintf(filtered, sizeof filtered, "/api/v1/tickets?service_code=LIGHT&since=%s&until=%s", since, until);
    const read_t reads[] = {
        {"Open311 request JSON", "/open311/v2/requests/%s.json", false, "service_request_id", NULL, 200},
        {"Open311 request XML", "/open311/v2/requests/%s.xml", false, NULL, "service_request_id", 200},
        {"Open311 token", "/open311/v2/tokens/%s.json", false, "token", NULL, 200},
        {"native ticket", "/api/v1/tickets/%s", false, "code", NULL, 200},
        {"Open311 list by id", "/open311/v2/requests.json?service_request_id=%s", false, "service_request_id", NULL, 200},
        {"native filtered list", filtered, false, "code", NULL, 200},
        {"Open311 updates", "/open311/v2/servicerequestupdates.json", false, NULL, NULL, 200},
        {"staff token", "/api/v1/staff/tickets", true, NULL, NULL, 200},
        /* an unknown code is still a 404, not a 503 */
        {"unknown request", "/open311/v2/requests/0000000000000.json", false, NULL, NULL, 404},
        {"unknown ticket", "/api/v1/tickets/0000000000000", false, NULL, NULL, 404},
    };
    for (size_t i = 0; i < sizeof reads / sizeof reads[0]; i++) {
        expect_read(&reads[i], "on a fresh connection");
        char *pid = h_sql_text(g_db, "SELECT pid::text " INTAKE_CONNS, 0, NULL);
        assert_int_equal(terminate_intake(), 1);
        expect_read(&reads[i], "after PostgreSQL terminated intake's connection");
        /* answered on a new session, not on the one that was ended */
        char *now = h_sql_text(g_db, "SELECT pid::text " INTAKE_CONNS, 0, NULL);
        assert_true(*now);
        assert_string_not_equal(now, pid);
        free(now);
        free(pid);
    }
    free(since);
    free(until);
}

/* A POST after the same happened: intake's insert is prepared the same way. The write is not
 * retried by intake (only reads are), so a client may see one 503 and try again; what must
 * not happen is a lasting failure, or a ticket stored twice. */
static void a_post_after_a_terminated_connection_stores_the_ticket_once(void **state)
{
    (void)state;
    char code[40] = "", desc[64], body[256];
    snprintf(desc, sizeof desc, "读取测试 %d", (int)getpid());
    snprintf(body, sizeof body,
             "{\"service_code\":\"LIGHT\",\"lat\":28.21,\"long\":113.11,\"attributes\":{\"fault_type\":\"off\"},"
             "\"description\":\"%s\"}",
             desc);
    expect_read(&(read_t){"native ticket", "/api/v1/tickets/%s", false, "code", NULL, 200}, "before a POST");
    assert_int_equal(terminate_intake(), 1);
    bool ok = false;
    for (int attempt = 0; attempt < 2 && !ok; attempt++)
        ok = h_post_ticket(g_http, g_key, body, code);
    assert_true(ok);
    const char *p[] = {code, desc};
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM intake.ticket WHERE description = $1", 1, p + 1), 1);
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM intake.ticket WHERE code = $1 AND description = $2", 2, p), 1);
}

/* ---------------------------------------------------------------------------------------------
 * setup */

static void stop_leftover_intake(void)
{
    if (g_pid > 0)
        h_stop(g_pid, SIGKILL);
}

static int setup(void **state)
{
    (void)state;
    atexit(stop_leftover_intake);
    g_db = h_db();
    g_key = h_api_key(g_db);
    char *staff = h_sql_text(g_db, "SELECT min(id) FROM registry.staff WHERE active", 0, NULL);
    g_token = h_staff_token(g_db, atoll(staff));
    free(staff);
    g_http = h_port(120);
    static const char *const env[] = {"GRIDGOV_HTTP_THREADS=1", NULL};
    g_pid = h_start_intake(g_http, h_port(121), env);
    if (!h_post_ticket(g_http, g_key,
                       "{\"service_code\":\"LIGHT\",\"lat\":28.2,\"long\":113.1,"
                       "\"attributes\":{\"fault_type\":\"off\"},\"description\":\"读取测试 村口路灯不亮\"}",
                       g_code))
        return -1;
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int st = h_stop(g_pid, SIGTERM);
    g_pid = 0;
    free(g_key);
    free(g_token);
    PQfinish(g_db);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        g_teardown_failed = 1;
        print_error("gridgov-intake did not exit 0 on SIGTERM (wait status %d; see its log in $GRIDGOV_TEST_VAR)\n",
                    st);
    }
    return 0;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_read_answers_on_the_first_request_after_its_connection_was_terminated),
        cmocka_unit_test(a_post_after_a_terminated_connection_stores_the_ticket_once),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc || g_teardown_failed ? 1 : 0;
}
