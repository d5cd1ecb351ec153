#include "credential.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

static const char ALPHABET[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";

/* n characters of 5 random bits each (n <= 16: 80 bits from 10 bytes) */
static void random_base32(char *out, size_t n)
{
    unsigned char b[10];
    if (RAND_bytes(b, sizeof b) != 1) {
        log_error("RAND_bytes failed: no randomness for credentials");
        abort();
    }
    uint64_t hi = 0;
    for (int i = 0; i < 8; i++)
        hi = hi << 8 | b[i];
    unsigned lo = (unsigned)b[8] << 8 | b[9];
    /* 80 bits as hi (64) then lo (16): character i takes bits [5i, 5i+5) from the top */
    for (size_t i = 0; i < n; i++) {
        size_t bit = 5 * i;
        unsigned v;
        if (bit + 5 <= 64)
            v = (unsigned)(hi >> (59 - bit)) & 31;
        else if (bit >= 64)
            v = (lo >> (11 - (bit - 64))) & 31;
        else /* straddles: bits from the end of hi and the start of lo */
            v = (unsigned)((hi << (bit + 5 - 64)) | (lo >> (16 - (bit + 5 - 64)))) & 31;
        out[i] = ALPHABET[v];
    }
    out[n] = '\0';
}

void credential_new(char out[CREDENTIAL_LEN + 1]) { random_base32(out, CREDENTIAL_LEN); }

void tracker_new(char out[TRACKER_LEN + 1]) { random_base32(out, TRACKER_LEN); }

bool credential_normalize(const char *in, char out[CREDENTIAL_LEN + 1])
{
    size_t n = 0;
    for (const char *p = in; *p; p++) {
        char c = *p;
        if (c == '-' || c == ' ')
            continue;
        if (c >= 'a' && c <= 'z')
            c = (char)(c - 'a' + 'A');
        if (!strchr(ALPHABET, c) || c == '\0' || n == CREDENTIAL_LEN)
            return false;
        out[n++] = c;
    }
    out[n] = '\0';
    return n == CREDENTIAL_LEN;
}

void credential_hash_hex(const char cred[CREDENTIAL_LEN + 1], char hex[65])
{
    unsigned char md[32];
    unsigned len = 0;
    EVP_Digest(cred, CREDENTIAL_LEN, md, &len, EVP_sha256(), NULL);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", md[i]);
}

void credential_grouped(const char cred[CREDENTIAL_LEN + 1], char out[CREDENTIAL_LEN + 4])
{
    snprintf(out, CREDENTIAL_LEN + 4, "%.4s-%.4s-%.4s-%.4s", cred, cred + 4, cred + 8, cred + 12);
}
