/* request: what the HTTP request a thread is answering holds while it is answered, apart from the
 * routes (dispatch.c) so that handlers reach it without including the dispatcher:
 * - a pool slot (pool.h), taken on first use by intake_db(), intake_router() or intake_tally() (intake.h) and given
 *   back by request_end(). A GET or HEAD takes it as a read, which leaves the last free slot to
 *   writes;
 * - intake_request_hash(): what makes two requests "the same" for an Idempotency-Key.
 * Ownership: the slot is the thread's until request_end(); handlers borrow what intake_db() and
 * intake_router() and intake_tally() return and never free it. */
#ifndef INTAKE_REQUEST_H
#define INTAKE_REQUEST_H

#include "http.h"

/* Called by the dispatcher before and after every request, on the thread that answers it. */
void request_begin(const http_req_t *req);
void request_end(void);

#endif
