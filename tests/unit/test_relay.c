/* relay against the real PostgreSQL and ZeroMQ. Every test uses its own event source
 * (unit_<pid>_<test>), so the relay claims only the rows the test wrote; the rows are deleted
 * afterwards (tests/proto_check.py validates every event left in bus.outbox). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "bus.h"
#include "gclock.h"
#include "harness.h"
#include "log.h"
#include "relay.h"
#include "uuid.h"

#define TYPE "test.relay_x"

typedef struct {
    PGconn *db;
    void *sub;
    relay_t *relay;
    relay_t *relay2;
    char source[64];
    char endpoint[64];
    char endpoint2[64];
} fx_t;

static void *g_ctx;
static bus_t *g_bus; /* the relays' bus: CURVE off on loopback (the CURVE side is tested in test_bus_keys, e2e) */
static int g_mon_seq;
static int g_test_seq;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int group_setup(void **state)
{
    (void)state;
    log_init("unit", LOG_ERROR);
    g_ctx = zmq_ctx_new();
    g_bus = h_bus_as(NULL, false);
    return g_ctx ? 0 : -1;
}

static int group_teardown(void **state)
{
    (void)state;
    zmq_ctx_term(g_ctx);
    bus_destroy(&g_bus);
    return 0;
}

static int setup(void **state)
{
    fx_t *f = calloc(1, sizeof *f);
    assert_non_null(f);
    f->db = h_db();
    snprintf(f->source, sizeof f->source, "unit_%d_%d", (int)getpid(), ++g_test_seq);
    snprintf(f->endpoint, sizeof f->endpoint, "tcp://127.0.0.1:%d", h_port(60));
    snprintf(f->endpoint2, sizeof f->endpoint2, "tcp://127.0.0.1:%d", h_port(61));
    *state = f;
    return 0;
}

static int teardown(void **state)
{
    fx_t *f = *state;
    relay_stop(&f->relay);
    relay_stop(&f->relay2);
    if (f->sub)
        zmq_close(f->sub);
    const char *p[] = {f->source};
    PQclear(PQexecParams(f->db, "DELETE FROM bus.outbox WHERE source = $1", 1, NULL, p, NULL, NULL, 0));
    PQfinish(f->db);
    free(f);
    return 0;
}

/* Starts a relay; while the previous test's relay on the same endpoint is still closing (a socket
 * of a shared context closes in the background) the bind is tried again. */
static relay_t *start(fx_t *f, const char *endpoint, int sweep_ms)
{
    char err[512] = "";
    relay_t *r = NULL;
    for (int i = 0; i < 100 && !r; i++) {
        r = relay_start(g_bus, h_env("GRIDGOV_DB"), f->source, endpoint, sweep_ms, err, sizeof err);
        if (!r && !strstr(err, "in use"))
            break;
        if (!r)
            sleep_ms(20);
    }
    if (!r)
        fail_msg("relay_start: %s", err);
    return r;
}

/* A SUB socket on the relay, subscribed to "test.relay"; returns once its handshake with the
 * PUB is done (so the subscription is on its way before the test publishes anything). */
static void *subscribe(const char *endpoint)
{
    void *s = zmq_socket(g_ctx, ZMQ_SUB);
    assert_non_null(s);
    int linger = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zmq_setsockopt(s, ZMQ_SUBSCRIBE, "test.relay", 10), 0);
    char mon[64];
    snprintf(mon, sizeof mon, "inproc://unit-relay-mon-%d", ++g_mon_seq);
    assert_int_equal(zmq_socket_monitor(s, mon, ZMQ_EVENT_HANDSHAKE_SUCCEEDED), 0);
    void *m = zmq_socket(g_ctx, ZMQ_PAIR);
    zmq_setsockopt(m, ZMQ_LINGER, &linger, sizeof linger);
    assert_int_equal(zmq_connect(m, mon), 0);
    assert_int_equal(zmq_connect(s, endpoint), 0);
    zmq_pollitem_t it[] = {{m, 0, ZMQ_POLLIN, 0}};
    if (zmq_poll(it, 1, 5000) != 1)
        fail_msg("no ZeroMQ handshake with %s", endpoint);
    zmq_msg_t ev;
    zmq_msg_init(&ev);
    zmq_msg_recv(&ev, m, 0); /* event id and value */
    uint16_t id;
    memcpy(&id, zmq_msg_data(&ev), sizeof id);
    assert_int_equal(id, ZMQ_EVENT_HANDSHAKE_SUCCEEDED);
    zmq_msg_recv(&ev, m, 0); /* endpoint */
    zmq_msg_close(&ev);
    zmq_socket_monitor(s, NULL, 0);
    zmq_close(m);
    sleep_ms(50); /* the PUB side reads the subscription from its pipe */
    return s;
}

