/* The bus's keys and gate: key files (curve_key.c), the ZAP allow-list (zap.c) and the rules of
 * bus.c (who may connect, where a process may bind without CURVE, how large a frame may be),
 * against real ZeroMQ sockets on loopback. Every test works in a key folder of its own. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>
#include <zmq.h>

#include "bus.h"
#include "curve_key.h"
#include "harness.h"
#include "log.h"
#include "zap.h"

static char g_dir[1100];

static int setup(void **state)
{
    (void)state;
    snprintf(g_dir, sizeof g_dir, "%s/unit-bus-keys-XXXXXX", h_env("GRIDGOV_TEST_VAR"));
    return mkdtemp(g_dir) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[1200];
    snprintf(cmd, sizeof cmd, "rm -rf '%s'", g_dir);
    return system(cmd) == 0 ? 0 : -1;
}

static void write_file(const char *name, const char *text, mode_t mode)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    unlink(path);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, mode);
    assert_true(fd >= 0);
    assert_int_equal(write(fd, text, strlen(text)), (ssize_t)strlen(text));
    assert_int_equal(fchmod(fd, mode), 0);
    close(fd);
}

static void keygen(const char *name)
{
    char pub[CURVE_Z85_SIZE], err[512];
    if (!curve_key_generate(g_dir, name, pub, err, sizeof err))
        fail_msg("keygen %s: %s", name, err);
}

static mode_t mode_of(const char *name)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/%s", g_dir, name);
    struct stat st;
    assert_int_equal(stat(path, &st), 0);
    return st.st_mode & 07777;
}

/* ---- key files ---- */

static void a_generated_pair_reads_back_with_its_modes(void **state)
{
    (void)state;
    char pub[CURVE_Z85_SIZE], err[512];
    assert_true(curve_key_generate(g_dir, "intake", pub, err, sizeof err));
    assert_int_equal(strlen(pub), CURVE_Z85_LEN);
    assert_int_equal(mode_of("intake.key"), 0600);
    assert_int_equal(mode_of("intake.pub"), 0644);
    char sec[CURVE_Z85_SIZE], derived[CURVE_Z85_SIZE], read_pub[CURVE_Z85_SIZE];
    uint8_t raw[CURVE_KEY_BYTES];
    assert_true(curve_key_read_secret(g_dir, "intake", sec, derived, err, sizeof err));
    assert_string_equal(derived, pub); /* the public half is derived from the secret file */
    assert_string_not_equal(sec, pub);
    assert_true(curve_key_read_public(g_dir, "intake", read_pub, raw, err, sizeof err));
    assert_string_equal(read_pub, pub);
    uint8_t want[CURVE_KEY_BYTES];
    assert_non_null(zmq_z85_decode(want, pub));
    assert_memory_equal(raw, want, sizeof want);
}

static void keygen_never_overwrites(void **state)
{
    (void)state;
    keygen("router");
    char before[CURVE_Z85_SIZE], sec[CURVE_Z85_SIZE], pub[CURVE_Z85_SIZE], err[512];
    assert_true(curve_key_read_secret(g_dir, "router", sec, before, err, sizeof err));
    assert_false(curve_key_generate(g_dir, "router", pub, err, sizeof err));
    assert_non_null(strstr(err, "never overwritten"));
    assert_true(curve_key_read_secret(g_dir, "router", sec, pub, err, sizeof err));
    assert_string_equal(pub, before);
    /* a lone .pub also blocks: its secret may live on another host */
    write_file("lonely.pub", "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\n", 0644);
    assert_false(curve_key_generate(g_dir, "lonely", pub, err, sizeof err));
    char path[1200];
    snprintf(path, sizeof path, "%s/lonely.key", g_dir);
    assert_int_not_equal(access(path, F_OK), 0);
}

static void key_names_cannot_walk_out_of_the_folder(void **state)
{
    (void)state;
    const char *bad[] = {"", "../etc", "a/b", "Intake", "x.key", "a b", NULL};
    char pub[CURVE_Z85_SIZE], err[512];
    for (int i = 0; bad[i]; i++) {
        assert_false(curve_name_valid(bad[i]));
        assert_false(curve_key_generate(g_dir, bad[i], pub, err, sizeof err));
        assert_false(curve_key_read_public(g_dir, bad[i], pub, NULL, err, sizeof err));
    }
    assert_true(curve_name_valid("gridgovctl"));
    assert_true(curve_name_valid("notify-2_b"));
}

