/* quiet: the hours in which residents get no SMS (config `quiet_hours`, county time, Asia/Shanghai,
 * UTC+8 all year: China has no daylight saving). A message that falls in the window is held until
 * it ends; urgent ones (a hazard) are not held. Pure functions, no clock of their own. */
#ifndef GRIDGOV_NOTIFY_QUIET_H
#define GRIDGOV_NOTIFY_QUIET_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    bool on;
    int start_min, end_min; /* minutes after midnight, county time; start > end wraps midnight */
} quiet_t;

/* Parses "HH:MM-HH:MM" ("22:00-07:00"); "" means off. False with the reason in err otherwise
 * (a window of zero length is refused too). */
bool quiet_parse(const char *s, quiet_t *out, char *err, size_t errsz) __attribute__((warn_unused_result));

/* When now_s (epoch seconds) is inside the window: the epoch second the window ends. 0 outside
 * it (or off). */
int64_t quiet_until(const quiet_t *q, int64_t now_s);

#endif
