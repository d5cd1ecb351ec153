/* close: the count and the result. A motion closes by a teller's action (the `close` command,
 * handlers.h) or by tally's clock once closes_at has passed (close_due, from the loop's tick);
 * both go through one function that, under the motion row's lock (so no cast batch can add a
 * ballot after it), counts the online ballots in SQL (unnest of the marks, GROUP BY: a million
 * ballots in well under a second), adds the paper boxes, applies the motion's frozen rules
 * (rules_decide), stores the result, appends `trackers` (every receipt's tracker, sorted, in one
 * list apart from any ballot), `closed` and `result` to the chain and announces vote.closed, all
 * in one transaction. */
#ifndef TALLY_CLOSE_H
#define TALLY_CLOSE_H

#include <stdint.h>

#include "tally.h"

/* Closes every open motion whose closes_at is at or before now, one transaction each. Returns how
 * many closed, or -1 when the database failed (tried again at the next tick). */
int close_due(tally_t *t, int64_t now_us);

#endif
