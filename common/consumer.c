#include "consumer.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "buf.h"
#include "bus.h"
#include "bus_watch.h"
#include "db.h"
#include "db_tx.h"
#include "gclock.h"
#include "log.h"
#include "ratelog.h"
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
    void *sub; /* in the bus's context */
    bus_t *bus;
    char *endpoints;
    bus_watch_t *watch;    /* the SUB's handshakes: one that failed makes a new socket */
    bool reopen;
    int64_t reopen_at_ms;
    ratelog_t forged_log; /* live frames that name no event of bus.outbox */
    char live_ids[TX_EVENTS][UUID_STR_LEN]; /* the ids of one live batch */
    int64_t next_sweep_ms;
    bool gap; /* a live sequence gap was seen: sweep now */
    int backoff_ms;    /* 0 while sweeps succeed; after a failure the wait before the next one */
    ratelog_t db_log;  /* sweep failures: a line every few seconds while the database is away */
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

/* A new SUB socket in self->sub (the old one closed), subscribed and connected to every
 * publisher (bus.h). On failure the old socket stays. */
static bool open_socket(consumer_t *self, char *err, size_t errsz)
{
    void *sub = zmq_socket(bus_ctx(self->bus), ZMQ_SUB);
    if (!sub) {
        snprintf(err, errsz, "zmq_socket: %s", zmq_strerror(errno));
        return false;
    }
    int linger = 0, hwm = 100000;
    zmq_setsockopt(sub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sub, ZMQ_RCVHWM, &hwm, sizeof hwm);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, self->prefix, strlen(self->prefix));
    char why[512];
    if (!bus_watch_attach(self->watch, sub, why, sizeof why) ||
        !bus_connect_list(self->bus, sub, BUS_EVENTS, self->endpoints, why, sizeof why)) {
        snprintf(err, errsz, "cannot subscribe: %s", why);
        zmq_close(sub);
        return false;
    }
    if (self->sub)
        zmq_close(self->sub);
    self->sub = sub;
    return true;
}

/* After a failed handshake or an oversized frame libzmq does not come back by itself
 * (bus_watch.h): a new socket, at most once a second, and a sweep for what the old one missed. */