static void a_missing_key_says_which_file_and_how_to_make_it(void **state)
{
    (void)state;
    char sec[CURVE_Z85_SIZE], pub[CURVE_Z85_SIZE], err[1024];
    assert_false(curve_key_read_secret(g_dir, "absent", sec, pub, err, sizeof err));
    assert_non_null(strstr(err, "absent.key"));
    assert_non_null(strstr(err, "gridgovctl keygen"));
    assert_false(curve_key_read_public(g_dir, "absent", pub, NULL, err, sizeof err));
    assert_non_null(strstr(err, "absent.pub"));
}

static void bad_key_texts_are_refused(void **state)
{
    (void)state;
    const char *bad[] = {
        "",                                            /* empty */
        "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf\n",   /* 39 characters */
        "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7x\n", /* 41 */
        "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf~\n",  /* ~ is not Z85 */
        "rq:rM>}U?@Lns47E1%kR.o@n%Fcm sL/@{H8]yf7\n",  /* a space inside */
        "#####Lns47E1%kR.o@n%FcmmsL/@{H8]yf7rq:rM\n",  /* a group above 2^32 */
        " rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\n", /* leading space */
        "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\nrq:rM\n", /* a second line */
        NULL,
    };
    char pub[CURVE_Z85_SIZE], sec[CURVE_Z85_SIZE], err[1024];
    for (int i = 0; bad[i]; i++) {
        write_file("bad.pub", bad[i], 0644);
        write_file("bad.key", bad[i], 0600);
        if (curve_key_read_public(g_dir, "bad", pub, NULL, err, sizeof err))
            fail_msg("accepted public key text %d: '%s'", i, bad[i]);
        assert_non_null(strstr(err, "does not hold a CURVE key"));
        if (curve_key_read_secret(g_dir, "bad", sec, pub, err, sizeof err))
            fail_msg("accepted secret key text %d", i);
    }
    /* the example key itself is fine, with LF or CRLF or nothing after it */
    const char *good[] = {"rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\n", "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7\r\n",
                          "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7", NULL};
    for (int i = 0; good[i]; i++) {
        write_file("good.pub", good[i], 0644);
        assert_true(curve_key_read_public(g_dir, "good", pub, NULL, err, sizeof err));
        assert_string_equal(pub, "rq:rM>}U?@Lns47E1%kR.o@n%FcmmsL/@{H8]yf7");
    }
}

static void a_secret_key_open_to_others_is_refused(void **state)
{
    (void)state;
    keygen("open");
    char path[1200], sec[CURVE_Z85_SIZE], pub[CURVE_Z85_SIZE], err[1024];
    snprintf(path, sizeof path, "%s/open.key", g_dir);
    const mode_t too_open[] = {0640, 0604, 0660, 0644, 0606, 0700 | 0040};
    for (size_t i = 0; i < sizeof too_open / sizeof too_open[0]; i++) {
        assert_int_equal(chmod(path, too_open[i]), 0);
        assert_false(curve_key_read_secret(g_dir, "open", sec, pub, err, sizeof err));
        assert_non_null(strstr(err, "0600"));
    }
    assert_int_equal(chmod(path, 0400), 0); /* read-only for the owner: as systemd's credentials */
    assert_true(curve_key_read_secret(g_dir, "open", sec, pub, err, sizeof err));
    /* a folder in place of the file */
    char sub[1200];
    snprintf(sub, sizeof sub, "%s/folder.key", g_dir);
    assert_int_equal(mkdir(sub, 0700), 0);
    assert_false(curve_key_read_secret(g_dir, "folder", sec, pub, err, sizeof err));
    assert_non_null(strstr(err, "not a regular file"));
    /* public keys are public: 0644 is what they should be */
    assert_true(curve_key_read_public(g_dir, "open", pub, NULL, err, sizeof err));
}

