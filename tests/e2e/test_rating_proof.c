/* A resident's rating proves it comes from the reporter: the rating code the POST answer gave
 * them. Guessing fails: every wrong attempt (an unknown ticket, a ticket filed without a phone,
 * one not yet resolved, a wrong code) gets the same 403 body; five failures lock a ticket and a
 * hundred lock an API key (429 with Retry-After), on every intake instance, until the failures
 * leave the hour; the satisfaction figures do not move. The right code rates once; a second
 * rating is 409. The router takes a rating only with a proof intake checked, never a phone. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "bus.h"
#include "cmdclient.h"
#include "harness.h"
#include "uuid.h"

static pid_t g_intake, g_intake2, g_router;
static PGconn *g_db;
static char g_app_key[80], g_attacker_key[80], g_clock[1024];
static int g_http, g_http2;

static int setup(void **state)
{
    (void)state;
    g_db = h_db();
    char *k = h_api_key(g_db);
    snprintf(g_app_key, sizeof g_app_key, "%s", k);
    free(k);
    k = h_api_key(g_db);
    snprintf(g_attacker_key, sizeof g_attacker_key, "%s", k);
    free(k);
    snprintf(g_clock, sizeof g_clock, "%s/clock-rating", h_env("GRIDGOV_TEST_VAR"));
    h_set_clock(g_clock, "2026-06-15T01:00:00Z"); /* Mon 09:00 in China */
    static char clock_env[1100], router_ep[96];
    snprintf(clock_env, sizeof clock_env, "GRIDGOV_CLOCK_FILE=%s", g_clock);
    snprintf(router_ep, sizeof router_ep, "GRIDGOV_ROUTER_ENDPOINT=tcp://127.0.0.1:%d", h_port(112));
    const char *ienv[] = {clock_env, router_ep, NULL};
    const char *renv[] = {clock_env, "GRIDGOV_TICK_MS=50", NULL};
    g_http = h_port(110);
    g_http2 = h_port(114);
    g_intake = h_start_intake(g_http, h_port(111), ienv);
    g_intake2 = h_start_intake(g_http2, h_port(115), ienv); /* a second instance on the same database */
    g_router = h_start_router(h_port(112), h_port(111), renv);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int s1 = h_stop(g_router, SIGTERM), s2 = h_stop(g_intake, SIGTERM), s3 = h_stop(g_intake2, SIGTERM);
    PQfinish(g_db);
    bool ok = WIFEXITED(s1) && WEXITSTATUS(s1) == 0 && WIFEXITED(s2) && WEXITSTATUS(s2) == 0 && WIFEXITED(s3) &&
              WEXITSTATUS(s3) == 0;
    return ok ? 0 : -1;
}

typedef struct {
    long status;
    char body[512];
    int retry_after; /* 0 when the answer had none */
} answer_t;

