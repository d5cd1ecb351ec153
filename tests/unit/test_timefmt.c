#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "timefmt.h"

#define SEC INT64_C(1000000)

/* 2026-11-29T07:40:01Z */
static const int64_t T0 = INT64_C(1795938001) * SEC;

static int64_t parse_ok(const char *s)
{
    int64_t us = 0;
    if (!timefmt_parse(s, &us)) {
        print_error("timefmt_parse rejected \"%s\"\n", s);
        fail();
    }
    return us;
}

static void parse_rejects(const char *s)
{
    int64_t us = 12345;
    if (timefmt_parse(s, &us)) {
        print_error("timefmt_parse accepted \"%s\"\n", s);
        fail();
    }
    assert_int_equal(us, 12345); /* untouched on failure */
}

static void utc_z_parses_to_epoch(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("1970-01-01T00:00:00Z"), 0);
    assert_int_equal(parse_ok("2026-11-29T07:40:01Z"), T0);
    assert_int_equal(parse_ok("2026-11-29t07:40:01z"), T0);
}

static void plus_0800_is_converted_to_utc(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("2026-11-29T15:40:01+08:00"), T0);
    assert_int_equal(parse_ok("2026-11-29T15:40:01+0800"), T0);
    /* crossing midnight backwards into the previous day */
    assert_int_equal(parse_ok("2026-11-30T02:00:00+08:00"), parse_ok("2026-11-29T18:00:00Z"));
}

static void negative_offsets_and_half_hours_are_converted(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("2026-11-29T02:40:01-05:00"), T0);
    assert_int_equal(parse_ok("2026-11-29T13:10:01+05:30"), T0);
    assert_int_equal(parse_ok("2026-11-29T07:40:01+00:00"), T0);
    assert_int_equal(parse_ok("2026-11-29T07:40:01-00:00"), T0);
}

static void fraction_is_kept_to_microseconds_and_truncated_beyond(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("2026-11-29T07:40:01.5Z"), T0 + 500000);
    assert_int_equal(parse_ok("2026-11-29T07:40:01.123456Z"), T0 + 123456);
    assert_int_equal(parse_ok("2026-11-29T15:40:01.1234569+08:00"), T0 + 123456);
    assert_int_equal(parse_ok("2026-11-29T07:40:01.000Z"), T0);
}

static void dates_before_1970_are_negative(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("1969-12-31T23:59:59Z"), -SEC);
    assert_int_equal(parse_ok("1969-12-31T23:59:59.5Z"), -SEC / 2);
    assert_int_equal(parse_ok("1900-03-01T00:00:00Z"), INT64_C(-2203891200) * SEC);
    assert_int_equal(parse_ok("0001-01-01T00:00:00Z"), INT64_C(-62135596800) * SEC);
}

static void year_range_ends_parse(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("9999-12-31T23:59:59Z"), INT64_C(253402300799) * SEC);
    assert_int_equal(parse_ok("2000-03-01T00:00:00Z"), INT64_C(951868800) * SEC);
}

static void feb_29_2028_is_valid(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("2028-02-29T12:00:00Z"), INT64_C(1835438400) * SEC);
    (void)parse_ok("2000-02-29T00:00:00Z"); /* divisible by 400: leap */
}

static void feb_29_in_common_years_is_invalid(void **state)
{
    (void)state;
    parse_rejects("2026-02-29T12:00:00Z");
    parse_rejects("1900-02-29T12:00:00Z"); /* divisible by 100, not 400 */
    parse_rejects("2028-02-30T12:00:00Z");
}

static void days_beyond_month_length_are_invalid(void **state)
{
    (void)state;
    (void)parse_ok("2026-04-30T00:00:00Z");
    parse_rejects("2026-04-31T00:00:00Z");
    parse_rejects("2026-06-31T00:00:00Z");
    (void)parse_ok("2026-12-31T00:00:00Z");
    parse_rejects("2026-12-32T00:00:00Z");
    parse_rejects("2026-01-00T00:00:00Z");
}

static void out_of_range_fields_are_invalid(void **state)
{
    (void)state;
    parse_rejects("2026-00-10T00:00:00Z");
    parse_rejects("2026-13-10T00:00:00Z");
    parse_rejects("2026-11-29T24:00:00Z");
    parse_rejects("2026-11-29T12:60:00Z");
    parse_rejects("2026-11-29T12:00:61Z");
    parse_rejects("2026-11-29T12:00:00+24:00");
    parse_rejects("2026-11-29T12:00:00+08:60");
}

