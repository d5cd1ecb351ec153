/* migrate, seed-demo, apikey (issue, deactivate), token and revoke-token. */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "buf.h"
#include "ctl.h"
#include "db.h"
#include "db_tx.h"
#include "log.h"
#include "secret.h"

static db_t *open_db(const cfg_t *cfg)
{
    char err[512];
    db_t *db = db_connect(cfg_str(cfg, "db"), "gridgovctl", err, sizeof err);
    if (!db)
        fprintf(stderr, "gridgovctl: %s\n", err);
    return db;
}

int ctl_migrate(const cfg_t *cfg, int argc, char **argv)
{
    const char *dir = argc > 1 ? argv[1] : "deploy/migrations";
    db_t *db = open_db(cfg);
    if (!db)
        return 1;
    char err[1024];
    bool ok = db_migrate(db, dir, err, sizeof err);
    if (!ok)
        fprintf(stderr, "gridgovctl: %s\n", err);
    db_destroy(&db);
    return ok ? 0 : 1;
}

/* Issues a key (see secret.h); only its hash is stored. Writes the key to out. */
static bool issue_key(db_t *db, const char *name, char out[SECRET_HEX_LEN])
{
    char hex[SECRET_HEX_LEN];
    if (!secret_new(out))
        return false;
    secret_hash_hex(out, hex);
    char err[512];
    const char *p[] = {name, hex};
    if (!db_run(db, "INSERT INTO registry.api_client (name, key_sha256) VALUES ($1, decode($2, 'hex'))", 2, p, err,
                sizeof err)) {
        fprintf(stderr, "gridgovctl: %s\n", err);
        return false;
    }
    return true;
}

/* Deactivates the key with this id (all digits) or every active key with this name. intake asks
 * PostgreSQL on each request, so the key is refused from the next one on. */
static int deactivate_key(db_t *db, const char *which)
{
    bool by_id = which[strspn(which, "0123456789")] == '\0';
    char err[512];
    const char *p[] = {which};
    PGresult *r = db_exec(db,
                          by_id ? "UPDATE registry.api_client SET active = false WHERE id = $1::bigint AND active RETURNING id"
                                : "UPDATE registry.api_client SET active = false WHERE name = $1 AND active RETURNING id",
                          1, p, err, sizeof err, NULL);
    if (!r) {
        fprintf(stderr, "gridgovctl: %s\n", err);
        return 1;
    }
    int n = PQntuples(r);
    for (int i = 0; i < n; i++)
        printf("deactivated API key %s\n", PQgetvalue(r, i, 0));
    PQclear(r);
    if (n == 0) {
        fprintf(stderr, "gridgovctl: no active API key %s %s\n", by_id ? "with id" : "named", which);
        return 1;
    }
    return 0;
}

int ctl_apikey(const cfg_t *cfg, int argc, char **argv)
{
    bool deactivate = argc == 3 && !strcmp(argv[1], "--deactivate");
    if (!(argc == 2 && argv[1][0] && argv[1][0] != '-') && !(deactivate && *argv[2])) {
        fprintf(stderr, "usage: gridgovctl apikey NAME | apikey --deactivate NAME|ID\n");
        return 2;
    }
    db_t *db = open_db(cfg);
    if (!db)
        return 1;
    int status = 1;
    char key[65];
    if (deactivate)
        status = deactivate_key(db, argv[2]);
    else if (issue_key(db, argv[1], key)) {
        printf("%s\n", key);
        status = 0;
    }
    db_destroy(&db);
    return status;
}

static bool read_all(const char *path, buf_t *b)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(b, chunk, n);
    fclose(f);
    return true;
}

/* True when the key in path still hashes to an active client. */
static bool key_file_works(db_t *db, const char *path)
{
    buf_t b = BUF_INIT;
    if (!read_all(path, &b)) {
        buf_free(&b);
        return false;
    }
    char key[80];
    snprintf(key, sizeof key, "%.64s", buf_str(&b));
    buf_free(&b);
    char hex[SECRET_HEX_LEN];
    secret_hash_hex(key, hex);
    char err[256];
    const char *p[] = {hex};
    PGresult *r = db_exec(db, "SELECT 1 FROM registry.api_client WHERE key_sha256 = decode($1, 'hex') AND active", 1, p,
                          err, sizeof err, NULL);
    bool ok = r && PQntuples(r) == 1;
    PQclear(r);
    return ok;
}

