/* field: the routes of intake's field-work module and what its handlers share (field.h). */
#include "field.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "civil.h"
#include "intake.h"
#include "log.h"
#include "render.h"
#include "timefmt.h"

#define PREFIX "/api/v1/field/"
#define COUNTY_OFFSET_US ((int64_t)TIMEFMT_COUNTY_OFFSET_MIN * 60 * 1000000)

bool field_parse_duty_hours(const char *s, int *start_min, int *end_min)
{
    int h1, m1, h2, m2, n = 0;
    if (!s || sscanf(s, "%2d:%2d-%2d:%2d%n", &h1, &m1, &h2, &m2, &n) != 4 || s[n] || strlen(s) != 11)
        return false;
    if (h1 < 0 || h1 > 23 || m1 < 0 || m1 > 59 || h2 < 0 || h2 > 24 || m2 < 0 || m2 > 59 || (h2 == 24 && m2))
        return false;
    *start_min = h1 * 60 + m1;
    *end_min = h2 * 60 + m2;
    return *end_min > *start_min;
}

void field_unavailable(http_resp_t *resp, const char *what, const char *err)
{
    log_warn("field %s: %s", what, err);
    render_api_error(resp, 503, "unavailable", NULL, "the database is unavailable; try again");
}

bool field_auth(const intake_t *app, const http_req_t *req, http_resp_t *resp, db_t **db, staff_t *who)
{
    char err[256];
    *db = intake_db(app, err, sizeof err);
    if (!*db) {
        field_unavailable(resp, "connect", err);
        return false;
    }
    switch (staff_authenticate(*db, req, who)) {
    case AUTH_OK: return true;
    case AUTH_MISSING: render_api_error(resp, 401, "unauthorized", NULL, "staff sign in with Authorization: Bearer <token>"); break;
    case AUTH_INVALID: render_api_error(resp, 401, "unauthorized", NULL, "this token is unknown, revoked or expired"); break;
    case AUTH_UNAVAILABLE: field_unavailable(resp, "auth", "staff lookup failed"); break;
    }
    return false;
}

bool field_worker(db_t *db, const staff_t *who, http_resp_t *resp, int64_t *group_id)
{
    if (strcmp(who->role, "grid_worker") != 0) {
        render_api_error(resp, 403, "not_a_grid_worker", NULL, "only grid workers (网格员) record field work");
        return false;
    }
    char err[256], unit[24];
    snprintf(unit, sizeof unit, "%lld", (long long)who->unit_id);
    const char *p[] = {unit};
    PGresult *r = db_exec(db, "SELECT level = 'group' AND boundary IS NOT NULL FROM registry.unit WHERE id = $1::bigint", 1,
                          p, err, sizeof err, NULL);
    if (!r) {
        field_unavailable(resp, "worker", err);
        return false;
    }
    bool ok = PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!ok) {
        render_api_error(resp, 403, "no_group", NULL, "this grid worker has no villager group with a boundary");
        return false;
    }
    *group_id = who->unit_id;
    return true;
}

json_t *field_body(const http_req_t *req, http_resp_t *resp)
{
    const char *ct = http_header(req, "Content-Type");
    if (!ct || strncasecmp(ct, "application/json", 16) != 0) {
        render_api_error(resp, 415, "unsupported_media_type", NULL, "send application/json");
        return NULL;
    }
    json_error_t je;
    json_t *b = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!b || !json_is_object(b)) {
        json_decref(b);
        render_api_error(resp, 400, "invalid_json", NULL, "the body must be a JSON object");
        return NULL;
    }
    return b;
}

bool field_latlong(const json_t *obj, double *lat, double *lon)
{
    const json_t *a = json_object_get(obj, "lat"), *o = json_object_get(obj, "long");
    if (!json_is_number(a) || !json_is_number(o))
        return false;
    *lat = json_number_value(a);
    *lon = json_number_value(o);
    return isfinite(*lat) && isfinite(*lon) && *lat >= -90 && *lat <= 90 && *lon >= -180 && *lon <= 180;
}

bool field_time(const json_t *obj, const char *key, int64_t now_us, int64_t max_skew_us, int64_t *at_us)
{
    const char *s = json_string_value(json_object_get(obj, key));
    return s && timefmt_parse_db(s, at_us) && *at_us <= now_us + max_skew_us;
}

