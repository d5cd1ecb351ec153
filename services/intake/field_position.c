/* Position sharing (即时位置共享).
 *
 *   POST /api/v1/field/positions   grid worker; {"at", "lat", "long", "accuracy_m"?}
 *        201 {"stored": true|false} (false: this worker sent this instant before)
 *   GET  /api/v1/field/positions?township=CODE
 *        the latest ping of each grid worker of the township (with its age), read by the
 *        township's supervisor (role supervisor, unit the township) and the county operator
 *        only, and only within duty hours (field_duty_hours, county time, by the injected
 *        clock): outside them 403 outside_duty_hours for everybody.
 * Pings are deleted field_position_retention_h after their time by field_sweep (main.c's loop),
 * so nobody reads an old trail out of this table. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "civil.h"
#include "field.h"
#include "form.h"
#include "gclock.h"
#include "intake.h"
#include "render.h"
#include "timefmt.h"

static const char PING_SQL[] =
    "INSERT INTO intake.field_position (staff_id, at, lat, long, accuracy_m, received_at)"
    " VALUES ($1::bigint, to_timestamp($2::numeric), $3::float8, $4::float8, $5::real, to_timestamp($6::numeric))"
    " ON CONFLICT DO NOTHING";

void field_position_post(const intake_t *app, const http_req_t *req, http_resp_t *resp)
{
    db_t *db;
    staff_t who;
    int64_t group;
    if (!field_auth(app, req, resp, &db, &who) || !field_worker(db, &who, resp, &group))
        return;
    json_t *b = field_body(req, resp);
    if (!b)
        return;
    const char *k;
    json_t *v;
    json_object_foreach(b, k, v)
    {
        if (strcmp(k, "at") && strcmp(k, "lat") && strcmp(k, "long") && strcmp(k, "accuracy_m")) {
            render_api_error(resp, 400, "invalid_field", k, "a position has at, lat, long and accuracy_m only");
            goto out;
        }
    }
    double lat, lon;
    int64_t at, now = gclock_now_us();
    if (!field_time(b, "at", now, app->field.max_skew_us, &at)) {
        render_api_error(resp, 400, "invalid_time", "at", "at is the fix's time, ISO 8601 with its zone, not in the future");
        goto out;
    }
    if (!field_latlong(b, &lat, &lon)) {
        render_api_error(resp, 400, "invalid_location", "lat", "lat (-90..90) and long (-180..180) are numbers");
        goto out;
    }
    const json_t *acc = json_object_get(b, "accuracy_m");
    if (acc && (!json_is_number(acc) || json_number_value(acc) < 0 || json_number_value(acc) > 100000)) {
        render_api_error(resp, 400, "invalid_accuracy", "accuracy_m", "accuracy_m is metres, 0..100000");
        goto out;
    }
    char s[24], ats[32], la[32], lo[32], ac[32], rec[32], err[256];
    snprintf(s, sizeof s, "%lld", (long long)who.id);
    field_us_text(at, ats);
    field_us_text(now, rec);
    snprintf(la, sizeof la, "%.8f", lat);
    snprintf(lo, sizeof lo, "%.8f", lon);
    if (acc)
        snprintf(ac, sizeof ac, "%.2f", json_number_value(acc));
    const char *p[] = {s, ats, la, lo, acc ? ac : NULL, rec};
    PGresult *r = db_exec(db, PING_SQL, 6, p, err, sizeof err, NULL);
    if (!r) {
        field_unavailable(resp, "position", err);
        goto out;
    }
    bool stored = !strcmp(PQcmdTuples(r), "1");
    PQclear(r);
    json_t *j = json_pack("{s:b}", "stored", stored);
    render_json(resp, 201, j);
    json_decref(j);
out:
    json_decref(b);
}

/* $1 township id, $2 now (epoch seconds) */
static const char LATEST_SQL[] =
    "SELECT s.id, s.name, g.code, g.name, " TIMEFMT_SQL_LOCAL("p.at") ", p.lat, p.long, p.accuracy_m,"
    " floor(extract(epoch FROM to_timestamp($2::numeric) - p.at))::bigint"
    " FROM registry.staff s"
    " JOIN registry.unit g ON g.id = s.unit_id AND g.level = 'group'"
    " JOIN registry.unit v ON v.id = g.parent_id"
    " CROSS JOIN LATERAL (SELECT * FROM intake.field_position f WHERE f.staff_id = s.id"
    "                     ORDER BY f.at DESC LIMIT 1) p"
    " WHERE v.parent_id = $1::bigint AND s.role = 'grid_worker' AND s.active"
    " ORDER BY g.code, s.id";

