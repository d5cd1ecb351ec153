/* prepared: notify's hot statements prepared once per database session, on a connection the
 * caller owns (the consumer's, inside its transaction). The planner's read is a large statement
 * whose planning costs more than running it; prepared, an event costs its execution alone.
 *
 * A session is known by its connection and backend pid (a reconnected connection prepares again);
 * the last few sessions are remembered, and one not remembered is asked what it has prepared
 * before anything is prepared on it (a second PREPARE of a name would abort the caller's
 * transaction). A statement the server no longer knows (26000) fails the call and is prepared
 * again on the next. At most PREPARED_MAX names a session. The table is per thread. */
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
