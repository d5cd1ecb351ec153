/* Issue 12's end-to-end scenario, on the whole suite: intake (with its /channels/... inbound),
 * the router and notify run as processes, notify sends to the fake providers
 * (tests/fakes/providers.py) with real credentials and real signatures, all on one injected clock
 * (Mon 2026-06-15 09:00 in the county: outside quiet hours).
 *   - An Open311 POST with a phone: the received SMS reaches Aliyun with the code (OutId = the
 *     message id); the handler resolves through intake's API; the resolved SMS; the resident
 *     replies 1 by the Aliyun uplink; the ticket is closed as 满意, the closure-rate API counts it
 *     and the resident is told it is closed, once.
 *   - Aliyun delivery reports name notify's message by out_id: delivered, failed; a re-push
 *     changes nothing.
 *   - TD by uplink: the next ordinary SMS to the number is a dead letter (opted_out); an urgent
 *     one (a verification code) still goes.
 *   - WeChat binding: subscribe, the phone, the code by SMS (read at the fake), the code back by
 *     WeChat: bound; the next message goes by WeChat template (client_msg_id = message id), and
 *     with WeChat answering 43004 (not following) it falls back to SMS. */
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
#include <time.h>
#include <unistd.h>

#include "fakes.h"
#include "harness.h"
#include "wxcrypt.h"

#define SMS_TOKEN "e2e-sms-token-7d21"
#define WX_TOKEN "e2eWxToken"
#define WX_ACCOUNT "gh_gridgov0e2e01"
#define NOW_UNIX 1781485200LL          /* 2026-06-15T01:00:00Z */
#define MINUTE_AGO_CST "2026-06-15 08:59:00" /* the providers' pushes carry China time */
#define NOW_CST "2026-06-15 09:00:00"

static pid_t g_intake, g_router, g_notify;
static h_fake_t g_fake;
static PGconn *g_db;
static char g_key[80], g_clock[1024], g_notify_log[1024];
static int g_http;
static long long g_msgid = 8100000000000000LL;
static long long g_now = NOW_UNIX;

/* The injected clock moves a second: what notify put off for a moment (a message waiting for
 * the access token it is fetching) comes due. The daemons and the fake read the same file. */
static void tick(void)
{
    char iso[32];
    time_t t = (time_t)++g_now;
    struct tm tm;
    gmtime_r(&t, &tm);
    strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
    h_set_clock(g_clock, iso);
}

