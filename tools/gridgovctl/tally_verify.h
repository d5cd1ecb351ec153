/* tally_verify: the independent check of a motion's audit chain (services/tally/CHAIN.md, "What
 * the verifier checks"), on a motion's archive object (tally_archive.h: the same object whether it
 * was read from the database's published views or from an archive file). It shares no code with
 * services/tally/: it recomputes every hash with OpenSSL and recounts every ballot itself.
 *
 * Checked in this order, the first break reported:
 *   1. the chain: heights 1..n without a gap, each prev_hash the hash before it (32 zero bytes at
 *      1), each hash recomputed; the last the motion's head (height and hash); `opened` first,
 *      `roll` once; when closed, `trackers`, `closed` then `result` last, none anywhere else;
 *   2. ballots: every ballot row listed in exactly one `ballots` event with its recomputed hash
 *      (ballot text v2: no tracker), and every listed ballot present (altered, removed or added
 *      rows fail);
 *   3. receipts: the stored receipts are as many as the ballot rows and as the `receipts` the
 *      `ballots` events count; when closed, the `trackers` event lists each stored receipt's
 *      tracker once, sorted, and nothing else (an added or removed receipt fails);
 *   4. the recount: the online ballots plus the paper boxes (each box equal to its `paper` event)
 *      give the `result` event's counts, ballots, invalid and voters, the `closed` event's totals,
 *      and the motion's stored result is the `result` event's;
 *   5. the roll: the `roll` event's count is the motion's roll_count and lists that many voters.
 * Ownership: nothing is kept; the break is written into the caller's struct. */
#ifndef GRIDGOVCTL_TALLY_VERIFY_H
#define GRIDGOVCTL_TALLY_VERIFY_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
    long height;          /* the event the break is at; 0 when it is at none (an unlisted ballot) */
    char what[256];
    char expected[256];
    char found[256];
} tally_break_t;

typedef struct {
    long events;
    char head_hash[65];
    long online_ballots;
    long paper_boxes;
    long paper_ballots;
    long roll;
    bool closed;
} tally_summary_t;

/* True when the archive is intact (summary filled); false with the first break in brk. */
bool tally_verify(const json_t *archive, tally_summary_t *sum, tally_break_t *brk);

/* The line `gridgovctl tally verify` prints: "CODE: intact: …" or "CODE: broken at height H: …". */
void tally_verify_line(const char *code, bool ok, const tally_summary_t *sum, const tally_break_t *brk, char *out,
                       size_t outsz);

#endif
