/* Who is told what (notify's plans, issue 12), on the real suite: intake and the router run, a
 * ticket goes through its life by the API and the router's clocks, and notify's planner
 * (plan_on_event, as the consumer "notify" calls it: in a transaction) reads each event the
 * ticket caused from bus.outbox. The rows it plans in notify.message are checked: audience,
 * channel, address, template, what the text says; that a replayed event plans nothing twice;
 * that the reporters of duplicates are told the outcome; that a resident bound on WeChat gets
 * WeChat with their phone to fall back on; staff by WeCom or SMS, the duty group by its robot;
 * and the daily digest on the injected clock. */
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

#include "db_tx.h"
#include "gclock.h"
#include "harness.h"
#include "services/notify/digest.h"
#include "services/notify/plan.h"
#include "timefmt.h"
#include "uuid.h"

static pid_t g_intake, g_router;
static PGconn *g_db;
static char g_key[80], g_clock[1024];
static int g_http;

static int setup(void **state)
{
    (void)state;
    g_db = h_db();
    char *k = h_api_key(g_db);
    snprintf(g_key, sizeof g_key, "%s", k);
    free(k);
    snprintf(g_clock, sizeof g_clock, "%s/clock-notify-plans", h_env("GRIDGOV_TEST_VAR"));
    h_set_clock(g_clock, "2026-06-01T01:00:00Z"); /* Monday 09:00 in the county */
    static char clock_env[1100];
    snprintf(clock_env, sizeof clock_env, "GRIDGOV_CLOCK_FILE=%s", g_clock);
    static char router_ep[96];
    snprintf(router_ep, sizeof router_ep, "GRIDGOV_ROUTER_ENDPOINT=tcp://127.0.0.1:%d", h_port(62));
    const char *ienv[] = {clock_env, router_ep, NULL};
    const char *renv[] = {clock_env, "GRIDGOV_TICK_MS=50", NULL};
    g_http = h_port(60);
    g_intake = h_start_intake(g_http, h_port(61), ienv);
    g_router = h_start_router(h_port(62), h_port(61), renv);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int s1 = h_stop(g_router, SIGTERM), s2 = h_stop(g_intake, SIGTERM);
    PQfinish(g_db);
    return WIFEXITED(s1) && WEXITSTATUS(s1) == 0 && WIFEXITED(s2) && WEXITSTATUS(s2) == 0 ? 0 : -1;
}

/* ---- helpers -------------------------------------------------------------------------------- */

static void set_clocks(const char *iso)
{
    h_set_clock(g_clock, iso);
    int64_t us;
    assert_true(timefmt_parse(iso, &us));
    gclock_set(us);
}

static char *sql1(const char *sql, const char *a)
{
    const char *p[] = {a};
    return h_sql_text(g_db, sql, 1, p);
}

static long long count2(const char *sql, const char *a, const char *b)
{
    const char *p[] = {a, b};
    return h_sql_int(g_db, sql, b ? 2 : 1, p);
}

static char *file_ticket(const char *json_body, char rating_code[16])
{
    char code[40];
    assert_true(h_post_ticket_rc(g_http, g_key, json_body, code, rating_code));
    assert_true(h_wait_routed(g_db, code, 20000));
    return strdup(code);
}

