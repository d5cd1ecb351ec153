/* paging: the bounds of every list (services/intake/paging.h). A cursor comes back as it went
 * out and nothing else passes for one; a page number stops at 10,000 rows; windows keep their
 * widest span and their defaults. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <string.h>

#include "form.h"
#include "paging.h"

#define DAY_US (86400LL * 1000000)

static json_t *query(const char *q)
{
    json_t *j = form_parse(q, strlen(q), NULL, 0);
    assert_non_null(j);
    return j;
}

static void cursors_round_trip_and_nothing_else_passes(void **state)
{
    (void)state;
    const cursor_t cases[] = {{1795938001000001, 1},
                              {0, 42},
                              {-86400000000, 7},
                              {-62135596800000000, 3},
                              {253402300799999999, 9223372036854775807}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char text[CURSOR_LEN], q[CURSOR_LEN + 16];
        cursor_encode(&cases[i], text);
        assert_true(strspn(text, "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_") == strlen(text));
        snprintf(q, sizeof q, "cursor=%s", text);
        json_t *args = query(q);
        bool has = false;
        cursor_t back = {0};
        input_error_t e;
        assert_true(paging_cursor(args, &has, &back, &e));
        assert_true(has);
        assert_true(back.at_us == cases[i].at_us);
        assert_true(back.id == cases[i].id);
        json_decref(args);
    }
    /* absent and empty are no cursor */
    const char *none[] = {"", "cursor="};
    for (size_t i = 0; i < 2; i++) {
        json_t *args = query(none[i]);
        bool has = true;
        cursor_t c;
        input_error_t e;
        assert_true(paging_cursor(args, &has, &c, &e));
        assert_false(has);
        json_decref(args);
    }
    const char *bad[] = {
        "cursor=nonsense",                       /* decodes to bytes that are no position */
        "cursor=MTIzNDU2",                       /* "123456": no id */
        "cursor=MTIzLjA",                        /* "123.0": id 0 */
        "cursor=MTIzLi0x",                       /* "123.-1" */
        "cursor=MTIzLjQ1Ng==",                   /* padding is not what intake writes */
        "cursor=MTIzLjQ1Ng%2B",                  /* '+' is not base64url */
        "cursor=MTIzLjQ1Nng",                    /* "123.456x" */
        "cursor=IDEyMy40NTY",                    /* " 123.456" */
        "cursor=MTIzLjQ1NgA",                    /* "123.456" and a NUL byte */
        "cursor=OTk5OTk5OTk5OTk5OTk5OTk5OS4x",    /* "9999999999999999999.1": out of range */
        "cursor=M",                              /* one character: no byte */
        "cursor=MTIzLjQ1Ng&page=2",              /* a page number with a cursor */
        "cursor=LTYyMTM1NTk2ODAwMDAwMDAxLjE",    /* "-62135596800000001.1": before the year 1 */
        "cursor=MjUzNDAyMzAwODAwMDAwMDAwLjE",    /* "253402300800000000.1": after 9999 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *args = query(bad[i]);
        bool has;
        cursor_t c;
        input_error_t e;
        if (paging_cursor(args, &has, &c, &e))
            fail_msg("%s passed for a cursor (%lld, %lld)", bad[i], (long long)c.at_us, c.id);
        assert_int_equal(e.status, 400);
        assert_string_equal(e.code, "invalid_cursor");
        json_decref(args);
    }
    /* the good one of the cases above, for contrast */
    json_t *args = query("cursor=MTIzLjQ1Ng");
    bool has;
    cursor_t c;
    input_error_t e;
    assert_true(paging_cursor(args, &has, &c, &e));
    assert_true(c.at_us == 123 && c.id == 456);
    json_decref(args);
}

