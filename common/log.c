#include "log.h"

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/time.h>
#include <time.h>
#include <unistd.h>

#include "buf.h"

static const char *g_service = "gridgov";
static log_level_t g_min = LOG_INFO;
static const char *const level_names[] = {"debug", "info", "warn", "error"};

void log_init(const char *service, log_level_t min_level)
{
    g_service = service;
    g_min = min_level;
}

bool log_level_parse(const char *s, log_level_t *out)
{
    for (int i = 0; i < 4; i++)
        if (strcmp(s, level_names[i]) == 0) {
            *out = (log_level_t)i;
            return true;
        }
    return false;
}

void log_write(log_level_t level, const char *fmt, ...)
{
    va_list ap;
    va_start(ap, fmt);
    log_vwrite(level, fmt, ap);
    va_end(ap);
}

void log_vwrite(log_level_t level, const char *fmt, va_list ap)
{
    if (level < g_min)
        return;
    char msg[2048];
    int n = vsnprintf(msg, sizeof msg, fmt, ap);
    if (n >= (int)sizeof msg) {
        /* Truncated: drop a UTF-8 sequence cut in half, or the line is not valid JSON. */
        size_t len = sizeof msg - 1, lead = len;
        while (lead > 0 && ((unsigned char)msg[lead - 1] & 0xC0) == 0x80)
            lead--;
        if (lead > 0 && (unsigned char)msg[lead - 1] >= 0xC0) {
            unsigned char c = (unsigned char)msg[lead - 1];
            size_t need = c >= 0xF0 ? 4 : c >= 0xE0 ? 3 : 2;
            if (len - (lead - 1) < need)
                msg[lead - 1] = '\0';
        }
    }

    /* the last line of defence: whatever a caller formatted, no mobile number leaves unmasked */
    log_mask_phones(msg);

    struct timeval tv;
    gettimeofday(&tv, NULL); /* wall time for the log line, not domain time */
    struct tm tm;
    gmtime_r(&tv.tv_sec, &tm);
    char ts[64];
    snprintf(ts, sizeof ts, "%04d-%02d-%02dT%02d:%02d:%02d.%03dZ", tm.tm_year + 1900, tm.tm_mon + 1,
             tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec, (int)(tv.tv_usec / 1000));

    buf_t b = BUF_INIT;
    buf_printf(&b, "{\"ts\":\"%s\",\"level\":\"%s\",\"svc\":", ts, level_names[level]);
    buf_put_json_string(&b, g_service);
    buf_puts(&b, ",\"msg\":");
    buf_put_json_string(&b, msg);
    buf_puts(&b, "}\n");
    ssize_t w = write(STDERR_FILENO, b.data, b.len);
    (void)w;
    buf_free(&b);
}

void log_oom(void)
{
    static const char m[] = "{\"level\":\"error\",\"msg\":\"out of memory\"}\n";
    ssize_t w = write(STDERR_FILENO, m, sizeof m - 1);
    (void)w;
    abort();
}

char *log_mask_phone(const char *phone, char *out, size_t outsz)
{
    size_t n = phone ? strlen(phone) : 0;
    bool digits = n >= 7 && n < 32;
    for (size_t i = 0; digits && i < n; i++)
        if (phone[i] < '0' || phone[i] > '9')
            digits = false;
    if (!digits)
        snprintf(out, outsz, "****");
    else
        snprintf(out, outsz, "%.3s****%s", phone, phone + n - 4);
    return out;
}

static bool is_digit(char c) { return c >= '0' && c <= '9'; }
static bool is_alnum(char c) { return is_digit(c) || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }

size_t log_mask_phones(char *text)
{
    size_t masked = 0;
    char *p = text;
    while (*p) {
        if (!is_alnum(*p)) {
            p++;
            continue;
        }
        /* a token of letters and digits: a number on its own, or part of a word or an id */
        char *tok = p;
        while (is_alnum(*p))
            p++;
        size_t n = (size_t)(p - tok);
        char *num = tok;
        /* "+8613812340000": the number after the country code */
        if (n == 13 && tok > text && tok[-1] == '+' && tok[0] == '8' && tok[1] == '6') {
            num += 2;
            n = 11;
        }
        /* 1[3-9] and nine digits, alone: not inside a longer number (a ticket code has 13 digits
         * or more, a timestamp 10 or 13), a hexadecimal id (a uuid), nor the fraction of a
         * decimal number (a longitude) */
        bool decimal = tok - text >= 2 && tok[-1] == '.' && is_digit(tok[-2]);
        if (n == 11 && !decimal && num[0] == '1' && num[1] >= '3' && num[1] <= '9' &&
            strspn(num, "0123456789") >= 11) {
            memset(num + 3, '*', 4);
            masked++;
        }
    }
    return masked;
}
