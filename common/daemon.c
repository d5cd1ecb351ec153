#include "daemon.h"

#include <stdio.h>
#include <time.h>

#include "gclock.h"
#include "log.h"

volatile sig_atomic_t daemon_stop;

static void on_signal(int sig)
{
    (void)sig;
    daemon_stop = 1;
}

bool daemon_setup(cfg_t *cfg, const char *prog, const char *log_name, const char *summary, int argc, char **argv,
                  int *exit_code)
{
    int rest;
    int rc = cfg_from_args(cfg, prog, summary, argc, argv, &rest);
    if (rc != 0 || rest != argc) {
        if (rc == 0)
            fprintf(stderr, "%s: unexpected argument %s\n", prog, argv[rest]);
        *exit_code = rc > 0 ? 0 : 2;
        return false;
    }
    log_level_t lvl;
    if (!log_level_parse(cfg_str(cfg, "log_level"), &lvl)) {
        fprintf(stderr, "%s: log_level must be debug, info, warn or error\n", prog);
        *exit_code = 2;
        return false;
    }
    log_init(log_name, lvl);
    gclock_use_file(cfg_str(cfg, "clock_file"));
    db_set_session_limits(cfg_int(cfg, "db_statement_timeout_ms"), cfg_int(cfg, "db_idle_in_transaction_timeout_ms"));
    struct sigaction sa = {.sa_handler = on_signal};
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGTERM, &sa, NULL);
    signal(SIGPIPE, SIG_IGN);
    return true;
}

db_t *daemon_connect(const char *conninfo, const char *application_name)
{
    char err[512];
    db_t *db = NULL;
    for (long backoff = 200; !daemon_stop && !(db = db_connect(conninfo, application_name, err, sizeof err));) {
        log_warn("%s (retrying)", err);
        struct timespec ts = {backoff / 1000, (backoff % 1000) * 1000000L};
        nanosleep(&ts, NULL);
        backoff = backoff < 5000 ? backoff * 2 : 5000;
    }
    return db;
}
