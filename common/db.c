#include "db.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "db_tx.h"
#include "log.h"

struct db {
    char *conninfo;
    char *appname;
    PGconn *conn;
    const char **prepared; /* names (the callers' static strings) prepared on this connection */
    size_t nprepared, capprepared;
};

/* Session limits for every connection opened from now on (db_set_session_limits). */
static _Atomic long g_statement_timeout_ms = DB_STATEMENT_TIMEOUT_MS_DEFAULT;
static _Atomic long g_idle_tx_timeout_ms = DB_IDLE_TX_TIMEOUT_MS_DEFAULT;

void db_set_session_limits(long statement_timeout_ms, long idle_in_transaction_timeout_ms)
{
    g_statement_timeout_ms = statement_timeout_ms > 0 ? statement_timeout_ms : 0;
    g_idle_tx_timeout_ms = idle_in_transaction_timeout_ms > 0 ? idle_in_transaction_timeout_ms : 0;
}

static void chomp(char *s)
{
    size_t n = strlen(s);
    while (n && s[n - 1] == '\n')
        s[--n] = '\0';
}

static PGconn *open_conn(const char *conninfo, const char *appname, char *err, size_t errsz)
{
    const char *keys[] = {"dbname", "application_name", "connect_timeout", "keepalives", "keepalives_idle",
                          "client_encoding", NULL};
    const char *vals[] = {conninfo, appname, "5", "1", "30", "UTF8", NULL};
    PGconn *c = PQconnectdbParams(keys, vals, 1 /* expand dbname as a conninfo string */);
    if (PQstatus(c) != CONNECTION_OK) {
        snprintf(err, errsz, "cannot connect to PostgreSQL: %s", PQerrorMessage(c));
        chomp(err); /* trailing newline from libpq */
        PQfinish(c);
        return NULL;
    }
    /* No JIT for our short statements: the planner's cost for a few spatial lookups passes
     * jit_above_cost, and compiling such a plan took 200 ms where running it takes a few.
     * No statement runs longer than the statement timeout, and no session sits inside a
     * transaction for longer than the idle timeout: a slow query or a stuck client cannot hold
     * a connection (and its locks) that everyone else needs. Set here rather than as `options`
     * in the connection string, so that options a deployment puts in `db` are kept. */
    char st[24], it[24];
    snprintf(st, sizeof st, "%ld", (long)g_statement_timeout_ms);
    snprintf(it, sizeof it, "%ld", (long)g_idle_tx_timeout_ms);
    const char *p[] = {st, it};
    PGresult *r = PQexecParams(c,
                               "SELECT set_config('jit', 'off', false), set_config('statement_timeout', $1, false),"
                               " set_config('idle_in_transaction_session_timeout', $2, false)",
                               2, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK) {
        snprintf(err, errsz, "cannot set the session limits: %s", PQerrorMessage(c));
        chomp(err);
        PQclear(r);
        PQfinish(c);
        return NULL;
    }
    PQclear(r);
    return c;
}

static void quiet_notice(void *arg, const char *message)
{
    (void)arg;
    (void)message;
}

db_t *db_connect(const char *conninfo, const char *application_name, char *err, size_t errsz)
{
    PGconn *c = open_conn(conninfo, application_name, err, errsz);
    if (!c)
        return NULL;
    PQsetNoticeProcessor(c, quiet_notice, NULL);
    db_t *self = calloc(1, sizeof *self);
    if (!self)
        log_oom();
    self->conninfo = strdup(conninfo);
    self->appname = strdup(application_name);
    if (!self->conninfo || !self->appname)
        log_oom();
    self->conn = c;
    return self;
}

void db_destroy(db_t **self)
{
    if (!self || !*self)
        return;
    if ((*self)->conn)
        PQfinish((*self)->conn);
    free((*self)->conninfo);
    free((*self)->appname);
    free((*self)->prepared);
    free(*self);
    *self = NULL;
}

PGconn *db_conn(db_t *self, char *err, size_t errsz)
{
    if (self->conn && PQstatus(self->conn) == CONNECTION_OK)
        return self->conn;
    if (self->conn) {
        PQfinish(self->conn);
        self->conn = NULL;
    }
    self->conn = open_conn(self->conninfo, self->appname, err, errsz);
    self->nprepared = 0; /* prepared statements died with the old session */
    if (self->conn)
        PQsetNoticeProcessor(self->conn, quiet_notice, NULL);
    return self->conn;
}

bool db_sqlstate_retryable(const char *s)
{
    if (!s || !*s)
        return false;
    return strncmp(s, "08", 2) == 0 || strcmp(s, "57P01") == 0 || strcmp(s, "57P02") == 0 ||
           strcmp(s, "57P03") == 0 || strcmp(s, "40001") == 0 || strcmp(s, "40P01") == 0;
}

