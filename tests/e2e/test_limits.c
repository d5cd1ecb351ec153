/* Nobody starves the rest, against a real gridgov-intake:
 *  - a database statement that runs past db_statement_timeout_ms is cut: the request answers 503
 *    at once and intake goes on serving everyone else;
 *  - 1,100 sockets from one address trickling a byte every 5 seconds lock out neither /healthz nor
 *    a POST from another address: the per-address limit refuses all but http_per_ip_connections
 *    of them, and the request deadline closes those although a byte every 5 s keeps them clear of
 *    the idle timeout (loopback: the trickle comes from 127.0.0.2, the others from 127.0.0.1);
 *  - per-key rate limits: a burst beyond the limit gets 429 with Retry-After in the shape of the
 *    API asked, other keys and tokens are unaffected, and the key recovers after the wait;
 *  - libmicrohttpd's own messages reach the log as JSON lines.
 * intake runs here with db_statement_timeout_ms=1000, http_request_timeout_s=8 (the idle timeout
 * keeps its default of 15 s), http_per_ip_connections=64 and rate_limit_per_minute=30 with
 * rate_limit_burst=5. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define PER_IP 64
#define REQUEST_DEADLINE_S 8
#define TRICKLERS 1100

static pid_t g_pid;
static PGconn *g_db;
static int g_port;
static char g_base[128];
static char g_log[1024];
static int g_teardown_failed;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

static void sleep_until(double t)
{
    double d = t - now_s();
    if (d > 0)
        usleep((useconds_t)(d * 1e6));
}

/* One request from 127.0.0.1. headers: NULL-terminated list or NULL. */
static long req(const char *method, const char *path, const char *const *headers, const char *body, h_resp_t *r)
{
    char url[512];
    snprintf(url, sizeof url, "%s%s", g_base, path);
    if (!h_http(method, url, headers, body, body ? strlen(body) : 0, r))
        return 0;
    return r->status;
}

static long req_status(const char *method, const char *path, const char *const *headers, const char *body)
{
    h_resp_t r;
    long st = req(method, path, headers, body, &r);
    h_resp_free(&r);
    return st;
}

static const char TICKET[] = "{\"service_code\":\"LIGHT\",\"lat\":28.2,\"long\":113.1,"
                             "\"attributes\":{\"fault_type\":\"off\"},\"description\":\"limits\"}";

/* A POST of a ticket with this key: its status, and how long it took in *took. */
static long post_ticket(const char *key, double *took)
{
    char kh[128];
    snprintf(kh, sizeof kh, "X-API-Key: %s", key);
    const char *hdr[] = {"Content-Type: application/json", kh, NULL};
    double t0 = now_s();
    long st = req_status("POST", "/api/v1/tickets", hdr, TICKET);
    if (took)
        *took = now_s() - t0;
    return st;
}

static char *log_text(void)
{
    FILE *f = fopen(g_log, "rb");
    assert_non_null(f);
    buf_t b = BUF_INIT;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    return buf_detach(&b);
}

/* ---- the statement timeout ------------------------------------------------------------------ */