typedef struct {
    char type[64];
    json_t *hdr;
    json_t *env;
    int frames;
} msg_t;

static void msg_free(msg_t *m)
{
    json_decref(m->hdr);
    json_decref(m->env);
    memset(m, 0, sizeof *m);
}

static json_t *frame_json(zmq_msg_t *z)
{
    json_error_t je;
    json_t *v = json_loadb(zmq_msg_data(z), zmq_msg_size(z), 0, &je);
    if (!v)
        fail_msg("frame is not JSON: %.*s", (int)zmq_msg_size(z), (const char *)zmq_msg_data(z));
    return v;
}

/* Receives one whole message within timeout_ms; false on timeout. */
static bool recv_msg(void *sub, int timeout_ms, msg_t *out)
{
    memset(out, 0, sizeof *out);
    zmq_pollitem_t it[] = {{sub, 0, ZMQ_POLLIN, 0}};
    if (zmq_poll(it, 1, timeout_ms) != 1)
        return false;
    int more = 1;
    while (more) {
        zmq_msg_t z;
        zmq_msg_init(&z);
        assert_true(zmq_msg_recv(&z, sub, 0) >= 0);
        if (out->frames == 0)
            snprintf(out->type, sizeof out->type, "%.*s", (int)zmq_msg_size(&z), (const char *)zmq_msg_data(&z));
        else if (out->frames == 1)
            out->hdr = frame_json(&z);
        else if (out->frames == 2)
            out->env = frame_json(&z);
        out->frames++;
        more = zmq_msg_more(&z);
        zmq_msg_close(&z);
    }
    return true;
}

/* bus.emit for the test's source; returns the event id (caller frees). */
static char *emit(fx_t *f, int n)
{
    char data[32];
    snprintf(data, sizeof data, "{\"n\":%d}", n);
    const char *p[] = {f->source, data};
    return h_sql_text(f->db, "SELECT bus.emit('" TYPE "', $1, NULL, $2::jsonb)", 2, p);
}

/* Events of this source past the relay's saved cursor. The cursor is saved within about 100 ms
 * of a send, so this waits (up to 3 s) for the count to reach want and returns the last count. */
static long long unpublished_wait(fx_t *f, long long want)
{
    const char *p[] = {f->source};
    long long n = -1;
    for (int i = 0; i < 150; i++) {
        n = h_sql_int(f->db, "SELECT count(*) FROM bus.unpublished WHERE source = $1", 1, p);
        if (n == want)
            break;
        usleep(20 * 1000);
    }
    return n;
}

static bool wait_published(const relay_t *r, uint64_t n, int timeout_ms)
{
    int64_t end = gclock_mono_ms() + timeout_ms;
    while (relay_published(r) < n && gclock_mono_ms() < end)
        sleep_ms(5);
    return relay_published(r) >= n;
}

