/* The providers' answers, as providers.md quotes them, each read into the outcome the sender acts
 * on: every code listed there, for each provider, through the provider's own prepare and finish
 * (nothing goes on the network; the WeChat and WeCom app tokens come from notify.access_token). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "harness.h"
#include "log.h"
#include "provider.h"
#include "provider_fx.h"

typedef struct {
    CURLcode rc;
    long status;
    const char *body;
    outcome_kind_t kind;
    const char *code;
} answer_t;

#define OK_ CURLE_OK

static const char *const PARAM_NAMES[] = {"code", "unit"};
static const tmpl_codes_t TMPL = {
    .key = "received",
    .aliyun_code = "SMS_270000001",
    .tencent_id = "1900001",
    .sms_params = PARAM_NAMES,
    .n_sms_params = 2,
    .wechat_template_id = "ngqIpbwh8bUfcSsECmogfXcV14J0tQlEpBO27izEYtY",
};

static PGconn *g_db;
static char g_appid[64], g_corp[64];

/* A token valid for two hours in the row the provider reads, so it is ready without a fetch. */
static void give_token(const char *app, const char *token)
{
    const char *p[] = {app, token};
    PGresult *r = PQexecParams(g_db,
                               "INSERT INTO notify.access_token (app, token, expires_at, fetched_at)"
                               " VALUES ($1, $2, now() + interval '2 hours', now())"
                               " ON CONFLICT (app) DO UPDATE SET token = $2, expires_at = now() + interval '2 hours',"
                               " fetched_at = now(), refreshing_until = NULL, refreshing_by = NULL",
                               2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK) {
        fprintf(stderr, "give_token: %s", PQerrorMessage(g_db));
        exit(2);
    }
    PQclear(r);
}

static int group_setup(void **state)
{
    (void)state;
    log_init("unit", LOG_ERROR);
    g_db = h_db();
    snprintf(g_appid, sizeof g_appid, "wxclassify%d", (int)getpid());
    snprintf(g_corp, sizeof g_corp, "wwclassify%d", (int)getpid());
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    char app1[128], app2[128];
    snprintf(app1, sizeof app1, "wechat:%s", g_appid);
    snprintf(app2, sizeof app2, "wecom:%s:1000002", g_corp);
    const char *p[] = {app1, app2};
    PQclear(PQexecParams(g_db, "DELETE FROM notify.access_token WHERE app IN ($1, $2)", 2, NULL, p, NULL, NULL, 0));
    PQfinish(g_db);
    return 0;
}

static void check_all(provider_t *p, const message_t *m, const answer_t *a, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        outcome_t out = pfx_answer(p, m, 1796000000, a[i].rc, a[i].status, a[i].body, NULL, 0);
        if (out.kind != a[i].kind || strcmp(out.code, a[i].code) != 0)
            fail_msg("%s: %s (rc %d, http %ld) read as %s %s, want %s %s", p->ops->name, a[i].body ? a[i].body : "",
                     (int)a[i].rc, a[i].status, outcome_name(out.kind), out.code, outcome_name(a[i].kind), a[i].code);
        if (out.kind != OUTCOME_SENT)
            assert_string_equal(out.provider_msgid, "");
    }
}

/* What every provider reads the same way: a transfer that failed, a 5xx, an answer that is not
 * the provider's JSON. */
static const answer_t TRANSPORT[] = {
    {CURLE_OPERATION_TIMEDOUT, 0, NULL, OUTCOME_RETRY, "timeout"},
    {CURLE_COULDNT_CONNECT, 0, NULL, OUTCOME_RETRY, "curl 7"},
    {OK_, 502, "<html><body>502 Bad Gateway</body></html>", OUTCOME_RETRY, "http 502"},
    {OK_, 503, "{\"errcode\":0}", OUTCOME_RETRY, "http 503"},
    {OK_, 200, "<html>maintenance</html>", OUTCOME_RETRY, "bad answer"},
    {OK_, 200, "", OUTCOME_RETRY, "bad answer"},
    {OK_, 200, "[1,2]", OUTCOME_RETRY, "bad answer"},
};

