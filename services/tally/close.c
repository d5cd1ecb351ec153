#include "close.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ballot.h"
#include "db.h"
#include "db_tx.h"
#include "handlers.h"
#include "log.h"
#include "motion.h"
#include "rules.h"
#include "timefmt.h"
#include "uuid.h"

/* What was counted, with the storage tally_in_t points into. */
typedef struct {
    tally_in_t in;
    int64_t *options, *levels, *wi_votes;
    const char **names, **keys, **wi_names;
    bool *unfit;
    size_t n_wi;
    int64_t online, paper, voters_online, voters_paper;
    PGresult *wi_rows, *unfit_rows;
} count_t;

static void count_free(count_t *k)
{
    free(k->options);
    free(k->levels);
    free(k->wi_votes);
    free(k->names);
    free(k->keys);
    free(k->wi_names);
    free(k->unfit);
    PQclear(k->wi_rows);
    PQclear(k->unfit_rows);
}

static PGresult *q1(PGconn *c, const char *sql, const char *arg, char *err, size_t errsz)
{
    const char *p[] = {arg};
    return db_pq_exec(c, sql, 1, p, err, errsz, NULL);
}

/* A write-in's slot, added when new (names borrowed from the rows or the paper JSON, which
 * outlive the count). */
static size_t wi_slot(count_t *k, const char *name)
{
    for (size_t i = 0; i < k->n_wi; i++)
        if (!strcmp(k->wi_names[i], name))
            return i;
    k->wi_names = realloc(k->wi_names, (k->n_wi + 1) * sizeof *k->wi_names);
    k->wi_votes = realloc(k->wi_votes, (k->n_wi + 1) * sizeof *k->wi_votes);
    if (!k->wi_names || !k->wi_votes)
        log_oom();
    k->wi_names[k->n_wi] = name;
    k->wi_votes[k->n_wi] = 0;
    return k->n_wi++;
}

