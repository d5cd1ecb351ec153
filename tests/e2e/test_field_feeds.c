/* Outside systems' alerts ("一张网") and the 五零 indicators, through the real intake and router.
 * A feed key issued by `gridgovctl feed`; alerts placed by point, by a group's code and by the
 * names of a village (and group); the same alert again changes nothing, an update and the
 * all-clear of its id update its one ticket (attributes, ticket.updated) and keep the raw
 * alerts; bad alerts are refused and change nothing. Then a group's indicators move as the test
 * files an accident, a model household, an appeal and a hazard there.
 *
 * The group is the last of 果园镇 (township 101) by id; the clock 2026-10-25, a day no other
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
static char g_clock[1024], g_feed_key[80], g_feed2_key[80], g_group_code[64], g_group_id[24];
static char *g_plain_key, *tok_worker, *tok_op, *tok_sup_other;

/* gridgovctl feed SOURCE SERVICE NAME: the key it prints */
static void issue_feed(const char *source, const char *service, const char *name, char out[80])
{
    char cmd[1024];
    snprintf(cmd, sizeof cmd, "%s/gridgovctl --set log_level=warn feed %s %s %s", h_env("GRIDGOV_BIN"), source, service, name);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    assert_non_null(fgets(out, 80, p));
    out[strcspn(out, "\n")] = '\0';
    assert_int_equal(pclose(p), 0);
    assert_int_equal(strlen(out), 64);
}

static int setup(void **state)
{
    (void)state;
    g_db = h_db();
    char *id = h_sql_text(g_db, "SELECT g.id::text FROM registry.unit g JOIN registry.unit v ON v.id = g.parent_id"
                                " WHERE v.parent_id = 101 AND g.level = 'group' AND g.boundary IS NOT NULL"
                                " AND EXISTS (SELECT 1 FROM registry.staff s WHERE s.unit_id = g.id AND s.role = 'grid_worker')"
                                " ORDER BY g.id DESC LIMIT 1",
                          0, NULL);
    snprintf(g_group_id, sizeof g_group_id, "%s", id);
    free(id);
    const char *p[] = {g_group_id};
    char *code = h_sql_text(g_db, "SELECT code FROM registry.unit WHERE id = $1::bigint", 1, p);
    snprintf(g_group_code, sizeof g_group_code, "%s", code);
    free(code);
    tok_worker = h_staff_token(g_db, h_sql_int(g_db, "SELECT id FROM registry.staff WHERE unit_id = $1::bigint"
                                                     " AND role = 'grid_worker' ORDER BY id LIMIT 1", 1, p));
    tok_op = h_staff_token(g_db, h_sql_int(g_db, "SELECT id FROM registry.staff WHERE role = 'operator' ORDER BY id LIMIT 1", 0, NULL));
    tok_sup_other = h_staff_token(g_db, h_sql_int(g_db, "SELECT id FROM registry.staff WHERE role = 'supervisor'"
                                                        " AND unit_id = 102 ORDER BY id LIMIT 1", 0, NULL));
    issue_feed("water", "POND", "县水利局山洪水库预警平台", g_feed_key);
    issue_feed("traffic", "ROAD", "县交通运输局路网平台", g_feed2_key);
    g_plain_key = h_api_key(g_db);
    snprintf(g_clock, sizeof g_clock, "%s/field-feeds-clock", h_env("GRIDGOV_TEST_VAR"));
    h_set_clock(g_clock, "2026-10-25T02:00:00Z"); /* Sunday 10:00 in the county */
    static char clock_env[1100], router_env[96];
    snprintf(clock_env, sizeof clock_env, "GRIDGOV_CLOCK_FILE=%s", g_clock);
    snprintf(router_env, sizeof router_env, "GRIDGOV_ROUTER_ENDPOINT=tcp://127.0.0.1:%d", h_port(222));
    static const char *env[] = {clock_env, router_env, "GRIDGOV_RATE_LIMIT_PER_MINUTE=0", NULL};
    g_http = h_port(220);
    g_intake = h_start_intake(g_http, h_port(221), env);
    g_router = h_start_router(h_port(222), h_port(221), env);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int s1 = h_stop(g_router, SIGTERM), s2 = h_stop(g_intake, SIGTERM);
    PQfinish(g_db);
    free(g_plain_key), free(tok_worker), free(tok_op), free(tok_sup_other);
    return WIFEXITED(s1) && WEXITSTATUS(s1) == 0 && WIFEXITED(s2) && WEXITSTATUS(s2) == 0 ? 0 : -1;
}

