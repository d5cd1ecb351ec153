#include "lifecycle_effects.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assign.h"
#include "db.h"

static PGresult *exec(effect_t *e, const char *sql, int n, const char *const *p)
{
    return db_pq_exec(e->c, sql, n, p, e->err, e->errsz, NULL);
}

static bool run(effect_t *e, const char *sql, int n, const char *const *p)
{
    PGresult *r = exec(e, sql, n, p);
    PQclear(r);
    return r != NULL;
}

void effect_init(effect_t *e)
{
    snprintf(e->id, sizeof e->id, "%lld", (long long)e->t->id);
    snprintf(e->actor, sizeof e->actor, "%lld", (long long)e->who->staff_id);
    router_ts(e->now, e->at);
    e->alt = false;
    e->d = (stat_delta_t){0};
}

/* ---- steps several actions share ------------------------------------------------------------ */

/* now + hours of working time, as SQL parameter text */
static void after_work_hours(const effect_t *e, double hours, char out[32])
{
    router_ts(workcal_add(e->r->cal, e->now, (int64_t)llround(hours * 3600)), out);
}

/* A fresh resolve clock from now: the category's whole resolve time, its yellow light at the
 * rule's share of it, not yet shown. (Dispatch after a return, a reopening, an overdue climb.) */
static bool restart_resolve_clock(effect_t *e, const category_rule_t *rule)
{
    char due[32], warn[32];
    after_work_hours(e, rule->resolve_hours, due);
    after_work_hours(e, rule->resolve_hours * rule->warn_share, warn);
    const char *p[] = {e->id, due, warn};
    return run(e,
               "UPDATE router.ticket SET resolve_due = to_timestamp($2::float8),"
               " resolve_warn_at = to_timestamp($3::float8), resolve_warned = false WHERE ticket_id = $1::bigint",
               3, p);
}

/* Hands the ticket to another unit, with the category's fresh sign clock (assign_hold). */
static bool hold_at(effect_t *e, int64_t unit_id, const category_rule_t *rule)
{
    return assign_hold(e->r, e->c, e->t->id, unit_id, rule, e->now, e->err, e->errsz);
}

/* One level up (a missed clock): the parent unit holds it and the climb is counted. At the
 * county there is no level above: *climbed is false and nothing changes. */
static bool climb(effect_t *e, const category_rule_t *rule, bool *climbed)
{
    int64_t parent = 0;
    if (!assign_parent(e->c, e->t->unit_id, &parent, e->err, e->errsz))
        return false;
    *climbed = parent != 0;
    if (!parent)
        return true;
    const char *p[] = {e->id};
    if (!hold_at(e, parent, rule) ||
        !run(e, "UPDATE router.ticket SET escalations = escalations + 1 WHERE ticket_id = $1::bigint", 1, p))
        return false;
    e->d.escalations = 1;
    return true;
}

/* An extension request still waiting when the ticket is resolved or returned has nothing left to
 * extend: it is closed as refused (by nobody) so the next holder can ask afresh. */
static bool close_extension(effect_t *e)
{
    const char *p[] = {e->id, e->at};
    return run(e,
               "WITH x AS (UPDATE router.extension SET decision = 'refused', decided_at = to_timestamp($2::float8)"
               " WHERE ticket_id = $1::bigint AND decision IS NULL RETURNING 1)"
               " UPDATE router.ticket SET extension_pending = false WHERE ticket_id = $1::bigint",
               2, p);
}

/* The supervision order (督办) for a missed resolve deadline goes to the supervisor of the level
 * above the holder (for a township that is the county operations center). */
static bool raise_supervision(effect_t *e)
{
    int64_t parent = 0;
    if (!assign_parent(e->c, e->t->unit_id, &parent, e->err, e->errsz))
        return false;
    char to[24];
    snprintf(to, sizeof to, "%lld", (long long)(parent ? parent : e->t->unit_id));
    const char *p[] = {e->id, to, e->at};
    return run(e,
               "INSERT INTO router.supervision (ticket_id, to_unit_id, supervisor_id, raised_at, reason)"
               " SELECT $1::bigint, $2::bigint, (SELECT s.id FROM registry.staff s"
               "   WHERE s.active AND s.role IN ('supervisor', 'operator') AND s.unit_id IN"
               "   (SELECT u.id FROM registry.unit u WHERE u.id = $2::bigint"
               "    UNION ALL SELECT u.parent_id FROM registry.unit u WHERE u.id = $2::bigint)"
               "   ORDER BY (s.unit_id = $2::bigint) DESC, s.id LIMIT 1),"
               " to_timestamp($3::float8), '办结时限已过，督办'",
               3, p);
}

