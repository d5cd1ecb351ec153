#include "prepared.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

static _Thread_local struct {
    PGconn *conn;
    int pid;
    const char *names[PREPARED_MAX];
    size_t n;
} g_session;

static void reason(PGresult *r, PGconn *conn, char *err, size_t errsz, char state[6])
{
    const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    snprintf(state, 6, "%s", s ? s : "");
    const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    snprintf(err, errsz, "%s: %s", s ? s : "?????", m ? m : PQerrorMessage(conn));
}

static bool known(PGconn *conn, const char *name)
{
    if (g_session.conn != conn || g_session.pid != PQbackendPID(conn)) {
        g_session.conn = conn;
        g_session.pid = PQbackendPID(conn);
        g_session.n = 0;
    }
    for (size_t i = 0; i < g_session.n; i++)
        if (g_session.names[i] == name || !strcmp(g_session.names[i], name))
            return true;
    return false;
}

static void forget(const char *name)
{
    for (size_t i = 0; i < g_session.n; i++)
        if (!strcmp(g_session.names[i], name)) {
            g_session.names[i] = g_session.names[--g_session.n];
            return;
        }
}

static bool prepare(PGconn *conn, const char *name, const char *sql, int n, char *err, size_t errsz)
{
    PGresult *r = PQprepare(conn, name, sql, n, NULL);
    char state[6];
    bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
    if (!ok)
        reason(r, conn, err, errsz, state);
    PQclear(r);
    if (ok && g_session.n < PREPARED_MAX)
        g_session.names[g_session.n++] = name;
    return ok;
}

PGresult *prepared_exec(PGconn *conn, const char *name, const char *sql, int n, const char *const *params, char *err,
                        size_t errsz)
{
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!known(conn, name) && !prepare(conn, name, sql, n, err, errsz))
            return NULL;
        PGresult *r = PQexecPrepared(conn, name, n, params, NULL, NULL, 0);
        ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
            return r;
        char state[6];
        reason(r, conn, err, errsz, state);
        PQclear(r);
        /* the session lost it (DISCARD ALL, a pooler): prepare again once; any other error is the
         * caller's (inside a transaction 26000 has aborted it, so the retry reports that) */
        if (strcmp(state, "26000"))
            return NULL;
        forget(name);
    }
    return NULL;
}
