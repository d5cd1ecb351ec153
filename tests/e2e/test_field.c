/* Field work (issue 14) through the real intake: check-in inside, on the edge, near and far
 * outside a group's polygon; the attendance list as JSON and CSV; position pings read only by
 * the township's supervisor and the county during duty hours, and deleted after their
 * retention; patrol tracks uploaded with duplicates, reordering, a gap and a GPS jump, giving
 * the distance and coverage worked out by hand below; bad input at every endpoint refused with
 * nothing stored; intake killed with SIGKILL during uploads loses no acknowledged point.
 *
 * The fixture is this file's own, far from the demo county's polygons: a village 测试村 (id
 * 10297) under 浔龙河镇 (township 102) with two square groups side by side,
 *   G1 测试一组  long 112.000..112.002, lat 27.000..27.002
 *   G2 测试二组  long 112.002..112.004, lat 27.000..27.002
 * and grid workers W1 (G1), W2 (G2), W3 (G1, for the kill test). Removed at the end. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <math.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

#define W1 990001
#define W2 990002
#define W3 990003

static PGconn *g_db;
static pid_t g_intake;
static int g_http;
static char g_clock[1024];
static char *tok_w1, *tok_w2, *tok_w3, *tok_sup, *tok_sup_other, *tok_op;

static const char FIXTURE_SQL[] =
    "INSERT INTO registry.unit (id, parent_id, level, code, name, boundary) VALUES"
    " (10297, 102, 'village', '430121-102-97', '测试村',"
    "  ST_Multi(ST_MakeEnvelope(112.000, 27.000, 112.004, 27.002, 4326))),"
    " (1029701, 10297, 'group', '430121-102-97-01', '测试一组',"
    "  ST_Multi(ST_MakeEnvelope(112.000, 27.000, 112.002, 27.002, 4326))),"
    " (1029702, 10297, 'group', '430121-102-97-02', '测试二组',"
    "  ST_Multi(ST_MakeEnvelope(112.002, 27.000, 112.004, 27.002, 4326)))";
static const char STAFF_SQL[] =
    "INSERT INTO registry.staff (id, unit_id, role, name, phone) VALUES"
    " (990001, 1029701, 'grid_worker', '测试网格员甲', '13900990001'),"
    " (990002, 1029702, 'grid_worker', '测试网格员乙', '13900990002'),"
    " (990003, 1029701, 'grid_worker', '测试网格员丙', '13900990003')";

static const char *const DROP_SQL[] = {
    "DELETE FROM intake.field_checkin WHERE staff_id IN (990001, 990002, 990003)",
    "DELETE FROM intake.field_position WHERE staff_id IN (990001, 990002, 990003)",
    "DELETE FROM intake.field_track_point WHERE staff_id IN (990001, 990002, 990003)",
    "DELETE FROM registry.staff_token WHERE staff_id IN (990001, 990002, 990003)",
    "DELETE FROM registry.staff WHERE id IN (990001, 990002, 990003)",
    "DELETE FROM registry.unit WHERE id IN (1029701, 1029702)",
    "DELETE FROM registry.unit WHERE id = 10297",
    NULL};

static void drop_fixture(void)
{
    for (const char *const *q = DROP_SQL; *q; q++)
        h_sql_exec(g_db, *q);
}
static char *token_of(const char *sql)
{
    long long id = h_sql_int(g_db, sql, 0, NULL);
    return h_staff_token(g_db, id);
}

static int setup(void **state)
{
    (void)state;
    g_db = h_db();
    drop_fixture();
    h_sql_exec(g_db, FIXTURE_SQL);
    h_sql_exec(g_db, STAFF_SQL);
    tok_w1 = h_staff_token(g_db, W1);
    tok_w2 = h_staff_token(g_db, W2);
    tok_w3 = h_staff_token(g_db, W3);
    tok_sup = token_of("SELECT id FROM registry.staff WHERE role = 'supervisor' AND unit_id = 102 ORDER BY id LIMIT 1");
    tok_sup_other = token_of("SELECT id FROM registry.staff WHERE role = 'supervisor' AND unit_id = 101 ORDER BY id LIMIT 1");
    tok_op = token_of("SELECT id FROM registry.staff WHERE role = 'operator' ORDER BY id LIMIT 1");
    snprintf(g_clock, sizeof g_clock, "%s/field-clock", h_env("GRIDGOV_TEST_VAR"));
    h_set_clock(g_clock, "2026-11-10T02:00:00Z"); /* 10:00 in the county */
    static char clock_env[1100];
    snprintf(clock_env, sizeof clock_env, "GRIDGOV_CLOCK_FILE=%s", g_clock);
    static const char *env[] = {clock_env, "GRIDGOV_RATE_LIMIT_PER_MINUTE=0", "GRIDGOV_FIELD_SWEEP_S=1", NULL};
    g_http = h_port(200);
    g_intake = h_start_intake(g_http, h_port(201), env);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int s = h_stop(g_intake, SIGTERM);
    drop_fixture();
    PQfinish(g_db);
    free(tok_w1), free(tok_w2), free(tok_w3), free(tok_sup), free(tok_sup_other), free(tok_op);
    return WIFEXITED(s) && WEXITSTATUS(s) == 0 ? 0 : -1;
}

