#include "rating_code.h"

#include <ctype.h>
#include <openssl/crypto.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <stdio.h>
#include <string.h>

#include "db.h"

static const char ALPHABET[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"; /* Crockford's base32 */

static void to_hex(const unsigned char *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static bool from_hex(const char *hex, unsigned char *out, size_t n)
{
    if (strlen(hex) != 2 * n)
        return false;
    for (size_t i = 0; i < n; i++) {
        unsigned v;
        if (sscanf(hex + 2 * i, "%2x", &v) != 1)
            return false;
        out[i] = (unsigned char)v;
    }
    return true;
}

static void digest(const unsigned char salt[16], const char code[RATING_CODE_LEN], unsigned char md[32])
{
    unsigned char in[16 + RATING_CODE_LEN];
    unsigned int n = 0;
    memcpy(in, salt, 16);
    memcpy(in + 16, code, RATING_CODE_LEN);
    EVP_Digest(in, sizeof in, md, &n, EVP_sha256(), NULL);
}

bool rating_code_issue(rating_code_t *out)
{
    unsigned char raw[RATING_CODE_LEN], salt[16], md[32];
    if (RAND_bytes(raw, sizeof raw) != 1 || RAND_bytes(salt, sizeof salt) != 1)
        return false;
    for (int i = 0; i < RATING_CODE_LEN; i++)
        out->code[i] = ALPHABET[raw[i] & 31]; /* 256 is a multiple of 32: uniform */
    out->code[RATING_CODE_LEN] = '\0';
    digest(salt, out->code, md);
    to_hex(salt, sizeof salt, out->salt_hex);
    to_hex(md, sizeof md, out->hash_hex);
    return true;
}

bool rating_code_normalize(const char *typed, char out[RATING_CODE_LEN + 1])
{
    size_t n = 0;
    for (const char *p = typed; *p; p++) {
        char ch = (char)toupper((unsigned char)*p);
        if (ch == ' ' || ch == '-')
            continue;
        if (ch == 'O')
            ch = '0';
        else if (ch == 'I' || ch == 'L')
            ch = '1';
        if (n == RATING_CODE_LEN || !strchr(ALPHABET, ch) || !ch)
            return false;
        out[n++] = ch;
    }
    out[n] = '\0';
    return n == RATING_CODE_LEN;
}

rc_verdict_t rating_code_verify(PGconn *c, const char *ticket_code, const char *typed, char *err, size_t errsz)
{
    const char *p[] = {ticket_code};
    PGresult *r = db_pq_exec(c,
                             "SELECT encode(k.salt, 'hex'), encode(k.code_sha256, 'hex') FROM intake.ticket t"
                             " JOIN intake.rating_code k ON k.ticket_id = t.id WHERE t.code = $1",
                             1, p, err, errsz, NULL);
    if (!r)
        return RC_UNAVAILABLE;
    /* Without a stored code the same work is done against nothing that can match, so the answer
     * takes as long whatever was wrong. */
    unsigned char salt[16] = {0}, want[32] = {0}, got[32];
    bool stored = PQntuples(r) == 1 && from_hex(PQgetvalue(r, 0, 0), salt, sizeof salt) &&
                  from_hex(PQgetvalue(r, 0, 1), want, sizeof want);
    PQclear(r);
    char code[RATING_CODE_LEN + 1];
    bool shaped = rating_code_normalize(typed, code);
    if (!shaped)
        memset(code, '0', RATING_CODE_LEN);
    digest(salt, code, got);
    bool same = CRYPTO_memcmp(got, want, sizeof got) == 0;
    return stored && shaped && same ? RC_MATCH : RC_REFUSED;
}
