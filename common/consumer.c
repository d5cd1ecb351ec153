#include "consumer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "buf.h"
#include "db.h"
#include "db_tx.h"
#include "gclock.h"
#include "log.h"
#include "uuid.h"

#define SWEEP_BATCH "1000"
#define TX_EVENTS 1000 /* most events per transaction, swept or live (consumer_opts_t.tx_events) */
#define MAX_PUBLISHERS 16

struct consumer {
    char *name;
    char *prefix;
    int sweep_ms;
    consumer_fn fn;
    consumer_batch_fn batch_fn;
    void *arg;
    int tx_events;
    db_t *db;
    char *conninfo;
    void *ctx;
    void *sub;
    int64_t next_sweep_ms;
    bool gap; /* a live sequence gap was seen: sweep now */
    char last_error[512];     /* the handler's last failure */
    char failing_id[40];      /* the event that failed last, and how often in a row */
    int failures;
    struct {
        char id[40];
        unsigned long long seq;
    } pubs[MAX_PUBLISHERS];
};

static char *xstrdup(const char *s)
{
    char *p = strdup(s ? s : "");
    if (!p)
        log_oom();
    return p;
}

consumer_t *consumer_new(const consumer_opts_t *o, char *err, size_t errsz)
{
    consumer_t *self = calloc(1, sizeof *self);
    if (!self)
        log_oom();
    self->name = xstrdup(o->name);
    self->prefix = xstrdup(o->type_prefix);
    self->conninfo = xstrdup(o->conninfo);
    self->sweep_ms = o->sweep_ms > 0 ? o->sweep_ms : 1000;
    self->fn = o->fn;
    self->batch_fn = o->batch_fn;
    self->tx_events = o->tx_events > 0 && o->tx_events < TX_EVENTS ? o->tx_events : TX_EVENTS;
    self->arg = o->arg;
    self->db = db_connect(o->conninfo, o->name, err, errsz);
    if (!self->db)
        goto fail;
    self->ctx = zmq_ctx_new();
    self->sub = zmq_socket(self->ctx, ZMQ_SUB);
    int linger = 0, hwm = 100000;
    zmq_setsockopt(self->sub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(self->sub, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(self->sub, ZMQ_SUBSCRIBE, self->prefix, strlen(self->prefix));
    char *eps = xstrdup(o->endpoints), *save = NULL;
    for (char *ep = strtok_r(eps, ",", &save); ep; ep = strtok_r(NULL, ",", &save)) {
        while (*ep == ' ')
            ep++;
        if (*ep && zmq_connect(self->sub, ep) != 0) {
            snprintf(err, errsz, "cannot subscribe to %s: %s", ep, zmq_strerror(errno));
            free(eps);
            goto fail;
        }
    }
    free(eps);
    self->gap = true; /* sweep at once: catch up with what was missed while down */
    return self;
fail:
    consumer_destroy(&self);
    return NULL;
}

void consumer_destroy(consumer_t **pself)
{
    if (!pself || !*pself)
        return;
    consumer_t *self = *pself;
    if (self->sub)
        zmq_close(self->sub);
    if (self->ctx)
        zmq_ctx_term(self->ctx);
    db_destroy(&self->db);
    free(self->name);
    free(self->prefix);
    free(self->conninfo);
    free(self);
    *pself = NULL;
}

static bool type_matches(const consumer_t *self, const char *type)
{
    return strncmp(type, self->prefix, strlen(self->prefix)) == 0;
}

/* The effects of events raws[0..n) inside the caller's open transaction: one inbox insert for all
 * of them, then the handler for the events whose inbox row is new (a repeat changes nothing).
 * Malformed envelopes and other types are skipped. Returns how many effects ran, or -1 on failure
 * (the caller rolls back). */
static int apply_events(consumer_t *self, PGconn *c, const char *const *raws, int n)
{
    char err[512] = "";
    size_t cap = (size_t)(n > 0 ? n : 1);
    json_t **envs = calloc(cap, sizeof *envs);
    const json_t **fresh = calloc(cap, sizeof *fresh);
    int *fresh_at = calloc(cap, sizeof *fresh_at);
    int *wanted_at = calloc(cap, sizeof *wanted_at); /* the batch index of each id sent */
    if (!envs || !fresh || !fresh_at || !wanted_at)
        log_oom();
    buf_t ids = BUF_INIT;
    buf_puts(&ids, "{");
    int wanted = 0;
    for (int i = 0; i < n; i++) {
        json_error_t jerr;
        json_t *env = json_loads(raws[i], 0, &jerr);
        const char *id = env ? json_string_value(json_object_get(env, "id")) : NULL;
        const char *type = env ? json_string_value(json_object_get(env, "type")) : NULL;
        if (!id || !type || !uuid_valid(id)) {
            log_warn("consumer %s: skipping a malformed envelope", self->name);
            json_decref(env);
        } else if (!type_matches(self, type)) {
            json_decref(env);
        } else {
            envs[i] = env;
            buf_printf(&ids, "%s%s", wanted ? "," : "", id);
            wanted_at[wanted++] = i;
        }
    }
    buf_puts(&ids, "}");
    int ran = 0, nfresh = 0;
    if (wanted > 0) {
        /* Inserted in id order, so two instances of a consumer wait for each other's rows instead
         * of deadlocking; ON CONFLICT DO NOTHING also drops an event that came twice in this
         * batch. Returned: the position (in the array sent) of each event whose row is new. */
        const char *p[] = {self->name, buf_str(&ids)};
        PGresult *r = db_pq_exec(c,
                                 "WITH sent AS (SELECT e, pos FROM unnest($2::uuid[]) WITH ORDINALITY AS u(e, pos)),"
                                 " ins AS (INSERT INTO bus.inbox (consumer, event_id)"
                                 "         SELECT DISTINCT $1, e FROM sent ORDER BY 2"
                                 "         ON CONFLICT DO NOTHING RETURNING event_id)"
                                 " SELECT min(pos) FROM sent JOIN ins ON ins.event_id = sent.e GROUP BY sent.e ORDER BY 1",
                                 2, p, err, sizeof err, NULL);
        if (!r)
            ran = -1;
        for (int k = 0; r && k < PQntuples(r); k++) {
            int pos = atoi(PQgetvalue(r, k, 0)) - 1;
            if (pos < 0 || pos >= wanted)
                continue;
            fresh_at[nfresh] = wanted_at[pos];
            fresh[nfresh++] = envs[wanted_at[pos]];
        }
        PQclear(r);
    }
    if (ran == 0 && nfresh > 0) {
        if (self->batch_fn) {
            ran = self->batch_fn(c, fresh, (size_t)nfresh, self->arg, err, sizeof err) ? nfresh : -1;
        } else {
            for (int k = 0; k < nfresh && ran >= 0; k++)
                ran = self->fn(c, fresh[k], raws[fresh_at[k]], self->arg, err, sizeof err) ? ran + 1 : -1;
        }
    }
    if (ran < 0) {
        log_warn("consumer %s: %d new event(s) not processed: %s", self->name, nfresh, err);
        snprintf(self->last_error, sizeof self->last_error, "%s", err);
    }
    for (int i = 0; i < n; i++)
        json_decref(envs[i]);
    free(envs);
    free(fresh);
    free(fresh_at);
    free(wanted_at);
    buf_free(&ids);
    return ran;
}

static bool save_cursor(consumer_t *self, PGconn *c, const char *xid, const char *seq)
{
    char err[512];
    const char *p[] = {self->name, xid, seq};
    PGresult *r = db_pq_exec(c,
                             "INSERT INTO bus.cursor (consumer, xid, seq) VALUES ($1, $2::xid8, $3::bigint)"
                             " ON CONFLICT (consumer) DO UPDATE SET xid = EXCLUDED.xid, seq = EXCLUDED.seq,"
                             " updated_at = now()",
                             3, p, err, sizeof err, NULL);
    PQclear(r);
    return r != NULL;
}

/* Events rows[from, to) of a sweep result (xid, seq, envelope) in ONE transaction with the
 * cursor moved past the last: one commit for many events. Returns effects run, or -1 when
 * anything failed (all of it rolled back; the caller then goes one by one). */
static int apply_rows(consumer_t *self, PGconn *c, PGresult *rows, int from, int to)
{
    char err[512];
    if (!db_begin(c, err, sizeof err)) {
        log_debug("consumer %s: %s", self->name, err);
        return -1;
    }
    const char *raws[TX_EVENTS];
    int n = 0;
    for (int i = from; i < to; i++)
        if (!PQgetisnull(rows, i, 2)) /* NULL: processed already */
            raws[n++] = PQgetvalue(rows, i, 2);
    int ran = apply_events(self, c, raws, n);
    if (ran < 0 || !save_cursor(self, c, PQgetvalue(rows, to - 1, 0), PQgetvalue(rows, to - 1, 1)) ||
        !db_commit(c, err, sizeof err)) {
        db_rollback(c);
        return -1;
    }
    return ran;
}

/* Live events from ZeroMQ: one transaction for all, no cursor (the sweep moves the cursor). */
static int process_live(consumer_t *self, const char *const *raws, int n)
{
    char err[512];
    PGconn *c = db_conn(self->db, err, sizeof err);
    if (!c || !db_begin(c, err, sizeof err))
        return -1;
    int r = apply_events(self, c, raws, n);
    if (r < 0 || !db_commit(c, err, sizeof err)) {
        db_rollback(c);
        return -1;
    }
    return r;
}

/* Past the cursor, below the oldest running transaction. An event of another type, or already in
 * the inbox (processed live), comes back without its envelope, which is then neither built nor
 * parsed: the sweep only moves the cursor past it. */
static const char SWEEP_SQL[] =
    "SELECT e.xid::text, e.seq,"
    "       CASE WHEN starts_with(e.type, $2)"
    "             AND NOT EXISTS (SELECT 1 FROM bus.inbox i WHERE i.consumer = $1 AND i.event_id = e.id)"
    "            THEN e.envelope::text END, e.id::text FROM bus.envelope e "
    "WHERE (e.xid, e.seq) > (COALESCE((SELECT xid FROM bus.cursor WHERE consumer = $1), '0'::xid8),"
    "                        COALESCE((SELECT seq FROM bus.cursor WHERE consumer = $1), 0))"
    "  AND e.xid < pg_snapshot_xmin(pg_current_snapshot()) "
    "ORDER BY e.xid, e.seq LIMIT " SWEEP_BATCH;

#define DEAD_AFTER 5   /* failures in a row before an event goes to bus.dead_letter */

/* Gives up on row k: marks it processed, records it with its error, moves the cursor past it. */
static bool dead_letter(consumer_t *self, PGconn *c, PGresult *rows, int k)
{
    char err[512], attempts[16];
    snprintf(attempts, sizeof attempts, "%d", self->failures);
    const char *id = PQgetvalue(rows, k, 3);
    const char *p[] = {self->name, id, attempts, self->last_error};
    if (!db_begin(c, err, sizeof err))
        return false;
    PGresult *r = db_pq_exec(c,
                             "WITH i AS (INSERT INTO bus.inbox (consumer, event_id) VALUES ($1, $2::uuid)"
                             " ON CONFLICT DO NOTHING)"
                             " INSERT INTO bus.dead_letter (consumer, event_id, attempts, error)"
                             " VALUES ($1, $2::uuid, $3::int, $4) ON CONFLICT DO NOTHING",
                             4, p, err, sizeof err, NULL);
    bool ok = r && save_cursor(self, c, PQgetvalue(rows, k, 0), PQgetvalue(rows, k, 1)) && db_commit(c, err, sizeof err);
    PQclear(r);
    if (!ok) {
        db_rollback(c);
        return false;
    }
    log_error("consumer %s: gave up on event %s after %d attempts (bus.dead_letter): %s", self->name, id,
              self->failures, self->last_error);
    self->failures = 0;
    self->failing_id[0] = '\0';
    return true;
}

int consumer_catch_up(consumer_t *self)
{
    int total = 0;
    for (;;) {
        char err[512];
        const char *p[] = {self->name, self->prefix};
        PGresult *r = db_exec(self->db, SWEEP_SQL, 2, p, err, sizeof err, NULL);
        PGconn *c = r ? db_conn(self->db, err, sizeof err) : NULL;
        if (!r || !c) {
            log_warn("consumer %s: sweep failed: %s", self->name, err);
            PQclear(r);
            return -1;
        }
        int n = PQntuples(r);
        for (int i = 0; i < n; i += self->tx_events) {
            int end = i + self->tx_events < n ? i + self->tx_events : n;
            int ran = apply_rows(self, c, r, i, end);
            /* A chunk that failed goes again one event per transaction, to commit those before
             * the one that fails; that one holds the cursor until it succeeds. */
            for (int k = i; ran < 0 && k < end; k++) {
                int one = apply_rows(self, c, r, k, k + 1);
                if (one >= 0) {
                    total += one;
                    continue;
                }
                const char *id = PQgetvalue(r, k, 3);
                if (strcmp(id, self->failing_id) != 0) {
                    snprintf(self->failing_id, sizeof self->failing_id, "%s", id);
                    self->failures = 0;
                }
                /* a connection failure is not the event's fault: do not count it */
                if (PQstatus(c) == CONNECTION_OK)
                    self->failures++;
                if (self->failures < DEAD_AFTER || !dead_letter(self, c, r, k)) {
                    PQclear(r);
                    return -1;
                }
            }
            if (ran > 0)
                total += ran;
        }
        PQclear(r);
        if (n < atoi(SWEEP_BATCH))
            break;
    }
    self->next_sweep_ms = gclock_mono_ms() + self->sweep_ms;
    self->gap = false;
    return total;
}

bool consumer_rewind(consumer_t *self, char *err, size_t errsz)
{
    const char *p[] = {self->name};
    return db_run(self->db, "DELETE FROM bus.cursor WHERE consumer = $1", 1, p, err, errsz);
}

/* Tracks each publisher's sequence; a jump means PUB dropped something. */
static void check_sequence(consumer_t *self, const char *hdr, size_t n)
{
    json_error_t jerr;
    json_t *h = json_loadb(hdr, n, 0, &jerr);
    const char *pub = h ? json_string_value(json_object_get(h, "publisher")) : NULL;
    json_int_t seq = h ? json_integer_value(json_object_get(h, "seq")) : 0;
    if (!pub || seq <= 0) {
        json_decref(h);
        return;
    }
    int slot = -1, free_slot = -1;
    for (int i = 0; i < MAX_PUBLISHERS; i++) {
        if (!strcmp(self->pubs[i].id, pub))
            slot = i;
        else if (!self->pubs[i].id[0] && free_slot < 0)
            free_slot = i;
    }
    if (slot < 0) {
        /* a publisher we have not heard: its earlier events may have been missed */
        slot = free_slot >= 0 ? free_slot : (int)(seq % MAX_PUBLISHERS);
        snprintf(self->pubs[slot].id, sizeof self->pubs[slot].id, "%s", pub);
        if (seq > 1)
            self->gap = true;
    } else if ((unsigned long long)seq != self->pubs[slot].seq + 1) {
        self->gap = true;
    }
    self->pubs[slot].seq = (unsigned long long)seq;
    json_decref(h);
}

void *consumer_socket(consumer_t *self) { return self->sub; }

int consumer_next_timeout_ms(const consumer_t *self)
{
    if (self->gap)
        return 0;
    int64_t left = self->next_sweep_ms - gclock_mono_ms();
    return left < 0 ? 0 : (int)left;
}

/* The next queued live event's envelope (malloc'd, NUL-terminated), or NULL when none is queued.
 * A message is [type, header, envelope]; one with another shape is dropped. */
static char *recv_event(consumer_t *self)
{
    for (;;) {
        zmq_msg_t parts[3];
        int got = 0, more = 1;
        while (more && got < 3) {
            zmq_msg_init(&parts[got]);
            if (zmq_msg_recv(&parts[got], self->sub, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&parts[got]);
                break;
            }
            more = zmq_msg_more(&parts[got]);
            got++;
        }
        while (more) { /* discard extra frames of a malformed message */
            zmq_msg_t x;
            zmq_msg_init(&x);
            if (zmq_msg_recv(&x, self->sub, ZMQ_DONTWAIT) < 0) {
                zmq_msg_close(&x);
                break;
            }
            more = zmq_msg_more(&x);
            zmq_msg_close(&x);
        }
        char *raw = NULL;
        if (got == 3) {
            check_sequence(self, zmq_msg_data(&parts[1]), zmq_msg_size(&parts[1]));
            size_t n = zmq_msg_size(&parts[2]);
            raw = malloc(n + 1);
            if (!raw)
                log_oom();
            memcpy(raw, zmq_msg_data(&parts[2]), n);
            raw[n] = '\0';
        }
        for (int i = 0; i < got; i++)
            zmq_msg_close(&parts[i]);
        if (raw || got == 0)
            return raw;
    }
}

int consumer_poll(consumer_t *self, int timeout_ms)
{
    int ran = 0;
    int64_t now = gclock_mono_ms();
    if (self->gap || now >= self->next_sweep_ms) {
        int n = consumer_catch_up(self);
        if (n < 0)
            return -1;
        ran += n;
        now = gclock_mono_ms();
    }
    int64_t until_sweep = self->next_sweep_ms - now;
    int wait = timeout_ms < until_sweep ? timeout_ms : (int)(until_sweep > 0 ? until_sweep : 0);
    zmq_pollitem_t item = {self->sub, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&item, 1, wait) <= 0)
        return ran;
    /* Drain what is queued now, up to TX_EVENTS events a transaction: under load one commit
     * serves many events instead of one each. */
    for (int batches = 0; batches < 10; batches++) {
        char *raws[TX_EVENTS];
        int nraw = 0;
        while (nraw < self->tx_events) {
            char *raw = recv_event(self);
            if (!raw)
                break;
            raws[nraw++] = raw;
        }
        if (nraw == 0)
            break;
        int r = process_live(self, (const char *const *)raws, nraw);
        if (r < 0)
            self->gap = true; /* the sweep will bring them back */
        else
            ran += r;
        for (int i = 0; i < nraw; i++)
            free(raws[i]);
        if (nraw < self->tx_events)
            break;
    }
    return ran;
}
