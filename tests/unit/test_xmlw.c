#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <string.h>

#include "buf.h"
#include "xmlw.h"

static const char *escaped(buf_t *b, const char *s)
{
    buf_reset(b);
    xmlw_escape(b, s);
    return buf_str(b);
}

/* Writes <v>...</v> for the given JSON value (consumed) and returns the text. */
static const char *json_elem(buf_t *b, json_t *v)
{
    buf_reset(b);
    xmlw_elem_json(b, "v", v);
    json_decref(v);
    return buf_str(b);
}

static void begin_writes_xml_declaration(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    xmlw_begin(&b);
    assert_string_equal(buf_str(&b), "<?xml version=\"1.0\" encoding=\"utf-8\"?>");
    buf_free(&b);
}

static void open_close_and_elem_nest(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    xmlw_begin(&b);
    xmlw_open(&b, "service_requests");
    xmlw_open(&b, "request");
    xmlw_elem(&b, "service_request_id", "638344");
    xmlw_elem(&b, "status", "open");
    xmlw_close(&b, "request");
    xmlw_close(&b, "service_requests");
    assert_string_equal(buf_str(&b),
                        "<?xml version=\"1.0\" encoding=\"utf-8\"?>"
                        "<service_requests><request><service_request_id>638344</service_request_id>"
                        "<status>open</status></request></service_requests>");
    buf_free(&b);
}

static void elem_with_null_text_is_empty_element(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    xmlw_elem(&b, "media_url", NULL);
    xmlw_elem(&b, "address", "");
    assert_string_equal(buf_str(&b), "<media_url></media_url><address></address>");
    buf_free(&b);
}

static void markup_characters_are_escaped(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    assert_string_equal(escaped(&b, "<a href=\"x\">Tom & Jerry's</a>"),
                        "&lt;a href=&quot;x&quot;&gt;Tom &amp; Jerry&apos;s&lt;/a&gt;");
    assert_string_equal(escaped(&b, "&amp;"), "&amp;amp;");
    assert_string_equal(escaped(&b, "]]>"), "]]&gt;");
    buf_free(&b);
}

static void elem_escapes_its_text(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    xmlw_elem(&b, "description", "1 < 2 & \"3\"");
    assert_string_equal(buf_str(&b), "<description>1 &lt; 2 &amp; &quot;3&quot;</description>");
    buf_free(&b);
}

static void chinese_text_passes_unchanged(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    assert_string_equal(escaped(&b, "路灯不亮，岳麓区麓山南路 932 号"),
                        "路灯不亮，岳麓区麓山南路 932 号");
    assert_string_equal(escaped(&b, "emoji \xF0\x9F\x98\x80 ok"), "emoji \xF0\x9F\x98\x80 ok");
    buf_free(&b);
}

static void tab_newline_and_cr_are_kept(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    assert_string_equal(escaped(&b, "a\tb\nc\rd"), "a\tb\nc\rd");
    buf_free(&b);
}

static void other_control_characters_are_dropped(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    assert_string_equal(escaped(&b, "a\x01" "b\x08" "c\x0B" "d\x0C" "e\x1B" "f\x1F" "g\x7F" "h"),
                        "abcdefgh");
    buf_free(&b);
}

static void xml_noncharacters_are_dropped(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    assert_string_equal(escaped(&b, "a\xEF\xBF\xBE" "b\xEF\xBF\xBF" "c"), "abc");
    buf_free(&b);
}

static void invalid_utf8_becomes_replacement_character(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    assert_string_equal(escaped(&b, "a\xC3(b"), "a\xEF\xBF\xBD(b");
    assert_string_equal(escaped(&b, "\xE8\xB7"), "\xEF\xBF\xBD\xEF\xBF\xBD");
    buf_free(&b);
}

static void escape_n_stops_at_n_and_drops_nul(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    xmlw_escape_n(&b, "a\0b<cd", 4);
    assert_int_equal(b.len, 6);
    assert_string_equal(buf_str(&b), "ab&lt;");
    buf_free(&b);
}

static void json_string_is_escaped_text(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    assert_string_equal(json_elem(&b, json_string("路灯 <坏了> & \"x\"")),
                        "<v>路灯 &lt;坏了&gt; &amp; &quot;x&quot;</v>");
    assert_string_equal(json_elem(&b, json_stringn("a\0b", 3)), "<v>ab</v>");
    buf_free(&b);
}

