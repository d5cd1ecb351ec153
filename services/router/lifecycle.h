/* lifecycle: the one state machine of a ticket, and the one function that changes a ticket's
 * state. The table in lifecycle.c lists every action with the states it may start from, the
 * state it leads to and who may take it; lifecycle_apply() checks, writes router.ticket, records
 * router.transition, updates the aggregates and emits the event, all in the caller's transaction.
 *
 *   assigned ──accept──▶ accepted ──start──▶ in_progress ──resolve──▶ resolved ──rate──▶ closed
 *      │ ▲ escalate         │  request/grant/refuse_extension │              │ rate 不满意 (once)
 *      │ └─────────         └──return──▶ returned ──dispatch──▶ assigned     └──▶ in_progress
 *      └──return──▶ returned ──reject──▶ rejected        resolved ──close_unrated──▶ closed
 *   (new) ──assign──▶ assigned      (new) ──merge──▶ merged
 */
#ifndef ROUTER_LIFECYCLE_H
#define ROUTER_LIFECYCLE_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "router.h"

typedef enum {
    ST_ASSIGNED, ST_ACCEPTED, ST_IN_PROGRESS, ST_RESOLVED, ST_CLOSED, ST_RETURNED, ST_REJECTED, ST_MERGED,
    ST__COUNT
} ticket_state_t;

typedef enum {
    ACT_ACCEPT, ACT_START, ACT_RESOLVE, ACT_RETURN, ACT_DISPATCH, ACT_REJECT, ACT_REQUEST_EXTENSION,
    ACT_GRANT_EXTENSION, ACT_REFUSE_EXTENSION, ACT_RATE, ACT_CLOSE_UNRATED, ACT_ESCALATE, ACT_OVERDUE,
    ACT__COUNT
} action_t;

/* Who may take an action. */
typedef enum {
    WHO_HOLDER,     /* staff of the unit that holds the ticket (or the county operator) */
    WHO_SUPERVISOR, /* a supervisor whose area contains the ticket's unit, or the county operator */
    WHO_RESIDENT,   /* the reporter, through an API client */
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
    const char *phone;     /* rate: the resident's phone, which must be the reporter's */
} action_args_t;

/* The outcome a caller answers with: HTTP-like status and a JSON reply (new reference). */
typedef struct {
    int status;     /* 200, 400, 403, 404, 409, 503 */
    json_t *reply;  /* {"ticket":{...}} or {"error":{code,message,state}} */
} outcome_t;

const char *lifecycle_state_name(ticket_state_t s);
bool lifecycle_state_parse(const char *name, ticket_state_t *out);
const char *lifecycle_action_name(action_t a);
bool lifecycle_action_parse(const char *name, action_t *out);
who_t lifecycle_who(action_t a);
/* Whether the table allows action a from state s (before any role check). */
bool lifecycle_allows(action_t a, ticket_state_t s);

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
