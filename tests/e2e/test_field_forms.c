/* Online forms (数据线上填报) through the real intake and router: a failed inspection item
 * becomes a hazard ticket of its category and priority, on channel "inspection", placed in the
 * worker's group by the router, once even when the submission is sent twice; forms of a wrong
 * version or with answers that do not fit are refused and change nothing; the township's report
 * counts meetings, matters raised and resolved (on the spot, and by linked tickets the router
 * resolved), visits per party member and inspections.
 *
 * A demo grid worker of 浔龙河镇 (township 102) files; the clock is 2026-10-20, a day no other
 * test uses. */
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

#include "harness.h"

static PGconn *g_db;
static pid_t g_intake, g_router;
static int g_http;
static char g_clock[1024];
static long long g_worker, g_group;
static char *tok_worker, *tok_sup, *tok_sup_other;

static int setup(void **state)
{
    (void)state;
    g_db = h_db();
    /* the first grid worker of township 102's groups that has a household to visit */
    g_worker = h_sql_int(g_db,
                         "SELECT s.id FROM registry.staff s JOIN registry.unit g ON g.id = s.unit_id AND g.level = 'group'"
                         " JOIN registry.unit v ON v.id = g.parent_id WHERE v.parent_id = 102 AND s.role = 'grid_worker'"
                         " AND g.boundary IS NOT NULL AND EXISTS (SELECT 1 FROM registry.household h WHERE h.group_id = g.id)"
                         " ORDER BY s.id LIMIT 1",
                         0, NULL);
    char w[24];
    snprintf(w, sizeof w, "%lld", g_worker);
    const char *p[] = {w};
    g_group = h_sql_int(g_db, "SELECT unit_id FROM registry.staff WHERE id = $1::bigint", 1, p);
    tok_worker = h_staff_token(g_db, g_worker);
    tok_sup = h_staff_token(g_db, h_sql_int(g_db, "SELECT id FROM registry.staff WHERE role = 'supervisor' AND unit_id = 102"
                                                  " ORDER BY id LIMIT 1", 0, NULL));
    tok_sup_other = h_staff_token(g_db, h_sql_int(g_db, "SELECT id FROM registry.staff WHERE role = 'supervisor'"
                                                        " AND unit_id = 101 ORDER BY id LIMIT 1", 0, NULL));
    snprintf(g_clock, sizeof g_clock, "%s/field-forms-clock", h_env("GRIDGOV_TEST_VAR"));
    h_set_clock(g_clock, "2026-10-20T02:00:00Z"); /* Tuesday 10:00 in the county */
    static char clock_env[1100], router_env[96];
    snprintf(clock_env, sizeof clock_env, "GRIDGOV_CLOCK_FILE=%s", g_clock);
    snprintf(router_env, sizeof router_env, "GRIDGOV_ROUTER_ENDPOINT=tcp://127.0.0.1:%d", h_port(212));
    static const char *env[] = {clock_env, router_env, "GRIDGOV_RATE_LIMIT_PER_MINUTE=0", NULL};
    g_http = h_port(210);
    g_intake = h_start_intake(g_http, h_port(211), env);
    g_router = h_start_router(h_port(212), h_port(211), env);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int s1 = h_stop(g_router, SIGTERM), s2 = h_stop(g_intake, SIGTERM);
    PQfinish(g_db);
    free(tok_worker), free(tok_sup), free(tok_sup_other);
    return WIFEXITED(s1) && WEXITSTATUS(s1) == 0 && WIFEXITED(s2) && WEXITSTATUS(s2) == 0 ? 0 : -1;
}

static json_t *expect(const char *method, const char *path, const char *token, const char *body, long want)
{
    char url[512], auth[200];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", g_http, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    const char *hdr[] = {"Content-Type: application/json", auth, NULL};
    h_resp_t r;
    assert_true(h_http(method, url, hdr, body, body ? strlen(body) : 0, &r));
    json_t *j = r.body.len ? json_loadb(r.body.data, r.body.len, 0, NULL) : NULL;
    if (r.status != want)
        print_error("%s %s: %ld, wanted %ld: %s\n", method, path, r.status, want, buf_str(&r.body));
    assert_int_equal(r.status, want);
    h_resp_free(&r);
    return j;
}

static const char *err_code(const json_t *j)
{
    return json_string_value(json_object_get(json_object_get(j, "error"), "code"));
}