static long act(const char *code, const char *action, const char *token, const char *json)
{
    char url[256], auth[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/tickets/%s/actions/%s", g_http, code, action);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    const char *hdr[] = {"Content-Type: application/json", auth, NULL};
    h_resp_t r;
    const char *b = json ? json : "";
    assert_true(h_http("POST", url, hdr, b, strlen(b), &r));
    long st = r.status;
    h_resp_free(&r);
    return st;
}

static long rate(const char *code, const char *rating, const char *rating_code)
{
    char url[256], key[128], json[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/tickets/%s/rating", g_http, code);
    snprintf(key, sizeof key, "X-API-Key: %s", g_key);
    snprintf(json, sizeof json, "{\"rating\":\"%s\",\"rating_code\":\"%s\"}", rating, rating_code);
    const char *hdr[] = {"Content-Type: application/json", key, NULL};
    h_resp_t r;
    assert_true(h_http("POST", url, hdr, json, strlen(json), &r));
    long st = r.status;
    h_resp_free(&r);
    return st;
}

static char *token_of_assignee(const char *code)
{
    char *id = sql1("SELECT assignee_id FROM router.ticket WHERE code = $1", code);
    assert_true(*id);
    char *t = h_staff_token(g_db, atoll(id));
    free(id);
    return t;
}

/* A point inside the n-th group of a township, as JSON members "lat":..,"long":.. */
static char *point(const char *township_code, int n)
{
    char off[16];
    snprintf(off, sizeof off, "%d", n);
    const char *p[] = {township_code, off};
    return h_sql_text(g_db,
                      "SELECT format('\"lat\":%s,\"long\":%s', round(ST_Y(p)::numeric, 7), round(ST_X(p)::numeric, 7))"
                      " FROM (SELECT ST_PointOnSurface(boundary) p FROM registry.unit WHERE level = 'group'"
                      " AND code LIKE $1 || '-%' ORDER BY id OFFSET $2::int LIMIT 1) x",
                      2, p);
}

/* Waits until the ticket has an event of this type. */
static void wait_event(const char *code, const char *type)
{
    const char *p[] = {code, type};
    if (!h_wait_sql(g_db, "SELECT count(*) FROM bus.outbox WHERE data->>'code' = $1 AND type = $2", 2, p, 1, 20000))
        fail_msg("ticket %s never had a %s event", code, type);
}

/* What the consumer "notify" does with each event: plan_on_event in a transaction. Here on every
 * event that names the ticket (its own, and outcomes that list it as a follower), in commit
 * order, as often as the test asks: events planned before are replays. Returns the messages
 * written. */
static long long plan_ticket_on(PGconn *c, const char *code)
{
    const char *p[] = {code};
    PGresult *r = PQexecParams(c,
                               "SELECT envelope::text FROM bus.envelope WHERE envelope->'data'->>'code' = $1"
                               " OR envelope->'data'->'followers' ? $1 ORDER BY seq",
                               1, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    long long before = h_sql_int(c, "SELECT count(*) FROM notify.message", 0, NULL);
    for (int i = 0; i < PQntuples(r); i++) {
        json_error_t je;
        json_t *env = json_loads(PQgetvalue(r, i, 0), 0, &je);
        assert_non_null(env);
        char err[512] = "";
        assert_true(db_begin(c, err, sizeof err));
        if (!plan_on_event(c, env, NULL, err, sizeof err))
            fail_msg("planning %s: %s", json_string_value(json_object_get(env, "type")), err);
        assert_true(db_commit(c, err, sizeof err));
        json_decref(env);
    }
    PQclear(r);
    return h_sql_int(c, "SELECT count(*) FROM notify.message", 0, NULL) - before;
}

static long long plan_ticket(const char *code) { return plan_ticket_on(g_db, code); }

/* One planned message of the ticket by template: "audience channel address" and its body. */
static char *message(const char *code, const char *tpl)
{
    const char *p[] = {code, tpl};
    long long n = h_sql_int(g_db,
                            "SELECT count(*) FROM notify.message m JOIN bus.outbox o ON o.id = m.event_id"
                            " WHERE o.data->>'code' = $1 AND m.template_key = $2",
                            2, p);
    if (n != 1)
        fail_msg("ticket %s has %lld %s messages, expected 1", code, n, tpl);
    return h_sql_text(g_db,
                      "SELECT m.audience || ' ' || m.channel || ' ' || m.address || ' ' || m.state || ' | ' || m.body"
                      " FROM notify.message m JOIN bus.outbox o ON o.id = m.event_id"
                      " WHERE o.data->>'code' = $1 AND m.template_key = $2",
                      2, p);
}

/* The templates of the messages an event type of the ticket planned, in order. */
static void expect_planned(const char *code, const char *type, const char *want)
{
    const char *p[] = {code, type};
    char *got = h_sql_text(g_db, "SELECT string_agg(m.template_key, ' ' ORDER BY m.template_key) FROM notify.message m"
                                 " JOIN bus.outbox o ON o.id = m.event_id WHERE o.data->>'code' = $1 AND o.type = $2",
                           2, p);
    if (strcmp(got, want))
        fail_msg("%s of %s planned \"%s\", expected \"%s\"", type, code, got, want);
    free(got);
}

static void expect_prefix(const char *got, const char *want)
{
    if (strncmp(got, want, strlen(want)))
        fail_msg("got \"%s\", expected it to start with \"%s\"", got, want);
}

static void expect_contains(const char *got, const char *want)
{
    if (!strstr(got, want))
        fail_msg("\"%s\" does not say \"%s\"", got, want);
}

/* ---- residents -------------------------------------------------------------------------------- */

static void residents_are_told_every_step_and_a_replay_plans_nothing(void **state)
{
    (void)state;
    set_clocks("2026-06-01T01:00:00Z");
    char *pt = point("430121-101", 3), body[512], rc[16];
    snprintf(body, sizeof body, "{\"service_code\":\"LIGHT\",%s,\"phone\":\"13912340001\",\"description\":\"路灯不亮\","
             "\"attributes\":{\"fault_type\":\"off\"}}", pt);
    char *code = file_ticket(body, rc);
    wait_event(code, "ticket.assigned");
    /* received + assigned to the reporter, the new assignment to the handler */
    assert_int_equal(plan_ticket(code), 3);

    char *m = message(code, "resident_received");
    char want[256];
    snprintf(want, sizeof want, "reporter sms 13912340001 pending | 您反映的“路灯照明”诉求已受理，受理编号%s", code);
    expect_prefix(m, want);
    free(m);
    const char *p[] = {code};
    assert_int_equal(h_sql_int(g_db,
                               "SELECT count(*) FROM notify.message m JOIN bus.outbox o ON o.id = m.event_id"
                               " WHERE o.data->>'code' = $1 AND m.template_key = 'resident_received'"
                               " AND m.params = jsonb_build_object('service', '路灯照明', 'code', $1::text)"
                               " AND m.wechat_data IS NULL AND m.fallback_phone IS NULL AND NOT m.urgent"
                               " AND m.ticket_id = (o.data->>'ticket_id')::bigint AND m.event_id = o.id"
                               " AND m.due_at = '2026-06-01T01:00:00Z' AND m.dedup_key = o.id || '/reporter_received/ticket:' || $1",
                               1, p), 1);
    char *unit = sql1("SELECT u.name FROM router.ticket t JOIN registry.unit u ON u.id = t.unit_id WHERE t.code = $1", code);
    m = message(code, "resident_assigned");
    expect_prefix(m, "reporter sms 13912340001 pending | ");
    expect_contains(m, unit);
    free(m);
    /* the village handler has no WeCom account: SMS to their phone, with the sign-for deadline */
    char *who = sql1("SELECT 'handler sms ' || s.phone FROM router.ticket t JOIN registry.staff s ON s.id = t.assignee_id"
                     " WHERE t.code = $1", code);
    m = message(code, "handler_assigned");
    expect_prefix(m, who);
    expect_contains(m, code);
    expect_contains(m, "前签收");
    free(m);
    free(who);

    /* a replay of every event plans nothing */
    assert_int_equal(plan_ticket(code), 0);

    char *tok = token_of_assignee(code);
    assert_int_equal(act(code, "accept", tok, NULL), 200);
    assert_int_equal(act(code, "resolve", tok, "{\"note\":\"已更换灯泡，恢复照明\"}"), 200);
    assert_int_equal(plan_ticket(code), 1);
    m = message(code, "resident_resolved");
    snprintf(want, sizeof want, "reporter sms 13912340001 pending | 您的诉求%s已办结：已更换灯泡，恢复照明。请回复1满意、2基本满意、3不满意", code);
    expect_prefix(m, want);
    free(m);

    /* 不满意 reopens it: the resident and the handler are told */
    assert_int_equal(rate(code, "不满意", rc), 200);
    wait_event(code, "ticket.reopened");
    assert_int_equal(plan_ticket(code), 2);
    m = message(code, "resident_reopened");
    expect_contains(m, unit);
    free(m);
    m = message(code, "handler_reopened");
    expect_contains(m, "不满意");
    free(m);

    assert_int_equal(act(code, "resolve", tok, "{\"note\":\"更换整套灯具\"}"), 200);
    assert_int_equal(rate(code, "满意", rc), 200);
    wait_event(code, "ticket.rated");
    /* resolved again (a second resident_resolved, of another event) and closed */
    assert_int_equal(plan_ticket(code), 2);
    m = message(code, "resident_closed");
    expect_prefix(m, "reporter sms 13912340001 pending | ");
    expect_contains(m, "已办结归档");
    free(m);
    assert_int_equal(plan_ticket(code), 0);
    free(tok);
    free(unit);
    free(code);
    free(pt);
}

static void a_rejected_ticket_tells_the_reason(void **state)
{
    (void)state;
    set_clocks("2026-06-01T02:00:00Z");
    char *pt = point("430121-101", 5), body[512];
    snprintf(body, sizeof body, "{\"service_code\":\"POLICY\",%s,\"phone\":\"13912340002\"}", pt);
    char *code = file_ticket(body, NULL);
    char *sup = h_sql_text(g_db, "SELECT id::text FROM registry.staff WHERE role = 'supervisor'"
                                 " AND unit_id = (SELECT id FROM registry.unit WHERE code = '430121-101')", 0, NULL);
    char *tok = h_staff_token(g_db, atoll(sup));
    assert_int_equal(act(code, "reject", tok, "{\"note\":\"不属于本级受理范围，请向县市场监管局反映\"}"), 200);
    wait_event(code, "ticket.rejected");
    plan_ticket(code);
    char *m = message(code, "resident_rejected");
    expect_prefix(m, "reporter sms 13912340002 pending | ");
    expect_contains(m, "原因：不属于本级受理范围，请向县市场监管局反映。");
    free(m);
    /* the SMS parameter is cut to the providers' limit with … */
    const char *p[] = {code};
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM notify.message m JOIN bus.outbox o ON o.id = m.event_id"
                                     " WHERE o.data->>'code' = $1 AND m.template_key = 'resident_rejected'"
                                     " AND m.params->>'note' = '不属于本级受理范围，请向县市场监管局反映'",
                               1, p), 1);
    free(tok);
    free(sup);
    free(code);
    free(pt);
}

static void followers_of_a_merged_ticket_are_told_the_outcome(void **state)
{
    (void)state;
    set_clocks("2026-06-01T03:00:00Z");
    char *pt = point("430121-102", 2), body[512];
    snprintf(body, sizeof body, "{\"service_code\":\"WATER\",%s,\"phone\":\"13912340003\","
             "\"attributes\":{\"problem\":\"outage\"}}", pt);
    char *orig = file_ticket(body, NULL);
    snprintf(body, sizeof body, "{\"service_code\":\"WATER\",%s,\"phone\":\"13912340004\","
             "\"attributes\":{\"problem\":\"outage\"}}", pt);
    char *dup = file_ticket(body, NULL);
    wait_event(dup, "ticket.merged");
    plan_ticket(orig);
    plan_ticket(dup);
    char *m = message(dup, "resident_merged");
    expect_prefix(m, "reporter sms 13912340004 pending | ");
    expect_contains(m, orig);
    free(m);

    char *tok = token_of_assignee(orig);
    assert_int_equal(act(orig, "accept", tok, NULL), 200);
    assert_int_equal(act(orig, "resolve", tok, "{\"note\":\"已抢修管道，恢复供水\"}"), 200);
    wait_event(orig, "ticket.resolved");
    assert_int_equal(plan_ticket(orig), 2);
    assert_int_equal(plan_ticket(dup), 0); /* the same event: planned already */
    /* both reporters, each with their own code */
    assert_int_equal(count2("SELECT count(*) FROM notify.message m JOIN bus.outbox o ON o.id = m.event_id"
                            " WHERE o.type = 'ticket.resolved' AND o.data->>'code' = $1 AND m.audience = 'reporter'"
                            " AND m.address = '13912340003' AND m.body LIKE '%' || $1 || '已办结%'",
                            orig, NULL), 1);
    assert_int_equal(count2("SELECT count(*) FROM notify.message m JOIN bus.outbox o ON o.id = m.event_id"
                            " WHERE o.type = 'ticket.resolved' AND o.data->>'code' = $1 AND m.audience = 'follower'"
                            " AND m.address = '13912340004' AND m.body LIKE '%' || $2 || '已办结：已抢修管道%'"
                            " AND m.params->>'code' = $2",
                            orig, dup), 1);
    free(tok);
    free(orig);
    free(dup);
    free(pt);
}

/* intake's views for notify (migration 023, the inbound channels) in their contract's shape, made
 * for one transaction that the test rolls back. */
static void bound_resident_view(PGconn *o)
{
    h_sql_exec(o, "CREATE OR REPLACE VIEW intake.wechat_binding AS"
                  " SELECT 'oWx_test_openid_0001'::text AS openid, '13912340005'::text AS phone,"
                  " '2026-05-01T00:00:00Z'::timestamptz AS bound_at");
    h_sql_exec(o, "CREATE OR REPLACE VIEW intake.wechat_verification AS"
                  " SELECT * FROM (VALUES ('4b0c1f8e-7d0a-4c55-9a47-0d5f3a9e2b11'::uuid, '13912340006'::text, '493817'::text,"
                  " '2026-06-01T04:05:00Z'::timestamptz),"
                  " ('5c1d2a9f-8e1b-4d66-8b58-1e6a4b0f3c22'::uuid, '13912340007'::text, '111111'::text,"
                  " '2026-06-01T03:00:00Z'::timestamptz)) v(request_id, phone, code, expires_at)");
}

static void a_bound_resident_gets_wechat_with_their_phone_to_fall_back_on(void **state)
{
    (void)state;
    set_clocks("2026-06-01T04:00:00Z");
    char *pt = point("430121-103", 4), body[512];
    snprintf(body, sizeof body, "{\"service_code\":\"POLICY\",%s,\"phone\":\"13912340005\"}", pt);
    char *code = file_ticket(body, NULL);
    snprintf(body, sizeof body, "{\"service_code\":\"POLICY\",%s}", pt);
    char *nophone = file_ticket(body, NULL);

    PGconn *o = h_db_owner();
    h_sql_exec(o, "BEGIN");
    bound_resident_view(o);
    /* the planner runs in the consumer's transaction: here the one that has the views */
    const char *p[] = {code};
    PGresult *r = PQexecParams(o, "SELECT envelope::text FROM bus.envelope WHERE type = 'ticket.created'"
                                  " AND envelope->'data'->>'code' = $1", 1, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQntuples(r), 1);
    json_error_t je;
    json_t *env = json_loads(PQgetvalue(r, 0, 0), 0, &je);
    PQclear(r);
    char err[512] = "";
    if (!plan_on_event(o, env, NULL, err, sizeof err))
        fail_msg("%s", err);
    json_decref(env);
    assert_int_equal(h_sql_int(o, "SELECT count(*) FROM notify.message m JOIN bus.outbox e ON e.id = m.event_id"
                                  " WHERE e.data->>'code' = $1 AND m.template_key = 'resident_received'"
                                  " AND m.channel = 'wechat' AND m.address = 'oWx_test_openid_0001'"
                                  " AND m.fallback_phone = '13912340005'"
                                  " AND m.wechat_data = jsonb_build_object('character_string1', jsonb_build_object('value', $1::text),"
                                  "   'thing2', jsonb_build_object('value', '政策咨询'),"
                                  "   'time3', jsonb_build_object('value', '2026年06月01日 12:00'),"
                                  "   'phrase4', jsonb_build_object('value', '已受理'))"
                                  " AND m.params = jsonb_build_object('service', '政策咨询', 'code', $1::text)",
                               1, p), 1);

    /* a verification code: SMS to the phone the request names, urgent; an expired one: nothing */
    const char *ids[] = {"4b0c1f8e-7d0a-4c55-9a47-0d5f3a9e2b11", "5c1d2a9f-8e1b-4d66-8b58-1e6a4b0f3c22"};
    for (int i = 0; i < 2; i++) {
        char eid[UUID_STR_LEN];
        uuid_v4(eid);
        env = json_pack("{s:s, s:s, s:i, s:s, s:s, s:n, s:{s:s}}", "id", eid, "type", "channel.verify_requested",
                        "version", 1, "occurred_at", "2026-06-01T04:00:00.000000Z", "source", "intake",
                        "correlation_id", "data", "request_id", ids[i]);
        if (!plan_on_event(o, env, NULL, err, sizeof err))
            fail_msg("%s", err);
        json_decref(env);
    }
    assert_int_equal(h_sql_int(o, "SELECT count(*) FROM notify.message WHERE template_key = 'verify_code'"
                                  " AND channel = 'sms' AND address = '13912340006' AND urgent"
                                  " AND body LIKE '%验证码493817，%' AND params = '{\"vcode\": \"493817\"}'", 0, NULL), 1);
    assert_int_equal(h_sql_int(o, "SELECT count(*) FROM notify.message WHERE address = '13912340007'", 0, NULL), 0);
    h_sql_exec(o, "ROLLBACK");
    PQfinish(o);

    /* without a WeChat binding the same resident gets SMS; nobody without a phone is told */
    plan_ticket(code);
    char *m = message(code, "resident_received");
    expect_prefix(m, "reporter sms 13912340005 pending");
    free(m);
    plan_ticket(nophone);
    const char *q[] = {nophone};
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM notify.message m JOIN bus.outbox o ON o.id = m.event_id"
                                     " WHERE o.data->>'code' = $1 AND m.audience = 'reporter'", 1, q), 0);
    free(code);
    free(nophone);
    free(pt);
}