/* POST /api/v1/tickets/{code}/rating on intake at port with this key and JSON body. */
static answer_t rate_raw(int port, const char *key, const char *code, const char *json)
{
    char url[256], kh[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/tickets/%s/rating", port, code);
    snprintf(kh, sizeof kh, "X-API-Key: %s", key);
    const char *hdr[] = {"Content-Type: application/json", kh, NULL};
    h_resp_t r;
    assert_true(h_http("POST", url, hdr, json, strlen(json), &r));
    answer_t a = {.status = r.status};
    snprintf(a.body, sizeof a.body, "%s", buf_str(&r.body));
    for (const char *h = buf_str(&r.headers); h && *h; h = strchr(h, '\n') ? strchr(h, '\n') + 1 : NULL)
        if (!strncasecmp(h, "Retry-After:", 12))
            a.retry_after = atoi(h + 12);
    h_resp_free(&r);
    return a;
}

static answer_t rate_on(int port, const char *key, const char *code, const char *rating, const char *rating_code)
{
    char json[256];
    snprintf(json, sizeof json, "{\"rating\":\"%s\",\"rating_code\":\"%s\"}", rating, rating_code);
    return rate_raw(port, key, code, json);
}

static answer_t rate(const char *key, const char *code, const char *rating, const char *rating_code)
{
    return rate_on(g_http, key, code, rating, rating_code);
}

/* The one refusal every wrong attempt gets; the first one seen is the reference. */
static char g_refusal[512];

static void expect_refused(const answer_t *a, const char *what)
{
    if (a->status != 403)
        fail_msg("%s: answered %ld %s, expected 403", what, a->status, a->body);
    if (!g_refusal[0])
        snprintf(g_refusal, sizeof g_refusal, "%s", a->body);
    if (strcmp(a->body, g_refusal))
        fail_msg("%s: the refusal differs:\n  %s\n  %s", what, a->body, g_refusal);
}

static void expect_locked(const answer_t *a, const char *what)
{
    if (a->status != 429)
        fail_msg("%s: answered %ld %s, expected 429", what, a->status, a->body);
    if (a->retry_after < 1 || a->retry_after > 3600)
        fail_msg("%s: Retry-After %d is not within the hour", what, a->retry_after);
    assert_non_null(strstr(a->body, "\"too_many_attempts\""));
}

/* A code that is wrong for every ticket: a valid shape, differing from the real one. */
static void wrong_code(const char *right, int n, char out[16])
{
    static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    for (int i = 0; i < 10; i++)
        out[i] = alphabet[(n * 7 + i * 3 + 1) % 32];
    out[10] = '\0';
    if (!strcmp(out, right))
        out[0] = out[0] == '0' ? '1' : '0';
}

static char g_point[96];
static const char *point(int offset)
{
    char off[16];
    snprintf(off, sizeof off, "%d", offset);
    const char *p[] = {off};
    char *s = h_sql_text(g_db,
                         "SELECT format('\"lat\":%s,\"long\":%s', round(ST_Y(p)::numeric, 7), round(ST_X(p)::numeric, 7))"
                         " FROM (SELECT ST_PointOnSurface(boundary) p FROM registry.unit WHERE level = 'group'"
                         " AND code LIKE '430121-101-%' ORDER BY id OFFSET $1::int LIMIT 1) x",
                         1, p);
    snprintf(g_point, sizeof g_point, "%s", s);
    free(s);
    return g_point;
}

/* Files a ticket through the app and waits until it is routed; the rating code into rc. */
static void file(const char *json, char code[40], char rc[16])
{
    assert_true(h_post_ticket_rc(g_http, g_app_key, json, code, rc));
    assert_true(h_wait_routed(g_db, code, 20000));
}

static long staff_act(const char *code, const char *action, const char *token, const char *json)
{
    char url[256], auth[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/tickets/%s/actions/%s", g_http, code, action);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    const char *hdr[] = {"Content-Type: application/json", auth, NULL};
    h_resp_t r;
    assert_true(h_http("POST", url, hdr, json, strlen(json), &r));
    long st = r.status;
    h_resp_free(&r);
    return st;
}

static void resolve(const char *code)
{
    const char *p[] = {code};
    char *id = h_sql_text(g_db, "SELECT assignee_id FROM router.ticket WHERE code = $1", 1, p);
    assert_true(*id);
    char *tok = h_staff_token(g_db, atoll(id));
    assert_int_equal(staff_act(code, "accept", tok, ""), 200);
    assert_int_equal(staff_act(code, "resolve", tok, "{\"note\":\"已答复\"}"), 200);
    free(tok);
    free(id);
}

/* The township's figures (满意率 = satisfied / rated): its ratings and satisfied ratings, all days. */
static char *figures(void)
{
    return h_sql_text(g_db,
                      "SELECT coalesce(sum(d.rated), 0) || '/' || coalesce(sum(d.satisfied), 0) FROM router.stat_daily d"
                      " JOIN registry.unit u ON u.id = d.unit_id WHERE u.code = '430121-101'",
                      0, NULL);
}

static void guessing_fails_alike_and_is_locked_out_everywhere(void **state)
{
    (void)state;
    char body[512], t[40], u[40], v[40], rc_t[16], rc_u[16], rc_v[16];
    /* T: resolved, waiting for the reporter's rating; U: not yet resolved; V: filed without a phone */
    snprintf(body, sizeof body, "{\"service_code\":\"POLICY\",%s,\"phone\":\"13900007001\"}", point(7));
    file(body, t, rc_t);
    snprintf(body, sizeof body, "{\"service_code\":\"AID\",%s,\"phone\":\"13900007002\"}", point(9));
    file(body, u, rc_u);
    file("{\"service_code\":\"AID\",\"address_string\":\"村委会旁\"}", v, rc_v);
    assert_int_equal(strlen(rc_t), 10);
    assert_int_equal(strlen(rc_u), 10);
    assert_string_equal(rc_v, ""); /* no phone, no rating code */
    resolve(t);
    char *before = figures();
    const char *pt[] = {t};

    /* five wrong codes on T: the same 403 each time; the sixth attempt is not even checked */
    char guess[16];
    int failures = 0;
    for (int i = 0; i < 5; i++, failures++) {
        wrong_code(rc_t, i, guess);
        answer_t a = rate(g_attacker_key, t, "满意", guess);
        expect_refused(&a, "a wrong code on a resolved ticket");
    }
    wrong_code(rc_t, 5, guess);
    answer_t a = rate(g_attacker_key, t, "满意", guess);
    expect_locked(&a, "the sixth guess on one ticket");
    a = rate(g_attacker_key, t, "满意", rc_t);
    expect_locked(&a, "even the right code while the ticket is locked");

    /* on to other tickets: a ticket not yet resolved, one without a phone (no code at all), codes
     * that name no ticket, the code in another case or shape: the same 403 every time, up to the
     * key's hundred failures */
    char unknown[40];
    for (int n = 0; failures < 100; n++) {
        const char *target, *what;
        if (n < 5) {
            target = u, what = "a wrong code on a ticket not yet resolved";
        } else if (n < 10) {
            target = v, what = "a ticket filed without a phone";
        } else {
            snprintf(unknown, sizeof unknown, "26061599%05d", n);
            target = unknown, what = "a ticket code that names nothing";
        }
        wrong_code(target == u ? rc_u : "", n, guess);
        if (n == 11)
            snprintf(guess, sizeof guess, "not-a-code");
        a = rate(g_attacker_key, target, n % 2 ? "satisfied" : "不满意", guess);
        expect_refused(&a, what);
        failures += 1;
        if (target == unknown) /* four more on the same unknown code: still the same answer */
            for (int k = 0; k < 4 && failures < 100; k++, failures++) {
                a = rate(g_attacker_key, unknown, "basic", guess);
                expect_refused(&a, "the same unknown code again");
            }
    }
    snprintf(unknown, sizeof unknown, "2606159999999");
    a = rate(g_attacker_key, unknown, "满意", "0000000000");
    expect_locked(&a, "the key's hundred-and-first failure");

    /* the figures, the ticket and its history have not moved */
    char *after = figures();
    assert_string_equal(after, before);
    free(after);
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM router.ticket WHERE code = $1 AND state = 'resolved'"
                                     " AND rating IS NULL", 1, pt), 1);
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM router.transition JOIN router.ticket USING (ticket_id)"
                                     " WHERE code = $1 AND action = 'rate'", 1, pt), 0);
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM intake.rating_failure WHERE ticket_code = $1", 1, pt), 5);

    /* the lock is in the database: another key, another intake instance, the same answer */
    a = rate_on(g_http2, g_app_key, t, "满意", rc_t);
    expect_locked(&a, "the reporter's app on another intake while the ticket is locked");

    /* an hour later the failures have left the window: the reporter's code rates it, once, typed
     * as a resident might */
    h_set_clock(g_clock, "2026-06-15T02:00:02Z");
    usleep(200 * 1000);
    char typed[24];
    snprintf(typed, sizeof typed, "%.5s %s", rc_t, rc_t + 5);
    for (char *c = typed; *c; c++)
        *c = (char)tolower((unsigned char)*c);
    a = rate_on(g_http2, g_app_key, t, "满意", typed);
    if (a.status != 200)
        fail_msg("the reporter's code answered %ld %s", a.status, a.body);
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM router.ticket WHERE code = $1 AND state = 'closed'"
                                     " AND rating = 'satisfied'", 1, pt), 1);
    after = figures();
    long long r0, s0, r1, s1;
    assert_int_equal(sscanf(before, "%lld/%lld", &r0, &s0), 2);
    assert_int_equal(sscanf(after, "%lld/%lld", &r1, &s1), 2);
    assert_int_equal(r1, r0 + 1);
    assert_int_equal(s1, s0 + 1);
    free(after);
    a = rate(g_app_key, t, "不满意", rc_t);
    assert_int_equal(a.status, 409); /* rated already: closed */
    assert_non_null(strstr(a.body, "\"closed\""));
    /* the right code for a ticket not yet resolved: the code is accepted, the state refuses */
    a = rate(g_app_key, u, "满意", rc_u);
    assert_int_equal(a.status, 409);
    free(before);
}

