#include "cast.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ballot.h"
#include "credential.h"
#include "db.h"
#include "db_tx.h"
#include "handlers.h"
#include "log.h"
#include "motion.h"
#include "uuid.h"

/* One statement per cast (see cast.h), all of a batch sent in one pipeline: the roll row changes only for an unused credential and no
 * earlier receipt of this command; the ballot and the receipt (two rows that name nothing of each
 * other) are inserted only when it did. Then what the answer needs: the new tracker, an earlier
 * one of this command, and whether the credential is the motion's at all. */
static const char CAST_SQL[] =
    "WITH prior AS (SELECT tracker FROM tally.receipt WHERE motion_id = $1::uuid AND cast_key = decode($7, 'hex')),"
    " u AS (UPDATE tally.roll SET voted = 'online' WHERE motion_id = $1::uuid AND cred_sha256 = decode($2, 'hex')"
    "       AND voted IS NULL AND NOT EXISTS (SELECT 1 FROM prior) RETURNING voter_id),"
    " b AS (INSERT INTO tally.ballot (id, motion_id, marks, write_ins)"
    "       SELECT $3::uuid, $1::uuid, $5::smallint[], $6::text[] FROM u RETURNING id),"
    " r AS (INSERT INTO tally.receipt (motion_id, tracker, cast_key)"
    "       SELECT $1::uuid, $4, decode($7, 'hex') FROM u RETURNING tracker)"
    " SELECT (SELECT tracker FROM r), (SELECT tracker FROM prior),"
    "        EXISTS (SELECT 1 FROM tally.roll WHERE motion_id = $1::uuid AND cred_sha256 = decode($2, 'hex'))";

typedef struct {
    int motion;                       /* index into the batch's motions; -1 none */
    char cred_hex[65];
    short marks[BALLOT_MAX_OPTIONS];
    size_t n_marks;
    const json_t *write_ins;
    char ballot_id[UUID_STR_LEN];
    char tracker[TRACKER_LEN + 1];
    char hash[65];
    bool stored;                      /* a new ballot of this batch */
    bool run;                         /* judged sound: its statement goes to the database */
    char marks_sql[BALLOT_MAX_OPTIONS * 8 + 3];
    char *wi_sql;                     /* owned */
    char key[65];
    answer_t a;                       /* set once decided */
} cast_t;

typedef struct {
    const char *code;
    motion_t m;
    bool locked;
    ballot_shape_t shape;
    size_t new_ballots;
} batch_motion_t;

static int by_ballot_id(const void *x, const void *y)
{
    return strcmp((*(cast_t *const *)x)->ballot_id, (*(cast_t *const *)y)->ballot_id);
}

static void cast_key_hex(const char *id, char hex[65])
{
    unsigned char md[32];
    unsigned len = 0;
    EVP_Digest(id, strlen(id), md, &len, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

static answer_t tracker_answer(const char *tracker, int status)
{
    return (answer_t){.status = status, .body = json_pack("{s:s}", "tracker", tracker)};
}

/* A cast's answer from its statement's row. */
static void settle(cast_t *x, batch_motion_t *bm, PGresult *r)
{
    if (!PQgetisnull(r, 0, 0)) {
        x->stored = true;
        bm->new_ballots++;
        ballot_hash_hex(bm->m.code, x->ballot_id, x->marks, x->n_marks, x->write_ins, x->hash);
        x->a = tracker_answer(x->tracker, 201);
    } else if (!PQgetisnull(r, 0, 1)) {
        x->a = tracker_answer(PQgetvalue(r, 0, 1), 201); /* this command's ballot, stored before */
    } else if (PQgetvalue(r, 0, 2)[0] == 't') {
        x->a = tally_error(409, "already_voted", "此凭证已投过票 (this credential has voted already)", NULL);
    } else {
        x->a = tally_error(403, "bad_credential", "投票凭证无效 (no voter of this motion has this credential)", NULL);
    }
}

/* Runs the statements of the casts marked to run in one libpq pipeline, inside the open
 * transaction, and settles each. False when the database failed (the pipeline is ended and the
 * caller rolls back); a failed statement aborts the rest, and the caller then goes cast by cast. */
static bool pipeline(PGconn *c, cast_t *cs, size_t n, batch_motion_t *ms, char *err, size_t errsz)
{
    size_t sent = 0;
    bool ok = PQenterPipelineMode(c) == 1;
    for (size_t i = 0; ok && i < n; i++) {
        cast_t *x = &cs[i];
        if (!x->run)
            continue;
        const char *p[] = {ms[x->motion].m.id, x->cred_hex, x->ballot_id, x->tracker, x->marks_sql, x->wi_sql, x->key};
        ok = PQsendQueryPrepared(c, "tally_cast", 7, p, NULL, NULL, 0) == 1;
        sent += ok;
    }
    if (!ok || PQpipelineSync(c) != 1) {
        snprintf(err, errsz, "08006: pipeline: %s", PQerrorMessage(c));
        ok = false;
    }
    /* every result, then the sync, even after a failure: the connection must leave pipeline mode */
    size_t got = 0;
    for (size_t i = 0; i < n && got < sent && PQpipelineStatus(c) != PQ_PIPELINE_OFF; i++) {
        cast_t *x = &cs[i];
        if (!x->run)
            continue;
        PGresult *r = PQgetResult(c);
        got++;
        if (!r) {
            ok = false;
            break;
        }
        if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) == 1) {
            if (ok)
                settle(x, &ms[x->motion], r);
        } else if (ok) {
            const char *st = PQresultErrorField(r, PG_DIAG_SQLSTATE), *msg = PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY);
            snprintf(err, errsz, "%s: %s", st ? st : "XX000", msg ? msg : PQresStatus(PQresultStatus(r)));
            ok = false;
        }
        PQclear(r);
        PQclear(PQgetResult(c)); /* the NULL that ends each query's results */
    }
    for (PGresult *r; PQpipelineStatus(c) != PQ_PIPELINE_OFF && (r = PQgetResult(c)) != NULL;) {
        bool synced = PQresultStatus(r) == PGRES_PIPELINE_SYNC;
        PQclear(r);
        if (synced)
            break;
    }
    if (PQexitPipelineMode(c) != 1) {
        snprintf(err, errsz, "08006: pipeline did not end: %s", PQerrorMessage(c));
        ok = false;
    }
    return ok;
}

