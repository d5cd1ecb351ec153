/* Nobody starves the rest: the lists (README, "Lists: pages, cursors and bounds"). Every list
 * intake serves pages by keyset (a cursor) or by a page number that may not reach past the first
 * 10,000 rows, over a bounded time window, so no client can make PostgreSQL walk far; a GET
 * never takes the last database connection a POST needs, and /healthz has a connection of its
 * own (services/intake/pool.h).
 *
 * The database gets 150,000 tickets more for this test, written straight into intake.ticket by
 * one statement over the last 260 days (a busy county's year), marked by an API client of their
 * own and deleted in teardown. They carry no ticket.created event: through intake.create_ticket
 * every later router of the suite would route all of them.
 *
 *  - 24 clients ask again and again for page 800 of 500 (native and Open311, in the widest
 *    windows they allow and wider) while /healthz must answer 200 and a POST 201, each within
 *    2 s, every 250 ms. Before the bounds, each such page had PostgreSQL walk and sort every
 *    ticket, the 24 held every connection intake has, and healthz and POSTs waited for one
 *    until they failed. Now the deep pages answer 400 at once and say what to do instead.
 *  - The same with the heaviest lists that are allowed (the deepest page, a filter that
 *    matches nothing in a full window): they answer 200, and healthz and POSTs still answer
 *    in time, on the connection left to writes and on healthz's own.
 *  - The native list's cursor walks a window with equal times (to the microsecond) exactly once,
 *    in order, the same rows the page numbers give; the bounds and their errors; the staff queue
 *    by cursor. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define CLIENTS 24
#define SYNTHETIC 150000
#define PROBE_ROUNDS 8
#define PROBE_LIMIT_MS 2000

static pid_t g_pid;
static PGconn *g_db;
static char *g_key, *g_token;
static char g_load_client[24]; /* the API client that marks the synthetic tickets */
static int g_http;
static int g_teardown_failed;

/* ---------------------------------------------------------------------------------------------
 * HTTP with a deadline */

static size_t sink(char *p, size_t sz, size_t n, void *ud)
{
    buf_append(ud, p, sz * n);
    return sz * n;
}

typedef struct {
    long status; /* 0: no answer within the deadline */
    long ms;
    buf_t body;
} answer_t;

/* One request on handle c (reused: keep-alive, as real clients do). */
static void call(CURL *c, const char *method, const char *path, const char *const *headers, const char *body,
                 long timeout_ms, answer_t *a)
{
    char url[1024];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", g_http, path);
    struct curl_slist *hl = curl_slist_append(NULL, "Expect:");
    for (const char *const *h = headers; h && *h; h++)
        hl = curl_slist_append(hl, *h);
    buf_reset(&a->body);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &a->body);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, NULL);
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    a->status = 0;
    if (curl_easy_perform(c) == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &a->status);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    a->ms = (t1.tv_sec - t0.tv_sec) * 1000 + (t1.tv_nsec - t0.tv_nsec) / 1000000;
    curl_slist_free_all(hl);
}

static json_t *get_json(const char *path, const char *const *headers, long want)
{
    CURL *c = curl_easy_init();
    answer_t a = {.body = BUF_INIT};
    call(c, "GET", path, headers, NULL, 30000, &a);
    curl_easy_cleanup(c);
    if (a.status != want)
        fail_msg("GET %s answered %ld, not %ld: %.300s", path, a.status, want, buf_str(&a.body));
    json_t *j = json_loads(buf_str(&a.body), 0, NULL);
    if (!j)
        fail_msg("GET %s: not JSON: %.300s", path, buf_str(&a.body));
    buf_free(&a.body);
    return j;
}

/* ---------------------------------------------------------------------------------------------
 * 24 clients with the same heavy lists, and the probes that must still be answered */

typedef struct {
    const char *what;
    const char *path;
    long want;         /* the status each answer must have */
    const char *error; /* for a 400: a word its error must hold */
    atomic_long answered, wrong;
    atomic_long slowest_ms;
    char sample[400]; /* a wrong answer, for the failure message */
    pthread_mutex_t lock;
} heavy_t;

static atomic_int g_stop, g_started;

typedef struct {
    heavy_t *kinds;
    size_t n, first;
} client_arg_t;

