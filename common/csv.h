/* csv: text fields of the CSV files gridgov serves to spreadsheets (RFC 4180; Excel and WPS are
 * the readers). A field is quoted when it holds a comma, a double quote, CR or LF, with its
 * quotes doubled. A field that begins with = + - @, a tab or a CR would be taken by the
 * spreadsheet for a formula (CSV injection: a unit or category name such as
 * =HYPERLINK("http://...") runs when an official opens the export), so it is neutralised as the
 * OWASP guidance says: a single quote goes in front and the field is quoted. The fullwidth forms
 * ＝ ＋ － ＠ that Chinese input methods type are treated the same, as a precaution.
 * Numbers the program formats itself (counts, rates) are written directly, not through here. */
#ifndef GRIDGOV_CSV_H
#define GRIDGOV_CSV_H

#include <stdbool.h>

#include "buf.h"

/* True when a spreadsheet could read s as a formula (see above). */
bool csv_is_formula(const char *s);
/* Appends s as one CSV field (quoted and neutralised as needed). */
void csv_field(buf_t *b, const char *s);

#endif