/* Plans are rows: turned off, a plan tells nobody; pointed at another template, it says that.
 * A template that asks for a value its event does not have fails the event (the consumer rolls
 * it back and, after retries, dead-letters it) instead of sending a blank. */
static void plans_are_data_and_a_template_asking_for_a_missing_value_fails_the_event(void **state)
{
    (void)state;
    set_clocks("2026-06-01T05:00:00Z");
    char *pt = point("430121-102", 6), body[512];
    snprintf(body, sizeof body, "{\"service_code\":\"POLICY\",%s,\"phone\":\"13912340009\"}", pt);
    char *code = file_ticket(body, NULL);
    const char *p[] = {code};
    PGresult *r = PQexecParams(g_db, "SELECT envelope::text FROM bus.envelope WHERE type = 'ticket.created'"
                                     " AND envelope->'data'->>'code' = $1", 1, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQntuples(r), 1);
    json_error_t je;
    json_t *env = json_loads(PQgetvalue(r, 0, 0), 0, &je);
    PQclear(r);
    PGconn *o = h_db_owner();
    char err[512] = "";
    const char *count = "SELECT count(*) FROM notify.message m JOIN bus.outbox e ON e.id = m.event_id"
                        " WHERE e.data->>'code' = $1";

    h_sql_exec(o, "BEGIN");
    h_sql_exec(o, "UPDATE notify.plan SET enabled = false WHERE key = 'reporter_received'");
    assert_true(plan_on_event(o, env, NULL, err, sizeof err));
    assert_int_equal(h_sql_int(o, count, 1, p), 0);
    h_sql_exec(o, "ROLLBACK");

    h_sql_exec(o, "BEGIN");
    h_sql_exec(o, "UPDATE notify.plan SET template_key = 'resident_closed' WHERE key = 'reporter_received'");
    assert_true(plan_on_event(o, env, NULL, err, sizeof err));
    assert_int_equal(h_sql_int(o, "SELECT count(*) FROM notify.message m JOIN bus.outbox e ON e.id = m.event_id"
                                  " WHERE e.data->>'code' = $1 AND m.template_key = 'resident_closed'"
                                  " AND m.body LIKE '%已办结归档%'", 1, p), 1);
    h_sql_exec(o, "ROLLBACK");

    h_sql_exec(o, "BEGIN");
    h_sql_exec(o, "UPDATE notify.template SET body = body || '（原因：{note}）' WHERE key = 'resident_received'");
    assert_false(plan_on_event(o, env, NULL, err, sizeof err));
    assert_string_equal(err, "template resident_received: no value for {note}");
    h_sql_exec(o, "ROLLBACK");

    /* an envelope without its id plans nothing */
    json_t *bad = json_deep_copy(env);
    json_object_del(bad, "id");
    h_sql_exec(o, "BEGIN");
    assert_false(plan_on_event(o, bad, NULL, err, sizeof err));
    assert_int_equal(h_sql_int(o, count, 1, p), 0);
    h_sql_exec(o, "ROLLBACK");
    json_decref(bad);
    PQfinish(o);

    /* as shipped: received (and assigned, to the reporter and the handler) */
    assert_int_equal(plan_ticket(code), 3);
    char *m = message(code, "resident_received");
    expect_prefix(m, "reporter sms 13912340009 pending");
    free(m);
    json_decref(env);
    free(code);
    free(pt);
}