static bool in_duty_hours(const field_cfg_t *cfg, int64_t now_us)
{
    int64_t local_s = civil_floor_div(now_us, 1000000) + (int64_t)TIMEFMT_COUNTY_OFFSET_MIN * 60;
    int minute = (int)((local_s - civil_floor_div(local_s, 86400) * 86400) / 60);
    return minute >= cfg->duty_start_min && minute < cfg->duty_end_min;
}

void field_position_get(const intake_t *app, const http_req_t *req, http_resp_t *resp)
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
    const char *township = form_arg(q, "township");
    char tid[24];
    int64_t now = gclock_now_us();
    /* who first, then when: a grid worker learns nothing about duty hours from the answer */
    if (strcmp(who.role, "operator") != 0 && strcmp(who.role, "supervisor") != 0) {
        render_api_error(resp, 403, "forbidden", NULL, "positions are for the township's supervisor and the county only");
        goto out;
    }
    if (!field_township(db, &who, township, resp, tid))
        goto out;
    if (strcmp(who.role, "operator") != 0 && who.unit_id != atoll(tid)) {
        render_api_error(resp, 403, "forbidden", "township", "positions are for the township's own supervisor");
        goto out;
    }
    if (!in_duty_hours(&app->field, now)) {
        render_api_error(resp, 403, "outside_duty_hours", NULL, "positions are shown during duty hours only");
        goto out;
    }
    char nows[32];
    field_us_text(now, nows);
    const char *p[] = {tid, nows};
    PGresult *r = db_exec(db, LATEST_SQL, 2, p, err, sizeof err, NULL);
    if (!r) {
        field_unavailable(resp, "positions", err);
        goto out;
    }
    json_t *rows = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *o = json_pack("{s:I,s:s,s:s,s:s,s:s,s:f,s:f,s:I}", "staff_id", (json_int_t)atoll(PQgetvalue(r, i, 0)),
                              "name", PQgetvalue(r, i, 1), "group_code", PQgetvalue(r, i, 2), "group",
                              PQgetvalue(r, i, 3), "at", PQgetvalue(r, i, 4), "lat", atof(PQgetvalue(r, i, 5)), "long",
                              atof(PQgetvalue(r, i, 6)), "age_s", (json_int_t)atoll(PQgetvalue(r, i, 8)));
        json_object_set_new(o, "accuracy_m", PQgetisnull(r, i, 7) ? json_null() : json_real(atof(PQgetvalue(r, i, 7))));
        json_array_append_new(rows, o);
    }
    PQclear(r);
    json_t *j = json_pack("{s:s,s:o}", "township", township, "workers", rows);
    render_json(resp, 200, j);
    json_decref(j);
out:
    json_decref(q);
}

long field_sweep(db_t *db, const field_cfg_t *cfg, char *err, size_t errsz)
{
    char cut[32];
    field_us_text(gclock_now_us() - (int64_t)cfg->position_retention_h * 3600 * 1000000, cut);
    const char *p[] = {cut};
    /* in slices, so that a long backlog never holds one long lock */
    long total = 0;
    for (;;) {
        PGresult *r = db_exec(db,
                              "DELETE FROM intake.field_position WHERE ctid = ANY (ARRAY("
                              " SELECT ctid FROM intake.field_position WHERE at < to_timestamp($1::numeric) LIMIT 10000))",
                              1, p, err, errsz, NULL);
        if (!r)
            return -1;
        long n = atol(PQcmdTuples(r));
        PQclear(r);
        total += n;
        if (n < 10000)
            return total;
    }
}