PGresult *db_pq_exec(PGconn *conn, const char *sql, int nparams, const char *const *params, char *err,
                     size_t errsz, char sqlstate[6])
{
    PGresult *res = PQexecParams(conn, sql, nparams, NULL, params, NULL, NULL, 0);
    ExecStatusType st = res ? PQresultStatus(res) : PGRES_FATAL_ERROR;
    if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
        if (sqlstate)
            sqlstate[0] = '\0';
        return res;
    }
    const char *state = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (!state && PQstatus(conn) != CONNECTION_OK)
        state = "08006";
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    snprintf(err, errsz, "%s: %s", state ? state : "XX000", msg ? msg : PQerrorMessage(conn));
    size_t n = strlen(err);
    while (n && err[n - 1] == '\n')
        err[--n] = '\0';
    if (sqlstate)
        snprintf(sqlstate, 6, "%s", state ? state : "XX000");
    PQclear(res);
    return NULL;
}

PGresult *db_exec(db_t *self, const char *sql, int nparams, const char *const *params, char *err, size_t errsz,
                  char sqlstate[6])
{
    PGconn *c = db_conn(self, err, errsz);
    if (!c) {
        if (sqlstate)
            snprintf(sqlstate, 6, "08006");
        return NULL;
    }
    char st[6];
    PGresult *res = db_pq_exec(c, sql, nparams, params, err, errsz, st);
    if (!res && PQstatus(c) != CONNECTION_OK) {
        /* broken connection: the next db_conn() reconnects */
        PQfinish(self->conn);
        self->conn = NULL;
    }
    if (sqlstate)
        memcpy(sqlstate, st, 6);
    return res;
}

bool db_run(db_t *self, const char *sql, int nparams, const char *const *params, char *err, size_t errsz)
{
    PGresult *r = db_exec(self, sql, nparams, params, err, errsz, NULL);
    PQclear(r);
    return r != NULL;
}

static int by_name(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }

static int is_migration(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return n > 8 && d->d_name[0] >= '0' && d->d_name[0] <= '9' && strcmp(d->d_name + n - 4, ".sql") == 0;
}

static bool read_file(const char *path, buf_t *out, char *err, size_t errsz)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errsz, "cannot read %s", path);
        return false;
    }
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(out, chunk, n);
    fclose(f);
    return true;
}

/* Advisory lock key for migrations: any fixed number, the same in every process. */
#define MIGRATE_LOCK "7342001"

bool db_migrate(db_t *self, const char *dir, char *err, size_t errsz)
{
    PGconn *c = db_conn(self, err, errsz);
    if (!c)
        return false;
    if (!db_run(self, "CREATE TABLE IF NOT EXISTS public.schema_migrations (name text PRIMARY KEY, "
                      "applied_at timestamptz NOT NULL DEFAULT now())",
                0, NULL, err, errsz))
        return false;
    const char *lockp[] = {MIGRATE_LOCK};
    if (!db_run(self, "SELECT pg_advisory_lock($1::bigint)", 1, lockp, err, errsz))
        return false;

    struct dirent **names = NULL;
    int n = scandir(dir, &names, is_migration, by_name);
    bool ok = n >= 0;
    if (!ok)
        snprintf(err, errsz, "cannot list migrations in %s", dir);
    for (int i = 0; ok && i < n; i++) {
        const char *name = names[i]->d_name;
        const char *p[] = {name};
        PGresult *r = db_exec(self, "SELECT 1 FROM public.schema_migrations WHERE name = $1", 1, p, err, errsz, NULL);
        if (!r) {
            ok = false;
            break;
        }
        bool done = PQntuples(r) > 0;
        PQclear(r);
        if (done)
            continue;
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, name);
        buf_t sql = BUF_INIT;
        buf_puts(&sql, "BEGIN;\n");
        if (!read_file(path, &sql, err, errsz)) {
            buf_free(&sql);
            ok = false;
            break;
        }
        buf_puts(&sql, "\n;INSERT INTO public.schema_migrations (name) VALUES (");
        /* the file name goes in as a quoted literal */
        char *lit = PQescapeLiteral(c, name, strlen(name));
        buf_puts(&sql, lit ? lit : "NULL");
        PQfreemem(lit);
        buf_puts(&sql, ");\nCOMMIT;");
        /* A migration file is a script of many statements: PQexec is the one way to run it. */
        PGresult *res = PQexec(c, buf_str(&sql));
        buf_free(&sql);
        if (PQresultStatus(res) != PGRES_COMMAND_OK && PQresultStatus(res) != PGRES_TUPLES_OK) {
            snprintf(err, errsz, "migration %s failed: %s", name, PQerrorMessage(c));
            size_t el = strlen(err);
            while (el && err[el - 1] == '\n')
                err[--el] = '\0';
            PQclear(res);
            db_rollback(c);
            ok = false;
            break;
        }
        PQclear(res);
        log_info("applied migration %s", name);
    }
    for (int i = 0; i < n; i++)
        free(names[i]);
    free(names);
    const char *unlockp[] = {MIGRATE_LOCK};
    char e2[256];
    if (!db_run(self, "SELECT pg_advisory_unlock($1::bigint)", 1, unlockp, e2, sizeof e2))
        log_warn("advisory unlock failed: %s", e2);
    return ok;
}

