/* log: one JSON object per line on stderr, e.g.
 *   {"ts":"2026-11-29T07:40:01.123Z","level":"info","svc":"intake","msg":"listening on :8080"}
 * Thread-safe (one write(2) per line). Phone numbers must pass through log_mask_phone(); and
 * log_write masks every mobile number left in a message (log_mask_phones), so one that slips in
 * with a database error or a request line is not written either. */
#ifndef GRIDGOV_LOG_H
#define GRIDGOV_LOG_H

#include <stdarg.h>
#include <stdbool.h>
#include <stddef.h>

typedef enum { LOG_DEBUG, LOG_INFO, LOG_WARN, LOG_ERROR } log_level_t;

void log_init(const char *service, log_level_t min_level);
/* Parses "debug", "info", "warn", "error"; false on anything else. */
bool log_level_parse(const char *s, log_level_t *out) __attribute__((warn_unused_result));
void log_write(log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* The same with a va_list, for libraries that hand their messages to a callback (libmicrohttpd). */
void log_vwrite(log_level_t level, const char *fmt, va_list ap) __attribute__((format(printf, 2, 0)));

#define log_debug(...) log_write(LOG_DEBUG, __VA_ARGS__)
#define log_info(...) log_write(LOG_INFO, __VA_ARGS__)
#define log_warn(...) log_write(LOG_WARN, __VA_ARGS__)
#define log_error(...) log_write(LOG_ERROR, __VA_ARGS__)

/* Out of memory: log and abort. The only sane reaction in a daemon that cannot allocate. */
_Noreturn void log_oom(void);

/* Writes a masked copy of a phone number into out: 13812340000 -> 138****0000.
 * Anything that is not 7+ digits is masked whole ("****"). Returns out. */
char *log_mask_phone(const char *phone, char *out, size_t outsz);

/* Masks in place every mainland mobile number in text, as log_mask_phone does (13812340000 ->
 * 138****0000, +8613812340000 -> +86138****0000): 1[3-9] and nine digits standing alone, not
 * inside a longer run of letters and digits (a ticket code, a timestamp, a uuid) nor after a
 * decimal point (a longitude). The length does not change, so JSON text stays JSON where the
 * numbers are inside strings. Returns how many were masked. */
size_t log_mask_phones(char *text);

#endif
