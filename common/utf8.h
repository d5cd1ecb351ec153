/* utf8: strict UTF-8 validation, decoding and code-point counting for text that
 * arrives from clients (Open311 descriptions, form parameters) or leaves in
 * responses. "Strict" means RFC 3629 / Unicode Table 3-7: no overlong forms, no
 * UTF-16 surrogates (U+D800..U+DFFF), nothing above U+10FFFF, no truncated
 * sequences. NUL bytes are also rejected by utf8_valid(), because every consumer
 * here (C strings, PostgreSQL text, jansson keys) would silently truncate at one.
 * No allocation; all functions are pure. */
#ifndef GRIDGOV_UTF8_H
#define GRIDGOV_UTF8_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* True if the n bytes at s are well-formed UTF-8 and contain no NUL byte.
 * n == 0 is valid (s may then be NULL). */
bool utf8_valid(const char *s, size_t n) __attribute__((warn_unused_result));

/* Decodes one code point from the start of s (n bytes available, n > 0).
 * Returns its length in bytes (1..4) and stores the code point in *cp, or
 * returns 0 if the bytes at s do not begin a well-formed sequence (*cp is then
 * untouched). NUL is decoded normally here (returns 1, *cp = 0). */
size_t utf8_decode(const char *s, size_t n, uint32_t *cp) __attribute__((warn_unused_result));

/* Number of code points in the n bytes at s, e.g. "中文" (6 bytes) -> 2.
 * Meant for length limits on text that has passed utf8_valid(); on malformed
 * input every byte that is not a continuation byte (10xxxxxx) counts as one. */
size_t utf8_count(const char *s, size_t n) __attribute__((warn_unused_result));

#endif