/* ---- bus_new: what a daemon refuses to start with ---- */

static void bus_new_refuses_missing_keys_with_the_reason(void **state)
{
    (void)state;
    char err[1024];
    bus_opts_t o = {.curve = true, .curve_dir = g_dir, .name = "router"};
    assert_null(bus_new(&o, err, sizeof err));
    assert_non_null(strstr(err, "router.key"));
    assert_non_null(strstr(err, "curve=off"));
    keygen("router");
    o.command_peers = "intake";
    assert_null(bus_new(&o, err, sizeof err));
    assert_non_null(strstr(err, "curve_command_peers names intake"));
    keygen("intake");
    o.event_peers = "gridgovctl, intake";
    assert_null(bus_new(&o, err, sizeof err));
    assert_non_null(strstr(err, "gridgovctl"));
    keygen("gridgovctl");
    bus_t *b = bus_new(&o, err, sizeof err);
    if (!b)
        fail_msg("%s", err);
    assert_true(bus_curve(b));
    bus_destroy(&b);
    assert_null(b);
    bus_destroy(&b);
    /* curve off needs no keys at all */
    bus_opts_t off = {.curve = false, .curve_dir = "/nonexistent", .name = "nobody"};
    b = bus_new(&off, err, sizeof err);
    assert_non_null(b);
    assert_false(bus_curve(b));
    bus_destroy(&b);
}

static void without_curve_only_this_host_may_be_bound(void **state)
{
    (void)state;
    char err[512];
    bus_opts_t off = {.curve = false};
    bus_t *b = bus_new(&off, err, sizeof err);
    assert_non_null(b);
    const char *host_only[] = {"tcp://127.0.0.1:7101", "tcp://127.8.9.10:1", "tcp://localhost:7101", "tcp://[::1]:7101",
                               "ipc:///run/gridgov/bus", "ipc://@gridgov", "inproc://x", "intake@tcp://127.0.0.1:1",
                               NULL};
    const char *beyond[] = {"tcp://*:7101", "tcp://0.0.0.0:7101", "tcp://192.168.1.20:7101", "tcp://10.0.0.1:7101",
                            "tcp://[::]:7101", "tcp://eth0:7101", "tcp://router:7102", "tcp://128.0.0.1:1",
                            "pgm://eth0;239.192.1.1:5555", "udp://127.0.0.1:1", "tcp://:7101", "nonsense", NULL};
    for (int i = 0; host_only[i]; i++)
        if (!bus_may_bind(b, host_only[i], err, sizeof err))
            fail_msg("refused %s: %s", host_only[i], err);
    for (int i = 0; beyond[i]; i++) {
        if (bus_may_bind(b, beyond[i], err, sizeof err))
            fail_msg("curve off, yet %s may be bound", beyond[i]);
    }
    assert_false(bus_may_bind(b, "tcp://*:7101", err, sizeof err));
    assert_non_null(strstr(err, "curve is off"));
    /* and bus_bind itself applies the rule */
    void *s = zmq_socket(bus_ctx(b), ZMQ_PUB);
    assert_false(bus_bind(b, s, BUS_EVENTS, "tcp://0.0.0.0:0", err, sizeof err));
    zmq_close(s);
    bus_destroy(&b);

    keygen("intake");
    bus_opts_t on = {.curve = true, .curve_dir = g_dir, .name = "intake"};
    b = bus_new(&on, err, sizeof err);
    assert_non_null(b);
    assert_true(bus_may_bind(b, "tcp://*:7101", err, sizeof err));
    assert_true(bus_may_bind(b, "tcp://0.0.0.0:7101", err, sizeof err));
    bus_destroy(&b);
}

/* ---- the gate, with real sockets ---- */

