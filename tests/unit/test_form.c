#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <string.h>

#include "buf.h"
#include "form.h"
#include "utf8.h"

static char err[256];

static json_t *parse(const char *s)
{
    err[0] = '\0';
    return form_parse(s, strlen(s), err, sizeof err);
}

/* Parses s, expects failure with a message containing want. */
static void expect_error(const char *s, const char *want)
{
    json_t *o = parse(s);
    if (o) {
        char *dump = json_dumps(o, JSON_SORT_KEYS);
        print_error("expected an error for \"%s\", got %s\n", s, dump);
        free(dump);
        json_decref(o);
        fail();
    }
    if (!strstr(err, want)) {
        print_error("error for \"%s\" is \"%s\", expected it to contain \"%s\"\n", s, err, want);
        fail();
    }
}

/* Parses s, expects success with exactly the JSON in want. */
static void expect_json(const char *s, const char *want)
{
    json_t *o = parse(s);
    if (!o) {
        print_error("unexpected error for \"%s\": %s\n", s, err);
        fail();
    }
    json_error_t jerr;
    json_t *w = json_loads(want, 0, &jerr);
    assert_non_null(w);
    if (!json_equal(o, w)) {
        char *dump = json_dumps(o, JSON_SORT_KEYS | JSON_ENSURE_ASCII);
        print_error("\"%s\" parsed to %s, expected %s\n", s, dump, want);
        free(dump);
        fail();
    }
    json_decref(o);
    json_decref(w);
}

static void empty_input_gives_empty_object(void **state)
{
    (void)state;
    expect_json("", "{}");
    json_t *o = form_parse(NULL, 0, err, sizeof err);
    assert_non_null(o);
    assert_int_equal(json_object_size(o), 0);
    json_decref(o);
}

static void plain_pairs_map_to_strings(void **state)
{
    (void)state;
    expect_json("service_code=001&lat=28.1&long=112.9",
                "{\"service_code\":\"001\",\"lat\":\"28.1\",\"long\":\"112.9\"}");
}

static void plus_decodes_to_space(void **state)
{
    (void)state;
    expect_json("description=broken+street+light", "{\"description\":\"broken street light\"}");
    expect_json("a+b=c", "{\"a b\":\"c\"}");
}

static void percent_escapes_decode_in_either_case(void **state)
{
    (void)state;
    expect_json("email=a%40b.cn&x=%2b%2B%26%3D%25", "{\"email\":\"a@b.cn\",\"x\":\"++&=%\"}");
}

static void percent_encoded_chinese_decodes(void **state)
{
    (void)state;
    expect_json("description=%E8%B7%AF%E7%81%AF%E4%B8%8D%E4%BA%AE",
                "{\"description\":\"路灯不亮\"}");
}

static void raw_utf8_chinese_is_accepted(void **state)
{
    (void)state;
    expect_json("address_string=长沙市岳麓区", "{\"address_string\":\"长沙市岳麓区\"}");
}

static void input_need_not_be_nul_terminated(void **state)
{
    (void)state;
    const char s[] = "a=1&b=2XXXX";
    json_t *o = form_parse(s, 7, err, sizeof err);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "b")), "2");
    json_decref(o);
}

static void bad_percent_escape_is_rejected(void **state)
{
    (void)state;
    expect_error("description=%G1", "bad percent-escape");
    expect_error("description=%1G", "bad percent-escape");
    expect_error("x%ZZ=1", "bad percent-escape");
}

static void truncated_percent_escape_is_rejected(void **state)
{
    (void)state;
    expect_error("description=%4", "truncated percent-escape");
    expect_error("description=%", "truncated percent-escape");
    expect_error("description=%4&b=1", "truncated percent-escape");
    expect_error("a%4=1", "truncated percent-escape");
}

static void invalid_utf8_after_decoding_is_rejected(void **state)
{
    (void)state;
    expect_error("description=%C3%28", "invalid UTF-8");
    expect_error("description=%ED%A0%80", "invalid UTF-8"); /* surrogate */
    expect_error("description=%E8%B7", "invalid UTF-8");    /* truncated 路 */
    expect_error("%FF=1", "invalid UTF-8");
}