static void *client(void *p)
{
    client_arg_t *arg = p;
    CURL *c = curl_easy_init();
    answer_t a = {.body = BUF_INIT};
    atomic_fetch_add(&g_started, 1);
    for (size_t i = arg->first; !atomic_load(&g_stop); i++) {
        heavy_t *k = &arg->kinds[i % arg->n];
        call(c, "GET", k->path, NULL, NULL, 20000, &a);
        atomic_fetch_add(&k->answered, 1);
        long slowest = atomic_load(&k->slowest_ms);
        while (a.ms > slowest && !atomic_compare_exchange_weak(&k->slowest_ms, &slowest, a.ms)) {
        }
        bool right = a.status == k->want && (!k->error || strstr(buf_str(&a.body), k->error));
        if (!right) {
            atomic_fetch_add(&k->wrong, 1);
            pthread_mutex_lock(&k->lock);
            snprintf(k->sample, sizeof k->sample, "%ld after %ld ms: %.300s", a.status, a.ms, buf_str(&a.body));
            pthread_mutex_unlock(&k->lock);
        }
    }
    buf_free(&a.body);
    curl_easy_cleanup(c);
    return NULL;
}

/* Runs the clients over these lists and, meanwhile, PROBE_ROUNDS rounds of GET /healthz and a
 * POST of a ticket, each of which must be answered (200, 201) within PROBE_LIMIT_MS. Then checks
 * that every list was answered as it must be. */
static void lists_under_load_leave_healthz_and_posts_answering(heavy_t *kinds, size_t n)
{
    for (size_t i = 0; i < n; i++)
        pthread_mutex_init(&kinds[i].lock, NULL);
    atomic_store(&g_stop, 0);
    atomic_store(&g_started, 0);
    pthread_t th[CLIENTS];
    client_arg_t args[CLIENTS];
    for (int i = 0; i < CLIENTS; i++) {
        args[i] = (client_arg_t){.kinds = kinds, .n = n, .first = (size_t)i};
        assert_int_equal(pthread_create(&th[i], NULL, client, &args[i]), 0);
    }
    while (atomic_load(&g_started) < CLIENTS)
        usleep(10000);
    usleep(300000); /* all 24 have a list in flight */

    char key_h[160], fail_msg_buf[600] = "";
    snprintf(key_h, sizeof key_h, "X-API-Key: %s", g_key);
    const char *post_h[] = {key_h, "Content-Type: application/json", NULL};
    CURL *probe = curl_easy_init();
    answer_t a = {.body = BUF_INIT};
    long worst_health = 0, worst_post = 0;
    for (int round = 0; round < PROBE_ROUNDS && !fail_msg_buf[0]; round++) {
        call(probe, "GET", "/healthz", NULL, NULL, PROBE_LIMIT_MS, &a);
        if (a.ms > worst_health)
            worst_health = a.ms;
        if (a.status != 200)
            snprintf(fail_msg_buf, sizeof fail_msg_buf, "round %d: /healthz answered %ld after %ld ms (limit %d): %.200s",
                     round, a.status, a.ms, PROBE_LIMIT_MS, buf_str(&a.body));
        call(probe, "POST", "/api/v1/tickets", post_h,
             "{\"service_code\":\"LIGHT\",\"lat\":28.2,\"long\":113.1,\"attributes\":{\"fault_type\":\"off\"},"
             "\"description\":\"翻页压测期间的新诉求\"}",
             PROBE_LIMIT_MS, &a);
        if (a.ms > worst_post)
            worst_post = a.ms;
        if (a.status != 201 && !fail_msg_buf[0])
            snprintf(fail_msg_buf, sizeof fail_msg_buf, "round %d: POST /api/v1/tickets answered %ld after %ld ms (limit %d): %.200s",
                     round, a.status, a.ms, PROBE_LIMIT_MS, buf_str(&a.body));
        usleep(250000);
    }
    buf_free(&a.body);
    curl_easy_cleanup(probe);
    atomic_store(&g_stop, 1);
    for (int i = 0; i < CLIENTS; i++)
        pthread_join(th[i], NULL);

    print_message("probes: slowest /healthz %ld ms, slowest POST %ld ms\n", worst_health, worst_post);
    bool lists_ok = true;
    for (size_t i = 0; i < n; i++) {
        heavy_t *k = &kinds[i];
        print_message("  %-58s %5ld answers, %ld wrong, slowest %ld ms\n", k->what, atomic_load(&k->answered),
                      atomic_load(&k->wrong), atomic_load(&k->slowest_ms));
        if (atomic_load(&k->wrong)) {
            print_error("%s: GET %s must answer %ld%s%s; one answered %s\n", k->what, k->path, k->want,
                        k->error ? " with " : "", k->error ? k->error : "", k->sample);
            lists_ok = false;
        }
        pthread_mutex_destroy(&k->lock);
    }
    if (fail_msg_buf[0])
        fail_msg("%s", fail_msg_buf);
    assert_true(lists_ok);
}

