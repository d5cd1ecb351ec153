/* provsign: the SMS providers' request signatures, as their documentation gives them and the
 * published vectors check (tests/vectors/provider-vectors.json).
 *
 * Aliyun RPC (SignatureVersion 1.0, HMAC-SHA1): parameters sorted by name, each name and value
 * percent-encoded (RFC 3986 unreserved kept, space as %20, '*' as %2A, '~' kept), joined
 * k=v&…; StringToSign = METHOD + "&%2F&" + pe(canonical query);
 * Signature = base64(HMAC-SHA1(secret + "&", StringToSign)).
 *
 * Tencent Cloud API v3 (TC3-HMAC-SHA256): canonical request
 * "POST\n/\n\ncontent-type:<ct>\nhost:<host>\n\ncontent-type;host\n" + hex(sha256(payload));
 * StringToSign "TC3-HMAC-SHA256\n<ts>\n<date>/<service>/tc3_request\n" + hex(sha256(canonical));
 * the key chain HMAC("TC3"+key, date) → service → "tc3_request"; date is the UTC date of ts.
 *
 * Ownership: results are malloc'd strings the caller frees (out of memory aborts through log_oom
 * like the rest of common/; NULL only where said). NULL strings count as "". Thread-safe, no state. */
#ifndef GRIDGOV_PROVSIGN_H
#define GRIDGOV_PROVSIGN_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    const char *name;
    const char *value;
} ps_param_t;

/* RFC 3986 percent-encoding as Aliyun wants it (above). */
char *ps_aliyun_encode(const char *s);
/* The canonicalized query string of params (any order in; sorted by name, byte order, then by
 * value). A parameter named "Signature" is left out, as Aliyun leaves it out of what it signs, so
 * a receiver may pass every parameter it got. A NULL value counts as "". */
char *ps_aliyun_canonical(const ps_param_t *params, size_t n);
/* The Signature value (base64, not yet percent-encoded) for method ("GET" or "POST"). */
char *ps_aliyun_signature(const char *method, const char *access_key_secret, const ps_param_t *params, size_t n);

/* hex(sha256(s)) into out[65]. */
void ps_sha256_hex(const char *s, size_t len, char out[65]);
/* The UTC date of ts as TC3 wants it ("2019-02-25") into out[11]; false for a ts gmtime cannot
 * give a four-digit year for. */
bool ps_tc3_date(int64_t ts, char out[11]) __attribute__((warn_unused_result));
/* The TC3 canonical request (above) of a POST to host; its sha256 is what the string to sign holds. */
char *ps_tc3_canonical_request(const char *host, const char *content_type, const char *payload, size_t payload_len);
/* The TC3 signature (64 hex digits) of a POST to host with content_type and payload at ts; NULL
 * when ps_tc3_date refuses ts. */
char *ps_tc3_signature(const char *secret_key, const char *service, const char *host, const char *content_type,
                       const char *payload, size_t payload_len, int64_t ts);
/* The whole Authorization header value (NULL as ps_tc3_signature):
 * "TC3-HMAC-SHA256 Credential=<id>/<date>/<service>/tc3_request, SignedHeaders=content-type;host, Signature=<hex>" */
char *ps_tc3_authorization(const char *secret_id, const char *secret_key, const char *service, const char *host,
                           const char *content_type, const char *payload, size_t payload_len, int64_t ts);

#endif
