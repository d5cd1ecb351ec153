/* staff: who a request comes from. Staff authenticate as themselves with a bearer token an
 * operator issued (gridgovctl token STAFF_ID); only its SHA-256 is stored (registry.staff_token).
 * Their role and unit decide what they may see: a ticket is in scope when the staff member's
 * unit is the one holding it or one of the units it belongs to (group, village, township,
 * county); the county operations account (role operator) sees everything. */
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
#define STAFF_SCOPE_SQL(unit, role)                                                                   \
    "(" role " = 'operator' OR " unit "::bigint IN (t.unit_id, t.group_id, t.village_id, t.township_id, " \
    "t.county_id))"

#endif
