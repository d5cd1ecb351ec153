/* optout: residents who replied TD (退订) to an SMS get no more SMS, except urgent ones (a hazard).
 * The list is intake's: the view intake.sms_opt_out (phone, at), published to notify by the
 * channels work (migration 023). Until that view exists the list is read as empty: the query runs
 * only when to_regclass finds the view, so this engine runs on a database without it. */
#ifndef GRIDGOV_NOTIFY_OPTOUT_H
#define GRIDGOV_NOTIFY_OPTOUT_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

/* *out true when phone opted out. False on a database error (reason in err). */
bool optout_has(PGconn *conn, const char *phone, bool *out, char *err, size_t errsz) __attribute__((warn_unused_result));

#endif
