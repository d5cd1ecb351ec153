/* db_tx: checked transaction boundaries, for code that runs several statements as one unit of work.
 * Every helper works on a raw PGconn (from db_conn() or intake's pool) and reports failure as a
 * value, with "SQLSTATE: message" in err:
 * - db_begin fails when the server refuses, and when the connection is already inside a
 *   transaction: a COMMIT forgotten upstream would otherwise fold two units of work into one.
 * - db_commit is true only when the server committed. COMMIT of a transaction that had already
 *   failed answers with a success status and the tag "ROLLBACK"; a plain status check takes that for
 *   a commit, and a 2xx would then be given for nothing stored.
 * - db_rollback ends whatever is open. It is safe on an idle connection and after a failed COMMIT,
 *   so error paths call it unconditionally.
 * The connection stays the caller's. */
#ifndef GRIDGOV_DB_TX_H
#define GRIDGOV_DB_TX_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

bool db_begin(PGconn *c, char *err, size_t errsz) __attribute__((warn_unused_result));

/* BEGIN with a transaction mode, e.g. "ISOLATION LEVEL REPEATABLE READ READ ONLY". mode is SQL
 * text: a constant from the code, never input. */
bool db_begin_mode(PGconn *c, const char *mode, char *err, size_t errsz) __attribute__((warn_unused_result));

bool db_commit(PGconn *c, char *err, size_t errsz) __attribute__((warn_unused_result));

void db_rollback(PGconn *c);

#endif
