/* The fake providers driven from C through tests/lib/fakes.h, as notify's tests will drive them:
 *  - started on a given port and on a port of its own choosing, healthy, stopped for good;
 *  - an unsigned SMS request is refused in the provider's own shape (Tencent: HTTP 200 with
 *    Response.Error; Aliyun: HTTP 400 gateway error) and listed among the calls, not the sends;
 *  - a WeCom robot message and a WeChat template message are accepted and listed with what the
 *    provider answered (the WeChat msgid is an int64, the client_msg_id is kept as the key);
 *  - each failure mode: an HTTP status for N calls, a provider error code, a slow answer, a hang;
 *  - reset forgets; the fake's clock follows the clock file the daemons share. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "fakes.h"
#include "harness.h"

static h_fake_t g_fake;
static char g_clock[1024];

static int setup(void **state)
{
    (void)state;
    snprintf(g_clock, sizeof g_clock, "%s/fakes-harness-clock", h_env("GRIDGOV_TEST_VAR"));
    h_set_clock(g_clock, "2026-12-07T08:00:00Z");
    h_fake_start(&g_fake, h_port(0), NULL, g_clock);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_fake_stop(&g_fake);
    return 0;
}

static int reset(void **state)
{
    (void)state;
    h_set_clock(g_clock, "2026-12-07T08:00:00Z");
    return h_fake_reset(&g_fake) ? 0 : -1;
}

static double mono_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* POST body to path at the fake; the answer parsed (NULL when it is not JSON). */
static json_t *post(const char *path, const char *const *headers, const char *body, long *status)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", g_fake.base, path);
    h_resp_t r;
    json_t *j = NULL;
    *status = 0;
    if (h_http("POST", url, headers, body, strlen(body), &r)) {
        *status = r.status;
        j = json_loads(buf_str(&r.body), 0, NULL);
    }
    h_resp_free(&r);
    return j;
}

static json_t *robot(const char *key, const char *content, long *status)
{
    char path[128];
    snprintf(path, sizeof path, "/cgi-bin/webhook/send?key=%s", key);
    json_t *b = json_pack("{s:s, s:{s:s}}", "msgtype", "text", "text", "content", content);
    char *s = json_dumps(b, JSON_COMPACT);
    const char *hdr[] = {"Content-Type: application/json", NULL};
    json_t *j = post(path, hdr, s, status);
    free(s);
    json_decref(b);
    return j;
}

static long long errcode(const json_t *j) { return json_integer_value(json_object_get(j, "errcode")); }

static void health_port_and_clock(void **state)
{
    (void)state;
    json_t *h = h_fake_get(&g_fake, "/_fake/health");
    assert_non_null(h);
    assert_true(json_is_true(json_object_get(h, "ok")));
    assert_int_equal(json_integer_value(json_object_get(h, "port")), h_port(0));
    /* 2026-12-07T08:00:00Z from the shared clock file */
    assert_true(json_number_value(json_object_get(h, "now")) == 1796630400.0);
    json_decref(h);
    h_set_clock(g_clock, "2026-12-07T09:30:00Z");
    h = h_fake_get(&g_fake, "/_fake/health");
    assert_true(json_number_value(json_object_get(h, "now")) == 1796635800.0);
    json_decref(h);
    assert_true(h_fake_clock(&g_fake, 1800000000.0));
    h = h_fake_get(&g_fake, "/_fake/health");
    assert_true(json_number_value(json_object_get(h, "now")) == 1800000000.0);
    json_decref(h);
    assert_true(h_fake_clock(&g_fake, 0));
}