static provider_t *wechat(void)
{
    char appid[96];
    snprintf(appid, sizeof appid, "wechat_appid=%s", g_appid);
    const char *kv[] = {appid, "wechat_secret=s3cret", "wechat_api_base=http://127.0.0.1:9", NULL};
    cfg_t *cfg = pfx_cfg(kv);
    char err[256];
    provider_t *p = provider_wechat_new(cfg, err, sizeof err);
    cfg_destroy(&cfg);
    assert_non_null(p);
    char app[128];
    snprintf(app, sizeof app, "wechat:%s", g_appid);
    give_token(app, "TOKEN-CLASSIFY");
    CURL *fetch = NULL;
    void *call = NULL;
    assert_true(p->ops->ready(p, g_db, 1796000000, &fetch, &call));
    assert_null(fetch);
    return p;
}

static void wechat_template_answers(void **state)
{
    (void)state;
    provider_t *p = wechat();
    json_t *data = json_pack("{s:{s:s}}", "thing2", "value", "东街路灯不亮");
    message_t m = {.id = "0b6f3f5e-6c55-4b8e-9d55-1c1f0f5b9a01", .channel = "wechat",
                   .address = "oia2TjuEGTNoeX76QEjQNrcURxG8", .body = "x", .wechat_data = data, .tmpl = &TMPL};
    static const answer_t A[] = {
        {OK_, 200, "{\"errcode\":0,\"errmsg\":\"ok\",\"msgid\":200228332}", OUTCOME_SENT, "0"},
        {OK_, 200, "{\"errcode\":40003,\"errmsg\":\"invalid openid hint: [abc]\"}", OUTCOME_PERMANENT, "40003"},
        {OK_, 200, "{\"errcode\":40036,\"errmsg\":\"invalid template_id size\"}", OUTCOME_PERMANENT, "40036"},
        {OK_, 200, "{\"errcode\":40037,\"errmsg\":\"invalid template_id\"}", OUTCOME_PERMANENT, "40037"},
        {OK_, 200, "{\"errcode\":43004,\"errmsg\":\"require subscribe hint: [x]\"}", OUTCOME_UNDELIVERABLE, "43004"},
        {OK_, 200, "{\"errcode\":43101,\"errmsg\":\"user refuse to accept the msg\"}", OUTCOME_UNDELIVERABLE, "43101"},
        {OK_, 200, "{\"errcode\":47003,\"errmsg\":\"argument invalid! data.thing2.value invalid\"}", OUTCOME_PERMANENT,
         "47003"},
        {OK_, 200, "{\"errcode\":47001,\"errmsg\":\"data format error\"}", OUTCOME_PERMANENT, "47001"},
        {OK_, 200, "{\"errcode\":-1,\"errmsg\":\"system error\"}", OUTCOME_RETRY, "-1"},
        {OK_, 200, "{\"errcode\":45009,\"errmsg\":\"reach max api daily quota limit rid: 1\"}", OUTCOME_RETRY, "45009"},
        {OK_, 200, "{\"errcode\":45011,\"errmsg\":\"api minute-quota reach limit must slower retry next minute\"}",
         OUTCOME_RETRY, "45011"},
        {OK_, 200, "{\"errcode\":40001,\"errmsg\":\"invalid credential, access_token is invalid or not latest\"}",
         OUTCOME_TOKEN, "40001"},
        {OK_, 200, "{\"errcode\":40014,\"errmsg\":\"invalid access_token\"}", OUTCOME_TOKEN, "40014"},
        {OK_, 200, "{\"errcode\":42001,\"errmsg\":\"access_token expired\"}", OUTCOME_TOKEN, "42001"},
        {OK_, 200, "{\"errcode\":41001,\"errmsg\":\"access_token missing\"}", OUTCOME_TOKEN, "41001"},
        {OK_, 200, "{\"errcode\":48001,\"errmsg\":\"api unauthorized\"}", OUTCOME_FAILOVER, "48001"},
        {OK_, 200, "{\"errcode\":40164,\"errmsg\":\"invalid ip 1.2.3.4, not in whitelist\"}", OUTCOME_FAILOVER, "40164"},
        {OK_, 200, "{\"errcode\":\"40003\",\"errmsg\":\"a string\"}", OUTCOME_RETRY, "bad answer"},
    };
    check_all(p, &m, A, sizeof A / sizeof A[0]);
    check_all(p, &m, TRANSPORT, sizeof TRANSPORT / sizeof TRANSPORT[0]);

    /* msgid is a 64-bit integer */
    outcome_t out = pfx_answer(p, &m, 1796000000, OK_, 200, "{\"errcode\":0,\"errmsg\":\"ok\",\"msgid\":9007199254740993123}",
                               NULL, 0);
    assert_int_equal(out.kind, OUTCOME_SENT);
    assert_string_equal(out.provider_msgid, "9007199254740993123");
    assert_int_equal(out.retry_after_ms, 0);
    /* 45011 opens at the next minute: 1796000000 is 20 s into its minute */
    out = pfx_answer(p, &m, 1796000000, OK_, 200, "{\"errcode\":45011,\"errmsg\":\"minute quota\"}", NULL, 0);
    assert_int_equal(out.retry_after_ms, 40000);
    /* 45009, the daily quota, opens when the day ends in China: 1796000000 is 2026-11-30 00:53:20 UTC, 08:53:20 there */
    out = pfx_answer(p, &m, 1796000000, OK_, 200, "{\"errcode\":45009,\"errmsg\":\"daily quota\"}", NULL, 0);
    assert_int_equal(out.retry_after_ms, (15 * 3600 + 6 * 60 + 40) * 1000);
    assert_string_equal(out.detail, "daily quota");

    /* a message that cannot be a template message goes by SMS instead (no call is made) */
    message_t no_data = m;
    no_data.wechat_data = NULL;
    out = pfx_prepare_refused(p, &no_data, 1796000000);
    assert_int_equal(out.kind, OUTCOME_UNDELIVERABLE);
    tmpl_codes_t no_tmpl = TMPL;
    no_tmpl.wechat_template_id = NULL;
    message_t m2 = m;
    m2.tmpl = &no_tmpl;
    out = pfx_prepare_refused(p, &m2, 1796000000);
    assert_int_equal(out.kind, OUTCOME_UNDELIVERABLE);
    json_decref(data);
    provider_destroy(&p);
    assert_null(p);
}