static void leap_second_counts_as_next_minute(void **state)
{
    (void)state;
    assert_int_equal(parse_ok("2016-12-31T23:59:60Z"), parse_ok("2017-01-01T00:00:00Z"));
}

static void missing_zone_is_rejected(void **state)
{
    (void)state;
    parse_rejects("2026-11-29T07:40:01");
    parse_rejects("2026-11-29T07:40:01.123");
    parse_rejects("2026-11-29");
}

static void malformed_zone_is_rejected(void **state)
{
    (void)state;
    parse_rejects("2026-11-29T07:40:01+08");
    parse_rejects("2026-11-29T07:40:01+8:00");
    parse_rejects("2026-11-29T07:40:01+08:0");
    parse_rejects("2026-11-29T07:40:01 +08:00");
    parse_rejects("2026-11-29T07:40:01UTC");
}

static void garbage_is_rejected(void **state)
{
    (void)state;
    parse_rejects("");
    parse_rejects("now");
    parse_rejects("2026/11/29T07:40:01Z");
    parse_rejects("2026-11-29 07:40:01Z");
    parse_rejects("26-11-29T07:40:01Z");
    parse_rejects("2026-1-29T07:40:01Z");
    parse_rejects("2026-11-29T7:40:01Z");
    parse_rejects("2026-11-29T07:40Z");
    parse_rejects("2026-11-29T07:40:01.Z");
    parse_rejects("2026-11-29T07:40:01Zjunk");
    parse_rejects(" 2026-11-29T07:40:01Z");
    parse_rejects("+2026-11-29T07:40:01Z");
    parse_rejects("２０２６-11-29T07:40:01Z"); /* full-width digits */
    int64_t us = 7;
    assert_false(timefmt_parse(NULL, &us));
    assert_int_equal(us, 7);
}

static void format_with_plus_0800(void **state)
{
    (void)state;
    char out[TIMEFMT_LEN];
    timefmt_format(T0, 480, out);
    assert_string_equal(out, "2026-11-29T15:40:01+08:00");
}

static void format_with_zero_offset_uses_z(void **state)
{
    (void)state;
    char out[TIMEFMT_LEN];
    timefmt_format(T0, 0, out);
    assert_string_equal(out, "2026-11-29T07:40:01Z");
    timefmt_format(0, 0, out);
    assert_string_equal(out, "1970-01-01T00:00:00Z");
}

static void format_with_negative_and_half_hour_offsets(void **state)
{
    (void)state;
    char out[TIMEFMT_LEN];
    timefmt_format(T0, -300, out);
    assert_string_equal(out, "2026-11-29T02:40:01-05:00");
    timefmt_format(T0, 330, out);
    assert_string_equal(out, "2026-11-29T13:10:01+05:30");
    timefmt_format(T0, -570, out);
    assert_string_equal(out, "2026-11-28T22:10:01-09:30");
}

static void format_drops_fraction_toward_the_past(void **state)
{
    (void)state;
    char out[TIMEFMT_LEN];
    timefmt_format(T0 + 999999, 0, out);
    assert_string_equal(out, "2026-11-29T07:40:01Z");
    timefmt_format(-1, 0, out); /* one microsecond before the epoch */
    assert_string_equal(out, "1969-12-31T23:59:59Z");
}

static void format_clamps_impossible_offsets(void **state)
{
    (void)state;
    char out[TIMEFMT_LEN];
    timefmt_format(T0, 100000, out);
    assert_string_equal(out, "2026-11-30T07:39:01+23:59");
    int64_t back = 0;
    assert_true(timefmt_parse(out, &back));
    assert_int_equal(back, T0);
}

static void format_leap_day_and_year_end(void **state)
{
    (void)state;
    char out[TIMEFMT_LEN];
    timefmt_format(INT64_C(1835438400) * SEC, 0, out);
    assert_string_equal(out, "2028-02-29T12:00:00Z");
    timefmt_format(INT64_C(253402300799) * SEC, 0, out);
    assert_string_equal(out, "9999-12-31T23:59:59Z");
    timefmt_format(INT64_C(-62135596800) * SEC, 0, out);
    assert_string_equal(out, "0001-01-01T00:00:00Z");
}

