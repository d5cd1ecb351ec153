#include "civil.h"

int64_t civil_floor_div(int64_t a, int64_t b)
{
    int64_t q = a / b;
    return (a % b < 0) ? q - 1 : q;
}

bool civil_is_leap(int64_t y) { return y % 4 == 0 && (y % 100 != 0 || y % 400 == 0); }

int civil_days_in_month(int64_t y, int m)
{
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    return m == 2 && civil_is_leap(y) ? 29 : dim[m - 1];
}

/* H. Hinnant's days_from_civil. */
int64_t civil_days_from(int64_t y, int m, int d)
{
    y -= m <= 2;
    int64_t era = civil_floor_div(y, 400);
    int64_t yoe = y - era * 400;                                  /* [0, 399] */
    int64_t doy = (153 * (m + (m > 2 ? -3 : 9)) + 2) / 5 + d - 1; /* [0, 365] */
    int64_t doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;          /* [0, 146096] */
    return era * 146097 + doe - 719468;
}

void civil_from_days(int64_t days, int64_t *y, int *m, int *d)
{
    /* Estimate the year from the mean Gregorian year (146097 days / 400 years),
     * then step to the exact year; the estimate is off by at most a year or two. */
    int64_t year = 1970 + civil_floor_div(days * 400, 146097);
    while (civil_days_from(year, 1, 1) > days)
        year--;
    while (civil_days_from(year + 1, 1, 1) <= days)
        year++;
    int doy = (int)(days - civil_days_from(year, 1, 1)); /* 0..365 */
    int month = 1;
    while (month < 12 && doy >= civil_days_in_month(year, month)) {
        doy -= civil_days_in_month(year, month);
        month++;
    }
    *y = year;
    *m = month;
    *d = doy + 1;
}

/* 1970-01-01 was a Thursday. */
int civil_weekday(int64_t days) { return (int)(days + 3 - 7 * civil_floor_div(days + 3, 7)); }
