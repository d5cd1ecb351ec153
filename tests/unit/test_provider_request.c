/* What the providers send: the request each builds from a message (URL, body), checked field by
 * field; WeChat's data passed through as the planner rendered it; WeCom text shortened to its
 * 2048 bytes at a character boundary. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "provider.h"
#include "provider_fx.h"
#include "provider_wechat.h"
#include "provider_wecom_app.h"
#include "provider_wecom_robot.h"
#include "utf8.h"

static const tmpl_codes_t TMPL = {.key = "resolved", .wechat_template_id = "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY"};

static void wechat_data_goes_through_unchanged(void **state)
{
    (void)state;
    /* what the planner wrote: typed fields, limits applied, text with quotes, emoji and newlines */
    const char *wd = "{\"thing2\":{\"value\":\"东街\\\"路灯\\\"不亮…\"},\"character_string1\":{\"value\":\"GG-2026-000123\"},"
                     "\"phrase3\":{\"value\":\"已办结\"},\"time4\":{\"value\":\"2026年11月30日 08:53\"},"
                     "\"thing5\":{\"value\":\"😀 a\\nb\"}}";
    json_t *data = json_loads(wd, 0, NULL);
    assert_non_null(data);
    message_t m = {.id = "0b6f3f5e-6c55-4b8e-9d55-1c1f0f5b9a01", .channel = "wechat",
                   .address = "oia2TjuEGTNoeX76QEjQNrcURxG8", .body = "ignored", .wechat_data = data, .tmpl = &TMPL};
    char why[128];
    char *body = wechat_template_body(&m, why, sizeof why);
    assert_non_null(body);
    json_t *sent = json_loads(body, 0, NULL);
    assert_non_null(sent);
    assert_int_equal(json_object_size(sent), 4);
    assert_string_equal(json_string_value(json_object_get(sent, "touser")), "oia2TjuEGTNoeX76QEjQNrcURxG8");
    assert_string_equal(json_string_value(json_object_get(sent, "template_id")), TMPL.wechat_template_id);
    assert_string_equal(json_string_value(json_object_get(sent, "client_msg_id")), m.id);
    assert_true(json_equal(json_object_get(sent, "data"), data));
    /* UTF-8 as it is, not \u escapes (WeChat counts characters, either is valid JSON) */
    assert_non_null(strstr(body, "东街"));
    json_decref(sent);
    free(body);

    /* what cannot be a template message */
    message_t bad = m;
    bad.address = "";
    assert_null(wechat_template_body(&bad, why, sizeof why));
    assert_string_equal(why, "no openid");
    bad = m;
    bad.wechat_data = NULL;
    assert_null(wechat_template_body(&bad, why, sizeof why));
    json_t *arr = json_array();
    bad.wechat_data = arr;
    assert_null(wechat_template_body(&bad, why, sizeof why));
    json_decref(arr);
    tmpl_codes_t t2 = TMPL;
    t2.wechat_template_id = "";
    bad = m;
    bad.tmpl = &t2;
    assert_null(wechat_template_body(&bad, why, sizeof why));
    assert_non_null(strstr(why, "resolved"));
    json_decref(data);
}

static char *content_of(const char *body)
{
    json_t *o = json_loads(body, 0, NULL);
    assert_non_null(o);
    const char *c = json_string_value(json_object_get(json_object_get(o, "text"), "content"));
    assert_non_null(c);
    char *r = strdup(c);
    json_decref(o);
    return r;
}

static char *repeat(const char *unit, size_t times)
{
    buf_t b = BUF_INIT;
    for (size_t i = 0; i < times; i++)
        buf_puts(&b, unit);
    return buf_detach(&b);
}

/* The content sent for text: at most 2048 bytes, valid UTF-8, text itself when it fits, else a
 * prefix of it and "…". */
static void check_shortened(const char *text, bool fits)
{
    char *body = wecom_robot_body(text);
    assert_non_null(body);
    json_t *o = json_loads(body, 0, NULL);
    assert_string_equal(json_string_value(json_object_get(o, "msgtype")), "text");
    json_decref(o);
    char *c = content_of(body);
    size_t n = strlen(c);
    assert_true(n <= WECOM_TEXT_MAX);
    assert_true(utf8_valid(c, n));
    if (fits) {
        assert_string_equal(c, text);
    } else {
        assert_true(n >= WECOM_TEXT_MAX - 6); /* cut no more than a character and the mark */
        assert_string_equal(c + n - 3, "…");
        assert_memory_equal(c, text, n - 3);
    }
    free(c);
    free(body);
}

static void wecom_robot_text_is_shortened_at_a_character_boundary(void **state)
{
    (void)state;
    char *ascii = repeat("a", 2048);
    check_shortened(ascii, true);
    free(ascii);
    ascii = repeat("a", 2049);
    check_shortened(ascii, false);
    free(ascii);
    /* 3-byte characters: 682 of them are 2046 bytes and fit; 683 do not, and the cut falls inside one */
    char *han = repeat("督", 682);
    check_shortened(han, true);
    free(han);
    han = repeat("督", 700);
    check_shortened(han, false);
    free(han);
    /* a 4-byte character across the limit, one byte off each way */
    for (size_t pad = 0; pad < 4; pad++) {
        buf_t b = BUF_INIT;
        char *as = repeat("a", 2044 + pad);
        buf_puts(&b, as);
        buf_puts(&b, "😀😀");
        free(as);
        check_shortened(buf_str(&b), false);
        buf_free(&b);
    }
    check_shortened("", true);
    check_shortened("【督办】东街路灯不亮，请于今日办结", true);
    /* not UTF-8: refused, not sent half-broken */
    assert_null(wecom_robot_body("bad \xff byte"));
}

