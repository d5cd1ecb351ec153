/* gridgovctl: the operator's tool.
 *   gridgovctl migrate [DIR]              apply deploy/migrations (once each, under a lock)
 *   gridgovctl seed-demo SQL KEYFILE      load the demo county if the registry is empty, and
 *                                         make sure KEYFILE holds a working Open311 API key
 *   gridgovctl apikey NAME                issue an API key (printed once; only its hash is kept)
 *   gridgovctl apikey --deactivate NAME|ID   deactivate a key: refused from the next request on
 *   gridgovctl feed SOURCE SERVICE_CODE NAME   an outside system's key for alerts (feed.c)
 *   gridgovctl token STAFF_ID             issue a staff bearer token (printed once; hash kept),
 *                                         valid for staff_token_ttl_h hours
 *   gridgovctl revoke-token TOKEN | --staff STAFF_ID   revoke one token, or all of a staff member's
 *   gridgovctl staff [filters]            who handles what: staff by unit and role, a ticket's holder
 *   gridgovctl events [options]           print the event stream, one line per event
 *   gridgovctl messages [filters]         notify's messages (addresses masked), dead-letters, redrive ID
 *   gridgovctl keygen NAME [DIR]          write a CURVE key pair for the bus (DIR/NAME.key, .pub)
 *   gridgovctl tally verify|archive|slips a motion's audit: verify its chain, export its archive,
 *                                         print voting slips (tools/gridgovctl/tally.c)
 * Run `gridgovctl --help` for the shared configuration keys. */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "bus.h"
#include "config.h"
#include "ctl.h"
#include "daemon.h"
#include "db.h"
#include "log.h"

static const cfg_key_t KEYS[] = {
    {"db", CFG_STR, "dbname=gridgov", 0, 0, "PostgreSQL connection string (libpq)"},
    {"sub_endpoints", CFG_STR, "intake@tcp://127.0.0.1:7101,router@tcp://127.0.0.1:7103", 0, 0,
     "comma-separated NAME@endpoint of the daemons' event PUB sockets (intake's, the router's; NAME.pub:"
     " the daemon's key)"},
    /* Migrations and the demo seed run as long as they need: an operator is watching them, and a
     * migration cut half-way is rolled back and has to start again anyway. */
    {"db_statement_timeout_ms", CFG_INT, "0", 0, 3600000, "longest a database statement may run, in ms (0: no limit)"},
    {"db_idle_in_transaction_timeout_ms", CFG_INT, DAEMON_STR(DB_IDLE_TX_TIMEOUT_MS_DEFAULT), 0, 3600000,
     "longest a database session may sit idle inside a transaction, in ms (0: no limit)"},
    {"log_level", CFG_STR, "info", 0, 0, "debug, info, warn or error"},
    {"tally_endpoint", CFG_STR, "tcp://127.0.0.1:7104", 0, 0,
     "tally's command socket (`tally slips` sends it the slips command as an operator)"},
    {"staff_token_ttl_h", CFG_INT, "12", 1, 8760, "hours a staff token issued by `token` stays valid"},
    BUS_CFG_KEYS("gridgovctl"),
};

