/* wechat_resident: what a resident's WeChat message does, once its signature, freshness and
 * dedup key have been checked (channel_wechat.c), in the transaction that records it:
 *   text        1/2/3 (满意/基本满意/不满意): rates the last resolved ticket of the bound phone or
 *               of this openid (resident_rating.h, proof wechat_binding);
 *               a mobile number: starts a binding (a 6-digit code, 10 minutes, sent by notify on
 *               channel.verify_requested); 6 digits while a binding is pending: checks the code
 *               (5 attempts), binds the openid to the phone;
 *               anything else: an appeal (channel wechat, account_id the openid, the bound phone)
 *               answered with its public code;
 *   location    adds the point to the latest open appeal of this openid that has none;
 *   subscribe   asks for the registered phone; unsubscribe erases the binding, the pending code
 *               and what the inbox holds of the openid ("must delete all the information");
 *   TEMPLATESENDJOBFINISH  a channel.receipt for notify (MsgID, success / failed…).
 * The reply text (a passive text reply, or "" for none) and what was done (for the inbox) come
 * back in out. */
#ifndef INTAKE_WECHAT_RESIDENT_H
#define INTAKE_WECHAT_RESIDENT_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "wx_xml.h"

struct intake;

#define WECHAT_CODE_TTL_S 600
#define WECHAT_CODE_ATTEMPTS 5
#define WECHAT_CODE_RESEND_S 60 /* a new code for the same openid no sooner than this */

typedef struct {
    char reply[1024];
    char action[200];
} wechat_outcome_t;

/* The statement a location message finds its appeal with ($1 the openid): id, code, whether it
 * has no point yet. Public for tests/unit/test_channel_lookups.c, which checks its plan. */
extern const char WECHAT_OPEN_APPEAL_SQL[];

/* False (with err) when nothing may be committed: PostgreSQL or the router failed. */
bool wechat_resident_act(const struct intake *app, PGconn *c, const wxx_doc_t *msg, const char *dedup_key,
                         int64_t now_us, wechat_outcome_t *out, char *err, size_t errsz)
    __attribute__((warn_unused_result));

#endif
