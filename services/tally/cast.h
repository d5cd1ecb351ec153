/* cast: voters' ballots, taken in batches (the hot path: every cast waiting on the socket is
 * handled in one transaction, then all are answered).
 *
 * Once per voter, enforced by the database: a cast is one statement that marks the voter's roll
 * row voted (UPDATE … WHERE cred_sha256 = $ AND voted IS NULL: the row lock makes a thousand
 * concurrent casts with one credential wait for each other, and only the first finds it NULL) and
 * inserts the ballot only when that row changed. A batch's statements go to PostgreSQL in one
 * libpq pipeline, in arrival order (one round trip for the batch, not one per cast). The same
 * statement stores the ballot (a random id, the marks) and, apart, the voter's receipt (a random
 * tracker and the SHA-256 of the casting command's id, cast_key), neither naming the other; a
 * retry of the same command finds its receipt and gets the same tracker (201); any other cast with
 * a used credential gets 409 already_voted; a credential no roll of the motion has, 403
 * bad_credential.
 * Each batch appends one `ballots` event per motion to the chain ([id, hash] sorted by ballot id
 * and the number of receipts, no tracker: the chain says which ballots a transaction stored, never
 * in which order they came nor whose receipt goes with which), under the motion row's lock, which
 * also orders the batch against a close: no ballot lands after it. The trackers are chained once,
 * at close (close.c).
 * Marks are judged in C against the motion's ballot before any SQL (400 bad_ballot, nothing
 * stored). A batch whose transaction fails is done again one cast per transaction, so that one
 * bad cast cannot fail the others; a cast whose own transaction fails is answered 503 and the
 * sender retries under the same id. Answers leave only after COMMIT. */
#ifndef TALLY_CAST_H
#define TALLY_CAST_H

#include <stddef.h>
#include <stdint.h>

#include "commands.h"
#include "tally.h"

/* Handles n cast commands (parsed, action MA_CAST); out[i] receives the reply text for cmds[i]
 * (caller frees each). Returns how many new ballots were stored. Casts emit no bus events. */
size_t cast_batch(tally_t *t, const command_t *cmds, size_t n, int64_t now_us, char **out);

#endif
