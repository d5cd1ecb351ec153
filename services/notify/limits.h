/* limits: per-recipient rate limits, mirroring the providers' own, so that a message the provider
 * would refuse (Aliyun isv.BUSINESS_LIMIT_CONTROL, Tencent's 30 s same-content rule, WeCom robot
 * 45009) waits instead: its due_at moves to when the limit lets it go, and it is not failed.
 *   SMS per phone number: one per sms_same_template_s with the same template, sms_per_hour an
 *     hour, sms_per_day a day;
 *   WeCom robot: wecom_robot_per_min a minute per robot key;
 *   WeCom app: wecom_app_per_min a minute per member.
 * A message counts from the moment the sender dispatches it (notify.message.claimed_at) while it
 * is in flight or went out (sending, sent, delivered, failed). Two notify instances deciding in
 * the same instant may both let one through; the provider's own limit then answers RETRY. */
#ifndef GRIDGOV_NOTIFY_LIMITS_H
#define GRIDGOV_NOTIFY_LIMITS_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "db.h"

typedef struct {
    int sms_same_template_s;
    int sms_per_hour;
    int sms_per_day;
    int wecom_robot_per_min;
    int wecom_app_per_min;
} limits_t;

/* A batch's view of the dispatches that count, read in one statement (limits_load) and then kept
 * up to date as the batch goes (limits_dispatched, limits_released), so that two messages to one
 * recipient in one batch see each other as they did when each looked in the database. */
typedef struct limits_seen limits_seen_t;

/* True when some rule applies to channel (otherwise nothing needs reading for it). */
bool limits_any(const limits_t *l, const char *channel);
/* Reads the counting dispatches to recipients (a JSON array of {"channel", "address"}) inside the
 * longest window of the rules that are on. The caller frees it (limits_seen_free). NULL on a
 * database error (reason in err). */
limits_seen_t *limits_load(PGconn *conn, const limits_t *l, const json_t *recipients, int64_t now_us, char *err,
                           size_t errsz);
/* The earliest time (epoch us) message id may go: <= now_us when it may go now. */
int64_t limits_check(const limits_seen_t *s, const limits_t *l, const char *id, const char *channel,
                     const char *address, const char *template_key, int64_t now_us);
/* Message id was dispatched at now_us: it counts from now on. */
void limits_dispatched(limits_seen_t *s, const char *id, const char *channel, const char *address,
                       const char *template_key, int64_t now_us);
/* Message id went back to pending or dead: it no longer counts. */
void limits_released(limits_seen_t *s, const char *id);
void limits_seen_free(limits_seen_t **s);
#endif
