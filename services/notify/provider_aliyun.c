#include "provider_aliyun.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "provider_http.h"
#include "provider_sms.h"
#include "provsign.h"
#include "timefmt.h"
#include "uuid.h"

typedef struct {
    char *endpoint, *key_id, *secret, *sign_name;
    long timeout_ms;
} aliyun_t;

static const ph_code_t ALIYUN_CODES[] = {
    {"isv.BUSINESS_LIMIT_CONTROL", OUTCOME_RETRY}, /* per-number flow control: later */
    {"isp.SYSTEM_ERROR", OUTCOME_RETRY},
    {"Throttling*", OUTCOME_RETRY},                /* Throttling.User, Throttling.Api */
    {"SignatureNonceUsed", OUTCOME_RETRY},         /* a fresh nonce next time */
    {"ServiceUnavailable*", OUTCOME_RETRY},
    {"InternalError*", OUTCOME_RETRY},
    {"isv.AMOUNT_NOT_ENOUGH", OUTCOME_FAILOVER},   /* the account's balance */
    {"isv.OUT_OF_SERVICE", OUTCOME_FAILOVER},      /* the account is stopped */
    {"isv.SMS_SIGNATURE_ILLEGAL", OUTCOME_FAILOVER},
    {"isv.SMS_TEMPLATE_ILLEGAL", OUTCOME_FAILOVER},
    {"isv.SMS_SIGN_ILLEGAL", OUTCOME_FAILOVER},
    {"isv.TEMPLATE_MISSING_PARAMETERS", OUTCOME_FAILOVER}, /* this account's template wants others */
    {"isv.DAY_LIMIT_CONTROL", OUTCOME_FAILOVER},   /* the account's own daily total */
    {"isv.MONTH_LIMIT_CONTROL", OUTCOME_FAILOVER},
    {"isv.ACCOUNT_NOT_EXISTS", OUTCOME_FAILOVER},
    {"isv.ACCOUNT_ABNORMAL", OUTCOME_FAILOVER},
    {"isp.RAM_PERMISSION_DENY", OUTCOME_FAILOVER},
    {"SignatureDoesNotMatch", OUTCOME_FAILOVER},
    {"InvalidAccessKeyId*", OUTCOME_FAILOVER},     /* .NotFound, .Inactive */
    {"InvalidTimeStamp*", OUTCOME_FAILOVER},       /* .Expired (our clock), .Format */
    {"isv.MOBILE_NUMBER_ILLEGAL", OUTCOME_PERMANENT},
    {"isv.MOBILE_COUNT_OVER_LIMIT", OUTCOME_PERMANENT},
    {"isv.INVALID_JSON_PARAM", OUTCOME_PERMANENT},
    {"isv.INVALID_PARAMETERS", OUTCOME_PERMANENT},
    {"isv.PARAM_LENGTH_LIMIT", OUTCOME_PERMANENT},
    {"isv.PARAM_NOT_SUPPORT_URL", OUTCOME_PERMANENT},
    {"isv.BLACK_KEY_CONTROL_LIMIT", OUTCOME_PERMANENT},
    {"isp.*", OUTCOME_RETRY},                      /* Aliyun's side: isp = platform */
};

char *aliyun_signed_query(const char *method, const aliyun_send_t *s)
{
    ps_param_t p[] = {
        {"AccessKeyId", s->access_key_id},
        {"Action", "SendSms"},
        {"Format", s->format},
        {"OutId", s->out_id},
        {"PhoneNumbers", s->phone},
        {"RegionId", "cn-hangzhou"},
        {"SignName", s->sign_name},
        {"SignatureMethod", "HMAC-SHA1"},
        {"SignatureNonce", s->nonce},
        {"SignatureVersion", "1.0"},
        {"TemplateCode", s->template_code},
        {"Timestamp", s->timestamp},
        {"Version", "2017-05-25"},
        {"TemplateParam", s->template_param}, /* last: left out when the template has none */
    };
    size_t n = sizeof p / sizeof p[0] - (s->template_param ? 0 : 1);
    char *canonical = ps_aliyun_canonical(p, n);
    char *sig = ps_aliyun_signature(method, s->access_key_secret, p, n);
    char *sig_enc = ps_aliyun_encode(sig);
    buf_t b = BUF_INIT;
    buf_printf(&b, "%s&Signature=%s", canonical, sig_enc);
    free(canonical);
    free(sig);
    free(sig_enc);
    return buf_detach(&b);
}

/* "触发分钟级流控Permits:1", "触发小时级流控…", "触发天级流控…": per-number windows (rolling). */
static int limit_wait_ms(const char *message)
{
    if (!message)
        return 0;
    if (strstr(message, "分钟级"))
        return 60 * 1000;
    if (strstr(message, "小时级") || strstr(message, "天级"))
        return 60 * 60 * 1000;
    return 0;
}

