#include "provider_token.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <jansson.h>

#include "db.h"
#include "gclock.h"
#include "log.h"
#include "uuid.h"

/* How often an instance that has no fresh token looks at the row again (another is fetching). */
#define PT_LOOK_MS 250
#define PT_MAX_BACKOFF_MS 60000
/* After a database error: not sooner (the sender asks before every message). */
#define PT_DB_RETRY_MS 1000
/* Refresh this long before expiry: both tokens work for five minutes after a new fetch (WeChat). */
#define PT_MARGIN_S 300.0

struct ptoken {
    char *app;
    char owner[128]; /* refreshing_by: this instance */
    long claim_ms;
    char *token;       /* in use, NULL when none */
    int64_t refresh_at; /* monotonic ms: look at the row again from then on */
    int64_t expire_at;  /* monotonic ms: no longer usable */
    char *refused;      /* the token the provider refused: not taken from the row again */
    bool fetching;
    int fails;
    int64_t next_look;
    bool row_made;
};

ptoken_t *ptoken_new(const char *app, long claim_ms)
{
    ptoken_t *t = calloc(1, sizeof *t);
    if (!t || !(t->app = strdup(app)))
        log_oom();
    t->claim_ms = claim_ms;
    char host[64] = "";
    if (gethostname(host, sizeof host - 1) != 0)
        snprintf(host, sizeof host, "host");
    char id[UUID_STR_LEN];
    uuid_v4(id);
    snprintf(t->owner, sizeof t->owner, "%s:%ld:%.8s", host, (long)getpid(), id);
    return t;
}

void ptoken_destroy(ptoken_t **self)
{
    if (!self || !*self)
        return;
    free((*self)->app);
    free((*self)->token);
    free((*self)->refused);
    free(*self);
    *self = NULL;
}

const char *ptoken_value(const ptoken_t *self)
{
    return self->token;
}

static double margin_of(double life_s)
{
    double m = life_s / 2;
    return m < PT_MARGIN_S ? m : PT_MARGIN_S;
}

static void adopt(ptoken_t *t, const char *token, double remaining_s, double margin_s)
{
    if (t->token != token) {
        free(t->token);
        if (!(t->token = strdup(token)))
            log_oom();
    }
    int64_t now = gclock_mono_ms();
    t->refresh_at = now + (int64_t)((remaining_s - margin_s) * 1000);
    t->expire_at = now + (int64_t)(remaining_s * 1000);
}

static bool usable(const ptoken_t *t)
{
    return t->token && gclock_mono_ms() < t->expire_at;
}

static pt_state_t fallback(const ptoken_t *t)
{
    return usable(t) ? PT_READY : PT_WAIT;
}

static pt_state_t db_failed(ptoken_t *t, const char *err)
{
    log_warn("access token %s: %s", t->app, err);
    t->next_look = gclock_mono_ms() + PT_DB_RETRY_MS;
    return fallback(t);
}

pt_state_t ptoken_get(ptoken_t *t, PGconn *db)
{
    int64_t now = gclock_mono_ms();
    if (t->token && now < t->refresh_at)
        return PT_READY;
    if (t->fetching || now < t->next_look)
        return fallback(t);
    t->next_look = now + PT_LOOK_MS;

    char err[256];
    PGresult *r;
    if (!t->row_made) {
        const char *p[] = {t->app};
        r = db_pq_exec(db, "INSERT INTO notify.access_token (app) VALUES ($1) ON CONFLICT (app) DO NOTHING", 1, p,
                       err, sizeof err, NULL);
        if (!r)
            return db_failed(t, err);
        PQclear(r);
        t->row_made = true;
    }

    const char *p1[] = {t->app};
    r = db_pq_exec(db,
                   "SELECT token, extract(epoch FROM expires_at - now())::float8,"
                   " coalesce(extract(epoch FROM expires_at - fetched_at)::float8, 0)"
                   " FROM notify.access_token WHERE app = $1",
                   1, p1, err, sizeof err, NULL);
    if (!r)
        return db_failed(t, err);
    char *seen = NULL; /* the row's token, which a claim must still find there */
    if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
        if (!(seen = strdup(PQgetvalue(r, 0, 0))))
            log_oom();
        double remaining = PQgetisnull(r, 0, 1) ? 0 : atof(PQgetvalue(r, 0, 1));
        double margin = margin_of(atof(PQgetvalue(r, 0, 2)));
        bool refused = t->refused && strcmp(t->refused, seen) == 0;
        if (!refused && remaining > 0) {
            adopt(t, seen, remaining, margin);
            if (remaining > margin) {
                PQclear(r);
                free(seen);
                return PT_READY;
            }
        }
    } else if (PQntuples(r) == 0) {
        t->row_made = false; /* deleted by someone: made again next time */
    }
    PQclear(r);

    char ms[32];
    snprintf(ms, sizeof ms, "%ld", t->claim_ms);
    const char *p2[] = {t->app, ms, t->owner, seen};
    r = db_pq_exec(db,
                   "UPDATE notify.access_token SET refreshing_until = now() + $2::bigint * interval '1 millisecond',"
                   " refreshing_by = $3"
                   " WHERE app = $1 AND (refreshing_until IS NULL OR refreshing_until < now())"
                   " AND token IS NOT DISTINCT FROM $4",
                   4, p2, err, sizeof err, NULL);
    free(seen);
    if (!r)
        return db_failed(t, err);
    bool claimed = strcmp(PQcmdTuples(r), "1") == 0;
    PQclear(r);
    if (claimed) {
        t->fetching = true;
        return PT_FETCH;
    }
    return fallback(t);
}

