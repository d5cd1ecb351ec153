/* http: intake's HTTP edge on libmicrohttpd (thread pool, epoll).
 * It reads each request whole (with hard limits: body size, header and URL length through the
 * connection memory limit, an idle timeout for half-open clients, a deadline for the whole
 * request against clients that trickle bytes, open connections per client address), then hands
 * a complete http_req_t to the dispatcher and sends the http_resp_t it fills. libmicrohttpd's
 * own messages go to the JSON log.
 * Nothing here knows Open311 or tickets; see dispatch.c. */
#ifndef INTAKE_HTTP_H
#define INTAKE_HTTP_H

#include <microhttpd.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

typedef struct {
    struct MHD_Connection *conn;
    const char *method;
    const char *path;     /* decoded path without the query */
    const char *query;    /* raw query string ("" when none) */
    const char *body;     /* NUL-terminated copy of the body ("" when none) */
    size_t body_len;
} http_req_t;

typedef struct {
    int status;
    const char *content_type; /* static string */
    buf_t body;
    char allow[64];           /* Allow header for 405 */
    char location[256];
    char content_disposition[256]; /* e.g. attachment; filename="x.csv" (downloads) */
    int retry_after_s;             /* Retry-After header when > 0 (429, 503) */
} http_resp_t;

/* Returns the value of a request header or NULL. */
const char *http_header(const http_req_t *req, const char *name);

typedef void (*http_handler_fn)(const http_req_t *req, http_resp_t *resp, void *arg);

typedef struct {
    int port;
    const char *bind_addr;   /* "127.0.0.1" or "0.0.0.0" */
    int max_connections;
    size_t max_body;         /* bytes; larger bodies get 413 */
    const char *large_path;  /* requests to this exact path may send up to large_max_body (NULL: none) */
    size_t large_max_body;
    size_t max_header;       /* per-connection memory for request line and headers */
    int per_ip_connections;  /* open connections one client address may hold (0: no limit) */
    int timeout_s;           /* idle connection timeout */
    int request_timeout_s;   /* a request must arrive whole within this (0: no deadline) */
    http_handler_fn handler;
    void *arg;
} http_opts_t;

typedef struct http_server http_server_t;

http_server_t *http_start(const http_opts_t *opts, char *err, size_t errsz);
/* Stops accepting, lets requests in flight finish, frees, NULLs the pointer. */
void http_stop(http_server_t **self);

#endif