static void wecom_robot_answers(void **state)
{
    (void)state;
    cfg_t *cfg = pfx_cfg((const char *[]){"wecom_api_base=http://127.0.0.1:9", "wecom_corp_id=ww1", NULL});
    char err[256];
    provider_t *p = provider_wecom_robot_new(cfg, err, sizeof err);
    cfg_destroy(&cfg);
    assert_non_null(p);
    assert_null(p->ops->ready); /* no token: a robot key is all it needs */
    message_t m = {.id = "0b6f3f5e-6c55-4b8e-9d55-1c1f0f5b9a02", .channel = "wecom_robot",
                   .address = "693a91f6-7xxx-4bc4-97a0-0ec2sifa5aaa", .body = "【督办】东街路灯", .tmpl = &TMPL};
    static const answer_t A[] = {
        {OK_, 200, "{\"errcode\":0,\"errmsg\":\"ok\"}", OUTCOME_SENT, "0"},
        {OK_, 200, "{\"errcode\":93000,\"errmsg\":\"invalid webhook url, hint: [1], from ip: 1.2.3.4\"}",
         OUTCOME_PERMANENT, "93000"},
        {OK_, 200,
         "{\"errcode\":40058,\"errmsg\":\"markdown.content exceed max length 4096. invalid Request Parameter, hint: "
         "[x], from ip: 1.2.3.4, more info at https://open.work.weixin.qq.com/devtool/query?e=40058\"}",
         OUTCOME_PERMANENT, "40058"},
        {OK_, 200, "{\"errcode\":45009,\"errmsg\":\"api freq out of limit\"}", OUTCOME_RETRY, "45009"},
        {OK_, 200, "{\"errcode\":-1,\"errmsg\":\"system busy\"}", OUTCOME_RETRY, "-1"},
    };
    check_all(p, &m, A, sizeof A / sizeof A[0]);
    check_all(p, &m, TRANSPORT, sizeof TRANSPORT / sizeof TRANSPORT[0]);
    /* 20 a minute per robot: again when the next minute starts (1796000015 is 35 s into it) */
    outcome_t out = pfx_answer(p, &m, 1796000015, OK_, 200, "{\"errcode\":45009,\"errmsg\":\"api freq out of limit\"}",
                               NULL, 0);
    assert_int_equal(out.retry_after_ms, 25000);
    out = pfx_answer(p, &m, 1796000040, OK_, 200, "{\"errcode\":45009,\"errmsg\":\"api freq out of limit\"}", NULL, 0);
    assert_int_equal(out.retry_after_ms, 60000);
    /* no key: nothing to call */
    message_t nokey = m;
    nokey.address = "";
    out = pfx_prepare_refused(p, &nokey, 1796000000);
    assert_int_equal(out.kind, OUTCOME_PERMANENT);
    provider_destroy(&p);
}