static void zap_find_matches_key_and_domain(void **state)
{
    (void)state;
    zap_peer_t peers[2] = {{.domain = "command", .name = "intake"}, {.domain = "event", .name = "router"}};
    memset(peers[0].key, 1, CURVE_KEY_BYTES);
    memset(peers[1].key, 2, CURVE_KEY_BYTES);
    uint8_t k1[CURVE_KEY_BYTES], k2[CURVE_KEY_BYTES], k3[CURVE_KEY_BYTES];
    memset(k1, 1, sizeof k1);
    memset(k2, 2, sizeof k2);
    memset(k3, 3, sizeof k3);
    assert_ptr_equal(zap_find(peers, 2, "command", k1, 32), &peers[0]);
    assert_ptr_equal(zap_find(peers, 2, "event", k2, 32), &peers[1]);
    assert_null(zap_find(peers, 2, "event", k1, 32));   /* intake may command, not subscribe */
    assert_null(zap_find(peers, 2, "command", k2, 32)); /* and the other way round */
    assert_null(zap_find(peers, 2, "command", k3, 32)); /* a stranger */
    assert_null(zap_find(peers, 2, "command", k1, 31)); /* not a CURVE key */
    assert_null(zap_find(peers, 2, "", k1, 32));
    assert_null(zap_find(peers, 0, "command", k1, 32));
}

/* One request from a DEALER of bus b (connected to endpoint as a client of server) to the echo
 * server; true when the answer came within timeout_ms. */
static bool ask(bus_t *b, const char *endpoint, const char *server, size_t size, int timeout_ms)
{
    void *d = zmq_socket(bus_ctx(b), ZMQ_DEALER);
    int zero = 0;
    zmq_setsockopt(d, ZMQ_LINGER, &zero, sizeof zero);
    char err[512];
    if (!bus_connect(b, d, BUS_COMMANDS, endpoint, server, err, sizeof err))
        fail_msg("%s", err);
    char *body = malloc(size);
    assert_non_null(body);
    memset(body, 'x', size);
    zmq_send(d, body, size, 0);
    free(body);
    zmq_pollitem_t it = {d, 0, ZMQ_POLLIN, 0};
    bool got = zmq_poll(&it, 1, timeout_ms) == 1;
    zmq_close(d);
    return got;
}

/* A thread of the test answering every request on the router socket with "ok". */
typedef struct {
    void *sock;
    volatile int stop;
    int served;
} echo_t;

static void *echo_main(void *arg)
{
    echo_t *e = arg;
    while (!e->stop) {
        zmq_pollitem_t it = {e->sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 50) != 1)
            continue;
        zmq_msg_t id, body;
        zmq_msg_init(&id);
        zmq_msg_init(&body);
        zmq_msg_recv(&id, e->sock, 0);
        zmq_msg_recv(&body, e->sock, 0);
        zmq_send(e->sock, zmq_msg_data(&id), zmq_msg_size(&id), ZMQ_SNDMORE);
        zmq_send(e->sock, "ok", 2, 0);
        e->served++;
        zmq_msg_close(&id);
        zmq_msg_close(&body);
    }
    return NULL;
}

