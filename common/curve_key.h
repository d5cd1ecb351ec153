/* curve_key: the CURVE key files of the bus. A folder (config curve_dir) holds, per program NAME,
 *   NAME.key  its secret key: 40 Z85 characters and a newline, mode 0600 (refused when group or
 *             others may read or write it);
 *   NAME.pub  its public key, the same format, for every program that talks to it.
 * A daemon reads its own NAME.key (the public half is derived from it), the .pub of each peer it
 * admits (zap.h) and the .pub of each server it connects to. `gridgovctl keygen NAME DIR` writes
 * a new pair and never overwrites one. Key texts are NUL-terminated Z85 (CURVE_Z85_SIZE bytes). */
#ifndef GRIDGOV_CURVE_KEY_H
#define GRIDGOV_CURVE_KEY_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define CURVE_Z85_LEN 40                   /* Z85 characters of a 32-byte key */
#define CURVE_Z85_SIZE (CURVE_Z85_LEN + 1) /* with the NUL */
#define CURVE_KEY_BYTES 32

/* A key name is 1-64 of [a-z0-9_-]: it becomes a file name, so nothing that walks elsewhere. */
bool curve_name_valid(const char *name);

/* True when text (len bytes, no newline) is a Z85 key; fills raw when it is not NULL. */
bool curve_z85_decode(const char *text, size_t len, uint8_t raw[CURVE_KEY_BYTES]);

/* DIR/NAME.pub into pub (and its bytes into raw when not NULL). */
bool curve_key_read_public(const char *dir, const char *name, char pub[CURVE_Z85_SIZE], uint8_t *raw, char *err,
                           size_t errsz) __attribute__((warn_unused_result));

/* DIR/NAME.key into secret, its public half into pub. Refuses a file that is not a regular file or
 * that group or others may read or write. */
bool curve_key_read_secret(const char *dir, const char *name, char secret[CURVE_Z85_SIZE], char pub[CURVE_Z85_SIZE],
                           char *err, size_t errsz) __attribute__((warn_unused_result));

/* Writes a new key pair as DIR/NAME.key (0600) and DIR/NAME.pub (0644); creates DIR (0700) when
 * it is missing. Refuses when either file exists. The public key goes into pub. */
bool curve_key_generate(const char *dir, const char *name, char pub[CURVE_Z85_SIZE], char *err, size_t errsz)
    __attribute__((warn_unused_result));

#endif
