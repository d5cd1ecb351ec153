/* Closure-rate statistics (办结率统计): GET /api/v1/stats and /api/v1/stats.csv (see api_stats.h).
 *
 * Every number but overdue_now is a sum of router.closure_stats_daily rows (the view the router
 * publishes of router.stat_daily), which the router keeps in the transaction of each transition:
 * per (day of receipt, unit, category), for every unit a ticket belongs to (group, village,
 * township, county). So a period's figures for an area read only that area's rows for those days
 * (the index stat_daily_day (unit_id, day) or the primary key (unit_id, service_code, day)),
 * whatever the number of tickets:
 *   total      the asked unit's own rows;
 *   unit rows  its children's rows (so a child's figures equal the child's own total);
 *   service    the asked unit's own rows, grouped by category.
 * overdue_now counts open tickets (assigned, accepted, in_progress) whose resolve deadline has
 * passed by the injected clock, from router.ticket_assignment (a plain view of router.ticket, so
 * the planner still uses the partial index on resolve_due).
 *
 * Rates (JSON: fractions rounded to 4 decimals; CSV: percentages with 2 decimals, the same
 * rounded value) are null / empty when their denominator is 0:
 *   办结率 closure_rate = resolved / received          按时办结率 on_time_rate = resolved_on_time / resolved
 *   满意率 satisfaction_rate = satisfied / rated        平均办结时长 avg_resolve_work_hours =
 *                                                        resolve_work_s / resolved / 3600 (working hours) */
#include "api_stats.h"

#include <math.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "csv.h"
#include "form.h"
#include "gclock.h"
#include "db_tx.h"
#include "log.h"
#include "render.h"
#include "staff.h"

#define MAX_SPAN_DAYS 3660
#define DEFAULT_DAYS 30
#define LOCAL_OFFSET_S (8 * 3600) /* the county's dates are +08:00 */

typedef struct {
    long long received, resolved, on_time, rated, satisfied, work_s, escalations, returns, overdue;
} counts_t;

typedef struct {
    char *code, *name, *level; /* owned; level NULL for a category row */
    counts_t c;
} stat_row_t;

typedef struct {
    stat_row_t unit;  /* the unit asked, with its total */
    stat_row_t *rows; /* children or categories */
    int n_rows;
    bool by_service;
    char from[11], to[11];
    const char *service_code; /* NULL: every category */
} report_t;

/* ---- dates ------------------------------------------------------------------------------ */

/* Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil). */
static long days_from_civil(int y, int m, int d)
{
    y -= m <= 2;
    long era = (y >= 0 ? y : y - 399) / 400;
    long yoe = y - era * 400;
    long doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1;
    long doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    return era * 146097 + doe - 719468;
}

static void civil_from_days(long z, char out[11])
{
    z += 719468;
    long era = (z >= 0 ? z : z - 146096) / 146097;
    long doe = z - era * 146097;
    long yoe = (doe - doe / 1460 + doe / 36524 - doe / 146096) / 365;
    long y = yoe + era * 400;
    long doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    long mp = (5 * doy + 2) / 153;
    long d = doy - (153 * mp + 2) / 5 + 1;
    long m = mp + (mp < 10 ? 3 : -9);
    y += m <= 2;
    char tmp[64];
    snprintf(tmp, sizeof tmp, "%04ld-%02ld-%02ld", y, m, d);
    snprintf(out, 11, "%.10s", tmp);
}

/* Exactly YYYY-MM-DD naming a real date (years 1900-9999). */
static bool parse_date(const char *s, long *days)
{
    if (strlen(s) != 10 || s[4] != '-' || s[7] != '-')
        return false;
    for (int i = 0; i < 10; i++)
        if (i != 4 && i != 7 && (s[i] < '0' || s[i] > '9'))
            return false;
    int y = atoi(s), m = atoi(s + 5), d = atoi(s + 8);
    static const int mdays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    if (y < 1900 || m < 1 || m > 12 || d < 1)
        return false;
    bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
    if (d > mdays[m - 1] + (m == 2 && leap))
        return false;
    *days = days_from_civil(y, m, d);
    return true;
}

