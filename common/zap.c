#include "zap.h"

#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "bus_watch.h"
#include "log.h"
#include "ratelog.h"

#define ZAP_ENDPOINT "inproc://zeromq.zap.01"
#define ZAP_MAX_FRAMES 8

typedef struct {
    void *pair;     /* connected to the watched socket's monitor */
    char what[160];
    ratelog_t rl;
} watch_t;

struct zap {
    void *ctx;
    void *rep;
    zap_peer_t *peers;
    size_t npeers;
    int bell[2];
    pthread_t thread;
    atomic_bool stop;
    atomic_ulong refused;
    pthread_mutex_t lock; /* guards pending and seq: zap_watch runs in other threads */
    watch_t *pending;
    size_t npending, cap_pending;
    unsigned seq;
    watch_t *watches; /* the thread's own */
    size_t nwatches, cap_watches;
    ratelog_t refusals;
};

const zap_peer_t *zap_find(const zap_peer_t *peers, size_t n, const char *domain, const uint8_t *key, size_t keylen)
{
    if (!domain || !key || keylen != CURVE_KEY_BYTES)
        return NULL;
    for (size_t i = 0; i < n; i++)
        if (!strcmp(peers[i].domain, domain) && !memcmp(peers[i].key, key, CURVE_KEY_BYTES))
            return &peers[i];
    return NULL;
}

static void frame_text(zmq_msg_t *m, char *out, size_t outsz)
{
    size_t n = zmq_msg_size(m);
    if (n >= outsz)
        n = outsz - 1;
    memcpy(out, zmq_msg_data(m), n);
    out[n] = '\0';
    for (size_t i = 0; i < n; i++) /* it goes into a log line */
        if ((unsigned char)out[i] < 0x20 || (unsigned char)out[i] >= 0x7f)
            out[i] = '?';
}

/* One ZAP request (RFC 27): version, request id, domain, address, routing id, mechanism,
 * credentials; the reply: version, request id, status code, status text, user id, metadata. */
static void handle_request(zap_t *self)
{
    zmq_msg_t f[ZAP_MAX_FRAMES];
    int n = 0, more = 1;
    while (more) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, self->rep, 0) < 0) {
            zmq_msg_close(&m);
            break;
        }
        more = zmq_msg_more(&m);
        if (n < ZAP_MAX_FRAMES)
            f[n++] = m;
        else
            zmq_msg_close(&m);
    }
    char version[8] = "", domain[32] = "", address[64] = "", mechanism[16] = "";
    if (n >= 6) {
        frame_text(&f[0], version, sizeof version);
        frame_text(&f[2], domain, sizeof domain);
        frame_text(&f[3], address, sizeof address);
        frame_text(&f[5], mechanism, sizeof mechanism);
    }
    const zap_peer_t *who = NULL;
    const uint8_t *key = n >= 7 ? zmq_msg_data(&f[6]) : NULL;
    size_t keylen = n >= 7 ? zmq_msg_size(&f[6]) : 0;
    if (n >= 7 && !strcmp(version, "1.0") && !strcmp(mechanism, "CURVE"))
        who = zap_find(self->peers, self->npeers, domain, key, keylen);
    if (!who) {
        atomic_fetch_add(&self->refused, 1);
        char z85[CURVE_Z85_SIZE] = "(none)";
        if (keylen == CURVE_KEY_BYTES)
            zmq_z85_encode(z85, key, CURVE_KEY_BYTES);
        long held;
        if (ratelog_allow(&self->refusals, &held)) {
            char also[64] = "";
            if (held)
                snprintf(also, sizeof also, " (%ld more refused, not logged)", held);
            log_warn("bus: refused a %s peer from %s with %s key %.8s...: not in curve_%s_peers%s",
                     domain[0] ? domain : "?", address[0] ? address : "?", mechanism[0] ? mechanism : "no", z85,
                     domain[0] ? domain : "?", also);
        }
    }
    const char *status = who ? "200" : "400", *text = who ? "OK" : "key not admitted";
    const char *user = who ? who->name : "";
    if (n >= 2) { /* without a request id there is nothing to answer */
        zmq_send(self->rep, "1.0", 3, ZMQ_SNDMORE);
        zmq_send(self->rep, zmq_msg_data(&f[1]), zmq_msg_size(&f[1]), ZMQ_SNDMORE);
        zmq_send(self->rep, status, 3, ZMQ_SNDMORE);
        zmq_send(self->rep, text, strlen(text), ZMQ_SNDMORE);
        zmq_send(self->rep, user, strlen(user), ZMQ_SNDMORE);
        zmq_send(self->rep, "", 0, 0);
    }
    for (int i = 0; i < n; i++)
        zmq_msg_close(&f[i]);
}

