/* provider_wecom_robot: a WeCom group robot (a township's duty group), POST
 * /cgi-bin/webhook/send?key=<the message's address> with a text message of the message's body.
 *
 * Text is at most 2048 bytes at WeCom: a longer body is shortened at a UTF-8 character boundary
 * and ends in "…". Answers come with HTTP 200 and an errcode: 0 SENT; 45009 (20 a minute per
 * robot) RETRY when the next minute starts (retry_after_ms); 93000 (no such robot: a bad key) and
 * 40058 (too long, or a bad parameter) PERMANENT; -1 RETRY; anything else RETRY. The robot has no
 * credentials of its own, so it is always on. */
#ifndef GRIDGOV_NOTIFY_PROVIDER_WECOM_ROBOT_H
#define GRIDGOV_NOTIFY_PROVIDER_WECOM_ROBOT_H

#include "provider.h"

#define WECOM_TEXT_MAX 2048 /* bytes of a text message's content */

/* The webhook body for text (caller frees): {"msgtype":"text","text":{"content":"…"}}, the
 * content shortened to WECOM_TEXT_MAX bytes. NULL when text is not UTF-8. */
char *wecom_robot_body(const char *text);

#endif