static void relay_sends_three_frames_with_consecutive_seq_and_full_envelope(void **state)
{
    fx_t *f = *state;
    f->relay = start(f, f->endpoint, 5000);
    f->sub = subscribe(f->endpoint);
    char *ids[3];
    for (int i = 0; i < 3; i++)
        ids[i] = emit(f, i + 1);
    relay_ring(f->relay);

    char publisher[UUID_STR_LEN] = "";
    for (int i = 0; i < 3; i++) {
        msg_t m;
        if (!recv_msg(f->sub, 3000, &m))
            fail_msg("message %d not received", i + 1);
        assert_int_equal(m.frames, 3);
        assert_string_equal(m.type, TYPE);

        /* the header names the event: consumers read it from bus.outbox by this id */
        assert_int_equal(json_object_size(m.hdr), 3);
        assert_string_equal(json_string_value(json_object_get(m.hdr, "id")), ids[i]);
        const char *pub = json_string_value(json_object_get(m.hdr, "publisher"));
        assert_non_null(pub);
        assert_true(uuid_valid(pub));
        if (i == 0)
            snprintf(publisher, sizeof publisher, "%s", pub);
        assert_string_equal(pub, publisher); /* one instance id for all its messages */
        assert_true(json_is_integer(json_object_get(m.hdr, "seq")));
        assert_int_equal(json_integer_value(json_object_get(m.hdr, "seq")), i + 1);

        json_t *e = m.env;
        assert_int_equal(json_object_size(e), 7);
        assert_string_equal(json_string_value(json_object_get(e, "id")), ids[i]);
        assert_string_equal(json_string_value(json_object_get(e, "type")), TYPE);
        assert_int_equal(json_integer_value(json_object_get(e, "version")), 1);
        assert_string_equal(json_string_value(json_object_get(e, "source")), f->source);
        assert_true(json_is_null(json_object_get(e, "correlation_id")));
        const char *at = json_string_value(json_object_get(e, "occurred_at"));
        assert_non_null(at);
        assert_int_equal(strlen(at), 27); /* 2026-11-29T07:40:01.123456Z */
        assert_int_equal(at[10], 'T');
        assert_int_equal(at[26], 'Z');
        json_t *data = json_object_get(e, "data");
        assert_true(json_is_object(data));
        assert_int_equal(json_object_size(data), 1);
        assert_int_equal(json_integer_value(json_object_get(data, "n")), i + 1);
        msg_free(&m);
    }
    msg_t extra;
    assert_false(recv_msg(f->sub, 200, &extra)); /* each event once */
    assert_int_equal(unpublished_wait(f, 0), 0);
    const char *p[] = {f->source};
    assert_int_equal(h_sql_int(f->db, "SELECT count(*) FROM bus.outbox o JOIN bus.cursor c ON c.consumer = 'relay:' || o.source"
                               " WHERE o.source = $1 AND (o.xid, o.seq) <= (c.xid, c.seq)", 1, p),
                     3);
    assert_true(wait_published(f->relay, 3, 1000)); /* counted once the batch is sent */
    assert_int_equal(relay_published(f->relay), 3);
    for (int i = 0; i < 3; i++)
        free(ids[i]);
}

static void correlation_id_travels_in_the_envelope(void **state)
{
    fx_t *f = *state;
    f->relay = start(f, f->endpoint, 5000);
    f->sub = subscribe(f->endpoint);
    char corr[UUID_STR_LEN];
    uuid_v4(corr);
    const char *p[] = {f->source, corr};
    free(h_sql_text(f->db, "SELECT bus.emit('" TYPE "', $1, $2::uuid, '{\"s\":\"路灯 \\\"x\\\"\"}'::jsonb)", 2, p));
    relay_ring(f->relay);
    msg_t m;
    assert_true(recv_msg(f->sub, 3000, &m));
    assert_string_equal(json_string_value(json_object_get(m.env, "correlation_id")), corr);
    assert_string_equal(json_string_value(json_object_get(json_object_get(m.env, "data"), "s")), "路灯 \"x\"");
    msg_free(&m);
}

static void events_pending_before_start_are_published_at_start(void **state)
{
    fx_t *f = *state;
    for (int i = 0; i < 5; i++)
        free(emit(f, i));
    assert_int_equal(unpublished_wait(f, 5), 5);
    f->relay = start(f, f->endpoint, 5000); /* no ring: the start itself claims the backlog */
    assert_true(wait_published(f->relay, 5, 3000));
    assert_int_equal(relay_published(f->relay), 5);
    assert_int_equal(unpublished_wait(f, 0), 0);
}

static void ring_wakes_the_relay_promptly(void **state)
{
    fx_t *f = *state;
    f->relay = start(f, f->endpoint, 5000);
    f->sub = subscribe(f->endpoint);
    sleep_ms(100); /* the relay is idle in its 5 s wait */
    for (int round = 1; round <= 3; round++) {
        free(emit(f, round));
        int64_t t0 = gclock_mono_ms();
        relay_ring(f->relay);
        msg_t m;
        if (!recv_msg(f->sub, 3000, &m))
            fail_msg("round %d: not received", round);
        int64_t took = gclock_mono_ms() - t0;
        if (took > 200)
            fail_msg("round %d: ring to receipt took %lld ms", round, (long long)took);
        assert_int_equal(json_integer_value(json_object_get(m.hdr, "seq")), round);
        msg_free(&m);
    }
    assert_true(wait_published(f->relay, 3, 1000)); /* counted once the batch is sent */
    assert_int_equal(relay_published(f->relay), 3);
}

