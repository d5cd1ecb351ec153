/* credential: the voter's one-time credential and the voter's receipt, a tracker (services/tally/CHAIN.md).
 * Both are Crockford base32 (0-9A-HJKMNP-TV-Z) from OpenSSL's RAND_bytes: a credential 16
 * characters (80 bits), shown in groups of four, of which only the SHA-256 (of the 16 characters,
 * upper case, no hyphens) is ever stored; a tracker 10 characters (50 bits), the voter's receipt.
 * Pure functions but for the randomness; a failing RNG aborts (log_oom-style: nothing is safe). */
#ifndef TALLY_CREDENTIAL_H
#define TALLY_CREDENTIAL_H

#include <stdbool.h>
#include <stddef.h>

#define CREDENTIAL_LEN 16
#define TRACKER_LEN 10

void credential_new(char out[CREDENTIAL_LEN + 1]);
void tracker_new(char out[TRACKER_LEN + 1]);
/* "7kq2-m9xd-4trv-pa3h" -> "7KQ2M9XD4TRVPA3H": hyphens and spaces dropped, case folded. False when
 * what is left is not 16 characters of the alphabet (a forged or mistyped credential). */
bool credential_normalize(const char *in, char out[CREDENTIAL_LEN + 1]) __attribute__((warn_unused_result));
/* SHA-256 of the normalized credential, as 64 lower-case hex digits (for decode($n, 'hex')). */
void credential_hash_hex(const char cred[CREDENTIAL_LEN + 1], char hex[65]);
/* "7KQ2M9XD4TRVPA3H" -> "7KQ2-M9XD-4TRV-PA3H", as printed on a slip and sent to the voter. */
void credential_grouped(const char cred[CREDENTIAL_LEN + 1], char out[CREDENTIAL_LEN + 4]);

#endif