/* Counts the motion's ballots (online and paper) into k. False on a database error. */
static bool count(PGconn *c, const motion_t *m, json_t *paper_keep, count_t *k, char *err, size_t errsz)
{
    memset(k, 0, sizeof *k);
    ballot_shape_t s;
    ballot_shape(m->kind, m->ballot, &s);
    size_t n = s.options, width = m->kind == KIND_RESOLUTION ? 3 : m->kind == KIND_ELECTION ? n
                                 : m->kind == KIND_EVALUATION ? 4 * n : 3 * n;
    k->options = calloc(width ? width : 1, sizeof *k->options);
    k->names = calloc(n ? n : 1, sizeof *k->names);
    if (!k->options || !k->names)
        log_oom();
    static const char *const LIST[] = {[KIND_RESOLUTION] = "choices", [KIND_ELECTION] = "candidates",
                                       [KIND_EVALUATION] = "subjects", [KIND_SELECTION] = "nominees"};
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(json_object_get(m->ballot, LIST[m->kind]), i);
        k->names[i] = json_is_string(e) ? json_string_value(e) : json_string_value(json_object_get(e, "name"));
    }

    /* An election's ballot may name nobody (blank): its ballots are counted apart. Every other
     * kind's ballot has a mark in each position, so its first position's counts are its ballots. */
    PGresult *r;
    int64_t blank = 0;
    if (m->kind == KIND_ELECTION) {
        if (!(r = q1(c,
                     "SELECT count(*), count(*) FILTER (WHERE cardinality(marks) = 0 AND cardinality(write_ins) = 0)"
                     " FROM tally.ballot WHERE motion_id = $1::uuid",
                     m->id, err, errsz)))
            return false;
        k->online = atoll(PQgetvalue(r, 0, 0));
        blank = atoll(PQgetvalue(r, 0, 1));
        PQclear(r);
    }
    /* every mark of every ballot, by position and value, in one pass */
    if (!(r = q1(c,
                 "SELECT u.ord, u.m, count(*) FROM tally.ballot b CROSS JOIN LATERAL unnest(b.marks) WITH ORDINALITY AS u(m, ord)"
                 " WHERE b.motion_id = $1::uuid GROUP BY 1, 2",
                 m->id, err, errsz)))
        return false;
    for (int i = 0; i < PQntuples(r); i++) {
        size_t pos = (size_t)atoll(PQgetvalue(r, i, 0)) - 1, v = (size_t)atoll(PQgetvalue(r, i, 1));
        int64_t cnt = atoll(PQgetvalue(r, i, 2));
        size_t at = m->kind == KIND_RESOLUTION || m->kind == KIND_ELECTION ? v
                  : m->kind == KIND_EVALUATION ? 4 * pos + v : 3 * pos + v;
        if (at < width)
            k->options[at] += cnt;
        if (m->kind != KIND_ELECTION && pos == 0)
            k->online += cnt;
    }
    PQclear(r);
    if (m->kind == KIND_ELECTION) {
        if (!(k->wi_rows = q1(c,
                              "SELECT w, count(*) FROM tally.ballot b CROSS JOIN LATERAL unnest(b.write_ins) AS w"
                              " WHERE b.motion_id = $1::uuid GROUP BY w ORDER BY w",
                              m->id, err, errsz)))
            return false;
        for (int i = 0; i < PQntuples(k->wi_rows); i++)
        {
            size_t slot = wi_slot(k, PQgetvalue(k->wi_rows, i, 0)); /* before the index: it may move the array */
            k->wi_votes[slot] += atoll(PQgetvalue(k->wi_rows, i, 1));
        }
    }
    if (!(r = q1(c,
                 "SELECT count(*) FILTER (WHERE voted = 'online'), count(*) FILTER (WHERE voted = 'paper')"
                 " FROM tally.roll WHERE motion_id = $1::uuid",
                 m->id, err, errsz)))
        return false;
    k->voters_online = atoll(PQgetvalue(r, 0, 0));
    k->voters_paper = atoll(PQgetvalue(r, 0, 1));
    PQclear(r);

    /* paper boxes, checked when they were entered (paper.c) */
    if (!(r = q1(c, "SELECT ballots, invalid, counts::text FROM tally.paper_box WHERE motion_id = $1::uuid ORDER BY box",
                 m->id, err, errsz)))
        return false;
    int64_t invalid = 0;
    for (int i = 0; i < PQntuples(r); i++) {
        k->paper += atoll(PQgetvalue(r, i, 0));
        invalid += atoll(PQgetvalue(r, i, 1));
        json_error_t je;
        json_t *counts = json_loads(PQgetvalue(r, i, 2), 0, &je);
        json_array_append_new(paper_keep, counts ? counts : json_null());
        if (m->kind == KIND_RESOLUTION)
            for (size_t o = 0; o < 3; o++)
                k->options[o] += json_integer_value(json_array_get(json_object_get(counts, "options"), o));
        else if (m->kind == KIND_ELECTION) {
            for (size_t o = 0; o < n; o++)
                k->options[o] += json_integer_value(json_array_get(json_object_get(counts, "candidates"), o));
            blank += json_integer_value(json_object_get(counts, "blank"));
            const char *name;
            json_t *v;
            json_object_foreach (json_object_get(counts, "write_ins"), name, v) {
                size_t slot = wi_slot(k, name);
                k->wi_votes[slot] += json_integer_value(v);
            }
        } else {
            json_t *rows = json_object_get(counts, m->kind == KIND_EVALUATION ? "subjects" : "nominees");
            size_t w = m->kind == KIND_EVALUATION ? 4 : 3;
            for (size_t row = 0; row < n; row++)
                for (size_t l = 0; l < w; l++)
                    k->options[w * row + l] += json_integer_value(json_array_get(json_array_get(rows, row), l));
        }
    }
    PQclear(r);

    k->in = (tally_in_t){.kind = m->kind, .runoff = m->runoff_of_code != NULL, .roll = m->roll_count,
                         .voters = k->voters_online + k->voters_paper, .ballots = k->online + k->paper,
                         .invalid = invalid, .names = k->names};
    switch (m->kind) {
    case KIND_RESOLUTION:
        k->in.n_options = 3;
        k->in.options = k->options;
        break;
    case KIND_ELECTION:
        k->in.n_options = n;
        k->in.options = k->options;
        k->in.n_write_ins = k->n_wi;
        k->in.write_in_names = k->wi_names;
        k->in.write_in_votes = k->wi_votes;
        k->in.seats = s.seats;
        k->in.blank = blank;
        break;
    case KIND_SELECTION:
        k->in.n_options = 3 * n;
        k->in.options = k->options;
        break;
    case KIND_EVALUATION: {
        /* 两年连续不称职: a subject found unfit in last year's evaluation */
        char year[24];
        snprintf(year, sizeof year, "%lld", (long long)json_integer_value(json_object_get(m->ballot, "year")) - 1);
        if (!(k->unfit_rows = q1(c, "SELECT DISTINCT subject_key FROM tally.evaluation_verdict WHERE year = $1::int AND verdict = 'unfit'",
                                 year, err, errsz)))
            return false;
        k->keys = calloc(n ? n : 1, sizeof *k->keys);
        k->unfit = calloc(n ? n : 1, sizeof *k->unfit);
        if (!k->keys || !k->unfit)
            log_oom();
        for (size_t i = 0; i < n; i++) {
            k->keys[i] = json_string_value(json_object_get(json_array_get(json_object_get(m->ballot, "subjects"), i), "key"));
            for (int j = 0; j < PQntuples(k->unfit_rows); j++)
                k->unfit[i] |= !strcmp(k->keys[i], PQgetvalue(k->unfit_rows, j, 0));
        }
        k->in.n_subjects = n;
        k->in.levels = k->options;
        k->in.subject_keys = k->keys;
        k->in.unfit_last_year = k->unfit;
        break;
    }
    }
    return true;
}

