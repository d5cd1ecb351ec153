#include "prepared.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#define SESSIONS 8
#define NAME_MAX_LEN 64

/* What each recent session has prepared. A session seen for the first time (or again after it
 * was pushed out of the table) is asked once what it holds (pg_prepared_statements): a second
 * PREPARE of a name would fail and abort the caller's transaction. */
typedef struct {
    PGconn *conn;
    int pid;
    unsigned long long used; /* for replacing the least recently used */
    char names[PREPARED_MAX][NAME_MAX_LEN];
    size_t n;
} session_t;

static _Thread_local session_t g_sessions[SESSIONS];
static _Thread_local unsigned long long g_clock;

static void reason(PGresult *r, PGconn *conn, char *err, size_t errsz, char state[6])
{
    const char *s = r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : NULL;
    snprintf(state, 6, "%s", s ? s : "");
    const char *m = r ? PQresultErrorField(r, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    snprintf(err, errsz, "%s: %s", s ? s : "?????", m ? m : PQerrorMessage(conn));
}

static void remember(session_t *s, const char *name)
{
    if (s->n < PREPARED_MAX)
        snprintf(s->names[s->n++], NAME_MAX_LEN, "%s", name);
}

static session_t *session_of(PGconn *conn, char *err, size_t errsz)
{
    int pid = PQbackendPID(conn);
    session_t *lru = &g_sessions[0];
    for (size_t i = 0; i < SESSIONS; i++) {
        if (g_sessions[i].conn == conn && g_sessions[i].pid == pid) {
            g_sessions[i].used = ++g_clock;
            return &g_sessions[i];
        }
        if (g_sessions[i].used < lru->used)
            lru = &g_sessions[i];
    }
    PGresult *r = PQexec(conn, "SELECT name FROM pg_prepared_statements");
    if (!r || PQresultStatus(r) != PGRES_TUPLES_OK) {
        char state[6];
        reason(r, conn, err, errsz, state);
        PQclear(r);
        return NULL;
    }
    *lru = (session_t){.conn = conn, .pid = pid, .used = ++g_clock};
    for (int i = 0; i < PQntuples(r); i++)
        remember(lru, PQgetvalue(r, i, 0));
    PQclear(r);
    return lru;
}

static bool known(const session_t *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->names[i], name))
            return true;
    return false;
}

static void forget(session_t *s, const char *name)
{
    for (size_t i = 0; i < s->n; i++)
        if (!strcmp(s->names[i], name)) {
            memcpy(s->names[i], s->names[--s->n], NAME_MAX_LEN);
            return;
        }
}

PGresult *prepared_exec(PGconn *conn, const char *name, const char *sql, int n, const char *const *params, char *err,
                        size_t errsz)
{
    char state[6];
    session_t *s = session_of(conn, err, errsz);
    if (!s)
        return NULL;
    if (!known(s, name)) {
        PGresult *r = PQprepare(conn, name, sql, n, NULL);
        bool ok = r && PQresultStatus(r) == PGRES_COMMAND_OK;
        if (!ok)
            reason(r, conn, err, errsz, state);
        PQclear(r);
        if (!ok)
            return NULL;
        remember(s, name);
    }
    PGresult *r = PQexecPrepared(conn, name, n, params, NULL, NULL, 0);
    ExecStatusType st = r ? PQresultStatus(r) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK)
        return r;
    reason(r, conn, err, errsz, state);
    PQclear(r);
    /* the session lost it (DISCARD ALL): the caller's transaction has failed, and its retry
     * prepares the statement again */
    if (!strcmp(state, "26000"))
        forget(s, name);
    return NULL;
}
