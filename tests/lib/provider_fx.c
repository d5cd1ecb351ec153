#include "provider_fx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"

static const cfg_key_t KEYS[] = {PROVIDER_CFG_KEYS};

cfg_t *pfx_cfg(const char *const *kv)
{
    cfg_t *c = cfg_new(KEYS, sizeof KEYS / sizeof KEYS[0]);
    char err[256];
    for (size_t i = 0; kv && kv[i]; i++) {
        char name[64];
        const char *eq = strchr(kv[i], '=');
        if (!eq || (size_t)(eq - kv[i]) >= sizeof name) {
            fprintf(stderr, "pfx_cfg: bad entry %s\n", kv[i]);
            exit(2);
        }
        memcpy(name, kv[i], (size_t)(eq - kv[i]));
        name[eq - kv[i]] = '\0';
        if (!cfg_set(c, name, eq + 1, err, sizeof err)) {
            fprintf(stderr, "pfx_cfg: %s\n", err);
            exit(2);
        }
    }
    return c;
}

outcome_t pfx_answer(provider_t *p, const message_t *m, int64_t now_s, CURLcode rc, long status, const char *body,
                     char *url, size_t urlsz)
{
    outcome_t out;
    memset(&out, 0, sizeof out);
    void *call = NULL;
    CURL *h = p->ops->prepare(p, m, now_s, &call, &out);
    if (!h) {
        fprintf(stderr, "pfx_answer: %s made no request (%s: %s)\n", p->ops->name, out.code, out.detail);
        exit(2);
    }
    if (url) {
        char *u = NULL;
        curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &u);
        snprintf(url, urlsz, "%s", u ? u : "");
    }
    memset(&out, 0xA5, sizeof out); /* finish must set every field it reports */
    p->ops->finish(p, call, rc, status, body, body ? strlen(body) : 0, &out);
    curl_easy_cleanup(h);
    return out;
}

outcome_t pfx_prepare_refused(provider_t *p, const message_t *m, int64_t now_s)
{
    outcome_t out;
    memset(&out, 0, sizeof out);
    void *call = NULL;
    CURL *h = p->ops->prepare(p, m, now_s, &call, &out);
    if (h) {
        fprintf(stderr, "pfx_prepare_refused: %s made a request\n", p->ops->name);
        exit(2);
    }
    return out;
}

static bool pct_decode(const char *s, size_t n, buf_t *b)
{
    buf_puts(b, "");
    for (size_t i = 0; i < n; i++) {
        if (s[i] == '%') {
            if (i + 2 >= n)
                return false;
            char hex[3] = {s[i + 1], s[i + 2], 0};
            char *end;
            long v = strtol(hex, &end, 16);
            if (*end)
                return false;
            buf_putc(b, (char)v);
            i += 2;
        } else if (s[i] == '+') {
            return false; /* a space is %20 for Aliyun */
        } else {
            buf_putc(b, s[i]);
        }
    }
    return true;
}

json_t *pfx_form_fields(const char *form, bool *canonical)
{
    json_t *o = json_object();
    *canonical = true;
    buf_t last = BUF_INIT;
    buf_puts(&last, "");
    bool signed_ = false;
    const char *p = form;
    while (*p) {
        const char *amp = strchr(p, '&');
        size_t n = amp ? (size_t)(amp - p) : strlen(p);
        const char *eq = memchr(p, '=', n);
        buf_t k = BUF_INIT, v = BUF_INIT;
        bool ok = eq && pct_decode(p, (size_t)(eq - p), &k) && pct_decode(eq + 1, n - (size_t)(eq - p) - 1, &v) &&
                  !json_object_get(o, buf_str(&k));
        if (ok) {
            if (signed_)
                *canonical = false; /* something after Signature */
            if (strcmp(buf_str(&k), "Signature") == 0) {
                signed_ = true;
            } else {
                if (strcmp(buf_str(&last), buf_str(&k)) >= 0)
                    *canonical = false;
                buf_reset(&last);
                buf_puts(&last, buf_str(&k));
            }
            json_object_set_new(o, buf_str(&k), json_string(buf_str(&v)));
        }
        buf_free(&k);
        buf_free(&v);
        if (!ok) {
            json_decref(o);
            buf_free(&last);
            return NULL;
        }
        p += n + (amp ? 1 : 0);
    }
    buf_free(&last);
    return o;
}

/* ---- a recording provider on loopback ---- */

#include <arpa/inet.h>
#include <netinet/in.h>
#include <poll.h>
#include <pthread.h>
#include <stdatomic.h>
#include <strings.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

struct pfx_server {
    int fd;
    int status;
    char *answer;
    int delay_ms;
    atomic_bool stop;
    pthread_t thread;
    pthread_mutex_t mu;
    buf_t last;
    size_t body_at;
    int requests;
};

