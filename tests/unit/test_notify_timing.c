/* notify's rules as pure functions: quiet hours (quiet.c: parsing, the window's edges in county
 * time, a window across midnight and one within a day), the retry backoff (backoff.c: doubling,
 * the ceiling, the jitter's range), the provider outcome words (provider.c), and what each
 * outcome does to a message (delivery.c: failover along the SMS providers, WeChat's fallback to
 * SMS, dead letters, the last attempt, a provider's own retry-after). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "backoff.h"
#include "delivery.h"
#include "provider.h"
#include "quiet.h"
#include "timefmt.h"

static int64_t at_s(const char *s)
{
    int64_t us = 0;
    if (!timefmt_parse(s, &us))
        fail_msg("bad test timestamp %s", s);
    return us / 1000000;
}

static void quiet_hours_parse_and_refuse_what_is_not_a_window(void **state)
{
    (void)state;
    quiet_t q;
    char err[256];
    assert_true(quiet_parse("22:00-07:00", &q, err, sizeof err));
    assert_true(q.on);
    assert_int_equal(q.start_min, 22 * 60);
    assert_int_equal(q.end_min, 7 * 60);
    assert_true(quiet_parse("", &q, err, sizeof err));
    assert_false(q.on);
    assert_int_equal(quiet_until(&q, at_s("2026-12-07T15:00:00Z")), 0);
    const char *bad[] = {"22:00", "22:00-07:00 ", "24:00-07:00", "22:60-07:00", "2200-0700", "22:00-22:00",
                         "7:00-22:00", "22:00_07:00", "aa:bb-cc:dd"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        err[0] = '\0';
        if (quiet_parse(bad[i], &q, err, sizeof err))
            fail_msg("'%s' accepted", bad[i]);
        assert_non_null(strstr(err, "quiet_hours"));
    }
}

static void a_window_across_midnight_ends_at_its_end_in_county_time(void **state)
{
    (void)state;
    quiet_t q;
    char err[64];
    assert_true(quiet_parse("22:00-07:00", &q, err, sizeof err));
    /* county time is UTC+8: 22:00 county = 14:00 UTC */
    assert_int_equal(quiet_until(&q, at_s("2026-12-07T13:59:59Z")), 0);               /* 21:59:59 */
    assert_int_equal(quiet_until(&q, at_s("2026-12-07T14:00:00Z")), at_s("2026-12-07T23:00:00Z")); /* 22:00 */
    assert_int_equal(quiet_until(&q, at_s("2026-12-07T15:59:59Z")), at_s("2026-12-07T23:00:00Z")); /* 23:59:59 */
    assert_int_equal(quiet_until(&q, at_s("2026-12-07T16:00:00Z")), at_s("2026-12-07T23:00:00Z")); /* 00:00 */
    assert_int_equal(quiet_until(&q, at_s("2026-12-07T22:59:59Z")), at_s("2026-12-07T23:00:00Z")); /* 06:59:59 */
    assert_int_equal(quiet_until(&q, at_s("2026-12-07T23:00:00Z")), 0);               /* 07:00 */
    assert_int_equal(quiet_until(&q, at_s("2026-12-08T04:00:00Z")), 0);               /* 12:00 */
    /* the last night of a year, and a date before 1970 (floor division) */
    assert_int_equal(quiet_until(&q, at_s("2026-12-31T17:00:00Z")), at_s("2026-12-31T23:00:00Z"));
    assert_int_equal(quiet_until(&q, at_s("1969-12-31T15:00:00Z")), at_s("1969-12-31T23:00:00Z"));
}

