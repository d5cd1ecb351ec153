/* open311_keep: Open311 JSON answers kept for the contract check. tests/run.sh runs
 * tests/open311_check.py over $GRIDGOV_TEST_VAR/open311 after the test binaries: every answer an
 * end-to-end test kept there must validate against the schema of its kind (tests/open311/schemas). */
#ifndef TESTS_OPEN311_KEEP_H
#define TESTS_OPEN311_KEEP_H

#include <stdbool.h>

#include "harness.h"

/* Keeps the answer to METHOD path (under the server root, query included), success or error, byte
 * for byte as $GRIDGOV_TEST_VAR/open311/<schema>/<binary>-<n>-<method>-<resource>-<status>.json.
 * Answers outside /open311/v2/ or not application/json are not kept. False, with the reason on
 * stderr, when the answer's kind has no schema (add it here and to tests/open311/schemas/) or the
 * file cannot be written. */
bool h_open311_keep(const char *method, const char *path, const h_resp_t *r);

#endif
