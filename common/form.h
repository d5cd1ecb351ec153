/* form: parser for application/x-www-form-urlencoded data, i.e. Open311 POST
 * bodies and URL query strings, into a jansson object.
 *
 * Rules applied by form_parse():
 *   - pairs are separated by '&'; empty pairs ("a=1&&b=2") are skipped;
 *   - '+' decodes to a space, %XX to the byte 0xXX; a bad escape ("%G1") or a
 *     truncated one ("%4" at the end of a key or value) is an error;
 *   - decoded keys and values must be valid UTF-8 with no NUL byte (utf8.h);
 *   - at most FORM_MAX_PAIRS non-empty pairs; a decoded key is 1..FORM_MAX_KEY bytes;
 *   - "k=v" -> {"k": "v"}; "k=" -> {"k": ""} (Open311 treats empty as absent,
 *     which is the caller's business); "k" with no '=' -> {"k": ""};
 *   - a plain key given twice is an error ("duplicate parameter k"): the input
 *     contradicts itself and we will not guess which value was meant;
 *   - "attribute[CODE]=v" -> {"attribute": {"CODE": "v"}};
 *     "attribute[CODE][]=v1&attribute[CODE][]=v2" -> {"attribute": {"CODE": ["v1", "v2"]}};
 *     the brackets may arrive percent-encoded (%5B %5D), since they are matched
 *     after decoding;
 *   - errors: any other use of '[' or ']' in a key ("attribute[", "attribute[]",
 *     "attribute[a][b]", "foo[x]"), a bare "attribute" key, attribute[X] given
 *     twice, and mixing attribute[X] with attribute[X][] for the same X.
 * Error messages may quote the offending (already validated, UTF-8) key; they
 * are truncated on a code-point boundary, so they are always valid UTF-8. */
#ifndef GRIDGOV_FORM_H
#define GRIDGOV_FORM_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "buf.h"

#define FORM_MAX_PAIRS 200
#define FORM_MAX_KEY 128 /* bytes, after decoding */

/* Parses the n bytes at s (need not be NUL-terminated; n == 0 gives {}).
 * Returns a new object (caller owns it: json_decref), or NULL with the reason in
 * err (err may be NULL / errsz 0 if the reason is not wanted). */
json_t *form_parse(const char *s, size_t n, char *err, size_t errsz)
    __attribute__((warn_unused_result));

/* Decodes one form component ('+' -> space, %XX -> byte) into out, replacing
 * its previous contents, and checks the result is valid UTF-8 without NUL.
 * Returns false with the reason in err on a bad or truncated escape, a NUL byte
 * or invalid UTF-8 (out's contents are then unspecified). out stays owned by the
 * caller (buf_free). */
bool form_percent_decode(const char *s, size_t n, buf_t *out, char *err, size_t errsz)
    __attribute__((warn_unused_result));

/* A parameter of a parsed form or query: its string when present and non-empty, else NULL
 * (Open311: an empty parameter is the same as an absent one). Borrowed from args. */
const char *form_arg(const json_t *args, const char *name);
/* An optional whole-number parameter: true and *out unchanged when absent or empty; true and *out
 * set when it is a number in [min, max]; false otherwise. */
bool form_arg_long(const json_t *args, const char *name, long min, long max, long *out)
    __attribute__((warn_unused_result));

#endif
