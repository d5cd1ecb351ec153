/* The sandbox provider: serves every channel whose real provider is off (no credentials), so that
 * `make run` on a newcomer's machine records what would be sent (state 'sent', provider
 * 'sandbox', the body in notify.message and a masked log line) and calls nobody.
 *
 * With `sandbox_url` set it posts each message as JSON to that URL instead and counts a 2xx as
 * sent, a 5xx or a transport failure (a timeout, provider_timeout_ms) as a retry and any other
 * status as permanent: a local sink a developer can watch, and what the tests use to hold a
 * message in flight (a listener that never answers). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "provider.h"

typedef struct {
    char *url;
    long timeout_ms;
} sandbox_t;

typedef struct {
    struct curl_slist *headers;
    char *body;
} sandbox_call_t;

static void masked_address(const message_t *m, char *out, size_t outsz)
{
    if (strcmp(m->channel, "sms") == 0)
        log_mask_phone(m->address, out, outsz);
    else
        snprintf(out, outsz, "%.4s****", m->address);
}

static CURL *sandbox_prepare(provider_t *self, const message_t *m, int64_t now_s, void **call, outcome_t *out)
{
    (void)now_s;
    sandbox_t *sb = self->impl;
    char addr[64];
    masked_address(m, addr, sizeof addr);
    if (!sb->url) {
        /* a secret template's body (a voting credential) is the recipient's alone: not in the log */
        log_info("sandbox: %s message %s to %s (%s): %s", m->channel, m->id, addr, m->tmpl ? m->tmpl->key : "",
                 m->tmpl && m->tmpl->secret ? "(secret)" : m->body);
        memset(out, 0, sizeof *out);
        out->kind = OUTCOME_SENT;
        snprintf(out->code, sizeof out->code, "sandbox");
        snprintf(out->provider_msgid, sizeof out->provider_msgid, "sandbox-%s", m->id);
        return NULL;
    }
    buf_t b = BUF_INIT;
    buf_puts(&b, "{\"id\":");
    buf_put_json_string(&b, m->id);
    buf_puts(&b, ",\"channel\":");
    buf_put_json_string(&b, m->channel);
    buf_puts(&b, ",\"address\":");
    buf_put_json_string(&b, addr);
    buf_puts(&b, ",\"template\":");
    buf_put_json_string(&b, m->tmpl ? m->tmpl->key : "");
    buf_puts(&b, ",\"body\":");
    buf_put_json_string(&b, m->body);
    buf_puts(&b, "}");
    CURL *h = curl_easy_init();
    sandbox_call_t *c = calloc(1, sizeof *c);
    if (!h || !c)
        log_oom();
    c->body = buf_detach(&b);
    c->headers = curl_slist_append(NULL, "Content-Type: application/json");
    curl_easy_setopt(h, CURLOPT_URL, sb->url);
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, c->body);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, c->headers);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, sb->timeout_ms);
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, sb->timeout_ms);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    *call = c;
    return h;
}

static void sandbox_free_call(sandbox_call_t *c)
{
    if (!c)
        return;
    curl_slist_free_all(c->headers);
    free(c->body);
    free(c);
}

static void sandbox_finish(provider_t *self, void *call, CURLcode rc, long http_status, const char *body, size_t len,
                           outcome_t *out)
{
    (void)self;
    (void)body;
    (void)len;
    sandbox_free_call(call);
    memset(out, 0, sizeof *out);
    if (rc != CURLE_OK) {
        out->kind = OUTCOME_RETRY;
        snprintf(out->code, sizeof out->code, "%s", rc == CURLE_OPERATION_TIMEDOUT ? "timeout" : "transport");
        snprintf(out->detail, sizeof out->detail, "%s", curl_easy_strerror(rc));
    } else if (http_status >= 200 && http_status < 300) {
        out->kind = OUTCOME_SENT;
        snprintf(out->code, sizeof out->code, "http %ld", http_status);
    } else {
        out->kind = http_status >= 500 ? OUTCOME_RETRY : OUTCOME_PERMANENT;
        snprintf(out->code, sizeof out->code, "http %ld", http_status);
    }
}

static void sandbox_cancel(provider_t *self, void *call)
{
    (void)self;
    sandbox_free_call(call);
}

static void sandbox_destroy(provider_t *self)
{
    sandbox_t *sb = self->impl;
    free(sb->url);
    free(sb);
    free(self);
}

static const provider_ops_t SANDBOX_OPS = {
    .name = "sandbox",
    .channel = "*", /* any channel: providers.c hands it every channel that has no real provider */
    .prepare = sandbox_prepare,
    .finish = sandbox_finish,
    .cancel = sandbox_cancel,
    .destroy = sandbox_destroy,
};

provider_t *provider_sandbox_new(const cfg_t *cfg, char *err, size_t errsz)
{
    const char *url = cfg_has(cfg, "sandbox_url") ? cfg_str(cfg, "sandbox_url") : NULL;
    if (url && *url && strncmp(url, "http://", 7) != 0 && strncmp(url, "https://", 8) != 0) {
        snprintf(err, errsz, "sandbox_url must be an http:// or https:// URL");
        return NULL;
    }
    provider_t *p = calloc(1, sizeof *p);
    sandbox_t *sb = calloc(1, sizeof *sb);
    if (!p || !sb)
        log_oom();
    sb->url = url && *url ? strdup(url) : NULL;
    sb->timeout_ms = cfg_has(cfg, "provider_timeout_ms") ? cfg_int(cfg, "provider_timeout_ms") : 5000;
    p->ops = &SANDBOX_OPS;
    p->impl = sb;
    if (errsz)
        err[0] = '\0';
    return p;
}
