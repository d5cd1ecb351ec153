/* 五零 indicators per villager group, for the operations screens.
 *
 *   GET /api/v1/field/indicators?unit=&year=
 *       unit: a group, village or township code (default the caller's own unit): a row per group
 *       in it. year: the county year the yearly figures count (default this year by the injected
 *       clock). Staff whose area holds the unit, and the operator.
 *   days_since_accident  county days from the last safety accident a grid worker reported
 *                        (form safety_accident, its date) to today by the injected clock; null
 *                        when none was ever reported
 *   hazards_open         open tickets placed in the group that came from field inspections or
 *                        outside systems' alerts (channels inspection and feed)
 *   appeals_open         open tickets placed in the group from every other channel
 *   appeals_resolved     of those, received in the year and resolved or closed now
 *   model_households     households of the group designated in the year (form model_household)
 * Open is assigned, accepted, in progress or returned (router.ticket_assignment, the router's
 * view for intake). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "field.h"
#include "form.h"
#include "gclock.h"
#include "intake.h"
#include "render.h"

#define OPEN "('assigned', 'accepted', 'in_progress', 'returned')"

/* $1 unit id, $2 year, $3 today (county date) */
static const char INDICATORS_SQL[] =
    "WITH g AS MATERIALIZED (SELECT g.id, g.code, g.name, v.name AS village FROM registry.unit g"
    "  JOIN registry.unit v ON v.id = g.parent_id"
    "  WHERE g.level = 'group' AND $1::bigint IN (g.id, v.id, v.parent_id)),"
    " f AS (SELECT s.group_id, k.kind, s.answers FROM intake.field_submission s"
    "  JOIN intake.field_form k ON k.code = s.form_code AND k.version = s.form_version"
    "  WHERE s.group_id IN (SELECT id FROM g) AND k.kind IN ('accident', 'model_household')),"
    " acc AS (SELECT group_id, max((answers ->> 'date')::date) AS last FROM f WHERE kind = 'accident' GROUP BY 1),"
    " mh AS (SELECT group_id, count(DISTINCT answers ->> 'household') AS n FROM f"
    "  WHERE kind = 'model_household' AND (answers ->> 'year')::int = $2::int GROUP BY 1),"
    " tk AS (SELECT t.group_id,"
    "  count(*) FILTER (WHERE k.channel IN ('inspection', 'feed') AND t.state IN " OPEN ") AS hazards,"
    "  count(*) FILTER (WHERE k.channel NOT IN ('inspection', 'feed') AND t.state IN " OPEN ") AS open,"
    "  count(*) FILTER (WHERE k.channel NOT IN ('inspection', 'feed') AND t.state IN ('resolved', 'closed')"
    "   AND extract(year FROM t.received_at AT TIME ZONE 'Asia/Shanghai') = $2::int) AS resolved"
    "  FROM router.ticket_assignment t JOIN intake.ticket k ON k.id = t.ticket_id"
    "  WHERE t.group_id IN (SELECT id FROM g) GROUP BY 1)"
    " SELECT g.code, g.name, g.village, $3::date - acc.last, acc.last::text, coalesce(tk.hazards, 0),"
    "  coalesce(tk.open, 0), coalesce(tk.resolved, 0), coalesce(mh.n, 0)"
    " FROM g LEFT JOIN acc ON acc.group_id = g.id LEFT JOIN tk ON tk.group_id = g.id LEFT JOIN mh ON mh.group_id = g.id"
    " ORDER BY g.code";

void field_indicators_get(const intake_t *app, const http_req_t *req, http_resp_t *resp)
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
    char today[11];
    field_date_text(field_local_day(gclock_now_us()), today);
    long year = atol(today);
    if (form_arg(q, "year") && !form_arg_long(q, "year", 2000, 2100, &year)) {
        render_api_error(resp, 400, "invalid_year", "year", "year is 2000..2100");
        goto out;
    }
    const char *unit = form_arg(q, "unit");
    char me[24];
    snprintf(me, sizeof me, "%lld", (long long)who.unit_id);
    const char *up[] = {unit ? unit : who.unit_code, me, who.role};
    PGresult *r = db_exec(db,
                          "SELECT u.id, $3 = 'operator' OR u.id IN (SELECT registry.unit_area($2::bigint)) FROM registry.unit u"
                          " WHERE u.code = $1 AND u.level IN ('township', 'village', 'group')",
                          3, up, err, sizeof err, NULL);
    if (!r) {
        field_unavailable(resp, "indicators unit", err);
        goto out;
    }
    if (PQntuples(r) != 1 || PQgetvalue(r, 0, 1)[0] != 't') {
        bool found = PQntuples(r) == 1;
        PQclear(r);
        if (found)
            render_api_error(resp, 403, "forbidden", "unit", "this unit is outside your area");
        else
            render_api_error(resp, 404, "unknown_unit", "unit", "no township, village or group has this code");
        goto out;
    }
    char uid[24], ys[8];
    snprintf(uid, sizeof uid, "%s", PQgetvalue(r, 0, 0));
    snprintf(ys, sizeof ys, "%ld", year);
    PQclear(r);
    const char *p[] = {uid, ys, today};
    r = db_exec(db, INDICATORS_SQL, 3, p, err, sizeof err, NULL);
    if (!r) {
        field_unavailable(resp, "indicators", err);
        goto out;
    }
    json_t *rows = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *o = json_pack("{s:s,s:s,s:s,s:I,s:I,s:I,s:I}", "group_code", PQgetvalue(r, i, 0), "group", PQgetvalue(r, i, 1),
                              "village", PQgetvalue(r, i, 2), "hazards_open", (json_int_t)atoll(PQgetvalue(r, i, 5)),
                              "appeals_open", (json_int_t)atoll(PQgetvalue(r, i, 6)), "appeals_resolved",
                              (json_int_t)atoll(PQgetvalue(r, i, 7)), "model_households",
                              (json_int_t)atoll(PQgetvalue(r, i, 8)));
        json_object_set_new(o, "days_since_accident",
                            PQgetisnull(r, i, 3) ? json_null() : json_integer(atoll(PQgetvalue(r, i, 3))));
        json_object_set_new(o, "last_accident", PQgetisnull(r, i, 4) ? json_null() : json_string(PQgetvalue(r, i, 4)));
        json_array_append_new(rows, o);
    }
    PQclear(r);
    json_t *j = json_pack("{s:s,s:i,s:s,s:o}", "unit", unit ? unit : who.unit_code, "year", (int)year, "today", today,
                          "groups", rows);
    render_json(resp, 200, j);
    json_decref(j);
out:
    json_decref(q);
}
