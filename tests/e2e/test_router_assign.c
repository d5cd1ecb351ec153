/* Router assignment (派单) end to end: intake takes the report, the router places it in its grid
 * cell, hands it to the unit its category names and a person on duty there, and follows
 * duplicates. */
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

static pid_t g_intake, g_router;
static PGconn *g_db;
static char g_key[80];
static int g_http;

static int setup(void **state)
{
    (void)state;
    g_db = h_db();
    char *k = h_api_key(g_db);
    snprintf(g_key, sizeof g_key, "%s", k);
    free(k);
    /* a category of this file's own, so no other test's open tickets can be its duplicates */
    h_sql_exec(g_db, "INSERT INTO registry.service (code, name, grp) VALUES ('BATCHTEST', '批量测试', '测试')"
                     " ON CONFLICT DO NOTHING");
    h_sql_exec(g_db, "INSERT INTO router.category_rule (service_code, level, sign_hours, resolve_hours)"
                     " VALUES ('BATCHTEST', 'village', 8, 40) ON CONFLICT DO NOTHING");
    h_sql_exec(g_db, "INSERT INTO registry.service (code, name, grp) VALUES ('BATCHGRID', '批量测试二', '测试')"
                     " ON CONFLICT DO NOTHING");
    /* one for the duplicate's public status, so its lists hold only that test's tickets */
    h_sql_exec(g_db, "INSERT INTO registry.service (code, name, grp) VALUES ('MERGETEST', '重复件测试', '测试')"
                     " ON CONFLICT DO NOTHING");
    h_sql_exec(g_db, "INSERT INTO router.category_rule (service_code, level, sign_hours, resolve_hours)"
                     " VALUES ('MERGETEST', 'village', 8, 40) ON CONFLICT DO NOTHING");
    g_http = h_port(60);
    /* staff actions go through intake to this router's command port; batches of hundreds of
     * reports from one key, as fast as they go: over the per-key rate limit, which is not what this
     * test is about (test_limits is) */
    static char router_ep[96];
    snprintf(router_ep, sizeof router_ep, "GRIDGOV_ROUTER_ENDPOINT=tcp://127.0.0.1:%d", h_port(62));
    const char *ienv[] = {router_ep, "GRIDGOV_RATE_LIMIT_PER_MINUTE=0", NULL};
    g_intake = h_start_intake(g_http, h_port(61), ienv);
    g_router = h_start_router(h_port(62), h_port(61), NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int s1 = h_stop(g_router, SIGTERM), s2 = h_stop(g_intake, SIGTERM);
    PQfinish(g_db);
    return WIFEXITED(s1) && WEXITSTATUS(s1) == 0 && WIFEXITED(s2) && WEXITSTATUS(s2) == 0 ? 0 : -1;
}

/* POSTs a native ticket; returns its code (static buffer). */
static const char *post(const char *json_body)
{
    static char code[40];
    assert_true(h_post_ticket(g_http, g_key, json_body, code));
    return code;
}

static void wait_routed(const char *code) { assert_true(h_wait_routed(g_db, code, 10000)); }

/* A point inside a group of the village with this code suffix, as "lat":..,"long":.. */
static void point_in_group(const char *group_code, char *out, size_t n)
{
    const char *p[] = {group_code};
    char *s = h_sql_text(g_db,
                         "SELECT format('\"lat\":%s,\"long\":%s', round(ST_Y(pt)::numeric, 7), round(ST_X(pt)::numeric, 7))"
                         " FROM (SELECT ST_PointOnSurface(boundary) pt FROM registry.unit WHERE code = $1) x",
                         1, p);
    snprintf(out, n, "%s", s);
    free(s);
}

static char *sql1(const char *sql, const char *a)
{
    const char *p[] = {a};
    return h_sql_text(g_db, sql, 1, p);
}

static void light_by_point_goes_to_the_village_of_its_group(void **state)
{
    (void)state;
    char *grp = h_sql_text(g_db, "SELECT code FROM registry.unit WHERE level = 'group' ORDER BY id OFFSET 7 LIMIT 1", 0, NULL);
    char pt[96], body[512];
    point_in_group(grp, pt, sizeof pt);
    snprintf(body, sizeof body, "{\"service_code\":\"LIGHT\",%s,\"attributes\":{\"fault_type\":\"off\"},\"description\":\"路灯不亮\"}", pt);
    const char *code = post(body);
    wait_routed(code);
    char *placed = sql1("SELECT u.code FROM router.ticket t JOIN registry.unit u ON u.id = t.group_id WHERE t.code = $1", code);
    assert_string_equal(placed, grp);
    char *holder = sql1("SELECT u.code FROM router.ticket t JOIN registry.unit u ON u.id = t.unit_id WHERE t.code = $1", code);
    char *village = sql1("SELECT v.code FROM registry.unit g JOIN registry.unit v ON v.id = g.parent_id WHERE g.code = $1", grp);
    assert_string_equal(holder, village);
    char *role = sql1("SELECT s.role || '@' || u.code FROM router.ticket t JOIN registry.staff s ON s.id = t.assignee_id"
                      " JOIN registry.unit u ON u.id = s.unit_id WHERE t.code = $1", code);
    char want[96];
    snprintf(want, sizeof want, "handler@%s", village);
    assert_string_equal(role, want);
    char *st = sql1("SELECT state || ',' || (sign_due > received_at)::text || ',' || (resolve_due > sign_due)::text"
                    " FROM router.ticket WHERE code = $1", code);
    assert_string_equal(st, "assigned,true,true");
    const char *p[] = {code};
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM router.transition tr JOIN router.ticket t USING (ticket_id)"
                                     " WHERE t.code = $1 AND tr.action = 'assign' AND tr.to_state = 'assigned'", 1, p), 1);
    assert_true(h_wait_sql(g_db, "SELECT count(*) FROM bus.outbox WHERE type = 'ticket.assigned' AND data->>'code' = $1", 1,
                           p, 1, 5000));
    /* Open311 now shows who handles it and when it is expected */
    char url[160];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/open311/v2/requests/%s.json", g_http, code);
    h_resp_t r;
    assert_true(h_http("GET", url, NULL, NULL, 0, &r));
    json_error_t je;
    json_t *list = json_loads(buf_str(&r.body), 0, &je);
    json_t *j = json_array_get(list, 0);
    char *vname = sql1("SELECT name FROM registry.unit WHERE code = $1", village);
    assert_string_equal(json_string_value(json_object_get(j, "agency_responsible")), vname);
    assert_true(json_is_string(json_object_get(j, "expected_datetime")));
    assert_string_equal(json_string_value(json_object_get(j, "status_notes")), "已派单，等待签收");
    json_decref(list);
    h_resp_free(&r);
    free(vname);
    free(grp);
    free(placed);
    free(holder);
    free(village);
    free(role);
    free(st);
}

