/* The bus trusts nobody it has not authenticated, shown against the real daemons with real
 * ZeroMQ clients, as an attacker on the same host would try it:
 *   - a command to the router's command socket from an unknown key, from a daemon key that may
 *     only subscribe, and from a client without CURVE: nothing changes, the refusal is logged;
 *     the same frame from intake's key is obeyed (so the frame itself was a working forgery);
 *   - a 150 MB command frame: the sender is disconnected, the router stays small and serves on;
 *   - a process that binds intake's event port while intake is down: with a key of its own or
 *     without CURVE the router does not even connect; with intake's own key (stolen), a frame
 *     naming an event that is not in bus.outbox changes nothing; a 150 MB event frame is dropped;
 *     afterwards the router routes live again from the real intake;
 *   - a forger that held the router's command port while it was down does not leave intake's
 *     command client dead (libzmq would not reconnect by itself);
 *   - a consumer takes the event from bus.outbox, not from the wire: a tampered copy of a real
 *     event has the effect of the real one;
 *   - curve=off with a bind beyond this host, or curve=on without keys, refuses to start;
 *     curve=off on loopback works (the one-host mode). */
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
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

#include "bus.h"
#include "consumer.h"
#include "curve_key.h"
#include "harness.h"
#include "log.h"
#include "uuid.h"

static PGconn *g_db;
static char g_key[80];
static int g_http, g_pub, g_cmd;
static pid_t g_intake, g_router;
static char g_router_log[1100], g_intake_log[1100];
static char g_stranger_dir[1100], g_stranger_pub[CURVE_Z85_SIZE];
static long long g_operator;

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return strdup("");
    buf_t b = BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    char *s = buf_detach(&b);
    return s ? s : strdup("");
}

static bool wait_log(const char *path, const char *needle, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 50) {
        char *s = slurp(path);
        bool yes = strstr(s, needle) != NULL;
        free(s);
        if (yes)
            return true;
        sleep_ms(50);
    }
    return false;
}

static long rss_kb(pid_t pid)
{
    char path[64], line[256];
    snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
    FILE *f = fopen(path, "r");
    long kb = -1;
    while (f && fgets(line, sizeof line, f))
        if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
            break;
    if (f)
        fclose(f);
    return kb;
}

static void start_intake(void)
{
    static char router_ep[96];
    snprintf(router_ep, sizeof router_ep, "GRIDGOV_ROUTER_ENDPOINT=tcp://127.0.0.1:%d", g_cmd);
    const char *env[] = {router_ep, NULL};
    g_intake = h_start_intake(g_http, g_pub, env);
}

/* Stops the suite's intake if it runs (never kill(0, ...): that is the whole process group). */
static int stop_intake(void)
{
    int st = 0;
    if (g_intake > 0)
        st = h_stop(g_intake, SIGTERM);
    g_intake = 0;
    return st;
}

static int setup(void **state)
{
    (void)state;
    log_init("test", LOG_ERROR);
    g_db = h_db();
    char *k = h_api_key(g_db);
    snprintf(g_key, sizeof g_key, "%s", k);
    free(k);
    g_operator = h_sql_int(g_db, "SELECT id FROM registry.staff WHERE role = 'operator' AND active ORDER BY id LIMIT 1",
                           0, NULL);
    g_http = h_port(110);
    g_pub = h_port(111);
    g_cmd = h_port(112);
    snprintf(g_router_log, sizeof g_router_log, "%s/router-%d.log", h_env("GRIDGOV_TEST_VAR"), g_cmd);
    snprintf(g_intake_log, sizeof g_intake_log, "%s/intake-%d.log", h_env("GRIDGOV_TEST_VAR"), g_http);
    start_intake();
    g_router = h_start_router(g_cmd, g_pub, NULL);
    /* A stranger's key folder: a key pair of its own and the router's public key (public). */
    snprintf(g_stranger_dir, sizeof g_stranger_dir, "%s/stranger-curve", h_env("GRIDGOV_TEST_VAR"));
    char err[1024], cmd[3000];
    if (!curve_key_generate(g_stranger_dir, "stranger", g_stranger_pub, err, sizeof err)) {
        fprintf(stderr, "%s\n", err);
        return -1;
    }
    snprintf(cmd, sizeof cmd, "cp '%s/router.pub' '%s/intake.pub' '%s/'", h_env("GRIDGOV_CURVE_DIR"),
             h_env("GRIDGOV_CURVE_DIR"), g_stranger_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    int s1 = g_router > 0 ? h_stop(g_router, SIGTERM) : 0, s2 = stop_intake();
    PQfinish(g_db);
    return WIFEXITED(s1) && WEXITSTATUS(s1) == 0 && WIFEXITED(s2) && WEXITSTATUS(s2) == 0 ? 0 : -1;
}

/* A bus with the stranger's key: the router's public key is public, its allow-list is not. */
static bus_t *stranger_bus(void)
{
    char err[1024];
    bus_opts_t o = {.curve = true, .curve_dir = g_stranger_dir, .name = "stranger"};
    bus_t *b = bus_new(&o, err, sizeof err);
    if (!b)
        fail_msg("%s", err);
    return b;
}

/* Sends one command frame (len bytes of body) from a DEALER of bus b to the router; returns the
 * reply (caller frees) or NULL when none came within timeout_ms. */
static char *command(bus_t *b, const char *body, size_t len, int timeout_ms)
{
    void *d = zmq_socket(bus_ctx(b), ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(d, ZMQ_LINGER, &zero, sizeof zero);
    char ep[64], err[512];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", g_cmd);
    if (!bus_connect(b, d, BUS_COMMANDS, ep, "router", err, sizeof err))
        fail_msg("%s", err);
    zmq_send(d, body, len, 0);
    char *reply = NULL;
    zmq_pollitem_t it = {d, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, timeout_ms) == 1) {
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, d, 0) >= 0) {
            reply = malloc(zmq_msg_size(&m) + 1);
            assert_non_null(reply);
            memcpy(reply, zmq_msg_data(&m), zmq_msg_size(&m));
            reply[zmq_msg_size(&m)] = '\0';
        }
        zmq_msg_close(&m);
    }
    zmq_close(d);
    return reply;
}

