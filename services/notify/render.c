#include "render.h"

#include <stdint.h>
#include <stdio.h>
#include <string.h>

#include "timefmt.h"
#include "utf8.h"

#define ELLIPSIS "\xe2\x80\xa6" /* … U+2026 */

/* Byte length of the first n characters of s (all of s when it has fewer). */
static size_t prefix_bytes(const char *s, size_t len, size_t n)
{
    size_t off = 0;
    while (off < len && n > 0) {
        uint32_t cp;
        size_t k = utf8_decode(s + off, len - off, &cp);
        off += k ? k : 1; /* a malformed byte counts as one character, as utf8_count does */
        n--;
    }
    return off;
}

void render_shorten(const char *s, size_t max, buf_t *out)
{
    size_t len = strlen(s);
    if (max == 0 || utf8_count(s, len) <= max) {
        buf_append(out, s, len);
        return;
    }
    buf_append(out, s, prefix_bytes(s, len, max - 1));
    buf_puts(out, ELLIPSIS);
}

static bool name_start(char c) { return (c >= 'a' && c <= 'z') || c == '_'; }
static bool name_char(char c) { return name_start(c) || (c >= '0' && c <= '9'); }

bool render_text(const char *tpl, const json_t *vars, size_t value_max, buf_t *out, char *err, size_t errsz)
{
    const char *p = tpl;
    while (*p) {
        const char *open = strchr(p, '{');
        if (!open) {
            buf_puts(out, p);
            break;
        }
        buf_append(out, p, (size_t)(open - p));
        const char *q = open + 1;
        if (!name_start(*q)) { /* not a placeholder: the brace is text */
            buf_putc(out, '{');
            p = q;
            continue;
        }
        while (name_char(*q))
            q++;
        if (*q != '}') {
            buf_putc(out, '{');
            p = open + 1;
            continue;
        }
        char name[64];
        size_t n = (size_t)(q - open - 1);
        if (n >= sizeof name) {
            snprintf(err, errsz, "placeholder {%.*s…} is too long", 16, open + 1);
            return false;
        }
        memcpy(name, open + 1, n);
        name[n] = '\0';
        const json_t *v = json_object_get(vars, name);
        if (!v || json_is_null(v)) {
            snprintf(err, errsz, "no value for {%s}", name);
            return false;
        }
        if (!json_is_string(v)) {
            snprintf(err, errsz, "the value for {%s} is not text", name);
            return false;
        }
        render_shorten(json_string_value(v), value_max, out);
        p = q + 1;
    }
    return true;
}

bool render_sms_params(const json_t *names, const json_t *vars, json_t **out, char *err, size_t errsz)
{
    *out = NULL;
    if (!json_is_array(names)) {
        snprintf(err, errsz, "sms_params is not a list");
        return false;
    }
    json_t *o = json_object();
    buf_t b = BUF_INIT;
    size_t i;
    const json_t *nm;
    json_array_foreach(names, i, nm) {
        const char *name = json_string_value(nm);
        const json_t *v = name ? json_object_get(vars, name) : NULL;
        if (!json_is_string(v)) {
            snprintf(err, errsz, "no value for SMS parameter %s", name ? name : "(not text)");
            buf_free(&b);
            json_decref(o);
            return false;
        }
        buf_reset(&b);
        render_shorten(json_string_value(v), RENDER_SMS_PARAM_MAX, &b);
        json_object_set_new(o, name, json_string(buf_str(&b)));
    }
    buf_free(&b);
    *out = o;
    return true;
}

/* A WeChat field type: the key's letters before its number (thing2 -> thing). */
typedef enum { WX_TEXT, WX_DIGITS, WX_TIME, WX_DATE } wx_kind_t;

static const struct {
    const char *type;
    wx_kind_t kind;
    size_t max;
} WX_TYPES[] = {
    {"thing", WX_TEXT, 20},        {"character_string", WX_TEXT, 32}, {"letter", WX_TEXT, 32},
    {"symbol", WX_TEXT, 5},        {"phrase", WX_TEXT, 5},            {"name", WX_TEXT, 10},
    {"phone_number", WX_TEXT, 17}, {"car_number", WX_TEXT, 8},        {"amount", WX_TEXT, 10},
    {"number", WX_DIGITS, 32},     {"time", WX_TIME, 0},              {"date", WX_DATE, 0},
};

static bool wx_type(const char *key, wx_kind_t *kind, size_t *max)
{
    size_t n = strcspn(key, "0123456789");
    if (n == 0 || key[n] == '\0' || key[n + strspn(key + n, "0123456789")] != '\0')
        return false; /* a type and a number, nothing else */
    for (size_t i = 0; i < sizeof WX_TYPES / sizeof WX_TYPES[0]; i++)
        if (strlen(WX_TYPES[i].type) == n && !strncmp(WX_TYPES[i].type, key, n)) {
            *kind = WX_TYPES[i].kind;
            *max = WX_TYPES[i].max;
            return true;
        }
    return false;
}

/* An ISO 8601 instant as the county's local date (and time): 2026年04月13日[ 09:00]. */
static bool wx_time(const char *iso, bool with_time, buf_t *out)
{
    int64_t us;
    if (!timefmt_parse(iso, &us))
        return false;
    char t[TIMEFMT_LEN]; /* 2026-04-13T09:00:00+08:00 */
    timefmt_format(us, TIMEFMT_COUNTY_OFFSET_MIN, t);
    buf_printf(out, "%.4s年%.2s月%.2s日", t, t + 5, t + 8);
    if (with_time)
        buf_printf(out, " %.5s", t + 11);
    return true;
}

bool render_wechat(const json_t *fields, const json_t *vars, json_t **out, char *err, size_t errsz)
{
    *out = NULL;
    if (!json_is_object(fields)) {
        snprintf(err, errsz, "wechat_fields is not an object");
        return false;
    }
    json_t *data = json_object();
    buf_t raw = BUF_INIT, val = BUF_INIT;
    const char *key;
    const json_t *tpl;
    json_object_foreach((json_t *)fields, key, tpl) {
        wx_kind_t kind;
        size_t max;
        buf_reset(&raw);
        buf_reset(&val);
        if (!wx_type(key, &kind, &max)) {
            snprintf(err, errsz, "WeChat field %s has no type we know", key);
            goto fail;
        }
        if (!json_is_string(tpl)) {
            snprintf(err, errsz, "WeChat field %s is not text", key);
            goto fail;
        }
        if (!render_text(json_string_value(tpl), vars, 0, &raw, err, errsz))
            goto fail;
        const char *s = buf_str(&raw);
        switch (kind) {
        case WX_TEXT:
            render_shorten(s, max, &val);
            break;
        case WX_DIGITS:
            if (!*s || strspn(s, "0123456789") != strlen(s) || strlen(s) > max) {
                snprintf(err, errsz, "WeChat field %s wants up to %zu digits", key, max);
                goto fail;
            }
            buf_puts(&val, s);
            break;
        case WX_TIME:
        case WX_DATE:
            if (!wx_time(s, kind == WX_TIME, &val)) {
                snprintf(err, errsz, "WeChat field %s wants a time, not %.40s", key, s);
                goto fail;
            }
            break;
        }
        if (buf_str(&val)[0] == '\0') {
            snprintf(err, errsz, "WeChat field %s is empty (WeChat refuses it)", key);
            goto fail;
        }
        json_object_set_new(data, key, json_pack("{s:s}", "value", buf_str(&val)));
    }
    buf_free(&raw);
    buf_free(&val);
    *out = data;
    return true;
fail:
    buf_free(&raw);
    buf_free(&val);
    json_decref(data);
    return false;
}