static void heal_socket(consumer_t *self)
{
    if (bus_watch_broken(self->watch))
        self->reopen = true;
    if (!self->reopen || gclock_mono_ms() < self->reopen_at_ms)
        return;
    char err[512];
    self->reopen_at_ms = gclock_mono_ms() + 1000;
    if (!open_socket(self, err, sizeof err)) {
        log_warn("consumer %s: %s", self->name, err);
        return;
    }
    self->reopen = false;
    self->gap = true;
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
    self->forged_log = (ratelog_t)RATELOG_INIT(1, 10000);
    self->db_log = (ratelog_t)RATELOG_INIT(1, 5000);
    self->bus = o->bus;
    self->endpoints = xstrdup(o->endpoints);
    char what[160];
    snprintf(what, sizeof what, "consumer %s subscribing to", self->name);
    self->watch = bus_watch_new(o->bus, what);
    self->db = db_connect(o->conninfo, o->name, err, errsz);
    if (!self->db || !open_socket(self, err, errsz))
        goto fail;
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
    bus_watch_destroy(&self->watch);
    db_destroy(&self->db);
    free(self->endpoints);
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

/* The handler over the events fresh[0..n) (their inbox rows just inserted), inside the caller's
 * open transaction. Returns n, or -1 when the handler failed (the caller rolls back). */
static int run_effects(consumer_t *self, PGconn *c, const json_t *const *fresh, const char *const *raws, int n)
{
    char err[512] = "";
    int ran = 0;
    if (n > 0) {
        if (self->batch_fn) {
            ran = self->batch_fn(c, fresh, (size_t)n, self->arg, err, sizeof err) ? n : -1;
        } else {
            for (int k = 0; k < n && ran >= 0; k++)
                ran = self->fn(c, fresh[k], raws[k], self->arg, err, sizeof err) ? ran + 1 : -1;
        }
    }
    if (ran < 0) {
        log_warn("consumer %s: %d new event(s) not processed: %s", self->name, n, err);
        snprintf(self->last_error, sizeof self->last_error, "%s", err);
    }
    return ran;
}

/* The effects of swept events raws[0..n) (bus.envelope rows) inside the caller's open
 * transaction: one inbox insert for all of them, then the handler for the events whose inbox row
 * is new (a repeat changes nothing). Malformed envelopes and other types are skipped. Returns how
 * many effects ran, or -1 on failure (the caller rolls back). */
static int apply_events(consumer_t *self, PGconn *c, const char *const *raws, int n)
{
    char err[512] = "";
    size_t cap = (size_t)(n > 0 ? n : 1);
    json_t **envs = calloc(cap, sizeof *envs);
    const json_t **fresh = calloc(cap, sizeof *fresh);
    const char **fresh_raws = calloc(cap, sizeof *fresh_raws);
    int *wanted_at = calloc(cap, sizeof *wanted_at); /* the batch index of each id sent */
    if (!envs || !fresh || !fresh_raws || !wanted_at)
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
        if (!r) {
            ran = -1;
            log_warn("consumer %s: %s", self->name, err);
            snprintf(self->last_error, sizeof self->last_error, "%s", err);
        }
        for (int k = 0; r && k < PQntuples(r); k++) {
            int pos = atoi(PQgetvalue(r, k, 0)) - 1;
            if (pos < 0 || pos >= wanted)
                continue;
            fresh_raws[nfresh] = raws[wanted_at[pos]];
            fresh[nfresh++] = envs[wanted_at[pos]];
        }
        PQclear(r);
    }
    if (ran == 0)
        ran = run_effects(self, c, fresh, fresh_raws, nfresh);
    for (int i = 0; i < n; i++)
        json_decref(envs[i]);
    free(envs);
    free(fresh);
    free(fresh_raws);
    free(wanted_at);
    buf_free(&ids);
    return ran;
}

/* The live path takes only the ids from the wire and reads the events themselves from
 * bus.outbox, in the same statement that claims their inbox rows: PostgreSQL is the record, the
 * frame a doorbell. An id that is not in bus.outbox (a forged or garbled frame) changes nothing.
 * One row per id sent, in the order received: whether the outbox has it, and the envelope when
 * its inbox row is new (once per id, at its first position) and its type is the consumer's. */
static const char LIVE_SQL[] =
    "WITH sent AS (SELECT e, pos FROM unnest($2::uuid[]) WITH ORDINALITY AS u(e, pos)),"
    " known AS (SELECT o.id, o.type, min(s.pos) AS pos FROM sent s JOIN bus.outbox o ON o.id = s.e"
    "           GROUP BY o.id, o.type),"
    " ins AS (INSERT INTO bus.inbox (consumer, event_id)"
    "         SELECT $1, id FROM known WHERE starts_with(type, $3) ORDER BY 2"
    "         ON CONFLICT DO NOTHING RETURNING event_id)"
    " SELECT s.pos, k.id IS NOT NULL,"
    "        CASE WHEN k.pos = s.pos AND EXISTS (SELECT 1 FROM ins WHERE ins.event_id = k.id)"
    "             THEN (SELECT v.envelope::text FROM bus.envelope v WHERE v.id = k.id) END"
    " FROM sent s LEFT JOIN known k ON k.id = s.e ORDER BY s.pos";

/* The effects of the live events ids[0..n) inside the caller's open transaction; *unknown counts
 * the ids bus.outbox does not have. Returns how many effects ran, or -1 (the caller rolls back). */
