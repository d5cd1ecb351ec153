/* GET /open311/v2/servicerequestupdates.{json,xml}: the mySociety Open311 extension that lets a
 * client (FixMyStreet and the like) follow what happened to requests without fetching each.
 * One request_update per transition (router.ticket_history) in [start_date, end_date], oldest
 * first:
 *   update_id            the transition id (string)
 *   service_request_id   the ticket's public code
 *   status               the mySociety extended status, lower case as in GET lists:
 *                          assigned, accepted → open      in_progress → in_progress
 *                          resolved → fixed               closed → closed
 *                          returned → internal_referral   rejected → not_councils_responsibility
 *                          merged → duplicate             resolved → in_progress (重办) → reopen
 *   updated_datetime     when, +08:00
 *   description          the note (resolution, reason), the resident's rating, or the Chinese
 *                        description of the new state; for a private category (registry.service
 *                        .private) always the description of the state: what a handler wrote
 *                        or the resident answered is not for the public
 *   media_url            "" (no media on updates)
 * The window is at most 90 days (as for requests); without dates it is the last 24 hours by
 * the injected clock. page / page_size (1-1000, default 1000) page through a busy window, up to
 * 10,000 updates deep (paging.h); a busier window is asked for in narrower ones. */
#include "open311_updates.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"
#include "gclock.h"
#include "log.h"
#include "paging.h"
#include "stmt.h"
#include "timefmt.h"

#define DAY_US (86400LL * 1000000)
#define MAX_SPAN_US (90 * DAY_US)
#define MAX_PAGE_SIZE 1000

static const char UPDATES_SQL[] =
    "SELECT tr.id::text, tr.code, coalesce(tr.from_state, ''), tr.to_state,"
    " " TIMEFMT_SQL_LOCAL("tr.at") ","
    " CASE"
    "  WHEN tr.action = 'rate' AND NOT s.private THEN '居民评价：' || CASE tr.note WHEN 'satisfied' THEN '满意'"
    "   WHEN 'basic' THEN '基本满意' WHEN 'unsatisfied' THEN '不满意' ELSE coalesce(tr.note, '') END"
    "   || CASE WHEN tr.to_state = 'in_progress' THEN '，重新办理' ELSE '' END"
    "  WHEN nullif(tr.note, '') IS NOT NULL AND NOT s.private THEN tr.note"
    "  WHEN tr.action = 'escalate' THEN '签收超时，已升级由' || coalesce(u.name, '上级') || '办理'"
    "  WHEN tr.action = 'overdue' THEN '办结超期，已督办并升级由' || coalesce(u.name, '上级') || '办理'"
    "  WHEN tr.action = 'close_unrated' THEN '已办结，居民未评价'"
    "  WHEN tr.to_state = 'assigned' THEN '已派单至' || coalesce(u.name, '承办单位') || '，等待签收'"
    "  ELSE CASE tr.to_state WHEN 'accepted' THEN '已签收' WHEN 'in_progress' THEN '办理中'"
    "   WHEN 'resolved' THEN '已办结，等待评价' WHEN 'closed' THEN '已办结' WHEN 'returned' THEN '已退单，重新派单中'"
    "   WHEN 'rejected' THEN '不予受理' WHEN 'merged' THEN '重复件，已合并' ELSE tr.to_state END"
    " END"
    " FROM router.ticket_history tr"
    " JOIN intake.ticket t ON t.id = tr.ticket_id JOIN registry.service s ON s.code = t.service_code"
    " LEFT JOIN registry.unit u ON u.id = tr.unit_id"
    " WHERE tr.at >= $1::timestamptz AND tr.at <= $2::timestamptz"
    " ORDER BY tr.at, tr.id LIMIT $3::bigint OFFSET $4::bigint";

static const char *status_of(const char *from, const char *to)
{
    static const char *const MAP[][2] = {
        {"assigned", "open"},      {"accepted", "open"},
        {"in_progress", "in_progress"}, {"resolved", "fixed"},
        {"closed", "closed"},      {"returned", "internal_referral"},
        {"rejected", "not_councils_responsibility"}, {"merged", "duplicate"},
    };
    if (!strcmp(from, "resolved") && !strcmp(to, "in_progress"))
        return "reopen";
    for (size_t i = 0; i < sizeof MAP / sizeof MAP[0]; i++)
        if (!strcmp(to, MAP[i][0]))
            return MAP[i][1];
    return "open";
}

void open311_updates(const intake_t *app, const json_t *args, fmt_t f, http_resp_t *resp)
{
    static const page_rules_t rules = {MAX_PAGE_SIZE, MAX_PAGE_SIZE,
                                       "narrow the window with start_date and end_date and start again from page 1"};
    static const window_rules_t wr = {"start_date", "end_date", MAX_SPAN_US, DAY_US};
    long page, page_size;
    window_t w;
    input_error_t e;
    if (!paging_page(args, &rules, &page, &page_size, &e) ||
        !paging_window(form_arg(args, "start_date"), form_arg(args, "end_date"), &wr, gclock_now_us(), &w, &e)) {
        render_o311_error(resp, f, 400, e.message);
        return;
    }
    int64_t start = w.start_us, end = w.end_us;
    char s1[TIMEFMT_LEN], s2[TIMEFMT_LEN], lim[24], off[24], err[512];
    paging_time_text(start, s1);
    paging_time_text(end, s2);
    snprintf(lim, sizeof lim, "%ld", page_size);
    snprintf(off, sizeof off, "%ld", (page - 1) * page_size);
    const char *p[] = {s1, s2, lim, off};
    db_t *db = intake_db(app, err, sizeof err);
    PGresult *r = db ? stmt_read(db, STMT_REQUEST_UPDATES, UPDATES_SQL, 4, p, err, sizeof err) : NULL;
    if (!r) {
        log_warn("open311 updates: %s", err);
        render_o311_error(resp, f, 503, "the database is unavailable; try again");
        return;
    }
    json_t *items = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(items, json_pack("{s:s,s:s,s:s,s:s,s:s,s:s}", "update_id", PQgetvalue(r, i, 0),
                                               "service_request_id", PQgetvalue(r, i, 1), "status",
                                               status_of(PQgetvalue(r, i, 2), PQgetvalue(r, i, 3)),
                                               "updated_datetime", PQgetvalue(r, i, 4), "description",
                                               PQgetvalue(r, i, 5), "media_url", ""));
    PQclear(r);
    render_o311_list(resp, f, 200, "service_request_updates", "request_update", items);
    json_decref(items);
}
