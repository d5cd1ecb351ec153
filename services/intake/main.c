/* gridgov-intake: the HTTP edge. Parse config, build the parts, run, tear down. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bus.h"
#include "catalog.h"
#include "config.h"
#include "daemon.h"
#include "http.h"
#include "intake.h"
#include "log.h"
#include "pool.h"
#include "relay.h"

static const cfg_key_t KEYS[] = {
    {"db", CFG_STR, "dbname=gridgov", 0, 0, "PostgreSQL connection string (libpq)"},
    {"http_bind", CFG_STR, "127.0.0.1", 0, 0, "address to listen on"},
    {"http_port", CFG_INT, "8080", 1, 65535, "HTTP port"},
    {"http_threads", CFG_INT, "8", 1, 256, "requests handled at once, each with its own PostgreSQL connection"},
    {"http_max_connections", CFG_INT, "2048", 1, 100000, "open connections at most"},
    {"http_per_ip_connections", CFG_INT, "64", 0, 100000,
     "open connections one client address may hold (0: no limit); raise it behind a proxy or a large NAT"},
    {"http_max_body", CFG_INT, "65536", 1024, 16777216, "request body limit in bytes (413 above)"},
    {"http_max_header", CFG_INT, "16384", 4096, 1048576, "memory per connection for request line and headers"},
    {"http_timeout_s", CFG_INT, "15", 1, 3600, "idle connection timeout (slow and half-open clients)"},
    {"http_request_timeout_s", CFG_INT, "30", 0, 3600,
     "a request (line, headers and body) must arrive whole within this many seconds (0: no deadline)"},
    {"rate_limit_per_minute", CFG_INT, "600", 0, 1000000,
     "requests a minute per API key and per staff token, in each intake process (0: no limit); 429 above"},
    {"rate_limit_burst", CFG_INT, "120", 1, 1000000, "requests a key may make at once before the rate applies"},
    {"public_url", CFG_STR, NULL, 0, 0, "URL clients use to reach intake (default http://BIND:PORT)"},
    {"pub_endpoint", CFG_STR, "tcp://127.0.0.1:7101", 0, 0, "ZeroMQ PUB endpoint for intake's events"},
    {"router_endpoint", CFG_STR, "tcp://127.0.0.1:7102", 0, 0,
     "the router's command endpoint (ZeroMQ; [NAME@] names its key, default router)"},
    {"tally_endpoint", CFG_STR, "tcp://127.0.0.1:7104", 0, 0,
     "tally's command endpoint (ZeroMQ; [NAME@] names its key, default tally): motions and ballots"},
    BUS_CFG_KEYS("intake"),
    BUS_CFG_EVENT_PEERS("router,notify,gridgovctl"),
    {"relay_sweep_ms", CFG_INT, "500", 10, 60000, "how often the relay looks for unpublished events anyway"},
    {"catalog_refresh_s", CFG_INT, "30", 1, 86400, "reload of the service catalogue"},
    {"rating_fail_per_ticket", CFG_INT, "5", 1, 1000, "failed rating attempts on one ticket code per window (429 above)"},
    {"rating_fail_per_key", CFG_INT, "100", 1, 1000000, "failed rating attempts by one API key per window (429 above)"},
    {"rating_fail_window_s", CFG_INT, "3600", 1, 604800, "the window of the failed rating attempt limits"},
    {"wechat_token", CFG_STR, NULL, 0, 0, "WeChat OA callback Token (公众号 服务器配置); empty: /channels/wechat is off"},
    {"wechat_aes_key", CFG_STR, NULL, 0, 0, "WeChat EncodingAESKey (43 characters), for compatible and safe mode"},
    {"wechat_appid", CFG_STR, NULL, 0, 0, "WeChat AppID, which every encrypted message must name"},
    {"wechat_account", CFG_STR, NULL, 0, 0, "the OA's original id (gh_...): ToUserName must be it (empty: not checked)"},
    {"wechat_service_code", CFG_STR, "OTHER", 0, 0, "the category of an appeal sent by WeChat text"},
    {"wechat_max_skew_s", CFG_INT, "300", 10, 86400, "a WeChat push whose timestamp is further from now is refused"},
    {"sms_callback_token", CFG_STR, NULL, 0, 0,
     "secret `token` query parameter of the SMS push URLs (/channels/sms/...); empty: those channels are off"},
    {"sms_max_age_s", CFG_INT, "86400", 60, 604800, "an SMS uplink or receipt older than this is refused"},
    {"field_checkin_distance_m", CFG_INT, "100", 0, 100000,
     "a check-in this far (metres) outside the grid worker's group is still accepted; further is recorded and flagged"},
    {"field_duty_hours", CFG_STR, "08:00-18:00", 0, 0,
     "when supervisors may read grid workers' positions, county time (Asia/Shanghai), HH:MM-HH:MM"},
    {"field_position_retention_h", CFG_INT, "72", 1, 87600, "position pings older than this many hours are deleted"},
    {"field_sweep_s", CFG_INT, "60", 1, 86400, "how often old position pings are deleted"},
    {"field_coverage_m", CFG_INT, "50", 1, 10000, "a patrol track covers the ground within this many metres of it"},
    {"field_max_speed_kmh", CFG_INT, "25", 1, 1000,
     "a GPS fix reached faster than this from the last good one is a bad fix (25: an electric bicycle's legal top speed)"},
    {"field_track_gap_s", CFG_INT, "300", 1, 86400, "a pause longer than this many seconds splits a patrol track"},
    {"field_track_max_points", CFG_INT, "10000", 1, 100000, "points in one patrol-track upload (400 above)"},
    {"field_track_max_body", CFG_INT, "2097152", 1024, 67108864,
     "request body limit in bytes of POST /api/v1/field/tracks (a batch of field_track_max_points)"},
    DAEMON_DB_KEYS,
    {"list_max_days", CFG_INT, "366", 1, 3660, "widest since..until window of GET /api/v1/tickets (400 above); also its default, back from now"},
    {"log_level", CFG_STR, "info", 0, 0, "debug, info, warn or error"},
    {"clock_file", CFG_STR, NULL, 0, 0, "tests: read the current time (epoch seconds) from this file"},
};

int main(int argc, char **argv)
{
    cfg_t *cfg = cfg_new(KEYS, sizeof KEYS / sizeof KEYS[0]);
    int code;
    if (!daemon_setup(cfg, "gridgov-intake", "intake",
                      "The gridgov HTTP edge: Open311 GeoReport v2 and the native ticket API.", argc, argv, &code)) {
        cfg_destroy(&cfg);
        return code;
    }

    char public_url[300];
    if (cfg_str(cfg, "public_url"))
        snprintf(public_url, sizeof public_url, "%s", cfg_str(cfg, "public_url"));
    else
        snprintf(public_url, sizeof public_url, "http://%s:%ld", cfg_str(cfg, "http_bind"), cfg_int(cfg, "http_port"));

    char err[512];
    int status = 1;
    db_t *db = NULL;
    relay_t *relay = NULL;
    http_server_t *http = NULL;
    intake_t app = {.conninfo = cfg_str(cfg, "db"), .public_url = public_url,
                    .router_endpoint = cfg_str(cfg, "router_endpoint"),
                    .tally_endpoint = cfg_str(cfg, "tally_endpoint"),
                    .rating_guard = {.per_ticket = (int)cfg_int(cfg, "rating_fail_per_ticket"),
                                     .per_key = (int)cfg_int(cfg, "rating_fail_per_key"),
                                     .window_s = (int)cfg_int(cfg, "rating_fail_window_s")},
                    .list_max_days = (int)cfg_int(cfg, "list_max_days"),
                    .channels = {.wechat_token = cfg_str(cfg, "wechat_token"),
                                 .wechat_aes_key = cfg_str(cfg, "wechat_aes_key"),
                                 .wechat_appid = cfg_str(cfg, "wechat_appid"),
                                 .wechat_account = cfg_str(cfg, "wechat_account"),
                                 .wechat_service = cfg_str(cfg, "wechat_service_code"),
                                 .sms_token = cfg_str(cfg, "sms_callback_token"),
                                 .wechat_max_skew_s = (int)cfg_int(cfg, "wechat_max_skew_s"),
                                 .sms_max_age_s = (int)cfg_int(cfg, "sms_max_age_s")}};

    app.field = (field_cfg_t){.checkin_distance_m = (double)cfg_int(cfg, "field_checkin_distance_m"),
                              .position_retention_h = cfg_int(cfg, "field_position_retention_h"),
                              .coverage_m = (double)cfg_int(cfg, "field_coverage_m"),
                              .max_speed_kmh = (double)cfg_int(cfg, "field_max_speed_kmh"),
                              .track_gap_s = cfg_int(cfg, "field_track_gap_s"),
                              .track_max_points = cfg_int(cfg, "field_track_max_points"),
                              .max_skew_us = (int64_t)300 * 1000000};
    if (!field_parse_duty_hours(cfg_str(cfg, "field_duty_hours"), &app.field.duty_start_min, &app.field.duty_end_min)) {
        log_error("field_duty_hours: want HH:MM-HH:MM, the end after the start (00:00-24:00: all day), not %s",
                  cfg_str(cfg, "field_duty_hours"));
        goto done;
    }

    /* Keys and endpoints first: a daemon that may not start says so before it waits for anything. */
    if (!(app.bus = bus_from_cfg(cfg, err, sizeof err)) || !bus_may_bind(app.bus, cfg_str(cfg, "pub_endpoint"), err, sizeof err)) {
        log_error("bus: %s", err);
        goto done;
    }
    if (!(db = daemon_connect(app.conninfo, "gridgov-intake-main")))
        goto done;
    if (!catalog_load(db, err, sizeof err))
        log_warn("catalog not loaded yet: %s", err);

    relay = relay_start(app.bus, app.conninfo, "intake", cfg_str(cfg, "pub_endpoint"), (int)cfg_int(cfg, "relay_sweep_ms"), err,
                        sizeof err);
    if (!relay) {
        log_error("%s", err);
        status = DAEMON_EXIT_BIND;
        goto done;
    }
    app.relay = relay;
    app.limits = ratelimit_new(cfg_int(cfg, "rate_limit_per_minute"), cfg_int(cfg, "rate_limit_burst"), 65536);
    http_opts_t ho = {
        .port = (int)cfg_int(cfg, "http_port"),
        .bind_addr = cfg_str(cfg, "http_bind"),
        .max_connections = (int)cfg_int(cfg, "http_max_connections"),
        .max_body = (size_t)cfg_int(cfg, "http_max_body"),
        .large_path = "/api/v1/field/tracks",
        .large_max_body = (size_t)cfg_int(cfg, "field_track_max_body"),
        .max_header = (size_t)cfg_int(cfg, "http_max_header"),
        .per_ip_connections = (int)cfg_int(cfg, "http_per_ip_connections"),
        .timeout_s = (int)cfg_int(cfg, "http_timeout_s"),
        .request_timeout_s = (int)cfg_int(cfg, "http_request_timeout_s"),
        .handler = intake_dispatch,
        .arg = &app,
    };
    pool_init((size_t)cfg_int(cfg, "http_threads"));
    http = http_start(&ho, err, sizeof err);
    if (!http) {
        log_error("%s", err);
        status = DAEMON_EXIT_BIND;
        goto done;
    }
    log_info("listening on %s (Open311 at %s/open311/v2/discovery.json), events on %s (curve %s)", public_url, public_url,
             cfg_str(cfg, "pub_endpoint"), bus_curve(app.bus) ? "on" : "off: this host only");

    long refresh_ms = cfg_int(cfg, "catalog_refresh_s") * 1000, since = 0;
    long sweep_ms = cfg_int(cfg, "field_sweep_s") * 1000, since_sweep = sweep_ms; /* a sweep at start */
    while (!daemon_stop) {
        struct timespec tick = {0, 100 * 1000000L};
        nanosleep(&tick, NULL);
        if ((since += 100) >= refresh_ms) {
            since = 0;
            if (!catalog_load(db, err, sizeof err))
                log_warn("catalog reload failed: %s", err);
        }
        if ((since_sweep += 100) >= sweep_ms) {
            since_sweep = 0;
            long n = field_sweep(db, &app.field, err, sizeof err);
            if (n < 0)
                log_warn("field sweep failed: %s", err);
            else if (n > 0)
                log_info("field sweep: %ld position pings past their retention deleted", n);
        }
    }
    log_info("shutting down: draining requests in flight");
    status = 0;
done:
    /* Order matters: stop taking requests, then stop publishing; unpublished events stay in
     * bus.outbox and the next relay sends them. The bus goes last: its context ends only when
     * every socket made in it is closed. */
    http_stop(&http);
    pool_destroy();
    relay_stop(&relay);
    bus_destroy(&app.bus);
    ratelimit_destroy(&app.limits);
    catalog_free();
    db_destroy(&db);
    cfg_destroy(&cfg);
    return status;
}
