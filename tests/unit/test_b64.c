/* common/b64: RFC 4648's test vectors both ways, and the strictness the WeChat crypto relies on. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "b64.h"

static const char *RFC[][2] = {
    {"", ""}, {"f", "Zg=="}, {"fo", "Zm8="}, {"foo", "Zm9v"},
    {"foob", "Zm9vYg=="}, {"fooba", "Zm9vYmE="}, {"foobar", "Zm9vYmFy"},
};

static void rfc4648_vectors_both_ways(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof RFC / sizeof RFC[0]; i++) {
        char *e = b64_encode((const unsigned char *)RFC[i][0], strlen(RFC[i][0]));
        assert_string_equal(e, RFC[i][1]);
        free(e);
        unsigned char out[16];
        size_t n = 99;
        assert_true(b64_decode(RFC[i][1], strlen(RFC[i][1]), out, sizeof out, &n));
        assert_int_equal(n, strlen(RFC[i][0]));
        assert_memory_equal(out, RFC[i][0], n);
    }
}

static void every_byte_value_round_trips(void **state)
{
    (void)state;
    unsigned char all[256], back[256];
    for (int i = 0; i < 256; i++)
        all[i] = (unsigned char)i;
    for (size_t len = 0; len <= 256; len++) {
        char *e = b64_encode(all, len);
        assert_int_equal(strlen(e), (len + 2) / 3 * 4);
        size_t n = 0;
        assert_true(b64_decode(e, strlen(e), back, sizeof back, &n));
        assert_int_equal(n, len);
        assert_memory_equal(back, all, len);
        free(e);
    }
    /* '+' and '/' are 62 and 63 */
    char *e = b64_encode((const unsigned char *)"\xfb\xff", 2);
    assert_string_equal(e, "+/8=");
    free(e);
}

static void loose_text_is_refused_and_out_untouched(void **state)
{
    (void)state;
    const char *bad[] = {
        "Zg", "Zg=", "Zm9", "Zg==\n", " Zg==", "Zg ==", "Z===", "====", "=Zg=", "Zg=a", "Zm=vYg==",
        "Zm9v-_==", "Zm9vYg==Zg==", "Zm9v\xc3\xa9", "Zm9\0",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        unsigned char out[16];
        memset(out, 0x5a, sizeof out);
        size_t n = 77;
        size_t len = i == sizeof bad / sizeof bad[0] - 1 ? 4 : strlen(bad[i]);
        assert_false(b64_decode(bad[i], len, out, sizeof out, &n));
        assert_int_equal(n, 77);
        for (size_t k = 0; k < sizeof out; k++)
            assert_int_equal(out[k], 0x5a);
    }
    size_t n = 0;
    assert_false(b64_decode(NULL, 0, NULL, 0, &n));
}

static void too_small_a_buffer_is_refused(void **state)
{
    (void)state;
    unsigned char out[5];
    size_t n = 77;
    assert_false(b64_decode("Zm9vYmFy", 8, out, sizeof out, &n));
    assert_int_equal(n, 77);
    assert_true(b64_decode("Zm9vYmE=", 8, out, sizeof out, &n));
    assert_int_equal(n, 5);
}

/* WeChat's EncodingAESKey + "=" has bits set after the last whole byte: accepted, ignored. */
static void leftover_bits_before_padding_are_ignored(void **state)
{
    (void)state;
    unsigned char out[4];
    size_t n = 0;
    assert_true(b64_decode("Zh==", 4, out, sizeof out, &n));
    assert_int_equal(n, 1);
    assert_int_equal(out[0], 'f');
    assert_true(b64_decode("Zm9=", 4, out, sizeof out, &n));
    assert_int_equal(n, 2);
    assert_memory_equal(out, "fo", 2);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(rfc4648_vectors_both_ways),
        cmocka_unit_test(every_byte_value_round_trips),
        cmocka_unit_test(loose_text_is_refused_and_out_untouched),
        cmocka_unit_test(too_small_a_buffer_is_refused),
        cmocka_unit_test(leftover_bits_before_padding_are_ignored),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