/* ---- staff and the duty group ----------------------------------------------------------------- */

static void staff_and_the_duty_group_on_warning_escalation_and_supervision(void **state)
{
    (void)state;
    set_clocks("2026-06-02T01:00:00Z"); /* Tue 09:00 */
    char *pt = point("430121-101", 20), body[512];
    snprintf(body, sizeof body, "{\"service_code\":\"SANIT\",%s,\"phone\":\"13912340008\","
             "\"attributes\":{\"problem\":\"garbage\"}}", pt);
    char *code = file_ticket(body, NULL);
    plan_ticket(code);
    char *village_handler = sql1("SELECT assignee_id::text FROM router.ticket WHERE code = $1", code);

    /* the yellow light of the sign clock: the handler on duty */
    char *t = sql1("SELECT to_char((sign_warn_at + interval '1 second') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
                   " FROM router.ticket WHERE code = $1", code);
    set_clocks(t);
    free(t);
    wait_event(code, "ticket.warning");
    assert_int_equal(plan_ticket(code), 1);
    char *m = message(code, "handler_warning");
    char *who = sql1("SELECT 'handler sms ' || phone FROM registry.staff WHERE id = $1::bigint", village_handler);
    expect_prefix(m, who);
    expect_contains(m, "到期");
    free(m);
    free(who);

    /* sign-for missed: one level up to the township. Its supervisor (WeCom) and duty group (the
     * robot) are told at once, and the new holder (a township desk on WeCom) */
    t = sql1("SELECT to_char((sign_due + interval '1 second') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
             " FROM router.ticket WHERE code = $1", code);
    set_clocks(t);
    free(t);
    wait_event(code, "ticket.escalated");
    plan_ticket(code);
    expect_planned(code, "ticket.escalated", "duty_escalated handler_escalated supervisor_escalated");
    m = message(code, "supervisor_escalated");
    char *sup = h_sql_text(g_db, "SELECT 'supervisor wecom_app demo.' || id FROM registry.staff WHERE role = 'supervisor'"
                                 " AND unit_id = (SELECT id FROM registry.unit WHERE code = '430121-101')", 0, NULL);
    expect_prefix(m, sup);
    expect_contains(m, "果园镇");
    free(m);
    m = message(code, "duty_escalated");
    char *robot = h_sql_text(g_db, "SELECT 'duty_group wecom_robot ' || wecom_robot_key FROM registry.unit"
                                   " WHERE code = '430121-101'", 0, NULL);
    expect_prefix(m, robot);
    expect_contains(m, code);
    free(m);
    m = message(code, "handler_escalated");
    expect_prefix(m, "handler wecom_app demo.");
    free(m);
    const char *p[] = {code};
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM notify.message m JOIN bus.outbox o ON o.id = m.event_id"
                                     " WHERE o.data->>'code' = $1 AND o.type = 'ticket.escalated' AND m.urgent"
                                     " AND m.template_key IN ('supervisor_escalated', 'duty_escalated')", 1, p), 2);

    /* resolve deadline missed at the township: 督办 to its supervisor and duty group at once, and
     * the county's desk that now holds it */
    char *tok = token_of_assignee(code);
    assert_int_equal(act(code, "accept", tok, NULL), 200);
    t = sql1("SELECT to_char((resolve_due + interval '1 second') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
             " FROM router.ticket WHERE code = $1", code);
    set_clocks(t);
    free(t);
    wait_event(code, "ticket.overdue");
    plan_ticket(code);
    m = message(code, "supervisor_overdue");
    expect_prefix(m, sup);
    expect_contains(m, "【督办】");
    free(m);
    m = message(code, "duty_overdue");
    expect_prefix(m, robot);
    free(m);
    m = message(code, "handler_overdue");
    char *county = sql1("SELECT 'handler sms ' || s.phone FROM router.ticket t JOIN registry.staff s ON s.id = t.assignee_id"
                        " WHERE t.code = $1", code);
    expect_prefix(m, county);
    free(m);
    assert_int_equal(plan_ticket(code), 0);
    free(county);
    free(tok);
    free(robot);
    free(sup);
    free(village_handler);
    free(code);
    free(pt);
}

