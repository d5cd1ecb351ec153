/* tally_archive: a motion's archive for the village records (issue 13), read from tally's published
 * views only (deploy/migrations/025_tally.sql: motion_public, chain_rows, ballot_rows, receipt_rows,
 * paper_public, roll_public). The same object is what `gridgovctl tally archive --json` writes and what
 * `gridgovctl tally verify` checks (tally_verify.h), from the database or from such a file:
 *
 *   {"format": "gridgov-tally-archive-v1",
 *    "motion": {"code", "group_code", "group_name", "kind", "title", "body", "electorate", "ballot",
 *               "rule_set", "rules_sha256", "delivery", "state", "opened_at", "closes_at",
 *               "closed_at", "roll_count", "result", "head_height", "head_hash", "runoff_of"},
 *    "rules": {"rule_set", "rules_sha256", "applied": [{"rule", "cite", "test", "met"}, …]},
 *    "roll": {"count", "voted"},
 *    "proxies": [{"principal", "principal_name", "holder", "holder_name"}, …],
 *    "paper_boxes": [{"box", "tellers", "ballots", "invalid", "counts", "entered_by", "entered_at"}, …],
 *    "trackers": [sorted]: the stored receipts (tally.receipt_rows), which name no ballot,
 *    "result": the motion's result (null until closed),
 *    "ballots": [{"id", "marks", "write_ins"}, …] by id (no tracker: CHAIN.md, "The tracker"),
 *    "chain": [{"height", "type", "payload": the stored text, "prev_hash", "hash"}, …],
 *    "head_hash": hex}
 * Hashes are lowercase hex, times RFC 3339 UTC. The rules are the result's: each rule applied,
 * its test and the text it cites. Proxies come from the chain's `proxies` event, their names from
 * its `roll` event.
 * Ownership: the caller decrefs the object. */
#ifndef GRIDGOVCTL_TALLY_ARCHIVE_H
#define GRIDGOVCTL_TALLY_ARCHIVE_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "db.h"

#define TALLY_ARCHIVE_FORMAT "gridgov-tally-archive-v1"

/* NULL with the reason in err; *unknown is true when no motion has that code. */
json_t *tally_archive_load(db_t *db, const char *code, bool *unknown, char *err, size_t errsz);

/* Reads an archive file written by tally_archive_save_json (NULL, reason in err). */
json_t *tally_archive_read_json(const char *path, char *err, size_t errsz);
bool tally_archive_save_json(const json_t *archive, const char *path, char *err, size_t errsz)
    __attribute__((warn_unused_result));

#endif