static void a_page_number_reaches_10000_rows_and_no_further(void **state)
{
    (void)state;
    const page_rules_t r = {50, 500, "follow the cursor"};
    struct {
        const char *q;
        bool ok;
        long page, size;
        const char *code;
    } cases[] = {
        {"", true, 1, 50, NULL},
        {"page=&page_size=", true, 1, 50, NULL},
        {"page=20&page_size=500", true, 20, 500, NULL},
        {"page=200", true, 200, 50, NULL},
        {"page=10000&page_size=1", true, 10000, 1, NULL},
        {"page=21&page_size=500", false, 0, 0, "page_too_deep"},
        {"page=201", false, 0, 0, "page_too_deep"},
        {"page=800&page_size=500", false, 0, 0, "page_too_deep"},
        {"page=1000000&page_size=1", false, 0, 0, "page_too_deep"},
        {"page=0", false, 0, 0, "invalid_page"},
        {"page=-1", false, 0, 0, "invalid_page"},
        {"page=abc", false, 0, 0, "invalid_page"},
        {"page_size=0", false, 0, 0, "invalid_page"},
        {"page_size=501", false, 0, 0, "invalid_page"},
        {"page=99999999999999999999", false, 0, 0, "invalid_page"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *args = query(cases[i].q);
        long page = -1, size = -1;
        input_error_t e;
        bool ok = paging_page(args, &r, &page, &size, &e);
        if (ok != cases[i].ok)
            fail_msg("%s: %s", cases[i].q, ok ? "passed" : e.message);
        if (ok) {
            assert_int_equal(page, cases[i].page);
            assert_int_equal(size, cases[i].size);
        } else {
            assert_int_equal(e.status, 400);
            assert_string_equal(e.code, cases[i].code);
            if (!strcmp(cases[i].code, "page_too_deep"))
                assert_true(strstr(e.message, "10000") && strstr(e.message, "follow the cursor"));
        }
        json_decref(args);
    }
}

static void windows_keep_their_span_and_defaults(void **state)
{
    (void)state;
    const window_rules_t r = {"since", "until", 366 * DAY_US, 30 * DAY_US};
    int64_t now = 1795938001000000; /* 2026-11-29T07:40:01Z */
    window_t w;
    input_error_t e;
    /* none: the default span up to now, open at the end */
    assert_true(paging_window(NULL, NULL, &r, now, &w, &e));
    assert_true(w.open_end && w.end_us == now && w.start_us == now - 30 * DAY_US);
    /* since alone: the widest span from it; until alone: the default span back from it */
    assert_true(paging_window("2026-01-01T00:00:00Z", NULL, &r, now, &w, &e));
    assert_false(w.open_end);
    assert_true(w.end_us - w.start_us == 366 * DAY_US);
    assert_true(paging_window(NULL, "2026-01-01T00:00:00+08:00", &r, now, &w, &e));
    assert_true(w.end_us - w.start_us == 30 * DAY_US);
    /* exactly the widest span, and one second more */
    assert_true(paging_window("2025-01-01T00:00:00Z", "2026-01-02T00:00:00Z", &r, now, &w, &e));
    assert_false(paging_window("2025-01-01T00:00:00Z", "2026-01-02T00:00:01Z", &r, now, &w, &e));
    assert_string_equal(e.code, "range_too_wide");
    assert_non_null(strstr(e.message, "366 days"));
    assert_false(paging_window("2026-01-02T00:00:00Z", "2026-01-01T00:00:00Z", &r, now, &w, &e));
    assert_string_equal(e.code, "invalid_range");
    assert_false(paging_window("2026-01-01", NULL, &r, now, &w, &e));
    assert_string_equal(e.code, "invalid_time");
    assert_string_equal(e.field, "since");
    assert_false(paging_window("2026-01-01T00:00:00Z", "yesterday", &r, now, &w, &e));
    assert_string_equal(e.field, "until");
    /* PostgreSQL has no year 0: such a window is bad input, not a failed statement */
    assert_false(paging_window("0000-06-01T00:00:00Z", "0000-12-01T00:00:00Z", &r, now, &w, &e));
    assert_string_equal(e.code, "invalid_time");
    /* near the ends of the years that work, the spans stop there */
    assert_true(paging_window("9999-06-01T00:00:00Z", NULL, &r, now, &w, &e));
    assert_true(w.end_us == 253402300799999999LL);
    assert_true(paging_window(NULL, "0001-01-10T00:00:00Z", &r, now, &w, &e));
    assert_true(w.start_us == -62135596800000000LL);
}

static void times_go_to_postgresql_to_the_microsecond(void **state)
{
    (void)state;
    char t[TIMEFMT_LEN];
    paging_time_text(1795938001000001, t);
    assert_string_equal(t, "2026-11-29T07:40:01.000001Z");
    paging_time_text(1795938001999999, t);
    assert_string_equal(t, "2026-11-29T07:40:01.999999Z");
    paging_time_text(-1, t);
    assert_string_equal(t, "1969-12-31T23:59:59.999999Z");
    paging_time_text(0, t);
    assert_string_equal(t, "1970-01-01T00:00:00.000000Z");
}

/* A keyset page: page_size within 1..max keeps or replaces the default; anything else is 400
 * invalid_page naming page_size; the cursor is then read as paging_cursor() reads it. */
static void keyset_pages_check_their_size_then_the_cursor(void **state)
{
    (void)state;
    struct {
        const char *q;
        bool ok;
        long size;
        const char *code;
    } cases[] = {{"", true, 20, NULL},           {"page_size=1", true, 1, NULL},
                 {"page_size=100", true, 100, NULL}, {"page_size=0", false, 0, "invalid_page"},
                 {"page_size=101", false, 0, "invalid_page"}, {"page_size=ten", false, 0, "invalid_page"},
                 {"page_size=5&cursor=nonsense", false, 0, "invalid_cursor"}};
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        json_t *args = query(cases[i].q);
        long size = 20;
        bool has;
        cursor_t c;
        input_error_t e;
        bool ok = paging_keyset(args, 100, &size, &has, &c, &e);
        if (ok != cases[i].ok)
            fail_msg("%s: %s", cases[i].q, ok ? "accepted" : e.message);
        if (ok) {
            assert_int_equal(size, cases[i].size);
            assert_false(has);
        } else {
            assert_int_equal(e.status, 400);
            assert_string_equal(e.code, cases[i].code);
        }
        json_decref(args);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cursors_round_trip_and_nothing_else_passes),
        cmocka_unit_test(keyset_pages_check_their_size_then_the_cursor),
        cmocka_unit_test(a_page_number_reaches_10000_rows_and_no_further),
        cmocka_unit_test(windows_keep_their_span_and_defaults),
        cmocka_unit_test(times_go_to_postgresql_to_the_microsecond),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
