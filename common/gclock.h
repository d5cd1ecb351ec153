/* gclock: the one source of domain time. Domain code never calls time() itself, so tests can move
 * the clock: in-process with gclock_set(), or across processes with a clock file (config key
 * `clock_file`) that holds the current time as epoch seconds (re-read when it changes). */
#ifndef GRIDGOV_GCLOCK_H
#define GRIDGOV_GCLOCK_H

#include <stdint.h>

/* Microseconds since the Unix epoch. */
int64_t gclock_now_us(void);
/* Tests: fix the clock at us (0 returns to the real clock). Affects this process only. */
void gclock_set(int64_t us);
/* Read the time from a file (NULL or "" returns to the real clock). The path is copied. */
void gclock_use_file(const char *path);

#endif
