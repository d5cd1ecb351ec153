#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "timefmt.h"
#include "workcal.h"

#define SEC INT64_C(1000000)
#define MIN (60 * SEC)
#define HOUR (3600 * SEC)

/* ---- helpers ---- */

static int64_t at(const char *s)
{
    int64_t us = 0;
    if (!timefmt_parse(s, &us)) {
        print_error("bad test timestamp \"%s\"\n", s);
        fail();
    }
    return us;
}

/* Asserts that got is the instant text denotes, printing both as +08:00 text if not. */
static void assert_instant(int64_t got, const char *want)
{
    int64_t w = at(want);
    if (got != w) {
        char g[TIMEFMT_LEN];
        timefmt_format(got, 480, g);
        print_error("got %s (%lld us), want %s\n", g, (long long)got, want);
        fail();
    }
}

static const char *calendar_dir(void)
{
    static char path[4096];
    const char *top = getenv("GRIDGOV_TOP");
    snprintf(path, sizeof path, "%s/deploy/calendar", top && *top ? top : ".");
    return path;
}

static workcal_t *shipped(void)
{
    workcal_t *c = workcal_new();
    char err[512] = "";
    if (!workcal_load_dir(c, calendar_dir(), err, sizeof err)) {
        print_error("loading %s: %s\n", calendar_dir(), err);
        fail();
    }
    return c;
}

static int setup_shipped(void **state)
{
    *state = shipped();
    return 0;
}

static int teardown_cal(void **state)
{
    workcal_t *c = *state;
    workcal_destroy(&c);
    return 0;
}

/* A fresh temporary directory holding the given files (name, content pairs, NULL-ended). */
static char *make_dir(const char *name, ...)
{
    char *dir = strdup("/tmp/gridgov_test_workcal_XXXXXX");
    assert_non_null(dir);
    assert_non_null(mkdtemp(dir));
    va_list ap;
    va_start(ap, name);
    for (const char *n = name; n; n = va_arg(ap, const char *)) {
        const char *content = va_arg(ap, const char *);
        char path[512];
        snprintf(path, sizeof path, "%s/%s", dir, n);
        FILE *f = fopen(path, "w");
        assert_non_null(f);
        fputs(content, f);
        fclose(f);
    }
    va_end(ap);
    return dir;
}

static void remove_dir(char *dir)
{
    DIR *d = opendir(dir);
    if (d) {
        struct dirent *de;
        while ((de = readdir(d)) != NULL) {
            if (strcmp(de->d_name, ".") == 0 || strcmp(de->d_name, "..") == 0)
                continue;
            char path[512];
            snprintf(path, sizeof path, "%s/%s", dir, de->d_name);
            unlink(path);
        }
        closedir(d);
    }
    rmdir(dir);
    free(dir);
}

/* Loads a directory holding only 2026.txt with the given content and expects an error that
 * mentions "2026.txt:<line>:" and the fragment; the calendar must stay unchanged. */
static void expect_file_error(const char *content, int line, const char *fragment)
{
    char *dir = make_dir("2026.txt", content, NULL);
    workcal_t *c = workcal_new();
    char err[512] = "";
    bool ok = workcal_load_dir(c, dir, err, sizeof err);
    char where[64];
    snprintf(where, sizeof where, "2026.txt:%d:", line);
    if (ok || !strstr(err, where) || !strstr(err, fragment)) {
        print_error("content:\n%s\nok=%d err=\"%s\", want \"%s\" and \"%s\"\n", content, ok, err, where, fragment);
        fail();
    }
    assert_false(workcal_year_loaded(c, 2026));
    assert_true(workcal_is_working_day(c, 2026, 10, 1)); /* weekday rule only */
    workcal_destroy(&c);
    remove_dir(dir);
}

static void expect_hours_error(const char *spec, const char *fragment)
{
    workcal_t *c = workcal_new();
    char err[512] = "";
    bool ok = workcal_set_hours(c, spec, err, sizeof err);
    if (ok || !strstr(err, fragment)) {
        print_error("spec \"%s\": ok=%d err=\"%s\", want \"%s\"\n", spec ? spec : "(null)", ok, err, fragment);
        fail();
    }
    assert_int_equal(workcal_day_seconds(c), 6 * 3600 + 1800); /* unchanged */
    workcal_destroy(&c);
}

/* Reference: working seconds in [from, to) counted minute by minute (from on a minute),
 * with the default hours at +08:00, using workcal_is_working_day for the days. */
static int64_t ref_between(const workcal_t *c, int64_t from, int64_t to)
{
    int64_t sum = 0;
    for (int64_t t = from; t < to; t += MIN) {
        char s[TIMEFMT_LEN];
        timefmt_format(t, 480, s);
        int y, mo, d, h, mi;
        assert_int_equal(sscanf(s, "%d-%d-%dT%d:%d", &y, &mo, &d, &h, &mi), 5);
        int m = h * 60 + mi;
        bool in_hours = (m >= 8 * 60 + 30 && m < 12 * 60) || (m >= 14 * 60 + 30 && m < 17 * 60 + 30);
        if (in_hours && workcal_is_working_day(c, y, mo, d))
            sum += 60;
    }
    return sum;
}

