#include "b64.h"

#include <stdint.h>
#include <stdlib.h>

#include "log.h"

static const char ALPHABET[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

char *b64_encode(const unsigned char *in, size_t n)
{
    if (n > (SIZE_MAX - 1) / 4 * 3 - 3)
        log_oom();
    size_t olen = (n + 2) / 3 * 4;
    char *out = malloc(olen + 1);
    if (!out)
        log_oom();
    char *o = out;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)in[i] << 16 | (uint32_t)in[i + 1] << 8 | in[i + 2];
        *o++ = ALPHABET[v >> 18 & 63];
        *o++ = ALPHABET[v >> 12 & 63];
        *o++ = ALPHABET[v >> 6 & 63];
        *o++ = ALPHABET[v & 63];
    }
    if (i < n) {
        uint32_t v = (uint32_t)in[i] << 16 | (i + 1 < n ? (uint32_t)in[i + 1] << 8 : 0);
        *o++ = ALPHABET[v >> 18 & 63];
        *o++ = ALPHABET[v >> 12 & 63];
        *o++ = i + 1 < n ? ALPHABET[v >> 6 & 63] : '=';
        *o++ = '=';
    }
    *o = '\0';
    return out;
}

/* The 6-bit value of a character of the alphabet, -1 for anything else ('=' included). */
static int value(unsigned char c)
{
    if (c >= 'A' && c <= 'Z')
        return c - 'A';
    if (c >= 'a' && c <= 'z')
        return c - 'a' + 26;
    if (c >= '0' && c <= '9')
        return c - '0' + 52;
    if (c == '+')
        return 62;
    if (c == '/')
        return 63;
    return -1;
}

bool b64_decode(const char *in, size_t len, unsigned char *out, size_t cap, size_t *outlen)
{
    if (!in || len % 4 != 0)
        return false;
    const unsigned char *s = (const unsigned char *)in;
    size_t pad = 0;
    if (len >= 4 && s[len - 1] == '=')
        pad = s[len - 2] == '=' ? 2 : 1;
    size_t n = len / 4 * 3 - pad;
    if (n > cap)
        return false;
    /* Check every character before writing a byte, so a refused text leaves out as it was. */
    for (size_t i = 0; i < len - pad; i++)
        if (value(s[i]) < 0)
            return false;
    size_t o = 0;
    for (size_t i = 0; i < len; i += 4) {
        uint32_t v = 0;
        for (size_t k = 0; k < 4; k++)
            v = v << 6 | (i + k < len - pad ? (uint32_t)value(s[i + k]) : 0);
        out[o++] = (unsigned char)(v >> 16);
        if (o < n)
            out[o++] = (unsigned char)(v >> 8);
        if (o < n)
            out[o++] = (unsigned char)v;
    }
    *outlen = n;
    return true;
}