/* One request; the status in *status, the body as JSON (NULL when it is not JSON). */
static json_t *call(int port, const char *method, const char *path, const char *token, const char *body, long *status,
                    buf_t *raw)
{
    char url[512], auth[200];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", port, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token ? token : "");
    const char *hdr[] = {"Content-Type: application/json", token ? auth : NULL, NULL};
    h_resp_t r;
    if (!h_http(method, url, hdr, body, body ? strlen(body) : 0, &r))
        r.status = 0;
    *status = r.status;
    json_t *j = r.body.len ? json_loadb(r.body.data, r.body.len, 0, NULL) : NULL;
    if (raw)
        buf_append(raw, r.body.data ? r.body.data : "", r.body.len);
    h_resp_free(&r);
    return j;
}

static json_t *expect(const char *method, const char *path, const char *token, const char *body, long want)
{
    long st;
    json_t *j = call(g_http, method, path, token, body, &st, NULL);
    if (st != want) {
        char *d = j ? json_dumps(j, 0) : NULL;
        print_error("%s %s: %ld, wanted %ld: %s\n", method, path, st, want, d ? d : "(not JSON)");
        free(d);
    }
    assert_int_equal(st, want);
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

/* ---- check-in and attendance ----------------------------------------------------------------- */

static json_t *checkin(const char *token, const char *at, double lat, double lon, long want)
{
    char body[200];
    snprintf(body, sizeof body, "{\"at\":\"%s\",\"lat\":%.7f,\"long\":%.7f}", at, lat, lon);
    return expect("POST", "/api/v1/field/checkins", token, body, want);
}

static void checkin_inside_on_the_edge_near_and_outside(void **state)
{
    (void)state;
    /* inside G1 */
    json_t *j = checkin(tok_w1, "2026-11-10T08:05:00+08:00", 27.001, 112.001, 201);
    assert_true(json_is_true(json_object_get(j, "accepted")));
    assert_true(json_real_value(json_object_get(j, "distance_m")) == 0);
    assert_string_equal(json_string_value(json_object_get(j, "group")), "430121-102-97-01");
    assert_string_equal(json_string_value(json_object_get(j, "at")), "2026-11-10T08:05:00+08:00");
    json_int_t first = json_integer_value(json_object_get(j, "id"));
    json_decref(j);
    /* the same check-in again (the app retried): the same answer, nothing new */
    j = checkin(tok_w1, "2026-11-10T08:05:00+08:00", 27.001, 112.001, 200);
    assert_int_equal(json_integer_value(json_object_get(j, "id")), first);
    json_decref(j);
    /* on the edge G1 shares with G2: covered by the polygon */
    j = checkin(tok_w1, "2026-11-10T09:00:00+08:00", 27.001, 112.002, 201);
    assert_true(json_is_true(json_object_get(j, "accepted")));
    assert_true(json_real_value(json_object_get(j, "distance_m")) == 0);
    json_decref(j);
    /* 0.0005 degrees west of the west edge: 0.0005 * 99,255 m = 49.6 m at 27°N, within 100 m */
    j = checkin(tok_w1, "2026-11-10T09:30:00+08:00", 27.001, 111.9995, 201);
    assert_true(json_is_true(json_object_get(j, "accepted")));
    assert_true(fabs(json_real_value(json_object_get(j, "distance_m")) - 49.6) <= 0.3);
    json_decref(j);
    /* 0.015 degrees west: 1,488.8 m, recorded and flagged */
    j = checkin(tok_w1, "2026-11-10T09:45:00+08:00", 27.001, 111.985, 201);
    assert_false(json_is_true(json_object_get(j, "accepted")));
    assert_true(fabs(json_real_value(json_object_get(j, "distance_m")) - 1488.8) <= 2);
    json_decref(j);
    /* W2 checks in only from far away: 0.008 degrees (886 m) north of G2 */
    j = checkin(tok_w2, "2026-11-10T08:30:00+08:00", 27.010, 112.003, 201);
    assert_false(json_is_true(json_object_get(j, "accepted")));
    json_decref(j);
    assert_int_equal(count("SELECT count(*) FROM intake.field_checkin WHERE staff_id = 990001"), 4);
    assert_int_equal(count("SELECT count(*) FROM intake.field_checkin WHERE staff_id = 990001 AND accepted"), 3);
}

static const json_t *worker_row(const json_t *j, json_int_t id)
{
    size_t i;
    json_t *w;
    json_array_foreach(json_object_get(j, "workers"), i, w) if (json_integer_value(json_object_get(w, "staff_id")) == id) return w;
    fail_msg("worker %lld not listed", (long long)id);
    return NULL;
}

static void attendance_lists_the_township_in_json_and_csv(void **state)
{
    (void)state;
    json_t *j = expect("GET", "/api/v1/field/attendance?township=430121-102&date=2026-11-10", tok_sup, NULL, 200);
    const json_t *w1 = worker_row(j, W1), *w2 = worker_row(j, W2), *w3 = worker_row(j, W3);
    assert_string_equal(json_string_value(json_object_get(w1, "status")), "present");
    assert_int_equal(json_integer_value(json_object_get(w1, "checkins")), 4);
    assert_int_equal(json_integer_value(json_object_get(w1, "accepted")), 3);
    assert_string_equal(json_string_value(json_object_get(w1, "first_accepted")), "2026-11-10T08:05:00+08:00");
    assert_string_equal(json_string_value(json_object_get(w1, "last")), "2026-11-10T09:45:00+08:00");
    assert_string_equal(json_string_value(json_object_get(w2, "status")), "flagged");
    assert_string_equal(json_string_value(json_object_get(w3, "status")), "absent");
    /* every active grid worker of the township's groups is listed, the demo's too */
    long long workers = count("SELECT count(*) FROM registry.staff s JOIN registry.unit g ON g.id = s.unit_id"
                              " JOIN registry.unit v ON v.id = g.parent_id"
                              " WHERE v.parent_id = 102 AND s.role = 'grid_worker' AND s.active");
    assert_int_equal(json_array_size(json_object_get(j, "workers")), workers);
    const json_t *sum = json_object_get(j, "summary");
    assert_int_equal(json_integer_value(json_object_get(sum, "present")), 1);
    assert_int_equal(json_integer_value(json_object_get(sum, "flagged")), 1);
    assert_int_equal(json_integer_value(json_object_get(sum, "absent")), workers - 2);
    json_decref(j);
    /* another day: nobody checked in */
    j = expect("GET", "/api/v1/field/attendance?township=430121-102&date=2026-11-11", tok_op, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(worker_row(j, W1), "status")), "absent");
    json_decref(j);

    /* the CSV opens in Excel: BOM, Chinese header, one line per worker, CRLF */
    long st;
    buf_t raw = BUF_INIT;
    json_decref(call(g_http, "GET", "/api/v1/field/attendance.csv?township=430121-102&date=2026-11-10", tok_sup, NULL,
                     &st, &raw));
    assert_int_equal(st, 200);
    const char *csv = buf_str(&raw);
    assert_memory_equal(csv, "\xEF\xBB\xBF网格员编号,姓名,", strlen("\xEF\xBB\xBF网格员编号,姓名,"));
    assert_non_null(strstr(csv, "\r\n990001,测试网格员甲,测试村,430121-102-97-01,测试一组,已签到,4,3,"
                                "2026-11-10T08:05:00+08:00,2026-11-10T09:45:00+08:00,14"));
    assert_non_null(strstr(csv, "\r\n990002,测试网格员乙,测试村,430121-102-97-02,测试二组,位置异常,1,0,,"));
    assert_non_null(strstr(csv, "\r\n990003,测试网格员丙,测试村,430121-102-97-01,测试一组,未签到,0,0,,,\r\n"));
    int lines = 0;
    for (const char *p = csv; (p = strstr(p, "\r\n")); p += 2)
        lines++;
    assert_int_equal(lines, workers + 1);
    buf_free(&raw);

    /* who may not: another township's supervisor, a grid worker; bad queries */
    j = expect("GET", "/api/v1/field/attendance?township=430121-102", tok_sup_other, NULL, 403);
    json_decref(j);
    j = expect("GET", "/api/v1/field/attendance?township=430121-102", tok_w1, NULL, 403);
    json_decref(j);
    j = expect("GET", "/api/v1/field/attendance?township=430121-102", NULL, NULL, 401);
    json_decref(j);
    j = expect("GET", "/api/v1/field/attendance?township=430121-999", tok_op, NULL, 404);
    json_decref(j);
    j = expect("GET", "/api/v1/field/attendance?township=430121-102-97", tok_op, NULL, 404); /* a village */
    json_decref(j);
    j = expect("GET", "/api/v1/field/attendance?township=430121-102&date=2026-02-30", tok_op, NULL, 400);
    assert_string_equal(err_code(j), "invalid_date");
    json_decref(j);
    j = expect("GET", "/api/v1/field/attendance", tok_op, NULL, 400);
    assert_string_equal(err_code(j), "missing_township");
    json_decref(j);
}

