#include "recipients.h"

#include <stdio.h>
#include <string.h>

#include "db.h"
#include "prepared.h"
#include "timefmt.h"

/* A time as residents and staff read it: 04月13日 17:00, the county's local time. */
#define LOCAL_MD(x) "to_char((" x ") AT TIME ZONE 'Asia/Shanghai', 'MM\"月\"DD\"日\" HH24:MI')"

/* $1 event id, $2 type, $3 data, $4 the envelope's occurred_at, $5 now (the injected clock). */
#define SQL_HEAD \
    "WITH ev AS MATERIALIZED (" \
    "  SELECT $3::jsonb AS d, ($3::jsonb->>'ticket_id')::bigint AS ticket_id," \
    "         coalesce(($3::jsonb->>'at')::timestamptz, ($3::jsonb->>'requested_at')::timestamptz," \
    "                  $4::timestamptz) AS at, $5::timestamptz AS now" \
    "), p AS MATERIALIZED (" \
    "  SELECT pl.key, pl.audience, pl.template_key, pl.urgent OR t.urgent AS urgent," \
    "         t.wechat_template_id IS NOT NULL AS has_wechat" \
    "  FROM notify.plan pl JOIN notify.template t ON t.key = pl.template_key" \
    "  WHERE pl.enabled AND pl.event_type = $2::text" \
    "), tk AS MATERIALIZED (" \
    "  SELECT a.service_code, a.state, a.unit_id, a.assignee_id, a.township_id, a.sign_due, a.resolve_due" \
    "  FROM router.ticket_assignment a, ev WHERE a.ticket_id = ev.ticket_id" \
    "), who AS (" \
    /* the reporter of the event's ticket */ \
    "  SELECT p.*, 0 AS rank, 'ticket:' || c.code AS rkey, c.code AS rcode, c.phone, c.channel AS filed_by," \
    "         c.account_id, NULL::bigint AS staff_id, NULL::text AS robot, NULL::text AS vcode" \
    "  FROM p, ev JOIN intake.ticket_contact c ON c.ticket_id = ev.ticket_id" \
    "  WHERE p.audience = 'reporter'" \
    /* the reporters of the duplicates an outcome names (its own code is the reporter's) */ \
    "  UNION ALL" \
    "  SELECT p.*, 1, 'ticket:' || c.code, c.code, c.phone, c.channel, c.account_id, NULL, NULL, NULL" \
    "  FROM p, ev CROSS JOIN LATERAL jsonb_array_elements_text(CASE jsonb_typeof(ev.d->'followers')" \
    "       WHEN 'array' THEN ev.d->'followers' ELSE '[]' END) f(code)" \
    "  JOIN intake.ticket_contact c ON c.code = f.code" \
    "  WHERE p.audience = 'follower' AND f.code IS DISTINCT FROM ev.d->>'code'" \
    /* the assignee the event names, else who holds the ticket */ \
    "  UNION ALL" \
    "  SELECT p.*, 2, 'staff:' || s.id, NULL, NULL, NULL, NULL, s.id, NULL, NULL" \
    "  FROM p, ev JOIN registry.staff s" \
    "       ON s.id = coalesce((ev.d->>'assignee_id')::bigint, (SELECT tk.assignee_id FROM tk)) AND s.active" \
    "  WHERE p.audience = 'handler'" \
    /* the supervisors of the ticket's township */ \
    "  UNION ALL" \
    "  SELECT p.*, 3, 'staff:' || s.id, NULL, NULL, NULL, NULL, s.id, NULL, NULL" \
    "  FROM p, tk JOIN registry.staff s ON s.unit_id = tk.township_id AND s.role = 'supervisor' AND s.active" \
    "  WHERE p.audience = 'supervisor'" \
    /* the township's duty group */ \
    "  UNION ALL" \
    "  SELECT p.*, 4, 'unit:' || u.id, NULL, NULL, NULL, NULL, NULL, u.wecom_robot_key, NULL" \
    "  FROM p, tk JOIN registry.unit u ON u.id = tk.township_id AND u.wecom_robot_key IS NOT NULL" \
    "  WHERE p.audience = 'duty_group'"

/* the phone a verification request names, while its code is valid */
#define SQL_VERIFICATION \
    "  UNION ALL" \
    "  SELECT p.*, 5, 'request:' || v.request_id, NULL, v.phone, NULL, NULL, NULL, NULL, v.code" \
    "  FROM p, ev JOIN intake.wechat_verification v" \
    "       ON v.request_id = (ev.d->>'request_id')::uuid AND v.expires_at > ev.now" \
    "  WHERE p.audience = 'resident'"