static void unsigned_sms_is_refused_in_the_real_shape(void **state)
{
    (void)state;
    const char *body = "{\"PhoneNumberSet\":[\"13800138000\"],\"SmsSdkAppId\":\"" H_FAKE_TENCENT_APP_ID "\","
                       "\"SignName\":\"" H_FAKE_SMS_SIGN_NAME "\",\"TemplateId\":\"1110\",\"TemplateParamSet\":[\"1\"]}";
    const char *hdr[] = {"Content-Type: application/json; charset=utf-8", "X-TC-Action: SendSms",
                         "X-TC-Version: 2021-01-11", "X-TC-Region: ap-guangzhou", "X-TC-Timestamp: 1796630400", NULL};
    long status;
    json_t *j = post("/tencent/", hdr, body, &status);
    assert_int_equal(status, 200); /* Tencent refuses with HTTP 200 */
    json_t *resp = json_object_get(j, "Response");
    assert_string_equal(json_string_value(json_object_get(json_object_get(resp, "Error"), "Code")),
                        "AuthFailure.InvalidAuthorization");
    assert_non_null(json_string_value(json_object_get(resp, "RequestId")));
    assert_null(json_object_get(resp, "SendStatusSet"));
    json_decref(j);

    /* Aliyun with a made-up signature: the gateway's 400 */
    char path[1024];
    snprintf(path, sizeof path,
             "/aliyun/?AccessKeyId=%s&Action=SendSms&Format=JSON&PhoneNumbers=13800138000&RegionId=cn-hangzhou"
             "&SignName=x&SignatureMethod=HMAC-SHA1&SignatureNonce=n1&SignatureVersion=1.0&TemplateCode=SMS_1"
             "&Timestamp=2026-12-07T08%%3A00%%3A00Z&Version=2017-05-25&Signature=bm90IGEgc2lnbmF0dXJl",
             H_FAKE_ALIYUN_KEY_ID);
    j = post(path, NULL, "", &status);
    assert_int_equal(status, 400);
    assert_string_equal(json_string_value(json_object_get(j, "Code")), "SignatureDoesNotMatch");
    assert_string_equal(json_string_value(json_object_get(j, "HostId")), "dysmsapi.aliyuncs.com");
    json_decref(j);

    json_t *calls = h_fake_calls(&g_fake, NULL);
    assert_int_equal(json_array_size(calls), 2);
    assert_string_equal(json_string_value(json_object_get(json_array_get(calls, 0), "outcome")), "refused");
    assert_string_equal(json_string_value(json_object_get(json_array_get(calls, 1), "provider")), "aliyun");
    json_decref(calls);
    json_t *sent = h_fake_sent(&g_fake, NULL);
    assert_int_equal(json_array_size(sent), 0);
    json_decref(sent);
    assert_int_equal(h_fake_count(&g_fake, "tencent", "refused"), 1);
}

static void accepted_messages_are_listed(void **state)
{
    (void)state;
    long status;
    json_t *j = robot(H_FAKE_ROBOT_KEY_1, "城关镇：新派单 GG-2026-000123", &status);
    assert_int_equal(status, 200);
    assert_int_equal(errcode(j), 0);
    json_decref(j);
    j = robot("no-such-key", "x", &status);
    assert_int_equal(errcode(j), 93000);
    json_decref(j);

    /* WeChat: a token, then a template message keyed by our message id */
    char url[512];
    snprintf(url, sizeof url, "%s/cgi-bin/token?grant_type=client_credential&appid=%s&secret=%s", g_fake.base,
             H_FAKE_WECHAT_APPID, H_FAKE_WECHAT_SECRET);
    h_resp_t r;
    assert_true(h_http("GET", url, NULL, NULL, 0, &r));
    json_t *tok = json_loads(buf_str(&r.body), 0, NULL);
    h_resp_free(&r);
    const char *token = json_string_value(json_object_get(tok, "access_token"));
    assert_non_null(token);
    char path[512];
    snprintf(path, sizeof path, "/cgi-bin/message/template/send?access_token=%s", token);
    const char *msg = "{\"touser\":\"oia2TjuEGTNoeX76QEjQNrcURxG8\",\"template_id\":\"TPL\","
                      "\"client_msg_id\":\"4c0ffee0-0000-4000-8000-000000000001\","
                      "\"data\":{\"thing2\":{\"value\":\"路灯不亮\"}}}";
    j = post(path, NULL, msg, &status);
    assert_int_equal(errcode(j), 0);
    json_int_t msgid = json_integer_value(json_object_get(j, "msgid"));
    assert_true(msgid > (json_int_t)1 << 32);
    json_decref(j);
    json_decref(tok);

    assert_true(h_fake_wait_sent(&g_fake, "wechat", 1, 1000));
    json_t *sent = h_fake_sent(&g_fake, "wecom_robot");
    assert_int_equal(json_array_size(sent), 1);
    json_t *s = json_array_get(sent, 0);
    assert_string_equal(json_string_value(json_array_get(json_object_get(s, "to"), 0)), H_FAKE_ROBOT_KEY_1);
    assert_string_equal(json_string_value(json_object_get(s, "text")), "城关镇：新派单 GG-2026-000123");
    json_decref(sent);
    sent = h_fake_sent(&g_fake, "wechat");
    s = json_array_get(sent, 0);
    assert_string_equal(json_string_value(json_object_get(s, "key")), "4c0ffee0-0000-4000-8000-000000000001");
    char id[32];
    snprintf(id, sizeof id, "%lld", (long long)msgid);
    assert_string_equal(json_string_value(json_object_get(s, "id")), id);
    json_decref(sent);
    assert_int_equal(h_fake_count(&g_fake, "wecom_robot", "refused"), 1);
}