static const char *outcome_cn(const char *o)
{
    static const char *const MAP[][2] = {
        {"adopted", "通过"}, {"rejected", "未通过"}, {"no_quorum", "到会人数不足，表决无效"},
        {"elected", "选举产生全部名额"}, {"partly_elected", "部分名额当选，余额另行选举"}, {"tie", "得票相同，需再次投票"},
        {"invalid_round", "参加投票人数不足，选举无效"}, {"void", "投票数多于投票人数，选举无效"}, {"evaluated", "评议完成"},
    };
    for (size_t i = 0; o && i < sizeof MAP / sizeof MAP[0]; i++)
        if (!strcmp(o, MAP[i][0]))
            return MAP[i][1];
    return o ? o : "?";
}

/* The `trackers` event's payload: every receipt's tracker, sorted (byte order, as CHAIN.md says),
 * built in SQL, since a motion may have a million of them. Trackers are Crockford base32 (025's
 * CHECK), so they need no escaping. The order comes from the subquery, which reads the receipts'
 * unique index (motion_id, tracker COLLATE "C") in order: no sort, four times faster for a
 * million than string_agg(… ORDER BY …), which sorts. A subquery with ORDER BY is not flattened,
 * so the aggregate reads its rows in that order; the verifier checks the order all the same. */
static const char TRACKERS_SQL[] =
    "SELECT '{\"trackers\":[' || coalesce(string_agg('\"' || tracker || '\"', ','), '') || ']}'"
    " FROM (SELECT tracker FROM tally.receipt WHERE motion_id = $1::uuid ORDER BY tracker COLLATE \"C\") s";

static bool append_trackers(PGconn *c, motion_t *m, char *err, size_t errsz)
{
    PGresult *r = q1(c, TRACKERS_SQL, m->id, err, errsz);
    if (!r)
        return false;
    bool ok = chain_append_text(c, &m->head, "trackers", PQgetvalue(r, 0, 0), err, errsz);
    PQclear(r);
    return ok;
}

/* Closes the locked, open motion m. 503 on a database error (the caller rolls back). */
static answer_t close_motion(PGconn *c, motion_t *m, motion_action_t a, int64_t now_us, int64_t staff_id,
                             const char *correlation, char *err, size_t errsz)
{
    char why[256] = "";
    rules_t *rules = rules_parse(m->rules_body, why, sizeof why);
    if (!rules) {
        snprintf(err, errsz, "XX000: motion %s: its rules do not parse: %s", m->code, why);
        return unavailable();
    }
    json_t *paper = json_array();
    count_t k;
    answer_t ans = {0};
    json_t *result = NULL;
    if (!count(c, m, paper, &k, err, errsz)) {
        ans = unavailable();
        goto done;
    }
    if (!(result = rules_decide(rules, &k.in, why, sizeof why))) {
        char msg[400];
        snprintf(msg, sizeof msg, "计票不一致，无法得出结果 (the counts are inconsistent: %s)", why);
        ans = tally_error(409, "inconsistent_count", msg, NULL);
        goto done;
    }
    if (!motion_enter(c, m, a, now_us, staff_id, m->roll_count, result, err, errsz)) {
        ans = unavailable();
        goto done;
    }
    char closed_at[TIMEFMT_LEN], head[65];
    timefmt_format(now_us, 0, closed_at);
    json_t *ev = json_pack("{s:s,s:o,s:I,s:I,s:I,s:I}", "closed_at", closed_at, "closed_by",
                           staff_id ? json_integer(staff_id) : json_null(), "online_ballots", (json_int_t)k.online,
                           "paper_ballots", (json_int_t)k.paper, "voters_online", (json_int_t)k.voters_online,
                           "voters_paper", (json_int_t)k.voters_paper);
    /* the receipts first, as one sorted list apart from any ballot, then closed and result */
    bool ok = append_trackers(c, m, err, errsz) && chain_append(c, &m->head, "closed", ev, err, errsz) &&
              chain_append(c, &m->head, "result", result, err, errsz) && chain_store_head(c, &m->head, err, errsz);
    json_decref(ev);
    if (!ok) {
        ans = unavailable();
        goto done;
    }
    chain_hex(m->head.hash, head);
    const char *outcome = json_string_value(json_object_get(result, "outcome"));
    char summary[300];
    snprintf(summary, sizeof summary, "表决结果：%s（参加 %lld 人，选民 %lld 人）", outcome_cn(outcome),
             (long long)k.in.voters, (long long)k.in.roll);
    ev = json_pack("{s:s,s:I,s:s,s:s,s:s,s:s,s:s}", "motion", m->code, "group_id", (json_int_t)m->group_id, "kind",
                   kind_name(m->kind), "title", m->title, "outcome", outcome ? outcome : "?", "summary", summary, "head_hash",
                   head);
    ok = emit_event(c, "vote.closed", correlation, ev, now_us, err, errsz);
    json_decref(ev);
    if (!ok) {
        ans = unavailable();
        goto done;
    }
    ans = (answer_t){.status = 200, .body = json_pack("{s:s,s:O}", "motion", m->code, "result", result)};
done:
    json_decref(result);
    json_decref(paper);
    count_free(&k);
    rules_destroy(&rules);
    return ans;
}