/* The refusal is one answer whatever was wrong, and says nothing the guesser did not send. */
static void unknown_ticket_and_wrong_code_answer_the_same(void **state)
{
    (void)state;
    char body[512], t[40], rc[16], wrong[16];
    snprintf(body, sizeof body, "{\"service_code\":\"POLICY\",%s,\"phone\":\"13900007003\"}", point(11));
    file(body, t, rc);
    wrong_code(rc, 1, wrong);
    answer_t bad_code = rate(g_app_key, t, "满意", wrong);
    answer_t no_ticket = rate(g_app_key, "2606150000000", "满意", wrong);
    answer_t junk = rate(g_app_key, "x", "满意", "");
    assert_int_equal(bad_code.status, 403);
    assert_int_equal(no_ticket.status, 403);
    assert_int_equal(junk.status, 403);
    assert_string_equal(bad_code.body, no_ticket.body);
    assert_string_equal(bad_code.body, junk.body);
    assert_null(strstr(bad_code.body, t));
    /* malformed requests are 400 before any ticket is looked at; a missing key 401 */
    answer_t a = rate_raw(g_http, g_app_key, t, "{\"rating\":\"满意\",\"phone\":\"13900007003\"}");
    assert_int_equal(a.status, 400);
    a = rate(g_app_key, t, "很好", rc);
    assert_int_equal(a.status, 400);
    a = rate("not-a-key", t, "满意", rc);
    assert_int_equal(a.status, 401);
}