/* Reads one request (headers, then Content-Length bytes) from c into b; false on EOF or stop. */
static bool read_request(pfx_server_t *s, int c, buf_t *b, size_t *body_at)
{
    char chunk[4096];
    size_t want = (size_t)-1;
    while (!atomic_load(&s->stop)) {
        struct pollfd p = {c, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        ssize_t n = read(c, chunk, sizeof chunk);
        if (n <= 0)
            return false;
        buf_append(b, chunk, (size_t)n);
        if (want == (size_t)-1) {
            const char *end = strstr(buf_str(b), "\r\n\r\n");
            if (!end)
                continue;
            *body_at = (size_t)(end - b->data) + 4;
            size_t len = 0;
            for (const char *h = b->data; h < end; h = strstr(h, "\r\n") + 2)
                if (strncasecmp(h, "Content-Length:", 15) == 0)
                    len = (size_t)strtoul(h + 15, NULL, 10);
            want = *body_at + len;
        }
        if (b->len >= want)
            return true;
    }
    return false;
}

static void *serve(void *arg)
{
    pfx_server_t *s = arg;
    while (!atomic_load(&s->stop)) {
        struct pollfd p = {s->fd, POLLIN, 0};
        if (poll(&p, 1, 100) <= 0)
            continue;
        int c = accept(s->fd, NULL, NULL);
        if (c < 0)
            continue;
        buf_t req = BUF_INIT;
        size_t body_at = 0;
        if (read_request(s, c, &req, &body_at)) {
            pthread_mutex_lock(&s->mu);
            buf_free(&s->last);
            s->last = req;
            s->body_at = body_at;
            s->requests++;
            pthread_mutex_unlock(&s->mu);
            req = (buf_t)BUF_INIT;
            for (int waited = 0; waited < s->delay_ms && !atomic_load(&s->stop); waited += 10) {
                struct timespec ts = {0, 10 * 1000000L};
                nanosleep(&ts, NULL);
            }
            buf_t out = BUF_INIT;
            buf_printf(&out,
                       "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: %zu\r\n"
                       "Connection: close\r\n\r\n%s",
                       s->status, strlen(s->answer), s->answer);
            ssize_t w = write(c, out.data, out.len);
            (void)w; /* the client may have given up (a timeout) */
            buf_free(&out);
        }
        buf_free(&req);
        close(c);
    }
    return NULL;
}

pfx_server_t *pfx_server_start(int port, int status, const char *body, int delay_ms)
{
    pfx_server_t *s = calloc(1, sizeof *s);
    if (!s)
        abort();
    s->status = status;
    s->answer = strdup(body);
    s->delay_ms = delay_ms;
    pthread_mutex_init(&s->mu, NULL);
    s->fd = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(s->fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    a.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
    if (s->fd < 0 || bind(s->fd, (struct sockaddr *)&a, sizeof a) != 0 || listen(s->fd, 16) != 0) {
        fprintf(stderr, "pfx_server_start: cannot listen on port %d\n", port);
        exit(2);
    }
    pthread_create(&s->thread, NULL, serve, s);
    return s;
}

const char *pfx_server_request(pfx_server_t *s)
{
    return buf_str(&s->last);
}

const char *pfx_server_body(pfx_server_t *s)
{
    return s->last.data && s->body_at <= s->last.len ? s->last.data + s->body_at : "";
}

const char *pfx_server_header(pfx_server_t *s, const char *name, char *out, size_t outsz)
{
    out[0] = '\0';
    size_t n = strlen(name);
    const char *req = buf_str(&s->last);
    const char *end = strstr(req, "\r\n\r\n");
    for (const char *h = strstr(req, "\r\n"); h && end && h < end; h = strstr(h + 2, "\r\n")) {
        const char *line = h + 2;
        if (strncasecmp(line, name, n) == 0 && line[n] == ':') {
            const char *v = line + n + 1;
            while (*v == ' ')
                v++;
            const char *e = strstr(v, "\r\n");
            snprintf(out, outsz, "%.*s", (int)(e - v), v);
            break;
        }
    }
    return out;
}

int pfx_server_requests(pfx_server_t *s)
{
    pthread_mutex_lock(&s->mu);
    int n = s->requests;
    pthread_mutex_unlock(&s->mu);
    return n;
}

void pfx_server_stop(pfx_server_t **self)
{
    if (!self || !*self)
        return;
    pfx_server_t *s = *self;
    atomic_store(&s->stop, true);
    pthread_join(s->thread, NULL);
    close(s->fd);
    buf_free(&s->last);
    free(s->answer);
    pthread_mutex_destroy(&s->mu);
    free(s);
    *self = NULL;
}

static size_t collect(char *data, size_t size, size_t n, void *arg)
{
    buf_append(arg, data, size * n);
    return size * n;
}

CURLcode pfx_perform(CURL *h, long *status, char **body)
{
    buf_t b = BUF_INIT;
    buf_puts(&b, "");
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, collect);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &b);
    CURLcode rc = curl_easy_perform(h);
    *status = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, status);
    *body = buf_detach(&b);
    return rc;
}
