/* Patrol tracks (实施轨迹记录).
 *
 *   POST /api/v1/field/tracks   grid worker; {"points": [{"at", "lat", "long", "accuracy_m"?}, ...]}
 *        1..field_track_max_points (10,000) points, late, out of order or sent before: each
 *        (worker, at) is stored once (INSERT ... ON CONFLICT DO NOTHING over unnest of arrays,
 *        one statement: the whole batch or nothing). 201 {"received","stored","duplicates"}
 *        after COMMIT, so an acknowledged point survives any crash after it. One bad point
 *        (time, coordinates, member) refuses the batch with 400 and the index of the point.
 *   GET  /api/v1/field/tracks?staff_id=&date=
 *        the worker's county day (date defaults to today by the injected clock; staff_id to the
 *        caller) as a GeoJSON FeatureCollection: the walked pieces (MultiLineString), lone fixes
 *        and bad fixes (MultiPoint), with distance_m, coverage and the counts as members. Read by
 *        the worker, staff whose area holds the worker's group, and the county operator.
 *
 * Bad fixes: a fix reached from the last good one faster than field_max_speed_kmh (default 25
 * km/h: the legal top speed of an electric bicycle in China, GB 17761-2018, which grid workers
 * ride between villages; walking is 4-6 km/h, and GPS jumps of a few hundred metres within
 * seconds are hundreds of km/h) is bad, and left out of distance and coverage. The first good
 * fix is the first one from which the next is reachable at that speed, so a jump at the start
 * does not make the whole day bad. A pause longer than field_track_gap_s (300 s) between good
 * fixes starts a new piece: where the worker went while the app was silent is not walked
 * ground, so the straight line across a gap counts toward neither distance nor coverage.
 * Distance is the length of the pieces on the spheroid; coverage the share of the group's area
 * within field_coverage_m (default 50 m) of them (intake.field_track_measure, PostGIS). */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "field.h"
#include "form.h"
#include "gclock.h"
#include "intake.h"
#include "log.h"
#include "render.h"
#include "timefmt.h"

static const char INSERT_SQL[] =
    "INSERT INTO intake.field_track_point (staff_id, at, lat, long, accuracy_m)"
    " SELECT $1::bigint, timestamptz 'epoch' + u.t * interval '1 microsecond', u.la, u.lo, u.ac"
    " FROM unnest($2::bigint[], $3::float8[], $4::float8[], $5::real[]) AS u(t, la, lo, ac)"
    " ORDER BY u.t ON CONFLICT (staff_id, at) DO NOTHING";

static void bad_point(http_resp_t *resp, size_t i, const char *code, const char *what)
{
    char msg[200], field[40];
    snprintf(msg, sizeof msg, "point %zu: %s; nothing was stored", i, what);
    snprintf(field, sizeof field, "points[%zu]", i);
    render_api_error(resp, 400, code, field, msg);
}