static uint64_t rng_state = UINT64_C(0x9E3779B97F4A7C15);
static uint64_t rng(void)
{
    rng_state ^= rng_state << 13;
    rng_state ^= rng_state >> 7;
    rng_state ^= rng_state << 17;
    return rng_state;
}

/* ---- lifecycle and defaults ---- */

static void new_has_defaults_and_no_years(void **state)
{
    (void)state;
    workcal_t *c = workcal_new();
    assert_non_null(c);
    assert_int_equal(workcal_day_seconds(c), 6 * 3600 + 1800); /* 3.5 h + 3 h */
    assert_false(workcal_year_loaded(c, 2026));
    /* 09:00 +08:00 is 01:00Z: one hour later is 10:00 +08:00, so the default offset is +480 */
    assert_instant(workcal_add(c, at("2026-09-29T09:00:00+08:00"), 3600), "2026-09-29T10:00:00+08:00");
    workcal_destroy(&c);
}

static void destroy_nulls_and_is_safe_twice(void **state)
{
    (void)state;
    workcal_t *c = workcal_new();
    workcal_destroy(&c);
    assert_null(c);
    workcal_destroy(&c);
    workcal_destroy(NULL);
}

/* ---- the shipped 2026 file ---- */

static void shipped_2026_loads(void **state)
{
    workcal_t *c = *state;
    assert_true(workcal_year_loaded(c, 2026));
    assert_false(workcal_year_loaded(c, 2025));
    assert_false(workcal_year_loaded(c, 2027));
}

static void golden_week_is_off_and_10_10_saturday_works(void **state)
{
    workcal_t *c = *state;
    for (int d = 1; d <= 7; d++)
        assert_false(workcal_is_working_day(c, 2026, 10, d));
    assert_true(workcal_is_working_day(c, 2026, 10, 8));   /* Thursday */
    assert_true(workcal_is_working_day(c, 2026, 10, 9));   /* Friday */
    assert_true(workcal_is_working_day(c, 2026, 10, 10));  /* Saturday, 调休 */
    assert_false(workcal_is_working_day(c, 2026, 10, 11)); /* Sunday */
    assert_true(workcal_is_working_day(c, 2026, 10, 12));  /* Monday */
    assert_true(workcal_is_working_day(c, 2026, 9, 30));   /* Wednesday before */
}

static void spring_festival_and_its_make_up_saturdays(void **state)
{
    workcal_t *c = *state;
    assert_true(workcal_is_working_day(c, 2026, 2, 13));  /* Friday */
    assert_true(workcal_is_working_day(c, 2026, 2, 14));  /* Saturday, 调休 */
    for (int d = 15; d <= 23; d++)
        assert_false(workcal_is_working_day(c, 2026, 2, d)); /* 02-16 is a Monday */
    assert_true(workcal_is_working_day(c, 2026, 2, 24));  /* Tuesday */
    assert_true(workcal_is_working_day(c, 2026, 2, 27));  /* Friday */
    assert_true(workcal_is_working_day(c, 2026, 2, 28));  /* Saturday, 调休 */
    assert_false(workcal_is_working_day(c, 2026, 3, 1));  /* Sunday */
}

static void every_listed_range_and_make_up_day(void **state)
{
    workcal_t *c = *state;
    static const struct { int m, d0, d1; } off[] = {
        {1, 1, 3}, {2, 15, 23}, {4, 4, 6}, {5, 1, 5}, {6, 19, 21}, {9, 25, 27}, {10, 1, 7},
    };
    for (size_t i = 0; i < sizeof off / sizeof off[0]; i++)
        for (int d = off[i].d0; d <= off[i].d1; d++)
            if (workcal_is_working_day(c, 2026, off[i].m, d)) {
                print_error("2026-%02d-%02d should be off\n", off[i].m, d);
                fail();
            }
    static const int work[][2] = {{1, 4}, {2, 14}, {2, 28}, {5, 9}, {9, 20}, {10, 10}};
    for (size_t i = 0; i < sizeof work / sizeof work[0]; i++)
        assert_true(workcal_is_working_day(c, 2026, work[i][0], work[i][1]));
    /* the days around a range follow the weekday rule */
    assert_true(workcal_is_working_day(c, 2026, 1, 5));   /* Monday */
    assert_false(workcal_is_working_day(c, 2026, 9, 19)); /* Saturday */
    assert_true(workcal_is_working_day(c, 2026, 5, 6));   /* Wednesday */
}

static void year_2026_has_248_working_days(void **state)
{
    workcal_t *c = *state;
    /* 261 Monday-Fridays, 19 of them off, plus 6 make-up weekend days */
    int n = 0;
    for (int m = 1; m <= 12; m++)
        for (int d = 1; d <= 31; d++)
            n += workcal_is_working_day(c, 2026, m, d);
    assert_int_equal(n, 248);
    assert_int_equal(workcal_between(c, at("2026-01-01T00:00:00+08:00"), at("2027-01-01T00:00:00+08:00")),
                     248 * (6 * 3600 + 1800));
}

