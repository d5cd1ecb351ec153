/* civil: calendar dates as day numbers (proleptic Gregorian, day 0 = 1970-01-01), shared by
 * the ISO 8601 parser (timefmt) and the working-time calendar (workcal). Pure functions. */
#ifndef GRIDGOV_CIVIL_H
#define GRIDGOV_CIVIL_H

#include <stdbool.h>
#include <stdint.h>

/* Division rounding toward negative infinity (b > 0). */
int64_t civil_floor_div(int64_t a, int64_t b);
bool civil_is_leap(int64_t y);
/* Days in month m (1-12) of year y. */
int civil_days_in_month(int64_t y, int m);
/* Days from 1970-01-01 to y-m-d; negative before 1970. */
int64_t civil_days_from(int64_t y, int m, int d);
void civil_from_days(int64_t days, int64_t *y, int *m, int *d);
/* 0 = Monday ... 6 = Sunday. */
int civil_weekday(int64_t days);

#endif