static void bad_checkins_are_refused_and_change_nothing(void **state)
{
    (void)state;
    long long before = count("SELECT count(*) FROM intake.field_checkin");
    static const struct {
        const char *body, *code;
    } bad[] = {
        {"{\"at\":\"2026-11-10T08:00:00+08:00\",\"lat\":91,\"long\":112.001}", "invalid_location"},
        {"{\"at\":\"2026-11-10T08:00:00+08:00\",\"lat\":27.001,\"long\":-180.5}", "invalid_location"},
        {"{\"at\":\"2026-11-10T08:00:00+08:00\",\"lat\":\"27.001\",\"long\":112.001}", "invalid_location"},
        {"{\"at\":\"2026-11-10T08:00:00+08:00\",\"long\":112.001}", "invalid_location"},
        {"{\"lat\":27.001,\"long\":112.001}", "invalid_time"},
        {"{\"at\":\"2026-11-10T08:00:00\",\"lat\":27.001,\"long\":112.001}", "invalid_time"},
        {"{\"at\":\"2026-11-10T11:00:00+08:00\",\"lat\":27.001,\"long\":112.001}", "invalid_time"}, /* an hour ahead */
        {"{\"at\":\"2026-11-10T08:00:00+08:00\",\"lat\":27.001,\"long\":112.001,\"staff_id\":1}", "invalid_field"},
        {"{\"at\":\"2026-11-10T08:00:00+08:00\",\"lat\":27.001,\"long\":112.001", "invalid_json"},
        {"[1,2]", "invalid_json"},
        {"{\"at\":\"2026-11-10T08:00:00+08:00\",\"at\":\"2026-11-10T08:00:00+08:00\",\"lat\":27,\"long\":112}",
         "invalid_json"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *j = expect("POST", "/api/v1/field/checkins", tok_w1, bad[i].body, 400);
        if (strcmp(err_code(j), bad[i].code) != 0)
            fail_msg("%s: %s, wanted %s", bad[i].body, err_code(j), bad[i].code);
        json_decref(j);
    }
    /* only grid workers check in; nobody without a token */
    json_decref(expect("POST", "/api/v1/field/checkins", tok_sup,
                       "{\"at\":\"2026-11-10T08:00:00+08:00\",\"lat\":27.001,\"long\":112.001}", 403));
    json_decref(expect("POST", "/api/v1/field/checkins", NULL,
                       "{\"at\":\"2026-11-10T08:00:00+08:00\",\"lat\":27.001,\"long\":112.001}", 401));
    json_decref(expect("GET", "/api/v1/field/checkins", tok_w1, NULL, 405));
    assert_int_equal(count("SELECT count(*) FROM intake.field_checkin"), before);
}

/* ---- positions ---------------------------------------------------------------------------------- */

static void ping(const char *token, const char *at, double lat, double lon, long want)
{
    char body[200];
    snprintf(body, sizeof body, "{\"at\":\"%s\",\"lat\":%.6f,\"long\":%.6f,\"accuracy_m\":8}", at, lat, lon);
    json_decref(expect("POST", "/api/v1/field/positions", token, body, want));
}

static void positions_for_the_township_and_the_county_in_duty_hours_only(void **state)
{
    (void)state;
    ping(tok_w1, "2026-11-10T09:50:00+08:00", 27.0011, 112.0011, 201);
    ping(tok_w1, "2026-11-10T09:59:00+08:00", 27.0012, 112.0012, 201);
    ping(tok_w1, "2026-11-10T09:55:00+08:00", 27.0013, 112.0013, 201); /* late: not the latest */
    ping(tok_w1, "2026-11-10T09:59:00+08:00", 27.0012, 112.0012, 201); /* twice: stored once */
    ping(tok_w2, "2026-11-10T09:58:30+08:00", 27.0015, 112.0031, 201);
    assert_int_equal(count("SELECT count(*) FROM intake.field_position WHERE staff_id = 990001"), 3);

    json_t *j = expect("GET", "/api/v1/field/positions?township=430121-102", tok_sup, NULL, 200);
    const json_t *w1 = worker_row(j, W1), *w2 = worker_row(j, W2);
    assert_string_equal(json_string_value(json_object_get(w1, "at")), "2026-11-10T09:59:00+08:00");
    assert_true(fabs(json_real_value(json_object_get(w1, "lat")) - 27.0012) < 1e-9);
    assert_int_equal(json_integer_value(json_object_get(w1, "age_s")), 60);
    assert_int_equal(json_integer_value(json_object_get(w2, "age_s")), 90);
    json_decref(j);
    json_decref(expect("GET", "/api/v1/field/positions?township=430121-102", tok_op, NULL, 200));
    /* another township's supervisor, a grid worker: never */
    j = expect("GET", "/api/v1/field/positions?township=430121-102", tok_sup_other, NULL, 403);
    assert_string_equal(err_code(j), "forbidden");
    json_decref(j);
    json_decref(expect("GET", "/api/v1/field/positions?township=430121-102", tok_w1, NULL, 403));
    /* 20:00 in the county: outside duty hours (08:00-18:00) nobody reads them */
    h_set_clock(g_clock, "2026-11-10T12:00:00Z");
    usleep(300 * 1000);
    j = expect("GET", "/api/v1/field/positions?township=430121-102", tok_sup, NULL, 403);
    assert_string_equal(err_code(j), "outside_duty_hours");
    json_decref(j);
    j = expect("GET", "/api/v1/field/positions?township=430121-102", tok_op, NULL, 403);
    assert_string_equal(err_code(j), "outside_duty_hours");
    json_decref(j);
    /* 07:59 neither, 08:00 again */
    h_set_clock(g_clock, "2026-11-10T23:59:00Z");
    usleep(300 * 1000);
    json_decref(expect("GET", "/api/v1/field/positions?township=430121-102", tok_op, NULL, 403));
    h_set_clock(g_clock, "2026-11-11T00:00:00Z");
    usleep(300 * 1000);
    json_decref(expect("GET", "/api/v1/field/positions?township=430121-102", tok_op, NULL, 200));
    h_set_clock(g_clock, "2026-11-10T02:00:00Z");
    usleep(300 * 1000);
    /* bad pings */
    long long before = count("SELECT count(*) FROM intake.field_position");
    json_decref(expect("POST", "/api/v1/field/positions", tok_w1, "{\"at\":\"2026-11-10T09:00:00+08:00\",\"lat\":-90.01,\"long\":1}", 400));
    json_decref(expect("POST", "/api/v1/field/positions", tok_w1,
                       "{\"at\":\"2026-11-10T09:00:00+08:00\",\"lat\":27,\"long\":112,\"accuracy_m\":-1}", 400));
    json_decref(expect("POST", "/api/v1/field/positions", tok_w1, "not json", 400));
    json_decref(expect("POST", "/api/v1/field/positions", tok_sup, "{\"at\":\"2026-11-10T09:00:00+08:00\",\"lat\":27,\"long\":112}", 403));
    assert_int_equal(count("SELECT count(*) FROM intake.field_position"), before);
}

static void old_pings_are_deleted_by_the_sweep(void **state)
{
    (void)state;
    /* 73 hours before the clock, past the 72-hour retention; the sweep runs every second */
    ping(tok_w2, "2026-11-07T09:00:00+08:00", 27.0015, 112.0031, 201);
    ping(tok_w2, "2026-11-07T11:30:00+08:00", 27.0015, 112.0031, 201); /* 70.5 h: kept */
    assert_true(h_wait_sql(g_db, "SELECT count(*) FROM intake.field_position WHERE staff_id = 990002"
                                 " AND at < '2026-11-07T10:00:00+08:00'", 0, NULL, 0, 5000));
    assert_int_equal(count("SELECT count(*) FROM intake.field_position WHERE staff_id = 990002"), 2);
    /* the clock moves on four days: the rest go too */
    h_set_clock(g_clock, "2026-11-14T02:00:00Z");
    assert_true(h_wait_sql(g_db, "SELECT count(*) FROM intake.field_position WHERE staff_id IN (990001, 990002)", 0, NULL,
                           0, 5000));
    h_set_clock(g_clock, "2026-11-10T02:00:00Z");
    usleep(300 * 1000);
}

/* ---- patrol tracks --------------------------------------------------------------------------------- */

/* The fixture, worked by hand. W1 walks north along long 112.001, the middle of G1, on
 * 2026-11-10 from 08:00:00 (county time), a fix every 10 s:
 *   piece A  lat 27.0000 .. 27.0010, step 0.0001: 11 fixes, 08:00:00 .. 08:01:40
 *   a jump   08:00:55 at (27.0005, 112.0100): 890 m east of the path within 5 s, a bad fix
 *   a gap    the app is silent for 20 minutes (over the 5-minute gap)
 *   piece B  lat 27.0012 .. 27.0020, step 0.0001: 9 fixes, 08:21:40 .. 08:23:00
 * A degree of latitude at 27°N is 111132.954 - 559.822 cos 54° + 1.175 cos 108° = 110,803.5 m,
 * so piece A is 0.0010° = 110.80 m, piece B 0.0008° = 88.64 m: 199.45 m walked; the 22 m
 * across the gap are not counted, nor the jump.
 * G1 is 0.002° of longitude wide: 111412.84 cos 27° - 93.5 cos 81° = 99,254.9 m a degree, so
 * 198.51 m; the track runs from its south edge to its north edge (the 22 m gap lies within the
 * buffers' reach), so the ground within 50 m of it is a strip 100 m wide across the whole
 * group: coverage 100 / 198.51 = 0.5038, 504 permille. */
enum { N_FIX = 11 + 1 + 9 };

static void fixture_point(int i, char *out, size_t n)
{
    int sec;
    double lat, lon = 112.001;
    if (i < 11) {
        sec = i * 10;
        lat = 27.0 + i * 0.0001;
    } else if (i == 11) {
        sec = 55;
        lat = 27.0005;
        lon = 112.0100;
    } else {
        sec = 21 * 60 + 40 + (i - 12) * 10;
        lat = 27.0012 + (i - 12) * 0.0001;
    }
    snprintf(out, n, "{\"at\":\"2026-11-10T08:%02d:%02d+08:00\",\"lat\":%.4f,\"long\":%.4f,\"accuracy_m\":5}", sec / 60,
             sec % 60, lat, lon);
}

static char *batch(const int *idx, int n)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"points\":[");
    for (int k = 0; k < n; k++) {
        char p[160];
        fixture_point(idx[k], p, sizeof p);
        buf_printf(&b, "%s%s", k ? "," : "", p);
    }
    buf_puts(&b, "]}");
    return buf_detach(&b);
}

