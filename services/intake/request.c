#include "request.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "intake.h"
#include "log.h"
#include "pool.h"

/* The pool slot this thread's current request holds, and how it will use it (request.h). */
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
        s->cmd = cmdclient_new(app->bus, app->router_endpoint, "router", err, errsz);
    return s ? s->cmd : NULL;
}

cmdclient_t *intake_tally(const intake_t *app, char *err, size_t errsz)
{
    pool_slot_t *s = slot(err, errsz);
    if (s && !s->tally)
        s->tally = cmdclient_new(app->bus, app->tally_endpoint, "tally", err, errsz);
    return s ? s->tally : NULL;
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

void request_begin(const http_req_t *req)
{
    tl_use = !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD") ? POOL_READ : POOL_WRITE;
}

void request_end(void)
{
    pool_release(tl_slot);
    tl_slot = NULL;
}
