/* What staff and residents do to a ticket after it is filed, through the router:
 *   POST /api/v1/tickets/{code}/actions/{action}   staff (Bearer token); JSON {note, hours, unit}
 *        action: any name the router's lifecycle table gives staff (README: accept, start, …);
 *                intake keeps no list of them, and the router answers 404 unknown_action for
 *                a name it does not take from staff
 *   POST /api/v1/tickets/{code}/rating             resident via an API client; JSON {rating, rating_code}
 *   GET  /api/v1/tickets/{code}/history            staff; who holds it now (state, unit, assignee) and the
 *                                                  transitions (who, when, from, to, note)
 *   GET  /api/v1/staff/tickets?state=&page_size=&cursor=   staff; the tickets in their scope, newest
 *        first, with who holds each and the cursor of the next page as next
 *   GET  /api/v1/staff/tickets/{code}              staff; one ticket in their scope, whole: what the
 *                                                  public reads leaves out of a private category
 *                                                  (intake.ticket_view), the household code and
 *                                                  the reporter's contact details
 * Times are the county's local time, +08:00 (timefmt.h).
 * Intake validates and authenticates, then sends the router a command (request/reply, retried
 * under the same id; an Idempotency-Key header fixes that id) and answers with the router's
 * status: 409 with the current state for a transition that is not allowed, 403 outside the
 * actor's unit or role. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "catalog.h"
#include "cmdclient.h"
#include "db_tx.h"
#include "form.h"
#include "gclock.h"
#include "intake.h"
#include "log.h"
#include "paging.h"
#include "rating_code.h"
#include "rating_guard.h"
#include "render.h"
#include "staff.h"
#include "timefmt.h"
#include "uuid.h"

/* The longest action name forwarded: what is longer, or not [a-z_], cannot be one. */
#define ACTION_MAX 32

/* The command id: from the Idempotency-Key (so a client's retry is the same command), else new. */
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

