/* The SMS providers' pushes (/channels/sms/{aliyun,tencent}/{up,report}): only with the secret
 * token in the URL; checked whole before anything is stored; each item once (a re-push changes
 * nothing); stale pushes refused. An uplink 1 from the reporter's number closes their resolved
 * ticket as 满意 and the closure-rate statistics count it; another number's 1 rates nothing; TD
 * opts a number out; a delivery report becomes a channel.receipt for notify. */
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

#include "harness.h"

#define TOKEN "sms-secret-4f1c9a"

static pid_t g_intake, g_router;
static PGconn *g_db;
static char g_key[80], g_clock[1024];
static int g_http;

/* the injected clock: Mon 2026-06-15 09:00 in China */
#define NOW_CST "2026-06-15 09:00:00"
#define HOUR_AGO_CST "2026-06-15 08:00:00"
#define STALE_CST "2026-06-14 08:00:00" /* 25 hours ago */
#define NOW_UNIX 1781485200LL

static int setup(void **state)
{
    (void)state;
    g_db = h_db();
    char *k = h_api_key(g_db);
    snprintf(g_key, sizeof g_key, "%s", k);
    free(k);
    snprintf(g_clock, sizeof g_clock, "%s/clock-channels-sms", h_env("GRIDGOV_TEST_VAR"));
    h_set_clock(g_clock, "2026-06-15T01:00:00Z");
    static char clock_env[1100], router_ep[96];
    snprintf(clock_env, sizeof clock_env, "GRIDGOV_CLOCK_FILE=%s", g_clock);
    snprintf(router_ep, sizeof router_ep, "GRIDGOV_ROUTER_ENDPOINT=tcp://127.0.0.1:%d", h_port(402));
    const char *ienv[] = {clock_env, router_ep, "GRIDGOV_SMS_CALLBACK_TOKEN=" TOKEN, NULL};
    const char *renv[] = {clock_env, "GRIDGOV_TICK_MS=50", NULL};
    g_http = h_port(400);
    g_intake = h_start_intake(g_http, h_port(401), ienv);
    g_router = h_start_router(h_port(402), h_port(401), renv);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int s1 = h_stop(g_router, SIGTERM), s2 = h_stop(g_intake, SIGTERM);
    PQfinish(g_db);
    return WIFEXITED(s1) && WEXITSTATUS(s1) == 0 && WIFEXITED(s2) && WEXITSTATUS(s2) == 0 ? 0 : -1;
}

typedef struct {
    long status;
    char body[512];
} answer_t;

static answer_t push_to(int port, const char *method, const char *path, const char *token, const char *body)
{
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s%s%s", port, path, token ? "?token=" : "", token ? token : "");
    const char *hdr[] = {"Content-Type: application/json", NULL};
    h_resp_t r;
    assert_true(h_http(method, url, hdr, body, body ? strlen(body) : 0, &r));
    answer_t a = {.status = r.status};
    snprintf(a.body, sizeof a.body, "%s", buf_str(&r.body));
    h_resp_free(&r);
    return a;
}

static answer_t push(const char *path, const char *body)
{
    return push_to(g_http, "POST", path, TOKEN, body);
}

static void expect_ok(const answer_t *a, bool aliyun, const char *what)
{
    const char *want = aliyun ? "{\"code\":0,\"msg\":\"接收成功\"}" : "{\"result\":0,\"errmsg\":\"OK\"}";
    if (a->status != 200 || strcmp(a->body, want))
        fail_msg("%s: answered %ld %s, expected 200 %s", what, a->status, a->body, want);
}

static long long count(const char *sql)
{
    return h_sql_int(g_db, sql, 0, NULL);
}

static long long inbox(void)
{
    return count("SELECT count(*) FROM intake.channel_inbox");
}

static char *aliyun_up(const char *phone, const char *content, const char *when, long long seq)
{
    json_t *j = json_pack("[{s:s,s:s,s:s,s:s,s:s,s:I}]", "phone_number", phone, "send_time", when, "content", content,
                          "sign_name", "示范县", "dest_code", "1234", "sequence_id", (json_int_t)seq);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

static char *tencent_up(const char *mobile, const char *text, long long t)
{
    json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s,s:I}", "extend", "", "mobile", mobile, "nationcode", "86", "sign",
                          "示范县", "text", text, "time", (json_int_t)t);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