static void weekday_rule_without_any_file(void **state)
{
    (void)state;
    workcal_t *c = workcal_new();
    assert_true(workcal_is_working_day(c, 2026, 10, 1));  /* Thursday: no holiday known */
    assert_false(workcal_is_working_day(c, 2026, 10, 10)); /* Saturday: no make-up known */
    assert_false(workcal_is_working_day(c, 2026, 10, 11));
    assert_true(workcal_is_working_day(c, 1970, 1, 1));   /* Thursday */
    assert_false(workcal_is_working_day(c, 2000, 1, 1));  /* Saturday */
    assert_true(workcal_is_working_day(c, 2024, 2, 29));  /* Thursday, leap day */
    workcal_destroy(&c);
}

static void unloaded_2027_falls_back_to_weekdays(void **state)
{
    workcal_t *c = *state;
    assert_false(workcal_year_loaded(c, 2027));
    assert_true(workcal_is_working_day(c, 2027, 1, 1));  /* Friday: 元旦, but no 2027 file */
    assert_false(workcal_is_working_day(c, 2027, 1, 2)); /* Saturday */
    assert_true(workcal_is_working_day(c, 2027, 10, 1)); /* Friday */
    /* Thursday 2026-12-31 17:00 + 1 h: 30 min that day, then Friday 2027-01-01 at 08:30 + 30 min */
    assert_instant(workcal_add(c, at("2026-12-31T17:00:00+08:00"), 3600), "2027-01-01T09:00:00+08:00");
    /* and 2025 likewise: Wednesday 2025-10-01 counts */
    assert_true(workcal_is_working_day(c, 2025, 10, 1));
}

static void impossible_dates_are_not_working_days(void **state)
{
    workcal_t *c = *state;
    assert_false(workcal_is_working_day(c, 2026, 2, 29));
    assert_false(workcal_is_working_day(c, 2026, 13, 1));
    assert_false(workcal_is_working_day(c, 2026, 0, 10));
    assert_false(workcal_is_working_day(c, 2026, 4, 31));
    assert_false(workcal_is_working_day(c, 2026, 6, 0));
}

/* ---- workcal_add ---- */

static void add_within_a_period(void **state)
{
    workcal_t *c = *state;
    assert_instant(workcal_add(c, at("2026-09-29T09:00:00+08:00"), 3600), "2026-09-29T10:00:00+08:00");
    assert_instant(workcal_add(c, at("2026-09-29T15:00:00+08:00"), 90), "2026-09-29T15:01:30+08:00");
}

static void add_across_lunch(void **state)
{
    workcal_t *c = *state;
    /* Tuesday 11:00 + 2 h: 11:00-12:00, then 14:30-15:30 */
    assert_instant(workcal_add(c, at("2026-09-29T11:00:00+08:00"), 2 * 3600), "2026-09-29T15:30:00+08:00");
    /* filed during lunch: counting starts at 14:30 */
    assert_instant(workcal_add(c, at("2026-09-29T13:00:00+08:00"), 3600), "2026-09-29T15:30:00+08:00");
}

static void add_across_a_night(void **state)
{
    workcal_t *c = *state;
    /* Tuesday 17:00 + 1 h: 17:00-17:30, then Wednesday 08:30-09:00 */
    assert_instant(workcal_add(c, at("2026-09-29T17:00:00+08:00"), 3600), "2026-09-30T09:00:00+08:00");
    /* filed in the evening */
    assert_instant(workcal_add(c, at("2026-09-29T21:15:00+08:00"), 3600), "2026-09-30T09:30:00+08:00");
}

static void add_across_a_weekend(void **state)
{
    workcal_t *c = *state;
    /* Friday 2026-09-11 17:00 + 1 h -> Monday 09-14 09:00 */
    assert_instant(workcal_add(c, at("2026-09-11T17:00:00+08:00"), 3600), "2026-09-14T09:00:00+08:00");
    /* Friday 2026-09-18 17:00 + 1 h -> Sunday 09-20, a make-up working day */
    assert_instant(workcal_add(c, at("2026-09-18T17:00:00+08:00"), 3600), "2026-09-20T09:00:00+08:00");
    /* 3 working days from Friday 2026-09-11 08:30 -> Tuesday 09-15 17:30 */
    assert_instant(workcal_add(c, at("2026-09-11T08:30:00+08:00"), 3 * workcal_day_seconds(c)),
                   "2026-09-15T17:30:00+08:00");
}

