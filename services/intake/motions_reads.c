#include "motions_reads.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"
#include "motions_access.h"
#include "motions_input.h"
#include "paging.h"
#include "render.h"
#include "stmt.h"
#include "timefmt.h"

#define LIST_MAX_PAGE_SIZE 100
#define LIST_DEFAULT_PAGE_SIZE 50
#define TRACKERS_MAX_PAGE_SIZE 1000

static void unavailable(http_resp_t *resp)
{
    render_api_error(resp, 503, "unavailable", NULL, "the database is unavailable; try again");
}

/* The caller's scope as the parameters of MOTIONS_READ_SQL: role, unit id, group id (text). */
static void scope_params(const motions_caller_t *who, char unit[24], char group[24], const char **role, const char **unit_p,
                         const char **group_p)
{
    snprintf(unit, 24, "%lld", (long long)who->staff.unit_id);
    snprintf(group, 24, "%lld", who->group_id);
    *role = who->kind == MOTIONS_STAFF ? who->staff.role : NULL;
    *unit_p = who->kind == MOTIONS_STAFF ? unit : NULL;
    *group_p = who->kind == MOTIONS_VOTER ? group : NULL;
}

static const char LIST_SQL[] =
    "SELECT json_build_object('code', m.code, 'group', json_build_object('code', m.group_code, 'name', m.group_name),"
    " 'kind', m.kind, 'title', m.title, 'electorate', m.electorate, 'state', m.state,"
    " 'created_at', " TIMEFMT_SQL_LOCAL("m.created_at") ", 'opened_at', " TIMEFMT_SQL_LOCAL("m.opened_at") ","
    " 'closes_at', " TIMEFMT_SQL_LOCAL("m.closes_at") ", 'closed_at', " TIMEFMT_SQL_LOCAL("m.closed_at") ","
    " 'roll_count', m.roll_count)::text,"
    " (extract(epoch FROM m.created_at) * 1000000)::bigint, m.code"
    " FROM tally.motion_public m WHERE " MOTIONS_READ_SQL("$1", "$2", "$3")
    " AND ($4::text IS NULL OR m.group_code = $4) AND ($5::text IS NULL OR m.state = $5)"
    " AND ($6::timestamptz IS NULL OR (m.created_at, m.code) < ($6::timestamptz, $7::text))"
    " ORDER BY m.created_at DESC, m.code DESC LIMIT $8::bigint";

void motions_list(const intake_t *app, const http_req_t *req, http_resp_t *resp)
{
    db_t *db;
    motions_caller_t who;
    if (!motions_caller(app, req, resp, false, &db, &who))
        return;
    char err[256];
    json_t *q = form_parse(req->query, strlen(req->query), err, sizeof err);
    if (!q) {
        render_api_error(resp, 400, "invalid_query", NULL, err);
        return;
    }
    long page_size = LIST_DEFAULT_PAGE_SIZE;
    bool has_cursor;
    cursor_t cur;
    input_error_t e;
    const char *state = form_arg(q, "state"), *group = form_arg(q, "group");
    if (state && !*state)
        state = NULL;
    if (group && !*group)
        group = NULL;
    if (!paging_keyset(q, LIST_MAX_PAGE_SIZE, &page_size, &has_cursor, &cur, &e)) {
        render_api_error(resp, e.status, e.code, e.field, e.message);
    } else if (state && strcmp(state, "draft") && strcmp(state, "open") && strcmp(state, "closed")) {
        render_api_error(resp, 400, "invalid_field", "state", "state must be draft, open or closed");
    } else if (group && strlen(group) > 64) {
        render_api_error(resp, 400, "invalid_field", "group", "group must be a villager group's unit code");
    } else {
        char unit[24], grp[24], after[TIMEFMT_LEN], after_code[16], limit[24];
        const char *role, *unit_p, *group_p;
        scope_params(&who, unit, grp, &role, &unit_p, &group_p);
        snprintf(limit, sizeof limit, "%ld", page_size + 1);
        if (has_cursor) {
            paging_time_text(cur.at_us, after);
            motions_code_text(cur.id, after_code);
        }
        const char *p[] = {role, unit_p, group_p, group, state, has_cursor ? after : NULL, has_cursor ? after_code : NULL, limit};
        PGresult *r = stmt_read(db, NULL, LIST_SQL, 8, p, err, sizeof err);
        if (!r) {
            unavailable(resp);
        } else {
            json_t *items = json_array(), *next = json_null();
            int n = PQntuples(r);
            for (int i = 0; i < n && i < page_size; i++)
                json_array_append_new(items, json_loads(PQgetvalue(r, i, 0), 0, NULL));
            if (n > page_size) {
                char text[CURSOR_LEN];
                int last = (int)page_size - 1;
                cursor_t c = {.at_us = atoll(PQgetvalue(r, last, 1)), .id = motions_code_number(PQgetvalue(r, last, 2))};
                cursor_encode(&c, text);
                json_decref(next);
                next = json_string(text);
            }
            PQclear(r);
            json_t *j = json_pack("{s:o,s:I,s:o}", "motions", items, "page_size", (json_int_t)page_size, "next", next);
            render_json(resp, 200, j);
            json_decref(j);
        }
    }
    json_decref(q);
}

