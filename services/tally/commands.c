#include "commands.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "db_tx.h"
#include "handlers.h"
#include "log.h"
#include "uuid.h"

typedef enum { T_STR, T_ID, T_COUNT, T_LIST, T_OBJ } mtype_t;

typedef struct {
    const char *name;
    mtype_t type;
    bool required;
} member_t;

/* Each action's members beside id and action, as proto/command.tally.schema.json draws them. The
 * values are the handlers' to judge (a group code tally does not know, a ballot of the wrong
 * shape: 400, stored); a member missing, unknown or of the wrong type makes the frame no command
 * of ours (400 bad_command, stored nowhere). */
#define STAFF {"staff_id", T_ID, true}
#define MOTION {"motion", T_STR, true}
static const member_t *const SHAPES[MA__COUNT] = {
    [MA_CREATE] = (const member_t[]){STAFF, {"group", T_STR, true}, {"kind", T_STR, true}, {"title", T_STR, true},
                                     {"body", T_STR, false}, {"electorate", T_STR, true}, {"rule_set", T_STR, true},
                                     {"ballot", T_OBJ, false}, {"delivery", T_STR, false}, {"closes_at", T_STR, false},
                                     {"runoff_of", T_STR, false}, {NULL, 0, 0}},
    [MA_PROXY] = (const member_t[]){STAFF, MOTION, {"principal", T_ID, true}, {"holder", T_ID, true}, {NULL, 0, 0}},
    [MA_OPEN] = (const member_t[]){STAFF, MOTION, {"closes_at", T_STR, false}, {NULL, 0, 0}},
    [MA_CAST] = (const member_t[]){MOTION, {"credential", T_STR, true}, {"marks", T_LIST, true},
                                   {"write_ins", T_LIST, false}, {NULL, 0, 0}},
    [MA_PAPER_VOTERS] = (const member_t[]){STAFF, MOTION, {"voters", T_LIST, true}, {NULL, 0, 0}},
    [MA_PAPER] = (const member_t[]){STAFF, MOTION, {"box", T_STR, true}, {"tellers", T_LIST, true},
                                    {"ballots", T_COUNT, true}, {"invalid", T_COUNT, true}, {"counts", T_OBJ, true},
                                    {NULL, 0, 0}},
    [MA_CLOSE] = (const member_t[]){STAFF, MOTION, {NULL, 0, 0}},
    [MA_SLIPS] = (const member_t[]){STAFF, MOTION, {"voters", T_LIST, false}, {NULL, 0, 0}},
};

static bool type_ok(const json_t *v, mtype_t t)
{
    switch (t) {
    case T_STR:
        return json_is_string(v);
    case T_ID:
        return json_is_integer(v) && json_integer_value(v) >= 1;
    case T_COUNT:
        return json_is_integer(v) && json_integer_value(v) >= 0;
    case T_LIST:
        return json_is_array(v);
    case T_OBJ:
        return json_is_object(v);
    }
    return false;
}

static bool shape_ok(const json_t *cmd, motion_action_t a)
{
    const member_t *m = SHAPES[a];
    if (!m)
        return false;
    const char *key;
    json_t *v;
    json_object_foreach ((json_t *)cmd, key, v) {
        if (!strcmp(key, "id") || !strcmp(key, "action"))
            continue;
        const member_t *found = NULL;
        for (const member_t *x = m; x->name && !found; x++)
            if (!strcmp(x->name, key))
                found = x;
        if (!found || !type_ok(v, found->type))
            return false;
    }
    for (const member_t *x = m; x->name; x++)
        if (x->required && !json_object_get(cmd, x->name))
            return false;
    return true;
}

char *command_reply(const char *id, int status, json_t *body)
{
    json_t *j = json_pack("{s:s?,s:i,s:o}", "id", id, "status", status, "body", body ? body : json_object());
    char *s = json_dumps(j, JSON_COMPACT);
    json_decref(j);
    if (!s)
        log_oom();
    return s;
}

answer_t tally_error(int status, const char *code, const char *message, const char *state)
{
    json_t *e = json_pack("{s:s,s:s}", "code", code, "message", message);
    if (state)
        json_object_set_new(e, "state", json_string(state));
    return (answer_t){.status = status, .body = json_pack("{s:o}", "error", e)};
}

answer_t unavailable(void)
{
    return tally_error(503, "unavailable", "数据库暂不可用，未做任何更改，请重试 (the database is unavailable; nothing was changed, try again)",
                       NULL);
}

void tally_ts(int64_t us, char out[32])
{
    snprintf(out, 32, "%lld.%06lld", (long long)(us / 1000000), (long long)(us % 1000000));
}

