#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "bus.h"
#include "db.h"
#include "gclock.h"
#include "log.h"
#include "ratelog.h"
#include "uuid.h"

#define RELAY_BATCH "500"
#define RELAY_BATCH_ROWS 500
#define RELAY_GATHER_MS 20

struct relay {
    char *conninfo;
    char *source;
    char *endpoint;
    int sweep_ms;
    int bell[2]; /* doorbell pipe: any byte wakes the thread */
    atomic_bool rung; /* a byte is on its way or in the pipe: further rings need not write */
    atomic_bool stop;
    _Atomic uint64_t published;
    pthread_t thread;
    void *pub; /* in the bus's context */
    char instance[UUID_STR_LEN];
    uint64_t seq;           /* the wire sequence number of this instance */
    char cursor_name[96];   /* bus.cursor row: relay:<source> */
    char xid[24], seqpos[24]; /* how far it has published: (xid, seq) in bus.outbox */
    bool dirty;             /* published past the saved cursor */
    bool leader;            /* holds the source's advisory lock: the one that publishes */
    long long saved_ms;
    ratelog_t db_log;       /* database failures: a line every few seconds while it is away */
};

/* While the database is away the relay waits between attempts, 100 ms doubling to 5 s. */
#define RELAY_BACKOFF_MIN_MS 100
#define RELAY_BACKOFF_MAX_MS 5000

static void warn_db(relay_t *self, const char *what, const char *err)
{
    long held;
    if (ratelog_allow(&self->db_log, &held))
        log_warn("relay: %s%s (retrying with back-off up to %d s; %ld more not shown)", what, err,
                 RELAY_BACKOFF_MAX_MS / 1000, held);
}

/* Reads past the relay's cursor, below the oldest running transaction (an event whose
 * transaction commits late is never skipped; see consumer.h). */
static const char BATCH_SQL[] =
    "SELECT e.xid::text, e.seq, e.type, e.envelope::text, e.id::text FROM bus.envelope e"
    " WHERE e.source = $1 AND (e.xid, e.seq) > ($2::xid8, $3::bigint)"
    "  AND e.xid < pg_snapshot_xmin(pg_current_snapshot())"
    " ORDER BY e.xid, e.seq LIMIT " RELAY_BATCH;

static bool load_cursor(relay_t *self, db_t *db)
{
    char err[512];
    const char *p[] = {self->cursor_name};
    PGresult *r = db_exec(db, "SELECT xid::text, seq FROM bus.cursor WHERE consumer = $1", 1, p, err, sizeof err, NULL);
    if (!r) {
        warn_db(self, "cannot read its cursor: ", err);
        return false;
    }
    if (PQntuples(r)) {
        snprintf(self->xid, sizeof self->xid, "%s", PQgetvalue(r, 0, 0));
        snprintf(self->seqpos, sizeof self->seqpos, "%s", PQgetvalue(r, 0, 1));
    }
    PQclear(r);
    return true;
}

/* The cursor is saved at most every CURSOR_SAVE_MS: after a crash the relay publishes again what
 * it sent in that window, which consumers ignore (inbox). Nothing is written per event. */
#define CURSOR_SAVE_MS 100

static bool save_cursor(relay_t *self, db_t *db)
{
    char err[512];
    const char *p[] = {self->cursor_name, self->xid, self->seqpos};
    if (!db_run(db,
                "INSERT INTO bus.cursor (consumer, xid, seq) VALUES ($1, $2::xid8, $3::bigint)"
                " ON CONFLICT (consumer) DO UPDATE SET xid = EXCLUDED.xid, seq = EXCLUDED.seq, updated_at = now()",
                3, p, err, sizeof err)) {
        warn_db(self, "cannot save its cursor: ", err);
        return false;
    }
    self->dirty = false;
    self->saved_ms = gclock_mono_ms();
    return true;
}

