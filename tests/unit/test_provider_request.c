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
#include "provider_aliyun.h"
#include "provider_fx.h"
#include "provider_sms.h"
#include "provider_tencent.h"
#include "provider_wechat.h"
#include "provider_wecom_app.h"
#include "provider_wecom_robot.h"
#include "utf8.h"
#include "vectors.h"

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
    cfg_t *cfg = pfx_cfg((const char *[]){"wecom_api_base=http://127.0.0.1:9/", "wecom_corp_id=ww1", NULL});
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
    /* no WeCom configured: the robots are off too (the sandbox has them), though a robot needs
     * no secret; with the county's CorpID they are on */
    assert_null(provider_wecom_robot_new(cfg, err, sizeof err));
    assert_string_equal(err, "");
    cfg_destroy(&cfg);
    cfg = pfx_cfg((const char *[]){"wecom_corp_id=ww1", NULL});
    provider_t *robot = provider_wecom_robot_new(cfg, err, sizeof err);
    assert_non_null(robot);
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

/* The form as an object of decoded names and values, which must come sorted (Aliyun's
 * canonical order) with Signature last. */
static json_t *form_fields(const char *form)
{
    bool canonical;
    json_t *o = pfx_form_fields(form, &canonical);
    assert_non_null(o);
    assert_true(canonical);
    return o;
}

static void aliyun_query_carries_the_published_signature(void **state)
{
    (void)state;
    const json_t *v = json_object_get(h_vectors(), "aliyun_rpc_signature");
    const json_t *pv = h_vobject(v, "params");
    aliyun_send_t s = {
        .access_key_id = h_vstr(pv, "AccessKeyId"),
        .access_key_secret = h_vstr(v, "access_key_secret"),
        .format = h_vstr(pv, "Format"),
        .phone = h_vstr(pv, "PhoneNumbers"),
        .sign_name = h_vstr(pv, "SignName"),
        .template_code = h_vstr(pv, "TemplateCode"),
        .template_param = h_vstr(pv, "TemplateParam"),
        .out_id = h_vstr(pv, "OutId"),
        .timestamp = h_vstr(pv, "Timestamp"),
        .nonce = h_vstr(pv, "SignatureNonce"),
    };
    char *q = aliyun_signed_query(h_vstr(v, "method"), &s);
    json_t *got = form_fields(q);
    /* exactly the vector's parameters, and its signature */
    json_t *want = json_deep_copy(pv);
    json_object_set_new(want, "Signature", json_string(h_vstr(v, "signature")));
    if (!json_equal(got, want)) {
        char *g = json_dumps(got, JSON_SORT_KEYS), *w = json_dumps(want, JSON_SORT_KEYS);
        fail_msg("query %s\n got %s\nwant %s", q, g, w);
    }
    /* the published URL form of the signature */
    assert_non_null(strstr(q, "&Signature=zJDF%2BLrzhj%2FThnlvIToysFRq6t4%3D"));
    assert_non_null(strstr(q, "SignName=%E9%98%BF%E9%87%8C%E4%BA%91"));
    json_decref(got);
    json_decref(want);
    free(q);

    /* POST signs "POST&%2F&…": another signature over the same parameters */
    q = aliyun_signed_query("POST", &s);
    assert_null(strstr(q, "zJDF%2BLrzhj%2FThnlvIToysFRq6t4%3D"));
    free(q);
    /* a template without parameters sends no TemplateParam */
    s.template_param = NULL;
    q = aliyun_signed_query("GET", &s);
    got = form_fields(q);
    assert_null(json_object_get(got, "TemplateParam"));
    assert_int_equal(json_object_size(got), json_object_size(pv));
    json_decref(got);
    free(q);
}

static const char *const NAMES[] = {"code", "unit", "what"};
static const tmpl_codes_t SMS_TMPL = {.key = "resolved", .aliyun_code = "SMS_270000003", .tencent_id = "1900003",
                                      .sms_params = NAMES, .n_sms_params = 3};

static void sms_parameters_in_the_templates_order(void **state)
{
    (void)state;
    /* the params object in another order, with one the template does not name */
    json_t *params = json_pack("{s:s, s:s, s:s, s:s}", "what", "已修复\"路灯\"", "extra", "x", "unit", "城关镇",
                               "code", "GG-2026-000123");
    message_t m = {.id = "0b6f3f5e-6c55-4b8e-9d55-1c1f0f5b9a06", .channel = "sms", .address = "13812340000",
                   .params = params, .tmpl = &SMS_TMPL};
    char why[160];
    char *obj = sms_param_object(&m, why, sizeof why);
    assert_string_equal(obj, "{\"code\":\"GG-2026-000123\",\"unit\":\"城关镇\",\"what\":\"已修复\\\"路灯\\\"\"}");
    free(obj);
    json_t *arr = sms_param_array(&m, why, sizeof why);
    json_t *want = json_pack("[s,s,s]", "GG-2026-000123", "城关镇", "已修复\"路灯\"");
    assert_true(json_equal(arr, want));
    json_decref(arr);
    json_decref(want);

    char *body = tencent_body(&m, "1400006666", "网格通知", why, sizeof why);
    json_t *o = json_loads(body, 0, NULL);
    assert_non_null(o);
    json_t *w = json_pack("{s:[s], s:s, s:s, s:s, s:[s,s,s], s:s}", "PhoneNumberSet", "+8613812340000", "SmsSdkAppId",
                          "1400006666", "SignName", "网格通知", "TemplateId", "1900003", "TemplateParamSet",
                          "GG-2026-000123", "城关镇", "已修复\"路灯\"", "SessionContext", m.id);
    assert_true(json_equal(o, w));
    json_decref(o);
    json_decref(w);
    free(body);
    /* a number written with its country code keeps it */
    m.address = "+8613812340000";
    body = tencent_body(&m, "1400006666", "网格通知", why, sizeof why);
    assert_non_null(strstr(body, "[\"+8613812340000\"]"));
    free(body);

    json_object_del(params, "unit");
    assert_null(sms_param_object(&m, why, sizeof why));
    assert_non_null(strstr(why, "unit is missing"));
    assert_null(tencent_body(&m, "1400006666", "网格通知", why, sizeof why));
    json_object_set_new(params, "unit", json_integer(3));
    assert_null(sms_param_array(&m, why, sizeof why));
    assert_non_null(strstr(why, "unit is not a string"));
    json_decref(params);
}

