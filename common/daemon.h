/* daemon: what every gridgov daemon does around its loop, written once: the command line and the
 * config (keys log_level and clock_file must be in its table), JSON logs, the injected clock,
 * SIGINT/SIGTERM as a flag the loop reads (handlers only set it), and waiting for PostgreSQL
 * instead of dying when a restart of the suite starts the daemon first. */
#ifndef GRIDGOV_DAEMON_H
#define GRIDGOV_DAEMON_H

#include <signal.h>
#include <stdbool.h>

#include "config.h"
#include "db.h"

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
