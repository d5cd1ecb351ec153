#include "provider_wecom_app.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "log.h"
#include "provider_http.h"
#include "provider_token.h"
#include "provider_wecom_robot.h"

typedef struct {
    bool fetch;
    struct curl_slist *headers;
    char *token;
    char *userid;
    int64_t now_s;
} app_call_t;

typedef struct {
    char *base, *corp_id, *secret;
    long agent_id;
    long timeout_ms;
    ptoken_t *tok;
    char *refused;
} wecom_app_t;

static const ph_errcode_t APP_CODES[] = {
    {-1, OUTCOME_RETRY},
    {45009, OUTCOME_RETRY},
    {45011, OUTCOME_RETRY},
    {45033, OUTCOME_RETRY},      /* too many concurrent calls */
    {40001, OUTCOME_TOKEN},
    {40014, OUTCOME_TOKEN},
    {42001, OUTCOME_TOKEN},
    {41001, OUTCOME_TOKEN},
    {81013, OUTCOME_PERMANENT},  /* user, party and tag all invalid */
    {40003, OUTCOME_PERMANENT},  /* invalid userid */
    {40058, OUTCOME_PERMANENT},  /* a bad parameter (length) */
    {60020, OUTCOME_FAILOVER},   /* our address is not allowed for this app */
    {40013, OUTCOME_FAILOVER},   /* invalid corpid */
    {40091, OUTCOME_FAILOVER},   /* invalid secret */
    {48002, OUTCOME_FAILOVER},   /* the API is forbidden to this app */
    {40056, OUTCOME_FAILOVER},   /* invalid agentid */
};

static void call_free(app_call_t *c)
{
    if (!c)
        return;
    curl_slist_free_all(c->headers);
    free(c->token);
    free(c->userid);
    free(c);
}

char *wecom_app_body(const char *userid, long agentid, const char *text)
{
    char *content = ph_shorten(text ? text : "", WECOM_TEXT_MAX);
    json_t *o = json_pack("{s:s, s:s, s:I, s:{s:s}, s:i, s:i, s:i}", "touser", userid, "msgtype", "text", "agentid",
                          (json_int_t)agentid, "text", "content", content, "safe", 0, "enable_duplicate_check", 1,
                          "duplicate_check_interval", 1800);
    free(content);
    if (!o)
        return NULL;
    char *body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!body)
        log_oom();
    return body;
}

bool wecom_invalid_user(const char *invaliduser, const char *userid)
{
    if (!invaliduser || !userid || !*userid)
        return false;
    size_t ulen = strlen(userid);
    const char *p = invaliduser;
    while (*p) {
        const char *bar = strchr(p, '|');
        size_t n = bar ? (size_t)(bar - p) : strlen(p);
        if (n == ulen && strncasecmp(p, userid, n) == 0)
            return true;
        if (!bar)
            break;
        p = bar + 1;
    }
    return false;
}

static CURL *app_prepare(provider_t *self, const message_t *m, int64_t now_s, void **call, outcome_t *out)
{
    wecom_app_t *a = self->impl;
    *call = NULL;
    const char *token = ptoken_value(a->tok);
    if (!token) {
        ph_outcome(out, OUTCOME_TOKEN, "no token", "no access token yet");
        return NULL;
    }
    if (!m->address || !*m->address) {
        ph_outcome(out, OUTCOME_PERMANENT, "no userid", "the message names no WeCom userid");
        return NULL;
    }
    char *body = wecom_app_body(m->address, a->agent_id, m->body);
    if (!body) {
        ph_outcome(out, OUTCOME_PERMANENT, "not sendable", "the message is not UTF-8");
        return NULL;
    }
    app_call_t *c = calloc(1, sizeof *c);
    if (!c)
        log_oom();
    c->token = ph_strdup(token);
    c->userid = ph_strdup(m->address);
    c->now_s = now_s;
    c->headers = curl_slist_append(NULL, "Content-Type: application/json; charset=utf-8");
    if (!c->headers)
        log_oom();
    char *url = ph_url(a->base, "/cgi-bin/message/send", "access_token", token, (char *)NULL);
    CURL *e = ph_easy(url, c->headers, body, strlen(body), a->timeout_ms);
    free(url);
    free(body);
    *call = c;
    return e;
}

