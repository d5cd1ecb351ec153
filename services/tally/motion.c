#include "motion.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ballot.h"
#include "db.h"
#include "log.h"

static const char *const STATE_NAMES[MS__COUNT] = {[MS_DRAFT] = "draft", [MS_OPEN] = "open", [MS_CLOSED] = "closed"};

#define S(x) (1u << (x))

/* The state machine, written down once (the diagram is in motion.h). */
static const struct {
    const char *name;   /* the command's action; NULL: no command names it */
    unsigned from;
    motion_state_t to;
    motion_who_t who;
} TABLE[MA__COUNT] = {
    [MA_CREATE] = {"create", S(MS_NEW), MS_DRAFT, BY_STAFF},
    /* proxies are part of the roll: written while the motion is a draft, frozen with it at open */
    [MA_PROXY] = {"proxy", S(MS_DRAFT), MS_DRAFT, BY_STAFF},
    [MA_OPEN] = {"open", S(MS_DRAFT), MS_OPEN, BY_STAFF},
    [MA_CAST] = {"cast", S(MS_OPEN), MS_OPEN, BY_VOTER},
    [MA_PAPER_VOTERS] = {"paper_voters", S(MS_OPEN), MS_OPEN, BY_STAFF},
    [MA_PAPER] = {"paper", S(MS_OPEN), MS_OPEN, BY_STAFF},
    [MA_SLIPS] = {"slips", S(MS_OPEN), MS_OPEN, BY_STAFF},
    [MA_CLOSE] = {"close", S(MS_OPEN), MS_CLOSED, BY_STAFF},
    /* closes_at passed: tally's own tick (clock.c), never a command */
    [MA_CLOCK_CLOSE] = {NULL, S(MS_OPEN), MS_CLOSED, BY_CLOCK},
};

const char *motion_state_name(motion_state_t s) { return s < MS__COUNT ? STATE_NAMES[s] : s == MS_NEW ? "new" : "?"; }

bool motion_state_parse(const char *name, motion_state_t *out)
{
    for (int i = 0; name && i < MS__COUNT; i++)
        if (!strcmp(name, STATE_NAMES[i])) {
            *out = (motion_state_t)i;
            return true;
        }
    return false;
}

const char *motion_action_name(motion_action_t a)
{
    return a < MA__COUNT ? (TABLE[a].name ? TABLE[a].name : "clock_close") : "?";
}

bool motion_action_parse(const char *name, motion_action_t *out)
{
    for (int i = 0; name && i < MA__COUNT; i++)
        if (TABLE[i].name && !strcmp(name, TABLE[i].name)) {
            *out = (motion_action_t)i;
            return true;
        }
    return false;
}

motion_who_t motion_who(motion_action_t a) { return TABLE[a].who; }

bool motion_allows(motion_action_t a, motion_state_t s) { return a < MA__COUNT && (TABLE[a].from & S(s)) != 0; }

motion_state_t motion_target(motion_action_t a) { return TABLE[a].to; }

answer_t motion_refusal(motion_action_t a, motion_state_t s)
{
    (void)a;
    char msg[160];
    if (s == MS_CLOSED) {
        snprintf(msg, sizeof msg, "表决已结束，不能再%s (the motion is closed; it is never reopened)",
                 a == MA_CAST ? "投票" : "更改");
        return tally_error(409, "closed", msg, "closed");
    }
    if (s == MS_OPEN)
        return tally_error(409, "not_draft", "表决已开始，规则、名单和委托不能再改 (the motion is open: rules, roll and proxies are frozen)",
                           "open");
    return tally_error(409, "not_open", "表决尚未开始 (the motion is not open)", motion_state_name(s));
}

static char *dup_or_null(PGresult *r, int col)
{
    if (PQgetisnull(r, 0, col))
        return NULL;
    char *s = strdup(PQgetvalue(r, 0, col));
    if (!s)
        log_oom();
    return s;
}

