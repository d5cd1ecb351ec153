#include "bus_watch.h"

#include <errno.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "log.h"
#include "ratelog.h"

struct bus_watch {
    bus_t *bus;
    void *pair;  /* connected to the monitor of the watched socket */
    char what[128];
    ratelog_t rl;
};

#define WATCHED_EVENTS                                                                                               \
    (ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL | ZMQ_EVENT_HANDSHAKE_FAILED_AUTH | ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL |   \
     ZMQ_EVENT_DISCONNECTED | ZMQ_EVENT_MONITOR_STOPPED)

bool bus_handshake_failure(uint16_t event, uint32_t value, bool bound, char *why, size_t whysz)
{
    const char *peer = bound ? "the client" : "the server";
    switch (event) {
    case ZMQ_EVENT_HANDSHAKE_FAILED_PROTOCOL:
        if (value == ZMQ_PROTOCOL_ERROR_ZMTP_MECHANISM_MISMATCH)
            snprintf(why, whysz, "%s does not speak CURVE (or this side does not)", peer);
        else if (value == ZMQ_PROTOCOL_ERROR_ZMTP_CRYPTOGRAPHIC || value == ZMQ_PROTOCOL_ERROR_ZMTP_KEY_EXCHANGE)
            snprintf(why, whysz, "the keys do not match: %s is not the one configured, or forged", peer);
        else
            snprintf(why, whysz, "a protocol error in the handshake (0x%08x)", value);
        return true;
    case ZMQ_EVENT_HANDSHAKE_FAILED_AUTH:
        if (bound)
            return false;
        snprintf(why, whysz, "the server refused our key (ZAP status %u): add our NAME.pub to its allow-list", value);
        return true;
    case ZMQ_EVENT_HANDSHAKE_FAILED_NO_DETAIL:
        snprintf(why, whysz,
                 bound ? "the client broke off the handshake (%s): a client without CURVE, or without this server's key"
                       : "the server broke off the handshake (%s): it does not hold the key configured for it, or "
                         "refused ours",
                 strerror((int)value));
        return true;
    default:
        return false;
    }
}

bus_watch_t *bus_watch_new(bus_t *bus, const char *what)
{
    bus_watch_t *self = calloc(1, sizeof *self);
    if (!self)
        log_oom();
    self->bus = bus;
    self->rl = (ratelog_t)RATELOG_INIT(1, 30000);
    snprintf(self->what, sizeof self->what, "%s", what);
    return self;
}

bool bus_watch_attach(bus_watch_t *self, void *sock, char *err, size_t errsz)
{
    static atomic_uint seq;
    if (self->pair) {
        zmq_close(self->pair);
        self->pair = NULL;
    }
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://gridgov-bus-watch-%u", atomic_fetch_add(&seq, 1));
    if (zmq_socket_monitor(sock, ep, WATCHED_EVENTS) != 0) {
        snprintf(err, errsz, "cannot watch a socket: %s", zmq_strerror(errno));
        return false;
    }
    void *pair = zmq_socket(bus_ctx(self->bus), ZMQ_PAIR);
    int zero = 0;
    if (!pair || zmq_setsockopt(pair, ZMQ_LINGER, &zero, sizeof zero) != 0 || zmq_connect(pair, ep) != 0) {
        snprintf(err, errsz, "cannot watch a socket: %s", zmq_strerror(errno));
        if (pair)
            zmq_close(pair);
        zmq_socket_monitor(sock, NULL, 0);
        return false;
    }
    self->pair = pair;
    return true;
}

bool bus_watch_broken(bus_watch_t *self)
{
    bool failed = false;
    while (self->pair) {
        zmq_msg_t a, b;
        zmq_msg_init(&a);
        if (zmq_msg_recv(&a, self->pair, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&a);
            break;
        }
        zmq_msg_init(&b);
        if (zmq_msg_more(&a))
            zmq_msg_recv(&b, self->pair, 0);
        uint16_t ev = 0;
        uint32_t value = 0;
        if (zmq_msg_size(&a) >= 6) {
            memcpy(&ev, zmq_msg_data(&a), sizeof ev);
            memcpy(&value, (const char *)zmq_msg_data(&a) + 2, sizeof value);
        }
        char endpoint[128], why[200];
        size_t n = zmq_msg_size(&b) < sizeof endpoint - 1 ? zmq_msg_size(&b) : sizeof endpoint - 1;
        memcpy(endpoint, zmq_msg_data(&b), n);
        endpoint[n] = '\0';
        zmq_msg_close(&a);
        zmq_msg_close(&b);
        if (ev == ZMQ_EVENT_DISCONNECTED) {
            failed = true;
            log_debug("bus: %s %s: connection lost; connecting again with a new socket", self->what, endpoint);
        } else if (bus_handshake_failure(ev, value, false, why, sizeof why)) {
            failed = true;
            long held;
            if (ratelog_allow(&self->rl, &held)) {
                char also[64] = "";
                if (held)
                    snprintf(also, sizeof also, " (%ld more failed, not logged)", held);
                log_warn("bus: handshake failed, %s %s: %s%s; connecting again with a new socket", self->what, endpoint,
                         why, also);
            }
        }
    }
    return failed;
}

void bus_watch_destroy(bus_watch_t **pself)
{
    if (!pself || !*pself)
        return;
    if ((*pself)->pair)
        zmq_close((*pself)->pair);
    free(*pself);
    *pself = NULL;
}