static long long count(const char *sql)
{
    return h_sql_int(g_db, sql, 0, NULL);
}

#define RESERVOIR_FAIL                                                                                              \
    "{\"id\":\"6f1c2d3e-4b5a-4c6d-8e7f-000000000001\",\"form\":\"reservoir\",\"version\":1,"                       \
    "\"at\":\"2026-10-20T09:30:00+08:00\",\"lat\":28.2,\"long\":113.1,"                                              \
    "\"answers\":{\"reservoir\":\"狮子山山塘\",\"water_level_m\":3.2,\"below_warning\":\"ok\","                      \
    "\"dam_cracks\":\"fail\",\"spillway\":\"fail\",\"note\":\"坝体东侧有 2 米长裂缝\"}}"

static void a_failed_inspection_becomes_tickets_once(void **state)
{
    (void)state;
    long long before = count("SELECT count(*) FROM intake.ticket WHERE channel = 'inspection'");
    json_t *j = expect("POST", "/api/v1/field/submissions", tok_worker, RESERVOIR_FAIL, 201);
    const json_t *t = json_object_get(j, "tickets");
    assert_int_equal(json_array_size(t), 2);
    /* items in order: dam_cracks then spillway, each with its priority */
    assert_string_equal(json_string_value(json_object_get(json_array_get(t, 0), "item")), "dam_cracks");
    assert_string_equal(json_string_value(json_object_get(json_array_get(t, 0), "priority")), "high");
    assert_string_equal(json_string_value(json_object_get(json_array_get(t, 1), "item")), "spillway");
    char code[2][40];
    for (int i = 0; i < 2; i++)
        snprintf(code[i], sizeof code[i], "%s", json_string_value(json_object_get(json_array_get(t, i), "code")));
    json_decref(j);
    /* sent again (the app did not hear the answer): the same tickets, nothing new */
    j = expect("POST", "/api/v1/field/submissions", tok_worker, RESERVOIR_FAIL, 200);
    assert_int_equal(json_array_size(json_object_get(j, "tickets")), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(j, "tickets"), 0), "code")), code[0]);
    json_decref(j);
    assert_int_equal(count("SELECT count(*) FROM intake.ticket WHERE channel = 'inspection'"), before + 2);
    assert_int_equal(count("SELECT count(*) FROM intake.field_submission WHERE id = '6f1c2d3e-4b5a-4c6d-8e7f-000000000001'"), 1);
    /* another body under the same id */
    char *other = strdup(RESERVOIR_FAIL);
    *strstr(other, "3.2") = '4';
    j = expect("POST", "/api/v1/field/submissions", tok_worker, other, 409);
    assert_string_equal(err_code(j), "submission_id_reused");
    json_decref(j);
    free(other);
    assert_int_equal(count("SELECT count(*) FROM intake.ticket WHERE channel = 'inspection'"), before + 2);

    /* the tickets: category POND with the failed item's hazard and priority, one ticket.created
     * each, and the router placed them in the worker's group (not where the point lies) */
    for (int i = 0; i < 2; i++) {
        const char *p[] = {code[i]};
        assert_true(h_wait_routed(g_db, code[i], 10000));
        assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM intake.ticket WHERE code = $1 AND service_code = 'POND'"
                                         " AND attributes ->> 'priority' = 'high' AND channel = 'inspection'",
                                   1, p),
                         1);
        assert_int_equal(h_sql_int(g_db, "SELECT group_id FROM router.ticket_assignment WHERE code = $1", 1, p), g_group);
        assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM bus.outbox WHERE type = 'ticket.created' AND data ->> 'code' = $1",
                                   1, p),
                         1);
    }
    const char *p0[] = {code[0]};
    char *desc = h_sql_text(g_db, "SELECT description FROM intake.ticket WHERE code = $1", 1, p0);
    assert_non_null(strstr(desc, "坝体无裂缝、无渗漏"));
    assert_non_null(strstr(desc, "狮子山山塘"));
    assert_non_null(strstr(desc, "2 米长裂缝"));
    free(desc);
    /* a passed inspection raises nothing */
    j = expect("POST", "/api/v1/field/submissions", tok_worker,
               "{\"id\":\"6f1c2d3e-4b5a-4c6d-8e7f-000000000002\",\"form\":\"old_factory\",\"version\":1,"
               "\"at\":\"2026-10-20T09:40:00+08:00\",\"answers\":{\"site\":\"原砖厂\",\"structure\":\"ok\","
               "\"fire_risk\":\"ok\",\"fenced\":\"ok\"}}",
               201);
    assert_int_equal(json_array_size(json_object_get(j, "tickets")), 0);
    json_decref(j);
    assert_int_equal(count("SELECT count(*) FROM intake.ticket WHERE channel = 'inspection'"), before + 2);
}