static void wecom_robot_posts_to_the_key_it_is_given(void **state)
{
    (void)state;
    cfg_t *cfg = pfx_cfg((const char *[]){"wecom_api_base=http://127.0.0.1:9/", NULL});
    char err[256];
    provider_t *p = provider_wecom_robot_new(cfg, err, sizeof err);
    cfg_destroy(&cfg);
    message_t m = {.id = "0b6f3f5e-6c55-4b8e-9d55-1c1f0f5b9a02", .channel = "wecom_robot", .address = "k&y=1 2/é",
                   .body = "text", .tmpl = &TMPL};
    char url[512];
    outcome_t out = pfx_answer(p, &m, 1796000000, CURLE_OK, 200, "{\"errcode\":0,\"errmsg\":\"ok\"}", url, sizeof url);
    assert_int_equal(out.kind, OUTCOME_SENT);
    /* the key is one query value, whatever it holds */
    assert_string_equal(url, "http://127.0.0.1:9/cgi-bin/webhook/send?key=k%26y%3D1%202%2F%C3%A9");
    provider_destroy(&p);
}

static void wecom_app_text_to_the_user_with_duplicate_check(void **state)
{
    (void)state;
    char *body = wecom_app_body("LiSi", 1000002, "新派单：东街路灯不亮");
    json_t *o = json_loads(body, 0, NULL);
    assert_non_null(o);
    assert_string_equal(json_string_value(json_object_get(o, "touser")), "LiSi");
    assert_string_equal(json_string_value(json_object_get(o, "msgtype")), "text");
    assert_int_equal(json_integer_value(json_object_get(o, "agentid")), 1000002);
    assert_int_equal(json_integer_value(json_object_get(o, "enable_duplicate_check")), 1);
    assert_int_equal(json_integer_value(json_object_get(o, "safe")), 0);
    assert_string_equal(json_string_value(json_object_get(json_object_get(o, "text"), "content")), "新派单：东街路灯不亮");
    json_decref(o);
    free(body);
    /* the same message gives the same request: WeCom's duplicate check recognises a resend */
    char *a = wecom_app_body("LiSi", 1000002, "x"), *b = wecom_app_body("LiSi", 1000002, "x");
    assert_string_equal(a, b);
    free(a);
    free(b);
    char *longer = repeat("督", 1000);
    body = wecom_app_body("LiSi", 1000002, longer);
    char *c = content_of(body);
    assert_true(strlen(c) <= WECOM_TEXT_MAX);
    free(c);
    free(body);
    free(longer);

    assert_true(wecom_invalid_user("LiSi", "lisi"));
    assert_true(wecom_invalid_user("a|b|lisi", "LISI"));
    assert_true(wecom_invalid_user("lisi|a", "lisi"));
    assert_false(wecom_invalid_user("lis|lisi2|xlisi", "lisi"));
    assert_false(wecom_invalid_user("", "lisi"));
    assert_false(wecom_invalid_user(NULL, "lisi"));
    assert_false(wecom_invalid_user("||", "lisi"));
}

static void providers_without_credentials_are_off_and_half_configured_ones_refused(void **state)
{
    (void)state;
    char err[256];
    cfg_t *cfg = pfx_cfg(NULL);
    assert_null(provider_wechat_new(cfg, err, sizeof err));
    assert_string_equal(err, "");
    assert_null(provider_wecom_app_new(cfg, err, sizeof err));
    assert_string_equal(err, "");
    provider_t *robot = provider_wecom_robot_new(cfg, err, sizeof err);
    assert_non_null(robot); /* the robot's key is the message's: always on */
    assert_string_equal(robot->ops->name, "wecom_robot");
    assert_string_equal(robot->ops->channel, "wecom_robot");
    provider_destroy(&robot);
    cfg_destroy(&cfg);
    cfg = pfx_cfg((const char *[]){"wechat_appid=wx1", NULL});
    assert_null(provider_wechat_new(cfg, err, sizeof err));
    assert_non_null(strstr(err, "wechat_secret"));
    cfg_destroy(&cfg);
    cfg = pfx_cfg((const char *[]){"wecom_corp_id=ww1", "wecom_agent_id=1", NULL});
    assert_null(provider_wecom_app_new(cfg, err, sizeof err));
    assert_non_null(strstr(err, "wecom_corp_secret"));
    cfg_destroy(&cfg);
}

int main(void)
{
    log_init("unit", LOG_ERROR);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wechat_data_goes_through_unchanged),
        cmocka_unit_test(wecom_robot_text_is_shortened_at_a_character_boundary),
        cmocka_unit_test(wecom_robot_posts_to_the_key_it_is_given),
        cmocka_unit_test(wecom_app_text_to_the_user_with_duplicate_check),
        cmocka_unit_test(providers_without_credentials_are_off_and_half_configured_ones_refused),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