static long today_local(void)
{
    int64_t s = gclock_now_us() / 1000000 + LOCAL_OFFSET_S;
    return (long)(s >= 0 ? s / 86400 : (s - 86399) / 86400);
}

/* ---- numbers ---------------------------------------------------------------------------- */

/* num/den in units of 1/scale, rounded half away from zero; false when den is 0. */
static bool scaled(long long num, long long den, double scale, long long *out)
{
    if (den <= 0)
        return false;
    *out = llround((double)num * scale / (double)den);
    return true;
}

static json_t *json_scaled(long long num, long long den, double scale)
{
    long long v;
    return scaled(num, den, scale, &v) ? json_real((double)v / scale) : json_null();
}

static json_t *counts_json(const counts_t *c)
{
    json_t *o = json_object();
    json_object_set_new(o, "received", json_integer(c->received));
    json_object_set_new(o, "resolved", json_integer(c->resolved));
    json_object_set_new(o, "closure_rate", json_scaled(c->resolved, c->received, 1e4));
    json_object_set_new(o, "resolved_on_time", json_integer(c->on_time));
    json_object_set_new(o, "on_time_rate", json_scaled(c->on_time, c->resolved, 1e4));
    json_object_set_new(o, "rated", json_integer(c->rated));
    json_object_set_new(o, "satisfied", json_integer(c->satisfied));
    json_object_set_new(o, "satisfaction_rate", json_scaled(c->satisfied, c->rated, 1e4));
    json_object_set_new(o, "resolve_work_s", json_integer(c->work_s));
    json_object_set_new(o, "avg_resolve_work_hours", json_scaled(c->work_s, c->resolved * 3600, 1e2));
    json_object_set_new(o, "overdue_now", json_integer(c->overdue));
    json_object_set_new(o, "escalations", json_integer(c->escalations));
    json_object_set_new(o, "returns", json_integer(c->returns));
    return o;
}

static json_t *row_json(const stat_row_t *r)
{
    json_t *o = json_object();
    json_object_set_new(o, "code", json_string(r->code));
    json_object_set_new(o, "name", json_string(r->name));
    if (r->level)
        json_object_set_new(o, "level", json_string(r->level));
    json_t *c = counts_json(&r->c);
    json_object_update(o, c);
    json_decref(c);
    return o;
}

/* ---- CSV -------------------------------------------------------------------------------- */

/* ",87.50%" — or "," when there is no denominator. */
static void csv_pct(buf_t *b, long long num, long long den)
{
    long long v;
    if (scaled(num, den, 1e4, &v))
        buf_printf(b, ",%s%lld.%02lld%%", v < 0 ? "-" : "", llabs(v) / 100, llabs(v) % 100);
    else
        buf_putc(b, ',');
}

static const char *level_zh(const char *level)
{
    if (!level)
        return "";
    if (!strcmp(level, "county"))
        return "县";
    if (!strcmp(level, "township"))
        return "乡镇";
    if (!strcmp(level, "village"))
        return "村";
    if (!strcmp(level, "group"))
        return "组";
    return level;
}

static void csv_row(buf_t *b, const char *code, const char *name, const char *level, bool with_level, const counts_t *c)
{
    csv_field(b, code);
    buf_putc(b, ',');
    csv_field(b, name);
    if (with_level) {
        buf_putc(b, ',');
        csv_field(b, level_zh(level));
    }
    buf_printf(b, ",%lld,%lld", c->received, c->resolved);
    csv_pct(b, c->resolved, c->received);
    buf_printf(b, ",%lld", c->on_time);
    csv_pct(b, c->on_time, c->resolved);
    buf_printf(b, ",%lld,%lld", c->rated, c->satisfied);
    csv_pct(b, c->satisfied, c->rated);
    long long h;
    if (scaled(c->work_s, c->resolved * 3600, 1e2, &h))
        buf_printf(b, ",%s%lld.%02lld", h < 0 ? "-" : "", llabs(h) / 100, llabs(h) % 100);
    else
        buf_putc(b, ',');
    buf_printf(b, ",%lld,%lld,%lld\r\n", c->overdue, c->escalations, c->returns);
}

