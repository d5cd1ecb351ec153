/* ratelimit: token buckets per key, driven by an explicit clock. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "ratelimit.h"

static bool take(ratelimit_t *rl, const char *key, int64_t now_ms, int *wait)
{
    *wait = -1;
    return ratelimit_take(rl, key, strlen(key), now_ms, wait);
}

/* How many requests in a row at one instant get through. */
static int burst_at(ratelimit_t *rl, const char *key, int64_t now_ms, int at_most)
{
    int n = 0, wait;
    while (n < at_most && take(rl, key, now_ms, &wait))
        n++;
    return n;
}

static void a_burst_then_429_with_the_time_until_a_token(void **state)
{
    (void)state;
    ratelimit_t *rl = ratelimit_new(60, 5, 1024); /* a token a second, 5 at once */
    int64_t t = 1000000;
    assert_int_equal(burst_at(rl, "key-a", t, 100), 5);
    int wait;
    assert_false(take(rl, "key-a", t, &wait));
    assert_int_equal(wait, 1);
    /* half a second later: still empty, and still about a second (rounded up) to wait */
    assert_false(take(rl, "key-a", t + 500, &wait));
    assert_int_equal(wait, 1);
    /* a refused request takes nothing: after one second there is exactly one token */
    assert_true(take(rl, "key-a", t + 1000, &wait));
    assert_false(take(rl, "key-a", t + 1000, &wait));
    ratelimit_destroy(&rl);
    assert_null(rl);
    ratelimit_destroy(&rl);
}

static void other_keys_are_not_affected(void **state)
{
    (void)state;
    ratelimit_t *rl = ratelimit_new(60, 3, 1024);
    int64_t t = 5000;
    assert_int_equal(burst_at(rl, "staff-token-1", t, 10), 3);
    int wait;
    assert_false(take(rl, "staff-token-1", t, &wait));
    assert_int_equal(burst_at(rl, "staff-token-2", t, 10), 3);
    assert_int_equal(burst_at(rl, "api-key-1", t, 10), 3);
    /* a key that is a prefix of another is another key */
    assert_int_equal(burst_at(rl, "staff-token-", t, 10), 3);
    ratelimit_destroy(&rl);
}

static void the_bucket_refills_to_the_burst_and_no_more(void **state)
{
    (void)state;
    ratelimit_t *rl = ratelimit_new(600, 10, 1024); /* a token every 100 ms */
    int64_t t = 0;
    assert_int_equal(burst_at(rl, "k", t, 100), 10);
    assert_int_equal(burst_at(rl, "k", t + 350, 100), 3);
    /* an hour of silence refills to the burst, not to 36,000 */
    assert_int_equal(burst_at(rl, "k", t + 3600 * 1000, 100), 10);
    /* steady use at the rate always gets through */
    int64_t u = t + 7200 * 1000;
    for (int i = 0; i < 1000; i++) {
        int wait;
        if (!take(rl, "steady", u + i * 100, &wait))
            fail_msg("request %d at the allowed rate refused", i);
    }
    ratelimit_destroy(&rl);
}

static void a_slow_rate_waits_whole_seconds(void **state)
{
    (void)state;
    ratelimit_t *rl = ratelimit_new(2, 1, 64); /* a token every 30 s */
    int wait;
    assert_true(take(rl, "k", 0, &wait));
    assert_false(take(rl, "k", 0, &wait));
    assert_int_equal(wait, 30);
    assert_false(take(rl, "k", 29001, &wait));
    assert_int_equal(wait, 1);
    assert_true(take(rl, "k", 30000, &wait));
    ratelimit_destroy(&rl);
}

static void zero_per_minute_is_no_limit(void **state)
{
    (void)state;
    ratelimit_t *rl = ratelimit_new(0, 1, 64);
    assert_int_equal(burst_at(rl, "k", 0, 100000), 100000);
    ratelimit_destroy(&rl);
}

/* Many made-up keys on a small table: a real key's limit is never applied to the wrong key and a
 * key with tokens left is never refused; at worst an evicted key starts over with a full bucket. */
static void made_up_keys_never_make_a_real_key_refused_early(void **state)
{
    (void)state;
    ratelimit_t *rl = ratelimit_new(60, 5, 64);
    int64_t t = 0;
    int wait;
    assert_int_equal(burst_at(rl, "real", t, 2), 2); /* 3 tokens left */
    char k[32];
    for (int i = 0; i < 20000; i++) {
        snprintf(k, sizeof k, "made-up-%d", i);
        if (!take(rl, k, t, &wait))
            fail_msg("a fresh key was refused (%s)", k);
    }
    int left = burst_at(rl, "real", t, 100);
    print_message("tokens left for the real key after 20,000 made-up keys: %d (3 unless evicted, then 5)\n", left);
    assert_true(left == 3 || left == 5);
    ratelimit_destroy(&rl);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_burst_then_429_with_the_time_until_a_token),
        cmocka_unit_test(other_keys_are_not_affected),
        cmocka_unit_test(the_bucket_refills_to_the_burst_and_no_more),
        cmocka_unit_test(a_slow_rate_waits_whole_seconds),
        cmocka_unit_test(zero_per_minute_is_no_limit),
        cmocka_unit_test(made_up_keys_never_make_a_real_key_refused_early),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
