#include "lifecycle.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assign.h"
#include "db.h"
#include "log.h"
#include "stats.h"
#include "utf8.h"

static const char *const STATE_NAMES[ST__COUNT] = {
    [ST_ASSIGNED] = "assigned", [ST_ACCEPTED] = "accepted", [ST_IN_PROGRESS] = "in_progress",
    [ST_RESOLVED] = "resolved", [ST_CLOSED] = "closed",     [ST_RETURNED] = "returned",
    [ST_REJECTED] = "rejected", [ST_MERGED] = "merged",
};

#define S(x) (1u << (x))
#define SAME ST__COUNT /* the action keeps the state */

/* The state machine, written down once. `to` is the usual target; rate and escalate decide
 * their exact target from the ticket (see apply_effects). */
static const struct {
    const char *name;  /* command name */
    const char *event; /* event type suffix: ticket.<event> */
    unsigned from;     /* states it may start from */
    ticket_state_t to;
    who_t who;
    bool needs_note;
} TABLE[ACT__COUNT] = {
    [ACT_ACCEPT] = {"accept", "accepted", S(ST_ASSIGNED), ST_ACCEPTED, WHO_HOLDER, false},
    [ACT_START] = {"start", "started", S(ST_ACCEPTED), ST_IN_PROGRESS, WHO_HOLDER, false},
    [ACT_RESOLVE] = {"resolve", "resolved", S(ST_ACCEPTED) | S(ST_IN_PROGRESS), ST_RESOLVED, WHO_HOLDER, true},
    [ACT_RETURN] = {"return", "returned", S(ST_ASSIGNED) | S(ST_ACCEPTED), ST_RETURNED, WHO_HOLDER, true},
    [ACT_DISPATCH] = {"dispatch", "dispatched", S(ST_RETURNED), ST_ASSIGNED, WHO_SUPERVISOR, false},
    [ACT_REJECT] = {"reject", "rejected", S(ST_ASSIGNED) | S(ST_RETURNED), ST_REJECTED, WHO_SUPERVISOR, true},
    [ACT_REQUEST_EXTENSION] = {"request_extension", "extension_requested", S(ST_ACCEPTED) | S(ST_IN_PROGRESS), SAME,
                               WHO_HOLDER, true},
    [ACT_GRANT_EXTENSION] = {"grant_extension", "extension_granted", S(ST_ACCEPTED) | S(ST_IN_PROGRESS), SAME,
                             WHO_SUPERVISOR, false},
    [ACT_REFUSE_EXTENSION] = {"refuse_extension", "extension_refused", S(ST_ACCEPTED) | S(ST_IN_PROGRESS), SAME,
                              WHO_SUPERVISOR, true},
    [ACT_RATE] = {"rate", "rated", S(ST_RESOLVED), ST_CLOSED, WHO_RESIDENT, false},
    [ACT_CLOSE_UNRATED] = {"close_unrated", "closed", S(ST_RESOLVED), ST_CLOSED, WHO_SYSTEM, false},
    [ACT_ESCALATE] = {"escalate", "escalated", S(ST_ASSIGNED) | S(ST_RETURNED), SAME, WHO_SYSTEM, false},
    [ACT_OVERDUE] = {"overdue", "overdue", S(ST_ASSIGNED) | S(ST_ACCEPTED) | S(ST_IN_PROGRESS), ST_ASSIGNED,
                     WHO_SYSTEM, false},
};

const char *lifecycle_state_name(ticket_state_t s) { return s < ST__COUNT ? STATE_NAMES[s] : "?"; }

bool lifecycle_state_parse(const char *name, ticket_state_t *out)
{
    for (int i = 0; i < ST__COUNT; i++)
        if (!strcmp(STATE_NAMES[i], name)) {
            *out = (ticket_state_t)i;
            return true;
        }
    return false;
}

const char *lifecycle_action_name(action_t a) { return a < ACT__COUNT ? TABLE[a].name : "?"; }

