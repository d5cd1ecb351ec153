/* slips: credentials printed for a meeting (gridgovctl tally slips). New credentials replace the
 * old ones of the voters named (default: every voter who has not voted yet), so a lost message or
 * a slip handed to the wrong person can be made useless. The answer lists them; the stored answer
 * only says how many (tally.command never holds a credential), and a retry issues new ones again. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "credential.h"
#include "db.h"
#include "handlers.h"
#include "log.h"
#include "motion.h"
#include "roll.h"

answer_t slips_handle(request_t *rq)
{
    motion_t m;
    motion_lookup_t found = motion_lock(rq->c, json_string_value(json_object_get(rq->cmd, "motion")), &m, rq->err, rq->errsz);
    if (found == MOTION_DB_ERROR)
        return unavailable();
    if (found == MOTION_MISSING)
        return tally_error(404, "unknown_motion", "没有这个表决 (no motion with this code)", NULL);
    answer_t a = {0};
    PGresult *r = NULL;
    json_t *recs = NULL, *slips = NULL;
    char *arr = NULL;
    int in = scope_check(rq->c, rq->staff_id, m.group_id, rq->err, rq->errsz);
    if (in < 0)
        goto db_fail;
    if (!in) {
        a = scope_refusal();
        goto done;
    }
    if (!motion_allows(MA_SLIPS, m.state)) {
        a = motion_refusal(MA_SLIPS, m.state);
        goto done;
    }
    json_t *voters = json_object_get(rq->cmd, "voters");
    if (voters && (!(arr = roll_ids_sql(voters)) || json_array_size(voters) == 0)) {
        a = tally_error(400, "bad_voters", "voters: a list of voter ids", NULL);
        goto done;
    }
    /* the voters' rows, locked: a cast in flight either voted before (no slip) or waits */
    const char *p[] = {m.id, arr};
    if (!(r = db_pq_exec(rq->c,
                         "SELECT r.voter_id, r.household_id, r.name, r.voted IS NOT NULL, p.holder"
                         " FROM tally.roll r LEFT JOIN tally.proxy p ON p.motion_id = r.motion_id AND p.principal = r.voter_id"
                         " WHERE r.motion_id = $1::uuid AND ($2::bigint[] IS NULL OR r.voter_id = ANY($2::bigint[]))"
                         " AND ($2::bigint[] IS NOT NULL OR r.voted IS NULL) ORDER BY r.voter_id FOR UPDATE OF r",
                         2, p, rq->err, rq->errsz, NULL)))
        goto db_fail;
    int n = PQntuples(r);
    if (voters && (size_t)n != json_array_size(voters)) {
        a = tally_error(400, "not_on_roll", "名单中有人不在本次选民名单上，或重复 (a voter is not on the roll, or named twice)", NULL);
        goto done;
    }
    recs = json_array();
    slips = json_array();
    for (int i = 0; i < n; i++) {
        if (PQgetvalue(r, i, 3)[0] == 't') {
            a = tally_error(409, "already_voted", "名单中有人已投过票 (a voter has voted already; no slip was issued)", NULL);
            goto done;
        }
        char cred[CREDENTIAL_LEN + 1], hex[65], shown[CREDENTIAL_LEN + 4];
        credential_new(cred);
        credential_hash_hex(cred, hex);
        credential_grouped(cred, shown);
        int64_t v = atoll(PQgetvalue(r, i, 0));
        json_array_append_new(recs, json_pack("{s:I,s:s}", "v", (json_int_t)v, "c", hex));
        json_t *slip = roll_credential_entry(v, atoll(PQgetvalue(r, i, 1)), shown,
                                             PQgetisnull(r, i, 4) ? 0 : atoll(PQgetvalue(r, i, 4)));
        json_object_set_new(slip, "name", json_string(PQgetvalue(r, i, 2)));
        json_array_append_new(slips, slip);
        memset(cred, 0, sizeof cred);
    }
    char *text = json_dumps(recs, JSON_COMPACT);
    if (!text)
        log_oom();
    const char *pu[] = {m.id, text};
    PGresult *u = db_pq_exec(rq->c,
                             "UPDATE tally.roll r SET cred_sha256 = decode(x.c, 'hex') FROM jsonb_to_recordset($2::jsonb) AS x(v bigint, c text)"
                             " WHERE r.motion_id = $1::uuid AND r.voter_id = x.v AND r.voted IS NULL",
                             2, pu, rq->err, rq->errsz, NULL);
    free(text);
    if (!u)
        goto db_fail;
    PQclear(u);
    a = (answer_t){.status = 200, .body = json_pack("{s:O}", "slips", slips), .stored = json_pack("{s:i}", "issued", n)};
done:
    free(arr);
    PQclear(r);
    json_decref(recs);
    json_decref(slips);
    motion_free(&m);
    return a;
db_fail:
    a = unavailable();
    goto done;
}
