/* common/wxcrypt against every WeChat/WeCom vector in tests/vectors/provider-vectors.json, and
 * against hostile ciphertexts built here with OpenSSL directly (not through wxcrypt): each one is
 * refused with its WXC_* code and leaves the caller's outputs as they were. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <openssl/evp.h>
#include <stdlib.h>
#include <string.h>

#include "vectors.h"
#include "wxcrypt.h"

static const char *appid_of(const json_t *v)
{
    const char *a = json_string_value(json_object_get(v, "appid"));
    return a ? a : h_vstr(v, "receive_id");
}

static void key_of(const json_t *v, unsigned char key[32])
{
    assert_int_equal(wxc_aes_key(h_vstr(v, "encoding_aes_key"), key), WXC_OK);
}

/* ---- signatures ---- */

static void url_verification_signatures_are_the_published_ones(void **state)
{
    (void)state;
    json_t *list = h_varray(h_vectors(), "wechat_url_verification");
    assert_true(json_array_size(list) >= 2);
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) {
        const char *token = h_vstr(v, "token"), *ts = h_vstr(v, "timestamp"), *nonce = h_vstr(v, "nonce");
        const char *want = h_vstr(v, "signature");
        char sig[WXC_SIG_HEX];
        wxc_signature(token, ts, nonce, NULL, sig);
        assert_string_equal(sig, want);
        assert_true(wxc_signature_ok(token, ts, nonce, NULL, want));
        /* upper-case hex is the same signature */
        char upper[WXC_SIG_HEX];
        for (int k = 0; k < WXC_SIG_HEX; k++)
            upper[k] = (char)(want[k] >= 'a' && want[k] <= 'f' ? want[k] - 32 : want[k]);
        assert_true(wxc_signature_ok(token, ts, nonce, NULL, upper));
        /* any other token, timestamp, nonce or signature is refused */
        assert_false(wxc_signature_ok("AAAAB", ts, nonce, NULL, want));
        assert_false(wxc_signature_ok(token, "1714036505", nonce, NULL, want));
        assert_false(wxc_signature_ok(token, ts, "0", NULL, want));
        char bad[WXC_SIG_HEX];
        memcpy(bad, want, sizeof bad);
        bad[39] = bad[39] == '0' ? '1' : '0';
        assert_false(wxc_signature_ok(token, ts, nonce, NULL, bad));
        assert_false(wxc_signature_ok(token, ts, nonce, NULL, NULL));
        assert_false(wxc_signature_ok(token, ts, nonce, NULL, ""));
        char shorter[WXC_SIG_HEX];
        memcpy(shorter, want, sizeof shorter);
        shorter[39] = '\0';
        assert_false(wxc_signature_ok(token, ts, nonce, NULL, shorter));
        char longer[WXC_SIG_HEX + 1];
        snprintf(longer, sizeof longer, "%s0", want);
        assert_false(wxc_signature_ok(token, ts, nonce, NULL, longer));
    }
}

/* Every entry with a msg_signature (B, B2, C, D, E, E-reply): the signature over its Encrypt. */
static void msg_signatures_are_the_published_ones(void **state)
{
    (void)state;
    size_t i, checked = 0;
    json_t *v;
    json_array_foreach(h_varray(h_vectors(), "wechat_aes"), i, v) {
        if (!json_object_get(v, "msg_signature"))
            continue;
        const char *token = h_vstr(v, "token"), *ts = h_vstr(v, "timestamp"), *nonce = h_vstr(v, "nonce");
        const char *enc = h_vstr(v, "encrypt"), *want = h_vstr(v, "msg_signature");
        char sig[WXC_SIG_HEX];
        wxc_signature(token, ts, nonce, enc, sig);
        assert_string_equal(sig, want);
        assert_true(wxc_signature_ok(token, ts, nonce, enc, want));
        /* the three-part signature is another one: Encrypt is part of what is signed */
        assert_false(wxc_signature_ok(token, ts, nonce, NULL, want));
        char *changed = strdup(enc);
        changed[0] = changed[0] == 'A' ? 'B' : 'A';
        assert_false(wxc_signature_ok(token, ts, nonce, changed, want));
        free(changed);
        checked++;
    }
    assert_int_equal(checked, 6);
}

/* ---- the vectors' ciphertexts ---- */