int ctl_seed_demo(const cfg_t *cfg, int argc, char **argv)
{
    if (argc != 3) {
        fprintf(stderr, "usage: gridgovctl seed-demo SEED.sql KEYFILE\n");
        return 2;
    }
    db_t *db = open_db(cfg);
    if (!db)
        return 1;
    int status = 1;
    char err[1024];
    buf_t sql = BUF_INIT;
    PGresult *r = db_exec(db, "SELECT count(*) FROM registry.unit", 0, NULL, err, sizeof err, NULL);
    if (!r) {
        fprintf(stderr, "gridgovctl: %s (run migrate first)\n", err);
        goto out;
    }
    bool empty = atoll(PQgetvalue(r, 0, 0)) == 0;
    PQclear(r);
    if (empty) {
        if (!read_all(argv[1], &sql)) {
            fprintf(stderr, "gridgovctl: cannot read %s: %s\n", argv[1], strerror(errno));
            goto out;
        }
        log_info("loading the demo county from %s", argv[1]);
        PGconn *c = db_conn(db, err, sizeof err);
        /* The seed is a script of many statements with its own BEGIN/COMMIT: PQexec runs it. */
        PGresult *res = c ? PQexec(c, buf_str(&sql)) : NULL;
        if (!res || PQresultStatus(res) != PGRES_COMMAND_OK) {
            fprintf(stderr, "gridgovctl: demo seed failed: %s\n", c ? PQerrorMessage(c) : err);
            PQclear(res);
            if (c)
                db_rollback(c);
            goto out;
        }
        PQclear(res);
        r = db_exec(db,
                    "SELECT (SELECT count(*) FROM registry.unit WHERE level='village'),"
                    " (SELECT count(*) FROM registry.unit WHERE level='group'),"
                    " (SELECT count(*) FROM registry.household), (SELECT count(*) FROM registry.resident)",
                    0, NULL, err, sizeof err, NULL);
        if (r) {
            log_info("demo county loaded: %s villages, %s groups, %s households, %s residents", PQgetvalue(r, 0, 0),
                     PQgetvalue(r, 0, 1), PQgetvalue(r, 0, 2), PQgetvalue(r, 0, 3));
            PQclear(r);
        }
    }
    if (!key_file_works(db, argv[2])) {
        char key[65];
        if (!issue_key(db, "demo", key))
            goto out;
        int fd = open(argv[2], O_WRONLY | O_CREAT | O_TRUNC, 0600);
        if (fd < 0 || write(fd, key, 64) != 64 || write(fd, "\n", 1) != 1) {
            fprintf(stderr, "gridgovctl: cannot write %s: %s\n", argv[2], strerror(errno));
            if (fd >= 0)
                close(fd);
            goto out;
        }
        close(fd);
        log_info("demo API key written to %s", argv[2]);
    }
    status = 0;
out:
    buf_free(&sql);
    db_destroy(&db);
    return status;
}

int ctl_token(const cfg_t *cfg, int argc, char **argv)
{
    char *end = NULL;
    long long staff = argc == 2 ? strtoll(argv[1], &end, 10) : 0;
    if (argc != 2 || !end || *end || staff <= 0) {
        fprintf(stderr, "usage: gridgovctl token STAFF_ID\n");
        return 2;
    }
    db_t *db = open_db(cfg);
    if (!db)
        return 1;
    char token[SECRET_HEX_LEN], hex[SECRET_HEX_LEN], id[24], ttl[24], err[512];
    int status = 1;
    if (!secret_new(token))
        goto out;
    secret_hash_hex(token, hex);
    snprintf(id, sizeof id, "%lld", staff);
    snprintf(ttl, sizeof ttl, "%ld", cfg_int(cfg, "staff_token_ttl_h"));
    const char *p[] = {hex, id, ttl};
    /* Every token expires: staff sign in again (ask for a new one) after staff_token_ttl_h. */
    PGresult *r = db_exec(db,
                          "INSERT INTO registry.staff_token (token_sha256, staff_id, issued_at, expires_at)"
                          " SELECT decode($1, 'hex'), id, now(), now() + make_interval(hours => $3::int)"
                          " FROM registry.staff WHERE id = $2::bigint AND active RETURNING staff_id",
                          3, p, err, sizeof err, NULL);
    if (!r)
        fprintf(stderr, "gridgovctl: %s\n", err);
    else if (PQntuples(r) == 0)
        fprintf(stderr, "gridgovctl: no active staff member %lld\n", staff);
    else {
        printf("%s\n", token);
        status = 0;
    }
    PQclear(r);
out:
    db_destroy(&db);
    return status;
}

/* Revokes one token (given as printed) or every token of a staff member; intake checks the token
 * on each request, so the next one is refused. */
int ctl_revoke_token(const cfg_t *cfg, int argc, char **argv)
{
    char *end = NULL;
    bool by_staff = argc == 3 && !strcmp(argv[1], "--staff");
    long long staff = by_staff ? strtoll(argv[2], &end, 10) : 0;
    if (!(argc == 2 && argv[1][0] && argv[1][0] != '-') && !(by_staff && end && !*end && staff > 0)) {
        fprintf(stderr, "usage: gridgovctl revoke-token TOKEN | revoke-token --staff STAFF_ID\n");
        return 2;
    }
    db_t *db = open_db(cfg);
    if (!db)
        return 1;
    char arg[SECRET_HEX_LEN], err[512];
    if (by_staff)
        snprintf(arg, sizeof arg, "%lld", staff);
    else
        secret_hash_hex(argv[1], arg);
    const char *p[] = {arg};
    PGresult *r = db_exec(db,
                          by_staff ? "UPDATE registry.staff_token SET revoked = true WHERE staff_id = $1::bigint"
                                     " AND NOT revoked RETURNING 1"
                                   : "UPDATE registry.staff_token SET revoked = true WHERE token_sha256 = decode($1, 'hex')"
                                     " AND NOT revoked RETURNING 1",
                          1, p, err, sizeof err, NULL);
    int status = 1;
    if (!r)
        fprintf(stderr, "gridgovctl: %s\n", err);
    else if (PQntuples(r) == 0 && !by_staff)
        fprintf(stderr, "gridgovctl: no such token, or it was revoked already\n");
    else {
        printf("revoked %d token%s\n", PQntuples(r), PQntuples(r) == 1 ? "" : "s");
        status = 0;
    }
    PQclear(r);
    db_destroy(&db);
    return status;
}