/* tally's voters (migration 026): each credential of a vote.credentials event to its voter, or to
 * the holder of the voter's written proxy (holder_voter_id); a household's voter is its head, else
 * its first resident with a phone. The credential travels in the vcode column. */
#define SQL_VOTERS \
    "  UNION ALL" \
    "  SELECT p.*, 6, 'voter:' || cr.voter_id, NULL, rs.phone, NULL, NULL, NULL, NULL, cr.credential" \
    "  FROM p, ev CROSS JOIN LATERAL jsonb_to_recordset(CASE jsonb_typeof(ev.d->'credentials')" \
    "       WHEN 'array' THEN ev.d->'credentials' ELSE '[]' END) cr(voter_id bigint, holder_voter_id bigint, credential text)" \
    "  LEFT JOIN tally.motion_public mo ON mo.code = ev.d->>'motion'" \
    "  LEFT JOIN LATERAL (SELECT r.phone FROM registry.resident r" \
    "       WHERE r.phone IS NOT NULL AND CASE WHEN mo.electorate = 'household'" \
    "             THEN r.household_id = coalesce(cr.holder_voter_id, cr.voter_id)" \
    "             ELSE r.id = coalesce(cr.holder_voter_id, cr.voter_id) END" \
    "       ORDER BY r.is_head DESC, r.id LIMIT 1) rs ON true" \
    "  WHERE p.audience = 'voter'" \
    /* a closed vote: every household head of the group who has a phone */ \
    "  UNION ALL" \
    "  SELECT p.*, 7, 'household:' || h.id, NULL, r.phone, NULL, NULL, NULL, NULL, NULL" \
    "  FROM p, ev JOIN registry.household h ON h.group_id = (ev.d->>'group_id')::bigint" \
    "  JOIN registry.resident r ON r.household_id = h.id AND r.is_head AND r.phone IS NOT NULL" \
    "  WHERE p.audience = 'household'"

#define SQL_CHANNEL \
    "), ch AS (" \
    "  SELECT w.*, s.name AS staff_name," \
    "         CASE WHEN w.robot IS NOT NULL THEN 'wecom_robot'" \
    "              WHEN w.staff_id IS NOT NULL THEN " RECIPIENTS_STAFF_CHANNEL \
    "              WHEN b.openid IS NOT NULL THEN 'wechat'" \
    "              WHEN w.phone IS NOT NULL THEN 'sms' END AS channel," \
    "         CASE WHEN w.robot IS NOT NULL THEN w.robot" \
    "              WHEN w.staff_id IS NOT NULL THEN " RECIPIENTS_STAFF_ADDRESS \
    "              WHEN b.openid IS NOT NULL THEN b.openid" \
    "              ELSE w.phone END AS address," \
    "         CASE WHEN b.openid IS NOT NULL THEN coalesce(w.phone, b.phone) END AS fallback_phone" \
    "  FROM who w LEFT JOIN registry.staff s ON s.id = w.staff_id" \
    "  LEFT JOIN LATERAL ("

/* A resident's WeChat: the binding of their phone, else of the account they filed from by WeChat
 * (newest binding first); only for templates that have a WeChat template. */
#define SQL_BINDING \
    "    SELECT x.openid, x.phone FROM (" \
    "      (SELECT b.openid, b.phone, b.bound_at FROM intake.wechat_binding b" \
    "       WHERE w.has_wechat AND w.audience IN ('reporter', 'follower', 'household') AND b.phone = w.phone" \
    "       ORDER BY b.bound_at DESC LIMIT 1)" \
    "      UNION ALL" \
    "      (SELECT b.openid, b.phone, b.bound_at FROM intake.wechat_binding b" \
    "       WHERE w.has_wechat AND w.audience IN ('reporter', 'follower') AND w.filed_by = 'wechat'" \
    "         AND b.openid = w.account_id ORDER BY b.bound_at DESC LIMIT 1)" \
    "    ) x ORDER BY x.bound_at DESC LIMIT 1"

/* The values of tally's events (026_notify_vote_plans.sql): the credential in groups of four, the
 * name on the roll it is for, the head hash in two halves (an SMS parameter holds 35 characters). */