static void categories_pick_their_level_and_desk(void **state)
{
    (void)state;
    char *grp = h_sql_text(g_db, "SELECT code FROM registry.unit WHERE level = 'group' ORDER BY id OFFSET 30 LIMIT 1", 0, NULL);
    char pt[96], body[512];
    point_in_group(grp, pt, sizeof pt);
    /* 邻里纠纷 → the group leader first */
    snprintf(body, sizeof body, "{\"service_code\":\"DISPUTE\",%s,\"attributes\":{\"dispute_type\":[\"boundary\"]}}", pt);
    char dispute[40];
    snprintf(dispute, sizeof dispute, "%s", post(body));
    /* 山塘水库安全 → the township's 水利站 */
    snprintf(body, sizeof body, "{\"service_code\":\"POND\",%s,\"attributes\":{\"hazard_type\":\"seep\"}}", pt);
    char *attr = h_sql_text(g_db, "SELECT code FROM registry.service_attribute WHERE service_code = 'POND' AND required"
                                  " AND datatype = 'singlevaluelist' ORDER BY ord LIMIT 1", 0, NULL);
    char *val = h_sql_text(g_db, "SELECT v.key FROM registry.service_attribute_value v JOIN registry.service_attribute a"
                                 " ON a.service_code = v.service_code AND a.code = v.attribute_code"
                                 " WHERE v.service_code = 'POND' AND a.required ORDER BY v.ord LIMIT 1", 0, NULL);
    snprintf(body, sizeof body, "{\"service_code\":\"POND\",%s,\"attributes\":{\"%s\":\"%s\"}}", pt, attr, val);
    char pond[40];
    snprintf(pond, sizeof pond, "%s", post(body));
    wait_routed(dispute);
    wait_routed(pond);
    char *d = sql1("SELECT u.code || ' ' || s.role FROM router.ticket t JOIN registry.unit u ON u.id = t.unit_id"
                   " JOIN registry.staff s ON s.id = t.assignee_id WHERE t.code = $1", dispute);
    char want[128];
    snprintf(want, sizeof want, "%s group_leader", grp);
    assert_string_equal(d, want);
    char *p = sql1("SELECT u.level || ' ' || (s.name LIKE '%水利站%')::text FROM router.ticket t"
                   " JOIN registry.unit u ON u.id = t.unit_id JOIN registry.staff s ON s.id = t.assignee_id WHERE t.code = $1",
                   pond);
    assert_string_equal(p, "township true");
    free(grp);
    free(attr);
    free(val);
    free(d);
    free(p);
}

