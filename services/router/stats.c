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
    /* One row per level the ticket belongs to, always in the same order (no deadlocks between
     * router instances). */
    PGresult *r = db_pq_exec(
        conn,
        "INSERT INTO router.stat_daily AS s (day, unit_id, service_code, received, resolved, resolved_on_time,"
        "  rated, satisfied, resolve_work_s, escalations, returns)"
        " SELECT (t.received_at AT TIME ZONE 'Asia/Shanghai')::date, u.id, t.service_code,"
        "  $2::int, $3::int, $4::int, $5::int, $6::int, $7::bigint, $8::int, $9::int"
        " FROM router.ticket t"
        " CROSS JOIN LATERAL unnest(ARRAY[t.county_id, t.township_id, t.village_id, t.group_id]) WITH ORDINALITY AS u(id, n)"
        " WHERE t.ticket_id = $1::bigint AND u.id IS NOT NULL ORDER BY u.n"
        " ON CONFLICT (unit_id, service_code, day) DO UPDATE SET"
        "  received = s.received + EXCLUDED.received, resolved = s.resolved + EXCLUDED.resolved,"
        "  resolved_on_time = s.resolved_on_time + EXCLUDED.resolved_on_time, rated = s.rated + EXCLUDED.rated,"
        "  satisfied = s.satisfied + EXCLUDED.satisfied, resolve_work_s = s.resolve_work_s + EXCLUDED.resolve_work_s,"
        "  escalations = s.escalations + EXCLUDED.escalations, returns = s.returns + EXCLUDED.returns",
        9, p, err, errsz, NULL);
    PQclear(r);
    return r != NULL;
}