/* One JSON text from a query with the motion's code as $1; 404 when no row. */
static void one_json(db_t *db, http_resp_t *resp, const char *sql, const char *code)
{
    char err[256];
    const char *p[] = {code};
    PGresult *r = stmt_read(db, NULL, sql, 1, p, err, sizeof err);
    if (!r) {
        unavailable(resp);
        return;
    }
    json_error_t je;
    json_t *j = PQntuples(r) == 1 ? json_loads(PQgetvalue(r, 0, 0), 0, &je) : NULL;
    PQclear(r);
    if (j)
        render_json(resp, 200, j);
    else
        render_api_error(resp, 404, "unknown_motion", NULL, "no motion with this code");
    json_decref(j);
}

static const char MOTION_SQL[] =
    "SELECT json_build_object('code', m.code, 'group', json_build_object('code', m.group_code, 'name', m.group_name),"
    " 'kind', m.kind, 'title', m.title, 'body', m.body, 'electorate', m.electorate, 'ballot', m.ballot,"
    " 'rule_set', m.rule_set, 'rules_sha256', encode(m.rules_sha256, 'hex'), 'delivery', m.delivery,"
    " 'state', m.state, 'runoff_of', m.runoff_of, 'created_by', m.created_by,"
    " 'created_at', " TIMEFMT_SQL_LOCAL("m.created_at") ", 'opened_at', " TIMEFMT_SQL_LOCAL("m.opened_at") ","
    " 'closes_at', " TIMEFMT_SQL_LOCAL("m.closes_at") ", 'closed_at', " TIMEFMT_SQL_LOCAL("m.closed_at") ","
    " 'roll_count', m.roll_count,"
    " 'paper', (SELECT coalesce(json_agg(json_build_object('box', p.box, 'tellers', p.tellers, 'ballots', p.ballots,"
    "  'invalid', p.invalid, 'counts', p.counts, 'entered_by', p.entered_by,"
    "  'entered_at', " TIMEFMT_SQL_LOCAL("p.entered_at") ") ORDER BY p.box), '[]') FROM tally.paper_public p"
    "  WHERE p.motion = m.code),"
    " 'head_height', m.head_height, 'head_hash', encode(m.head_hash, 'hex'), 'result', m.result)::text"
    " FROM tally.motion_public m WHERE m.code = $1";

static const char ROLL_SQL[] =
    "SELECT json_build_object('motion', m.code, 'state', m.state, 'roll_count', m.roll_count,"
    " 'roll', (SELECT coalesce(json_agg(json_build_object('voter_id', r.voter_id, 'household_id', r.household_id,"
    "  'name', r.name, 'voted', r.voted) ORDER BY r.voter_id), '[]') FROM tally.roll_public r WHERE r.motion = m.code),"
    " 'proxies', (SELECT coalesce(json_agg(json_build_object('principal', p.principal, 'holder', p.holder)"
    "  ORDER BY p.principal), '[]') FROM tally.proxy_public p WHERE p.motion = m.code))::text"
    " FROM tally.motion_public m WHERE m.code = $1";

static const char RESULT_SQL[] =
    "SELECT json_build_object('motion', m.code, 'kind', m.kind, 'title', m.title, 'state', m.state,"
    " 'closed_at', " TIMEFMT_SQL_LOCAL("m.closed_at") ", 'roll_count', m.roll_count, 'result', m.result,"
    " 'head_height', m.head_height, 'head_hash', encode(m.head_hash, 'hex'))::text"
    " FROM tally.motion_public m WHERE m.code = $1";

static void not_closed(http_resp_t *resp, const char *state)
{
    json_t *j = json_pack("{s:{s:s,s:s,s:s}}", "error", "code", "not_closed", "message",
                          "the result and the trackers are published when the motion closes", "state", state);
    render_json(resp, 409, j);
    json_decref(j);
}

