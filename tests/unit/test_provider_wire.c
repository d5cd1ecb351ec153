/* What reaches a provider: each provider's prepared request run against a recording server on
 * loopback, as the sender runs it, and checked as the provider would check it (the method and
 * path, the headers, the body; Aliyun's and Tencent's signatures recomputed from what arrived);
 * the answer then read by finish. And a provider that does not answer within provider_timeout_ms
 * is a RETRY "timeout", not a hang. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "gclock.h"
#include "harness.h"
#include "log.h"
#include "provider.h"
#include "provider_fx.h"
#include "provider_wecom_robot.h"
#include "provsign.h"
#include "uuid.h"

#define NOW 1796000000 /* 2026-11-30T00:53:20Z */
#define MSG_ID "0b6f3f5e-6c55-4b8e-9d55-1c1f0f5b9a07"

static PGconn *g_db;
static int g_port;
static char g_base[64];

static const char *const NAMES[] = {"code", "unit"};
static const tmpl_codes_t TMPL = {.key = "received", .aliyun_code = "SMS_270000001", .tencent_id = "1900001",
                                  .sms_params = NAMES, .n_sms_params = 2, .wechat_template_id = "tmpl-received"};

static int group_setup(void **state)
{
    (void)state;
    log_init("unit", LOG_ERROR);
    curl_global_init(CURL_GLOBAL_DEFAULT);
    g_db = h_db();
    g_port = h_port(41);
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", g_port);
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    char like[64];
    snprintf(like, sizeof like, "%%wire%d%%", (int)getpid());
    const char *p[] = {like};
    PQclear(PQexecParams(g_db, "DELETE FROM notify.access_token WHERE app LIKE $1", 1, NULL, p, NULL, NULL, 0));
    PQfinish(g_db);
    curl_global_cleanup();
    return 0;
}

static provider_t *make(provider_t *(*ctor)(const cfg_t *, char *, size_t), const char *timeout_ms)
{
    char kv_base[10][128];
    snprintf(kv_base[0], sizeof kv_base[0], "aliyun_sms_endpoint=%s/", g_base);
    snprintf(kv_base[1], sizeof kv_base[1], "tencent_sms_endpoint=%s/", g_base);
    snprintf(kv_base[2], sizeof kv_base[2], "wechat_api_base=%s", g_base);
    snprintf(kv_base[3], sizeof kv_base[3], "wecom_api_base=%s", g_base);
    snprintf(kv_base[4], sizeof kv_base[4], "provider_timeout_ms=%s", timeout_ms);
    snprintf(kv_base[5], sizeof kv_base[5], "wechat_appid=wxwire%d", (int)getpid());
    snprintf(kv_base[6], sizeof kv_base[6], "wecom_corp_id=wwwire%d", (int)getpid());
    snprintf(kv_base[9], sizeof kv_base[9], "wecom_robot_enabled=true");
    const char *kv[] = {kv_base[0], kv_base[1], kv_base[2], kv_base[3], kv_base[4], kv_base[5], kv_base[6], kv_base[9],
                        "aliyun_access_key_id=testId", "aliyun_access_key_secret=testSecret",
                        "aliyun_sms_sign_name=网格通知", "tencent_secret_id=AKIDwire", "tencent_secret_key=wirekey",
                        "tencent_sms_app_id=1400006666", "tencent_sms_sign_name=网格通知", "wechat_secret=s3cret",
                        "wecom_corp_secret=s3cret", "wecom_agent_id=1000002", NULL};
    cfg_t *cfg = pfx_cfg(kv);
    char err[256];
    provider_t *p = ctor(cfg, err, sizeof err);
    cfg_destroy(&cfg);
    if (!p)
        fail_msg("provider: %s", err);
    return p;
}

/* prepare m, run it against srv, finish with what came back. */
static outcome_t run(provider_t *p, const message_t *m)
{
    outcome_t out;
    memset(&out, 0, sizeof out);
    void *call = NULL;
    CURL *h = p->ops->prepare(p, m, NOW, &call, &out);
    assert_non_null(h);
    long status;
    char *body;
    CURLcode rc = pfx_perform(h, &status, &body);
    p->ops->finish(p, call, rc, status, body, strlen(body), &out);
    free(body);
    curl_easy_cleanup(h);
    return out;
}