static json_t *json_body(const http_req_t *req, http_resp_t *resp)
{
    const char *ct = http_header(req, "Content-Type");
    if (req->body_len == 0)
        return json_object();
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

/* Sends the command and answers with the router's status and body. */
static void send_command(const intake_t *app, json_t *cmd, http_resp_t *resp)
{
    char err[256];
    cmdclient_t *c = intake_router(app, err, sizeof err);
    json_t *rep = c ? cmdclient_call(c, cmd, 3000, 3, err, sizeof err) : NULL;
    if (!rep) {
        log_warn("router command: %s", err);
        render_api_error(resp, 503, "router_unavailable", NULL, "the router did not answer; try again with the same Idempotency-Key");
        return;
    }
    render_json(resp, (int)json_integer_value(json_object_get(rep, "status")), json_object_get(rep, "body"));
    json_decref(rep);
}

static bool in_list(const char *s, const char *const *l)
{
    for (; *l; l++)
        if (!strcmp(s, *l))
            return true;
    return false;
}

/* Whether s could name an action: a short [a-z_]+ token. Which names are actions is the
 * router's to say (its lifecycle table). */
static bool action_token(const char *s)
{
    size_t n = strlen(s);
    return n > 0 && n <= ACTION_MAX && strspn(s, "abcdefghijklmnopqrstuvwxyz_") == n;
}

static bool authenticate(const intake_t *app, const http_req_t *req, http_resp_t *resp, db_t **db, staff_t *who)
{
    char err[256];
    *db = intake_db(app, err, sizeof err);
    if (!*db) {
        render_api_error(resp, 503, "unavailable", NULL, "the database is unavailable; try again");
        return false;
    }
    switch (staff_authenticate(*db, req, who)) {
    case AUTH_OK: return true;
    case AUTH_MISSING: render_api_error(resp, 401, "unauthorized", NULL, "staff sign in with Authorization: Bearer <token>"); break;
    case AUTH_INVALID: render_api_error(resp, 401, "unauthorized", NULL, "this token is unknown, revoked or expired"); break;
    case AUTH_UNAVAILABLE: render_api_error(resp, 503, "unavailable", NULL, "the database is unavailable; try again"); break;
    }
    return false;
}

/* 404 when the ticket does not exist, 403 when it is outside the staff member's scope. */
static bool check_scope(db_t *db, const staff_t *who, const char *code, http_resp_t *resp)
{
    char unit[24], err[256];
    snprintf(unit, sizeof unit, "%lld", (long long)who->unit_id);
    const char *p[] = {code, unit, who->role};
    PGresult *r = db_exec(db, "SELECT " STAFF_SCOPE_SQL("$2", "$3") " FROM router.ticket_assignment t WHERE t.code = $1",
                          3, p, err, sizeof err, NULL);
    if (!r) {
        render_api_error(resp, 503, "unavailable", NULL, "the database is unavailable; try again");
        return false;
    }
    bool found = PQntuples(r) == 1, ok = found && PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    if (!found)
        render_api_error(resp, 404, "not_found", NULL, "no routed ticket with this code");
    else if (!ok)
        render_api_error(resp, 403, "forbidden", NULL, "this ticket is outside your area");
    return ok;
}

static void action(const intake_t *app, const http_req_t *req, http_resp_t *resp, const char *code, const char *act)
{
    db_t *db;
    staff_t who;
    if (!authenticate(app, req, resp, &db, &who))
        return;
    if (!action_token(act)) {
        render_api_error(resp, 404, "unknown_action", NULL, "no such action");
        return;
    }
    json_t *body = json_body(req, resp);
    if (!body)
        return;
    static const char *const allowed[] = {"note", "hours", "unit", NULL};
    const char *k;
    json_t *v;
    json_object_foreach(body, k, v)
    {
        bool bad_type = (!strcmp(k, "hours") && !json_is_number(v)) || (strcmp(k, "hours") && !json_is_string(v));
        if (!in_list(k, allowed) || bad_type) {
            render_api_error(resp, 400, "invalid_field", k, "allowed: note (text), hours (number), unit (unit code)");
            json_decref(body);
            return;
        }
    }
    if (!check_scope(db, &who, code, resp)) {
        json_decref(body);
        return;
    }
    char who_s[32], id[UUID_STR_LEN];
    snprintf(who_s, sizeof who_s, "staff:%lld", (long long)who.id);
    command_id(req, who_s, id);
    json_t *cmd = json_pack("{s:s,s:s,s:s,s:I}", "id", id, "action", act, "ticket", code, "staff_id", (json_int_t)who.id);
    json_object_update(cmd, body);
    send_command(app, cmd, resp);
    json_decref(cmd);
    json_decref(body);
}

/* The one answer to a rating that does not prove itself, whatever was wrong: an unknown ticket,
 * one without a rating code (filed without a phone) and a wrong code look the same. */
static void rating_refused(http_resp_t *resp)
{
    render_api_error(resp, 403, "rating_refused", NULL,
                     "no ticket can be rated with this ticket code and rating code: check both");
}

/* A resident's rating: the rating code proves it comes from the reporter (rating_code.h); failed
 * attempts are limited (rating_guard.h). Only then does the router get the command. */
static void rating(const intake_t *app, const http_req_t *req, http_resp_t *resp, const char *code)
{
    char err[256];
    db_t *db = intake_db(app, err, sizeof err);
    if (!db) {
        render_api_error(resp, 503, "unavailable", NULL, "the database is unavailable; try again");
        return;
    }
    const char *key = http_header(req, "X-API-Key");
    long long client = key ? catalog_api_client(db, key) : 0;
    if (client < 0) {
        render_api_error(resp, 503, "unavailable", NULL, "the database is unavailable; try again");
        return;
    }
    if (!client) {
        render_api_error(resp, 401, "unauthorized", NULL, "a valid API key is required (X-API-Key)");
        return;
    }
    json_t *body = json_body(req, resp);
    if (!body)
        return;
    const char *r = json_string_value(json_object_get(body, "rating"));
    const char *typed = json_string_value(json_object_get(body, "rating_code"));
    /* accept the Chinese words residents reply with, too */
    if (r && !strcmp(r, "满意"))
        r = "satisfied";
    else if (r && !strcmp(r, "基本满意"))
        r = "basic";
    else if (r && !strcmp(r, "不满意"))
        r = "unsatisfied";
    static const char *const ratings[] = {"satisfied", "basic", "unsatisfied", NULL};
    if (!r || !in_list(r, ratings) || !typed || json_object_size(body) != 2) {
        render_api_error(resp, 400, "invalid_rating", NULL,
                         "send {\"rating\": satisfied|basic|unsatisfied (满意/基本满意/不满意), \"rating_code\": the "
                         "code the reporter received}");
        json_decref(body);
        return;
    }
    PGconn *c = db_conn(db, err, sizeof err);
    int retry_after = 0;
    int64_t now = gclock_now_us();
    guard_status_t g = GUARD_UNAVAILABLE;
    rc_verdict_t v = RC_UNAVAILABLE;
    if (!c || !db_begin(c, err, sizeof err))
        goto unavailable;
    g = rating_guard_enter(c, &app->rating_guard, code, client, now, &retry_after, err, sizeof err);
    if (g == GUARD_OPEN) {
        v = rating_code_verify(c, code, typed, err, sizeof err);
        if (v == RC_REFUSED && !rating_guard_fail(c, &app->rating_guard, code, client, now, err, sizeof err))
            v = RC_UNAVAILABLE;
    }
    if (g == GUARD_UNAVAILABLE || (g == GUARD_OPEN && v == RC_UNAVAILABLE) || !db_commit(c, err, sizeof err))
        goto unavailable;
    if (g == GUARD_LOCKED) {
        resp->retry_after_s = retry_after;
        render_api_error(resp, 429, "too_many_attempts", NULL, "too many failed ratings; try again later");
    } else if (v == RC_REFUSED) {
        rating_refused(resp);
    } else {
        /* The proof is checked: the router takes the rating from intake on the strength of it. */
        char who_s[64], id[UUID_STR_LEN];
        snprintf(who_s, sizeof who_s, "resident:%s", code);
        command_id(req, who_s, id);
        json_t *cmd = json_pack("{s:s,s:s,s:s,s:s,s:s}", "id", id, "action", "rate", "ticket", code, "rating", r, "proof",
                                "rating_code");
        send_command(app, cmd, resp);
        json_decref(cmd);
    }
    json_decref(body);
    return;
unavailable:
    if (c)
        db_rollback(c);
    log_warn("rating %s: %s", code, err);
    render_api_error(resp, 503, "unavailable", NULL, "the database is unavailable; nothing was changed, try again");
    json_decref(body);
}

/* The staff view of one ticket: who holds it now (state, unit, assignee, as the router answers an
 * action) and every transition, times in the county's zone (timefmt.h). */
static void history(const intake_t *app, const http_req_t *req, http_resp_t *resp, const char *code)
{
    db_t *db;
    staff_t who;
    if (!authenticate(app, req, resp, &db, &who) || !check_scope(db, &who, code, resp))
        return;
    char err[256];
    const char *p[] = {code};
    PGresult *r = db_exec(db,
                          "SELECT json_build_object('code', a.code, 'state', a.state,"
                          " 'unit', CASE WHEN u.id IS NULL THEN NULL"
                          "  ELSE json_build_object('id', u.id, 'code', u.code, 'name', u.name, 'level', u.level) END,"
                          " 'assignee', CASE WHEN s.id IS NULL THEN NULL ELSE json_build_object('id', s.id, 'name', s.name) END,"
                          " 'transitions', (SELECT coalesce(json_agg(json_build_object('action', tr.action,"
                          "  'from', tr.from_state, 'to', tr.to_state, 'at', " TIMEFMT_SQL_LOCAL("tr.at") ","
                          "  'actor', ts.name, 'unit', tu.name, 'note', tr.note) ORDER BY tr.id), '[]')"
                          "  FROM router.ticket_history tr LEFT JOIN registry.staff ts ON ts.id = tr.actor_id"
                          "  LEFT JOIN registry.unit tu ON tu.id = tr.unit_id WHERE tr.code = a.code))::text"
                          " FROM router.ticket_assignment a LEFT JOIN registry.unit u ON u.id = a.unit_id"
                          " LEFT JOIN registry.staff s ON s.id = a.assignee_id WHERE a.code = $1",
                          1, p, err, sizeof err, NULL);
    if (!r || PQntuples(r) != 1) {
        PQclear(r);
        render_api_error(resp, 503, "unavailable", NULL, "the database is unavailable; try again");
        return;
    }
    json_error_t je;
    json_t *j = json_loads(PQgetvalue(r, 0, 0), 0, &je);
    PQclear(r);
    render_json(resp, 200, j);
    json_decref(j);
}

/* The staff queue: newest first by (received_at, ticket id), a page of page_size (500 at most and
 * by default) and the cursor of the next (paging.h), read backwards from router_ticket_received. */
#define QUEUE_MAX_PAGE_SIZE 500

static const char QUEUE_SQL[] =
    "SELECT json_build_object('code', t.code, 'state', t.state, 'service_code', t.service_code, 'unit', u.name,"
    " 'unit_code', u.code,"
    " 'assignee', CASE WHEN s.id IS NULL THEN NULL ELSE json_build_object('id', s.id, 'name', s.name) END,"
    " 'sign_due', " TIMEFMT_SQL_LOCAL("t.sign_due") ", 'resolve_due', " TIMEFMT_SQL_LOCAL("t.resolve_due") ","
    " 'overdue', t.overdue)::text,"
    " (extract(epoch FROM t.received_at) * 1000000)::bigint, t.ticket_id"
    " FROM (SELECT * FROM router.ticket_assignment t WHERE " STAFF_SCOPE_SQL("$1", "$2")
    "  AND ($3::text IS NULL OR t.state = $3)"
    "  AND ($4::timestamptz IS NULL OR (t.received_at, t.ticket_id) < ($4::timestamptz, $5::bigint))"
    "  ORDER BY t.received_at DESC, t.ticket_id DESC LIMIT $6::bigint) t"
    " LEFT JOIN registry.unit u ON u.id = t.unit_id LEFT JOIN registry.staff s ON s.id = t.assignee_id"
    " ORDER BY t.received_at DESC, t.ticket_id DESC";

static void my_tickets(const intake_t *app, const http_req_t *req, http_resp_t *resp)
{
    db_t *db;
    staff_t who;
    if (!authenticate(app, req, resp, &db, &who))
        return;
    char err[256];
    json_t *q = form_parse(req->query, strlen(req->query), err, sizeof err);
    if (!q) {
        render_api_error(resp, 400, "invalid_query", NULL, err);
        return;
    }
    long page_size = QUEUE_MAX_PAGE_SIZE;
    bool has_cursor;
    cursor_t cur;
    input_error_t e;
    if (!paging_keyset(q, QUEUE_MAX_PAGE_SIZE, &page_size, &has_cursor, &cur, &e)) {
        render_api_error(resp, e.status, e.code, e.field, e.message);
        json_decref(q);
        return;
    }
    const char *state = form_arg(q, "state");
    char unit[24], after[TIMEFMT_LEN], after_id[24], limit[24];
    snprintf(unit, sizeof unit, "%lld", (long long)who.unit_id);
    snprintf(limit, sizeof limit, "%ld", page_size + 1);
    if (has_cursor) {
        paging_time_text(cur.at_us, after);
        snprintf(after_id, sizeof after_id, "%lld", cur.id);
    }
    const char *p[] = {unit, who.role, state, has_cursor ? after : NULL, has_cursor ? after_id : NULL, limit};
    PGresult *r = db_exec(db, QUEUE_SQL, 6, p, err, sizeof err, NULL);
    json_decref(q);
    if (!r) {
        render_api_error(resp, 503, "unavailable", NULL, "the database is unavailable; try again");
        return;
    }
    json_t *items = json_array();
    int n = PQntuples(r);
    for (int i = 0; i < n && i < page_size; i++)
        json_array_append_new(items, json_loads(PQgetvalue(r, i, 0), 0, NULL));
    json_t *next = json_null();
    if (n > page_size) {
        char text[CURSOR_LEN];
        cursor_t c = {.at_us = atoll(PQgetvalue(r, (int)page_size - 1, 1)), .id = atoll(PQgetvalue(r, (int)page_size - 1, 2))};
        cursor_encode(&c, text);
        json_decref(next);
        next = json_string(text);
    }
    PQclear(r);
    json_t *j = json_pack("{s:o,s:I,s:o}", "tickets", items, "page_size", (json_int_t)page_size, "next", next);
    render_json(resp, 200, j);
    json_decref(j);
}

/* One ticket as submitted, for the staff who handle it: from intake's own table, since
 * intake.ticket_view is what anyone may read. */
static void staff_ticket(const intake_t *app, const http_req_t *req, http_resp_t *resp, const char *code)
{
    db_t *db;
    staff_t who;
    if (!authenticate(app, req, resp, &db, &who) || !check_scope(db, &who, code, resp))
        return;
    char err[256];
    const char *p[] = {code};
    PGresult *r = db_exec(db,
                          "SELECT json_build_object('code', t.code, 'state', a.state, 'service_code', t.service_code,"
                          " 'service_name', s.name, 'private', s.private, 'channel', t.channel,"
                          " 'description', t.description, 'attributes', t.attributes, 'lat', t.lat, 'long', t.long,"
                          " 'address_string', t.address_string, 'address_id', t.address_id, 'media_url', t.media_url,"
                          " 'reporter', json_build_object('first_name', t.first_name, 'last_name', t.last_name,"
                          "  'phone', t.phone, 'email', t.email, 'account_id', t.account_id),"
                          " 'unit', u.name, 'requested_at', t.requested_at, 'sign_due', a.sign_due,"
                          " 'resolve_due', a.resolve_due, 'overdue', a.overdue)::text"
                          " FROM intake.ticket t JOIN registry.service s ON s.code = t.service_code"
                          " JOIN router.ticket_assignment a ON a.ticket_id = t.id"
                          " LEFT JOIN registry.unit u ON u.id = a.unit_id WHERE t.code = $1",
                          1, p, err, sizeof err, NULL);
    if (!r) {
        render_api_error(resp, 503, "unavailable", NULL, "the database is unavailable; try again");
        return;
    }
    json_error_t je;
    json_t *j = PQntuples(r) == 1 ? json_loads(PQgetvalue(r, 0, 0), 0, &je) : NULL;
    PQclear(r);
    if (j)
        render_json(resp, 200, j);
    else
        render_api_error(resp, 404, "not_found", NULL, "no routed ticket with this code");
    json_decref(j);
}

bool api_staff_handle(const intake_t *app, const http_req_t *req, http_resp_t *resp)
{
    const char *path = req->path;
    bool post = !strcmp(req->method, "POST"), get = !strcmp(req->method, "GET");
    if (!strcmp(path, "/api/v1/staff/tickets")) {
        if (get)
            my_tickets(app, req, resp);
        else
            render_api_error(resp, 405, "method_not_allowed", NULL, "use GET");
        return true;
    }
    const char *mine = "/api/v1/staff/tickets/";
    if (!strncmp(path, mine, strlen(mine))) {
        const char *code = path + strlen(mine);
        if (!get) {
            render_api_error(resp, 405, "method_not_allowed", NULL, "use GET");
            snprintf(resp->allow, sizeof resp->allow, "GET");
        } else if (!*code || strlen(code) > 32 || strspn(code, "0123456789") != strlen(code)) {
            render_api_error(resp, 404, "not_found", NULL, "no such resource");
        } else {
            staff_ticket(app, req, resp, code);
        }
        return true;
    }
    const char *prefix = "/api/v1/tickets/";
    if (strncmp(path, prefix, strlen(prefix)) != 0)
        return false;
    char code[40], rest[64];
    const char *p = path + strlen(prefix), *slash = strchr(p, '/');
    if (!slash || (size_t)(slash - p) >= sizeof code || strlen(slash) >= sizeof rest)
        return false;
    memcpy(code, p, (size_t)(slash - p));
    code[slash - p] = '\0';
    snprintf(rest, sizeof rest, "%s", slash);
    if (!strncmp(rest, "/actions/", 9) && post)
        action(app, req, resp, code, rest + 9);
    else if (!strcmp(rest, "/rating") && post)
        rating(app, req, resp, code);
    else if (!strcmp(rest, "/history") && get)
        history(app, req, resp, code);
    else if (!strncmp(rest, "/actions/", 9) || !strcmp(rest, "/rating") || !strcmp(rest, "/history")) {
        render_api_error(resp, 405, "method_not_allowed", NULL, "wrong method for this resource");
    } else
        return false;
    return true;
}