static bool is_prepared(const db_t *self, const char *name)
{
    for (size_t i = 0; i < self->nprepared; i++)
        if (self->prepared[i] == name || !strcmp(self->prepared[i], name))
            return true;
    return false;
}

static void remember_prepared(db_t *self, const char *name)
{
    if (self->nprepared == self->capprepared) {
        size_t cap = self->capprepared ? 2 * self->capprepared : 16;
        const char **p = realloc(self->prepared, cap * sizeof *p);
        if (!p)
            log_oom();
        self->prepared = p;
        self->capprepared = cap;
    }
    self->prepared[self->nprepared++] = name;
}

static void forget_prepared(db_t *self, const char *name)
{
    for (size_t i = 0; i < self->nprepared; i++)
        if (self->prepared[i] == name || !strcmp(self->prepared[i], name)) {
            self->prepared[i] = self->prepared[--self->nprepared];
            return;
        }
}

/* Fills err ("SQLSTATE: message") and sqlstate from a failed result on c. */
static void result_error(PGconn *c, const PGresult *res, const char *what, char *err, size_t errsz, char state[6])
{
    const char *s = res ? PQresultErrorField(res, PG_DIAG_SQLSTATE) : NULL;
    if (!s)
        s = PQstatus(c) == CONNECTION_OK ? "XX000" : "08006";
    const char *msg = res ? PQresultErrorField(res, PG_DIAG_MESSAGE_PRIMARY) : NULL;
    snprintf(err, errsz, "%s: %s%s", s, what, msg ? msg : PQerrorMessage(c));
    size_t n = strlen(err);
    while (n && err[n - 1] == '\n')
        err[--n] = '\0';
    snprintf(state, 6, "%s", s);
}

/* A statement, not its connection, went stale: someone DEALLOCATEd it (26000), or a table or
 * view it reads changed its row type under the cached plan ("cached plan must not change result
 * type", 0A000: a migration applied while the daemon runs). Outside a transaction it is
 * prepared again once; inside one the transaction is aborted and that is the caller's to end. */
static bool stale_statement(PGconn *c, const char *state)
{
    return PQstatus(c) == CONNECTION_OK && PQtransactionStatus(c) == PQTRANS_IDLE &&
           (!strcmp(state, "26000") || !strcmp(state, "0A000"));
}

static void deallocate(PGconn *c, const char *name)
{
    char *id = PQescapeIdentifier(c, name, strlen(name));
    if (!id)
        return;
    char sql[256];
    snprintf(sql, sizeof sql, "DEALLOCATE %s", id);
    PQfreemem(id);
    PQclear(PQexec(c, sql)); /* 26000 when it was gone already: either way it is gone now */
}

PGresult *db_exec_prepared(db_t *self, const char *name, const char *sql, int nparams, const char *const *params,
                           char *err, size_t errsz, char sqlstate[6])
{
    PGconn *c = db_conn(self, err, errsz);
    if (!c) {
        if (sqlstate)
            snprintf(sqlstate, 6, "08006");
        return NULL;
    }
    char state[6] = "";
    for (int attempt = 0; attempt < 2; attempt++) {
        if (!is_prepared(self, name)) {
            PGresult *p = PQprepare(c, name, sql, nparams, NULL);
            if (PQresultStatus(p) != PGRES_COMMAND_OK) {
                char what[96];
                snprintf(what, sizeof what, "prepare %s: ", name);
                result_error(c, p, what, err, errsz, state);
                PQclear(p);
                break;
            }
            PQclear(p);
            remember_prepared(self, name);
        }
        PGresult *res = PQexecPrepared(c, name, nparams, params, NULL, NULL, 0);
        ExecStatusType st = PQresultStatus(res);
        if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) {
            if (sqlstate)
                sqlstate[0] = '\0';
            return res;
        }
        result_error(c, res, "", err, errsz, state);
        PQclear(res);
        if (attempt > 0 || !stale_statement(c, state))
            break;
        deallocate(c, name);
        forget_prepared(self, name);
    }
    if (sqlstate)
        memcpy(sqlstate, state, 6);
    if (PQstatus(c) != CONNECTION_OK) {
        /* broken connection: the next db_conn() reconnects and prepares afresh */
        PQfinish(self->conn);
        self->conn = NULL;
    }
    return NULL;
}
