/* ratelimit: request rate limits by key (an API key, a staff token), in memory.
 * Each key has a token bucket that holds up to `burst` requests and refills at `per_minute`
 * requests a minute; a request takes one token, and one that finds the bucket empty is refused
 * with the time until a token is back. Kept as one "theoretical arrival time" per key (the
 * generic cell rate algorithm): a bucket is full again once that time has passed.
 *
 * The buckets live in this process: with N instances behind a balancer a key gets up to N times
 * the rate. Keys are kept as a seeded 64-bit hash, never as text (they are credentials). At most
 * `max_keys` buckets are tracked, in a fixed table: a key's slot is looked for among a few
 * neighbours, and a new key takes an empty slot, else one whose bucket is full again (it holds no
 * debt), else the one closest to full (that key starts over with a full bucket: made-up keys can
 * at worst forgive a little of a real key's debt, never refuse it).
 * Thread-safe. Ownership: ratelimit_new's result is the caller's, freed by ratelimit_destroy. */
#ifndef GRIDGOV_RATELIMIT_H
#define GRIDGOV_RATELIMIT_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct ratelimit ratelimit_t;

/* per_minute 0 turns limiting off (every take succeeds); burst is at least 1. */
ratelimit_t *ratelimit_new(long per_minute, long burst, size_t max_keys);
void ratelimit_destroy(ratelimit_t **self);

/* Takes one token from the bucket of the keylen bytes at key, at now_ms on a monotonic clock
 * (gclock_mono_ms). True when the request may go on; false when the bucket is empty, with the
 * whole seconds until a token is back (at least 1, rounded up) in *retry_after_s. */
bool ratelimit_take(ratelimit_t *self, const void *key, size_t keylen, int64_t now_ms, int *retry_after_s)
    __attribute__((warn_unused_result));

#endif