static provider_t *wecom_app(void)
{
    char corp[96];
    snprintf(corp, sizeof corp, "wecom_corp_id=%s", g_corp);
    const char *kv[] = {corp, "wecom_corp_secret=s3cret", "wecom_agent_id=1000002",
                        "wecom_api_base=http://127.0.0.1:9", NULL};
    cfg_t *cfg = pfx_cfg(kv);
    char err[256];
    provider_t *p = provider_wecom_app_new(cfg, err, sizeof err);
    cfg_destroy(&cfg);
    assert_non_null(p);
    char app[128];
    snprintf(app, sizeof app, "wecom:%s:1000002", g_corp);
    give_token(app, "TOKEN-WECOM");
    CURL *fetch = NULL;
    void *call = NULL;
    assert_true(p->ops->ready(p, g_db, 1796000000, &fetch, &call));
    return p;
}

static void wecom_app_answers(void **state)
{
    (void)state;
    provider_t *p = wecom_app();
    message_t m = {.id = "0b6f3f5e-6c55-4b8e-9d55-1c1f0f5b9a03", .channel = "wecom_app", .address = "LiSi",
                   .body = "新派单：东街路灯不亮", .tmpl = &TMPL};
    static const answer_t A[] = {
        {OK_, 200,
         "{\"errcode\":0,\"errmsg\":\"ok\",\"invaliduser\":\"\",\"invalidparty\":\"\",\"invalidtag\":\"\","
         "\"msgid\":\"xxxx\",\"response_code\":\"xyzxyz\"}",
         OUTCOME_SENT, "0"},
        /* partial: someone else is invalid, this one got it */
        {OK_, 200, "{\"errcode\":0,\"errmsg\":\"ok\",\"invaliduser\":\"zhangsan|lis\",\"msgid\":\"m2\"}", OUTCOME_SENT,
         "0"},
        /* this user is invalid (WeCom userids ignore case) */
        {OK_, 200, "{\"errcode\":0,\"errmsg\":\"ok\",\"invaliduser\":\"zhangsan|lisi\",\"msgid\":\"m3\"}",
         OUTCOME_PERMANENT, "invaliduser"},
        {OK_, 200, "{\"errcode\":81013,\"errmsg\":\"user & party & tag all invalid\"}", OUTCOME_PERMANENT, "81013"},
        {OK_, 200, "{\"errcode\":42001,\"errmsg\":\"access_token expired\"}", OUTCOME_TOKEN, "42001"},
        {OK_, 200, "{\"errcode\":40014,\"errmsg\":\"invalid access_token\"}", OUTCOME_TOKEN, "40014"},
        {OK_, 200, "{\"errcode\":40001,\"errmsg\":\"invalid credential\"}", OUTCOME_TOKEN, "40001"},
        {OK_, 200, "{\"errcode\":60020,\"errmsg\":\"not allow to access from your ip\"}", OUTCOME_FAILOVER, "60020"},
        {OK_, 200, "{\"errcode\":-1,\"errmsg\":\"system busy\"}", OUTCOME_RETRY, "-1"},
        {OK_, 200, "{\"errcode\":45009,\"errmsg\":\"api freq out of limit\"}", OUTCOME_RETRY, "45009"},
    };
    check_all(p, &m, A, sizeof A / sizeof A[0]);
    check_all(p, &m, TRANSPORT, sizeof TRANSPORT / sizeof TRANSPORT[0]);
    outcome_t out = pfx_answer(p, &m, 1796000000, OK_, 200,
                               "{\"errcode\":0,\"errmsg\":\"ok\",\"invaliduser\":\"\",\"msgid\":\"MSGID-77\"}", NULL, 0);
    assert_string_equal(out.provider_msgid, "MSGID-77");
    provider_destroy(&p);
}