static void bad_submissions_are_refused_and_change_nothing(void **state)
{
    (void)state;
    long long subs = count("SELECT count(*) FROM intake.field_submission");
    long long tickets = count("SELECT count(*) FROM intake.ticket");
    static const struct {
        const char *body, *code;
    } bad[] = {
        /* a version the form does not have */
        {"{\"id\":\"6f1c2d3e-4b5a-4c6d-8e7f-0000000000a1\",\"form\":\"reservoir\",\"version\":2,\"at\":\"2026-10-20T09:00:00+08:00\","
         "\"answers\":{\"reservoir\":\"a\",\"water_level_m\":1,\"below_warning\":\"ok\",\"dam_cracks\":\"fail\",\"spillway\":\"ok\"}}",
         "unknown_form_version"},
        {"{\"id\":\"6f1c2d3e-4b5a-4c6d-8e7f-0000000000a2\",\"form\":\"nosuch\",\"version\":1,\"at\":\"2026-10-20T09:00:00+08:00\","
         "\"answers\":{}}",
         "unknown_form_version"},
        /* a check item answered neither ok nor fail */
        {"{\"id\":\"6f1c2d3e-4b5a-4c6d-8e7f-0000000000a3\",\"form\":\"reservoir\",\"version\":1,\"at\":\"2026-10-20T09:00:00+08:00\","
         "\"answers\":{\"reservoir\":\"a\",\"water_level_m\":1,\"below_warning\":\"ok\",\"dam_cracks\":\"bad\",\"spillway\":\"ok\"}}",
         "invalid_answer"},
        /* a required item missing */
        {"{\"id\":\"6f1c2d3e-4b5a-4c6d-8e7f-0000000000a4\",\"form\":\"reservoir\",\"version\":1,\"at\":\"2026-10-20T09:00:00+08:00\","
         "\"answers\":{\"reservoir\":\"a\",\"water_level_m\":1,\"below_warning\":\"fail\",\"spillway\":\"ok\"}}",
         "missing_answer"},
        /* a number out of the form's range, an item the version does not have */
        {"{\"id\":\"6f1c2d3e-4b5a-4c6d-8e7f-0000000000a5\",\"form\":\"reservoir\",\"version\":1,\"at\":\"2026-10-20T09:00:00+08:00\","
         "\"answers\":{\"reservoir\":\"a\",\"water_level_m\":-1,\"below_warning\":\"fail\",\"dam_cracks\":\"ok\",\"spillway\":\"ok\"}}",
         "invalid_answer"},
        {"{\"id\":\"6f1c2d3e-4b5a-4c6d-8e7f-0000000000a6\",\"form\":\"reservoir\",\"version\":1,\"at\":\"2026-10-20T09:00:00+08:00\","
         "\"answers\":{\"reservoir\":\"a\",\"water_level_m\":1,\"below_warning\":\"fail\",\"dam_cracks\":\"ok\",\"spillway\":\"ok\","
         "\"weather\":\"rain\"}}",
         "unknown_answer"},
        /* out-of-range coordinates, a bad id, bad JSON */
        {"{\"id\":\"6f1c2d3e-4b5a-4c6d-8e7f-0000000000a7\",\"form\":\"reservoir\",\"version\":1,\"at\":\"2026-10-20T09:00:00+08:00\","
         "\"lat\":128.2,\"long\":113.1,\"answers\":{\"reservoir\":\"a\",\"water_level_m\":1,\"below_warning\":\"fail\","
         "\"dam_cracks\":\"ok\",\"spillway\":\"ok\"}}",
         "invalid_location"},
        {"{\"id\":\"not-a-uuid\",\"form\":\"reservoir\",\"version\":1,\"at\":\"2026-10-20T09:00:00+08:00\",\"answers\":{}}", "invalid_id"},
        {"{\"id\":\"6f1c2d3e-4b5a-4c6d-8e7f-0000000000a8\",\"form\":\"reservoir\"", "invalid_json"},
        /* a household that is not registered, a ticket that does not exist */
        {"{\"id\":\"6f1c2d3e-4b5a-4c6d-8e7f-0000000000a9\",\"form\":\"party_visit\",\"version\":1,\"at\":\"2026-10-20T09:00:00+08:00\","
         "\"answers\":{\"party_member\":\"李党员\",\"household\":\"NO-SUCH-HH\",\"appeals_raised\":0}}",
         "unknown_household"},
        {"{\"id\":\"6f1c2d3e-4b5a-4c6d-8e7f-0000000000aa\",\"form\":\"house_meeting\",\"version\":1,\"at\":\"2026-10-20T09:00:00+08:00\","
         "\"answers\":{\"date\":\"2026-10-19\",\"place\":\"祠堂\",\"attendees\":30,\"matters_raised\":2,\"resolved_on_site\":1,"
         "\"linked_tickets\":[\"2610209999999\"]}}",
         "unknown_ticket"},
        /* more resolved than raised */
        {"{\"id\":\"6f1c2d3e-4b5a-4c6d-8e7f-0000000000ab\",\"form\":\"house_meeting\",\"version\":1,\"at\":\"2026-10-20T09:00:00+08:00\","
         "\"answers\":{\"date\":\"2026-10-19\",\"place\":\"祠堂\",\"attendees\":30,\"matters_raised\":1,\"resolved_on_site\":2}}",
         "invalid_answer"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *j = expect("POST", "/api/v1/field/submissions", tok_worker, bad[i].body, 400);
        if (strcmp(err_code(j), bad[i].code) != 0)
            fail_msg("%s: %s, wanted %s", bad[i].body, err_code(j), bad[i].code);
        json_decref(j);
    }
    json_decref(expect("POST", "/api/v1/field/submissions", tok_sup, bad[0].body, 403));
    assert_int_equal(count("SELECT count(*) FROM intake.field_submission"), subs);
    assert_int_equal(count("SELECT count(*) FROM intake.ticket"), tickets);
    /* the forms the app offers: the six the county starts with */
    json_t *j = expect("GET", "/api/v1/field/forms", tok_worker, NULL, 200);
    assert_int_equal(json_array_size(json_object_get(j, "forms")), 6);
    json_decref(j);
}

/* Resolves a ticket as the person holding it, through intake's staff actions. */
static void resolve(const char *code)
{
    assert_true(h_wait_routed(g_db, code, 10000));
    const char *p[] = {code};
    char *tok = h_staff_token(g_db, h_sql_int(g_db, "SELECT assignee_id FROM router.ticket_assignment WHERE code = $1", 1, p));
    char path[128];
    snprintf(path, sizeof path, "/api/v1/tickets/%s/actions/accept", code);
    json_decref(expect("POST", path, tok, NULL, 200));
    snprintf(path, sizeof path, "/api/v1/tickets/%s/actions/resolve", code);
    json_decref(expect("POST", path, tok, "{\"note\":\"已处理\"}", 200));
    free(tok);
}

static void submit(const char *id, const char *form, const char *answers)
{
    char body[2048];
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"form\":\"%s\",\"version\":1,\"at\":\"2026-10-20T09:50:00+08:00\",\"answers\":%s}",
             id, form, answers);
    json_decref(expect("POST", "/api/v1/field/submissions", tok_worker, body, 201));
}