/* The wide window spelled for a query: all of the 21st century. */
#define CENTURY "since=2000-01-01T00:00:00Z&until=2100-01-01T00:00:00Z"

static void deep_pages_from_24_clients_starve_neither_healthz_nor_a_post(void **state)
{
    (void)state;
    /* each the widest its API allows, or wider: the bounds must hold whatever else is asked */
    heavy_t kinds[] = {
        {.what = "native page 800 of 500", .path = "/api/v1/tickets?page=800&page_size=500", .want = 400,
         .error = "page_too_deep"},
        {.what = "native page 800 of 500 over a century", .path = "/api/v1/tickets?page=800&page_size=500&" CENTURY,
         .want = 400, .error = "\"code\":\""},
        {.what = "native page 800 of 500, status filter, 366 days",
         .path = "/api/v1/tickets?page=800&page_size=500&status=open&since=2025-01-01T00:00:00Z&until=2026-01-02T00:00:00Z",
         .want = 400, .error = "page_too_deep"},
        {.what = "Open311 page 800 of 500", .path = "/open311/v2/requests.json?page=800&page_size=500", .want = 400,
         .error = "narrow"},
        {.what = "Open311 page 800 of 500 over 90 days",
         .path = "/open311/v2/requests.json?page=800&page_size=500&start_date=2025-01-01T00:00:00Z&end_date=2025-04-01T00:00:00Z",
         .want = 400, .error = "narrow"},
        {.what = "Open311 updates page 800 of 500",
         .path = "/open311/v2/servicerequestupdates.json?page=800&page_size=500&start_date=2025-01-01T00:00:00Z",
         .want = 400, .error = "narrow"},
    };
    lists_under_load_leave_healthz_and_posts_answering(kinds, sizeof kinds / sizeof kinds[0]);
}

static void the_heaviest_allowed_lists_leave_a_connection_to_posts_and_healthz(void **state)
{
    (void)state;
    /* A filter that matches no synthetic ticket makes PostgreSQL walk the whole window: every
     * one of these is allowed, and answers, and costs what the bounds allow and no more. */
    heavy_t kinds[] = {
        {.what = "native deepest page (20 of 500), default window", .path = "/api/v1/tickets?page=20&page_size=500",
         .want = 200},
        {.what = "native rare channel over the default window", .path = "/api/v1/tickets?channel=hotline&page_size=500",
         .want = 200},
        {.what = "native closed tickets over the default window", .path = "/api/v1/tickets?status=closed&page_size=500",
         .want = 200},
        {.what = "Open311 deepest page (10 of 1000)", .path = "/open311/v2/requests.json?page=10", .want = 200},
        {.what = "Open311 closed requests in 90 days", .path = "/open311/v2/requests.json?status=closed", .want = 200},
    };
    lists_under_load_leave_healthz_and_posts_answering(kinds, sizeof kinds / sizeof kinds[0]);
}

/* ---------------------------------------------------------------------------------------------
 * the cursor, the page numbers and the bounds */

/* The codes of a native list answer, "a b c". */
static void codes_of(const json_t *j, const char *member, buf_t *out)
{
    size_t i;
    const json_t *t;
    json_array_foreach(json_object_get(j, member), i, t)
        buf_printf(out, "%s%s", out->len ? " " : "", json_string_value(json_object_get(t, "code")));
}

/* A window in 2020 that only this test writes to: 7 tickets, three of them at the same
 * microsecond and two a microsecond apart, so the order must come from (time, id). */
#define W2020 "since=2020-01-01T00:00:00Z&until=2020-01-02T00:00:00Z"

