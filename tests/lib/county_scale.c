#include "county_scale.h"

#include <stdio.h>
#include <stdlib.h>

#include "harness.h"

void h_scale_phone(int k, char out[16])
{
    snprintf(out, 16, "139%08d", k);
}

void h_scale_openid(int k, char out[24])
{
    snprintf(out, 24, "o-scale-%d", k);
}

void h_county_scale(PGconn *owner, int n)
{
    char num[16];
    snprintf(num, sizeof num, "%d", n);
    const char *p[] = {num};
    /* a few seconds of work, more on a busy machine: not a statement a daemon's limit is for */
    h_sql_exec(owner, "SET LOCAL statement_timeout = 0");
    /* the seeded categories in turn; the point is the same for all (placement is not asked) */
    long long made = h_sql_int(
        owner,
        "WITH s AS (SELECT array_agg(code ORDER BY code) AS codes FROM registry.service),"
        " t AS (INSERT INTO intake.ticket (code, channel, service_code, description, lat, long, phone, account_id,"
        "  requested_at)"
        "  SELECT 'SC' || lpad(i::text, 11, '0'), CASE WHEN i % 10 < 3 THEN 'wechat' WHEN i % 10 < 6 THEN 'sms'"
        "   ELSE 'api' END, s.codes[1 + i % cardinality(s.codes)], 'county scale ' || i, 28.2, 113.1,"
        "   CASE WHEN i % 10 < 3 AND i % 2 = 1 THEN NULL ELSE '139' || lpad((i / 3)::text, 8, '0') END,"
        "   CASE WHEN i % 10 < 3 THEN 'o-scale-' || (i / 3) END,"
        "   timestamptz '2025-01-01 00:00:00+00' + i * interval '1 minute'"
        "  FROM generate_series(1, $1::int) i, s RETURNING 1)"
        " SELECT count(*) FROM t",
        1, p);
    if (made != n) {
        fprintf(stderr, "county_scale: %lld tickets made, not %d\n", made, n);
        abort();
    }
    h_sql_exec(owner,
               "INSERT INTO router.ticket (ticket_id, code, service_code, state, county_id, unit_id, level,"
               " received_at, resolved_at, closed_at, updated_at)"
               " SELECT t.id, t.code, t.service_code, (ARRAY['resolved', 'closed', 'in_progress', 'assigned',"
               "  'accepted'])[1 + substr(t.code, 3)::int % 5], c.id, c.id, 'county', t.requested_at,"
               "  CASE WHEN substr(t.code, 3)::int % 5 IN (0, 1) THEN t.requested_at + interval '1 day' END,"
               "  CASE WHEN substr(t.code, 3)::int % 5 = 1 THEN t.requested_at + interval '2 days' END,"
               "  t.requested_at + interval '1 day'"
               " FROM intake.ticket t,"
               "  (SELECT id FROM registry.unit WHERE level = 'county' ORDER BY id LIMIT 1) c"
               " WHERE t.code LIKE 'SC%'");
    h_sql_exec(owner, "ANALYZE intake.ticket, router.ticket");
}

void h_county_scale_undone(PGconn *owner)
{
    h_sql_exec(owner, "SET statement_timeout = 0");
    h_sql_exec(owner, "VACUUM (ANALYZE) intake.ticket, router.ticket");
}