static int setup(void **state)
{
    (void)state;
    g_db = h_db();
    char *k = h_api_key(g_db);
    snprintf(g_key, sizeof g_key, "%s", k);
    free(k);
    snprintf(g_clock, sizeof g_clock, "%s/clock-notify-scenario", h_env("GRIDGOV_TEST_VAR"));
    h_set_clock(g_clock, "2026-06-15T01:00:00Z");
    h_fake_start(&g_fake, h_port(484), NULL, g_clock);
    /* The templates approved at the providers are the ones notify.template names: the fake
     * refuses any other code, parameter or WeChat field, and renders the SMS as the phone shows it. */
    char *strict = h_sql_text(g_db,
                              "SELECT jsonb_build_object("
                              " 'aliyun', jsonb_build_object('templates', (SELECT jsonb_object_agg(aliyun_code,"
                              "   jsonb_build_object('params', to_jsonb(sms_params),"
                              "    'text', regexp_replace(body, '[{]([a-z_]+)[}]', '${\\1}', 'g')))"
                              "   FROM notify.template WHERE aliyun_code IS NOT NULL)),"
                              " 'wechat', jsonb_build_object('templates', (SELECT jsonb_object_agg(wechat_template_id,"
                              "   (SELECT jsonb_agg(k ORDER BY k) FROM jsonb_object_keys(wechat_fields) k))"
                              "   FROM notify.template WHERE wechat_template_id IS NOT NULL)))::text",
                              0, NULL);
    if (!h_fake_config(&g_fake, strict))
        fail_msg("the fake refused the templates %s", strict);
    free(strict);
    static char clock_env[1100], router_ep[96];
    snprintf(clock_env, sizeof clock_env, "GRIDGOV_CLOCK_FILE=%s", g_clock);
    snprintf(router_ep, sizeof router_ep, "GRIDGOV_ROUTER_ENDPOINT=tcp://127.0.0.1:%d", h_port(482));
    const char *ienv[] = {clock_env, router_ep, "GRIDGOV_SMS_CALLBACK_TOKEN=" SMS_TOKEN, "GRIDGOV_WECHAT_TOKEN=" WX_TOKEN,
                          "GRIDGOV_WECHAT_ACCOUNT=" WX_ACCOUNT, NULL};
    const char *renv[] = {clock_env, "GRIDGOV_TICK_MS=50", NULL};
    g_http = h_port(480);
    g_intake = h_start_intake(g_http, h_port(481), ienv);
    g_router = h_start_router(h_port(482), h_port(481), renv);
    const char *env[24];
    int n = 0;
    for (const char *const *e = h_fake_notify_env(&g_fake); *e; e++)
        env[n++] = *e;
    env[n++] = clock_env;
    env[n++] = "GRIDGOV_SWEEP_MS=50";
    env[n++] = "GRIDGOV_SMS_PROVIDERS=aliyun,tencent";
    env[n] = NULL;
    g_notify = h_start_notify(h_port(481), h_port(483), env, g_notify_log, sizeof g_notify_log);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int s0 = h_stop(g_notify, SIGTERM), s1 = h_stop(g_router, SIGTERM), s2 = h_stop(g_intake, SIGTERM);
    h_fake_stop(&g_fake);
    PQfinish(g_db);
    bool ok = true;
    int s[] = {s0, s1, s2};
    for (int i = 0; i < 3; i++)
        ok = ok && WIFEXITED(s[i]) && WEXITSTATUS(s[i]) == 0;
    return ok ? 0 : -1;
}

/* ---- helpers ---- */

static long long count1(const char *sql, const char *a)
{
    const char *p[] = {a};
    return h_sql_int(g_db, sql, a ? 1 : 0, p);
}

static char *text1(const char *sql, const char *a)
{
    const char *p[] = {a};
    return h_sql_text(g_db, sql, a ? 1 : 0, p);
}

static void wait_sql(const char *sql, const char *a, long long want, const char *what)
{
    const char *p[] = {a};
    if (!h_wait_sql(g_db, sql, a ? 1 : 0, p, want, 20000)) {
        const char *p2[] = {a};
        fail_msg("%s: %lld, expected %lld (notify's log: %s)", what, h_sql_int(g_db, sql, a ? 1 : 0, p2), want,
                 g_notify_log);
    }
}

/* A point inside the n-th group of township 430121-101, as form fields lat=..&long=.. */
static void point(int n, char *out, size_t outsz, bool json)
{
    char off[16];
    snprintf(off, sizeof off, "%d", n);
    const char *p[] = {off, json ? "t" : "f"};
    char *s = h_sql_text(g_db,
                         "SELECT CASE WHEN $2::boolean THEN format('\"lat\":%s,\"long\":%s', y, x)"
                         " ELSE format('lat=%s&long=%s', y, x) END"
                         " FROM (SELECT round(ST_Y(p)::numeric, 7) y, round(ST_X(p)::numeric, 7) x FROM"
                         " (SELECT ST_PointOnSurface(boundary) p FROM registry.unit WHERE level = 'group'"
                         " AND code LIKE '430121-101-%' ORDER BY id OFFSET $1::int LIMIT 1) a) b",
                         2, p);
    snprintf(out, outsz, "%s", s);
    free(s);
}

/* The rating code the last Open311 POST answered with. */
static char g_rating_code[16];

