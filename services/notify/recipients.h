/* recipients: who an event's plans reach, and by which channel and address.
 *
 *   residents (reporter, follower)  WeChat when intake.wechat_binding holds an openid for their
 *       phone (or the WeChat account they filed from), with their phone as fallback_phone so an
 *       undeliverable WeChat message goes by SMS; else SMS to intake.ticket_contact.phone; with
 *       neither, nobody (the planner logs it at debug).
 *   staff (handler, supervisor)     the WeCom app when registry.staff.wecom_userid is set, else
 *       SMS to registry.staff.phone.
 *   duty group                      the township's WeCom robot (registry.unit.wecom_robot_key).
 *   resident (verification)         SMS to the phone intake.wechat_verification names.
 *   voter (vote.credentials)        SMS only, one per credential, to the voter or the holder of their
 *       written proxy (the event's holder_voter_id): a resident's phone, or for a household electorate the
 *       household head's, else its first resident's with a phone (tally.motion_public.electorate).
 *   household (vote.closed)         every household head of the motion's group with a phone:
 *       WeChat when their phone is bound (phone as fallback), else SMS.
 *
 * intake.wechat_binding and intake.wechat_verification are intake's views for notify (the inbound
 * channels, migration 023).
 *
 * One statement reads every recipient of every enabled plan of an event, with the template and
 * the values its placeholders take (plan_write.h's columns). */
#ifndef GRIDGOV_NOTIFY_RECIPIENTS_H
#define GRIDGOV_NOTIFY_RECIPIENTS_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The recipients of the plans of event type `type` (data: the event's data as JSON text,
 * occurred_at its envelope time), as rows with plan_write.h's columns; a row whose channel is
 * NULL is a resident who cannot be reached. now_us: the injected clock (a verification code
 * past its expiry is not sent). Caller PQclears; NULL with err set on a database error. */
PGresult *recipients_of_event(PGconn *conn, const char *event_id, const char *type, const char *data,
                              const char *occurred_at, int64_t now_us, char *err, size_t errsz)
    __attribute__((warn_unused_result));

/* The channel and address of a staff member, as SQL over a relation aliased `s` (registry.staff):
 * shared with the digest so staff are reached the same way everywhere. */
#define RECIPIENTS_STAFF_CHANNEL "CASE WHEN s.wecom_userid IS NOT NULL THEN 'wecom_app' ELSE 'sms' END"
#define RECIPIENTS_STAFF_ADDRESS "coalesce(s.wecom_userid, s.phone)"

#endif
