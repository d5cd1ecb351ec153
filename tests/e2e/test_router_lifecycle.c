/* The ticket lifecycle end to end, on the injected clock: a report filed on a Friday at 17:00
 * before the 清明 holiday gets the deadlines the calendar says and escalates exactly then; handlers
 * accept, ask for more time, resolve; residents rate and reopen; returns go back to the
 * dispatcher; overdue tickets raise a supervision order; unrated ones close; every transition the
 * table does not allow answers 409 with the current state, every actor outside the unit 403; an
 * action the router does not take from staff (unknown, or one of its own) answers 404. */
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
#include <zmq.h>

#include "bus.h"
#include "cmdclient.h"
#include "gclock.h"
#include "harness.h"
#include "lifecycle.h"
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
    snprintf(g_clock, sizeof g_clock, "%s/clock-lifecycle", h_env("GRIDGOV_TEST_VAR"));
    h_set_clock(g_clock, "2026-04-03T09:00:00Z"); /* Friday 17:00 in China, before 清明 (04-04..06) */
    static char clock_env[1100];
    snprintf(clock_env, sizeof clock_env, "GRIDGOV_CLOCK_FILE=%s", g_clock);
    static char router_ep[96];
    snprintf(router_ep, sizeof router_ep, "GRIDGOV_ROUTER_ENDPOINT=tcp://127.0.0.1:%d", h_port(82));
    const char *ienv[] = {clock_env, router_ep, NULL};
    const char *renv[] = {clock_env, "GRIDGOV_TICK_MS=50", "GRIDGOV_UNRATED_CLOSE_H=24", NULL};
    g_http = h_port(80);
    g_intake = h_start_intake(g_http, h_port(81), ienv);
    g_router = h_start_router(h_port(82), h_port(81), renv);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int s1 = h_stop(g_router, SIGTERM), s2 = h_stop(g_intake, SIGTERM);
    PQfinish(g_db);
    return WIFEXITED(s1) && WEXITSTATUS(s1) == 0 && WIFEXITED(s2) && WEXITSTATUS(s2) == 0 ? 0 : -1;
}

static char *sql1(const char *sql, const char *a)
{
    const char *p[] = {a};
    return h_sql_text(g_db, sql, 1, p);
}

/* POSTs a native ticket and waits until the router has it; returns the code (caller frees) and,
 * when rating_code is given, the reporter's rating code. */
static char *file_ticket_rc(const char *json_body, char rating_code[16])
{
    char code[40];
    assert_true(h_post_ticket_rc(g_http, g_key, json_body, code, rating_code));
    assert_true(h_wait_routed(g_db, code, 20000));
    return strdup(code);
}

static char *file_ticket(const char *json_body) { return file_ticket_rc(json_body, NULL); }

/* An action through intake, with an Idempotency-Key when key is given; returns the HTTP status,
 * the body in *body (caller decrefs) if given. */