/* A retried POST (same Idempotency-Key) answers the same ticket with a fresh code; the first
 * stops working. The database holds neither code, only a hash. */
static void a_replayed_post_rotates_the_code_and_nothing_stores_it(void **state)
{
    (void)state;
    char url[128], kh[128], body[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/tickets", g_http);
    snprintf(kh, sizeof kh, "X-API-Key: %s", g_app_key);
    const char *hdr[] = {"Content-Type: application/json", kh, "Idempotency-Key: rating-rotate-1", NULL};
    snprintf(body, sizeof body, "{\"service_code\":\"AID\",%s,\"phone\":\"13900007004\"}", point(13));
    char code[2][40], rc[2][16];
    for (int i = 0; i < 2; i++) {
        h_resp_t r;
        assert_true(h_http("POST", url, hdr, body, strlen(body), &r));
        assert_int_equal(r.status, 201);
        json_error_t je;
        json_t *j = json_loads(buf_str(&r.body), 0, &je);
        snprintf(code[i], sizeof code[i], "%s", json_string_value(json_object_get(j, "code")));
        snprintf(rc[i], sizeof rc[i], "%s", json_string_value(json_object_get(j, "rating_code")));
        json_decref(j);
        h_resp_free(&r);
    }
    assert_string_equal(code[0], code[1]);
    assert_int_equal(strlen(rc[1]), 10);
    assert_string_not_equal(rc[0], rc[1]);
    assert_true(h_wait_routed(g_db, code[0], 20000));
    answer_t a = rate(g_app_key, code[0], "满意", rc[0]);
    assert_int_equal(a.status, 403);
    a = rate(g_app_key, code[0], "满意", rc[1]);
    assert_int_equal(a.status, 409); /* the code is right; the ticket is not resolved yet */
    for (int i = 0; i < 2; i++) {
        const char *p[] = {rc[i]};
        assert_int_equal(h_sql_int(g_db, "SELECT (SELECT count(*) FROM intake.idempotency WHERE strpos(body, $1) > 0)"
                                         " + (SELECT count(*) FROM bus.outbox WHERE strpos(data::text, $1) > 0)",
                                   1, p), 0);
    }
    const char *p[] = {code[0]};
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM intake.rating_code k JOIN intake.ticket t ON t.id = k.ticket_id"
                                     " WHERE t.code = $1 AND length(k.code_sha256) = 32", 1, p), 1);
}