static void request_line(pfx_server_t *s, const char *want)
{
    const char *req = pfx_server_request(s);
    const char *eol = strstr(req, "\r\n");
    assert_non_null(eol);
    char line[512];
    snprintf(line, sizeof line, "%.*s", (int)(eol - req), req);
    assert_string_equal(line, want);
}

static void aliyun_posts_a_form_signed_for_post(void **state)
{
    (void)state;
    pfx_server_t *s = pfx_server_start(g_port, 200,
                                       "{\"Message\":\"OK\",\"RequestId\":\"F655A8D5-B967-440B-8683-DAD6FF8DE990\","
                                       "\"Code\":\"OK\",\"BizId\":\"900619746936498440^0\"}",
                                       0);
    provider_t *p = make(provider_aliyun_new, "5000");
    json_t *params = json_pack("{s:s, s:s}", "unit", "城关镇 东街", "code", "GG-2026-000123");
    message_t m = {.id = MSG_ID, .channel = "sms", .address = "13812340000", .body = "x", .params = params,
                   .tmpl = &TMPL};
    outcome_t out = run(p, &m);
    assert_int_equal(out.kind, OUTCOME_SENT);
    assert_string_equal(out.provider_msgid, "900619746936498440^0");
    request_line(s, "POST / HTTP/1.1");
    char v[256];
    assert_string_equal(pfx_server_header(s, "Content-Type", v, sizeof v), "application/x-www-form-urlencoded");
    bool canonical;
    json_t *f = pfx_form_fields(pfx_server_body(s), &canonical);
    assert_non_null(f);
    assert_true(canonical);
#define F(k) json_string_value(json_object_get(f, k))
    assert_string_equal(F("Action"), "SendSms");
    assert_string_equal(F("Version"), "2017-05-25");
    assert_string_equal(F("RegionId"), "cn-hangzhou");
    assert_string_equal(F("Format"), "JSON");
    assert_string_equal(F("AccessKeyId"), "testId");
    assert_string_equal(F("SignatureMethod"), "HMAC-SHA1");
    assert_string_equal(F("SignatureVersion"), "1.0");
    assert_string_equal(F("PhoneNumbers"), "13812340000");
    assert_string_equal(F("SignName"), "网格通知");
    assert_string_equal(F("TemplateCode"), "SMS_270000001");
    assert_string_equal(F("TemplateParam"), "{\"code\":\"GG-2026-000123\",\"unit\":\"城关镇 东街\"}");
    assert_string_equal(F("OutId"), MSG_ID);
    assert_string_equal(F("Timestamp"), "2026-11-30T00:53:20Z");
    assert_true(uuid_valid(F("SignatureNonce")));
    assert_int_equal(json_object_size(f), 15);
    /* the signature, recomputed from what arrived, for the method it came with */
    ps_param_t ps[16];
    size_t n = 0;
    const char *k;
    json_t *val;
    json_object_foreach(f, k, val) if (strcmp(k, "Signature") != 0) ps[n++] = (ps_param_t){k, json_string_value(val)};
    char *sig = ps_aliyun_signature("POST", "testSecret", ps, n);
    assert_string_equal(F("Signature"), sig);
    free(sig);
    char nonce[UUID_STR_LEN];
    snprintf(nonce, sizeof nonce, "%s", F("SignatureNonce"));
#undef F
    json_decref(f);

    /* a resend: the same OutId, a fresh nonce (Aliyun refuses a nonce twice) */
    out = run(p, &m);
    f = pfx_form_fields(pfx_server_body(s), &canonical);
    assert_string_equal(json_string_value(json_object_get(f, "OutId")), MSG_ID);
    assert_string_not_equal(json_string_value(json_object_get(f, "SignatureNonce")), nonce);
    json_decref(f);
    json_decref(params);
    provider_destroy(&p);
    pfx_server_stop(&s);
}