static long act_key(const char *code, const char *action, const char *token, const char *json, const char *key,
                    json_t **body)
{
    char url[256], auth[128], idem[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/tickets/%s/actions/%s", g_http, code, action);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    snprintf(idem, sizeof idem, "Idempotency-Key: %s", key ? key : "");
    const char *hdr[] = {"Content-Type: application/json", auth, key ? idem : NULL, NULL};
    h_resp_t r;
    const char *b = json ? json : "";
    assert_true(h_http("POST", url, hdr, b, strlen(b), &r));
    if (body) {
        json_error_t je;
        *body = json_loads(buf_str(&r.body), 0, &je);
    }
    long st = r.status;
    h_resp_free(&r);
    return st;
}

static long act(const char *code, const char *action, const char *token, const char *json, json_t **body)
{
    return act_key(code, action, token, json, NULL, body);
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

static char *token_for(const char *sql)
{
    char *id = h_sql_text(g_db, sql, 0, NULL);
    assert_true(*id);
    char *t = h_staff_token(g_db, atoll(id));
    free(id);
    return t;
}

static void expect_state(const char *code, const char *want)
{
    char *s = sql1("SELECT state FROM router.ticket WHERE code = $1", code);
    if (strcmp(s, want))
        fail_msg("ticket %s is %s, expected %s", code, s, want);
    free(s);
}

/* A 409 with the ticket's state, and the error code why when given. */
static void expect_409_why(const char *code, const char *action, const char *token, const char *state, const char *why)
{
    json_t *b = NULL;
    long st = act(code, action, token, "{\"note\":\"x\",\"hours\":4}", &b);
    if (st != 409)
        fail_msg("%s on a %s ticket answered %ld, expected 409", action, state, st);
    assert_string_equal(json_string_value(json_object_get(json_object_get(b, "error"), "state")), state);
    if (why)
        assert_string_equal(json_string_value(json_object_get(json_object_get(b, "error"), "code")), why);
    json_decref(b);
}

static void expect_409(const char *code, const char *action, const char *token, const char *state)
{
    expect_409_why(code, action, token, state, NULL);
}

static bool wait_for(const char *sql, const char *code, long long want)
{
    const char *p[] = {code};
    return h_wait_sql(g_db, sql, 1, p, want, 5000);
}

/* A point inside a group of township 101 (果园镇, which has a 水利站 desk). */
static char g_point[96];
static const char *point(void)
{
    char *s = h_sql_text(g_db,
                         "SELECT format('\"lat\":%s,\"long\":%s', round(ST_Y(p)::numeric, 7), round(ST_X(p)::numeric, 7))"
                         " FROM (SELECT ST_PointOnSurface(boundary) p FROM registry.unit WHERE level = 'group'"
                         " AND code LIKE '430121-101-%' ORDER BY id OFFSET 3 LIMIT 1) x",
                         0, NULL);
    snprintf(g_point, sizeof g_point, "%s", s);
    free(s);
    return g_point;
}

static void friday_before_qingming_escalates_when_the_calendar_says(void **state)
{
    (void)state;
    char *attr = h_sql_text(g_db, "SELECT code FROM registry.service_attribute WHERE service_code = 'POND' AND required"
                                  " ORDER BY ord LIMIT 1", 0, NULL);
    char *val = h_sql_text(g_db, "SELECT v.key FROM registry.service_attribute_value v JOIN registry.service_attribute a"
                                 " ON a.service_code = v.service_code AND a.code = v.attribute_code"
                                 " WHERE v.service_code = 'POND' AND a.required ORDER BY v.ord LIMIT 1", 0, NULL);
    char body[512];
    snprintf(body, sizeof body, "{\"service_code\":\"POND\",%s,\"attributes\":{\"%s\":\"%s\"},\"phone\":\"13900001111\"}",
             point(), attr, val);
    char rc[16];
    char *code = file_ticket_rc(body, rc);
    assert_int_equal(strlen(rc), 10);
    /* a neighbour reports the same pond: a duplicate, told of the outcome with the first */
    snprintf(body, sizeof body, "{\"service_code\":\"POND\",%s,\"attributes\":{\"%s\":\"%s\"},\"phone\":\"13900002222\"}",
             point(), attr, val);
    char *dup = file_ticket(body);
    char *merged = sql1("SELECT state FROM router.ticket WHERE code = $1", dup);
    assert_string_equal(merged, "merged");
    free(merged);
    /* POND: 2 working hours to sign for, 16 to resolve, yellow light at 75%.
     * Fri 17:00-17:30 counts 0.5 h; 04-04..04-06 are off; Tue 04-07 from 08:30. */
    char *due = sql1("SELECT to_char(sign_due AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI') || ' ' ||"
                     " to_char(sign_warn_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI') || ' ' ||"
                     " to_char(resolve_due AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI') || ' ' || level"
                     " FROM router.ticket WHERE code = $1",
                     code);
    /* sign: 0.5 + 1.5 -> Tue 10:00; warn 1.5 h -> Tue 09:30;
     * resolve 16 h: 0.5 Fri + 6.5 Tue + 6.5 Wed + 2.5 Thu -> Thu 04-09 11:00 */
    assert_string_equal(due, "2026-04-07 10:00 2026-04-07 09:30 2026-04-09 11:00 township");

    h_set_clock(g_clock, "2026-04-07T01:59:00Z"); /* Tue 09:59: yellow light, no escalation yet */
    assert_true(wait_for("SELECT count(*) FROM bus.outbox WHERE type = 'ticket.warning' AND data->>'code' = $1", code, 1));
    usleep(300 * 1000);
    char *lvl = sql1("SELECT level || ' ' || escalations FROM router.ticket WHERE code = $1", code);
    assert_string_equal(lvl, "township 0");
    free(lvl);

    h_set_clock(g_clock, "2026-04-07T02:00:01Z"); /* Tue 10:00:01: sign-for missed */
    assert_true(wait_for("SELECT count(*) FROM router.ticket WHERE code = $1 AND escalations = 1", code, 1));
    lvl = sql1("SELECT level || ' ' || state FROM router.ticket WHERE code = $1", code);
    assert_string_equal(lvl, "county assigned");
    assert_true(wait_for("SELECT count(*) FROM bus.outbox WHERE type = 'ticket.escalated' AND data->>'code' = $1", code, 1));
    const char *p[] = {code};
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM router.transition JOIN router.ticket USING (ticket_id)"
                                     " WHERE code = $1 AND action = 'escalate' AND at = '2026-04-07T02:00:01Z'", 1, p), 1);

    /* The county signs for it and works it; an extension moves the deadline only when granted. */
    char *tok = token_of_assignee(code);
    expect_409(code, "start", tok, "assigned");
    expect_409(code, "resolve", tok, "assigned");
    /* a retried command (same Idempotency-Key) gets the first answer and changes nothing more */
    json_t *first = NULL, *again = NULL;
    assert_int_equal(act_key(code, "accept", tok, NULL, "sign-1", &first), 200);
    assert_int_equal(act_key(code, "accept", tok, NULL, "sign-1", &again), 200);
    assert_true(json_equal(first, again));
    json_decref(first);
    json_decref(again);
    expect_409(code, "accept", tok, "accepted");
    assert_int_equal(act(code, "start", tok, NULL, NULL), 200);
    assert_int_equal(act(code, "request_extension", tok, "{\"hours\":6.5,\"note\":\"需等待水位下降\"}", NULL), 200);
    char *before = sql1("SELECT resolve_due FROM router.ticket WHERE code = $1", code);
    char *op = token_for("SELECT id FROM registry.staff WHERE role = 'operator' ORDER BY id LIMIT 1");
    assert_int_equal(act(code, "request_extension", tok, "{\"hours\":2,\"note\":\"again\"}", NULL), 409);
    assert_int_equal(act(code, "grant_extension", tok, NULL, NULL), 403); /* a handler cannot grant */
    assert_int_equal(act(code, "grant_extension", op, NULL, NULL), 200);
    char *after = sql1("SELECT to_char(resolve_due AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI')"
                       " FROM router.ticket WHERE code = $1", code);
    assert_string_equal(after, "2026-04-10 11:00"); /* Thu 11:00 + one working day of 6.5 h */
    expect_409(code, "grant_extension", op, "in_progress");
    /* nobody approves their own extension, not even the county operator */
    assert_int_equal(act(code, "request_extension", op, "{\"hours\":3,\"note\":\"再延\"}", NULL), 200);
    assert_int_equal(act(code, "grant_extension", op, NULL, NULL), 403);
    assert_int_equal(act(code, "resolve", tok, "{}", NULL), 400); /* resolving needs what was done */
    assert_int_equal(act(code, "resolve", tok, "{\"note\":\"已加固坝体\"}", NULL), 200);
    expect_409(code, "resolve", tok, "resolved");
    /* the outcome names both reporters' tickets, so the notifier tells both */
    char want[96];
    snprintf(want, sizeof want, "[\"%s\", \"%s\"]", code, dup);
    char *followers = sql1("SELECT data->'followers' FROM bus.outbox WHERE type = 'ticket.resolved'"
                           " AND data->>'code' = $1 ORDER BY seq LIMIT 1", code);
    assert_string_equal(followers, want);
    free(followers);
    free(dup);
    /* the request left waiting is closed with the resolution */
    assert_true(wait_for("SELECT count(*) FROM router.extension e JOIN router.ticket t USING (ticket_id)"
                         " WHERE t.code = $1 AND e.decision IS NULL", code, 0));
    assert_true(wait_for("SELECT count(*) FROM router.ticket WHERE code = $1 AND extension_pending", code, 0));

    /* The resident is not satisfied: reopened once; satisfied after the second resolution. */
    assert_int_equal(rate(code, "satisfied", "0000000000"), 403); /* not the reporter's code */
    assert_int_equal(rate(code, "不满意", rc), 200);
    expect_state(code, "in_progress");
    assert_int_equal(act(code, "resolve", tok, "{\"note\":\"重新处理完毕\"}", NULL), 200);
    assert_int_equal(rate(code, "满意", rc), 200);
    expect_state(code, "closed");
    assert_int_equal(rate(code, "satisfied", rc), 409);
    expect_409(code, "accept", tok, "closed");

    /* every transition recorded and announced once */
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM router.transition JOIN router.ticket USING (ticket_id)"
                                     " WHERE code = $1", 1, p), 11);
    assert_true(wait_for("SELECT count(*) FROM bus.outbox WHERE source = 'router' AND data->>'code' = $1"
                         " AND type <> 'ticket.warning'", code, 11));
    free(code);
    free(due);
    free(lvl);
    free(tok);
    free(op);
    free(before);
    free(after);
    free(attr);
    free(val);
}