bool lifecycle_action_parse(const char *name, action_t *out)
{
    for (int i = 0; i < ACT__COUNT; i++)
        if (!strcmp(TABLE[i].name, name)) {
            *out = (action_t)i;
            return true;
        }
    return false;
}

who_t lifecycle_who(action_t a) { return TABLE[a].who; }

bool lifecycle_allows(action_t a, ticket_state_t s) { return a < ACT__COUNT && (TABLE[a].from & S(s)); }

/* ------------------------------------------------------------------------------------------ */

typedef struct {
    int64_t id, unit_id, group_id, village_id, township_id, county_id, placed_unit_id;
    ticket_state_t state;
    int reopened;
    bool extension_pending, stat_on_time, overdue;
    int64_t stat_work_s;
    double received_s, resolve_due_s;
    char service_code[40];
    char reporter_phone[20];
    int64_t extension_requester; /* who asked for the pending extension */
} row_t;

static outcome_t out_error(int status, const char *code, const char *message, const char *state)
{
    json_t *e = json_pack("{s:s,s:s}", "code", code, "message", message);
    if (state)
        json_object_set_new(e, "state", json_string(state));
    return (outcome_t){status, json_pack("{s:o}", "error", e)};
}

static int64_t col_i(PGresult *r, int c) { return PQgetisnull(r, 0, c) ? 0 : atoll(PQgetvalue(r, 0, c)); }

static bool load_row(PGconn *conn, const char *code, row_t *t, bool *found, char *err, size_t errsz)
{
    const char *p[] = {code};
    PGresult *r = db_pq_exec(conn,
                             "SELECT r.ticket_id, r.unit_id, r.group_id, r.village_id, r.township_id, r.county_id,"
                             " r.placed_unit_id, r.state, r.reopened, r.extension_pending, coalesce(r.stat_on_time, false),"
                             " coalesce(r.stat_work_s, 0), extract(epoch FROM r.received_at),"
                             " coalesce(extract(epoch FROM r.resolve_due), 0), r.service_code, coalesce(i.phone, ''), r.overdue,"
                             " (SELECT coalesce(e.requested_by, 0) FROM router.extension e"
                             "  WHERE e.ticket_id = r.ticket_id AND e.decision IS NULL)"
                             " FROM router.ticket r JOIN intake.ticket_submitted i ON i.id = r.ticket_id"
                             " WHERE r.code = $1 FOR UPDATE OF r",
                             1, p, err, errsz, NULL);
    if (!r)
        return false;
    *found = PQntuples(r) == 1;
    if (*found) {
        t->id = col_i(r, 0);
        t->unit_id = col_i(r, 1);
        t->group_id = col_i(r, 2);
        t->village_id = col_i(r, 3);
        t->township_id = col_i(r, 4);
        t->county_id = col_i(r, 5);
        t->placed_unit_id = col_i(r, 6);
        if (!lifecycle_state_parse(PQgetvalue(r, 0, 7), &t->state))
            t->state = ST_CLOSED;
        t->reopened = atoi(PQgetvalue(r, 0, 8));
        t->extension_pending = PQgetvalue(r, 0, 9)[0] == 't';
        t->stat_on_time = PQgetvalue(r, 0, 10)[0] == 't';
        t->stat_work_s = atoll(PQgetvalue(r, 0, 11));
        t->received_s = atof(PQgetvalue(r, 0, 12));
        t->resolve_due_s = atof(PQgetvalue(r, 0, 13));
        snprintf(t->service_code, sizeof t->service_code, "%s", PQgetvalue(r, 0, 14));
        snprintf(t->reporter_phone, sizeof t->reporter_phone, "%s", PQgetvalue(r, 0, 15));
        t->extension_requester = col_i(r, 17);
        t->overdue = PQgetvalue(r, 0, 16)[0] == 't';
    }
    PQclear(r);
    return true;
}

