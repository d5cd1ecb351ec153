/* motions_access: who asks the motions API and which motions they reach.
 * - Staff sign in as for tickets (Authorization: Bearer <token>, staff.h). They read the motions
 *   of the villager groups in their unit's area (registry.unit_area: their unit and every unit
 *   below it); they manage them (create, proxies, open, paper counts, slips, close) unless they
 *   are a grid worker, who reads only. The county's operator reaches every motion. Tally applies
 *   the same rule to every command (/work/tally-plan.md, "Staff scope"); intake checks it first
 *   so that a request out of scope never becomes a command.
 * - A voter signs in with the credential they vote with (Authorization: Voter <credential>,
 *   CHAIN.md), looked up by its SHA-256 in tally.voter_group: it names the group of the motion it
 *   votes in, and the voter reads that group's motions once they are open (a draft is the
 *   officials' work, not yet published). A credential a slip replaced stops working here too.
 * Answers are written to resp when access is refused: 401 unauthorized, 403 out_of_scope,
 * 404 unknown_motion, 503 unavailable. */
#ifndef INTAKE_MOTIONS_ACCESS_H
#define INTAKE_MOTIONS_ACCESS_H

#include <stdbool.h>

#include "db.h"
#include "http.h"
#include "intake.h"
#include "staff.h"

typedef enum { MOTIONS_STAFF, MOTIONS_VOTER } motions_caller_kind_t;

typedef struct {
    motions_caller_kind_t kind;
    staff_t staff;      /* MOTIONS_STAFF */
    long long group_id; /* MOTIONS_VOTER: the group whose motions the credential reads */
} motions_caller_t;

/* Authenticates the request: a staff token, or (unless staff_only) a voter's credential. *db is
 * the request's connection (intake_db). False when answered (401, 503). */
bool motions_caller(const intake_t *app, const http_req_t *req, http_resp_t *resp, bool staff_only, db_t **db,
                   motions_caller_t *out) __attribute__((warn_unused_result));

typedef struct {
    long long group_id;
    char state[8]; /* draft, open, closed */
    char kind[16]; /* resolution, election, evaluation, selection */
} motions_ref_t;

/* The motion by its code, when the caller may read it (manage: and change it; staff only).
 * False when answered: 404 unknown_motion (no such motion, or a draft a voter asks for),
 * 403 out_of_scope, 503. */
bool motions_reach(db_t *db, const motions_caller_t *who, const char *code, bool manage, motions_ref_t *out, http_resp_t *resp)
    __attribute__((warn_unused_result));

/* For a new motion: the villager group by its unit code, when the staff member may manage its
 * motions. False when answered: 400 invalid_field (no villager group of that code), 403, 503. */
bool motions_group_reach(db_t *db, const staff_t *who, const char *group_code, http_resp_t *resp)
    __attribute__((warn_unused_result));

/* SQL condition on a tally.motion_public row aliased m: "this caller reads it", with the staff's
 * role as $R, unit id as $U, and the voter's group id as $G (text parameters; the unused ones NULL). */
#define MOTIONS_READ_SQL(role, unit, group)                                                                              \
    "((" role "::text = 'operator' OR m.group_id IN (SELECT registry.unit_area(" unit "::bigint)))"                   \
    " OR (m.group_id = " group "::bigint AND m.state <> 'draft'))"

#endif
