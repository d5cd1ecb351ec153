/* provider_http: what the HTTP providers share: the easy handle a prepare returns, outcomes from
 * the transport and from the providers' codes (tables of code → outcome kind, as data), JSON
 * answers, and the text helpers their requests need (URL escaping, UTF-8-safe shortening).
 *
 * Ownership: strings returned are malloc'd and the caller frees them; out of memory aborts
 * (log_oom) like the rest of common/. No state: any thread. */
#ifndef GRIDGOV_NOTIFY_PROVIDER_HTTP_H
#define GRIDGOV_NOTIFY_PROVIDER_HTTP_H

#include <curl/curl.h>
#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "provider.h"

/* An easy handle for one request: url, a POST of body (len bytes, copied by curl) or a GET when
 * body is NULL, headers (borrowed: the caller keeps them alive until the transfer ends, i.e. in its
 * call, freed by finish/cancel), and the whole transfer bounded by timeout_ms (connecting by the
 * same). Only http and https. The sender collects the answer (it sets the write callback). */
CURL *ph_easy(const char *url, const struct curl_slist *headers, const char *body, size_t len, long timeout_ms);

/* Sets *out: kind, code and detail copied (shortened at a UTF-8 boundary to fit, every mobile
 * number in detail masked, since notify.attempt.detail must never hold one). */
void ph_outcome(outcome_t *out, outcome_kind_t kind, const char *code, const char *detail);

/* When the transfer itself failed (curl error, HTTP 5xx), sets *out to RETRY ("timeout",
 * "curl 7", "http 503") and returns true; false when there is an answer to read. */
bool ph_transport_failed(CURLcode rc, long http_status, outcome_t *out);

/* The answer as a JSON object, or NULL with *out set to RETRY ("bad answer": an answer we cannot
 * read is not the provider saying no). Caller json_decrefs. */
json_t *ph_json_object(const char *body, size_t len, long http_status, outcome_t *out);

/* A provider's string codes and what each means. A code ending in '*' matches every code that
 * begins with what precedes it ("Throttling.*"); the first match wins. */
typedef struct {
    const char *code;
    outcome_kind_t kind;
} ph_code_t;
outcome_kind_t ph_kind_of(const ph_code_t *table, size_t n, const char *code, outcome_kind_t unknown);

/* WeChat's and WeCom's numeric errcodes and what each means. */
typedef struct {
    long errcode;
    outcome_kind_t kind;
} ph_errcode_t;
outcome_kind_t ph_kind_of_errcode(const ph_errcode_t *table, size_t n, long errcode, outcome_kind_t unknown);

/* Reads a WeChat/WeCom answer {"errcode":N,"errmsg":"…",…} into *out: SENT for errcode 0 (or
 * none), else the table's kind (unknown codes: `unknown`), code "<errcode>", detail errmsg.
 * Returns the parsed object (caller json_decrefs) or NULL when it could not be read (*out RETRY). */
json_t *ph_wx_answer(const char *body, size_t len, long http_status, const ph_errcode_t *table, size_t n,
                     outcome_kind_t unknown, outcome_t *out);

/* Milliseconds from now_s to the start of the next minute (at least 1000): a per-minute limit
 * (WeCom robot 20/min, WeChat 45011) opens again then. */
int ph_ms_to_next_minute(int64_t now_s);

/* The longest prefix of s, at most max bytes, that ends on a UTF-8 character boundary. */
size_t ph_utf8_prefix(const char *s, size_t len, size_t max);
/* s shortened to at most max bytes (max > 3): as it is when it fits, else cut at a character
 * boundary with "…" appended within max. */
char *ph_shorten(const char *s, size_t max);

/* RFC 3986 percent-encoding of s (unreserved kept) for a query value. */
char *ph_urlencode(const char *s);
/* base (without its trailing '/') + path + query values: ph_url(base, "/cgi-bin/token", "appid",
 * v1, "secret", v2, NULL) → "<base>/cgi-bin/token?appid=v1&secret=v2", values encoded. */
char *ph_url(const char *base, const char *path, ...) __attribute__((sentinel));

/* The cancel of a provider whose call is nothing but its request headers (Aliyun, Tencent): the
 * call is the curl_slist itself, freed here; their finish frees it the same way. */
void ph_headers_cancel(provider_t *self, void *call);

char *ph_strdup(const char *s);
/* A configuration string, "" when unset. */
const char *ph_cfg(const char *v);

#endif