static void returns_go_back_to_the_dispatcher_and_outsiders_get_403(void **state)
{
    (void)state;
    h_set_clock(g_clock, "2026-04-08T01:00:00Z"); /* Wed 09:00 */
    char body[256];
    snprintf(body, sizeof body, "{\"service_code\":\"AID\",%s,\"description\":\"低保咨询\"}", point());
    char *code = file_ticket(body);
    char *tok = token_of_assignee(code);
    /* a handler of another township's village, and that township's supervisor */
    char *other = token_for("SELECT s.id FROM registry.staff s JOIN registry.unit u ON u.id = s.unit_id"
                            " WHERE s.role = 'handler' AND u.level = 'village' AND u.code LIKE '430121-102-%' LIMIT 1");
    char *other_sup = token_for("SELECT s.id FROM registry.staff s JOIN registry.unit u ON u.id = s.unit_id"
                                " WHERE s.role = 'supervisor' AND u.code = '430121-102'");
    char *sup = token_for("SELECT s.id FROM registry.staff s JOIN registry.unit u ON u.id = s.unit_id"
                          " WHERE s.role = 'supervisor' AND u.code = '430121-101'");
    assert_int_equal(act(code, "accept", other, NULL, NULL), 403);
    assert_int_equal(act(code, "dispatch", other_sup, NULL, NULL), 403);
    char url[256], auth[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/tickets/%s/history", g_http, code);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", other_sup);
    const char *hdr[] = {auth, NULL};
    h_resp_t r;
    assert_true(h_http("GET", url, hdr, NULL, 0, &r));
    assert_int_equal(r.status, 403); /* another township's supervisor cannot read it either */
    h_resp_free(&r);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", sup);
    assert_true(h_http("GET", url, hdr, NULL, 0, &r));
    assert_int_equal(r.status, 200);
    h_resp_free(&r);
    const char *nohdr[] = {NULL};
    assert_true(h_http("GET", url, nohdr, NULL, 0, &r));
    assert_int_equal(r.status, 401);
    h_resp_free(&r);

    assert_int_equal(act(code, "return", tok, "{}", NULL), 400); /* a return needs its reason */
    assert_int_equal(act(code, "return", tok, "{\"note\":\"不属于本村职责\"}", NULL), 200);
    char *s = sql1("SELECT t.state || ' ' || u.level || ' ' || t.returns FROM router.ticket t"
                   " JOIN registry.unit u ON u.id = t.unit_id WHERE t.code = $1", code);
    assert_string_equal(s, "returned township 1");
    free(s);
    /* scope follows the holder: the village that returned it is outside it now; the township,
     * which holds it, learns that accepting is not a step from here */
    assert_int_equal(act(code, "accept", tok, NULL, NULL), 403);
    expect_409(code, "accept", sup, "returned");
    /* the township supervisor hands it to a group of the village */
    char *grp = h_sql_text(g_db, "SELECT code FROM registry.unit WHERE level = 'group' AND code LIKE '430121-101-%'"
                                 " ORDER BY id LIMIT 1", 0, NULL);
    char js[160];
    snprintf(js, sizeof js, "{\"unit\":\"%s\"}", grp);
    assert_int_equal(act(code, "dispatch", sup, "{\"unit\":\"no-such-unit\"}", NULL), 400);
    assert_int_equal(act(code, "dispatch", sup, "{\"unit\":\"430121-102\"}", NULL), 403); /* not their township */
    assert_int_equal(act(code, "dispatch", sup, js, NULL), 200);
    s = sql1("SELECT t.state || ' ' || u.code || ' ' || (t.assignee_id IS NOT NULL)::text FROM router.ticket t"
             " JOIN registry.unit u ON u.id = t.unit_id WHERE t.code = $1", code);
    char want[160];
    snprintf(want, sizeof want, "assigned %s true", grp);
    assert_string_equal(s, want);
    /* the supervisor rejects another one as out of scope (不予受理) */
    snprintf(body, sizeof body, "{\"service_code\":\"SAFETY\",%s,\"description\":\"邻居家养狗扰民\"}", point());
    char *code2 = file_ticket(body);
    assert_int_equal(act(code2, "reject", sup, "{\"note\":\"属于法院受理范围\"}", NULL), 200);
    expect_state(code2, "rejected");
    expect_409(code2, "reject", sup, "rejected");
    free(s);
    free(grp);
    free(code);
    free(code2);
    free(tok);
    free(other);
    free(other_sup);
    free(sup);
}