static void household_or_registered_phone_places_without_a_point(void **state)
{
    (void)state;
    char *hh = h_sql_text(g_db, "SELECT code FROM registry.household ORDER BY id OFFSET 500 LIMIT 1", 0, NULL);
    char body[512];
    snprintf(body, sizeof body, "{\"service_code\":\"AID\",\"address_id\":\"%s\",\"channel\":\"grid_worker\"}", hh);
    char by_hh[40];
    snprintf(by_hh, sizeof by_hh, "%s", post(body));
    char *phone = h_sql_text(g_db, "SELECT phone FROM registry.resident WHERE phone IS NOT NULL AND is_head"
                                   " ORDER BY id OFFSET 900 LIMIT 1", 0, NULL);
    snprintf(body, sizeof body, "{\"service_code\":\"AID\",\"address_string\":\"家门口\",\"phone\":\"%s\"}", phone);
    char by_phone[40];
    snprintf(by_phone, sizeof by_phone, "%s", post(body));
    /* no point, no household, unknown phone: the county desk */
    snprintf(body, sizeof body, "{\"service_code\":\"AID\",\"address_string\":\"不知道哪个组\"}");
    char nowhere[40];
    snprintf(nowhere, sizeof nowhere, "%s", post(body));
    wait_routed(by_hh);
    wait_routed(by_phone);
    wait_routed(nowhere);
    char *g1 = sql1("SELECT (t.group_id = h.group_id)::text FROM router.ticket t, registry.household h"
                    " WHERE t.code = $1 AND h.code = (SELECT address_id FROM intake.ticket WHERE code = $1)", by_hh);
    assert_string_equal(g1, "true");
    const char *pp[] = {by_phone, phone};
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM router.ticket t JOIN registry.household h ON h.group_id = t.group_id"
                                     " JOIN registry.resident r ON r.household_id = h.id WHERE t.code = $1 AND r.phone = $2",
                               2, pp), 1);
    char *c = sql1("SELECT u.level || coalesce(t.group_id::text, '-') FROM router.ticket t JOIN registry.unit u"
                   " ON u.id = t.unit_id WHERE t.code = $1", nowhere);
    assert_string_equal(c, "county-");
    free(hh);
    free(phone);
    free(g1);
    free(c);
}

static void a_second_report_nearby_follows_the_first(void **state)
{
    (void)state;
    char *grp = h_sql_text(g_db, "SELECT code FROM registry.unit WHERE level = 'group' ORDER BY id OFFSET 50 LIMIT 1", 0, NULL);
    char pt[96], body[512];
    point_in_group(grp, pt, sizeof pt);
    snprintf(body, sizeof body, "{\"service_code\":\"OTHER\",%s,\"description\":\"停水\"}", pt);
    char first[40], second[40], other[40];
    snprintf(first, sizeof first, "%s", post(body));
    wait_routed(first);
    snprintf(second, sizeof second, "%s", post(body));
    /* same place, another category: not a duplicate */
    snprintf(body, sizeof body, "{\"service_code\":\"POLICY\",%s}", pt);
    snprintf(other, sizeof other, "%s", post(body));
    wait_routed(second);
    wait_routed(other);
    char *m = sql1("SELECT t.state || ' ' || o.code FROM router.ticket t JOIN router.ticket o ON o.ticket_id = t.merged_into"
                   " WHERE t.code = $1", second);
    char want[96];
    snprintf(want, sizeof want, "merged %s", first);
    assert_string_equal(m, want);
    char *o = sql1("SELECT state FROM router.ticket WHERE code = $1", other);
    assert_string_equal(o, "assigned");
    const char *p[] = {first, second};
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM router.follower f JOIN router.ticket t ON t.ticket_id = f.ticket_id"
                                     " JOIN intake.ticket s ON s.id = f.source_ticket_id WHERE t.code = $1 AND s.code = $2",
                               2, p), 1);
    const char *p2[] = {second, first};
    assert_true(h_wait_sql(g_db, "SELECT count(*) FROM bus.outbox WHERE type = 'ticket.merged' AND data->>'code' = $1"
                                 " AND data->>'merged_into' = $2", 2, p2, 1, 5000));
    free(grp);
    free(m);
    free(o);
}