static void failure_modes(void **state)
{
    (void)state;
    long status;
    /* an HTTP status for the next two calls, then the provider again */
    assert_true(h_fake_fail(&g_fake, "wecom_robot", "http", 503, NULL, 2));
    for (int i = 0; i < 2; i++) {
        json_t *j = robot(H_FAKE_ROBOT_KEY_1, "x", &status);
        assert_int_equal(status, 503);
        assert_null(j); /* an HTML error page, not the provider's JSON */
    }
    json_t *j = robot(H_FAKE_ROBOT_KEY_1, "x", &status);
    assert_int_equal(errcode(j), 0);
    json_decref(j);

    /* a provider code in the provider's shape, until cleared */
    assert_true(h_fake_fail(&g_fake, "wecom_robot", "code", 0, "45009", 0));
    for (int i = 0; i < 3; i++) {
        j = robot(H_FAKE_ROBOT_KEY_1, "x", &status);
        assert_int_equal(status, 200);
        assert_int_equal(errcode(j), 45009);
        assert_non_null(strstr(json_string_value(json_object_get(j, "errmsg")), "api freq out of limit"));
        json_decref(j);
    }
    assert_true(h_fake_clear(&g_fake, "wecom_robot"));
    j = robot(H_FAKE_ROBOT_KEY_1, "x", &status);
    assert_int_equal(errcode(j), 0);
    json_decref(j);

    /* slow: answered, late */
    assert_true(h_fake_fail(&g_fake, "wecom_robot", "slow", 300, NULL, 1));
    double t = mono_s();
    j = robot(H_FAKE_ROBOT_KEY_1, "x", &status);
    assert_true(mono_s() - t >= 0.29);
    assert_int_equal(errcode(j), 0);
    json_decref(j);

    /* hang: no answer at all (here for at most 300 ms, then the connection closes) */
    assert_true(h_fake_fail(&g_fake, "wecom_robot", "hang", 300, NULL, 1));
    j = robot(H_FAKE_ROBOT_KEY_1, "x", &status);
    assert_int_equal(status, 0);
    assert_null(j);

    json_t *calls = h_fake_calls(&g_fake, "wecom_robot");
    size_t n = json_array_size(calls);
    assert_int_equal(n, 9);
    assert_string_equal(json_string_value(json_object_get(json_array_get(calls, 0), "injected")), "http");
    assert_string_equal(json_string_value(json_object_get(json_array_get(calls, n - 1), "outcome")), "hang");
    json_decref(calls);
    assert_int_equal(h_fake_count(&g_fake, "wecom_robot", "sent"), 3);
    assert_int_equal(h_fake_count(&g_fake, "wecom_robot", "injected"), 6);
    assert_false(h_fake_fail(&g_fake, "nobody", "http", 0, NULL, 0));
}

static void reset_forgets(void **state)
{
    (void)state;
    long status;
    json_decref(robot(H_FAKE_ROBOT_KEY_2, "x", &status));
    assert_true(h_fake_fail(&g_fake, "*", "http", 500, NULL, 0));
    assert_true(h_fake_reset(&g_fake));
    json_t *j = robot(H_FAKE_ROBOT_KEY_2, "y", &status);
    assert_int_equal(errcode(j), 0);
    json_decref(j);
    json_t *sent = h_fake_sent(&g_fake, NULL);
    assert_int_equal(json_array_size(sent), 1);
    json_decref(sent);
}

static void the_notify_environment_points_at_the_fake(void **state)
{
    (void)state;
    const char *const *env = h_fake_notify_env(&g_fake);
    char want[128];
    snprintf(want, sizeof want, "GRIDGOV_ALIYUN_SMS_ENDPOINT=%s/aliyun/", g_fake.base);
    bool found = false;
    size_t n = 0;
    for (; env[n]; n++)
        found = found || strcmp(env[n], want) == 0;
    assert_true(found);
    assert_int_equal(n, 17);
}

static void a_second_fake_on_a_port_of_its_own_and_stop(void **state)
{
    (void)state;
    h_fake_t other;
    h_fake_start(&other, 0, NULL, NULL);
    assert_true(other.port > 0);
    assert_int_not_equal(other.port, g_fake.port);
    pid_t pid = other.pid;
    h_fake_stop(&other);
    h_fake_stop(&other); /* safe twice */
    assert_int_equal(kill(pid, 0), -1);
    json_t *h = h_fake_get(&other, "/_fake/health");
    assert_null(h);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(health_port_and_clock, reset),
        cmocka_unit_test_setup(unsigned_sms_is_refused_in_the_real_shape, reset),
        cmocka_unit_test_setup(accepted_messages_are_listed, reset),
        cmocka_unit_test_setup(failure_modes, reset),
        cmocka_unit_test_setup(reset_forgets, reset),
        cmocka_unit_test_setup(the_notify_environment_points_at_the_fake, reset),
        cmocka_unit_test_setup(a_second_fake_on_a_port_of_its_own_and_stop, reset),
    };
    return cmocka_run_group_tests_name("fakes_harness", tests, setup, teardown);
}
