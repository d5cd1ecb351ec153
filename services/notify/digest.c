#include "digest.h"

#include <stdbool.h>
#include <stdio.h>
#include <string.h>

#include "db.h"
#include "gclock.h"
#include "plan_write.h"
#include "recipients.h"
#include "timefmt.h"

#define DIGEST_RECHECK_MS 60000
#define DIGEST_OVERDUE_LISTED 10

/* $1 today's local date, $2 now. The supervisors without today's digest, each with their area's
 * values (plan_write.h's columns). */
static const char SQL_DIGEST[] =
    "WITH d AS (SELECT $1::date AS day, $2::timestamptz AS now),"
    " p AS (SELECT pl.key, pl.template_key, pl.urgent OR t.urgent AS urgent, t.body, t.sms_params,"
    "       t.wechat_template_id, t.wechat_fields"
    "       FROM notify.plan pl JOIN notify.template t ON t.key = pl.template_key"
    "       WHERE pl.enabled AND pl.event_type = 'notify.digest' AND pl.audience = 'supervisor')"
    " SELECT 'digest/' || s.id || '/' || d.day AS dedup_key, NULL::bigint AS ticket_id, p.template_key,"
    "        'supervisor' AS audience, " RECIPIENTS_STAFF_CHANNEL " AS channel, " RECIPIENTS_STAFF_ADDRESS " AS address,"
    "        NULL::text AS fallback_phone, p.urgent, p.body, to_jsonb(p.sms_params) AS sms_params,"
    "        p.wechat_template_id, p.wechat_fields,"
    "        jsonb_build_object('name', s.name, 'area', u.name,"
    "          'date', to_char(d.day - 1, 'MM\"月\"DD\"日\"'),"
    "          'received', st.received::text, 'resolved', st.resolved::text, 'on_time', st.on_time::text,"
    "          'overdue_count', od.n::text,"
    "          'overdue', CASE WHEN od.n = 0 THEN '' ELSE '：' || od.codes"
    "                     || CASE WHEN od.n > 10 THEN '等' ELSE '' END END) AS vars"
    " FROM d CROSS JOIN p JOIN registry.staff s ON s.active AND s.role = 'supervisor'"
    " JOIN registry.unit u ON u.id = s.unit_id"
    " CROSS JOIN LATERAL (SELECT coalesce(sum(c.received), 0) AS received, coalesce(sum(c.resolved), 0) AS resolved,"
    "        coalesce(sum(c.resolved_on_time), 0) AS on_time"
    "        FROM router.closure_stats_daily c WHERE c.unit_id = s.unit_id AND c.day = d.day - 1) st"
    " CROSS JOIN LATERAL (SELECT count(*) AS n, string_agg(x.code, '、' ORDER BY x.rn) FILTER (WHERE x.rn <= 10) AS codes"
    "        FROM (SELECT a.code, row_number() OVER (ORDER BY a.resolve_due, a.code) AS rn"
    "              FROM router.ticket_assignment a"
    "              WHERE s.unit_id IN (a.township_id, a.village_id, a.county_id)"
    "                AND a.state IN ('assigned', 'accepted', 'in_progress', 'returned')"
    "                AND (a.overdue OR a.resolve_due < d.now)) x) od"
    " WHERE NOT EXISTS (SELECT 1 FROM notify.message m WHERE m.dedup_key = 'digest/' || s.id || '/' || d.day)";

_Static_assert(DIGEST_OVERDUE_LISTED == 10, "the digest's SQL lists 10 overdue codes");

/* The day whose digests a connection has all planned, so ticks skip the query for a while. */
static _Thread_local struct {
    PGconn *conn;
    int pid;
    char day[11];
    int64_t at_ms;
} g_done;

int digest_tick(PGconn *conn, int64_t now_us, char *err, size_t errsz)
{
    char local[TIMEFMT_LEN]; /* 2026-04-13T08:00:00+08:00 */
    timefmt_format(now_us, TIMEFMT_COUNTY_OFFSET_MIN, local);
    int hour = (local[11] - '0') * 10 + (local[12] - '0');
    if (hour < DIGEST_HOUR)
        return 0;
    char day[11];
    memcpy(day, local, 10);
    day[10] = '\0';
    int64_t mono = gclock_mono_ms();
    if (g_done.conn == conn && g_done.pid == PQbackendPID(conn) && !strcmp(g_done.day, day) &&
        mono - g_done.at_ms < DIGEST_RECHECK_MS)
        return 0;
    char now[TIMEFMT_LEN];
    timefmt_format(now_us, 0, now);
    const char *p[] = {day, now};
    PGresult *rows = db_pq_exec(conn, SQL_DIGEST, 2, p, err, errsz, NULL);
    if (!rows)
        return -1;
    int planned = 0;
    bool ok = plan_write(conn, rows, NULL, now_us, &planned, err, errsz);
    PQclear(rows);
    if (!ok)
        return -1;
    g_done.conn = conn;
    g_done.pid = PQbackendPID(conn);
    memcpy(g_done.day, day, sizeof day);
    g_done.at_ms = mono;
    return planned;
}
