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

/* Runs action a on each ticket the query returns (codes), each in its own transaction. The query
 * takes the time as $1 and, as $2, the states a may start from (the lifecycle table's). */
static int for_each(router_t *r, const char *sql, const char *ts, action_t a, int64_t now)
{
    char err[512], states[128];
    if (!lifecycle_states_from(a, states, sizeof states)) {
        log_error("sla: the states of %s do not fit", lifecycle_action_name(a));
        return -1;
    }
    const char *p[] = {ts, states};
    PGresult *res = db_exec(r->db, sql, 2, p, err, sizeof err, NULL);
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

/* Yellow lights: announce once, flag the ticket, in one statement (its own transaction). A clock
 * runs in the states its deadline is swept from: the sign clock where a missed one escalates,
 * the resolve clock where a missed one is overdue (the lifecycle table's from-states). Each arm
 * reads its own partial index (010_router_transition_event.sql), whose states are the same. */
static int warnings(router_t *r, const char *ts)
{
    char err[512], sign[128], resolve[128];
    if (!lifecycle_states_from(ACT_ESCALATE, sign, sizeof sign) ||
        !lifecycle_states_from(ACT_OVERDUE, resolve, sizeof resolve)) {
        log_error("sla warnings: the clocks' states do not fit");
        return -1;
    }
    const char *p[] = {ts, sign, resolve};
    PGresult *res = db_exec(
        r->db,
        "WITH w AS (UPDATE router.ticket SET"
        "   sign_warned = sign_warned OR (state = ANY($2::text[]) AND sign_warn_at <= to_timestamp($1::float8)),"
        "   resolve_warned = resolve_warned OR (state = ANY($3::text[]) AND resolve_warn_at <= to_timestamp($1::float8))"
        "  WHERE (NOT sign_warned AND state = ANY($2::text[]) AND sign_warn_at <= to_timestamp($1::float8))"
        "   OR (NOT resolve_warned AND state = ANY($3::text[]) AND resolve_warn_at <= to_timestamp($1::float8))"
        "  RETURNING ticket_id, code, unit_id, sign_due, resolve_due, sign_warned, resolve_warned)"
        " SELECT count(bus.emit('ticket.warning', 'router', NULL, jsonb_build_object('ticket_id', ticket_id::text,"
        "  'code', code, 'unit_id', unit_id::text,"
        "  'sign_due', to_char(sign_due AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"'),"
        "  'resolve_due', to_char(resolve_due AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')),"
        "  to_timestamp($1::float8))) FROM w",
        3, p, err, sizeof err, NULL);
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
    int total = 0, n;
    n = for_each(r,
                 "SELECT code FROM router.ticket WHERE state = ANY($2::text[])"
                 " AND resolve_due <= to_timestamp($1::float8) ORDER BY resolve_due LIMIT " BATCH,
                 ts, ACT_OVERDUE, now);
    if (n < 0)
        return -1;
    total += n;
    n = for_each(r,
                 "SELECT code FROM router.ticket WHERE state = ANY($2::text[])"
                 " AND sign_due <= to_timestamp($1::float8) ORDER BY sign_due LIMIT " BATCH,
                 ts, ACT_ESCALATE, now);
    if (n < 0)
        return -1;
    total += n;
    n = for_each(r,
                 "SELECT code FROM router.ticket WHERE state = ANY($2::text[])"
                 " AND resolved_at <= to_timestamp($1::float8) ORDER BY resolved_at LIMIT " BATCH,
                 closed_before, ACT_CLOSE_UNRATED, now);
    if (n < 0)
        return -1;
    total += n;
    if (warnings(r, ts) < 0)
        return -1;
    return total;
}