static void invalid_raw_utf8_is_rejected(void **state)
{
    (void)state;
    expect_error("description=\xC3\x28", "invalid UTF-8");
}

static void nul_in_value_or_key_is_rejected(void **state)
{
    (void)state;
    expect_error("description=a%00b", "NUL");
    expect_error("a%00=1", "NUL");
    json_t *o = form_parse("a=1\0b", 5, err, sizeof err);
    assert_null(o);
    assert_non_null(strstr(err, "NUL"));
}

static void empty_value_is_kept_as_empty_string(void **state)
{
    (void)state;
    expect_json("description=&lat=1", "{\"description\":\"\",\"lat\":\"1\"}");
}

static void key_without_equals_maps_to_empty_string(void **state)
{
    (void)state;
    expect_json("flag&a=1", "{\"flag\":\"\",\"a\":\"1\"}");
    expect_json("a=1&flag", "{\"flag\":\"\",\"a\":\"1\"}");
}

static void value_may_contain_equals(void **state)
{
    (void)state;
    expect_json("q=a=b", "{\"q\":\"a=b\"}");
}

static void empty_pairs_are_skipped(void **state)
{
    (void)state;
    expect_json("a=1&&b=2", "{\"a\":\"1\",\"b\":\"2\"}");
    expect_json("&a=1&", "{\"a\":\"1\"}");
    expect_json("&&&", "{}");
}

static void empty_key_is_rejected(void **state)
{
    (void)state;
    expect_error("=1", "empty parameter name");
    expect_error("a=1&=", "empty parameter name");
}

static void duplicate_plain_key_is_rejected_with_its_name(void **state)
{
    (void)state;
    expect_error("lat=1&long=2&lat=3", "duplicate parameter lat");
    /* the same name spelled differently is still the same name */
    expect_error("lat=1&l%61t=1", "duplicate parameter lat");
}

static void attribute_code_goes_to_nested_object(void **state)
{
    (void)state;
    expect_json("service_code=7&attribute[WHISPAWN]=123456&attribute[ROAD]=%E8%B7%AF",
                "{\"service_code\":\"7\",\"attribute\":{\"WHISPAWN\":\"123456\",\"ROAD\":\"路\"}}");
}

static void percent_encoded_brackets_are_understood(void **state)
{
    (void)state;
    expect_json("attribute%5BSIZE%5D=big&attribute%5BCOLOR%5D%5B%5D=red",
                "{\"attribute\":{\"SIZE\":\"big\",\"COLOR\":[\"red\"]}}");
}

static void attribute_list_collects_values_in_order(void **state)
{
    (void)state;
    expect_json("attribute[COLOR][]=red&attribute[COLOR][]=blue&attribute[COLOR][]=",
                "{\"attribute\":{\"COLOR\":[\"red\",\"blue\",\"\"]}}");
}

static void attribute_single_and_list_can_coexist_for_different_codes(void **state)
{
    (void)state;
    expect_json("attribute[A]=1&attribute[B][]=2&attribute[B][]=3",
                "{\"attribute\":{\"A\":\"1\",\"B\":[\"2\",\"3\"]}}");
}

static void malformed_attribute_brackets_are_rejected(void **state)
{
    (void)state;
    expect_error("attribute[=1", "malformed parameter name attribute[");
    expect_error("attribute[]=1", "malformed parameter name attribute[]");
    expect_error("attribute[a][b]=1", "malformed parameter name attribute[a][b]");
    expect_error("attribute[a]x=1", "malformed parameter name");
    expect_error("attribute[a][]x=1", "malformed parameter name");
    expect_error("attribute[a[b]=1", "malformed parameter name");
    expect_error("attribute]=1", "unsupported parameter name");
}

