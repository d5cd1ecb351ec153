/* channel_store: intake.channel_inbox, the record of every callback a channel accepted, and the
 * events the channels emit. Each callback (or each item of a batch push) is handled in one
 * transaction of the caller's: claim its dedup key, do what it asks, say what was done, COMMIT,
 * and only then answer. A claim that finds the key taken is a retry (WeChat's three, the SMS
 * providers' re-pushes) and must change nothing. */
#ifndef INTAKE_CHANNEL_STORE_H
#define INTAKE_CHANNEL_STORE_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define INBOX_BODY_MAX 16384 /* bytes of a callback's body kept (intake.channel_inbox.body) */

typedef enum {
    INBOX_NEW,         /* the key is ours: act, then channel_inbox_done() */
    INBOX_SEEN,        /* a retry of a callback already handled: change nothing */
    INBOX_UNAVAILABLE, /* PostgreSQL failed: roll back, answer an error so the provider retries */
} inbox_status_t;

typedef struct {
    const char *channel; /* wechat, aliyun, tencent */
    const char *kind;    /* message, event, uplink, report */
    const char *sender;  /* openid or phone, or NULL */
    const char *body;    /* what arrived (cut to INBOX_BODY_MAX at a character boundary) */
    size_t body_len;
    int64_t now_us;
} inbox_entry_t;

/* The dedup key: hex sha256 of the parts joined by ':' (no openid or phone is stored as such). */
void channel_dedup_key(const char *const *parts, size_t n, char out[65]);

/* In the caller's transaction. A concurrent claim of the same key waits until the first commits
 * and then finds it SEEN. */
inbox_status_t channel_inbox_claim(PGconn *c, const char *dedup_key, const inbox_entry_t *e, long long *id, char *err,
                                   size_t errsz) __attribute__((warn_unused_result));
/* What the callback did ("appeal 2612070000001", "rated", "none: …"), in the same transaction. */
bool channel_inbox_done(PGconn *c, long long id, const char *action, char *err, size_t errsz)
    __attribute__((warn_unused_result));

/* bus.emit of an event with source intake, in the caller's transaction; data is borrowed. */
bool channel_emit(PGconn *c, const char *type, const json_t *data, int64_t occurred_us, char *err, size_t errsz)
    __attribute__((warn_unused_result));

/* A channel.receipt (proto/channel.receipt.schema.json): message_id may be NULL (or not a uuid:
 * then left out), provider_msgid may be NULL; one of them must be there. */
bool channel_emit_receipt(PGconn *c, const char *provider, const char *message_id, const char *provider_msgid,
                          bool delivered, const char *code, int64_t reported_us, char *err, size_t errsz)
    __attribute__((warn_unused_result));

/* "2017-01-01 08:00:00" in China's time (how the SMS providers write times) as epoch us. */
bool channel_parse_cst(const char *s, int64_t *us) __attribute__((warn_unused_result));

#endif
