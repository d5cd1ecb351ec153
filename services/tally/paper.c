/* Paper ballots at a meeting: paper_voters (tellers mark who took a paper ballot, so nobody votes
 * twice, online and on paper) and paper (a ballot box's counts, entered once by its tellers). */
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

#define STR(name) json_string_value(json_object_get(rq->cmd, name))

/* Locks the motion and checks scope and state for action a; *m is filled when the answer is {0}. */
static answer_t prelude(request_t *rq, motion_action_t a, motion_t *m)
{
    motion_lookup_t found = motion_lock(rq->c, STR("motion"), m, rq->err, rq->errsz);
    if (found == MOTION_DB_ERROR)
        return unavailable();
    if (found == MOTION_MISSING)
        return tally_error(404, "unknown_motion", "没有这个表决 (no motion with this code)", NULL);
    answer_t out = {0};
    int in = scope_check(rq->c, rq->staff_id, m->group_id, rq->err, rq->errsz);
    if (in < 0)
        out = unavailable();
    else if (!in)
        out = scope_refusal();
    else if (!motion_allows(a, m->state))
        out = motion_refusal(a, m->state);
    if (out.body)
        motion_free(m);
    return out;
}

static int cmp_id(const void *a, const void *b)
{
    json_int_t x = json_integer_value(*(json_t *const *)a), y = json_integer_value(*(json_t *const *)b);
    return x < y ? -1 : x > y;
}

answer_t paper_voters_handle(request_t *rq)
{
    motion_t m;
    answer_t a = prelude(rq, MA_PAPER_VOTERS, &m);
    if (a.body)
        return a;
    json_t *voters = json_object_get(rq->cmd, "voters");
    size_t n = json_array_size(voters);
    char *arr = roll_ids_sql(voters);
    if (!arr || n == 0 || n > 100000) {
        free(arr);
        motion_free(&m);
        return tally_error(400, "bad_voters", "voters: a list of voter ids", NULL);
    }
    /* the rows locked first, so no cast can vote one of them between the check and the mark */
    const char *p[] = {m.id, arr};
    PGresult *r = db_pq_exec(rq->c,
                             "SELECT count(*), count(*) FILTER (WHERE voted IS NOT NULL), array_length($2::bigint[], 1),"
                             " (SELECT count(DISTINCT v) FROM unnest($2::bigint[]) v)"
                             " FROM (SELECT voted FROM tally.roll WHERE motion_id = $1::uuid AND voter_id = ANY($2::bigint[])"
                             "       FOR UPDATE) x",
                             2, p, rq->err, rq->errsz, NULL);
    if (!r)
        goto db_fail;
    long long on = atoll(PQgetvalue(r, 0, 0)), voted = atoll(PQgetvalue(r, 0, 1)), distinct = atoll(PQgetvalue(r, 0, 3));
    PQclear(r);
    if (distinct != (long long)n || on != (long long)n) {
        a = tally_error(400, "not_on_roll", "名单中有人不在本次选民名单上，或重复 (a voter is not on the roll, or named twice)", NULL);
        goto done;
    }
    if (voted) {
        a = tally_error(409, "already_voted", "名单中有人已投过票，一个也未登记 (a voter has voted already; none was marked)", NULL);
        goto done;
    }
    if (!(r = db_pq_exec(rq->c,
                         "UPDATE tally.roll SET voted = 'paper' WHERE motion_id = $1::uuid AND voter_id = ANY($2::bigint[])"
                         " AND voted IS NULL",
                         2, p, rq->err, rq->errsz, NULL)))
        goto db_fail;
    PQclear(r);
    json_t **ids = malloc(n * sizeof *ids);
    if (!ids)
        log_oom();
    for (size_t i = 0; i < n; i++)
        ids[i] = json_array_get(voters, i);
    qsort(ids, n, sizeof *ids, cmp_id);
    json_t *list = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append(list, ids[i]);
    free(ids);
    json_t *ev = json_pack("{s:o}", "voters", list);
    bool ok = chain_append(rq->c, &m.head, "paper_voters", ev, rq->err, rq->errsz) &&
              chain_store_head(rq->c, &m.head, rq->err, rq->errsz);
    json_decref(ev);
    if (!ok)
        goto db_fail;
    a = (answer_t){.status = 200, .body = json_pack("{s:i}", "marked", (int)n)};
done:
    free(arr);
    motion_free(&m);
    return a;
db_fail:
    a = unavailable();
    goto done;
}

