#include "provider_tencent.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "provider_http.h"
#include "provider_sms.h"
#include "provsign.h"

#define TC_CONTENT_TYPE "application/json; charset=utf-8"

typedef struct {
    char *endpoint, *host, *secret_id, *secret_key, *app_id, *sign_name;
    long timeout_ms;
} tencent_t;

static const ph_code_t TENCENT_CODES[] = {
    {"InternalError*", OUTCOME_RETRY},            /* InternalError.Timeout and the like */
    {"RequestLimitExceeded*", OUTCOME_RETRY},
    {"LimitExceeded*", OUTCOME_RETRY},            /* PhoneNumberThirtySecondLimit, …DailyLimit, AppDailyLimit */
    {"ResourceUnavailable*", OUTCOME_RETRY},
    {"AuthFailure*", OUTCOME_FAILOVER},           /* SecretIdNotFound, SignatureFailure, SignatureExpire */
    {"UnauthorizedOperation*", OUTCOME_FAILOVER},
    {"FailedOperation.InsufficientBalanceInSmsPackage", OUTCOME_FAILOVER},
    {"FailedOperation.SignatureIncorrectOrUnapproved", OUTCOME_FAILOVER},
    {"FailedOperation.TemplateIncorrectOrUnapproved", OUTCOME_FAILOVER},
    {"FailedOperation.MissingSignature*", OUTCOME_FAILOVER},
    {"FailedOperation.MissingTemplate*", OUTCOME_FAILOVER},
    {"InvalidParameterValue.IncorrectPhoneNumber", OUTCOME_PERMANENT},
    {"FailedOperation.PhoneNumberInBlacklist", OUTCOME_PERMANENT}, /* unsubscribed or do-not-disturb */
    {"FailedOperation.PhoneNumberParseFail", OUTCOME_PERMANENT},
    {"FailedOperation.ContainSensitiveWord", OUTCOME_PERMANENT},
    {"MissingParameter.EmptyPhoneNumberSet", OUTCOME_PERMANENT},
    {"InvalidParameterValue.TemplateParameter*", OUTCOME_PERMANENT},
    {"InvalidParameterValue.ContentLengthLimit", OUTCOME_PERMANENT},
};

char *tencent_body(const message_t *m, const char *app_id, const char *sign_name, char *why, size_t whysz)
{
    json_t *params = sms_param_array(m, why, whysz);
    if (!params)
        return NULL;
    buf_t phone = BUF_INIT;
    /* a bare mainland number gets +86; one written with its country code is kept */
    if (m->address[0] != '+')
        buf_puts(&phone, "+86");
    buf_puts(&phone, m->address);
    json_t *o = json_pack("{s:[s], s:s, s:s, s:s, s:o, s:s}", "PhoneNumberSet", buf_str(&phone), "SmsSdkAppId", app_id,
                          "SignName", sign_name, "TemplateId", m->tmpl->tencent_id, "TemplateParamSet", params,
                          "SessionContext", m->id);
    buf_free(&phone);
    if (!o) {
        snprintf(why, whysz, "the message is not UTF-8");
        return NULL;
    }
    char *body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!body)
        log_oom();
    return body;
}

static void add(struct curl_slist **l, const char *line)
{
    struct curl_slist *n = curl_slist_append(*l, line);
    if (!n)
        log_oom();
    *l = n;
}

struct curl_slist *tencent_headers(const char *secret_id, const char *secret_key, const char *service,
                                   const char *host, const char *payload, size_t len, int64_t ts)
{
    struct curl_slist *h = NULL;
    char line[256];
    add(&h, "Content-Type: " TC_CONTENT_TYPE);
    snprintf(line, sizeof line, "Host: %s", host);
    add(&h, line);
    add(&h, "X-TC-Action: SendSms");
    add(&h, "X-TC-Version: 2021-01-11");
    snprintf(line, sizeof line, "X-TC-Timestamp: %lld", (long long)ts);
    add(&h, line);
    add(&h, "X-TC-Region: ap-guangzhou");
    char *auth = ps_tc3_authorization(secret_id, secret_key, service, host, TC_CONTENT_TYPE, payload, len, ts);
    if (!auth) { /* a time with no four-digit UTC year */
        curl_slist_free_all(h);
        return NULL;
    }
    buf_t b = BUF_INIT;
    buf_printf(&b, "Authorization: %s", auth);
    add(&h, buf_str(&b));
    buf_free(&b);
    free(auth);
    return h;
}

static int limit_wait_ms(const char *code)
{
    if (strcmp(code, "LimitExceeded.PhoneNumberThirtySecondLimit") == 0)
        return 30 * 1000;
    if (strncmp(code, "LimitExceeded.PhoneNumber", 25) == 0)
        return 60 * 60 * 1000; /* the hour's or the day's count: look again in an hour */
    return 0;
}

static void set_code(outcome_t *out, const char *code, const char *message)
{
    ph_outcome(out, ph_kind_of(TENCENT_CODES, sizeof TENCENT_CODES / sizeof TENCENT_CODES[0], code, OUTCOME_FAILOVER),
               code, message ? message : "");
    if (out->kind == OUTCOME_RETRY)
        out->retry_after_ms = limit_wait_ms(code);
}