static void a_window_within_a_day_holds_only_inside_it(void **state)
{
    (void)state;
    quiet_t q;
    char err[64];
    assert_true(quiet_parse("12:00-14:30", &q, err, sizeof err)); /* a siesta */
    assert_int_equal(quiet_until(&q, at_s("2026-12-07T03:59:59Z")), 0);
    assert_int_equal(quiet_until(&q, at_s("2026-12-07T04:00:00Z")), at_s("2026-12-07T06:30:00Z"));
    assert_int_equal(quiet_until(&q, at_s("2026-12-07T06:29:59Z")), at_s("2026-12-07T06:30:00Z"));
    assert_int_equal(quiet_until(&q, at_s("2026-12-07T06:30:00Z")), 0);
    assert_int_equal(quiet_until(&q, at_s("2026-12-07T15:00:00Z")), 0);
}

static void backoff_doubles_to_its_ceiling_with_jitter_in_the_upper_half(void **state)
{
    (void)state;
    for (uint32_t rnd = 0; rnd < 5000; rnd += 7) {
        for (int n = 1; n <= 12; n++) {
            int64_t d = 2000;
            for (int i = 1; i < n; i++)
                d = d * 2 > 60000 ? 60000 : d * 2;
            int64_t b = backoff_ms(n, 2000, 60000, rnd * 2654435761u);
            if (b < d / 2 || b > d)
                fail_msg("n=%d: %lld outside [%lld, %lld]", n, (long long)b, (long long)d / 2, (long long)d);
        }
    }
    /* the jitter spreads: not every draw the same */
    int64_t lo = INT64_MAX, hi = 0;
    for (uint32_t r = 0; r < 1000; r++) {
        int64_t b = backoff_ms(3, 1000, 60000, r * 2654435761u);
        lo = b < lo ? b : lo;
        hi = b > hi ? b : hi;
    }
    assert_true(lo < 2500 && hi > 3500);
    /* a huge attempt number does not overflow past the ceiling */
    assert_true(backoff_ms(1000, 2000, 600000, 12345) <= 600000);
    assert_true(backoff_ms(0, 10, 20, 1) >= 5);
}

static void outcome_words_are_notify_attempt_s(void **state)
{
    (void)state;
    assert_string_equal(outcome_name(OUTCOME_SENT), "sent");
    assert_string_equal(outcome_name(OUTCOME_RETRY), "retry");
    assert_string_equal(outcome_name(OUTCOME_FAILOVER), "failover");
    assert_string_equal(outcome_name(OUTCOME_UNDELIVERABLE), "undeliverable");
    assert_string_equal(outcome_name(OUTCOME_PERMANENT), "permanent");
    assert_string_equal(outcome_name(OUTCOME_TOKEN), "token");
}

static outcome_t oc(outcome_kind_t k, const char *code, int retry_after_ms)
{
    outcome_t o;
    memset(&o, 0, sizeof o);
    o.kind = k;
    snprintf(o.code, sizeof o.code, "%s", code);
    o.retry_after_ms = retry_after_ms;
    return o;
}

