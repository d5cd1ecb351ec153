/* gridgov-router: the ticket lifecycle. Parse config, build the parts, run the loop, tear down.
 * The loop polls the event subscription (ticket.created → assignment), the command socket
 * (handlers' actions from intake) and the clock tick (SLA, escalation). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "assign.h"
#include "bus.h"
#include "civil.h"
#include "commands.h"
#include "config.h"
#include "consumer.h"
#include "daemon.h"
#include "gclock.h"
#include "log.h"
#include "router.h"
#include "sla.h"

static const cfg_key_t KEYS[] = {
    {"db", CFG_STR, "dbname=gridgov", 0, 0, "PostgreSQL connection string (libpq)"},
    {"command_endpoint", CFG_STR, "tcp://127.0.0.1:7102", 0, 0, "ZeroMQ ROUTER endpoint for commands from intake"},
    {"router_pub_endpoint", CFG_STR, "tcp://127.0.0.1:7103", 0, 0, "ZeroMQ PUB endpoint for the router's events"},
    {"sub_endpoints", CFG_STR, "intake@tcp://127.0.0.1:7101", 0, 0,
     "where intake publishes ticket.created: NAME@endpoint, NAME.pub being the publisher's key"},
    {"calendar_dir", CFG_STR, "deploy/calendar", 0, 0, "holiday calendars, one YYYY.txt per year"},
    {"work_hours", CFG_STR, "08:30-12:00,14:30-17:30", 0, 0, "working hours of a working day"},
    {"tick_ms", CFG_INT, "1000", 10, 60000, "how often the SLA clocks are checked"},
    {"sweep_ms", CFG_INT, "1000", 10, 60000, "how often missed events are looked for in PostgreSQL"},
    {"relay_sweep_ms", CFG_INT, "500", 10, 60000, "how often the relay looks for unpublished events anyway"},
    {"unrated_close_h", CFG_INT, "72", 1, 8760, "hours after resolution before an unrated ticket closes"},
    DAEMON_DB_KEYS,
    {"log_level", CFG_STR, "info", 0, 0, "debug, info, warn or error"},
    {"clock_file", CFG_STR, NULL, 0, 0, "tests: read the current time (epoch seconds) from this file"},
    BUS_CFG_KEYS("router"),
    BUS_CFG_EVENT_PEERS("notify,gridgovctl"),
    BUS_CFG_COMMAND_PEERS("intake"),
};

/* Answers every command waiting on the socket. */
static void serve_commands(router_t *r, void *sock)
{
    for (;;) {
        zmq_msg_t idf, body;
        zmq_msg_init(&idf);
        if (zmq_msg_recv(&idf, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&idf);
            return;
        }
        zmq_msg_init(&body);
        bool ok = zmq_msg_more(&idf) && zmq_msg_recv(&body, sock, 0) >= 0;
        while (ok && zmq_msg_more(&body)) { /* drop extra frames */
            zmq_msg_t x;
            zmq_msg_init(&x);
            zmq_msg_recv(&x, sock, 0);
            int more = zmq_msg_more(&x);
            zmq_msg_close(&x);
            if (!more)
                break;
        }
        if (ok) {
            char *out = commands_handle(r, zmq_msg_data(&body), zmq_msg_size(&body), gclock_now_us());
            /* ROUTER_MANDATORY: a peer that went away makes this fail; it will retry by id */
            if (zmq_send(sock, zmq_msg_data(&idf), zmq_msg_size(&idf), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
                zmq_send(sock, out, strlen(out), ZMQ_DONTWAIT) < 0)
                log_debug("command reply not delivered: %s", zmq_strerror(errno));
            free(out);
        }
        zmq_msg_close(&body);
        zmq_msg_close(&idf);
    }
}

/* A year with no calendar file counts Monday to Friday as working days (workcal.h): say so,
 * and in December remind the operator to add the next year's holidays. */
static void warn_missing_years(const workcal_t *cal, int64_t now_us)
{
    int64_t y;
    int m, d;
    civil_from_days(civil_floor_div(now_us / 1000000 + 8 * 3600, 86400), &y, &m, &d);
    if (!workcal_year_loaded(cal, (int)y))
        log_warn("no holiday calendar for %lld: clocks count Monday-Friday only; add deploy/calendar/%lld.txt",
                 (long long)y, (long long)y);
    if (m == 12 && !workcal_year_loaded(cal, (int)y + 1))
        log_warn("no holiday calendar for %lld yet: add deploy/calendar/%lld.txt when the notice is published",
                 (long long)y + 1, (long long)y + 1);
}

int main(int argc, char **argv)
{
    cfg_t *cfg = cfg_new(KEYS, sizeof KEYS / sizeof KEYS[0]);
    int code;
    if (!daemon_setup(cfg, "gridgov-router", "router",
                      "The gridgov ticket router: assignment, lifecycle, clocks, escalation.", argc, argv, &code)) {
        cfg_destroy(&cfg);
        return code;
    }

    char err[512];
    int status = 1;
    router_t r = {.unrated_close_s = cfg_int(cfg, "unrated_close_h") * 3600};
    consumer_t *consumer = NULL;
    bus_t *bus = NULL;
    void *cmd = NULL;
    const char *conninfo = cfg_str(cfg, "db");

    /* Keys and endpoints first: a daemon that may not start says so before it waits for anything. */
    if (!(bus = bus_from_cfg(cfg, err, sizeof err)) ||
        !bus_may_bind(bus, cfg_str(cfg, "command_endpoint"), err, sizeof err) ||
        !bus_may_bind(bus, cfg_str(cfg, "router_pub_endpoint"), err, sizeof err)) {
        log_error("bus: %s", err);
        goto done;
    }

    r.cal = workcal_new();
    if (!workcal_load_dir(r.cal, cfg_str(cfg, "calendar_dir"), err, sizeof err) ||
        !workcal_set_hours(r.cal, cfg_str(cfg, "work_hours"), err, sizeof err)) {
        log_error("calendar: %s", err);
        goto done;
    }
    warn_missing_years(r.cal, gclock_now_us());
    if (!(r.db = daemon_connect(conninfo, "gridgov-router")))
        goto done;
    r.relay = relay_start(bus, conninfo, "router", cfg_str(cfg, "router_pub_endpoint"), (int)cfg_int(cfg, "relay_sweep_ms"),
                          err, sizeof err);
    if (!r.relay) {
        log_error("%s", err);
        status = DAEMON_EXIT_BIND;
        goto done;
    }
    consumer_opts_t co = {.name = "router", .bus = bus, .conninfo = conninfo, .endpoints = cfg_str(cfg, "sub_endpoints"),
                          .type_prefix = "ticket.created", .sweep_ms = (int)cfg_int(cfg, "sweep_ms"),
                          .batch_fn = assign_on_ticket_batch, .arg = &r};
    consumer = consumer_new(&co, err, sizeof err);
    if (!consumer) {
        log_error("%s", err);
        goto done;
    }
    cmd = zmq_socket(bus_ctx(bus), ZMQ_ROUTER);
    int one = 1, linger = 0;
    zmq_setsockopt(cmd, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(cmd, ZMQ_LINGER, &linger, sizeof linger);
    if (!bus_bind(bus, cmd, BUS_COMMANDS, cfg_str(cfg, "command_endpoint"), err, sizeof err)) {
        log_error("commands: %s", err);
        status = DAEMON_EXIT_BIND;
        goto done;
    }
    log_info("routing: events from %s, commands on %s, events out on %s (curve %s)", cfg_str(cfg, "sub_endpoints"),
             cfg_str(cfg, "command_endpoint"), cfg_str(cfg, "router_pub_endpoint"),
             bus_curve(bus) ? "on" : "off: this host only");

    /* A clock tick that failed (the database is away) is tried again later and later, up to 5 s
     * apart, so that its log lines stay few; the consumer and the relay back off the same way. */
    long long tick_ms = cfg_int(cfg, "tick_ms"), next_tick = gclock_mono_ms(), tick_wait = tick_ms;
    while (!daemon_stop) {
        long long now = gclock_mono_ms();
        int wait = (int)(next_tick > now ? next_tick - now : 0);
        int cw = consumer_next_timeout_ms(consumer);
        if (cw < wait)
            wait = cw;
        zmq_pollitem_t items[] = {{consumer_socket(consumer), 0, ZMQ_POLLIN, 0}, {cmd, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, 2, wait) < 0 && errno != EINTR)
            break;
        if (items[1].revents & ZMQ_POLLIN)
            serve_commands(&r, cmd);
        int moved = consumer_poll(consumer, 0);
        if (moved > 0)
            relay_ring(r.relay);
        if (gclock_mono_ms() >= next_tick) {
            int ticked = sla_tick(&r, gclock_now_us());
            if (ticked > 0)
                relay_ring(r.relay);
            tick_wait = ticked >= 0 ? tick_ms : (tick_wait < 2500 ? tick_wait * 2 : (tick_ms > 5000 ? tick_ms : 5000));
            next_tick = gclock_mono_ms() + tick_wait;
        }
        if (items[1].revents & ZMQ_POLLIN)
            relay_ring(r.relay);
    }
    log_info("shutting down");
    status = 0;
done:
    if (cmd)
        zmq_close(cmd);
    consumer_destroy(&consumer);
    relay_stop(&r.relay);
    bus_destroy(&bus); /* after every socket of its context is closed */
    db_destroy(&r.db);
    workcal_destroy(&r.cal);
    cfg_destroy(&cfg);
    return status;
}