/* Is unit `outer` the unit itself or one of the ticket's ancestors? (units are at most 4 deep) */
static bool area_contains(const row_t *t, int64_t outer, int64_t inner)
{
    if (outer == inner)
        return true;
    /* the ticket's own chain: group < village < township < county */
    int64_t chain[] = {t->group_id, t->village_id, t->township_id, t->county_id};
    int pos_outer = -1, pos_inner = -1;
    for (int i = 0; i < 4; i++) {
        if (chain[i] && chain[i] == outer)
            pos_outer = i;
        if (chain[i] && chain[i] == inner)
            pos_inner = i;
    }
    return pos_outer >= 0 && (pos_inner < 0 || pos_outer >= pos_inner);
}

static bool authorized(action_t a, const row_t *t, const actor_t *who)
{
    bool operator_ = who->role && !strcmp(who->role, "operator");
    switch (TABLE[a].who) {
    case WHO_SYSTEM:
        return who->role && !strcmp(who->role, "system");
    case WHO_RESIDENT:
        return who->role && !strcmp(who->role, "resident");
    case WHO_HOLDER:
        return operator_ || (who->staff_id && who->unit_id == t->unit_id);
    case WHO_SUPERVISOR:
        return operator_ || (who->role && !strcmp(who->role, "supervisor") && area_contains(t, who->unit_id, t->unit_id));
    }
    return false;
}

static void ts(int64_t us, char out[32]) { router_ts(us, out); }

static PGresult *exec(PGconn *c, const char *sql, int n, const char *const *p, char *err, size_t errsz)
{
    return db_pq_exec(c, sql, n, p, err, errsz, NULL);
}

static bool run(PGconn *c, const char *sql, int n, const char *const *p, char *err, size_t errsz)
{
    PGresult *r = exec(c, sql, n, p, err, errsz);
    PQclear(r);
    return r != NULL;
}

/* The supervision order (督办) for a missed resolve deadline goes to the supervisor of the level
 * above the holder (for a township that is the county operations center). */
static bool raise_supervision(PGconn *c, const row_t *t, int64_t now, char *err, size_t errsz)
{
    int64_t parent = 0;
    if (!assign_parent(c, t->unit_id, &parent, err, errsz))
        return false;
    char id[24], to[24], at[32];
    snprintf(id, sizeof id, "%lld", (long long)t->id);
    snprintf(to, sizeof to, "%lld", (long long)(parent ? parent : t->unit_id));
    ts(now, at);
    const char *p[] = {id, to, at};
    return run(c,
               "INSERT INTO router.supervision (ticket_id, to_unit_id, supervisor_id, raised_at, reason)"
               " SELECT $1::bigint, $2::bigint, (SELECT s.id FROM registry.staff s"
               "   WHERE s.active AND s.role IN ('supervisor', 'operator') AND s.unit_id IN"
               "   (SELECT u.id FROM registry.unit u WHERE u.id = $2::bigint"
               "    UNION ALL SELECT u.parent_id FROM registry.unit u WHERE u.id = $2::bigint)"
               "   ORDER BY (s.unit_id = $2::bigint) DESC, s.id LIMIT 1),"
               " to_timestamp($3::float8), '办结时限已过，督办'",
               3, p, err, errsz);
}

/* An extension request still waiting when the ticket is resolved or returned has nothing left to
 * extend: it is closed as refused (by nobody) so the next holder can ask afresh. */
static bool close_extension(PGconn *c, const char *id, const char *at, char *err, size_t errsz)
{
    const char *p[] = {id, at};
    return run(c,
               "WITH e AS (UPDATE router.extension SET decision = 'refused', decided_at = to_timestamp($2::float8)"
               " WHERE ticket_id = $1::bigint AND decision IS NULL RETURNING 1)"
               " UPDATE router.ticket SET extension_pending = false WHERE ticket_id = $1::bigint",
               2, p, err, errsz);
}

