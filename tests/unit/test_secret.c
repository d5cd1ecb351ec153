/* common/secret: keys and tokens are 64 hex characters of randomness, stored as their SHA-256. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <ctype.h>
#include <string.h>

#include "secret.h"

static void hash_is_sha256_of_the_text_in_lower_hex(void **state)
{
    (void)state;
    char h[SECRET_HEX_LEN];
    secret_hash_hex("abc", h); /* FIPS 180-2 test vector */
    assert_string_equal(h, "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad");
    secret_hash_hex("", h);
    assert_string_equal(h, "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855");
}

static void new_secrets_are_64_hex_characters_and_differ(void **state)
{
    (void)state;
    char a[SECRET_HEX_LEN], b[SECRET_HEX_LEN];
    assert_true(secret_new(a));
    assert_true(secret_new(b));
    assert_int_equal(strlen(a), 64);
    for (int i = 0; i < 64; i++)
        assert_true(isxdigit((unsigned char)a[i]) && !isupper((unsigned char)a[i]));
    assert_string_not_equal(a, b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(hash_is_sha256_of_the_text_in_lower_hex),
        cmocka_unit_test(new_secrets_are_64_hex_characters_and_differ),
    };
    return cmocka_run_group_tests_name("secret", tests, NULL, NULL);
}