void ptoken_fetched(ptoken_t *t, PGconn *db, const char *token, long expires_in)
{
    t->fetching = false;
    t->fails = 0;
    char err[256], secs[32];
    snprintf(secs, sizeof secs, "%ld", expires_in);
    const char *p[] = {t->app, token, secs, t->owner};
    PGresult *r = db_pq_exec(db,
                             "UPDATE notify.access_token SET token = $2,"
                             " expires_at = now() + $3::bigint * interval '1 second', fetched_at = now(),"
                             " refreshing_until = NULL, refreshing_by = NULL"
                             " WHERE app = $1 AND refreshing_by = $4",
                             4, p, err, sizeof err, NULL);
    if (!r) {
        /* not stored: the others cannot use it, and a token kept only here would be replaced
         * by the next instance's fetch anyway. The claim lapses by itself. */
        log_warn("access token %s: cannot store the new token: %s", t->app, err);
        t->next_look = 0;
        return;
    }
    bool stored = strcmp(PQcmdTuples(r), "1") == 0;
    PQclear(r);
    if (!stored) {
        /* our claim lapsed and another instance fetched since: its token is the newer one */
        log_info("access token %s: another instance refreshed it meanwhile", t->app);
        t->next_look = 0;
        t->refresh_at = 0;
        return;
    }
    free(t->refused);
    t->refused = NULL;
    adopt(t, token, (double)expires_in, margin_of((double)expires_in));
    log_info("access token %s: fetched, valid %ld s", t->app, expires_in);
}

void ptoken_fetch_failed(ptoken_t *t, PGconn *db)
{
    t->fetching = false;
    if (t->fails < 16)
        t->fails++;
    int64_t backoff = 500LL << (t->fails < 7 ? t->fails : 7);
    if (backoff > PT_MAX_BACKOFF_MS)
        backoff = PT_MAX_BACKOFF_MS;
    t->next_look = gclock_mono_ms() + backoff;
    if (!db)
        return;
    char err[256];
    const char *p[] = {t->app, t->owner};
    PGresult *r = db_pq_exec(db,
                             "UPDATE notify.access_token SET refreshing_until = NULL, refreshing_by = NULL"
                             " WHERE app = $1 AND refreshing_by = $2",
                             2, p, err, sizeof err, NULL);
    if (!r)
        log_warn("access token %s: cannot release the refresh: %s", t->app, err);
    PQclear(r);
}

void ptoken_refused(ptoken_t *t, const char *token)
{
    if (token && t->token && strcmp(token, t->token) != 0)
        return; /* an older token, already replaced: nothing to fetch */
    const char *gone = token ? token : t->token;
    if (gone) {
        char *dup = strdup(gone);
        if (!dup)
            log_oom();
        free(t->refused);
        t->refused = dup;
    }
    free(t->token);
    t->token = NULL;
    t->refresh_at = 0;
    t->expire_at = 0;
    t->next_look = 0;
}

bool ptoken_answer(int rc_curl, long http_status, const char *body, size_t len, char **token, long *expires_in,
                   char *why, size_t whysz)
{
    *token = NULL;
    if (rc_curl != 0) {
        snprintf(why, whysz, "curl %d", rc_curl);
        return false;
    }
    json_t *root = body ? json_loadb(body, len, 0, NULL) : NULL;
    const char *tok = json_string_value(json_object_get(root, "access_token"));
    json_t *exp = json_object_get(root, "expires_in");
    json_t *ec = json_object_get(root, "errcode");
    bool ok = http_status == 200 && tok && *tok && strlen(tok) < 2048 && json_is_integer(exp) &&
              json_integer_value(exp) > 0 && (!ec || (json_is_integer(ec) && json_integer_value(ec) == 0));
    if (ok) {
        if (!(*token = strdup(tok)))
            log_oom();
        /* a day at most: a provider answering more is not believed beyond that */
        json_int_t e = json_integer_value(exp);
        *expires_in = e > 86400 ? 86400 : (long)e;
    } else if (json_is_integer(ec)) {
        const char *msg = json_string_value(json_object_get(root, "errmsg"));
        snprintf(why, whysz, "errcode %lld: %.160s", (long long)json_integer_value(ec), msg ? msg : "");
    } else {
        snprintf(why, whysz, "http %ld: not a token answer", http_status);
    }
    json_decref(root);
    return ok;
}

void ptoken_take_answer(ptoken_t *t, PGconn *db, int rc_curl, long http_status, const char *body, size_t len,
                        const char *who)
{
    char *token = NULL, why[200];
    long expires_in = 0;
    if (ptoken_answer(rc_curl, http_status, body, len, &token, &expires_in, why, sizeof why)) {
        ptoken_fetched(t, db, token, expires_in);
    } else {
        log_error("%s: cannot fetch an access token: %s", who, why);
        ptoken_fetch_failed(t, db);
    }
    free(token);
}
