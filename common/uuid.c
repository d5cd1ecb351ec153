#include "uuid.h"

#include <ctype.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdlib.h>
#include <stdio.h>
#include <string.h>

#include "log.h"

/* Stamps the version and the RFC 4122 variant into 16 bytes and formats them. */
static void format(unsigned char b[16], unsigned version, char out[UUID_STR_LEN])
{
    b[6] = (unsigned char)((b[6] & 0x0f) | (version << 4));
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    snprintf(out, UUID_STR_LEN, "%02x%02x%02x%02x-%02x%02x-%02x%02x-%02x%02x-%02x%02x%02x%02x%02x%02x", b[0], b[1],
             b[2], b[3], b[4], b[5], b[6], b[7], b[8], b[9], b[10], b[11], b[12], b[13], b[14], b[15]);
}

void uuid_v4(char out[UUID_STR_LEN])
{
    unsigned char b[16];
    if (RAND_bytes(b, sizeof b) != 1) {
        log_error("no randomness for a UUID");
        abort();
    }
    format(b, 4, out);
}

void uuid_from_name(const char *const *parts, size_t n, char out[UUID_STR_LEN])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned int len = 0;
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    bool ok = c && EVP_DigestInit_ex(c, EVP_sha256(), NULL) == 1;
    for (size_t i = 0; ok && i < n; i++)
        ok = (i == 0 || EVP_DigestUpdate(c, "", 1) == 1) && EVP_DigestUpdate(c, parts[i], strlen(parts[i])) == 1;
    ok = ok && EVP_DigestFinal_ex(c, md, &len) == 1 && len >= 16;
    EVP_MD_CTX_free(c);
    if (!ok) { /* only out of memory makes SHA-256 fail */
        log_error("cannot hash a name for a UUID");
        abort();
    }
    format(md, 5, out);
}

bool uuid_valid(const char *s)
{
    if (!s || strlen(s) != 36)
        return false;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-')
                return false;
        } else if (!isxdigit((unsigned char)s[i])) {
            return false;
        }
    }
    return true;
}
