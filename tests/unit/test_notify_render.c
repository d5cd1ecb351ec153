/* What notify tells people is its templates with the event's values filled in: every {name}
 * filled or an error (never a blank), long values cut with "…" by characters not bytes, WeChat's
 * typed fields within their limits, SMS parameters within the providers'. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <string.h>

#include "services/notify/render.h"
#include "utf8.h"

static json_t *vars(void)
{
    return json_pack("{s:s, s:s, s:s, s:s, s:s, s:n}", "code", "2604130000123", "unit", "果园镇水利站", "note",
                     "已组织人员对山塘坝体渗漏处进行封堵加固，并设置警示标志，后续持续监测水位变化",
                     "at", "2026-04-13T01:00:00.000000Z", "n", "42", "gone");
}

static void placeholders_are_filled_in_chinese_text(void **state)
{
    (void)state;
    json_t *v = vars();
    buf_t b = BUF_INIT;
    char err[128] = "";
    assert_true(render_text("您的诉求{code}已派至{unit}办理。", v, 0, &b, err, sizeof err));
    assert_string_equal(buf_str(&b), "您的诉求2604130000123已派至果园镇水利站办理。");
    buf_reset(&b);
    /* braces that are not placeholders are text */
    assert_true(render_text("{ 1 } {Code} {code", v, 0, &b, err, sizeof err));
    assert_string_equal(buf_str(&b), "{ 1 } {Code} {code");
    buf_free(&b);
    json_decref(v);
}

static void a_missing_or_null_value_is_an_error_not_a_blank(void **state)
{
    (void)state;
    json_t *v = vars();
    buf_t b = BUF_INIT;
    char err[128] = "";
    assert_false(render_text("诉求{code}原因：{reason}", v, 0, &b, err, sizeof err));
    assert_string_equal(err, "no value for {reason}");
    assert_false(render_text("{gone}", v, 0, &b, err, sizeof err));
    assert_string_equal(err, "no value for {gone}");
    json_t *p = NULL;
    json_t *names = json_pack("[s,s]", "code", "reason");
    assert_false(render_sms_params(names, v, &p, err, sizeof err));
    assert_null(p);
    assert_string_equal(err, "no value for SMS parameter reason");
    json_t *f = json_pack("{s:s}", "thing2", "{reason}");
    assert_false(render_wechat(f, v, &p, err, sizeof err));
    assert_null(p);
    json_decref(f);
    json_decref(names);
    buf_free(&b);
    json_decref(v);
}

static void shortening_counts_characters_and_ends_with_an_ellipsis(void **state)
{
    (void)state;
    buf_t b = BUF_INIT;
    /* 38 Chinese characters to 20: 19 of them and "…" */
    render_shorten("已组织人员对山塘坝体渗漏处进行封堵加固，并设置警示标志，后续持续监测水位变化", 20, &b);
    assert_string_equal(buf_str(&b), "已组织人员对山塘坝体渗漏处进行封堵加固…");
    assert_int_equal(utf8_count(buf_str(&b), b.len), 20);
    buf_reset(&b);
    render_shorten("恰好二十个字的一句话恰好二十个字的一句话", 20, &b); /* exactly 20: untouched */
    assert_string_equal(buf_str(&b), "恰好二十个字的一句话恰好二十个字的一句话");
    buf_reset(&b);
    render_shorten("abcdefghijklmnopqrstuvwxyz", 20, &b);
    assert_string_equal(buf_str(&b), "abcdefghijklmnopqrs…");
    buf_reset(&b);
    render_shorten("无上限", 0, &b);
    assert_string_equal(buf_str(&b), "无上限");
    buf_free(&b);
}

static void wechat_fields_keep_their_types_limits(void **state)
{
    (void)state;
    json_t *v = vars();
    json_t *f = json_pack("{s:s, s:s, s:s, s:s, s:s, s:s}", "character_string1", "{code}", "thing2", "{note}", "time3",
                          "{at}", "phrase4", "已办结待评价", "date5", "{at}", "number6", "{n}");
    json_t *d = NULL;
    char err[128] = "";
    assert_true(render_wechat(f, v, &d, err, sizeof err));
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "character_string1"), "value")),
                        "2604130000123");
    const char *thing = json_string_value(json_object_get(json_object_get(d, "thing2"), "value"));
    assert_string_equal(thing, "已组织人员对山塘坝体渗漏处进行封堵加固…");
    assert_int_equal(utf8_count(thing, strlen(thing)), 20);
    /* 01:00 UTC is 09:00 in the county */
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "time3"), "value")),
                        "2026年04月13日 09:00");
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "date5"), "value")), "2026年04月13日");
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "phrase4"), "value")), "已办结待…");
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "number6"), "value")), "42");
    json_decref(d);
    json_decref(f);

    /* a code longer than 32 characters is cut too */
    json_t *v2 = json_pack("{s:s}", "code", "123456789012345678901234567890123456");
    f = json_pack("{s:s}", "character_string1", "{code}");
    assert_true(render_wechat(f, v2, &d, err, sizeof err));
    assert_string_equal(json_string_value(json_object_get(json_object_get(d, "character_string1"), "value")),
                        "1234567890123456789012345678901…");
    json_decref(d);
    json_decref(f);
    json_decref(v2);
    json_decref(v);
}

static void wechat_fields_that_cannot_be_sent_are_errors(void **state)
{
    (void)state;
    json_t *v = vars();
    json_t *d = NULL;
    char err[128] = "";
    const char *bad[][2] = {
        {"keyword1", "{code}"},  /* no type we know */
        {"thing", "{code}"},     /* no number */
        {"thing2x", "{code}"},   /* more after the number */
        {"number3", "{unit}"},   /* not digits */
        {"time4", "{unit}"},     /* not an instant */
        {"thing5", ""},          /* empty: WeChat answers 47003 */
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *f = json_pack("{s:s}", bad[i][0], bad[i][1]);
        err[0] = '\0';
        if (render_wechat(f, v, &d, err, sizeof err))
            fail_msg("%s = %s was accepted", bad[i][0], bad[i][1]);
        assert_null(d);
        assert_true(err[0]);
        json_decref(f);
    }
    json_decref(v);
}

static void sms_parameters_are_bounded_and_named(void **state)
{
    (void)state;
    json_t *v = vars();
    json_t *names = json_pack("[s,s]", "code", "note");
    json_t *p = NULL;
    char err[128] = "";
    assert_true(render_sms_params(names, v, &p, err, sizeof err));
    assert_int_equal(json_object_size(p), 2);
    assert_string_equal(json_string_value(json_object_get(p, "code")), "2604130000123");
    const char *note = json_string_value(json_object_get(p, "note"));
    assert_int_equal(utf8_count(note, strlen(note)), RENDER_SMS_PARAM_MAX);
    assert_string_equal(note + strlen(note) - 3, "…");
    json_decref(p);
    json_decref(names);
    json_decref(v);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(placeholders_are_filled_in_chinese_text),
        cmocka_unit_test(a_missing_or_null_value_is_an_error_not_a_blank),
        cmocka_unit_test(shortening_counts_characters_and_ends_with_an_ellipsis),
        cmocka_unit_test(wechat_fields_keep_their_types_limits),
        cmocka_unit_test(wechat_fields_that_cannot_be_sent_are_errors),
        cmocka_unit_test(sms_parameters_are_bounded_and_named),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