static int apply_live(consumer_t *self, PGconn *c, char (*ids)[UUID_STR_LEN], int n, int *unknown, int *first_unknown)
{
    char err[512] = "";
    buf_t arr = BUF_INIT;
    buf_puts(&arr, "{");
    for (int i = 0; i < n; i++)
        buf_printf(&arr, "%s%s", i ? "," : "", ids[i]);
    buf_puts(&arr, "}");
    const char *p[] = {self->name, buf_str(&arr), self->prefix};
    PGresult *r = db_pq_exec(c, LIVE_SQL, 3, p, err, sizeof err, NULL);
    buf_free(&arr);
    if (!r) {
        log_warn("consumer %s: %s", self->name, err);
        snprintf(self->last_error, sizeof self->last_error, "%s", err);
        return -1;
    }
    int rows = PQntuples(r), nfresh = 0;
    json_t **envs = calloc((size_t)(rows > 0 ? rows : 1), sizeof *envs);
    const char **raws = calloc((size_t)(rows > 0 ? rows : 1), sizeof *raws);
    if (!envs || !raws)
        log_oom();
    *unknown = 0;
    for (int k = 0; k < rows; k++) {
        if (PQgetvalue(r, k, 1)[0] != 't') {
            if ((*unknown)++ == 0)
                *first_unknown = atoi(PQgetvalue(r, k, 0)) - 1;
            continue;
        }
        if (PQgetisnull(r, k, 2))
            continue; /* processed already, or another type */
        json_error_t jerr;
        json_t *env = json_loads(PQgetvalue(r, k, 2), 0, &jerr);
        if (!env)
            continue; /* the view builds it: cannot happen */
        raws[nfresh] = PQgetvalue(r, k, 2);
        envs[nfresh++] = env;
    }
    int ran = run_effects(self, c, (const json_t *const *)envs, raws, nfresh);
    for (int k = 0; k < nfresh; k++)
        json_decref(envs[k]);
    free(envs);
    free(raws);
    PQclear(r);
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

/* Says (rate-limited) that live frames named no event of bus.outbox, or no event at all. */
static void report_forged(consumer_t *self, int unknown, const char *example, int malformed)
{
    long held;
    if ((unknown || malformed) && ratelog_allow(&self->forged_log, &held)) {
        char also[80] = "";
        if (held)
            snprintf(also, sizeof also, "; %ld such batches since the last report were not logged", held);
        log_warn("consumer %s: ignored %d live frame(s) naming an event that is not in bus.outbox (forged or unknown; "
                 "e.g. %s) and %d without an event id%s",
                 self->name, unknown, unknown ? example : "-", malformed, also);
    }
}

/* Live events from ZeroMQ: one transaction for all, no cursor (the sweep moves the cursor).
 * One statement reads them from bus.outbox and claims their inbox rows; the handler follows. */
static int process_live(consumer_t *self, char (*ids)[UUID_STR_LEN], int n, int malformed)
{
    char err[512];
    int unknown = 0, first = 0;
    if (n == 0) {
        report_forged(self, 0, NULL, malformed);
        return 0;
    }
    PGconn *c = db_conn(self->db, err, sizeof err);
    if (!c || !db_begin(c, err, sizeof err))
        return -1;
    int r = apply_live(self, c, ids, n, &unknown, &first);
    if (r < 0 || !db_commit(c, err, sizeof err)) {
        db_rollback(c);
        return -1;
    }
    report_forged(self, unknown, ids[first], malformed);
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

/* A sweep failed (the database is away, or an event's handler failed): the next one waits,
 * 100 ms doubling to 5 s, instead of running again at once; a live gap no longer hurries it,
 * since the sweep then brings back everything anyway. */
static int back_off(consumer_t *self)
{
    self->backoff_ms = self->backoff_ms ? (self->backoff_ms < CONSUMER_BACKOFF_MAX_MS / 2 ? self->backoff_ms * 2
                                                                                          : CONSUMER_BACKOFF_MAX_MS)
                                        : CONSUMER_BACKOFF_MIN_MS;
    self->next_sweep_ms = gclock_mono_ms() + self->backoff_ms;
    self->gap = false;
    return -1;
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
            long held;
            if (ratelog_allow(&self->db_log, &held))
                log_warn("consumer %s: sweep failed: %s (retrying with back-off up to %d s; %ld more not shown)",
                         self->name, err, CONSUMER_BACKOFF_MAX_MS / 1000, held);
            PQclear(r);
            return back_off(self);
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
                    return back_off(self);
                }
            }
            if (ran > 0)
                total += ran;
        }
        PQclear(r);
        if (n < atoi(SWEEP_BATCH))
            break;
    }
    if (self->backoff_ms)
        log_info("consumer %s: the database answers again; sweeping resumed", self->name);
    self->backoff_ms = 0;
    self->next_sweep_ms = gclock_mono_ms() + self->sweep_ms;
    self->gap = false;
    return total;
}

