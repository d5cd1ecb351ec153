/* redrive: an operator sends a dead message again (gridgovctl redrive ID): it goes back to pending,
 * due now, with its attempts kept, and its dead letter records when (redriven_at). Notify's own
 * code, which gridgovctl links and calls (notify's schema is written only by notify's code). */
#ifndef GRIDGOV_NOTIFY_REDRIVE_H
#define GRIDGOV_NOTIFY_REDRIVE_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef enum { REDRIVE_DONE, REDRIVE_NOT_DEAD, REDRIVE_UNKNOWN, REDRIVE_ERROR } redrive_result_t;

/* id: a message id (checked here). now_us: the injected clock. */
redrive_result_t redrive_message(PGconn *conn, const char *id, int64_t now_us, char *err, size_t errsz);

#endif