static void add_across_golden_week(void **state)
{
    workcal_t *c = *state;
    /* Wednesday 2026-09-30 17:00 + 8 h: 30 min on 09-30; 10-01..10-07 off; Thursday 10-08 gives
     * 6.5 h (08:30-12:00, 14:30-17:30); the last hour is Friday 10-09 08:30-09:30. */
    assert_instant(workcal_add(c, at("2026-09-30T17:00:00+08:00"), 8 * 3600), "2026-10-09T09:30:00+08:00");
    /* 7 h ends exactly at the close of 10-08 and stays there */
    assert_instant(workcal_add(c, at("2026-09-30T17:00:00+08:00"), 7 * 3600), "2026-10-08T17:30:00+08:00");
    /* filed on a holiday afternoon */
    assert_instant(workcal_add(c, at("2026-10-03T15:00:00+08:00"), 3600), "2026-10-08T09:30:00+08:00");
    /* 15 working hours from 09-30 17:00 reach Saturday 10-10 (调休): 0.5 + 6.5 + 6.5 = 13.5, then
     * 1.5 h */
    assert_instant(workcal_add(c, at("2026-09-30T17:00:00+08:00"), 15 * 3600), "2026-10-10T10:00:00+08:00");
}

static void add_friday_17_00_before_a_holiday(void **state)
{
    workcal_t *c = *state;
    /* Friday 2026-04-03 17:00 + 1 h: 04-04..04-06 清明 off (06 is a Monday) -> Tuesday 04-07 09:00 */
    assert_instant(workcal_add(c, at("2026-04-03T17:00:00+08:00"), 3600), "2026-04-07T09:00:00+08:00");
    /* Thursday 2026-04-30 17:00 + 1 h: 05-01..05-05 off -> Wednesday 05-06 09:00 */
    assert_instant(workcal_add(c, at("2026-04-30T17:00:00+08:00"), 3600), "2026-05-06T09:00:00+08:00");
    /* Friday 2026-02-13 17:00 + 1 h -> Saturday 02-14 (调休) 09:00 */
    assert_instant(workcal_add(c, at("2026-02-13T17:00:00+08:00"), 3600), "2026-02-14T09:00:00+08:00");
}

static void add_from_the_middle_of_the_night(void **state)
{
    workcal_t *c = *state;
    assert_instant(workcal_add(c, at("2026-09-29T03:00:00+08:00"), 3600), "2026-09-29T09:30:00+08:00");
    /* 00:30 +08:00 is still the previous day in UTC: the local date must be used */
    assert_instant(workcal_add(c, at("2026-09-28T16:30:00Z"), 3600), "2026-09-29T09:30:00+08:00");
    /* Saturday 03:00 -> Monday */
    assert_instant(workcal_add(c, at("2026-09-12T03:00:00+08:00"), 60), "2026-09-14T08:31:00+08:00");
}

static void add_at_exact_period_boundaries(void **state)
{
    workcal_t *c = *state;
    /* a whole morning from its start ends at 12:00, not 14:30 */
    assert_instant(workcal_add(c, at("2026-09-29T08:30:00+08:00"), 3 * 3600 + 1800), "2026-09-29T12:00:00+08:00");
    /* a whole day from 08:30 ends at 17:30 the same day */
    assert_instant(workcal_add(c, at("2026-09-29T08:30:00+08:00"), 6 * 3600 + 1800), "2026-09-29T17:30:00+08:00");
    assert_instant(workcal_add(c, at("2026-09-29T14:30:00+08:00"), 3 * 3600), "2026-09-29T17:30:00+08:00");
    /* starting at 12:00 (the end of a period): the next second of work is 14:30:00-14:30:01 */
    assert_instant(workcal_add(c, at("2026-09-29T12:00:00+08:00"), 1), "2026-09-29T14:30:01+08:00");
    /* starting at 17:30 */
    assert_instant(workcal_add(c, at("2026-09-29T17:30:00+08:00"), 3600), "2026-09-30T09:30:00+08:00");
    /* one second before the close */
    assert_instant(workcal_add(c, at("2026-09-29T17:29:59+08:00"), 1), "2026-09-29T17:30:00+08:00");
    assert_instant(workcal_add(c, at("2026-09-29T17:29:59+08:00"), 2), "2026-09-30T08:30:01+08:00");
    /* a whole day from the previous close ends at the next close */
    assert_instant(workcal_add(c, at("2026-09-29T17:30:00+08:00"), workcal_day_seconds(c)),
                   "2026-09-30T17:30:00+08:00");
}

static void add_zero_or_negative_returns_start(void **state)
{
    workcal_t *c = *state;
    int64_t night = at("2026-10-03T02:00:00+08:00");
    assert_int_equal(workcal_add(c, night, 0), night);
    assert_int_equal(workcal_add(c, night, -3600), night);
    assert_int_equal(workcal_add(c, INT64_MIN, 0), INT64_MIN);
}

static void add_keeps_microseconds(void **state)
{
    workcal_t *c = *state;
    int64_t start = at("2026-09-29T09:00:00.123456+08:00");
    assert_int_equal(workcal_add(c, start, 60), at("2026-09-29T09:01:00.123456+08:00"));
    int64_t late = at("2026-09-29T17:29:59.500000+08:00");
    assert_int_equal(workcal_add(c, late, 1), at("2026-09-30T08:30:00.500000+08:00"));
}

