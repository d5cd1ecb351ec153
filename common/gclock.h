/* gclock: the one source of time. Domain time (gclock_now_us) is what deadlines and timestamps
 * are made of; domain code never calls time() itself, so tests can move the clock: in-process with
 * gclock_set(), or across processes with a clock file (config key `clock_file`) that holds the
 * current time as epoch seconds (re-read when it changes). Elapsed time (gclock_mono_ms) is for
 * timeouts, poll intervals and caches: it never jumps, and tests never move it. */
#ifndef GRIDGOV_GCLOCK_H
#define GRIDGOV_GCLOCK_H

#include <stdint.h>

/* Microseconds since the Unix epoch: domain time, movable by tests. */
int64_t gclock_now_us(void);
/* Tests: fix the clock at us (0 returns to the real clock). Affects this process only. */
void gclock_set(int64_t us);
/* Read the time from a file (NULL or "" returns to the real clock). The path is copied. */
void gclock_use_file(const char *path);

/* Milliseconds on the monotonic clock since an arbitrary origin (boot): only differences mean
 * anything. Not domain time: gclock_set() and the clock file do not touch it. */
int64_t gclock_mono_ms(void);

#endif