bool field_township(db_t *db, const staff_t *who, const char *code, http_resp_t *resp, char id_out[24])
{
    if (!code || !*code) {
        render_api_error(resp, 400, "missing_township", "township", "name the township by its unit code: township=");
        return false;
    }
    char err[256], me[24];
    snprintf(me, sizeof me, "%lld", (long long)who->id);
    const char *p[] = {code, me};
    PGresult *r = db_exec(db,
                          "SELECT u.id, s.role = 'operator' OR s.unit_id IN (u.id, u.parent_id)"
                          " FROM registry.unit u JOIN registry.staff s ON s.id = $2::bigint"
                          " WHERE u.code = $1 AND u.level = 'township'",
                          2, p, err, sizeof err, NULL);
    if (!r) {
        field_unavailable(resp, "township", err);
        return false;
    }
    bool found = PQntuples(r) == 1, ok = found && PQgetvalue(r, 0, 1)[0] == 't';
    if (found)
        snprintf(id_out, 24, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    if (!found)
        render_api_error(resp, 404, "unknown_township", "township", "no township with this code");
    else if (!ok)
        render_api_error(resp, 403, "forbidden", "township", "this township is outside your area");
    return ok;
}

void field_us_text(int64_t us, char out[32])
{
    /* to_timestamp() of microseconds as a decimal of seconds: exact, and PostgreSQL keeps µs */
    int64_t s = civil_floor_div(us, 1000000);
    snprintf(out, 32, "%lld.%06lld", (long long)s, (long long)(us - s * 1000000));
}

long field_local_day(int64_t us)
{
    return (long)civil_floor_div(us + COUNTY_OFFSET_US, (int64_t)86400 * 1000000);
}

bool field_parse_date(const char *s, long *day)
{
    if (!s || strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    if (y < 1900 || m < 1 || m > 12 || d < 1 || d > civil_days_in_month(y, m))
        return false;
    *day = (long)civil_days_from(y, m, d);
    return true;
}

void field_date_text(long day, char out[11])
{
    int64_t y;
    int m, d;
    civil_from_days(day, &y, &m, &d);
    char tmp[32];
    snprintf(tmp, sizeof tmp, "%04d-%02d-%02d", (int)y, m, d);
    snprintf(out, 11, "%.10s", tmp);
}

static bool method_is(const http_req_t *req, http_resp_t *resp, const char *want)
{
    bool get = !strcmp(want, "GET");
    if (!strcmp(req->method, want) || (get && !strcmp(req->method, "HEAD")))
        return true;
    render_api_error(resp, 405, "method_not_allowed", NULL, get ? "use GET" : "use POST");
    snprintf(resp->allow, sizeof resp->allow, "%s", want);
    return false;
}

bool field_handle(const intake_t *app, const http_req_t *req, http_resp_t *resp)
{
    if (!strcmp(req->path, "/api/v1/feeds/alerts")) {
        if (method_is(req, resp, "POST"))
            feed_alert_post(app, req, resp);
        return true;
    }
    if (strncmp(req->path, PREFIX, strlen(PREFIX)) != 0)
        return false;
    const char *r = req->path + strlen(PREFIX);
    bool post = !strcmp(req->method, "POST");
    if (!strcmp(r, "checkins")) {
        if (method_is(req, resp, "POST"))
            field_checkin_post(app, req, resp);
    } else if (!strcmp(r, "attendance") || !strcmp(r, "attendance.csv")) {
        if (method_is(req, resp, "GET"))
            field_attendance_get(app, req, resp, !strcmp(r, "attendance.csv"));
    } else if (!strcmp(r, "positions")) {
        if (post)
            field_position_post(app, req, resp);
        else if (method_is(req, resp, "GET"))
            field_position_get(app, req, resp);
        else
            snprintf(resp->allow, sizeof resp->allow, "GET, POST");
    } else if (!strcmp(r, "tracks")) {
        if (post)
            field_track_post(app, req, resp);
        else if (method_is(req, resp, "GET"))
            field_track_get(app, req, resp);
        else
            snprintf(resp->allow, sizeof resp->allow, "GET, POST");
    } else if (!strcmp(r, "forms")) {
        if (method_is(req, resp, "GET"))
            field_forms_get(app, req, resp);
    } else if (!strcmp(r, "submissions")) {
        if (method_is(req, resp, "POST"))
            field_submission_post(app, req, resp);
    } else if (!strcmp(r, "indicators")) {
        if (method_is(req, resp, "GET"))
            field_indicators_get(app, req, resp);
    } else if (!strcmp(r, "reports")) {
        if (method_is(req, resp, "GET"))
            field_report_get(app, req, resp);
    } else {
        render_api_error(resp, 404, "not_found", NULL, "no such resource");
    }
    return true;
}