static char *file_ticket(void)
{
    char *pt = h_sql_text(g_db,
                          "SELECT format('\"lat\":%s,\"long\":%s', round(ST_Y(p)::numeric, 7), round(ST_X(p)::numeric, 7))"
                          " FROM (SELECT ST_PointOnSurface(boundary) p FROM registry.unit WHERE level = 'group'"
                          " AND code LIKE '430121-101-%' ORDER BY id DESC LIMIT 1) x",
                          0, NULL);
    char body[512], code[40];
    snprintf(body, sizeof body,
             "{\"service_code\":\"NOISE\",%s,\"attributes\":{\"source\":\"music\"},\"description\":\"广场舞音响太吵\"}", pt);
    free(pt);
    assert_true(h_post_ticket(g_http, g_key, body, code));
    assert_true(h_wait_routed(g_db, code, 20000));
    return strdup(code);
}

static long long count_for(const char *sql, const char *a)
{
    const char *p[] = {a};
    return h_sql_int(g_db, sql, 1, p);
}

static void forged_commands_change_nothing_and_are_logged(void **state)
{
    (void)state;
    char *code = file_ticket();
    const char *p[] = {code};
    char *state0 = h_sql_text(g_db, "SELECT state FROM router.ticket WHERE code = $1", 1, p);
    assert_string_equal(state0, "assigned");
    long long trans0 = count_for("SELECT count(*) FROM router.transition t JOIN router.ticket k USING (ticket_id)"
                                 " WHERE k.code = $1", code);
    long long cmds0 = h_sql_int(g_db, "SELECT count(*) FROM router.command", 0, NULL);

    /* The forgery: an operator's reject with the forger's text for the public notes. */
    char ids[4][UUID_STR_LEN], body[4][512];
    for (int i = 0; i < 4; i++) {
        uuid_v4(ids[i]);
        snprintf(body[i], sizeof body[i],
                 "{\"id\":\"%s\",\"action\":\"reject\",\"ticket\":\"%s\",\"staff_id\":%lld,\"note\":\"FORGED %d\"}", ids[i],
                 code, g_operator, i);
    }
    bus_t *stranger = stranger_bus();
    bus_t *ctl = h_bus_as("gridgovctl", true); /* a daemon's key: admitted to events, not to commands */
    bus_t *plain = h_bus_as(NULL, false);      /* no CURVE at all */
    assert_null(command(stranger, body[0], strlen(body[0]), 1500));
    assert_null(command(ctl, body[1], strlen(body[1]), 1000));
    assert_null(command(plain, body[2], strlen(body[2]), 1000));

    char *state1 = h_sql_text(g_db, "SELECT state FROM router.ticket WHERE code = $1", 1, p);
    assert_string_equal(state1, "assigned");
    assert_int_equal(count_for("SELECT count(*) FROM router.transition t JOIN router.ticket k USING (ticket_id)"
                               " WHERE k.code = $1", code),
                     trans0);
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM router.command", 0, NULL), cmds0);
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM router.transition WHERE note LIKE 'FORGED%'", 0, NULL), 0);

    /* Logged: the address and the first characters of the key. */
    char want[128];
    snprintf(want, sizeof want, "refused a command peer from 127.0.0.1 with CURVE key %.8s", g_stranger_pub);
    assert_true(wait_log(g_router_log, want, 3000));
    char ctl_pub[CURVE_Z85_SIZE], err[512];
    assert_true(curve_key_read_public(h_env("GRIDGOV_CURVE_DIR"), "gridgovctl", ctl_pub, NULL, err, sizeof err));
    snprintf(want, sizeof want, "with CURVE key %.8s...: not in curve_command_peers", ctl_pub);
    assert_true(wait_log(g_router_log, want, 3000));
    /* the client without CURVE never reaches ZAP: the handshake itself fails, and is logged */
    assert_true(wait_log(g_router_log, "handshake failed, serving commands on", 3000));

    /* The same frame with intake's key is obeyed: the gate, not the frame, stopped the others. */
    bus_t *intake = h_bus_as("intake", true);
    char *reply = command(intake, body[3], strlen(body[3]), 5000);
    assert_non_null(reply);
    assert_non_null(strstr(reply, "\"status\":200"));
    char *state2 = h_sql_text(g_db, "SELECT state FROM router.ticket WHERE code = $1", 1, p);
    assert_string_equal(state2, "rejected");
    assert_int_equal(count_for("SELECT count(*) FROM router.command WHERE id = $1::uuid", ids[3]), 1);

    free(reply);
    free(state0);
    free(state1);
    free(state2);
    free(code);
    bus_destroy(&intake);
    bus_destroy(&stranger);
    bus_destroy(&ctl);
    bus_destroy(&plain);
}

