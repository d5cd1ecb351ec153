/* daemon: what every gridgov daemon does around its loop, written once: the command line and the
 * config (keys log_level, clock_file, db_statement_timeout_ms and
 * db_idle_in_transaction_timeout_ms must be in its table: DAEMON_DB_KEYS), JSON logs, the
 * injected clock, the database session limits (db.h),
 * SIGINT/SIGTERM as a flag the loop reads (handlers only set it), and waiting for PostgreSQL
 * instead of dying when a restart of the suite starts the daemon first. */
#ifndef GRIDGOV_DAEMON_H
#define GRIDGOV_DAEMON_H

#include <signal.h>
#include <stdbool.h>

#include "config.h"
#include "db.h"

/* The database session limits, for every daemon's KEYS table. */
#define DAEMON_STR_(x) #x
#define DAEMON_STR(x) DAEMON_STR_(x)
#define DAEMON_DB_KEYS                                                                                            \
    {"db_statement_timeout_ms", CFG_INT, DAEMON_STR(DB_STATEMENT_TIMEOUT_MS_DEFAULT), 0, 3600000,                 \
     "longest a database statement may run, in ms (0: no limit)"},                                                \
    {"db_idle_in_transaction_timeout_ms", CFG_INT, DAEMON_STR(DB_IDLE_TX_TIMEOUT_MS_DEFAULT), 0, 3600000,         \
     "longest a database session may sit idle inside a transaction, in ms (0: no limit)"}

/* The exit status of a daemon that cannot take its listening sockets (the HTTP port, a ZeroMQ
 * endpoint: in use, or not an address of this host). Starting it again would fail the same way,
 * so deploy/run.sh (and systemd: RestartPreventExitStatus) does not. Other failures exit 1. */
#define DAEMON_EXIT_BIND 3

/* Set by SIGINT and SIGTERM. */
extern volatile sig_atomic_t daemon_stop;

/* Reads the command line and config into cfg and sets up logs, clock and signals. Returns false
 * when the program should exit now with *exit_code (0 after --help or --version, 2 on a usage
 * or config error, already reported). */
bool daemon_setup(cfg_t *cfg, const char *prog, const char *log_name, const char *summary, int argc, char **argv,
                  int *exit_code) __attribute__((warn_unused_result));

/* Connects, retrying with backoff until it works or daemon_stop is set (then NULL). */
db_t *daemon_connect(const char *conninfo, const char *application_name);

#endif