/* GET of a path on intake, expecting 200 and JSON (caller decrefs). */
static json_t *get_json(const char *path)
{
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", g_http, path);
    h_resp_t r;
    assert_true(h_http("GET", url, NULL, NULL, 0, &r));
    if (r.status != 200)
        print_error("GET %s: %ld %s\n", path, r.status, buf_str(&r.body));
    assert_int_equal(r.status, 200);
    json_error_t je;
    json_t *j = json_loads(buf_str(&r.body), 0, &je);
    assert_non_null(j);
    h_resp_free(&r);
    return j;
}

/* Whether a list of tickets (Open311 array, or the native {"tickets": [...]}) holds this code. */
static bool lists(json_t *list, const char *key, const char *code)
{
    json_t *rows = json_is_array(list) ? list : json_object_get(list, "tickets");
    assert_true(json_is_array(rows));
    size_t i;
    json_t *t;
    json_array_foreach(rows, i, t)
    {
        const char *c = json_string_value(json_object_get(t, key));
        if (c && !strcmp(c, code))
            return true;
    }
    return false;
}

/* What the reporter of dup reads, on Open311 and the native API, one request and the lists
 * filtered by status: status `want` everywhere, and notes naming the original. */
static void expect_public(const char *dup, const char *orig, const char *want)
{
    const char *other = !strcmp(want, "open") ? "closed" : "open";
    char path[256];
    snprintf(path, sizeof path, "/open311/v2/requests/%s.json", dup);
    json_t *j = get_json(path);
    json_t *one = json_array_get(j, 0);
    assert_string_equal(json_string_value(json_object_get(one, "status")), want);
    const char *notes = json_string_value(json_object_get(one, "status_notes"));
    assert_non_null(notes);
    assert_non_null(strstr(notes, orig));
    json_decref(j);
    snprintf(path, sizeof path, "/api/v1/tickets/%s", dup);
    j = get_json(path);
    assert_string_equal(json_string_value(json_object_get(j, "status")), want);
    assert_non_null(strstr(json_string_value(json_object_get(j, "status_notes")), orig));
    json_decref(j);
    const char *const lists_of[][2] = {{"/open311/v2/requests.json?service_code=MERGETEST&status=", "service_request_id"},
                                       {"/api/v1/tickets?service_code=MERGETEST&status=", "code"}};
    for (size_t i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s%s", lists_of[i][0], want);
        j = get_json(path);
        if (!lists(j, lists_of[i][1], dup))
            print_error("%s does not list %s\n", path, dup);
        assert_true(lists(j, lists_of[i][1], dup));
        json_decref(j);
        snprintf(path, sizeof path, "%s%s", lists_of[i][0], other);
        j = get_json(path);
        if (lists(j, lists_of[i][1], dup))
            print_error("%s lists %s\n", path, dup);
        assert_false(lists(j, lists_of[i][1], dup));
        json_decref(j);
    }
}

static long staff_action(const char *code, const char *action, const char *token, const char *json)
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

/* A duplicate (重复件) is not closed to its reporter while the ticket it follows is open: it
 * reads as open until that one closes (resolved and rated), then as closed; its notes name the
 * original's code throughout, and the lists filtered by status agree with GET of the request. */
