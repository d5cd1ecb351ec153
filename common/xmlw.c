#include "xmlw.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "utf8.h"

void xmlw_begin(buf_t *b) { buf_puts(b, "<?xml version=\"1.0\" encoding=\"utf-8\"?>"); }

void xmlw_open(buf_t *b, const char *name)
{
    buf_putc(b, '<');
    buf_puts(b, name);
    buf_putc(b, '>');
}

void xmlw_close(buf_t *b, const char *name)
{
    buf_puts(b, "</");
    buf_puts(b, name);
    buf_putc(b, '>');
}

void xmlw_escape_n(buf_t *b, const char *s, size_t n)
{
    size_t i = 0;
    while (i < n) {
        unsigned char c = (unsigned char)s[i];
        if (c < 0x80) {
            switch (c) {
            case '&': buf_puts(b, "&amp;"); break;
            case '<': buf_puts(b, "&lt;"); break;
            case '>': buf_puts(b, "&gt;"); break;
            case '"': buf_puts(b, "&quot;"); break;
            case '\'': buf_puts(b, "&apos;"); break;
            case '\t':
            case '\n':
            case '\r': buf_putc(b, (char)c); break;
            default:
                if (c >= 0x20 && c != 0x7F)
                    buf_putc(b, (char)c);
                break;
            }
            i++;
            continue;
        }
        uint32_t cp;
        size_t len = utf8_decode(s + i, n - i, &cp);
        if (len == 0) {
            buf_puts(b, "\xEF\xBF\xBD"); /* U+FFFD for one bad byte */
            i++;
            continue;
        }
        if (cp != 0xFFFE && cp != 0xFFFF)
            buf_append(b, s + i, len);
        i += len;
    }
}

void xmlw_escape(buf_t *b, const char *s) { xmlw_escape_n(b, s, strlen(s)); }

void xmlw_elem(buf_t *b, const char *name, const char *text)
{
    xmlw_open(b, name);
    if (text)
        xmlw_escape(b, text);
    xmlw_close(b, name);
}

/* Up to 15 significant digits, plain decimal notation unless the magnitude is
 * extreme. Built from %.14e (one digit, point, 14 digits, exponent) so that the
 * rounding is the C library's. */
static void put_real(buf_t *b, double v)
{
    if (v == 0) { /* also -0 */
        buf_putc(b, '0');
        return;
    }
    char tmp[40];
    int r = snprintf(tmp, sizeof tmp, "%.14e", v);
    char *e = strchr(tmp, 'e');
    if (r <= 0 || (size_t)r >= sizeof tmp || !e)
        return; /* inf/nan: jansson never stores these */
    long exp10 = strtol(e + 1, NULL, 10);

    const char *p = tmp;
    bool neg = *p == '-';
    if (neg)
        p++;
    char digits[16];
    size_t k = 0;
    for (; p < e; p++)
        if (*p >= '0' && *p <= '9')
            digits[k++] = *p;
    while (k > 1 && digits[k - 1] == '0')
        k--;

    if (neg)
        buf_putc(b, '-');
    if (exp10 > 20 || exp10 < -21) {
        buf_putc(b, digits[0]);
        if (k > 1) {
            buf_putc(b, '.');
            buf_append(b, digits + 1, k - 1);
        }
        buf_printf(b, "e%+ld", exp10);
        return;
    }
    if (exp10 < 0) {
        buf_puts(b, "0.");
        for (long z = exp10 + 1; z < 0; z++)
            buf_putc(b, '0');
        buf_append(b, digits, k);
        return;
    }
    size_t intlen = (size_t)exp10 + 1;
    if (k <= intlen) {
        buf_append(b, digits, k);
        for (size_t z = k; z < intlen; z++)
            buf_putc(b, '0');
        return;
    }
    buf_append(b, digits, intlen);
    buf_putc(b, '.');
    buf_append(b, digits + intlen, k - intlen);
}

void xmlw_elem_json(buf_t *b, const char *name, const json_t *v)
{
    xmlw_open(b, name);
    switch (v ? json_typeof(v) : JSON_NULL) {
    case JSON_STRING:
        xmlw_escape_n(b, json_string_value(v), json_string_length(v));
        break;
    case JSON_INTEGER:
        buf_printf(b, "%" JSON_INTEGER_FORMAT, json_integer_value(v));
        break;
    case JSON_REAL:
        put_real(b, json_real_value(v));
        break;
    case JSON_TRUE:
        buf_puts(b, "true");
        break;
    case JSON_FALSE:
        buf_puts(b, "false");
        break;
    case JSON_NULL:
    case JSON_ARRAY:
    case JSON_OBJECT:
        break;
    }
    xmlw_close(b, name);
}
