/* optout: intake's SMS opt-out list (optout.h). */
#include "optout.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"

/* intake publishes the numbers whose residents replied TD (migration 023, intake.sms_opt_out). */
static const char OPTED_OUT_SQL[] = "SELECT EXISTS (SELECT 1 FROM intake.sms_opt_out WHERE phone = $1)";

static bool has_on(PGconn *conn, const char *phone, bool *out, char *err, size_t errsz)
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

bool optout_has(PGconn *conn, const char *phone, bool *out, char *err, size_t errsz)
{
    return has_on(conn, phone, out, err, errsz);
}

/* A batch's numbers in one statement (the sender reads its batch's opt-outs at once). */
static const char OPTED_OUT_ANY_SQL[] =
    "SELECT DISTINCT phone FROM intake.sms_opt_out WHERE phone IN (SELECT jsonb_array_elements_text($1::jsonb))";

bool optout_which_db(db_t *db, const json_t *phones, json_t *opted, char *err, size_t errsz)
{
    char *js = json_dumps(phones, JSON_COMPACT);
    if (!js) {
        snprintf(err, errsz, "out of memory");
        return false;
    }
    const char *p[] = {js};
    PGresult *r = db_exec_prepared(db, "notify_optout_any", OPTED_OUT_ANY_SQL, 1, p, err, errsz, NULL);
    free(js);
    if (!r)
        return false;
    for (int i = 0; i < PQntuples(r); i++)
        json_object_set_new(opted, PQgetvalue(r, i, 0), json_true());
    PQclear(r);
    return true;
}
