/* provider_tencent: Tencent Cloud SMS SendSms (API 2021-01-11), a JSON POST to
 * tencent_sms_endpoint signed TC3-HMAC-SHA256 (common/provsign.h), region ap-guangzhou.
 *
 * PhoneNumberSet is the one number as +86…; TemplateParamSet the template's sms_params in order,
 * from the message's params; SessionContext the message id (echoed in receipts). Timestamp: the
 * injected clock's.
 *
 * Answers: a whole-request failure is Response.Error.Code; otherwise each number has its own
 * Code in SendStatusSet: "Ok" (capital O, small k) SENT with SerialNo. InternalError.*,
 * RequestLimitExceeded, LimitExceeded.* (per-number frequency) RETRY; AuthFailure.*,
 * UnauthorizedOperation.*, the balance, the sign or template not approved FAILOVER; the number
 * (InvalidParameterValue.IncorrectPhoneNumber, FailedOperation.PhoneNumberInBlacklist), the
 * content or parameters PERMANENT; an unknown code FAILOVER. */
#ifndef GRIDGOV_NOTIFY_PROVIDER_TENCENT_H
#define GRIDGOV_NOTIFY_PROVIDER_TENCENT_H

#include <curl/curl.h>
#include <stddef.h>
#include <stdint.h>

#include "provider.h"

/* The SendSms body for m (caller frees), or NULL with why set (a parameter missing). */
char *tencent_body(const message_t *m, const char *app_id, const char *sign_name, char *why, size_t whysz);
/* Every header of the call: Content-Type, Host, X-TC-Action/Version/Timestamp/Region and the
 * TC3 Authorization over payload at ts for service at host (host[:port], as the URL names it).
 * Caller curl_slist_free_alls. NULL when ts has no four-digit UTC year to sign with. */
struct curl_slist *tencent_headers(const char *secret_id, const char *secret_key, const char *service,
                                   const char *host, const char *payload, size_t len, int64_t ts);

/* host[:port] of the endpoint URL, as curl sends it in Host and the signature must cover it
 * (caller frees); NULL when it is not a URL. */
char *tencent_host(const char *endpoint);

/* Reads an answer (after the transport succeeded) into *out. */
void tencent_classify(long http_status, const char *body, size_t len, outcome_t *out);

#endif