static void brackets_outside_attribute_are_rejected(void **state)
{
    (void)state;
    expect_error("media_url[]=x", "unsupported parameter name media_url[]");
    expect_error("foo[bar]=1", "unsupported parameter name");
    expect_error("Attribute[A]=1", "unsupported parameter name");
}

static void bare_attribute_key_is_rejected(void **state)
{
    (void)state;
    expect_error("attribute=1", "attribute[CODE]");
    expect_error("attribute[A]=1&attribute=2", "attribute[CODE]");
}

static void duplicate_single_attribute_is_rejected(void **state)
{
    (void)state;
    expect_error("attribute[A]=1&attribute[A]=2", "duplicate parameter attribute[A]");
}

static void mixing_single_and_list_attribute_is_rejected(void **state)
{
    (void)state;
    expect_error("attribute[A]=1&attribute[A][]=2", "attribute[A]");
    expect_error("attribute[A][]=1&attribute[A]=2", "both as a single value and as a list");
}

static void two_hundred_pairs_are_accepted(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    for (int i = 0; i < FORM_MAX_PAIRS; i++)
        buf_printf(&b, "%sk%d=%d", i ? "&" : "", i, i);
    buf_puts(&b, "&&"); /* empty pairs do not count */
    json_t *o = form_parse(b.data, b.len, err, sizeof err);
    assert_non_null(o);
    assert_int_equal(json_object_size(o), FORM_MAX_PAIRS);
    json_decref(o);
    buf_free(&b);
}

static void two_hundred_and_one_pairs_are_rejected(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    for (int i = 0; i < FORM_MAX_PAIRS + 1; i++)
        buf_printf(&b, "%sattribute[C][]=%d", i ? "&" : "", i);
    assert_null(form_parse(b.data, b.len, err, sizeof err));
    assert_non_null(strstr(err, "too many parameters"));
    buf_free(&b);
}

static void key_of_128_bytes_is_accepted_and_129_rejected(void **state)
{
    (void)state;
    char key[FORM_MAX_KEY + 4];
    memset(key, 'k', FORM_MAX_KEY);
    strcpy(key + FORM_MAX_KEY, "=1");
    json_t *o = parse(key);
    assert_non_null(o);
    json_decref(o);

    memset(key, 'k', FORM_MAX_KEY + 1);
    strcpy(key + FORM_MAX_KEY + 1, "=1");
    expect_error(key, "parameter name too long");
}

static void key_limit_counts_decoded_bytes(void **state)
{
    (void)state;
    /* 42 encoded 中 = 126 decoded bytes (378 raw) fits; 43 = 129 does not */
    buf_t b = BUF_INIT;
    for (int i = 0; i < 42; i++)
        buf_puts(&b, "%E4%B8%AD");
    buf_puts(&b, "=1");
    json_t *o = form_parse(b.data, b.len, err, sizeof err);
    assert_non_null(o);
    json_decref(o);
    buf_reset(&b);
    for (int i = 0; i < 43; i++)
        buf_puts(&b, "%E4%B8%AD");
    assert_null(form_parse(b.data, b.len, err, sizeof err));
    assert_non_null(strstr(err, "too long"));
    buf_free(&b);
}

static void error_message_is_truncated_on_a_code_point_boundary(void **state)
{
    (void)state;
    const char *s = "%E8%B7%AF%E7%81%AF=1&%E8%B7%AF%E7%81%AF=2"; /* duplicate 路灯 */
    char small[sizeof "duplicate parameter " + 4]; /* room for 路 and one byte of 灯 */
    assert_null(form_parse(s, strlen(s), small, sizeof small));
    assert_string_equal(small, "duplicate parameter 路");
    assert_true(utf8_valid(small, strlen(small)));
}

static void error_buffer_may_be_null(void **state)
{
    (void)state;
    assert_null(form_parse("a=1&a=2", 7, NULL, 0));
}

static void percent_decode_replaces_buffer_contents(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    buf_puts(&b, "old");
    assert_true(form_percent_decode("a+%E4%B8%AD%21", 14, &b, err, sizeof err));
    assert_string_equal(buf_str(&b), "a 中!");
    assert_false(form_percent_decode("%C3%28", 6, &b, err, sizeof err));
    assert_string_equal(err, "invalid UTF-8");
    buf_free(&b);
}