static void the_cursor_walks_a_window_once_in_order_ties_included(void **state)
{
    (void)state;
    const char *p[] = {g_load_client};
    assert_int_equal(h_sql_int(g_db,
                               "WITH ins AS (INSERT INTO intake.ticket (id, code, channel, api_client_id, service_code,"
                               " description, lat, long, attributes, requested_at)"
                               " SELECT i, '2001010' || lpad(i::text, 6, '0'), 'api', $1::bigint, 'LIGHT', '游标测试', 28.2,"
                               " 113.1, '{\"fault_type\":\"off\"}', at FROM (SELECT nextval('intake.ticket_id_seq') AS i, at"
                               " FROM unnest(ARRAY['2020-01-01 10:00:00+00', '2020-01-01 10:00:00+00',"
                               " '2020-01-01 10:00:00.000001+00', '2020-01-01 10:00:00+00', '2020-01-01 09:59:59.999999+00',"
                               " '2020-01-01 12:00:00+00', '2020-01-01 08:00:00+00']::timestamptz[]) at) s RETURNING 1)"
                               " SELECT count(*) FROM ins",
                               1, p),
                     7);
    char *want = h_sql_text(g_db,
                            "SELECT string_agg(code, ' ' ORDER BY requested_at DESC, id DESC) FROM intake.ticket"
                            " WHERE requested_at >= '2020-01-01' AND requested_at <= '2020-01-02'",
                            0, NULL);
    assert_int_equal(strlen(want), 7 * 13 + 6);

    /* by cursor, two at a time: 4 pages, the last without a next */
    buf_t walked = BUF_INIT, paged = BUF_INIT;
    char path[512];
    snprintf(path, sizeof path, "/api/v1/tickets?page_size=2&" W2020);
    int pages = 0;
    for (;;) {
        json_t *j = get_json(path, NULL, 200);
        pages++;
        assert_true(json_array_size(json_object_get(j, "tickets")) <= 2);
        codes_of(j, "tickets", &walked);
        const json_t *next = json_object_get(j, "next");
        assert_non_null(next); /* present, null on the last page */
        if (json_is_null(next)) {
            json_decref(j);
            break;
        }
        assert_true(json_is_string(next) && strlen(json_string_value(next)) < 100);
        snprintf(path, sizeof path, "/api/v1/tickets?page_size=2&" W2020 "&cursor=%s", json_string_value(next));
        json_decref(j);
        assert_true(pages < 10);
    }
    assert_int_equal(pages, 4);
    assert_string_equal(buf_str(&walked), want);

    /* by page number: the same rows */
    for (int page = 1; page <= 4; page++) {
        snprintf(path, sizeof path, "/api/v1/tickets?page_size=2&page=%d&" W2020, page);
        json_t *j = get_json(path, NULL, 200);
        codes_of(j, "tickets", &paged);
        assert_int_equal(json_integer_value(json_object_get(j, "page")), page);
        if (page < 4)
            assert_int_equal(json_integer_value(json_object_get(j, "next_page")), page + 1);
        else
            assert_true(json_is_null(json_object_get(j, "next_page")) && json_is_null(json_object_get(j, "next")));
        json_decref(j);
    }
    assert_string_equal(buf_str(&paged), want);

    /* a cursor carries the position, not the filters: with a filter the walk goes on from there */
    snprintf(path, sizeof path, "/api/v1/tickets?page_size=3&" W2020);
    json_t *j = get_json(path, NULL, 200);
    snprintf(path, sizeof path, "/api/v1/tickets?page_size=10&service_code=LIGHT&" W2020 "&cursor=%s",
             json_string_value(json_object_get(j, "next")));
    json_decref(j);
    j = get_json(path, NULL, 200);
    buf_t rest = BUF_INIT;
    codes_of(j, "tickets", &rest);
    json_decref(j);
    assert_string_equal(buf_str(&rest), want + 3 * 14);
    buf_free(&rest);
    buf_free(&walked);
    buf_free(&paged);
    free(want);
}