char *command_parse(const char *payload, size_t len, command_t *out)
{
    memset(out, 0, sizeof *out);
    json_error_t je;
    json_t *cmd = json_loadb(payload, len, JSON_REJECT_DUPLICATES, &je);
    const char *id = json_is_object(cmd) ? json_string_value(json_object_get(cmd, "id")) : NULL;
    if (!id || !uuid_valid(id)) {
        json_decref(cmd);
        return command_reply(NULL, 400, tally_error(400, "bad_command", "a command is a JSON object with an id (uuid) and an action", NULL).body);
    }
    for (int i = 0; i < 36; i++)
        out->id[i] = (char)(id[i] >= 'A' && id[i] <= 'F' ? id[i] - 'A' + 'a' : id[i]);
    const char *action = json_string_value(json_object_get(cmd, "action"));
    if (!action) {
        json_decref(cmd);
        return command_reply(out->id, 400, tally_error(400, "bad_command", "a command needs an action", NULL).body);
    }
    if (!motion_action_parse(action, &out->action)) {
        json_decref(cmd);
        return command_reply(out->id, 404, tally_error(404, "unknown_action", "no such action", NULL).body);
    }
    if (!shape_ok(cmd, out->action)) {
        json_decref(cmd);
        return command_reply(out->id, 400,
                             tally_error(400, "bad_command",
                                         "not a command of proto/command.tally.schema.json: a member missing, unknown"
                                         " or of the wrong type for this action", NULL).body);
    }
    out->cmd = cmd;
    return NULL;
}

static answer_t dispatch(request_t *rq, motion_action_t a)
{
    switch (a) {
    case MA_CREATE:
        return create_handle(rq);
    case MA_PROXY:
        return proxy_handle(rq);
    case MA_OPEN:
        return open_handle(rq);
    case MA_PAPER_VOTERS:
        return paper_voters_handle(rq);
    case MA_PAPER:
        return paper_handle(rq);
    case MA_SLIPS:
        return slips_handle(rq);
    case MA_CLOSE:
        return close_handle(rq);
    default:
        return tally_error(404, "unknown_action", "no such action", NULL);
    }
}

char *commands_handle(tally_t *t, const command_t *cmd, int64_t now_us, bool *rang)
{
    char err[512];
    const char *idc = cmd->id;
    PGconn *c = db_conn(t->db, err, sizeof err);
    if (!c || !db_begin(c, err, sizeof err))
        goto unavailable;
    /* A retry of a command already answered gets the stored answer; the lock makes a concurrent
     * retry wait for the first to commit. slips alone is done again (its answer holds
     * credentials, which are never stored). */
    const char *pid[] = {idc};
    PGresult *prev = db_pq_exec(c,
                                "SELECT pg_advisory_xact_lock(hashtext($1)),"
                                " (SELECT reply::text FROM tally.command WHERE id = $1::uuid),"
                                " (SELECT action FROM tally.command WHERE id = $1::uuid)",
                                1, pid, err, sizeof err, NULL);
    if (!prev)
        goto unavailable;
    bool stored = !PQgetisnull(prev, 0, 1);
    if (stored && strcmp(PQgetvalue(prev, 0, 2), "slips") != 0) {
        char *out = strdup(PQgetvalue(prev, 0, 1));
        PQclear(prev);
        db_rollback(c);
        if (!out)
            log_oom();
        return out;
    }
    PQclear(prev);

    request_t rq = {.t = t, .c = c, .cmd = cmd->cmd, .id = idc, .now_us = now_us, .err = err, .errsz = sizeof err,
                    .staff_id = json_integer_value(json_object_get(cmd->cmd, "staff_id"))};
    err[0] = '\0';
    /* An answer other than 2xx changes nothing, whatever the handler wrote before it knew: its
     * writes are rolled back to here, and only the command with its answer is kept. */
    PGresult *sp = db_pq_exec(c, "SAVEPOINT handler", 0, NULL, err, sizeof err, NULL);
    if (!sp)
        goto unavailable;
    PQclear(sp);
    answer_t a = dispatch(&rq, cmd->action);
    if (a.status == TALLY_UNAVAILABLE) {
        json_decref(a.body);
        json_decref(a.stored);
        goto unavailable;
    }
    if (a.status >= 300) {
        sp = db_pq_exec(c, "ROLLBACK TO SAVEPOINT handler", 0, NULL, err, sizeof err, NULL);
        if (!sp) {
            json_decref(a.body);
            json_decref(a.stored);
            goto unavailable;
        }
        PQclear(sp);
    }
    if (!stored) {
        /* the command beside its answer: what the contract check (tests/proto_check.py) validates */
        json_t *keep = json_pack("{s:s,s:i,s:O}", "id", idc, "status", a.status, "body", a.stored ? a.stored : a.body);
        char *reply = json_dumps(keep, JSON_COMPACT), *request = json_dumps(cmd->cmd, JSON_COMPACT);
        json_decref(keep);
        if (!reply || !request)
            log_oom();
        char st[8];
        snprintf(st, sizeof st, "%d", a.status);
        const char *ps[] = {idc, motion_action_name(cmd->action), st, request, reply};
        PGresult *s = db_pq_exec(c,
                                 "INSERT INTO tally.command (id, action, status, request, reply)"
                                 " VALUES ($1::uuid, $2, $3::int, $4::jsonb, $5::jsonb)",
                                 5, ps, err, sizeof err, NULL);
        free(reply);
        free(request);
        if (!s) {
            json_decref(a.body);
            json_decref(a.stored);
            goto unavailable;
        }
        PQclear(s);
    }
    json_decref(a.stored);
    /* Durability: the answer leaves only after COMMIT (a 2xx means it is on disk). */
    if (!db_commit(c, err, sizeof err)) {
        json_decref(a.body);
        goto unavailable;
    }
    if (a.status < 300)
        *rang = true;
    return command_reply(idc, a.status, a.body);
unavailable:
    log_warn("command %s (%s): %s", idc, motion_action_name(cmd->action), err);
    if (c)
        db_rollback(c);
    return command_reply(idc, 503, unavailable().body);
}
