/* Durability of intake: during a load of 2,000 Open311 POSTs intake is killed with SIGKILL and
 * started again. Afterwards every POST that was answered 200 exists exactly once, with exactly
 * one ticket.created event, and every event is published. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define TOTAL 2000
#define THREADS 4
#define KILL_AFTER 600

static char g_key[80];
static char g_run[32];
static int g_http, g_pub;
static atomic_int g_answered;
static atomic_int g_attempts;
static char *g_codes[TOTAL]; /* code of each POST answered 200, else NULL */

static void *client(void *arg)
{
    long t = (long)arg;
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/open311/v2/requests.json", g_http);
    const char *hdr[] = {"Content-Type: application/x-www-form-urlencoded; charset=utf-8", NULL};
    for (int i = (int)t; i < TOTAL; i += THREADS) {
        atomic_fetch_add(&g_attempts, 1);
        buf_t body = BUF_INIT;
        char desc[96];
        snprintf(desc, sizeof desc, "dur-%s-%d 村口路灯不亮", g_run, i);
        buf_printf(&body, "api_key=%s&service_code=LIGHT&lat=28.2&long=113.1&attribute%%5Bfault_type%%5D=off&description=",
                   g_key);
        h_urlencode(&body, desc);
        h_resp_t r;
        bool ok = h_http("POST", url, hdr, body.data, body.len, &r);
        if (ok && r.status == 200) {
            json_error_t je;
            json_t *j = json_loads(buf_str(&r.body), 0, &je);
            const char *code = json_string_value(json_object_get(json_array_get(j, 0), "service_request_id"));
            if (code)
                g_codes[i] = strdup(code);
            json_decref(j);
            atomic_fetch_add(&g_answered, 1);
        } else {
            /* intake is down: no answer, nothing promised; back off a little */
            struct timespec ts = {0, 5 * 1000000L};
            nanosleep(&ts, NULL);
        }
        h_resp_free(&r);
        buf_free(&body);
    }
    return NULL;
}

static void sigkill_during_load_loses_no_answered_ticket(void **state)
{
    (void)state;
    PGconn *db = h_db();
    char *key = h_api_key(db);
    snprintf(g_key, sizeof g_key, "%s", key);
    free(key);
    snprintf(g_run, sizeof g_run, "%ld", (long)time(NULL) ^ (long)getpid());
    g_http = h_port(30);
    g_pub = h_port(31);

    /* 2,000 POSTs from one key as fast as 4 threads go: far over the per-key rate limit, which is
     * not what this test is about (test_limits is) */
    static const char *const env[] = {"GRIDGOV_RATE_LIMIT_PER_MINUTE=0", NULL};
    pid_t intake = h_start_intake(g_http, g_pub, env);
    pthread_t th[THREADS];
    for (long t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, client, (void *)t);
    while (atomic_load(&g_answered) < KILL_AFTER)
        usleep(1000);
    int st = h_stop(intake, SIGKILL);
    assert_true(WIFSIGNALED(st) && WTERMSIG(st) == SIGKILL);
    int answered_at_kill = atomic_load(&g_answered);
    usleep(300 * 1000);
    intake = h_start_intake(g_http, g_pub, env);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    print_message("answered %d of %d POSTs (%d before the kill)\n", atomic_load(&g_answered), TOTAL, answered_at_kill);
    assert_true(atomic_load(&g_answered) > answered_at_kill); /* the restarted intake served too */
    assert_true(atomic_load(&g_answered) < TOTAL);             /* and the kill did cost answers */

    /* Every answered code: exactly one ticket with our description, exactly one event. */
    json_t *codes = json_array();
    for (int i = 0; i < TOTAL; i++)
        if (g_codes[i])
            json_array_append_new(codes, json_string(g_codes[i]));
    char *codes_json = json_dumps(codes, JSON_COMPACT);
    const char *p1[] = {codes_json};
    long long tickets = h_sql_int(db,
                                  "SELECT count(*) FROM intake.ticket WHERE code IN "
                                  "(SELECT jsonb_array_elements_text($1::jsonb))",
                                  1, p1);
    long long events = h_sql_int(db,
                                 "SELECT count(*) FROM bus.outbox WHERE type = 'ticket.created' AND data->>'code' IN "
                                 "(SELECT jsonb_array_elements_text($1::jsonb))",
                                 1, p1);
    assert_int_equal(tickets, json_array_size(codes));
    assert_int_equal(events, json_array_size(codes));
    /* Each answer names the ticket that holds that request's own description. */
    for (int i = 0; i < TOTAL; i++) {
        if (!g_codes[i])
            continue;
        char desc[96];
        snprintf(desc, sizeof desc, "dur-%s-%d 村口路灯不亮", g_run, i);
        const char *p[] = {g_codes[i], desc};
        assert_int_equal(h_sql_int(db, "SELECT count(*) FROM intake.ticket WHERE code = $1 AND description = $2", 2, p), 1);
    }
    /* Tickets committed but never answered may exist; even they have exactly one event. */
    char like[64];
    snprintf(like, sizeof like, "dur-%s-%%", g_run);
    const char *p2[] = {like};
    assert_int_equal(h_sql_int(db,
                               "SELECT count(*) FROM intake.ticket t WHERE t.description LIKE $1 AND "
                               "(SELECT count(*) FROM bus.outbox o WHERE o.type = 'ticket.created' AND "
                               " o.data->>'code' = t.code) <> 1",
                               1, p2),
                     0);
    /* No duplicate descriptions: a request was never stored twice. */
    assert_int_equal(h_sql_int(db,
                               "SELECT count(*) FROM (SELECT description FROM intake.ticket WHERE description LIKE $1 "
                               "GROUP BY description HAVING count(*) > 1) d",
                               1, p2),
                     0);
    /* The relay of the new intake publishes what the killed one left behind. */
    long long unpublished = -1;
    for (int i = 0; i < 100 && unpublished != 0; i++) {
        unpublished = h_sql_int(db, "SELECT count(*) FROM bus.unpublished WHERE source = 'intake'", 0,
                                NULL);
        if (unpublished)
            usleep(100 * 1000);
    }
    assert_int_equal(unpublished, 0);

    st = h_stop(intake, SIGTERM);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    free(codes_json);
    json_decref(codes);
    for (int i = 0; i < TOTAL; i++)
        free(g_codes[i]);
    PQfinish(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sigkill_during_load_loses_no_answered_ticket),
    };
    return cmocka_run_group_tests_name("durability", tests, NULL, NULL);
}