/* A list of exactly n counts (integers >= 0); their sum into *sum. */
static bool counts_ok(const json_t *list, size_t n, int64_t *sum)
{
    if (!json_is_array(list) || json_array_size(list) != n)
        return false;
    *sum = 0;
    for (size_t i = 0; i < n; i++) {
        json_t *v = json_array_get(list, i);
        if (!json_is_integer(v) || json_integer_value(v) < 0 || json_integer_value(v) > 100000000)
            return false;
        *sum += json_integer_value(v);
    }
    return true;
}

/* The box's counts against CHAIN.md "Paper" and the box's own numbers: every valid ballot
 * (ballots - invalid) is counted once per question (resolution, each subject, each nominee); an
 * election's names are at most seats per valid ballot, its blanks at most the valid ballots. */
static bool box_counts_ok(const motion_t *m, const json_t *counts, int64_t valid, char *why, size_t whysz)
{
    ballot_shape_t s;
    ballot_shape(m->kind, m->ballot, &s);
    int64_t sum = 0;
    const char *key;
    json_t *v;
    switch (m->kind) {
    case KIND_RESOLUTION:
        if (json_object_size(counts) != 1 || !counts_ok(json_object_get(counts, "options"), 3, &sum) || sum != valid) {
            snprintf(why, whysz, "counts: {\"options\": [yes, no, abstain]} adding up to the valid ballots (%lld)", (long long)valid);
            return false;
        }
        return true;
    case KIND_ELECTION: {
        json_t *wi = json_object_get(counts, "write_ins"), *blank = json_object_get(counts, "blank");
        int64_t names = 0;
        bool ok = json_object_size(counts) == 3 && counts_ok(json_object_get(counts, "candidates"), s.options, &sum) &&
                  json_is_object(wi) && json_is_integer(blank) && json_integer_value(blank) >= 0 &&
                  json_integer_value(blank) <= valid;
        names = sum;
        json_object_foreach ((json_t *)wi, key, v) {
            ok = ok && ballot_name_ok(key) && json_is_integer(v) && json_integer_value(v) >= 0;
            names += json_integer_value(v);
        }
        if (ok && json_object_size(wi) && !s.write_ins)
            ok = false;
        if (!ok || names > (int64_t)s.seats * (valid - (ok ? json_integer_value(blank) : 0))) {
            snprintf(why, whysz, "counts: {\"candidates\": [n per candidate], \"write_ins\": {name: n}, \"blank\": n},"
                                 " at most %d names per valid ballot", s.seats);
            return false;
        }
        return true;
    }
    case KIND_EVALUATION:
    case KIND_SELECTION: {
        const char *name = m->kind == KIND_EVALUATION ? "subjects" : "nominees";
        size_t w = m->kind == KIND_EVALUATION ? 4 : 3;
        json_t *rows = json_object_get(counts, name);
        bool ok = json_object_size(counts) == 1 && json_is_array(rows) && json_array_size(rows) == s.options;
        for (size_t i = 0; ok && i < s.options; i++)
            ok = counts_ok(json_array_get(rows, i), w, &sum) && sum == valid;
        if (!ok) {
            snprintf(why, whysz, "counts: {\"%s\": [[%s] per %s]}, each row adding up to the valid ballots (%lld)", name,
                     w == 4 ? "4 levels" : "approve, disapprove, abstain", m->kind == KIND_EVALUATION ? "subject" : "nominee",
                     (long long)valid);
            return false;
        }
        return true;
    }
    }
    return false;
}

