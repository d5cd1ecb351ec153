#include "commands.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "db_tx.h"
#include "lifecycle.h"
#include "log.h"
#include "uuid.h"

static char *reply(const char *id, int status, json_t *body /* stolen */)
{
    json_t *j = json_pack("{s:s?,s:i,s:o}", "id", id, "status", status, "body", body ? body : json_object());
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    return s;
}

static char *error(const char *id, int status, const char *code, const char *message)
{
    return reply(id, status, json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message));
}

/* Looks up the acting staff member: role and unit. */
static bool load_actor(PGconn *c, json_int_t staff_id, actor_t *a, char role[32], char *err, size_t errsz)
{
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)staff_id);
    const char *p[] = {id};
    PGresult *r = db_pq_exec(c, "SELECT role, unit_id FROM registry.staff WHERE id = $1::bigint AND active", 1, p, err,
                             errsz, NULL);
    if (!r)
        return false;
    if (PQntuples(r) == 1) {
        snprintf(role, 32, "%s", PQgetvalue(r, 0, 0));
        *a = (actor_t){.staff_id = staff_id, .role = role, .unit_id = atoll(PQgetvalue(r, 0, 1))};
    }
    PQclear(r);
    return true;
}

/* The command's shape as proto/command.router.schema.json draws it: known members only, and either
 * a staff member's (staff_id, no rating or proof) or a resident's rating (rate, rating and proof
 * as text, no staff_id). A frame of another shape is no command of ours: answered, never stored.
 * Values (a note's length, the proof's name, the rating word) are the lifecycle's to judge. */
static bool shape_ok(json_t *cmd)
{
    static const char *const members[] = {"id", "action", "ticket", "staff_id", "note",
                                          "hours", "unit", "rating", "proof", NULL};
    const char *key;
    json_t *v;
    json_object_foreach (cmd, key, v) {
        bool known = false;
        for (int i = 0; members[i] && !known; i++)
            known = !strcmp(key, members[i]);
        if (!known)
            return false;
    }
    if (json_object_get(cmd, "staff_id"))
        return json_is_integer(json_object_get(cmd, "staff_id")) && !json_object_get(cmd, "rating") &&
               !json_object_get(cmd, "proof");
    return !strcmp(json_string_value(json_object_get(cmd, "action")), "rate") &&
           json_is_string(json_object_get(cmd, "rating")) && json_is_string(json_object_get(cmd, "proof")) &&
           !json_object_get(cmd, "note") && !json_object_get(cmd, "hours") && !json_object_get(cmd, "unit");
}

char *commands_handle(router_t *r, const char *payload, size_t len, int64_t now)
{
    json_error_t je;
    json_t *cmd = json_loadb(payload, len, 0, &je);
    const char *id = cmd ? json_string_value(json_object_get(cmd, "id")) : NULL;
    if (!cmd || !id || !uuid_valid(id)) {
        json_decref(cmd);
        return error(NULL, 400, "bad_command", "a command needs an id (uuid), an action and a ticket");
    }
    char idc[UUID_STR_LEN];
    snprintf(idc, sizeof idc, "%s", id);
    const char *action_name = json_string_value(json_object_get(cmd, "action"));
    const char *code = json_string_value(json_object_get(cmd, "ticket"));
    if (!action_name || !code) {
        json_decref(cmd);
        return error(idc, 400, "bad_command", "a command needs an id (uuid), an action and a ticket");
    }
    if (!shape_ok(cmd)) {
        json_decref(cmd);
        return error(idc, 400, "bad_command",
                     "not a command of proto/command.router.schema.json: staff send staff_id (no rating or proof);"
                     " a resident's rate sends rating and proof; no other members");
    }
    /* The lifecycle table is the list of actions. The router's own (assignment, the clocks) are
     * not commands: asked for by name, they are as unknown as a name the table lacks. */
    action_t a;
    if (!lifecycle_action_parse(action_name, &a) || lifecycle_who(a) == WHO_SYSTEM) {
        json_decref(cmd);
        return error(idc, 404, "unknown_action", "no such action");
    }
    char err[512];
    PGconn *c = db_conn(r->db, err, sizeof err);
    if (!c) {
        json_decref(cmd);
        return error(idc, 503, "unavailable", "the database is unavailable; try again");
    }
    char *out = NULL;
    if (!db_begin(c, err, sizeof err))
        goto unavailable;
    /* A retry of a command already answered gets the stored answer. The lock makes a concurrent
     * retry wait for the first to commit. */
    const char *pid[] = {idc};
    PGresult *prev = db_pq_exec(c, "SELECT pg_advisory_xact_lock(hashtext($1)), (SELECT reply::text FROM router.command WHERE id = $1::uuid)",
                                1, pid, err, sizeof err, NULL);
    if (!prev)
        goto unavailable;
    if (!PQgetisnull(prev, 0, 1)) {
        out = strdup(PQgetvalue(prev, 0, 1));
        PQclear(prev);
        db_rollback(c); /* nothing written: only the lock to release */
        json_decref(cmd);
        return out;
    }
    PQclear(prev);

    actor_t actor = {.role = "resident"};
    char role[32] = "";
    json_int_t staff = json_integer_value(json_object_get(cmd, "staff_id"));
    if (staff > 0) {
        if (!load_actor(c, staff, &actor, role, err, sizeof err))
            goto unavailable;
        if (!role[0]) {
            out = error(idc, 403, "forbidden", "unknown or inactive staff member");
            goto store;
        }
    }
    action_args_t args = {
        .note = json_string_value(json_object_get(cmd, "note")),
        .hours = json_number_value(json_object_get(cmd, "hours")),
        .rating = json_string_value(json_object_get(cmd, "rating")),
        .proof = json_string_value(json_object_get(cmd, "proof")),
    };
    const char *unit = json_string_value(json_object_get(cmd, "unit"));
    if (unit) {
        const char *pu[] = {unit};
        PGresult *u = db_pq_exec(c, "SELECT id FROM registry.unit WHERE code = $1", 1, pu, err, sizeof err, NULL);
        if (!u)
            goto unavailable;
        args.unit_id = PQntuples(u) ? atoll(PQgetvalue(u, 0, 0)) : -1;
        PQclear(u);
        if (args.unit_id < 0) {
            out = error(idc, 400, "unknown_unit", "no unit with this code");
            goto store;
        }
    }
    outcome_t o = lifecycle_apply(r, c, code, a, &actor, &args, now, idc);
    if (o.status == 503) {
        json_decref(o.reply);
        goto unavailable;
    }
    out = reply(idc, o.status, o.reply);
store:;
    /* the command beside its answer: what the contract check (tests/proto_check.py) validates */
    char *request = json_dumps(cmd, JSON_COMPACT);
    if (!request)
        log_oom();
    const char *ps[] = {idc, out, request};
    PGresult *s = db_pq_exec(c,
                             "INSERT INTO router.command (id, status, reply, request)"
                             " VALUES ($1::uuid, ($2::jsonb->>'status')::int, $2::jsonb, $3::jsonb)",
                             3, ps, err, sizeof err, NULL);
    free(request);
    if (!s)
        goto unavailable;
    PQclear(s);
    if (!db_commit(c, err, sizeof err)) {
        log_warn("command %s: %s", idc, err);
        free(out);
        json_decref(cmd);
        return error(idc, 503, "unavailable", "the change could not be committed; try again");
    }
    json_decref(cmd);
    return out;
unavailable:
    log_warn("command %s: %s", idc, err);
    db_rollback(c);
    free(out);
    json_decref(cmd);
    return error(idc, 503, "unavailable", "the database is unavailable; nothing was changed, try again");
}