/* hdr: "X-API-Key: k" or "Authorization: Bearer t" or NULL */
static json_t *expect(const char *method, const char *path, const char *hdr1, const char *body, long want)
{
    char url[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", g_http, path);
    const char *hdr[] = {"Content-Type: application/json", hdr1, NULL};
    h_resp_t r;
    assert_true(h_http(method, url, hdr, body, body ? strlen(body) : 0, &r));
    json_t *j = r.body.len ? json_loadb(r.body.data, r.body.len, 0, NULL) : NULL;
    if (r.status != want)
        print_error("%s %s: %ld, wanted %ld: %s\n", method, path, r.status, want, buf_str(&r.body));
    assert_int_equal(r.status, want);
    h_resp_free(&r);
    return j;
}

static json_t *alert(const char *key, const char *body, long want)
{
    char h[120];
    snprintf(h, sizeof h, "X-API-Key: %s", key);
    return expect("POST", "/api/v1/feeds/alerts", h, body, want);
}

static json_t *staff_get(const char *token, const char *path, long want)
{
    char h[120];
    snprintf(h, sizeof h, "Authorization: Bearer %s", token);
    return expect("GET", path, h, NULL, want);
}

static long long count(const char *sql)
{
    return h_sql_int(g_db, sql, 0, NULL);
}

static long long group_of(const char *code)
{
    const char *p[] = {code};
    assert_true(h_wait_routed(g_db, code, 10000));
    return h_sql_int(g_db, "SELECT group_id FROM router.ticket_assignment WHERE code = $1", 1, p);
}

static char *ticket_attr(const char *code, const char *attr)
{
    const char *p[] = {code, attr};
    return h_sql_text(g_db, "SELECT coalesce(attributes ->> $2, '') FROM intake.ticket WHERE code = $1", 2, p);
}

static void an_alert_is_one_ticket_its_updates_update_it(void **state)
{
    (void)state;
    /* a point inside the group */
    const char *p[] = {g_group_id};
    char *lat = h_sql_text(g_db, "SELECT ST_Y(ST_PointOnSurface(boundary))::text FROM registry.unit WHERE id = $1::bigint", 1, p);
    char *lon = h_sql_text(g_db, "SELECT ST_X(ST_PointOnSurface(boundary))::text FROM registry.unit WHERE id = $1::bigint", 1, p);
    char body[2048];
    snprintf(body, sizeof body,
             "{\"alert_id\":\"SK-2026-1025-001\",\"issued_at\":\"2026-10-25T09:40:00+08:00\",\"title\":\"水库水位超警戒线\","
             "\"description\":\"狮子山水库水位 31.6 米，超警戒 0.4 米\",\"level\":\"yellow\",\"lat\":%s,\"long\":%s,"
             "\"data\":{\"station\":\"SZS01\",\"level_m\":31.6}}",
             lat, lon);
    free(lat), free(lon);
    long long tickets = count("SELECT count(*) FROM intake.ticket");
    json_t *j = alert(g_feed_key, body, 201);
    char code[40];
    snprintf(code, sizeof code, "%s", json_string_value(json_object_get(j, "code")));
    assert_string_equal(json_string_value(json_object_get(j, "status")), "active");
    json_decref(j);
    assert_int_equal(group_of(code), atoll(g_group_id));
    const char *cp[] = {code};
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM intake.ticket WHERE code = $1 AND channel = 'feed' AND service_code = 'POND'",
                               1, cp),
                     1);
    /* the same alert again (the source retried): nothing new */
    j = alert(g_feed_key, body, 200);
    assert_string_equal(json_string_value(json_object_get(j, "code")), code);
    assert_false(json_is_true(json_object_get(j, "changed")));
    json_decref(j);
    assert_int_equal(count("SELECT count(*) FROM intake.ticket"), tickets + 1);
    assert_int_equal(count("SELECT count(*) FROM intake.feed_alert_raw WHERE alert_id = 'SK-2026-1025-001'"), 1);
    /* an update: orange now; the same ticket */
    j = alert(g_feed_key,
              "{\"alert_id\":\"SK-2026-1025-001\",\"kind\":\"update\",\"issued_at\":\"2026-10-25T09:55:00+08:00\","
              "\"title\":\"水库水位继续上涨\",\"level\":\"orange\"}",
              200);
    assert_string_equal(json_string_value(json_object_get(j, "code")), code);
    assert_true(json_is_true(json_object_get(j, "changed")));
    json_decref(j);
    char *v = ticket_attr(code, "alert_level");
    assert_string_equal(v, "orange");
    free(v);
    /* the all-clear */
    j = alert(g_feed_key, "{\"alert_id\":\"SK-2026-1025-001\",\"kind\":\"all_clear\",\"issued_at\":\"2026-10-25T09:58:00+08:00\"}",
              200);
    assert_string_equal(json_string_value(json_object_get(j, "status")), "all_clear");
    json_decref(j);
    v = ticket_attr(code, "alert_status");
    assert_string_equal(v, "all_clear");
    free(v);
    assert_int_equal(count("SELECT count(*) FROM intake.ticket"), tickets + 1);
    assert_int_equal(count("SELECT count(*) FROM intake.feed_alert_raw WHERE alert_id = 'SK-2026-1025-001'"), 3);
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM bus.outbox WHERE type = 'ticket.updated' AND data ->> 'code' = $1", 1, cp),
                     2);
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM bus.outbox WHERE type = 'ticket.created' AND data ->> 'code' = $1", 1, cp),
                     1);
    /* the raw alert is kept as posted */
    assert_int_equal(count("SELECT count(*) FROM intake.feed_alert_raw WHERE alert_id = 'SK-2026-1025-001'"
                           " AND body -> 'data' ->> 'station' = 'SZS01'"),
                     1);
    /* another system may use the same id: its own alert */
    j = alert(g_feed2_key,
              "{\"alert_id\":\"SK-2026-1025-001\",\"issued_at\":\"2026-10-25T09:41:00+08:00\",\"title\":\"道路塌方\","
              "\"place\":{\"unit\":\"430121-101-01-01\"}}",
              201);
    assert_string_not_equal(json_string_value(json_object_get(j, "code")), code);
    json_decref(j);
}

