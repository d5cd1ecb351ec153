#include "http.h"

#include <arpa/inet.h>
#include <netinet/in.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <time.h>

#include "gclock.h"
#include "log.h"
#include "metrics.h"
#include "utf8.h"

/* One open connection, for the request deadline. Lives from MHD's "started" notification to its
 * "closed" one, which MHD sends before it closes the socket: so while a track is in the list
 * (under the server's lock), fd is this connection's socket and no other. */
typedef struct conn_track {
    struct conn_track *prev, *next;
    int fd;
    char peer[INET6_ADDRSTRLEN];
    int64_t since_ms; /* when the connection opened or its previous answer was done */
    bool receiving;   /* between requests or reading one; false while one is handled or answered */
    bool cut;
} conn_track_t;

struct http_server {
    struct MHD_Daemon *d;
    http_opts_t o;
    pthread_mutex_t lock; /* the tracks and the log's repeat counter */
    conn_track_t *tracks;
    pthread_t sweeper;
    bool sweeping, stopping;
    pthread_cond_t wake;
    char last_log[512]; /* libmicrohttpd's last message, and how often it came again since */
    int64_t last_log_ms;
    unsigned long repeats;
};

/* Per-request state, created from the raw URI before MHD parses anything. */
typedef struct {
    char *uri;      /* raw request target, query included */
    buf_t body;
    bool too_large;
    conn_track_t *track; /* the connection's, or NULL without a request deadline */
} req_state_t;

const char *http_header(const http_req_t *req, const char *name)
{
    return MHD_lookup_connection_value(req->conn, MHD_HEADER_KIND, name);
}

/* ---- libmicrohttpd's messages --------------------------------------------------------------- */

/* Its messages (malformed requests, refused connections, resource limits) become JSON log lines
 * like ours. Bytes that are not UTF-8 are replaced, so each line stays valid JSON. A message that
 * comes again within 10 s is counted rather than logged again, so a flood of refused connections
 * writes a line every 10 s, not one per connection. */
static void log_repeats(http_server_t *self)
{
    if (self->repeats)
        log_warn("http: %s (and %lu more like it)", self->last_log, self->repeats);
    self->repeats = 0;
}

static void on_mhd_log(void *cls, const char *fmt, va_list ap)
{
    http_server_t *self = cls;
    char msg[512];
    vsnprintf(msg, sizeof msg, fmt, ap);
    size_t n = strlen(msg);
    while (n && (msg[n - 1] == '\n' || msg[n - 1] == '\r' || msg[n - 1] == ' '))
        msg[--n] = '\0';
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t k = utf8_decode(msg + i, n - i, &cp);
        if (!k) {
            msg[i++] = '?';
            continue;
        }
        i += k;
    }
    int64_t now = gclock_mono_ms();
    pthread_mutex_lock(&self->lock);
    if (!strcmp(msg, self->last_log) && now - self->last_log_ms < 10000) {
        self->repeats++;
    } else {
        log_repeats(self);
        snprintf(self->last_log, sizeof self->last_log, "%s", msg);
        self->last_log_ms = now;
        log_warn("http: %s", msg);
    }
    pthread_mutex_unlock(&self->lock);
}

/* ---- the request deadline ------------------------------------------------------------------- */

/* libmicrohttpd's connection timeout is an idle timeout: a client that sends a byte every few
 * seconds never trips it and holds its connection (and thread) for as long as it likes. So every
 * request must also arrive whole (request line, headers and body) within request_timeout_s of
 * the moment the connection was ready for it; a sweeper shuts down the sockets of those that do
 * not, and libmicrohttpd then closes them as it does any connection its client hung up. */