bool consumer_rewind(consumer_t *self, char *err, size_t errsz)
{
    const char *p[] = {self->name};
    return db_run(self->db, "DELETE FROM bus.cursor WHERE consumer = $1", 1, p, err, errsz);
}

/* Reads a header frame {"publisher","seq","id"}: tracks each publisher's sequence (a jump means
 * PUB dropped something) and copies the event id into id. False when it names no event. */
static bool read_header(consumer_t *self, const char *hdr, size_t n, char id[UUID_STR_LEN])
{
    json_error_t jerr;
    json_t *h = json_loadb(hdr, n, 0, &jerr);
    const char *eid = h ? json_string_value(json_object_get(h, "id")) : NULL;
    bool has_id = eid && uuid_valid(eid);
    if (has_id)
        snprintf(id, UUID_STR_LEN, "%s", eid);
    const char *pub = h ? json_string_value(json_object_get(h, "publisher")) : NULL;
    json_int_t seq = h ? json_integer_value(json_object_get(h, "seq")) : 0;
    if (!pub || seq <= 0) {
        json_decref(h);
        return has_id;
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
    return has_id;
}

void *consumer_socket(consumer_t *self) { return self->sub; }

int consumer_next_timeout_ms(const consumer_t *self)
{
    if (self->gap)
        return 0;
    int64_t now = gclock_mono_ms(), left = self->next_sweep_ms - now;
    /* A socket waiting to be made again (heal_socket) is due then, however far the sweep is: a
     * daemon whose other timers are slow must not stay deaf until its next sweep. */
    if (self->reopen && self->reopen_at_ms - now < left)
        left = self->reopen_at_ms - now;
    return left < 0 ? 0 : (int)left;
}

/* The id of the next queued live event: 1 when one was read into id, 0 when nothing is queued,
 * -1 when a message of another shape (or whose header names no event) was dropped. A message is
 * [type, header, envelope]; the envelope on the wire is not used (process_live). */
static int recv_event(consumer_t *self, char id[UUID_STR_LEN])
{
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
    int out = got == 0 ? 0 : -1;
    if (got == 3 && read_header(self, zmq_msg_data(&parts[1]), zmq_msg_size(&parts[1]), id))
        out = 1;
    for (int i = 0; i < got; i++)
        zmq_msg_close(&parts[i]);
    return out;
}

int consumer_poll(consumer_t *self, int timeout_ms)
{
    int ran = 0;
    heal_socket(self);
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
        int nid = 0, malformed = 0, got = 1;
        while (nid + malformed < self->tx_events && (got = recv_event(self, self->live_ids[nid])) != 0) {
            if (got > 0)
                nid++;
            else
                malformed++;
        }
        if (nid + malformed == 0)
            break;
        int r = process_live(self, self->live_ids, nid, malformed);
        if (r < 0 && !self->backoff_ms)
            self->gap = true; /* the sweep will bring them back (when backing off: the one due) */
        else
            ran += r;
        if (got == 0)
            break; /* drained */
    }
    return ran;
}