static void alerts_are_placed_by_the_place_they_name(void **state)
{
    (void)state;
    const char *p[] = {g_group_code};
    char *village = h_sql_text(g_db, "SELECT v.name FROM registry.unit g JOIN registry.unit v ON v.id = g.parent_id WHERE g.code = $1", 1, p);
    char *group = h_sql_text(g_db, "SELECT name FROM registry.unit WHERE code = $1", 1, p);
    char *township = h_sql_text(g_db, "SELECT t.name FROM registry.unit g JOIN registry.unit v ON v.id = g.parent_id"
                                      " JOIN registry.unit t ON t.id = v.parent_id WHERE g.code = $1", 1, p);
    char body[1024];
    /* by its code */
    snprintf(body, sizeof body,
             "{\"alert_id\":\"PEST-7\",\"issued_at\":\"2026-10-25T09:00:00+08:00\",\"title\":\"稻飞虱虫情\",\"service_code\":\"OTHER\","
             "\"place\":{\"unit\":\"%s\"}}",
             g_group_code);
    json_t *j = alert(g_feed_key, body, 201);
    assert_int_equal(group_of(json_string_value(json_object_get(j, "code"))), atoll(g_group_id));
    json_decref(j);
    /* by the names of its township, village and group */
    snprintf(body, sizeof body,
             "{\"alert_id\":\"PEST-8\",\"issued_at\":\"2026-10-25T09:00:00+08:00\",\"title\":\"稻飞虱虫情\",\"service_code\":\"OTHER\","
             "\"place\":{\"township\":\"%s\",\"village\":\"%s\",\"group\":\"%s\"}}",
             township, village, group);
    j = alert(g_feed_key, body, 201);
    assert_int_equal(group_of(json_string_value(json_object_get(j, "code"))), atoll(g_group_id));
    json_decref(j);
    /* by the village alone: a group of that village */
    snprintf(body, sizeof body,
             "{\"alert_id\":\"PEST-9\",\"issued_at\":\"2026-10-25T09:00:00+08:00\",\"title\":\"稻飞虱虫情\",\"service_code\":\"OTHER\","
             "\"place\":{\"township\":\"%s\",\"village\":\"%s\"}}",
             township, village);
    j = alert(g_feed_key, body, 201);
    char gid[24];
    snprintf(gid, sizeof gid, "%lld", group_of(json_string_value(json_object_get(j, "code"))));
    json_decref(j);
    const char *gp[] = {gid, g_group_code};
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM registry.unit g JOIN registry.unit o ON o.parent_id = g.parent_id"
                                     " WHERE g.id = $1::bigint AND o.code = $2", 2, gp),
                     1);
    free(village), free(group), free(township);
}

