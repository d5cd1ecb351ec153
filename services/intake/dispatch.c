/* Routes: health, metrics, Open311 under /open311/v2, the native API under /api/v1. */
#include <openssl/evp.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

#include "catalog.h"
#include "intake.h"
#include "log.h"
#include "metrics.h"
#include "render.h"

/* One connection per HTTP thread, remembered here too so shutdown can close them all. */
#define MAX_THREAD_DBS 256
static _Thread_local db_t *tl_db;
static db_t *all_dbs[MAX_THREAD_DBS];
static int n_dbs;
static pthread_mutex_t dbs_lock = PTHREAD_MUTEX_INITIALIZER;

db_t *intake_db(const intake_t *app, char *err, size_t errsz)
{
    if (tl_db)
        return tl_db;
    db_t *db = db_connect(app->conninfo, "gridgov-intake", err, errsz);
    if (!db)
        return NULL;
    pthread_mutex_lock(&dbs_lock);
    if (n_dbs < MAX_THREAD_DBS) {
        all_dbs[n_dbs++] = db;
        tl_db = db;
    }
    pthread_mutex_unlock(&dbs_lock);
    if (!tl_db) {
        db_destroy(&db);
        snprintf(err, errsz, "too many HTTP threads for the connection table");
    }
    return tl_db;
}

void intake_db_close_all(void)
{
    pthread_mutex_lock(&dbs_lock);
    for (int i = 0; i < n_dbs; i++)
        db_destroy(&all_dbs[i]);
    n_dbs = 0;
    pthread_mutex_unlock(&dbs_lock);
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

static void healthz(const intake_t *app, http_resp_t *resp)
{
    char err[256];
    db_t *db = intake_db(app, err, sizeof err);
    bool ok = db && db_run(db, "SELECT 1", 0, NULL, err, sizeof err);
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
}
