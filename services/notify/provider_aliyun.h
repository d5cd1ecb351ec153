/* provider_aliyun: Aliyun SMS SendSms (Dysmsapi, Version 2017-05-25), an RPC call signed with
 * HMAC-SHA1 (common/provsign.h), POSTed as a form to aliyun_sms_endpoint.
 *
 * OutId is the message id, so receipts and a resend are recognisable (Aliyun itself is not
 * idempotent); TemplateParam is the JSON text of the template's sms_params taken from the
 * message's params; SignatureNonce is fresh per call; Timestamp is the injected clock's.
 *
 * Answers (HTTP 200 for business errors, 4xx for the gateway's): Code "OK" SENT with BizId;
 * isv.BUSINESS_LIMIT_CONTROL (per-number flow control) RETRY, after a minute or an hour as its
 * Message says; isp.SYSTEM_ERROR, Throttling.*, SignatureNonceUsed RETRY; what this account
 * cannot do but another provider might (isv.AMOUNT_NOT_ENOUGH, isv.OUT_OF_SERVICE, the sign or
 * template not approved, SignatureDoesNotMatch, InvalidAccessKeyId.*, InvalidTimeStamp.*, the
 * account's own totals) FAILOVER; what is wrong with the message (isv.MOBILE_NUMBER_ILLEGAL, its
 * parameters' JSON, length or URLs, forbidden words) PERMANENT; an unknown code FAILOVER. */
#ifndef GRIDGOV_NOTIFY_PROVIDER_ALIYUN_H
#define GRIDGOV_NOTIFY_PROVIDER_ALIYUN_H

#include "provider.h"

/* One SendSms call's parameters (all borrowed). template_param NULL: the template has none. */
typedef struct {
    const char *access_key_id;
    const char *access_key_secret;
    const char *format; /* JSON here; the published vector uses XML */
    const char *phone;
    const char *sign_name;
    const char *template_code;
    const char *template_param;
    const char *out_id;
    const char *timestamp; /* YYYY-MM-DDThh:mm:ssZ */
    const char *nonce;
} aliyun_send_t;

/* The signed query of a SendSms for method ("GET" or "POST"): the canonical query (parameters
 * sorted, percent-encoded) and "&Signature=" with the signature percent-encoded. The body of a
 * POST, or what follows '?' in a GET. Caller frees. */
char *aliyun_signed_query(const char *method, const aliyun_send_t *s);

/* Reads an answer (after the transport succeeded) into *out. */
void aliyun_classify(long http_status, const char *body, size_t len, outcome_t *out);

#endif