/* Waits for a socket event on the monitor of sock; true when it came within timeout_ms. */
static bool wait_event(void *mon, int event, int timeout_ms)
{
    for (int waited = 0; waited < timeout_ms; waited += 100) {
        zmq_pollitem_t it = {mon, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 100) != 1)
            continue;
        zmq_msg_t a, b;
        zmq_msg_init(&a);
        zmq_msg_init(&b);
        zmq_msg_recv(&a, mon, 0);
        zmq_msg_recv(&b, mon, 0);
        uint16_t ev = 0;
        memcpy(&ev, zmq_msg_data(&a), sizeof ev);
        zmq_msg_close(&a);
        zmq_msg_close(&b);
        if (ev == event)
            return true;
    }
    return false;
}

/* A socket monitor of sock on a PAIR of ctx. */
static void *monitor(void *ctx, void *sock, const char *name, int events)
{
    char ep[64];
    snprintf(ep, sizeof ep, "inproc://trust-mon-%s", name);
    assert_int_equal(zmq_socket_monitor(sock, ep, events), 0);
    void *m = zmq_socket(ctx, ZMQ_PAIR);
    int zero = 0;
    zmq_setsockopt(m, ZMQ_LINGER, &zero, sizeof zero);
    assert_int_equal(zmq_connect(m, ep), 0);
    return m;
}

#define HUGE_FRAME (150u * 1024 * 1024)
#define SMALL_KB (64 * 1024) /* what the router may grow by: far from the frame's 150 MB */