/* One monitor event of watch w; returns false when the watched socket has closed. */
static bool handle_event(watch_t *w)
{
    zmq_msg_t a, b;
    zmq_msg_init(&a);
    zmq_msg_init(&b);
    if (zmq_msg_recv(&a, w->pair, 0) < 0) {
        zmq_msg_close(&a);
        zmq_msg_close(&b);
        return true;
    }
    if (zmq_msg_more(&a))
        zmq_msg_recv(&b, w->pair, 0);
    uint16_t ev = 0;
    uint32_t value = 0;
    if (zmq_msg_size(&a) >= 6) {
        memcpy(&ev, zmq_msg_data(&a), sizeof ev);
        memcpy(&value, (const char *)zmq_msg_data(&a) + 2, sizeof value);
    }
    char endpoint[128];
    frame_text(&b, endpoint, sizeof endpoint);
    zmq_msg_close(&a);
    zmq_msg_close(&b);
    if (ev == ZMQ_EVENT_MONITOR_STOPPED)
        return false;
    char why[200];
    long held;
    if (bus_handshake_failure(ev, value, true, why, sizeof why) && ratelog_allow(&w->rl, &held)) {
        char more[64] = "";
        if (held)
            snprintf(more, sizeof more, " (%ld more failed, not logged)", held);
        log_warn("bus: handshake failed, %s %s: %s%s", w->what, endpoint, why, more);
    }
    return true;
}

static void close_watch(watch_t *w)
{
    zmq_close(w->pair);
    w->pair = NULL;
}

static void take_pending(zap_t *self)
{
    pthread_mutex_lock(&self->lock);
    for (size_t i = 0; i < self->npending; i++) {
        if (self->nwatches == self->cap_watches) {
            self->cap_watches = self->cap_watches ? self->cap_watches * 2 : 8;
            self->watches = realloc(self->watches, self->cap_watches * sizeof *self->watches);
            if (!self->watches)
                log_oom();
        }
        self->watches[self->nwatches++] = self->pending[i];
    }
    self->npending = 0;
    pthread_mutex_unlock(&self->lock);
}

static void *zap_main(void *arg)
{
    zap_t *self = arg;
    zmq_pollitem_t *items = NULL;
    size_t cap = 0;
    while (!atomic_load(&self->stop)) {
        take_pending(self);
        if (cap < self->nwatches + 2) {
            cap = self->nwatches + 2;
            items = realloc(items, cap * sizeof *items);
            if (!items)
                log_oom();
        }
        items[0] = (zmq_pollitem_t){NULL, self->bell[0], ZMQ_POLLIN, 0};
        items[1] = (zmq_pollitem_t){self->rep, 0, ZMQ_POLLIN, 0};
        for (size_t i = 0; i < self->nwatches; i++)
            items[i + 2] = (zmq_pollitem_t){self->watches[i].pair, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(items, (int)(self->nwatches + 2), -1) < 0) {
            if (errno == ETERM)
                break;
            continue;
        }
        if (items[0].revents & ZMQ_POLLIN) {
            char buf[64];
            while (read(self->bell[0], buf, sizeof buf) > 0) {
            }
        }
        if (items[1].revents & ZMQ_POLLIN)
            handle_request(self);
        size_t kept = 0;
        for (size_t i = 0; i < self->nwatches; i++) {
            bool alive = true;
            if (items[i + 2].revents & ZMQ_POLLIN)
                alive = handle_event(&self->watches[i]);
            if (alive)
                self->watches[kept++] = self->watches[i];
            else
                close_watch(&self->watches[i]);
        }
        self->nwatches = kept;
    }
    free(items);
    return NULL;
}

