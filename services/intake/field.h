/* field: grid workers' field work (issue 14), intake's module. The routes, under /api/v1/field:
 *   POST checkins                  a grid worker checks in (field_checkin.c)
 *   GET  attendance[.csv]?township=&date=   the day's attendance of a township (field_checkin.c)
 *   POST positions                 a grid worker's position ping (field_position.c)
 *   GET  positions?township=       the latest ping per worker: the township's supervisor and
 *                                  the county operator, during duty hours only (field_position.c)
 *   POST tracks                    a batch of patrol-track points (field_track.c)
 *   GET  tracks?staff_id=&date=    a worker's day: GeoJSON, distance, coverage (field_track.c)
 *   GET  forms                     the active form versions (field_form.c)
 *   POST submissions               a filled-in form; failed inspection items raise tickets (field_form.c)
 *   GET  reports?township=&from=&to=   meetings, matters, visits, inspections (field_report.c)
 *   GET  indicators?unit=&year=    五零 indicators per group (field_indicators.c)
 * and outside systems' alerts, POST /api/v1/feeds/alerts with a feed's API key (feed.c).
 * Grid workers authenticate with the staff bearer token an operator issues (staff.h); what they
 * post is about themselves and their group (registry.staff.unit_id). Every record lives in the
 * intake schema (deploy/migrations/027_field_work.sql); bad input answers 400 and stores
 * nothing; a 2xx is sent only after COMMIT. */
#ifndef INTAKE_FIELD_H
#define INTAKE_FIELD_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "http.h"
#include "staff.h"

struct intake;

typedef struct field_cfg {
    double checkin_distance_m;   /* a check-in this close to the group's polygon is accepted */
    int duty_start_min, duty_end_min; /* positions are readable in [start, end), county time */
    long position_retention_h;   /* pings older than this are deleted by the sweep */
    double coverage_m;           /* a track covers the ground within this distance */
    double max_speed_kmh;        /* a fix reached faster than this from the last good one is bad */
    long track_gap_s;            /* a pause longer than this splits the track */
    long track_max_points;       /* points in one upload */
    int64_t max_skew_us;         /* how far ahead of our clock a device's time may run */
} field_cfg_t;

/* Parses "HH:MM-HH:MM" (county time; end after start, or "00:00-24:00" all day). */
bool field_parse_duty_hours(const char *s, int *start_min, int *end_min);

/* Answers /api/v1/field/...; false when the path is not one of its own. */
bool field_handle(const struct intake *app, const http_req_t *req, http_resp_t *resp);

/* The periodic sweep (main.c): deletes pings past their retention by the injected clock.
 * Returns the number deleted, -1 with err on failure. */
long field_sweep(db_t *db, const field_cfg_t *cfg, char *err, size_t errsz);

/* ---- shared by the field_*.c files ---- */

/* The request's database and its staff member; false when answered (401, 503). */
bool field_auth(const struct intake *app, const http_req_t *req, http_resp_t *resp, db_t **db, staff_t *who);
/* A grid worker with a group (registry.unit level group); false when answered 403. Sets
 * *group_id. */
bool field_worker(db_t *db, const staff_t *who, http_resp_t *resp, int64_t *group_id);
/* The JSON object body; NULL when answered (415, 400 invalid_json). Caller decrefs. */
json_t *field_body(const http_req_t *req, http_resp_t *resp);
/* A coordinate pair from obj's "lat" and "long": numbers within range. */
bool field_latlong(const json_t *obj, double *lat, double *lon);
/* obj's time member `key` (ISO 8601 with a zone) no later than now + max_skew; false if absent
 * or bad. */
bool field_time(const json_t *obj, const char *key, int64_t now_us, int64_t max_skew_us, int64_t *at_us);
/* A township the caller may read (their unit is it or above it, or they are the operator).
 * Writes its id; false when answered (400 missing, 404 unknown, 403 outside their area). */
bool field_township(db_t *db, const staff_t *who, const char *code, http_resp_t *resp, char id_out[24]);
/* epoch µs as PostgreSQL text, exact to the microsecond */
void field_us_text(int64_t us, char out[32]);
/* The county's calendar day of an instant (days since 1970-01-01) and back. */
long field_local_day(int64_t us);
bool field_parse_date(const char *s, long *day);
void field_date_text(long day, char out[11]);
void field_unavailable(http_resp_t *resp, const char *what, const char *err);

void field_checkin_post(const struct intake *app, const http_req_t *req, http_resp_t *resp);
void field_attendance_get(const struct intake *app, const http_req_t *req, http_resp_t *resp, bool csv);
void field_position_post(const struct intake *app, const http_req_t *req, http_resp_t *resp);
void field_position_get(const struct intake *app, const http_req_t *req, http_resp_t *resp);
void field_track_post(const struct intake *app, const http_req_t *req, http_resp_t *resp);
void field_track_get(const struct intake *app, const http_req_t *req, http_resp_t *resp);
void field_forms_get(const struct intake *app, const http_req_t *req, http_resp_t *resp);
void field_submission_post(const struct intake *app, const http_req_t *req, http_resp_t *resp);
void field_report_get(const struct intake *app, const http_req_t *req, http_resp_t *resp);
void field_indicators_get(const struct intake *app, const http_req_t *req, http_resp_t *resp);
void feed_alert_post(const struct intake *app, const http_req_t *req, http_resp_t *resp);

#endif
