/* buf: a growable byte buffer, always NUL-terminated.
 * Ownership: the buf owns its bytes; buf_free() releases them (safe twice).
 * buf_detach() hands the bytes to the caller, who frees them with free(). */
#ifndef GRIDGOV_BUF_H
#define GRIDGOV_BUF_H

#include <stdarg.h>
#include <stddef.h>

typedef struct {
    char *data; /* NUL-terminated; NULL until the first append */
    size_t len;
    size_t cap;
} buf_t;

#define BUF_INIT {NULL, 0, 0}

void buf_append(buf_t *b, const void *bytes, size_t n);
void buf_puts(buf_t *b, const char *s);
void buf_putc(buf_t *b, char c);
/* s as a quoted JSON string: quote, backslash and control characters escaped, other bytes as they
 * are (s must be UTF-8). */
void buf_put_json_string(buf_t *b, const char *s);
void buf_printf(buf_t *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
void buf_vprintf(buf_t *b, const char *fmt, va_list ap);
void buf_reset(buf_t *b);
/* The contents ("" when empty); valid until the next append. */
const char *buf_str(const buf_t *b);
/* Caller owns the result (free()); the buf is left empty. Never NULL. */
char *buf_detach(buf_t *b);
void buf_free(buf_t *b);

#endif