static void statement_over_the_timeout_answers_503_and_intake_goes_on(void **state)
{
    (void)state;
    char *key = h_api_key(g_db);
    /* Someone holds the tickets table: every statement that needs it waits, until the timeout. */
    PGconn *locker = h_db();
    h_sql_exec(locker, "BEGIN");
    h_sql_exec(locker, "LOCK TABLE intake.ticket IN ACCESS EXCLUSIVE MODE");

    double took;
    long st = post_ticket(key, &took);
    print_message("POST with the tickets table locked: HTTP %ld after %.2f s (statement timeout 1 s)\n", st, took);
    assert_int_equal(st, 503);
    assert_true(took >= 0.9);
    assert_true(took < 4.0);
    h_resp_t r;
    double t0 = now_s();
    assert_int_equal(req("GET", "/api/v1/tickets?page_size=1", NULL, NULL, &r), 503);
    assert_non_null(strstr(buf_str(&r.body), "\"code\":\"unavailable\""));
    assert_true(now_s() - t0 < 4.0);
    h_resp_free(&r);
    /* meanwhile everything else is served, at once */
    t0 = now_s();
    assert_int_equal(req_status("GET", "/healthz", NULL, NULL), 200);
    assert_int_equal(req_status("GET", "/open311/v2/services.json", NULL, NULL), 200);
    assert_true(now_s() - t0 < 1.0);

    h_sql_exec(locker, "ROLLBACK");
    PQfinish(locker);
    /* the same connections serve again */
    assert_int_equal(post_ticket(key, &took), 201);
    assert_true(took < 1.0);
    /* and the log says why the first one failed */
    char *log = log_text();
    assert_non_null(strstr(log, "57014: canceling statement due to statement timeout"));
    free(log);
    free(key);
}

/* ---- slow clients --------------------------------------------------------------------------- */

/* 1: the server closed it (FIN or RST); 0: still open. */
static int closed_by_server(int fd)
{
    char c;
    ssize_t n = recv(fd, &c, 1, MSG_DONTWAIT);
    if (n == 0)
        return 1;
    if (n < 0 && (errno == EAGAIN || errno == EWOULDBLOCK))
        return 0;
    return n < 0 ? 1 : 0; /* reset, or (n > 0) an answer we did not ask for yet */
}

static int count_open(const int *fds, int n)
{
    int open = 0;
    for (int i = 0; i < n; i++)
        if (fds[i] >= 0 && !closed_by_server(fds[i]))
            open++;
    return open;
}

/* /healthz and a POST from 127.0.0.1, each answered well and quickly. */
static void others_are_served(const char *key, const char *when)
{
    double t0 = now_s();
    long h = req_status("GET", "/healthz", NULL, NULL);
    double th = now_s() - t0, tp;
    long p = post_ticket(key, &tp);
    print_message("%s: /healthz %ld in %.3f s, POST %ld in %.3f s\n", when, h, th, p, tp);
    assert_int_equal(h, 200);
    assert_int_equal(p, 201);
    assert_true(th < 2.0);
    assert_true(tp < 2.0);
}