/* The state-specific writes. Returns the state the ticket ends in, or -1 on a database error. */
static int apply_effects(router_t *r, PGconn *c, action_t a, const row_t *t, const actor_t *who,
                         const action_args_t *args, int64_t now, char *err, size_t errsz)
{
    char id[24], at[32], actor[24];
    snprintf(id, sizeof id, "%lld", (long long)t->id);
    snprintf(actor, sizeof actor, "%lld", (long long)who->staff_id);
    ts(now, at);
    stat_delta_t d = {0};
    int to = TABLE[a].to == SAME ? (int)t->state : (int)TABLE[a].to;
    switch (a) {
    case ACT_ACCEPT: {
        const char *p[] = {id, at, actor};
        if (!run(c, "UPDATE router.ticket SET state = 'accepted', accepted_at = to_timestamp($2::float8),"
                    " assignee_id = coalesce(NULLIF($3::bigint, 0), assignee_id) WHERE ticket_id = $1::bigint",
                 3, p, err, errsz))
            return -1;
        break;
    }
    case ACT_START: {
        const char *p[] = {id};
        if (!run(c, "UPDATE router.ticket SET state = 'in_progress' WHERE ticket_id = $1::bigint", 1, p, err, errsz))
            return -1;
        break;
    }
    case ACT_RESOLVE: {
        double now_s = (double)now / 1e6;
        /* A ticket that went overdue (超期: the sweep restarted its clock one level up) is late
         * however soon the new holder resolves it. */
        bool on_time = !t->overdue && (t->resolve_due_s <= 0 || now_s <= t->resolve_due_s);
        int64_t work = workcal_between(r->cal, (int64_t)(t->received_s * 1e6), now);
        char ot[8], ws[24];
        snprintf(ot, sizeof ot, "%s", on_time ? "true" : "false");
        snprintf(ws, sizeof ws, "%lld", (long long)work);
        const char *p[] = {id, at, args->note, ot, ws};
        if (!run(c, "UPDATE router.ticket SET state = 'resolved', resolved_at = to_timestamp($2::float8),"
                    " resolution = $3, stat_on_time = $4::boolean, stat_work_s = $5::bigint WHERE ticket_id = $1::bigint",
                 5, p, err, errsz) ||
            !close_extension(c, id, at, err, errsz))
            return -1;
        d.resolved = 1;
        d.resolved_on_time = on_time;
        d.resolve_work_s = work;
        break;
    }
    case ACT_RETURN: {
        /* back to the dispatcher: the township desk that covers the placement (else the county),
         * which has a sign clock of its own to hand it on (else it climbs, see sla.c) */
        int64_t desk = t->township_id && t->township_id != t->unit_id ? t->township_id : t->county_id;
        category_rule_t rule;
        if (!assign_rule(c, t->service_code, &rule, err, errsz) || !assign_hold(r, c, t->id, desk, &rule, now, err, errsz))
            return -1;
        const char *p[] = {id};
        if (!run(c, "UPDATE router.ticket SET state = 'returned', returns = returns + 1 WHERE ticket_id = $1::bigint", 1,
                 p, err, errsz) ||
            !close_extension(c, id, at, err, errsz))
            return -1;
        d.returns = 1;
        break;
    }
    case ACT_DISPATCH: {
        int64_t target = args->unit_id ? args->unit_id : (t->placed_unit_id ? t->placed_unit_id : t->county_id);
        category_rule_t rule;
        if (!assign_rule(c, t->service_code, &rule, err, errsz) || !assign_hold(r, c, t->id, target, &rule, now, err, errsz))
            return -1;
        /* the unit that gets it now gets the whole resolve time */
        char due[32], warn[32];
        router_ts(workcal_add(r->cal, now, (int64_t)llround(rule.resolve_hours * 3600)), due);
        router_ts(workcal_add(r->cal, now, (int64_t)llround(rule.resolve_hours * rule.warn_share * 3600)), warn);
        const char *p[] = {id, due, warn};
        if (!run(c, "UPDATE router.ticket SET state = 'assigned', resolve_due = to_timestamp($2::float8),"
                    " resolve_warn_at = to_timestamp($3::float8), resolve_warned = false WHERE ticket_id = $1::bigint",
                 3, p, err, errsz))
            return -1;
        break;
    }
    case ACT_REJECT: {
        const char *p[] = {id, at, args->note};
        if (!run(c, "UPDATE router.ticket SET state = 'rejected', closed_at = to_timestamp($2::float8),"
                    " status_notes = '不予受理：' || $3 WHERE ticket_id = $1::bigint",
                 3, p, err, errsz))
            return -1;
        break;
    }
    case ACT_REQUEST_EXTENSION: {
        char hours[32];
        snprintf(hours, sizeof hours, "%.2f", args->hours);
        const char *p[] = {id, hours, args->note, actor, at};
        if (!run(c, "INSERT INTO router.extension (ticket_id, hours, reason, requested_by, requested_at)"
                    " VALUES ($1::bigint, $2::numeric, $3, NULLIF($4::bigint, 0), to_timestamp($5::float8))",
                 5, p, err, errsz) ||
            !run(c, "UPDATE router.ticket SET extension_pending = true WHERE ticket_id = $1::bigint", 1, p, err, errsz))
            return -1;
        break;
    }
    case ACT_GRANT_EXTENSION:
    case ACT_REFUSE_EXTENSION: {
        bool grant = a == ACT_GRANT_EXTENSION;
        const char *p[] = {id, grant ? "granted" : "refused", actor, at};
        PGresult *res = exec(c,
                             "UPDATE router.extension SET decision = $2, decided_by = NULLIF($3::bigint, 0),"
                             " decided_at = to_timestamp($4::float8) WHERE ticket_id = $1::bigint AND decision IS NULL"
                             " RETURNING hours",
                             4, p, err, errsz);
        if (!res)
            return -1;
        double hours = PQntuples(res) ? atof(PQgetvalue(res, 0, 0)) : 0;
        PQclear(res);
        char due[32] = "0";
        if (grant) {
            /* the deadline moves only now, by the granted working hours */
            int64_t base = (int64_t)(t->resolve_due_s * 1e6);
            router_ts(workcal_add(r->cal, base, (int64_t)llround(hours * 3600)), due);
        }
        const char *q[] = {id, grant ? "true" : "false", due, at};
        if (!run(c,
                 "UPDATE router.ticket SET extension_pending = false,"
                 " resolve_due = CASE WHEN $2::boolean THEN to_timestamp($3::float8) ELSE resolve_due END,"
                 " overdue = CASE WHEN $2::boolean AND to_timestamp($3::float8) > to_timestamp($4::float8) THEN false"
                 "           ELSE overdue END WHERE ticket_id = $1::bigint",
                 4, q, err, errsz))
            return -1;
        break;
    }
    case ACT_RATE: {
        const char *rating = args->rating;
        bool reopen = !strcmp(rating, "unsatisfied") && t->reopened == 0;
        if (reopen) {
            /* 重办: the resolution no longer counts; a fresh resolve clock */
            category_rule_t rule;
            if (!assign_rule(c, t->service_code, &rule, err, errsz))
                return -1;
            char due[32], warn[32];
            router_ts(workcal_add(r->cal, now, (int64_t)llround(rule.resolve_hours * 3600)), due);
            router_ts(workcal_add(r->cal, now, (int64_t)llround(rule.resolve_hours * rule.warn_share * 3600)), warn);
            const char *p[] = {id, due, warn};
            if (!run(c, "UPDATE router.ticket SET state = 'in_progress', reopened = reopened + 1, resolved_at = NULL,"
                        " resolve_due = to_timestamp($2::float8), resolve_warn_at = to_timestamp($3::float8),"
                        " resolve_warned = false, overdue = false, stat_on_time = NULL, stat_work_s = NULL"
                        " WHERE ticket_id = $1::bigint",
                     3, p, err, errsz))
                return -1;
            d.resolved = -1;
            d.resolved_on_time = t->stat_on_time ? -1 : 0;
            d.resolve_work_s = -t->stat_work_s;
            to = ST_IN_PROGRESS;
        } else {
            const char *p[] = {id, rating, at};
            if (!run(c, "UPDATE router.ticket SET state = 'closed', rating = $2, closed_at = to_timestamp($3::float8)"
                        " WHERE ticket_id = $1::bigint",
                     3, p, err, errsz))
                return -1;
            d.rated = 1;
            d.satisfied = strcmp(rating, "unsatisfied") != 0;
        }
        break;
    }
    case ACT_CLOSE_UNRATED: {
        const char *p[] = {id, at};
        if (!run(c, "UPDATE router.ticket SET state = 'closed', rating = 'unrated', closed_at = to_timestamp($2::float8)"
                    " WHERE ticket_id = $1::bigint",
                 2, p, err, errsz))
            return -1;
        break;
    }
    case ACT_ESCALATE: {
        /* 签收 missed: re-dispatched one level up. At the county there is no level above: the
         * county keeps it (and its assignee) with a fresh sign clock, a reminder, not a climb. */
        int64_t parent = 0;
        category_rule_t rule;
        if (!assign_parent(c, t->unit_id, &parent, err, errsz) || !assign_rule(c, t->service_code, &rule, err, errsz))
            return -1;
        if (parent) {
            if (!assign_hold(r, c, t->id, parent, &rule, now, err, errsz))
                return -1;
            const char *p[] = {id};
            if (!run(c, "UPDATE router.ticket SET escalations = escalations + 1 WHERE ticket_id = $1::bigint", 1, p,
                     err, errsz))
                return -1;
            d.escalations = 1;
        } else {
            char due[32];
            router_ts(workcal_add(r->cal, now, (int64_t)llround(rule.sign_hours * 3600)), due);
            const char *p[] = {id, due};
            if (!run(c, "UPDATE router.ticket SET sign_due = to_timestamp($2::float8) WHERE ticket_id = $1::bigint", 2,
                     p, err, errsz))
                return -1;
        }
        break;
    }
    case ACT_OVERDUE: {
        /* 超期: a supervision order to the next level up; the ticket climbs one level and must be
         * signed for there, with a fresh resolve clock for the new holder. At the county the
         * order goes to the county and the holder keeps working it on a fresh clock. */
        int64_t parent = 0;
        category_rule_t rule;
        if (!assign_parent(c, t->unit_id, &parent, err, errsz) || !assign_rule(c, t->service_code, &rule, err, errsz) ||
            !raise_supervision(c, t, now, err, errsz))
            return -1;
        if (parent && !assign_hold(r, c, t->id, parent, &rule, now, err, errsz))
            return -1;
        char due[32], warn[32];
        router_ts(workcal_add(r->cal, now, (int64_t)llround(rule.resolve_hours * 3600)), due);
        router_ts(workcal_add(r->cal, now, (int64_t)llround(rule.resolve_hours * rule.warn_share * 3600)), warn);
        const char *p[] = {id, due, warn, parent ? "true" : "false"};
        if (!run(c, "UPDATE router.ticket SET overdue = true, resolve_due = to_timestamp($2::float8),"
                    " resolve_warn_at = to_timestamp($3::float8), resolve_warned = false,"
                    " state = CASE WHEN $4::boolean THEN 'assigned' ELSE state END,"
                    " escalations = escalations + CASE WHEN $4::boolean THEN 1 ELSE 0 END"
                    " WHERE ticket_id = $1::bigint",
                 4, p, err, errsz))
            return -1;
        d.escalations = parent ? 1 : 0;
        if (!parent)
            to = (int)t->state;
        break;
    }
    case ACT__COUNT:
        break;
    }
    const char *p[] = {id, at};
    if (!run(c, "UPDATE router.ticket SET updated_at = to_timestamp($2::float8) WHERE ticket_id = $1::bigint", 2, p,
             err, errsz))
        return -1;
    if ((d.resolved || d.resolved_on_time || d.resolve_work_s || d.rated || d.satisfied || d.escalations || d.returns) &&
        !stats_add(c, t->id, &d, err, errsz))
        return -1;
    return to;
}

