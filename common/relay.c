#include "relay.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "db.h"
#include "log.h"
#include "uuid.h"

#define RELAY_BATCH "500"

struct relay {
    char *conninfo;
    char *source;
    char *endpoint;
    int sweep_ms;
    int bell[2]; /* doorbell pipe: any byte wakes the thread */
    atomic_bool stop;
    _Atomic uint64_t published;
    pthread_t thread;
    void *ctx;
    void *pub;
    char instance[UUID_STR_LEN];
    uint64_t seq;
};

static const char CLAIM_SQL[] =
    "WITH c AS MATERIALIZED ("
    "  SELECT seq FROM bus.outbox WHERE source = $1 AND published_at IS NULL"
    "  ORDER BY seq LIMIT " RELAY_BATCH " FOR UPDATE SKIP LOCKED),"
    " u AS (UPDATE bus.outbox o SET published_at = now() FROM c WHERE o.seq = c.seq RETURNING o.seq)"
    " SELECT e.type, e.envelope::text FROM bus.envelope e JOIN u ON u.seq = e.seq ORDER BY e.seq";

/* Claims and sends one batch; returns rows sent, or -1 on a database error. */
static int publish_batch(relay_t *self, db_t *db)
{
    char err[512];
    const char *p[] = {self->source};
    PGresult *r = db_exec(db, CLAIM_SQL, 1, p, err, sizeof err, NULL);
    if (!r) {
        log_warn("relay: claim failed: %s", err);
        return -1;
    }
    int n = PQntuples(r);
    for (int i = 0; i < n; i++) {
        const char *type = PQgetvalue(r, i, 0);
        const char *env = PQgetvalue(r, i, 1);
        char hdr[128];
        int hl = snprintf(hdr, sizeof hdr, "{\"publisher\":\"%s\",\"seq\":%llu}", self->instance,
                          (unsigned long long)++self->seq);
        /* PUB never blocks: at the high-water mark it drops, and the subscriber's gap check
         * and sweep recover the event from PostgreSQL. */
        if (zmq_send(self->pub, type, strlen(type), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
            zmq_send(self->pub, hdr, (size_t)hl, ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
            zmq_send(self->pub, env, strlen(env), ZMQ_DONTWAIT) < 0)
            log_debug("relay: publish dropped: %s", zmq_strerror(errno));
    }
    PQclear(r);
    atomic_fetch_add(&self->published, (uint64_t)n);
    return n;
}

static void *relay_main(void *arg)
{
    relay_t *self = arg;
    db_t *db = NULL;
    char err[512];
    zmq_pollitem_t items[] = {{NULL, self->bell[0], ZMQ_POLLIN, 0}};
    int backoff_ms = 100;
    while (!atomic_load(&self->stop)) {
        if (!db) {
            db = db_connect(self->conninfo, "gridgov-relay", err, sizeof err);
            if (!db) {
                log_warn("relay: %s (retrying in %d ms)", err, backoff_ms);
                zmq_poll(items, 1, backoff_ms);
                backoff_ms = backoff_ms < 5000 ? backoff_ms * 2 : 5000;
                continue;
            }
            backoff_ms = 100;
        }
        int n;
        while ((n = publish_batch(self, db)) > 0 && !atomic_load(&self->stop)) {
        }
        if (n < 0) {
            db_destroy(&db); /* reconnect on the next turn */
            zmq_poll(items, 1, backoff_ms);
            continue;
        }
        if (zmq_poll(items, 1, self->sweep_ms) > 0) {
            char drain[256];
            while (read(self->bell[0], drain, sizeof drain) > 0) {
            }
        }
    }
    db_destroy(&db);
    return NULL;
}

relay_t *relay_start(const char *conninfo, const char *source, const char *pub_endpoint, int sweep_ms, char *err,
                     size_t errsz)
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
    uuid_v4(self->instance);
    if (pipe2(self->bell, O_NONBLOCK | O_CLOEXEC) != 0) {
        snprintf(err, errsz, "relay: pipe: %s", strerror(errno));
        goto fail;
    }
    self->ctx = zmq_ctx_new();
    self->pub = zmq_socket(self->ctx, ZMQ_PUB);
    int linger = 0, hwm = 100000;
    zmq_setsockopt(self->pub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(self->pub, ZMQ_SNDHWM, &hwm, sizeof hwm);
    if (zmq_bind(self->pub, pub_endpoint) != 0) {
        snprintf(err, errsz, "relay: cannot bind %s: %s", pub_endpoint, zmq_strerror(errno));
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
    if (self->ctx)
        zmq_ctx_term(self->ctx);
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

void relay_ring(relay_t *self)
{
    if (!self)
        return;
    char b = 1;
    ssize_t w = write(self->bell[1], &b, 1); /* a full pipe means it is already ringing */
    (void)w;
}

uint64_t relay_published(const relay_t *self) { return self ? atomic_load(&self->published) : 0; }

void relay_stop(relay_t **pself)
{
    if (!pself || !*pself)
        return;
    relay_t *self = *pself;
    atomic_store(&self->stop, true);
    relay_ring(self);
    pthread_join(self->thread, NULL);
    zmq_close(self->pub);
    zmq_ctx_term(self->ctx);
    close(self->bell[0]);
    close(self->bell[1]);
    free(self->conninfo);
    free(self->source);
    free(self->endpoint);
    free(self);
    *pself = NULL;
}
