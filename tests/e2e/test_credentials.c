/* Credentials take effect at once. Staff tokens gridgovctl issues expire after
 * staff_token_ttl_h; an expired token and one `gridgovctl revoke-token` revoked (alone, or all of
 * a staff member's) answer 401 on the very next request. An API key `gridgovctl apikey
 * --deactivate` deactivated (by name or id) is refused on the next request, native and Open311
 * alike, with no catalogue reload between (intake reloads it only every hour here). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static pid_t g_intake;
static PGconn *g_db;
static int g_http;

static int setup(void **state)
{
    (void)state;
    g_db = h_db();
    g_http = h_port(120);
    /* a catalogue reload an hour away: whatever changes at once does not wait for one */
    const char *env[] = {"GRIDGOV_CATALOG_REFRESH_S=3600", NULL};
    g_intake = h_start_intake(g_http, h_port(121), env);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int s = h_stop(g_intake, SIGTERM);
    PQfinish(g_db);
    return WIFEXITED(s) && WEXITSTATUS(s) == 0 ? 0 : -1;
}

/* Runs gridgovctl with these arguments (shell words, no quoting needed); its first line of
 * output into out; returns the exit status. */
static int ctl(const char *args, char *out, size_t outsz)
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "'%s/gridgovctl' --set log_level=error %s 2>/dev/null", h_env("GRIDGOV_BIN"), args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    char line[256] = "";
    if (!fgets(line, sizeof line, p))
        line[0] = '\0';
    line[strcspn(line, "\n")] = '\0';
    while (fgetc(p) != EOF) {
    }
    int st = pclose(p);
    if (out)
        snprintf(out, outsz, "%s", line);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static long get_queue(const char *token)
{
    char url[128], auth[160];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/staff/tickets", g_http);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    const char *hdr[] = {auth, NULL};
    h_resp_t r;
    assert_true(h_http("GET", url, hdr, NULL, 0, &r));
    long st = r.status;
    h_resp_free(&r);
    return st;
}

static long long a_handler(int n)
{
    char off[8];
    snprintf(off, sizeof off, "%d", n);
    const char *p[] = {off};
    return h_sql_int(g_db, "SELECT id FROM registry.staff WHERE active AND role = 'handler' ORDER BY id OFFSET $1::int LIMIT 1",
                     1, p);
}

static void tokens_expire_as_configured(void **state)
{
    (void)state;
    char args[128], tok[128];
    long long staff = a_handler(0);
    snprintf(args, sizeof args, "--set staff_token_ttl_h=2 token %lld", staff);
    assert_int_equal(ctl(args, tok, sizeof tok), 0);
    assert_int_equal(strlen(tok), 64);
    assert_int_equal(get_queue(tok), 200);
    /* issued for exactly the configured life */
    const char *p[] = {tok};
    assert_int_equal(h_sql_int(g_db, "SELECT extract(epoch FROM expires_at - issued_at)::bigint FROM registry.staff_token"
                                     " WHERE token_sha256 = sha256(convert_to($1, 'UTF8'))", 1, p), 2 * 3600);
    /* the default life is 12 hours */
    snprintf(args, sizeof args, "token %lld", staff);
    char tok12[128];
    assert_int_equal(ctl(args, tok12, sizeof tok12), 0);
    const char *p12[] = {tok12};
    assert_int_equal(h_sql_int(g_db, "SELECT extract(epoch FROM expires_at - issued_at)::bigint FROM registry.staff_token"
                                     " WHERE token_sha256 = sha256(convert_to($1, 'UTF8'))", 1, p12), 12 * 3600);
    /* its life over (expiry is on the database's clock: the row is moved, not the clock) */
    h_sql_int(g_db, "WITH u AS (UPDATE registry.staff_token SET expires_at = now() - interval '1 second'"
                    " WHERE token_sha256 = sha256(convert_to($1, 'UTF8')) RETURNING 1) SELECT count(*) FROM u", 1, p);
    assert_int_equal(get_queue(tok), 401);
    assert_int_equal(get_queue(tok12), 200);
    /* no token lives forever: a writer that names no expiry gets the default, none is refused */
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM registry.staff_token WHERE expires_at IS NULL", 0, NULL), 0);
    PGresult *r = PQexec(g_db, "INSERT INTO registry.staff_token (token_sha256, staff_id, expires_at)"
                               " SELECT sha256('never-expires'::bytea), min(id), NULL FROM registry.staff");
    assert_int_equal(PQresultStatus(r), PGRES_FATAL_ERROR);
    PQclear(r);
    assert_int_equal(ctl("--set staff_token_ttl_h=0 token 1", NULL, 0), 2); /* out of range */
}

