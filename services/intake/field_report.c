/* Field-work reports per township and period.
 *
 *   GET /api/v1/field/reports?township=&from=&to=
 *       from, to: county dates YYYY-MM-DD, both included (default the last 30 days by the
 *       injected clock; at most 3660 days); a submission counts on the county day of its at.
 *       Staff of the township or the county, and the operator.
 *   meetings (屋场会 / 夜话): held, attendees, matters_raised, resolved_on_site, handed_on (linked
 *       tickets), handed_on_resolved (of those, resolved or closed now by the router),
 *       matters_resolved = resolved_on_site + handed_on_resolved, resolved_permille =
 *       matters_resolved * 1000 / matters_raised rounded half up (null without matters): the
 *       report the county cites as "400 meetings, 600 matters, 99.3% resolved" is held 400,
 *       matters_raised 600, resolved_permille 993.
 *   visits (党员联户): visits, party_members (distinct names), visits_per_member_x100 (visits *
 *       100 / party_members rounded, null without members), appeals_raised.
 *   inspections: submitted, failed_items (with a ticket), tickets_open (of those tickets, not
 *       resolved or closed yet). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "field.h"
#include "form.h"
#include "gclock.h"
#include "intake.h"
#include "render.h"
#include "timefmt.h"

#define MAX_SPAN_DAYS 3660
#define DEFAULT_DAYS 30

/* A routed ticket counts as resolved from 'resolved' on (a duplicate when its original is done). */
#define DONE(r) "(" r ".state IN ('resolved', 'closed') OR (" r ".state = 'merged' AND " r ".status = 'closed'))"

/* $1 township id, $2 start, $3 end (epoch seconds) */
static const char REPORT_SQL[] =
    "WITH s AS MATERIALIZED (SELECT s.id, s.answers, f.kind FROM intake.field_submission s"
    "  JOIN intake.field_form f ON f.code = s.form_code AND f.version = s.form_version"
    "  JOIN registry.unit g ON g.id = s.group_id JOIN registry.unit v ON v.id = g.parent_id"
    "  WHERE v.parent_id = $1::bigint AND s.at >= to_timestamp($2::numeric) AND s.at < to_timestamp($3::numeric)),"
    " m AS (SELECT count(*) AS held, coalesce(sum((answers ->> 'attendees')::bigint), 0) AS attendees,"
    "  coalesce(sum((answers ->> 'matters_raised')::bigint), 0) AS raised,"
    "  coalesce(sum((answers ->> 'resolved_on_site')::bigint), 0) AS on_site FROM s WHERE kind = 'meeting'),"
    " h AS (SELECT count(*) AS handed, count(*) FILTER (WHERE " DONE("r") ") AS done"
    "  FROM s CROSS JOIN LATERAL jsonb_array_elements_text(coalesce(s.answers -> 'linked_tickets', '[]')) c(code)"
    "  JOIN intake.ticket k ON k.code = c.code LEFT JOIN router.ticket_status r ON r.ticket_id = k.id"
    "  WHERE s.kind = 'meeting'),"
    " vi AS (SELECT count(*) AS visits, count(DISTINCT answers ->> 'party_member') AS members,"
    "  coalesce(sum((answers ->> 'appeals_raised')::bigint), 0) AS appeals FROM s WHERE kind = 'visit'),"
    " i AS (SELECT (SELECT count(*) FROM s WHERE kind = 'inspection') AS submitted, count(l.ticket_id) AS failed,"
    "  count(l.ticket_id) FILTER (WHERE NOT coalesce(" DONE("r") ", false)) AS open"
    "  FROM s JOIN intake.field_submission_ticket l ON l.submission_id = s.id"
    "  LEFT JOIN router.ticket_status r ON r.ticket_id = l.ticket_id WHERE s.kind = 'inspection')"
    " SELECT m.held, m.attendees, m.raised, m.on_site, h.handed, h.done, vi.visits, vi.members, vi.appeals,"
    "  i.submitted, i.failed, i.open FROM m, h, vi, i";

static long long col(const PGresult *r, int c)
{
    return atoll(PQgetvalue(r, 0, c));
}

/* num * scale / den rounded half up (num, den >= 0), or null */
static json_t *ratio(long long num, long long den, long long scale)
{
    return den > 0 ? json_integer((num * scale * 2 + den) / (den * 2)) : json_null();
}

void field_report_get(const intake_t *app, const http_req_t *req, http_resp_t *resp)
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
    const char *township = form_arg(q, "township"), *from = form_arg(q, "from"), *to = form_arg(q, "to");
    long d_from = 0, d_to = field_local_day(gclock_now_us());
    char tid[24], d0[32], d1[32], t_from[11], t_to[11];
    if ((from && !field_parse_date(from, &d_from)) || (to && !field_parse_date(to, &d_to))) {
        render_api_error(resp, 400, "invalid_date", from && !field_parse_date(from, &d_from) ? "from" : "to",
                         "from and to are county dates YYYY-MM-DD");
        goto out;
    }
    if (!from)
        d_from = d_to - (DEFAULT_DAYS - 1);
    if (d_from > d_to || d_to - d_from + 1 > MAX_SPAN_DAYS) {
        render_api_error(resp, 400, "invalid_period", "from", "from is not after to, and the period is at most 3660 days");
        goto out;
    }
    if (!field_township(db, &who, township, resp, tid))
        goto out;
    int64_t day_us = (int64_t)86400 * 1000000, off = (int64_t)TIMEFMT_COUNTY_OFFSET_MIN * 60 * 1000000;
    field_us_text((int64_t)d_from * day_us - off, d0);
    field_us_text((int64_t)(d_to + 1) * day_us - off, d1);
    field_date_text(d_from, t_from);
    field_date_text(d_to, t_to);
    const char *p[] = {tid, d0, d1};
    PGresult *r = db_exec(db, REPORT_SQL, 3, p, err, sizeof err, NULL);
    if (!r || PQntuples(r) != 1) {
        PQclear(r);
        field_unavailable(resp, "report", r ? "no row" : err);
        goto out;
    }
    long long raised = col(r, 2), resolved = col(r, 3) + col(r, 5);
    json_t *meetings = json_pack("{s:I,s:I,s:I,s:I,s:I,s:I,s:I,s:o}", "held", col(r, 0), "attendees", col(r, 1),
                                 "matters_raised", raised, "resolved_on_site", col(r, 3), "handed_on", col(r, 4),
                                 "handed_on_resolved", col(r, 5), "matters_resolved", resolved, "resolved_permille",
                                 ratio(resolved, raised, 1000));
    json_t *visits = json_pack("{s:I,s:I,s:o,s:I}", "visits", col(r, 6), "party_members", col(r, 7),
                               "visits_per_member_x100", ratio(col(r, 6), col(r, 7), 100), "appeals_raised", col(r, 8));
    json_t *insp = json_pack("{s:I,s:I,s:I}", "submitted", col(r, 9), "failed_items", col(r, 10), "tickets_open", col(r, 11));
    PQclear(r);
    json_t *j = json_pack("{s:s,s:s,s:s,s:o,s:o,s:o}", "township", township, "from", t_from, "to", t_to, "meetings",
                          meetings, "visits", visits, "inspections", insp);
    render_json(resp, 200, j);
    json_decref(j);
out:
    json_decref(q);
}
