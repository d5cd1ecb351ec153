#include "open311_keep.h"

#include <ctype.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>

/* The schema (tests/open311/schemas/<name>.schema.json) an Open311 JSON answer must satisfy, by
 * what was asked; NULL for a resource this table does not know yet. */
static const char *answer_schema(const char *method, const char *path, long status)
{
    if (status >= 400)
        return "errors";
    const char *p = path + strlen("/open311/v2/");
    char name[256];
    snprintf(name, sizeof name, "%.*s", (int)strcspn(p, "?"), p);
    if (!strcmp(name, "discovery.json"))
        return "discovery";
    if (!strcmp(name, "services.json"))
        return "services";
    if (!strncmp(name, "services/", 9))
        return "service-definition";
    if (!strcmp(name, "requests.json"))
        return strcmp(method, "POST") ? "requests" : "post-response";
    if (!strncmp(name, "requests/", 9))
        return "request-by-id";
    if (!strncmp(name, "tokens/", 7))
        return "token-response";
    if (!strcmp(name, "servicerequestupdates.json"))
        return "request-updates";
    return NULL;
}

static bool make_dir(const char *path)
{
    if (mkdir(path, 0755) != 0 && errno != EEXIST) {
        fprintf(stderr, "open311_keep: mkdir %s: %s\n", path, strerror(errno));
        return false;
    }
    return true;
}

bool h_open311_keep(const char *method, const char *path, const h_resp_t *r)
{
    static int kept;
    if (strncmp(path, "/open311/v2/", 12) != 0 ||
        !strcasestr(buf_str(&r->headers), "\nContent-Type: application/json"))
        return true;
    const char *schema = answer_schema(method, path, r->status);
    if (!schema) {
        fprintf(stderr, "%s %s: no schema for this answer: add it to answer_schema() in %s and to "
                        "tests/open311/schemas/\n", method, path, __FILE__);
        return false;
    }
    char dir[1024], file[1400], what[101];
    snprintf(dir, sizeof dir, "%s/open311", h_env("GRIDGOV_TEST_VAR"));
    if (!make_dir(dir))
        return false;
    snprintf(dir + strlen(dir), sizeof dir - strlen(dir), "/%s", schema);
    if (!make_dir(dir))
        return false;
    /* named by the test binary and the resource without .json and the query (which may hold
     * the api_key) */
    size_t n = 0;
    for (const char *c = path + 12; *c && *c != '?' && strncmp(c, ".json", 5) && n < sizeof what - 1; c++)
        what[n++] = (isalnum((unsigned char)*c) || *c == '-') ? *c : '_';
    what[n] = '\0';
    snprintf(file, sizeof file, "%s/%s-%03d-%s-%s-%ld.json", dir, program_invocation_short_name, ++kept, method, what,
             r->status);
    FILE *f = fopen(file, "wb");
    if (!f) {
        fprintf(stderr, "open311_keep: cannot write %s: %s\n", file, strerror(errno));
        return false;
    }
    bool ok = fwrite(buf_str(&r->body), 1, r->body.len, f) == r->body.len;
    ok = fclose(f) == 0 && ok;
    if (!ok)
        fprintf(stderr, "open311_keep: cannot write %s\n", file);
    return ok;
}
