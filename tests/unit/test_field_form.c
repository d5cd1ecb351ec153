/* field_form_check: answers against a form version's definition (every field type, required and
 * unknown answers, the failed check items that raise tickets), and the duty hours' syntax. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <string.h>

#include "field.h"
#include "field_form.h"

static const char DEF[] =
    "{\"fields\":["
    "{\"code\":\"name\",\"label\":\"名称\",\"type\":\"text\",\"required\":true,\"max\":4},"
    "{\"code\":\"level\",\"type\":\"number\",\"min\":0,\"max\":10},"
    "{\"code\":\"people\",\"type\":\"integer\",\"min\":1,\"max\":100},"
    "{\"code\":\"day\",\"type\":\"date\"},"
    "{\"code\":\"crack\",\"label\":\"无裂缝\",\"type\":\"check\",\"required\":true,"
    " \"fail\":{\"service_code\":\"POND\",\"priority\":\"high\",\"attributes\":{\"hazard\":\"crack\"}}},"
    "{\"code\":\"tidy\",\"type\":\"check\"},"
    "{\"code\":\"topics\",\"type\":\"text_list\",\"max\":2},"
    "{\"code\":\"linked\",\"type\":\"ticket_codes\"},"
    "{\"code\":\"home\",\"type\":\"household\"}]}";

static bool check(const char *answers, field_form_result_t *res, field_form_error_t *e)
{
    json_t *d = json_loads(DEF, 0, NULL), *a = json_loads(answers, 0, NULL);
    assert_non_null(d);
    assert_non_null(a);
    bool ok = field_form_check(d, a, res, e);
    json_decref(d);
    json_decref(a);
    return ok;
}

static void a_full_submission_fits_and_names_what_it_raises(void **state)
{
    (void)state;
    field_form_result_t r;
    field_form_error_t e;
    assert_true(check("{\"name\":\"狮子山塘\",\"level\":2.5,\"people\":3,\"day\":\"2026-02-28\",\"crack\":\"fail\","
                      "\"tidy\":\"fail\",\"topics\":[\"a\",\"b\"],\"linked\":[\"2610200000123\"],\"home\":\"HH-1\"}",
                      &r, &e));
    /* crack raises its ticket; tidy fails without one to raise */
    assert_int_equal(json_array_size(r.failed), 1);
    assert_int_equal(r.failed_items, 2);
    const json_t *f = json_array_get(r.failed, 0);
    assert_string_equal(json_string_value(json_object_get(f, "item")), "crack");
    assert_string_equal(json_string_value(json_object_get(f, "service_code")), "POND");
    assert_string_equal(json_string_value(json_object_get(f, "priority")), "high");
    assert_string_equal(json_string_value(json_object_get(json_object_get(f, "attributes"), "hazard")), "crack");
    assert_string_equal(json_string_value(json_array_get(r.tickets, 0)), "2610200000123");
    assert_string_equal(json_string_value(json_array_get(r.households, 0)), "HH-1");
    field_form_result_free(&r);
    /* the least: the required ones, all passed */
    assert_true(check("{\"name\":\"塘\",\"crack\":\"ok\"}", &r, &e));
    assert_int_equal(json_array_size(r.failed), 0);
    field_form_result_free(&r);
}

static void answers_that_do_not_fit_are_named(void **state)
{
    (void)state;
    static const struct {
        const char *answers, *code, *field;
    } bad[] = {
        {"{\"crack\":\"ok\"}", "missing_answer", "name"},
        {"{\"name\":\"a\"}", "missing_answer", "crack"},
        {"{\"name\":\"a\",\"crack\":\"ok\",\"weather\":\"rain\"}", "unknown_answer", "weather"},
        {"{\"name\":\"五个汉字长\",\"crack\":\"ok\"}", "invalid_answer", "name"}, /* 5 characters, max 4 */
        {"{\"name\":\"\",\"crack\":\"ok\"}", "invalid_answer", "name"},
        {"{\"name\":\"a\",\"crack\":\"broken\"}", "invalid_answer", "crack"},
        {"{\"name\":\"a\",\"crack\":true}", "invalid_answer", "crack"},
        {"{\"name\":\"a\",\"crack\":\"ok\",\"level\":10.5}", "invalid_answer", "level"},
        {"{\"name\":\"a\",\"crack\":\"ok\",\"level\":\"3\"}", "invalid_answer", "level"},
        {"{\"name\":\"a\",\"crack\":\"ok\",\"people\":2.5}", "invalid_answer", "people"},
        {"{\"name\":\"a\",\"crack\":\"ok\",\"people\":0}", "invalid_answer", "people"},
        {"{\"name\":\"a\",\"crack\":\"ok\",\"day\":\"2026-02-30\"}", "invalid_answer", "day"},
        {"{\"name\":\"a\",\"crack\":\"ok\",\"topics\":[\"a\",\"b\",\"c\"]}", "invalid_answer", "topics"},
        {"{\"name\":\"a\",\"crack\":\"ok\",\"topics\":[1]}", "invalid_answer", "topics"},
        {"{\"name\":\"a\",\"crack\":\"ok\",\"linked\":[\"ABC\"]}", "invalid_answer", "linked"},
        {"{\"name\":\"a\",\"crack\":\"ok\",\"home\":7}", "invalid_answer", "home"},
        {"[]", "invalid_answers", "answers"},
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        field_form_result_t r;
        field_form_error_t e;
        bool ok = check(bad[i].answers, &r, &e);
        field_form_result_free(&r);
        if (ok || strcmp(e.code, bad[i].code) != 0 || strcmp(e.field, bad[i].field) != 0)
            fail_msg("%s: %s %s, wanted %s %s", bad[i].answers, ok ? "accepted" : e.code, ok ? "" : e.field, bad[i].code,
                     bad[i].field);
    }
}

static void duty_hours(void **state)
{
    (void)state;
    int a, b;
    assert_true(field_parse_duty_hours("08:00-18:00", &a, &b));
    assert_int_equal(a, 480);
    assert_int_equal(b, 1080);
    assert_true(field_parse_duty_hours("00:00-24:00", &a, &b));
    assert_int_equal(b, 1440);
    static const char *const bad[] = {"18:00-08:00", "8:00-18:00", "08:00-18:60", "08:00-24:01", "08:00", "08:00-18:00x",
                                      "08:00-08:00", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        if (field_parse_duty_hours(bad[i], &a, &b))
            fail_msg("%s accepted", bad[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_full_submission_fits_and_names_what_it_raises),
        cmocka_unit_test(answers_that_do_not_fit_are_named),
        cmocka_unit_test(duty_hours),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
