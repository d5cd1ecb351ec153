/* stats: the closure-rate aggregates (router.stat_daily), kept current in the transaction of
 * each transition that changes them. Counters are keyed by the ticket's day of receipt (local
 * date) and by every unit the ticket belongs to (group, village, township, county), so that
 * 办结率 over a period = resolved / received of the tickets received in that period. */
#ifndef ROUTER_STATS_H
#define ROUTER_STATS_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

typedef struct {
    int received, resolved, resolved_on_time, rated, satisfied, escalations, returns;
    int64_t resolve_work_s;
} stat_delta_t;

bool stats_add(PGconn *conn, int64_t ticket_id, const stat_delta_t *d, char *err, size_t errsz)
    __attribute__((warn_unused_result));

#endif
