/* ballot: what a motion puts to the vote (tally.motion.ballot) and what a ballot may say about it
 * (services/tally/CHAIN.md, "The ballot"), judged in C before anything reaches SQL:
 *   resolution  {"choices": ["同意","不同意","弃权"]}          marks [c], c in 0..2
 *   election    {"seats": n, "candidates": [{"name", "resident_id"}], "write_ins": bool}
 *               distinct candidate indexes, len(marks) + len(write_ins) <= seats ([] is blank)
 *   evaluation  {"scale": "satisfaction"|"competence", "subjects": [{"name","key"}], "year": y}
 *               one level 0..3 per subject, in order
 *   selection   {"nominees": [{"name", "household_id"}]}     one of 0..2 per nominee, in order
 * Also the ballot's canonical text and hash, which the `ballots` chain event lists.
 * Nothing here allocates but ballot_def_check()'s normalized copy (caller decrefs). */
#ifndef TALLY_BALLOT_H
#define TALLY_BALLOT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "rules.h"

#define BALLOT_MAX_OPTIONS 200 /* candidates, subjects or nominees on one ballot */
#define NAME_MAX_CHARS 40

const char *kind_name(tally_kind_t k);
bool kind_parse(const char *name, tally_kind_t *out) __attribute__((warn_unused_result));

/* A name (candidate, write-in, teller, subject, nominee): 1-40 characters of UTF-8, no control
 * characters. */
bool ballot_name_ok(const char *s);

/* Checks a ballot definition a `create` sent for this kind; returns the definition to store (a
 * new reference: the resolution's default choices filled in) or NULL with the reason. */
json_t *ballot_def_check(tally_kind_t kind, const json_t *ballot, char *why, size_t whysz);

/* The shape a cast is judged against, read from a stored definition (borrowed, not copied). */
typedef struct {
    tally_kind_t kind;
    size_t options;     /* choices, candidates, subjects or nominees */
    int seats;          /* election */
    bool write_ins;     /* election: the ballot takes names beyond its candidates */
} ballot_shape_t;

void ballot_shape(tally_kind_t kind, const json_t *def, ballot_shape_t *out);

/* A cast's marks and write-ins, checked against the shape: marks into out (at most
 * BALLOT_MAX_OPTIONS), their number into *n. write_ins may be NULL (none). False with the reason
 * (for a 400 bad_ballot) when the ballot breaks CHAIN.md's table. */
bool ballot_marks_check(const ballot_shape_t *s, const json_t *marks, const json_t *write_ins, short *out, size_t *n,
                        char *why, size_t whysz) __attribute__((warn_unused_result));

/* PostgreSQL array literals: "{0,2}" and {"name",…} (quotes and backslashes escaped). out must
 * hold 8 bytes per mark / 4 per byte of each name plus 3; returns false when it does not. */
bool ballot_marks_sql(const short *marks, size_t n, char *out, size_t outsz) __attribute__((warn_unused_result));
bool ballot_names_sql(const json_t *names, char *out, size_t outsz) __attribute__((warn_unused_result));

/* SHA-256 of the canonical text, as 64 lower-case hex digits:
 *   "gridgov-ballot-v2\n" motion "\n" id "\n" marks joined by "," "\n" write-ins joined by "\n"
 * No tracker: the receipt is never tied to the ballot (CHAIN.md, "The tracker"). */
void ballot_hash_hex(const char *motion_code, const char *id, const short *marks, size_t n, const json_t *write_ins,
                     char hex[65]);

#endif
