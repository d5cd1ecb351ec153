/* stmt: the statements intake prepares once on each pooled PostgreSQL connection
 * (db_exec_prepared: parsed on first use, executed by name afterwards, prepared again on a new
 * connection; after five executions PostgreSQL keeps one generic plan when it is no dearer than
 * planning for the values). Their names live here, in one place, so that no two call sites use
 * one name for two texts; each SQL text stays beside the code that reads its columns.
 *
 * Which reads are prepared and which are not, and why (measured in bench/README.md, "Reads"):
 * a statement is prepared when its best plan does not depend on the values it is given (a
 * lookup by key, a time window in index order), so PostgreSQL's generic plan, used after five
 * executions, is the plan a fresh one would be. The ticket list filtered by service, status,
 * channel and time (ticket_store_list without codes) is not: a generic plan cannot know that a
 * category is rare, and walks the whole window where a plan made for the values uses the
 * service index (19-27 ms against 0.14 ms over 50,000 tickets); it is planned on every call.
 * So is its cursor (paging.h), which a plan made for its values turns into an Index Cond of
 * ticket_requested, and the staff queue (api_staff.c), whose best plan differs between an
 * operator (every ticket, in index order) and a group's handler. */
#ifndef INTAKE_STMT_H
#define INTAKE_STMT_H

#include <libpq-fe.h>
#include <stddef.h>

#include "db.h"

#define STMT_TICKET_CREATE "intake_ticket_create"         /* ticket_store.c: a POST without Idempotency-Key */
#define STMT_TICKET_GET "intake_ticket_get"               /* ticket_store.c: GET one request, tokens */
#define STMT_TICKET_LIST_CODES "intake_ticket_list_codes" /* ticket_store.c: requests?service_request_id= */
#define STMT_STAFF_TOKEN "intake_staff_token"             /* staff.c: a staff member's bearer token */
#define STMT_API_CLIENT "intake_api_client"               /* catalog.c: an API key the catalogue does not hold yet */
#define STMT_REQUEST_UPDATES "intake_request_updates"     /* open311_updates.c: servicerequestupdates */
#define STMT_VOTER_GROUP "intake_voter_group"             /* motions_access.c: a voter's credential */
#define STMT_MOTION_REACH "intake_motion_reach"           /* motions_access.c: a motion and the caller's scope */
#define STMT_MOTION_GROUP "intake_motion_group"           /* motions_access.c: the group of a new motion */

/* Runs a read: prepared under name (one of the names above, with its SQL), or with name NULL
 * planned for these values on every call (an unnamed statement). A read changes nothing, so when
 * the connection was lost under it (PostgreSQL restarted, pg_terminate_backend, a network
 * timeout: db_sqlstate_retryable) it runs once more, on a new connection where the statement is
 * prepared again: the client gets its answer instead of a 503. Returns rows (caller PQclears)
 * or NULL with err. */
PGresult *stmt_read(db_t *db, const char *name, const char *sql, int nparams, const char *const *params, char *err,
                    size_t errsz) __attribute__((warn_unused_result));

#endif