static void json_integers_are_decimal(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    assert_string_equal(json_elem(&b, json_integer(0)), "<v>0</v>");
    assert_string_equal(json_elem(&b, json_integer(-42)), "<v>-42</v>");
    assert_string_equal(json_elem(&b, json_integer(INT64_C(9007199254740993))),
                        "<v>9007199254740993</v>");
    buf_free(&b);
}

static void json_coordinates_keep_their_digits_without_exponent(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    assert_string_equal(json_elem(&b, json_real(28.1234567)), "<v>28.1234567</v>");
    assert_string_equal(json_elem(&b, json_real(112.9388731)), "<v>112.9388731</v>");
    assert_string_equal(json_elem(&b, json_real(-33.8688197)), "<v>-33.8688197</v>");
    assert_string_equal(json_elem(&b, json_real(0.1)), "<v>0.1</v>");
    assert_string_equal(json_elem(&b, json_real(0.00001)), "<v>0.00001</v>");
    assert_string_equal(json_elem(&b, json_real(-0.000123)), "<v>-0.000123</v>");
    buf_free(&b);
}

static void json_reals_round_to_15_significant_digits(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    assert_string_equal(json_elem(&b, json_real(0.1 + 0.2)), "<v>0.3</v>");
    assert_string_equal(json_elem(&b, json_real(1.0 / 3.0)), "<v>0.333333333333333</v>");
    assert_string_equal(json_elem(&b, json_real(123456.7890123456789)), "<v>123456.789012346</v>");
    buf_free(&b);
}

static void json_whole_and_large_reals_have_no_exponent(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    assert_string_equal(json_elem(&b, json_real(28.0)), "<v>28</v>");
    assert_string_equal(json_elem(&b, json_real(1500000.0)), "<v>1500000</v>");
    assert_string_equal(json_elem(&b, json_real(1e20)), "<v>100000000000000000000</v>");
    assert_string_equal(json_elem(&b, json_real(0.0)), "<v>0</v>");
    assert_string_equal(json_elem(&b, json_real(-0.0)), "<v>0</v>");
    buf_free(&b);
}

static void json_extreme_reals_use_exponent(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    assert_string_equal(json_elem(&b, json_real(1.5e25)), "<v>1.5e+25</v>");
    assert_string_equal(json_elem(&b, json_real(-2e-30)), "<v>-2e-30</v>");
    buf_free(&b);
}

static void json_booleans_are_words(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    assert_string_equal(json_elem(&b, json_true()), "<v>true</v>");
    assert_string_equal(json_elem(&b, json_false()), "<v>false</v>");
    buf_free(&b);
}

static void json_null_and_missing_values_are_empty_elements(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    assert_string_equal(json_elem(&b, json_null()), "<v></v>");
    assert_string_equal(json_elem(&b, NULL), "<v></v>");
    buf_free(&b);
}

static void json_arrays_and_objects_are_empty_elements(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    assert_string_equal(json_elem(&b, json_pack("[i,s]", 1, "x")), "<v></v>");
    assert_string_equal(json_elem(&b, json_pack("{s:i}", "a", 1)), "<v></v>");
    buf_free(&b);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(begin_writes_xml_declaration),
        cmocka_unit_test(open_close_and_elem_nest),
        cmocka_unit_test(elem_with_null_text_is_empty_element),
        cmocka_unit_test(markup_characters_are_escaped),
        cmocka_unit_test(elem_escapes_its_text),
        cmocka_unit_test(chinese_text_passes_unchanged),
        cmocka_unit_test(tab_newline_and_cr_are_kept),
        cmocka_unit_test(other_control_characters_are_dropped),
        cmocka_unit_test(xml_noncharacters_are_dropped),
        cmocka_unit_test(invalid_utf8_becomes_replacement_character),
        cmocka_unit_test(escape_n_stops_at_n_and_drops_nul),
        cmocka_unit_test(json_string_is_escaped_text),
        cmocka_unit_test(json_integers_are_decimal),
        cmocka_unit_test(json_coordinates_keep_their_digits_without_exponent),
        cmocka_unit_test(json_reals_round_to_15_significant_digits),
        cmocka_unit_test(json_whole_and_large_reals_have_no_exponent),
        cmocka_unit_test(json_extreme_reals_use_exponent),
        cmocka_unit_test(json_booleans_are_words),
        cmocka_unit_test(json_null_and_missing_values_are_empty_elements),
        cmocka_unit_test(json_arrays_and_objects_are_empty_elements),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