static void an_oversized_command_disconnects_its_sender_and_the_router_stays_small(void **state)
{
    (void)state;
    /* Even an admitted peer (intake's key pair), with a plain libzmq client. */
    char sec[CURVE_Z85_SIZE], pub[CURVE_Z85_SIZE], server[CURVE_Z85_SIZE], err[512];
    assert_true(curve_key_read_secret(h_env("GRIDGOV_CURVE_DIR"), "intake", sec, pub, err, sizeof err));
    assert_true(curve_key_read_public(h_env("GRIDGOV_CURVE_DIR"), "router", server, NULL, err, sizeof err));
    long before = rss_kb(g_router);
    assert_true(before > 0);
    void *ctx = zmq_ctx_new();
    void *d = zmq_socket(ctx, ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(d, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(d, ZMQ_CURVE_SERVERKEY, server, CURVE_Z85_SIZE);
    zmq_setsockopt(d, ZMQ_CURVE_PUBLICKEY, pub, CURVE_Z85_SIZE);
    zmq_setsockopt(d, ZMQ_CURVE_SECRETKEY, sec, CURVE_Z85_SIZE);
    void *mon = monitor(ctx, d, "cmd", ZMQ_EVENT_HANDSHAKE_SUCCEEDED | ZMQ_EVENT_DISCONNECTED);
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", g_cmd);
    assert_int_equal(zmq_connect(d, ep), 0);
    assert_true(wait_event(mon, ZMQ_EVENT_HANDSHAKE_SUCCEEDED, 5000));
    char *huge = malloc(HUGE_FRAME);
    assert_non_null(huge);
    memset(huge, '{', HUGE_FRAME);
    assert_int_equal(zmq_send(d, huge, HUGE_FRAME, 0), (int)HUGE_FRAME);
    free(huge);
    assert_true(wait_event(mon, ZMQ_EVENT_DISCONNECTED, 20000));
    zmq_socket_monitor(d, NULL, 0);
    zmq_close(mon);
    zmq_close(d);
    zmq_ctx_term(ctx);
    long after = rss_kb(g_router);
    print_message("router RSS %ld kB before, %ld kB after a %u MB frame\n", before, after, HUGE_FRAME >> 20);
    assert_true(after < before + SMALL_KB);

    /* it goes on serving: a command gets its answer */
    bus_t *intake = h_bus_as("intake", true);
    char id[UUID_STR_LEN], body[256];
    uuid_v4(id);
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"action\":\"no_such_action\",\"ticket\":\"1\",\"staff_id\":1}", id);
    char *reply = command(intake, body, strlen(body), 5000);
    assert_non_null(reply);
    assert_non_null(strstr(reply, "unknown_action"));
    free(reply);
    bus_destroy(&intake);
}

/* A forged ticket.created, shaped like the real ones: a copy of a real envelope with a new id
 * and code. */
static char *forged_envelope(const char *id, const char *code)
{
    char *real = h_sql_text(g_db, "SELECT envelope::text FROM bus.envelope WHERE type = 'ticket.created' ORDER BY seq DESC"
                                  " LIMIT 1",
                            0, NULL);
    json_error_t je;
    json_t *env = json_loads(real, 0, &je);
    assert_non_null(env);
    json_object_set_new(env, "id", json_string(id));
    json_object_set_new(json_object_get(env, "data"), "code", json_string(code));
    json_object_set_new(json_object_get(env, "data"), "description", json_string("FORGED"));
    char *s = json_dumps(env, JSON_COMPACT);
    json_decref(env);
    free(real);
    return s;
}

static void publish(void *pub, const char *id, const char *env, unsigned long long seq)
{
    char hdr[160];
    snprintf(hdr, sizeof hdr, "{\"publisher\":\"6a1f3c2e-0000-4000-8000-000000000001\",\"seq\":%llu,\"id\":\"%s\"}", seq,
             id);
    zmq_send(pub, "ticket.created", 14, ZMQ_SNDMORE);
    zmq_send(pub, hdr, strlen(hdr), ZMQ_SNDMORE);
    zmq_send(pub, env, strlen(env), 0);
}

/* Publishes forged events on intake's port for ms (or, when a subscriber comes, for a second
 * more); returns true if any subscriber subscribed (an XPUB sees the subscription). */
static bool forge_for(void *xpub, const char *id, const char *env, int ms)
{
    bool subscribed = false;
    for (int t = 0; t < ms; t += 100) {
        if (subscribed && ms > t + 1000)
            ms = t + 1000;
        zmq_msg_t m;
        zmq_msg_init(&m);
        if (zmq_msg_recv(&m, xpub, ZMQ_DONTWAIT) >= 0 && zmq_msg_size(&m) > 0 && ((char *)zmq_msg_data(&m))[0] == 1)
            subscribed = true;
        zmq_msg_close(&m);
        publish(xpub, id, env, (unsigned long long)t / 100 + 1);
        sleep_ms(100);
    }
    return subscribed;
}

/* Binds ep, waiting while the previous holder's listener closes (asynchronous in libzmq). */
static void bind_when_free(void *sock, const char *ep)
{
    for (int i = 0; i < 100; i++) {
        if (zmq_bind(sock, ep) == 0)
            return;
        sleep_ms(50);
    }
    fail_msg("cannot bind %s: %s", ep, zmq_strerror(zmq_errno()));
}

/* What the router said, for a failure's report (CI keeps only the runner's output). */
static void print_router_log(void)
{
    FILE *f = fopen(g_router_log, "r");
    if (!f)
        return;
    char line[1024];
    print_message("--- %s\n", g_router_log);
    while (fgets(line, sizeof line, f))
        print_message("%s", line);
    fclose(f);
}

static void a_forger_on_intakes_event_port_routes_nothing(void **state)
{
    (void)state;
    /* A router that sweeps PostgreSQL only once a minute: what it routes in this test came live. */
    int st = h_stop(g_router, SIGTERM);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    const char *renv[] = {"GRIDGOV_SWEEP_MS=60000", NULL};
    g_router = h_start_router(g_cmd, g_pub, renv);
    st = stop_intake();
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", g_pub);
    const char *codes[] = {"9901010000001", "9901010000002", "9901010000003"};
    char ids[3][UUID_STR_LEN];
    for (int i = 0; i < 3; i++)
        uuid_v4(ids[i]);

    /* 1. A CURVE server with a key of its own (it cannot have intake's secret): the router, which
     *    knows intake's public key, never completes the handshake. A bare libzmq context: no ZAP,
     *    it would take anyone. */
    void *raw = zmq_ctx_new();
    void *x = zmq_socket(raw, ZMQ_XPUB);
    int one = 1, zero = 0;
    char pub[CURVE_Z85_SIZE], sec[CURVE_Z85_SIZE];
    assert_int_equal(zmq_curve_keypair(pub, sec), 0);
    zmq_setsockopt(x, ZMQ_LINGER, &zero, sizeof zero);
    zmq_setsockopt(x, ZMQ_CURVE_SERVER, &one, sizeof one);
    zmq_setsockopt(x, ZMQ_CURVE_SECRETKEY, sec, CURVE_Z85_SIZE);
    bind_when_free(x, ep);
    char *env0 = forged_envelope(ids[0], codes[0]);
    assert_false(forge_for(x, ids[0], env0, 2000));
    zmq_close(x);
    free(env0);

    /* 2. No CURVE at all. */
    x = zmq_socket(raw, ZMQ_XPUB);
    zmq_setsockopt(x, ZMQ_LINGER, &zero, sizeof zero);
    bind_when_free(x, ep);
    char *env1 = forged_envelope(ids[1], codes[1]);
    assert_false(forge_for(x, ids[1], env1, 1500));
    zmq_close(x);
    free(env1);
    zmq_ctx_term(raw);
    assert_true(wait_log(g_router_log, "handshake failed, consumer router subscribing to", 3000));

    /* 3. With intake's own key pair (stolen, or a compromised intake): the router subscribes, and
     *    still a frame naming an event that is not in bus.outbox changes nothing. */
    char err[1024];
    bus_opts_t o = {.curve = true, .curve_dir = h_env("GRIDGOV_CURVE_DIR"), .name = "intake", .event_peers = "router"};
    bus_t *stolen = bus_new(&o, err, sizeof err);
    assert_non_null(stolen);
    x = zmq_socket(bus_ctx(stolen), ZMQ_XPUB);
    zmq_setsockopt(x, ZMQ_LINGER, &zero, sizeof zero);
    assert_true(bus_bind(stolen, x, BUS_EVENTS, ep, err, sizeof err));
    char *env2 = forged_envelope(ids[2], codes[2]);
    /* this time the router does subscribe: within its reconnect (at most a second after the
     * last failed handshake) and a sweep; 20 s leaves room for a slow sanitizer build */
    bool subscribed = forge_for(x, ids[2], env2, 20000);
    if (!subscribed)
        print_router_log();
    assert_true(subscribed);
    free(env2);
    assert_true(wait_log(g_router_log, "not in bus.outbox (forged or unknown; e.g. ", 5000));
    char want[128];
    snprintf(want, sizeof want, "e.g. %s", ids[2]);
    assert_true(wait_log(g_router_log, want, 1000));

    /* 4. A 150 MB event frame from the same publisher: the router's SUB drops the connection
     *    before reading it. */
    long before = rss_kb(g_router);
    char *huge = malloc(HUGE_FRAME);
    assert_non_null(huge);
    memset(huge, ' ', HUGE_FRAME);
    zmq_send(x, "ticket.created", 14, ZMQ_SNDMORE);
    zmq_send(x, "{}", 2, ZMQ_SNDMORE);
    zmq_send(x, huge, HUGE_FRAME, 0);
    free(huge);
    sleep_ms(3000);
    long after = rss_kb(g_router);
    print_message("router RSS %ld kB before, %ld kB after a %u MB event frame\n", before, after, HUGE_FRAME >> 20);
    assert_true(after < before + SMALL_KB);
    zmq_close(x);
    bus_destroy(&stolen);

    for (int i = 0; i < 3; i++) {
        assert_int_equal(count_for("SELECT count(*) FROM router.ticket WHERE code = $1", codes[i]), 0);
        assert_int_equal(count_for("SELECT count(*) FROM bus.inbox WHERE event_id = $1::uuid", ids[i]), 0);
    }
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM bus.inbox WHERE consumer = 'router' AND event_id NOT IN"
                                     " (SELECT id FROM bus.outbox)", 0, NULL),
                     0);

    /* Intake back: the router connects to the real one and routes live again (libzmq alone
     * would not have come back after those handshakes and that frame; consumer.c makes a new
     * socket). The next sweep is a minute away, so a routed ticket came over the bus. */
    start_intake();
    bool routed = false;
    for (int i = 0; i < 8 && !routed; i++) {
        char body[256], code[40];
        snprintf(body, sizeof body,
                 "{\"service_code\":\"NOISE\",\"lat\":28.2,\"long\":113.1,\"attributes\":{\"source\":\"music\"}}");
        assert_true(h_post_ticket(g_http, g_key, body, code));
        const char *pc[] = {code};
        routed = h_wait_sql(g_db, "SELECT count(*) FROM router.ticket WHERE code = $1", 1, pc, 1, 2000);
    }
    assert_true(routed);
}