static void a_duplicate_is_open_until_the_original_closes(void **state)
{
    (void)state;
    char *grp = h_sql_text(g_db, "SELECT code FROM registry.unit WHERE level = 'group' ORDER BY id OFFSET 90 LIMIT 1", 0, NULL);
    char pt[96], body[512], orig[40], dup[40];
    point_in_group(grp, pt, sizeof pt);
    char rc[16];
    snprintf(body, sizeof body, "{\"service_code\":\"MERGETEST\",%s,\"phone\":\"13900004444\",\"description\":\"桥面破损\"}", pt);
    assert_true(h_post_ticket_rc(g_http, g_key, body, orig, rc));
    wait_routed(orig);
    snprintf(body, sizeof body, "{\"service_code\":\"MERGETEST\",%s,\"phone\":\"13900005555\",\"description\":\"桥坏了\"}", pt);
    snprintf(dup, sizeof dup, "%s", post(body));
    wait_routed(dup);
    char *m = sql1("SELECT t.state || ' ' || o.code FROM router.ticket t JOIN router.ticket o ON o.ticket_id = t.merged_into"
                   " WHERE t.code = $1", dup);
    char want[96];
    snprintf(want, sizeof want, "merged %s", orig);
    assert_string_equal(m, want);
    free(m);
    expect_public(dup, orig, "open");

    char *id = sql1("SELECT assignee_id FROM router.ticket WHERE code = $1", orig);
    assert_true(*id);
    char *tok = h_staff_token(g_db, atoll(id));
    assert_int_equal(staff_action(orig, "accept", tok, "{}"), 200);
    assert_int_equal(staff_action(orig, "start", tok, "{}"), 200);
    assert_int_equal(staff_action(orig, "resolve", tok, "{\"note\":\"已修复桥面\"}"), 200);
    /* resolved, waiting for its reporter's rating: both still open */
    expect_public(dup, orig, "open");

    char url[256], key[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/tickets/%s/rating", g_http, orig);
    snprintf(key, sizeof key, "X-API-Key: %s", g_key);
    const char *hdr[] = {"Content-Type: application/json", key, NULL};
    char rating[96];
    snprintf(rating, sizeof rating, "{\"rating\":\"满意\",\"rating_code\":\"%s\"}", rc);
    h_resp_t r;
    assert_true(h_http("POST", url, hdr, rating, strlen(rating), &r));
    assert_int_equal(r.status, 200);
    h_resp_free(&r);
    char *st = sql1("SELECT state FROM router.ticket WHERE code = $1", orig);
    assert_string_equal(st, "closed");
    expect_public(dup, orig, "closed");
    free(st);
    free(tok);
    free(id);
    free(grp);
}

/* Reports that reach the router together (it was down) are routed in one batch, with the same
 * outcome as one at a time: the second of two nearby reports follows the first even though the
 * first was not in the database when the batch was read; a distant one and one of another
 * category are assigned. */
static void reports_routed_together_follow_each_other_as_one_at_a_time(void **state)
{
    (void)state;
    assert_int_equal(h_stop(g_router, SIGTERM), 0);
    char *grp = h_sql_text(g_db, "SELECT code FROM registry.unit WHERE level = 'group' ORDER BY id OFFSET 120 LIMIT 1", 0, NULL);
    char *far = h_sql_text(g_db, "SELECT code FROM registry.unit WHERE level = 'group' ORDER BY id OFFSET 20 LIMIT 1", 0, NULL);
    char pt[96], pt_far[96], body[512], first[40], second[40], distant[40], other[40];
    point_in_group(grp, pt, sizeof pt);
    point_in_group(far, pt_far, sizeof pt_far);
    snprintf(body, sizeof body, "{\"service_code\":\"BATCHTEST\",%s,\"description\":\"第一件\"}", pt);
    snprintf(first, sizeof first, "%s", post(body));
    /* the same point again: 0 m away */
    snprintf(body, sizeof body, "{\"service_code\":\"BATCHTEST\",%s,\"description\":\"第二件\"}", pt);
    snprintf(second, sizeof second, "%s", post(body));
    snprintf(body, sizeof body, "{\"service_code\":\"BATCHTEST\",%s,\"description\":\"远处\"}", pt_far);
    snprintf(distant, sizeof distant, "%s", post(body));
    snprintf(body, sizeof body, "{\"service_code\":\"POLICY\",%s,\"description\":\"别的事项\"}", pt);
    snprintf(other, sizeof other, "%s", post(body));

    g_router = h_start_router(h_port(62), h_port(61), NULL);
    wait_routed(first);
    wait_routed(second);
    wait_routed(distant);
    wait_routed(other);
    const char *codes[] = {first, second, distant, other};
    /* one batch: all four rows written by one transaction */
    assert_int_equal(h_sql_int(g_db, "SELECT count(DISTINCT xmin::text) FROM router.ticket WHERE code IN ($1, $2, $3, $4)",
                               4, codes), 1);
    char *s = sql1("SELECT state FROM router.ticket WHERE code = $1", first);
    assert_string_equal(s, "assigned");
    free(s);
    s = sql1("SELECT t.state || ' ' || m.code FROM router.ticket t JOIN router.ticket m ON m.ticket_id = t.merged_into"
             " WHERE t.code = $1", second);
    char want[96];
    snprintf(want, sizeof want, "merged %s", first);
    assert_string_equal(s, want);
    free(s);
    /* the first ticket's followers: its own reporter and the second's */
    const char *pair[] = {first, second};
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM router.follower f JOIN router.ticket o ON o.ticket_id = f.ticket_id"
                                     " JOIN router.ticket n ON n.ticket_id = f.source_ticket_id"
                                     " WHERE o.code = $1 AND n.code IN ($1, $2)", 2, pair), 2);
    const char *p2[] = {second};
    assert_true(h_wait_sql(g_db, "SELECT count(*) FROM bus.outbox WHERE type = 'ticket.merged' AND data->>'code' = $1"
                                 " AND data->>'merged_into' IS NOT NULL", 1, p2, 1, 5000));
    s = sql1("SELECT data->>'merged_into' FROM bus.outbox WHERE type = 'ticket.merged' AND data->>'code' = $1", second);
    assert_string_equal(s, first);
    free(s);
    /* the reporter of the duplicate reads the original's code in Open311's status_notes */
    char url[160];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/open311/v2/requests/%s.json", g_http, second);
    h_resp_t r;
    assert_true(h_http("GET", url, NULL, NULL, 0, &r));
    json_error_t je;
    json_t *list = json_loads(buf_str(&r.body), 0, &je);
    const char *notes = json_string_value(json_object_get(json_array_get(list, 0), "status_notes"));
    assert_non_null(notes);
    assert_non_null(strstr(notes, first));
    /* and it stays open while the first is open: the reporter still waits for the outcome */
    assert_string_equal(json_string_value(json_object_get(json_array_get(list, 0), "status")), "open");
    json_decref(list);
    h_resp_free(&r);
    s = sql1("SELECT state FROM router.ticket WHERE code = $1", distant);
    assert_string_equal(s, "assigned");
    free(s);
    s = sql1("SELECT state FROM router.ticket WHERE code = $1", other);
    assert_string_equal(s, "assigned");
    free(s);
    /* every one counted once as received, the merged one not at all */
    assert_int_equal(h_sql_int(g_db, "SELECT coalesce(sum(received), 0) FROM router.stat_daily s JOIN registry.unit u"
                                     " ON u.id = s.unit_id WHERE u.level = 'county' AND s.service_code = 'BATCHTEST'",
                               0, NULL), 2);
    free(grp);
    free(far);
}