static void tencent_posts_json_signed_over_the_host_it_calls(void **state)
{
    (void)state;
    pfx_server_t *s = pfx_server_start(
        g_port, 200,
        "{\"Response\":{\"SendStatusSet\":[{\"SerialNo\":\"5000:1045710669157053657849499619\",\"PhoneNumber\":"
        "\"+8613812340000\",\"Fee\":1,\"SessionContext\":\"" MSG_ID "\",\"Code\":\"Ok\",\"Message\":\"send success\","
        "\"IsoCode\":\"CN\"}],\"RequestId\":\"a0aabda6-cf91-4f3e-a81f-9198114a2279\"}}",
        0);
    provider_t *p = make(provider_tencent_new, "5000");
    json_t *params = json_pack("{s:s, s:s}", "unit", "城关镇", "code", "GG-2026-000123");
    message_t m = {.id = MSG_ID, .channel = "sms", .address = "13812340000", .body = "x", .params = params,
                   .tmpl = &TMPL};
    outcome_t out = run(p, &m);
    assert_int_equal(out.kind, OUTCOME_SENT);
    assert_string_equal(out.provider_msgid, "5000:1045710669157053657849499619");
    request_line(s, "POST / HTTP/1.1");
    char v[512], host[64];
    snprintf(host, sizeof host, "127.0.0.1:%d", g_port);
    assert_string_equal(pfx_server_header(s, "Host", v, sizeof v), host);
    assert_string_equal(pfx_server_header(s, "Content-Type", v, sizeof v), "application/json; charset=utf-8");
    assert_string_equal(pfx_server_header(s, "X-TC-Action", v, sizeof v), "SendSms");
    assert_string_equal(pfx_server_header(s, "X-TC-Version", v, sizeof v), "2021-01-11");
    assert_string_equal(pfx_server_header(s, "X-TC-Region", v, sizeof v), "ap-guangzhou");
    assert_string_equal(pfx_server_header(s, "X-TC-Timestamp", v, sizeof v), "1796000000");
    const char *body = pfx_server_body(s);
    char *auth = ps_tc3_authorization("AKIDwire", "wirekey", "sms", host, "application/json; charset=utf-8", body,
                                      strlen(body), NOW);
    assert_string_equal(pfx_server_header(s, "Authorization", v, sizeof v), auth);
    free(auth);
    json_t *b = json_loads(body, 0, NULL);
    json_t *w = json_pack("{s:[s], s:s, s:s, s:s, s:[s,s], s:s}", "PhoneNumberSet", "+8613812340000", "SmsSdkAppId",
                          "1400006666", "SignName", "网格通知", "TemplateId", "1900001", "TemplateParamSet",
                          "GG-2026-000123", "城关镇", "SessionContext", MSG_ID);
    assert_true(json_equal(b, w));
    json_decref(b);
    json_decref(w);
    json_decref(params);
    provider_destroy(&p);
    pfx_server_stop(&s);
}

static void wechat_fetches_its_token_then_posts_the_template(void **state)
{
    (void)state;
    pfx_server_t *s = pfx_server_start(g_port, 200, "{\"access_token\":\"WIRE-TOKEN\",\"expires_in\":7200}", 0);
    provider_t *p = make(provider_wechat_new, "5000");
    CURL *fetch = NULL;
    void *call = NULL;
    assert_false(p->ops->ready(p, g_db, NOW, &fetch, &call));
    assert_non_null(fetch);
    long status;
    char *body;
    CURLcode rc = pfx_perform(fetch, &status, &body);
    p->ops->fetched(p, g_db, call, rc, status, body, strlen(body));
    free(body);
    curl_easy_cleanup(fetch);
    char want[256];
    snprintf(want, sizeof want, "GET /cgi-bin/token?grant_type=client_credential&appid=wxwire%d&secret=s3cret HTTP/1.1",
             (int)getpid());
    request_line(s, want);
    assert_true(p->ops->ready(p, g_db, NOW, &fetch, &call));
    pfx_server_stop(&s);

    s = pfx_server_start(g_port, 200, "{\"errcode\":0,\"errmsg\":\"ok\",\"msgid\":200228332}", 0);
    json_t *data = json_pack("{s:{s:s}, s:{s:s}}", "thing2", "value", "东街路灯不亮", "character_string1", "value",
                             "GG-2026-000123");
    message_t m = {.id = MSG_ID, .channel = "wechat", .address = "oia2TjuEGTNoeX76QEjQNrcURxG8", .body = "x",
                   .wechat_data = data, .tmpl = &TMPL};
    outcome_t out = run(p, &m);
    assert_int_equal(out.kind, OUTCOME_SENT);
    assert_string_equal(out.provider_msgid, "200228332");
    request_line(s, "POST /cgi-bin/message/template/send?access_token=WIRE-TOKEN HTTP/1.1");
    json_t *b = json_loads(pfx_server_body(s), 0, NULL);
    json_t *w = json_pack("{s:s, s:s, s:s, s:O}", "touser", "oia2TjuEGTNoeX76QEjQNrcURxG8", "template_id",
                          "tmpl-received", "client_msg_id", MSG_ID, "data", data);
    assert_true(json_equal(b, w));
    json_decref(b);
    json_decref(w);
    json_decref(data);
    provider_destroy(&p);
    pfx_server_stop(&s);
}