/* The batch in one transaction. False when the database failed (err): nothing was committed and
 * the answers decided so far are dropped by the caller. */
static bool run(tally_t *t, const command_t *cmds, size_t n, cast_t *cs, int64_t now_us, size_t *stored, char *err,
                size_t errsz)
{
    batch_motion_t *ms = calloc(n, sizeof *ms);
    if (!ms)
        log_oom();
    size_t nm = 0;
    bool ok = false;
    PGconn *c = db_conn(t->db, err, errsz);
    if (!c || !db_begin(c, err, errsz))
        goto out;
    /* the motions, locked in code order (two instances lock alike: no deadlock) */
    for (size_t i = 0; i < n; i++) {
        if (cs[i].a.body)
            continue;
        const char *code = json_string_value(json_object_get(cmds[i].cmd, "motion"));
        size_t k = 0;
        while (k < nm && strcmp(ms[k].code, code))
            k++;
        if (k == nm)
            ms[nm++].code = code;
        cs[i].motion = (int)k;
    }
    size_t *order = calloc(nm ? nm : 1, sizeof *order);
    if (!order)
        log_oom();
    for (size_t k = 0; k < nm; k++) {
        size_t j = k;
        while (j > 0 && strcmp(ms[order[j - 1]].code, ms[k].code) > 0) {
            order[j] = order[j - 1];
            j--;
        }
        order[j] = k;
    }
    bool lock_failed = false;
    for (size_t o = 0; o < nm && !lock_failed; o++) {
        batch_motion_t *bm = &ms[order[o]];
        motion_lookup_t f = motion_lock(c, bm->code, &bm->m, err, errsz);
        lock_failed = f == MOTION_DB_ERROR;
        bm->locked = f == MOTION_FOUND;
        if (bm->locked)
            ballot_shape(bm->m.kind, bm->m.ballot, &bm->shape);
    }
    free(order);
    if (lock_failed)
        goto out;

    for (size_t i = 0; i < n; i++) {
        cast_t *x = &cs[i];
        if (x->a.body)
            continue;
        batch_motion_t *bm = &ms[x->motion];
        if (!bm->locked) {
            x->a = tally_error(404, "unknown_motion", "没有这个表决 (no motion with this code)", NULL);
            continue;
        }
        if (!motion_allows(MA_CAST, bm->m.state)) {
            x->a = motion_refusal(MA_CAST, bm->m.state);
            continue;
        }
        if (bm->m.closes_at_us && now_us >= bm->m.closes_at_us) {
            x->a = tally_error(409, "closed", "投票已截止 (voting has closed: closes_at has passed)", NULL);
            continue;
        }
        char why[200];
        const json_t *marks = json_object_get(cmds[i].cmd, "marks");
        x->write_ins = json_object_get(cmds[i].cmd, "write_ins");
        if (!ballot_marks_check(&bm->shape, marks, x->write_ins, x->marks, &x->n_marks, why, sizeof why)) {
            x->a = tally_error(400, "bad_ballot", why, NULL);
            continue;
        }
        char wi_sql[4096];
        if (!x->write_ins)
            snprintf(wi_sql, sizeof wi_sql, "{}");
        if (!ballot_marks_sql(x->marks, x->n_marks, x->marks_sql, sizeof x->marks_sql) ||
            (x->write_ins && !ballot_names_sql(x->write_ins, wi_sql, sizeof wi_sql))) {
            x->a = tally_error(400, "bad_ballot", "too many write-ins", NULL);
            continue;
        }
        if (!(x->wi_sql = strdup(wi_sql)))
            log_oom();
        uuid_v4(x->ballot_id);
        tracker_new(x->tracker);
        cast_key_hex(cmds[i].id, x->key);
        x->run = true;
    }

    /* The statements in one pipeline (one round trip for the batch), in arrival order: the first
     * alone, which prepares the statement on this connection when it is new. */
    size_t first = n;
    for (size_t i = 0; i < n && first == n; i++)
        if (cs[i].run)
            first = i;
    if (first < n) {
        cast_t *x = &cs[first];
        const char *p[] = {ms[x->motion].m.id, x->cred_hex, x->ballot_id, x->tracker, x->marks_sql, x->wi_sql, x->key};
        PGresult *r = db_exec_prepared(t->db, "tally_cast", CAST_SQL, 7, p, err, errsz, NULL);
        if (!r)
            goto out;
        settle(x, &ms[x->motion], r);
        PQclear(r);
    }
    if (first + 1 < n && !pipeline(c, cs + first + 1, n - first - 1, ms, err, errsz))
        goto out;

    /* one `ballots` event per motion, its ballots sorted by their random ids (no arrival order) and
     * only the number of receipts: the trackers are published at close, apart from any ballot */
    for (size_t k = 0; k < nm; k++) {
        batch_motion_t *bm = &ms[k];
        if (!bm->new_ballots)
            continue;
        cast_t **list = calloc(bm->new_ballots, sizeof *list);
        if (!list)
            log_oom();
        size_t at = 0;
        for (size_t i = 0; i < n; i++)
            if (cs[i].stored && cs[i].motion == (int)k)
                list[at++] = &cs[i];
        qsort(list, at, sizeof *list, by_ballot_id);
        json_t *ballots = json_array();
        for (size_t i = 0; i < at; i++)
            json_array_append_new(ballots, json_pack("[s,s]", list[i]->ballot_id, list[i]->hash));
        free(list);
        json_t *ev = json_pack("{s:o,s:I}", "ballots", ballots, "receipts", (json_int_t)at);
        bool appended = chain_append(c, &bm->m.head, "ballots", ev, err, errsz) && chain_store_head(c, &bm->m.head, err, errsz);
        json_decref(ev);
        if (!appended)
            goto out;
        *stored += bm->new_ballots;
    }
    /* Durability: the trackers are answered only after this COMMIT. */
    ok = db_commit(c, err, errsz);
out:
    if (!ok && c)
        db_rollback(c);
    for (size_t k = 0; k < nm; k++)
        if (ms[k].locked)
            motion_free(&ms[k].m);
    free(ms);
    return ok;
}

