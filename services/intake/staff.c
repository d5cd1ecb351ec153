#include "staff.h"

#include "secret.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

auth_t staff_authenticate(db_t *db, const http_req_t *req, staff_t *out)
{
    const char *a = http_header(req, "Authorization");
    if (!a || strncasecmp(a, "Bearer ", 7) != 0 || !a[7])
        return AUTH_MISSING;
    const char *token = a + 7;
    if (strlen(token) > 256)
        return AUTH_INVALID;
    char hex[SECRET_HEX_LEN];
    secret_hash_hex(token, hex);
    char err[256];
    const char *p[] = {hex};
    PGresult *r = db_exec_prepared(db, "staff_by_token",
                          "SELECT s.id, s.unit_id, s.role, s.name, u.code FROM registry.staff_token k"
                          " JOIN registry.staff s ON s.id = k.staff_id JOIN registry.unit u ON u.id = s.unit_id"
                          " WHERE k.token_sha256 = decode($1, 'hex') AND NOT k.revoked AND s.active"
                          " AND (k.expires_at IS NULL OR k.expires_at > now())",
                          1, p, err, sizeof err, NULL);
    if (!r)
        return AUTH_UNAVAILABLE;
    auth_t res = AUTH_INVALID;
    if (PQntuples(r) == 1) {
        out->id = atoll(PQgetvalue(r, 0, 0));
        out->unit_id = atoll(PQgetvalue(r, 0, 1));
        snprintf(out->role, sizeof out->role, "%s", PQgetvalue(r, 0, 2));
        snprintf(out->name, sizeof out->name, "%s", PQgetvalue(r, 0, 3));
        snprintf(out->unit_code, sizeof out->unit_code, "%s", PQgetvalue(r, 0, 4));
        res = AUTH_OK;
    }
    PQclear(r);
    return res;
}