static void render_csv(http_resp_t *resp, const report_t *rep)
{
    resp->status = 200;
    resp->content_type = "text/csv; charset=utf-8";
    buf_reset(&resp->body);
    buf_t *b = &resp->body;
    buf_puts(b, "\xEF\xBB\xBF");
    const char *tail = "受理数,办结数,办结率,按时办结数,按时办结率,评价数,满意数,满意率,平均办结时长(工作小时),"
                       "超期未办结,升级次数,退单次数\r\n";
    buf_printf(b, "%s%s", rep->by_service ? "类别编码,类别," : "单位编码,单位,层级,", tail);
    for (int i = 0; i < rep->n_rows; i++)
        csv_row(b, rep->rows[i].code, rep->rows[i].name, rep->rows[i].level, !rep->by_service, &rep->rows[i].c);
    char total[300];
    snprintf(total, sizeof total, "合计（%s）", rep->unit.name);
    csv_row(b, rep->unit.code, total, rep->unit.level, !rep->by_service, &rep->unit.c);
    snprintf(resp->content_disposition, sizeof resp->content_disposition,
             "attachment; filename=\"closure-rates-%s-%s-%s.csv\"", rep->unit.code, rep->from, rep->to);
}

static void render_report_json(http_resp_t *resp, const report_t *rep)
{
    json_t *rows = json_array();
    for (int i = 0; i < rep->n_rows; i++)
        json_array_append_new(rows, row_json(&rep->rows[i]));
    json_t *total = counts_json(&rep->unit.c);
    json_t *doc = json_pack("{s:{s:s,s:s,s:s},s:s,s:s,s:o,s:s,s:o,s:o}", "unit", "code", rep->unit.code, "name",
                            rep->unit.name, "level", rep->unit.level, "from", rep->from, "to", rep->to, "service_code",
                            rep->service_code ? json_string(rep->service_code) : json_null(), "group_by",
                            rep->by_service ? "service" : "unit", "rows", rows, "total", total);
    render_json(resp, 200, doc);
    json_decref(doc);
}

/* ---- queries ---------------------------------------------------------------------------- */

#define SUMS                                                                                              \
    "coalesce(sum(received), 0) AS received, coalesce(sum(resolved), 0) AS resolved,"                    \
    " coalesce(sum(resolved_on_time), 0) AS on_time, coalesce(sum(rated), 0) AS rated,"                  \
    " coalesce(sum(satisfied), 0) AS satisfied, coalesce(sum(resolve_work_s), 0) AS work_s,"              \
    " coalesce(sum(escalations), 0) AS escalations, coalesce(sum(returns), 0) AS returns"
#define AGG_COLS                                                                                          \
    "a.received, a.resolved, a.on_time, a.rated, a.satisfied, a.work_s, a.escalations, a.returns"

/* $1 unit id, $2 from, $3 to, $4 service code or NULL, $5 now (epoch seconds). The condition
 * matches the partial index router_ticket_open_resolve. */
#define OVERDUE_WHERE                                                                                     \
    " t.state IN ('assigned', 'accepted', 'in_progress') AND t.resolve_due < to_timestamp($5::float8)"   \
    " AND ($4::text IS NULL OR t.service_code = $4)"

/* One statement per request, so the stat_daily rows are read in one index scan: for group_by unit
 * the unit's own rows (the total) and its children's rows together, grouped by unit; for
 * group_by service the unit's own rows grouped by category with the grand total as a grouping
 * set. Every result row: is_total, code, name, level, the 8 sums, overdue_now. */
