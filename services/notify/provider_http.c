#include "provider_http.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "log.h"

CURL *ph_easy(const char *url, const struct curl_slist *headers, const char *body, size_t len, long timeout_ms)
{
    CURL *e = curl_easy_init();
    if (!e)
        log_oom();
    curl_easy_setopt(e, CURLOPT_URL, url);
    /* a provider URL comes from the configuration or is built here: never follow elsewhere */
    curl_easy_setopt(e, CURLOPT_PROTOCOLS_STR, "http,https");
    curl_easy_setopt(e, CURLOPT_FOLLOWLOCATION, 0L);
    curl_easy_setopt(e, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(e, CURLOPT_TIMEOUT_MS, timeout_ms);
    curl_easy_setopt(e, CURLOPT_CONNECTTIMEOUT_MS, timeout_ms);
    if (headers)
        curl_easy_setopt(e, CURLOPT_HTTPHEADER, headers);
    if (body) {
        curl_easy_setopt(e, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)len);
        curl_easy_setopt(e, CURLOPT_COPYPOSTFIELDS, body);
    } else {
        curl_easy_setopt(e, CURLOPT_HTTPGET, 1L);
    }
    return e;
}

static void copy_cut(char *dst, size_t dstsz, const char *src)
{
    size_t n = src ? strlen(src) : 0;
    n = ph_utf8_prefix(src ? src : "", n, dstsz - 1);
    if (n)
        memcpy(dst, src, n);
    dst[n] = '\0';
}

void ph_outcome(outcome_t *out, outcome_kind_t kind, const char *code, const char *detail)
{
    out->kind = kind;
    copy_cut(out->code, sizeof out->code, code);
    copy_cut(out->detail, sizeof out->detail, detail);
    log_mask_phones(out->detail);
    log_mask_phones(out->code);
}

bool ph_transport_failed(CURLcode rc, long http_status, outcome_t *out)
{
    char code[64];
    if (rc != CURLE_OK) {
        if (rc == CURLE_OPERATION_TIMEDOUT)
            snprintf(code, sizeof code, "timeout");
        else
            snprintf(code, sizeof code, "curl %d", (int)rc);
        ph_outcome(out, OUTCOME_RETRY, code, curl_easy_strerror(rc));
        return true;
    }
    if (http_status >= 500 || http_status < 100) {
        snprintf(code, sizeof code, "http %ld", http_status);
        ph_outcome(out, OUTCOME_RETRY, code, "the provider failed");
        return true;
    }
    return false;
}

json_t *ph_json_object(const char *body, size_t len, long http_status, outcome_t *out)
{
    json_t *root = body ? json_loadb(body, len, 0, NULL) : NULL;
    if (json_is_object(root))
        return root;
    json_decref(root);
    char code[64];
    if (http_status != 200)
        snprintf(code, sizeof code, "http %ld", http_status);
    else
        snprintf(code, sizeof code, "bad answer");
    ph_outcome(out, OUTCOME_RETRY, code, "the answer is not a JSON object");
    return NULL;
}

outcome_kind_t ph_kind_of(const ph_code_t *table, size_t n, const char *code, outcome_kind_t unknown)
{
    for (size_t i = 0; i < n; i++) {
        size_t len = strlen(table[i].code);
        if (len && table[i].code[len - 1] == '*') {
            if (strncmp(code, table[i].code, len - 1) == 0)
                return table[i].kind;
        } else if (strcmp(code, table[i].code) == 0) {
            return table[i].kind;
        }
    }
    return unknown;
}

outcome_kind_t ph_kind_of_errcode(const ph_errcode_t *table, size_t n, long errcode, outcome_kind_t unknown)
{
    for (size_t i = 0; i < n; i++)
        if (table[i].errcode == errcode)
            return table[i].kind;
    return unknown;
}

json_t *ph_wx_answer(const char *body, size_t len, long http_status, const ph_errcode_t *table, size_t n,
                     outcome_kind_t unknown, outcome_t *out)
{
    json_t *root = ph_json_object(body, len, http_status, out);
    if (!root)
        return NULL;
    json_t *ec = json_object_get(root, "errcode");
    const char *msg = json_string_value(json_object_get(root, "errmsg"));
    if (ec && !json_is_integer(ec)) {
        ph_outcome(out, OUTCOME_RETRY, "bad answer", "errcode is not a number");
        return root;
    }
    long errcode = ec ? (long)json_integer_value(ec) : 0;
    char code[32];
    snprintf(code, sizeof code, "%ld", errcode);
    if (errcode == 0)
        ph_outcome(out, OUTCOME_SENT, code, msg ? msg : "ok");
    else
        ph_outcome(out, ph_kind_of_errcode(table, n, errcode, unknown), code, msg ? msg : "");
    return root;
}

int ph_ms_to_next_minute(int64_t now_s)
{
    int64_t into = now_s % 60;
    if (into < 0)
        into += 60;
    int ms = (int)(60 - into) * 1000;
    return ms < 1000 ? 1000 : ms;
}

size_t ph_utf8_prefix(const char *s, size_t len, size_t max)
{
    if (len <= max)
        return len;
    size_t n = max;
    /* back off continuation bytes (10xxxxxx): the cut lands before a lead byte */
    while (n > 0 && ((unsigned char)s[n] & 0xC0) == 0x80)
        n--;
    return n;
}

char *ph_shorten(const char *s, size_t max)
{
    static const char ellipsis[] = "\xE2\x80\xA6"; /* … */
    size_t len = strlen(s);
    if (len <= max)
        return ph_strdup(s);
    size_t keep = ph_utf8_prefix(s, len, max - (sizeof ellipsis - 1));
    char *r = malloc(keep + sizeof ellipsis);
    if (!r)
        log_oom();
    memcpy(r, s, keep);
    memcpy(r + keep, ellipsis, sizeof ellipsis);
    return r;
}

char *ph_urlencode(const char *s)
{
    static const char hex[] = "0123456789ABCDEF";
    buf_t b = BUF_INIT;
    buf_puts(&b, "");
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'A' && *p <= 'Z') || (*p >= 'a' && *p <= 'z') || (*p >= '0' && *p <= '9') || *p == '-' ||
            *p == '_' || *p == '.' || *p == '~') {
            buf_putc(&b, (char)*p);
        } else {
            char e[3] = {'%', hex[*p >> 4], hex[*p & 15]};
            buf_append(&b, e, 3);
        }
    }
    return buf_detach(&b);
}

char *ph_url(const char *base, const char *path, ...)
{
    buf_t b = BUF_INIT;
    size_t blen = strlen(base);
    while (blen > 0 && base[blen - 1] == '/')
        blen--;
    buf_append(&b, base, blen);
    buf_puts(&b, path);
    va_list ap;
    va_start(ap, path);
    char sep = '?';
    const char *name;
    while ((name = va_arg(ap, const char *)) != NULL) {
        const char *value = va_arg(ap, const char *);
        char *enc = ph_urlencode(value ? value : "");
        buf_printf(&b, "%c%s=%s", sep, name, enc);
        free(enc);
        sep = '&';
    }
    va_end(ap);
    return buf_detach(&b);
}

char *ph_strdup(const char *s)
{
    char *r = strdup(s ? s : "");
    if (!r)
        log_oom();
    return r;
}

const char *ph_cfg(const char *v)
{
    return v ? v : "";
}

void ph_headers_cancel(provider_t *self, void *call)
{
    (void)self;
    curl_slist_free_all(call);
}