bool lifecycle_record(PGconn *conn, int64_t ticket_id, const char *action, const char *from, const char *to,
                      int64_t actor_id, const char *note, int64_t now_us, const char *command_id, const char *event,
                      char *err, size_t errsz)
{
    char id[24], at[32], actor[24];
    snprintf(id, sizeof id, "%lld", (long long)ticket_id);
    snprintf(actor, sizeof actor, "%lld", (long long)actor_id);
    router_ts(now_us, at);
    const char *p[] = {id, action, from, to, actor, note, at, command_id, event};
    PGresult *res = exec(conn,
                         "SELECT router.record($1::bigint, $2, $3, $4, $5::bigint, $6, to_timestamp($7::float8),"
                         " $8::uuid, $9)",
                         9, p, err, errsz);
    PQclear(res);
    return res != NULL;
}

/* The ticket as the API shows it to staff (new reference), or NULL on a database error. */
static json_t *ticket_json(PGconn *c, int64_t id, char *err, size_t errsz)
{
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *p[] = {ids};
    PGresult *r = exec(c,
                       "SELECT json_build_object('code', t.code, 'state', t.state, 'service_code', t.service_code,"
                       " 'unit', json_build_object('id', u.id, 'code', u.code, 'name', u.name, 'level', u.level),"
                       " 'assignee', CASE WHEN s.id IS NULL THEN NULL ELSE json_build_object('id', s.id, 'name', s.name) END,"
                       " 'sign_due', t.sign_due, 'resolve_due', t.resolve_due, 'overdue', t.overdue,"
                       " 'escalations', t.escalations, 'returns', t.returns, 'reopened', t.reopened,"
                       " 'extension_pending', t.extension_pending, 'rating', t.rating, 'resolution', t.resolution,"
                       " 'merged_into', (SELECT m.code FROM router.ticket m WHERE m.ticket_id = t.merged_into))::text"
                       " FROM router.ticket t LEFT JOIN registry.unit u ON u.id = t.unit_id"
                       " LEFT JOIN registry.staff s ON s.id = t.assignee_id WHERE t.ticket_id = $1::bigint",
                       1, p, err, errsz);
    if (!r)
        return NULL;
    json_error_t je;
    json_t *j = PQntuples(r) ? json_loads(PQgetvalue(r, 0, 0), 0, &je) : json_object();
    PQclear(r);
    return j;
}