static void pages_and_windows_are_bounded_and_say_what_to_do_instead(void **state)
{
    (void)state;
    /* the deepest page allowed answers, and offers no page number past it, only the cursor */
    json_t *j = get_json("/api/v1/tickets?page=20&page_size=500", NULL, 200);
    assert_int_equal(json_array_size(json_object_get(j, "tickets")), 500);
    assert_true(json_is_null(json_object_get(j, "next_page")));
    assert_true(json_is_string(json_object_get(j, "next")));
    json_decref(j);
    j = get_json("/api/v1/tickets?page=21&page_size=500", NULL, 400);
    const char *msg = json_string_value(json_object_get(json_object_get(j, "error"), "message"));
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "page_too_deep");
    assert_non_null(strstr(msg, "10000"));
    assert_non_null(strstr(msg, "cursor"));
    json_decref(j);
    json_decref(get_json("/api/v1/tickets?page=200&page_size=50", NULL, 200));
    json_decref(get_json("/api/v1/tickets?page=201&page_size=50", NULL, 400));

    /* windows: 366 days at most, spelled or by default */
    json_decref(get_json("/api/v1/tickets?since=2025-01-01T00:00:00Z&until=2026-01-02T00:00:00Z", NULL, 200));
    j = get_json("/api/v1/tickets?since=2025-01-01T00:00:00Z&until=2026-01-02T00:00:01Z", NULL, 400);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "error"), "code")), "range_too_wide");
    json_decref(j);
    /* a ticket 400 days old is outside the default window, inside one that names it */
    const char *p[] = {g_load_client};
    char *code = h_sql_text(g_db,
                            "INSERT INTO intake.ticket (id, code, channel, api_client_id, service_code, description, lat, long,"
                            " attributes, requested_at) SELECT i, '3001010' || lpad(i::text, 6, '0'), 'sms', $1::bigint, 'LIGHT',"
                            " '窗口测试', 28.2, 113.1, '{\"fault_type\":\"off\"}', now() - interval '400 days'"
                            " FROM nextval('intake.ticket_id_seq') i RETURNING code",
                            1, p);
    char *since = h_sql_text(g_db,
                             "SELECT to_char((now() - interval '401 days') AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')",
                             0, NULL);
    buf_t codes = BUF_INIT;
    j = get_json("/api/v1/tickets?channel=sms&page_size=500", NULL, 200);
    codes_of(j, "tickets", &codes);
    json_decref(j);
    assert_null(strstr(buf_str(&codes), code));
    char path[256];
    snprintf(path, sizeof path, "/api/v1/tickets?channel=sms&page_size=500&since=%s", since);
    buf_reset(&codes);
    j = get_json(path, NULL, 200);
    codes_of(j, "tickets", &codes);
    json_decref(j);
    assert_non_null(strstr(buf_str(&codes), code));
    buf_free(&codes);
    free(code);
    free(since);

    /* Open311: 1000 a page by default and at most, 90 days, 10,000 rows deep */
    j = get_json("/open311/v2/requests.json?page=10", NULL, 200);
    assert_int_equal(json_array_size(j), 1000);
    json_decref(j);
    j = get_json("/open311/v2/requests.json?page=11", NULL, 400);
    assert_non_null(strstr(json_string_value(json_object_get(json_array_get(j, 0), "description")), "10000"));
    json_decref(j);
    json_decref(get_json("/open311/v2/requests.json?page=20&page_size=500", NULL, 200));
    json_decref(get_json("/open311/v2/requests.json?page=21&page_size=500", NULL, 400));
    json_decref(get_json("/open311/v2/servicerequestupdates.json?page=11", NULL, 400));
}

static void the_staff_queue_pages_by_cursor(void **state)
{
    (void)state;
    char auth[160];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", g_token);
    const char *hdr[] = {auth, NULL};
    /* the operator's queue is every routed ticket (the previous release left 6): newest first,
     * by (received_at, ticket id), two a page */
    long long routed = h_sql_int(g_db, "SELECT count(*) FROM router.ticket_assignment", 0, NULL);
    assert_true(routed >= 5);
    int pages = 0;
    buf_t walked = BUF_INIT;
    char path[512] = "/api/v1/staff/tickets?page_size=2";
    for (; pages < 5; pages++) {
        json_t *j = get_json(path, hdr, 200);
        size_t n = json_array_size(json_object_get(j, "tickets"));
        assert_true(n == 2 || (n == 1 && routed == 2 * pages + 1));
        codes_of(j, "tickets", &walked);
        const json_t *next = json_object_get(j, "next");
        assert_true(json_is_string(next) || (json_is_null(next) && routed <= 2 * pages + 2));
        if (json_is_null(next)) {
            json_decref(j);
            pages++;
            break;
        }
        snprintf(path, sizeof path, "/api/v1/staff/tickets?page_size=2&cursor=%s", json_string_value(next));
        json_decref(j);
    }
    char lim[8];
    snprintf(lim, sizeof lim, "%d", 2 * pages);
    const char *p[] = {lim};
    char *want = h_sql_text(g_db,
                            "SELECT string_agg(code, ' ' ORDER BY received_at DESC, ticket_id DESC) FROM"
                            " (SELECT * FROM router.ticket_assignment ORDER BY received_at DESC, ticket_id DESC"
                            "  LIMIT $1::int) t",
                            1, p);
    assert_string_equal(buf_str(&walked), want);
    buf_free(&walked);
    free(want);
    json_decref(get_json("/api/v1/staff/tickets?page_size=501", hdr, 400));
    json_decref(get_json("/api/v1/staff/tickets?cursor=nonsense", hdr, 400));
}