static void without_ring_event_waits_for_the_sweep(void **state)
{
    fx_t *f = *state;
    f->relay = start(f, f->endpoint, 5000);
    f->sub = subscribe(f->endpoint);
    sleep_ms(100);
    free(emit(f, 1));
    msg_t m;
    assert_false(recv_msg(f->sub, 500, &m)); /* nobody rang, the sweep is 5 s away */
    assert_int_equal(unpublished_wait(f, 1), 1);
    assert_int_equal(relay_published(f->relay), 0);
    relay_ring(f->relay);
    assert_true(recv_msg(f->sub, 1000, &m));
    assert_int_equal(json_integer_value(json_object_get(m.hdr, "seq")), 1);
    msg_free(&m);
}

static void sweep_publishes_events_nobody_rang_for(void **state)
{
    fx_t *f = *state;
    f->relay = start(f, f->endpoint, 200);
    f->sub = subscribe(f->endpoint);
    free(emit(f, 1));
    free(emit(f, 2));
    msg_t m;
    for (int i = 1; i <= 2; i++) {
        if (!recv_msg(f->sub, 3000, &m))
            fail_msg("event %d not swept", i);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(m.env, "data"), "n")), i);
        msg_free(&m);
    }
    assert_int_equal(unpublished_wait(f, 0), 0);
}

static void other_sources_are_left_alone(void **state)
{
    fx_t *f = *state;
    char other[80];
    snprintf(other, sizeof other, "%s_other", f->source);
    const char *p[] = {other};
    free(h_sql_text(f->db, "SELECT bus.emit('" TYPE "', $1, NULL, '{}'::jsonb)", 1, p));
    free(emit(f, 1));
    f->relay = start(f, f->endpoint, 5000);
    assert_true(wait_published(f->relay, 1, 3000));
    sleep_ms(100);
    assert_int_equal(relay_published(f->relay), 1);
    assert_int_equal(h_sql_int(f->db, "SELECT count(*) FROM bus.unpublished WHERE source = $1", 1, p), 1);
    h_sql_int(f->db, "WITH d AS (DELETE FROM bus.outbox WHERE source = $1 RETURNING 1) SELECT count(*) FROM d", 1, p);
}

static void many_events_are_all_published_in_order(void **state)
{
    fx_t *f = *state;
    f->relay = start(f, f->endpoint, 5000);
    f->sub = subscribe(f->endpoint);
    const char *p[] = {f->source};
    /* 1200 events: more than one claim batch (500) */
    h_sql_int(f->db,
              "SELECT count(bus.emit('" TYPE "', $1, NULL, jsonb_build_object('n', g))) FROM generate_series(1, 1200) g",
              1, p);
    relay_ring(f->relay);
    for (int i = 1; i <= 1200; i++) {
        msg_t m;
        if (!recv_msg(f->sub, 3000, &m))
            fail_msg("event %d not received", i);
        assert_int_equal(json_integer_value(json_object_get(m.hdr, "seq")), i);
        assert_int_equal(json_integer_value(json_object_get(json_object_get(m.env, "data"), "n")), i);
        msg_free(&m);
    }
    assert_true(wait_published(f->relay, 1200, 1000)); /* counted once the batch is sent */
    assert_int_equal(relay_published(f->relay), 1200);
    assert_int_equal(unpublished_wait(f, 0), 0);
}

static void two_relays_on_one_source_publish_each_event_once(void **state)
{
    fx_t *f = *state;
    f->relay = start(f, f->endpoint, 5000);
    f->relay2 = start(f, f->endpoint2, 5000);
    const char *p[] = {f->source};
    for (int round = 0; round < 10; round++) {
        h_sql_int(f->db,
                  "SELECT count(bus.emit('" TYPE "', $1, NULL, jsonb_build_object('n', g))) FROM generate_series(1, 50) g",
                  1, p);
        relay_ring(f->relay);
        relay_ring(f->relay2);
    }
    int64_t end = gclock_mono_ms() + 5000;
    while (relay_published(f->relay) + relay_published(f->relay2) < 500 && gclock_mono_ms() < end)
        sleep_ms(5);
    sleep_ms(200); /* a double publish would show up by now */
    assert_int_equal(relay_published(f->relay) + relay_published(f->relay2), 500);
    assert_int_equal(unpublished_wait(f, 0), 0);
}

