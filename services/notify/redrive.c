/* redrive: a dead message goes again (redrive.h). */
#include "redrive.h"

#include <stdio.h>
#include <string.h>

#include "db.h"
#include "uuid.h"

#define TS(n) "('epoch'::timestamptz + $" #n "::bigint * interval '1 microsecond')"

/* Only a dead message moves; the attempts stay as they were, so the history reads on. */
static const char REDRIVE_SQL[] =
    "WITH m AS (UPDATE notify.message SET state = 'pending', due_at = " TS(2) ", route = NULL,"
    "   lease_until = NULL, leased_by = NULL"
    "  WHERE id = $1::uuid AND state = 'dead' RETURNING id),"
    " d AS (UPDATE notify.dead_letter SET redriven_at = " TS(2) " WHERE message_id IN (SELECT id FROM m) RETURNING 1)"
    " SELECT (SELECT count(*) FROM m), (SELECT count(*) FROM notify.message WHERE id = $1::uuid)";

redrive_result_t redrive_message(PGconn *conn, const char *id, int64_t now_us, char *err, size_t errsz)
{
    if (!uuid_valid(id)) {
        snprintf(err, errsz, "'%s' is not a message id (a uuid)", id);
        return REDRIVE_UNKNOWN;
    }
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)now_us);
    const char *p[] = {id, now};
    PGresult *r = db_pq_exec(conn, REDRIVE_SQL, 2, p, err, errsz, NULL);
    if (!r)
        return REDRIVE_ERROR;
    redrive_result_t res = strcmp(PQgetvalue(r, 0, 0), "1") == 0   ? REDRIVE_DONE
                           : strcmp(PQgetvalue(r, 0, 1), "0") == 0 ? REDRIVE_UNKNOWN
                                                                   : REDRIVE_NOT_DEAD;
    PQclear(r);
    if (res == REDRIVE_UNKNOWN)
        snprintf(err, errsz, "no message %s", id);
    else if (res == REDRIVE_NOT_DEAD)
        snprintf(err, errsz, "message %s is not dead: nothing to redrive", id);
    return res;
}
