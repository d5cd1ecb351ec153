#include "lifecycle.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "lifecycle_effects.h"
#include "log.h"
#include "stats.h"
#include "timefmt.h"
#include "utf8.h"

static const char *const STATE_NAMES[ST__COUNT] = {
    [ST_ASSIGNED] = "assigned", [ST_ACCEPTED] = "accepted", [ST_IN_PROGRESS] = "in_progress",
    [ST_RESOLVED] = "resolved", [ST_CLOSED] = "closed",     [ST_RETURNED] = "returned",
    [ST_REJECTED] = "rejected", [ST_MERGED] = "merged",
};

#define S(x) (1u << (x))

/* The state machine, written down once: every action, the states it may start from, where it
 * leads. `to_alt` is the target the ticket itself may call for instead (its effect in
 * lifecycle_effects.c decides, and says when in a comment); ST_KEEP leaves the state as it was;
 * ST_NEW is "not yet a ticket of the router". */
static const struct {
    const char *name;      /* command and router.transition.action */
    const char *event;     /* event type suffix: ticket.<event> */
    const char *event_alt; /* ... when the alternative target was taken */
    unsigned from;         /* states it may start from */
    ticket_state_t to, to_alt;
    who_t who;
    bool needs_note;
} TABLE[ACT__COUNT] = {
    [ACT_ACCEPT] = {"accept", "accepted", NULL, S(ST_ASSIGNED), ST_ACCEPTED, ST_NONE, WHO_HOLDER, false},
    [ACT_START] = {"start", "started", NULL, S(ST_ACCEPTED), ST_IN_PROGRESS, ST_NONE, WHO_HOLDER, false},
    [ACT_RESOLVE] = {"resolve", "resolved", NULL, S(ST_ACCEPTED) | S(ST_IN_PROGRESS), ST_RESOLVED, ST_NONE,
                     WHO_HOLDER, true},
    [ACT_RETURN] = {"return", "returned", NULL, S(ST_ASSIGNED) | S(ST_ACCEPTED), ST_RETURNED, ST_NONE, WHO_HOLDER,
                    true},
    [ACT_DISPATCH] = {"dispatch", "dispatched", NULL, S(ST_RETURNED), ST_ASSIGNED, ST_NONE, WHO_SUPERVISOR, false},
    [ACT_REJECT] = {"reject", "rejected", NULL, S(ST_ASSIGNED) | S(ST_RETURNED), ST_REJECTED, ST_NONE,
                    WHO_SUPERVISOR, true},
    [ACT_REQUEST_EXTENSION] = {"request_extension", "extension_requested", NULL, S(ST_ACCEPTED) | S(ST_IN_PROGRESS),
                               ST_KEEP, ST_NONE, WHO_HOLDER, true},
    [ACT_GRANT_EXTENSION] = {"grant_extension", "extension_granted", NULL, S(ST_ACCEPTED) | S(ST_IN_PROGRESS),
                             ST_KEEP, ST_NONE, WHO_SUPERVISOR, false},
    [ACT_REFUSE_EXTENSION] = {"refuse_extension", "extension_refused", NULL, S(ST_ACCEPTED) | S(ST_IN_PROGRESS),
                              ST_KEEP, ST_NONE, WHO_SUPERVISOR, true},
    /* alt: 不满意 from a ticket not reopened before reopens it (重办), announced as ticket.reopened */
    [ACT_RATE] = {"rate", "rated", "reopened", S(ST_RESOLVED), ST_CLOSED, ST_IN_PROGRESS, WHO_RESIDENT, false},
    [ACT_CLOSE_UNRATED] = {"close_unrated", "closed", NULL, S(ST_RESOLVED), ST_CLOSED, ST_NONE, WHO_SYSTEM, false},
    /* the sign clock ran out: one level up (or a fresh clock at the county), the state stays */
    [ACT_ESCALATE] = {"escalate", "escalated", NULL, S(ST_ASSIGNED) | S(ST_RETURNED), ST_KEEP, ST_NONE, WHO_SYSTEM,
                      false},
    /* the resolve clock ran out: signed for again one level up; alt: at the county, with no level
     * above, the holder keeps it in the state it was */
    [ACT_OVERDUE] = {"overdue", "overdue", "overdue", S(ST_ASSIGNED) | S(ST_ACCEPTED) | S(ST_IN_PROGRESS),
                     ST_ASSIGNED, ST_KEEP, WHO_SYSTEM, false},
    /* a new ticket routed to a unit, or following an open one nearby (重复件): router.assign_apply */
    [ACT_ASSIGN] = {"assign", "assigned", NULL, S(ST_NEW), ST_ASSIGNED, ST_NONE, WHO_SYSTEM, false},
    [ACT_MERGE] = {"merge", "merged", NULL, S(ST_NEW), ST_MERGED, ST_NONE, WHO_SYSTEM, false},
};

const char *lifecycle_state_name(ticket_state_t s)
{
    return s < ST__COUNT ? STATE_NAMES[s] : s == ST_NEW ? "new" : "?";
}

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

