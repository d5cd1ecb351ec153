/* vectors: the providers' published test vectors (tests/vectors/provider-vectors.json), read at
 * test time so the tests check the published strings, not retyped copies.
 * Failures to read abort the test binary with a message. */
#ifndef TESTS_VECTORS_H
#define TESTS_VECTORS_H

#include <jansson.h>

/* The whole file, parsed once per process; owned by this module, never freed by the caller. */
json_t *h_vectors(void);
/* obj[key] as a string; aborts when it is missing or not a string. */
const char *h_vstr(const json_t *obj, const char *key);
/* obj[key] as an array / object; aborts when it is missing or of another type. */
json_t *h_varray(const json_t *obj, const char *key);
json_t *h_vobject(const json_t *obj, const char *key);

#endif