/* An Open311 POST (form) with this phone; returns the public code (caller frees). */
static char *open311_post(const char *phone, int place)
{
    char pt[96], form[512], url[256];
    point(place, pt, sizeof pt, false);
    snprintf(form, sizeof form, "api_key=%s&service_code=POLICY&%s&phone=%s&description=%%E8%%A1%%A5%%E8%%B4%%B4",
             g_key, pt, phone);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/open311/v2/requests.json", g_http);
    const char *hdr[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    h_resp_t r;
    assert_true(h_http("POST", url, hdr, form, strlen(form), &r));
    if (r.status != 200)
        fail_msg("Open311 POST answered %ld %s", r.status, buf_str(&r.body));
    json_error_t je;
    json_t *j = json_loads(buf_str(&r.body), 0, &je);
    const char *id = json_string_value(json_object_get(json_array_get(j, 0), "service_request_id"));
    assert_non_null(id);
    char *code = strdup(id);
    const char *rc = json_string_value(json_object_get(json_array_get(j, 0), "rating_code"));
    snprintf(g_rating_code, sizeof g_rating_code, "%s", rc ? rc : "");
    json_decref(j);
    h_resp_free(&r);
    assert_true(h_wait_routed(g_db, code, 20000));
    return code;
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

static void accept_and_resolve(const char *code, const char *note_json)
{
    char *id = text1("SELECT assignee_id FROM router.ticket WHERE code = $1", code);
    assert_true(*id);
    char *tok = h_staff_token(g_db, atoll(id));
    assert_int_equal(staff_act(code, "accept", tok, ""), 200);
    assert_int_equal(staff_act(code, "resolve", tok, note_json), 200);
    free(tok);
    free(id);
}

/* A push to /channels/sms/aliyun/{up,report} with the token; expects Aliyun's "received". */
static void aliyun_push(const char *what, const char *body)
{
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/channels/sms/aliyun/%s?token=%s", g_http, what, SMS_TOKEN);
    const char *hdr[] = {"Content-Type: application/json", NULL};
    h_resp_t r;
    assert_true(h_http("POST", url, hdr, body, strlen(body), &r));
    if (r.status != 200 || strcmp(buf_str(&r.body), "{\"code\":0,\"msg\":\"接收成功\"}"))
        fail_msg("aliyun %s answered %ld %s", what, r.status, buf_str(&r.body));
    h_resp_free(&r);
}

static void aliyun_uplink(const char *phone, const char *content)
{
    json_t *j = json_pack("[{s:s,s:s,s:s,s:s,s:s,s:I}]", "phone_number", phone, "send_time", MINUTE_AGO_CST, "content",
                          content, "sign_name", H_FAKE_SMS_SIGN_NAME, "dest_code", "1234", "sequence_id",
                          (json_int_t)++g_msgid);
    char *s = json_dumps(j, JSON_COMPACT);
    aliyun_push("up", s);
    free(s);
    json_decref(j);
}

/* The one message of a template to this ticket's reporter: its id (caller frees). */
static char *message_id(const char *code, const char *tpl)
{
    const char *p[] = {code, tpl};
    char sql[] = "SELECT count(*) FROM notify.message m JOIN intake.ticket t ON t.id = m.ticket_id"
                 " WHERE t.code = $1 AND m.template_key = $2 AND m.audience = 'reporter'";
    if (!h_wait_sql(g_db, sql, 2, p, 1, 20000))
        fail_msg("ticket %s: %lld %s messages, expected 1", code, h_sql_int(g_db, sql, 2, p), tpl);
    return h_sql_text(g_db,
                      "SELECT m.id::text FROM notify.message m JOIN intake.ticket t ON t.id = m.ticket_id"
                      " WHERE t.code = $1 AND m.template_key = $2 AND m.audience = 'reporter'",
                      2, p);
}

static char *msg_field(const char *id, const char *col_expr)
{
    char sql[256];
    snprintf(sql, sizeof sql, "SELECT coalesce((%s)::text, '') FROM notify.message WHERE id = $1::uuid", col_expr);
    return text1(sql, id);
}

static void wait_state(const char *id, const char *state)
{
    char sql[] = "SELECT count(*) FROM notify.message WHERE id = $1::uuid AND state = $2";
    const char *p[] = {id, state};
    if (!h_wait_sql(g_db, sql, 2, p, 1, 20000)) {
        char *s = msg_field(id, "state || ' ' || coalesce(last_code, '') || ' ' || coalesce(last_error, '')");
        fail_msg("message %s is \"%s\", expected %s (notify's log: %s)", id, s, state, g_notify_log);
    }
}

/* What the fake's provider accepted under this provider key (the message id), or NULL. The
 * record is a new reference (json_decref). */
static json_t *fake_record(const char *provider, const char *key)
{
    json_t *all = h_fake_sent(&g_fake, provider), *found = NULL;
    size_t i;
    json_t *r;
    json_array_foreach(all, i, r)
    {
        if (json_is_string(json_object_get(r, "key")) && !strcmp(json_string_value(json_object_get(r, "key")), key)) {
            if (found)
                fail_msg("%s accepted message %s twice", provider, key);
            found = json_incref(r);
        }
    }
    json_decref(all);
    return found;
}

static json_t *wait_fake_record(const char *provider, const char *key)
{
    for (int i = 0; i < 400; i++) {
        json_t *r = fake_record(provider, key);
        if (r)
            return r;
        usleep(50 * 1000);
        if (i % 20 == 19)
            tick();
    }
    const char *p[] = {key};
    char *row = h_sql_text(g_db,
                           "SELECT coalesce(max(state || ' ' || channel || ' ' || attempts || ' ' || coalesce(last_code, '')"
                           " || ' ' || coalesce(last_error, '') || ' ' || due_at), 'none') FROM notify.message"
                           " WHERE id = $1::uuid", 1, p);
    json_t *calls = h_fake_calls(&g_fake, provider);
    char *c = json_dumps(calls, JSON_COMPACT);
    fail_msg("%s never accepted message %s, which is %s; its calls: %.3000s (notify's log: %s)", provider, key, row, c,
             g_notify_log);
    return NULL;
}

static const char *jstr(const json_t *o, const char *k)
{
    const char *s = json_string_value(json_object_get(o, k));
    return s ? s : "";
}

/* The first number (or openid) a record was sent to. */
static const char *to0(const json_t *rec)
{
    const char *s = json_string_value(json_array_get(json_object_get(rec, "to"), 0));
    return s ? s : "";
}

/* An SMS at the fake: the number, the template code, a parameter */
static void expect_sms(const json_t *rec, const char *phone, const char *tpl, const char *param, const char *value)
{
    assert_string_equal(to0(rec), phone);
    assert_string_equal(jstr(rec, "template"), tpl);
    assert_string_equal(jstr(rec, "sign_name"), H_FAKE_SMS_SIGN_NAME);
    if (param)
        assert_string_equal(jstr(json_object_get(rec, "params"), param), value);
}

static void stats(long long *rated, long long *satisfied)
{
    char *id = text1("SELECT id FROM registry.staff WHERE role = 'operator' ORDER BY id LIMIT 1", NULL);
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

/* ---- 1. the scenario ---- */

#define P1 "13900021001"
static char g_received_id[40], g_resolved_id[40], g_received_biz[80], g_resolved_biz[80];

static void open311_post_to_closed_as_satisfied_by_sms_uplink(void **state)
{
    (void)state;
    long long rated0, satisfied0;
    stats(&rated0, &satisfied0);
    char *code = open311_post(P1, 2);
    char rating_code[16];
    snprintf(rating_code, sizeof rating_code, "%s", g_rating_code);

    /* received: at Aliyun with the public code, OutId = notify's message id */
    char *id = message_id(code, "resident_received");
    snprintf(g_received_id, sizeof g_received_id, "%s", id);
    json_t *rec = wait_fake_record("aliyun", id);
    expect_sms(rec, P1, "SMS_480100001", "code", code);
    assert_non_null(strstr(jstr(rec, "text"), code));
    snprintf(g_received_biz, sizeof g_received_biz, "%s", jstr(rec, "id"));
    json_decref(rec);
    wait_state(id, "sent");
    char *m = msg_field(id, "channel || ' ' || provider || ' ' || provider_msgid");
    char want[160];
    snprintf(want, sizeof want, "sms aliyun %s", g_received_biz);
    assert_string_equal(m, want);
    free(m);
    free(id);

    /* the handler accepts and resolves through intake's API */
    accept_and_resolve(code, "{\"note\":\"已答复补贴政策\"}");
    id = message_id(code, "resident_resolved");
    snprintf(g_resolved_id, sizeof g_resolved_id, "%s", id);
    rec = wait_fake_record("aliyun", id);
    expect_sms(rec, P1, "SMS_480100004", "code", code);
    assert_string_equal(jstr(json_object_get(rec, "params"), "note"), "已答复补贴政策");
    /* it says how to rate by reply; the rating code stays the Open311 client's (README, WIRE.md) */
    assert_non_null(strstr(jstr(rec, "text"), "请回复1满意、2基本满意、3不满意"));
    assert_int_equal(strlen(rating_code), 10);
    assert_null(strstr(jstr(rec, "text"), rating_code));
    snprintf(g_resolved_biz, sizeof g_resolved_biz, "%s", jstr(rec, "id"));
    json_decref(rec);
    free(id);

    /* the resident replies 1 by SMS */
    aliyun_uplink("86" P1, "1");
    char *s = text1("SELECT state || '/' || coalesce(rating, '') FROM router.ticket WHERE code = $1", code);
    assert_string_equal(s, "closed/satisfied");
    free(s);
    assert_int_equal(count1("SELECT count(*) FROM router.command WHERE request->>'ticket' = $1"
                            " AND request->>'proof' = 'sms_uplink'", code), 1);
    long long rated1, satisfied1;
    stats(&rated1, &satisfied1);
    assert_int_equal(rated1, rated0 + 1);
    assert_int_equal(satisfied1, satisfied0 + 1);

    /* told it is closed: once, though the rating is both a rating and a closure */
    id = message_id(code, "resident_closed");
    rec = wait_fake_record("aliyun", id);
    expect_sms(rec, P1, "SMS_480100006", "code", code);
    json_decref(rec);
    usleep(500 * 1000); /* a second closed message would be planned by now */
    assert_int_equal(count1("SELECT count(*) FROM notify.message m JOIN intake.ticket t ON t.id = m.ticket_id"
                            " WHERE t.code = $1 AND m.template_key = 'resident_closed'", code), 1);
    /* the resident got received, assigned, resolved, closed: four SMS, nothing twice */
    json_t *all = h_fake_sent(&g_fake, "aliyun");
    size_t i, n = 0;
    json_array_foreach(all, i, rec)
    {
        if (!strcmp(to0(rec), P1))
            n++;
    }
    json_decref(all);
    assert_int_equal(n, 4);
    free(id);
    free(code);
}

/* ---- 2. delivery receipts ---- */

static char *aliyun_report(const char *out_id, const char *biz_id, bool success, const char *code, const char *at)
{
    json_t *j = json_pack("[{s:s,s:s,s:s,s:b,s:s,s:s,s:s,s:s,s:s}]", "phone_number", P1, "send_time", MINUTE_AGO_CST,
                          "report_time", at, "success", success, "err_code", code, "err_msg",
                          success ? "用户接收成功" : "用户关机", "sms_size", "1", "biz_id", biz_id, "out_id", out_id);
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

static void aliyun_reports_mark_messages_delivered_or_failed_once(void **state)
{
    (void)state;
    if (!g_resolved_biz[0])
        skip(); /* the scenario before did not get that far */
    wait_state(g_received_id, "sent");
    wait_state(g_resolved_id, "sent");
    char *ok = aliyun_report(g_received_id, g_received_biz, true, "DELIVERED", NOW_CST);
    char *bad = aliyun_report(g_resolved_id, g_resolved_biz, false, "MK:0001", NOW_CST);
    aliyun_push("report", ok);
    aliyun_push("report", bad);
    wait_state(g_received_id, "delivered");
    wait_state(g_resolved_id, "failed");
    char *m = msg_field(g_received_id, "last_code || ' ' || to_char(receipt_at AT TIME ZONE 'UTC', 'HH24:MI')");
    assert_string_equal(m, "DELIVERED 01:00");
    free(m);
    m = msg_field(g_resolved_id, "last_code");
    assert_string_equal(m, "MK:0001");
    free(m);
    /* the provider pushes again: intake takes nothing new, nothing changes */
    long long receipts = count1("SELECT count(*) FROM bus.outbox WHERE type = 'channel.receipt'", NULL);
    char *before = text1("SELECT string_agg(id || state || coalesce(last_code, '') || receipt_at, ',' ORDER BY id)"
                         " FROM notify.message WHERE state IN ('delivered', 'failed')", NULL);
    aliyun_push("report", ok);
    aliyun_push("report", bad);
    usleep(500 * 1000);
    assert_int_equal(count1("SELECT count(*) FROM bus.outbox WHERE type = 'channel.receipt'", NULL), receipts);
    char *after = text1("SELECT string_agg(id || state || coalesce(last_code, '') || receipt_at, ',' ORDER BY id)"
                        " FROM notify.message WHERE state IN ('delivered', 'failed')", NULL);
    assert_string_equal(after, before);
    free(before);
    free(after);
    /* a report naming a message that does not exist changes nothing either */
    char *ghost = aliyun_report("0b5b6f3e-1d1c-4c8e-9a51-7c1f2e3d4a5b", "999999999^0", true, "DELIVERED", NOW_CST);
    long long delivered = count1("SELECT count(*) FROM notify.message WHERE state = 'delivered'", NULL);
    aliyun_push("report", ghost);
    wait_sql("SELECT count(*) FROM bus.outbox WHERE type = 'channel.receipt'", NULL, receipts + 1, "the ghost's receipt");
    usleep(500 * 1000);
    assert_int_equal(count1("SELECT count(*) FROM notify.message WHERE state = 'delivered'", NULL), delivered);
    free(ghost);
    free(ok);
    free(bad);
}

/* ---- 3. TD ---- */

#define P3 "13900021003"

/* The WeChat side, plain mode: a signed push from openid; returns the passive reply's body
 * (caller frees). */
static char *wechat_push(const char *xml)
{
    char ts[24], sig[WXC_SIG_HEX], url[512];
    snprintf(ts, sizeof ts, "%lld", g_now);
    wxc_signature(WX_TOKEN, ts, "20260615", NULL, sig);
    snprintf(url, sizeof url, "http://127.0.0.1:%d/channels/wechat?timestamp=%s&nonce=20260615&signature=%s", g_http, ts,
             sig);
    const char *hdr[] = {"Content-Type: text/xml", NULL};
    h_resp_t r;
    assert_true(h_http("POST", url, hdr, xml, strlen(xml), &r));
    if (r.status != 200)
        fail_msg("/channels/wechat answered %ld %s", r.status, buf_str(&r.body));
    char *b = strdup(buf_str(&r.body));
    h_resp_free(&r);
    return b;
}

static char *wechat_say(const char *openid, const char *text)
{
    char xml[1024];
    snprintf(xml, sizeof xml,
             "<xml><ToUserName><![CDATA[" WX_ACCOUNT "]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName>"
             "<CreateTime>%lld</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[%s]]></Content>"
             "<MsgId>%lld</MsgId></xml>",
             openid, g_now, text, ++g_msgid);
    return wechat_push(xml);
}

/* A binding asked for by openid for phone: the verification SMS at the fake; returns the code
 * it carried (caller frees). */
static char *ask_binding(const char *openid, const char *phone)
{
    long long ev = count1("SELECT count(*) FROM bus.outbox WHERE type = 'channel.verify_requested'", NULL);
    char *reply = wechat_say(openid, phone);
    if (!strstr(reply, "验证码已通过短信发送"))
        fail_msg("the phone number was answered %s", reply);
    free(reply);
    wait_sql("SELECT count(*) FROM bus.outbox WHERE type = 'channel.verify_requested'", NULL, ev + 1, "verify_requested");
    char *rid = text1("SELECT data->>'request_id' FROM bus.outbox WHERE type = 'channel.verify_requested'"
                      " ORDER BY seq DESC LIMIT 1", NULL);
    char *id = NULL;
    const char *p[] = {rid};
    if (!h_wait_sql(g_db, "SELECT count(*) FROM notify.message WHERE template_key = 'verify_code'"
                          " AND dedup_key LIKE '%/request:' || $1", 1, p, 1, 20000))
        fail_msg("notify planned no verification SMS for request %s (log: %s)", rid, g_notify_log);
    id = text1("SELECT id::text FROM notify.message WHERE template_key = 'verify_code' AND dedup_key LIKE '%/request:' || $1",
               rid);
    json_t *rec = wait_fake_record("aliyun", id);
    expect_sms(rec, phone, "SMS_480100008", NULL, NULL);
    char *code = strdup(jstr(json_object_get(rec, "params"), "vcode"));
    assert_int_equal(strlen(code), 6);
    assert_non_null(strstr(jstr(rec, "text"), code));
    json_decref(rec);
    free(id);
    free(rid);
    return code;
}

static void td_stops_ordinary_sms_but_not_urgent_ones(void **state)
{
    (void)state;
    aliyun_uplink(P3, "TD");
    assert_int_equal(count1("SELECT count(*) FROM intake.sms_opt_out WHERE phone = $1", P3), 1);
    char *code = open311_post(P3, 4);
    char *id = message_id(code, "resident_received");
    wait_state(id, "dead");
    assert_int_equal(count1("SELECT count(*) FROM notify.dead_letter WHERE message_id = $1::uuid AND code = 'opted_out'", id),
                     1);
    char *assigned = message_id(code, "resident_assigned");
    wait_state(assigned, "dead");
    /* nothing reached a provider for the number */
    json_t *all = h_fake_calls(&g_fake, NULL);
    size_t i;
    json_t *c;
    json_array_foreach(all, i, c)
    {
        char *req = json_dumps(json_object_get(c, "request"), 0);
        if (req && strstr(req, P3))
            fail_msg("a provider was called for the opted-out number: %s", req);
        free(req);
    }
    json_decref(all);
    /* a verification code is urgent: it reaches the number all the same */
    char *vcode = ask_binding("oE2eOptedOut00000000000000001", P3);
    free(vcode);
    free(assigned);
    free(id);
    free(code);
}

/* ---- 4. WeChat binding ---- */

#define P4 "13900021004"
#define OPENID "oE2eResident0000000000000001" /* 28 characters, as WeChat's */

static void wechat_binding_then_template_messages_falling_back_to_sms(void **state)
{
    (void)state;
    char xml[1024];
    snprintf(xml, sizeof xml,
             "<xml><ToUserName><![CDATA[" WX_ACCOUNT "]]></ToUserName><FromUserName><![CDATA[" OPENID "]]></FromUserName>"
             "<CreateTime>%lld</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[subscribe]]></Event></xml>",
             g_now);
    char *reply = wechat_push(xml);
    assert_non_null(strstr(reply, "手机号码"));
    free(reply);
    char *vcode = ask_binding(OPENID, P4);
    reply = wechat_say(OPENID, vcode);
    if (!strstr(reply, "绑定成功"))
        fail_msg("the code %s was answered %s", vcode, reply);
    free(reply);
    free(vcode);
    assert_int_equal(count1("SELECT count(*) FROM intake.wechat_binding WHERE openid = '" OPENID "' AND phone = $1", P4), 1);

    /* the next message to the phone goes by WeChat template, client_msg_id = the message id */
    char *code = open311_post(P4, 6);
    char *id = message_id(code, "resident_received");
    json_t *rec = wait_fake_record("wechat", id);
    assert_string_equal(jstr(rec, "openid"), OPENID);
    assert_string_equal(jstr(rec, "template"), "Gg8RcvTplDemoCounty0000000000000000000001");
    assert_string_equal(jstr(json_object_get(rec, "params"), "character_string1"), code);
    char wx_msgid[40];
    snprintf(wx_msgid, sizeof wx_msgid, "%s", jstr(rec, "id"));
    json_decref(rec);
    wait_state(id, "sent");
    char *m = msg_field(id, "channel || ' ' || address || ' ' || fallback_phone || ' ' || provider || ' ' || provider_msgid");
    char want[200];
    snprintf(want, sizeof want, "wechat " OPENID " " P4 " wechat %s", wx_msgid);
    assert_string_equal(m, want);
    free(m);
    /* WeChat's TEMPLATESENDJOBFINISH names the msgid it answered: the message is delivered */
    snprintf(xml, sizeof xml,
             "<xml><ToUserName><![CDATA[" WX_ACCOUNT "]]></ToUserName><FromUserName><![CDATA[" OPENID "]]></FromUserName>"
             "<CreateTime>%lld</CreateTime><MsgType><![CDATA[event]]></MsgType>"
             "<Event><![CDATA[TEMPLATESENDJOBFINISH]]></Event><MsgID>%s</MsgID><Status><![CDATA[success]]></Status></xml>",
             g_now, wx_msgid);
    reply = wechat_push(xml);
    assert_string_equal(reply, "success");
    free(reply);
    wait_state(id, "delivered");
    char *assigned = message_id(code, "resident_assigned");
    wait_state(assigned, "sent");

    /* WeChat: not following (43004): the message falls back to SMS to the phone, same id */
    assert_true(h_fake_fail(&g_fake, "wechat", "code", 0, "43004", 0));
    accept_and_resolve(code, "{\"note\":\"已按政策办理\"}");
    char *resolved = message_id(code, "resident_resolved");
    rec = wait_fake_record("aliyun", resolved);
    expect_sms(rec, P4, "SMS_480100004", "code", code);
    json_decref(rec);
    assert_true(h_fake_clear(&g_fake, "wechat"));
    wait_state(resolved, "sent");
    m = msg_field(resolved, "channel || ' ' || address || ' ' || coalesce(fallback_phone, '-') || ' ' || provider");
    assert_string_equal(m, "sms " P4 " - aliyun");
    free(m);
    assert_int_equal(count1("SELECT count(*) FROM notify.attempt WHERE message_id = $1::uuid AND provider = 'wechat'"
                            " AND code = '43004'", resolved), 1);
    rec = fake_record("wechat", resolved);
    assert_null(rec);
    free(resolved);
    free(assigned);
    free(id);
    free(code);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(open311_post_to_closed_as_satisfied_by_sms_uplink),
        cmocka_unit_test(aliyun_reports_mark_messages_delivered_or_failed_once),
        cmocka_unit_test(td_stops_ordinary_sms_but_not_urgent_ones),
        cmocka_unit_test(wechat_binding_then_template_messages_falling_back_to_sms),
    };
    return cmocka_run_group_tests_name("notify_scenario", tests, setup, teardown);
}