static void relay_reconnects_after_its_connection_is_terminated(void **state)
{
    fx_t *f = *state;
    f->relay = start(f, f->endpoint, 5000);
    f->sub = subscribe(f->endpoint);
    /* wait for the relay's backend to exist, then kill it */
    long long killed = 0;
    int64_t end = gclock_mono_ms() + 3000;
    while (!killed && gclock_mono_ms() < end) {
        killed = h_sql_int(f->db,
                           "SELECT count(pg_terminate_backend(pid)) FROM pg_stat_activity "
                           "WHERE application_name = 'gridgov-relay' AND datname = current_database()",
                           0, NULL);
        if (!killed)
            sleep_ms(10);
    }
    assert_true(killed >= 1);
    sleep_ms(100);
    free(emit(f, 1));
    relay_ring(f->relay);
    msg_t m;
    if (!recv_msg(f->sub, 5000, &m))
        fail_msg("no publish after the relay's connection was terminated");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(m.env, "data"), "n")), 1);
    msg_free(&m);
    assert_int_equal(unpublished_wait(f, 0), 0);
}

static void bind_to_endpoint_in_use_fails_with_error(void **state)
{
    fx_t *f = *state;
    f->relay = start(f, f->endpoint, 5000);
    char err[512] = "";
    relay_t *r = relay_start(g_bus, h_env("GRIDGOV_DB"), f->source, f->endpoint, 5000, err, sizeof err);
    assert_null(r);
    char want[128];
    snprintf(want, sizeof want, "relay: cannot bind %s: ", f->endpoint);
    assert_true(strncmp(err, want, strlen(want)) == 0);
    assert_non_null(strstr(err, "in use"));
    /* the first relay is unharmed */
    free(emit(f, 1));
    relay_ring(f->relay);
    assert_true(wait_published(f->relay, 1, 3000));
}

static void bad_endpoint_fails_with_error(void **state)
{
    fx_t *f = *state;
    char err[512] = "";
    relay_t *r = relay_start(g_bus, h_env("GRIDGOV_DB"), f->source, "bogus://nowhere", 5000, err, sizeof err);
    assert_null(r);
    assert_true(strncmp(err, "relay: ", 7) == 0);
    assert_non_null(strstr(err, "bogus://nowhere"));
}

static void stop_twice_is_safe_and_null_is_ignored(void **state)
{
    fx_t *f = *state;
    f->relay = start(f, f->endpoint, 5000);
    relay_stop(&f->relay);
    assert_null(f->relay);
    relay_stop(&f->relay);
    assert_null(f->relay);
    relay_stop(NULL);
    relay_ring(NULL);
    assert_int_equal(relay_published(NULL), 0);
    /* the endpoint is free again (start() waits while the listener closes in the background) */
    f->relay = start(f, f->endpoint, 5000);
}

static void stop_is_prompt_with_a_long_sweep(void **state)
{
    fx_t *f = *state;
    f->relay = start(f, f->endpoint, 60000);
    sleep_ms(100);
    int64_t t0 = gclock_mono_ms();
    relay_stop(&f->relay);
    assert_true(gclock_mono_ms() - t0 < 1000);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(relay_sends_three_frames_with_consecutive_seq_and_full_envelope),
        T(correlation_id_travels_in_the_envelope),
        T(events_pending_before_start_are_published_at_start),
        T(ring_wakes_the_relay_promptly),
        T(without_ring_event_waits_for_the_sweep),
        T(sweep_publishes_events_nobody_rang_for),
        T(other_sources_are_left_alone),
        T(many_events_are_all_published_in_order),
        T(two_relays_on_one_source_publish_each_event_once),
        T(relay_reconnects_after_its_connection_is_terminated),
        T(bind_to_endpoint_in_use_fails_with_error),
        T(bad_endpoint_fails_with_error),
        T(stop_twice_is_safe_and_null_is_ignored),
        T(stop_is_prompt_with_a_long_sweep),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
