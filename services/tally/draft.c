/* A motion while it is a draft: create (handlers.h) and proxy, the written proxies that become part
 * of the roll when it opens. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ballot.h"
#include "db.h"
#include "handlers.h"
#include "log.h"
#include "motion.h"
#include "roll.h"
#include "rules.h"
#include "timefmt.h"
#include "utf8.h"
#include "uuid.h"

#define DB_FAIL(rq) ((void)(rq), unavailable())
#define ARG(name) json_object_get(rq->cmd, name)
#define STR(name) json_string_value(json_object_get(rq->cmd, name))

static bool text_ok(const char *s, size_t min, size_t max)
{
    if (!s)
        return min == 0;
    size_t n = strlen(s);
    if (!utf8_valid(s, n))
        return false;
    size_t chars = utf8_count(s, n);
    return chars >= min && chars <= max;
}

/* An election's runoff (另行选举): candidates and seats from the first round's result; each
 * candidate keeps the resident id the first round's ballot gave them. */
static answer_t runoff_ballot(request_t *rq, const char *code, json_t **ballot, char runoff_id[37])
{
    const char *p[] = {code};
    PGresult *r = db_pq_exec(rq->c,
                             "SELECT id, kind, state, result->'runoff', ballot FROM tally.motion WHERE code = $1", 1, p,
                             rq->err, rq->errsz, NULL);
    if (!r)
        return DB_FAIL(rq);
    answer_t a = {0};
    if (PQntuples(r) != 1)
        a = tally_error(404, "unknown_motion", "没有这个表决 (runoff_of: no motion with this code)", NULL);
    else if (strcmp(PQgetvalue(r, 0, 1), "election") || strcmp(PQgetvalue(r, 0, 2), "closed") || PQgetisnull(r, 0, 3))
        a = tally_error(409, "no_runoff", "runoff_of must name a closed election whose result leaves seats to fill", NULL);
    if (a.body) {
        PQclear(r);
        return a;
    }
    json_error_t je;
    json_t *ro = json_loads(PQgetvalue(r, 0, 3), 0, &je), *first = json_loads(PQgetvalue(r, 0, 4), 0, &je);
    snprintf(runoff_id, 37, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    json_t *cands = json_array();
    json_t *c;
    size_t i;
    json_array_foreach (json_object_get(ro, "candidates"), i, c) {
        const char *name = json_string_value(json_object_get(c, "name"));
        json_t *entry = json_pack("{s:s}", "name", name ? name : "");
        json_t *fc;
        size_t j;
        json_array_foreach (json_object_get(first, "candidates"), j, fc)
            if (name && !strcmp(name, json_string_value(json_object_get(fc, "name"))) && json_object_get(fc, "resident_id"))
                json_object_set(entry, "resident_id", json_object_get(fc, "resident_id"));
        json_array_append_new(cands, entry);
    }
    *ballot = json_pack("{s:O,s:o,s:b}", "seats", json_object_get(ro, "seats"), "candidates", cands, "write_ins",
                        json_is_true(json_object_get(first, "write_ins")));
    json_decref(ro);
    json_decref(first);
    return (answer_t){0};
}

answer_t create_handle(request_t *rq)
{
    const char *group = STR("group"), *title = STR("title"), *body = STR("body"), *electorate = STR("electorate");
    const char *delivery = STR("delivery") ? STR("delivery") : "notify", *closes = STR("closes_at");
    const char *p1[] = {group};
    PGresult *r = db_pq_exec(rq->c, "SELECT id FROM registry.unit WHERE code = $1 AND level = 'group'", 1, p1, rq->err,
                             rq->errsz, NULL);
    if (!r)
        return DB_FAIL(rq);
    int64_t group_id = PQntuples(r) ? atoll(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    if (!group_id)
        return tally_error(400, "unknown_group", "没有这个村民小组 (group: no villager group with this code)", NULL);
    int in = scope_check(rq->c, rq->staff_id, group_id, rq->err, rq->errsz);
    if (in < 0)
        return DB_FAIL(rq);
    if (!in)
        return scope_refusal();
    tally_kind_t kind;
    if (!kind_parse(STR("kind"), &kind))
        return tally_error(400, "bad_kind", "kind: resolution, election, evaluation or selection", NULL);
    if (strcmp(electorate, "household") && strcmp(electorate, "adult"))
        return tally_error(400, "bad_electorate", "electorate: household (一户一票) or adult (一人一票)", NULL);
    if (strcmp(delivery, "notify") && strcmp(delivery, "slips"))
        return tally_error(400, "bad_delivery", "delivery: notify or slips", NULL);
    if (!text_ok(title, 1, 200) || !text_ok(body, 0, 4000))
        return tally_error(400, "bad_text", "title: 1-200 characters; body: at most 4000", NULL);
    int64_t closes_us = 0;
    if (closes && (!timefmt_parse_db(closes, &closes_us) || closes_us <= rq->now_us))
        return tally_error(400, "bad_closes_at", "closes_at: an RFC 3339 time in the future", NULL);

    /* the newest body loaded under that code: what the motion keeps, whatever files change later */
    const char *p2[] = {STR("rule_set")};
    r = db_pq_exec(rq->c,
                   "SELECT encode(sha256, 'hex'), body::text FROM tally.rule_set WHERE code = $1 ORDER BY loaded_at DESC, sha256 LIMIT 1",
                   1, p2, rq->err, rq->errsz, NULL);
    if (!r)
        return DB_FAIL(rq);
    if (!PQntuples(r)) {
        PQclear(r);
        return tally_error(400, "unknown_rule_set", "没有这个规则集 (rule_set: none loaded with this code)", NULL);
    }
    char sha[65];
    snprintf(sha, sizeof sha, "%s", PQgetvalue(r, 0, 0));
    json_error_t je;
    json_t *rules_body = json_loads(PQgetvalue(r, 0, 1), 0, &je);
    PQclear(r);
    char why[256] = "";
    rules_t *rules = rules_body ? rules_parse(rules_body, why, sizeof why) : NULL;
    if (!rules) {
        json_decref(rules_body);
        snprintf(rq->err, rq->errsz, "XX000: stored rule set %s does not parse: %s", STR("rule_set"), why);
        return DB_FAIL(rq);
    }

    answer_t a = {0};
    json_t *ballot = NULL;
    char runoff_id[37] = "";
    if (STR("runoff_of")) {
        if (kind != KIND_ELECTION || ARG("ballot"))
            a = tally_error(400, "bad_ballot", "a runoff is an election whose ballot comes from the first round's result", NULL);
        else
            a = runoff_ballot(rq, STR("runoff_of"), &ballot, runoff_id);
    } else if (!(ballot = ballot_def_check(kind, ARG("ballot"), why, sizeof why))) {
        a = tally_error(400, "bad_ballot", why, NULL);
    } else if (kind == KIND_ELECTION && json_is_true(json_object_get(ballot, "write_ins")) &&
               !rules_option_bool(rules, "write_ins_allowed")) {
        a = tally_error(400, "bad_ballot", "这套规则不允许另选他人 (the rule set allows no write-ins)", NULL);
    } else if (kind == KIND_ELECTION && rules_option_bool(rules, "candidates_exceed_seats") &&
               json_array_size(json_object_get(ballot, "candidates")) <=
                   (size_t)json_integer_value(json_object_get(ballot, "seats"))) {
        a = tally_error(400, "bad_ballot", "候选人应多于应选名额（差额选举）(candidates must outnumber seats)", NULL);
    }
    rules_destroy(&rules);
    if (a.body) {
        json_decref(ballot);
        json_decref(rules_body);
        return a;
    }

    char id[UUID_STR_LEN], g[24], staff[24], now[32], closes_ts[32], year[8];
    uuid_v4(id);
    snprintf(g, sizeof g, "%lld", (long long)group_id);
    snprintf(staff, sizeof staff, "%lld", (long long)rq->staff_id);
    snprintf(year, sizeof year, "%d", roll_county_year(rq->now_us));
    tally_ts(rq->now_us, now);
    tally_ts(closes_us, closes_ts);
    char *ballot_text = json_dumps(ballot, JSON_COMPACT), *rules_text = json_dumps(rules_body, JSON_COMPACT);
    json_decref(ballot);
    json_decref(rules_body);
    if (!ballot_text || !rules_text)
        log_oom();
    const char *p[] = {id, year, g, kind_name(kind), title, body ? body : "", electorate, ballot_text,
                       runoff_id[0] ? runoff_id : NULL, STR("rule_set"), rules_text, sha, delivery, staff, now,
                       closes_us ? closes_ts : NULL};
    r = db_pq_exec(rq->c,
                   "INSERT INTO tally.motion (id, code, group_id, kind, title, body, electorate, ballot, runoff_of, rule_set,"
                   " rules, rules_sha256, delivery, created_by, created_at, closes_at)"
                   " VALUES ($1::uuid, 'M' || $2 || '-' || lpad(nextval('tally.motion_no')::text, 6, '0'), $3::bigint, $4,"
                   " $5, $6, $7, $8::jsonb, $9::uuid, $10, $11::jsonb, decode($12, 'hex'), $13, $14::bigint,"
                   " to_timestamp($15::double precision), to_timestamp($16::double precision)) RETURNING code",
                   16, p, rq->err, rq->errsz, NULL);
    free(ballot_text);
    free(rules_text);
    if (!r)
        return DB_FAIL(rq);
    json_t *out = json_pack("{s:s}", "motion", PQgetvalue(r, 0, 0));
    PQclear(r);
    return (answer_t){.status = 201, .body = out};
}

/* Rows of tally.proxy for the motion: principal, holder. */
static PGresult *proxies(request_t *rq, const motion_t *m)
{
    const char *p[] = {m->id};
    return db_pq_exec(rq->c, "SELECT principal, holder FROM tally.proxy WHERE motion_id = $1::uuid ORDER BY principal", 1, p,
                      rq->err, rq->errsz, NULL);
}

/* Whether the holder is (or, for a household, houses) a candidate of the election. */
static int holder_is_candidate(request_t *rq, const motion_t *m, int64_t holder)
{
    json_t *ids = json_array(), *c;
    size_t i;
    json_array_foreach (json_object_get(m->ballot, "candidates"), i, c)
        if (json_is_integer(json_object_get(c, "resident_id")))
            json_array_append(ids, json_object_get(c, "resident_id"));
    char *arr = roll_ids_sql(ids), h[24];
    json_decref(ids);
    snprintf(h, sizeof h, "%lld", (long long)holder);
    const char *p[] = {arr ? arr : "{}", h, m->household ? "t" : "f"};
    PGresult *r = db_pq_exec(rq->c,
                             "SELECT count(*) FROM registry.resident WHERE id = ANY($1::bigint[])"
                             " AND CASE WHEN $3::bool THEN household_id = $2::bigint ELSE id = $2::bigint END",
                             3, p, rq->err, rq->errsz, NULL);
    free(arr);
    if (!r)
        return -1;
    int n = atoi(PQgetvalue(r, 0, 0));
    PQclear(r);
    return n > 0;
}

answer_t proxy_handle(request_t *rq)
{
    motion_t m;
    motion_lookup_t found = motion_lock(rq->c, STR("motion"), &m, rq->err, rq->errsz);
    if (found == MOTION_DB_ERROR)
        return DB_FAIL(rq);
    if (found == MOTION_MISSING)
        return tally_error(404, "unknown_motion", "没有这个表决 (no motion with this code)", NULL);
    answer_t a = {0};
    int64_t principal = json_integer_value(ARG("principal")), holder = json_integer_value(ARG("holder"));
    int in = scope_check(rq->c, rq->staff_id, m.group_id, rq->err, rq->errsz);
    if (in < 0)
        goto db_fail;
    if (!in) {
        a = scope_refusal();
        goto done;
    }
    if (!motion_allows(MA_PROXY, m.state)) {
        a = motion_refusal(MA_PROXY, m.state);
        goto done;
    }
    char why[256];
    rules_t *rules = rules_parse(m.rules_body, why, sizeof why);
    if (!rules) {
        snprintf(rq->err, rq->errsz, "XX000: motion %s: its rules do not parse: %s", m.code, why);
        goto db_fail;
    }
    bool allowed = rules_option_bool(rules, "proxies_allowed");
    int64_t cap = rules_option_int(rules, "proxy_cap");
    const char *cite = rules_cite(rules, "proxy_cap");
    char capmsg[512];
    snprintf(capmsg, sizeof capmsg, "受委托人最多接受 %lld 人委托 (a holder takes at most %lld proxies: %s)", (long long)cap,
             (long long)cap, cite);
    rules_destroy(&rules);
    if (!allowed) {
        a = tally_error(409, "proxies_not_allowed", "这套规则不允许委托投票 (the rule set allows no proxies)", NULL);
        goto done;
    }
    if (principal == holder) {
        a = tally_error(400, "bad_proxy", "委托人和受委托人不能是同一人 (principal and holder are the same)", NULL);
        goto done;
    }
    json_t *both = json_pack("[I,I]", (json_int_t)principal, (json_int_t)holder);
    int64_t on = roll_electorate_count(rq->c, m.household, m.group_id, rq->now_us, both, rq->err, rq->errsz);
    json_decref(both);
    if (on < 0)
        goto db_fail;
    if (on != 2) {
        a = tally_error(400, "not_on_roll", "委托人和受委托人都须是本组选民 (principal and holder must both be voters of the group)", NULL);
        goto done;
    }
    if (m.kind == KIND_ELECTION) {
        int cand = holder_is_candidate(rq, &m, holder);
        if (cand < 0)
            goto db_fail;
        if (cand) {
            a = tally_error(409, "candidate_holder", "候选人不得接受委托 (a candidate may not hold a proxy)", NULL);
            goto done;
        }
    }
    PGresult *r = proxies(rq, &m);
    if (!r)
        goto db_fail;
    int64_t held = 0, n = PQntuples(r);
    for (int i = 0; i < PQntuples(r) && !a.body; i++) {
        int64_t pr = atoll(PQgetvalue(r, i, 0)), ho = atoll(PQgetvalue(r, i, 1));
        if (pr == principal)
            a = tally_error(409, "already_delegated", "此选民已委托他人 (this voter has given a proxy already)", NULL);
        else if (pr == holder || ho == principal)
            a = tally_error(409, "sub_delegation", "受委托人不得再委托，委托人不得接受委托 (no sub-delegation)", NULL);
        held += ho == holder;
    }
    PQclear(r);
    if (!a.body && held >= cap)
        a = tally_error(409, "proxy_cap", capmsg, NULL);
    if (a.body)
        goto done;
    char ps[24], hs[24];
    snprintf(ps, sizeof ps, "%lld", (long long)principal);
    snprintf(hs, sizeof hs, "%lld", (long long)holder);
    const char *p[] = {m.id, ps, hs};
    r = db_pq_exec(rq->c, "INSERT INTO tally.proxy (motion_id, principal, holder) VALUES ($1::uuid, $2::bigint, $3::bigint)", 3,
                   p, rq->err, rq->errsz, NULL);
    if (!r)
        goto db_fail;
    PQclear(r);
    a = (answer_t){.status = 200, .body = json_pack("{s:I}", "proxies", (json_int_t)(n + 1))};
done:
    motion_free(&m);
    return a;
db_fail:
    motion_free(&m);
    return DB_FAIL(rq);
}
