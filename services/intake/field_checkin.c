/* Check-in (平台打卡签到) and the daily attendance list of a township.
 *
 *   POST /api/v1/field/checkins   grid worker; {"at": ISO 8601 with zone, "lat", "long"}
 *        201 {"id","accepted","distance_m","group","at"}; the same check-in again (same worker
 *        and at) 200 with the first one's answer and nothing stored.
 *        Accepted when the point is inside the worker's group, on its edge or within
 *        field_checkin_distance_m of it (PostGIS: ST_Covers, else ST_Distance on the spheroid);
 *        otherwise recorded and flagged (accepted false) with its distance.
 *   GET  /api/v1/field/attendance?township=&date=      JSON
 *   GET  /api/v1/field/attendance.csv?township=&date=  the same as a spreadsheet (UTF-8 with BOM)
 *        Every active grid worker of the township's groups with that county day's check-ins:
 *        present (an accepted one), flagged (only flagged ones) or absent. date defaults to
 *        today by the injected clock. Staff of the township or the county (and the operator). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "field.h"
#include "form.h"
#include "gclock.h"
#include "intake.h"
#include "render.h"
#include "timefmt.h"

#define LOCAL(col) TIMEFMT_SQL_LOCAL(col)

/* $1 staff, $2 group, $3 at, $4 lat, $5 long, $6 received, $7 allowed distance (m). The row, or
 * when this check-in was stored before, the stored one (new = false). */
static const char CHECKIN_SQL[] =
    "WITH p AS (SELECT ST_SetSRID(ST_MakePoint($5::float8, $4::float8), 4326) AS pt),"
    " d AS (SELECT CASE WHEN ST_Covers(g.boundary, p.pt) THEN 0"
    "        ELSE ST_Distance(g.boundary::geography, p.pt::geography) END AS m"
    "       FROM registry.unit g, p WHERE g.id = $2::bigint),"
    " ins AS (INSERT INTO intake.field_checkin (staff_id, group_id, at, received_at, lat, long, distance_m, accepted)"
    "  SELECT $1::bigint, $2::bigint, to_timestamp($3::numeric), to_timestamp($6::numeric), $4::float8, $5::float8,"
    "         d.m, d.m <= $7::float8 FROM d"
    "  ON CONFLICT (staff_id, at) DO NOTHING RETURNING id, distance_m, accepted, at)"
    " SELECT id, distance_m, accepted, " LOCAL("at") ", true FROM ins"
    " UNION ALL SELECT c.id, c.distance_m, c.accepted, " LOCAL("c.at") ", false FROM intake.field_checkin c"
    "  WHERE c.staff_id = $1::bigint AND c.at = to_timestamp($3::numeric) AND NOT EXISTS (SELECT 1 FROM ins)";

void field_checkin_post(const intake_t *app, const http_req_t *req, http_resp_t *resp)
{
    db_t *db;
    staff_t who;
    int64_t group;
    if (!field_auth(app, req, resp, &db, &who) || !field_worker(db, &who, resp, &group))
        return;
    json_t *b = field_body(req, resp);
    if (!b)
        return;
    double lat, lon;
    int64_t at, now = gclock_now_us();
    const char *k;
    json_t *v;
    json_object_foreach(b, k, v)
    {
        if (strcmp(k, "at") && strcmp(k, "lat") && strcmp(k, "long")) {
            render_api_error(resp, 400, "invalid_field", k, "a check-in has at, lat and long only");
            goto out;
        }
    }
    if (!field_time(b, "at", now, app->field.max_skew_us, &at)) {
        render_api_error(resp, 400, "invalid_time", "at",
                         "at is the check-in's time, ISO 8601 with its zone, not in the future");
        goto out;
    }
    if (!field_latlong(b, &lat, &lon)) {
        render_api_error(resp, 400, "invalid_location", "lat", "lat (-90..90) and long (-180..180) are numbers");
        goto out;
    }
    char s[24], g[24], ats[32], la[32], lo[32], rec[32], dist[32], err[256];
    snprintf(s, sizeof s, "%lld", (long long)who.id);
    snprintf(g, sizeof g, "%lld", (long long)group);
    field_us_text(at, ats);
    field_us_text(now, rec);
    snprintf(la, sizeof la, "%.8f", lat);
    snprintf(lo, sizeof lo, "%.8f", lon);
    snprintf(dist, sizeof dist, "%.3f", app->field.checkin_distance_m);
    const char *p[] = {s, g, ats, la, lo, rec, dist};
    /* one statement, its own transaction: answered after COMMIT */
    PGresult *r = db_exec(db, CHECKIN_SQL, 7, p, err, sizeof err, NULL);
    if (!r || PQntuples(r) != 1) {
        PQclear(r);
        field_unavailable(resp, "checkin", r ? "no row" : err);
        goto out;
    }
    bool created = PQgetvalue(r, 0, 4)[0] == 't';
    json_t *j = json_pack("{s:I,s:b,s:f,s:s,s:s}", "id", (json_int_t)atoll(PQgetvalue(r, 0, 0)), "accepted",
                          PQgetvalue(r, 0, 2)[0] == 't', "distance_m", (double)llround(atof(PQgetvalue(r, 0, 1)) * 10) / 10,
                          "group", who.unit_code, "at", PQgetvalue(r, 0, 3));
    PQclear(r);
    render_json(resp, created ? 201 : 200, j);
    json_decref(j);
out:
    json_decref(b);
}