static provider_t *sms_provider(provider_t *(*ctor)(const cfg_t *, char *, size_t))
{
    const char *kv[] = {"aliyun_access_key_id=testId", "aliyun_access_key_secret=testSecret",
                        "aliyun_sms_sign_name=网格通知", "aliyun_sms_endpoint=http://127.0.0.1:9/",
                        "tencent_secret_id=AKIDtest", "tencent_secret_key=keytest", "tencent_sms_app_id=1400006666",
                        "tencent_sms_sign_name=网格通知", "tencent_sms_endpoint=http://127.0.0.1:9/", NULL};
    cfg_t *cfg = pfx_cfg(kv);
    char err[256];
    provider_t *p = ctor(cfg, err, sizeof err);
    cfg_destroy(&cfg);
    assert_non_null(p);
    assert_string_equal(p->ops->channel, "sms");
    assert_null(p->ops->ready);
    return p;
}

static json_t *sms_params(void)
{
    return json_pack("{s:s, s:s}", "unit", "城关镇", "code", "GG-2026-000123");
}

static void aliyun_answers(void **state)
{
    (void)state;
    provider_t *p = sms_provider(provider_aliyun_new);
    json_t *params = sms_params();
    message_t m = {.id = "0b6f3f5e-6c55-4b8e-9d55-1c1f0f5b9a04", .channel = "sms", .address = "13812340000",
                   .body = "x", .params = params, .tmpl = &TMPL};
#define ALI(code, msg) "{\"Message\":\"" msg "\",\"RequestId\":\"A0000000-3CC1-4000-8000-E00000000000\",\"Code\":\"" code "\"}"
    static const answer_t A[] = {
        {OK_, 200,
         "{\"Code\":\"OK\",\"Message\":\"OK\",\"BizId\":\"700000000000000000^0\","
         "\"RequestId\":\"A0000000-3CC1-4000-8000-E00000000000\"}",
         OUTCOME_SENT, "OK"},
        {OK_, 200, ALI("isv.BUSINESS_LIMIT_CONTROL", "触发天级流控Permits:10"), OUTCOME_RETRY, "isv.BUSINESS_LIMIT_CONTROL"},
        {OK_, 200, ALI("isv.MOBILE_NUMBER_ILLEGAL", "非法手机号"), OUTCOME_PERMANENT, "isv.MOBILE_NUMBER_ILLEGAL"},
        {OK_, 200, ALI("isv.TEMPLATE_MISSING_PARAMETERS", "模板缺少变量"), OUTCOME_FAILOVER,
         "isv.TEMPLATE_MISSING_PARAMETERS"},
        {OK_, 200, ALI("isv.INVALID_JSON_PARAM", "JSON参数不合法"), OUTCOME_PERMANENT, "isv.INVALID_JSON_PARAM"},
        {OK_, 200, ALI("isv.SMS_SIGNATURE_ILLEGAL", "签名不合法"), OUTCOME_FAILOVER, "isv.SMS_SIGNATURE_ILLEGAL"},
        {OK_, 200, ALI("isv.SMS_TEMPLATE_ILLEGAL", "模板不合法"), OUTCOME_FAILOVER, "isv.SMS_TEMPLATE_ILLEGAL"},
        {OK_, 200, ALI("isv.AMOUNT_NOT_ENOUGH", "账户余额不足"), OUTCOME_FAILOVER, "isv.AMOUNT_NOT_ENOUGH"},
        {OK_, 200, ALI("isv.OUT_OF_SERVICE", "业务停机"), OUTCOME_FAILOVER, "isv.OUT_OF_SERVICE"},
        {OK_, 200, ALI("isv.DAY_LIMIT_CONTROL", "日发送量超限"), OUTCOME_FAILOVER, "isv.DAY_LIMIT_CONTROL"},
        {OK_, 200, ALI("isv.MONTH_LIMIT_CONTROL", "月发送量超限"), OUTCOME_FAILOVER, "isv.MONTH_LIMIT_CONTROL"},
        {OK_, 200, ALI("isv.BLACK_KEY_CONTROL_LIMIT", "黑名单管控"), OUTCOME_PERMANENT, "isv.BLACK_KEY_CONTROL_LIMIT"},
        {OK_, 200, ALI("isv.PARAM_LENGTH_LIMIT", "参数超出长度限制"), OUTCOME_PERMANENT, "isv.PARAM_LENGTH_LIMIT"},
        {OK_, 200, ALI("isv.PARAM_NOT_SUPPORT_URL", "不支持URL"), OUTCOME_PERMANENT, "isv.PARAM_NOT_SUPPORT_URL"},
        {OK_, 200, ALI("isp.SYSTEM_ERROR", "系统错误"), OUTCOME_RETRY, "isp.SYSTEM_ERROR"},
        {OK_, 200, ALI("isp.RAM_PERMISSION_DENY", "RAM权限DENY"), OUTCOME_FAILOVER, "isp.RAM_PERMISSION_DENY"},
        {OK_, 400, ALI("SignatureDoesNotMatch", "Specified signature is not matched with our calculation."),
         OUTCOME_FAILOVER, "SignatureDoesNotMatch"},
        {OK_, 400, ALI("InvalidTimeStamp.Expired", "Specified time stamp or date value is expired."), OUTCOME_FAILOVER,
         "InvalidTimeStamp.Expired"},
        {OK_, 400, ALI("InvalidTimeStamp.Format", "Specified time stamp or date value is not well formatted."),
         OUTCOME_FAILOVER, "InvalidTimeStamp.Format"},
        {OK_, 400, ALI("SignatureNonceUsed", "Specified signature nonce was used already."), OUTCOME_RETRY,
         "SignatureNonceUsed"},
        {OK_, 404, ALI("InvalidAccessKeyId.NotFound", "Specified access key is not found."), OUTCOME_FAILOVER,
         "InvalidAccessKeyId.NotFound"},
        {OK_, 400, ALI("Throttling.User", "Request was denied due to user flow control."), OUTCOME_RETRY,
         "Throttling.User"},
        {OK_, 400, ALI("Throttling.Api", "Request was denied due to api flow control."), OUTCOME_RETRY, "Throttling.Api"},
        {OK_, 200, ALI("isv.SOMETHING_NEW", "?"), OUTCOME_FAILOVER, "isv.SOMETHING_NEW"},
        {OK_, 400, "{\"RequestId\":\"x\"}", OUTCOME_RETRY, "http 400"},
        /* "OK" only counts with HTTP 200 */
        {OK_, 404, ALI("OK", "OK"), OUTCOME_FAILOVER, "OK"},
    };
#undef ALI
    check_all(p, &m, A, sizeof A / sizeof A[0]);
    check_all(p, &m, TRANSPORT, sizeof TRANSPORT / sizeof TRANSPORT[0]);

    outcome_t out = pfx_answer(p, &m, 1796000000, OK_, 200,
                               "{\"Code\":\"OK\",\"Message\":\"OK\",\"BizId\":\"700000000000000000^0\"}", NULL, 0);
    assert_string_equal(out.provider_msgid, "700000000000000000^0");
    /* per-number flow control: again when its window lets one through */
    out = pfx_answer(p, &m, 1796000000, OK_, 200,
                     "{\"Code\":\"isv.BUSINESS_LIMIT_CONTROL\",\"Message\":\"触发分钟级流控Permits:1\"}", NULL, 0);
    assert_int_equal(out.retry_after_ms, 60000);
    out = pfx_answer(p, &m, 1796000000, OK_, 200,
                     "{\"Code\":\"isv.BUSINESS_LIMIT_CONTROL\",\"Message\":\"触发小时级流控Permits:5\"}", NULL, 0);
    assert_int_equal(out.retry_after_ms, 3600000);
    /* a number in the provider's message never reaches notify.attempt */
    out = pfx_answer(p, &m, 1796000000, OK_, 200,
                     "{\"Code\":\"isv.MOBILE_NUMBER_ILLEGAL\",\"Message\":\"非法手机号 13812340000\"}", NULL, 0);
    assert_null(strstr(out.detail, "13812340000"));
    assert_non_null(strstr(out.detail, "138****0000"));

    /* no call at all: the template has no Aliyun code (Tencent may have it), a parameter is missing */
    tmpl_codes_t no_code = TMPL;
    no_code.aliyun_code = NULL;
    message_t m2 = m;
    m2.tmpl = &no_code;
    assert_int_equal(pfx_prepare_refused(p, &m2, 1796000000).kind, OUTCOME_FAILOVER);
    json_t *few = json_pack("{s:s}", "code", "GG-2026-000123");
    m2 = m;
    m2.params = few;
    out = pfx_prepare_refused(p, &m2, 1796000000);
    assert_int_equal(out.kind, OUTCOME_PERMANENT);
    assert_non_null(strstr(out.detail, "unit"));
    json_decref(few);
    json_decref(params);
    provider_destroy(&p);
}

