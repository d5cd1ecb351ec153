/* gridgov-notify: tells residents and officials what happened. Parse config, build the parts, run
 * the loop, tear down. The loop polls the event subscription (intake's and the router's events:
 * the planner turns them into messages, receipts move messages to delivered or failed) and the
 * sender's transfers (libcurl's sockets), never blocking on either. */
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>
#include <zmq.h>

#include "bus.h"
#include "config.h"
#include "consumer.h"
#include "daemon.h"
#include "digest.h"
#include "events.h"
#include "gclock.h"
#include "log.h"
#include "ratelog.h"
#include "providers.h"
#include "sender.h"

static const cfg_key_t KEYS[] = {
    {"db", CFG_STR, "dbname=gridgov", 0, 0, "PostgreSQL connection string (libpq)"},
    {"sub_endpoints", CFG_STR, "intake@tcp://127.0.0.1:7101,router@tcp://127.0.0.1:7103", 0, 0,
     "the publishers of the events notify reads: NAME@endpoint, NAME.pub being the publisher's key"},
    {"sweep_ms", CFG_INT, "1000", 10, 60000,
     "how often missed events, and due messages, are looked for in PostgreSQL"},
    DAEMON_DB_KEYS,
    {"log_level", CFG_STR, "info", 0, 0, "debug, info, warn or error"},
    {"clock_file", CFG_STR, NULL, 0, 0, "tests: read the current time (epoch seconds) from this file"},
    BUS_CFG_KEYS("notify"),
    PROVIDER_CFG_KEYS,
    {"sms_providers", CFG_STR, "aliyun,tencent", 0, 0,
     "SMS providers in the order tried; a provider that cannot take a message hands it to the next"},
    {"sandbox_url", CFG_STR, "", 0, 0,
     "the sandbox (channels with no real provider) posts each message here as JSON; empty: it only records"},
    {"quiet_hours", CFG_STR, "22:00-07:00", 0, 0,
     "county time (Asia/Shanghai) in which residents get no SMS but urgent ones; held ones go when it ends;"
     " empty: off"},
    {"send_concurrency", CFG_INT, "64", 1, 1024, "provider calls in flight at once"},
    {"lease_s", CFG_INT, "60", 5, 3600,
     "how long a claimed message is this instance's; after it another instance sends it again (same id)"},
    {"max_attempts", CFG_INT, "8", 1, 100, "provider calls before a message that keeps failing is a dead letter"},
    {"backoff_base_ms", CFG_INT, "2000", 10, 3600000, "the first retry's delay (doubling, with jitter)"},
    {"backoff_max_ms", CFG_INT, "600000", 10, 86400000, "the longest delay between retries"},
    {"sms_same_template_s", CFG_INT, "30", 0, 86400, "one SMS per number per this many seconds per template"},
    {"sms_per_hour", CFG_INT, "5", 0, 1000, "SMS per number an hour (0: no limit)"},
    {"sms_per_day", CFG_INT, "10", 0, 10000, "SMS per number a day (0: no limit)"},
    {"wecom_robot_per_min", CFG_INT, "20", 0, 1000, "messages per WeCom robot key a minute (WeCom's own: 20)"},
    {"wecom_app_per_min", CFG_INT, "30", 0, 1000, "WeCom app messages per member a minute"},
};

static void instance_name(char *out, size_t outsz)
{
    char host[128] = "host";
    gethostname(host, sizeof host - 1);
    host[sizeof host - 1] = '\0';
    snprintf(out, outsz, "%s:%ld", host, (long)getpid());
}

/* The 08:00 digests (digest.h), looked for once a second; a database that is away is only
 * logged, a few lines a minute: the next tick plans what is due. */
static void digest_once(db_t *db)
{
    static ratelog_t rl = RATELOG_INIT(1, 20000);
    char err[512];
    PGconn *conn = db_conn(db, err, sizeof err);
    long held;
    if ((!conn || digest_tick(conn, gclock_now_us(), err, sizeof err) < 0) && ratelog_allow(&rl, &held))
        log_warn("digest: %s (%ld more not shown)", err, held);
}