/* More reports than one chunk of a batch (200): the router reads the second chunk's plan on its
 * other connection, which cannot see the first chunk yet. A report in the second chunk at the
 * place of one in the first still follows it. */
static void a_report_follows_one_from_an_earlier_chunk_of_the_batch(void **state)
{
    (void)state;
    enum { N = 230, ORIGINAL = 10 };
    static char codes[N + 1][40];
    assert_int_equal(h_stop(g_router, SIGTERM), 0);
    char body[256];
    for (int i = 0; i < N; i++) { /* a grid 1.3 km apart: none near another */
        snprintf(body, sizeof body,
                 "{\"service_code\":\"BATCHGRID\",\"lat\":%.4f,\"long\":%.4f,\"description\":\"网格%d\"}",
                 28.13 + (i / 15) * 0.012, 113.03 + (i % 15) * 0.012, i);
        snprintf(codes[i], sizeof codes[i], "%s", post(body));
    }
    snprintf(body, sizeof body, "{\"service_code\":\"BATCHGRID\",\"lat\":%.4f,\"long\":%.4f,\"description\":\"重复\"}",
             28.13 + (ORIGINAL / 15) * 0.012, 113.03 + (ORIGINAL % 15) * 0.012);
    snprintf(codes[N], sizeof codes[N], "%s", post(body));

    g_router = h_start_router(h_port(62), h_port(61), NULL);
    wait_routed(codes[N]);
    assert_true(h_wait_sql(g_db, "SELECT count(*) FROM router.ticket WHERE service_code = 'BATCHGRID'", 0, NULL, N + 1,
                           10000));
    /* all in one transaction, so in one batch of several chunks */
    assert_int_equal(h_sql_int(g_db, "SELECT count(DISTINCT xmin::text) FROM router.ticket WHERE service_code = 'BATCHGRID'",
                               0, NULL), 1);
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM router.ticket WHERE service_code = 'BATCHGRID'"
                                     " AND state = 'assigned'", 0, NULL), N);
    char *s = sql1("SELECT m.code FROM router.ticket t JOIN router.ticket m ON m.ticket_id = t.merged_into"
                   " WHERE t.code = $1", codes[N]);
    assert_string_equal(s, codes[ORIGINAL]);
    free(s);
}

