#include "secret.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

static void to_hex(const unsigned char *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

bool secret_new(char out[SECRET_HEX_LEN])
{
    unsigned char raw[32];
    if (RAND_bytes(raw, sizeof raw) != 1)
        return false;
    to_hex(raw, sizeof raw, out);
    return true;
}

void secret_hash_hex(const char *secret, char out[SECRET_HEX_LEN])
{
    unsigned char md[32];
    unsigned int n = 0;
    EVP_Digest(secret, strlen(secret), md, &n, EVP_sha256(), NULL);
    to_hex(md, sizeof md, out);
}
