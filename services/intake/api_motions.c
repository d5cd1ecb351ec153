#include "api_motions.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "cmdclient.h"
#include "log.h"
#include "motions_access.h"
#include "motions_input.h"
#include "motions_reads.h"
#include "render.h"
#include "secret.h"
#include "uuid.h"

/* How long intake waits for tally, per attempt, and how often it sends the same command. */
#define TALLY_TIMEOUT_MS 3000
#define TALLY_TRIES 3

/* The command id: from the Idempotency-Key (so a client's retry is the same command, and tally
 * answers it from what it stored, or, for a ballot, with the same tracker), else new. */
static void command_id(const http_req_t *req, const char *who, char out[UUID_STR_LEN])
{
    const char *k = http_header(req, "Idempotency-Key");
    if (!k) {
        uuid_v4(out);
        return;
    }
    const char *name[] = {who, req->path, k};
    uuid_from_name(name, 3, out);
}

/* The body as a JSON object ({} when empty), within the action's size. NULL when answered:
 * 413 body_too_large, 415, 400 invalid_json. */
static json_t *read_body(const http_req_t *req, http_resp_t *resp, motions_action_t a)
{
    if (req->body_len > motions_body_max(a)) {
        char msg[120];
        snprintf(msg, sizeof msg, "this request takes a body of at most %zu bytes", motions_body_max(a));
        render_api_error(resp, 413, "body_too_large", NULL, msg);
        return NULL;
    }
    if (req->body_len == 0)
        return json_object();
    const char *ct = http_header(req, "Content-Type");
    if (!ct || strncasecmp(ct, "application/json", 16) != 0) {
        render_api_error(resp, 415, "unsupported_media_type", NULL, "send application/json");
        return NULL;
    }
    json_error_t je;
    json_t *b = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!b || !json_is_object(b)) {
        json_decref(b);
        render_api_error(resp, 400, "invalid_json", NULL, "the body must be a JSON object");
        return NULL;
    }
    return b;
}

static bool checked(motions_action_t a, const char *kind, json_t *body, http_resp_t *resp)
{
    input_error_t e = {0};
    if (motions_input_check(a, kind, body, &e)) {
        motions_input_normalise_time(body);
        return true;
    }
    render_api_error(resp, e.status, e.code, e.field, e.message);
    return false;
}

/* Sends the command and answers with tally's status and body. */
static void send_to_tally(const intake_t *app, const json_t *cmd, http_resp_t *resp)
{
    char err[256];
    cmdclient_t *c = intake_tally(app, err, sizeof err);
    json_t *rep = c ? cmdclient_call(c, cmd, TALLY_TIMEOUT_MS, TALLY_TRIES, err, sizeof err) : NULL;
    if (!rep) {
        log_warn("tally command %s: %s", json_string_value(json_object_get(cmd, "action")), err);
        resp->retry_after_s = 1;
        render_api_error(resp, 503, "tally_unavailable", NULL,
                         "the vote counter (tally) did not answer; nothing is known to have changed: try again with "
                         "the same Idempotency-Key");
        return;
    }
    json_t *status = json_object_get(rep, "status"), *body = json_object_get(rep, "body");
    if (!json_is_integer(status) || json_integer_value(status) < 200 || json_integer_value(status) > 599 ||
        !json_is_object(body)) {
        log_warn("tally answered a %s without a status and body", json_string_value(json_object_get(cmd, "action")));
        render_api_error(resp, 502, "bad_gateway", NULL, "tally's answer could not be read");
    } else {
        render_json(resp, (int)json_integer_value(status), body);
    }
    json_decref(rep);
}

/* A staff member's command: create (code NULL) or an action on the motion. */
static void staff_command(const intake_t *app, const http_req_t *req, http_resp_t *resp, const char *code, motions_action_t a)
{
    db_t *db;
    motions_caller_t who;
    if (!motions_caller(app, req, resp, true, &db, &who))
        return;
    json_t *body = read_body(req, resp, a);
    if (!body)
        return;
    motions_ref_t m;
    bool ok;
    if (a == MOTIONS_CREATE)
        ok = checked(a, NULL, body, resp) &&
             motions_group_reach(db, &who.staff, json_string_value(json_object_get(body, "group")), resp);
    else
        ok = motions_reach(db, &who, code, true, &m, resp) && checked(a, m.kind, body, resp);
    if (ok) {
        char who_s[32], id[UUID_STR_LEN];
        snprintf(who_s, sizeof who_s, "staff:%lld", (long long)who.staff.id);
        command_id(req, who_s, id);
        json_t *cmd = json_pack("{s:s,s:s,s:I}", "id", id, "action", motions_action_name(a), "staff_id",
                                (json_int_t)who.staff.id);
        if (code)
            json_object_set_new(cmd, "motion", json_string(code));
        json_object_update(cmd, body);
        send_to_tally(app, cmd, resp);
        json_decref(cmd);
    }
    json_decref(body);
}