static void app_finish(provider_t *self, void *call, CURLcode rc, long http_status, const char *body, size_t len,
                       outcome_t *out)
{
    wecom_app_t *a = self->impl;
    app_call_t *c = call;
    memset(out, 0, sizeof *out);
    if (!ph_transport_failed(rc, http_status, out)) {
        json_t *root =
            ph_wx_answer(body, len, http_status, APP_CODES, sizeof APP_CODES / sizeof APP_CODES[0], OUTCOME_RETRY, out);
        if (root && out->kind == OUTCOME_SENT) {
            const char *invalid = json_string_value(json_object_get(root, "invaliduser"));
            json_t *id = json_object_get(root, "msgid");
            if (wecom_invalid_user(invalid, c->userid))
                ph_outcome(out, OUTCOME_PERMANENT, "invaliduser", "WeCom does not know the userid");
            else if (json_is_string(id))
                snprintf(out->provider_msgid, sizeof out->provider_msgid, "%s", json_string_value(id));
            else if (json_is_integer(id))
                snprintf(out->provider_msgid, sizeof out->provider_msgid, "%lld", (long long)json_integer_value(id));
        } else if (out->kind == OUTCOME_TOKEN) {
            free(a->refused);
            a->refused = ph_strdup(c->token);
        } else if (strcmp(out->code, "45009") == 0 || strcmp(out->code, "45011") == 0) {
            out->retry_after_ms = ph_ms_to_next_minute(c->now_s);
        }
        json_decref(root);
    }
    call_free(c);
}

static void app_cancel(provider_t *self, void *call)
{
    wecom_app_t *a = self->impl;
    app_call_t *c = call;
    if (c && c->fetch)
        ptoken_fetch_failed(a->tok, NULL);
    call_free(c);
}

static bool app_ready(provider_t *self, PGconn *db, int64_t now_s, CURL **fetch, void **call)
{
    (void)now_s; /* tokens live by the database's clock (provider_token.h) */
    wecom_app_t *a = self->impl;
    *fetch = NULL;
    *call = NULL;
    switch (ptoken_get(a->tok, db)) {
    case PT_READY:
        return true;
    case PT_WAIT:
        return false;
    case PT_FETCH:
        break;
    }
    app_call_t *c = calloc(1, sizeof *c);
    if (!c)
        log_oom();
    c->fetch = true;
    char *url = ph_url(a->base, "/cgi-bin/gettoken", "corpid", a->corp_id, "corpsecret", a->secret, (char *)NULL);
    *fetch = ph_easy(url, NULL, NULL, 0, a->timeout_ms);
    free(url);
    *call = c;
    return false;
}

static void app_fetched(provider_t *self, PGconn *db, void *call, CURLcode rc, long http_status, const char *body,
                        size_t len)
{
    wecom_app_t *a = self->impl;
    char who[200];
    snprintf(who, sizeof who, "wecom app of corp %s agent %ld", a->corp_id, a->agent_id);
    ptoken_take_answer(a->tok, db, (int)rc, http_status, body, len, who);
    call_free(call);
}

static void app_token_refused(provider_t *self, PGconn *db)
{
    (void)db;
    wecom_app_t *a = self->impl;
    ptoken_refused(a->tok, a->refused);
    free(a->refused);
    a->refused = NULL;
}

static void app_destroy(provider_t *self)
{
    wecom_app_t *a = self->impl;
    ptoken_destroy(&a->tok);
    free(a->base);
    free(a->corp_id);
    free(a->secret);
    free(a->refused);
    free(a);
    free(self);
}

static const provider_ops_t APP_OPS = {
    .name = "wecom_app",
    .channel = "wecom_app",
    .prepare = app_prepare,
    .finish = app_finish,
    .cancel = app_cancel,
    .ready = app_ready,
    .fetched = app_fetched,
    .token_refused = app_token_refused,
    .destroy = app_destroy,
};

provider_t *provider_wecom_app_new(const cfg_t *cfg, char *err, size_t errsz)
{
    if (errsz)
        err[0] = '\0';
    const char *corp = ph_cfg(cfg_str(cfg, "wecom_corp_id"));
    const char *secret = ph_cfg(cfg_str(cfg, "wecom_corp_secret"));
    const char *agent = ph_cfg(cfg_str(cfg, "wecom_agent_id"));
    const char *base = ph_cfg(cfg_str(cfg, "wecom_api_base"));
    if (!*corp)
        return NULL;
    if (!*secret || !*base) {
        snprintf(err, errsz, "wecom_corp_id is set but wecom_%s is empty", *secret ? "api_base" : "corp_secret");
        return NULL;
    }
    char *end = NULL;
    errno = 0;
    long agent_id = strtol(agent, &end, 10);
    if (!*agent || *end || errno || agent_id <= 0) {
        snprintf(err, errsz, "wecom_agent_id must be the app's AgentId, a positive number (is \"%.32s\")", agent);
        return NULL;
    }
    wecom_app_t *a = calloc(1, sizeof *a);
    provider_t *p = calloc(1, sizeof *p);
    if (!a || !p)
        log_oom();
    a->base = ph_strdup(base);
    a->corp_id = ph_strdup(corp);
    a->secret = ph_strdup(secret);
    a->agent_id = agent_id;
    a->timeout_ms = cfg_int(cfg, "provider_timeout_ms");
    char app[160];
    snprintf(app, sizeof app, "wecom:%s:%ld", corp, agent_id);
    a->tok = ptoken_new(app, 2 * a->timeout_ms + 1000);
    p->ops = &APP_OPS;
    p->impl = a;
    return p;
}