static void tencent_answers(void **state)
{
    (void)state;
    provider_t *p = sms_provider(provider_tencent_new);
    json_t *params = sms_params();
    message_t m = {.id = "0b6f3f5e-6c55-4b8e-9d55-1c1f0f5b9a05", .channel = "sms", .address = "18511122233",
                   .body = "x", .params = params, .tmpl = &TMPL};
#define ONE(code, msg)                                                                                                 \
    "{\"Response\":{\"SendStatusSet\":[{\"SerialNo\":\"\",\"PhoneNumber\":\"+8618511122233\",\"Fee\":0,"             \
    "\"SessionContext\":\"0b6f3f5e-6c55-4b8e-9d55-1c1f0f5b9a05\",\"Code\":\"" code "\",\"Message\":\"" msg              \
    "\",\"IsoCode\":\"CN\"}],\"RequestId\":\"a0aabda6-cf91-4f3e-a81f-9198114a2279\"}}"
#define WHOLE(code, msg)                                                                                               \
    "{\"Response\":{\"Error\":{\"Code\":\"" code "\",\"Message\":\"" msg "\"},"                                       \
    "\"RequestId\":\"a0aabda6-cf91-4f3e-a81f-9198114a2279\"}}"
    static const answer_t A[] = {
        {OK_, 200,
         "{\"Response\":{\"SendStatusSet\":[{\"SerialNo\":\"5000:1045710669157053657849499619\","
         "\"PhoneNumber\":\"+8618511122233\",\"Fee\":1,\"SessionContext\":\"test\",\"Code\":\"Ok\","
         "\"Message\":\"send success\",\"IsoCode\":\"CN\"}],\"RequestId\":\"a0aabda6-cf91-4f3e-a81f-9198114a2279\"}}",
         OUTCOME_SENT, "Ok"},
        /* "OK" is Aliyun's word: Tencent's is "Ok" */
        {OK_, 200, ONE("OK", "send success"), OUTCOME_FAILOVER, "OK"},
        {OK_, 200, ONE("LimitExceeded.PhoneNumberThirtySecondLimit", "30秒内同一号码发送超限"), OUTCOME_RETRY,
         "LimitExceeded.PhoneNumberThirtySecondLimit"},
        {OK_, 200, ONE("LimitExceeded.PhoneNumberOneHourLimit", "1小时内发送超限"), OUTCOME_RETRY,
         "LimitExceeded.PhoneNumberOneHourLimit"},
        {OK_, 200, ONE("LimitExceeded.PhoneNumberDailyLimit", "日发送超限"), OUTCOME_RETRY,
         "LimitExceeded.PhoneNumberDailyLimit"},
        {OK_, 200, ONE("LimitExceeded.PhoneNumberSameContentDailyLimit", "相同内容日超限"), OUTCOME_RETRY,
         "LimitExceeded.PhoneNumberSameContentDailyLimit"},
        {OK_, 200, ONE("LimitExceeded.DeliveryFrequencyLimit", "下发频率超限"), OUTCOME_RETRY,
         "LimitExceeded.DeliveryFrequencyLimit"},
        {OK_, 200, ONE("LimitExceeded.AppDailyLimit", "应用日超限"), OUTCOME_RETRY, "LimitExceeded.AppDailyLimit"},
        {OK_, 200, ONE("InvalidParameterValue.IncorrectPhoneNumber", "手机号格式错误"), OUTCOME_PERMANENT,
         "InvalidParameterValue.IncorrectPhoneNumber"},
        {OK_, 200, ONE("FailedOperation.PhoneNumberInBlacklist", "号码在免打扰名单"), OUTCOME_PERMANENT,
         "FailedOperation.PhoneNumberInBlacklist"},
        {OK_, 200, ONE("FailedOperation.SignatureIncorrectOrUnapproved", "签名未审批"), OUTCOME_FAILOVER,
         "FailedOperation.SignatureIncorrectOrUnapproved"},
        {OK_, 200, ONE("FailedOperation.TemplateIncorrectOrUnapproved", "模板未审批"), OUTCOME_FAILOVER,
         "FailedOperation.TemplateIncorrectOrUnapproved"},
        {OK_, 200, ONE("FailedOperation.InsufficientBalanceInSmsPackage", "套餐包余量不足"), OUTCOME_FAILOVER,
         "FailedOperation.InsufficientBalanceInSmsPackage"},
        {OK_, 200, ONE("FailedOperation.ContainSensitiveWord", "含敏感词"), OUTCOME_PERMANENT,
         "FailedOperation.ContainSensitiveWord"},
        {OK_, 200, ONE("InternalError.Timeout", "请求超时"), OUTCOME_RETRY, "InternalError.Timeout"},
        {OK_, 200, WHOLE("MissingParameter.EmptyPhoneNumberSet", "号码集为空"), OUTCOME_PERMANENT,
         "MissingParameter.EmptyPhoneNumberSet"},
        {OK_, 200, WHOLE("RequestLimitExceeded", "请求频率超限"), OUTCOME_RETRY, "RequestLimitExceeded"},
        {OK_, 200, WHOLE("AuthFailure.SecretIdNotFound", "密钥不存在"), OUTCOME_FAILOVER, "AuthFailure.SecretIdNotFound"},
        {OK_, 200, WHOLE("AuthFailure.SignatureExpire", "签名过期"), OUTCOME_FAILOVER, "AuthFailure.SignatureExpire"},
        {OK_, 200, WHOLE("AuthFailure.SignatureFailure", "签名错误"), OUTCOME_FAILOVER, "AuthFailure.SignatureFailure"},
        {OK_, 200, WHOLE("InternalError.Timeout", "请求超时"), OUTCOME_RETRY, "InternalError.Timeout"},
        {OK_, 200, WHOLE("UnauthorizedOperation.SmsSdkAppIdVerifyFail", "应用校验失败"), OUTCOME_FAILOVER,
         "UnauthorizedOperation.SmsSdkAppIdVerifyFail"},
        {OK_, 200, "{\"Response\":{\"SendStatusSet\":[],\"RequestId\":\"x\"}}", OUTCOME_RETRY, "bad answer"},
        {OK_, 200, "{\"Response\":{\"RequestId\":\"x\"}}", OUTCOME_RETRY, "bad answer"},
    };
#undef ONE
#undef WHOLE
    check_all(p, &m, A, sizeof A / sizeof A[0]);
    check_all(p, &m, TRANSPORT, sizeof TRANSPORT / sizeof TRANSPORT[0]);

    outcome_t out = pfx_answer(p, &m, 1796000000, OK_, 200, A[0].body, NULL, 0);
    assert_string_equal(out.provider_msgid, "5000:1045710669157053657849499619");
    assert_string_equal(out.detail, "send success");
    out = pfx_answer(p, &m, 1796000000, OK_, 200, A[2].body, NULL, 0);
    assert_int_equal(out.retry_after_ms, 30000);

    tmpl_codes_t no_id = TMPL;
    no_id.tencent_id = "";
    message_t m2 = m;
    m2.tmpl = &no_id;
    assert_int_equal(pfx_prepare_refused(p, &m2, 1796000000).kind, OUTCOME_FAILOVER);
    json_t *wrong = json_pack("{s:s, s:i}", "code", "GG-2026-000123", "unit", 7);
    m2 = m;
    m2.params = wrong;
    assert_int_equal(pfx_prepare_refused(p, &m2, 1796000000).kind, OUTCOME_PERMANENT);
    json_decref(wrong);
    json_decref(params);
    provider_destroy(&p);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(wechat_template_answers),
        cmocka_unit_test(wecom_robot_answers),
        cmocka_unit_test(wecom_app_answers),
        cmocka_unit_test(aliyun_answers),
        cmocka_unit_test(tencent_answers),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