static void track_with_duplicates_gap_reordering_and_a_jump(void **state)
{
    (void)state;
    /* first batch: piece B backwards, the jump, and two of piece A twice */
    int b1[] = {20, 19, 18, 17, 16, 15, 14, 13, 12, 11, 3, 3, 4};
    char *body = batch(b1, (int)(sizeof b1 / sizeof b1[0]));
    json_t *j = expect("POST", "/api/v1/field/tracks", tok_w1, body, 201);
    assert_int_equal(json_integer_value(json_object_get(j, "received")), 13);
    assert_int_equal(json_integer_value(json_object_get(j, "stored")), 12);
    assert_int_equal(json_integer_value(json_object_get(j, "duplicates")), 1);
    json_decref(j);
    free(body);
    /* second, later: all of piece A shuffled (3 and 4 again) */
    int b2[] = {10, 0, 5, 2, 9, 1, 4, 8, 3, 7, 6};
    body = batch(b2, (int)(sizeof b2 / sizeof b2[0]));
    j = expect("POST", "/api/v1/field/tracks", tok_w1, body, 201);
    assert_int_equal(json_integer_value(json_object_get(j, "stored")), 9);
    assert_int_equal(json_integer_value(json_object_get(j, "duplicates")), 2);
    json_decref(j);
    /* and the whole second batch once more */
    j = expect("POST", "/api/v1/field/tracks", tok_w1, body, 201);
    assert_int_equal(json_integer_value(json_object_get(j, "stored")), 0);
    json_decref(j);
    free(body);
    assert_int_equal(count("SELECT count(*) FROM intake.field_track_point WHERE staff_id = 990001"), N_FIX);

    j = expect("GET", "/api/v1/field/tracks?staff_id=990001&date=2026-11-10", tok_sup, NULL, 200);
    assert_string_equal(json_string_value(json_object_get(j, "type")), "FeatureCollection");
    assert_int_equal(json_integer_value(json_object_get(j, "points")), N_FIX);
    assert_int_equal(json_integer_value(json_object_get(j, "bad_fixes")), 1);
    assert_int_equal(json_integer_value(json_object_get(j, "pieces")), 2);
    double dist = json_real_value(json_object_get(j, "distance_m"));
    if (fabs(dist - 199.45) > 0.5)
        fail_msg("distance %.2f m, worked out 199.45 m", dist);
    json_int_t cov = json_integer_value(json_object_get(j, "coverage_permille"));
    print_message("distance %.1f m (199.45 by hand), coverage %lld permille (504 by hand)\n", dist, (long long)cov);
    if (cov < 499 || cov > 509)
        fail_msg("coverage %lld permille, worked out 504", (long long)cov);
    /* the GeoJSON: two pieces in time order, the jump alone among the bad fixes */
    const json_t *feats = json_object_get(j, "features");
    const json_t *lines = json_object_get(json_object_get(json_array_get(feats, 0), "geometry"), "coordinates");
    assert_int_equal(json_array_size(lines), 2);
    assert_int_equal(json_array_size(json_array_get(lines, 0)), 11);
    assert_int_equal(json_array_size(json_array_get(lines, 1)), 9);
    for (size_t k = 0; k < 11; k++) {
        double lat = json_real_value(json_array_get(json_array_get(json_array_get(lines, 0), k), 1));
        assert_true(fabs(lat - (27.0 + (double)k * 0.0001)) < 1e-7);
    }
    const json_t *bad = json_object_get(json_object_get(json_array_get(feats, 2), "geometry"), "coordinates");
    assert_int_equal(json_array_size(bad), 1);
    assert_true(fabs(json_real_value(json_array_get(json_array_get(bad, 0), 0)) - 112.01) < 1e-7);
    json_decref(j);
    /* the worker reads their own day; another township's supervisor may not; another day is empty */
    json_decref(expect("GET", "/api/v1/field/tracks?date=2026-11-10", tok_w1, NULL, 200));
    json_decref(expect("GET", "/api/v1/field/tracks?staff_id=990001&date=2026-11-10", tok_sup_other, NULL, 403));
    json_decref(expect("GET", "/api/v1/field/tracks?staff_id=990001&date=2026-11-10", tok_w2, NULL, 403));
    json_decref(expect("GET", "/api/v1/field/tracks?staff_id=1&date=2026-11-10", tok_op, NULL, 404));
    json_decref(expect("GET", "/api/v1/field/tracks?staff_id=990001&date=11/10/2026", tok_op, NULL, 400));
    j = expect("GET", "/api/v1/field/tracks?staff_id=990001&date=2026-11-09", tok_op, NULL, 200);
    assert_int_equal(json_integer_value(json_object_get(j, "points")), 0);
    assert_true(json_real_value(json_object_get(j, "distance_m")) == 0);
    json_decref(j);
}