/* Every entry with a fixed random (A1, A2, E-reply) encrypts to the published text. */
static void encrypt_with_fixed_random_gives_the_published_text(void **state)
{
    (void)state;
    size_t i, checked = 0;
    json_t *v;
    json_array_foreach(h_varray(h_vectors(), "wechat_aes"), i, v) {
        if (!json_object_get(v, "random"))
            continue;
        unsigned char key[32];
        key_of(v, key);
        const char *random = h_vstr(v, "random"), *plain = h_vstr(v, "plaintext");
        assert_int_equal(strlen(random), 16);
        int rc = 1;
        char *enc = wxc_encrypt(key, appid_of(v), plain, strlen(plain), (const unsigned char *)random, &rc);
        assert_int_equal(rc, WXC_OK);
        assert_non_null(enc);
        assert_string_equal(enc, h_vstr(v, "encrypt"));
        free(enc);
        checked++;
    }
    assert_int_equal(checked, 3);
}

/* Every entry (A1 … E-reply) decrypts to its plaintext with its appid, byte for byte (the
 * newlines between the tags of C and D included). */
static void every_published_text_decrypts_to_its_plaintext(void **state)
{
    (void)state;
    json_t *list = h_varray(h_vectors(), "wechat_aes");
    assert_int_equal(json_array_size(list), 8);
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v) {
        unsigned char key[32];
        key_of(v, key);
        const char *plain = h_vstr(v, "plaintext"), *id = appid_of(v);
        size_t len = 12345;
        char *appid = NULL;
        int rc = 1;
        char *msg = wxc_decrypt(key, id, h_vstr(v, "encrypt"), &len, &appid, &rc);
        assert_int_equal(rc, WXC_OK);
        assert_non_null(msg);
        assert_int_equal(len, strlen(plain));
        assert_memory_equal(msg, plain, len);
        assert_int_equal(msg[len], '\0');
        assert_null(appid); /* checked, not returned */
        free(msg);
        /* without an appid to check: the one inside is handed back */
        msg = wxc_decrypt(key, NULL, h_vstr(v, "encrypt"), &len, &appid, &rc);
        assert_int_equal(rc, WXC_OK);
        assert_string_equal(msg, plain);
        assert_string_equal(appid, id);
        free(msg);
        free(appid);
        /* someone else's appid */
        len = 777;
        appid = (char *)"untouched";
        msg = wxc_decrypt(key, "wx0000000000000000", h_vstr(v, "encrypt"), &len, &appid, &rc);
        assert_null(msg);
        assert_int_equal(rc, WXC_VALIDATE_APPID);
        assert_int_equal(len, 777);
        assert_string_equal(appid, "untouched");
    }
}

/* ---- keys ---- */

