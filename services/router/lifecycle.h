/* lifecycle: the one state machine of a ticket, and the one function that changes a ticket's
 * state. The table in lifecycle.c lists every action with the states it may start from, the
 * state it leads to (and the one alternative some actions have, chosen by the ticket), its event
 * and who may take it. Nothing else names a target state: lifecycle_apply() writes the state the
 * table gives, assignment (assign_batch.c) passes the table's names to router.assign_apply, and
 * the SLA sweeps (sla.c) pick their tickets by the table's from-states. lifecycle_apply() checks,
 * runs the action's effects (lifecycle_effects.c, one function per action), writes router.ticket,
 * records router.transition, updates the aggregates and emits the event, all in the caller's
 * transaction.
 *
 *   assigned ──accept──▶ accepted ──start──▶ in_progress ──resolve──▶ resolved ──rate──▶ closed
 *      │ ▲ escalate         │  request/grant/refuse_extension │              │ rate 不满意 (once)
 *      │ └─────────         └──return──▶ returned ──dispatch──▶ assigned     └──▶ in_progress
 *      └──return──▶ returned ──reject──▶ rejected        resolved ──close_unrated──▶ closed
 *   (new) ──assign──▶ assigned      (new) ──merge──▶ merged (重复件)
 *   the clocks: assigned/accepted/in_progress ──overdue──▶ assigned one level up (at the county
 *   the state stays); escalate keeps the state (assigned or returned) one level up
 *   (also: accepted ──resolve──▶ resolved; tests/unit/test_lifecycle_table.c lists every pair)
 *
 * Who asks: holders, supervisors and residents through commands (commands.c); the system actions
 * (assign, merge, escalate, overdue, close_unrated) are the router's own, and a command naming
 * one is answered as an unknown action (404).
 */
#ifndef ROUTER_LIFECYCLE_H
#define ROUTER_LIFECYCLE_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "router.h"

/* The states a ticket is stored in (router.ticket.state), then three values the table uses that
 * are never stored. */
typedef enum {
    ST_ASSIGNED, ST_ACCEPTED, ST_IN_PROGRESS, ST_RESOLVED, ST_CLOSED, ST_RETURNED, ST_REJECTED, ST_MERGED,
    ST__COUNT,
    ST_NEW = ST__COUNT, /* (new): not yet in router.ticket; the from-state of assign and merge */
    ST_KEEP,            /* as a target: the action leaves the state as it was */
    ST_NONE,            /* as an alternative target: the action has none */
} ticket_state_t;

typedef enum {
    ACT_ACCEPT, ACT_START, ACT_RESOLVE, ACT_RETURN, ACT_DISPATCH, ACT_REJECT, ACT_REQUEST_EXTENSION,
    ACT_GRANT_EXTENSION, ACT_REFUSE_EXTENSION, ACT_RATE, ACT_CLOSE_UNRATED, ACT_ESCALATE, ACT_OVERDUE,
    ACT_ASSIGN, ACT_MERGE,
    ACT__COUNT
} action_t;

/* Who may take an action. */
typedef enum {
    WHO_HOLDER,     /* staff of the unit that holds the ticket (or the county operator) */
    WHO_SUPERVISOR, /* a supervisor whose unit holds the ticket or is above the unit that does
                       (router.unit_within), or the county operator */
    WHO_RESIDENT,   /* the reporter, through an API client, with a proof intake checked */
    WHO_SYSTEM,     /* the router itself: clocks and assignment */
} who_t;

typedef struct {
    int64_t staff_id;   /* 0 for the system or a resident */
    const char *role;   /* registry.staff.role, or "resident" / "system" */
    int64_t unit_id;
} actor_t;

typedef struct {
    const char *note;      /* reason / what was done */
    double hours;          /* request_extension */
    const char *rating;    /* rate: satisfied | basic | unsatisfied */
    int64_t unit_id;       /* dispatch: the unit to hand it to (0 = back to where it was placed) */
    const char *proof;     /* rate: how intake knows the rating is the reporter's (LIFECYCLE_PROOFS) */
} action_args_t;

/* The proofs a rating may carry, each checked by intake before it sends the command: the
 * ticket's rating code (intake.rating_code); an SMS reply from the reporter's own number
 * (sms_uplink: intake picks the ticket by that number); a WeChat openid bound to the reporter's
 * phone by a code sent to it, or the openid that filed the ticket (wechat_binding: intake picks
 * the ticket by them). The router does not see the secret, the phone or the openid; it trusts its
 * authenticated peer's word and refuses a rating that names no proof it knows. The list is
 * proto/command.router.schema.json's x-gridgov-proofs (tests/unit/test_command_schema.c). */
#define LIFECYCLE_PROOFS {"rating_code", "sms_uplink", "wechat_binding", NULL}

/* The outcome a caller answers with: HTTP-like status and a JSON reply (new reference). */
typedef struct {
    int status;     /* 200, 400, 403, 404, 409, 503 */
    json_t *reply;  /* {"ticket":{...}} or {"error":{code,message,state}} */
} outcome_t;

/* The stored name of a state ("new" for ST_NEW, "?" for anything else); static storage. */
const char *lifecycle_state_name(ticket_state_t s);
/* A stored state by name (never ST_NEW). */
bool lifecycle_state_parse(const char *name, ticket_state_t *out);
const char *lifecycle_action_name(action_t a);
bool lifecycle_action_parse(const char *name, action_t *out);
who_t lifecycle_who(action_t a);
/* Whether the table allows action a from state s (before any role check); s may be ST_NEW. */
bool lifecycle_allows(action_t a, ticket_state_t s);
/* The state action a leads to from state s: the table's target, or with alt its alternative
 * (the ticket-dependent case the table's row describes; the usual target when there is none).
 * ST_KEEP resolves to s. Only meaningful when lifecycle_allows(a, s). */
ticket_state_t lifecycle_target(action_t a, ticket_state_t s, bool alt);
/* Whether action a has an alternative target. */
bool lifecycle_has_alt(action_t a);
/* The event type suffix (ticket.<event>) announcing a, or with alt its alternative target. */
const char *lifecycle_event(action_t a, bool alt);
/* The stored states action a may start from, as a PostgreSQL text[] literal ("{assigned,returned}")
 * for `state = ANY($n::text[])`. False when out is too small. */
bool lifecycle_states_from(action_t a, char *out, size_t outsz) __attribute__((warn_unused_result));

/* Applies an action to the ticket with this public code, in the caller's open transaction on conn.
 * Locks the ticket row. A database error returns status 503 and the caller must roll back. */
outcome_t lifecycle_apply(router_t *r, PGconn *conn, const char *code, action_t a, const actor_t *actor,
                          const action_args_t *args, int64_t now_us, const char *command_id);

/* Records a transition and announces it as ticket.<event>, in the caller's transaction.
 * lifecycle_apply() calls it; so does assignment, which creates tickets in their first state. */
bool lifecycle_record(PGconn *conn, int64_t ticket_id, const char *action, const char *from, const char *to,
                      int64_t actor_id, const char *note, int64_t now_us, const char *command_id, const char *event,
                      char *err, size_t errsz) __attribute__((warn_unused_result));

#endif
