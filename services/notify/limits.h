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

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int sms_same_template_s;
    int sms_per_hour;
    int sms_per_day;
    int wecom_robot_per_min;
    int wecom_app_per_min;
} limits_t;

/* The earliest time (epoch us) the message may go: <= now_us when it may go now. -1 on a
 * database error (reason in err). */
int64_t limits_not_before(PGconn *conn, const limits_t *l, const char *id, const char *channel, const char *address,
                          const char *template_key, int64_t now_us, char *err, size_t errsz);

#endif
