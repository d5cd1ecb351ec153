/* gridgovctl events: the event stream on stdout, one event per line: as a person reads it
 * (event_view.h: the county's time, type, ticket, what changed), or with --json the envelope as it
 * travels. Three ways to follow it:
 *   live (the default)  subscribes over ZeroMQ to every publisher in sub_endpoints (intake's and
 *                       the router's: the whole lifecycle); what was sent before, it does not see;
 *   --from-start        reads bus.outbox from its first event, then keeps reading it
 *                       (events_outbox.h): everything, once, in order, read-only;
 *   --consumer NAME     a durable consumer: catches up from PostgreSQL past its cursor, then follows
 *                       live, and records each event in bus.inbox so a restart resumes where it
 *                       stopped.
 * No personal data reaches the terminal: a ticket.created of version 1 (written before
 * migration 018) has its reporter block masked, and every mobile number in any event (one a
 * resident typed into a description, say) is masked as the logs mask it. */
#include <errno.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "bus.h"
#include "bus_watch.h"
#include "buf.h"
#include "consumer.h"
#include "ctl.h"
#include "event_view.h"
#include "events_outbox.h"
#include "gclock.h"
#include "log.h"

static volatile sig_atomic_t g_stop;
static void on_signal(int s)
{
    (void)s;
    g_stop = 1;
}

static bool g_json; /* --json: envelopes as they travel */

/* The envelope (len bytes of JSON) as the operator may see it: see the header. The caller frees. */
static char *masked(const char *raw, size_t len)
{
    json_error_t je;
    json_t *env = json_loadb(raw, len, 0, &je);
    json_t *reporter = json_object_get(json_object_get(env, "data"), "reporter");
    char *line = NULL;
    if (json_is_object(reporter)) {
        /* the phone as the logs show it; names, e-mail, account and device not at all */
        const char *k;
        json_t *v;
        json_object_foreach(reporter, k, v)
        {
            char m[32];
            json_object_set_new(reporter, k,
                                json_string(!strcmp(k, "phone") ? log_mask_phone(json_string_value(v), m, sizeof m)
                                                                : "****"));
        }
        line = json_dumps(env, JSON_COMPACT); /* reals at full precision: the numbers as stored */
    }
    if (!line && !(line = strndup(raw, len)))
        log_oom();
    json_decref(env);
    log_mask_phones(line);
    return line;
}

/* One event on stdout: the person's line, or the envelope (also when it is no envelope). */
static void show(const char *raw, size_t len)
{
    char *line = masked(raw, len);
    buf_t view = BUF_INIT;
    if (!g_json && event_view_line(line, &view))
        fputs(buf_str(&view), stdout);
    else
        fputs(line, stdout);
    fputc('\n', stdout);
    fflush(stdout);
    buf_free(&view);
    free(line);
}

static void show_from_outbox(const char *envelope_json, void *arg)
{
    (void)arg;
    show(envelope_json, strlen(envelope_json));
}

static bool print_event(PGconn *conn, const json_t *env, const char *raw, void *arg, char *err, size_t errsz)
{
    (void)conn;
    (void)env;
    (void)err;
    (void)errsz;
    long *printed = arg;
    show(raw, strlen(raw));
    (*printed)++;
    return true;
}

/* The live stream prints what the publishers send: only publishers whose keys are configured
 * (NAME@endpoint) get through the CURVE handshake. It is a watcher's view; consumers that act
 * read each event from bus.outbox instead (consumer.h). */
