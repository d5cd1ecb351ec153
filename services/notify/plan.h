/* plan: what an event means for whom. Written on branch n-plans (plan.c, recipients.c, render.c,
 * digest.c); the engine only calls it.
 *
 * plan_on_event runs inside the notify consumer's transaction on conn (consumer.h: it must not
 * COMMIT or ROLLBACK) for every event that is not a channel.receipt, and inserts the
 * notify.message rows the event calls for (state pending, due_at the injected clock's now,
 * dedup_key unique so a replay plans nothing twice). envelope is borrowed. Returns false with the
 * reason in err to roll the event back (the consumer retries it, then dead-letters it). */
#ifndef GRIDGOV_NOTIFY_PLAN_H
#define GRIDGOV_NOTIFY_PLAN_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

bool plan_on_event(PGconn *conn, const json_t *envelope, void *arg, char *err, size_t errsz)
    __attribute__((warn_unused_result));

#endif
