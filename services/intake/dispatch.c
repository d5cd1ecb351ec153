/* Routes: health, metrics, Open311 under /open311/v2, the native API under /api/v1. */
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "api_stats.h"
#include "catalog.h"
#include "pool.h"
#include "intake.h"
#include "log.h"
#include "metrics.h"
#include "render.h"

/* The pool slot this thread's current request holds; taken on first use, given back when the
 * request's answer is ready (intake_dispatch). A GET takes it as a read, which leaves the last
 * free slot to writes (pool.h). */
static _Thread_local pool_slot_t *tl_slot;
static _Thread_local pool_use_t tl_use;

static pool_slot_t *slot(char *err, size_t errsz)
{
    if (!tl_slot && !(tl_slot = pool_acquire(tl_use, 5000)))
        snprintf(err, errsz, "all database connections are busy");
    return tl_slot;
}

db_t *intake_db(const intake_t *app, char *err, size_t errsz)
{
    pool_slot_t *s = slot(err, errsz);
    if (s && !s->db)
        s->db = db_connect(app->conninfo, "gridgov-intake", err, errsz);
    return s ? s->db : NULL;
}

cmdclient_t *intake_router(const intake_t *app, char *err, size_t errsz)
{
    pool_slot_t *s = slot(err, errsz);
    if (s && !s->cmd)
        s->cmd = cmdclient_new(app->zmq_ctx, app->router_endpoint, err, errsz);
    return s ? s->cmd : NULL;
}

void intake_request_hash(const http_req_t *req, unsigned char out[32])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    if (!c)
        log_oom();
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    EVP_DigestUpdate(c, req->method, strlen(req->method) + 1);
    EVP_DigestUpdate(c, req->path, strlen(req->path) + 1);
    EVP_DigestUpdate(c, req->query, strlen(req->query) + 1);
    EVP_DigestUpdate(c, req->body, req->body_len);
    EVP_DigestFinal_ex(c, out, NULL);
    EVP_MD_CTX_free(c);
}

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
    tl_use = !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD") ? POOL_READ : POOL_WRITE;
    if (!strcmp(req->path, "/healthz")) {
        healthz(app, resp);
    } else if (!strcmp(req->path, "/metrics")) {
        resp->status = 200;
        resp->content_type = "text/plain; version=0.0.4";
        metrics_render(&resp->body, relay_published(app->relay));
    } else if (starts(req->path, "/open311/v2/", &rest)) {
        open311_handle(app, req, resp, rest);
    } else if (api_staff_handle(app, req, resp)) {
        /* answered */
    } else if (api_stats_handle(app, req, resp)) {
        /* answered */
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
    pool_release(tl_slot);
    tl_slot = NULL;
}
