#include "paging.h"

#include <ctype.h>
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "form.h"

#define DAY_US (86400LL * 1000000)
/* The times a list works with: years 1 to 9999, which PostgreSQL reads back from the text
 * paging_time_text and timefmt_format write (it has no year 0, and a forged cursor or date must
 * answer 400, not fail in SQL). */
#define FIRST_US (-62135596800000000LL) /* 0001-01-01T00:00:00Z */
#define LAST_US 253402300799999999LL    /* 9999-12-31T23:59:59.999999Z */

static bool fail(input_error_t *e, const char *code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

static bool fail(input_error_t *e, const char *code, const char *field, const char *fmt, ...)
{
    e->status = 400;
    snprintf(e->code, sizeof e->code, "%s", code);
    snprintf(e->field, sizeof e->field, "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return false;
}

bool paging_page(const json_t *args, const page_rules_t *rules, long *page, long *page_size, input_error_t *e)
{
    *page = 1;
    *page_size = rules->default_size;
    if (!form_arg_long(args, "page", 1, 1000000, page) || !form_arg_long(args, "page_size", 1, rules->max_size, page_size))
        return fail(e, "invalid_page", "page", "page must be 1 or more and page_size from 1 to %ld", rules->max_size);
    if (*page > PAGING_MAX_ROWS / *page_size)
        return fail(e, "page_too_deep", "page",
                    "page %ld of page_size %ld reaches past the first %d rows of the window (page x page_size <= %d): %s",
                    *page, *page_size, PAGING_MAX_ROWS, PAGING_MAX_ROWS, rules->instead);
    return true;
}

/* ---- cursor: base64url (RFC 4648 section 5, no padding) of "AT_US.ID" ---- */

static const char B64URL[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

void cursor_encode(const cursor_t *c, char out[CURSOR_LEN])
{
    char plain[48];
    int n = snprintf(plain, sizeof plain, "%lld.%lld", (long long)c->at_us, c->id);
    const unsigned char *p = (const unsigned char *)plain;
    size_t o = 0;
    for (int i = 0; i < n; i += 3) {
        unsigned v = (unsigned)p[i] << 16 | (i + 1 < n ? (unsigned)p[i + 1] << 8 : 0) | (i + 2 < n ? p[i + 2] : 0);
        out[o++] = B64URL[v >> 18 & 63];
        out[o++] = B64URL[v >> 12 & 63];
        if (i + 1 < n)
            out[o++] = B64URL[v >> 6 & 63];
        if (i + 2 < n)
            out[o++] = B64URL[v & 63];
    }
    out[o] = '\0';
}

/* Decodes base64url without padding into out (NUL-terminated, *len bytes before it); false on
 * anything else. */
static bool b64url_decode(const char *s, char *out, size_t outsz, size_t *len)
{
    size_t n = strlen(s), o = 0;
    if (n == 0 || n % 4 == 1 || n / 4 * 3 + 3 > outsz)
        return false;
    unsigned v = 0;
    int bits = 0;
    for (size_t i = 0; i < n; i++) {
        const char *at = strchr(B64URL, s[i]);
        if (!at)
            return false;
        v = v << 6 | (unsigned)(at - B64URL);
        bits += 6;
        if (bits >= 8) {
            bits -= 8;
            out[o++] = (char)(v >> bits & 0xff);
        }
    }
    if (v & ((1u << bits) - 1)) /* stray bits: not what cursor_encode writes */
        return false;
    out[o] = '\0';
    *len = o;
    return true;
}

/* A whole decimal number, optionally negative, with nothing around it. */
static bool strict_ll(const char *s, const char *end, long long *out)
{
    if (s == end || end - s > 20)
        return false;
    for (const char *p = *s == '-' ? s + 1 : s; p < end; p++)
        if (!isdigit((unsigned char)*p))
            return false;
    char tmp[24];
    memcpy(tmp, s, (size_t)(end - s));
    tmp[end - s] = '\0';
    errno = 0;
    char *stop;
    *out = strtoll(tmp, &stop, 10);
    return !errno && *stop == '\0' && stop != tmp && strcmp(tmp, "-") != 0;
}

bool paging_cursor(const json_t *args, bool *has, cursor_t *c, input_error_t *e)
{
    const char *s = form_arg(args, "cursor");
    *has = s != NULL;
    if (!s)
        return true;
    if (form_arg(args, "page"))
        return fail(e, "invalid_cursor", "cursor", "send page or cursor, not both: a cursor already says where the page starts");
    char plain[48];
    size_t n = 0;
    const char *dot;
    long long at, id;
    if (strlen(s) >= CURSOR_LEN || !b64url_decode(s, plain, sizeof plain, &n) || strlen(plain) != n ||
        !(dot = strchr(plain, '.')) || !strict_ll(plain, dot, &at) || !strict_ll(dot + 1, plain + n, &id) || id < 1 ||
        at < FIRST_US || at > LAST_US)
        return fail(e, "invalid_cursor", "cursor", "cursor must be the value of next in an earlier answer of this list");
    c->at_us = at;
    c->id = id;
    return true;
}

bool paging_keyset(const json_t *args, long max, long *page_size, bool *has, cursor_t *c, input_error_t *e)
{
    if (!form_arg_long(args, "page_size", 1, max, page_size))
        return fail(e, "invalid_page", "page_size", "page_size must be from 1 to %ld", max);
    return paging_cursor(args, has, c, e);
}

void paging_time_text(int64_t at_us, char out[TIMEFMT_LEN])
{
    int64_t frac = at_us % 1000000;
    if (frac < 0)
        frac += 1000000;
    timefmt_format(at_us - frac, 0, out); /* "…:SSZ", at most 25 bytes with its NUL */
    size_t n = strlen(out) - 1;               /* the Z */
    snprintf(out + n, TIMEFMT_LEN - n, ".%06dZ", (int)frac);
}

bool paging_window(const char *since, const char *until, const window_rules_t *r, int64_t now_us, window_t *w,
                   input_error_t *e)
{
    int64_t start = 0, end = 0;
    bool since_ok = !since || timefmt_parse(since, &start), until_ok = !until || timefmt_parse(until, &end);
    since_ok = since_ok && (!since || (start >= FIRST_US && start <= LAST_US));
    until_ok = until_ok && (!until || (end >= FIRST_US && end <= LAST_US));
    if (!since_ok || !until_ok)
        return fail(e, "invalid_time", since_ok ? r->until : r->since,
                    "%s and %s must be ISO 8601 (W3C) times with a zone, e.g. 2026-11-01T00:00:00+08:00, in the years "
                    "1 to 9999", r->since, r->until);
    w->open_end = !since && !until;
    if (w->open_end) {
        end = now_us;
        start = end - r->default_span_us;
    } else if (!until) {
        end = start > LAST_US - r->max_span_us ? LAST_US : start + r->max_span_us;
    } else if (!since) {
        start = end < FIRST_US + r->default_span_us ? FIRST_US : end - r->default_span_us;
    }
    if (end < start)
        return fail(e, "invalid_range", r->until, "%s must not be before %s", r->until, r->since);
    if (end - start > r->max_span_us)
        return fail(e, "range_too_wide", r->since,
                    "%s and %s may be at most %lld days apart: ask for a long period window by window", r->since,
                    r->until, (long long)(r->max_span_us / DAY_US));
    w->start_us = start;
    w->end_us = end;
    return true;
}