static void on_connection(void *cls, struct MHD_Connection *c, void **socket_context,
                          enum MHD_ConnectionNotificationCode code)
{
    http_server_t *self = cls;
    if (code == MHD_CONNECTION_NOTIFY_STARTED) {
        conn_track_t *t = calloc(1, sizeof *t);
        if (!t)
            log_oom();
        const union MHD_ConnectionInfo *fd = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CONNECTION_FD);
        const union MHD_ConnectionInfo *addr = MHD_get_connection_info(c, MHD_CONNECTION_INFO_CLIENT_ADDRESS);
        t->fd = fd ? fd->connect_fd : -1;
        if (addr && addr->client_addr && addr->client_addr->sa_family == AF_INET)
            inet_ntop(AF_INET, &((const struct sockaddr_in *)addr->client_addr)->sin_addr, t->peer, sizeof t->peer);
        else if (addr && addr->client_addr && addr->client_addr->sa_family == AF_INET6)
            inet_ntop(AF_INET6, &((const struct sockaddr_in6 *)addr->client_addr)->sin6_addr, t->peer, sizeof t->peer);
        t->since_ms = gclock_mono_ms();
        t->receiving = true;
        pthread_mutex_lock(&self->lock);
        t->next = self->tracks;
        if (self->tracks)
            self->tracks->prev = t;
        self->tracks = t;
        pthread_mutex_unlock(&self->lock);
        *socket_context = t;
    } else if (code == MHD_CONNECTION_NOTIFY_CLOSED && *socket_context) {
        conn_track_t *t = *socket_context;
        pthread_mutex_lock(&self->lock);
        if (t->prev)
            t->prev->next = t->next;
        else
            self->tracks = t->next;
        if (t->next)
            t->next->prev = t->prev;
        pthread_mutex_unlock(&self->lock);
        free(t);
        *socket_context = NULL;
    }
}

static void track_set(http_server_t *self, conn_track_t *t, bool receiving)
{
    if (!t)
        return;
    pthread_mutex_lock(&self->lock);
    t->receiving = receiving;
    t->since_ms = gclock_mono_ms();
    pthread_mutex_unlock(&self->lock);
}

static void *sweep(void *arg)
{
    http_server_t *self = arg;
    int64_t limit_ms = (int64_t)self->o.request_timeout_s * 1000;
    pthread_mutex_lock(&self->lock);
    while (!self->stopping) {
        int64_t now = gclock_mono_ms();
        for (conn_track_t *t = self->tracks; t; t = t->next) {
            if (!t->receiving || t->cut || t->fd < 0 || now - t->since_ms < limit_ms)
                continue;
            t->cut = true;
            shutdown(t->fd, SHUT_RDWR);
            metrics_inc(M_SLOW_REQUESTS);
            log_info("http: closed a connection from %s: its request had not arrived whole after %d s",
                     t->peer[0] ? t->peer : "?", self->o.request_timeout_s);
        }
        struct timespec until;
        clock_gettime(CLOCK_REALTIME, &until);
        until.tv_nsec += 250 * 1000000L;
        if (until.tv_nsec >= 1000000000L) {
            until.tv_sec++;
            until.tv_nsec -= 1000000000L;
        }
        pthread_cond_timedwait(&self->wake, &self->lock, &until);
    }
    pthread_mutex_unlock(&self->lock);
    return NULL;
}

/* ---- requests -------------------------------------------------------------------------------- */

static void *on_uri(void *cls, const char *uri, struct MHD_Connection *c)
{
    http_server_t *self = cls;
    req_state_t *st = calloc(1, sizeof *st);
    if (!st || !(st->uri = strdup(uri)))
        log_oom();
    if (self->o.request_timeout_s > 0) {
        const union MHD_ConnectionInfo *ci = MHD_get_connection_info(c, MHD_CONNECTION_INFO_SOCKET_CONTEXT);
        st->track = ci ? ci->socket_context : NULL;
    }
    return st;
}