static void only_admitted_keys_get_through_to_a_command_socket(void **state)
{
    (void)state;
    keygen("router");
    keygen("intake");
    keygen("gridgovctl");
    keygen("stranger");
    char err[1024], ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", h_port(100));
    bus_opts_t so = {.curve = true, .curve_dir = g_dir, .name = "router", .command_peers = "intake",
                     .event_peers = "gridgovctl"};
    bus_t *server = bus_new(&so, err, sizeof err);
    if (!server)
        fail_msg("%s", err);
    echo_t e = {.sock = zmq_socket(bus_ctx(server), ZMQ_ROUTER)};
    int zero = 0;
    zmq_setsockopt(e.sock, ZMQ_LINGER, &zero, sizeof zero);
    assert_true(bus_bind(server, e.sock, BUS_COMMANDS, ep, err, sizeof err));
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, echo_main, &e), 0);

    bus_opts_t io = {.curve = true, .curve_dir = g_dir, .name = "intake"};
    bus_opts_t go = {.curve = true, .curve_dir = g_dir, .name = "gridgovctl"};
    bus_opts_t xo = {.curve = true, .curve_dir = g_dir, .name = "stranger"};
    bus_opts_t no = {.curve = false};
    bus_t *intake = bus_new(&io, err, sizeof err), *ctl = bus_new(&go, err, sizeof err),
          *stranger = bus_new(&xo, err, sizeof err), *plain = bus_new(&no, err, sizeof err);
    assert_non_null(intake);
    assert_non_null(ctl);
    assert_non_null(stranger);
    assert_non_null(plain);

    assert_true(ask(intake, ep, "router", 10, 3000));           /* admitted for commands */
    assert_false(ask(ctl, ep, "router", 10, 700));              /* admitted for events only */
    assert_false(ask(stranger, ep, "router", 10, 700));         /* unknown key */
    assert_false(ask(plain, ep, NULL, 10, 700));                /* no CURVE at all */
    assert_false(ask(intake, ep, "gridgovctl", 10, 700));       /* expects another server key */
    char named[96];
    snprintf(named, sizeof named, "router@%s", ep);
    assert_true(ask(intake, named, NULL, 10, 3000));            /* the server named in the endpoint */
    assert_true(bus_refused(server) >= 2);                      /* ctl and stranger went to ZAP */

    /* curve on, a client must know whose server it is */
    void *d = zmq_socket(bus_ctx(intake), ZMQ_DEALER);
    assert_false(bus_connect(intake, d, BUS_COMMANDS, ep, NULL, err, sizeof err));
    assert_non_null(strstr(err, "NAME@"));
    assert_false(bus_connect(intake, d, BUS_COMMANDS, ep, "absent", err, sizeof err));
    assert_non_null(strstr(err, "absent.pub"));
    zmq_close(d);

    e.stop = 1;
    pthread_join(th, NULL);
    assert_int_equal(e.served, 2);
    zmq_close(e.sock);
    bus_destroy(&intake);
    bus_destroy(&ctl);
    bus_destroy(&stranger);
    bus_destroy(&plain);
    bus_destroy(&server);
}

static void a_frame_above_the_limit_disconnects_its_sender(void **state)
{
    (void)state;
    keygen("router");
    keygen("intake");
    char err[1024], ep[64];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", h_port(101));
    bus_opts_t so = {.curve = true, .curve_dir = g_dir, .name = "router", .command_peers = "intake", .max_command = 4096};
    bus_t *server = bus_new(&so, err, sizeof err);
    assert_non_null(server);
    echo_t e = {.sock = zmq_socket(bus_ctx(server), ZMQ_ROUTER)};
    int zero = 0;
    zmq_setsockopt(e.sock, ZMQ_LINGER, &zero, sizeof zero);
    assert_true(bus_bind(server, e.sock, BUS_COMMANDS, ep, err, sizeof err));
    pthread_t th;
    assert_int_equal(pthread_create(&th, NULL, echo_main, &e), 0);
    bus_opts_t io = {.curve = true, .curve_dir = g_dir, .name = "intake"};
    bus_t *intake = bus_new(&io, err, sizeof err);
    assert_non_null(intake);
    assert_true(ask(intake, ep, "router", 4000, 3000));
    assert_false(ask(intake, ep, "router", 4200, 700)); /* read no further than its size */
    assert_true(ask(intake, ep, "router", 10, 3000));   /* the server goes on */
    e.stop = 1;
    pthread_join(th, NULL);
    assert_int_equal(e.served, 2);
    zmq_close(e.sock);
    bus_destroy(&intake);
    bus_destroy(&server);
}

#define T(fn) cmocka_unit_test_setup_teardown(fn, setup, teardown)

int main(void)
{
    log_init("unit", LOG_ERROR);
    const struct CMUnitTest tests[] = {
        T(a_generated_pair_reads_back_with_its_modes),
        T(keygen_never_overwrites),
        T(key_names_cannot_walk_out_of_the_folder),
        T(a_missing_key_says_which_file_and_how_to_make_it),
        T(bad_key_texts_are_refused),
        T(a_secret_key_open_to_others_is_refused),
        T(bus_new_refuses_missing_keys_with_the_reason),
        T(without_curve_only_this_host_may_be_bound),
        T(zap_find_matches_key_and_domain),
        T(only_admitted_keys_get_through_to_a_command_socket),
        T(a_frame_above_the_limit_disconnects_its_sender),
    };
    return cmocka_run_group_tests_name("bus_keys", tests, NULL, NULL);
}