static const char USAGE[] =
    "gridgovctl: operate a gridgov deployment.\n"
    "  migrate [DIR]             apply SQL migrations (default deploy/migrations)\n"
    "  seed-demo SQL KEYFILE     load the demo county when empty; keep an API key in KEYFILE\n"
    "  apikey NAME               issue an Open311/API key and print it\n"
    "  apikey --deactivate NAME|ID   deactivate an API key (refused from the next request on)\n"
    "  feed SOURCE SERVICE_CODE NAME   issue an outside system's API key for alerts and print it\n"
    "  token STAFF_ID            issue a staff member's bearer token (valid staff_token_ttl_h) and print it\n"
    "  revoke-token TOKEN | --staff STAFF_ID   revoke a token, or every token of a staff member\n"
    "  staff [--unit CODE] [--role ROLE] [--ticket CODE [--wait S]] [-q]\n"
    "                            list staff (id, role, name, unit, place, open tickets), or who holds\n"
    "                            a ticket; -q prints the ids only\n"
    "  events [--json] [--from-start | --consumer NAME] [--type PREFIX] [--count N] [--idle-exit MS]\n"
    "                            print events, one a line (--json: the envelopes): live from every\n"
    "                            publisher in sub_endpoints; --from-start: bus.outbox from its first\n"
    "                            event on; --consumer: a durable consumer that catches up from PostgreSQL\n"
    "  messages [--ticket CODE] [--state S] [--limit N]\n"
    "                            notify's messages, newest first: channel, masked address, template,\n"
    "                            state, attempts, provider, body\n"
    "  dead-letters              messages given up on, with the reason\n"
    "  redrive ID                send a dead message again (pending, due now)\n"
    "  keygen NAME [DIR]         write a CURVE key pair for the bus: DIR/NAME.key (0600) and\n"
    "                            DIR/NAME.pub (DIR: curve_dir); never overwrites a key\n"
    "  tally verify MOTION | --archive FILE\n"
    "                            check a motion's hash chain, ballots, recount and roll independently\n"
    "                            (exit 0 intact, 1 broken: the first break printed)\n"
    "  tally archive MOTION --json FILE | --csv FILE\n"
    "                            export the motion's archive (results, rules and citations, proxies,\n"
    "                            tellers, trackers, chain); CSV: UTF-8 with BOM, printable\n"
    "  tally slips MOTION [--voters ID,...] [--staff ID] [--csv]\n"
    "                            issue and print voting slips (new credentials) through tally";

int main(int argc, char **argv)
{
    cfg_t *cfg = cfg_new(KEYS, sizeof KEYS / sizeof KEYS[0]);
    int rest;
    int rc = cfg_from_args(cfg, "gridgovctl", USAGE, argc, argv, &rest);
    if (rc != 0) {
        cfg_destroy(&cfg);
        return rc > 0 ? 0 : 2;
    }
    log_level_t lvl = LOG_INFO;
    if (!log_level_parse(cfg_str(cfg, "log_level"), &lvl)) {
        fprintf(stderr, "gridgovctl: bad log_level\n");
        cfg_destroy(&cfg);
        return 2;
    }
    log_init("gridgovctl", lvl);
    db_set_session_limits(cfg_int(cfg, "db_statement_timeout_ms"), cfg_int(cfg, "db_idle_in_transaction_timeout_ms"));
    if (rest >= argc) {
        fprintf(stderr, "%s\n", USAGE);
        cfg_destroy(&cfg);
        return 2;
    }
    const char *cmd = argv[rest];
    int sub_argc = argc - rest;
    char **sub_argv = argv + rest;
    int status;
    if (!strcmp(cmd, "migrate"))
        status = ctl_migrate(cfg, sub_argc, sub_argv);
    else if (!strcmp(cmd, "seed-demo"))
        status = ctl_seed_demo(cfg, sub_argc, sub_argv);
    else if (!strcmp(cmd, "apikey"))
        status = ctl_apikey(cfg, sub_argc, sub_argv);
    else if (!strcmp(cmd, "feed"))
        status = ctl_feed(cfg, sub_argc, sub_argv);
    else if (!strcmp(cmd, "token"))
        status = ctl_token(cfg, sub_argc, sub_argv);
    else if (!strcmp(cmd, "revoke-token"))
        status = ctl_revoke_token(cfg, sub_argc, sub_argv);
    else if (!strcmp(cmd, "events"))
        status = ctl_events(cfg, sub_argc, sub_argv);
    else if (!strcmp(cmd, "keygen"))
        status = ctl_keygen(cfg, sub_argc, sub_argv);
    else if (!strcmp(cmd, "staff"))
        status = ctl_staff(cfg, sub_argc, sub_argv);
    else if (!strcmp(cmd, "messages"))
        status = ctl_messages(cfg, sub_argc, sub_argv);
    else if (!strcmp(cmd, "dead-letters"))
        status = ctl_dead_letters(cfg, sub_argc, sub_argv);
    else if (!strcmp(cmd, "redrive"))
        status = ctl_redrive(cfg, sub_argc, sub_argv);
    else if (!strcmp(cmd, "tally"))
        status = ctl_tally(cfg, sub_argc, sub_argv);
    else {
        fprintf(stderr, "gridgovctl: unknown command '%s'\n%s\n", cmd, USAGE);
        status = 2;
    }
    cfg_destroy(&cfg);
    return status;
}
