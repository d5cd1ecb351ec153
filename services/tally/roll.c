#include "roll.h"

#include <stdio.h>
#include <stdlib.h>

#include "buf.h"
#include "civil.h"
#include "db.h"

int roll_county_year(int64_t now_us)
{
    int64_t y;
    int m, d;
    civil_from_days(civil_floor_div(civil_floor_div(now_us, 1000000) + 8 * 3600, 86400), &y, &m, &d);
    return (int)y;
}

#define HOUSEHOLDS                                                                                                 \
    "SELECT h.id AS voter_id, h.id AS household_id, r.name FROM registry.household h"                             \
    " JOIN LATERAL (SELECT name FROM registry.resident WHERE household_id = h.id ORDER BY is_head DESC, id LIMIT 1) r" \
    " ON true WHERE h.group_id = $1::bigint AND $2::int IS NOT NULL"
#define ADULTS                                                                                                     \
    "SELECT r.id AS voter_id, r.household_id, r.name FROM registry.resident r"                                    \
    " JOIN registry.household h ON h.id = r.household_id WHERE h.group_id = $1::bigint AND r.birth_year <= $2::int - 18"

PGresult *roll_electorate(PGconn *c, bool household, int64_t group_id, int64_t now_us, char *err, size_t errsz)
{
    char g[24], y[16];
    snprintf(g, sizeof g, "%lld", (long long)group_id);
    snprintf(y, sizeof y, "%d", roll_county_year(now_us));
    const char *p[] = {g, y};
    return db_pq_exec(c, household ? HOUSEHOLDS " ORDER BY 1" : ADULTS " ORDER BY 1", 2, p, err, errsz, NULL);
}

char *roll_ids_sql(const json_t *ids)
{
    buf_t b = BUF_INIT;
    buf_putc(&b, '{');
    for (size_t i = 0; i < json_array_size(ids); i++) {
        json_t *v = json_array_get(ids, i);
        if (!json_is_integer(v) || json_integer_value(v) < 1) {
            buf_free(&b);
            return NULL;
        }
        buf_printf(&b, "%s%lld", i ? "," : "", (long long)json_integer_value(v));
    }
    buf_putc(&b, '}');
    return buf_detach(&b);
}

int64_t roll_electorate_count(PGconn *c, bool household, int64_t group_id, int64_t now_us, const json_t *ids, char *err,
                              size_t errsz)
{
    char g[24], y[16];
    snprintf(g, sizeof g, "%lld", (long long)group_id);
    snprintf(y, sizeof y, "%d", roll_county_year(now_us));
    char *arr = roll_ids_sql(ids);
    if (!arr)
        return 0;
    const char *p[] = {g, y, arr};
    PGresult *r = db_pq_exec(c,
                             household ? "SELECT count(DISTINCT e.voter_id) FROM (" HOUSEHOLDS ") e WHERE e.voter_id = ANY($3::bigint[])"
                                       : "SELECT count(DISTINCT e.voter_id) FROM (" ADULTS ") e WHERE e.voter_id = ANY($3::bigint[])",
                             3, p, err, errsz, NULL);
    free(arr);
    if (!r)
        return -1;
    int64_t n = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return n;
}

json_t *roll_credential_entry(int64_t voter_id, int64_t household_id, const char *credential, int64_t holder)
{
    json_t *e = json_pack("{s:I,s:I,s:s}", "voter_id", (json_int_t)voter_id, "household_id", (json_int_t)household_id,
                          "credential", credential);
    if (holder)
        json_object_set_new(e, "holder_voter_id", json_integer(holder));
    return e;
}