static void round_trip_preserves_text(void **state)
{
    (void)state;
    const struct {
        const char *text;
        int offset;
    } cases[] = {
        {"2026-11-29T15:40:01+08:00", 480}, {"2026-11-29T07:40:01Z", 0},
        {"2028-02-29T23:59:59+08:00", 480}, {"2028-03-01T00:00:00-01:00", -60},
        {"1999-12-31T23:59:59Z", 0},        {"2000-02-29T00:00:00+14:00", 840},
        {"1969-07-20T20:17:40Z", 0},        {"2100-03-01T12:34:56-12:00", -720},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char out[TIMEFMT_LEN];
        timefmt_format(parse_ok(cases[i].text), cases[i].offset, out);
        assert_string_equal(out, cases[i].text);
    }
}

static void round_trip_preserves_instant_every_day_for_four_centuries(void **state)
{
    (void)state;
    /* One instant per day from 1900 to 2300 covers every leap-year rule. */
    int64_t start = parse_ok("1900-01-01T13:14:15Z");
    for (int64_t day = 0; day < 146097; day++) {
        int64_t t = start + day * 86400 * SEC;
        char out[TIMEFMT_LEN];
        timefmt_format(t, 480, out);
        int64_t back = 0;
        if (!timefmt_parse(out, &back) || back != t) {
            print_error("day %lld: %s did not round-trip\n", (long long)day, out);
            fail();
        }
    }
}

/* What goes on to PostgreSQL: the years 0001-9999 in UTC, whatever offset the text had. */
static void parse_db_keeps_to_years_postgresql_takes(void **state)
{
    (void)state;
    int64_t us = 7;
    assert_true(timefmt_parse_db("2026-11-29T15:40:01+08:00", &us));
    assert_true(us == T0);
    assert_true(timefmt_parse_db("0001-01-01T00:00:00Z", &us));
    assert_true(timefmt_parse_db("9999-12-31T23:59:59Z", &us));
    /* an offset PostgreSQL would refuse in the text is fine as an instant */
    assert_true(timefmt_parse_db("2026-01-01T00:00:00-23:59", &us));
    char out[TIMEFMT_LEN];
    timefmt_format(us, 0, out);
    assert_string_equal(out, "2026-01-01T23:59:00Z");
    const char *bad[] = {"0000-01-01T00:00:00Z", "0001-01-01T00:00:00+00:01", "9999-12-31T23:59:59-00:01",
                         "9999-12-31T23:59:59-23:59", "garbage", "", NULL};
    for (int i = 0; bad[i]; i++) {
        us = 12345;
        if (timefmt_parse_db(bad[i], &us)) {
            print_error("timefmt_parse_db accepted \"%s\"\n", bad[i]);
            fail();
        }
        assert_true(us == 12345);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(utc_z_parses_to_epoch),
        cmocka_unit_test(plus_0800_is_converted_to_utc),
        cmocka_unit_test(negative_offsets_and_half_hours_are_converted),
        cmocka_unit_test(fraction_is_kept_to_microseconds_and_truncated_beyond),
        cmocka_unit_test(dates_before_1970_are_negative),
        cmocka_unit_test(year_range_ends_parse),
        cmocka_unit_test(feb_29_2028_is_valid),
        cmocka_unit_test(feb_29_in_common_years_is_invalid),
        cmocka_unit_test(days_beyond_month_length_are_invalid),
        cmocka_unit_test(out_of_range_fields_are_invalid),
        cmocka_unit_test(leap_second_counts_as_next_minute),
        cmocka_unit_test(missing_zone_is_rejected),
        cmocka_unit_test(malformed_zone_is_rejected),
        cmocka_unit_test(garbage_is_rejected),
        cmocka_unit_test(format_with_plus_0800),
        cmocka_unit_test(format_with_zero_offset_uses_z),
        cmocka_unit_test(format_with_negative_and_half_hour_offsets),
        cmocka_unit_test(format_drops_fraction_toward_the_past),
        cmocka_unit_test(format_clamps_impossible_offsets),
        cmocka_unit_test(format_leap_day_and_year_end),
        cmocka_unit_test(round_trip_preserves_text),
        cmocka_unit_test(round_trip_preserves_instant_every_day_for_four_centuries),
        cmocka_unit_test(parse_db_keeps_to_years_postgresql_takes),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