static bool check_args(action_t a, const row_t *t, const action_args_t *args, outcome_t *o)
{
    const char *note = args->note;
    if (TABLE[a].needs_note && (!note || !*note)) {
        *o = out_error(400, "note_required", "this action needs a note (what was done, or the reason)", NULL);
        return false;
    }
    if (note && (!utf8_valid(note, strlen(note)) || utf8_count(note, strlen(note)) > 2000)) {
        *o = out_error(400, "invalid_note", "the note must be valid text of at most 2000 characters", NULL);
        return false;
    }
    if (a == ACT_REQUEST_EXTENSION && !(args->hours > 0 && args->hours <= 400)) {
        *o = out_error(400, "invalid_hours", "an extension is 0 to 400 working hours", NULL);
        return false;
    }
    if (a == ACT_REQUEST_EXTENSION && t->extension_pending) {
        *o = out_error(409, "extension_pending", "an extension request is already waiting", lifecycle_state_name(t->state));
        return false;
    }
    if ((a == ACT_GRANT_EXTENSION || a == ACT_REFUSE_EXTENSION) && !t->extension_pending) {
        *o = out_error(409, "no_extension_pending", "there is no extension request to decide",
                       lifecycle_state_name(t->state));
        return false;
    }
    if (a == ACT_RATE && (!args->rating || (strcmp(args->rating, "satisfied") && strcmp(args->rating, "basic") &&
                                            strcmp(args->rating, "unsatisfied")))) {
        *o = out_error(400, "invalid_rating", "rating is satisfied (满意), basic (基本满意) or unsatisfied (不满意)", NULL);
        return false;
    }
    if (a == ACT_RATE && (!args->phone || !t->reporter_phone[0] || strcmp(args->phone, t->reporter_phone))) {
        *o = out_error(403, "not_reporter", "only the resident who reported it may rate it", NULL);
        return false;
    }
    return true;
}