answer_t close_handle(request_t *rq)
{
    motion_t m;
    motion_lookup_t found = motion_lock(rq->c, json_string_value(json_object_get(rq->cmd, "motion")), &m, rq->err, rq->errsz);
    if (found == MOTION_DB_ERROR)
        return unavailable();
    if (found == MOTION_MISSING)
        return tally_error(404, "unknown_motion", "没有这个表决 (no motion with this code)", NULL);
    answer_t a;
    int in = scope_check(rq->c, rq->staff_id, m.group_id, rq->err, rq->errsz);
    if (in < 0)
        a = unavailable();
    else if (!in)
        a = scope_refusal();
    else if (!motion_allows(MA_CLOSE, m.state))
        a = motion_refusal(MA_CLOSE, m.state);
    else
        a = close_motion(rq->c, &m, MA_CLOSE, rq->now_us, rq->staff_id, rq->id, rq->err, rq->errsz);
    motion_free(&m);
    return a;
}

int close_due(tally_t *t, int64_t now_us)
{
    char err[512], now[32];
    tally_ts(now_us, now);
    const char *p[] = {now};
    PGresult *due = db_exec(t->db,
                            "SELECT code FROM tally.motion WHERE state = 'open' AND closes_at <= to_timestamp($1::double precision)"
                            " ORDER BY closes_at LIMIT 20",
                            1, p, err, sizeof err, NULL);
    if (!due) {
        log_warn("clock: %s", err);
        return -1;
    }
    int closed = 0;
    for (int i = 0; i < PQntuples(due); i++) {
        const char *code = PQgetvalue(due, i, 0);
        PGconn *c = db_conn(t->db, err, sizeof err);
        if (!c || !db_begin(c, err, sizeof err)) {
            log_warn("clock: %s", err);
            PQclear(due);
            return -1;
        }
        motion_t m;
        motion_lookup_t f = motion_lock(c, code, &m, err, sizeof err);
        answer_t a = {.status = 200};
        /* state and time again under the lock: a teller may have closed it meanwhile */
        if (f == MOTION_FOUND && motion_allows(MA_CLOCK_CLOSE, m.state) && m.closes_at_us && m.closes_at_us <= now_us) {
            char corr[UUID_STR_LEN];
            uuid_v4(corr);
            a = close_motion(c, &m, MA_CLOCK_CLOSE, now_us, 0, corr, err, sizeof err);
        } else if (f == MOTION_DB_ERROR) {
            a.status = 503;
        }
        if (f == MOTION_FOUND)
            motion_free(&m);
        if (a.status == 200 && db_commit(c, err, sizeof err)) {
            if (a.body) {
                closed++;
                log_info("motion %s closed by the clock", code);
            }
        } else {
            db_rollback(c);
            if (a.status == 503 || a.status == 200)
                log_warn("clock: closing %s: %s", code, err);
            else
                log_error("clock: %s cannot close: %s", code,
                          json_string_value(json_object_get(json_object_get(a.body, "error"), "message")));
        }
        json_decref(a.body);
    }
    PQclear(due);
    return closed;
}