static void each_outcome_moves_the_message_as_the_diagram_says(void **state)
{
    (void)state;
    const int64_t now = 1000000000000000;
    outcome_t o = oc(OUTCOME_SENT, "OK", 0);
    snprintf(o.provider_msgid, sizeof o.provider_msgid, "biz-1");
    delivery_t d = delivery_decide(&o, "aliyun", "sms", NULL, 0, 8, "tencent", now, 2000);
    assert_int_equal(d.next, DELIVERY_SENT);
    assert_string_equal(d.provider_msgid, "biz-1");
    assert_true(d.attempt);

    /* FAILOVER: the next SMS provider, at once; the last provider, or not SMS: a retry with backoff */
    o = oc(OUTCOME_FAILOVER, "isv.AMOUNT_NOT_ENOUGH", 0);
    d = delivery_decide(&o, "aliyun", "sms", NULL, 0, 8, "tencent", now, 2000);
    assert_int_equal(d.next, DELIVERY_AGAIN);
    assert_string_equal(d.route, "tencent");
    assert_true(d.due_us == now);
    assert_string_equal(d.outcome, "failover");
    d = delivery_decide(&o, "tencent", "sms", NULL, 1, 8, NULL, now, 2000);
    assert_int_equal(d.next, DELIVERY_AGAIN);
    assert_null(d.route);
    assert_true(d.due_us == now + 2000 * 1000);
    d = delivery_decide(&o, "tencent", "sms", NULL, 7, 8, NULL, now, 2000);
    assert_int_equal(d.next, DELIVERY_DEAD);

    /* RETRY: backoff, or when the provider says; dead on the last attempt */
    o = oc(OUTCOME_RETRY, "http 503", 0);
    d = delivery_decide(&o, "wecom_robot", "wecom_robot", NULL, 2, 8, NULL, now, 8000);
    assert_int_equal(d.next, DELIVERY_AGAIN);
    assert_true(d.due_us == now + 8000 * 1000);
    o = oc(OUTCOME_RETRY, "45009", 42000);
    d = delivery_decide(&o, "wecom_robot", "wecom_robot", NULL, 2, 8, NULL, now, 8000);
    assert_true(d.due_us == now + 42000 * 1000);
    d = delivery_decide(&o, "wecom_robot", "wecom_robot", NULL, 7, 8, NULL, now, 8000);
    assert_int_equal(d.next, DELIVERY_DEAD);
    assert_non_null(strstr(d.reason, "max_attempts"));

    /* UNDELIVERABLE: WeChat falls back to SMS at the fallback phone; without one, or on SMS, dead */
    o = oc(OUTCOME_UNDELIVERABLE, "43004", 0);
    d = delivery_decide(&o, "wechat", "wechat", "13800000000", 0, 8, NULL, now, 2000);
    assert_int_equal(d.next, DELIVERY_AGAIN);
    assert_string_equal(d.to_sms, "13800000000");
    assert_true(d.due_us == now);
    d = delivery_decide(&o, "wechat", "wechat", NULL, 0, 8, NULL, now, 2000);
    assert_int_equal(d.next, DELIVERY_DEAD);
    d = delivery_decide(&o, "wechat", "wechat", "", 0, 8, NULL, now, 2000);
    assert_int_equal(d.next, DELIVERY_DEAD);
    d = delivery_decide(&o, "aliyun", "sms", "13800000000", 0, 8, "tencent", now, 2000);
    assert_int_equal(d.next, DELIVERY_DEAD);

    /* PERMANENT: dead at once, even on the first attempt, with the provider's reason */
    o = oc(OUTCOME_PERMANENT, "isv.MOBILE_NUMBER_ILLEGAL", 0);
    snprintf(o.detail, sizeof o.detail, "invalid number");
    d = delivery_decide(&o, "aliyun", "sms", NULL, 0, 8, "tencent", now, 2000);
    assert_int_equal(d.next, DELIVERY_DEAD);
    assert_string_equal(d.reason, "invalid number");
    assert_string_equal(d.code, "isv.MOBILE_NUMBER_ILLEGAL");

    /* TOKEN: again soon (after the refetch), not after the backoff; dead on the last attempt */
    o = oc(OUTCOME_TOKEN, "40001", 0);
    d = delivery_decide(&o, "wechat", "wechat", NULL, 0, 8, NULL, now, 600000);
    assert_int_equal(d.next, DELIVERY_AGAIN);
    assert_true(d.due_us == now + 1000000);
    d = delivery_decide(&o, "wechat", "wechat", NULL, 7, 8, NULL, now, 600000);
    assert_int_equal(d.next, DELIVERY_DEAD);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(quiet_hours_parse_and_refuse_what_is_not_a_window),
        cmocka_unit_test(a_window_across_midnight_ends_at_its_end_in_county_time),
        cmocka_unit_test(a_window_within_a_day_holds_only_inside_it),
        cmocka_unit_test(backoff_doubles_to_its_ceiling_with_jitter_in_the_upper_half),
        cmocka_unit_test(outcome_words_are_notify_attempt_s),
        cmocka_unit_test(each_outcome_moves_the_message_as_the_diagram_says),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
