#include "provider_wechat.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "provider_http.h"
#include "provider_token.h"

typedef struct {
    bool fetch;                 /* a token fetch, else a template send */
    struct curl_slist *headers;
    char *token;                /* the token the send used */
    int64_t now_s;
} wx_call_t;

typedef struct {
    char *base, *appid, *secret;
    long timeout_ms;
    ptoken_t *tok;
    char *refused; /* the token of the last TOKEN outcome, for token_refused */
} wechat_t;

static const ph_errcode_t WECHAT_CODES[] = {
    {-1, OUTCOME_RETRY},          /* system busy */
    {45009, OUTCOME_RETRY},       /* daily quota: the next day */
    {45011, OUTCOME_RETRY},       /* minute quota: the next minute */
    {40001, OUTCOME_TOKEN},       /* not the latest token */
    {40014, OUTCOME_TOKEN},       /* invalid access_token */
    {42001, OUTCOME_TOKEN},       /* expired */
    {41001, OUTCOME_TOKEN},       /* missing */
    {43004, OUTCOME_UNDELIVERABLE}, /* the user does not follow the account */
    {43101, OUTCOME_UNDELIVERABLE}, /* the user refuses the messages */
    {40003, OUTCOME_PERMANENT},   /* invalid openid */
    {40036, OUTCOME_PERMANENT},   /* invalid template_id size */
    {40037, OUTCOME_PERMANENT},   /* invalid template_id */
    {47001, OUTCOME_PERMANENT},   /* data format */
    {47003, OUTCOME_PERMANENT},   /* a field's value refused (thing > 20 characters, empty) */
    {44002, OUTCOME_PERMANENT},   /* empty post data */
    {40013, OUTCOME_FAILOVER},    /* invalid appid: our account, not the message */
    {40164, OUTCOME_FAILOVER},    /* our address is not on the account's whitelist */
    {48001, OUTCOME_FAILOVER},    /* the account may not use the API */
};

static void call_free(wx_call_t *c)
{
    if (!c)
        return;
    curl_slist_free_all(c->headers);
    free(c->token);
    free(c);
}