/* A pending extension decided by a supervisor; a grant moves the deadline by the hours asked. */
static bool decide_extension(effect_t *e, bool grant)
{
    const char *p[] = {e->id, grant ? "granted" : "refused", e->actor, e->at};
    PGresult *res = exec(e,
                         "UPDATE router.extension SET decision = $2, decided_by = NULLIF($3::bigint, 0),"
                         " decided_at = to_timestamp($4::float8) WHERE ticket_id = $1::bigint AND decision IS NULL"
                         " RETURNING hours",
                         4, p);
    if (!res)
        return false;
    double hours = PQntuples(res) ? atof(PQgetvalue(res, 0, 0)) : 0;
    PQclear(res);
    char due[32] = "0";
    if (grant) {
        /* the deadline moves only now, by the granted working hours */
        int64_t base = (int64_t)(e->t->resolve_due_s * 1e6);
        router_ts(workcal_add(e->r->cal, base, (int64_t)llround(hours * 3600)), due);
    }
    const char *q[] = {e->id, grant ? "true" : "false", due, e->at};
    return run(e,
               "UPDATE router.ticket SET extension_pending = false,"
               " resolve_due = CASE WHEN $2::boolean THEN to_timestamp($3::float8) ELSE resolve_due END,"
               " overdue = CASE WHEN $2::boolean AND to_timestamp($3::float8) > to_timestamp($4::float8) THEN false"
               "           ELSE overdue END WHERE ticket_id = $1::bigint",
               4, q);
}

/* ---- one function per action ---------------------------------------------------------------- */

/* 签收: whoever signs for it becomes its assignee (the county operator may sign for a desk). */
static bool effect_accept(effect_t *e)
{
    const char *p[] = {e->id, e->at, e->actor};
    return run(e,
               "UPDATE router.ticket SET accepted_at = to_timestamp($2::float8),"
               " assignee_id = coalesce(NULLIF($3::bigint, 0), assignee_id) WHERE ticket_id = $1::bigint",
               3, p);
}

static bool effect_resolve(effect_t *e)
{
    const lc_ticket_t *t = e->t;
    double now_s = (double)e->now / 1e6;
    /* A ticket that went overdue (超期: the sweep restarted its clock one level up) is late
     * however soon the new holder resolves it. */
    bool on_time = !t->overdue && (t->resolve_due_s <= 0 || now_s <= t->resolve_due_s);
    int64_t work = workcal_between(e->r->cal, (int64_t)(t->received_s * 1e6), e->now);
    char ws[24];
    snprintf(ws, sizeof ws, "%lld", (long long)work);
    const char *p[] = {e->id, e->at, e->args->note, on_time ? "true" : "false", ws};
    if (!run(e,
             "UPDATE router.ticket SET resolved_at = to_timestamp($2::float8), resolution = $3,"
             " stat_on_time = $4::boolean, stat_work_s = $5::bigint WHERE ticket_id = $1::bigint",
             5, p) ||
        !close_extension(e))
        return false;
    e->d.resolved = 1;
    e->d.resolved_on_time = on_time;
    e->d.resolve_work_s = work;
    return true;
}

/* 退单: back to the dispatcher, the township desk that covers the placement (else the county),
 * which has a sign clock of its own to hand it on (else it climbs, see sla.c). */
static bool effect_return(effect_t *e)
{
    const lc_ticket_t *t = e->t;
    int64_t desk = t->township_id && t->township_id != t->unit_id ? t->township_id : t->county_id;
    category_rule_t rule;
    const char *p[] = {e->id};
    if (!assign_rule(e->c, t->service_code, &rule, e->err, e->errsz) || !hold_at(e, desk, &rule) ||
        !run(e, "UPDATE router.ticket SET returns = returns + 1 WHERE ticket_id = $1::bigint", 1, p) ||
        !close_extension(e))
        return false;
    e->d.returns = 1;
    return true;
}

/* The unit the supervisor names (else where it was placed) gets it, and the whole resolve time. */
static bool effect_dispatch(effect_t *e)
{
    const lc_ticket_t *t = e->t;
    int64_t target = e->args->unit_id ? e->args->unit_id : (t->placed_unit_id ? t->placed_unit_id : t->county_id);
    category_rule_t rule;
    return assign_rule(e->c, t->service_code, &rule, e->err, e->errsz) && hold_at(e, target, &rule) &&
           restart_resolve_clock(e, &rule);
}

/* 不予受理: closed, and the reason is what the reporter reads. */
static bool effect_reject(effect_t *e)
{
    const char *p[] = {e->id, e->at, e->args->note};
    return run(e,
               "UPDATE router.ticket SET closed_at = to_timestamp($2::float8), status_notes = '不予受理：' || $3"
               " WHERE ticket_id = $1::bigint",
               3, p);
}

static bool effect_request_extension(effect_t *e)
{
    char hours[32];
    snprintf(hours, sizeof hours, "%.2f", e->args->hours);
    const char *p[] = {e->id, hours, e->args->note, e->actor, e->at};
    return run(e,
               "INSERT INTO router.extension (ticket_id, hours, reason, requested_by, requested_at)"
               " VALUES ($1::bigint, $2::numeric, $3, NULLIF($4::bigint, 0), to_timestamp($5::float8))",
               5, p) &&
           run(e, "UPDATE router.ticket SET extension_pending = true WHERE ticket_id = $1::bigint", 1, p);
}