answer_t paper_handle(request_t *rq)
{
    motion_t m;
    answer_t a = prelude(rq, MA_PAPER, &m);
    if (a.body)
        return a;
    const char *box = STR("box");
    json_t *tellers = json_object_get(rq->cmd, "tellers"), *counts = json_object_get(rq->cmd, "counts");
    int64_t ballots = json_integer_value(json_object_get(rq->cmd, "ballots"));
    int64_t invalid = json_integer_value(json_object_get(rq->cmd, "invalid"));
    char why[300];
    rules_t *rules = rules_parse(m.rules_body, why, sizeof why);
    if (!rules) {
        snprintf(rq->err, rq->errsz, "XX000: motion %s: its rules do not parse: %s", m.code, why);
        motion_free(&m);
        return unavailable();
    }
    int64_t min_tellers = rules_option_int(rules, "min_tellers");
    const char *cite = rules_cite(rules, "min_tellers");
    bool tellers_ok = json_array_size(tellers) >= (size_t)(min_tellers > 0 ? min_tellers : 1) && json_array_size(tellers) <= 20;
    for (size_t i = 0; tellers_ok && i < json_array_size(tellers); i++) {
        const char *t = json_string_value(json_array_get(tellers, i));
        tellers_ok = ballot_name_ok(t);
        for (size_t j = 0; tellers_ok && j < i; j++)
            tellers_ok = strcmp(t, json_string_value(json_array_get(tellers, j))) != 0;
    }
    if (!ballot_name_ok(box)) {
        a = tally_error(400, "bad_box", "box: the ballot box's name, 1-40 characters", NULL);
    } else if (!tellers_ok) {
        char msg[400];
        snprintf(msg, sizeof msg, "监票人至少 %lld 名，各不相同 (tellers: at least %lld distinct names; %s)", (long long)min_tellers,
                 (long long)min_tellers, cite);
        a = tally_error(400, "bad_tellers", msg, NULL);
    } else if (invalid > ballots) {
        a = tally_error(400, "bad_counts", "invalid: at most the ballots found", NULL);
    } else if (!box_counts_ok(&m, counts, ballots - invalid, why, sizeof why)) {
        a = tally_error(400, "bad_counts", why, NULL);
    }
    rules_destroy(&rules);
    if (a.body)
        goto done;
    char *tl = json_dumps(tellers, JSON_COMPACT), *ct = json_dumps(counts, JSON_COMPACT), b[24], inv[24], staff[24], now[32];
    if (!tl || !ct)
        log_oom();
    snprintf(b, sizeof b, "%lld", (long long)ballots);
    snprintf(inv, sizeof inv, "%lld", (long long)invalid);
    snprintf(staff, sizeof staff, "%lld", (long long)rq->staff_id);
    tally_ts(rq->now_us, now);
    const char *p[] = {m.id, box, tl, b, inv, ct, staff, now};
    PGresult *r = db_pq_exec(rq->c,
                             "INSERT INTO tally.paper_box (motion_id, box, tellers, ballots, invalid, counts, entered_by, entered_at)"
                             " SELECT $1::uuid, $2, ARRAY(SELECT jsonb_array_elements_text($3::jsonb)), $4::int, $5::int,"
                             " $6::jsonb, $7::bigint, to_timestamp($8::double precision)"
                             " ON CONFLICT (motion_id, box) DO NOTHING RETURNING box",
                             8, p, rq->err, rq->errsz, NULL);
    free(tl);
    free(ct);
    if (!r)
        goto db_fail;
    bool inserted = PQntuples(r) == 1;
    PQclear(r);
    if (!inserted) {
        a = tally_error(409, "box_exists", "这个票箱的结果已录入 (this box's counts were entered already)", NULL);
        goto done;
    }
    json_t *ev = json_pack("{s:s,s:O,s:I,s:I,s:O,s:I}", "box", box, "tellers", tellers, "ballots", (json_int_t)ballots,
                           "invalid", (json_int_t)invalid, "counts", counts, "entered_by", (json_int_t)rq->staff_id);
    bool ok = chain_append(rq->c, &m.head, "paper", ev, rq->err, rq->errsz) && chain_store_head(rq->c, &m.head, rq->err, rq->errsz);
    json_decref(ev);
    if (!ok)
        goto db_fail;
    a = (answer_t){.status = 200, .body = json_pack("{s:s}", "box", box)};
done:
    motion_free(&m);
    return a;
db_fail:
    a = unavailable();
    goto done;
}