static void add_terminates_on_extreme_inputs(void **state)
{
    workcal_t *c = *state;
    assert_int_equal(workcal_add(c, INT64_MAX, 1), WORKCAL_NEVER);
    assert_int_equal(workcal_add(c, INT64_MIN, INT64_MAX), WORKCAL_NEVER);
    assert_int_equal(workcal_add(c, 0, INT64_MAX), WORKCAL_NEVER);
    assert_int_equal(workcal_add(c, at("9999-12-31T17:00:00+08:00"), 3600), WORKCAL_NEVER);
    /* a long but representable span: 1000 years of working time from 2026 lands before 9999 */
    int64_t far = workcal_add(c, at("2026-01-01T00:00:00Z"), INT64_C(1000) * 250 * 7 * 3600);
    assert_true(far > at("2900-01-01T00:00:00Z") && far < at("9999-01-01T00:00:00Z"));
    assert_int_equal(workcal_between(c, at("2026-01-01T00:00:00Z"), far), INT64_C(1000) * 250 * 7 * 3600);
    /* the whole range is counted without stepping through it */
    assert_true(workcal_between(c, INT64_MIN, INT64_MAX) > 0);
    assert_int_equal(workcal_between(c, INT64_MAX, INT64_MIN), 0);
}

static void add_skips_a_year_listed_entirely_off(void **state)
{
    (void)state;
    char content[366 * 24 + 1] = "";
    size_t len = 0;
    static const int dim[12] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
    for (int m = 1; m <= 12; m++)
        for (int d = 1; d <= dim[m - 1]; d++)
            len += (size_t)snprintf(content + len, sizeof content - len, "2026-%02d-%02d off\n", m, d);
    char *dir = make_dir("2026.txt", content, NULL);
    workcal_t *c = workcal_new();
    char err[512] = "";
    assert_true(workcal_load_dir(c, dir, err, sizeof err));
    /* Wednesday 2025-12-31 17:30 + 1 h: all of 2026 is off -> Friday 2027-01-01 (weekday rule) */
    assert_instant(workcal_add(c, at("2025-12-31T17:30:00+08:00"), 3600), "2027-01-01T09:30:00+08:00");
    assert_int_equal(workcal_between(c, at("2025-12-31T17:30:00+08:00"), at("2027-01-01T09:30:00+08:00")), 3600);
    workcal_destroy(&c);
    remove_dir(dir);
}

/* ---- workcal_between ---- */

static void between_counts_working_time_only(void **state)
{
    workcal_t *c = *state;
    assert_int_equal(workcal_between(c, at("2026-09-29T09:00:00+08:00"), at("2026-09-29T10:00:00+08:00")), 3600);
    /* across lunch */
    assert_int_equal(workcal_between(c, at("2026-09-29T11:00:00+08:00"), at("2026-09-29T15:30:00+08:00")),
                     2 * 3600);
    /* across a night */
    assert_int_equal(workcal_between(c, at("2026-09-29T17:00:00+08:00"), at("2026-09-30T09:00:00+08:00")), 3600);
    /* Golden Week contributes nothing */
    assert_int_equal(workcal_between(c, at("2026-09-30T17:30:00+08:00"), at("2026-10-08T08:30:00+08:00")), 0);
    assert_int_equal(workcal_between(c, at("2026-09-30T17:00:00+08:00"), at("2026-10-09T09:30:00+08:00")),
                     8 * 3600);
    /* a whole week with the 10-10 make-up Saturday: Thu, Fri, Sat of 10-08..10-11 */
    assert_int_equal(workcal_between(c, at("2026-10-08T00:00:00+08:00"), at("2026-10-12T00:00:00+08:00")),
                     3 * (6 * 3600 + 1800));
    /* empty and reversed intervals */
    int64_t t = at("2026-09-29T10:00:00+08:00");
    assert_int_equal(workcal_between(c, t, t), 0);
    assert_int_equal(workcal_between(c, t, t - HOUR), 0);
    /* partial seconds round down */
    assert_int_equal(workcal_between(c, t, t + 1500000), 1);
}

static void between_matches_minute_by_minute_reference(void **state)
{
    workcal_t *c = *state;
    int64_t base = at("2026-09-15T00:00:00+08:00"); /* covers 中秋, the Golden Week, 调休 days */
    for (int i = 0; i < 150; i++) {
        int64_t from = base + (int64_t)(rng() % (40 * 24 * 60)) * MIN;
        int64_t to = from + (int64_t)(rng() % (6 * 24 * 60)) * MIN;
        int64_t want = ref_between(c, from, to);
        int64_t got = workcal_between(c, from, to);
        if (got != want) {
            char a[TIMEFMT_LEN], b[TIMEFMT_LEN];
            timefmt_format(from, 480, a);
            timefmt_format(to, 480, b);
            print_error("between(%s, %s) = %lld, reference %lld\n", a, b, (long long)got, (long long)want);
            fail();
        }
    }
}