void field_track_post(const intake_t *app, const http_req_t *req, http_resp_t *resp)
{
    db_t *db;
    staff_t who;
    int64_t group;
    if (!field_auth(app, req, resp, &db, &who) || !field_worker(db, &who, resp, &group))
        return;
    json_t *b = field_body(req, resp);
    if (!b)
        return;
    buf_t ts = BUF_INIT, las = BUF_INIT, los = BUF_INIT, acs = BUF_INIT;
    const json_t *pts = json_object_get(b, "points");
    size_t n = json_array_size(pts);
    if (json_object_size(b) != 1 || !json_is_array(pts) || n == 0) {
        render_api_error(resp, 400, "invalid_points", "points", "the body is {\"points\": [{at, lat, long}, ...]}, not empty");
        goto out;
    }
    if ((long)n > app->field.track_max_points) {
        char msg[120];
        snprintf(msg, sizeof msg, "at most %ld points a batch; send the rest in another", app->field.track_max_points);
        render_api_error(resp, 400, "batch_too_large", "points", msg);
        goto out;
    }
    int64_t now = gclock_now_us();
    buf_putc(&ts, '{');
    buf_putc(&las, '{');
    buf_putc(&los, '{');
    buf_putc(&acs, '{');
    for (size_t i = 0; i < n; i++) {
        const json_t *p = json_array_get(pts, i);
        if (!json_is_object(p)) {
            bad_point(resp, i, "invalid_point", "a point is an object {at, lat, long, accuracy_m?}");
            goto out;
        }
        const char *k;
        json_t *v;
        json_object_foreach((json_t *)p, k, v)
        {
            if (strcmp(k, "at") && strcmp(k, "lat") && strcmp(k, "long") && strcmp(k, "accuracy_m")) {
                bad_point(resp, i, "invalid_point", "a point has at, lat, long and accuracy_m only");
                goto out;
            }
        }
        int64_t at;
        double lat, lon;
        if (!field_time(p, "at", now, app->field.max_skew_us, &at)) {
            bad_point(resp, i, "invalid_time", "at is ISO 8601 with its zone, not in the future");
            goto out;
        }
        if (!field_latlong(p, &lat, &lon)) {
            bad_point(resp, i, "invalid_location", "lat (-90..90) and long (-180..180) are numbers");
            goto out;
        }
        const json_t *acc = json_object_get(p, "accuracy_m");
        if (acc && (!json_is_number(acc) || !(json_number_value(acc) >= 0) || json_number_value(acc) > 100000)) {
            bad_point(resp, i, "invalid_accuracy", "accuracy_m is metres, 0..100000");
            goto out;
        }
        const char *sep = i ? "," : "";
        buf_printf(&ts, "%s%lld", sep, (long long)at);
        buf_printf(&las, "%s%.8f", sep, lat);
        buf_printf(&los, "%s%.8f", sep, lon);
        if (acc)
            buf_printf(&acs, "%s%.2f", sep, json_number_value(acc));
        else
            buf_printf(&acs, "%sNULL", sep);
    }
    buf_putc(&ts, '}');
    buf_putc(&las, '}');
    buf_putc(&los, '}');
    buf_putc(&acs, '}');
    char s[24], err[256];
    snprintf(s, sizeof s, "%lld", (long long)who.id);
    const char *p[] = {s, buf_str(&ts), buf_str(&las), buf_str(&los), buf_str(&acs)};
    /* One statement, its own transaction: the answer below is sent only after its COMMIT. */
    PGresult *r = db_exec(db, INSERT_SQL, 5, p, err, sizeof err, NULL);
    if (!r) {
        field_unavailable(resp, "track", err);
        goto out;
    }
    long stored = atol(PQcmdTuples(r));
    PQclear(r);
    json_t *j = json_pack("{s:I,s:I,s:I}", "received", (json_int_t)n, "stored", (json_int_t)stored, "duplicates",
                          (json_int_t)((long)n - stored));
    render_json(resp, 201, j);
    json_decref(j);
out:
    buf_free(&ts);
    buf_free(&las);
    buf_free(&los);
    buf_free(&acs);
    json_decref(b);
}

/* ---- a day's track ------------------------------------------------------------------------ */

typedef struct {
    int64_t at;
    double lat, lon;
    int piece; /* -1: bad fix */
} fix_t;

/* Great-circle distance in metres (mean Earth radius): for speeds, where 0.5% does not matter. */
static double haversine_m(double lat1, double lon1, double lat2, double lon2)
{
    const double r = 6371008.8, rad = M_PI / 180;
    double dlat = (lat2 - lat1) * rad, dlon = (lon2 - lon1) * rad;
    double a = sin(dlat / 2) * sin(dlat / 2) + cos(lat1 * rad) * cos(lat2 * rad) * sin(dlon / 2) * sin(dlon / 2);
    return 2 * r * asin(fmin(1, sqrt(a)));
}

static bool too_fast(const fix_t *a, const fix_t *b, double max_kmh)
{
    double dt = (double)(b->at - a->at) / 1e6;
    double d = haversine_m(a->lat, a->lon, b->lat, b->lon);
    return dt <= 0 || d / dt * 3.6 > max_kmh;
}

/* Marks bad fixes (piece -1) and numbers the pieces of the good ones from 1; returns the count
 * of bad fixes. fixes are in time order. */
