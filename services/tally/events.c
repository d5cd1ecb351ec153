/* The events tally announces (handlers.h: emit_event): vote.opened, vote.credentials, vote.closed
 * (proto/vote.*.schema.json), written to bus.outbox in the transaction of their change. */
#include <stdlib.h>

#include "db.h"
#include "handlers.h"
#include "log.h"

bool emit_event(PGconn *c, const char *type, const char *correlation_id, const json_t *data, int64_t now_us, char *err,
                size_t errsz)
{
    char *text = json_dumps(data, JSON_COMPACT);
    if (!text)
        log_oom();
    char now[32];
    tally_ts(now_us, now);
    const char *p[] = {type, correlation_id, text, now};
    PGresult *r = db_pq_exec(c, "SELECT bus.emit($1, 'tally', $2::uuid, $3::jsonb, to_timestamp($4::double precision))", 4, p,
                             err, errsz, NULL);
    free(text);
    PQclear(r);
    return r != NULL;
}