static void bad_alerts_are_refused_and_change_nothing(void **state)
{
    (void)state;
    long long tickets = count("SELECT count(*) FROM intake.ticket"), raw = count("SELECT count(*) FROM intake.feed_alert_raw");
    static const struct {
        const char *body, *code;
        long status;
    } bad[] = {
        {"{\"alert_id\":\"B1\",\"issued_at\":\"2026-10-25T09:00:00+08:00\",\"title\":\"x\",\"lat\":200,\"long\":113}", "invalid_location", 400},
        {"{\"alert_id\":\"B2\",\"issued_at\":\"2026-10-25T09:00:00+08:00\",\"title\":\"x\",\"lat\":28.2}", "invalid_location", 400},
        {"{\"alert_id\":\"B3\",\"issued_at\":\"2026-10-25T09:00:00+08:00\",\"title\":\"x\"}", "missing_location", 400},
        {"{\"alert_id\":\"B4\",\"issued_at\":\"2026-10-25T09:00:00+08:00\",\"title\":\"x\",\"place\":{\"village\":\"没有这个村\"}}",
         "unknown_place", 400},
        {"{\"alert_id\":\"B5\",\"issued_at\":\"2026-10-25T09:00:00+08:00\",\"title\":\"x\",\"place\":{\"unit\":\"430121-101\"}}",
         "unknown_place", 400},
        {"{\"alert_id\":\"B6\",\"issued_at\":\"2026-10-25T09:00:00+08:00\",\"title\":\"x\",\"lat\":28.2,\"long\":113.1,"
         "\"service_code\":\"NOSUCH\"}",
         "unknown_service_code", 400},
        {"{\"alert_id\":\"B7\",\"issued_at\":\"2026-10-25T09:00:00+08:00\",\"title\":\"x\",\"lat\":28.2,\"long\":113.1,\"level\":\"purple\"}",
         "invalid_level", 400},
        {"{\"alert_id\":\"B8\",\"kind\":\"cancel\",\"issued_at\":\"2026-10-25T09:00:00+08:00\",\"title\":\"x\",\"lat\":28.2,\"long\":113.1}",
         "invalid_kind", 400},
        {"{\"alert_id\":\"B9\",\"issued_at\":\"2026-10-25\",\"title\":\"x\",\"lat\":28.2,\"long\":113.1}", "invalid_time", 400},
        {"{\"issued_at\":\"2026-10-25T09:00:00+08:00\",\"title\":\"x\",\"lat\":28.2,\"long\":113.1}", "invalid_alert_id", 400},
        {"{\"alert_id\":\"B10\",\"issued_at\":\"2026-10-25T09:00:00+08:00\",\"lat\":28.2,\"long\":113.1}", "invalid_title", 400},
        {"{\"alert_id\":\"B11\",\"issued_at\":\"2026-10-25T09:00:00+08:00\",\"title\":\"x\",\"lat\":28.2,\"long\":113.1,\"ticket\":1}",
         "invalid_field", 400},
        {"{\"alert_id\":\"B12\",", "invalid_json", 400},
        {"{\"alert_id\":\"NEVER\",\"kind\":\"all_clear\",\"issued_at\":\"2026-10-25T09:00:00+08:00\"}", "unknown_alert", 404},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *j = alert(g_feed_key, bad[i].body, bad[i].status);
        const char *c = json_string_value(json_object_get(json_object_get(j, "error"), "code"));
        if (!c || strcmp(c, bad[i].code) != 0)
            fail_msg("%s: %s, wanted %s", bad[i].body, c ? c : "(none)", bad[i].code);
        json_decref(j);
    }
    /* an ordinary API key, no key: not a feed */
    const char *ok = "{\"alert_id\":\"B20\",\"issued_at\":\"2026-10-25T09:00:00+08:00\",\"title\":\"x\",\"lat\":28.2,\"long\":113.1}";
    json_decref(alert(g_plain_key, ok, 401));
    json_decref(expect("POST", "/api/v1/feeds/alerts", NULL, ok, 401));
    assert_int_equal(count("SELECT count(*) FROM intake.ticket"), tickets);
    assert_int_equal(count("SELECT count(*) FROM intake.feed_alert_raw"), raw);
}