static void channels_refuse_forged_and_bad_pushes_and_change_nothing(void **state)
{
    (void)state;
    long long before = inbox();
    char *good = aliyun_up("13900008801", "TD", HOUR_AGO_CST, 880001);
    /* no token, a wrong one, a longer one, a prefix: 403 */
    const char *tokens[] = {NULL, "wrong", TOKEN "x", "sms-secret", ""};
    for (size_t i = 0; i < sizeof tokens / sizeof tokens[0]; i++) {
        answer_t a = push_to(g_http, "POST", "/channels/sms/aliyun/up", tokens[i], good);
        if (a.status != 403)
            fail_msg("token %s: answered %ld %s", tokens[i] ? tokens[i] : "(none)", a.status, a.body);
        assert_non_null(strstr(a.body, "\"code\":1"));
    }
    assert_int_equal(push_to(g_http, "GET", "/channels/sms/aliyun/up", TOKEN, NULL).status, 405);
    assert_int_equal(push_to(g_http, "POST", "/channels/sms/nowhere/up", TOKEN, good).status, 404);
    char *stale = aliyun_up("13900008801", "TD", STALE_CST, 880002);
    char *future = aliyun_up("13900008801", "TD", "2026-06-15 10:00:00", 880003);
    char *bad_phone = aliyun_up("12345", "TD", HOUR_AGO_CST, 880004);
    char *bad_time = aliyun_up("13900008801", "TD", "2026-06-15T08:00:00Z", 880005);
    char *stale_tencent = tencent_up("13900008801", "TD", NOW_UNIX - 25 * 3600);
    /* one bad item refuses the whole batch: the good first item is not stored either */
    char batch[1024];
    snprintf(batch, sizeof batch, "[%.*s,{\"phone_number\":\"13900008801\",\"content\":\"TD\"}]", (int)strlen(good) - 2,
             good + 1);
    const struct {
        const char *path, *body, *what;
    } bad[] = {
        {"/channels/sms/aliyun/up", "not json", "not JSON"},
        {"/channels/sms/aliyun/up", "{\"phone_number\":\"13900008801\"}", "an object where an array is due"},
        {"/channels/sms/aliyun/up", "[]", "an empty array"},
        {"/channels/sms/aliyun/up", stale, "25 hours old"},
        {"/channels/sms/aliyun/up", future, "an hour ahead"},
        {"/channels/sms/aliyun/up", bad_phone, "not a mobile number"},
        {"/channels/sms/aliyun/up", bad_time, "send_time in another format"},
        {"/channels/sms/aliyun/up", batch, "a batch with one bad item"},
        {"/channels/sms/aliyun/report", "[{\"biz_id\":\"1^0\",\"success\":\"yes\",\"report_time\":\"" HOUR_AGO_CST "\"}]",
         "success as text"},
        {"/channels/sms/aliyun/report", "[{\"success\":true,\"report_time\":\"" HOUR_AGO_CST "\"}]", "no biz_id"},
        {"/channels/sms/tencent/up", stale_tencent, "25 hours old"},
        {"/channels/sms/tencent/up", "[{}]", "an array where one object is due"},
        {"/channels/sms/tencent/report", "[{\"sid\":\"s1\",\"report_status\":\"MAYBE\",\"user_receive_time\":\"" HOUR_AGO_CST
                                         "\"}]", "an unknown report_status"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        answer_t a = push(bad[i].path, bad[i].body);
        if (a.status != 400)
            fail_msg("%s %s: answered %ld %s, expected 400", bad[i].path, bad[i].what, a.status, a.body);
    }
    assert_int_equal(inbox(), before);
    assert_int_equal(count("SELECT count(*) FROM intake.sms_opt_out WHERE phone = '13900008801'"), 0);
    free(good);
    free(stale);
    free(future);
    free(bad_phone);
    free(bad_time);
    free(stale_tencent);
}

static void without_a_token_configured_the_channels_are_off(void **state)
{
    (void)state;
    int port = h_port(404);
    char clock_env[1100];
    snprintf(clock_env, sizeof clock_env, "GRIDGOV_CLOCK_FILE=%s", g_clock);
    const char *env[] = {clock_env, NULL};
    pid_t p = h_start_intake(port, h_port(405), env);
    char *body = aliyun_up("13900008802", "TD", HOUR_AGO_CST, 880010);
    const char *paths[] = {"/channels/sms/aliyun/up", "/channels/sms/aliyun/report", "/channels/sms/tencent/up",
                           "/channels/sms/tencent/report"};
    for (size_t i = 0; i < 4; i++) {
        assert_int_equal(push_to(port, "POST", paths[i], "", body).status, 404);
        assert_int_equal(push_to(port, "POST", paths[i], TOKEN, body).status, 404);
    }
    free(body);
    int s = h_stop(p, SIGTERM);
    assert_true(WIFEXITED(s) && WEXITSTATUS(s) == 0);
    assert_int_equal(count("SELECT count(*) FROM intake.sms_opt_out WHERE phone = '13900008802'"), 0);
}

static void td_opts_out_once(void **state)
{
    (void)state;
    char *a = aliyun_up("+8613900008803", "td", HOUR_AGO_CST, 880020);
    char *t = tencent_up("13900008804", " 退订 ", NOW_UNIX - 60);
    long long before = inbox();
    for (int i = 0; i < 3; i++) { /* the provider's re-pushes */
        answer_t r = push("/channels/sms/aliyun/up", a);
        expect_ok(&r, true, "aliyun TD");
        r = push("/channels/sms/tencent/up", t);
        expect_ok(&r, false, "tencent 退订");
    }
    assert_int_equal(inbox(), before + 2);
    assert_int_equal(count("SELECT count(*) FROM intake.sms_opt_out WHERE phone IN ('13900008803', '13900008804')"), 2);
    assert_int_equal(count("SELECT count(*) FROM intake.channel_inbox WHERE action = 'opt_out'"
                           " AND sender IN ('13900008803', '13900008804')"), 2);
    free(a);
    free(t);
}

static void reports_become_receipts_once(void **state)
{
    (void)state;
    long long before = count("SELECT count(*) FROM bus.outbox WHERE type = 'channel.receipt'");
    const char *aliyun = "[{\"phone_number\":\"1390000****\",\"send_time\":\"" HOUR_AGO_CST "\",\"report_time\":\"" NOW_CST
                         "\",\"success\":true,\"err_code\":\"DELIVERED\",\"err_msg\":\"用户接收成功\",\"sms_size\":\"1\","
                         "\"biz_id\":\"700000000000000088^0\",\"out_id\":\"4b4ed0a4-3b0e-4a53-9a55-5b0f4a1c0e11\"}]";
    const char *tencent = "[{\"user_receive_time\":\"" NOW_CST "\",\"nationcode\":\"86\",\"mobile\":\"13900008805\","
                          "\"report_status\":\"FAIL\",\"errmsg\":\"MK:0005\",\"description\":\"用户拒收\","
                          "\"sid\":\"5000:1045710669157053657849499699\",\"ext\":\"9a0c2a55-6e0b-4d4f-8c1e-2f2b6c3d4e5f\"},"
                          "{\"user_receive_time\":\"" NOW_CST "\",\"nationcode\":\"86\",\"mobile\":\"13900008806\","
                          "\"report_status\":\"SUCCESS\",\"errmsg\":\"DELIVRD\",\"sid\":\"5000:77\"}]";
    for (int i = 0; i < 2; i++) {
        answer_t a = push("/channels/sms/aliyun/report", aliyun);
        expect_ok(&a, true, "aliyun report");
        a = push("/channels/sms/tencent/report", tencent);
        expect_ok(&a, false, "tencent report");
    }
    assert_int_equal(count("SELECT count(*) FROM bus.outbox WHERE type = 'channel.receipt'"), before + 3);
    assert_int_equal(count("SELECT count(*) FROM bus.outbox WHERE type = 'channel.receipt'"
                           " AND data->>'provider' = 'aliyun' AND data->>'status' = 'delivered'"
                           " AND data->>'message_id' = '4b4ed0a4-3b0e-4a53-9a55-5b0f4a1c0e11'"
                           " AND data->>'provider_msgid' = '700000000000000088^0' AND data->>'code' = 'DELIVERED'"
                           " AND data->>'reported_at' = '2026-06-15T01:00:00Z'"),
                     1);
    assert_int_equal(count("SELECT count(*) FROM bus.outbox WHERE type = 'channel.receipt'"
                           " AND data->>'provider' = 'tencent' AND data->>'status' = 'failed'"
                           " AND data->>'message_id' = '9a0c2a55-6e0b-4d4f-8c1e-2f2b6c3d4e5f'"
                           " AND data->>'provider_msgid' = '5000:1045710669157053657849499699'"),
                     1);
    /* no ext: the serial number alone names the message */
    assert_int_equal(count("SELECT count(*) FROM bus.outbox WHERE type = 'channel.receipt' AND data->>'provider' = 'tencent'"
                           " AND NOT data ? 'message_id' AND data->>'provider_msgid' = '5000:77'"
                           " AND data->>'status' = 'delivered'"),
                     1);
    /* a receipt names the message, never the number */
    assert_int_equal(count("SELECT count(*) FROM bus.outbox WHERE type = 'channel.receipt' AND data::text LIKE '%1390000%'"),
                     0);
}

/* ---- ratings ---- */

static const char *point(int offset, char out[96])
{
    char off[16];
    snprintf(off, sizeof off, "%d", offset);
    const char *p[] = {off};
    char *s = h_sql_text(g_db,
                         "SELECT format('\"lat\":%s,\"long\":%s', round(ST_Y(p)::numeric, 7), round(ST_X(p)::numeric, 7))"
                         " FROM (SELECT ST_PointOnSurface(boundary) p FROM registry.unit WHERE level = 'group'"
                         " AND code LIKE '430121-101-%' ORDER BY id OFFSET $1::int LIMIT 1) x",
                         1, p);
    snprintf(out, 96, "%s", s);
    free(s);
    return out;
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

/* Files a ticket with this phone through the API, routes and resolves it. */
static void file_resolved(const char *phone, int place, char code[40])
{
    char body[512], pt[96];
    snprintf(body, sizeof body, "{\"service_code\":\"POLICY\",%s,\"phone\":\"%s\",\"description\":\"补贴咨询\"}",
             point(place, pt), phone);
    assert_true(h_post_ticket(g_http, g_key, body, code));
    assert_true(h_wait_routed(g_db, code, 20000));
    const char *p[] = {code};
    char *id = h_sql_text(g_db, "SELECT assignee_id FROM router.ticket WHERE code = $1", 1, p);
    assert_true(*id);
    char *tok = h_staff_token(g_db, atoll(id));
    assert_int_equal(staff_act(code, "accept", tok, ""), 200);
    assert_int_equal(staff_act(code, "resolve", tok, "{\"note\":\"已答复\"}"), 200);
    free(tok);
    free(id);
}

static char *state_of(const char *code)
{
    const char *p[] = {code};
    return h_sql_text(g_db, "SELECT state || '/' || coalesce(rating, '') FROM router.ticket WHERE code = $1", 1, p);
}

/* The township's satisfied and rated counts from the closure-rate API, as the operator reads it. */
static void stats(long long *rated, long long *satisfied)
{
    char *id = h_sql_text(g_db, "SELECT id FROM registry.staff WHERE role = 'operator' ORDER BY id LIMIT 1", 0, NULL);
    char *tok = h_staff_token(g_db, atoll(id));
    char url[256], auth[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/stats?unit=430121-101&from=2026-06-01&to=2026-06-30", g_http);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok);
    const char *hdr[] = {auth, NULL};
    h_resp_t r;
    assert_true(h_http("GET", url, hdr, NULL, 0, &r));
    assert_int_equal(r.status, 200);
    json_error_t je;
    json_t *j = json_loads(buf_str(&r.body), 0, &je);
    assert_non_null(j);
    json_t *total = json_object_get(j, "total");
    *rated = json_integer_value(json_object_get(total, "rated"));
    *satisfied = json_integer_value(json_object_get(total, "satisfied"));
    json_decref(j);
    h_resp_free(&r);
    free(tok);
    free(id);
}

static void sms_uplink_1_closes_a_resolved_ticket_as_satisfied_and_the_stats_show_it(void **state)
{
    (void)state;
    char code[40];
    file_resolved("13900008810", 3, code);
    long long rated0, satisfied0;
    stats(&rated0, &satisfied0);
    /* another number's 1 rates nothing: the sender never names the ticket */
    char *other = aliyun_up("13900008811", "1", HOUR_AGO_CST, 880100);
    answer_t a = push("/channels/sms/aliyun/up", other);
    expect_ok(&a, true, "another number's 1");
    char *s = state_of(code);
    assert_string_equal(s, "resolved/");
    free(s);
    /* the reporter's 1, pushed three times */
    char *mine = aliyun_up("8613900008810", "1", HOUR_AGO_CST, 880101);
    for (int i = 0; i < 3; i++) {
        a = push("/channels/sms/aliyun/up", mine);
        expect_ok(&a, true, "the reporter's 1");
    }
    s = state_of(code);
    assert_string_equal(s, "closed/satisfied");
    free(s);
    const char *p[] = {code};
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM router.command WHERE request->>'ticket' = $1"
                                     " AND request->>'proof' = 'sms_uplink'", 1, p), 1);
    long long rated1, satisfied1;
    stats(&rated1, &satisfied1);
    assert_int_equal(rated1, rated0 + 1);
    assert_int_equal(satisfied1, satisfied0 + 1);
    /* a 3 afterwards changes nothing: it is rated */
    char *again = aliyun_up("13900008810", "3", NOW_CST, 880102);
    a = push("/channels/sms/aliyun/up", again);
    expect_ok(&a, true, "a second rating");
    s = state_of(code);
    assert_string_equal(s, "closed/satisfied");
    free(s);
    assert_int_equal(count("SELECT count(*) FROM intake.channel_inbox WHERE action LIKE 'none: %' AND kind = 'uplink'"
                           " AND sender = '13900008811'"), 1);
    free(other);
    free(mine);
    free(again);
}

static void tencent_uplink_rates_in_words_and_free_text_is_only_recorded(void **state)
{
    (void)state;
    char code[40];
    file_resolved("13900008812", 5, code);
    long long tickets = count("SELECT count(*) FROM intake.ticket");
    char *text = tencent_up("13900008812", "路灯又坏了", NOW_UNIX - 120);
    answer_t a = push("/channels/sms/tencent/up", text);
    expect_ok(&a, false, "free text");
    assert_int_equal(count("SELECT count(*) FROM intake.ticket"), tickets);
    char *s = state_of(code);
    assert_string_equal(s, "resolved/");
    free(s);
    char *word = tencent_up("13900008812", "基本满意", NOW_UNIX - 60);
    for (int i = 0; i < 2; i++) {
        a = push("/channels/sms/tencent/up", word);
        expect_ok(&a, false, "基本满意");
    }
    s = state_of(code);
    assert_string_equal(s, "closed/basic");
    free(s);
    free(text);
    free(word);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(channels_refuse_forged_and_bad_pushes_and_change_nothing),
        cmocka_unit_test(without_a_token_configured_the_channels_are_off),
        cmocka_unit_test(td_opts_out_once),
        cmocka_unit_test(reports_become_receipts_once),
        cmocka_unit_test(sms_uplink_1_closes_a_resolved_ticket_as_satisfied_and_the_stats_show_it),
        cmocka_unit_test(tencent_uplink_rates_in_words_and_free_text_is_only_recorded),
    };
    return cmocka_run_group_tests_name("channels_sms", tests, setup, teardown);
}