/* $1 township id, $2 day start, $3 day end (epoch seconds) */
static const char ATTENDANCE_SQL[] =
    "SELECT s.id, s.name, v.name, g.code, g.name, count(c.id), count(c.id) FILTER (WHERE c.accepted),"
    " " LOCAL("min(c.at) FILTER (WHERE c.accepted)") ", " LOCAL("max(c.at)") ","
    " round(min(c.distance_m) FILTER (WHERE NOT c.accepted))::bigint"
    " FROM registry.staff s"
    " JOIN registry.unit g ON g.id = s.unit_id AND g.level = 'group'"
    " JOIN registry.unit v ON v.id = g.parent_id"
    " LEFT JOIN intake.field_checkin c ON c.staff_id = s.id"
    "  AND c.at >= to_timestamp($2::numeric) AND c.at < to_timestamp($3::numeric)"
    " WHERE v.parent_id = $1::bigint AND s.role = 'grid_worker' AND s.active"
    " GROUP BY s.id, s.name, v.name, v.code, g.code, g.name ORDER BY g.code, s.id";

enum { A_ID, A_NAME, A_VILLAGE, A_GROUP_CODE, A_GROUP, A_N, A_ACCEPTED, A_FIRST, A_LAST, A_NEAREST };

static const char *status_of(const PGresult *r, int i)
{
    if (atol(PQgetvalue(r, i, A_ACCEPTED)) > 0)
        return "present";
    return atol(PQgetvalue(r, i, A_N)) > 0 ? "flagged" : "absent";
}

static void attendance_csv(http_resp_t *resp, const PGresult *r, const char *township, const char *date)
{
    resp->status = 200;
    resp->content_type = "text/csv; charset=utf-8";
    buf_t *b = &resp->body;
    buf_reset(b);
    buf_puts(b, "\xEF\xBB\xBF");
    buf_puts(b, "网格员编号,姓名,村(社区),网格编码,网格,状态,打卡次数,有效打卡,首次有效打卡,最后打卡,异常打卡最近距离(米)\r\n");
    for (int i = 0; i < PQntuples(r); i++) {
        const char *st = status_of(r, i);
        buf_printf(b, "%s,", PQgetvalue(r, i, A_ID));
        csv_field(b, PQgetvalue(r, i, A_NAME));
        buf_putc(b, ',');
        csv_field(b, PQgetvalue(r, i, A_VILLAGE));
        buf_putc(b, ',');
        csv_field(b, PQgetvalue(r, i, A_GROUP_CODE));
        buf_putc(b, ',');
        csv_field(b, PQgetvalue(r, i, A_GROUP));
        buf_printf(b, ",%s,%s,%s,%s,%s,%s\r\n",
                   !strcmp(st, "present") ? "已签到" : !strcmp(st, "flagged") ? "位置异常" : "未签到",
                   PQgetvalue(r, i, A_N), PQgetvalue(r, i, A_ACCEPTED), PQgetvalue(r, i, A_FIRST),
                   PQgetvalue(r, i, A_LAST), PQgetvalue(r, i, A_NEAREST));
    }
    snprintf(resp->content_disposition, sizeof resp->content_disposition,
             "attachment; filename=\"attendance-%s-%s.csv\"", township, date);
}

