#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "utf8.h"

#define VALID(lit) utf8_valid(lit, sizeof(lit) - 1)

static void empty_input_is_valid(void **state)
{
    (void)state;
    assert_true(utf8_valid("", 0));
    assert_true(utf8_valid(NULL, 0));
    assert_int_equal(utf8_count(NULL, 0), 0);
}

static void ascii_is_valid(void **state)
{
    (void)state;
    assert_true(VALID("Street light out at Main St & 3rd\t\r\n"));
}

static void chinese_text_is_valid(void **state)
{
    (void)state;
    assert_true(VALID("路灯不亮，请尽快修理。"));
    assert_true(VALID("中文"));
}

static void all_sequence_lengths_at_their_bounds_are_valid(void **state)
{
    (void)state;
    assert_true(VALID("\x7F"));                /* U+007F */
    assert_true(VALID("\xC2\x80"));            /* U+0080 */
    assert_true(VALID("\xDF\xBF"));            /* U+07FF */
    assert_true(VALID("\xE0\xA0\x80"));        /* U+0800 */
    assert_true(VALID("\xED\x9F\xBF"));        /* U+D7FF, just below surrogates */
    assert_true(VALID("\xEE\x80\x80"));        /* U+E000, just above surrogates */
    assert_true(VALID("\xEF\xBF\xBF"));        /* U+FFFF */
    assert_true(VALID("\xF0\x90\x80\x80"));    /* U+10000 */
    assert_true(VALID("\xF0\x9F\x98\x80"));    /* U+1F600 emoji */
    assert_true(VALID("\xF4\x8F\xBF\xBF"));    /* U+10FFFF */
}

static void overlong_encodings_are_rejected(void **state)
{
    (void)state;
    assert_false(VALID("\xC0\xAF"));           /* '/' in two bytes */
    assert_false(VALID("\xC1\xBF"));
    assert_false(VALID("\xE0\x80\xAF"));       /* '/' in three bytes */
    assert_false(VALID("\xE0\x9F\xBF"));       /* U+07FF in three bytes */
    assert_false(VALID("\xF0\x80\x80\xAF"));   /* '/' in four bytes */
    assert_false(VALID("\xF0\x8F\xBF\xBF"));   /* U+FFFF in four bytes */
}

static void surrogates_are_rejected(void **state)
{
    (void)state;
    assert_false(VALID("\xED\xA0\x80"));       /* U+D800 */
    assert_false(VALID("\xED\xBF\xBF"));       /* U+DFFF */
    assert_false(VALID("\xED\xA0\xBD\xED\xB8\x80")); /* CESU-8 pair */
}

static void code_points_above_10ffff_are_rejected(void **state)
{
    (void)state;
    assert_false(VALID("\xF4\x90\x80\x80"));   /* U+110000 */
    assert_false(VALID("\xF5\x80\x80\x80"));
    assert_false(VALID("\xF8\x88\x80\x80\x80")); /* old 5-byte form */
    assert_false(VALID("\xFF"));
    assert_false(VALID("\xFE"));
}

static void truncated_sequences_are_rejected(void **state)
{
    (void)state;
    assert_false(VALID("\xE4\xB8"));          /* 中 missing its last byte */
    assert_false(VALID("\xC3"));
    assert_false(VALID("\xF0\x9F\x98"));
    assert_false(VALID("a\xE4\xB8z"));         /* interrupted by ASCII */
    /* a valid sequence cut short by n */
    assert_false(utf8_valid("中", 2));
}

static void stray_continuation_bytes_are_rejected(void **state)
{
    (void)state;
    assert_false(VALID("\x80"));
    assert_false(VALID("abc\xBF"));
    assert_false(VALID("\xE4\xB8\xAD\xAD"));   /* 中 plus one extra */
}

static void nul_inside_n_is_rejected(void **state)
{
    (void)state;
    assert_false(utf8_valid("ab\0cd", 5));
    assert_false(utf8_valid("\0", 1));
    /* but a NUL just past n is not looked at */
    assert_true(utf8_valid("ab", 2));
}

static void decode_returns_code_point_and_length(void **state)
{
    (void)state;
    uint32_t cp = 0;
    assert_int_equal(utf8_decode("A", 1, &cp), 1);
    assert_int_equal(cp, 0x41);
    assert_int_equal(utf8_decode("中文", 6, &cp), 3);
    assert_int_equal(cp, 0x4E2D);
    assert_int_equal(utf8_decode("\xF4\x8F\xBF\xBF", 4, &cp), 4);
    assert_int_equal(cp, 0x10FFFF);
    cp = 7;
    assert_int_equal(utf8_decode("\xED\xA0\x80", 3, &cp), 0);
    assert_int_equal(utf8_decode("\xE4\xB8", 2, &cp), 0);
    assert_int_equal(utf8_decode("x", 0, &cp), 0);
    assert_int_equal(cp, 7);
}

static void count_chinese_two_characters_is_two(void **state)
{
    (void)state;
    assert_int_equal(utf8_count("中文", strlen("中文")), 2);
}

static void count_mixed_text_counts_code_points_not_bytes(void **state)
{
    (void)state;
    const char *s = "a中\xF0\x9F\x98\x80é";   /* a, 中, emoji, é */
    assert_int_equal(strlen(s), 1 + 3 + 4 + 2);
    assert_int_equal(utf8_count(s, strlen(s)), 4);
    assert_int_equal(utf8_count("hello", 5), 5);
}

static void count_of_4000_chinese_characters_is_4000(void **state)
{
    (void)state;
    char s[4000 * 3];
    for (size_t i = 0; i < 4000; i++)
        memcpy(s + 3 * i, "路", 3);
    assert_true(utf8_valid(s, sizeof s));
    assert_int_equal(utf8_count(s, sizeof s), 4000);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(empty_input_is_valid),
        cmocka_unit_test(ascii_is_valid),
        cmocka_unit_test(chinese_text_is_valid),
        cmocka_unit_test(all_sequence_lengths_at_their_bounds_are_valid),
        cmocka_unit_test(overlong_encodings_are_rejected),
        cmocka_unit_test(surrogates_are_rejected),
        cmocka_unit_test(code_points_above_10ffff_are_rejected),
        cmocka_unit_test(truncated_sequences_are_rejected),
        cmocka_unit_test(stray_continuation_bytes_are_rejected),
        cmocka_unit_test(nul_inside_n_is_rejected),
        cmocka_unit_test(decode_returns_code_point_and_length),
        cmocka_unit_test(count_chinese_two_characters_is_two),
        cmocka_unit_test(count_mixed_text_counts_code_points_not_bytes),
        cmocka_unit_test(count_of_4000_chinese_characters_is_4000),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
