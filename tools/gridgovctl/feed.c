/* feed: an API key for an outside system's alerts ("一张网": POST /api/v1/feeds/alerts). The key
 * and the row that marks it as a feed's (registry.feed_client) are written in one transaction,
 * so no key exists that is half a feed. Printed once; only its hash is kept. */
#include <stdio.h>
#include <string.h>

#include "ctl.h"
#include "db.h"
#include "secret.h"

int ctl_feed(const cfg_t *cfg, int argc, char **argv)
{
    if (argc != 4 || !argv[1][0] || argv[1][0] == '-') {
        fprintf(stderr, "usage: gridgovctl feed SOURCE SERVICE_CODE NAME\n"
                        "  SOURCE: the system's short name (a-z, 0-9, _ and -), which scopes its alert ids\n"
                        "  SERVICE_CODE: the category its alerts take when they name none\n");
        return 2;
    }
    char err[512], key[SECRET_HEX_LEN], hex[SECRET_HEX_LEN];
    db_t *db = db_connect(cfg_str(cfg, "db"), "gridgovctl", err, sizeof err);
    if (!db) {
        fprintf(stderr, "gridgovctl: %s\n", err);
        return 1;
    }
    int status = 1;
    if (!secret_new(key)) {
        fprintf(stderr, "gridgovctl: no randomness for a key\n");
        goto out;
    }
    secret_hash_hex(key, hex);
    const char *p[] = {argv[3], hex, argv[1], argv[2]};
    PGresult *r = db_exec(db,
                          "WITH k AS (INSERT INTO registry.api_client (name, key_sha256) VALUES ($1, decode($2, 'hex'))"
                          " RETURNING id)"
                          " INSERT INTO registry.feed_client (api_client_id, source, name, service_code)"
                          " SELECT id, $3, $1, $4 FROM k RETURNING api_client_id",
                          4, p, err, sizeof err, NULL);
    if (!r) {
        fprintf(stderr, "gridgovctl: %s\n", err);
        goto out;
    }
    PQclear(r);
    printf("%s\n", key);
    status = 0;
out:
    db_destroy(&db);
    return status;
}