static const char UNITS_SQL[] =
    "WITH ids AS (SELECT $1::bigint AS id UNION ALL SELECT id FROM registry.unit WHERE parent_id = $1::bigint),"
    " agg AS (SELECT unit_id, " SUMS " FROM router.closure_stats_daily"
    "  WHERE unit_id = ANY (ARRAY(SELECT id FROM ids)) AND day BETWEEN $2::date AND $3::date"
    "  AND ($4::text IS NULL OR service_code = $4) GROUP BY unit_id),"
    " od AS (SELECT i.id, count(*) AS n FROM router.ticket_assignment t JOIN ids i"
    "  ON i.id IN (t.group_id, t.village_id, t.township_id, t.county_id, t.unit_id) WHERE" OVERDUE_WHERE
    "  GROUP BY i.id)"
    " SELECT u.id = $1::bigint, u.code, u.name, u.level, " AGG_COLS ", coalesce(o.n, 0)"
    " FROM ids JOIN registry.unit u ON u.id = ids.id LEFT JOIN agg a ON a.unit_id = u.id"
    " LEFT JOIN od o ON o.id = u.id ORDER BY u.id <> $1::bigint, u.code";

static const char SERVICES_SQL[] =
    "WITH agg AS (SELECT grouping(service_code) AS g, service_code, " SUMS " FROM router.closure_stats_daily"
    "  WHERE unit_id = $1::bigint AND day BETWEEN $2::date AND $3::date"
    "  AND ($4::text IS NULL OR service_code = $4) GROUP BY GROUPING SETS ((service_code), ())),"
    " od AS (SELECT grouping(t.service_code) AS g, t.service_code, count(*) AS n FROM router.ticket_assignment t WHERE" OVERDUE_WHERE
    "  AND $1::bigint IN (t.group_id, t.village_id, t.township_id, t.county_id, t.unit_id)"
    "  GROUP BY GROUPING SETS ((t.service_code), ()))"
    " SELECT true, NULL, NULL, NULL, " AGG_COLS ", (SELECT n FROM od WHERE g = 1), -1, NULL"
    " FROM agg a WHERE a.g = 1"
    " UNION ALL"
    " SELECT false, coalesce(s.code, a.service_code), coalesce(s.name, a.service_code), NULL, " AGG_COLS ","
    "  coalesce(o.n, 0), s.sort, coalesce(s.code, a.service_code)"
    " FROM (SELECT * FROM registry.service WHERE $4::text IS NULL OR code = $4) s"
    " FULL JOIN (SELECT * FROM agg WHERE g = 0) a ON a.service_code = s.code"
    " LEFT JOIN od o ON o.g = 0 AND o.service_code = coalesce(s.code, a.service_code)"
    " WHERE s.active OR a.service_code IS NOT NULL OR o.n IS NOT NULL"
    " ORDER BY 1 DESC, 14, 15";

static long long ll(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : atoll(PQgetvalue(r, row, col));
}

/* Columns first..first+8: the 8 sums, then overdue_now. */
static void read_counts(const PGresult *r, int row, int first, counts_t *c)
{
    c->received = ll(r, row, first);
    c->resolved = ll(r, row, first + 1);
    c->on_time = ll(r, row, first + 2);
    c->rated = ll(r, row, first + 3);
    c->satisfied = ll(r, row, first + 4);
    c->work_s = ll(r, row, first + 5);
    c->escalations = ll(r, row, first + 6);
    c->returns = ll(r, row, first + 7);
    c->overdue = ll(r, row, first + 8);
}

static char *xdup(const char *s)
{
    char *d = strdup(s ? s : "");
    if (!d)
        log_oom();
    return d;
}