/* add then between returns the same seconds, and the deadline is the earliest such instant. */
static void check_symmetry(const workcal_t *c, int64_t lo, int64_t span_us, int64_t max_seconds, int rounds)
{
    for (int i = 0; i < rounds; i++) {
        int64_t start = lo + (int64_t)(rng() % (uint64_t)span_us);
        int64_t s = (int64_t)(rng() % (uint64_t)max_seconds);
        int64_t due = workcal_add(c, start, s);
        assert_true(due >= start);
        int64_t back = workcal_between(c, start, due);
        if (back != s || (s > 0 && workcal_between(c, start, due - 1) != s - 1)) {
            char a[TIMEFMT_LEN], b[TIMEFMT_LEN];
            timefmt_format(start, 480, a);
            timefmt_format(due, 480, b);
            print_error("add(%s, %lld) = %s, between = %lld\n", a, (long long)s, b, (long long)back);
            fail();
        }
    }
}

static void add_and_between_are_inverse_for_random_starts(void **state)
{
    workcal_t *c = *state;
    /* starts from mid-2025 to mid-2027 (loaded and unloaded years), up to 300 working hours */
    check_symmetry(c, at("2025-06-01T00:00:00+08:00"), 730 * 24 * HOUR, 300 * 3600, 2000);
    /* short spans, to hit period ends and starts often */
    check_symmetry(c, at("2026-09-20T00:00:00+08:00"), 30 * 24 * HOUR, 4 * 3600, 2000);
}

static void inverse_holds_for_other_hours_and_offsets(void **state)
{
    workcal_t *c = *state;
    char err[256];
    assert_true(workcal_set_hours(c, "00:00-24:00", err, sizeof err));
    check_symmetry(c, at("2026-01-01T00:00:00Z"), 365 * 24 * HOUR, 100 * 3600, 500);
    assert_true(workcal_set_hours(c, "09:00-09:01,23:59-24:00", err, sizeof err));
    check_symmetry(c, at("2026-01-01T00:00:00Z"), 365 * 24 * HOUR, 5 * 3600, 500);
    assert_true(workcal_set_utc_offset(c, -330));
    check_symmetry(c, at("2026-01-01T00:00:00Z"), 365 * 24 * HOUR, 5 * 3600, 500);
}

/* ---- hours and offset ---- */

static void custom_hours_and_offset(void **state)
{
    workcal_t *c = *state;
    char err[256];
    assert_true(workcal_set_hours(c, "09:00-17:00", err, sizeof err));
    assert_int_equal(workcal_day_seconds(c), 8 * 3600);
    assert_instant(workcal_add(c, at("2026-09-29T16:00:00+08:00"), 2 * 3600), "2026-09-30T10:00:00+08:00");
    /* spaces, one-digit hours, touching periods, 24:00 */
    assert_true(workcal_set_hours(c, " 8:30 - 12:00 , 14:30-17:30 ", err, sizeof err));
    assert_int_equal(workcal_day_seconds(c), 6 * 3600 + 1800);
    assert_true(workcal_set_hours(c, "08:00-12:00,12:00-13:00", err, sizeof err));
    assert_int_equal(workcal_day_seconds(c), 5 * 3600);
    assert_true(workcal_set_hours(c, "00:00-24:00", err, sizeof err));
    assert_int_equal(workcal_day_seconds(c), 24 * 3600);
    /* whole days: Friday 2026-09-11 12:00 + 24 h -> Monday 09-14 12:00 */
    assert_instant(workcal_add(c, at("2026-09-11T12:00:00+08:00"), 24 * 3600), "2026-09-14T12:00:00+08:00");
    /* the offset: with +00:00 the hours are UTC hours */
    assert_true(workcal_set_hours(c, WORKCAL_DEFAULT_HOURS, err, sizeof err));
    assert_true(workcal_set_utc_offset(c, 0));
    assert_instant(workcal_add(c, at("2026-09-29T09:00:00Z"), 3600), "2026-09-29T10:00:00Z");
    assert_instant(workcal_add(c, at("2026-09-29T17:00:00Z"), 3600), "2026-09-30T09:00:00Z");
    assert_false(workcal_set_utc_offset(c, 24 * 60));
    assert_false(workcal_set_utc_offset(c, -24 * 60));
    assert_instant(workcal_add(c, at("2026-09-29T09:00:00Z"), 3600), "2026-09-29T10:00:00Z"); /* unchanged */
}