zap_t *zap_start(void *ctx, const zap_peer_t *peers, size_t n, char *err, size_t errsz)
{
    zap_t *self = calloc(1, sizeof *self);
    if (!self)
        log_oom();
    self->ctx = ctx;
    self->bell[0] = self->bell[1] = -1;
    self->refusals = (ratelog_t)RATELOG_INIT(5, 10000);
    pthread_mutex_init(&self->lock, NULL);
    if (n) {
        self->peers = malloc(n * sizeof *peers);
        if (!self->peers)
            log_oom();
        memcpy(self->peers, peers, n * sizeof *peers);
        self->npeers = n;
    }
    if (pipe2(self->bell, O_NONBLOCK | O_CLOEXEC) != 0) {
        snprintf(err, errsz, "zap: pipe: %s", strerror(errno));
        goto fail;
    }
    self->rep = zmq_socket(ctx, ZMQ_REP);
    int linger = 0;
    if (!self->rep) {
        snprintf(err, errsz, "zap: %s", zmq_strerror(errno));
        goto fail;
    }
    zmq_setsockopt(self->rep, ZMQ_LINGER, &linger, sizeof linger);
    /* Bound here, before this returns: a CURVE socket that binds afterwards always finds it. */
    if (zmq_bind(self->rep, ZAP_ENDPOINT) != 0) {
        snprintf(err, errsz, "zap: cannot bind %s: %s", ZAP_ENDPOINT, zmq_strerror(errno));
        goto fail;
    }
    if (pthread_create(&self->thread, NULL, zap_main, self) != 0) {
        snprintf(err, errsz, "zap: cannot start its thread");
        goto fail;
    }
    return self;
fail:
    if (self->rep)
        zmq_close(self->rep);
    if (self->bell[0] >= 0) {
        close(self->bell[0]);
        close(self->bell[1]);
    }
    pthread_mutex_destroy(&self->lock);
    free(self->peers);
    free(self);
    return NULL;
}

bool zap_watch(zap_t *self, void *sock, const char *what, char *err, size_t errsz)
{
    char ep[64];
    pthread_mutex_lock(&self->lock);
    snprintf(ep, sizeof ep, "inproc://gridgov-zap-watch-%u", ++self->seq);
    pthread_mutex_unlock(&self->lock);
    int events = ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL | ZMQ_EVENT_MONITOR_STOPPED;
    if (zmq_socket_monitor(sock, ep, events) != 0) {
        snprintf(err, errsz, "zap: cannot watch a socket: %s", zmq_strerror(errno));
        return false;
    }
    /* Connected here, so that no event is lost before the thread picks it up; the socket moves
     * to the zap thread under the mutex (a full barrier, which is what ZeroMQ asks). */
    void *pair = zmq_socket(self->ctx, ZMQ_PAIR);
    int linger = 0;
    if (!pair || zmq_setsockopt(pair, ZMQ_LINGER, &linger, sizeof linger) != 0 || zmq_connect(pair, ep) != 0) {
        snprintf(err, errsz, "zap: cannot watch a socket: %s", zmq_strerror(errno));
        if (pair)
            zmq_close(pair);
        zmq_socket_monitor(sock, NULL, 0);
        return false;
    }
    watch_t w = {.pair = pair, .rl = RATELOG_INIT(1, 30000)};
    snprintf(w.what, sizeof w.what, "%s", what);
    pthread_mutex_lock(&self->lock);
    if (self->npending == self->cap_pending) {
        self->cap_pending = self->cap_pending ? self->cap_pending * 2 : 8;
        self->pending = realloc(self->pending, self->cap_pending * sizeof *self->pending);
        if (!self->pending)
            log_oom();
    }
    self->pending[self->npending++] = w;
    pthread_mutex_unlock(&self->lock);
    char b = 1;
    ssize_t wr = write(self->bell[1], &b, 1); /* a full pipe is already ringing */
    (void)wr;
    return true;
}

unsigned long zap_refused(const zap_t *self) { return self ? atomic_load(&self->refused) : 0; }

void zap_stop(zap_t **pself)
{
    if (!pself || !*pself)
        return;
    zap_t *self = *pself;
    atomic_store(&self->stop, true);
    char b = 1;
    ssize_t wr = write(self->bell[1], &b, 1);
    (void)wr;
    pthread_join(self->thread, NULL);
    take_pending(self);
    for (size_t i = 0; i < self->nwatches; i++)
        close_watch(&self->watches[i]);
    zmq_close(self->rep);
    close(self->bell[0]);
    close(self->bell[1]);
    pthread_mutex_destroy(&self->lock);
    free(self->watches);
    free(self->pending);
    free(self->peers);
    free(self);
    *pself = NULL;
}