static void *subscribe(bus_t *bus, bus_watch_t *watch, const char *endpoints, const char *prefix, char *err,
                       size_t errsz)
{
    void *sub = zmq_socket(bus_ctx(bus), ZMQ_SUB);
    int linger = 0;
    zmq_setsockopt(sub, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(sub, ZMQ_SUBSCRIBE, prefix, strlen(prefix));
    if (!bus_watch_attach(watch, sub, err, errsz) || !bus_connect_list(bus, sub, BUS_EVENTS, endpoints, err, errsz)) {
        zmq_close(sub);
        return NULL;
    }
    return sub;
}

static int live(bus_t *bus, const char *endpoints, const char *prefix, long count, long idle_ms)
{
    char err[512];
    bus_watch_t *watch = bus_watch_new(bus, "gridgovctl events: subscribing to");
    void *sub = subscribe(bus, watch, endpoints, prefix, err, sizeof err);
    if (!sub) {
        fprintf(stderr, "gridgovctl: %s\n", err);
        bus_watch_destroy(&watch);
        return 1;
    }
    log_info("subscribed to %s", endpoints);
    long printed = 0;
    long long last = gclock_mono_ms();
    while (!g_stop && (count <= 0 || printed < count)) {
        void *fresh;
        /* libzmq does not come back from a failed handshake by itself (bus_watch.h) */
        if (bus_watch_broken(watch) && (fresh = subscribe(bus, watch, endpoints, prefix, err, sizeof err))) {
            zmq_close(sub);
            sub = fresh;
        }
        zmq_pollitem_t it = {sub, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 100) <= 0) {
            if (idle_ms > 0 && gclock_mono_ms() - last >= idle_ms)
                break;
            continue;
        }
        zmq_msg_t m;
        int part = 0, more = 1;
        while (more) {
            zmq_msg_init(&m);
            if (zmq_msg_recv(&m, sub, 0) < 0) {
                zmq_msg_close(&m);
                break;
            }
            more = zmq_msg_more(&m);
            if (part == 2) {
                show(zmq_msg_data(&m), zmq_msg_size(&m));
                printed++;
            }
            part++;
            zmq_msg_close(&m);
        }
        last = gclock_mono_ms();
    }
    zmq_close(sub);
    bus_watch_destroy(&watch);
    return 0;
}

int ctl_events(const cfg_t *cfg, int argc, char **argv)
{
    const char *consumer = NULL, *prefix = "";
    long count = 0, idle_ms = 0;
    bool from_start = false;
    g_json = false;
    for (int i = 1; i < argc; i++) {
        bool has = i + 1 < argc;
        if (!strcmp(argv[i], "--json"))
            g_json = true;
        else if (!strcmp(argv[i], "--from-start"))
            from_start = true;
        else if (!strcmp(argv[i], "--consumer") && has)
            consumer = argv[++i];
        else if (!strcmp(argv[i], "--type") && has)
            prefix = argv[++i];
        else if (!strcmp(argv[i], "--count") && has)
            count = atol(argv[++i]);
        else if (!strcmp(argv[i], "--idle-exit") && has)
            idle_ms = atol(argv[++i]);
        else {
            fprintf(stderr, "usage: gridgovctl events [--json] [--from-start | --consumer NAME] [--type PREFIX] [--count N]"
                            " [--idle-exit MS]\n");
            return 2;
        }
    }
    if (from_start && consumer) {
        fprintf(stderr, "gridgovctl: --from-start and --consumer exclude each other (a consumer starts at its cursor)\n");
        return 2;
    }
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    if (from_start) {
        outbox_follow_t o = {.conninfo = cfg_str(cfg, "db"), .type_prefix = prefix, .count = count, .idle_ms = idle_ms,
                             .poll_ms = 200, .stop = &g_stop, .print = show_from_outbox};
        return events_follow_outbox(&o);
    }
    char err[1024];
    bus_t *bus = bus_from_cfg(cfg, err, sizeof err);
    if (!bus) {
        fprintf(stderr, "gridgovctl: %s\n", err);
        return 1;
    }
    if (!consumer) {
        int rc = live(bus, cfg_str(cfg, "sub_endpoints"), prefix, count, idle_ms);
        bus_destroy(&bus);
        return rc;
    }

    long printed = 0;
    consumer_opts_t o = {.name = consumer, .bus = bus, .conninfo = cfg_str(cfg, "db"),
                         .endpoints = cfg_str(cfg, "sub_endpoints"), .type_prefix = prefix, .sweep_ms = 1000,
                         .fn = print_event, .arg = &printed};
    consumer_t *c = consumer_new(&o, err, sizeof err);
    if (!c) {
        fprintf(stderr, "gridgovctl: %s\n", err);
        bus_destroy(&bus);
        return 1;
    }
    log_info("consumer %s following %s", consumer, o.endpoints);
    long long last = gclock_mono_ms();
    while (!g_stop && (count <= 0 || printed < count)) {
        long before = printed;
        consumer_poll(c, 100);
        if (printed != before)
            last = gclock_mono_ms();
        else if (idle_ms > 0 && gclock_mono_ms() - last >= idle_ms)
            break;
    }
    consumer_destroy(&c);
    bus_destroy(&bus);
    return 0;
}
