/* b64: standard base64 (RFC 4648 §4, alphabet A-Z a-z 0-9 + /, '=' padding), strict on input.
 *
 * The decoder refuses anything but whole groups of four characters of the alphabet, with '='
 * only as the last one or two characters of the text: no whitespace, no line breaks, no URL-safe
 * alphabet, no missing padding. It accepts set bits left over in the last character before '='
 * (as OpenSSL, Python and Java do), because WeChat's EncodingAESKey, a 43-character key decoded
 * with one '=' appended, routinely has them.
 *
 * Ownership: b64_encode returns a malloc'd string the caller frees (aborts through log_oom when
 * memory runs out); b64_decode writes into the caller's buffer. No state, thread-safe. */
#ifndef GRIDGOV_B64_H
#define GRIDGOV_B64_H

#include <stdbool.h>
#include <stddef.h>

/* The base64 text of n bytes (NUL-terminated, 4 * ceil(n / 3) characters). */
char *b64_encode(const unsigned char *in, size_t n);

/* The most bytes that len characters of base64 can decode to. */
static inline size_t b64_decoded_max(size_t len) { return len / 4 * 3; }

/* Decodes len characters of in into out (room for cap bytes) and sets *outlen. False, with out
 * and *outlen left as they were, when the text is not strict base64 (above) or when the decoded
 * bytes would not fit in cap. */
bool b64_decode(const char *in, size_t len, unsigned char *out, size_t cap, size_t *outlen)
    __attribute__((warn_unused_result));

#endif