static char *many_points(int n, int bad_at, const char *bad)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"points\":[");
    for (int k = 0; k < n; k++) {
        if (k == bad_at)
            buf_printf(&b, "%s%s", k ? "," : "", bad);
        else
            buf_printf(&b, "%s{\"at\":\"2026-11-09T%02d:%02d:%02d+08:00\",\"lat\":27.001,\"long\":112.001}", k ? "," : "",
                       k / 3600, k / 60 % 60, k % 60);
    }
    buf_puts(&b, "]}");
    return buf_detach(&b);
}

static void bad_batches_are_refused_whole(void **state)
{
    (void)state;
    long long before = count("SELECT count(*) FROM intake.field_track_point");
    char *body = many_points(10001, -1, NULL);
    json_t *j = expect("POST", "/api/v1/field/tracks", tok_w1, body, 400);
    assert_string_equal(err_code(j), "batch_too_large");
    json_decref(j);
    free(body);
    static const char *const bad[] = {
        "{\"at\":\"2026-11-09T09:00:00+08:00\",\"lat\":95,\"long\":112}",
        "{\"at\":\"2026-11-09T09:00:00+08:00\",\"lat\":27,\"long\":181}",
        "{\"at\":\"2026-11-09 09:00\",\"lat\":27,\"long\":112}",
        "{\"at\":\"2026-11-09T09:00:00+08:00\",\"lat\":27,\"long\":112,\"speed\":3}",
        "[27,112]",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        body = many_points(5000, 4321, bad[i]);
        j = expect("POST", "/api/v1/field/tracks", tok_w1, body, 400);
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "field")), "points[4321]");
        json_decref(j);
        free(body);
    }
    json_decref(expect("POST", "/api/v1/field/tracks", tok_w1, "{\"points\":[]}", 400));
    json_decref(expect("POST", "/api/v1/field/tracks", tok_w1, "{\"points\":[{\"at\":", 400));
    json_decref(expect("POST", "/api/v1/field/tracks", tok_w1, "{\"points\":[],\"x\":1}", 400));
    json_decref(expect("POST", "/api/v1/field/tracks", tok_sup, "{\"points\":[]}", 403));
    assert_int_equal(count("SELECT count(*) FROM intake.field_track_point"), before);
    /* the largest batch goes in whole */
    body = many_points(10000, -1, NULL);
    j = expect("POST", "/api/v1/field/tracks", tok_w1, body, 201);
    assert_int_equal(json_integer_value(json_object_get(j, "stored")), 10000);
    json_decref(j);
    free(body);
    assert_int_equal(count("SELECT count(*) FROM intake.field_track_point"), before + 10000);
}

