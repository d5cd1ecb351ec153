#include "db_tx.h"

#include <stdio.h>
#include <string.h>

#include "db.h"
#include "log.h"

bool db_begin_mode(PGconn *c, const char *mode, char *err, size_t errsz)
{
    if (!c) {
        snprintf(err, errsz, "08003: no connection");
        return false;
    }
    if (PQtransactionStatus(c) != PQTRANS_IDLE) {
        snprintf(err, errsz, "25001: BEGIN on a connection that is not idle (a transaction is already open)");
        return false;
    }
    char sql[128];
    if (snprintf(sql, sizeof sql, "BEGIN%s%s", mode ? " " : "", mode ? mode : "") >= (int)sizeof sql) {
        snprintf(err, errsz, "22023: transaction mode too long");
        return false;
    }
    PGresult *r = db_pq_exec(c, sql, 0, NULL, err, errsz, NULL);
    PQclear(r);
    return r != NULL;
}

bool db_begin(PGconn *c, char *err, size_t errsz) { return db_begin_mode(c, NULL, err, errsz); }

bool db_commit(PGconn *c, char *err, size_t errsz)
{
    if (!c) {
        snprintf(err, errsz, "08003: no connection");
        return false;
    }
    if (PQtransactionStatus(c) == PQTRANS_INERROR) {
        /* COMMIT would say "ROLLBACK": end it, and say why nothing was committed */
        db_rollback(c);
        snprintf(err, errsz, "25P02: the transaction had failed; it was rolled back");
        return false;
    }
    PGresult *r = db_pq_exec(c, "COMMIT", 0, NULL, err, errsz, NULL);
    if (!r)
        return false;
    bool committed = strcmp(PQcmdStatus(r), "COMMIT") == 0;
    PQclear(r);
    if (!committed)
        snprintf(err, errsz, "25P02: COMMIT was answered with a rollback; nothing was committed");
    return committed;
}

void db_rollback(PGconn *c)
{
    if (!c || PQtransactionStatus(c) == PQTRANS_IDLE || PQtransactionStatus(c) == PQTRANS_UNKNOWN)
        return;
    char err[256];
    PGresult *r = db_pq_exec(c, "ROLLBACK", 0, NULL, err, sizeof err, NULL);
    if (!r)
        log_debug("rollback: %s", err);
    PQclear(r);
}
