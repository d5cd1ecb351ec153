/* Routes: health, metrics, Open311 under /open311/v2, the native API under /api/v1. */
#include <stdio.h>
#include <string.h>

#include "api_stats.h"
#include "catalog.h"
#include "channels.h"
#include "field.h"
#include "form.h"
#include "gclock.h"
#include "pool.h"
#include "intake.h"
#include "log.h"
#include "metrics.h"
#include "motions_input.h"
#include "render.h"
#include "request.h"

/* PostgreSQL answers on healthz's own connection (pool.h): lists that hold every request slot
 * make intake slow to read from, not down, and must not make a load balancer take it out. */
static void healthz(const intake_t *app, http_resp_t *resp)
{
    char err[256] = "the health check is busy";
    pool_slot_t *s = pool_acquire(POOL_HEALTH, 2000);
    if (s && !s->db)
        s->db = db_connect(app->conninfo, "gridgov-intake-health", err, sizeof err);
    bool ok = s && s->db && db_run(s->db, "SELECT 1", 0, NULL, err, sizeof err);
    pool_release(s);
    const catalog_t *cat = catalog_acquire();
    bool ready = cat != NULL;
    catalog_release();
    json_t *j = json_pack("{s:s,s:s,s:s}", "status", ok && ready ? "ok" : "unavailable", "database", ok ? "ok" : err,
                          "catalog", ready ? "loaded" : "not loaded");
    render_json(resp, ok && ready ? 200 : 503, j);
    json_decref(j);
}

static void add_credential(const char **list, int *n, const char *c)
{
    if (!c || !*c)
        return;
    for (int i = 0; i < *n; i++)
        if (!strcmp(list[i], c))
            return;
    list[(*n)++] = c;
}

/* Per-key rate limits (ratelimit.h), before any database work. Every credential a request carries
 * is charged, wherever it sits (X-API-Key, Authorization: Bearer or Voter, api_key in the query or
 * in a form body), so that no request is authenticated by one credential while another one is
 * counted. An over-limit answer is 429 with Retry-After, in the error shape of the API asked.
 * Requests without a credential (public Open311 reads) are not limited here: the per-address
 * connection limit (http.c) bounds them. */
static bool rate_limited(const intake_t *app, const http_req_t *req, http_resp_t *resp)
{
    const char *creds[5];
    int n = 0;
    add_credential(creds, &n, http_header(req, "X-API-Key"));
    const char *auth = http_header(req, "Authorization");
    if (auth && !strncasecmp(auth, "Bearer ", 7))
        add_credential(creds, &n, auth + 7);
    /* a voter's credential (motions_access.h), as tally keeps it: however it is typed, one bucket */
    char voter[MOTIONS_CREDENTIAL_LEN + 1];
    if (auth && !strncasecmp(auth, "Voter ", 6) && strlen(auth + 6) <= 64 && motions_credential_normalise(auth + 6, voter))
        add_credential(creds, &n, voter);
    json_t *q = *req->query ? form_parse(req->query, strlen(req->query), NULL, 0) : NULL;
    add_credential(creds, &n, form_arg(q, "api_key"));
    const char *ct = http_header(req, "Content-Type");
    json_t *b = NULL;
    if (ct && !strncasecmp(ct, "application/x-www-form-urlencoded", 33) && req->body_len)
        b = form_parse(req->body, req->body_len, NULL, 0);
    add_credential(creds, &n, form_arg(b, "api_key"));
    int wait_s = 0;
    int64_t now = gclock_mono_ms();
    for (int i = 0; i < n; i++) {
        int w;
        if (!ratelimit_take(app->limits, creds[i], strlen(creds[i]), now, &w) && w > wait_s)
            wait_s = w;
    }
    json_decref(q);
    json_decref(b);
    if (!wait_s)
        return false;
    metrics_inc(M_RATE_LIMITED);
    char msg[160];
    snprintf(msg, sizeof msg, "too many requests with this key; retry after %d s", wait_s);
    size_t len = strlen(req->path);
    if (!strncmp(req->path, "/open311/", 9))
        render_o311_error(resp, len > 4 && !strcmp(req->path + len - 4, ".xml") ? FMT_XML : FMT_JSON, 429, msg);
    else
        render_api_error(resp, 429, "rate_limited", NULL, msg);
    resp->retry_after_s = wait_s;
    return true;
}

static bool starts(const char *s, const char *prefix, const char **rest)
{
    size_t n = strlen(prefix);
    if (strncmp(s, prefix, n) != 0)
        return false;
    *rest = s + n;
    return true;
}

void intake_dispatch(const http_req_t *req, http_resp_t *resp, void *arg)
{
    const intake_t *app = arg;
    const char *rest;
    request_begin(req);
    if (rate_limited(app, req, resp)) {
        /* answered */
    } else if (!strcmp(req->path, "/healthz")) {
        healthz(app, resp);
    } else if (!strcmp(req->path, "/metrics")) {
        resp->status = 200;
        resp->content_type = "text/plain; version=0.0.4";
        metrics_render(&resp->body, relay_published(app->relay));
    } else if (channels_handle(app, req, resp)) {
        /* answered: WeChat and the SMS providers (channels.h) */
    } else if (starts(req->path, "/open311/v2/", &rest)) {
        open311_handle(app, req, resp, rest);
    } else if (api_staff_handle(app, req, resp)) {
        /* answered */
    } else if (api_stats_handle(app, req, resp)) {
        /* answered */
    } else if (api_motions_handle(app, req, resp)) {
        /* answered: motions, ballots and results (tally) */
    } else if (field_handle(app, req, resp)) {
        /* answered: grid workers' field work (field.h) */
    } else if (!strcmp(req->path, "/api/v1/tickets") || starts(req->path, "/api/v1/tickets/", &rest)) {
        api_tickets_handle(app, req, resp, req->path + strlen("/api/v1/tickets"));
    } else if (!strcmp(req->path, "/")) {
        json_t *j = json_pack("{s:s,s:[s,s,s,s]}", "service", "gridgov intake", "links", "/healthz", "/metrics",
                              "/open311/v2/discovery.json", "/api/v1/tickets");
        render_json(resp, 200, j);
        json_decref(j);
    } else {
        render_api_error(resp, 404, "not_found", NULL, "no such resource");
    }
    request_end();
}
