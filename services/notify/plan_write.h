/* plan_write: the rows a planner read (the people to tell, their template and its values) made
 * into notify.message rows: rendered (render.h) and inserted in one statement, ON CONFLICT
 * (dedup_key) DO NOTHING, so planning the same thing again writes nothing.
 *
 * The rows' columns, by name: dedup_key, ticket_id (may be NULL), template_key, audience, channel
 * (NULL: nobody to reach: skipped, logged at debug), address, fallback_phone, urgent (t/f), body
 * (the template's), sms_params (JSON array of names), wechat_template_id, wechat_fields (JSON
 * object), vars (JSON object of the values).
 *
 * What each message holds: body rendered (values cut to RENDER_SMS_PARAM_MAX characters when it
 * goes by SMS, RENDER_BODY_VALUE_MAX otherwise); params (the SMS parameters by name) for SMS and
 * for WeChat (whose fallback is SMS); wechat_data when the channel is wechat; state pending, due
 * at due_us. A value a template needs and the row lacks fails the whole call (err says which),
 * so the caller's transaction rolls back and nothing of the event is half planned. */
#ifndef GRIDGOV_NOTIFY_PLAN_WRITE_H
#define GRIDGOV_NOTIFY_PLAN_WRITE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* rows is borrowed. event_id NULL: messages of no event (the digest). *planned: rows inserted
 * (a replay: 0). */
bool plan_write(PGconn *conn, const PGresult *rows, const char *event_id, int64_t due_us, int *planned, char *err,
                size_t errsz) __attribute__((warn_unused_result));

#endif
