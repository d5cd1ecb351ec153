/* optout: intake's SMS opt-out list (optout.h). */
#include "optout.h"

#include <string.h>

#include "db.h"

/* intake publishes the numbers whose residents replied TD (migration 023, intake.sms_opt_out). */
static const char OPTED_OUT_SQL[] = "SELECT EXISTS (SELECT 1 FROM intake.sms_opt_out WHERE phone = $1)";

bool optout_has(PGconn *conn, const char *phone, bool *out, char *err, size_t errsz)
{
    *out = false;
    const char *p[] = {phone};
    PGresult *r = db_pq_exec(conn, OPTED_OUT_SQL, 1, p, err, errsz, NULL);
    if (!r)
        return false;
    *out = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return true;
}
