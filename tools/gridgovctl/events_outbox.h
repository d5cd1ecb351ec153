/* events_outbox: `gridgovctl events --from-start`. Reads bus.outbox from its first event in the
 * order consumers read it, (xid, seq) below the oldest running transaction (proto/WIRE.md), then
 * keeps reading it every poll_ms for what commits next. Read-only: it keeps its position in
 * memory and writes no cursor or inbox row, so it leaves nothing behind. Every event is shown
 * once and none is missed, at the price of up to poll_ms of delay; the live stream over ZeroMQ
 * has no delay but shows only what is sent while it listens. */
#ifndef GRIDGOVCTL_EVENTS_OUTBOX_H
#define GRIDGOVCTL_EVENTS_OUTBOX_H

#include <signal.h>

/* Called with each envelope's JSON text (borrowed), in order. */
typedef void (*outbox_print_fn)(const char *envelope_json, void *arg);

typedef struct {
    const char *conninfo;
    const char *type_prefix;      /* only events whose type starts with this ("" = all) */
    long count;                   /* stop after this many events (0 = never) */
    long idle_ms;                 /* stop after this long without one (0 = never) */
    int poll_ms;                  /* how often to look for new events once caught up */
    volatile sig_atomic_t *stop;  /* set by a signal handler: stop at the next look */
    outbox_print_fn print;
    void *arg;
} outbox_follow_t;

/* Returns the exit status: 0 when stopped (count, idle time or stop), 1 when the database cannot
 * be reached at the start (the reason on stderr). A database that goes away later is waited for. */
int events_follow_outbox(const outbox_follow_t *o);

#endif
