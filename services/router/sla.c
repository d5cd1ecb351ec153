#include "sla.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "db_tx.h"
#include "lifecycle.h"
#include "log.h"

#define BATCH "200"

static const actor_t SYSTEM = {.staff_id = 0, .role = "system", .unit_id = 0};

/* Runs one action on each ticket the query returns (codes), each in its own transaction. */
static int for_each(router_t *r, const char *sql, int n, const char *const *p, action_t a, int64_t now)
{
    char err[512];
    PGresult *res = db_exec(r->db, sql, n, p, err, sizeof err, NULL);
    if (!res) {
        log_warn("sla: %s", err);
        return -1;
    }
    int moved = 0;
    for (int i = 0; i < PQntuples(res); i++) {
        PGconn *c = db_conn(r->db, err, sizeof err);
        if (!c) {
            moved = -1;
            break;
        }
        if (!db_begin(c, err, sizeof err)) {
            log_warn("sla: %s", err);
            moved = -1;
            break;
        }
        action_args_t args = {0};
        outcome_t o = lifecycle_apply(r, c, PQgetvalue(res, i, 0), a, &SYSTEM, &args, now, NULL);
        bool ok = o.status == 200;
        json_decref(o.reply);
        if (ok && db_commit(c, err, sizeof err))
            moved++;
        else if (ok)
            log_warn("sla: %s", err);
        db_rollback(c);
    }
    PQclear(res);
    return moved;
}

/* Yellow lights: announce once, flag the ticket, in one statement (its own transaction). */
static int warnings(router_t *r, const char *ts)
{
    char err[512];
    const char *p[] = {ts};
    PGresult *res = db_exec(
        r->db,
        "WITH w AS (UPDATE router.ticket SET"
        "   sign_warned = sign_warned OR (state = 'assigned' AND sign_warn_at <= to_timestamp($1::float8)),"
        "   resolve_warned = resolve_warned OR (resolve_warn_at <= to_timestamp($1::float8))"
        "  WHERE state IN ('assigned', 'accepted', 'in_progress') AND ("
        "   (NOT sign_warned AND state = 'assigned' AND sign_warn_at <= to_timestamp($1::float8))"
        "   OR (NOT resolve_warned AND resolve_warn_at <= to_timestamp($1::float8)))"
        "  RETURNING ticket_id, code, unit_id, sign_due, resolve_due, sign_warned, resolve_warned)"
        " SELECT count(bus.emit('ticket.warning', 'router', NULL, jsonb_build_object('ticket_id', ticket_id::text,"
        "  'code', code, 'unit_id', unit_id::text,"
        "  'sign_due', to_char(sign_due AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
        "  'resolve_due', to_char(resolve_due AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')),"
        "  to_timestamp($1::float8))) FROM w",
        1, p, err, sizeof err, NULL);
    if (!res) {
        log_warn("sla warnings: %s", err);
        return -1;
    }
    int n = atoi(PQgetvalue(res, 0, 0));
    PQclear(res);
    return n;
}

/* Of several router instances one runs the clocks: the holder of this session lock. Without it
 * two instances could both pick a ticket whose deadline passed and move it twice. */
#define SLA_LOCK "7342002"

static int sla_tick_locked(router_t *r, int64_t now);

int sla_tick(router_t *r, int64_t now)
{
    char err[256];
    const char *p[] = {SLA_LOCK};
    PGresult *l = db_exec(r->db, "SELECT pg_try_advisory_lock($1::bigint)", 1, p, err, sizeof err, NULL);
    if (!l)
        return -1;
    bool mine = PQgetvalue(l, 0, 0)[0] == 't';
    PQclear(l);
    if (!mine)
        return 0;
    int n = sla_tick_locked(r, now);
    PGresult *u = db_exec(r->db, "SELECT pg_advisory_unlock($1::bigint)", 1, p, err, sizeof err, NULL);
    PQclear(u);
    return n;
}

static int sla_tick_locked(router_t *r, int64_t now)
{
    char ts[32], closed_before[32];
    router_ts(now, ts);
    router_ts(now - r->unrated_close_s * 1000000, closed_before);
    const char *p[] = {ts};
    int total = 0, n;
    n = for_each(r,
                 "SELECT code FROM router.ticket WHERE state IN ('assigned', 'accepted', 'in_progress')"
                 " AND resolve_due <= to_timestamp($1::float8) ORDER BY resolve_due LIMIT " BATCH,
                 1, p, ACT_OVERDUE, now);
    if (n < 0)
        return -1;
    total += n;
    n = for_each(r,
                 "SELECT code FROM router.ticket WHERE state IN ('assigned', 'returned')"
                 " AND sign_due <= to_timestamp($1::float8)"
                 " ORDER BY sign_due LIMIT " BATCH,
                 1, p, ACT_ESCALATE, now);
    if (n < 0)
        return -1;
    total += n;
    const char *q[] = {closed_before};
    n = for_each(r,
                 "SELECT code FROM router.ticket WHERE state = 'resolved' AND resolved_at <= to_timestamp($1::float8)"
                 " ORDER BY resolved_at LIMIT " BATCH,
                 1, q, ACT_CLOSE_UNRATED, now);
    if (n < 0)
        return -1;
    total += n;
    if (warnings(r, ts) < 0)
        return -1;
    return total;
}