static size_t classify(fix_t *f, size_t n, const field_cfg_t *cfg)
{
    size_t first = 0, bad = 0;
    while (first + 1 < n && too_fast(&f[first], &f[first + 1], cfg->max_speed_kmh))
        first++;
    for (size_t i = 0; i < first; i++, bad++)
        f[i].piece = -1;
    int piece = 0;
    const fix_t *last = NULL;
    for (size_t i = first; i < n; i++) {
        if (last && too_fast(last, &f[i], cfg->max_speed_kmh)) {
            f[i].piece = -1;
            bad++;
            continue;
        }
        if (!last || f[i].at - last->at > (int64_t)cfg->track_gap_s * 1000000)
            piece++;
        f[i].piece = piece;
        last = &f[i];
    }
    return bad;
}

static json_t *pos(const fix_t *f)
{
    return json_pack("[f,f]", f->lon, f->lat);
}

void field_track_get(const intake_t *app, const http_req_t *req, http_resp_t *resp)
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
    fix_t *f = NULL;
    PGresult *r = NULL;
    buf_t la = BUF_INIT, lo = BUF_INIT, pc = BUF_INIT;
    long staff_id = (long)who.id, day = field_local_day(gclock_now_us());
    const char *date = form_arg(q, "date");
    if (form_arg(q, "staff_id") && !form_arg_long(q, "staff_id", 1, 9007199254740991L, &staff_id)) {
        render_api_error(resp, 400, "invalid_staff_id", "staff_id", "staff_id is a staff member's number");
        goto out;
    }
    if (date && !field_parse_date(date, &day)) {
        render_api_error(resp, 400, "invalid_date", "date", "date is a county date YYYY-MM-DD");
        goto out;
    }
    /* the worker, their group, and whether the caller may read them */
    char sid[24], me_unit[24];
    snprintf(sid, sizeof sid, "%ld", staff_id);
    snprintf(me_unit, sizeof me_unit, "%lld", (long long)who.unit_id);
    const char *wp[] = {sid, me_unit, who.role};
    r = db_exec(db,
                "SELECT g.id, g.code, $3 = 'operator' OR g.id IN (SELECT registry.unit_area($2::bigint))"
                " FROM registry.staff s JOIN registry.unit g ON g.id = s.unit_id AND g.level = 'group'"
                " WHERE s.id = $1::bigint AND s.role = 'grid_worker'",
                3, wp, err, sizeof err, NULL);
    if (!r) {
        field_unavailable(resp, "track worker", err);
        goto out;
    }
    if (PQntuples(r) != 1) {
        render_api_error(resp, 404, "unknown_worker", "staff_id", "no grid worker with a group has this number");
        goto out;
    }
    if (PQgetvalue(r, 0, 2)[0] != 't') {
        render_api_error(resp, 403, "forbidden", "staff_id", "this grid worker's group is outside your area");
        goto out;
    }
    char gid[24], gcode[64], dtext[11], d0[32], d1[32];
    snprintf(gid, sizeof gid, "%s", PQgetvalue(r, 0, 0));
    snprintf(gcode, sizeof gcode, "%s", PQgetvalue(r, 0, 1));
    PQclear(r);
    int64_t start = (int64_t)day * 86400 * 1000000 - (int64_t)TIMEFMT_COUNTY_OFFSET_MIN * 60 * 1000000;
    field_us_text(start, d0);
    field_us_text(start + (int64_t)86400 * 1000000, d1);
    field_date_text(day, dtext);
    const char *dp[] = {sid, d0, d1};
    /* the key (staff_id, at) gives the day in time order; date_part is float8 (exact to the
     * microsecond here), where extract's numeric costs a third of the read */
    r = db_exec(db,
                "SELECT (date_part('epoch', at) * 1000000)::bigint, lat, long FROM intake.field_track_point"
                " WHERE staff_id = $1::bigint AND at >= to_timestamp($2::numeric) AND at < to_timestamp($3::numeric)"
                " ORDER BY at",
                3, dp, err, sizeof err, NULL);
    if (!r) {
        field_unavailable(resp, "track points", err);
        goto out;
    }
    size_t n = (size_t)PQntuples(r);
    f = calloc(n ? n : 1, sizeof *f);
    if (!f)
        log_oom();
    for (size_t i = 0; i < n; i++)
        f[i] = (fix_t){.at = atoll(PQgetvalue(r, (int)i, 0)), .lat = atof(PQgetvalue(r, (int)i, 1)),
                       .lon = atof(PQgetvalue(r, (int)i, 2))};
    PQclear(r);
    r = NULL;
    size_t bad = classify(f, n, &app->field);

    buf_putc(&la, '{');
    buf_putc(&lo, '{');
    buf_putc(&pc, '{');
    int pieces = 0;
    for (size_t i = 0, k = 0; i < n; i++) {
        if (f[i].piece < 0)
            continue;
        const char *sep = k++ ? "," : "";
        buf_printf(&la, "%s%.8f", sep, f[i].lat);
        buf_printf(&lo, "%s%.8f", sep, f[i].lon);
        buf_printf(&pc, "%s%d", sep, f[i].piece);
        pieces = f[i].piece;
    }
    buf_putc(&la, '}');
    buf_putc(&lo, '}');
    buf_putc(&pc, '}');
    char buffer[32];
    snprintf(buffer, sizeof buffer, "%.3f", app->field.coverage_m);
    const char *mp[] = {gid, buf_str(&la), buf_str(&lo), buf_str(&pc), buffer};
    r = db_exec(db, "SELECT distance_m, covered_m2, area_m2 FROM intake.field_track_measure($1::bigint, $2::float8[],"
                    " $3::float8[], $4::int[], $5::float8)",
                4 + 1, mp, err, sizeof err, NULL);
    if (!r || PQntuples(r) != 1) {
        field_unavailable(resp, "track measure", r ? "no row" : err);
        goto out;
    }
    double distance = atof(PQgetvalue(r, 0, 0)), covered = atof(PQgetvalue(r, 0, 1)), area = atof(PQgetvalue(r, 0, 2));

    /* GeoJSON: walked pieces, lone fixes (a piece of one), bad fixes */
    json_t *lines = json_array(), *lone = json_array(), *bads = json_array();
    for (size_t i = 0; i < n;) {
        if (f[i].piece < 0) {
            json_array_append_new(bads, pos(&f[i++]));
            continue;
        }
        json_t *line = json_array();
        int piece = f[i].piece;
        for (; i < n && (f[i].piece == piece || f[i].piece < 0); i++) {
            if (f[i].piece < 0)
                json_array_append_new(bads, pos(&f[i]));
            else
                json_array_append_new(line, pos(&f[i]));
        }
        if (json_array_size(line) > 1)
            json_array_append(lines, line);
        else
            json_array_extend(lone, line);
        json_decref(line);
    }
    json_t *features = json_pack("[{s:s,s:{s:s,s:o},s:{s:s}},{s:s,s:{s:s,s:o},s:{s:s}},{s:s,s:{s:s,s:o},s:{s:s}}]",
                                 "type", "Feature", "geometry", "type", "MultiLineString", "coordinates", lines,
                                 "properties", "kind", "track", "type", "Feature", "geometry", "type", "MultiPoint",
                                 "coordinates", lone, "properties", "kind", "lone_fixes", "type", "Feature", "geometry",
                                 "type", "MultiPoint", "coordinates", bads, "properties", "kind", "bad_fixes");
    long long permille = area > 0 ? llround(covered / area * 1000) : 0;
    json_t *doc = json_pack("{s:s,s:o,s:I,s:s,s:s,s:I,s:I,s:i,s:f,s:f,s:I,s:f,s:f}", "type", "FeatureCollection",
                            "features", features, "staff_id", (json_int_t)staff_id, "group", gcode, "date", dtext,
                            "points", (json_int_t)n, "bad_fixes", (json_int_t)bad, "pieces", pieces, "distance_m",
                            round(distance * 10) / 10, "coverage", area > 0 ? round(covered / area * 1e4) / 1e4 : 0.0,
                            "coverage_permille", (json_int_t)permille, "buffer_m", app->field.coverage_m,
                            "max_speed_kmh", app->field.max_speed_kmh);
    render_json(resp, 200, doc);
    json_decref(doc);
out:
    PQclear(r);
    free(f);
    buf_free(&la);
    buf_free(&lo);
    buf_free(&pc);
    json_decref(q);
}