static void the_township_report_counts_meetings_matters_and_visits(void **state)
{
    (void)state;
    /* two tickets to link from a meeting: the inspection's, one of them resolved */
    char *c1 = h_sql_text(g_db, "SELECT k.code FROM intake.field_submission_ticket l JOIN intake.ticket k ON k.id = l.ticket_id"
                                " WHERE l.submission_id = '6f1c2d3e-4b5a-4c6d-8e7f-000000000001' AND l.item = 'dam_cracks'",
                          0, NULL);
    char *c2 = h_sql_text(g_db, "SELECT k.code FROM intake.field_submission_ticket l JOIN intake.ticket k ON k.id = l.ticket_id"
                                " WHERE l.submission_id = '6f1c2d3e-4b5a-4c6d-8e7f-000000000001' AND l.item = 'spillway'",
                          0, NULL);
    resolve(c1);
    char *hh = h_sql_text(g_db, "SELECT code FROM registry.household ORDER BY id LIMIT 1", 0, NULL);
    char a[1024];
    /* meetings: 5 + 3 matters raised; 4 + 1 resolved on the spot; 2 handed on, 1 resolved: 6/8 */
    snprintf(a, sizeof a,
             "{\"date\":\"2026-10-19\",\"place\":\"张家祠堂\",\"attendees\":42,\"matters_raised\":5,\"resolved_on_site\":3,"
             "\"topics\":[\"山塘清淤\",\"路灯\"],\"linked_tickets\":[\"%s\",\"%s\"]}",
             c1, c2);
    submit("6f1c2d3e-4b5a-4c6d-8e7f-0000000000b1", "house_meeting", a);
    submit("6f1c2d3e-4b5a-4c6d-8e7f-0000000000b2", "house_meeting",
           "{\"date\":\"2026-10-20\",\"place\":\"村部\",\"attendees\":18,\"matters_raised\":3,\"resolved_on_site\":2}");
    /* visits: 3 by 李 and 1 by 王: 4 visits by 2 members, 200 per 100 */
    for (int i = 0; i < 4; i++) {
        char id[64];
        snprintf(id, sizeof id, "6f1c2d3e-4b5a-4c6d-8e7f-0000000000c%d", i);
        snprintf(a, sizeof a, "{\"party_member\":\"%s\",\"household\":\"%s\",\"topics\":[\"医保\"],\"appeals_raised\":%d}",
                 i < 3 ? "李建华" : "王秀英", hh, i);
        submit(id, "party_visit", a);
    }
    json_t *j = expect("GET", "/api/v1/field/reports?township=430121-102&from=2026-10-20&to=2026-10-20", tok_sup, NULL, 200);
    const json_t *m = json_object_get(j, "meetings"), *v = json_object_get(j, "visits"), *in = json_object_get(j, "inspections");
    assert_int_equal(json_integer_value(json_object_get(m, "held")), 2);
    assert_int_equal(json_integer_value(json_object_get(m, "attendees")), 60);
    assert_int_equal(json_integer_value(json_object_get(m, "matters_raised")), 8);
    assert_int_equal(json_integer_value(json_object_get(m, "resolved_on_site")), 5);
    assert_int_equal(json_integer_value(json_object_get(m, "handed_on")), 2);
    assert_int_equal(json_integer_value(json_object_get(m, "handed_on_resolved")), 1);
    assert_int_equal(json_integer_value(json_object_get(m, "matters_resolved")), 6);
    assert_int_equal(json_integer_value(json_object_get(m, "resolved_permille")), 750);
    assert_int_equal(json_integer_value(json_object_get(v, "visits")), 4);
    assert_int_equal(json_integer_value(json_object_get(v, "party_members")), 2);
    assert_int_equal(json_integer_value(json_object_get(v, "visits_per_member_x100")), 200);
    assert_int_equal(json_integer_value(json_object_get(v, "appeals_raised")), 0 + 1 + 2 + 3);
    assert_int_equal(json_integer_value(json_object_get(in, "submitted")), 2);
    assert_int_equal(json_integer_value(json_object_get(in, "failed_items")), 2);
    assert_int_equal(json_integer_value(json_object_get(in, "tickets_open")), 1);
    json_decref(j);
    /* another period, another township's supervisor, bad dates */
    j = expect("GET", "/api/v1/field/reports?township=430121-102&from=2026-10-21&to=2026-10-22", tok_sup, NULL, 200);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "meetings"), "held")), 0);
    assert_true(json_is_null(json_object_get(json_object_get(j, "meetings"), "resolved_permille")));
    json_decref(j);
    json_decref(expect("GET", "/api/v1/field/reports?township=430121-102", tok_sup_other, NULL, 403));
    json_decref(expect("GET", "/api/v1/field/reports?township=430121-102&from=2026-10-22&to=2026-10-20", tok_sup, NULL, 400));
    json_decref(expect("GET", "/api/v1/field/reports?township=430121-102&from=20261020", tok_sup, NULL, 400));
    free(c1), free(c2), free(hh);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_failed_inspection_becomes_tickets_once),
        cmocka_unit_test(bad_submissions_are_refused_and_change_nothing),
        cmocka_unit_test(the_township_report_counts_meetings_matters_and_visits),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
