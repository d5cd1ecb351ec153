/* chain: the writer of a motion's audit chain (services/tally/CHAIN.md, "The chain").
 *
 *   hash(h) = SHA-256(prev_hash ‖ "gridgov-tally-v1\n" ‖ h ‖ "\n" ‖ type ‖ "\n" ‖ payload)
 *
 * The caller holds the motion row's lock (SELECT … FOR UPDATE on tally.motion, which is where it
 * read the head from) for the whole transaction: two writers never fork a chain. chain_append()
 * inserts one tally.event row and moves the head in memory; chain_store_head() writes the head
 * back to tally.motion once, before the caller commits. All in the caller's transaction. */
#ifndef TALLY_CHAIN_H
#define TALLY_CHAIN_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

typedef struct {
    const char *motion_id;      /* uuid text (borrowed) */
    int height;                 /* of the last event; 0 for none */
    unsigned char hash[32];     /* of the last event; zeros for none */
} chain_head_t;

/* The head as read from tally.motion: height and the hash as PostgreSQL's bytea hex text
 * ("\\x…") or NULL/"" for none. False when the text is not 32 bytes of hex. */
bool chain_head_load(chain_head_t *h, const char *motion_id, int height, const char *hash_text)
    __attribute__((warn_unused_result));

/* Appends an event whose payload is the JSON object given (serialized compactly, keys in the
 * order they were set: those bytes are what is hashed and stored). */
bool chain_append(PGconn *c, chain_head_t *h, const char *type, const json_t *payload, char *err, size_t errsz)
    __attribute__((warn_unused_result));

/* Appends an event whose payload is this text, as it is (a JSON object the caller built, e.g. in
 * SQL for a list too long to go through jansson): those bytes are hashed and stored. */
bool chain_append_text(PGconn *c, chain_head_t *h, const char *type, const char *text, char *err, size_t errsz)
    __attribute__((warn_unused_result));

bool chain_store_head(PGconn *c, const chain_head_t *h, char *err, size_t errsz) __attribute__((warn_unused_result));

/* The head's hash as 64 lower-case hex digits. */
void chain_hex(const unsigned char hash[32], char hex[65]);

#endif