static void missed_resolve_deadline_raises_supervision_and_unrated_tickets_close(void **state)
{
    (void)state;
    h_set_clock(g_clock, "2026-04-13T01:00:00Z"); /* Mon 09:00 */
    char body[256];
    snprintf(body, sizeof body, "{\"service_code\":\"POLICY\",%s}", point());
    char *code = file_ticket(body); /* POLICY: village, sign 8 h, resolve 24 h */
    char *tok = token_of_assignee(code);
    assert_int_equal(act(code, "accept", tok, NULL, NULL), 200);
    char *due = sql1("SELECT to_char(resolve_due AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI')"
                     " FROM router.ticket WHERE code = $1", code);
    /* 24 h from Mon 09:00: Mon 6 h, Tue 6.5, Wed 6.5, Thu 3.5 + 1.5 -> Thu 16:00 */
    assert_string_equal(due, "2026-04-16 16:00");
    h_set_clock(g_clock, "2026-04-16T08:01:00Z"); /* Thu 16:01 */
    assert_true(wait_for("SELECT count(*) FROM router.ticket WHERE code = $1 AND overdue", code, 1));
    char *s = sql1("SELECT t.state || ' ' || u.level || ' ' || t.escalations FROM router.ticket t"
                   " JOIN registry.unit u ON u.id = t.unit_id WHERE t.code = $1", code);
    assert_string_equal(s, "assigned township 1");
    const char *p[] = {code};
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM router.supervision JOIN router.ticket USING (ticket_id)"
                                     " JOIN registry.staff st ON st.id = supervisor_id"
                                     " WHERE code = $1 AND st.role = 'supervisor'", 1, p), 1);
    assert_true(wait_for("SELECT count(*) FROM bus.outbox WHERE type = 'ticket.overdue' AND data->>'code' = $1", code, 1));
    assert_int_equal(act(code, "start", tok, NULL, NULL), 403);  /* the village no longer holds it */
    assert_int_equal(act(code, "accept", tok, NULL, NULL), 403);

    /* resolved, then nobody rates it for a day: closed as unrated */
    char *ttok = token_of_assignee(code);
    expect_409(code, "start", ttok, "assigned");
    assert_int_equal(act(code, "accept", ttok, NULL, NULL), 200);
    assert_int_equal(act(code, "resolve", ttok, "{\"note\":\"已电话答复\"}", NULL), 200);
    h_set_clock(g_clock, "2026-04-17T09:00:00Z");
    assert_true(wait_for("SELECT count(*) FROM router.ticket WHERE code = $1 AND state = 'closed' AND rating = 'unrated'",
                         code, 1));
    free(code);
    free(tok);
    free(ttok);
    free(due);
    free(s);
}