static void trackers(db_t *db, const http_req_t *req, http_resp_t *resp, const char *code)
{
    char err[256];
    json_t *q = form_parse(req->query, strlen(req->query), err, sizeof err);
    if (!q) {
        render_api_error(resp, 400, "invalid_query", NULL, err);
        return;
    }
    long page_size = TRACKERS_MAX_PAGE_SIZE;
    bool has_cursor;
    cursor_t cur;
    input_error_t e;
    if (!paging_keyset(q, TRACKERS_MAX_PAGE_SIZE, &page_size, &has_cursor, &cur, &e)) {
        render_api_error(resp, e.status, e.code, e.field, e.message);
        json_decref(q);
        return;
    }
    json_decref(q);
    /* The cursor is the last tracker of the page as a number (a tracker is 50 bits). */
    char after[MOTIONS_TRACKER_LEN + 1], limit[24];
    if (has_cursor)
        motions_tracker_text(cur.id, after);
    snprintf(limit, sizeof limit, "%ld", page_size + 1);
    const char *p[] = {code, has_cursor ? after : NULL, limit};
    PGresult *r = stmt_read(db, NULL,
                            "SELECT tracker FROM tally.tracker_public WHERE motion = $1"
                            " AND ($2::text IS NULL OR tracker > $2) ORDER BY tracker LIMIT $3::bigint",
                            3, p, err, sizeof err);
    if (!r) {
        unavailable(resp);
        return;
    }
    json_t *items = json_array(), *next = json_null();
    int n = PQntuples(r);
    for (int i = 0; i < n && i < page_size; i++)
        json_array_append_new(items, json_string(PQgetvalue(r, i, 0)));
    if (n > page_size) {
        char text[CURSOR_LEN], last[MOTIONS_TRACKER_LEN + 1];
        if (motions_tracker_normalise(PQgetvalue(r, (int)page_size - 1, 0), last)) {
            cursor_t c = {.at_us = 0, .id = motions_tracker_number(last)};
            cursor_encode(&c, text);
            json_decref(next);
            next = json_string(text);
        }
    }
    PQclear(r);
    json_t *j = json_pack("{s:s,s:o,s:I,s:o}", "motion", code, "trackers", items, "page_size", (json_int_t)page_size, "next",
                          next);
    render_json(resp, 200, j);
    json_decref(j);
}

static void tracker(db_t *db, http_resp_t *resp, const char *code, const char *typed, const char *state)
{
    char t[MOTIONS_TRACKER_LEN + 1], err[256];
    if (!motions_tracker_normalise(typed, t)) {
        render_api_error(resp, 404, "unknown_tracker", NULL, "no receipt of this motion has this tracker");
        return;
    }
    const char *p[] = {code, t};
    PGresult *r = stmt_read(db, NULL, "SELECT 1 FROM tally.tracker_public WHERE motion = $1 AND tracker = $2", 2, p, err,
                            sizeof err);
    if (!r) {
        unavailable(resp);
        return;
    }
    bool found = PQntuples(r) == 1;
    PQclear(r);
    if (!found) {
        render_api_error(resp, 404, "unknown_tracker", NULL, "no receipt of this motion has this tracker");
        return;
    }
    json_t *j = json_pack("{s:s,s:s,s:b,s:s}", "motion", code, "tracker", t, "in_box", 1, "state", state);
    render_json(resp, 200, j);
    json_decref(j);
}

void motions_read(const intake_t *app, const http_req_t *req, http_resp_t *resp, const char *code, const char *what)
{
    db_t *db;
    motions_caller_t who;
    motions_ref_t m;
    if (!motions_caller(app, req, resp, false, &db, &who) || !motions_reach(db, &who, code, false, &m, resp))
        return;
    bool closed = !strcmp(m.state, "closed");
    if (!*what)
        one_json(db, resp, MOTION_SQL, code);
    else if (!strcmp(what, "roll"))
        one_json(db, resp, ROLL_SQL, code);
    else if (!strcmp(what, "result") && closed)
        one_json(db, resp, RESULT_SQL, code);
    else if (!strcmp(what, "trackers") && closed)
        trackers(db, req, resp, code);
    else if (!strcmp(what, "result") || !strcmp(what, "trackers"))
        not_closed(resp, m.state);
    else if (!strncmp(what, "trackers/", 9))
        tracker(db, resp, code, what + 9, m.state);
    else
        render_api_error(resp, 404, "not_found", NULL, "no such resource");
}