static void on_completed(void *cls, struct MHD_Connection *c, void **con_cls, enum MHD_RequestTerminationCode toe)
{
    http_server_t *self = cls;
    (void)c;
    (void)toe;
    req_state_t *st = *con_cls;
    if (!st)
        return;
    track_set(self, st->track, true); /* the deadline of the next request on this connection starts now */
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

    /* One path (the batch upload of patrol tracks) may send more than the rest. */
    size_t max_body = self->o.large_path && !strcmp(url, self->o.large_path) && self->o.large_max_body > self->o.max_body
                          ? self->o.large_max_body
                          : self->o.max_body;
    if (*upload_size) {
        if (!st->too_large) {
            if (st->body.len + *upload_size > max_body) {
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
        if (cl && strtoull(cl, NULL, 10) > max_body) {
            track_set(self, st->track, false);
            return simple_error(c, url, 413, "body_too_large", "request body is over the limit");
        }
        /* Requests that will send a body come back with it; mark that we have seen the headers. */
        buf_append(&st->body, "", 0);
        const char *te = MHD_lookup_connection_value(c, MHD_HEADER_KIND, MHD_HTTP_HEADER_TRANSFER_ENCODING);
        if ((cl && strcmp(cl, "0") != 0) || te)
            return MHD_YES;
    }
    /* The request is here whole: from now on it is ours to answer, not the client's to send. */
    track_set(self, st->track, false);
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

/* Every connection is a socket, and PostgreSQL, ZeroMQ and the logs need some more: make sure
 * the process may open that many files, as far as the hard limit allows. */
static void raise_nofile(int max_connections)
{
    struct rlimit rl;
    rlim_t want = (rlim_t)max_connections + 256;
    if (getrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur >= want)
        return;
    rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > want ? want : rl.rlim_max;
    if (setrlimit(RLIMIT_NOFILE, &rl) != 0 || rl.rlim_cur < want)
        log_warn("open files are limited to %llu, fewer than http_max_connections + 256: raise the limit "
                 "(LimitNOFILE) or lower http_max_connections",
                 (unsigned long long)rl.rlim_cur);
}

http_server_t *http_start(const http_opts_t *o, char *err, size_t errsz)
{
    http_server_t *self = calloc(1, sizeof *self);
    if (!self)
        log_oom();
    self->o = *o;
    pthread_mutex_init(&self->lock, NULL);
    pthread_cond_init(&self->wake, NULL);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)o->port)};
    if (inet_pton(AF_INET, o->bind_addr, &sa.sin_addr) != 1) {
        snprintf(err, errsz, "bad listen address '%s'", o->bind_addr);
        goto fail;
    }
    raise_nofile(o->max_connections);
    /* A thread per connection: a keep-alive client never waits behind another one's database
     * call; the database work itself is bounded by the pool (pool.h). One address may hold at
     * most per_ip_connections of them, so a single client (or a trickle of bytes on a thousand
     * sockets) cannot take the places everyone else needs. */
    unsigned flags = MHD_USE_THREAD_PER_CONNECTION | MHD_USE_INTERNAL_POLLING_THREAD | MHD_USE_POLL | MHD_USE_ITC |
                     MHD_USE_ERROR_LOG;
    self->d = MHD_start_daemon(flags, (uint16_t)o->port, NULL, NULL, on_request, self,
                               MHD_OPTION_EXTERNAL_LOGGER, on_mhd_log, self,
                               MHD_OPTION_SOCK_ADDR, (struct sockaddr *)&sa,
                               MHD_OPTION_THREAD_STACK_SIZE, (size_t)(512 * 1024),
                               MHD_OPTION_CONNECTION_LIMIT, (unsigned)o->max_connections,
                               MHD_OPTION_PER_IP_CONNECTION_LIMIT, (unsigned)o->per_ip_connections,
                               MHD_OPTION_CONNECTION_TIMEOUT, (unsigned)o->timeout_s,
                               MHD_OPTION_CONNECTION_MEMORY_LIMIT, o->max_header,
                               MHD_OPTION_URI_LOG_CALLBACK, on_uri, self,
                               MHD_OPTION_NOTIFY_COMPLETED, on_completed, self,
                               MHD_OPTION_NOTIFY_CONNECTION, on_connection, self,
                               MHD_OPTION_LISTENING_ADDRESS_REUSE, (unsigned)1,
                               MHD_OPTION_END);
    if (!self->d) {
        snprintf(err, errsz, "cannot listen on %s:%d (in use?)", o->bind_addr, o->port);
        goto fail;
    }
    if (o->request_timeout_s > 0) {
        int rc = pthread_create(&self->sweeper, NULL, sweep, self);
        if (rc) {
            snprintf(err, errsz, "cannot start the request deadline thread: %s", strerror(rc));
            MHD_stop_daemon(self->d);
            goto fail;
        }
        self->sweeping = true;
    }
    return self;
fail:
    pthread_cond_destroy(&self->wake);
    pthread_mutex_destroy(&self->lock);
    free(self);
    return NULL;
}

void http_stop(http_server_t **pself)
{
    if (!pself || !*pself)
        return;
    http_server_t *self = *pself;
    MHD_quiesce_daemon(self->d);
    MHD_stop_daemon(self->d);
    if (self->sweeping) {
        pthread_mutex_lock(&self->lock);
        self->stopping = true;
        pthread_cond_signal(&self->wake);
        pthread_mutex_unlock(&self->lock);
        pthread_join(self->sweeper, NULL);
    }
    log_repeats(self);
    pthread_cond_destroy(&self->wake);
    pthread_mutex_destroy(&self->lock);
    free(self);
    *pself = NULL;
}