static void a_township_without_wecom_is_told_by_sms_and_has_no_duty_group(void **state)
{
    (void)state;
    set_clocks("2026-06-03T01:00:00Z"); /* Wed 09:00 */
    char *pt = point("430121-103", 7), body[512];
    snprintf(body, sizeof body, "{\"service_code\":\"SANIT\",%s,\"attributes\":{\"problem\":\"garbage\"}}", pt);
    char *code = file_ticket(body, NULL);
    char *t = sql1("SELECT to_char((sign_due + interval '1 second') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"
                   " FROM router.ticket WHERE code = $1", code);
    set_clocks(t);
    free(t);
    wait_event(code, "ticket.escalated");
    plan_ticket(code);
    char *m = message(code, "supervisor_escalated");
    char *sup = h_sql_text(g_db, "SELECT 'supervisor sms ' || phone FROM registry.staff WHERE role = 'supervisor'"
                                 " AND unit_id = (SELECT id FROM registry.unit WHERE code = '430121-103')", 0, NULL);
    expect_prefix(m, sup);
    free(m);
    const char *p[] = {code};
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM notify.message m JOIN bus.outbox o ON o.id = m.event_id"
                                     " WHERE o.data->>'code' = $1 AND m.audience = 'duty_group'", 1, p), 0);
    free(sup);
    free(code);
    free(pt);
}