motion_lookup_t motion_lock(PGconn *c, const char *code, motion_t *m, char *err, size_t errsz)
{
    memset(m, 0, sizeof *m);
    const char *p[] = {code};
    PGresult *r = db_pq_exec(
        c,
        "SELECT m.id, m.code, m.group_id, u.code, m.kind, m.state, m.electorate, m.delivery, m.title, m.body,"
        " m.rule_set, encode(m.rules_sha256, 'hex'), o.code, m.ballot::text, m.rules::text,"
        " coalesce((extract(epoch FROM m.opened_at) * 1000000)::bigint, 0),"
        " coalesce((extract(epoch FROM m.closes_at) * 1000000)::bigint, 0), coalesce(m.roll_count, 0),"
        " m.head_height, m.head_hash"
        " FROM tally.motion m JOIN registry.unit u ON u.id = m.group_id LEFT JOIN tally.motion o ON o.id = m.runoff_of"
        " WHERE m.code = $1 FOR UPDATE OF m",
        1, p, err, errsz, NULL);
    if (!r)
        return MOTION_DB_ERROR;
    if (PQntuples(r) != 1) {
        PQclear(r);
        return MOTION_MISSING;
    }
    snprintf(m->id, sizeof m->id, "%s", PQgetvalue(r, 0, 0));
    snprintf(m->code, sizeof m->code, "%s", PQgetvalue(r, 0, 1));
    m->group_id = atoll(PQgetvalue(r, 0, 2));
    snprintf(m->group_code, sizeof m->group_code, "%s", PQgetvalue(r, 0, 3));
    bool ok = kind_parse(PQgetvalue(r, 0, 4), &m->kind) && motion_state_parse(PQgetvalue(r, 0, 5), &m->state);
    m->household = !strcmp(PQgetvalue(r, 0, 6), "household");
    m->delivery_notify = !strcmp(PQgetvalue(r, 0, 7), "notify");
    m->title = dup_or_null(r, 8);
    m->body = dup_or_null(r, 9);
    m->rule_set = dup_or_null(r, 10);
    m->rules_sha256_hex = dup_or_null(r, 11);
    m->runoff_of_code = dup_or_null(r, 12);
    json_error_t je;
    m->ballot = json_loads(PQgetvalue(r, 0, 13), 0, &je);
    m->rules_body = json_loads(PQgetvalue(r, 0, 14), 0, &je);
    m->opened_at_us = atoll(PQgetvalue(r, 0, 15));
    m->closes_at_us = atoll(PQgetvalue(r, 0, 16));
    m->roll_count = atoll(PQgetvalue(r, 0, 17));
    ok = ok && m->ballot && m->rules_body &&
         chain_head_load(&m->head, m->id, atoi(PQgetvalue(r, 0, 18)), PQgetisnull(r, 0, 19) ? NULL : PQgetvalue(r, 0, 19));
    PQclear(r);
    if (!ok) {
        snprintf(err, errsz, "XX000: motion %s: a stored value tally cannot read", code);
        motion_free(m);
        return MOTION_DB_ERROR;
    }
    return MOTION_FOUND;
}

void motion_free(motion_t *m)
{
    free(m->title);
    free(m->body);
    free(m->rule_set);
    free(m->rules_sha256_hex);
    free(m->runoff_of_code);
    json_decref(m->ballot);
    json_decref(m->rules_body);
    m->title = m->body = m->rule_set = m->rules_sha256_hex = m->runoff_of_code = NULL;
    m->ballot = m->rules_body = NULL;
}

bool motion_enter(PGconn *c, motion_t *m, motion_action_t a, int64_t now_us, int64_t staff_id, int64_t roll_count,
                  const json_t *result, char *err, size_t errsz)
{
    if (!motion_allows(a, m->state)) {
        snprintf(err, errsz, "XX000: %s from %s is not in the table", motion_action_name(a), motion_state_name(m->state));
        return false;
    }
    motion_state_t to = motion_target(a);
    if (to == m->state)
        return true;
    char now[32], closes[32], rc[24], by[24];
    tally_ts(now_us, now);
    tally_ts(m->closes_at_us, closes);
    snprintf(rc, sizeof rc, "%lld", (long long)roll_count);
    snprintf(by, sizeof by, "%lld", (long long)staff_id);
    PGresult *r;
    if (to == MS_OPEN) {
        const char *p[] = {m->id, motion_state_name(to), now, m->closes_at_us ? closes : NULL, rc};
        r = db_pq_exec(c,
                       "UPDATE tally.motion SET state = $2, opened_at = to_timestamp($3::double precision),"
                       " closes_at = to_timestamp($4::double precision), roll_count = $5::int WHERE id = $1::uuid",
                       5, p, err, errsz, NULL);
        m->opened_at_us = now_us;
        m->roll_count = roll_count;
    } else {
        char *res = json_dumps(result, JSON_COMPACT);
        if (!res)
            log_oom();
        const char *p[] = {m->id, motion_state_name(to), now, staff_id ? by : NULL, res};
        r = db_pq_exec(c,
                       "UPDATE tally.motion SET state = $2, closed_at = to_timestamp($3::double precision),"
                       " closed_by = $4::bigint, result = $5::jsonb WHERE id = $1::uuid",
                       5, p, err, errsz, NULL);
        free(res);
    }
    if (!r)
        return false;
    PQclear(r);
    m->state = to;
    return true;
}
