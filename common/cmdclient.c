#include "cmdclient.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "gclock.h"
#include "bus.h"
#include "bus_watch.h"
#include "log.h"

struct cmdclient {
    void *sock;
    bus_t *bus;
    char *endpoint, *server;
    bus_watch_t *watch; /* a failed handshake (a forger on the port once) makes a new socket */
};

/* A new DEALER connected to the service; NULL with err on failure. */
static void *open_socket(cmdclient_t *self, char *err, size_t errsz)
{
    void *s = zmq_socket(bus_ctx(self->bus), ZMQ_DEALER);
    if (!s) {
        snprintf(err, errsz, "zmq_socket: %s", zmq_strerror(errno));
        return NULL;
    }
    /* IMMEDIATE: never queue a command for a peer that is not connected (it would be "sent" to
     * nobody); heartbeats find a dead peer; no linger: PostgreSQL, not the socket, is durable. */
    int one = 1, zero = 0, ivl = 1000, tmo = 3000;
    zmq_setsockopt(s, ZMQ_IMMEDIATE, &one, sizeof one);
    zmq_setsockopt(s, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(s, ZMQ_HEARTBEAT_IVL, &ivl, sizeof ivl);
    zmq_setsockopt(s, ZMQ_HEARTBEAT_TIMEOUT, &tmo, sizeof tmo);
    if (!bus_watch_attach(self->watch, s, err, errsz) ||
        !bus_connect(self->bus, s, BUS_COMMANDS, self->endpoint, self->server, err, errsz)) {
        zmq_close(s);
        return NULL;
    }
    return s;
}

cmdclient_t *cmdclient_new(bus_t *bus, const char *endpoint, const char *server, char *err, size_t errsz)
{
    cmdclient_t *self = calloc(1, sizeof *self);
    if (!self)
        log_oom();
    self->bus = bus;
    self->endpoint = strdup(endpoint);
    self->server = strdup(server ? server : "");
    if (!self->endpoint || !self->server)
        log_oom();
    char what[128];
    snprintf(what, sizeof what, "sending commands to %s at", self->server);
    self->watch = bus_watch_new(bus, what);
    if (!(self->sock = open_socket(self, err, errsz)))
        cmdclient_destroy(&self);
    return self;
}

void cmdclient_destroy(cmdclient_t **pself)
{
    if (!pself || !*pself)
        return;
    cmdclient_t *self = *pself;
    if (self->sock)
        zmq_close(self->sock);
    bus_watch_destroy(&self->watch);
    free(self->endpoint);
    free(self->server);
    free(self);
    *pself = NULL;
}

/* libzmq does not come back from a failed handshake by itself (bus_watch.h). */
static void heal_socket(cmdclient_t *self)
{
    if (!bus_watch_broken(self->watch))
        return;
    char err[512];
    void *s = open_socket(self, err, sizeof err);
    if (!s) {
        log_warn("command client: %s", err);
        return;
    }
    zmq_close(self->sock);
    self->sock = s;
}

json_t *cmdclient_call(cmdclient_t *self, const json_t *cmd, int timeout_ms, int tries, char *err, size_t errsz)
{
    const char *id = json_string_value(json_object_get(cmd, "id"));
    if (!id) {
        snprintf(err, errsz, "a command needs an id");
        return NULL;
    }
    char *text = json_dumps(cmd, JSON_COMPACT);
    json_t *answer = NULL;
    snprintf(err, errsz, "no reply");
    for (int attempt = 0; attempt < tries && !answer; attempt++) {
        heal_socket(self);
        if (zmq_send(self->sock, text, strlen(text), ZMQ_DONTWAIT) < 0) {
            /* No peer connected yet (IMMEDIATE): a new client's connection is usually being made
             * right now. Wait until the socket can send (a peer connected) or the attempt's time
             * is up, instead of sleeping the whole timeout, and send once it can. */
            snprintf(err, errsz, "the service is not reachable (%s)", zmq_strerror(errno));
            zmq_pollitem_t out = {self->sock, 0, ZMQ_POLLOUT, 0};
            if (zmq_poll(&out, 1, timeout_ms) <= 0 || !(out.revents & ZMQ_POLLOUT) ||
                zmq_send(self->sock, text, strlen(text), ZMQ_DONTWAIT) < 0)
                continue;
        }
        long long deadline = gclock_mono_ms() + timeout_ms;
        while (!answer) {
            long long left = deadline - gclock_mono_ms();
            if (left <= 0) {
                snprintf(err, errsz, "no reply within %d ms", timeout_ms);
                break;
            }
            zmq_pollitem_t it = {self->sock, 0, ZMQ_POLLIN, 0};
            if (zmq_poll(&it, 1, (long)left) <= 0)
                continue;
            zmq_msg_t m;
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, self->sock, 0) < 0) {
                zmq_msg_close(&m);
                continue;
            }
            json_error_t je;
            json_t *rep = json_loadb(zmq_msg_data(&m), zmq_msg_size(&m), 0, &je);
            zmq_msg_close(&m);
            const char *rid = rep ? json_string_value(json_object_get(rep, "id")) : NULL;
            if (rid && !strcmp(rid, id))
                answer = rep;
            else
                json_decref(rep); /* the answer to an abandoned earlier call */
        }
    }
    free(text);
    return answer;
}
