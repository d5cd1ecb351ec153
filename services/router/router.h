/* router: the daemon's shared context, built by main.c and borrowed by every module.
 * All router writes run on ctx->db inside one transaction per message, command or clock tick;
 * domain time is ctx->now_us, read once per unit of work from the injected clock (gclock). */
#ifndef ROUTER_ROUTER_H
#define ROUTER_ROUTER_H

#include <stdint.h>

#include "db.h"
#include "relay.h"
#include "workcal.h"

typedef struct {
    db_t *db;
    workcal_t *cal;
    relay_t *relay;
    int64_t unrated_close_s; /* resolved tickets with no rating close after this long (wall time) */
} router_t;

/* now as the SQL parameter text used everywhere: epoch seconds with microseconds */
void router_ts(int64_t us, char out[32]);

#endif
