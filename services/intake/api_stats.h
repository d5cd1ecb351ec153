/* api_stats: closure-rate statistics (办结率统计) for staff.
 *   GET /api/v1/stats        JSON
 *   GET /api/v1/stats.csv    the same table as a spreadsheet (UTF-8 with BOM, CRLF, Chinese header)
 * Query: unit (a registry.unit code; default the caller's own unit), from, to (local dates
 * YYYY-MM-DD, inclusive; default the last 30 days by the injected clock, +08:00), service_code,
 * group_by = unit (default: a row per child unit) | service (a row per category).
 * Staff only (Bearer token, 401 without); the unit must be the caller's own or inside it (the
 * county operator sees everything), else 403; unknown unit 404; bad dates or a span over 3660
 * days 400.
 * Counters and rates come from router.closure_stats_daily (keyed by the day of receipt and every
 * unit a ticket belongs to), summed over the period: the total from the unit's own rows, the
 * breakdown from its children's rows. overdue_now is a live count of open tickets past their
 * resolve deadline (router.ticket_assignment, through the partial index
 * router_ticket_open_resolve). */
#ifndef INTAKE_API_STATS_H
#define INTAKE_API_STATS_H

#include <stdbool.h>

#include "http.h"
#include "intake.h"

/* Answers /api/v1/stats and /api/v1/stats.csv; false when the path is not one of these. */
bool api_stats_handle(const intake_t *app, const http_req_t *req, http_resp_t *resp);

#endif