bool lifecycle_allows(action_t a, ticket_state_t s) { return a < ACT__COUNT && s <= ST_NEW && (TABLE[a].from & S(s)); }

bool lifecycle_has_alt(action_t a) { return a < ACT__COUNT && TABLE[a].to_alt != ST_NONE; }

ticket_state_t lifecycle_target(action_t a, ticket_state_t s, bool alt)
{
    if (a >= ACT__COUNT)
        return ST_NONE;
    ticket_state_t to = alt && lifecycle_has_alt(a) ? TABLE[a].to_alt : TABLE[a].to;
    return to == ST_KEEP ? s : to;
}

const char *lifecycle_event(action_t a, bool alt)
{
    if (a >= ACT__COUNT)
        return "?";
    return alt && TABLE[a].event_alt ? TABLE[a].event_alt : TABLE[a].event;
}

bool lifecycle_states_from(action_t a, char *out, size_t outsz)
{
    size_t len = 0;
    if (a >= ACT__COUNT || outsz < 3)
        return false;
    out[len++] = '{';
    for (int s = 0; s < ST__COUNT; s++) {
        if (!(TABLE[a].from & S(s)))
            continue;
        int n = snprintf(out + len, outsz - len, "%s%s", out[len - 1] == '{' ? "" : ",", STATE_NAMES[s]);
        if (n < 0 || (size_t)n >= outsz - len)
            return false;
        len += (size_t)n;
    }
    if (len + 2 > outsz)
        return false;
    out[len++] = '}';
    out[len] = '\0';
    return true;
}

/* ------------------------------------------------------------------------------------------ */

static outcome_t out_error(int status, const char *code, const char *message, const char *state)
{
    json_t *e = json_pack("{s:s,s:s}", "code", code, "message", message);
    if (state)
        json_object_set_new(e, "state", json_string(state));
    return (outcome_t){status, json_pack("{s:o}", "error", e)};
}

static int64_t col_i(PGresult *r, int c) { return PQgetisnull(r, 0, c) ? 0 : atoll(PQgetvalue(r, 0, c)); }

static bool load_row(PGconn *conn, const char *code, lc_ticket_t *t, bool *found, char *err, size_t errsz)
{
    const char *p[] = {code};
    PGresult *r = db_pq_exec(conn,
                             "SELECT r.ticket_id, r.unit_id, r.group_id, r.village_id, r.township_id, r.county_id,"
                             " r.placed_unit_id, r.state, r.reopened, r.extension_pending, coalesce(r.stat_on_time, false),"
                             " coalesce(r.stat_work_s, 0), extract(epoch FROM r.received_at),"
                             " coalesce(extract(epoch FROM r.resolve_due), 0), r.service_code, r.overdue,"
                             " (SELECT coalesce(e.requested_by, 0) FROM router.extension e"
                             "  WHERE e.ticket_id = r.ticket_id AND e.decision IS NULL)"
                             " FROM router.ticket r WHERE r.code = $1 FOR UPDATE OF r",
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
        t->overdue = PQgetvalue(r, 0, 15)[0] == 't';
        t->extension_requester = col_i(r, 16);
    }
    PQclear(r);
    return true;
}

static PGresult *exec(PGconn *c, const char *sql, int n, const char *const *p, char *err, size_t errsz)
{
    return db_pq_exec(c, sql, n, p, err, errsz, NULL);
}

/* Whether unit `outer` is unit `inner` or above it (router.unit_within); false with err set on a
 * database error. */
static bool unit_within(PGconn *c, int64_t outer, int64_t inner, bool *inside, char *err, size_t errsz)
{
    char o[24], i[24];
    snprintf(o, sizeof o, "%lld", (long long)outer);
    snprintf(i, sizeof i, "%lld", (long long)inner);
    const char *p[] = {o, i};
    PGresult *w = exec(c, "SELECT router.unit_within($1::bigint, $2::bigint)", 2, p, err, errsz);
    if (!w)
        return false;
    *inside = PQgetvalue(w, 0, 0)[0] == 't';
    PQclear(w);
    return true;
}

/* Whether the actor may take action a on the ticket. Scope follows the unit that holds the
 * ticket now, not where it was placed: a ticket dispatched to another township's village is that
 * township's to supervise. False with err set on a database error. */