static void form_arg_treats_empty_as_absent(void **state)
{
    (void)state;
    json_t *a = parse("a=x&b=&n=42");
    assert_non_null(a);
    assert_string_equal(form_arg(a, "a"), "x");
    assert_null(form_arg(a, "b"));
    assert_null(form_arg(a, "missing"));
    json_decref(a);
}

static void form_arg_long_checks_range_and_digits(void **state)
{
    (void)state;
    json_t *a = parse("n=42&big=99999999999999999999&bad=4x&neg=-1&empty=");
    assert_non_null(a);
    long v = 7;
    assert_true(form_arg_long(a, "absent", 1, 100, &v));
    assert_int_equal(v, 7);
    assert_true(form_arg_long(a, "empty", 1, 100, &v));
    assert_int_equal(v, 7);
    assert_true(form_arg_long(a, "n", 1, 100, &v));
    assert_int_equal(v, 42);
    assert_false(form_arg_long(a, "n", 1, 10, &v));
    assert_false(form_arg_long(a, "big", 1, 1000, &v));
    assert_false(form_arg_long(a, "bad", 1, 1000, &v));
    assert_false(form_arg_long(a, "neg", 1, 1000, &v));
    json_decref(a);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(form_arg_treats_empty_as_absent),
        cmocka_unit_test(form_arg_long_checks_range_and_digits),
        cmocka_unit_test(empty_input_gives_empty_object),
        cmocka_unit_test(plain_pairs_map_to_strings),
        cmocka_unit_test(plus_decodes_to_space),
        cmocka_unit_test(percent_escapes_decode_in_either_case),
        cmocka_unit_test(percent_encoded_chinese_decodes),
        cmocka_unit_test(raw_utf8_chinese_is_accepted),
        cmocka_unit_test(input_need_not_be_nul_terminated),
        cmocka_unit_test(bad_percent_escape_is_rejected),
        cmocka_unit_test(truncated_percent_escape_is_rejected),
        cmocka_unit_test(invalid_utf8_after_decoding_is_rejected),
        cmocka_unit_test(invalid_raw_utf8_is_rejected),
        cmocka_unit_test(nul_in_value_or_key_is_rejected),
        cmocka_unit_test(empty_value_is_kept_as_empty_string),
        cmocka_unit_test(key_without_equals_maps_to_empty_string),
        cmocka_unit_test(value_may_contain_equals),
        cmocka_unit_test(empty_pairs_are_skipped),
        cmocka_unit_test(empty_key_is_rejected),
        cmocka_unit_test(duplicate_plain_key_is_rejected_with_its_name),
        cmocka_unit_test(attribute_code_goes_to_nested_object),
        cmocka_unit_test(percent_encoded_brackets_are_understood),
        cmocka_unit_test(attribute_list_collects_values_in_order),
        cmocka_unit_test(attribute_single_and_list_can_coexist_for_different_codes),
        cmocka_unit_test(malformed_attribute_brackets_are_rejected),
        cmocka_unit_test(brackets_outside_attribute_are_rejected),
        cmocka_unit_test(bare_attribute_key_is_rejected),
        cmocka_unit_test(duplicate_single_attribute_is_rejected),
        cmocka_unit_test(mixing_single_and_list_attribute_is_rejected),
        cmocka_unit_test(two_hundred_pairs_are_accepted),
        cmocka_unit_test(two_hundred_and_one_pairs_are_rejected),
        cmocka_unit_test(key_of_128_bytes_is_accepted_and_129_rejected),
        cmocka_unit_test(key_limit_counts_decoded_bytes),
        cmocka_unit_test(error_message_is_truncated_on_a_code_point_boundary),
        cmocka_unit_test(error_buffer_may_be_null),
        cmocka_unit_test(percent_decode_replaces_buffer_contents),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