/* Reads and sends one batch; returns rows sent, or -1 on a database error. */
static int publish_batch(relay_t *self, db_t *db)
{
    char err[512];
    const char *p[] = {self->source, self->xid, self->seqpos};
    PGresult *r = db_exec(db, BATCH_SQL, 3, p, err, sizeof err, NULL);
    if (!r) {
        warn_db(self, "read failed: ", err);
        return -1;
    }
    int n = PQntuples(r);
    for (int i = 0; i < n; i++) {
        const char *type = PQgetvalue(r, i, 2);
        const char *env = PQgetvalue(r, i, 3);
        char hdr[160];
        int hl = snprintf(hdr, sizeof hdr, "{\"publisher\":\"%s\",\"seq\":%llu,\"id\":\"%s\"}", self->instance,
                          (unsigned long long)++self->seq, PQgetvalue(r, i, 4));
        /* PUB never blocks: at the high-water mark it drops, and the subscriber's gap check
         * and sweep recover the event from PostgreSQL. */
        if (zmq_send(self->pub, type, strlen(type), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
            zmq_send(self->pub, hdr, (size_t)hl, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
            zmq_send(self->pub, env, strlen(env), ZMQ_DONTWAIT) < 0)
            log_debug("relay: publish dropped: %s", zmq_strerror(errno));
    }
    if (n) {
        snprintf(self->xid, sizeof self->xid, "%s", PQgetvalue(r, n - 1, 0));
        snprintf(self->seqpos, sizeof self->seqpos, "%s", PQgetvalue(r, n - 1, 1));
        self->dirty = true;
    }
    PQclear(r);
    atomic_fetch_add(&self->published, (uint64_t)n);
    return n;
}

/* Empties the doorbell, then lets the next ring write again. In this order a ring is never lost:
 * one that found the flag set came before the flag was cleared, hence before the read that
 * follows every drain; one that comes later writes a byte of its own. */
static void drain(relay_t *self)
{
    char buf[256];
    while (read(self->bell[0], buf, sizeof buf) > 0) {
    }
    atomic_store(&self->rung, false);
}

static bool try_lead(relay_t *self, db_t *db, bool *got)
{
    char err[512];
    const char *p[] = {self->cursor_name};
    PGresult *r = db_exec(db, "SELECT pg_try_advisory_lock(hashtextextended($1, 0))", 1, p, err, sizeof err, NULL);
    if (!r) {
        warn_db(self, "", err);
        return false;
    }
    *got = PQgetvalue(r, 0, 0)[0] == 't';
    PQclear(r);
    return true;
}

/* Waits ms (less when stopping). Doorbells in between are emptied, not obeyed: the read after
 * the pause serves them, and a ring cannot turn a back-off into a busy loop. */
static void pause_ms(relay_t *self, zmq_pollitem_t *items, int ms)
{
    long long until = gclock_mono_ms() + ms;
    for (long long left = ms; left > 0 && !atomic_load(&self->stop); left = until - gclock_mono_ms()) {
        zmq_poll(items, 1, (long)left);
        drain(self);
    }
}

static int next_backoff(int ms) { return ms < RELAY_BACKOFF_MAX_MS / 2 ? ms * 2 : RELAY_BACKOFF_MAX_MS; }

static void *relay_main(void *arg)
{
    relay_t *self = arg;
    db_t *db = NULL;
    char err[512];
    zmq_pollitem_t items[] = {{NULL, self->bell[0], ZMQ_POLLIN, 0}};
    int backoff_ms = RELAY_BACKOFF_MIN_MS;
    while (!atomic_load(&self->stop)) {
        if (!db) {
            db = db_connect(self->conninfo, "gridgov-relay", err, sizeof err);
            if (!db) {
                warn_db(self, "", err);
                pause_ms(self, items, backoff_ms);
                backoff_ms = next_backoff(backoff_ms);
                continue;
            }
        }
        /* One publisher per source: the relay that holds the source's advisory lock (a session
         * lock, released when its connection dies) publishes; other instances wait to take over,
         * starting from the cursor the last holder saved. */
        if (!self->leader) {
            bool got = false;
            if (!try_lead(self, db, &got) || (got && !load_cursor(self, db))) {
                db_destroy(&db);
                self->leader = false;
                pause_ms(self, items, backoff_ms);
                backoff_ms = next_backoff(backoff_ms);
                continue;
            }
            self->leader = got;
            if (!got) {
                zmq_poll(items, 1, self->sweep_ms);
                drain(self);
                continue;
            }
            log_info("relay: publishing %s events", self->source);
        }
        /* A short batch means it has caught up: asking again would only return nothing. */
        int n;
        while ((n = publish_batch(self, db)) == RELAY_BATCH_ROWS && !atomic_load(&self->stop)) {
        }
        if (n >= 0 && self->dirty && gclock_mono_ms() - self->saved_ms >= CURSOR_SAVE_MS && !save_cursor(self, db))
            n = -1;
        if (n < 0) {
            db_destroy(&db); /* reconnect on the next turn; the lock went with the connection */
            self->leader = false;
            pause_ms(self, items, backoff_ms);
            backoff_ms = next_backoff(backoff_ms);
            continue;
        }
        if (backoff_ms != RELAY_BACKOFF_MIN_MS)
            log_info("relay: the database answers again; publishing resumed");
        backoff_ms = RELAY_BACKOFF_MIN_MS;
        int wait = self->dirty ? CURSOR_SAVE_MS : self->sweep_ms;
        if (zmq_poll(items, 1, wait) > 0) {
            /* Let the doorbells of a busy moment gather: one read then serves them all. */
            struct timespec gather = {0, RELAY_GATHER_MS * 1000000L};
            nanosleep(&gather, NULL);
            drain(self);
        }
    }
    if (db && self->dirty)
        (void)save_cursor(self, db);
    db_destroy(&db);
    return NULL;
}

relay_t *relay_start(bus_t *bus, const char *conninfo, const char *source, const char *pub_endpoint, int sweep_ms,
                     char *err, size_t errsz)
{
    relay_t *self = calloc(1, sizeof *self);
    if (!self)
        log_oom();
    self->conninfo = strdup(conninfo);
    self->source = strdup(source);
    self->endpoint = strdup(pub_endpoint);
    if (!self->conninfo || !self->source || !self->endpoint)
        log_oom();
    self->sweep_ms = sweep_ms;
    self->db_log = (ratelog_t)RATELOG_INIT(1, 5000);
    uuid_v4(self->instance);
    snprintf(self->cursor_name, sizeof self->cursor_name, "relay:%s", source);
    snprintf(self->xid, sizeof self->xid, "0");
    snprintf(self->seqpos, sizeof self->seqpos, "0");
    if (pipe2(self->bell, O_NONBLOCK | O_CLOEXEC) != 0) {
        snprintf(err, errsz, "relay: pipe: %s", strerror(errno));
        goto fail;
    }
    self->pub = zmq_socket(bus_ctx(bus), ZMQ_PUB);
    if (!self->pub) {
        snprintf(err, errsz, "relay: %s", zmq_strerror(errno));
        goto fail;
    }
    int linger = 0, hwm = 100000;
    zmq_setsockopt(self->pub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(self->pub, ZMQ_SNDHWM, &hwm, sizeof hwm);
    char why[512];
    if (!bus_bind(bus, self->pub, BUS_EVENTS, pub_endpoint, why, sizeof why)) {
        snprintf(err, errsz, "relay: %s", why);
        goto fail;
    }
    if (pthread_create(&self->thread, NULL, relay_main, self) != 0) {
        snprintf(err, errsz, "relay: cannot start thread");
        goto fail;
    }
    return self;
fail:
    if (self->pub)
        zmq_close(self->pub);
    if (self->bell[0] > 0) {
        close(self->bell[0]);
        close(self->bell[1]);
    }
    free(self->conninfo);
    free(self->source);
    free(self->endpoint);
    free(self);
    return NULL;
}

static void bell_write(relay_t *self)
{
    char b = 1;
    ssize_t w = write(self->bell[1], &b, 1); /* a full pipe means it is already ringing */
    (void)w;
}

/* Called after every commit that emits an event: under load thousands of times a second, while
 * the relay reads at most every RELAY_GATHER_MS. Only the first ring since the relay last
 * drained writes to the pipe; the others cost an atomic exchange instead of a system call. */
void relay_ring(relay_t *self)
{
    if (!self)
        return;
    if (!atomic_exchange(&self->rung, true))
        bell_write(self);
}

uint64_t relay_published(const relay_t *self) { return self ? atomic_load(&self->published) : 0; }

void relay_stop(relay_t **pself)
{
    if (!pself || !*pself)
        return;
    relay_t *self = *pself;
    atomic_store(&self->stop, true);
    bell_write(self); /* whatever the flag says: stopping must wake it now */
    pthread_join(self->thread, NULL);
    zmq_close(self->pub);
    close(self->bell[0]);
    close(self->bell[1]);
    free(self->conninfo);
    free(self->source);
    free(self->endpoint);
    free(self);
    *pself = NULL;
}