static bool authorized(PGconn *c, action_t a, const lc_ticket_t *t, const actor_t *who, bool *ok, char *err,
                       size_t errsz)
{
    bool operator_ = who->role && !strcmp(who->role, "operator");
    *ok = false;
    switch (TABLE[a].who) {
    case WHO_SYSTEM:
        *ok = who->role && !strcmp(who->role, "system");
        return true;
    case WHO_RESIDENT:
        *ok = who->role && !strcmp(who->role, "resident");
        return true;
    case WHO_HOLDER:
        *ok = operator_ || (who->staff_id && who->unit_id == t->unit_id);
        return true;
    case WHO_SUPERVISOR:
        *ok = operator_;
        if (operator_ || !who->role || strcmp(who->role, "supervisor") != 0 || !t->unit_id)
            return true;
        return unit_within(c, who->unit_id, t->unit_id, ok, err, errsz);
    }
    return true;
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

/* The ticket as the API shows it to staff (new reference), or NULL on a database error; times in
 * the county's zone, as every answer of the API (timefmt.h). */
static json_t *ticket_json(PGconn *c, int64_t id, char *err, size_t errsz)
{
    char ids[24];
    snprintf(ids, sizeof ids, "%lld", (long long)id);
    const char *p[] = {ids};
    PGresult *r = exec(c,
                       "SELECT json_build_object('code', t.code, 'state', t.state, 'service_code', t.service_code,"
                       " 'unit', json_build_object('id', u.id, 'code', u.code, 'name', u.name, 'level', u.level),"
                       " 'assignee', CASE WHEN s.id IS NULL THEN NULL ELSE json_build_object('id', s.id, 'name', s.name) END,"
                       " 'sign_due', " TIMEFMT_SQL_LOCAL("t.sign_due") ", 'resolve_due', " TIMEFMT_SQL_LOCAL("t.resolve_due") ","
                       " 'overdue', t.overdue,"
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

static bool check_args(action_t a, const lc_ticket_t *t, const action_args_t *args, outcome_t *o)
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
    static const char *const proofs[] = LIFECYCLE_PROOFS;
    bool proven = false;
    for (int i = 0; a == ACT_RATE && args->proof && proofs[i]; i++)
        proven = proven || !strcmp(args->proof, proofs[i]);
    if (a == ACT_RATE && !proven) {
        *o = out_error(403, "not_reporter", "only the resident who reported it may rate it, with a proof intake checked",
                       NULL);
        return false;
    }
    return true;
}

outcome_t lifecycle_apply(router_t *r, PGconn *conn, const char *code, action_t a, const actor_t *actor,
                          const action_args_t *args, int64_t now_us, const char *command_id)
{
    char err[512];
    lc_ticket_t t = {0};
    bool found = false;
    if (a >= ACT__COUNT)
        return out_error(404, "unknown_action", "no such action", NULL);
    if (!load_row(conn, code, &t, &found, err, sizeof err))
        goto db_error;
    if (!found)
        return out_error(404, "not_found", "no ticket with this code", NULL);
    if (!lifecycle_allows(a, t.state)) {
        char msg[160];
        snprintf(msg, sizeof msg, "cannot %s a ticket that is %s", TABLE[a].name, lifecycle_state_name(t.state));
        return out_error(409, "invalid_transition", msg, lifecycle_state_name(t.state));
    }
    bool allowed = false;
    if (!authorized(conn, a, &t, actor, &allowed, err, sizeof err))
        goto db_error;
    if (!allowed)
        return out_error(403, "forbidden", "this ticket is outside your unit or role", NULL);
    if ((a == ACT_GRANT_EXTENSION || a == ACT_REFUSE_EXTENSION) && t.extension_requester &&
        t.extension_requester == actor->staff_id)
        return out_error(403, "forbidden", "an extension is decided by someone other than who asked for it", NULL);
    if (a == ACT_DISPATCH && args->unit_id && strcmp(actor->role, "operator") != 0) {
        /* a supervisor hands tickets only to units inside their own area */
        bool inside = false;
        if (!unit_within(conn, actor->unit_id, args->unit_id, &inside, err, sizeof err))
            goto db_error;
        if (!inside)
            return out_error(403, "forbidden", "that unit is outside your area", NULL);
    }
    outcome_t o;
    if (!check_args(a, &t, args, &o))
        return o;

    effect_t e = {.r = r, .c = conn, .t = &t, .who = actor, .args = args, .now = now_us, .err = err, .errsz = sizeof err};
    effect_init(&e);
    if (!effect_run(a, &e))
        goto db_error;
    /* The one place a ticket's state changes: to what the table says for what the effect found. */
    ticket_state_t to = lifecycle_target(a, t.state, e.alt);
    const char *p[] = {e.id, lifecycle_state_name(to), e.at};
    PGresult *u = exec(conn, "UPDATE router.ticket SET state = $2, updated_at = to_timestamp($3::float8) WHERE ticket_id = $1::bigint",
                       3, p, err, sizeof err);
    if (!u)
        goto db_error;
    PQclear(u);
    const stat_delta_t *d = &e.d;
    if ((d->resolved || d->resolved_on_time || d->resolve_work_s || d->rated || d->satisfied || d->escalations ||
         d->returns) &&
        !stats_add(conn, t.id, d, err, sizeof err))
        goto db_error;
    if (!lifecycle_record(conn, t.id, TABLE[a].name, lifecycle_state_name(t.state), lifecycle_state_name(to),
                          actor->staff_id, a == ACT_RATE ? args->rating : args->note, now_us, command_id,
                          lifecycle_event(a, e.alt), err, sizeof err))
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
