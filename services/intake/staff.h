/* staff: who a request comes from. Staff authenticate as themselves with a bearer token an
 * operator issued (gridgovctl token STAFF_ID); only its SHA-256 is stored (registry.staff_token).
 * Tokens expire (registry.staff_token.expires_at, from gridgovctl's staff_token_ttl_h) and an
 * operator revokes them (gridgovctl revoke-token); both take effect on the next request.
 * Their role and unit decide what they may see: a ticket is in scope when the unit holding it
 * now is the staff member's unit or one below it (the holder's chain up to the county), wherever
 * it was first placed; the county operations account (role operator) sees everything. The router
 * applies the same rule to what they may do (lifecycle.c). */
#ifndef INTAKE_STAFF_H
#define INTAKE_STAFF_H

#include <stdbool.h>
#include <stdint.h>

#include "db.h"
#include "http.h"

typedef struct {
    int64_t id;
    int64_t unit_id;
    char role[32];
    char name[128];
    char unit_code[64];
} staff_t;

typedef enum { AUTH_OK, AUTH_MISSING, AUTH_INVALID, AUTH_UNAVAILABLE } auth_t;

auth_t staff_authenticate(db_t *db, const http_req_t *req, staff_t *out);

/* SQL condition on router.ticket_assignment alias t for "in this staff member's scope", with the staff's
 * unit id as parameter $N and the role as $N+1 (both text). */
#define STAFF_SCOPE_SQL(unit, role) \
    "(" role " = 'operator' OR t.unit_id IN (SELECT registry.unit_area(" unit "::bigint)))"

#endif
