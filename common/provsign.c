#include "provsign.h"

#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <stdbool.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "b64.h"
#include "buf.h"
#include "log.h"

static void put_encoded(buf_t *b, const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        unsigned char c = *p;
        if ((c >= 'A' && c <= 'Z') || (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_' ||
            c == '.' || c == '~') {
            buf_putc(b, (char)c);
        } else {
            char e[3] = {'%', hex[c >> 4], hex[c & 15]};
            buf_append(b, e, 3);
        }
    }
}

char *ps_aliyun_encode(const char *s)
{
    buf_t b = BUF_INIT;
    put_encoded(&b, s ? s : "");
    return buf_detach(&b);
}

static int cmp_param(const void *a, const void *b)
{
    const ps_param_t *x = *(const ps_param_t *const *)a, *y = *(const ps_param_t *const *)b;
    int c = strcmp(x->name, y->name);
    return c ? c : strcmp(x->value ? x->value : "", y->value ? y->value : "");
}

char *ps_aliyun_canonical(const ps_param_t *params, size_t n)
{
    const ps_param_t **sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!sorted)
        log_oom();
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (params[i].name && strcmp(params[i].name, "Signature") != 0)
            sorted[k++] = &params[i];
    qsort(sorted, k, sizeof *sorted, cmp_param);
    buf_t b = BUF_INIT;
    for (size_t i = 0; i < k; i++) {
        if (i)
            buf_putc(&b, '&');
        put_encoded(&b, sorted[i]->name);
        buf_putc(&b, '=');
        put_encoded(&b, sorted[i]->value ? sorted[i]->value : "");
    }
    free(sorted);
    return buf_detach(&b);
}

/* HMAC with md of data under key; out holds EVP_MAX_MD_SIZE bytes. Only out of memory fails. */
static unsigned hmac(const EVP_MD *md, const void *key, size_t keylen, const void *data, size_t len,
                     unsigned char *out)
{
    unsigned n = 0;
    if (keylen > INT32_MAX || !HMAC(md, key, (int)keylen, data, len, out, &n))
        log_oom();
    return n;
}

char *ps_aliyun_signature(const char *method, const char *access_key_secret, const ps_param_t *params, size_t n)
{
    char *canonical = ps_aliyun_canonical(params, n);
    buf_t sts = BUF_INIT;
    buf_puts(&sts, method ? method : "");
    buf_puts(&sts, "&%2F&");
    put_encoded(&sts, canonical);
    free(canonical);
    buf_t key = BUF_INIT;
    buf_puts(&key, access_key_secret ? access_key_secret : "");
    buf_putc(&key, '&');
    unsigned char mac[EVP_MAX_MD_SIZE];
    unsigned mlen = hmac(EVP_sha1(), buf_str(&key), key.len, buf_str(&sts), sts.len, mac);
    buf_free(&key);
    buf_free(&sts);
    return b64_encode(mac, mlen);
}

static void hex(const unsigned char *in, size_t n, char *out)
{
    static const char digits[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = digits[in[i] >> 4];
        out[2 * i + 1] = digits[in[i] & 15];
    }
    out[2 * n] = '\0';
}

void ps_sha256_hex(const char *s, size_t len, char out[65])
{
    unsigned char md[EVP_MAX_MD_SIZE];
    unsigned n = 0;
    if (EVP_Digest(s ? s : "", s ? len : 0, md, &n, EVP_sha256(), NULL) != 1 || n != 32)
        log_oom();
    hex(md, 32, out);
}

bool ps_tc3_date(int64_t ts, char out[11])
{
    time_t t = (time_t)ts;
    struct tm tm;
    return (int64_t)t == ts && gmtime_r(&t, &tm) && tm.tm_year >= 1 - 1900 && tm.tm_year <= 9999 - 1900 &&
           strftime(out, 11, "%Y-%m-%d", &tm) == 10;
}

char *ps_tc3_canonical_request(const char *host, const char *content_type, const char *payload, size_t payload_len)
{
    char hashed[65];
    ps_sha256_hex(payload, payload_len, hashed);
    buf_t b = BUF_INIT;
    buf_printf(&b, "POST\n/\n\ncontent-type:%s\nhost:%s\n\ncontent-type;host\n%s", content_type ? content_type : "",
               host ? host : "", hashed);
    return buf_detach(&b);
}

char *ps_tc3_signature(const char *secret_key, const char *service, const char *host, const char *content_type,
                       const char *payload, size_t payload_len, int64_t ts)
{
    char date[11];
    if (!ps_tc3_date(ts, date))
        return NULL;
    if (!service)
        service = "";
    char *canonical = ps_tc3_canonical_request(host, content_type, payload, payload_len);
    char hashed[65];
    ps_sha256_hex(canonical, strlen(canonical), hashed);
    free(canonical);
    buf_t sts = BUF_INIT;
    buf_printf(&sts, "TC3-HMAC-SHA256\n%lld\n%s/%s/tc3_request\n%s", (long long)ts, date, service, hashed);
    buf_t key = BUF_INIT;
    buf_printf(&key, "TC3%s", secret_key ? secret_key : "");
    unsigned char k1[EVP_MAX_MD_SIZE], k2[EVP_MAX_MD_SIZE], k3[EVP_MAX_MD_SIZE], sig[EVP_MAX_MD_SIZE];
    unsigned n = hmac(EVP_sha256(), buf_str(&key), key.len, date, strlen(date), k1);
    n = hmac(EVP_sha256(), k1, n, service, strlen(service), k2);
    n = hmac(EVP_sha256(), k2, n, "tc3_request", strlen("tc3_request"), k3);
    n = hmac(EVP_sha256(), k3, n, buf_str(&sts), sts.len, sig);
    buf_free(&key);
    buf_free(&sts);
    char *out = malloc(2 * n + 1);
    if (!out)
        log_oom();
    hex(sig, n, out);
    return out;
}

char *ps_tc3_authorization(const char *secret_id, const char *secret_key, const char *service, const char *host,
                           const char *content_type, const char *payload, size_t payload_len, int64_t ts)
{
    char date[11];
    char *sig = ps_tc3_signature(secret_key, service, host, content_type, payload, payload_len, ts);
    if (!sig || !ps_tc3_date(ts, date)) {
        free(sig);
        return NULL;
    }
    buf_t b = BUF_INIT;
    buf_printf(&b, "TC3-HMAC-SHA256 Credential=%s/%s/%s/tc3_request, SignedHeaders=content-type;host, Signature=%s",
               secret_id ? secret_id : "", date, service ? service : "", sig);
    free(sig);
    return buf_detach(&b);
}