static const char *header(const struct curl_slist *h, const char *name)
{
    size_t n = strlen(name);
    for (; h; h = h->next)
        if (strncmp(h->data, name, n) == 0 && h->data[n] == ':')
            return h->data + n + 2;
    return NULL;
}

static void tencent_authorization_matches_the_published_vector(void **state)
{
    (void)state;
    const json_t *v = json_object_get(h_vectors(), "tencent_tc3_signature");
    const char *payload = h_vstr(v, "payload");
    json_int_t ts = json_integer_value(json_object_get(v, "timestamp"));
    struct curl_slist *h = tencent_headers("AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE", h_vstr(v, "secret_key"),
                                           h_vstr(v, "service"), h_vstr(v, "host"), payload, strlen(payload), ts);
    assert_non_null(h);
    char want[512];
    snprintf(want, sizeof want,
             "TC3-HMAC-SHA256 Credential=AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE/%s/%s/tc3_request, "
             "SignedHeaders=content-type;host, Signature=%s",
             h_vstr(v, "date"), h_vstr(v, "service"), h_vstr(v, "signature"));
    assert_string_equal(header(h, "Authorization"), want);
    /* what the signature covers is what is sent */
    assert_string_equal(header(h, "Content-Type"), h_vstr(v, "content_type"));
    assert_string_equal(header(h, "Host"), h_vstr(v, "host"));
    assert_string_equal(header(h, "X-TC-Timestamp"), "1551113065");
    assert_string_equal(header(h, "X-TC-Action"), "SendSms");
    assert_string_equal(header(h, "X-TC-Version"), "2021-01-11");
    assert_string_equal(header(h, "X-TC-Region"), "ap-guangzhou");
    curl_slist_free_all(h);
    /* a byte more in the payload, another signature */
    h = tencent_headers("AKIDz8krbsJ5yKBZQpn74WFkmLPx3EXAMPLE", h_vstr(v, "secret_key"), h_vstr(v, "service"),
                        h_vstr(v, "host"), payload, strlen(payload) - 1, ts);
    assert_string_not_equal(header(h, "Authorization"), want);
    curl_slist_free_all(h);

    /* the host signed is the one in the URL, with its port (a fake on loopback) */
    char *host = tencent_host("http://127.0.0.1:24080/");
    assert_string_equal(host, "127.0.0.1:24080");
    free(host);
    host = tencent_host("https://sms.tencentcloudapi.com/");
    assert_string_equal(host, "sms.tencentcloudapi.com");
    free(host);
    assert_null(tencent_host("not a url"));
}

static void sms_providers_need_all_their_keys(void **state)
{
    (void)state;
    char err[256];
    cfg_t *cfg = pfx_cfg(NULL);
    assert_null(provider_aliyun_new(cfg, err, sizeof err));
    assert_string_equal(err, "");
    assert_null(provider_tencent_new(cfg, err, sizeof err));
    assert_string_equal(err, "");
    cfg_destroy(&cfg);
    cfg = pfx_cfg((const char *[]){"aliyun_access_key_id=id", "aliyun_access_key_secret=s", NULL});
    assert_null(provider_aliyun_new(cfg, err, sizeof err));
    assert_non_null(strstr(err, "aliyun_sms_sign_name"));
    cfg_destroy(&cfg);
    cfg = pfx_cfg((const char *[]){"tencent_secret_id=id", "tencent_secret_key=k", "tencent_sms_sign_name=s", NULL});
    assert_null(provider_tencent_new(cfg, err, sizeof err));
    assert_non_null(strstr(err, "tencent_sms_app_id"));
    cfg_destroy(&cfg);
    cfg = pfx_cfg((const char *[]){"tencent_secret_id=id", "tencent_secret_key=k", "tencent_sms_sign_name=s",
                                   "tencent_sms_app_id=1400006666", "tencent_sms_endpoint=::", NULL});
    assert_null(provider_tencent_new(cfg, err, sizeof err));
    assert_non_null(strstr(err, "tencent_sms_endpoint"));
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
        cmocka_unit_test(aliyun_query_carries_the_published_signature),
        cmocka_unit_test(sms_parameters_in_the_templates_order),
        cmocka_unit_test(tencent_authorization_matches_the_published_vector),
        cmocka_unit_test(sms_providers_need_all_their_keys),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
