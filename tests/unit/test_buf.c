#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static void new_buf_reads_as_empty_string(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_string_equal(buf_str(&b), "");
    buf_free(&b);
}

static void append_keeps_bytes_and_nul_terminates(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    buf_append(&b, "abc", 3);
    buf_puts(&b, "路灯");
    buf_putc(&b, '!');
    assert_int_equal(b.len, 3 + strlen("路灯") + 1);
    assert_string_equal(buf_str(&b), "abc路灯!");
    assert_int_equal(b.data[b.len], '\0');
    buf_free(&b);
}

static void append_of_zero_bytes_gives_valid_empty_string(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    buf_append(&b, "", 0);
    assert_non_null(b.data);
    assert_int_equal(b.len, 0);
    assert_string_equal(buf_str(&b), "");
    buf_free(&b);
}

static void append_keeps_embedded_nul_bytes(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    buf_append(&b, "a\0b", 3);
    assert_int_equal(b.len, 3);
    assert_memory_equal(b.data, "a\0b", 4);
    buf_free(&b);
}

static void append_grows_across_many_kilobytes_without_losing_bytes(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    /* 200 KB in chunks of awkward sizes, each byte a function of its position. */
    size_t total = 0;
    for (size_t chunk = 1; total < 200 * 1024; chunk = chunk % 997 + 13) {
        char tmp[1024];
        for (size_t i = 0; i < chunk; i++)
            tmp[i] = (char)('a' + (total + i) % 26);
        buf_append(&b, tmp, chunk);
        total += chunk;
        assert_int_equal(b.len, total);
        assert_true(b.cap > b.len);
        assert_int_equal(b.data[b.len], '\0');
    }
    for (size_t i = 0; i < total; i++)
        if (b.data[i] != (char)('a' + i % 26))
            fail_msg("byte %zu is '%c', expected '%c'", i, b.data[i], (char)('a' + i % 26));
    assert_int_equal(strlen(buf_str(&b)), total);
    buf_free(&b);
}

static void printf_appends_formatted_text(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    buf_puts(&b, "x=");
    buf_printf(&b, "%d,%s,%.2f", 42, "路灯", 1.5);
    assert_string_equal(buf_str(&b), "x=42,路灯,1.50");
    assert_int_equal(b.len, strlen("x=42,路灯,1.50"));
    buf_free(&b);
}

static void printf_grows_across_many_kilobytes(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    for (int i = 0; i < 20000; i++)
        buf_printf(&b, "%05d;", i);
    assert_int_equal(b.len, 20000 * 6);
    for (int i = 0; i < 20000; i++) {
        char want[16];
        snprintf(want, sizeof want, "%05d;", i);
        assert_memory_equal(b.data + (size_t)i * 6, want, 6);
    }
    assert_int_equal(b.data[b.len], '\0');
    buf_free(&b);
}

static void printf_of_one_large_string_grows_in_one_go(void **state)
{
    (void)state;
    size_t n = 64 * 1024 + 7;
    char *big = malloc(n + 1);
    assert_non_null(big);
    memset(big, 'z', n);
    big[n] = '\0';
    buf_t b = BUF_INIT;
    buf_puts(&b, "<");
    buf_printf(&b, "%s>", big);
    assert_int_equal(b.len, n + 2);
    assert_int_equal(b.data[0], '<');
    assert_int_equal(b.data[n], 'z');
    assert_int_equal(b.data[n + 1], '>');
    assert_int_equal(b.data[n + 2], '\0');
    free(big);
    buf_free(&b);
}

static void detach_hands_over_the_bytes_and_leaves_buf_empty(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    buf_puts(&b, "hello ");
    buf_printf(&b, "%s", "world");
    char *s = buf_detach(&b);
    assert_string_equal(s, "hello world");
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    assert_string_equal(buf_str(&b), "");
    /* the buf is reusable and independent of the detached string */
    buf_puts(&b, "again");
    assert_string_equal(buf_str(&b), "again");
    assert_string_equal(s, "hello world");
    free(s);
    buf_free(&b);
}

static void detach_of_empty_buf_returns_owned_empty_string(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    char *s = buf_detach(&b);
    assert_non_null(s);
    assert_string_equal(s, "");
    free(s); /* must be a heap string the caller owns (ASan would object otherwise) */
    assert_null(b.data);
}

static void detach_after_reset_returns_empty_string(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    buf_puts(&b, "something");
    buf_reset(&b);
    char *s = buf_detach(&b);
    assert_string_equal(s, "");
    free(s);
}

static void reset_empties_contents_but_keeps_capacity(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    for (int i = 0; i < 1000; i++)
        buf_puts(&b, "0123456789");
    size_t cap = b.cap;
    char *data = b.data;
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(buf_str(&b), "");
    assert_int_equal(b.cap, cap);
    buf_puts(&b, "short");
    assert_ptr_equal(b.data, data); /* no reallocation for what fits */
    assert_string_equal(buf_str(&b), "short");
    buf_free(&b);
}

static void reset_of_never_used_buf_is_safe(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    buf_reset(&b);
    assert_int_equal(b.len, 0);
    assert_string_equal(buf_str(&b), "");
    buf_free(&b);
}

static void free_twice_is_safe_and_leaves_buf_reusable(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    buf_puts(&b, "data");
    buf_free(&b);
    assert_null(b.data);
    assert_int_equal(b.len, 0);
    assert_int_equal(b.cap, 0);
    buf_free(&b);
    assert_null(b.data);
    buf_puts(&b, "after");
    assert_string_equal(buf_str(&b), "after");
    buf_free(&b);
    buf_free(&b);
}

static void json_string_escapes_quotes_backslashes_and_controls(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    buf_put_json_string(&b, "a\"b\\c\nd\te\x01" "f 路灯");
    assert_string_equal(buf_str(&b), "\"a\\\"b\\\\c\\nd\\te\\u0001f 路灯\"");
    buf_reset(&b);
    buf_put_json_string(&b, "");
    assert_string_equal(buf_str(&b), "\"\"");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(new_buf_reads_as_empty_string),
        cmocka_unit_test(append_keeps_bytes_and_nul_terminates),
        cmocka_unit_test(append_of_zero_bytes_gives_valid_empty_string),
        cmocka_unit_test(append_keeps_embedded_nul_bytes),
        cmocka_unit_test(append_grows_across_many_kilobytes_without_losing_bytes),
        cmocka_unit_test(printf_appends_formatted_text),
        cmocka_unit_test(printf_grows_across_many_kilobytes),
        cmocka_unit_test(printf_of_one_large_string_grows_in_one_go),
        cmocka_unit_test(detach_hands_over_the_bytes_and_leaves_buf_empty),
        cmocka_unit_test(detach_of_empty_buf_returns_owned_empty_string),
        cmocka_unit_test(json_string_escapes_quotes_backslashes_and_controls),
        cmocka_unit_test(detach_after_reset_returns_empty_string),
        cmocka_unit_test(reset_empties_contents_but_keeps_capacity),
        cmocka_unit_test(reset_of_never_used_buf_is_safe),
        cmocka_unit_test(free_twice_is_safe_and_leaves_buf_reusable),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
