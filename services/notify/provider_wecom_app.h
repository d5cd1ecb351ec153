/* provider_wecom_app: WeCom app messages to staff (POST /cgi-bin/message/send), with the app's
 * access token shared in notify.access_token (provider_token.h; GET /cgi-bin/gettoken with the
 * corp id and the app's secret; WeCom answers the same token while it is valid).
 *
 * A text message to touser = the message's address (a WeCom userid), from agentid, with
 * enable_duplicate_check=1: WeCom drops an identical request within 30 minutes, so a resend after
 * a lost answer is not shown twice (the body is the same for the same message). Answers: 0 SENT
 * (msgid) unless invaliduser names the user, then PERMANENT; 81013 (no valid recipient)
 * PERMANENT; 40001/40014/42001/41001 TOKEN; -1, 45009, 45011, 45033 RETRY; the app's own faults
 * (60020 address not allowed, 40013, 40091, 48002) FAILOVER; anything else RETRY. */
#ifndef GRIDGOV_NOTIFY_PROVIDER_WECOM_APP_H
#define GRIDGOV_NOTIFY_PROVIDER_WECOM_APP_H

#include <stdbool.h>

#include "provider.h"

/* The message/send body (caller frees), the text shortened to 2048 bytes; NULL when not UTF-8. */
char *wecom_app_body(const char *userid, long agentid, const char *text);
/* True when WeCom's "invaliduser" list ("a|b|c") names userid (WeCom userids ignore case). */
bool wecom_invalid_user(const char *invaliduser, const char *userid);

#endif
