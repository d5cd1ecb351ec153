/* Who may manage a group's motions (handlers.h: scope_check). */
#include <stdio.h>

#include "db.h"
#include "handlers.h"

int scope_check(PGconn *c, int64_t staff_id, int64_t group_id, char *err, size_t errsz)
{
    char s[24], g[24];
    snprintf(s, sizeof s, "%lld", (long long)staff_id);
    snprintf(g, sizeof g, "%lld", (long long)group_id);
    const char *p[] = {s, g};
    PGresult *r = db_pq_exec(c,
                             "SELECT count(*) FROM registry.staff st WHERE st.id = $1::bigint AND st.active"
                             " AND st.role <> 'grid_worker'"
                             " AND (st.role = 'operator' OR $2::bigint IN (SELECT registry.unit_area(st.unit_id)))",
                             2, p, err, errsz, NULL);
    if (!r)
        return -1;
    int ok = PQgetvalue(r, 0, 0)[0] == '1';
    PQclear(r);
    return ok;
}

answer_t scope_refusal(void)
{
    return tally_error(403, "out_of_scope",
                       "只有本组或上级单位的在职工作人员（网格员除外）可以管理本组的表决 (not a staff member of this group or above it)",
                       NULL);
}