static void at_the_county_a_missed_clock_reminds_instead_of_climbing(void **state)
{
    (void)state;
    h_set_clock(g_clock, "2026-04-20T01:00:00Z"); /* Mon 09:00 */
    char body[256];
    snprintf(body, sizeof body, "{\"service_code\":\"AID\",\"address_string\":\"无法定位\"}");
    char *code = file_ticket(body); /* no place: the county desk holds it */
    char *before = sql1("SELECT level || ' ' || assignee_id || ' ' || escalations FROM router.ticket WHERE code = $1", code);
    h_set_clock(g_clock, "2026-04-22T01:00:00Z"); /* two working days later: sign-for long missed */
    assert_true(wait_for("SELECT count(*) FROM router.transition JOIN router.ticket USING (ticket_id)"
                         " WHERE code = $1 AND action = 'escalate'", code, 1));
    usleep(300 * 1000);
    char *after = sql1("SELECT level || ' ' || assignee_id || ' ' || escalations FROM router.ticket WHERE code = $1", code);
    assert_string_equal(after, before); /* same desk, same person, nothing counted */
    const char *p[] = {code};
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM router.ticket WHERE code = $1"
                                     " AND sign_due > '2026-04-22T01:00:00Z'", 1, p), 1);
    free(code);
    free(before);
    free(after);
}

/* An action through intake that must answer 404 unknown_action. */
static void expect_unknown(const char *code, const char *action, const char *token)
{
    json_t *b = NULL;
    long st = act(code, action, token, "{\"note\":\"x\"}", &b);
    if (st != 404)
        fail_msg("action \"%s\" answered %ld, expected 404", action, st);
    assert_string_equal(json_string_value(json_object_get(json_object_get(b, "error"), "code")), "unknown_action");
    json_decref(b);
}