/* An action through intake's HTTP API; returns the status. */
static long act(const char *code, const char *action, const char *token)
{
    char url[256], auth[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/tickets/%s/actions/%s", g_http, code, action);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    const char *hdr[] = {"Content-Type: application/json", auth, NULL};
    h_resp_t r;
    assert_true(h_http("POST", url, hdr, "{}", 2, &r));
    long st = r.status;
    h_resp_free(&r);
    return st;
}

/* A forger that held the router's command port while the router was down leaves intake's command
 * client with a connection libzmq will not retry (bus_watch.h): intake makes a new one. */
static void intake_commands_recover_after_a_forger_held_the_routers_port(void **state)
{
    (void)state;
    /* one HTTP thread: every action goes through the same command client */
    stop_intake();
    static char router_ep[96];
    snprintf(router_ep, sizeof router_ep, "GRIDGOV_ROUTER_ENDPOINT=tcp://127.0.0.1:%d", g_cmd);
    const char *ienv[] = {router_ep, "GRIDGOV_HTTP_THREADS=1", NULL};
    g_intake = h_start_intake(g_http, g_pub, ienv);
    char *code = file_ticket();
    const char *p[] = {code};
    char *assignee = h_sql_text(g_db, "SELECT assignee_id FROM router.ticket WHERE code = $1", 1, p);
    char *token = h_staff_token(g_db, atoll(assignee));
    assert_int_equal(act(code, "accept", token), 200);

    int st = h_stop(g_router, SIGTERM);
    g_router = 0;
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    void *raw = zmq_ctx_new();
    void *x = zmq_socket(raw, ZMQ_ROUTER); /* without CURVE: intake's client cannot agree with it */
    int zero = 0;
    zmq_setsockopt(x, ZMQ_LINGER, &zero, sizeof zero);
    char ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", g_cmd);
    bind_when_free(x, ep);
    assert_int_equal(act(code, "start", token), 503);
    zmq_close(x);
    zmq_ctx_term(raw);
    char *s0 = h_sql_text(g_db, "SELECT state FROM router.ticket WHERE code = $1", 1, p);
    assert_string_equal(s0, "accepted");

    g_router = h_start_router(g_cmd, g_pub, NULL);
    assert_int_equal(act(code, "start", token), 200);
    char *s1 = h_sql_text(g_db, "SELECT state FROM router.ticket WHERE code = $1", 1, p);
    assert_string_equal(s1, "in_progress");
    assert_true(wait_log(g_intake_log, "handshake failed, sending commands to router at", 1000));

    free(s0);
    free(s1);
    free(token);
    free(assignee);
    free(code);
    stop_intake();
    start_intake();
}

/* ---- the consumer reads the event from bus.outbox, not from the frame ---- */

static bool record_n(PGconn *conn, const json_t *env, const char *raw, void *arg, char *err, size_t errsz)
{
    (void)conn;
    (void)raw;
    (void)err;
    (void)errsz;
    long long *seen = arg;
    seen[0]++;
    seen[1] = json_integer_value(json_object_get(json_object_get(env, "data"), "n"));
    return true;
}

static void a_consumer_applies_the_outbox_copy_and_ignores_unknown_ids(void **state)
{
    (void)state;
    char err[1024], ep[96];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", h_port(114));
    bus_opts_t po = {.curve = true, .curve_dir = h_env("GRIDGOV_CURVE_DIR"), .name = "intake", .event_peers = "gridgovctl"};
    bus_t *pbus = bus_new(&po, err, sizeof err);
    assert_non_null(pbus);
    void *x = zmq_socket(bus_ctx(pbus), ZMQ_XPUB);
    int zero = 0;
    zmq_setsockopt(x, ZMQ_LINGER, &zero, sizeof zero);
    assert_true(bus_bind(pbus, x, BUS_EVENTS, ep, err, sizeof err));

    bus_t *cbus = h_bus_as(NULL, true);
    long long seen[2] = {0, 0};
    char name[64], sub_ep[128];
    snprintf(name, sizeof name, "test-trust-%d", (int)getpid());
    snprintf(sub_ep, sizeof sub_ep, "intake@%s", ep);
    consumer_opts_t o = {.name = name, .bus = cbus, .conninfo = h_env("GRIDGOV_DB"), .endpoints = sub_ep,
                         .type_prefix = "test.trust", .sweep_ms = 60000, .fn = record_n, .arg = seen};
    consumer_t *c = consumer_new(&o, err, sizeof err);
    if (!c)
        fail_msg("%s", err);
    assert_true(consumer_poll(c, 10) >= 0); /* the first poll sweeps; the next sweep is a minute away */
    /* wait for the subscription */
    bool subscribed = false;
    for (int i = 0; i < 100 && !subscribed; i++) {
        zmq_pollitem_t it = {x, 0, ZMQ_POLLIN, 0};
        consumer_poll(c, 0);
        if (zmq_poll(&it, 1, 50) == 1) {
            zmq_msg_t m;
            zmq_msg_init(&m);
            zmq_msg_recv(&m, x, 0);
            subscribed = zmq_msg_size(&m) > 0 && ((char *)zmq_msg_data(&m))[0] == 1;
            zmq_msg_close(&m);
        }
    }
    assert_true(subscribed);

    /* A real event in the outbox, announced with a tampered copy: the effect is the real one. */
    char *id = h_sql_text(g_db, "SELECT bus.emit('test.trust', 'test_trust', NULL, '{\"n\":1}')::text", 0, NULL);
    char hdr[160];
    snprintf(hdr, sizeof hdr, "{\"publisher\":\"6a1f3c2e-0000-4000-8000-000000000002\",\"seq\":1,\"id\":\"%s\"}", id);
    char tampered[256];
    snprintf(tampered, sizeof tampered, "{\"id\":\"%s\",\"type\":\"test.trust\",\"data\":{\"n\":666}}", id);
    zmq_send(x, "test.trust", 10, ZMQ_SNDMORE);
    zmq_send(x, hdr, strlen(hdr), ZMQ_SNDMORE);
    zmq_send(x, tampered, strlen(tampered), 0);
    for (int i = 0; i < 100 && seen[0] == 0; i++)
        assert_true(consumer_poll(c, 20) >= 0);
    assert_int_equal(seen[0], 1);
    assert_int_equal(seen[1], 1);

    /* An id that is not in bus.outbox: no effect, no inbox row. */
    char unknown[UUID_STR_LEN];
    uuid_v4(unknown);
    snprintf(hdr, sizeof hdr, "{\"publisher\":\"6a1f3c2e-0000-4000-8000-000000000002\",\"seq\":2,\"id\":\"%s\"}", unknown);
    snprintf(tampered, sizeof tampered, "{\"id\":\"%s\",\"type\":\"test.trust\",\"data\":{\"n\":7}}", unknown);
    zmq_send(x, "test.trust", 10, ZMQ_SNDMORE);
    zmq_send(x, hdr, strlen(hdr), ZMQ_SNDMORE);
    zmq_send(x, tampered, strlen(tampered), 0);
    /* and a frame whose header names no event */
    zmq_send(x, "test.trust", 10, ZMQ_SNDMORE);
    zmq_send(x, "{\"publisher\":\"6a1f3c2e-0000-4000-8000-000000000002\",\"seq\":3}", 60, ZMQ_SNDMORE);
    zmq_send(x, tampered, strlen(tampered), 0);
    /* the same real event again: already in the inbox, nothing more */
    snprintf(hdr, sizeof hdr, "{\"publisher\":\"6a1f3c2e-0000-4000-8000-000000000002\",\"seq\":4,\"id\":\"%s\"}", id);
    zmq_send(x, "test.trust", 10, ZMQ_SNDMORE);
    zmq_send(x, hdr, strlen(hdr), ZMQ_SNDMORE);
    zmq_send(x, "{}", 2, 0);
    for (int i = 0; i < 30; i++)
        assert_true(consumer_poll(c, 20) >= 0);
    assert_int_equal(seen[0], 1);
    const char *pn[] = {name, unknown};
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM bus.inbox WHERE consumer = $1 AND event_id = $2::uuid", 2, pn),
                     0);
    pn[1] = id;
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM bus.inbox WHERE consumer = $1 AND event_id = $2::uuid", 2, pn),
                     1);

    consumer_destroy(&c);
    zmq_close(x);
    bus_destroy(&cbus);
    bus_destroy(&pbus);
    h_sql_exec(g_db, "DELETE FROM bus.outbox WHERE source = 'test_trust'");
    free(id);
}