static json_t *indicators(void)
{
    char path[160];
    snprintf(path, sizeof path, "/api/v1/field/indicators?unit=%s&year=2026", g_group_code);
    json_t *j = staff_get(tok_op, path, 200);
    assert_int_equal(json_array_size(json_object_get(j, "groups")), 1);
    return j;
}

static json_int_t ind(const json_t *j, const char *k)
{
    return json_integer_value(json_object_get(json_array_get(json_object_get(j, "groups"), 0), k));
}

static void wuling_indicators_of_a_group(void **state)
{
    (void)state;
    json_t *before = indicators();
    /* the alerts above: the water alert's ticket and two pests (one in the village may be elsewhere) */
    const char *p[] = {g_group_id};
    long long hazards = h_sql_int(g_db, "SELECT count(*) FROM router.ticket_assignment t JOIN intake.ticket k ON k.id = t.ticket_id"
                                        " WHERE t.group_id = $1::bigint AND k.channel IN ('inspection', 'feed')"
                                        " AND t.state IN ('assigned', 'accepted', 'in_progress', 'returned')",
                                  1, p);
    assert_int_equal(ind(before, "hazards_open"), hazards);
    assert_true(hazards >= 3);
    /* an accident 25 days ago, a model household, an appeal filed in the group */
    char *hh = h_sql_text(g_db, "SELECT code FROM registry.household WHERE group_id = $1::bigint ORDER BY id LIMIT 1", 1, p);
    char body[1024], auth[120];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", tok_worker);
    json_decref(expect("POST", "/api/v1/field/submissions", auth,
                       "{\"id\":\"7a000000-0000-4000-8000-000000000001\",\"form\":\"safety_accident\",\"version\":1,"
                       "\"at\":\"2026-10-25T09:00:00+08:00\",\"answers\":{\"date\":\"2026-09-30\",\"description\":\"农用车侧翻\","
                       "\"injured\":1,\"dead\":0}}",
                       201));
    snprintf(body, sizeof body,
             "{\"id\":\"7a000000-0000-4000-8000-000000000002\",\"form\":\"model_household\",\"version\":1,"
             "\"at\":\"2026-10-25T09:00:00+08:00\",\"answers\":{\"household\":\"%s\",\"title\":\"五美庭院\",\"year\":2026}}",
             hh);
    json_decref(expect("POST", "/api/v1/field/submissions", auth, body, 201));
    char *addr = h_sql_text(g_db, "SELECT intake.group_address($1::bigint)", 1, p);
    snprintf(body, sizeof body,
             "{\"service_code\":\"SANIT\",\"channel\":\"grid_worker\",\"address_string\":\"%s\",\"description\":\"垃圾未清运\","
             "\"attributes\":{\"problem\":\"garbage\"}}",
             addr);
    char code[40];
    assert_true(h_post_ticket(g_http, g_plain_key, body, code));
    assert_int_equal(group_of(code), atoll(g_group_id));
    json_t *after = indicators();
    assert_int_equal(ind(after, "days_since_accident"), 25);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(after, "groups"), 0), "last_accident")),
                        "2026-09-30");
    assert_int_equal(ind(after, "model_households"), ind(before, "model_households") + 1);
    assert_int_equal(ind(after, "appeals_open"), ind(before, "appeals_open") + 1);
    assert_int_equal(ind(after, "hazards_open"), ind(before, "hazards_open"));
    json_decref(before);
    json_decref(after);
    /* the village lists its groups; another township's supervisor may not read them */
    char path[160];
    snprintf(path, sizeof path, "/api/v1/field/indicators?unit=%.*s", (int)(strrchr(g_group_code, '-') - g_group_code), g_group_code);
    json_t *j = staff_get(tok_op, path, 200);
    assert_true(json_array_size(json_object_get(j, "groups")) >= 2);
    json_decref(j);
    json_decref(staff_get(tok_sup_other, path, 403));
    json_decref(staff_get(tok_op, "/api/v1/field/indicators?unit=430121-999", 404));
    json_decref(staff_get(tok_op, "/api/v1/field/indicators?unit=430121-101&year=1999", 400));
    free(hh), free(addr);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_alert_is_one_ticket_its_updates_update_it),
        cmocka_unit_test(alerts_are_placed_by_the_place_they_name),
        cmocka_unit_test(bad_alerts_are_refused_and_change_nothing),
        cmocka_unit_test(wuling_indicators_of_a_group),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