/* One command straight to the router; returns its status and the error code in code. */
static long command(cmdclient_t *c, const char *action, const char *ticket, long long staff, char code[64])
{
    char id[UUID_STR_LEN], err[256];
    uuid_v4(id);
    json_t *cmd = json_pack("{s:s,s:s?,s:s?,s:I}", "id", id, "action", action, "ticket", ticket, "staff_id",
                            (json_int_t)staff);
    json_t *rep = cmdclient_call(c, cmd, 3000, 3, err, sizeof err);
    json_decref(cmd);
    if (!rep)
        fail_msg("the router did not answer: %s", err);
    assert_string_equal(json_string_value(json_object_get(rep, "id")), id);
    long st = (long)json_integer_value(json_object_get(rep, "status"));
    const char *e = json_string_value(json_object_get(json_object_get(json_object_get(rep, "body"), "error"), "code"));
    snprintf(code, 64, "%s", e ? e : "");
    json_decref(rep);
    return st;
}

/* Intake forwards any action name; the router's lifecycle table says which exist. Names it lacks,
 * and the router's own actions (assignment, the clocks), answer 404 unknown_action from the router
 * itself and change nothing; a pair the table refuses answers 409 with the current state. */
static void unknown_and_system_actions_answer_404_refused_pairs_409(void **state)
{
    (void)state;
    h_set_clock(g_clock, "2026-04-27T01:00:00Z"); /* Mon 09:00 */
    char body[256];
    snprintf(body, sizeof body, "{\"service_code\":\"AID\",%s,\"description\":\"咨询\"}", point());
    char *code = file_ticket(body);
    char *tok = token_of_assignee(code);
    char *op = token_for("SELECT id FROM registry.staff WHERE role = 'operator' ORDER BY id LIMIT 1");
    static const char *const names[] = {"bogus", "escalate", "overdue", "close_unrated", "assign", "merge", NULL};
    for (const char *const *n = names; *n; n++) {
        expect_unknown(code, *n, tok);
        expect_unknown(code, *n, op); /* not even the county operator */
    }
    /* what cannot be an action name at all intake answers alike, without asking */
    expect_unknown(code, "Accept", tok);
    expect_unknown(code, "acc-ept", tok);
    expect_unknown(code, "accept_accept_accept_accept_accept", tok); /* 34 characters */
    const char *p[] = {code};
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM router.transition JOIN router.ticket USING (ticket_id)"
                                     " WHERE code = $1", 1, p), 1); /* only its assignment */
    expect_state(code, "assigned");

    /* refused by the table: 409 and the state it is in, nothing recorded */
    expect_409_why(code, "start", tok, "assigned", "invalid_transition");
    expect_409_why(code, "grant_extension", op, "assigned", "invalid_transition");
    expect_409_why(code, "rate", tok, "assigned", "invalid_transition");
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM router.transition JOIN router.ticket USING (ticket_id)"
                                     " WHERE code = $1", 1, p), 1);
    /* rating is the reporter's, through /rating: staff asking for it are refused */
    assert_int_equal(act(code, "accept", tok, NULL, NULL), 200);
    assert_int_equal(act(code, "resolve", tok, "{\"note\":\"已答复\"}", NULL), 200);
    assert_int_equal(act(code, "rate", tok, NULL, NULL), 403);
    expect_state(code, "resolved");

    /* the same answers straight from the router, and a command without an action is malformed */
    char err[256], ep[64], ec[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", h_port(82));
    bus_t *bus = h_bus_as("intake", true); /* the router takes commands from intake's key */
    char *op_id = h_sql_text(g_db, "SELECT id FROM registry.staff WHERE role = 'operator' ORDER BY id LIMIT 1", 0, NULL);
    cmdclient_t *c = cmdclient_new(bus, ep, "router", err, sizeof err);
    assert_non_null(c);
    /* The first call of a brand-new client: its connection is still being made when it sends, so
     * it must wait for the connection, not sleep the whole 3 s attempt (cmdclient.c). */
    long long t0 = gclock_mono_ms();
    assert_int_equal(command(c, names[0], code, atoll(op_id), ec), 404);
    long long first_ms = gclock_mono_ms() - t0;
    if (first_ms >= 1500)
        fail_msg("the first command on a new client took %lld ms", first_ms);
    for (const char *const *n = names; *n; n++) {
        assert_int_equal(command(c, *n, code, atoll(op_id), ec), 404);
        assert_string_equal(ec, "unknown_action");
    }
    assert_int_equal(command(c, NULL, code, atoll(op_id), ec), 400);
    assert_string_equal(ec, "bad_command");
    assert_int_equal(command(c, "accept", NULL, atoll(op_id), ec), 400);
    assert_string_equal(ec, "bad_command");
    assert_int_equal(command(c, "accept", code, atoll(op_id), ec), 409);
    assert_string_equal(ec, "invalid_transition");
    expect_state(code, "resolved");
    cmdclient_destroy(&c);
    bus_destroy(&bus);
    free(op_id);
    free(code);
    free(tok);
    free(op);
}

