/* events: what the notify consumer (name "notify", subscribed to intake's and the router's events)
 * does with each event, by type: channel.receipt is a delivery receipt (receipt.c); every other
 * event goes to the planner (plan.h), which decides who is told what. consumer_fn (consumer.h):
 * runs inside the consumer's transaction. */
#ifndef GRIDGOV_NOTIFY_EVENTS_H
#define GRIDGOV_NOTIFY_EVENTS_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

bool events_on_event(PGconn *conn, const json_t *envelope, const char *raw, void *arg, char *err, size_t errsz);

#endif