static bool effect_grant_extension(effect_t *e) { return decide_extension(e, true); }

static bool effect_refuse_extension(effect_t *e) { return decide_extension(e, false); }

/* The resident's rating. 不满意 the first time reopens it (重办, the table's alternative target):
 * the resolution no longer counts and the holder gets a fresh resolve clock. */
static bool effect_rate(effect_t *e)
{
    const lc_ticket_t *t = e->t;
    const char *rating = e->args->rating;
    e->alt = !strcmp(rating, "unsatisfied") && t->reopened == 0;
    if (e->alt) {
        category_rule_t rule;
        const char *p[] = {e->id};
        if (!assign_rule(e->c, t->service_code, &rule, e->err, e->errsz) || !restart_resolve_clock(e, &rule) ||
            !run(e,
                 "UPDATE router.ticket SET reopened = reopened + 1, resolved_at = NULL, overdue = false,"
                 " stat_on_time = NULL, stat_work_s = NULL WHERE ticket_id = $1::bigint",
                 1, p))
            return false;
        e->d.resolved = -1;
        e->d.resolved_on_time = t->stat_on_time ? -1 : 0;
        e->d.resolve_work_s = -t->stat_work_s;
        return true;
    }
    const char *p[] = {e->id, rating, e->at};
    if (!run(e, "UPDATE router.ticket SET rating = $2, closed_at = to_timestamp($3::float8) WHERE ticket_id = $1::bigint",
             3, p))
        return false;
    e->d.rated = 1;
    e->d.satisfied = strcmp(rating, "unsatisfied") != 0;
    return true;
}

static bool effect_close_unrated(effect_t *e)
{
    const char *p[] = {e->id, e->at};
    return run(e,
               "UPDATE router.ticket SET rating = 'unrated', closed_at = to_timestamp($2::float8)"
               " WHERE ticket_id = $1::bigint",
               2, p);
}

/* 签收 missed: re-dispatched one level up. At the county there is no level above: the county
 * keeps it (and its assignee) with a fresh sign clock, a reminder, not a climb. */
static bool effect_escalate(effect_t *e)
{
    category_rule_t rule;
    bool climbed = false;
    if (!assign_rule(e->c, e->t->service_code, &rule, e->err, e->errsz) || !climb(e, &rule, &climbed))
        return false;
    if (climbed)
        return true;
    char due[32];
    after_work_hours(e, rule.sign_hours, due);
    const char *p[] = {e->id, due};
    return run(e, "UPDATE router.ticket SET sign_due = to_timestamp($2::float8) WHERE ticket_id = $1::bigint", 2, p);
}

/* 超期: a supervision order to the next level up; the ticket climbs one level and must be signed
 * for there, with a fresh resolve clock for the new holder. At the county (the table's
 * alternative target) the order goes to the county and the holder keeps working it on a fresh
 * clock. */
static bool effect_overdue(effect_t *e)
{
    category_rule_t rule;
    bool climbed = false;
    const char *p[] = {e->id};
    if (!assign_rule(e->c, e->t->service_code, &rule, e->err, e->errsz) || !raise_supervision(e) ||
        !climb(e, &rule, &climbed) || !restart_resolve_clock(e, &rule) ||
        !run(e, "UPDATE router.ticket SET overdue = true WHERE ticket_id = $1::bigint", 1, p))
        return false;
    e->alt = !climbed;
    return true;
}

typedef bool (*effect_fn)(effect_t *e);

static const effect_fn EFFECTS[ACT__COUNT] = {
    [ACT_ACCEPT] = effect_accept,
    [ACT_START] = NULL, /* the state is all that changes */
    [ACT_RESOLVE] = effect_resolve,
    [ACT_RETURN] = effect_return,
    [ACT_DISPATCH] = effect_dispatch,
    [ACT_REJECT] = effect_reject,
    [ACT_REQUEST_EXTENSION] = effect_request_extension,
    [ACT_GRANT_EXTENSION] = effect_grant_extension,
    [ACT_REFUSE_EXTENSION] = effect_refuse_extension,
    [ACT_RATE] = effect_rate,
    [ACT_CLOSE_UNRATED] = effect_close_unrated,
    [ACT_ESCALATE] = effect_escalate,
    [ACT_OVERDUE] = effect_overdue,
    [ACT_ASSIGN] = NULL, /* router.assign_apply, a batch at a time */
    [ACT_MERGE] = NULL,
};

bool effect_run(action_t a, effect_t *e)
{
    if (a >= ACT__COUNT || a == ACT_ASSIGN || a == ACT_MERGE) {
        snprintf(e->err, e->errsz, "%s is not applied to a stored ticket", lifecycle_action_name(a));
        return false;
    }
    return EFFECTS[a] ? EFFECTS[a](e) : true;
}