/* GET as a staff member; returns the status, the body in *body when given (caller decrefs). */
static long staff_get(const char *path, const char *token, json_t **body)
{
    char url[256], auth[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", g_http, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    const char *hdr[] = {auth, NULL};
    h_resp_t r;
    assert_true(h_http("GET", url, hdr, NULL, 0, &r));
    if (body) {
        json_error_t je;
        *body = json_loads(buf_str(&r.body), 0, &je);
    }
    long st = r.status;
    h_resp_free(&r);
    return st;
}

/* Whether the staff queue of this token, filtered by state, lists the ticket. (The queue shows
 * the 500 latest; the rest of the suite files thousands, so only a filtered queue is sure to
 * hold a ticket this test filed on its own clock.) */
static bool in_queue(const char *token, const char *state, const char *code)
{
    json_t *b = NULL;
    char path[96];
    snprintf(path, sizeof path, "/api/v1/staff/tickets?state=%s", state);
    assert_int_equal(staff_get(path, token, &b), 200);
    assert_true(json_array_size(json_object_get(b, "tickets")) < 500);
    bool found = false;
    size_t i;
    json_t *t;
    json_array_foreach(json_object_get(b, "tickets"), i, t) found = found || !strcmp(json_string_value(json_object_get(t, "code")), code);
    json_decref(b);
    return found;
}

/* A ticket placed in township A (果园镇) and dispatched by the county to a village of township B
 * is B's now: B's supervisor reads and decides it, A's supervisor and the village that first
 * had it neither read nor act on it (403), the county operator does both. */
static void scope_follows_the_holder_across_townships(void **state)
{
    (void)state;
    h_set_clock(g_clock, "2026-05-11T01:00:00Z"); /* Mon 09:00 */
    char body[256];
    snprintf(body, sizeof body, "{\"service_code\":\"AID\",%s,\"description\":\"跨镇转办\"}", point());
    char *code = file_ticket(body);
    char *first = token_of_assignee(code); /* the village in township A that it was placed in */
    char *sup_a = token_for("SELECT s.id FROM registry.staff s JOIN registry.unit u ON u.id = s.unit_id"
                            " WHERE s.role = 'supervisor' AND u.code = '430121-101'");
    char *sup_b = token_for("SELECT s.id FROM registry.staff s JOIN registry.unit u ON u.id = s.unit_id"
                            " WHERE s.role = 'supervisor' AND u.code = '430121-102'");
    char *op = token_for("SELECT id FROM registry.staff WHERE role = 'operator' ORDER BY id LIMIT 1");
    char *village_b = h_sql_text(g_db, "SELECT u.code FROM registry.staff s JOIN registry.unit u ON u.id = s.unit_id"
                                       " WHERE s.role = 'handler' AND u.level = 'village' AND u.code LIKE '430121-102-%'"
                                       " ORDER BY u.id LIMIT 1", 0, NULL);
    assert_int_equal(act(code, "return", first, "{\"note\":\"不属于本村\"}", NULL), 200);
    char js[160];
    snprintf(js, sizeof js, "{\"unit\":\"%s\"}", village_b);
    assert_int_equal(act(code, "dispatch", sup_a, js, NULL), 403); /* not in A's area */
    assert_int_equal(act(code, "dispatch", op, js, NULL), 200);
    char *held = sql1("SELECT u.code FROM router.ticket t JOIN registry.unit u ON u.id = t.unit_id WHERE t.code = $1", code);
    assert_string_equal(held, village_b);
    char *handler_b = token_of_assignee(code);

    /* reads: B's supervisor and the new holder see it; A's supervisor and the first village do not */
    char path[160];
    snprintf(path, sizeof path, "/api/v1/tickets/%s/history", code);
    assert_int_equal(staff_get(path, sup_b, NULL), 200);
    assert_int_equal(staff_get(path, handler_b, NULL), 200);
    assert_int_equal(staff_get(path, op, NULL), 200);
    assert_int_equal(staff_get(path, sup_a, NULL), 403);
    assert_int_equal(staff_get(path, first, NULL), 403);

    /* acts: A's supervisor cannot reject or decide it; B's can; the county operator can */
    assert_int_equal(act(code, "reject", sup_a, "{\"note\":\"不予受理\"}", NULL), 403);
    assert_int_equal(act(code, "accept", first, NULL, NULL), 403);
    assert_int_equal(act(code, "accept", handler_b, NULL, NULL), 200);
    /* the queues: B's, not A's */
    assert_true(in_queue(sup_b, "accepted", code));
    assert_true(in_queue(handler_b, "accepted", code));
    assert_true(in_queue(op, "accepted", code));
    assert_false(in_queue(sup_a, "accepted", code));
    assert_false(in_queue(first, "accepted", code));
    assert_int_equal(act(code, "request_extension", handler_b, "{\"hours\":4,\"note\":\"需走访\"}", NULL), 200);
    assert_int_equal(act(code, "grant_extension", sup_a, NULL, NULL), 403);
    assert_int_equal(act(code, "grant_extension", sup_b, NULL, NULL), 200);
    assert_int_equal(act(code, "start", op, NULL, NULL), 200);
    /* and the router says the same to a command that skips intake's read check */
    char err[256], ep[64], ec[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", h_port(82));
    bus_t *bus = h_bus_as("intake", true); /* the router takes commands from intake's key */
    cmdclient_t *c = cmdclient_new(bus, ep, "router", err, sizeof err);
    assert_non_null(c);
    char *sup_a_id = h_sql_text(g_db, "SELECT s.id FROM registry.staff s JOIN registry.unit u ON u.id = s.unit_id"
                                      " WHERE s.role = 'supervisor' AND u.code = '430121-101'", 0, NULL);
    assert_int_equal(act(code, "request_extension", handler_b, "{\"hours\":2,\"note\":\"再走访\"}", NULL), 200);
    assert_int_equal(command(c, "refuse_extension", code, atoll(sup_a_id), ec), 403);
    assert_string_equal(ec, "forbidden");
    cmdclient_destroy(&c);
    bus_destroy(&bus);
    assert_int_equal(act(code, "refuse_extension", sup_b, "{\"note\":\"时限内可完成\"}", NULL), 200);
    expect_state(code, "in_progress");
    free(sup_a_id);
    free(held);
    free(village_b);
    free(code);
    free(first);
    free(sup_a);
    free(sup_b);
    free(op);
    free(handler_b);
}

/* The clock sweeps select by the lifecycle table's from-states (sla.c); each reads a partial
 * index whose predicate names states, which SQL cannot take from the table. They must be the
 * same states, or the sweep reads the whole table. */
static void the_sweeps_indexes_name_the_tables_states(void **state)
{
    (void)state;
    static const struct {
        action_t a;
        const char *index;
    } sweeps[] = {{ACT_OVERDUE, "router.router_ticket_open_resolve"},
                  {ACT_ESCALATE, "router.router_ticket_sign_clock"},
                  {ACT_CLOSE_UNRATED, "router.router_ticket_resolved"}};
    for (size_t i = 0; i < sizeof sweeps / sizeof sweeps[0]; i++) {
        char states[128];
        assert_true(lifecycle_states_from(sweeps[i].a, states, sizeof states));
        const char *p[] = {sweeps[i].index, states};
        char *same = h_sql_text(g_db,
                                "SELECT (ARRAY(SELECT m[1] FROM regexp_matches(pg_get_expr(x.indpred, x.indrelid),"
                                "  '''([a-z_]+)''', 'g') AS m ORDER BY 1)"
                                " = ARRAY(SELECT s FROM unnest($2::text[]) AS s ORDER BY 1))::text"
                                " FROM pg_index x WHERE x.indexrelid = $1::regclass",
                                2, p);
        if (strcmp(same, "true"))
            fail_msg("index %s does not name the states %s of %s", sweeps[i].index, states,
                     lifecycle_action_name(sweeps[i].a));
        free(same);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(friday_before_qingming_escalates_when_the_calendar_says),
        cmocka_unit_test(returns_go_back_to_the_dispatcher_and_outsiders_get_403),
        cmocka_unit_test(missed_resolve_deadline_raises_supervision_and_unrated_tickets_close),
        cmocka_unit_test(at_the_county_a_missed_clock_reminds_instead_of_climbing),
        cmocka_unit_test(unknown_and_system_actions_answer_404_refused_pairs_409),
        cmocka_unit_test(scope_follows_the_holder_across_townships),
        cmocka_unit_test(the_sweeps_indexes_name_the_tables_states),
    };
    return cmocka_run_group_tests_name("router_lifecycle", tests, setup, teardown);
}
