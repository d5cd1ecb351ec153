/* rating_guard: the limit on failed rating attempts (a wrong rating code, or a ticket code that
 * names nothing ratable). Failures are rows in intake.rating_failure, so the limit holds across
 * intake instances and restarts. A ticket code (as the client sent it) that failed per_ticket
 * times within the window, or an API client that failed per_key times, is refused with 429 until
 * the oldest failure that counts leaves the window; while refused nothing is checked, so a
 * guesser learns nothing more. Not to be confused with the per-key request rate limit.
 * Time is the injected clock (gclock), so tests can move it. */
#ifndef INTAKE_RATING_GUARD_H
#define INTAKE_RATING_GUARD_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct {
    int per_ticket; /* failures per ticket code within the window (config rating_fail_per_ticket) */
    int per_key;    /* failures per API client within the window (rating_fail_per_key) */
    int window_s;   /* rating_fail_window_s */
} rating_guard_t;

typedef enum { GUARD_OPEN, GUARD_LOCKED, GUARD_UNAVAILABLE } guard_status_t;

/* In the caller's open transaction on c: serializes attempts on this API client and this ticket
 * code (transaction advisory locks, released at COMMIT/ROLLBACK) so concurrent guesses cannot
 * all slip under the limit, then says whether an attempt may be checked. GUARD_LOCKED sets
 * *retry_after_s (at least 1); GUARD_UNAVAILABLE writes err. */
guard_status_t rating_guard_enter(PGconn *c, const rating_guard_t *g, const char *ticket_code, long long api_client,
                                  int64_t now_us, int *retry_after_s, char *err, size_t errsz);

/* Records a failed attempt (in the caller's transaction) and deletes failures that have left
 * the window. False with err on a database error. */
bool rating_guard_fail(PGconn *c, const rating_guard_t *g, const char *ticket_code, long long api_client,
                       int64_t now_us, char *err, size_t errsz) __attribute__((warn_unused_result));

#endif
