/* pool: the bounded set of PostgreSQL connections (and router and tally command clients) that HTTP
 * requests borrow, one slot per request in flight. HTTP runs a thread per connection, so a slow
 * or idle keep-alive client holds a thread but no slot; a slot is taken only when a complete
 * request is handled, and given back when its answer is queued. The size bounds the load on
 * PostgreSQL; requests wait for a free slot (up to the timeout, then 503).
 * Nobody starves the rest: a read (GET, HEAD) never takes the last free slot of a pool of two
 * or more, so however many slow lists are in flight, a POST that files a ticket (or a staff
 * action, a rating) finds a slot at once; and /healthz has a slot of its own beside the pool,
 * so it says whether PostgreSQL answers, not whether the pool is busy (README, "Lists").
 * The objects in a slot move between threads only through the pool's mutex (a full memory
 * barrier, which is what ZeroMQ asks of a socket that changes threads). */
#ifndef INTAKE_POOL_H
#define INTAKE_POOL_H

#include <stdbool.h>
#include <stddef.h>

#include "cmdclient.h"
#include "db.h"

typedef struct {
    db_t *db;          /* connected lazily; NULL until first use or after a failed connect */
    cmdclient_t *cmd;  /* the router's, created lazily */
    cmdclient_t *tally; /* tally's, created lazily */
} pool_slot_t;

typedef enum {
    POOL_READ,   /* leaves the last free slot to writes (pools of two or more) */
    POOL_WRITE,  /* any free slot */
    POOL_HEALTH, /* the health check's own slot, one check at a time */
} pool_use_t;

void pool_init(size_t size);
/* NULL when no slot was free for this use within timeout_ms. */
pool_slot_t *pool_acquire(pool_use_t use, int timeout_ms);
void pool_release(pool_slot_t *slot);
/* Closes every slot's connection and client; only when no request is in flight. */
void pool_destroy(void);

#endif
