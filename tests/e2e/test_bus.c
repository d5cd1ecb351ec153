/* The bus end to end: intake's events reach a durable consumer (common/consumer.c) exactly
 * once in effect, whether the consumer was stopped while they were produced, or killed with
 * SIGKILL in the middle of processing them. The consumer's effect is a row in a table with no
 * unique key, so a second delivery would show as a duplicate. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "consumer.h"
#include "harness.h"

#define N_EVENTS 1000

static char g_key[80];
static int g_http, g_pub;
static pid_t g_intake;
static char g_endpoint[64];
static bus_t *g_bus; /* the test's consumers: CURVE clients of intake with an operator's key */

static int setup(void **state)
{
    (void)state;
    /* the test's own table belongs to the owner; the consumers write it as the daemons' role */
    PGconn *db = h_db_owner();
    h_sql_exec(db, "CREATE SCHEMA IF NOT EXISTS test");
    h_sql_exec(db, "CREATE TABLE IF NOT EXISTS test.effect (consumer text, event_id uuid, code text, "
                   "at timestamptz DEFAULT clock_timestamp())");
    char *k = h_api_key(db);
    snprintf(g_key, sizeof g_key, "%s", k);
    free(k);
    PQfinish(db);
    g_http = h_port(40);
    g_pub = h_port(41);
    snprintf(g_endpoint, sizeof g_endpoint, "intake@tcp://127.0.0.1:%d", g_pub);
    g_bus = h_bus_as(NULL, true);
    /* 1,000 tickets as fast as one key can send them: far over the per-key rate limit, which is
     * not what this test is about (test_limits is) */
    static const char *const env[] = {"GRIDGOV_RATE_LIMIT_PER_MINUTE=0", NULL};
    g_intake = h_start_intake(g_http, g_pub, env);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int st = h_stop(g_intake, SIGTERM);
    bus_destroy(&g_bus);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* The effect: one row per processing, in the consumer's transaction. A ticket whose description
 * starts with "poison" always fails (a deterministic bug in a handler). */
/* How long each effect takes: a little, so a kill lands in the middle of the stream; the killed
 * consumer's child takes longer (run_consumer_process), since its parent must see a third of the
 * effects and kill it before the rest commit, on a loaded machine too. */
static long g_effect_ns = 300000;

static bool record_effect(PGconn *conn, const json_t *env, const char *raw, void *arg, char *err, size_t errsz)
{
    (void)raw;
    const char *desc = json_string_value(json_object_get(json_object_get(env, "data"), "description"));
    if (desc && !strncmp(desc, "poison", 6)) {
        snprintf(err, errsz, "cannot handle %s", desc);
        return false;
    }
    const char *p[] = {arg, json_string_value(json_object_get(env, "id")),
                       json_string_value(json_object_get(json_object_get(env, "data"), "code"))};
    PGresult *r = PQexecParams(conn, "INSERT INTO test.effect (consumer, event_id, code) VALUES ($1, $2, $3)", 3, NULL, p,
                               NULL, NULL, 0);
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        snprintf(err, errsz, "%s", PQerrorMessage(conn));
    PQclear(r);
    struct timespec ts = {0, g_effect_ns};
    nanosleep(&ts, NULL);
    return ok;
}

static consumer_t *new_consumer(const char *name)
{
    char err[512];
    consumer_opts_t o = {.name = name, .bus = g_bus, .conninfo = h_env("GRIDGOV_DB"), .endpoints = g_endpoint,
                         .type_prefix = "ticket.", .sweep_ms = 200, .fn = record_effect, .arg = (void *)name};
    consumer_t *c = consumer_new(&o, err, sizeof err);
    if (!c)
        fail_msg("consumer_new: %s", err);
    return c;
}

/* Posts n tickets tagged with tag; returns how many were answered 200. */
static int post_tickets(int n, const char *tag)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/open311/v2/requests.json", g_http);
    const char *hdr[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    int ok = 0;
    for (int i = 0; i < n; i++) {
        buf_t b = BUF_INIT;
        buf_printf(&b, "api_key=%s&service_code=LIGHT&lat=28.21&long=113.11&attribute%%5Bfault_type%%5D=flicker"
                       "&description=%s-%d",
                   g_key, tag, i);
        h_resp_t r;
        if (h_http("POST", url, hdr, b.data, b.len, &r) && r.status == 200)
            ok++;
        h_resp_free(&r);
        buf_free(&b);
    }
    return ok;
}

static long long count_effects(PGconn *db, const char *consumer, const char *tag, bool distinct)
{
    char like[64];
    snprintf(like, sizeof like, "%s-%%", tag);
    const char *p[] = {consumer, like};
    return h_sql_int(db,
                     distinct ? "SELECT count(DISTINCT e.event_id) FROM test.effect e JOIN intake.ticket t ON t.code = e.code "
                                "WHERE e.consumer = $1 AND t.description LIKE $2"
                              : "SELECT count(*) FROM test.effect e JOIN intake.ticket t ON t.code = e.code "
                                "WHERE e.consumer = $1 AND t.description LIKE $2",
                     2, p);
}

static void consumer_stopped_while_events_are_produced_processes_each_once(void **state)
{
    (void)state;
    PGconn *db = h_db();
    const char *name = "test-stopped";
    consumer_t *c = new_consumer(name);
    assert_true(consumer_catch_up(c) >= 0); /* up to date with the past */
    consumer_destroy(&c);

    assert_int_equal(post_tickets(N_EVENTS, "stopped"), N_EVENTS);
    assert_int_equal(count_effects(db, name, "stopped", false), 0);

    c = new_consumer(name);
    for (int i = 0; i < 600 && count_effects(db, name, "stopped", false) < N_EVENTS; i++)
        assert_true(consumer_poll(c, 50) >= 0);
    /* a few more turns: nothing may be processed twice */
    for (int i = 0; i < 5; i++)
        assert_true(consumer_poll(c, 50) >= 0);
    assert_int_equal(count_effects(db, name, "stopped", false), N_EVENTS);
    assert_int_equal(count_effects(db, name, "stopped", true), N_EVENTS);

    /* Rewinding the cursor replays the outbox: the inbox keeps effects from repeating. */
    char err[256];
    assert_true(consumer_rewind(c, err, sizeof err));
    assert_true(consumer_catch_up(c) == 0);
    assert_int_equal(count_effects(db, name, "stopped", false), N_EVENTS);
    consumer_destroy(&c);
    PQfinish(db);
}

static void live_events_arrive_without_waiting_for_the_sweep(void **state)
{
    (void)state;
    PGconn *db = h_db();
    const char *name = "test-live";
    char err[512];
    /* a sweep every minute: anything processed sooner came over ZeroMQ */
    consumer_opts_t o = {.name = name, .bus = g_bus, .conninfo = h_env("GRIDGOV_DB"), .endpoints = g_endpoint,
                         .type_prefix = "ticket.", .sweep_ms = 60000, .fn = record_effect, .arg = (void *)name};
    consumer_t *c = consumer_new(&o, err, sizeof err);
    assert_non_null(c);
    assert_true(consumer_poll(c, 10) >= 0); /* the first poll catches up */
    usleep(300 * 1000);                     /* let SUB join (ZeroMQ's slow joiner) */
    assert_int_equal(post_tickets(20, "live"), 20);
    for (int i = 0; i < 100 && count_effects(db, name, "live", false) < 20; i++)
        assert_true(consumer_poll(c, 20) >= 0);
    assert_int_equal(count_effects(db, name, "live", true), 20);
    consumer_destroy(&c);
    PQfinish(db);
}

/* A consumer in a child process: it loops until killed. */
static pid_t run_consumer_process(const char *name)
{
    pid_t pid = fork();
    if (pid == 0) {
        /* 100 events a transaction, so that the kill lands between commits of the 1,000; a bus
         * of its own (the parent's ZeroMQ threads are not in the child) */
        char err[512];
        g_effect_ns = 3000000; /* 3 s for the 1,000 */
        consumer_opts_t o = {.name = name, .bus = h_bus_as(NULL, true), .conninfo = h_env("GRIDGOV_DB"), .endpoints = g_endpoint,
                             .type_prefix = "ticket.", .sweep_ms = 200, .fn = record_effect, .arg = (void *)name,
                             .tx_events = 100};
        consumer_t *c = consumer_new(&o, err, sizeof err);
        if (!c)
            _exit(3);
        for (;;)
            consumer_poll(c, 50);
    }
    return pid;
}

static void consumer_killed_mid_stream_processes_each_once_after_restart(void **state)
{
    (void)state;
    PGconn *db = h_db();
    const char *name = "test-killed";
    consumer_t *c = new_consumer(name);
    assert_true(consumer_catch_up(c) >= 0);
    consumer_destroy(&c);
    assert_int_equal(post_tickets(N_EVENTS, "killed"), N_EVENTS);

    pid_t child = run_consumer_process(name);
    while (count_effects(db, name, "killed", false) < N_EVENTS / 3)
        usleep(2000);
    int st = h_stop(child, SIGKILL);
    assert_true(WIFSIGNALED(st));
    long long at_kill = count_effects(db, name, "killed", false);
    print_message("killed the consumer after %lld of %d effects\n", at_kill, N_EVENTS);
    assert_true(at_kill < N_EVENTS);

    child = run_consumer_process(name);
    for (int i = 0; i < 3000 && count_effects(db, name, "killed", false) < N_EVENTS; i++)
        usleep(10000);
    usleep(500 * 1000); /* time to do something twice, if it were going to */
    h_stop(child, SIGKILL);
    assert_int_equal(count_effects(db, name, "killed", false), N_EVENTS);
    assert_int_equal(count_effects(db, name, "killed", true), N_EVENTS);
    PQfinish(db);
}

static void a_poisoned_event_goes_to_dead_letter_and_the_rest_flow(void **state)
{
    (void)state;
    PGconn *db = h_db();
    const char *name = "test-poison";
    consumer_t *c = new_consumer(name);
    assert_true(consumer_catch_up(c) >= 0);
    consumer_destroy(&c);
    assert_int_equal(post_tickets(1, "poison"), 1);
    assert_int_equal(post_tickets(3, "after"), 3);
    c = new_consumer(name);
    for (int i = 0; i < 300 && count_effects(db, name, "after", false) < 3; i++)
        consumer_poll(c, 20);
    assert_int_equal(count_effects(db, name, "after", false), 3);
    const char *p[] = {name};
    assert_int_equal(h_sql_int(db, "SELECT count(*) FROM bus.dead_letter d JOIN bus.outbox o ON o.id = d.event_id"
                                   " WHERE d.consumer = $1 AND d.attempts = 5 AND o.data->>'description' = 'poison-0'"
                                   " AND d.error LIKE '%cannot handle poison-0%'", 1, p),
                     1);
    assert_int_equal(count_effects(db, name, "poison", false), 0);
    consumer_destroy(&c);
    PQfinish(db);
}

/* The batch form of the same effect: all or nothing for the events of one transaction. */
static bool record_batch(PGconn *conn, const json_t *const *envs, size_t n, void *arg, char *err, size_t errsz)
{
    for (size_t i = 0; i < n; i++)
        if (!record_effect(conn, envs[i], NULL, arg, err, errsz))
            return false;
    return true;
}

/* With a batch handler, one poisoned event fails its whole batch: the consumer goes again one
 * event per transaction, so the events around it take effect once each and it is dead-lettered. */
static void a_poisoned_event_in_a_batch_goes_to_dead_letter_and_the_rest_flow(void **state)
{
    (void)state;
    PGconn *db = h_db();
    const char *name = "test-poison-batch";
    char err[512];
    consumer_opts_t o = {.name = name, .bus = g_bus, .conninfo = h_env("GRIDGOV_DB"), .endpoints = g_endpoint,
                         .type_prefix = "ticket.", .sweep_ms = 200, .batch_fn = record_batch, .arg = (void *)name};
    consumer_t *c = consumer_new(&o, err, sizeof err);
    assert_non_null(c);
    /* up to date with the past (which holds the other test's poisoned event: five tries) */
    int caught = -1;
    for (int i = 0; i < 10 && caught < 0; i++)
        caught = consumer_catch_up(c);
    assert_true(caught >= 0);
    consumer_destroy(&c);
    assert_int_equal(post_tickets(20, "bfirst"), 20);
    assert_int_equal(post_tickets(1, "poison-b"), 1);
    assert_int_equal(post_tickets(20, "bthen"), 20);
    c = consumer_new(&o, err, sizeof err);
    assert_non_null(c);
    for (int i = 0; i < 300 && count_effects(db, name, "bthen", false) < 20; i++)
        consumer_poll(c, 20);
    assert_int_equal(count_effects(db, name, "bfirst", false), 20);
    assert_int_equal(count_effects(db, name, "bfirst", true), 20);
    assert_int_equal(count_effects(db, name, "bthen", false), 20);
    assert_int_equal(count_effects(db, name, "bthen", true), 20);
    assert_int_equal(count_effects(db, name, "poison", false), 0);
    const char *p[] = {name};
    assert_int_equal(h_sql_int(db, "SELECT count(*) FROM bus.dead_letter d JOIN bus.outbox o ON o.id = d.event_id"
                                   " WHERE d.consumer = $1 AND d.attempts = 5 AND o.data->>'description' LIKE 'poison-b%'",
                               1, p),
                     1);
    consumer_destroy(&c);
    PQfinish(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(consumer_stopped_while_events_are_produced_processes_each_once),
        cmocka_unit_test(live_events_arrive_without_waiting_for_the_sweep),
        cmocka_unit_test(consumer_killed_mid_stream_processes_each_once_after_restart),
        cmocka_unit_test(a_poisoned_event_goes_to_dead_letter_and_the_rest_flow),
        cmocka_unit_test(a_poisoned_event_in_a_batch_goes_to_dead_letter_and_the_rest_flow),
    };
    return cmocka_run_group_tests_name("bus", tests, setup, teardown);
}