/* ---- SIGKILL during uploads ---------------------------------------------------------------------- */

#define KILL_BATCH 500
static atomic_int g_acked_batches; /* batches answered 201, in order: batch k holds points k*500.. */
static atomic_bool g_stop;
static int g_kill_http;

static void *uploader(void *arg)
{
    (void)arg;
    for (int k = 0; !atomic_load(&g_stop) && k < 1000; k++) {
        buf_t b = BUF_INIT;
        buf_puts(&b, "{\"points\":[");
        for (int i = 0; i < KILL_BATCH; i++) {
            long s = (long)k * KILL_BATCH + i; /* one a second from 2026-11-08 00:00 */
            buf_printf(&b, "%s{\"at\":\"2026-11-08T%02ld:%02ld:%02ld+08:00\",\"lat\":27.0015,\"long\":112.0015}", i ? "," : "",
                       s / 3600 % 24, s / 60 % 60, s % 60);
        }
        buf_puts(&b, "]}");
        long st;
        json_t *j = call(g_kill_http, "POST", "/api/v1/field/tracks", tok_w3, buf_str(&b), &st, NULL);
        json_decref(j);
        buf_free(&b);
        if (st != 201)
            break;
        atomic_fetch_add(&g_acked_batches, 1);
        if ((k + 1) * KILL_BATCH >= 86400)
            break;
    }
    return NULL;
}

