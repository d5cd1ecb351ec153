/* timefmt: W3C / ISO 8601 date-time text for Open311 (requested_datetime,
 * updated_datetime, start_date/end_date query parameters) <-> microseconds since
 * the Unix epoch. Pure calendar arithmetic (proleptic Gregorian, UTC offsets
 * only): no mktime/timegm, no dependence on TZ or the locale. Thread-safe. */
#ifndef GRIDGOV_TIMEFMT_H
#define GRIDGOV_TIMEFMT_H

#include <stdbool.h>
#include <stdint.h>

#define TIMEFMT_LEN 40 /* size of the buffer timefmt_format() writes */

/* Parses exactly YYYY-MM-DDTHH:MM:SS[.fraction](Z|+HH:MM|-HH:MM|+HHMM|-HHMM)
 * (the whole string; 'T' and 'Z' may also be lowercase, as RFC 3339 allows).
 * The zone is mandatory, so a bare date or a local time without offset is
 * rejected. Checks month 1-12, day within the month (leap years included),
 * hour 0-23, minute 0-59, second 0-60, offset hours 0-23 and minutes 0-59.
 * Fractions beyond microseconds are truncated; second 60 (a leap second) counts
 * as the first second of the next minute. Years 0000-9999.
 * On success stores the instant in *epoch_us and returns true; otherwise returns
 * false and leaves *epoch_us untouched. */
bool timefmt_parse(const char *s, int64_t *epoch_us) __attribute__((warn_unused_result));

/* Like timefmt_parse, for an instant that goes on to PostgreSQL: also false when it lies outside
 * the years 0001-9999 (UTC). PostgreSQL has no year 0000 and takes zone offsets only up to
 * +-15:59, so pass it timefmt_format(*epoch_us, 0, ...), never the text as it was received: a
 * time the client got wrong is then a 400 here, not a database error. */
bool timefmt_parse_db(const char *s, int64_t *epoch_us) __attribute__((warn_unused_result));

/* Writes the instant as local time at the given UTC offset, whole seconds
 * (fraction truncated toward the past), NUL-terminated into out, e.g.
 * 1795938001000000, 480 -> "2026-11-29T15:40:01+08:00"; an offset of 0 gives
 * "2026-11-29T07:40:01Z". Offsets beyond +-(23*60+59) minutes are clamped to that
 * range (the text still denotes the same instant). Output parses back with
 * timefmt_parse() for years 0000-9999. */
void timefmt_format(int64_t epoch_us, int offset_minutes, char out[TIMEFMT_LEN]);

/* The county's local time, in which every time shown to people is written: the API, the
 * history, Open311 and gridgovctl's view of the events (China keeps one zone, +08:00, with no
 * daylight saving). Events on the bus keep UTC ("Z", proto/envelope.schema.json). */
#define TIMEFMT_COUNTY_OFFSET_MIN 480
/* SQL text: a timestamptz expression as that local time, whole seconds, e.g.
 * 2026-11-29T15:40:01+08:00 (NULL stays NULL), whatever the session's TimeZone. */
#define TIMEFMT_SQL_LOCAL(col) \
    "to_char((" col ") AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"')"

#endif