static void trickling_sockets_lock_out_nobody(void **state)
{
    (void)state;
    struct rlimit rl;
    assert_int_equal(getrlimit(RLIMIT_NOFILE, &rl), 0);
    if (rl.rlim_cur < TRICKLERS + 256) {
        rl.rlim_cur = rl.rlim_max == RLIM_INFINITY || rl.rlim_max > 8192 ? 8192 : rl.rlim_max;
        assert_int_equal(setrlimit(RLIMIT_NOFILE, &rl), 0);
    }
    assert_true(rl.rlim_cur >= TRICKLERS + 256);
    char *key = h_api_key(g_db);
    static const char trickle[] = "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Slow: 1\r\n\r\n";

    static int fds[TRICKLERS];
    struct sockaddr_in from = {.sin_family = AF_INET}, to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    inet_pton(AF_INET, "127.0.0.2", &from.sin_addr);
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    double t0 = now_s();
    int connected = 0;
    for (int i = 0; i < TRICKLERS; i++) {
        fds[i] = socket(AF_INET, SOCK_STREAM, 0);
        assert_true(fds[i] >= 0);
        assert_int_equal(bind(fds[i], (struct sockaddr *)&from, sizeof from), 0);
        if (connect(fds[i], (struct sockaddr *)&to, sizeof to) != 0) {
            close(fds[i]);
            fds[i] = -1;
            continue;
        }
        connected++;
        send(fds[i], trickle, 1, MSG_NOSIGNAL);
    }
    print_message("%d of %d sockets from 127.0.0.2 connected in %.2f s, each sent a byte\n", connected, TRICKLERS,
                  now_s() - t0);
    assert_true(connected > PER_IP * 4);

    /* The address holds its share and no more; everyone else is served. */
    sleep_until(t0 + 1.5);
    others_are_served(key, "1.5 s into the trickle");
    int held = count_open(fds, TRICKLERS);
    print_message("held open by intake after 1.5 s: %d (per-address limit %d)\n", held, PER_IP);
    assert_true(held <= PER_IP);
    assert_true(held >= PER_IP / 2);

    /* A byte every 5 s: the held ones never sit idle for the 15 s idle timeout. */
    sleep_until(t0 + 5.0);
    for (int i = 0; i < TRICKLERS; i++)
        if (fds[i] >= 0)
            send(fds[i], trickle + 1, 1, MSG_NOSIGNAL);
    sleep_until(t0 + 5.5);
    int held2 = count_open(fds, TRICKLERS);
    print_message("held open after the second byte: %d\n", held2);
    assert_int_equal(held2, held);
    others_are_served(key, "5.5 s into the trickle");

    /* ... but no request may take longer than the deadline to arrive whole. */
    sleep_until(t0 + REQUEST_DEADLINE_S + 1.5);
    int held3 = count_open(fds, TRICKLERS);
    print_message("held open %.1f s in (deadline %d s): %d\n", now_s() - t0, REQUEST_DEADLINE_S, held3);
    assert_int_equal(held3, 0);
    others_are_served(key, "after the deadline");
    for (int i = 0; i < TRICKLERS; i++)
        if (fds[i] >= 0)
            close(fds[i]);

    h_resp_t r;
    assert_int_equal(req("GET", "/metrics", NULL, NULL, &r), 200);
    const char *m = strstr(buf_str(&r.body), "\ngridgov_intake_slow_requests_closed_total ");
    assert_non_null(m);
    long closed = atol(m + strlen("\ngridgov_intake_slow_requests_closed_total "));
    print_message("connections closed at the request deadline (metric): %ld\n", closed);
    assert_true(closed >= held);
    h_resp_free(&r);
    free(key);
}

/* ---- rate limits ---------------------------------------------------------------------------- */

typedef struct {
    long status;
    int retry_after; /* -1: no header */
    char body[512];
} answer_t;

static answer_t call_with(const char *method, const char *path, const char *const *headers, const char *body)
{
    h_resp_t r;
    answer_t a = {.status = req(method, path, headers, body, &r), .retry_after = -1};
    snprintf(a.body, sizeof a.body, "%s", buf_str(&r.body));
    const char *h = strcasestr(buf_str(&r.headers), "\nRetry-After: ");
    if (h)
        a.retry_after = atoi(h + strlen("\nRetry-After: "));
    h_resp_free(&r);
    return a;
}

/* A native POST with an empty object: authenticated (the key counts), then refused as input, so
 * the burst creates no tickets. */
static answer_t native_empty(const char *key)
{
    char kh[128];
    snprintf(kh, sizeof kh, "X-API-Key: %s", key);
    const char *hdr[] = {"Content-Type: application/json", kh, NULL};
    return call_with("POST", "/api/v1/tickets", hdr, "{}");
}

static answer_t staff_list(const char *token)
{
    char ah[128];
    snprintf(ah, sizeof ah, "Authorization: Bearer %s", token);
    const char *hdr[] = {ah, NULL};
    return call_with("GET", "/api/v1/staff/tickets", hdr, NULL);
}

static void expect_limited(const answer_t *a, const char *what, const char *shape)
{
    if (a->status != 429 || a->retry_after < 1 || a->retry_after > 2 || !strstr(a->body, shape))
        fail_msg("%s: HTTP %ld, Retry-After %d, body %s (want 429, Retry-After 1-2, %s)", what, a->status,
                 a->retry_after, a->body, shape);
}

