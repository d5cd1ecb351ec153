#include "chain.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "log.h"

static int hexval(char c)
{
    return c >= '0' && c <= '9' ? c - '0' : c >= 'a' && c <= 'f' ? c - 'a' + 10 : c >= 'A' && c <= 'F' ? c - 'A' + 10 : -1;
}

bool chain_head_load(chain_head_t *h, const char *motion_id, int height, const char *hash_text)
{
    h->motion_id = motion_id;
    h->height = height;
    memset(h->hash, 0, sizeof h->hash);
    if (!hash_text || !*hash_text)
        return height == 0;
    if (strncmp(hash_text, "\\x", 2) != 0 || strlen(hash_text) != 66)
        return false;
    for (int i = 0; i < 32; i++) {
        int a = hexval(hash_text[2 + 2 * i]), b = hexval(hash_text[3 + 2 * i]);
        if (a < 0 || b < 0)
            return false;
        h->hash[i] = (unsigned char)(a << 4 | b);
    }
    return true;
}

void chain_hex(const unsigned char hash[32], char hex[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", hash[i]);
}

bool chain_append(PGconn *c, chain_head_t *h, const char *type, const json_t *payload, char *err, size_t errsz)
{
    char *text = json_dumps(payload, JSON_COMPACT | JSON_PRESERVE_ORDER);
    if (!text)
        log_oom();
    bool ok = chain_append_text(c, h, type, text, err, errsz);
    free(text);
    return ok;
}

bool chain_append_text(PGconn *c, chain_head_t *h, const char *type, const char *text, char *err, size_t errsz)
{
    int height = h->height + 1;
    char hs[16];
    snprintf(hs, sizeof hs, "%d", height);
    unsigned char next[32];
    unsigned len = 0;
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md)
        log_oom();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, h->hash, 32);
    EVP_DigestUpdate(md, "gridgov-tally-v1\n", 17);
    EVP_DigestUpdate(md, hs, strlen(hs));
    EVP_DigestUpdate(md, "\n", 1);
    EVP_DigestUpdate(md, type, strlen(type));
    EVP_DigestUpdate(md, "\n", 1);
    EVP_DigestUpdate(md, text, strlen(text));
    EVP_DigestFinal_ex(md, next, &len);
    EVP_MD_CTX_free(md);
    char prev_hex[65], hash_hex[65];
    chain_hex(h->hash, prev_hex);
    chain_hex(next, hash_hex);
    const char *p[] = {h->motion_id, hs, type, text, prev_hex, hash_hex};
    PGresult *r = db_pq_exec(c,
                             "INSERT INTO tally.event (motion_id, height, type, payload, prev_hash, hash)"
                             " VALUES ($1::uuid, $2::int, $3, $4, decode($5, 'hex'), decode($6, 'hex'))",
                             6, p, err, errsz, NULL);
    if (!r)
        return false;
    PQclear(r);
    h->height = height;
    memcpy(h->hash, next, 32);
    return true;
}

bool chain_store_head(PGconn *c, const chain_head_t *h, char *err, size_t errsz)
{
    char hs[16], hex[65];
    snprintf(hs, sizeof hs, "%d", h->height);
    chain_hex(h->hash, hex);
    const char *p[] = {h->motion_id, hs, hex};
    PGresult *r = db_pq_exec(c, "UPDATE tally.motion SET head_height = $2::int, head_hash = decode($3, 'hex') WHERE id = $1::uuid",
                             3, p, err, errsz, NULL);
    PQclear(r);
    return r != NULL;
}
