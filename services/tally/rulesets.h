/* rulesets: the rule set files (deploy/tally/rules/NAME.json, rules.h) loaded into tally.rule_set at
 * start. A file is stored under its code and the SHA-256 of its bytes; a changed file becomes a
 * new row beside the old one, never an edit of a body a motion used (motions copy the body they
 * were created under). A file rules_parse() refuses stops the start: a county must not vote under
 * rules tally cannot read. */
#ifndef TALLY_RULESETS_H
#define TALLY_RULESETS_H

#include <stdbool.h>
#include <stddef.h>

#include "db.h"

/* Loads every *.json of dir; *loaded counts the files (new or already stored). False with the
 * reason (a file that does not parse, or the database). */
bool rulesets_load(db_t *db, const char *dir, int *loaded, char *err, size_t errsz) __attribute__((warn_unused_result));

#endif
