#include "provider_wecom_robot.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "provider_http.h"

typedef struct {
    struct curl_slist *headers;
    int64_t now_s;
} robot_call_t;

typedef struct {
    char *base;
    long timeout_ms;
} robot_t;

static const ph_errcode_t ROBOT_CODES[] = {
    {-1, OUTCOME_RETRY},        /* system busy */
    {45009, OUTCOME_RETRY},     /* 20 a minute per robot: the next minute */
    {45011, OUTCOME_RETRY},
    {93000, OUTCOME_PERMANENT}, /* invalid webhook url: the key names no robot */
    {40058, OUTCOME_PERMANENT}, /* content too long or a bad parameter: the same again fails again */
    {40008, OUTCOME_PERMANENT}, /* invalid message type */
};

char *wecom_robot_body(const char *text)
{
    char *content = ph_shorten(text ? text : "", WECOM_TEXT_MAX);
    json_t *o = json_pack("{s:s, s:{s:s}}", "msgtype", "text", "text", "content", content);
    free(content);
    if (!o)
        return NULL;
    char *body = json_dumps(o, JSON_COMPACT);
    json_decref(o);
    if (!body)
        log_oom();
    return body;
}

static CURL *robot_prepare(provider_t *self, const message_t *m, int64_t now_s, void **call, outcome_t *out)
{
    robot_t *r = self->impl;
    *call = NULL;
    if (!m->address || !*m->address) {
        ph_outcome(out, OUTCOME_PERMANENT, "no key", "the message names no robot key");
        return NULL;
    }
    char *body = wecom_robot_body(m->body);
    if (!body) {
        ph_outcome(out, OUTCOME_PERMANENT, "not sendable", "the body is not UTF-8");
        return NULL;
    }
    robot_call_t *c = calloc(1, sizeof *c);
    if (!c)
        log_oom();
    c->now_s = now_s;
    c->headers = curl_slist_append(NULL, "Content-Type: application/json; charset=utf-8");
    if (!c->headers)
        log_oom();
    char *url = ph_url(r->base, "/cgi-bin/webhook/send", "key", m->address, (char *)NULL);
    CURL *e = ph_easy(url, c->headers, body, strlen(body), r->timeout_ms);
    free(url);
    free(body);
    *call = c;
    return e;
}

static void robot_call_free(robot_call_t *c)
{
    if (!c)
        return;
    curl_slist_free_all(c->headers);
    free(c);
}

static void robot_finish(provider_t *self, void *call, CURLcode rc, long http_status, const char *body, size_t len,
                         outcome_t *out)
{
    (void)self;
    robot_call_t *c = call;
    memset(out, 0, sizeof *out);
    if (!ph_transport_failed(rc, http_status, out)) {
        json_t *root = ph_wx_answer(body, len, http_status, ROBOT_CODES, sizeof ROBOT_CODES / sizeof ROBOT_CODES[0],
                                    OUTCOME_RETRY, out);
        if (root && (strcmp(out->code, "45009") == 0 || strcmp(out->code, "45011") == 0))
            out->retry_after_ms = ph_ms_to_next_minute(c->now_s);
        json_decref(root);
    }
    robot_call_free(c);
}

static void robot_cancel(provider_t *self, void *call)
{
    (void)self;
    robot_call_free(call);
}

static void robot_destroy(provider_t *self)
{
    robot_t *r = self->impl;
    free(r->base);
    free(r);
    free(self);
}

static const provider_ops_t ROBOT_OPS = {
    .name = "wecom_robot",
    .channel = "wecom_robot",
    .prepare = robot_prepare,
    .finish = robot_finish,
    .cancel = robot_cancel,
    .destroy = robot_destroy,
};

/* The robots are the county's WeCom's: on with wecom_corp_id, like the app. A robot needs no
 * secret (its key is the message's address, data kept with the unit), so without this a notify
 * with no credentials at all, `make run`'s, would post the demo county's duty-group messages to
 * the real qyapi.weixin.qq.com instead of the sandbox. */
provider_t *provider_wecom_robot_new(const cfg_t *cfg, char *err, size_t errsz)
{
    if (errsz)
        err[0] = '\0';
    if (!*ph_cfg(cfg_str(cfg, "wecom_corp_id")))
        return NULL;
    const char *base = ph_cfg(cfg_str(cfg, "wecom_api_base"));
    if (!*base) {
        snprintf(err, errsz, "wecom_api_base is empty");
        return NULL;
    }
    robot_t *r = calloc(1, sizeof *r);
    provider_t *p = calloc(1, sizeof *p);
    if (!r || !p)
        log_oom();
    r->base = ph_strdup(base);
    r->timeout_ms = cfg_int(cfg, "provider_timeout_ms");
    p->ops = &ROBOT_OPS;
    p->impl = r;
    return p;
}
