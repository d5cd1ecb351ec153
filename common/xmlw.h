/* xmlw: a tiny XML writer for Open311 XML responses (service lists, request
 * lists, errors). Appends to a caller-owned buf_t; output is compact (no
 * indentation or newlines added). Element names are program constants and are
 * written as given, unchecked. Text is always escaped, so any string from the
 * database or a client can be passed safely:
 *   - & < > " ' become &amp; &lt; &gt; &quot; &apos;
 *   - control characters other than \t \n \r (U+0000..U+001F, U+007F) and the
 *     non-characters U+FFFE/U+FFFF, which XML 1.0 forbids or discourages, are dropped;
 *   - bytes that are not well-formed UTF-8 become U+FFFD, so the document stays
 *     well-formed even if bad text slipped in. Valid UTF-8 (e.g. Chinese) passes unchanged. */
#ifndef GRIDGOV_XMLW_H
#define GRIDGOV_XMLW_H

#include <jansson.h>
#include <stddef.h>

#include "buf.h"

/* Writes <?xml version="1.0" encoding="utf-8"?> (no trailing newline). */
void xmlw_begin(buf_t *b);
/* Writes <name>. */
void xmlw_open(buf_t *b, const char *name);
/* Writes </name>. */
void xmlw_close(buf_t *b, const char *name);
/* Writes <name>escaped text</name>; text NULL writes <name></name>. */
void xmlw_elem(buf_t *b, const char *name, const char *text);
/* Writes a jansson value as <name>...</name>: string -> escaped text (embedded
 * NULs dropped); integer -> decimal; real -> up to 15 significant digits in plain
 * decimal notation (28.1234567, 0.00001, 1500000; exponent form such as 1.5e+25
 * only for magnitudes >= 1e21 or < 1e-21); true/false -> "true"/"false";
 * null, NULL, arrays and objects -> <name></name>. */
void xmlw_elem_json(buf_t *b, const char *name, const json_t *v);
/* Appends the escaped form of the NUL-terminated s (see above). */
void xmlw_escape(buf_t *b, const char *s);
/* Same for n bytes that need not be NUL-terminated. */
void xmlw_escape_n(buf_t *b, const char *s, size_t n);

#endif
