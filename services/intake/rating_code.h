/* rating_code: the per-ticket secret (评价码) that proves a rating comes from the reporter.
 * Intake issues one when a ticket with a phone is filed and hands it to the reporter once (the
 * answer to the POST; later the resolved message); PostgreSQL keeps only SHA-256(salt || code)
 * in intake.rating_code. A code is 10 characters of Crockford's base32 (0-9 and A-Z without
 * I L O U: 50 bits), short enough to type from an SMS; with failed attempts limited
 * (rating_guard.h) guessing one is hopeless, and its salted hash does not give it away quickly.
 * Residents may type it in lower case, with spaces or hyphens, and O/I/L for 0/1/1. */
#ifndef INTAKE_RATING_CODE_H
#define INTAKE_RATING_CODE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

#define RATING_CODE_LEN 10

typedef struct {
    char code[RATING_CODE_LEN + 1]; /* what the reporter gets; never stored */
    char salt_hex[33];              /* 16 random bytes */
    char hash_hex[65];              /* SHA-256(salt || code) */
} rating_code_t;

/* A fresh code with its salt and hash; false only when the system has no randomness. */
bool rating_code_issue(rating_code_t *out) __attribute__((warn_unused_result));

/* The canonical form of what a resident typed (upper case, separators dropped, O→0, I/L→1) into
 * out; false when it cannot be a code (wrong length or a character outside the alphabet). */
bool rating_code_normalize(const char *typed, char out[RATING_CODE_LEN + 1]);

typedef enum { RC_MATCH, RC_REFUSED, RC_UNAVAILABLE } rc_verdict_t;

/* Whether typed is the rating code of the ticket with this public code. RC_REFUSED alike when
 * the ticket does not exist, has no code (no phone) or the code differs; the comparison is
 * constant-time and a hash is computed in every case. RC_UNAVAILABLE with err on a database
 * error. Runs on the caller's connection (inside its transaction). */
rc_verdict_t rating_code_verify(PGconn *c, const char *ticket_code, const char *typed, char *err, size_t errsz);

#endif
