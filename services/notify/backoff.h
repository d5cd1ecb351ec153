/* backoff: how long a message waits before its next try after a transient failure. */
#ifndef GRIDGOV_NOTIFY_BACKOFF_H
#define GRIDGOV_NOTIFY_BACKOFF_H

#include <stdint.h>

/* Exponential with "equal jitter": the nth failure (n >= 1) waits d = min(max_ms, base_ms * 2^(n-1)),
 * then a random point in [d/2, d] (rnd: any 32 random bits), so that messages that failed together
 * (a provider's outage) do not all come back in the same millisecond. */
int64_t backoff_ms(int n, int64_t base_ms, int64_t max_ms, uint32_t rnd);

#endif
