#include "wxcrypt.h"

#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "b64.h"
#include "log.h"

#define WXC_BLOCK 32 /* WeChat pads to 32 bytes, twice AES's block */
#define WXC_RANDOM 16
#define WXC_HEADER (WXC_RANDOM + 4)

static int cmp_str(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

void wxc_signature(const char *token, const char *timestamp, const char *nonce, const char *encrypt,
                   char out[WXC_SIG_HEX])
{
    /* Sorted in byte order, which for UTF-8 is the code point order the official samples use. */
    const char *parts[4] = {token ? token : "", timestamp ? timestamp : "", nonce ? nonce : "", encrypt};
    size_t n = encrypt ? 4 : 3;
    qsort(parts, n, sizeof parts[0], cmp_str);
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int mdlen = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    bool ok = c && EVP_DigestInit_ex(c, EVP_sha1(), NULL) == 1;
    for (size_t i = 0; ok && i < n; i++)
        ok = EVP_DigestUpdate(c, parts[i], strlen(parts[i])) == 1;
    ok = ok && EVP_DigestFinal_ex(c, md, &mdlen) == 1 && mdlen == 20;
    EVP_MD_CTX_free(c);
    if (!ok) /* only out of memory makes SHA-1 fail */
        log_oom();
    static const char hex[] = "0123456789abcdef";
    for (unsigned i = 0; i < 20; i++) {
        out[2 * i] = hex[md[i] >> 4];
        out[2 * i + 1] = hex[md[i] & 15];
    }
    out[40] = '\0';
}

bool wxc_signature_ok(const char *token, const char *timestamp, const char *nonce, const char *encrypt,
                      const char *received)
{
    if (!received || strnlen(received, WXC_SIG_HEX) != WXC_SIG_HEX - 1)
        return false;
    char want[WXC_SIG_HEX], got[WXC_SIG_HEX];
    wxc_signature(token, timestamp, nonce, encrypt, want);
    for (int i = 0; i < WXC_SIG_HEX - 1; i++) {
        char c = received[i];
        got[i] = (char)(c >= 'A' && c <= 'F' ? c - 'A' + 'a' : c);
    }
    /* Constant time: the signature is a MAC over the secret token. */
    return CRYPTO_memcmp(want, got, WXC_SIG_HEX - 1) == 0;
}

int wxc_aes_key(const char *encoding_aes_key, unsigned char key[32])
{
    if (!encoding_aes_key || strnlen(encoding_aes_key, 44) != 43)
        return WXC_ILLEGAL_AES_KEY;
    char text[44];
    for (int i = 0; i < 43; i++) {
        char c = encoding_aes_key[i];
        if (!((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9')))
            return WXC_ILLEGAL_AES_KEY;
        text[i] = c;
    }
    text[43] = '=';
    unsigned char k[33];
    size_t n = 0;
    if (!b64_decode(text, sizeof text, k, sizeof k, &n) || n != 32)
        return WXC_ILLEGAL_AES_KEY;
    memcpy(key, k, 32);
    OPENSSL_cleanse(k, sizeof k);
    return WXC_OK;
}

/* AES-256-CBC over len bytes (a multiple of 32) with IV = key[0:16] and no padding of OpenSSL's. */
static bool cbc(const unsigned char key[32], bool enc, const unsigned char *in, size_t len, unsigned char *out)
{
    if (len > INT32_MAX)
        return false;
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n1 = 0, n2 = 0;
    bool ok = c && EVP_CipherInit_ex(c, EVP_aes_256_cbc(), NULL, key, key, enc ? 1 : 0) == 1 &&
              EVP_CIPHER_CTX_set_padding(c, 0) == 1 && EVP_CipherUpdate(c, out, &n1, in, (int)len) == 1 &&
              EVP_CipherFinal_ex(c, out + n1, &n2) == 1 && (size_t)n1 + (size_t)n2 == len;
    EVP_CIPHER_CTX_free(c);
    return ok;
}

char *wxc_encrypt(const unsigned char key[32], const char *appid, const char *msg, size_t len,
                  const unsigned char *random16, int *rc)
{
    int dummy;
    if (!rc)
        rc = &dummy;
    if (!key) {
        *rc = WXC_ILLEGAL_AES_KEY;
        return NULL;
    }
    if (!appid)
        appid = "";
    size_t idlen = strlen(appid);
    /* msg_len is 4 bytes; the sum below must not wrap, and the cipher takes an int length. */
    if ((!msg && len) || len > UINT32_MAX || len > INT32_MAX - WXC_HEADER - WXC_BLOCK ||
        idlen > INT32_MAX - WXC_HEADER - WXC_BLOCK - len) {
        *rc = WXC_ILLEGAL_BUFFER;
        return NULL;
    }
    size_t body = WXC_HEADER + len + idlen;
    size_t pad = WXC_BLOCK - body % WXC_BLOCK; /* 1..32: a whole block when already aligned */
    size_t total = body + pad;
    unsigned char *plain = malloc(total), *enc = malloc(total);
    if (!plain || !enc)
        log_oom();
    char *out = NULL;
    if (random16) {
        memcpy(plain, random16, WXC_RANDOM);
    } else if (RAND_bytes(plain, WXC_RANDOM) != 1) {
        *rc = WXC_ENCRYPT_AES;
        goto done;
    }
    plain[16] = (unsigned char)(len >> 24);
    plain[17] = (unsigned char)(len >> 16);
    plain[18] = (unsigned char)(len >> 8);
    plain[19] = (unsigned char)len;
    if (len)
        memcpy(plain + WXC_HEADER, msg, len);
    memcpy(plain + WXC_HEADER + len, appid, idlen);
    memset(plain + body, (int)pad, pad);
    if (!cbc(key, true, plain, total, enc)) {
        *rc = WXC_ENCRYPT_AES;
        goto done;
    }
    out = b64_encode(enc, total);
    *rc = WXC_OK;
done:
    OPENSSL_cleanse(plain, total);
    free(plain);
    free(enc);
    return out;
}

char *wxc_decrypt(const unsigned char key[32], const char *appid, const char *b64, size_t *len,
                  char **appid_out, int *rc)
{
    int dummy;
    if (!rc)
        rc = &dummy;
    if (!key) {
        *rc = WXC_ILLEGAL_AES_KEY;
        return NULL;
    }
    if (!b64) {
        *rc = WXC_DECODE_BASE64;
        return NULL;
    }
    size_t tlen = strlen(b64);
    size_t cap = b64_decoded_max(tlen);
    unsigned char *enc = malloc(cap ? cap : 1);
    if (!enc)
        log_oom();
    unsigned char *plain = NULL;
    char *msg = NULL, *id = NULL;
    size_t n = 0;
    if (!b64_decode(b64, tlen, enc, cap, &n)) {
        *rc = WXC_DECODE_BASE64;
        goto done;
    }
    /* Whole 32-byte blocks only: WeChat never sends anything else, and the 16-byte padding some
     * libraries accept would not pass the pad check below anyway. */
    if (n == 0 || n % WXC_BLOCK != 0 || n > INT32_MAX) {
        *rc = WXC_DECRYPT_AES;
        goto done;
    }
    plain = malloc(n);
    if (!plain)
        log_oom();
    if (!cbc(key, false, enc, n, plain)) {
        *rc = WXC_DECRYPT_AES;
        goto done;
    }
    /* Everything below is read from bytes an attacker may have chosen: each length is checked
     * against what is there before it is used. */
    size_t pad = plain[n - 1];
    bool pad_ok = pad >= 1 && pad <= WXC_BLOCK && pad <= n - WXC_HEADER;
    for (size_t i = 1; pad_ok && i <= pad; i++)
        pad_ok = plain[n - i] == pad;
    if (!pad_ok) {
        *rc = WXC_ILLEGAL_BUFFER;
        goto done;
    }
    size_t body = n - pad; /* >= WXC_HEADER */
    size_t mlen = (size_t)plain[16] << 24 | (size_t)plain[17] << 16 | (size_t)plain[18] << 8 | plain[19];
    if (mlen > body - WXC_HEADER) {
        *rc = WXC_ILLEGAL_BUFFER;
        goto done;
    }
    const unsigned char *idp = plain + WXC_HEADER + mlen;
    size_t idlen = body - WXC_HEADER - mlen;
    if (memchr(idp, '\0', idlen)) {
        *rc = WXC_ILLEGAL_BUFFER;
        goto done;
    }
    if (appid && (strlen(appid) != idlen || memcmp(appid, idp, idlen) != 0)) {
        *rc = WXC_VALIDATE_APPID;
        goto done;
    }
    msg = malloc(mlen + 1);
    if (!msg)
        log_oom();
    memcpy(msg, plain + WXC_HEADER, mlen);
    msg[mlen] = '\0';
    if (!appid && appid_out) {
        id = malloc(idlen + 1);
        if (!id)
            log_oom();
        memcpy(id, idp, idlen);
        id[idlen] = '\0';
        *appid_out = id;
    }
    if (len)
        *len = mlen;
    *rc = WXC_OK;
done:
    if (plain) {
        OPENSSL_cleanse(plain, n);
        free(plain);
    }
    free(enc);
    return msg;
}

const char *wxc_strerror(int rc)
{
    switch (rc) {
    case WXC_OK: return "OK";
    case WXC_VALIDATE_SIGNATURE: return "ValidateSignatureError";
    case WXC_PARSE_XML: return "ParseXmlError";
    case WXC_COMPUTE_SIGNATURE: return "ComputeSignatureError";
    case WXC_ILLEGAL_AES_KEY: return "IllegalAesKey";
    case WXC_VALIDATE_APPID: return "ValidateAppidError";
    case WXC_ENCRYPT_AES: return "EncryptAESError";
    case WXC_DECRYPT_AES: return "DecryptAESError";
    case WXC_ILLEGAL_BUFFER: return "IllegalBuffer";
    case WXC_ENCODE_BASE64: return "EncodeBase64Error";
    case WXC_DECODE_BASE64: return "DecodeBase64Error";
    case WXC_GEN_RETURN_XML: return "GenReturnXmlError";
    default: return "UnknownError";
    }
}
