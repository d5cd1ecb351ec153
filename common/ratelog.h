/* ratelog: lets a noisy warning through a few times a window and counts the rest, so that a flood
 * (a forger's frames, a peer that reconnects ten times a second) cannot fill the log.
 *   static ratelog_t rl = RATELOG_INIT(5, 10000);
 *   long held;
 *   if (ratelog_allow(&rl, &held)) log_warn("... (%ld more not shown)", held);
 * Not thread-safe: one ratelog per thread that uses it. */
#ifndef GRIDGOV_RATELOG_H
#define GRIDGOV_RATELOG_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    int per_window;      /* lines let through per window */
    int window_ms;
    int64_t window_start_ms;
    int used;            /* lines let through in this window */
    long held;           /* occurrences not logged since the last line */
} ratelog_t;

#define RATELOG_INIT(per_window, window_ms) {(per_window), (window_ms), 0, 0, 0}

/* True when this occurrence may be logged; *held is then how many were not logged before it
 * (and the count starts again). False: count it and stay quiet. */
bool ratelog_allow(ratelog_t *self, long *held);

#endif