/* A voter's ballot. No token: the credential in the body is the proof, and tally checks it
 * against the roll in the transaction that stores the ballot (403 bad_credential, 409
 * already_voted). Intake looks nothing up, so a cast costs it no database work. */
static void cast(const intake_t *app, const http_req_t *req, http_resp_t *resp, const char *code)
{
    json_t *body = read_body(req, resp, MOTIONS_CAST);
    if (!body)
        return;
    char cred[MOTIONS_CREDENTIAL_LEN + 1];
    if (!checked(MOTIONS_CAST, NULL, body, resp)) {
        /* answered */
    } else if (!motions_credential_normalise(json_string_value(json_object_get(body, "credential")), cred)) {
        render_api_error(resp, 403, "bad_credential", "credential",
                         "this is not a voting credential: 16 letters and digits, e.g. 7KQ2-M9XD-4TRV-PA3H");
    } else if (motions_code_number(code) < 0) {
        render_api_error(resp, 404, "unknown_motion", NULL, "no motion with this code");
    } else {
        char hex[SECRET_HEX_LEN], who_s[80], id[UUID_STR_LEN];
        secret_hash_hex(cred, hex);
        snprintf(who_s, sizeof who_s, "voter:%s", hex);
        command_id(req, who_s, id);
        json_t *cmd = json_pack("{s:s,s:s,s:s,s:s,s:O}", "id", id, "action", "cast", "motion", code, "credential", cred,
                                "marks", json_object_get(body, "marks"));
        if (json_object_get(body, "write_ins"))
            json_object_set(cmd, "write_ins", json_object_get(body, "write_ins"));
        send_to_tally(app, cmd, resp);
        json_decref(cmd);
    }
    json_decref(body);
}

static void wrong_method(http_resp_t *resp, const char *allow)
{
    render_api_error(resp, 405, "method_not_allowed", NULL, allow[0] == 'G' ? "use GET" : "use POST");
    snprintf(resp->allow, sizeof resp->allow, "%s", allow);
}

bool api_motions_handle(const intake_t *app, const http_req_t *req, http_resp_t *resp)
{
    static const char prefix[] = "/api/v1/motions";
    const char *path = req->path;
    if (strncmp(path, prefix, sizeof prefix - 1) != 0 || (path[sizeof prefix - 1] && path[sizeof prefix - 1] != '/'))
        return false;
    bool get = !strcmp(req->method, "GET"), post = !strcmp(req->method, "POST");
    const char *rest = path + sizeof prefix - 1;
    if (!*rest || !strcmp(rest, "/")) {
        if (get)
            motions_list(app, req, resp);
        else if (post)
            staff_command(app, req, resp, NULL, MOTIONS_CREATE);
        else
            wrong_method(resp, "GET, POST");
        return true;
    }
    /* /{code}[/{what}] */
    const char *c = rest + 1, *slash = strchr(c, '/');
    size_t n = slash ? (size_t)(slash - c) : strlen(c);
    char code[16];
    if (n == 0 || n >= sizeof code) {
        render_api_error(resp, 404, "unknown_motion", NULL, "no motion with this code");
        return true;
    }
    memcpy(code, c, n);
    code[n] = '\0';
    const char *what = slash ? slash + 1 : "";
    motions_action_t a;
    if (!strcmp(what, "ballots")) {
        if (post)
            cast(app, req, resp, code);
        else
            wrong_method(resp, "POST");
    } else if (motions_action_of_segment(what, &a)) {
        if (post)
            staff_command(app, req, resp, code, a);
        else
            wrong_method(resp, "POST");
    } else if (!*what || !strcmp(what, "roll") || !strcmp(what, "result") || !strcmp(what, "trackers") ||
               (!strncmp(what, "trackers/", 9) && what[9] && !strchr(what + 9, '/'))) {
        if (get)
            motions_read(app, req, resp, code, what);
        else
            wrong_method(resp, "GET");
    } else {
        render_api_error(resp, 404, "not_found", NULL, "no such resource");
    }
    return true;
}
