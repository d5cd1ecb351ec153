/* lifecycle_effects: what each action writes besides the ticket's state, one function per action.
 * lifecycle_apply() (lifecycle.c) has checked the table, the actor and the arguments; it runs the
 * action's effect, then writes the state the table gives (the target, or the alternative when
 * the effect says the ticket called for it), the transition and the aggregates. Effects never
 * write router.ticket.state. Everything runs in the caller's transaction. */
#ifndef ROUTER_LIFECYCLE_EFFECTS_H
#define ROUTER_LIFECYCLE_EFFECTS_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "lifecycle.h"
#include "router.h"
#include "stats.h"

/* The ticket as lifecycle_apply() read it (its row locked). */
typedef struct {
    int64_t id, unit_id, group_id, village_id, township_id, county_id, placed_unit_id;
    ticket_state_t state;
    int reopened;
    bool extension_pending, stat_on_time, overdue;
    int64_t stat_work_s;
    double received_s, resolve_due_s;
    char service_code[40];
    int64_t extension_requester; /* who asked for the pending extension */
} lc_ticket_t;

/* What an effect works on (borrowed), and what it reports back. */
typedef struct {
    router_t *r;
    PGconn *c;
    const lc_ticket_t *t;
    const actor_t *who;
    const action_args_t *args;
    int64_t now;
    char id[24], at[32], actor[24]; /* t->id, now and who->staff_id as SQL parameter text */
    /* out */
    bool alt;       /* the ticket called for the action's alternative target (lifecycle_target) */
    stat_delta_t d; /* what the aggregates gain */
    char *err;      /* the database's reason when an effect returns false */
    size_t errsz;
} effect_t;

/* Fills the parameter texts of e from its inputs. */
void effect_init(effect_t *e);

/* Runs action a's effects. False on a database error (reason in e->err): the caller rolls back.
 * Actions without effects of their own (start) succeed at once; assign and merge have theirs in
 * router.assign_apply and are refused here. */
bool effect_run(action_t a, effect_t *e) __attribute__((warn_unused_result));

#endif
