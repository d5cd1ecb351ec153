/* uuid: UUIDs for message and command ids: random (version 4), or derived from a name so that the
 * same name always gives the same id (a client's retry under one Idempotency-Key is one command). */
#ifndef GRIDGOV_UUID_H
#define GRIDGOV_UUID_H

#include <stdbool.h>
#include <stddef.h>

#define UUID_STR_LEN 37 /* 36 characters and the NUL */

/* Writes a lower-case canonical UUID v4 into out. Aborts if the system has no randomness. */
void uuid_v4(char out[UUID_STR_LEN]);
/* Writes the lower-case UUID named by the n strings of parts (hashed with a NUL between them, so
 * {"ab","c"} and {"a","bc"} differ): the first 16 bytes of their SHA-256 with the version nibble 5
 * and the RFC 4122 variant. (RFC 9562 would number a SHA-256 name 8; the layout is kept because
 * ids derived from Idempotency-Keys are stored in router.command and must not change.) */
void uuid_from_name(const char *const *parts, size_t n, char out[UUID_STR_LEN]);
/* True when s is a canonical UUID (any version), either case. */
bool uuid_valid(const char *s);

#endif
