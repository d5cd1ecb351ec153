#include "form.h"

#include <errno.h>

#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "utf8.h"

static const char ATTR_PREFIX[] = "attribute[";
#define ATTR_PREFIX_LEN (sizeof ATTR_PREFIX - 1)

/* Drops a code point cut in half by truncation at the end of the string. */
static void trim_partial_utf8(char *s)
{
    size_t len = strlen(s);
    size_t start = len;
    while (start > 0 && ((unsigned char)s[start - 1] & 0xC0) == 0x80)
        start--;
    if (start > 0 && (unsigned char)s[start - 1] >= 0xC0)
        start--;
    if (!utf8_valid(s + start, len - start))
        s[start] = '\0';
}

static void seterr(char *err, size_t errsz, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void seterr(char *err, size_t errsz, const char *fmt, ...)
{
    if (!err || errsz == 0)
        return;
    va_list ap;
    va_start(ap, fmt);
    int r = vsnprintf(err, errsz, fmt, ap);
    va_end(ap);
    if (r < 0)
        err[0] = '\0';
    else if ((size_t)r >= errsz)
        trim_partial_utf8(err);
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9')
        return c - '0';
    if (c >= 'a' && c <= 'f')
        return c - 'a' + 10;
    if (c >= 'A' && c <= 'F')
        return c - 'A' + 10;
    return -1;
}

bool form_percent_decode(const char *s, size_t n, buf_t *out, char *err, size_t errsz)
{
    buf_reset(out);
    size_t i = 0;
    while (i < n) {
        char c = s[i];
        if (c == '+') {
            buf_putc(out, ' ');
            i++;
        } else if (c == '%') {
            if (n - i < 3) {
                seterr(err, errsz, "truncated percent-escape (expected %%XX)");
                return false;
            }
            int hi = hexval(s[i + 1]), lo = hexval(s[i + 2]);
            if (hi < 0 || lo < 0) {
                seterr(err, errsz, "bad percent-escape (expected %% and two hex digits)");
                return false;
            }
            buf_putc(out, (char)(hi << 4 | lo));
            i += 3;
        } else {
            /* Copy the run of ordinary bytes in one go. */
            size_t j = i + 1;
            while (j < n && s[j] != '+' && s[j] != '%')
                j++;
            buf_append(out, s + i, j - i);
            i = j;
        }
    }
    if (out->len && memchr(out->data, '\0', out->len)) {
        seterr(err, errsz, "NUL byte not allowed");
        return false;
    }
    if (!utf8_valid(out->data, out->len)) {
        seterr(err, errsz, "invalid UTF-8");
        return false;
    }
    return true;
}

static json_t *new_string(const char *s, size_t n)
{
    /* Already checked: valid UTF-8, no NUL. */
    json_t *v = json_stringn(s, n);
    if (!v)
        log_oom();
    return v;
}

static void set_new(json_t *obj, const char *key, json_t *v)
{
    if (json_object_set_new(obj, key, v) != 0)
        log_oom();
}

/* key is decoded and NUL-terminated and contains '[' or ']'. */
static bool add_attribute(json_t *obj, const char *key, size_t keylen, const char *val,
                          size_t vallen, char *err, size_t errsz)
{
    if (keylen < ATTR_PREFIX_LEN || memcmp(key, ATTR_PREFIX, ATTR_PREFIX_LEN) != 0) {
        seterr(err, errsz,
               "unsupported parameter name %s (only attribute[CODE] may use brackets)", key);
        return false;
    }
    const char *code = key + ATTR_PREFIX_LEN;
    size_t codelen = strcspn(code, "[]");
    const char *rest = code + codelen;
    bool single = strcmp(rest, "]") == 0, multi = strcmp(rest, "][]") == 0;
    if (codelen == 0 || !(single || multi)) {
        seterr(err, errsz,
               "malformed parameter name %s (expected attribute[CODE] or attribute[CODE][])", key);
        return false;
    }

    char codebuf[FORM_MAX_KEY + 1];
    memcpy(codebuf, code, codelen);
    codebuf[codelen] = '\0';

    json_t *attrs = json_object_get(obj, "attribute");
    if (!attrs) {
        attrs = json_object();
        if (!attrs)
            log_oom();
        set_new(obj, "attribute", attrs);
    }

    json_t *prev = json_object_get(attrs, codebuf);
    if (prev && json_is_array(prev) != multi) {
        seterr(err, errsz,
               "parameter attribute[%s] given both as a single value and as a list "
               "(attribute[%s][])", codebuf, codebuf);
        return false;
    }
    if (!multi) {
        if (prev) {
            seterr(err, errsz, "duplicate parameter attribute[%s]", codebuf);
            return false;
        }
        set_new(attrs, codebuf, new_string(val, vallen));
        return true;
    }
    if (!prev) {
        prev = json_array();
        if (!prev)
            log_oom();
        set_new(attrs, codebuf, prev);
    }
    if (json_array_append_new(prev, new_string(val, vallen)) != 0)
        log_oom();
    return true;
}

static bool add_pair(json_t *obj, const buf_t *key, const buf_t *val, char *err, size_t errsz)
{
    const char *k = buf_str(key);
    if (memchr(k, '[', key->len) || memchr(k, ']', key->len))
        return add_attribute(obj, k, key->len, buf_str(val), val->len, err, errsz);
    if (strcmp(k, "attribute") == 0) {
        seterr(err, errsz, "parameter attribute needs a code: use attribute[CODE]=value");
        return false;
    }
    if (json_object_get(obj, k)) {
        seterr(err, errsz, "duplicate parameter %s", k);
        return false;
    }
    set_new(obj, k, new_string(buf_str(val), val->len));
    return true;
}

json_t *form_parse(const char *s, size_t n, char *err, size_t errsz)
{
    json_t *obj = json_object();
    if (!obj)
        log_oom();
    buf_t key = BUF_INIT, val = BUF_INIT;
    char why[128];
    size_t pairs = 0;
    bool ok = true;

    size_t i = 0;
    while (ok && i < n) {
        const char *amp = memchr(s + i, '&', n - i);
        size_t end = amp ? (size_t)(amp - s) : n;
        const char *seg = s + i;
        size_t seglen = end - i;
        i = end + 1;
        if (seglen == 0)
            continue;

        if (++pairs > FORM_MAX_PAIRS) {
            seterr(err, errsz, "too many parameters (limit %d)", FORM_MAX_PAIRS);
            ok = false;
            break;
        }
        const char *eq = memchr(seg, '=', seglen);
        size_t rawkeylen = eq ? (size_t)(eq - seg) : seglen;
        if (rawkeylen == 0) {
            seterr(err, errsz, "empty parameter name");
            ok = false;
        } else if (!form_percent_decode(seg, rawkeylen, &key, why, sizeof why)) {
            seterr(err, errsz, "bad parameter name: %s", why);
            ok = false;
        } else if (key.len > FORM_MAX_KEY) {
            seterr(err, errsz, "parameter name too long (limit %d bytes)", FORM_MAX_KEY);
            ok = false;
        } else if (!form_percent_decode(eq ? eq + 1 : "", eq ? seglen - rawkeylen - 1 : 0, &val,
                                        why, sizeof why)) {
            seterr(err, errsz, "bad value for parameter %s: %s", buf_str(&key), why);
            ok = false;
        } else {
            ok = add_pair(obj, &key, &val, err, errsz);
        }
    }

    buf_free(&key);
    buf_free(&val);
    if (!ok) {
        json_decref(obj);
        return NULL;
    }
    return obj;
}

const char *form_arg(const json_t *args, const char *name)
{
    const char *v = json_string_value(json_object_get(args, name));
    return v && *v ? v : NULL;
}

bool form_arg_long(const json_t *args, const char *name, long min, long max, long *out)
{
    const char *s = form_arg(args, name);
    if (!s)
        return true;
    char *end;
    errno = 0;
    long v = strtol(s, &end, 10);
    if (errno || *end || end == s || v < min || v > max)
        return false;
    *out = v;
    return true;
}