/* ---- what may not start ---- */

/* Runs a daemon with extra environment until it exits (at most timeout_ms); returns its wait
 * status, or -1 when it was still running (then killed). Its log goes to log. */
static int run_briefly(const char *bin, const char *const *env, const char *log, int timeout_ms)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/%s", h_env("GRIDGOV_BIN"), bin);
    const char *argv[] = {path, NULL};
    pid_t pid = h_spawn(argv, env, log);
    for (int waited = 0; waited < timeout_ms; waited += 50) {
        int st;
        if (waitpid(pid, &st, WNOHANG) == pid) {
            h_stop(pid, 0); /* forget it */
            return st;
        }
        sleep_ms(50);
    }
    h_stop(pid, SIGKILL);
    return -1;
}

static void curve_off_refuses_binds_beyond_this_host_and_curve_on_refuses_missing_keys(void **state)
{
    (void)state;
    char log[1100], db[1100], cmd_ep[96], pub_ep[96], http[64], cal[1100];
    snprintf(db, sizeof db, "GRIDGOV_DB=%s", h_env("GRIDGOV_DB"));
    snprintf(cal, sizeof cal, "GRIDGOV_CALENDAR_DIR=%s/deploy/calendar", h_env("GRIDGOV_TOP"));
    snprintf(http, sizeof http, "GRIDGOV_HTTP_PORT=%d", h_port(119));
    struct {
        const char *bin, *curve, *endpoint_key, *endpoint, *want;
    } cases[] = {
        {"gridgov-router", "off", "GRIDGOV_COMMAND_ENDPOINT", "tcp://0.0.0.0", "curve is off"},
        {"gridgov-router", "off", "GRIDGOV_COMMAND_ENDPOINT", "tcp://*", "curve is off"},
        {"gridgov-router", "off", "GRIDGOV_ROUTER_PUB_ENDPOINT", "tcp://192.168.10.20", "curve is off"},
        {"gridgov-intake", "off", "GRIDGOV_PUB_ENDPOINT", "tcp://*", "curve is off"},
        {"gridgov-intake", "off", "GRIDGOV_PUB_ENDPOINT", "tcp://10.1.2.3", "curve is off"},
        {"gridgov-router", "on", "GRIDGOV_CURVE_DIR", NULL, "router.key"},
        {"gridgov-intake", "on", "GRIDGOV_CURVE_DIR", NULL, "intake.key"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char curve[32], ep[200];
        snprintf(curve, sizeof curve, "GRIDGOV_CURVE=%s", cases[i].curve);
        if (cases[i].endpoint)
            snprintf(ep, sizeof ep, "%s=%s:%d", cases[i].endpoint_key, cases[i].endpoint, h_port(118));
        else
            snprintf(ep, sizeof ep, "%s=%s/no-keys-here", cases[i].endpoint_key, h_env("GRIDGOV_TEST_VAR"));
        snprintf(cmd_ep, sizeof cmd_ep, "GRIDGOV_COMMAND_ENDPOINT=tcp://127.0.0.1:%d", h_port(116));
        snprintf(pub_ep, sizeof pub_ep, "GRIDGOV_ROUTER_PUB_ENDPOINT=tcp://127.0.0.1:%d", h_port(117));
        /* the case's own endpoint comes last, so it wins over the defaults before it */
        const char *env[] = {db, cal, http, cmd_ep, pub_ep, curve, "GRIDGOV_LOG_LEVEL=warn", ep, NULL};
        snprintf(log, sizeof log, "%s/refuse-%zu.log", h_env("GRIDGOV_TEST_VAR"), i);
        int st = run_briefly(cases[i].bin, env, log, 10000);
        if (st == -1)
            fail_msg("%s with %s %s started anyway (log %s)", cases[i].bin, curve, ep, log);
        assert_true(WIFEXITED(st) && WEXITSTATUS(st) != 0);
        if (!wait_log(log, cases[i].want, 0))
            fail_msg("%s: no '%s' in %s", cases[i].bin, cases[i].want, log);
    }
}

static void curve_off_on_loopback_is_the_one_host_mode_and_works(void **state)
{
    (void)state;
    static char router_ep[96];
    snprintf(router_ep, sizeof router_ep, "GRIDGOV_ROUTER_ENDPOINT=tcp://127.0.0.1:%d", h_port(122));
    const char *ienv[] = {"GRIDGOV_CURVE=off", router_ep, NULL};
    const char *renv[] = {"GRIDGOV_CURVE=off", NULL};
    /* the suite's own intake and router stand down: one consumer named router at a time is enough */
    int st = stop_intake();
    assert_true(WIFEXITED(st));
    st = h_stop(g_router, SIGTERM);
    g_router = 0;
    assert_true(WIFEXITED(st));
    int http = g_http;
    g_http = h_port(120);
    pid_t intake = h_start_intake(g_http, h_port(121), ienv);
    pid_t router = h_start_router(h_port(122), h_port(121), renv);
    char *code = file_ticket();
    /* a command over the plain loopback socket is answered */
    bus_t *plain = h_bus_as(NULL, false);
    char id[UUID_STR_LEN], body[256];
    uuid_v4(id);
    snprintf(body, sizeof body, "{\"id\":\"%s\",\"action\":\"no_such_action\",\"ticket\":\"%s\"}", id, code);
    int cmd = g_cmd;
    g_cmd = h_port(122);
    char *reply = command(plain, body, strlen(body), 5000);
    g_cmd = cmd;
    assert_non_null(reply);
    free(reply);
    bus_destroy(&plain);
    free(code);
    st = h_stop(router, SIGTERM);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    st = h_stop(intake, SIGTERM);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    g_http = http;
    start_intake();
    g_router = h_start_router(g_cmd, g_pub, NULL);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(forged_commands_change_nothing_and_are_logged),
        cmocka_unit_test(an_oversized_command_disconnects_its_sender_and_the_router_stays_small),
        cmocka_unit_test(a_forger_on_intakes_event_port_routes_nothing),
        cmocka_unit_test(intake_commands_recover_after_a_forger_held_the_routers_port),
        cmocka_unit_test(a_consumer_applies_the_outbox_copy_and_ignores_unknown_ids),
        cmocka_unit_test(curve_off_refuses_binds_beyond_this_host_and_curve_on_refuses_missing_keys),
        cmocka_unit_test(curve_off_on_loopback_is_the_one_host_mode_and_works),
    };
    return cmocka_run_group_tests_name("bus_trust", tests, setup, teardown);
}
