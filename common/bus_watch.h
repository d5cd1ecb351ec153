/* bus_watch: the connections of a client socket of the bus, watched for its owner.
 * libzmq 4.3 does not always come back by itself: after a server without CURVE it never
 * connects again, after a server with the wrong key a SUB comes back without its subscriptions,
 * and after a frame above ZMQ_MAXMSGSIZE it never connects again either. The first two happen
 * when a forger holds a daemon's port for a while, the last when a peer misbehaves (bus.h). So
 * the owner of a client socket (consumer.c, cmdclient.c, gridgovctl events) asks
 * bus_watch_broken() from its loop and makes a new socket when it says so. Failed handshakes are
 * logged here (rate-limited), lost connections at debug level (every restart of a peer has one).
 * Ownership: bus_watch_new() returns a watch owning its monitor socket (made in the bus's
 * context); bus_watch_destroy() frees it and NULLs the pointer. Used by one thread at a time. */
#ifndef GRIDGOV_BUS_WATCH_H
#define GRIDGOV_BUS_WATCH_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"

typedef struct bus_watch bus_watch_t;

/* what: how the log names the socket, e.g. "router: subscribing to events at". */
bus_watch_t *bus_watch_new(bus_t *bus, const char *what);
/* Watches sock (before its connect); a socket watched before is let go. */
bool bus_watch_attach(bus_watch_t *self, void *sock, char *err, size_t errsz) __attribute__((warn_unused_result));
/* Reads what happened without waiting; true when, since the last call, a handshake failed or a
 * connection was lost: the owner then makes a new socket. */
bool bus_watch_broken(bus_watch_t *self);
void bus_watch_destroy(bus_watch_t **self);

/* A monitor event as a sentence: false when it is not a failed handshake worth a line (an
 * authentication refusal on a server socket is logged by the ZAP handler instead). */
bool bus_handshake_failure(uint16_t event, uint32_t value, bool bound, char *why, size_t whysz);

#endif
