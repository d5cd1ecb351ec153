/* provider_wechat: WeChat Official Account template messages (POST /cgi-bin/message/template/send)
 * with the shared access token (provider_token.h, fetched by GET /cgi-bin/token).
 *
 * The message id travels as client_msg_id (WeChat sends one message per openid + client_msg_id
 * within ten minutes: a resend after a lost answer is not shown twice); data is the message's
 * wechat_data as the planner rendered it (typed limits already applied), passed through
 * unchanged. Answers: 0 SENT (msgid, a 64-bit integer, kept as provider_msgid); 43004 (not
 * following) and 43101 (refused) UNDELIVERABLE, so the message goes by SMS; 40003 (openid),
 * 40037/40036 (template id), 47003/47001 (data) PERMANENT; 40001/40014/42001/41001 TOKEN; -1 (busy)
 * RETRY; 45011 (minute quota) RETRY at the next minute; 45009 (daily quota) RETRY when the day
 * ends in China (UTC+8); 48001 and the account's own faults (40013, 40164) FAILOVER; anything else
 * RETRY. */
#ifndef GRIDGOV_NOTIFY_PROVIDER_WECHAT_H
#define GRIDGOV_NOTIFY_PROVIDER_WECHAT_H

#include "provider.h"

/* The template/send body of m (caller frees), or NULL with why set when m cannot go by WeChat
 * (no openid, no template id, no data). */
char *wechat_template_body(const message_t *m, char *why, size_t whysz);

#endif
