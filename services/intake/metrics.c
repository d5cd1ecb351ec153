#include "metrics.h"

#include <stdatomic.h>

static _Atomic uint64_t counters[M_COUNT];
static _Atomic uint64_t by_class[6]; /* 1xx..5xx */

static const char *const names[M_COUNT] = {
    [M_TICKETS_CREATED] = "gridgov_intake_tickets_created_total",
    [M_IDEMPOTENT_REPLAYS] = "gridgov_intake_idempotent_replays_total",
    [M_REJECTED_INPUT] = "gridgov_intake_rejected_input_total",
    [M_DB_ERRORS] = "gridgov_intake_db_errors_total",
    [M_RATE_LIMITED] = "gridgov_intake_rate_limited_total",
    [M_SLOW_REQUESTS] = "gridgov_intake_slow_requests_closed_total",
};

void metrics_inc(metric_t m) { atomic_fetch_add(&counters[m], 1); }

void metrics_count_response(int status)
{
    int c = status / 100;
    if (c >= 1 && c <= 5)
        atomic_fetch_add(&by_class[c], 1);
}

void metrics_render(buf_t *out, uint64_t relay_published)
{
    for (int i = 0; i < M_COUNT; i++)
        buf_printf(out, "# TYPE %s counter\n%s %llu\n", names[i], names[i],
                   (unsigned long long)atomic_load(&counters[i]));
    buf_puts(out, "# TYPE gridgov_intake_http_responses_total counter\n");
    for (int c = 1; c <= 5; c++)
        buf_printf(out, "gridgov_intake_http_responses_total{class=\"%dxx\"} %llu\n", c,
                   (unsigned long long)atomic_load(&by_class[c]));
    buf_printf(out, "# TYPE gridgov_intake_events_published_total counter\ngridgov_intake_events_published_total %llu\n",
               (unsigned long long)relay_published);
}