/* ---- the daily digest ------------------------------------------------------------------------- */

static int64_t at(const char *iso)
{
    int64_t us;
    assert_true(timefmt_parse(iso, &us));
    return us;
}

static long long digests(const char *day)
{
    const char *p[] = {day};
    return h_sql_int(g_db, "SELECT count(*) FROM notify.message WHERE dedup_key LIKE 'digest/%/' || $1", 1, p);
}

static void the_digest_goes_at_eight_once_a_day_and_once_after_an_outage(void **state)
{
    (void)state;
    char err[512] = "";
    long long sups = h_sql_int(g_db, "SELECT count(*) FROM registry.staff WHERE active AND role = 'supervisor'", 0, NULL);
    assert_true(sups >= 3);
    /* 07:59 on Wednesday 3 June in the county: not yet */
    assert_int_equal(digest_tick(g_db, at("2026-06-02T23:59:59Z"), err, sizeof err), 0);
    assert_int_equal(digests("2026-06-03"), 0);
    /* 08:00: one per supervisor */
    assert_int_equal(digest_tick(g_db, at("2026-06-03T00:00:00Z"), err, sizeof err), sups);
    assert_int_equal(digests("2026-06-03"), sups);
    /* later that day, from another connection (another notify instance): nothing more */
    PGconn *c2 = h_db();
    assert_int_equal(digest_tick(c2, at("2026-06-03T01:30:00Z"), err, sizeof err), 0);
    assert_int_equal(digest_tick(g_db, at("2026-06-03T09:00:00Z"), err, sizeof err), 0);
    assert_int_equal(digests("2026-06-03"), sups);

    /* 果园镇's supervisor: the figures of 2 June, and the tickets open past their deadline now */
    /* the staff test filed one there on 2 June: the figures are not all zero */
    assert_true(h_sql_int(g_db, "SELECT coalesce(sum(received), 0) FROM router.stat_daily WHERE unit_id = 101"
                                " AND day = '2026-06-02'", 0, NULL) >= 1);
    char *want = h_sql_text(g_db,
        "SELECT format('%s件，已办结%s件，按时办结%s件；当前超期%s件', coalesce(sum(received), 0), coalesce(sum(resolved), 0),"
        " coalesce(sum(resolved_on_time), 0),"
        " (SELECT count(*) FROM router.ticket t WHERE t.township_id = 101"
        "  AND t.state IN ('assigned', 'accepted', 'in_progress', 'returned')"
        "  AND (t.overdue OR t.resolve_due < '2026-06-03T00:00:00Z')))"
        " FROM router.stat_daily WHERE unit_id = 101 AND day = '2026-06-02'", 0, NULL);
    char *got = h_sql_text(g_db,
        "SELECT m.channel || ' ' || m.address || ' ' || m.due_at::text || ' | ' || m.body FROM notify.message m"
        " JOIN registry.staff s ON m.dedup_key = 'digest/' || s.id || '/2026-06-03'"
        " WHERE s.role = 'supervisor' AND s.unit_id = 101", 0, NULL);
    expect_prefix(got, "wecom_app demo.");
    expect_contains(got, "【每日简报】");
    expect_contains(got, "果园镇06月02日受理");
    expect_contains(got, want);
    free(got);
    free(want);
    /* the ticket that went overdue in 果园镇 (staff test) is on its list */
    assert_true(h_sql_int(g_db,
        "SELECT count(*) FROM notify.message m, router.ticket t WHERE m.dedup_key LIKE 'digest/%/2026-06-03'"
        " AND t.township_id = 101 AND t.overdue AND t.state IN ('assigned', 'accepted', 'in_progress')"
        " AND m.body LIKE '%' || t.code || '%'", 0, NULL) >= 1);

    /* the next day at 08:00 again */
    assert_int_equal(digest_tick(g_db, at("2026-06-04T00:00:00Z"), err, sizeof err), sups);
    /* notify was down from Friday to Monday 10:00: Monday's digest once, not the weekend's */
    assert_int_equal(digest_tick(c2, at("2026-06-08T02:00:00Z"), err, sizeof err), sups);
    assert_int_equal(digest_tick(g_db, at("2026-06-08T02:00:01Z"), err, sizeof err), 0);
    assert_int_equal(digests("2026-06-06"), 0);
    assert_int_equal(digests("2026-06-07"), 0);
    assert_int_equal(digests("2026-06-08"), sups);
    PQfinish(c2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(residents_are_told_every_step_and_a_replay_plans_nothing),
        cmocka_unit_test(a_rejected_ticket_tells_the_reason),
        cmocka_unit_test(followers_of_a_merged_ticket_are_told_the_outcome),
        cmocka_unit_test(a_bound_resident_gets_wechat_with_their_phone_to_fall_back_on),
        cmocka_unit_test(plans_are_data_and_a_template_asking_for_a_missing_value_fails_the_event),
        cmocka_unit_test(staff_and_the_duty_group_on_warning_escalation_and_supervision),
        cmocka_unit_test(a_township_without_wecom_is_told_by_sms_and_has_no_duty_group),
        cmocka_unit_test(the_digest_goes_at_eight_once_a_day_and_once_after_an_outage),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