static void attendance_json(http_resp_t *resp, const PGresult *r, const char *township, const char *date)
{
    json_t *rows = json_array();
    long n[3] = {0, 0, 0};
    for (int i = 0; i < PQntuples(r); i++) {
        const char *st = status_of(r, i);
        n[!strcmp(st, "present") ? 0 : !strcmp(st, "flagged") ? 1 : 2]++;
        json_t *o = json_pack("{s:I,s:s,s:s,s:s,s:s,s:s,s:I,s:I}", "staff_id", (json_int_t)atoll(PQgetvalue(r, i, A_ID)),
                              "name", PQgetvalue(r, i, A_NAME), "village", PQgetvalue(r, i, A_VILLAGE), "group_code",
                              PQgetvalue(r, i, A_GROUP_CODE), "group", PQgetvalue(r, i, A_GROUP), "status", st,
                              "checkins", (json_int_t)atoll(PQgetvalue(r, i, A_N)), "accepted",
                              (json_int_t)atoll(PQgetvalue(r, i, A_ACCEPTED)));
        json_object_set_new(o, "first_accepted",
                            PQgetisnull(r, i, A_FIRST) ? json_null() : json_string(PQgetvalue(r, i, A_FIRST)));
        json_object_set_new(o, "last", PQgetisnull(r, i, A_LAST) ? json_null() : json_string(PQgetvalue(r, i, A_LAST)));
        json_object_set_new(o, "nearest_flagged_m",
                            PQgetisnull(r, i, A_NEAREST) ? json_null() : json_integer(atoll(PQgetvalue(r, i, A_NEAREST))));
        json_array_append_new(rows, o);
    }
    json_t *j = json_pack("{s:s,s:s,s:{s:i,s:i,s:i,s:i},s:o}", "township", township, "date", date, "summary",
                          "workers", PQntuples(r), "present", (int)n[0], "flagged", (int)n[1], "absent", (int)n[2],
                          "workers", rows);
    render_json(resp, 200, j);
    json_decref(j);
}

void field_attendance_get(const intake_t *app, const http_req_t *req, http_resp_t *resp, bool csv)
{
    db_t *db;
    staff_t who;
    if (!field_auth(app, req, resp, &db, &who))
        return;
    char err[256];
    json_t *q = form_parse(req->query, strlen(req->query), err, sizeof err);
    if (!q) {
        render_api_error(resp, 400, "invalid_query", NULL, err);
        return;
    }
    const char *township = form_arg(q, "township"), *date = form_arg(q, "date");
    long day = field_local_day(gclock_now_us());
    char tid[24], d0[32], d1[32], dtext[11];
    if (date && !field_parse_date(date, &day)) {
        render_api_error(resp, 400, "invalid_date", "date", "date is a county date YYYY-MM-DD");
        goto out;
    }
    if (!field_township(db, &who, township, resp, tid))
        goto out;
    int64_t start = (int64_t)day * 86400 * 1000000 - (int64_t)TIMEFMT_COUNTY_OFFSET_MIN * 60 * 1000000;
    field_us_text(start, d0);
    field_us_text(start + (int64_t)86400 * 1000000, d1);
    field_date_text(day, dtext);
    const char *p[] = {tid, d0, d1};
    PGresult *r = db_exec(db, ATTENDANCE_SQL, 3, p, err, sizeof err, NULL);
    if (!r) {
        field_unavailable(resp, "attendance", err);
        goto out;
    }
    if (csv)
        attendance_csv(resp, r, township, dtext);
    else
        attendance_json(resp, r, township, dtext);
    PQclear(r);
out:
    json_decref(q);
}
