/* provider_fx: what the provider tests share: a configuration with notify's provider keys, and
 * one call of a provider answered without the network (prepare, then finish with a given answer,
 * as the sender does when the transfer ends). Failures to set up abort with a message. */
#ifndef TESTS_PROVIDER_FX_H
#define TESTS_PROVIDER_FX_H

#include <curl/curl.h>
#include <stdint.h>

#include "config.h"
#include "services/notify/provider.h"

/* A configuration of PROVIDER_CFG_KEYS with "key=value" entries set (NULL-terminated). Caller
 * cfg_destroys. */
cfg_t *pfx_cfg(const char *const *kv);

/* Prepares m on p at now_s (aborts when prepare makes no request: see pfx_prepare_refused), then
 * finishes the call with rc, status and body; the outcome. If url is given, the request's URL is
 * copied there (urlsz bytes). */
outcome_t pfx_answer(provider_t *p, const message_t *m, int64_t now_s, CURLcode rc, long status, const char *body,
                     char *url, size_t urlsz);
/* The outcome of a prepare that makes no request (aborts when it makes one). */
outcome_t pfx_prepare_refused(provider_t *p, const message_t *m, int64_t now_s);

#endif
