#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

#include "gclock.h"

static char g_path[128];

static int setup(void **state)
{
    (void)state;
    snprintf(g_path, sizeof g_path, "/tmp/gridgov_test_gclock_%d.txt", (int)getpid());
    unlink(g_path);
    gclock_set(0);
    gclock_use_file(NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    gclock_set(0);
    gclock_use_file(NULL);
    unlink(g_path);
    return 0;
}

/* Writes text to the clock file and stamps it with mtime_s (so every rewrite has a new mtime,
 * however fast the test runs). */
static void write_clock(const char *text, time_t mtime_s)
{
    char tmp[160];
    snprintf(tmp, sizeof tmp, "%s.tmp", g_path);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    struct timespec ts[2] = {{mtime_s, 0}, {mtime_s, 0}};
    assert_int_equal(utimensat(AT_FDCWD, tmp, ts, 0), 0);
    assert_int_equal(rename(tmp, g_path), 0);
}

/* Rewrites in place (same inode), as a test driver with `echo N > file` would. */
static void rewrite_in_place(const char *text, time_t mtime_s)
{
    FILE *f = fopen(g_path, "w");
    assert_non_null(f);
    fputs(text, f);
    assert_int_equal(fclose(f), 0);
    struct timespec ts[2] = {{mtime_s, 0}, {mtime_s, 0}};
    assert_int_equal(utimensat(AT_FDCWD, g_path, ts, 0), 0);
}

/* clock_gettime, not time(): glibc's time() reads the coarse clock, which may lag the one gclock
 * reads by a tick and so put "now" past "after" across a second's edge. */
static int64_t real_us(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    return (int64_t)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
}

static void real_clock_is_close_to_time(void **state)
{
    (void)state;
    int64_t before = real_us();
    int64_t now = gclock_now_us();
    int64_t after = real_us() + 1000000;
    assert_true(now >= before && now <= after);
}

static void real_clock_does_not_go_backwards(void **state)
{
    (void)state;
    int64_t a = gclock_now_us();
    int64_t b = gclock_now_us();
    assert_true(b >= a);
}

static void set_fixes_the_time(void **state)
{
    (void)state;
    gclock_set(1795938001123456LL);
    assert_int_equal(gclock_now_us(), 1795938001123456LL);
    usleep(20000);
    assert_int_equal(gclock_now_us(), 1795938001123456LL); /* does not advance */
    gclock_set(1000);
    assert_int_equal(gclock_now_us(), 1000);
}

static void set_zero_returns_to_real_time(void **state)
{
    (void)state;
    gclock_set(1000000);
    assert_int_equal(gclock_now_us(), 1000000);
    gclock_set(0);
    int64_t now = gclock_now_us();
    assert_true(llabs(now - real_us()) < 2000000);
}

static void file_supplies_epoch_seconds(void **state)
{
    (void)state;
    write_clock("1795938001\n", 1000);
    gclock_use_file(g_path);
    assert_int_equal(gclock_now_us(), 1795938001000000LL);
    assert_int_equal(gclock_now_us(), 1795938001000000LL);
}

static void file_accepts_fractional_seconds(void **state)
{
    (void)state;
    write_clock("1795938001.25", 1000);
    gclock_use_file(g_path);
    assert_int_equal(gclock_now_us(), 1795938001250000LL);
}

static void file_rewrite_is_followed(void **state)
{
    (void)state;
    write_clock("1795938001\n", 1000);
    gclock_use_file(g_path);
    assert_int_equal(gclock_now_us(), 1795938001000000LL);
    write_clock("1795941601\n", 2000); /* an hour later, new file */
    assert_int_equal(gclock_now_us(), 1795941601000000LL);
    rewrite_in_place("1795945201\n", 3000); /* another hour, same inode */
    assert_int_equal(gclock_now_us(), 1795945201000000LL);
    rewrite_in_place("1700000000\n", 4000); /* the clock may also go back */
    assert_int_equal(gclock_now_us(), 1700000000000000LL);
}

static void set_takes_precedence_over_file(void **state)
{
    (void)state;
    write_clock("1795938001\n", 1000);
    gclock_use_file(g_path);
    gclock_set(42000000);
    assert_int_equal(gclock_now_us(), 42000000);
    gclock_set(0);
    assert_int_equal(gclock_now_us(), 1795938001000000LL);
}

static void file_null_returns_to_real_time(void **state)
{
    (void)state;
    write_clock("1000\n", 1000);
    gclock_use_file(g_path);
    assert_int_equal(gclock_now_us(), 1000000000LL);
    gclock_use_file(NULL);
    assert_true(llabs(gclock_now_us() - real_us()) < 2000000);
}

static void file_empty_path_returns_to_real_time(void **state)
{
    (void)state;
    write_clock("1000\n", 1000);
    gclock_use_file(g_path);
    assert_int_equal(gclock_now_us(), 1000000000LL);
    gclock_use_file("");
    assert_true(llabs(gclock_now_us() - real_us()) < 2000000);
}

static void missing_file_falls_back_to_real_time(void **state)
{
    (void)state;
    gclock_use_file(g_path); /* not created */
    assert_true(llabs(gclock_now_us() - real_us()) < 2000000);
    write_clock("1795938001\n", 1000); /* appears later: picked up */
    assert_int_equal(gclock_now_us(), 1795938001000000LL);
}

static void unreadable_contents_fall_back_to_real_time(void **state)
{
    (void)state;
    write_clock("not a number\n", 1000);
    gclock_use_file(g_path);
    assert_true(llabs(gclock_now_us() - real_us()) < 2000000);
}

static void use_file_copies_the_path(void **state)
{
    (void)state;
    write_clock("1795938001\n", 1000);
    char path[sizeof g_path];
    snprintf(path, sizeof path, "%s", g_path);
    gclock_use_file(path);
    memset(path, 0, sizeof path);
    assert_int_equal(gclock_now_us(), 1795938001000000LL);
}

static void switching_files_reads_the_new_one(void **state)
{
    (void)state;
    char other[160];
    snprintf(other, sizeof other, "%s.other", g_path);
    FILE *f = fopen(other, "w");
    assert_non_null(f);
    fputs("1700000000\n", f);
    fclose(f);
    struct timespec ts[2] = {{1000, 0}, {1000, 0}};
    assert_int_equal(utimensat(AT_FDCWD, other, ts, 0), 0);
    write_clock("1795938001\n", 1000); /* same mtime as the other file */
    gclock_use_file(g_path);
    assert_int_equal(gclock_now_us(), 1795938001000000LL);
    gclock_use_file(other);
    assert_int_equal(gclock_now_us(), 1700000000000000LL);
    unlink(other);
}

/* Elapsed time: never goes back over many reads, and a 30 ms sleep shows as 30 ms or a little more. */
static void mono_is_monotonic_and_advances(void **state)
{
    (void)state;
    int64_t prev = gclock_mono_ms();
    for (int i = 0; i < 100000; i++) {
        int64_t now = gclock_mono_ms();
        assert_true(now >= prev);
        prev = now;
    }
    int64_t before = gclock_mono_ms();
    usleep(30000);
    int64_t elapsed = gclock_mono_ms() - before;
    assert_true(elapsed >= 30);
    assert_true(elapsed < 5000);
}

/* Tests move domain time, never elapsed time: a timeout must not fire because the clock jumped. */
static void mono_ignores_the_injected_clock(void **state)
{
    (void)state;
    int64_t before = gclock_mono_ms();
    gclock_set(42000000);
    int64_t during = gclock_mono_ms();
    write_clock("1795938001\n", 1000);
    gclock_use_file(g_path);
    gclock_set(0);
    int64_t after = gclock_mono_ms();
    assert_true(during >= before && during - before < 1000);
    assert_true(after >= during && after - during < 1000);
    assert_int_equal(gclock_now_us(), 1795938001000000LL); /* the file did move domain time */
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(real_clock_is_close_to_time),
        T(real_clock_does_not_go_backwards),
        T(set_fixes_the_time),
        T(set_zero_returns_to_real_time),
        T(file_supplies_epoch_seconds),
        T(file_accepts_fractional_seconds),
        T(file_rewrite_is_followed),
        T(set_takes_precedence_over_file),
        T(file_null_returns_to_real_time),
        T(file_empty_path_returns_to_real_time),
        T(missing_file_falls_back_to_real_time),
        T(unreadable_contents_fall_back_to_real_time),
        T(use_file_copies_the_path),
        T(switching_files_reads_the_new_one),
        T(mono_is_monotonic_and_advances),
        T(mono_ignores_the_injected_clock),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