#define SQL_VOTE_VARS \
    "jsonb_strip_nulls(jsonb_build_object(" \
    "  'motion', ev.d->>'motion', 'title', ev.d->>'title'," \
    "  'group', (SELECT u.name FROM registry.unit u WHERE u.id = (ev.d->>'group_id')::bigint)," \
    "  'voter', (SELECT rp.name FROM tally.roll_public rp WHERE ch.audience = 'voter'" \
    "            AND rp.motion = ev.d->>'motion' AND rp.voter_id = substr(ch.rkey, 7)::bigint)," \
    "  'credential', CASE WHEN ch.audience = 'voter'" \
    "       THEN regexp_replace(upper(replace(ch.vcode, '-', '')), '(.{4})(?=.)', '\\1-', 'g') END," \
    "  'closes', coalesce(" LOCAL_MD("(ev.d->>'closes_at')::timestamptz") ", '会议结束时')," \
    "  'outcome', CASE ev.d->>'outcome' WHEN 'adopted' THEN '通过' WHEN 'rejected' THEN '未通过'" \
    "       WHEN 'no_quorum' THEN '到会人数不足，未能表决' WHEN 'elected' THEN '选举产生'" \
    "       WHEN 'partly_elected' THEN '部分当选，另行选举' WHEN 'tie' THEN '票数相等，重新投票'" \
    "       WHEN 'invalid_round' THEN '选举无效' WHEN 'void' THEN '选举无效' WHEN 'evaluated' THEN '评议完成'" \
    "       ELSE ev.d->>'outcome' END," \
    "  'summary', ev.d->>'summary'," \
    "  'head1', left(ev.d->>'head_hash', 32), 'head2', substr(ev.d->>'head_hash', 33)))"

#define SQL_TAIL \
    "  ) b ON true" \
    ")" \
    /* one message per address and template, but each credential its own (a proxy holder's two) */ \
    "SELECT DISTINCT ON (ch.template_key, ch.channel, ch.address, CASE WHEN ch.audience = 'voter' THEN ch.rkey END)" \
    "       $1::text || '/' || ch.key || '/' || ch.rkey AS dedup_key, ev.ticket_id, ch.template_key, ch.audience," \
    "       ch.channel, ch.address, ch.fallback_phone, ch.urgent, t.body, to_jsonb(t.sms_params) AS sms_params," \
    "       t.wechat_template_id, t.wechat_fields," \
    "       jsonb_strip_nulls(jsonb_build_object(" \
    "         'code', coalesce(ch.rcode, ev.d->>'code'), 'ticket_code', ev.d->>'code'," \
    "         'service', (SELECT sv.name FROM registry.service sv" \
    "                     WHERE sv.code = coalesce(ev.d->>'service_code', tk.service_code))," \
    "         'unit', coalesce(ev.d->>'unit_name', (SELECT u.name FROM registry.unit u" \
    "                  WHERE u.id = coalesce((ev.d->>'unit_id')::bigint, tk.unit_id)))," \
    "         'township', (SELECT u.name FROM registry.unit u WHERE u.id = tk.township_id)," \
    "         'note', ev.d->>'note', 'original', ev.d->>'merged_into', 'name', ch.staff_name," \
    "         'at', to_char(ev.at AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')," \
    "         'when', " LOCAL_MD("ev.at") "," \
    "         'sign_due', " LOCAL_MD("coalesce((ev.d->>'sign_due')::timestamptz, tk.sign_due)") "," \
    "         'resolve_due', " LOCAL_MD("coalesce((ev.d->>'resolve_due')::timestamptz, tk.resolve_due)") "," \
    "         'due', " LOCAL_MD("CASE WHEN tk.state IN ('assigned', 'returned')" \
                               " THEN coalesce((ev.d->>'sign_due')::timestamptz, tk.sign_due)" \
                               " ELSE coalesce((ev.d->>'resolve_due')::timestamptz, tk.resolve_due) END") "," \
    "         'vcode', ch.vcode))" \
    "       || CASE WHEN ev.d ? 'motion' THEN " SQL_VOTE_VARS " ELSE '{}' END AS vars" \
    " FROM ch CROSS JOIN ev LEFT JOIN tk ON true JOIN notify.template t ON t.key = ch.template_key" \
    " ORDER BY ch.template_key, ch.channel, ch.address, CASE WHEN ch.audience = 'voter' THEN ch.rkey END, ch.rank"

/* Every recipient of an event's plans, prepared once per session (prepared.h). */
static const char RECIPIENTS_SQL[] = SQL_HEAD SQL_VERIFICATION SQL_VOTERS SQL_CHANNEL SQL_BINDING SQL_TAIL;

PGresult *recipients_of_event(PGconn *conn, const char *event_id, const char *type, const char *data,
                              const char *occurred_at, int64_t now_us, char *err, size_t errsz)
{
    char now[TIMEFMT_LEN];
    timefmt_format(now_us, 0, now);
    const char *p[] = {event_id, type, data, occurred_at, now};
    return prepared_exec(conn, "notify_recipients", RECIPIENTS_SQL, 5, p, err, errsz);
}
