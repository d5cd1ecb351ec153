#include "rulesets.h"

#include <dirent.h>
#include <errno.h>
#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"
#include "rules.h"

static int is_json(const struct dirent *d)
{
    size_t n = strlen(d->d_name);
    return d->d_name[0] != '.' && n > 5 && !strcmp(d->d_name + n - 5, ".json");
}

static int by_name(const struct dirent **a, const struct dirent **b) { return strcmp((*a)->d_name, (*b)->d_name); }

static bool load_one(db_t *db, const char *path, char *err, size_t errsz)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        snprintf(err, errsz, "cannot read %s", path);
        return false;
    }
    buf_t b = BUF_INIT;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    unsigned char md[32];
    unsigned len = 0;
    EVP_Digest(buf_str(&b), b.len, md, &len, EVP_sha256(), NULL);
    char hex[65];
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
    json_error_t je;
    json_t *body = json_loadb(buf_str(&b), b.len, JSON_REJECT_DUPLICATES, &je);
    buf_free(&b);
    char why[256] = "not a JSON object";
    rules_t *r = body ? rules_parse(body, why, sizeof why) : NULL;
    const char *code = json_string_value(json_object_get(body, "code"));
    const char *name = json_string_value(json_object_get(body, "name"));
    if (!r || !code || !name) {
        snprintf(err, errsz, "rule set %s: %s%s", path, body ? why : je.text, r ? " (no code or name)" : "");
        rules_destroy(&r);
        json_decref(body);
        return false;
    }
    rules_destroy(&r);
    char *text = json_dumps(body, JSON_COMPACT);
    if (!text)
        log_oom();
    const char *p[] = {code, hex, name, text};
    bool ok = db_run(db,
                     "INSERT INTO tally.rule_set (code, sha256, name, body) VALUES ($1, decode($2, 'hex'), $3, $4::jsonb)"
                     " ON CONFLICT DO NOTHING",
                     4, p, err, errsz);
    free(text);
    json_decref(body);
    return ok;
}

bool rulesets_load(db_t *db, const char *dir, int *loaded, char *err, size_t errsz)
{
    *loaded = 0;
    struct dirent **names = NULL;
    int n = scandir(dir, &names, is_json, by_name);
    if (n < 0 && errno == ENOENT)
        return true; /* no folder: no rule sets (main.c says so); motions wait for one */
    if (n < 0) {
        snprintf(err, errsz, "cannot list rule sets in %s", dir);
        return false;
    }
    bool ok = true;
    for (int i = 0; i < n; i++) {
        char path[4096];
        snprintf(path, sizeof path, "%s/%s", dir, names[i]->d_name);
        if (ok && (ok = load_one(db, path, err, errsz)))
            (*loaded)++;
        free(names[i]);
    }
    free(names);
    return ok;
}