static void aes_key_is_exactly_43_alphanumerics(void **state)
{
    (void)state;
    unsigned char key[32];
    /* E's key, 43 'A's, is the all-zero key */
    assert_int_equal(wxc_aes_key("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA", key), WXC_OK);
    for (int i = 0; i < 32; i++)
        assert_int_equal(key[i], 0);
    /* base64 "abcd…G=" → 69 b7 1d 79 … (the first bytes of the decoding of "abcd") */
    assert_int_equal(wxc_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", key), WXC_OK);
    assert_int_equal(key[0], 0x69);
    assert_int_equal(key[1], 0xb7);
    assert_int_equal(key[2], 0x1d);

    const char *bad[] = {
        NULL,
        "",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF",    /* 42 */
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFGH",  /* 44 */
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF+",   /* base64 but not alphanumeric */
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF/",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDEF=",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCDE-_",
        "abcdefghijklmnopqrstuvwxyz0123456789ABCD G",
        "abcdefghijklmnopqrstuvwxyz0123456789ABC\xe4\xb8",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        memset(key, 0x5a, sizeof key);
        assert_int_equal(wxc_aes_key(bad[i], key), WXC_ILLEGAL_AES_KEY);
        for (int k = 0; k < 32; k++)
            assert_int_equal(key[k], 0x5a);
    }
}

/* ---- round trips and our own padding ---- */

static unsigned char *raw_cbc(const unsigned char key[32], int enc, const unsigned char *in, int len)
{
    unsigned char *out = malloc((size_t)len + 32);
    EVP_CIPHER_CTX *c = EVP_CIPHER_CTX_new();
    int n1 = 0, n2 = 0;
    assert_int_equal(EVP_CipherInit_ex(c, EVP_aes_256_cbc(), NULL, key, key, enc), 1);
    EVP_CIPHER_CTX_set_padding(c, 0);
    assert_int_equal(EVP_CipherUpdate(c, out, &n1, in, len), 1);
    assert_int_equal(EVP_CipherFinal_ex(c, out + n1, &n2), 1);
    assert_int_equal(n1 + n2, len);
    EVP_CIPHER_CTX_free(c);
    return out;
}

static char *raw_b64(const unsigned char *in, int len)
{
    char *out = malloc((size_t)len / 3 * 4 + 8);
    EVP_EncodeBlock((unsigned char *)out, in, len);
    return out;
}

static unsigned char *raw_unb64(const char *s, int *len)
{
    size_t n = strlen(s);
    unsigned char *out = malloc(n / 4 * 3 + 3);
    int got = EVP_DecodeBlock(out, (const unsigned char *)s, (int)n);
    assert_true(got >= 0);
    *len = got - (n >= 1 && s[n - 1] == '=') - (n >= 2 && s[n - 2] == '=');
    return out;
}

/* Messages of 0 … 100 bytes round trip, and what is inside (decrypted here with OpenSSL alone) is
 * random(16) || len || msg || appid || pad, with pad the 1..32 bytes that reach a multiple of 32. */
static void round_trips_pad_to_32_bytes(void **state)
{
    (void)state;
    unsigned char key[32];
    assert_int_equal(wxc_aes_key("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", key), WXC_OK);
    const char *appid = "wx5823bf96d3bd56c7";
    char msg[101];
    for (size_t len = 0; len <= 100; len++) {
        for (size_t k = 0; k < len; k++)
            msg[k] = (char)('a' + (len + k) % 26);
        msg[len] = '\0';
        int rc = 1;
        char *enc = wxc_encrypt(key, appid, msg, len, NULL, &rc);
        assert_int_equal(rc, WXC_OK);
        int n = 0;
        unsigned char *ct = raw_unb64(enc, &n);
        size_t body = 20 + len + strlen(appid);
        size_t pad = 32 - body % 32;
        assert_int_equal(n, body + pad);
        assert_int_equal(n % 32, 0);
        unsigned char *pt = raw_cbc(key, 0, ct, n);
        assert_int_equal((size_t)pt[16] << 24 | (size_t)pt[17] << 16 | (size_t)pt[18] << 8 | pt[19], len);
        assert_memory_equal(pt + 20, msg, len);
        assert_memory_equal(pt + 20 + len, appid, strlen(appid));
        for (size_t k = body; k < (size_t)n; k++)
            assert_int_equal(pt[k], pad);
        size_t out_len = 99999;
        char *back = wxc_decrypt(key, appid, enc, &out_len, NULL, &rc);
        assert_int_equal(rc, WXC_OK);
        assert_int_equal(out_len, len);
        assert_memory_equal(back, msg, len);
        free(back);
        free(pt);
        free(ct);
        free(enc);
    }
}

static void fresh_random_differs_each_time_and_empty_appid_works(void **state)
{
    (void)state;
    unsigned char key[32];
    assert_int_equal(wxc_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", key), WXC_OK);
    int rc;
    char *a = wxc_encrypt(key, "wx1", "same", 4, NULL, &rc);
    char *b = wxc_encrypt(key, "wx1", "same", 4, NULL, &rc);
    assert_string_not_equal(a, b);
    free(a);
    free(b);
    /* a NULL appid is the empty one WeCom sometimes uses */
    char *e = wxc_encrypt(key, NULL, "x", 1, NULL, &rc);
    assert_int_equal(rc, WXC_OK);
    char *id = NULL;
    char *m = wxc_decrypt(key, NULL, e, NULL, &id, &rc);
    assert_int_equal(rc, WXC_OK);
    assert_string_equal(m, "x");
    assert_string_equal(id, "");
    free(m);
    free(id);
    m = wxc_decrypt(key, "", e, NULL, NULL, NULL);
    assert_string_equal(m, "x");
    free(m);
    free(e);
}

static void encrypt_refuses_what_it_cannot_encrypt(void **state)
{
    (void)state;
    unsigned char key[32] = {0};
    int rc = 0;
    assert_null(wxc_encrypt(NULL, "wx1", "m", 1, NULL, &rc));
    assert_int_equal(rc, WXC_ILLEGAL_AES_KEY);
    rc = 0;
    assert_null(wxc_encrypt(key, "wx1", NULL, 5, NULL, &rc));
    assert_int_equal(rc, WXC_ILLEGAL_BUFFER);
    rc = 0;
    /* longer than the 4-byte msg_len can say: refused before anything is read or allocated */
    assert_null(wxc_encrypt(key, "wx1", "m", (size_t)UINT32_MAX + 1, NULL, &rc));
    assert_int_equal(rc, WXC_ILLEGAL_BUFFER);
    rc = 0;
    assert_null(wxc_encrypt(key, "wx1", "m", SIZE_MAX, NULL, &rc));
    assert_int_equal(rc, WXC_ILLEGAL_BUFFER);
}

/* ---- hostile ciphertexts ---- */

static const char *APPID = "wx2c2769f8efd9abc2";

/* A ciphertext of exactly these plaintext bytes (n a multiple of 16), as base64. */
static char *forge(const unsigned char key[32], const unsigned char *pt, int n)
{
    unsigned char *ct = raw_cbc(key, 1, pt, n);
    char *b = raw_b64(ct, n);
    free(ct);
    return b;
}

/* random(16) || msg_len || msg || appid || pad bytes (value padval, padlen of them), with msg_len
 * written as claimed. Returns the length; buf has room for 256 bytes. */
static int layout(unsigned char *buf, uint32_t claimed, const char *msg, const char *appid, int padval, int padlen)
{
    int n = 0;
    memcpy(buf, "0123456789abcdef", 16);
    n = 16;
    buf[n++] = (unsigned char)(claimed >> 24);
    buf[n++] = (unsigned char)(claimed >> 16);
    buf[n++] = (unsigned char)(claimed >> 8);
    buf[n++] = (unsigned char)claimed;
    memcpy(buf + n, msg, strlen(msg));
    n += (int)strlen(msg);
    memcpy(buf + n, appid, strlen(appid));
    n += (int)strlen(appid);
    memset(buf + n, padval, (size_t)padlen);
    return n + padlen;
}

/* Decrypts b64 expecting code want; the outputs must stay as they were. */
static void refused(const unsigned char key[32], const char *appid, const char *b64, int want)
{
    size_t len = 4242;
    char *id = (char *)"untouched";
    int rc = 1;
    char *m = wxc_decrypt(key, appid, b64, &len, appid ? NULL : &id, &rc);
    if (m)
        print_error("accepted: %s\n", m);
    assert_null(m);
    assert_int_equal(rc, want);
    assert_int_equal(len, 4242);
    assert_string_equal(id, "untouched");
}

static void bad_base64_is_refused(void **state)
{
    (void)state;
    unsigned char key[32];
    json_t *c = json_array_get(h_varray(h_vectors(), "wechat_aes"), 4); /* C */
    assert_string_equal(h_vstr(c, "name"), "C");
    key_of(c, key);
    const char *good = h_vstr(c, "encrypt");
    size_t n = strlen(good);
    char *t = malloc(n + 8);

    refused(key, APPID, NULL, WXC_DECODE_BASE64);
    refused(key, APPID, "!!!!", WXC_DECODE_BASE64);
    refused(key, APPID, "====", WXC_DECODE_BASE64);
    refused(key, APPID, "A===", WXC_DECODE_BASE64);
    refused(key, APPID, "AB=C", WXC_DECODE_BASE64);
    /* a trailing newline, a space inside, a URL-safe character, missing padding, '=' inside */
    snprintf(t, n + 8, "%s\n", good);
    refused(key, APPID, t, WXC_DECODE_BASE64);
    memcpy(t, good, n + 1);
    t[10] = ' ';
    refused(key, APPID, t, WXC_DECODE_BASE64);
    memcpy(t, good, n + 1);
    t[10] = '-';
    refused(key, APPID, t, WXC_DECODE_BASE64);
    memcpy(t, good, n + 1);
    t[n - 1] = '\0'; /* C ends with one '=' */
    refused(key, APPID, t, WXC_DECODE_BASE64);
    memcpy(t, good, n + 1);
    t[8] = '=';
    refused(key, APPID, t, WXC_DECODE_BASE64);
    /* a byte outside ASCII */
    memcpy(t, good, n + 1);
    t[0] = (char)0xe4;
    refused(key, APPID, t, WXC_DECODE_BASE64);
    free(t);
}

static void wrong_lengths_are_refused(void **state)
{
    (void)state;
    unsigned char key[32];
    assert_int_equal(wxc_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", key), WXC_OK);
    unsigned char zeros[96] = {0};
    char *b;
    refused(key, APPID, "", WXC_DECRYPT_AES);
    /* 16 and 48 bytes: whole AES blocks, but not WeChat's 32-byte ones (as npm's libraries pad) */
    b = raw_b64(zeros, 16);
    refused(key, APPID, b, WXC_DECRYPT_AES);
    free(b);
    b = raw_b64(zeros, 48);
    refused(key, APPID, b, WXC_DECRYPT_AES);
    free(b);
    /* not even a block: 1, 31, 33 bytes */
    b = raw_b64(zeros, 1);
    refused(key, APPID, b, WXC_DECRYPT_AES);
    free(b);
    b = raw_b64(zeros, 31);
    refused(key, APPID, b, WXC_DECRYPT_AES);
    free(b);
    b = raw_b64(zeros, 33);
    refused(key, APPID, b, WXC_DECRYPT_AES);
    free(b);

    /* C truncated by one base64 group (3 bytes) and by one AES block (16 bytes) */
    json_t *c = json_array_get(h_varray(h_vectors(), "wechat_aes"), 4);
    int n = 0;
    unsigned char *ct = raw_unb64(h_vstr(c, "encrypt"), &n);
    assert_int_equal(n % 32, 0);
    b = raw_b64(ct, n - 3);
    refused(key, APPID, b, WXC_DECRYPT_AES);
    free(b);
    b = raw_b64(ct, n - 16);
    refused(key, APPID, b, WXC_DECRYPT_AES);
    free(b);
    /* truncated by a whole 32-byte block: what is left decrypts, but its last bytes are no pad */
    b = raw_b64(ct, n - 32);
    refused(key, APPID, b, WXC_ILLEGAL_BUFFER);
    free(b);
    free(ct);
}

static void bad_padding_is_refused(void **state)
{
    (void)state;
    unsigned char key[32];
    assert_int_equal(wxc_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", key), WXC_OK);
    unsigned char pt[256];
    char *b;
    /* 20 + 6 + 18 = 44 bytes of body: the right pad is 20 bytes of 20 */
    int n = layout(pt, 6, "hello!", APPID, 20, 20);
    assert_int_equal(n, 64);
    b = forge(key, pt, n);
    size_t len = 0;
    int rc = 1;
    char *m = wxc_decrypt(key, APPID, b, &len, NULL, &rc); /* the control: this one is good */
    assert_int_equal(rc, WXC_OK);
    assert_string_equal(m, "hello!");
    free(m);
    free(b);

    /* last byte 0 */
    n = layout(pt, 6, "hello!", APPID, 20, 20);
    pt[n - 1] = 0;
    b = forge(key, pt, n);
    refused(key, APPID, b, WXC_ILLEGAL_BUFFER);
    free(b);
    /* last byte 33, and 255 */
    pt[n - 1] = 33;
    b = forge(key, pt, n);
    refused(key, APPID, b, WXC_ILLEGAL_BUFFER);
    free(b);
    pt[n - 1] = 255;
    b = forge(key, pt, n);
    refused(key, APPID, b, WXC_ILLEGAL_BUFFER);
    free(b);
    /* pad bytes that are not all equal to the pad value: the first of the 20, then the middle */
    n = layout(pt, 6, "hello!", APPID, 20, 20);
    pt[n - 20] = 19;
    b = forge(key, pt, n);
    refused(key, APPID, b, WXC_ILLEGAL_BUFFER);
    free(b);
    n = layout(pt, 6, "hello!", APPID, 20, 20);
    pt[n - 10] = 0;
    b = forge(key, pt, n);
    refused(key, APPID, b, WXC_ILLEGAL_BUFFER);
    free(b);
    /* a pad of 32 in a 32-byte text would eat the 20-byte header */
    memset(pt, 32, 32);
    b = forge(key, pt, 32);
    refused(key, APPID, b, WXC_ILLEGAL_BUFFER);
    free(b);
    /* a pad of 13 in a 32-byte text would leave 19 bytes: less than random and msg_len */
    n = layout(pt, 0, "", "", 0, 0);
    memset(pt + 19, 13, 13);
    b = forge(key, pt, 32);
    refused(key, APPID, b, WXC_ILLEGAL_BUFFER);
    free(b);
    /* a 12-byte pad in 32 bytes leaves exactly the header: an empty message, empty appid */
    n = layout(pt, 0, "", "", 12, 12);
    assert_int_equal(n, 32);
    b = forge(key, pt, n);
    m = wxc_decrypt(key, "", b, &len, NULL, &rc);
    assert_int_equal(rc, WXC_OK);
    assert_int_equal(len, 0);
    free(m);
    refused(key, APPID, b, WXC_VALIDATE_APPID);
    free(b);
}

static void msg_len_beyond_the_data_is_refused(void **state)
{
    (void)state;
    unsigned char key[32];
    assert_int_equal(wxc_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", key), WXC_OK);
    unsigned char pt[256];
    char *b;
    /* body 20 + 6 + 18 = 44, pad 20: msg_len may be at most 24 (then the appid is empty) */
    uint32_t claims[] = {25, 100, 0x7fffffff, 0x80000000u, 0xffffffffu};
    for (size_t i = 0; i < sizeof claims / sizeof claims[0]; i++) {
        int n = layout(pt, claims[i], "hello!", APPID, 20, 20);
        b = forge(key, pt, n);
        refused(key, APPID, b, WXC_ILLEGAL_BUFFER);
        refused(key, NULL, b, WXC_ILLEGAL_BUFFER);
        free(b);
    }
    /* msg_len 24 swallows the appid: the message is "hello!wx2c…", the appid empty, not ours */
    int n = layout(pt, 24, "hello!", APPID, 20, 20);
    b = forge(key, pt, n);
    refused(key, APPID, b, WXC_VALIDATE_APPID);
    free(b);
    /* msg_len 5: the appid is "!wx2c…", not ours */
    n = layout(pt, 5, "hello!", APPID, 20, 20);
    b = forge(key, pt, n);
    refused(key, APPID, b, WXC_VALIDATE_APPID);
    free(b);
}

static void wrong_appid_and_wrong_key_are_refused(void **state)
{
    (void)state;
    unsigned char key[32];
    assert_int_equal(wxc_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", key), WXC_OK);
    unsigned char pt[256];
    /* ours as a prefix of theirs, theirs as a prefix of ours, another case */
    int n = layout(pt, 2, "hi", "wx2c2769f8efd9abc23", 23, 23);
    assert_int_equal(n, 64);
    char *b = forge(key, pt, n);
    refused(key, APPID, b, WXC_VALIDATE_APPID);
    free(b);
    n = layout(pt, 2, "hi", "wx2c2769f8efd9abc", 25, 25);
    b = forge(key, pt, n);
    refused(key, APPID, b, WXC_VALIDATE_APPID);
    free(b);
    n = layout(pt, 2, "hi", "WX2C2769F8EFD9ABC2", 24, 24);
    b = forge(key, pt, n);
    refused(key, APPID, b, WXC_VALIDATE_APPID);
    free(b);
    /* ours and a NUL: a C string compare would find it equal; refused as a bad buffer */
    n = layout(pt, 2, "hi", "wx2c2769f8efd9abc2X", 23, 23);
    pt[22 + 18] = '\0';
    b = forge(key, pt, n);
    refused(key, NULL, b, WXC_ILLEGAL_BUFFER);
    refused(key, APPID, b, WXC_ILLEGAL_BUFFER);
    free(b);

    /* C's text under another key: its last bytes are no pad */
    json_t *c = json_array_get(h_varray(h_vectors(), "wechat_aes"), 4);
    unsigned char other[32];
    assert_int_equal(wxc_aes_key("jWmYm7qr5nMoAUwZRjGtBxmz3KA1tkAj3ykkR6q2B2C", other), WXC_OK);
    refused(other, APPID, h_vstr(c, "encrypt"), WXC_ILLEGAL_BUFFER);
    refused(NULL, APPID, h_vstr(c, "encrypt"), WXC_ILLEGAL_AES_KEY);
}

/* 3 MB of base64 that decodes to zeros: decrypted and refused, nothing read out of bounds (the
 * sanitizer build checks), nothing kept. */
static void huge_input_is_refused_without_reading_past_it(void **state)
{
    (void)state;
    unsigned char key[32] = {0};
    size_t n = 3 * 1024 * 1024 / 3 * 4; /* 4 MiB of text, 3 MiB of bytes: a multiple of 32 */
    char *t = malloc(n + 1);
    memset(t, 'A', n);
    t[n] = '\0';
    size_t len = 4242;
    int rc = 1;
    char *m = wxc_decrypt(key, APPID, t, &len, NULL, &rc);
    assert_null(m);
    assert_true(rc == WXC_ILLEGAL_BUFFER || rc == WXC_VALIDATE_APPID);
    assert_int_equal(len, 4242);
    free(t);
}

/* 3000 random texts of 0..8 blocks (whole blocks of random bytes, and blocks whose last bytes
 * look like a pad): each is refused with one of decrypt's codes or, rarely, read within bounds;
 * the sanitizer build checks that nothing is read past. */
static void random_ciphertexts_are_refused_or_read_within_bounds(void **state)
{
    (void)state;
    unsigned char key[32];
    assert_int_equal(wxc_aes_key("abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG", key), WXC_OK);
    unsigned char pt[256];
    int accepted = 0;
    srand(12);
    for (int i = 0; i < 3000; i++) {
        int n = (rand() % 9) * 32;
        for (int k = 0; k < n; k++)
            pt[k] = (unsigned char)rand();
        if (n && i % 2) { /* a plausible pad, so the msg_len and appid checks are reached too */
            int pad = 1 + rand() % 32;
            if (pad > n)
                pad = n;
            memset(pt + n - pad, pad, (size_t)pad);
            pt[16] = pt[17] = 0;
            pt[18] = (unsigned char)(rand() % 2);
        }
        char *b = n ? forge(key, pt, n) : strdup("");
        size_t len = 0;
        char *id = NULL;
        int rc = 1;
        char *m = wxc_decrypt(key, NULL, b, &len, &id, &rc);
        if (m) {
            assert_int_equal(rc, WXC_OK);
            assert_true(len <= (size_t)n);
            assert_true(strlen(id) <= (size_t)n);
            accepted++;
        } else {
            assert_true(rc == WXC_DECRYPT_AES || rc == WXC_ILLEGAL_BUFFER);
            assert_null(id);
        }
        free(m);
        free(id);
        free(b);
    }
    print_message("%d of 3000 random texts read\n", accepted);
}

static void error_names_are_the_official_ones(void **state)
{
    (void)state;
    assert_string_equal(wxc_strerror(WXC_OK), "OK");
    assert_string_equal(wxc_strerror(-40001), "ValidateSignatureError");
    assert_string_equal(wxc_strerror(-40002), "ParseXmlError");
    assert_string_equal(wxc_strerror(-40003), "ComputeSignatureError");
    assert_string_equal(wxc_strerror(-40004), "IllegalAesKey");
    assert_string_equal(wxc_strerror(-40005), "ValidateAppidError");
    assert_string_equal(wxc_strerror(-40006), "EncryptAESError");
    assert_string_equal(wxc_strerror(-40007), "DecryptAESError");
    assert_string_equal(wxc_strerror(-40008), "IllegalBuffer");
    assert_string_equal(wxc_strerror(-40009), "EncodeBase64Error");
    assert_string_equal(wxc_strerror(-40010), "DecodeBase64Error");
    assert_string_equal(wxc_strerror(-40011), "GenReturnXmlError");
    assert_string_equal(wxc_strerror(-1), "UnknownError");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(url_verification_signatures_are_the_published_ones),
        cmocka_unit_test(msg_signatures_are_the_published_ones),
        cmocka_unit_test(encrypt_with_fixed_random_gives_the_published_text),
        cmocka_unit_test(every_published_text_decrypts_to_its_plaintext),
        cmocka_unit_test(aes_key_is_exactly_43_alphanumerics),
        cmocka_unit_test(round_trips_pad_to_32_bytes),
        cmocka_unit_test(fresh_random_differs_each_time_and_empty_appid_works),
        cmocka_unit_test(encrypt_refuses_what_it_cannot_encrypt),
        cmocka_unit_test(bad_base64_is_refused),
        cmocka_unit_test(wrong_lengths_are_refused),
        cmocka_unit_test(bad_padding_is_refused),
        cmocka_unit_test(msg_len_beyond_the_data_is_refused),
        cmocka_unit_test(wrong_appid_and_wrong_key_are_refused),
        cmocka_unit_test(huge_input_is_refused_without_reading_past_it),
        cmocka_unit_test(random_ciphertexts_are_refused_or_read_within_bounds),
        cmocka_unit_test(error_names_are_the_official_ones),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
