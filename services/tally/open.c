/* open: the roll snapshot (roll.h), a credential per voter, the chain's first three events and
 * the announcements, in one transaction: a motion is open with its whole roll or not at all. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ballot.h"
#include "credential.h"
#include "db.h"
#include "handlers.h"
#include "log.h"
#include "motion.h"
#include "roll.h"
#include "timefmt.h"

/* vote.credentials carries at most this many credentials (the plan's limit, proto/). */
#define CREDENTIALS_PER_EVENT 500

static json_t *time_or_null(int64_t us)
{
    if (!us)
        return json_null();
    char t[TIMEFMT_LEN];
    timefmt_format(us, 0, t);
    return json_string(t);
}

answer_t open_handle(request_t *rq)
{
    motion_t m;
    const char *code = json_string_value(json_object_get(rq->cmd, "motion"));
    motion_lookup_t found = motion_lock(rq->c, code, &m, rq->err, rq->errsz);
    if (found == MOTION_DB_ERROR)
        return unavailable();
    if (found == MOTION_MISSING)
        return tally_error(404, "unknown_motion", "没有这个表决 (no motion with this code)", NULL);
    answer_t a = {0};
    PGresult *roll = NULL, *px = NULL;
    json_t *voters = NULL, *recs = NULL, *creds = NULL, *proxies = NULL;
    char (*cred)[CREDENTIAL_LEN + 1] = NULL;
    int in = scope_check(rq->c, rq->staff_id, m.group_id, rq->err, rq->errsz);
    if (in < 0)
        goto db_fail;
    if (!in) {
        a = scope_refusal();
        goto done;
    }
    if (!motion_allows(MA_OPEN, m.state)) {
        a = motion_refusal(MA_OPEN, m.state);
        goto done;
    }
    const char *closes = json_string_value(json_object_get(rq->cmd, "closes_at"));
    if (closes && !timefmt_parse_db(closes, &m.closes_at_us))
        m.closes_at_us = -1;
    if (m.closes_at_us && m.closes_at_us <= rq->now_us) {
        a = tally_error(400, "bad_closes_at", "closes_at: an RFC 3339 time in the future", NULL);
        goto done;
    }

    if (!(roll = roll_electorate(rq->c, m.household, m.group_id, rq->now_us, rq->err, rq->errsz)))
        goto db_fail;
    int n = PQntuples(roll);
    if (n == 0) {
        a = tally_error(409, "empty_roll", "本组没有选民 (the group has no voters on the registry)", NULL);
        goto done;
    }
    /* proxies: both sides must be on the roll as frozen now */
    const char *pm[] = {m.id};
    if (!(px = db_pq_exec(rq->c, "SELECT principal, holder FROM tally.proxy WHERE motion_id = $1::uuid ORDER BY principal", 1,
                          pm, rq->err, rq->errsz, NULL)))
        goto db_fail;
    proxies = json_array();
    cred = calloc((size_t)n, sizeof *cred);
    voters = json_array();
    recs = json_array();
    if (!cred || !voters || !recs || !proxies)
        log_oom();
    for (int i = 0; i < n; i++) {
        int64_t v = atoll(PQgetvalue(roll, i, 0)), h = atoll(PQgetvalue(roll, i, 1));
        const char *name = PQgetvalue(roll, i, 2);
        char hex[65];
        credential_new(cred[i]);
        credential_hash_hex(cred[i], hex);
        json_array_append_new(voters, json_pack("[I,I,s]", (json_int_t)v, (json_int_t)h, name));
        json_array_append_new(recs, json_pack("{s:I,s:I,s:s,s:s}", "v", (json_int_t)v, "h", (json_int_t)h, "n", name, "c", hex));
    }
    for (int i = 0; i < PQntuples(px); i++) {
        int64_t pr = atoll(PQgetvalue(px, i, 0)), ho = atoll(PQgetvalue(px, i, 1));
        bool p_on = false, h_on = false;
        for (int j = 0; j < n; j++) {
            int64_t v = atoll(PQgetvalue(roll, j, 0));
            p_on |= v == pr;
            h_on |= v == ho;
        }
        if (!p_on || !h_on) {
            char msg[200];
            snprintf(msg, sizeof msg, "委托 %lld → %lld 的一方已不在选民名单上 (a side of this proxy is no longer on the roll)",
                     (long long)pr, (long long)ho);
            a = tally_error(409, "bad_proxy", msg, NULL);
            goto done;
        }
        json_array_append_new(proxies, json_pack("[I,I]", (json_int_t)pr, (json_int_t)ho));
    }

    char *recs_text = json_dumps(recs, JSON_COMPACT);
    if (!recs_text)
        log_oom();
    const char *pr[] = {m.id, recs_text};
    PGresult *r = db_pq_exec(rq->c,
                             "INSERT INTO tally.roll (motion_id, voter_id, household_id, name, cred_sha256)"
                             " SELECT $1::uuid, x.v, x.h, x.n, decode(x.c, 'hex')"
                             " FROM jsonb_to_recordset($2::jsonb) AS x(v bigint, h bigint, n text, c text)",
                             2, pr, rq->err, rq->errsz, NULL);
    free(recs_text);
    if (!r)
        goto db_fail;
    PQclear(r);
    if (!motion_enter(rq->c, &m, MA_OPEN, rq->now_us, rq->staff_id, n, NULL, rq->err, rq->errsz))
        goto db_fail;

    /* the chain's first three events (CHAIN.md): opened, roll, proxies */
    char opened[TIMEFMT_LEN];
    timefmt_format(rq->now_us, 0, opened);
    json_t *ev = json_pack("{s:s,s:s,s:s,s:s,s:s,s:s,s:O,s:s,s:s,s:s,s:o,s:o}", "motion", m.code, "group", m.group_code,
                           "kind", kind_name(m.kind), "title", m.title, "body", m.body ? m.body : "", "electorate",
                           m.household ? "household" : "adult", "ballot", m.ballot, "rule_set", m.rule_set,
                           "rules_sha256", m.rules_sha256_hex, "opened_at", opened, "closes_at", time_or_null(m.closes_at_us),
                           "runoff_of", m.runoff_of_code ? json_string(m.runoff_of_code) : json_null());
    bool ok = chain_append(rq->c, &m.head, "opened", ev, rq->err, rq->errsz);
    json_decref(ev);
    ev = json_pack("{s:i,s:O}", "count", n, "voters", voters);
    ok = ok && chain_append(rq->c, &m.head, "roll", ev, rq->err, rq->errsz);
    json_decref(ev);
    ev = json_pack("{s:O}", "proxies", proxies);
    ok = ok && chain_append(rq->c, &m.head, "proxies", ev, rq->err, rq->errsz);
    json_decref(ev);
    ok = ok && chain_store_head(rq->c, &m.head, rq->err, rq->errsz);
    if (!ok)
        goto db_fail;

    ev = json_pack("{s:s,s:I,s:s,s:s,s:o,s:i}", "motion", m.code, "group_id", (json_int_t)m.group_id, "kind",
                   kind_name(m.kind), "title", m.title, "closes_at", time_or_null(m.closes_at_us), "roll", n);
    ok = emit_event(rq->c, "vote.opened", rq->id, ev, rq->now_us, rq->err, rq->errsz);
    json_decref(ev);
    if (!ok)
        goto db_fail;
    /* Credentials to notify, which sends each to its voter (or, for a proxy, to its holder). The
     * outbox holds them: they say nothing about any ballot (trackers are random). With delivery
     * "slips" they go nowhere: slips issues new ones at the meeting. */
    for (int from = 0; m.delivery_notify && from < n; from += CREDENTIALS_PER_EVENT) {
        creds = json_array();
        for (int i = from; i < n && i < from + CREDENTIALS_PER_EVENT; i++) {
            int64_t v = atoll(PQgetvalue(roll, i, 0)), holder = 0;
            for (int j = 0; j < PQntuples(px); j++)
                if (atoll(PQgetvalue(px, j, 0)) == v)
                    holder = atoll(PQgetvalue(px, j, 1));
            char shown[CREDENTIAL_LEN + 4];
            credential_grouped(cred[i], shown);
            json_array_append_new(creds, roll_credential_entry(v, atoll(PQgetvalue(roll, i, 1)), shown, holder));
        }
        ev = json_pack("{s:s,s:I,s:s,s:o,s:o}", "motion", m.code, "group_id", (json_int_t)m.group_id, "title", m.title,
                       "closes_at", time_or_null(m.closes_at_us), "credentials", creds);
        creds = NULL;
        ok = emit_event(rq->c, "vote.credentials", rq->id, ev, rq->now_us, rq->err, rq->errsz);
        json_decref(ev);
        if (!ok)
            goto db_fail;
    }
    a = (answer_t){.status = 200,
                   .body = json_pack("{s:s,s:i,s:o}", "motion", m.code, "roll", n, "closes_at", time_or_null(m.closes_at_us))};
done:
    if (cred)
        memset(cred, 0, (size_t)(roll ? PQntuples(roll) : 0) * sizeof *cred);
    free(cred);
    PQclear(roll);
    PQclear(px);
    json_decref(voters);
    json_decref(recs);
    json_decref(proxies);
    json_decref(creds);
    motion_free(&m);
    return a;
db_fail:
    a = unavailable();
    goto done;
}
