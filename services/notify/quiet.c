/* quiet: quiet hours (quiet.h). */
#include "quiet.h"

#include <stdio.h>

#include "civil.h"

#define COUNTY_OFFSET_S (8 * 3600) /* Asia/Shanghai */

static bool parse_hhmm(const char *s, int *min)
{
    int h, m, n = 0;
    if (sscanf(s, "%2d:%2d%n", &h, &m, &n) != 2 || n != 5 || h < 0 || h > 23 || m < 0 || m > 59)
        return false;
    *min = h * 60 + m;
    return true;
}

bool quiet_parse(const char *s, quiet_t *out, char *err, size_t errsz)
{
    *out = (quiet_t){0};
    if (!s || !*s)
        return true;
    if (!(parse_hhmm(s, &out->start_min) && s[5] == '-' && parse_hhmm(s + 6, &out->end_min) && s[11] == '\0')) {
        snprintf(err, errsz, "quiet_hours: '%s' is not HH:MM-HH:MM (or empty: off)", s);
        return false;
    }
    if (out->start_min == out->end_min) {
        snprintf(err, errsz, "quiet_hours: '%s' is empty; use \"\" to turn quiet hours off", s);
        return false;
    }
    out->on = true;
    return true;
}

int64_t quiet_until(const quiet_t *q, int64_t now_s)
{
    if (!q->on)
        return 0;
    int64_t local = now_s + COUNTY_OFFSET_S;
    int64_t day = civil_floor_div(local, 86400);
    int64_t sec = local - day * 86400; /* seconds since county midnight */
    int64_t start = q->start_min * 60, end = q->end_min * 60;
    int64_t end_local;
    if (start < end) { /* 12:00-14:00 */
        if (sec < start || sec >= end)
            return 0;
        end_local = day * 86400 + end;
    } else if (sec >= start) { /* 22:00-07:00, before midnight: ends tomorrow */
        end_local = (day + 1) * 86400 + end;
    } else if (sec < end) { /* after midnight */
        end_local = day * 86400 + end;
    } else {
        return 0;
    }
    return end_local - COUNTY_OFFSET_S;
}
