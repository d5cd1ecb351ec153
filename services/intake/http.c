#include "http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "metrics.h"

struct http_server {
    struct MHD_Daemon *d;
    http_opts_t o;
};

/* Per-request state, created from the raw URI before MHD parses anything. */
typedef struct {
    char *uri;      /* raw request target, query included */
    buf_t body;
    bool too_large;
} req_state_t;

const char *http_header(const http_req_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    (void)cls;
    (void)c;
    req_state_t *st = calloc(1, sizeof *st);
    if (!st || !(st->uri = strdup(uri)))
        log_oom();
    return st;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    (void)cls;
    (void)c;
    (void)toe;
    req_state_t *st = *con_cls;
    if (!st)
        return;
    free(st->uri);
    buf_free(&st->body);
    free(st);
    *con_cls = NULL;
}

static enum MHD_Result send_resp(struct MHD_Connection *c, http_resp_t *r)
{
    size_t len = r->body.len;
    char *data = buf_detach(&r->body);
    struct MHD_Response *mr = MHD_create_response_from_buffer(len, data, MHD_RESPMEM_MUST_FREE);
    if (!mr) {
        free(data);
        return MHD_NO;
    }
    if (r->content_type)
        MHD_add_response_header(mr, MHD_HTTP_HEADER_CONTENT_TYPE, r->content_type);
    if (r->allow[0])
        MHD_add_response_header(mr, MHD_HTTP_HEADER_ALLOW, r->allow);
    if (r->location[0])
        MHD_add_response_header(mr, MHD_HTTP_HEADER_LOCATION, r->location);
    if (r->content_disposition[0])
        MHD_add_response_header(mr, "Content-Disposition", r->content_disposition);
    if (r->retry_after_s > 0) {
        char s[16];
        snprintf(s, sizeof s, "%d", r->retry_after_s);
        MHD_add_response_header(mr, MHD_HTTP_HEADER_RETRY_AFTER, s);
    }
    MHD_add_response_header(mr, "X-Content-Type-Options", "nosniff");
    enum MHD_Result ret = MHD_queue_response(c, (unsigned)r->status, mr);
    MHD_destroy_response(mr);
    metrics_count_response(r->status);
    return ret;
}

/* Errors the HTTP layer answers itself, in the shape the client's API speaks: Open311 paths get
 * the Open311 error list (XML for .xml), everything else the native error object. */
static enum MHD_Result simple_error(struct MHD_Connection *c, const char *url, int status, const char *code,
                                    const char *msg)
{
    http_resp_t r = {.status = status, .content_type = "application/json; charset=utf-8"};
    size_t n = strlen(url);
    if (!strncmp(url, "/open311/", 9) && n > 4 && !strcmp(url + n - 4, ".xml")) {
        r.content_type = "text/xml; charset=utf-8";
        buf_printf(&r.body,
                   "<?xml version=\"1.0\" encoding=\"utf-8\"?><errors><error><code>%d</code>"
                   "<description>%s</description></error></errors>",
                   status, msg);
    } else if (!strncmp(url, "/open311/", 9)) {
        buf_printf(&r.body, "[{\"code\":%d,\"description\":\"%s\"}]", status, msg);
    } else {
        buf_printf(&r.body, "{\"error\":{\"code\":\"%s\",\"message\":\"%s\"}}", code, msg);
    }
    return send_resp(c, &r);
}

static enum MHD_Result on_request(void *cls, struct MHD_Connection *c, const char *url, const char *method,
                                  const char *version, const char *upload, size_t *upload_size, void **con_cls)
{
    (void)version;
    http_server_t *self = cls;
    req_state_t *st = *con_cls;
    if (!st) /* cannot happen: on_uri always runs first */
        return MHD_NO;

    if (*upload_size) {
        if (!st->too_large) {
            if (st->body.len + *upload_size > self->o.max_body) {
                st->too_large = true;
                buf_free(&st->body);
            } else {
                buf_append(&st->body, upload, *upload_size);
            }
        }
        *upload_size = 0;
        return MHD_YES;
    }

    /* First call for this request: refuse a declared oversize body before reading it. */
    if (!st->body.data && !st->too_large) {
        const char *cl = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_CONTENT_LENGTH);
        if (cl && strtoull(cl, NULL, 10) > self->o.max_body)
            return simple_error(c, url, 413, "body_too_large", "request body is over the limit");
        /* Requests that will send a body come back with it; mark that we have seen the headers. */
        buf_append(&st->body, "", 0);
        const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
        if ((cl && strcmp(cl, "0") != 0) || te)
            return MHD_YES;
    }
    if (st->too_large)
        return simple_error(c, url, 413, "body_too_large", "request body is over the limit");

    const char *q = strchr(st->uri, '?');
    http_req_t req = {
        .conn = c,
        .method = method,
        .path = url,
        .query = q ? q + 1 : "",
        .body = buf_str(&st->body),
        .body_len = st->body.len,
    };
    http_resp_t resp = {.status = 500, .content_type = "application/json; charset=utf-8"};
    self->o.handler(&req, &resp, self->o.arg);
    return send_resp(c, &resp);
}

http_server_t *http_start(const http_opts_t *o, char *err, size_t errsz)
{
    http_server_t *self = calloc(1, sizeof *self);
    if (!self)
        log_oom();
    self->o = *o;
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
    if (inet_pton(AF_INET, o->bind_addr, &sa.sin_addr) != 1) {
        snprintf(err, errsz, "bad listen address '%s'", o->bind_addr);
        free(self);
        return NULL;
    }
    /* A thread per connection: a keep-alive client never waits behind another one's database
     * call; the database work itself is bounded by the pool (pool.h). */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG;
    self->d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, on_request, self,
                               MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                               MHD_OPTION_THREAD_STACK_SIZE, (size_t)(512 * 1024),
                               MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->max_connections,
                               MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->timeout_s,
                               MHD_OPTION_CONNECTION_MEMORY_LIMIT, o->max_header,
                               MHD_OPTION_URI_LOG_CALLBACK, on_uri, self,
                               MHD_OPTION_NOTIFY_COMPLETED, on_completed, self,
                               MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
                               MHD_OPTION_END);
    if (!self->d) {
        snprintf(err, errsz, "cannot listen on %s:%d (in use?)", o->bind_addr, o->port);
        free(self);
        return NULL;
    }
    return self;
}

void http_stop(http_server_t **pself)
{
    if (!pself || !*pself)
        return;
    http_server_t *self = *pself;
    MHD_quiesce_daemon(self->d);
    MHD_stop_daemon(self->d);
    free(self);
    *pself = NULL;
}
