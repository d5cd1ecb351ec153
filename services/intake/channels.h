/* channels: intake's inbound channels, their configuration and their routes.
 *   /channels/wechat                  the WeChat Official Account callback (channel_wechat.c)
 *   /channels/sms/aliyun/up, /report  Aliyun SmsUp and SmsReport pushes (channel_sms.c)
 *   /channels/sms/tencent/up, /report Tencent SMS uplink and delivery callbacks (channel_sms.c)
 * Every accepted callback leaves a row in intake.channel_inbox (channel_store.h) in the
 * transaction that does what it asks, and is answered only after that COMMIT; a retry of it
 * finds its row and changes nothing. A channel whose secret is not configured answers 404 and
 * says so in the log. */
#ifndef INTAKE_CHANNELS_H
#define INTAKE_CHANNELS_H

#include <stdbool.h>

#include "http.h"

typedef struct {
    const char *wechat_token;   /* the Token of the OA console; NULL or "": /channels/wechat is off */
    const char *wechat_aes_key; /* EncodingAESKey (43 characters): compatible and safe mode */
    const char *wechat_appid;   /* AppID: the decrypted message must name it */
    const char *wechat_account; /* the OA's original id (gh_…): ToUserName must be it; NULL: not checked */
    const char *wechat_service; /* the category of an appeal sent by WeChat (registry.service.code) */
    const char *sms_token;      /* the secret `token` of the SMS push URLs; NULL or "": SMS channels off */
    int wechat_max_skew_s;      /* a push whose timestamp is further from now is refused */
    int sms_max_age_s;          /* an SMS push older than this is refused */
} channels_cfg_t;

struct intake; /* intake.h */

/* Answers a /channels/... request; false when the path is not one of them. */
bool channels_handle(const struct intake *app, const http_req_t *req, http_resp_t *resp);

/* The routes of each channel (channel_wechat.c, channel_sms.c). */
void channel_wechat_handle(const struct intake *app, const http_req_t *req, http_resp_t *resp);
void channel_sms_handle(const struct intake *app, const http_req_t *req, http_resp_t *resp, const char *provider,
                        const char *what);

#endif