static void report_free(report_t *rep)
{
    free(rep->unit.code);
    free(rep->unit.name);
    free(rep->unit.level);
    for (int i = 0; i < rep->n_rows; i++) {
        free(rep->rows[i].code);
        free(rep->rows[i].name);
        free(rep->rows[i].level);
    }
    free(rep->rows);
}

/* ---- the request ------------------------------------------------------------------------ */

static void unavailable(http_resp_t *resp, const char *what, const char *err)
{
    log_warn("stats %s: %s", what, err);
    render_api_error(resp, 503, "unavailable", NULL, "the database is unavailable; try again");
}

static void stats(const intake_t *app, const http_req_t *req, http_resp_t *resp, bool csv)
{
    char err[512];
    db_t *db = intake_db(app, err, sizeof err);
    if (!db) {
        unavailable(resp, "connect", err);
        return;
    }
    staff_t who;
    switch (staff_authenticate(db, req, &who)) {
    case AUTH_OK: break;
    case AUTH_MISSING:
        render_api_error(resp, 401, "unauthorized", NULL, "staff sign in with Authorization: Bearer <token>");
        return;
    case AUTH_INVALID:
        render_api_error(resp, 401, "unauthorized", NULL, "this token is unknown, revoked or expired");
        return;
    case AUTH_UNAVAILABLE: unavailable(resp, "auth", "staff lookup failed"); return;
    }
    json_t *q = form_parse(req->query, strlen(req->query), err, sizeof err);
    if (!q) {
        render_api_error(resp, 400, "invalid_query", NULL, err);
        return;
    }
    report_t rep = {0};
    const char *unit = form_arg(q, "unit"), *from = form_arg(q, "from"), *to = form_arg(q, "to");
    const char *group_by = form_arg(q, "group_by");
    rep.service_code = form_arg(q, "service_code");
    long d_from = 0, d_to = 0, today = today_local();
    if (group_by && strcmp(group_by, "unit") && strcmp(group_by, "service")) {
        render_api_error(resp, 400, "invalid_group_by", "group_by", "group_by is unit or service");
        goto out;
    }
    rep.by_service = group_by && !strcmp(group_by, "service");
    bool bad_from = from && !parse_date(from, &d_from), bad_to = to && !parse_date(to, &d_to);
    if (bad_from || bad_to) {
        render_api_error(resp, 400, "invalid_date", bad_from ? "from" : "to", "from and to are local dates YYYY-MM-DD");
        goto out;
    }
    if (!to)
        d_to = from && d_from > today ? d_from : today;
    if (!from)
        d_from = d_to - (DEFAULT_DAYS - 1);
    if (d_from > d_to) {
        render_api_error(resp, 400, "invalid_period", "from", "from must not be after to");
        goto out;
    }
    if (d_to - d_from + 1 > MAX_SPAN_DAYS) {
        render_api_error(resp, 400, "invalid_period", "to", "the period is at most 3660 days");
        goto out;
    }
    civil_from_days(d_from, rep.from);
    civil_from_days(d_to, rep.to);

    /* The unit, and whether the caller may see it: their own unit or one inside it (units are
     * at most four levels deep), or anything for the county operator. */
    char me[24];
    snprintf(me, sizeof me, "%lld", (long long)who.id);
    const char *up[] = {unit ? unit : who.unit_code, me, rep.service_code};
    PGresult *u = db_exec(db,
                          "SELECT u.id, u.code, u.name, u.level,"
                          " s.role = 'operator' OR s.unit_id IN (u.id, p1.id, p2.id, p3.id),"
                          " $3::text IS NULL OR EXISTS (SELECT 1 FROM registry.service WHERE code = $3)"
                          " FROM registry.unit u LEFT JOIN registry.unit p1 ON p1.id = u.parent_id"
                          " LEFT JOIN registry.unit p2 ON p2.id = p1.parent_id"
                          " LEFT JOIN registry.unit p3 ON p3.id = p2.parent_id"
                          " JOIN registry.staff s ON s.id = $2::bigint WHERE u.code = $1",
                          3, up, err, sizeof err, NULL);
    if (!u) {
        unavailable(resp, "unit", err);
        goto out;
    }
    if (PQntuples(u) != 1) {
        PQclear(u);
        render_api_error(resp, 404, "unknown_unit", "unit", "no unit with this code");
        goto out;
    }
    bool allowed = PQgetvalue(u, 0, 4)[0] == 't', known_service = PQgetvalue(u, 0, 5)[0] == 't';
    char unit_id[24];
    snprintf(unit_id, sizeof unit_id, "%s", PQgetvalue(u, 0, 0));
    rep.unit.code = xdup(PQgetvalue(u, 0, 1));
    rep.unit.name = xdup(PQgetvalue(u, 0, 2));
    rep.unit.level = xdup(PQgetvalue(u, 0, 3));
    PQclear(u);
    if (!allowed) {
        render_api_error(resp, 403, "forbidden", "unit", "this unit is outside your area");
        goto out;
    }
    if (!known_service) {
        render_api_error(resp, 400, "unknown_service_code", "service_code", "no service with this code");
        goto out;
    }

    char now[32];
    int64_t now_us = gclock_now_us();
    snprintf(now, sizeof now, "%lld.%06lld", (long long)(now_us / 1000000), (long long)(now_us % 1000000));
    const char *p[] = {unit_id, rep.from, rep.to, rep.service_code, now};
    /* One snapshot for the total and the rows; a short scan in one backend beats parallel workers
     * (their start-up costs more than they save here) and JIT compilation. */
    PGconn *c = db_conn(db, err, sizeof err);
    if (!c || !db_begin_mode(c, "ISOLATION LEVEL REPEATABLE READ READ ONLY", err, sizeof err) ||
        !db_run(db, "SET LOCAL max_parallel_workers_per_gather = 0", 0, NULL, err, sizeof err) ||
        !db_run(db, "SET LOCAL jit = off", 0, NULL, err, sizeof err)) {
        db_rollback(c);
        unavailable(resp, "begin", err);
        goto out;
    }
    PGresult *r = db_exec(db, rep.by_service ? SERVICES_SQL : UNITS_SQL, 5, p, err, sizeof err, NULL);
    if (!r || !db_commit(c, err, sizeof err)) {
        db_rollback(c);
        PQclear(r);
        unavailable(resp, "rows", err);
        goto out;
    }
    rep.rows = calloc((size_t)PQntuples(r) + 1, sizeof *rep.rows);
    if (!rep.rows)
        log_oom();
    for (int i = 0; i < PQntuples(r); i++) {
        if (PQgetvalue(r, i, 0)[0] == 't') { /* the total: first */
            read_counts(r, i, 4, &rep.unit.c);
            continue;
        }
        stat_row_t *row = &rep.rows[rep.n_rows++];
        row->code = xdup(PQgetvalue(r, i, 1));
        row->name = xdup(PQgetvalue(r, i, 2));
        row->level = rep.by_service ? NULL : xdup(PQgetvalue(r, i, 3));
        read_counts(r, i, 4, &row->c);
    }
    PQclear(r);
    if (csv)
        render_csv(resp, &rep);
    else
        render_report_json(resp, &rep);
out:
    report_free(&rep);
    json_decref(q);
}

bool api_stats_handle(const intake_t *app, const http_req_t *req, http_resp_t *resp)
{
    bool csv = !strcmp(req->path, "/api/v1/stats.csv");
    if (!csv && strcmp(req->path, "/api/v1/stats") != 0)
        return false;
    if (strcmp(req->method, "GET") != 0 && strcmp(req->method, "HEAD") != 0) {
        render_api_error(resp, 405, "method_not_allowed", NULL, "use GET");
        snprintf(resp->allow, sizeof resp->allow, "GET");
        return true;
    }
    stats(app, req, resp, csv);
    return true;
}
