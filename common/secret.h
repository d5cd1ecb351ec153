/* secret: API keys and staff tokens. A secret is 32 random bytes written as 64 hex characters;
 * the database keeps only its SHA-256, so a stolen table opens nothing. */
#ifndef GRIDGOV_SECRET_H
#define GRIDGOV_SECRET_H

#include <stdbool.h>

#define SECRET_HEX_LEN 65 /* 64 hex characters and the NUL */

/* A new random secret; false only when the system has no randomness. */
bool secret_new(char out[SECRET_HEX_LEN]) __attribute__((warn_unused_result));
/* The SHA-256 of the secret's text, as lower-case hex: what is stored and looked up. */
void secret_hash_hex(const char *secret, char out[SECRET_HEX_LEN]);

#endif
