#include "motions_access.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "motions_input.h"
#include "render.h"
#include "secret.h"
#include "stmt.h"

static void unavailable(http_resp_t *resp)
{
    render_api_error(resp, 503, "unavailable", NULL, "the database is unavailable; try again");
}

static void unauthorized(http_resp_t *resp, bool staff_only, const char *why)
{
    char msg[300];
    snprintf(msg, sizeof msg, "%s; %s", why,
             staff_only ? "staff sign in with Authorization: Bearer <token>"
                        : "staff sign in with Authorization: Bearer <token>, voters with Authorization: Voter <credential>");
    render_api_error(resp, 401, "unauthorized", NULL, msg);
}

/* The voter's group from their credential (tally.voter_group): 1 found, 0 not, -1 unavailable. */
static int voter_group(db_t *db, const char *typed, long long *group_id)
{
    char cred[MOTIONS_CREDENTIAL_LEN + 1], hex[SECRET_HEX_LEN], err[256];
    if (strlen(typed) > 64 || !motions_credential_normalise(typed, cred))
        return 0;
    secret_hash_hex(cred, hex);
    const char *p[] = {hex};
    PGresult *r = stmt_read(db, STMT_VOTER_GROUP, "SELECT group_id FROM tally.voter_group WHERE cred_sha256 = decode($1, 'hex')",
                            1, p, err, sizeof err);
    if (!r)
        return -1;
    int found = PQntuples(r) == 1;
    if (found)
        *group_id = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return found;
}

bool motions_caller(const intake_t *app, const http_req_t *req, http_resp_t *resp, bool staff_only, db_t **db,
                   motions_caller_t *out)
{
    char err[256];
    memset(out, 0, sizeof *out);
    if (!(*db = intake_db(app, err, sizeof err))) {
        unavailable(resp);
        return false;
    }
    const char *a = http_header(req, "Authorization");
    if (a && !strncasecmp(a, "Voter ", 6)) {
        if (staff_only) {
            unauthorized(resp, true, "this is for staff only");
            return false;
        }
        int found = voter_group(*db, a + 6, &out->group_id);
        if (found < 0)
            unavailable(resp);
        else if (!found)
            unauthorized(resp, false, "this voting credential is unknown or was replaced");
        out->kind = MOTIONS_VOTER;
        return found == 1;
    }
    out->kind = MOTIONS_STAFF;
    switch (staff_authenticate(*db, req, &out->staff)) {
    case AUTH_OK: return true;
    case AUTH_MISSING: unauthorized(resp, staff_only, "sign in first"); break;
    case AUTH_INVALID: unauthorized(resp, staff_only, "this token is unknown, revoked or expired"); break;
    case AUTH_UNAVAILABLE: unavailable(resp); break;
    }
    return false;
}

static void out_of_scope(http_resp_t *resp, const motions_caller_t *who, bool manage)
{
    if (who->kind == MOTIONS_STAFF && manage && !strcmp(who->staff.role, "grid_worker"))
        render_api_error(resp, 403, "out_of_scope", NULL, "a grid worker reads motions; their group's officials manage them");
    else if (who->kind == MOTIONS_VOTER)
        render_api_error(resp, 403, "out_of_scope", NULL, "this credential reads its own group's motions only");
    else
        render_api_error(resp, 403, "out_of_scope", NULL, "this motion's group is outside your area");
}

bool motions_reach(db_t *db, const motions_caller_t *who, const char *code, bool manage, motions_ref_t *out, http_resp_t *resp)
{
    if (motions_code_number(code) < 0) {
        render_api_error(resp, 404, "unknown_motion", NULL, "no motion with this code");
        return false;
    }
    char unit[24], err[256];
    snprintf(unit, sizeof unit, "%lld", (long long)who->staff.unit_id);
    const char *p[] = {code, who->kind == MOTIONS_STAFF ? who->staff.role : "", unit};
    PGresult *r = stmt_read(db, STMT_MOTION_REACH,
                            "SELECT m.group_id, m.state, m.kind,"
                            " $2 = 'operator' OR m.group_id IN (SELECT registry.unit_area($3::bigint))"
                            " FROM tally.motion_public m WHERE m.code = $1",
                            3, p, err, sizeof err);
    if (!r) {
        unavailable(resp);
        return false;
    }
    bool found = PQntuples(r) == 1;
    if (found) {
        out->group_id = atoll(PQgetvalue(r, 0, 0));
        snprintf(out->state, sizeof out->state, "%s", PQgetvalue(r, 0, 1));
        snprintf(out->kind, sizeof out->kind, "%s", PQgetvalue(r, 0, 2));
    }
    bool in_area = found && PQgetvalue(r, 0, 3)[0] == 't';
    PQclear(r);
    bool ok;
    if (who->kind == MOTIONS_VOTER) {
        /* A draft is not published: to a voter it does not exist yet. */
        found = found && strcmp(out->state, "draft") != 0;
        ok = found && !manage && out->group_id == who->group_id;
    } else {
        ok = in_area && (!manage || strcmp(who->staff.role, "grid_worker") != 0);
    }
    if (!found)
        render_api_error(resp, 404, "unknown_motion", NULL, "no motion with this code");
    else if (!ok)
        out_of_scope(resp, who, manage);
    return found && ok;
}

bool motions_group_reach(db_t *db, const staff_t *who, const char *group_code, http_resp_t *resp)
{
    char unit[24], err[256];
    snprintf(unit, sizeof unit, "%lld", (long long)who->unit_id);
    const char *p[] = {group_code, who->role, unit};
    PGresult *r = stmt_read(db, STMT_MOTION_GROUP,
                            "SELECT u.level = 'group',"
                            " $2 = 'operator' OR u.id IN (SELECT registry.unit_area($3::bigint))"
                            " FROM registry.unit u WHERE u.code = $1",
                            3, p, err, sizeof err);
    if (!r) {
        unavailable(resp);
        return false;
    }
    bool group = PQntuples(r) == 1 && PQgetvalue(r, 0, 0)[0] == 't';
    bool in_area = group && PQgetvalue(r, 0, 1)[0] == 't';
    PQclear(r);
    motions_caller_t c = {.kind = MOTIONS_STAFF, .staff = *who};
    if (!group)
        render_api_error(resp, 400, "invalid_field", "group", "no villager group (村民小组) has this unit code");
    else if (!in_area || !strcmp(who->role, "grid_worker"))
        out_of_scope(resp, &c, true);
    return in_area && strcmp(who->role, "grid_worker") != 0;
}
