/* tally: the daemon's shared context, built by main.c and borrowed by every module.
 * Every tally write runs on ctx->db inside one transaction per command, per batch of casts or
 * per motion the clock closes; domain time is read once per unit of work from the injected clock
 * (gclock) and handed down as now_us. */
#ifndef TALLY_TALLY_H
#define TALLY_TALLY_H

#include <jansson.h>
#include <stdint.h>

#include "db.h"
#include "relay.h"

typedef struct {
    db_t *db;
    relay_t *relay;
    int cast_batch_max;     /* casts handled in one transaction at most */
} tally_t;

/* The answer to a command: HTTP-like status and the reply body (a new reference). */
typedef struct {
    int status;
    json_t *body;   /* the result on 2xx, {"error": {"code", "message", "state"?}} otherwise */
    json_t *stored; /* what tally.command keeps instead of body (slips: no credentials); NULL: body */
} answer_t;

/* An error answer (status, snake_case code, message for people; state may be NULL). */
answer_t tally_error(int status, const char *code, const char *message, const char *state);
/* An answer for "the database failed": 503, nothing stored, the sender retries. */
#define TALLY_UNAVAILABLE 503

/* now as the SQL parameter text used everywhere: epoch seconds with microseconds, for
 * to_timestamp($n::double precision) */
void tally_ts(int64_t us, char out[32]);

#endif
