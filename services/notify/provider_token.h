/* provider_token: one access token per app shared by every notify instance (notify.access_token),
 * for the WeChat Official Account and the WeCom app.
 *
 * WeChat invalidates the previous token when a new one is fetched (after five minutes in which
 * both work), so the instances must not each fetch their own: the row is the token. It is
 * refreshed before it expires (within min(5 min, half its life)) by the one instance that takes
 * refreshing_until (UPDATE … WHERE refreshing_until IS NULL OR refreshing_until < now(), and only
 * while the row still holds the token it judged stale: a compare-and-set, so two instances never
 * both fetch). The others read the row; they go on with the old token while it is valid, else
 * wait. A token refused by the provider (40001/40014/42001) is dropped and fetched once again:
 * every message refused with the same token leads to one fetch.
 *
 * Time here is the database server's (now()), not the injected clock: the provider expires its
 * tokens by real time, and a claim left by a killed instance must lapse even while tests hold the
 * injected clock still. Between database reads the token is kept in memory against the monotonic
 * clock, so `ready` costs no round trip while the token is fresh.
 *
 * Ownership: ptoken_new copies its arguments; ptoken_destroy frees (safe twice). Strings handed
 * out are valid until the next call. One thread. */
#ifndef GRIDGOV_NOTIFY_PROVIDER_TOKEN_H
#define GRIDGOV_NOTIFY_PROVIDER_TOKEN_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct ptoken ptoken_t;

typedef enum {
    PT_READY, /* a token to use: ptoken_value */
    PT_FETCH, /* this instance took the refresh: fetch, then ptoken_fetched or ptoken_fetch_failed */
    PT_WAIT,  /* another instance is fetching (or a fetch failed a moment ago): ask again later */
} pt_state_t;

/* app: the row's key ('wechat:<appid>', 'wecom:<corpid>:<agentid>'); claim_ms: how long a claim
 * lasts (longer than a fetch may take, so a live fetch is not taken over). */
ptoken_t *ptoken_new(const char *app, long claim_ms);
void ptoken_destroy(ptoken_t **self);

pt_state_t ptoken_get(ptoken_t *self, PGconn *db);
/* The token in use, NULL when there is none. */
const char *ptoken_value(const ptoken_t *self);

/* The fetch this instance claimed returned token valid for expires_in seconds: stored in the row
 * (when the claim is still ours; else the row's newer one is read next time). */
void ptoken_fetched(ptoken_t *self, PGconn *db, const char *token, long expires_in);
/* The fetch failed: the claim is released and this instance waits a little (doubling up to a
 * minute while it keeps failing) before it tries again. */
void ptoken_fetch_failed(ptoken_t *self, PGconn *db);

/* Reads a token answer, WeChat's {"access_token":"…","expires_in":7200} or WeCom's (the same with
 * "errcode":0): true with the token (malloc'd, caller frees) and its lifetime; false with the
 * provider's errcode and errmsg (or the transport's failure) in why. */
bool ptoken_answer(int rc_curl, long http_status, const char *body, size_t len, char **token, long *expires_in,
                   char *why, size_t whysz);

/* The answer to the fetch this instance claimed, read (ptoken_answer) and kept (ptoken_fetched),
 * or logged as "<who>: cannot fetch an access token: why" and given up (ptoken_fetch_failed). */
void ptoken_take_answer(ptoken_t *self, PGconn *db, int rc_curl, long http_status, const char *body, size_t len,
                        const char *who);

/* The provider refused token (a message sent with it came back 40001/40014/42001): dropped, and
 * fetched again once, unless a newer one is already in use (a late refusal of an old token). */
void ptoken_refused(ptoken_t *self, const char *token);

#endif
