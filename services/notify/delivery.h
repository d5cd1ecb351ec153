/* delivery: a message's states, and the one function that moves a claimed message between them.
 *
 *   pending ──claim──▶ sending ──SENT──▶ sent ──receipt──▶ delivered | failed   (receipt.c)
 *      ▲                 │
 *      ├──── hold ───────┤  quiet hours, a rate limit, a provider's token being fetched:
 *      │                 │  due_at moved, no attempt counted
 *      ├──── RETRY, TOKEN, FAILOVER (next SMS provider), UNDELIVERABLE (SMS to fallback_phone):
 *      │                 │  an attempt recorded, due_at by backoff or now
 *      │                 └──PERMANENT, opt-out, last attempt, nowhere to fall back──▶ dead
 *      └──────────── redrive (an operator: gridgovctl redrive ID, redrive.c) ◀───── dead
 *
 * Every transition of a claimed message is one statement (a batch of them too): the message row (only while this
 * instance still holds the claim: an instance whose lease ran out changes nothing), its
 * notify.attempt row and its notify.dead_letter row, together. */
#ifndef GRIDGOV_NOTIFY_DELIVERY_H
#define GRIDGOV_NOTIFY_DELIVERY_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"
#include "provider.h"

typedef enum {
    DELIVERY_SENT,    /* state sent */
    DELIVERY_AGAIN,   /* state pending at due_us (a retry, a failover, a hold) */
    DELIVERY_DEAD,    /* state dead, with a dead_letter row */
} delivery_next_t;

typedef struct {
    delivery_next_t next;
    int64_t due_us;              /* AGAIN: when */
    bool attempt;                /* a provider was called: count it and write notify.attempt */
    const char *provider;        /* who was called (attempt) / who took it (sent) */
    const char *outcome;         /* notify.attempt.outcome (outcome_name) */
    const char *code, *detail;   /* the provider's code and message (may be NULL) */
    const char *provider_msgid;  /* sent */
    const char *route;           /* AGAIN: the provider to try next, NULL: the channel's first */
    const char *to_sms;          /* AGAIN: go by SMS to this phone from now on (WeChat fallback) */
    const char *reason;          /* DEAD: why, for the operator */
} delivery_t;

/* What an outcome of provider `provider` does to a claimed message (the diagram above), decided
 * from values alone: channel and fallback phone of the message, the calls made before this one
 * (attempts), max_attempts, the next SMS provider after this one (next_sms, NULL: none), and the
 * wait before a retry (wait_ms, the backoff, unless the provider said when). The strings in the
 * result point into out and the arguments. */
delivery_t delivery_decide(const outcome_t *out, const char *provider, const char *channel, const char *fallback,
                           int attempts, int max_attempts, const char *next_sms, int64_t now_us, int64_t wait_ms);

/* Applies d to message id claimed by instance, at now_us (the injected clock). *applied false when
 * the claim was no longer this instance's (nothing changed). False on a database error. */
bool delivery_apply(PGconn *conn, const char *id, const char *instance, const delivery_t *d, int64_t now_us,
                    bool *applied, char *err, size_t errsz) __attribute__((warn_unused_result));
/* A batch: delivery_row makes one transition's row (new reference; its strings copied), and
 * delivery_apply_rows applies a JSON array of them in one statement. The ids applied (PostgreSQL's
 * lowercase spelling) are set as keys of the object applied (may be NULL); an id missing there was
 * no longer this instance's. The _db form prepares the statement once per db connection (the
 * sender's hot path). False on a database error: nothing of the batch applied. */
json_t *delivery_row(const char *id, const delivery_t *d, int64_t now_us);
bool delivery_apply_rows(PGconn *conn, const char *instance, const json_t *rows, int64_t now_us, json_t *applied,
                         char *err, size_t errsz) __attribute__((warn_unused_result));
bool delivery_apply_rows_db(db_t *db, const char *instance, const json_t *rows, int64_t now_us, json_t *applied,
                            char *err, size_t errsz) __attribute__((warn_unused_result));
#endif
