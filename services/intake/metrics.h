/* metrics: intake's counters, rendered for Prometheus at GET /metrics. Lock-free (atomics). */
#ifndef INTAKE_METRICS_H
#define INTAKE_METRICS_H

#include <stdint.h>

#include "buf.h"

typedef enum {
    M_TICKETS_CREATED,
    M_IDEMPOTENT_REPLAYS,
    M_REJECTED_INPUT,
    M_DB_ERRORS,
    M_RATE_LIMITED,    /* 429: a key over its rate limit */
    M_SLOW_REQUESTS,   /* connections closed because a request did not arrive whole in time */
    M_COUNT
} metric_t;

void metrics_inc(metric_t m);
void metrics_count_response(int status);
/* Appends the exposition text; relay_published is read from the relay by the caller. */
void metrics_render(buf_t *out, uint64_t relay_published);

#endif
