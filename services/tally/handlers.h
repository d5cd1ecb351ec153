/* handlers: one function per command action (motion.h's table), each in the file of its part of
 * the motion's life: draft.c (create, proxy), open.c (open: the roll and its credentials),
 * paper.c (paper_voters, paper), slips.c, close.c (close, and the clock's close). cast.c takes
 * casts apart, in batches.
 * A handler runs inside the transaction commands.c opened for the command (which stores the
 * answer beside the command under its id) and answers with a status and a body; status 503 means
 * the database failed, and commands.c rolls everything back and stores nothing. Handlers that
 * emit events set *rang so the relay is woken after the commit. */
#ifndef TALLY_HANDLERS_H
#define TALLY_HANDLERS_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "tally.h"

typedef struct {
    tally_t *t;
    PGconn *c;
    const json_t *cmd;   /* the command as sent (checked against its shape) */
    const char *id;      /* its id, canonical */
    int64_t staff_id;    /* who acts */
    int64_t now_us;
    char *err;           /* the database's reason on 503 */
    size_t errsz;
} request_t;

answer_t create_handle(request_t *rq);
answer_t proxy_handle(request_t *rq);
answer_t open_handle(request_t *rq);
answer_t paper_voters_handle(request_t *rq);
answer_t paper_handle(request_t *rq);
answer_t slips_handle(request_t *rq);
answer_t close_handle(request_t *rq);

/* The staff member may manage motions of this villager group: active, not a grid worker, and
 * the group lies in their unit's area (registry.unit_area), or an operator anywhere. 1 yes,
 * 0 no, -1 the database failed (err). */
int scope_check(PGconn *c, int64_t staff_id, int64_t group_id, char *err, size_t errsz);
/* The 403 for a staff member out of scope. */
answer_t scope_refusal(void);

/* An answer for a database failure: 503, nothing stored. */
answer_t unavailable(void);

/* bus.emit(type, 'tally', correlation, data, occurred_at = now) in the caller's transaction. */
bool emit_event(PGconn *c, const char *type, const char *correlation_id, const json_t *data, int64_t now_us, char *err,
                size_t errsz) __attribute__((warn_unused_result));

#endif
