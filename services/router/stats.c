#include "stats.h"

#include <stdio.h>

#include "db.h"

bool stats_add(PGconn *conn, int64_t ticket_id, const stat_delta_t *d, char *err, size_t errsz)
{
    char id[24], v[8][24];
    snprintf(id, sizeof id, "%lld", (long long)ticket_id);
    snprintf(v[0], 24, "%d", d->received);
    snprintf(v[1], 24, "%d", d->resolved);
    snprintf(v[2], 24, "%d", d->resolved_on_time);
    snprintf(v[3], 24, "%d", d->rated);
    snprintf(v[4], 24, "%d", d->satisfied);
    snprintf(v[5], 24, "%lld", (long long)d->resolve_work_s);
    snprintf(v[6], 24, "%d", d->escalations);
    snprintf(v[7], 24, "%d", d->returns);
    const char *p[] = {id, v[0], v[1], v[2], v[3], v[4], v[5], v[6], v[7]};
    PGresult *r = db_pq_exec(conn,
                             "SELECT router.stats_add($1::bigint, $2::int, $3::int, $4::int, $5::int, $6::int,"
                             " $7::bigint, $8::int, $9::int)",
                             9, p, err, errsz, NULL);
    PQclear(r);
    return r != NULL;
}