static void revoked_tokens_stop_at_once(void **state)
{
    (void)state;
    char args[256], one[128], two[128], three[128], out[128];
    long long staff = a_handler(1), other = a_handler(2);
    snprintf(args, sizeof args, "token %lld", staff);
    assert_int_equal(ctl(args, one, sizeof one), 0);
    assert_int_equal(ctl(args, two, sizeof two), 0);
    snprintf(args, sizeof args, "token %lld", other);
    assert_int_equal(ctl(args, three, sizeof three), 0);
    assert_int_equal(get_queue(one), 200); /* intake has seen it work */
    assert_int_equal(get_queue(two), 200);

    snprintf(args, sizeof args, "revoke-token %s", one);
    assert_int_equal(ctl(args, out, sizeof out), 0);
    assert_string_equal(out, "revoked 1 token");
    assert_int_equal(get_queue(one), 401);
    assert_int_equal(get_queue(two), 200);
    assert_int_equal(ctl(args, NULL, 0), 1); /* revoked already */
    assert_int_equal(ctl("revoke-token not-a-token-anyone-was-given", NULL, 0), 1);

    snprintf(args, sizeof args, "revoke-token --staff %lld", staff);
    assert_int_equal(ctl(args, out, sizeof out), 0);
    assert_string_equal(out, "revoked 1 token"); /* the one still live */
    assert_int_equal(get_queue(two), 401);
    assert_int_equal(get_queue(three), 200); /* another staff member's is untouched */
    assert_int_equal(ctl("revoke-token --staff x", NULL, 0), 2);
    assert_int_equal(ctl("revoke-token", NULL, 0), 2);
}

/* POSTs a minimal ticket natively (X-API-Key) or by Open311 (api_key); returns the status. */
static long post(const char *key, bool open311)
{
    char url[160], kh[128];
    h_resp_t r;
    if (open311) {
        char form[256];
        snprintf(url, sizeof url, "http://127.0.0.1:%d/open311/v2/requests.json", g_http);
        snprintf(form, sizeof form, "api_key=%s&service_code=AID&address_string=x", key);
        const char *hdr[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
        assert_true(h_http("POST", url, hdr, form, strlen(form), &r));
    } else {
        const char *json = "{\"service_code\":\"AID\",\"address_string\":\"x\"}";
        snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/tickets", g_http);
        snprintf(kh, sizeof kh, "X-API-Key: %s", key);
        const char *hdr[] = {"Content-Type: application/json", kh, NULL};
        assert_true(h_http("POST", url, hdr, json, strlen(json), &r));
    }
    long st = r.status;
    h_resp_free(&r);
    return st;
}

static void a_deactivated_key_is_refused_on_the_next_request(void **state)
{
    (void)state;
    char name[64], args[128], key[128], key2[128], out[128];
    snprintf(name, sizeof name, "cred-test-%d", (int)getpid());
    snprintf(args, sizeof args, "apikey %s", name);
    assert_int_equal(ctl(args, key, sizeof key), 0);
    assert_int_equal(ctl(args, key2, sizeof key2), 0); /* two keys of one client name */
    assert_int_equal(post(key, false), 201);
    assert_int_equal(post(key, true), 200);
    assert_int_equal(post(key2, false), 201);

    snprintf(args, sizeof args, "apikey --deactivate %s", name);
    assert_int_equal(ctl(args, out, sizeof out), 0);
    assert_int_equal(strncmp(out, "deactivated API key ", 20), 0);
    assert_int_equal(post(key, false), 401);
    assert_int_equal(post(key, true), 403); /* Open311's answer to an invalid api_key */
    assert_int_equal(post(key2, false), 401);
    assert_int_equal(ctl(args, NULL, 0), 1); /* nothing active by that name any more */

    /* by id */
    snprintf(args, sizeof args, "apikey %s-b", name);
    assert_int_equal(ctl(args, key, sizeof key), 0);
    assert_int_equal(post(key, false), 201);
    const char *p[] = {key};
    long long id = h_sql_int(g_db, "SELECT id FROM registry.api_client WHERE key_sha256 = sha256(convert_to($1, 'UTF8'))", 1, p);
    snprintf(args, sizeof args, "apikey --deactivate %lld", id);
    assert_int_equal(ctl(args, NULL, 0), 0);
    assert_int_equal(post(key, false), 401);
    assert_int_equal(ctl("apikey --deactivate", NULL, 0), 2);
    assert_int_equal(ctl("apikey", NULL, 0), 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(tokens_expire_as_configured),
        cmocka_unit_test(revoked_tokens_stop_at_once),
        cmocka_unit_test(a_deactivated_key_is_refused_on_the_next_request),
    };
    return cmocka_run_group_tests_name("credentials", tests, setup, teardown);
}
