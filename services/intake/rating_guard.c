#include "rating_guard.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>

#include "db.h"

static void ts(int64_t us, char out[32]) { snprintf(out, 32, "%lld.%06lld", (long long)(us / 1000000), (long long)(us % 1000000)); }

guard_status_t rating_guard_enter(PGconn *c, const rating_guard_t *g, const char *ticket_code, long long api_client,
                                  int64_t now_us, int *retry_after_s, char *err, size_t errsz)
{
    char client[24], now[32], window[24], per_ticket[16], per_key[16];
    snprintf(client, sizeof client, "%lld", api_client);
    ts(now_us, now);
    snprintf(window, sizeof window, "%d", g->window_s);
    snprintf(per_ticket, sizeof per_ticket, "%d", g->per_ticket);
    snprintf(per_key, sizeof per_key, "%d", g->per_key);
    /* Locks in one order (client, then ticket), each its own statement so the order holds. */
    const char *pk[] = {client};
    PGresult *r = db_pq_exec(c, "SELECT pg_advisory_xact_lock(hashtext('rating_guard:key:' || $1))", 1, pk, err, errsz, NULL);
    if (!r)
        return GUARD_UNAVAILABLE;
    PQclear(r);
    const char *pt[] = {ticket_code};
    r = db_pq_exec(c, "SELECT pg_advisory_xact_lock(hashtext('rating_guard:ticket:' || $1))", 1, pt, err, errsz, NULL);
    if (!r)
        return GUARD_UNAVAILABLE;
    PQclear(r);
    /* With n failures in the window and a limit of L, the L-th newest is the one whose leaving
     * brings the count under the limit: the lock ends when it is window seconds old. */
    const char *p[] = {ticket_code, client, now, window, per_ticket, per_key};
    r = db_pq_exec(c,
                   "WITH w AS (SELECT to_timestamp($3::float8) AS now, make_interval(secs => $4::int) AS span),"
                   " t AS (SELECT f.at FROM intake.rating_failure f, w WHERE f.ticket_code = $1 AND f.at > w.now - w.span"
                   "       ORDER BY f.at DESC OFFSET $5::int - 1 LIMIT 1),"
                   " k AS (SELECT f.at FROM intake.rating_failure f, w WHERE f.api_client_id = $2::bigint"
                   "       AND f.at > w.now - w.span ORDER BY f.at DESC OFFSET $6::int - 1 LIMIT 1)"
                   " SELECT extract(epoch FROM greatest((SELECT at FROM t), (SELECT at FROM k)) + w.span - w.now) FROM w",
                   6, p, err, errsz, NULL);
    if (!r)
        return GUARD_UNAVAILABLE;
    guard_status_t st = GUARD_OPEN;
    if (!PQgetisnull(r, 0, 0)) {
        double wait = ceil(atof(PQgetvalue(r, 0, 0)));
        *retry_after_s = wait < 1 ? 1 : (int)wait;
        st = GUARD_LOCKED;
    }
    PQclear(r);
    return st;
}

bool rating_guard_fail(PGconn *c, const rating_guard_t *g, const char *ticket_code, long long api_client,
                       int64_t now_us, char *err, size_t errsz)
{
    char client[24], now[32], window[24];
    snprintf(client, sizeof client, "%lld", api_client);
    ts(now_us, now);
    snprintf(window, sizeof window, "%d", g->window_s);
    const char *p[] = {ticket_code, client, now, window};
    PGresult *r = db_pq_exec(c,
                             "WITH gone AS (DELETE FROM intake.rating_failure"
                             "  WHERE at <= to_timestamp($3::float8) - make_interval(secs => $4::int))"
                             " INSERT INTO intake.rating_failure (ticket_code, api_client_id, at)"
                             " VALUES ($1, $2::bigint, to_timestamp($3::float8))",
                             4, p, err, errsz, NULL);
    PQclear(r);
    return r != NULL;
}
