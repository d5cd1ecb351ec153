/* optout: intake's SMS opt-out list (optout.h). */
#include "optout.h"

#include <string.h>

#include "db.h"

/* intake publishes the numbers whose residents replied TD (migration 023, intake.sms_opt_out). */
static const char OPTED_OUT_SQL[] = "SELECT EXISTS (SELECT 1 FROM intake.sms_opt_out WHERE phone = $1)";

static bool has_on(PGconn *conn, db_t *db, const char *phone, bool *out, char *err, size_t errsz)
{
    *out = false;
    const char *p[] = {phone};
    PGresult *r = db ? db_exec_prepared(db, "notify_optout", OPTED_OUT_SQL, 1, p, err, errsz, NULL)
                     : db_pq_exec(conn, OPTED_OUT_SQL, 1, p, err, errsz, NULL);
    if (!r)
        return false;
    *out = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return true;
}

bool optout_has(PGconn *conn, const char *phone, bool *out, char *err, size_t errsz)
{
    return has_on(conn, NULL, phone, out, err, errsz);
}

bool optout_has_db(db_t *db, const char *phone, bool *out, char *err, size_t errsz)
{
    return has_on(NULL, db, phone, out, err, errsz);
}
