#include "timefmt.h"

#include <stdio.h>

#include "civil.h"

#define US_PER_SEC INT64_C(1000000)
#define SEC_PER_DAY INT64_C(86400)
#define MAX_OFFSET_MIN (23 * 60 + 59)

static bool read_digits(const char **p, int n, int *out)
{
    int v = 0;
    for (int i = 0; i < n; i++) {
        char c = (*p)[i];
        if (c < '0' || c > '9')
            return false;
        v = v * 10 + (c - '0');
    }
    *p += n;
    *out = v;
    return true;
}

static bool expect(const char **p, char c)
{
    if (**p != c)
        return false;
    (*p)++;
    return true;
}

static bool expect_either(const char **p, char c1, char c2)
{
    return expect(p, c1) || expect(p, c2);
}

bool timefmt_parse(const char *s, int64_t *epoch_us)
{
    if (!s)
        return false;
    const char *p = s;
    int year, mon, day, hour, min, sec;
    if (!read_digits(&p, 4, &year) || !expect(&p, '-') || !read_digits(&p, 2, &mon) ||
        !expect(&p, '-') || !read_digits(&p, 2, &day) || !expect_either(&p, 'T', 't') ||
        !read_digits(&p, 2, &hour) || !expect(&p, ':') || !read_digits(&p, 2, &min) ||
        !expect(&p, ':') || !read_digits(&p, 2, &sec))
        return false;

    int64_t frac_us = 0;
    if (expect(&p, '.')) {
        if (*p < '0' || *p > '9')
            return false;
        int64_t scale = 100000;
        for (; *p >= '0' && *p <= '9'; p++) {
            frac_us += (*p - '0') * scale;
            scale /= 10; /* digits past the sixth add 0 */
        }
    }

    int offset_sec;
    if (expect_either(&p, 'Z', 'z')) {
        offset_sec = 0;
    } else if (*p == '+' || *p == '-') {
        int sign = *p == '-' ? -1 : 1;
        p++;
        int oh, om;
        if (!read_digits(&p, 2, &oh))
            return false;
        (void)expect(&p, ':');
        if (!read_digits(&p, 2, &om) || oh > 23 || om > 59)
            return false;
        offset_sec = sign * (oh * 3600 + om * 60);
    } else {
        return false; /* no zone */
    }
    if (*p != '\0')
        return false;

    if (mon < 1 || mon > 12 || day < 1 || day > civil_days_in_month(year, mon) || hour > 23 ||
        min > 59 || sec > 60)
        return false;

    int64_t secs = civil_days_from(year, mon, day) * SEC_PER_DAY + hour * 3600 + min * 60 +
                   sec - offset_sec;
    *epoch_us = secs * US_PER_SEC + frac_us;
    return true;
}

bool timefmt_parse_db(const char *s, int64_t *epoch_us)
{
    int64_t us;
    if (!timefmt_parse(s, &us))
        return false;
    int64_t lo = civil_days_from(1, 1, 1) * SEC_PER_DAY * US_PER_SEC;
    int64_t hi = civil_days_from(10000, 1, 1) * SEC_PER_DAY * US_PER_SEC;
    if (us < lo || us >= hi)
        return false;
    *epoch_us = us;
    return true;
}

void timefmt_format(int64_t epoch_us, int offset_minutes, char out[TIMEFMT_LEN])
{
    if (offset_minutes > MAX_OFFSET_MIN)
        offset_minutes = MAX_OFFSET_MIN;
    else if (offset_minutes < -MAX_OFFSET_MIN)
        offset_minutes = -MAX_OFFSET_MIN;

    int64_t local = civil_floor_div(epoch_us, US_PER_SEC) + (int64_t)offset_minutes * 60;
    int64_t days = civil_floor_div(local, SEC_PER_DAY);
    int sod = (int)(local - days * SEC_PER_DAY);
    int64_t y;
    int m, d;
    civil_from_days(days, &y, &m, &d);

    /* |y| < 300000 for any int64 microsecond count, so it fits an int. */
    int n = snprintf(out, TIMEFMT_LEN, "%04d-%02d-%02dT%02d:%02d:%02d", (int)y, m, d,
                     sod / 3600, sod / 60 % 60, sod % 60);
    if (n < 0 || n >= TIMEFMT_LEN) { /* cannot happen, see above */
        out[0] = '\0';
        return;
    }
    if (offset_minutes == 0) {
        snprintf(out + n, (size_t)(TIMEFMT_LEN - n), "Z");
    } else {
        int a = offset_minutes < 0 ? -offset_minutes : offset_minutes;
        snprintf(out + n, (size_t)(TIMEFMT_LEN - n), "%c%02d:%02d",
                 offset_minutes < 0 ? '-' : '+', a / 60, a % 60);
    }
}