int main(int argc, char **argv)
{
    cfg_t *cfg = cfg_new(KEYS, sizeof KEYS / sizeof KEYS[0]);
    int code;
    if (!daemon_setup(cfg, "gridgov-notify", "notify",
                      "The gridgov notifier: SMS, WeChat and WeCom messages about tickets, sent and tracked.", argc, argv,
                      &code)) {
        cfg_destroy(&cfg);
        return code;
    }
    char err[512], inst[192];
    int status = 1;
    bus_t *bus = NULL;
    db_t *db = NULL;
    providers_t *providers = NULL;
    sender_t *sender = NULL;
    consumer_t *consumer = NULL;
    const char *conninfo = cfg_str(cfg, "db");
    sender_opts_t so = {.concurrency = (int)cfg_int(cfg, "send_concurrency"),
                        .lease_s = (int)cfg_int(cfg, "lease_s"),
                        .max_attempts = (int)cfg_int(cfg, "max_attempts"),
                        .backoff_base_ms = cfg_int(cfg, "backoff_base_ms"),
                        .backoff_max_ms = cfg_int(cfg, "backoff_max_ms"),
                        .idle_ms = (int)cfg_int(cfg, "sweep_ms"),
                        .limits = {(int)cfg_int(cfg, "sms_same_template_s"), (int)cfg_int(cfg, "sms_per_hour"),
                                   (int)cfg_int(cfg, "sms_per_day"), (int)cfg_int(cfg, "wecom_robot_per_min"),
                                   (int)cfg_int(cfg, "wecom_app_per_min")}};
    instance_name(inst, sizeof inst);
    so.instance = inst;

    if (curl_global_init(CURL_GLOBAL_DEFAULT) != CURLE_OK) {
        log_error("libcurl: global init failed");
        goto done;
    }
    if (!quiet_parse(cfg_str(cfg, "quiet_hours"), &so.quiet, err, sizeof err) ||
        (so.lease_s * 1000L <= cfg_int(cfg, "provider_timeout_ms") &&
         snprintf(err, sizeof err, "lease_s must be longer than provider_timeout_ms") > 0)) {
        log_error("%s", err);
        status = 2;
        goto done;
    }
    if (!(providers = providers_new(cfg, err, sizeof err))) {
        log_error("%s", err);
        status = 2;
        goto done;
    }
    if (!(bus = bus_from_cfg(cfg, err, sizeof err))) {
        log_error("bus: %s", err);
        goto done;
    }
    if (!(db = daemon_connect(conninfo, "gridgov-notify")))
        goto done;
    if (!(sender = sender_new(&so, db, providers, err, sizeof err))) {
        log_error("%s", err);
        goto done;
    }
    consumer_opts_t co = {.name = "notify", .bus = bus, .conninfo = conninfo, .endpoints = cfg_str(cfg, "sub_endpoints"),
                          .type_prefix = "", .sweep_ms = (int)cfg_int(cfg, "sweep_ms"), .fn = events_on_event};
    if (!(consumer = consumer_new(&co, err, sizeof err))) {
        log_error("%s", err);
        goto done;
    }
    char desc[256];
    providers_describe(providers, desc, sizeof desc);
    log_info("notifying: events from %s, providers %s, quiet hours %s, %d in flight at most (curve %s)",
             cfg_str(cfg, "sub_endpoints"), desc, so.quiet.on ? cfg_str(cfg, "quiet_hours") : "off", so.concurrency,
             bus_curve(bus) ? "on" : "off: this host only");

    long long next_digest_ms = gclock_mono_ms();
    while (!daemon_stop) {
        zmq_pollitem_t items[1 + 256];
        items[0] = (zmq_pollitem_t){consumer_socket(consumer), 0, ZMQ_POLLIN, 0};
        int n = sender_pollitems(sender, items + 1, 256);
        int wait = sender_timeout_ms(sender), cw = consumer_next_timeout_ms(consumer);
        long long dw = next_digest_ms - gclock_mono_ms();
        if (cw < wait)
            wait = cw;
        if (dw < wait)
            wait = dw < 0 ? 0 : (int)dw;
        if (zmq_poll(items, 1 + n, wait) < 0 && errno != EINTR)
            break;
        if (consumer_poll(consumer, 0) > 0)
            sender_kick(sender); /* the planner may have made messages due now */
        sender_run(sender, items + 1, n);
        if (gclock_mono_ms() >= next_digest_ms) {
            next_digest_ms = gclock_mono_ms() + 1000;
            digest_once(db);
        }
    }
    log_info("shutting down: messages in flight go back to pending");
    status = 0;
done:
    consumer_destroy(&consumer);
    sender_destroy(&sender);
    bus_destroy(&bus);
    db_destroy(&db);
    providers_destroy(&providers);
    curl_global_cleanup();
    cfg_destroy(&cfg);
    return status;
}