void tencent_classify(long http_status, const char *body, size_t len, outcome_t *out)
{
    json_t *root = ph_json_object(body, len, http_status, out);
    if (!root)
        return;
    json_t *resp = json_object_get(root, "Response");
    json_t *error = json_object_get(resp, "Error");
    json_t *set = json_object_get(resp, "SendStatusSet");
    json_t *first = json_array_get(set, 0);
    const char *code;
    if (json_is_object(error) && (code = json_string_value(json_object_get(error, "Code"))) != NULL) {
        set_code(out, code, json_string_value(json_object_get(error, "Message")));
    } else if (json_is_object(first) && (code = json_string_value(json_object_get(first, "Code"))) != NULL) {
        /* one number per call: its own status says what happened, whatever the HTTP answer was */
        if (strcmp(code, "Ok") == 0) {
            ph_outcome(out, OUTCOME_SENT, code, json_string_value(json_object_get(first, "Message")));
            const char *serial = json_string_value(json_object_get(first, "SerialNo"));
            if (serial)
                snprintf(out->provider_msgid, sizeof out->provider_msgid, "%s", serial);
        } else {
            set_code(out, code, json_string_value(json_object_get(first, "Message")));
        }
    } else {
        char c[32];
        snprintf(c, sizeof c, "http %ld", http_status);
        ph_outcome(out, OUTCOME_RETRY, http_status == 200 ? "bad answer" : c, "no Error and no SendStatusSet");
    }
    json_decref(root);
}

static CURL *tencent_prepare(provider_t *self, const message_t *m, int64_t now_s, void **call, outcome_t *out)
{
    tencent_t *t = self->impl;
    *call = NULL;
    if (!m->tmpl || !m->tmpl->tencent_id || !*m->tmpl->tencent_id) {
        ph_outcome(out, OUTCOME_FAILOVER, "no template", "the template has no Tencent TemplateId");
        return NULL;
    }
    if (!m->address || !*m->address) {
        ph_outcome(out, OUTCOME_PERMANENT, "no number", "the message has no phone number");
        return NULL;
    }
    char why[160];
    char *body = tencent_body(m, t->app_id, t->sign_name, why, sizeof why);
    if (!body) {
        ph_outcome(out, OUTCOME_PERMANENT, "bad params", why);
        return NULL;
    }
    struct curl_slist *headers = tencent_headers(t->secret_id, t->secret_key, "sms", t->host, body, strlen(body), now_s);
    if (!headers) {
        free(body);
        ph_outcome(out, OUTCOME_RETRY, "bad clock", "the clock gives no date to sign with");
        return NULL;
    }
    CURL *e = ph_easy(t->endpoint, headers, body, strlen(body), t->timeout_ms);
    free(body);
    *call = headers; /* all a call holds (ph_headers_cancel) */
    return e;
}

static void tencent_finish(provider_t *self, void *call, CURLcode rc, long http_status, const char *body, size_t len,
                           outcome_t *out)
{
    memset(out, 0, sizeof *out);
    if (!ph_transport_failed(rc, http_status, out))
        tencent_classify(http_status, body, len, out);
    ph_headers_cancel(self, call);
}

static void tencent_destroy(provider_t *self)
{
    tencent_t *t = self->impl;
    free(t->endpoint);
    free(t->host);
    free(t->secret_id);
    free(t->secret_key);
    free(t->app_id);
    free(t->sign_name);
    free(t);
    free(self);
}

static const provider_ops_t TENCENT_OPS = {
    .name = "tencent",
    .channel = "sms",
    .prepare = tencent_prepare,
    .finish = tencent_finish,
    .cancel = ph_headers_cancel,
    .destroy = tencent_destroy,
};

char *tencent_host(const char *url)
{
    CURLU *u = curl_url();
    if (!u)
        log_oom();
    char *host = NULL, *port = NULL, *r = NULL;
    if (curl_url_set(u, CURLUPART_URL, url, 0) == CURLUE_OK && curl_url_get(u, CURLUPART_HOST, &host, 0) == CURLUE_OK) {
        buf_t b = BUF_INIT;
        buf_puts(&b, host);
        if (curl_url_get(u, CURLUPART_PORT, &port, 0) == CURLUE_OK)
            buf_printf(&b, ":%s", port);
        r = buf_detach(&b);
    }
    curl_free(host);
    curl_free(port);
    curl_url_cleanup(u);
    return r;
}

provider_t *provider_tencent_new(const cfg_t *cfg, char *err, size_t errsz)
{
    if (errsz)
        err[0] = '\0';
    const char *id = ph_cfg(cfg_str(cfg, "tencent_secret_id"));
    const char *key = ph_cfg(cfg_str(cfg, "tencent_secret_key"));
    const char *app = ph_cfg(cfg_str(cfg, "tencent_sms_app_id"));
    const char *sign = ph_cfg(cfg_str(cfg, "tencent_sms_sign_name"));
    const char *endpoint = ph_cfg(cfg_str(cfg, "tencent_sms_endpoint"));
    if (!*id)
        return NULL;
    const char *missing = !*key ? "tencent_secret_key" : !*app ? "tencent_sms_app_id" : !*sign ? "tencent_sms_sign_name"
                        : !*endpoint ? "tencent_sms_endpoint" : NULL;
    if (missing) {
        snprintf(err, errsz, "tencent_secret_id is set but %s is empty", missing);
        return NULL;
    }
    char *host = tencent_host(endpoint);
    if (!host) {
        snprintf(err, errsz, "tencent_sms_endpoint is not a URL");
        return NULL;
    }
    tencent_t *t = calloc(1, sizeof *t);
    provider_t *p = calloc(1, sizeof *p);
    if (!t || !p)
        log_oom();
    t->endpoint = ph_strdup(endpoint);
    t->host = host;
    t->secret_id = ph_strdup(id);
    t->secret_key = ph_strdup(key);
    t->app_id = ph_strdup(app);
    t->sign_name = ph_strdup(sign);
    t->timeout_ms = cfg_int(cfg, "provider_timeout_ms");
    p->ops = &TENCENT_OPS;
    p->impl = t;
    return p;
}
