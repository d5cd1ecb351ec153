/* api_motions: the HTTP API of motions (tally, issue 13), README "Votes (tally)".
 *   POST /api/v1/motions                               staff: create a motion in a villager group
 *   POST /api/v1/motions/{code}/proxies|open|close|paper|paper-voters|slips   staff: manage it
 *   POST /api/v1/motions/{code}/ballots                a voter: {"credential", "marks", "write_ins"}
 *                                                      → 201 {"tracker"}; no staff token
 *   GET  …                                             reads: motions_reads.h
 * Writes are commands to tally (DEALER → ROUTER, retried under the same id; an Idempotency-Key
 * header fixes that id): intake authenticates (motions_access.h), checks the body's shape and size
 * (motions_input.h) and the caller's scope, and only then sends the command; the answer is tally's
 * status and body as tally gave them. 503 tally_unavailable when tally does not answer. */
#ifndef INTAKE_API_MOTIONS_H
#define INTAKE_API_MOTIONS_H

#include <stdbool.h>

#include "http.h"
#include "intake.h"

/* Defined in api_motions.c and declared in intake.h beside the other routes:
 * bool api_motions_handle(const intake_t *app, const http_req_t *req, http_resp_t *resp); */

#endif