static void rate_limits_answer_429_with_retry_after(void **state)
{
    (void)state;
    char *a = h_api_key(g_db), *b = h_api_key(g_db);
    long long staff = h_sql_int(g_db, "SELECT id FROM registry.staff WHERE role = 'operator' ORDER BY id LIMIT 1", 0, NULL);
    char *t1 = h_staff_token(g_db, staff), *t2 = h_staff_token(g_db, staff);

    /* a burst of 5 is served (as the bad input it is), the 6th is refused */
    for (int i = 0; i < 5; i++) {
        answer_t x = native_empty(a);
        if (x.status != 400 || x.retry_after != -1)
            fail_msg("request %d of the burst: HTTP %ld %s", i + 1, x.status, x.body);
    }
    answer_t over = native_empty(a);
    expect_limited(&over, "native, 6th request", "{\"error\":{\"code\":\"rate_limited\",\"message\":\"too many requests");
    /* the key is charged wherever it is sent: Open311 in the body, JSON and XML, and with another
     * credential beside it */
    char form[256];
    snprintf(form, sizeof form, "api_key=%s&service_code=LIGHT&lat=28.2&long=113.1&attribute[fault_type]=off", a);
    const char *ct[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    answer_t o = call_with("POST", "/open311/v2/requests.json", ct, form);
    expect_limited(&o, "Open311 JSON", "[{\"code\":429,\"description\":\"too many requests");
    o = call_with("POST", "/open311/v2/requests.xml", ct, form);
    expect_limited(&o, "Open311 XML", "<errors><error><code>429</code>");
    const char *ct2[] = {"Content-Type: application/x-www-form-urlencoded", "X-API-Key: made-up-to-dodge-the-limit", NULL};
    o = call_with("POST", "/open311/v2/requests.json", ct2, form);
    expect_limited(&o, "Open311 with a made-up key beside", "\"code\":429");
    char q[160];
    snprintf(q, sizeof q, "/open311/v2/requests.json?api_key=%s", a);
    o = call_with("GET", q, NULL, NULL);
    expect_limited(&o, "Open311 GET with the key in the query", "\"code\":429");

    /* another key, and requests without a key, are not affected */
    for (int i = 0; i < 5; i++)
        assert_int_equal(native_empty(b).status, 400);
    for (int i = 0; i < 20; i++)
        assert_int_equal(req_status("GET", "/open311/v2/services.json", NULL, NULL), 200);

    /* staff tokens: each its own bucket */
    for (int i = 0; i < 5; i++) {
        answer_t x = staff_list(t1);
        if (x.status != 200)
            fail_msg("staff request %d: HTTP %ld %.200s", i + 1, x.status, x.body);
    }
    answer_t s = staff_list(t1);
    expect_limited(&s, "staff token, 6th request", "\"code\":\"rate_limited\"");
    assert_int_equal(staff_list(t2).status, 200);

    /* the limit recovers: a token is back after the wait it named */
    over = native_empty(a);
    expect_limited(&over, "still over", "rate_limited");
    usleep((useconds_t)over.retry_after * 1000000 + 100000);
    answer_t back = native_empty(a);
    if (back.status != 400)
        fail_msg("after Retry-After %d s: HTTP %ld %s", over.retry_after, back.status, back.body);
    assert_int_equal(native_empty(a).status, 429); /* one token, not a new burst */

    h_resp_t r;
    assert_int_equal(req("GET", "/metrics", NULL, NULL, &r), 200);
    const char *m = strstr(buf_str(&r.body), "\ngridgov_intake_rate_limited_total ");
    assert_non_null(m);
    assert_true(atol(m + strlen("\ngridgov_intake_rate_limited_total ")) >= 8);
    h_resp_free(&r);
    free(a);
    free(b);
    free(t1);
    free(t2);
}

/* ---- libmicrohttpd's messages ----------------------------------------------------------------- */

static void libmicrohttpd_messages_are_json_log_lines(void **state)
{
    (void)state;
    /* a request libmicrohttpd refuses itself, before intake sees it */
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in to = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    inet_pton(AF_INET, "127.0.0.1", &to.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&to, sizeof to), 0);
    const char *bad = "GET /healthz HTTP/1.1\r\nHost: x\r\nContent-Length: lots\r\n\r\n";
    assert_true(send(fd, bad, strlen(bad), MSG_NOSIGNAL) == (ssize_t)strlen(bad));
    char in[64] = "";
    struct timeval tv = {3, 0};
    setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
    assert_true(recv(fd, in, sizeof in - 1, 0) > 0);
    close(fd);
    assert_int_equal(strncmp(in, "HTTP/1.1 400", 12), 0);
    usleep(200 * 1000);

    /* every line of intake's log is a JSON object, libmicrohttpd's included (the slow clients
     * above made it refuse a thousand connections: those are there too, counted, not repeated) */
    char *log = log_text();
    int lines = 0, from_mhd = 0, content_length = 0, refused_counted = 0;
    char *save = NULL;
    for (char *l = strtok_r(log, "\n", &save); l; l = strtok_r(NULL, "\n", &save), lines++) {
        json_error_t je;
        json_t *j = json_loads(l, 0, &je);
        if (!j || !json_is_object(j))
            fail_msg("not a JSON line in intake's log: %s", l);
        const char *msg = json_string_value(json_object_get(j, "msg"));
        assert_non_null(msg);
        assert_string_equal(json_string_value(json_object_get(j, "svc")), "intake");
        if (!strncmp(msg, "http: ", 6)) {
            from_mhd++;
            assert_string_equal(json_string_value(json_object_get(j, "level")), "warn");
        }
        if (strstr(msg, "http: Failed to parse `Content-Length' header"))
            content_length++;
        if (strstr(msg, "connection limit") && strstr(msg, "more like it)"))
            refused_counted++;
        json_decref(j);
    }
    print_message("intake's log: %d lines, %d from libmicrohttpd\n", lines, from_mhd);
    assert_int_equal(content_length, 1);
    assert_true(refused_counted >= 1); /* "Server reached connection limit ... (and 1035 more like it)" */
    assert_true(lines < 200);
    free(log);
}