static void sigkill_during_uploads_loses_no_acknowledged_point(void **state)
{
    (void)state;
    static char clock_env[1100];
    snprintf(clock_env, sizeof clock_env, "GRIDGOV_CLOCK_FILE=%s", g_clock);
    static const char *env[] = {clock_env, "GRIDGOV_RATE_LIMIT_PER_MINUTE=0", NULL};
    g_kill_http = h_port(205);
    pid_t intake = h_start_intake(g_kill_http, h_port(206), env);
    pthread_t th;
    pthread_create(&th, NULL, uploader, NULL);
    while (atomic_load(&g_acked_batches) < 20)
        usleep(2000);
    h_stop(intake, SIGKILL);
    pthread_join(th, NULL);
    int acked = atomic_load(&g_acked_batches);
    long long stored = count("SELECT count(*) FROM intake.field_track_point WHERE staff_id = 990003");
    print_message("intake killed after %d acknowledged batches; %lld points stored\n", acked, stored);
    /* every acknowledged batch is there whole; of the one in flight, all or nothing */
    assert_true(stored == (long long)acked * KILL_BATCH || stored == (long long)(acked + 1) * KILL_BATCH);
    char sql[256];
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM intake.field_track_point WHERE staff_id = 990003"
             " AND at < '2026-11-08T00:00:00+08:00'::timestamptz + %d * interval '1 second'",
             acked * KILL_BATCH);
    assert_int_equal(count(sql), (long long)acked * KILL_BATCH);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(checkin_inside_on_the_edge_near_and_outside),
        cmocka_unit_test(attendance_lists_the_township_in_json_and_csv),
        cmocka_unit_test(bad_checkins_are_refused_and_change_nothing),
        cmocka_unit_test(positions_for_the_township_and_the_county_in_duty_hours_only),
        cmocka_unit_test(old_pings_are_deleted_by_the_sweep),
        cmocka_unit_test(track_with_duplicates_gap_reordering_and_a_jump),
        cmocka_unit_test(bad_batches_are_refused_whole),
        cmocka_unit_test(sigkill_during_uploads_loses_no_acknowledged_point),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
