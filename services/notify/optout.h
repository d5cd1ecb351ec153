/* optout: residents who replied TD (退订) to an SMS get no more SMS, except urgent ones (a hazard).
 * The list is intake's: the view intake.sms_opt_out (phone, at), published to notify (migration
 * 023; intake records a TD from the SMS uplink). */
#ifndef GRIDGOV_NOTIFY_OPTOUT_H
#define GRIDGOV_NOTIFY_OPTOUT_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#include "db.h"

/* *out true when phone opted out. False on a database error (reason in err). */
bool optout_has(PGconn *conn, const char *phone, bool *out, char *err, size_t errsz) __attribute__((warn_unused_result));

/* Which of phones (a JSON array of strings) opted out: each is set as a key of the object opted.
 * One statement for a batch, prepared once per db connection. False on a database error. */
bool optout_which_db(db_t *db, const json_t *phones, json_t *opted, char *err, size_t errsz)
    __attribute__((warn_unused_result));
#endif