char *wechat_template_body(const message_t *m, char *why, size_t whysz)
{
    if (!m->address || !*m->address) {
        snprintf(why, whysz, "no openid");
        return NULL;
    }
    if (!m->tmpl || !m->tmpl->wechat_template_id || !*m->tmpl->wechat_template_id) {
        snprintf(why, whysz, "template %s has no WeChat template id", m->tmpl && m->tmpl->key ? m->tmpl->key : "?");
        return NULL;
    }
    if (!json_is_object(m->wechat_data)) {
        snprintf(why, whysz, "no WeChat data");
        return NULL;
    }
    json_t *o = json_pack("{s:s, s:s, s:s, s:O}", "touser", m->address, "template_id", m->tmpl->wechat_template_id,
                          "client_msg_id", m->id, "data", m->wechat_data);
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

/* Milliseconds to the next midnight in China (UTC+8): WeChat's daily quota opens again then. */
static int ms_to_china_midnight(int64_t now_s)
{
    int64_t local = now_s + 8 * 3600;
    int64_t into = local % 86400;
    if (into < 0)
        into += 86400;
    return (int)(86400 - into) * 1000;
}

static CURL *wx_prepare(provider_t *self, const message_t *m, int64_t now_s, void **call, outcome_t *out)
{
    wechat_t *w = self->impl;
    *call = NULL;
    const char *token = ptoken_value(w->tok);
    if (!token) {
        ph_outcome(out, OUTCOME_TOKEN, "no token", "no access token yet");
        return NULL;
    }
    char why[160];
    char *body = wechat_template_body(m, why, sizeof why);
    if (!body) {
        /* the message cannot be a template message: SMS may still reach the person */
        ph_outcome(out, OUTCOME_UNDELIVERABLE, "not sendable", why);
        return NULL;
    }
    wx_call_t *c = calloc(1, sizeof *c);
    if (!c)
        log_oom();
    c->token = ph_strdup(token);
    c->now_s = now_s;
    c->headers = curl_slist_append(NULL, "Content-Type: application/json; charset=utf-8");
    if (!c->headers)
        log_oom();
    char *url = ph_url(w->base, "/cgi-bin/message/template/send", "access_token", token, (char *)NULL);
    CURL *e = ph_easy(url, c->headers, body, strlen(body), w->timeout_ms);
    free(url);
    free(body);
    *call = c;
    return e;
}

static void wx_finish(provider_t *self, void *call, CURLcode rc, long http_status, const char *body, size_t len,
                      outcome_t *out)
{
    wechat_t *w = self->impl;
    wx_call_t *c = call;
    memset(out, 0, sizeof *out);
    if (!ph_transport_failed(rc, http_status, out)) {
        json_t *root = ph_wx_answer(body, len, http_status, WECHAT_CODES, sizeof WECHAT_CODES / sizeof WECHAT_CODES[0],
                                    OUTCOME_RETRY, out);
        if (root && out->kind == OUTCOME_SENT) {
            json_t *id = json_object_get(root, "msgid");
            if (json_is_integer(id))
                snprintf(out->provider_msgid, sizeof out->provider_msgid, "%lld", (long long)json_integer_value(id));
        } else if (out->kind == OUTCOME_TOKEN) {
            free(w->refused);
            w->refused = ph_strdup(c->token);
        } else if (strcmp(out->code, "45011") == 0) {
            out->retry_after_ms = ph_ms_to_next_minute(c->now_s);
        } else if (strcmp(out->code, "45009") == 0) {
            out->retry_after_ms = ms_to_china_midnight(c->now_s);
        }
        json_decref(root);
    }
    call_free(c);
}

static void wx_cancel(provider_t *self, void *call)
{
    wechat_t *w = self->impl;
    wx_call_t *c = call;
    if (c && c->fetch)
        ptoken_fetch_failed(w->tok, NULL);
    call_free(c);
}

static bool wx_ready(provider_t *self, PGconn *db, int64_t now_s, CURL **fetch, void **call)
{
    (void)now_s; /* tokens live by the database's clock (provider_token.h) */
    wechat_t *w = self->impl;
    *fetch = NULL;
    *call = NULL;
    switch (ptoken_get(w->tok, db)) {
    case PT_READY:
        return true;
    case PT_WAIT:
        return false;
    case PT_FETCH:
        break;
    }
    wx_call_t *c = calloc(1, sizeof *c);
    if (!c)
        log_oom();
    c->fetch = true;
    char *url = ph_url(w->base, "/cgi-bin/token", "grant_type", "client_credential", "appid", w->appid, "secret",
                       w->secret, (char *)NULL);
    *fetch = ph_easy(url, NULL, NULL, 0, w->timeout_ms);
    free(url);
    *call = c;
    return false;
}

static void wx_fetched(provider_t *self, PGconn *db, void *call, CURLcode rc, long http_status, const char *body,
                       size_t len)
{
    wechat_t *w = self->impl;
    char who[160];
    snprintf(who, sizeof who, "wechat %s", w->appid);
    ptoken_take_answer(w->tok, db, (int)rc, http_status, body, len, who);
    call_free(call);
}

static void wx_token_refused(provider_t *self, PGconn *db)
{
    (void)db;
    wechat_t *w = self->impl;
    ptoken_refused(w->tok, w->refused);
    free(w->refused);
    w->refused = NULL;
}

static void wx_destroy(provider_t *self)
{
    wechat_t *w = self->impl;
    ptoken_destroy(&w->tok);
    free(w->base);
    free(w->appid);
    free(w->secret);
    free(w->refused);
    free(w);
    free(self);
}

static const provider_ops_t WECHAT_OPS = {
    .name = "wechat",
    .channel = "wechat",
    .prepare = wx_prepare,
    .finish = wx_finish,
    .cancel = wx_cancel,
    .ready = wx_ready,
    .fetched = wx_fetched,
    .token_refused = wx_token_refused,
    .destroy = wx_destroy,
};

provider_t *provider_wechat_new(const cfg_t *cfg, char *err, size_t errsz)
{
    if (errsz)
        err[0] = '\0';
    const char *appid = ph_cfg(cfg_str(cfg, "wechat_appid"));
    const char *secret = ph_cfg(cfg_str(cfg, "wechat_secret"));
    const char *base = ph_cfg(cfg_str(cfg, "wechat_api_base"));
    if (!*appid)
        return NULL;
    if (!*secret || !*base) {
        snprintf(err, errsz, "wechat_appid is set but wechat_%s is empty", *secret ? "api_base" : "secret");
        return NULL;
    }
    wechat_t *w = calloc(1, sizeof *w);
    provider_t *p = calloc(1, sizeof *p);
    if (!w || !p)
        log_oom();
    w->base = ph_strdup(base);
    w->appid = ph_strdup(appid);
    w->secret = ph_strdup(secret);
    w->timeout_ms = cfg_int(cfg, "provider_timeout_ms");
    char app[160];
    snprintf(app, sizeof app, "wechat:%s", appid);
    /* a claim outlives the fetch it covers (bounded by the timeout), so a live one is not taken over */
    w->tok = ptoken_new(app, 2 * w->timeout_ms + 1000);
    p->ops = &WECHAT_OPS;
    p->impl = w;
    return p;
}
