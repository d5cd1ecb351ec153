/* wxcrypt: the WeChat Official Account / WeCom callback crypto (WXBizMsgCrypt), as documented by
 * Tencent and checked against the published vectors (tests/vectors/provider-vectors.json).
 *
 *   signature     = hex(sha1(sort(token, timestamp, nonce) joined))          URL verification, plain mode
 *   msg_signature = hex(sha1(sort(token, timestamp, nonce, encrypt) joined)) safe/compatible mode, WeCom
 *   AESKey = base64(EncodingAESKey + "="), 32 bytes; AES-256-CBC, IV = AESKey[0:16]
 *   plaintext = random(16) || msg_len (4 bytes, network order) || msg || appid, padded PKCS#7-style
 *   to a multiple of 32 (pad value 1..32), without OpenSSL's own padding.
 *
 * Errors are the WXBizMsgCrypt codes (WXC_*), 0 for success. Every input is bounded and checked:
 * bad base64, a length that is not a multiple of the block, a wrong pad, a msg_len beyond the
 * data and an appid that is not ours are refused, never read past.
 *
 * Decrypting is not constant-time in its checks (pad, length, appid): check msg_signature first,
 * as every caller must, so that only WeChat's own ciphertexts ever reach it.
 *
 * Ownership: outputs are written into caller buffers (sizes given) or returned malloc'd where
 * said; the caller frees those. On failure no output is touched but *rc. Out of memory aborts
 * through log_oom. No state: every function may be called from any thread. */
#ifndef GRIDGOV_WXCRYPT_H
#define GRIDGOV_WXCRYPT_H

#include <stdbool.h>
#include <stddef.h>

enum {
    WXC_OK = 0,
    WXC_VALIDATE_SIGNATURE = -40001,
    WXC_PARSE_XML = -40002,
    WXC_COMPUTE_SIGNATURE = -40003,
    WXC_ILLEGAL_AES_KEY = -40004,
    WXC_VALIDATE_APPID = -40005,
    WXC_ENCRYPT_AES = -40006,
    WXC_DECRYPT_AES = -40007,
    WXC_ILLEGAL_BUFFER = -40008,
    WXC_ENCODE_BASE64 = -40009,
    WXC_DECODE_BASE64 = -40010,
    WXC_GEN_RETURN_XML = -40011,
};

#define WXC_SIG_HEX 41 /* 40 hex digits and NUL */

/* hex(sha1(sorted parts concatenated)), lower case; encrypt may be NULL (three parts); a NULL
 * token, timestamp or nonce counts as "". */
void wxc_signature(const char *token, const char *timestamp, const char *nonce, const char *encrypt,
                   char out[WXC_SIG_HEX]);
/* Constant-time comparison of a computed signature with the one received (any case of hex);
 * false for NULL or anything but 40 characters. */
bool wxc_signature_ok(const char *token, const char *timestamp, const char *nonce, const char *encrypt,
                      const char *received);

/* The 32-byte key from a 43-character EncodingAESKey: WXC_ILLEGAL_AES_KEY unless it is exactly 43
 * characters of [A-Za-z0-9] that decode to 32 bytes. */
int wxc_aes_key(const char *encoding_aes_key, unsigned char key[32]);

/* Encrypts msg (len bytes) for appid; random16: 16 bytes to use (tests: the vectors' fixed
 * "aaaabbbbccccdddd"), or NULL for fresh random bytes (OpenSSL RAND_bytes). appid NULL counts as
 * "" (WeCom's receive id may be empty). Returns the base64 text (malloc'd) or NULL with *rc set:
 * WXC_ILLEGAL_AES_KEY (key NULL), WXC_ILLEGAL_BUFFER (msg NULL with len > 0, or too long for the
 * 4-byte msg_len), WXC_ENCRYPT_AES (no randomness, the cipher failed). */
char *wxc_encrypt(const unsigned char key[32], const char *appid, const char *msg, size_t len,
                  const unsigned char *random16, int *rc);
/* Decrypts base64 text b64: the message (malloc'd, NUL-terminated, *len its length) when the
 * padding, length and appid all check (appid NULL: the appid is returned in *appid_out instead
 * of being checked; appid_out may be NULL). NULL with *rc set otherwise:
 *   WXC_ILLEGAL_AES_KEY  key NULL
 *   WXC_DECODE_BASE64    b64 NULL or not strict base64 (common/b64.h: no whitespace, padding kept)
 *   WXC_DECRYPT_AES      not a whole number of 32-byte blocks (WeChat pads to 32), or empty
 *   WXC_ILLEGAL_BUFFER   pad value not 1..32 or pad bytes not all equal to it, msg_len beyond the
 *                        data, a NUL in the appid
 *   WXC_VALIDATE_APPID   the appid is not ours
 * rc may be NULL. */
char *wxc_decrypt(const unsigned char key[32], const char *appid, const char *b64, size_t *len,
                  char **appid_out, int *rc);

/* A human-readable name of a WXC_* code ("ValidateSignatureError"). */
const char *wxc_strerror(int rc);

#endif
