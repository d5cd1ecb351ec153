/* backoff: exponential backoff with jitter (backoff.h). */
#include "backoff.h"

int64_t backoff_ms(int n, int64_t base_ms, int64_t max_ms, uint32_t rnd)
{
    if (n < 1)
        n = 1;
    int64_t d = base_ms > 0 ? base_ms : 1;
    for (int i = 1; i < n && d < max_ms; i++)
        d *= 2;
    if (d > max_ms)
        d = max_ms;
    int64_t half = d / 2;
    return half + (int64_t)(rnd % (uint64_t)(d - half + 1));
}
