#include "provider_fx.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static const cfg_key_t KEYS[] = {PROVIDER_CFG_KEYS};

cfg_t *pfx_cfg(const char *const *kv)
{
    cfg_t *c = cfg_new(KEYS, sizeof KEYS / sizeof KEYS[0]);
    char err[256];
    for (size_t i = 0; kv && kv[i]; i++) {
        char name[64];
        const char *eq = strchr(kv[i], '=');
        if (!eq || (size_t)(eq - kv[i]) >= sizeof name) {
            fprintf(stderr, "pfx_cfg: bad entry %s\n", kv[i]);
            exit(2);
        }
        memcpy(name, kv[i], (size_t)(eq - kv[i]));
        name[eq - kv[i]] = '\0';
        if (!cfg_set(c, name, eq + 1, err, sizeof err)) {
            fprintf(stderr, "pfx_cfg: %s\n", err);
            exit(2);
        }
    }
    return c;
}

outcome_t pfx_answer(provider_t *p, const message_t *m, int64_t now_s, CURLcode rc, long status, const char *body,
                     char *url, size_t urlsz)
{
    outcome_t out;
    memset(&out, 0, sizeof out);
    void *call = NULL;
    CURL *h = p->ops->prepare(p, m, now_s, &call, &out);
    if (!h) {
        fprintf(stderr, "pfx_answer: %s made no request (%s: %s)\n", p->ops->name, out.code, out.detail);
        exit(2);
    }
    if (url) {
        char *u = NULL;
        curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &u);
        snprintf(url, urlsz, "%s", u ? u : "");
    }
    memset(&out, 0xA5, sizeof out); /* finish must set every field it reports */
    p->ops->finish(p, call, rc, status, body, body ? strlen(body) : 0, &out);
    curl_easy_cleanup(h);
    return out;
}

outcome_t pfx_prepare_refused(provider_t *p, const message_t *m, int64_t now_s)
{
    outcome_t out;
    memset(&out, 0, sizeof out);
    void *call = NULL;
    CURL *h = p->ops->prepare(p, m, now_s, &call, &out);
    if (h) {
        fprintf(stderr, "pfx_prepare_refused: %s made a request\n", p->ops->name);
        exit(2);
    }
    return out;
}