outcome_t lifecycle_apply(router_t *r, PGconn *conn, const char *code, action_t a, const actor_t *actor,
                          const action_args_t *args, int64_t now_us, const char *command_id)
{
    char err[512];
    row_t t = {0};
    bool found = false;
    if (a >= ACT__COUNT)
        return out_error(400, "unknown_action", "no such action", NULL);
    if (!load_row(conn, code, &t, &found, err, sizeof err))
        goto db_error;
    if (!found)
        return out_error(404, "not_found", "no ticket with this code", NULL);
    if (!lifecycle_allows(a, t.state)) {
        char msg[160];
        snprintf(msg, sizeof msg, "cannot %s a ticket that is %s", TABLE[a].name, lifecycle_state_name(t.state));
        return out_error(409, "invalid_transition", msg, lifecycle_state_name(t.state));
    }
    if (!authorized(a, &t, actor))
        return out_error(403, "forbidden", "this ticket is outside your unit or role", NULL);
    if ((a == ACT_GRANT_EXTENSION || a == ACT_REFUSE_EXTENSION) && t.extension_requester &&
        t.extension_requester == actor->staff_id)
        return out_error(403, "forbidden", "an extension is decided by someone other than who asked for it", NULL);
    if (a == ACT_DISPATCH && args->unit_id && strcmp(actor->role, "operator") != 0) {
        /* a supervisor hands tickets only to units inside their own area */
        char outer[24], inner[24];
        snprintf(outer, sizeof outer, "%lld", (long long)actor->unit_id);
        snprintf(inner, sizeof inner, "%lld", (long long)args->unit_id);
        const char *p[] = {outer, inner};
        PGresult *w = exec(conn, "SELECT router.unit_within($1::bigint, $2::bigint)", 2, p, err, sizeof err);
        if (!w)
            goto db_error;
        bool inside = PQgetvalue(w, 0, 0)[0] == 't';
        PQclear(w);
        if (!inside)
            return out_error(403, "forbidden", "that unit is outside your area", NULL);
    }
    outcome_t o;
    if (!check_args(a, &t, args, &o))
        return o;

    int to = apply_effects(r, conn, a, &t, actor, args, now_us, err, sizeof err);
    if (to < 0)
        goto db_error;

    /* A rate that reopens is announced as ticket.reopened */
    const char *event = a == ACT_RATE && to == ST_IN_PROGRESS ? "reopened" : TABLE[a].event;
    if (!lifecycle_record(conn, t.id, TABLE[a].name, lifecycle_state_name(t.state), lifecycle_state_name((ticket_state_t)to),
                          actor->staff_id, a == ACT_RATE ? args->rating : args->note, now_us, command_id, event, err,
                          sizeof err))
        goto db_error;
    json_t *tj = ticket_json(conn, t.id, err, sizeof err);
    if (!tj)
        goto db_error;
    return (outcome_t){200, json_pack("{s:o}", "ticket", tj)};
db_error:
    log_warn("lifecycle %s %s: %s", TABLE[a < ACT__COUNT ? a : 0].name, code, err);
    return out_error(503, "unavailable", "the database failed; nothing was changed, try again", NULL);
}

void router_ts(int64_t us, char out[32]) { snprintf(out, 32, "%lld.%06lld", (long long)(us / 1000000), (long long)(us % 1000000)); }
