/* zap: the bus's gatekeeper, one thread per process that uses CURVE (bus.c starts it before the
 * first CURVE socket binds or connects). It does two things:
 *   - it is the ZAP handler (ZeroMQ RFC 27) on inproc://zeromq.zap.01 of the process's context.
 *     A client of a socket this process binds is admitted only when its CURVE public key is in
 *     the allow-list of that socket's ZAP domain ("command", "event"); anything else is refused
 *     (status 400) and logged with the peer's address and the first characters of its key.
 *     Without a ZAP handler libzmq admits every CURVE client, hence "before the first bind";
 *   - it watches the handshakes of the server sockets registered with zap_watch() and logs those
 *     that fail before ZAP is asked: a client that does not speak CURVE, or that does not know
 *     this server's key. (A client socket is watched by its owner: bus_watch.h.)
 * Its logs are rate-limited (ratelog.h): a flood of attempts costs a line every few seconds.
 * Ownership: zap_start() returns a zap that owns its thread and sockets and copies the allow-list;
 * zap_stop() joins and frees it and NULLs the pointer. It must stop before the context ends. */
#ifndef GRIDGOV_ZAP_H
#define GRIDGOV_ZAP_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "curve_key.h"

typedef struct {
    char domain[16];                /* the ZAP domain of the sockets this key may use */
    char name[65];                  /* the key's name in curve_dir, reported as the ZAP user id */
    uint8_t key[CURVE_KEY_BYTES];
} zap_peer_t;

/* The decision alone: the entry admitting key (keylen bytes) in domain, or NULL. */
const zap_peer_t *zap_find(const zap_peer_t *peers, size_t n, const char *domain, const uint8_t *key, size_t keylen);

typedef struct zap zap_t;

/* ctx: the process's ZeroMQ context (borrowed; it must outlive the zap). */
zap_t *zap_start(void *ctx, const zap_peer_t *peers, size_t n, char *err, size_t errsz);

/* Logs failed handshakes of the server socket sock (what: how to name it in the log, e.g.
 * "serving commands on"). Call from the thread that owns sock, before its bind. */
bool zap_watch(zap_t *self, void *sock, const char *what, char *err, size_t errsz)
    __attribute__((warn_unused_result));

/* How many clients the handler has refused (tests, metrics). */
unsigned long zap_refused(const zap_t *self);

void zap_stop(zap_t **self);

#endif
