/* motion: the one state machine of a motion, and the one place that changes a motion's state.
 *
 *   (new) ──create──▶ draft ──open──▶ open ──close (staff) / the clock at closes_at──▶ closed
 *                     │ proxy        │ cast, paper_voters, paper, slips
 *                     └──────────────┘ (stay)
 * Never back: a closed motion is never reopened, an open one never returns to draft, so the
 * rules (frozen into tally.motion.rules at create, checked against nothing later) and the roll
 * (snapshot at open) cannot change while voting runs.
 *
 * The table in motion.c lists every action with the states it may start from, where it leads and
 * who takes it; commands.c asks motion_allows() and answers its 409 (not_draft, not_open,
 * closed); motion_enter() is the only writer of tally.motion.state. Everything runs in the
 * caller's transaction on a motion row it locked with motion_lock(). */
#ifndef TALLY_MOTION_H
#define TALLY_MOTION_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "chain.h"
#include "rules.h"
#include "tally.h"

typedef enum { MS_DRAFT, MS_OPEN, MS_CLOSED, MS__COUNT, MS_NEW = MS__COUNT } motion_state_t;

typedef enum {
    MA_CREATE, MA_PROXY, MA_OPEN, MA_CAST, MA_PAPER_VOTERS, MA_PAPER, MA_SLIPS, MA_CLOSE, MA_CLOCK_CLOSE,
    MA__COUNT
} motion_action_t;

typedef enum { BY_STAFF, BY_VOTER, BY_CLOCK } motion_who_t;

const char *motion_state_name(motion_state_t s);
bool motion_state_parse(const char *name, motion_state_t *out) __attribute__((warn_unused_result));
const char *motion_action_name(motion_action_t a);
/* Actions a command may name (the clock's own is not one: false for it). */
bool motion_action_parse(const char *name, motion_action_t *out) __attribute__((warn_unused_result));
motion_who_t motion_who(motion_action_t a);
bool motion_allows(motion_action_t a, motion_state_t s);
motion_state_t motion_target(motion_action_t a);
/* The 409 for action a refused in state s (the caller checked !motion_allows(a, s)). */
answer_t motion_refusal(motion_action_t a, motion_state_t s);

/* A motion row as the handlers use it. Strings and JSON are owned by the struct. */
typedef struct {
    char id[37];
    char code[16];
    int64_t group_id;
    char group_code[64];
    tally_kind_t kind;
    motion_state_t state;
    bool household;        /* electorate: household (一户一票) or adult (一人一票, 18+) */
    bool delivery_notify;  /* credentials through notify (vote.credentials) or on slips */
    char *title, *body, *rule_set, *rules_sha256_hex, *runoff_of_code;
    json_t *ballot, *rules_body;
    int64_t opened_at_us, closes_at_us; /* 0 when unset */
    int64_t roll_count;
    chain_head_t head;
} motion_t;

typedef enum { MOTION_FOUND, MOTION_MISSING, MOTION_DB_ERROR } motion_lookup_t;

/* Reads and locks (FOR UPDATE) the motion with this code, in the caller's transaction. */
motion_lookup_t motion_lock(PGconn *c, const char *code, motion_t *m, char *err, size_t errsz);
void motion_free(motion_t *m);

/* Moves the locked motion to the action's target state, stamping opened_at (with closes_at,
 * roll_count) or closed_at (with closed_by, 0 for the clock, and result). The only writer of
 * tally.motion.state. */
bool motion_enter(PGconn *c, motion_t *m, motion_action_t a, int64_t now_us, int64_t staff_id, int64_t roll_count,
                  const json_t *result, char *err, size_t errsz) __attribute__((warn_unused_result));

#endif
