#include "stmt.h"

PGresult *stmt_read(db_t *db, const char *name, const char *sql, int nparams, const char *const *params, char *err,
                    size_t errsz)
{
    /* Connect (or reconnect) first, so that the one retry below is spent on a connection that
     * was lost under the statement, not on a second wait for a server that cannot be reached. */
    if (!db_conn(db, err, errsz))
        return NULL;
    char state[6];
    for (int attempt = 0;; attempt++) {
        PGresult *r = name ? db_exec_prepared(db, name, sql, nparams, params, err, errsz, state)
                           : db_exec(db, sql, nparams, params, err, errsz, state);
        if (r || attempt > 0 || !db_sqlstate_retryable(state))
            return r;
    }
}
