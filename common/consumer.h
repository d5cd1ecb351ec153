/* consumer: the receiving side of the bus, with exactly-once effects over at-least-once delivery.
 *
 * A consumer has a durable name. For each event it runs, in ONE transaction:
 *   INSERT INTO bus.inbox (consumer, event_id) ... ON CONFLICT DO NOTHING
 *   -- and only when that inserted a row: the handler's effect
 * so a replayed event changes nothing. Up to 1000 events share a transaction (one inbox insert,
 * one commit), whether swept or live; when that fails they go again one per transaction. Events arrive two ways:
 *   - live, over ZeroMQ SUB from the producers' relays (low latency, may be lost). A frame is
 *     only a doorbell: the consumer takes the event id from it and reads the event from
 *     bus.outbox in the statement that claims its inbox row, so a frame whose id is not in
 *     bus.outbox (forged, or garbled) changes nothing and is logged (rate-limited). The SUB
 *     socket is a CURVE client of each publisher (bus.h): endpoints are NAME@tcp://host:port;
 *   - by a sweep of bus.outbox past the consumer's cursor (bus.cursor), on start, on a sequence
 *     gap, and every sweep_ms. The cursor is (xid, seq) and the sweep reads only below the
 *     oldest running transaction (pg_snapshot_xmin), because seq values are not assigned in
 *     commit order: reading by seq alone would skip events that commit late.
 * A handler that fails rolls its event back; the sweep stops there and retries it next time
 * (events are processed in commit order). After five failures in a row the event is recorded in
 * bus.dead_letter with its error and the consumer moves past it, so one poisoned event cannot
 * hold up every event behind it.
 *
 * Ownership: consumer_new() returns an object that owns its connection and socket (made in the
 * bus's context); consumer_destroy() frees it and NULLs the pointer. The handler and the bus are
 * borrowed; the bus must outlive the consumer. */
#ifndef GRIDGOV_CONSUMER_H
#define GRIDGOV_CONSUMER_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "bus.h"

/* Called inside the consumer's transaction on conn; must not COMMIT or ROLLBACK itself.
 * envelope is the parsed event (borrowed); raw the envelope JSON text. Return false (reason in err)
 * to roll the event back. */
typedef bool (*consumer_fn)(PGconn *conn, const json_t *envelope, const char *raw, void *arg, char *err,
                            size_t errsz);

/* The batch form, for handlers that do set-based work: the new events of one transaction, in
 * the order they were published in (borrowed, n >= 1). The same rules as consumer_fn; false rolls all of them back, and
 * the consumer then retries them one per call to find the event that fails. */
typedef bool (*consumer_batch_fn)(PGconn *conn, const json_t *const *envelopes, size_t n, void *arg, char *err,
                                  size_t errsz);

typedef struct {
    const char *name;        /* durable consumer name, e.g. "router" */
    bus_t *bus;              /* the process's bus: context, keys, limits (borrowed) */
    const char *conninfo;
    const char *endpoints;   /* comma-separated [NAME@]endpoints of publishers (NAME: its key); may be "" */
    const char *type_prefix; /* only events whose type starts with this ("" = all) */
    int sweep_ms;            /* periodic sweep; 0 = 1000 */
    consumer_fn fn;          /* one event at a time, or: */
    consumer_batch_fn batch_fn; /* all the new events of a transaction at once (fn is then unused) */
    void *arg;
    int tx_events;           /* most events per transaction; 0 = 1000 (also the most) */
} consumer_opts_t;

typedef struct consumer consumer_t;

consumer_t *consumer_new(const consumer_opts_t *opts, char *err, size_t errsz);
void consumer_destroy(consumer_t **self);

/* While PostgreSQL is away (or a handler keeps failing) sweeps back off: 100 ms doubling to 5 s,
 * with a log line every few seconds at most; the first sweep that succeeds brings back whatever
 * was missed and the normal sweep_ms rhythm. */
#define CONSUMER_BACKOFF_MIN_MS 100
#define CONSUMER_BACKOFF_MAX_MS 5000

/* Waits up to timeout_ms for live events or the sweep timer and processes what came.
 * Returns the number of events whose effect ran, or -1 when PostgreSQL could not be reached
 * (the caller just polls again; nothing is lost). */
int consumer_poll(consumer_t *self, int timeout_ms);

/* For a daemon's own poll loop: the SUB socket to poll for ZMQ_POLLIN, and how long until the
 * next sweep is due (0 = now). Call consumer_poll(self, 0) when either fires. */
void *consumer_socket(consumer_t *self);
int consumer_next_timeout_ms(const consumer_t *self);

/* Sweeps bus.outbox past the cursor until nothing visible is left.
 * Returns the number of effects run, or -1 on a database error. */
int consumer_catch_up(consumer_t *self);

/* Drops this consumer's cursor so the next sweep starts from the beginning of the outbox
 * (already processed events are still skipped through the inbox). */
bool consumer_rewind(consumer_t *self, char *err, size_t errsz) __attribute__((warn_unused_result));

#endif