void aliyun_classify(long http_status, const char *body, size_t len, outcome_t *out)
{
    json_t *root = ph_json_object(body, len, http_status, out);
    if (!root)
        return;
    const char *code = json_string_value(json_object_get(root, "Code"));
    const char *message = json_string_value(json_object_get(root, "Message"));
    if (!code || !*code) {
        char c[32];
        snprintf(c, sizeof c, http_status == 200 ? "bad answer" : "http %ld", http_status);
        ph_outcome(out, OUTCOME_RETRY, c, "the answer has no Code");
    } else if (strcmp(code, "OK") == 0 && http_status == 200) {
        ph_outcome(out, OUTCOME_SENT, code, message ? message : "OK");
        const char *biz = json_string_value(json_object_get(root, "BizId"));
        if (biz)
            snprintf(out->provider_msgid, sizeof out->provider_msgid, "%s", biz);
    } else {
        ph_outcome(out, ph_kind_of(ALIYUN_CODES, sizeof ALIYUN_CODES / sizeof ALIYUN_CODES[0], code, OUTCOME_FAILOVER),
                   code, message ? message : "");
        if (strcmp(code, "isv.BUSINESS_LIMIT_CONTROL") == 0)
            out->retry_after_ms = limit_wait_ms(message);
    }
    json_decref(root);
}

static CURL *aliyun_prepare(provider_t *self, const message_t *m, int64_t now_s, void **call, outcome_t *out)
{
    aliyun_t *a = self->impl;
    *call = NULL;
    if (!m->tmpl || !m->tmpl->aliyun_code || !*m->tmpl->aliyun_code) {
        /* Tencent may have this template */
        ph_outcome(out, OUTCOME_FAILOVER, "no template", "the template has no Aliyun TemplateCode");
        return NULL;
    }
    if (!m->address || !*m->address) {
        ph_outcome(out, OUTCOME_PERMANENT, "no number", "the message has no phone number");
        return NULL;
    }
    char why[160];
    char *param = NULL;
    if (m->tmpl->n_sms_params > 0 && !(param = sms_param_object(m, why, sizeof why))) {
        ph_outcome(out, OUTCOME_PERMANENT, "bad params", why);
        return NULL;
    }
    char ts[TIMEFMT_LEN], nonce[UUID_STR_LEN];
    timefmt_format(now_s * 1000000, 0, ts);
    uuid_v4(nonce);
    aliyun_send_t s = {
        .access_key_id = a->key_id,
        .access_key_secret = a->secret,
        .format = "JSON",
        .phone = m->address,
        .sign_name = a->sign_name,
        .template_code = m->tmpl->aliyun_code,
        .template_param = param,
        .out_id = m->id,
        .timestamp = ts,
        .nonce = nonce,
    };
    char *form = aliyun_signed_query("POST", &s);
    free(param);
    struct curl_slist *headers = curl_slist_append(NULL, "Content-Type: application/x-www-form-urlencoded");
    if (!headers)
        log_oom();
    CURL *e = ph_easy(a->endpoint, headers, form, strlen(form), a->timeout_ms);
    free(form);
    *call = headers; /* all a call holds (ph_headers_cancel) */
    return e;
}

static void aliyun_finish(provider_t *self, void *call, CURLcode rc, long http_status, const char *body, size_t len,
                          outcome_t *out)
{
    memset(out, 0, sizeof *out);
    if (!ph_transport_failed(rc, http_status, out))
        aliyun_classify(http_status, body, len, out);
    ph_headers_cancel(self, call);
}

static void aliyun_destroy(provider_t *self)
{
    aliyun_t *a = self->impl;
    free(a->endpoint);
    free(a->key_id);
    free(a->secret);
    free(a->sign_name);
    free(a);
    free(self);
}

static const provider_ops_t ALIYUN_OPS = {
    .name = "aliyun",
    .channel = "sms",
    .prepare = aliyun_prepare,
    .finish = aliyun_finish,
    .cancel = ph_headers_cancel,
    .destroy = aliyun_destroy,
};

provider_t *provider_aliyun_new(const cfg_t *cfg, char *err, size_t errsz)
{
    if (errsz)
        err[0] = '\0';
    const char *id = ph_cfg(cfg_str(cfg, "aliyun_access_key_id"));
    const char *secret = ph_cfg(cfg_str(cfg, "aliyun_access_key_secret"));
    const char *sign = ph_cfg(cfg_str(cfg, "aliyun_sms_sign_name"));
    const char *endpoint = ph_cfg(cfg_str(cfg, "aliyun_sms_endpoint"));
    if (!*id)
        return NULL;
    const char *missing = !*secret ? "aliyun_access_key_secret" : !*sign ? "aliyun_sms_sign_name"
                        : !*endpoint ? "aliyun_sms_endpoint" : NULL;
    if (missing) {
        snprintf(err, errsz, "aliyun_access_key_id is set but %s is empty", missing);
        return NULL;
    }
    aliyun_t *a = calloc(1, sizeof *a);
    provider_t *p = calloc(1, sizeof *p);
    if (!a || !p)
        log_oom();
    a->endpoint = ph_strdup(endpoint);
    a->key_id = ph_strdup(id);
    a->secret = ph_strdup(secret);
    a->sign_name = ph_strdup(sign);
    a->timeout_ms = cfg_int(cfg, "provider_timeout_ms");
    p->ops = &ALIYUN_OPS;
    p->impl = a;
    return p;
}