/* Malformed ticket.created events (injected as source 'test', which the contract check leaves out)
 * in the same batch as a good one: skipped (nothing routed for them, nothing dead-lettered), the
 * good one routed, the router still running. */
static void malformed_events_in_a_batch_are_skipped_and_the_rest_routed(void **state)
{
    (void)state;
    assert_int_equal(h_stop(g_router, SIGTERM), 0);
    long long dead = h_sql_int(g_db, "SELECT count(*) FROM bus.dead_letter WHERE consumer = 'router'", 0, NULL);
    h_sql_exec(g_db, "SELECT bus.emit('ticket.created', 'test', NULL, '{\"code\":\"9999999999990\"}')");
    h_sql_exec(g_db, "SELECT bus.emit('ticket.created', 'test', NULL, '{\"ticket_id\":\"12x\",\"code\":\"9999999999991\","
                     "\"service_code\":\"BATCHTEST\",\"requested_at\":\"2026-11-29T01:00:00Z\"}')");
    h_sql_exec(g_db, "SELECT bus.emit('ticket.created', 'test', NULL, '{\"ticket_id\":\"7\",\"code\":\"9999999999992\","
                     "\"service_code\":\"BATCHTEST\",\"requested_at\":\"yesterday\"}')");
    char *grp = h_sql_text(g_db, "SELECT code FROM registry.unit WHERE level = 'group' ORDER BY id OFFSET 60 LIMIT 1", 0, NULL);
    char pt[96], body[256], good[40];
    point_in_group(grp, pt, sizeof pt);
    snprintf(body, sizeof body, "{\"service_code\":\"BATCHTEST\",%s,\"description\":\"正常\"}", pt);
    snprintf(good, sizeof good, "%s", post(body));
    g_router = h_start_router(h_port(62), h_port(61), NULL);
    wait_routed(good);
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM router.ticket WHERE code IN ('9999999999990', '9999999999991',"
                                     " '9999999999992')", 0, NULL), 0);
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM bus.dead_letter WHERE consumer = 'router'", 0, NULL), dead);
    assert_int_equal(kill(g_router, 0), 0);
    free(grp);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(light_by_point_goes_to_the_village_of_its_group),
        cmocka_unit_test(categories_pick_their_level_and_desk),
        cmocka_unit_test(household_or_registered_phone_places_without_a_point),
        cmocka_unit_test(a_second_report_nearby_follows_the_first),
        cmocka_unit_test(a_duplicate_is_open_until_the_original_closes),
        cmocka_unit_test(reports_routed_together_follow_each_other_as_one_at_a_time),
        cmocka_unit_test(a_report_follows_one_from_an_earlier_chunk_of_the_batch),
        cmocka_unit_test(malformed_events_in_a_batch_are_skipped_and_the_rest_routed),
    };
    return cmocka_run_group_tests_name("router_assign", tests, setup, teardown);
}