static void hours_spec_errors(void **state)
{
    (void)state;
    expect_hours_error("", "empty");
    expect_hours_error("   ", "empty");
    expect_hours_error(NULL, "empty");
    expect_hours_error("08:30", "period 1 is not HH:MM-HH:MM");
    expect_hours_error("08:30-", "period 1 is not");
    expect_hours_error("0830-1200", "period 1 is not");
    expect_hours_error("08:30-12:00;14:30-17:30", "expected ','");
    expect_hours_error("08:30-12:00,", "period 2 is not");
    expect_hours_error("08:30-12:00,,14:30-17:30", "period 2 is not");
    expect_hours_error("12:00-08:30", "does not end after it starts");
    expect_hours_error("09:00-09:00", "does not end after it starts");
    expect_hours_error("08:30-12:00,11:00-13:00", "must not overlap");
    expect_hours_error("14:30-17:30,08:30-12:00", "must be in order");
    expect_hours_error("25:00-26:00", "not HH:MM-HH:MM");
    expect_hours_error("08:60-09:00", "not HH:MM-HH:MM");
    expect_hours_error("08:00-24:30", "not HH:MM-HH:MM");
    expect_hours_error("123:00-124:00", "not HH:MM-HH:MM");
    expect_hours_error("-08:00-09:00", "not HH:MM-HH:MM");
    expect_hours_error("01:00-02:00,03:00-04:00,05:00-06:00,07:00-08:00,09:00-10:00,11:00-12:00,13:00-14:00,"
                       "15:00-16:00,17:00-18:00",
                       "more than 8 periods");
}

/* ---- loading ---- */

static void malformed_lines_are_rejected_with_file_and_line(void **state)
{
    (void)state;
    expect_file_error("# header\n2026-10-01 off 国庆节\n2026-10-02 of 国庆节\n", 3, "expected 'off' or 'work'");
    expect_file_error("2026-10-01\n", 1, "expected 'off' or 'work'");
    expect_file_error("\n\n2026/10/01 off\n", 3, "YYYY-MM-DD");
    expect_file_error("2026-1-01 off\n", 1, "YYYY-MM-DD");
    expect_file_error("2026-10-01off\n", 1, "YYYY-MM-DD");
    expect_file_error("国庆节 2026-10-01 off\n", 1, "YYYY-MM-DD");
    expect_file_error("2026-02-30 off 春节\n", 1, "2026-02-30 is not a date");
    expect_file_error("2026-13-01 off\n", 1, "is not a date");
    expect_file_error("2026-01-01 OFF\n", 1, "expected 'off' or 'work'");
}

static void wrong_year_duplicates_and_weekday_work_are_rejected(void **state)
{
    (void)state;
    expect_file_error("2026-12-31 off\n2027-01-01 off 元旦\n", 2, "2027-01-01 is not in 2026");
    expect_file_error("2026-10-01 off\n# c\n2026-10-02 off\n2026-10-01 off\n", 4,
                      "2026-10-01 is listed twice (first on line 1)");
    expect_file_error("2026-10-10 work 调休\n2026-10-10 off\n", 2, "listed twice");
    expect_file_error("2026-10-09 work 调休\n", 1, "is a Friday, already a working day");
    /* GBK-encoded text, as a Windows editor might save it */
    expect_file_error("2026-10-01 off \xB9\xFA\xC7\xEC\n", 1, "not valid UTF-8");
}

static void file_format_tolerances(void **state)
{
    (void)state;
    char *dir = make_dir("2026.txt",
                         "\xEF\xBB\xBF# with a BOM and CRLF line ends\r\n"
                         "   # an indented comment\r\n"
                         "\r\n"
                         "2026-10-01\toff\t国庆节\r\n"
                         "  2026-10-02 off\r\n"
                         "2026-10-10   work   调休 (make-up) # text after the kind is free\r\n"
                         "2026-10-11 off",
                         "README", "not a calendar\n", "2026.txt.bak", "garbage\n", "26.txt", "garbage\n",
                         "20266.txt", "garbage\n", NULL);
    workcal_t *c = workcal_new();
    char err[512] = "";
    if (!workcal_load_dir(c, dir, err, sizeof err)) {
        print_error("%s\n", err);
        fail();
    }
    assert_true(workcal_year_loaded(c, 2026));
    assert_false(workcal_is_working_day(c, 2026, 10, 1));
    assert_false(workcal_is_working_day(c, 2026, 10, 2));
    assert_true(workcal_is_working_day(c, 2026, 10, 5)); /* not listed in this file */
    assert_true(workcal_is_working_day(c, 2026, 10, 10));
    assert_false(workcal_is_working_day(c, 2026, 10, 11));
    workcal_destroy(&c);
    remove_dir(dir);
}

static void several_years_and_all_or_nothing(void **state)
{
    (void)state;
    char *dir = make_dir("2026.txt", "2026-10-01 off\n", "2027.txt", "2027-01-01 off 元旦\n2027-02-06 work\n", NULL);
    workcal_t *c = workcal_new();
    char err[512] = "";
    assert_true(workcal_load_dir(c, dir, err, sizeof err));
    assert_true(workcal_year_loaded(c, 2026));
    assert_true(workcal_year_loaded(c, 2027));
    assert_false(workcal_is_working_day(c, 2027, 1, 1));
    assert_true(workcal_is_working_day(c, 2027, 2, 6)); /* Saturday */
    /* loading the same years again is an error and changes nothing */
    assert_false(workcal_load_dir(c, dir, err, sizeof err));
    assert_non_null(strstr(err, "already loaded"));
    assert_false(workcal_is_working_day(c, 2026, 10, 1));
    workcal_destroy(&c);
    remove_dir(dir);

    /* a bad 2027 keeps the good 2026 out too */
    dir = make_dir("2026.txt", "2026-10-01 off\n", "2027.txt", "2027-01-01 off\n2027-01-01 off\n", NULL);
    c = workcal_new();
    assert_false(workcal_load_dir(c, dir, err, sizeof err));
    assert_non_null(strstr(err, "2027.txt:2:"));
    assert_false(workcal_year_loaded(c, 2026));
    assert_true(workcal_is_working_day(c, 2026, 10, 1));
    workcal_destroy(&c);
    remove_dir(dir);
}

