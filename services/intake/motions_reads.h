/* motions_reads: the motions API's reads, from tally's published views (025_tally.sql):
 *   GET /api/v1/motions?group=&state=&page_size=&cursor=   the motions the caller reaches, newest
 *       first (motions_access.h), a page of page_size (100 at most, 50 by default) and the cursor of
 *       the next as next (paging.h)
 *   GET /api/v1/motions/{code}                     the motion: ballot, rule set, state, times,
 *       paper boxes with their tellers, the chain's head, and the result once closed
 *   GET /api/v1/motions/{code}/roll                the published roll (选民名单: who may vote and
 *       who took part, never how) and the proxies (委托)
 *   GET /api/v1/motions/{code}/result              the result, once closed (409 not_closed before)
 *   GET /api/v1/motions/{code}/trackers?page_size=&cursor=   every ballot's tracker in the box,
 *       once closed (409 before), in tracker order, 1000 a page at most
 *   GET /api/v1/motions/{code}/trackers/{tracker}  whether that ballot is in the box, at any time
 *       (404 unknown_tracker when it is not)
 * Times are the county's local time, +08:00 (timefmt.h). */
#ifndef INTAKE_MOTIONS_READS_H
#define INTAKE_MOTIONS_READS_H

#include "http.h"
#include "intake.h"

void motions_list(const intake_t *app, const http_req_t *req, http_resp_t *resp);
/* what: "" (the motion), "roll", "result", "trackers", or "trackers/" followed by a tracker. */
void motions_read(const intake_t *app, const http_req_t *req, http_resp_t *resp, const char *code, const char *what);

#endif
