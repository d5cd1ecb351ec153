/* tally_recount: the verifier's own count of a motion's ballots (services/tally/CHAIN.md, "The
 * ballot" and "Paper"), independent of services/tally/. It builds the `counts` object a result
 * holds, from the online ballots' marks and write-ins and the paper boxes' counts, per kind:
 *   resolution {"options": [yes, no, abstain]}
 *   election   {"candidates": [n per candidate], "write_ins": {"name": n}, "blank": n}
 *   evaluation {"subjects": [[n per level 0..3], …]}
 *   selection  {"nominees": [[approve, disapprove, abstain], …]}
 * Ownership: tally_recount_new() returns an object the caller frees with tally_recount_destroy(). */
#ifndef GRIDGOVCTL_TALLY_RECOUNT_H
#define GRIDGOVCTL_TALLY_RECOUNT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct tally_recount tally_recount_t;

/* kind and ballot: the motion's (the ballot object of 025's comment). NULL when they do not
 * describe a ballot (reason in err). */
tally_recount_t *tally_recount_new(const char *kind, const json_t *ballot, char *err, size_t errsz);
void tally_recount_destroy(tally_recount_t **self);

/* Adds one online ballot; false (reason in err) when its marks break CHAIN.md's rules for the kind. */
bool tally_recount_ballot(tally_recount_t *self, const json_t *marks, const json_t *write_ins, char *err, size_t errsz);
/* Adds one paper box's counts; false (reason in err) when they do not have the kind's shape. */
bool tally_recount_paper(tally_recount_t *self, const json_t *counts, char *err, size_t errsz);

/* The counts object (a new reference). */
json_t *tally_recount_counts(const tally_recount_t *self);

#endif