/* ---- setup ---------------------------------------------------------------------------------- */

static void stop_leftover_intake(void)
{
    if (g_pid > 0)
        h_stop(g_pid, SIGKILL);
}

static int setup(void **state)
{
    (void)state;
    atexit(stop_leftover_intake);
    g_db = h_db();
    g_port = h_port(100);
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", g_port);
    snprintf(g_log, sizeof g_log, "%s/intake-%d.log", h_env("GRIDGOV_TEST_VAR"), g_port);
    unlink(g_log);
    static const char *const env[] = {"GRIDGOV_DB_STATEMENT_TIMEOUT_MS=1000", "GRIDGOV_HTTP_REQUEST_TIMEOUT_S=8",
                                      "GRIDGOV_HTTP_PER_IP_CONNECTIONS=64", "GRIDGOV_RATE_LIMIT_PER_MINUTE=30",
                                      "GRIDGOV_RATE_LIMIT_BURST=5", NULL};
    g_pid = h_start_intake(g_port, h_port(101), env);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int st = h_stop(g_pid, SIGTERM);
    g_pid = 0;
    PQfinish(g_db);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        g_teardown_failed = 1; /* cmocka does not count a failed group teardown; main() does */
        fprintf(stderr, "gridgov-intake did not exit 0 on SIGTERM (wait status %d)\n", st);
        return -1;
    }
    return 0;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(statement_over_the_timeout_answers_503_and_intake_goes_on),
        cmocka_unit_test(trickling_sockets_lock_out_nobody),
        cmocka_unit_test(rate_limits_answer_429_with_retry_after),
        cmocka_unit_test(libmicrohttpd_messages_are_json_log_lines),
    };
    int rc = cmocka_run_group_tests_name("limits", tests, setup, teardown);
    curl_global_cleanup();
    return rc || g_teardown_failed ? 1 : 0;
}
