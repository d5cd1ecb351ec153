/* uuid: random (version 4) UUIDs for message and command ids. */
#ifndef GRIDGOV_UUID_H
#define GRIDGOV_UUID_H

#include <stdbool.h>

#define UUID_STR_LEN 37 /* 36 characters and the NUL */

/* Writes a lower-case canonical UUID v4 into out. Aborts if the system has no randomness. */
void uuid_v4(char out[UUID_STR_LEN]);
/* True when s is a canonical UUID (any version), either case. */
bool uuid_valid(const char *s);

#endif
