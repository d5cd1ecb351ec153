/* prepared: notify's hot statements prepared once per database session, on a connection the
 * caller owns (the consumer's, inside its transaction). The planner's read is a large statement
 * whose planning costs more than running it; prepared, an event costs its execution alone.
 *
 * A session is known by its connection and backend pid, so a reconnected connection prepares
 * again; a statement the server no longer knows (26000) is prepared again too. At most
 * PREPARED_MAX names. One thread uses a connection: the table is per thread. */
#ifndef GRIDGOV_NOTIFY_PREPARED_H
#define GRIDGOV_NOTIFY_PREPARED_H

#include <libpq-fe.h>
#include <stddef.h>

#define PREPARED_MAX 16

/* Runs sql, prepared under name (static storage) on first use in this session. Returns the
 * result when COMMAND_OK or TUPLES_OK (caller PQclears), else NULL with "SQLSTATE: message". */
PGresult *prepared_exec(PGconn *conn, const char *name, const char *sql, int n, const char *const *params, char *err,
                        size_t errsz) __attribute__((warn_unused_result));

#endif
