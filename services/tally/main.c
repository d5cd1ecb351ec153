/* gridgov-tally: motions, rolls, ballots, results and their audit chain. Parse config, build the
 * parts, run the loop, tear down. The loop polls the command socket (staff actions and voters'
 * casts from intake and gridgovctl) and the clock tick (motions whose closes_at has passed). */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <zmq.h>

#include "bus.h"
#include "close.h"
#include "config.h"
#include "daemon.h"
#include "gclock.h"
#include "log.h"
#include "rulesets.h"
#include "server.h"
#include "tally.h"

static const cfg_key_t KEYS[] = {
    {"db", CFG_STR, "dbname=gridgov", 0, 0, "PostgreSQL connection string (libpq)"},
    {"tally_endpoint", CFG_STR, "tcp://127.0.0.1:7104", 0, 0,
     "ZeroMQ ROUTER endpoint for commands from intake and gridgovctl (intake's tally_endpoint names the same)"},
    {"tally_pub_endpoint", CFG_STR, "tcp://127.0.0.1:7105", 0, 0, "ZeroMQ PUB endpoint for tally's events"},
    {"rules_dir", CFG_STR, "deploy/tally/rules", 0, 0, "rule set files (*.json, services/tally/rules.h), loaded at start"},
    {"cast_batch", CFG_INT, "512", 1, 10000, "casts handled in one transaction at most"},
    {"tick_ms", CFG_INT, "1000", 10, 60000, "how often motions past their closes_at are looked for"},
    {"relay_sweep_ms", CFG_INT, "500", 10, 60000, "how often the relay looks for unpublished events anyway"},
    DAEMON_DB_KEYS,
    {"log_level", CFG_STR, "info", 0, 0, "debug, info, warn or error"},
    {"clock_file", CFG_STR, NULL, 0, 0, "tests: read the current time (epoch seconds) from this file"},
    BUS_CFG_KEYS("tally"),
    BUS_CFG_EVENT_PEERS("notify,gridgovctl"),
    BUS_CFG_COMMAND_PEERS("intake,gridgovctl"),
};

int main(int argc, char **argv)
{
    cfg_t *cfg = cfg_new(KEYS, sizeof KEYS / sizeof KEYS[0]);
    int code;
    if (!daemon_setup(cfg, "gridgov-tally", "tally",
                      "The gridgov tally: motions, rolls, ballots, results and their audit chain.", argc, argv, &code)) {
        cfg_destroy(&cfg);
        return code;
    }
    char err[512];
    int status = 1, loaded = 0;
    tally_t t = {.cast_batch_max = (int)cfg_int(cfg, "cast_batch")};
    bus_t *bus = NULL;
    void *cmd = NULL;
    const char *conninfo = cfg_str(cfg, "db");

    /* Keys and endpoints first: a daemon that may not start says so before it waits for anything. */
    if (!(bus = bus_from_cfg(cfg, err, sizeof err)) || !bus_may_bind(bus, cfg_str(cfg, "tally_endpoint"), err, sizeof err) ||
        !bus_may_bind(bus, cfg_str(cfg, "tally_pub_endpoint"), err, sizeof err)) {
        log_error("bus: %s", err);
        goto done;
    }
    if (!(t.db = daemon_connect(conninfo, "gridgov-tally")))
        goto done;
    if (!rulesets_load(t.db, cfg_str(cfg, "rules_dir"), &loaded, err, sizeof err)) {
        log_error("rules: %s", err);
        goto done;
    }
    if (!loaded)
        log_warn("no rule sets in %s: motions cannot be created until one is there", cfg_str(cfg, "rules_dir"));
    t.relay = relay_start(bus, conninfo, "tally", cfg_str(cfg, "tally_pub_endpoint"), (int)cfg_int(cfg, "relay_sweep_ms"), err,
                          sizeof err);
    if (!t.relay) {
        log_error("%s", err);
        status = DAEMON_EXIT_BIND;
        goto done;
    }
    cmd = zmq_socket(bus_ctx(bus), ZMQ_ROUTER);
    int one = 1, linger = 0;
    zmq_setsockopt(cmd, ZMQ_ROUTER_MANDATORY, &one, sizeof one);
    zmq_setsockopt(cmd, ZMQ_LINGER, &linger, sizeof linger);
    if (!bus_bind(bus, cmd, BUS_COMMANDS, cfg_str(cfg, "tally_endpoint"), err, sizeof err)) {
        log_error("commands: %s", err);
        status = DAEMON_EXIT_BIND;
        goto done;
    }
    log_info("tallying: %d rule set files, commands on %s, events out on %s (curve %s)", loaded,
             cfg_str(cfg, "tally_endpoint"), cfg_str(cfg, "tally_pub_endpoint"), bus_curve(bus) ? "on" : "off: this host only");

    /* A tick that failed (the database is away) is tried again later and later, up to 5 s apart. */
    long long tick_ms = cfg_int(cfg, "tick_ms"), next_tick = gclock_mono_ms(), tick_wait = tick_ms;
    while (!daemon_stop) {
        long long now = gclock_mono_ms();
        zmq_pollitem_t items[] = {{cmd, 0, ZMQ_POLLIN, 0}};
        if (zmq_poll(items, 1, (long)(next_tick > now ? next_tick - now : 0)) < 0 && errno != EINTR)
            break;
        bool rang = false;
        if (items[0].revents & ZMQ_POLLIN)
            server_serve(&t, cmd, &rang);
        if (gclock_mono_ms() >= next_tick) {
            int closed = close_due(&t, gclock_now_us());
            rang |= closed > 0;
            tick_wait = closed >= 0 ? tick_ms : (tick_wait < 2500 ? tick_wait * 2 : (tick_ms > 5000 ? tick_ms : 5000));
            next_tick = gclock_mono_ms() + tick_wait;
        }
        if (rang)
            relay_ring(t.relay);
    }
    log_info("shutting down");
    status = 0;
done:
    if (cmd)
        zmq_close(cmd);
    relay_stop(&t.relay);
    bus_destroy(&bus); /* after every socket of its context is closed */
    db_destroy(&t.db);
    cfg_destroy(&cfg);
    return status;
}