static void missing_or_empty_directory_is_an_error(void **state)
{
    (void)state;
    workcal_t *c = workcal_new();
    char err[512] = "";
    assert_false(workcal_load_dir(c, "/nonexistent/gridgov/calendar", err, sizeof err));
    assert_non_null(strstr(err, "/nonexistent/gridgov/calendar"));
    char *dir = make_dir("README", "no calendars here\n", NULL);
    assert_false(workcal_load_dir(c, dir, err, sizeof err));
    assert_non_null(strstr(err, "no YYYY.txt"));
    remove_dir(dir);
    /* a file with only comments loads (the year is known to have no special days) */
    dir = make_dir("2030.txt", "# nothing special\n", NULL);
    assert_true(workcal_load_dir(c, dir, err, sizeof err));
    assert_true(workcal_year_loaded(c, 2030));
    remove_dir(dir);
    workcal_destroy(&c);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_has_defaults_and_no_years),
        cmocka_unit_test(destroy_nulls_and_is_safe_twice),
        cmocka_unit_test_setup_teardown(shipped_2026_loads, setup_shipped, teardown_cal),
        cmocka_unit_test_setup_teardown(golden_week_is_off_and_10_10_saturday_works, setup_shipped, teardown_cal),
        cmocka_unit_test_setup_teardown(spring_festival_and_its_make_up_saturdays, setup_shipped, teardown_cal),
        cmocka_unit_test_setup_teardown(every_listed_range_and_make_up_day, setup_shipped, teardown_cal),
        cmocka_unit_test_setup_teardown(year_2026_has_248_working_days, setup_shipped, teardown_cal),
        cmocka_unit_test(weekday_rule_without_any_file),
        cmocka_unit_test_setup_teardown(unloaded_2027_falls_back_to_weekdays, setup_shipped, teardown_cal),
        cmocka_unit_test_setup_teardown(impossible_dates_are_not_working_days, setup_shipped, teardown_cal),
        cmocka_unit_test_setup_teardown(add_within_a_period, setup_shipped, teardown_cal),
        cmocka_unit_test_setup_teardown(add_across_lunch, setup_shipped, teardown_cal),
        cmocka_unit_test_setup_teardown(add_across_a_night, setup_shipped, teardown_cal),
        cmocka_unit_test_setup_teardown(add_across_a_weekend, setup_shipped, teardown_cal),
        cmocka_unit_test_setup_teardown(add_across_golden_week, setup_shipped, teardown_cal),
        cmocka_unit_test_setup_teardown(add_friday_17_00_before_a_holiday, setup_shipped, teardown_cal),
        cmocka_unit_test_setup_teardown(add_from_the_middle_of_the_night, setup_shipped, teardown_cal),
        cmocka_unit_test_setup_teardown(add_at_exact_period_boundaries, setup_shipped, teardown_cal),
        cmocka_unit_test_setup_teardown(add_zero_or_negative_returns_start, setup_shipped, teardown_cal),
        cmocka_unit_test_setup_teardown(add_keeps_microseconds, setup_shipped, teardown_cal),
        cmocka_unit_test_setup_teardown(add_terminates_on_extreme_inputs, setup_shipped, teardown_cal),
        cmocka_unit_test(add_skips_a_year_listed_entirely_off),
        cmocka_unit_test_setup_teardown(between_counts_working_time_only, setup_shipped, teardown_cal),
        cmocka_unit_test_setup_teardown(between_matches_minute_by_minute_reference, setup_shipped, teardown_cal),
        cmocka_unit_test_setup_teardown(add_and_between_are_inverse_for_random_starts, setup_shipped, teardown_cal),
        cmocka_unit_test_setup_teardown(inverse_holds_for_other_hours_and_offsets, setup_shipped, teardown_cal),
        cmocka_unit_test_setup_teardown(custom_hours_and_offset, setup_shipped, teardown_cal),
        cmocka_unit_test(hours_spec_errors),
        cmocka_unit_test(malformed_lines_are_rejected_with_file_and_line),
        cmocka_unit_test(wrong_year_duplicates_and_weekday_work_are_rejected),
        cmocka_unit_test(file_format_tolerances),
        cmocka_unit_test(several_years_and_all_or_nothing),
        cmocka_unit_test(missing_or_empty_directory_is_an_error),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
