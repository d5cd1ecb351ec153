/* relay: publishes a producer's committed events from bus.outbox over ZeroMQ PUB.
 *
 * PostgreSQL is the record, ZeroMQ the nerve: a producer commits its change and the event
 * (bus.emit) in one transaction, then rings the relay's doorbell. The relay thread reads its
 * source's events past its cursor (relay:<source> in bus.cursor; (xid, seq) below the oldest
 * running transaction, as consumers do) and sends each one as
 *   [type] [{"publisher":"<instance uuid>","seq":N,"id":"<event id>"}] [envelope JSON]
 * with N counting up from 1 per relay instance, so a subscriber sees gaps. The PUB socket is a
 * CURVE server of the bus (bus.h): only the keys in curve_event_peers may subscribe. It writes nothing per
 * event: the cursor is saved at most every 100 ms, and after a crash what was sent since is sent
 * again (consumers ignore repeats). A publish that ZeroMQ drops costs only latency: consumers
 * sweep bus.outbox themselves (consumer.h). A timer sweep (sweep_ms) covers a doorbell that was
 * never rung (a crash after commit). Of several relays of one source (several instances of a
 * daemon) the one holding the source's advisory lock publishes; the others take over when its
 * connection dies.
 *
 * Ownership: relay_start() returns a relay that owns its thread, connection and socket (made in
 * the bus's context: the bus is borrowed and must outlive the relay); relay_stop() joins and
 * frees it and NULLs the pointer. */
#ifndef GRIDGOV_RELAY_H
#define GRIDGOV_RELAY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "bus.h"

typedef struct relay relay_t;

relay_t *relay_start(bus_t *bus, const char *conninfo, const char *source, const char *pub_endpoint, int sweep_ms,
                     char *err, size_t errsz);
/* Wakes the relay. Thread-safe and async-signal-safe; never blocks. */
void relay_ring(relay_t *self);
uint64_t relay_published(const relay_t *self);
void relay_stop(relay_t **self);

#endif