static void wecom_robot_and_app_post_text(void **state)
{
    (void)state;
    pfx_server_t *s = pfx_server_start(g_port, 200, "{\"errcode\":0,\"errmsg\":\"ok\"}", 0);
    provider_t *p = make(provider_wecom_robot_new, "5000");
    message_t m = {.id = MSG_ID, .channel = "wecom_robot", .address = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa",
                   .body = "【督办】东街路灯不亮", .tmpl = &TMPL};
    assert_int_equal(run(p, &m).kind, OUTCOME_SENT);
    request_line(s, "POST /cgi-bin/webhook/send?key=693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa HTTP/1.1");
    assert_string_equal(pfx_server_body(s), "{\"msgtype\":\"text\",\"text\":{\"content\":\"【督办】东街路灯不亮\"}}");
    provider_destroy(&p);
    pfx_server_stop(&s);

    s = pfx_server_start(g_port, 200, "{\"errcode\":0,\"errmsg\":\"ok\",\"access_token\":\"WC\",\"expires_in\":7200}", 0);
    p = make(provider_wecom_app_new, "5000");
    CURL *fetch = NULL;
    void *call = NULL;
    assert_false(p->ops->ready(p, g_db, NOW, &fetch, &call));
    long status;
    char *body;
    CURLcode rc = pfx_perform(fetch, &status, &body);
    p->ops->fetched(p, g_db, call, rc, status, body, strlen(body));
    free(body);
    curl_easy_cleanup(fetch);
    assert_true(p->ops->ready(p, g_db, NOW, &fetch, &call));
    pfx_server_stop(&s);
    s = pfx_server_start(g_port, 200, "{\"errcode\":0,\"errmsg\":\"ok\",\"invaliduser\":\"\",\"msgid\":\"M1\"}", 0);
    m.channel = "wecom_app";
    m.address = "zhangsan";
    outcome_t out = run(p, &m);
    assert_int_equal(out.kind, OUTCOME_SENT);
    assert_string_equal(out.provider_msgid, "M1");
    request_line(s, "POST /cgi-bin/message/send?access_token=WC HTTP/1.1");
    json_t *b = json_loads(pfx_server_body(s), 0, NULL);
    assert_string_equal(json_string_value(json_object_get(b, "touser")), "zhangsan");
    assert_int_equal(json_integer_value(json_object_get(b, "agentid")), 1000002);
    assert_int_equal(json_integer_value(json_object_get(b, "enable_duplicate_check")), 1);
    json_decref(b);
    provider_destroy(&p);
    pfx_server_stop(&s);
}

static void a_provider_that_does_not_answer_is_a_timeout(void **state)
{
    (void)state;
    pfx_server_t *s = pfx_server_start(g_port, 200, "{\"errcode\":0,\"errmsg\":\"ok\"}", 3000);
    provider_t *p = make(provider_wecom_robot_new, "300");
    message_t m = {.id = MSG_ID, .channel = "wecom_robot", .address = "k", .body = "x", .tmpl = &TMPL};
    int64_t t0 = gclock_mono_ms();
    outcome_t out = run(p, &m);
    int64_t took = gclock_mono_ms() - t0;
    assert_int_equal(out.kind, OUTCOME_RETRY);
    assert_string_equal(out.code, "timeout");
    assert_true(took >= 250 && took < 2000);
    provider_destroy(&p);
    pfx_server_stop(&s);
    /* nothing listening: a RETRY too */
    p = make(provider_wecom_robot_new, "300");
    out = run(p, &m);
    assert_int_equal(out.kind, OUTCOME_RETRY);
    assert_string_equal(out.code, "curl 7");
    provider_destroy(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(aliyun_posts_a_form_signed_for_post),
        cmocka_unit_test(tencent_posts_json_signed_over_the_host_it_calls),
        cmocka_unit_test(wechat_fetches_its_token_then_posts_the_template),
        cmocka_unit_test(wecom_robot_and_app_post_text),
        cmocka_unit_test(a_provider_that_does_not_answer_is_a_timeout),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
