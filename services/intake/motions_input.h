/* motions_input: the shape and sizes of what clients send to the motions API (api_motions.c),
 * checked at the edge so that tally gets only commands its contract names
 * (/work/tally-plan.md's table; proto/command.tally.schema.json): exactly the members an action
 * takes, each of its JSON type and within its bounds. What a value means against the motion
 * (a candidate index beyond the ballot, a voter not on the roll, a state that refuses the action)
 * is tally's to judge; a malformed body never reaches it. Pure functions, no allocation that
 * outlives a call. */
#ifndef INTAKE_MOTIONS_INPUT_H
#define INTAKE_MOTIONS_INPUT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "ticket_input.h"

typedef enum {
    MOTIONS_CREATE,       /* POST /api/v1/motions */
    MOTIONS_PROXY,        /* POST …/{code}/proxies */
    MOTIONS_OPEN,         /* POST …/{code}/open */
    MOTIONS_CLOSE,        /* POST …/{code}/close */
    MOTIONS_PAPER,        /* POST …/{code}/paper */
    MOTIONS_PAPER_VOTERS, /* POST …/{code}/paper-voters */
    MOTIONS_SLIPS,        /* POST …/{code}/slips */
    MOTIONS_CAST,         /* POST …/{code}/ballots (a voter, no staff) */
} motions_action_t;

/* The action a path segment after the motion's code names (e.g. "paper-voters"); false when none.
 * MOTIONS_CREATE has no segment. */
bool motions_action_of_segment(const char *segment, motions_action_t *out) __attribute__((warn_unused_result));
/* The command's "action" in tally's contract, e.g. "paper_voters". */
const char *motions_action_name(motions_action_t a);
/* The largest body each action takes, in bytes: a larger one is refused (413) before it is parsed. */
size_t motions_body_max(motions_action_t a);

/* Checks a request body (a JSON object) for action a. kind is the motion's kind, needed by
 * MOTIONS_PAPER (its counts differ per kind; NULL elsewhere). True when the body holds only the
 * action's members, the required ones present, each of its type and within its bounds; else
 * false with e (400; code missing_field or invalid_field, field the path of the member, e.g.
 * "ballot.candidates[2].name"). */
bool motions_input_check(motions_action_t a, const char *kind, const json_t *body, input_error_t *e)
    __attribute__((warn_unused_result));

/* closes_at, when body holds it, rewritten as UTC ("2026-12-20T10:00:00Z") so that tally gets one
 * spelling of the instant; call after motions_input_check. */
void motions_input_normalise_time(json_t *body);

#define MOTIONS_CREDENTIAL_LEN 16 /* CHAIN.md: 16 characters of Crockford base32 */
#define MOTIONS_TRACKER_LEN 10

/* A credential as typed ("7kq2-m9xd-4trv-pa3h"): hyphens and spaces dropped, upper case; true
 * when that leaves exactly 16 characters of the alphabet 0-9A-HJKMNP-TV-Z, written to out. Its
 * SHA-256 (secret_hash_hex of out) is what tally.roll keeps. */
bool motions_credential_normalise(const char *typed, char out[MOTIONS_CREDENTIAL_LEN + 1]) __attribute__((warn_unused_result));
/* A tracker as typed: upper case; true when 10 characters of the alphabet, written to out. */
bool motions_tracker_normalise(const char *typed, char out[MOTIONS_TRACKER_LEN + 1]) __attribute__((warn_unused_result));
/* A tracker as a number (50 bits: 5 a character) and back, for the trackers list's cursor. */
long long motions_tracker_number(const char tracker[MOTIONS_TRACKER_LEN + 1]);
void motions_tracker_text(long long number, char out[MOTIONS_TRACKER_LEN + 1]);
/* A motion code (M2026-000123) as a number (2026000123) and back, for the list's cursor; -1 when
 * code is not one. */
long long motions_code_number(const char *code);
void motions_code_text(long long number, char out[16]);

#endif
