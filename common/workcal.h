/* workcal: the working-time calendar the ticket router's SLA clocks run on. 签收/办结
 * deadlines and 平均办结时长 count working hours only: the working periods of a working day
 * (default 08:30-12:00 and 14:30-17:30) in one fixed UTC offset (default +08:00, China
 * Standard Time, no DST).
 *
 * Which days are working days:
 *   - a day listed `off` in the year's calendar file is not (法定节假日, weekends included);
 *   - a day listed `work` is (调休上班: a Saturday or Sunday made a working day);
 *   - any other day: Monday-Friday are working days, Saturday and Sunday are not.
 * The calendar files are data, one per year, deploy/calendar/YYYY.txt, added by an operator
 * when the State Council publishes the next year's notice; the format is documented at the
 * top of deploy/calendar/2026.txt and in workcal_load_dir() below.
 *
 * Years without a file: a date in a year whose file was not loaded follows the plain weekday
 * rule (Monday-Friday working), so nothing fails when the notice is late, but holidays of that
 * year are counted as working time. workcal_year_loaded() tells callers so, to log a warning
 * (e.g. when a deadline lands in such a year).
 *
 * Instants are microseconds since the Unix epoch (UTC), as gclock_now_us() and timefmt use.
 * Instants before 0001-01-01T00:00:00Z or after 9999-12-31T23:59:59Z are clamped to that
 * range; dates are proleptic Gregorian, computed here (no mktime/timegm, no TZ, no locale).
 *
 * Ownership and threads: a workcal_t owns all its data (nothing points into the files or the
 * strings passed in). The functions that take a const workcal_t * are pure functions of the
 * loaded data: no clock reads, no global state, safe to call from many threads at once. The
 * setters (workcal_load_dir, workcal_set_hours, workcal_set_utc_offset) must not run
 * concurrently with anything else on the same calendar: configure it, then share it. Offices
 * with different working hours (a summer timetable, another township) use one workcal_t each. */
#ifndef GRIDGOV_WORKCAL_H
#define GRIDGOV_WORKCAL_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct workcal workcal_t;

#define WORKCAL_DEFAULT_HOURS "08:30-12:00,14:30-17:30"
#define WORKCAL_DEFAULT_UTC_OFFSET 480 /* minutes east of UTC: +08:00 */
#define WORKCAL_MAX_PERIODS 8          /* working periods per day in an hours spec */
/* workcal_add()'s answer when the deadline lies after year 9999: "never due". */
#define WORKCAL_NEVER INT64_MAX

/* A calendar with the default hours and offset and no year files loaded (weekday rule only).
 * Never NULL (aborts via log_oom() when out of memory). */
workcal_t *workcal_new(void);
/* Frees the calendar and sets *self to NULL; safe on NULL and twice. */
void workcal_destroy(workcal_t **self);

/* Loads every file named exactly YYYY.txt in dir (other names, such as README or 2026.txt.bak,
 * are ignored). Each line is one of
 *     YYYY-MM-DD off  名称     a day off (every day of a holiday range, listed one by one)
 *     YYYY-MM-DD work 调休     a Saturday or Sunday that is a working day
 *     # comment                (leading spaces allowed), or a blank line
 * fields separated by spaces or tabs; the name after the kind is optional free text. The file
 * must be UTF-8 (a leading BOM and CRLF line ends are accepted). Rejected, with
 * "path:line: reason" in err: a malformed line, an impossible date, a date whose year differs
 * from the file name, a date listed twice, `work` on a Monday-Friday (already a working day:
 * most likely a typo), and a year already loaded into this calendar. A directory that cannot
 * be read or holds no YYYY.txt file is an error too. All or nothing: on failure the calendar
 * is unchanged. */
bool workcal_load_dir(workcal_t *self, const char *dir, char *err, size_t errsz)
    __attribute__((warn_unused_result));

/* The working periods of every working day, e.g. "08:30-12:00,14:30-17:30": comma-separated
 * HH:MM-HH:MM local times (H or HH, then MM; 24:00 allowed as an end), spaces around items
 * allowed. Periods must be in order, each ending after it starts and not before the previous
 * one ends (touching is fine), at most WORKCAL_MAX_PERIODS. An empty spec (no working time at
 * all) is rejected. On failure the hours are unchanged and err says why. */
bool workcal_set_hours(workcal_t *self, const char *spec, char *err, size_t errsz)
    __attribute__((warn_unused_result));

/* The local time the hours refer to, in minutes east of UTC (480 = +08:00). False, and the
 * offset unchanged, when beyond +-(23*60+59). */
bool workcal_set_utc_offset(workcal_t *self, int minutes) __attribute__((warn_unused_result));

/* True if a file for that year was loaded (otherwise the year follows the weekday rule). */
bool workcal_year_loaded(const workcal_t *self, int year);

/* Whether the local date y-m-d is a working day under the rules above. False for a date that
 * does not exist (month 13, 2026-02-29, ...). */
bool workcal_is_working_day(const workcal_t *self, int y, int m, int d);

/* Working seconds in one working day under the current hours (23400 = 6.5 h by default), for
 * SLAs stated in working days. */
int64_t workcal_day_seconds(const workcal_t *self);

/* The instant (epoch us) at which working_seconds of working time have elapsed after start_us.
 * Counting starts at start_us if that is inside a working period, otherwise at the start of
 * the next one; a deadline that falls exactly on the end of a period is that end (17:30, not
 * the next morning). The microseconds of start_us carry over. working_seconds <= 0 returns
 * start_us unchanged. WORKCAL_NEVER when the deadline lies after year 9999. Always
 * terminates: the time taken grows with the log of the span, not its length. */
int64_t workcal_add(const workcal_t *self, int64_t start_us, int64_t working_seconds);

/* Working seconds between two instants (the working time within [from_us, to_us), whole
 * seconds rounded down); 0 if to_us <= from_us. The inverse of workcal_add():
 * workcal_between(c, t, workcal_add(c, t, s)) == s for every s >= 0 whose deadline is not
 * WORKCAL_NEVER. */
int64_t workcal_between(const workcal_t *self, int64_t from_us, int64_t to_us);

#endif
