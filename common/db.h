/* db: a thin libpq layer for daemons and tools.
 * - db_t keeps one connection and reconnects when it is found broken (SQLSTATE class 08, or a
 *   connection status that is not OK), so a restarted PostgreSQL costs an error, not the process.
 * - Every statement is parameterized (PQexecParams); SQL is never built from input.
 * Ownership: db_t owns its PGconn; results returned to callers are theirs to PQclear(). */
#ifndef GRIDGOV_DB_H
#define GRIDGOV_DB_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct db db_t;

/* Every connection this process opens runs its statements under a statement timeout (SQLSTATE
 * 57014 when one is cut) and is closed by the server when it sits idle inside a transaction for
 * longer than the idle timeout (25P03; the next call reconnects). Daemons set both from their
 * config at start-up (db_statement_timeout_ms, db_idle_in_transaction_timeout_ms) before they
 * connect; the values apply to connections opened afterwards. 0 means no limit. */
#define DB_STATEMENT_TIMEOUT_MS_DEFAULT 5000
#define DB_IDLE_TX_TIMEOUT_MS_DEFAULT 30000
void db_set_session_limits(long statement_timeout_ms, long idle_in_transaction_timeout_ms);

/* Connects now; on failure returns NULL with the reason in err. conninfo is copied. */
db_t *db_connect(const char *conninfo, const char *application_name, char *err, size_t errsz);
void db_destroy(db_t **self);

/* The live connection, reconnecting first if the old one is broken. NULL (reason in err) when
 * the server cannot be reached now. */
PGconn *db_conn(db_t *self, char *err, size_t errsz);

/* Runs one parameterized statement. Returns the result when its status is COMMAND_OK or
 * TUPLES_OK (caller PQclears it); otherwise NULL with "SQLSTATE: message" in err, and the
 * SQLSTATE copied into sqlstate (6 bytes) when given. Marks the connection for reconnect on
 * connection errors. */
PGresult *db_exec(db_t *self, const char *sql, int nparams, const char *const *params, char *err,
                  size_t errsz, char sqlstate[6]) __attribute__((warn_unused_result));

/* Like db_exec for a hot statement: prepared on first use on this connection under `name` (a
 * string with static storage), then executed by name; prepared again after a reconnect. */
PGresult *db_exec_prepared(db_t *self, const char *name, const char *sql, int nparams, const char *const *params,
                           char *err, size_t errsz, char sqlstate[6]) __attribute__((warn_unused_result));

/* Like db_exec for statements whose rows are not needed. */
bool db_run(db_t *self, const char *sql, int nparams, const char *const *params, char *err, size_t errsz)
    __attribute__((warn_unused_result));

/* Same on a raw connection (for code handed a PGconn inside a transaction). */
PGresult *db_pq_exec(PGconn *conn, const char *sql, int nparams, const char *const *params, char *err,
                     size_t errsz, char sqlstate[6]) __attribute__((warn_unused_result));

/* True for SQLSTATEs that mean "try again on a fresh connection or transaction":
 * class 08 (connection), 57P01..57P03 (shutdown), 40001 (serialization), 40P01 (deadlock). */
bool db_sqlstate_retryable(const char *sqlstate);

/* Applies deploy/migrations-style files (NNN_name.sql) from dir that are not yet recorded in
 * public.schema_migrations, each in its own transaction, in name order, under an advisory lock
 * so that concurrent starters apply each file once. Writes progress lines to log. */
bool db_migrate(db_t *self, const char *dir, char *err, size_t errsz) __attribute__((warn_unused_result));

#endif