static void prepare(const command_t *cmds, size_t n, cast_t *cs)
{
    for (size_t i = 0; i < n; i++) {
        cs[i] = (cast_t){.motion = -1};
        char cred[CREDENTIAL_LEN + 1];
        if (!credential_normalize(json_string_value(json_object_get(cmds[i].cmd, "credential")), cred))
            cs[i].a = tally_error(403, "bad_credential", "投票凭证无效 (not a credential: 16 characters, e.g. 7KQ2-M9XD-4TRV-PA3H)", NULL);
        else
            credential_hash_hex(cred, cs[i].cred_hex);
    }
}

static void release(cast_t *cs, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_decref(cs[i].a.body);
        cs[i].a.body = NULL;
        cs[i].stored = cs[i].run = false;
        free(cs[i].wi_sql);
        cs[i].wi_sql = NULL;
    }
}

size_t cast_batch(tally_t *t, const command_t *cmds, size_t n, int64_t now_us, char **out)
{
    cast_t *cs = calloc(n, sizeof *cs);
    if (!cs)
        log_oom();
    char err[512];
    size_t stored = 0;
    prepare(cmds, n, cs);
    if (!run(t, cmds, n, cs, now_us, &stored, err, sizeof err)) {
        release(cs, n);
        stored = 0;
        if (n > 1) {
            /* one at a time: the cast that failed the batch fails alone */
            log_warn("cast batch of %zu failed (%s); one transaction per cast", n, err);
            for (size_t i = 0; i < n; i++) {
                cast_t one;
                prepare(&cmds[i], 1, &one);
                if (!run(t, &cmds[i], 1, &one, now_us, &stored, err, sizeof err)) {
                    log_warn("cast %s: %s", cmds[i].id, err);
                    release(&one, 1);
                    one.a = unavailable();
                }
                free(one.wi_sql);
                cs[i].a = one.a;
            }
        } else {
            log_warn("cast %s: %s", cmds[0].id, err);
            cs[0].a = unavailable();
        }
    }
    for (size_t i = 0; i < n; i++) {
        out[i] = command_reply(cmds[i].id, cs[i].a.status, cs[i].a.body);
        free(cs[i].wi_sql);
    }
    free(cs);
    return stored;
}