/* One command straight to the router: a rating that carries a phone, or no proof, or a proof the
 * router does not know, is refused; the router no longer compares phone numbers. */
static void the_router_takes_a_rating_only_with_a_proof(void **state)
{
    (void)state;
    char body[512], t[40], rc[16];
    snprintf(body, sizeof body, "{\"service_code\":\"POLICY\",%s,\"phone\":\"13900007005\"}", point(15));
    file(body, t, rc);
    resolve(t);
    char err[256], ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", h_port(112));
    bus_t *bus = h_bus_as("intake", true); /* the router takes commands from intake's key */
    cmdclient_t *c = cmdclient_new(bus, ep, "router", err, sizeof err);
    assert_non_null(c);
    /* A phone in place of a proof, or no proof, is no command (400, not stored); a proof the
     * router does not know is a rating it refuses (403). */
    static const char *const extra[][2] = {{"phone", "13900007005"}, {NULL, NULL}, {"proof", "phone"}, {"proof", ""}};
    static const int status[] = {400, 400, 403, 403};
    static const char *const code[] = {"bad_command", "bad_command", "not_reporter", "not_reporter"};
    for (size_t i = 0; i < sizeof extra / sizeof extra[0]; i++) {
        char id[UUID_STR_LEN];
        uuid_v4(id);
        json_t *cmd = json_pack("{s:s,s:s,s:s,s:s}", "id", id, "action", "rate", "ticket", t, "rating", "satisfied");
        if (extra[i][0])
            json_object_set_new(cmd, extra[i][0], json_string(extra[i][1]));
        json_t *rep = cmdclient_call(c, cmd, 3000, 3, err, sizeof err);
        json_decref(cmd);
        if (!rep)
            fail_msg("the router did not answer: %s", err);
        assert_int_equal(json_integer_value(json_object_get(rep, "status")), status[i]);
        assert_string_equal(
            json_string_value(json_object_get(json_object_get(json_object_get(rep, "body"), "error"), "code")),
            code[i]);
        const char *pid[] = {id};
        assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM router.command WHERE id = $1::uuid", 1, pid),
                         status[i] == 400 ? 0 : 1);
        json_decref(rep);
    }
    cmdclient_destroy(&c);
    bus_destroy(&bus);
    const char *p[] = {t};
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM router.ticket WHERE code = $1 AND state = 'resolved'", 1, p), 1);
    /* through intake with the code it is the reporter's */
    answer_t a = rate(g_app_key, t, "基本满意", rc);
    assert_int_equal(a.status, 200);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(guessing_fails_alike_and_is_locked_out_everywhere),
        cmocka_unit_test(unknown_ticket_and_wrong_code_answer_the_same),
        cmocka_unit_test(a_replayed_post_rotates_the_code_and_nothing_stores_it),
        cmocka_unit_test(the_router_takes_a_rating_only_with_a_proof),
    };
    return cmocka_run_group_tests_name("rating_proof", tests, setup, teardown);
}