/* ---------------------------------------------------------------------------------------------
 * setup */

static void stop_leftover_intake(void)
{
    if (g_pid > 0)
        h_stop(g_pid, SIGKILL);
}

static void delete_synthetic(void)
{
    const char *p[] = {g_load_client};
    PQclear(PQexecParams(g_db, "DELETE FROM intake.ticket WHERE api_client_id = $1::bigint", 1, NULL, p, NULL, NULL, 0));
    PGconn *owner = h_db_owner();
    h_sql_exec(owner, "VACUUM ANALYZE intake.ticket");
    PQfinish(owner);
}

static int setup(void **state)
{
    (void)state;
    atexit(stop_leftover_intake);
    g_db = h_db();
    g_key = h_api_key(g_db);
    char *id = h_sql_text(g_db,
                          "INSERT INTO registry.api_client (name, key_sha256, active) VALUES"
                          " ('test_heavy_pages: synthetic tickets', sha256(gen_random_uuid()::text::bytea), false)"
                          " RETURNING id::text",
                          0, NULL);
    snprintf(g_load_client, sizeof g_load_client, "%s", id);
    free(id);
    char n[16];
    snprintf(n, sizeof n, "%d", SYNTHETIC);
    const char *p[] = {g_load_client, n};
    long long made = h_sql_int(g_db,
                               "WITH ins AS (INSERT INTO intake.ticket (id, code, channel, api_client_id, service_code,"
                               " description, lat, long, attributes, requested_at)"
                               " SELECT i, to_char(at AT TIME ZONE 'Asia/Shanghai', 'YYMMDD') || lpad(i::text, 7, '0'), 'api',"
                               " $1::bigint, 'LIGHT', '压测：村口路灯不亮', 28.2, 113.1, '{\"fault_type\":\"off\"}', at"
                               " FROM (SELECT nextval('intake.ticket_id_seq') AS i, now() - g * interval '150 seconds' AS at"
                               "       FROM generate_series(1, $2::int) g) s RETURNING 1)"
                               " SELECT count(*) FROM ins",
                               2, p);
    if (made != SYNTHETIC)
        return -1;
    PGconn *owner = h_db_owner();
    h_sql_exec(owner, "ANALYZE intake.ticket");
    PQfinish(owner);
    char *op = h_sql_text(g_db, "SELECT min(id)::text FROM registry.staff WHERE role = 'operator' AND active", 0, NULL);
    g_token = h_staff_token(g_db, atoll(op));
    free(op);
    g_http = h_port(160);
    /* four connections, as README's configuration table has it: 24 clients are six for each */
    static const char *const env[] = {"GRIDGOV_HTTP_THREADS=4", NULL};
    g_pid = h_start_intake(g_http, h_port(161), env);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int st = h_stop(g_pid, SIGTERM);
    g_pid = 0;
    delete_synthetic();
    free(g_key);
    free(g_token);
    PQfinish(g_db);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        g_teardown_failed = 1;
        print_error("gridgov-intake did not exit 0 on SIGTERM (wait status %d; see its log in $GRIDGOV_TEST_VAR)\n", st);
    }
    return 0;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(deep_pages_from_24_clients_starve_neither_healthz_nor_a_post),
        cmocka_unit_test(the_heaviest_allowed_lists_leave_a_connection_to_posts_and_healthz),
        cmocka_unit_test(the_cursor_walks_a_window_once_in_order_ties_included),
        cmocka_unit_test(pages_and_windows_are_bounded_and_say_what_to_do_instead),
        cmocka_unit_test(the_staff_queue_pages_by_cursor),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc || g_teardown_failed ? 1 : 0;
}
