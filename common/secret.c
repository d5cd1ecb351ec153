#include "secret.h"

#include <openssl/evp.h>
#include <openssl/rand.h>
#include <pthread.h>
#include <stdio.h>
#include <string.h>

static void to_hex(const unsigned char *b, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[b[i] >> 4];
        out[2 * i + 1] = digits[b[i] & 15];
    }
    out[2 * n] = '\0';
}

/* intake hashes the API key of every request. EVP_sha256() makes OpenSSL 3 look the algorithm up
 * again on each digest (a provider query under a lock); fetched once, it is only the hashing. */
static EVP_MD *g_sha256;
static pthread_once_t g_sha256_once = PTHREAD_ONCE_INIT;

static void fetch_sha256(void) { g_sha256 = EVP_MD_fetch(NULL, "SHA256", NULL); }

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
    pthread_once(&g_sha256_once, fetch_sha256);
    EVP_Digest(secret, strlen(secret), md, &n, g_sha256 ? g_sha256 : EVP_sha256(), NULL);
    to_hex(md, sizeof md, out);
}
