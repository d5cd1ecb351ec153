/* provider_fx: what the provider tests share: a configuration with notify's provider keys, and
 * one call of a provider answered without the network (prepare, then finish with a given answer,
 * as the sender does when the transfer ends). Failures to set up abort with a message. */
#ifndef TESTS_PROVIDER_FX_H
#define TESTS_PROVIDER_FX_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
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

/* An Aliyun form (k=v&…, percent-encoded) as an object of decoded names and values; NULL when
 * malformed (a '+' for a space, a name twice, no '='). *canonical: the names came sorted, byte
 * order, with Signature (if any) last, as Aliyun's canonical query has them. */
json_t *pfx_form_fields(const char *form, bool *canonical);

/* A provider on loopback that records what it is sent: one connection at a time, each request
 * answered with status and body after delay_ms (a delay longer than the provider's timeout
 * makes the call time out). Runs in its own thread until pfx_server_stop. */
typedef struct pfx_server pfx_server_t;
pfx_server_t *pfx_server_start(int port, int status, const char *body, int delay_ms);
/* The last request as received: request line, headers and body (valid until the next request). */
const char *pfx_server_request(pfx_server_t *self);
/* The last request's body (after the blank line), "" when none. */
const char *pfx_server_body(pfx_server_t *self);
/* The value of header name in the last request (case-insensitive name; copied into out). */
const char *pfx_server_header(pfx_server_t *self, const char *name, char *out, size_t outsz);
int pfx_server_requests(pfx_server_t *self);
void pfx_server_stop(pfx_server_t **self);

/* Runs the transfer h as the sender would (blocking here): the answer's status and body. */
CURLcode pfx_perform(CURL *h, long *status, char **body);

#endif
