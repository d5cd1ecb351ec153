/* delivery: the message's state transitions (delivery.h). */
#include "delivery.h"

#include <stdio.h>
#include <string.h>

#include "db.h"

#define TS(n) "('epoch'::timestamptz + $" #n "::bigint * interval '1 microsecond')"

/* $1 id, $2 instance, $3 next state, $4 due (us), $5 provider, $6 provider_msgid, $7 code, $8 detail,
 * $9 route, $10 to_sms, $11 outcome, $12 reason, $13 attempt?, $14 now (us) */
static const char APPLY_SQL[] =
    "WITH u AS ("
    " UPDATE notify.message SET state = $3,"
    "  attempts = attempts + CASE WHEN $13::boolean THEN 1 ELSE 0 END,"
    "  due_at = CASE WHEN $3 = 'pending' THEN " TS(4) " ELSE due_at END,"
    "  lease_until = NULL, leased_by = NULL,"
    "  provider = CASE WHEN $3 = 'sent' THEN $5 ELSE provider END,"
    "  provider_msgid = CASE WHEN $3 = 'sent' THEN nullif($6, '') ELSE provider_msgid END,"
    "  sent_at = CASE WHEN $3 = 'sent' THEN " TS(14) " ELSE sent_at END,"
    "  last_code = CASE WHEN $13::boolean OR $3 = 'dead' THEN $7 ELSE last_code END,"
    "  last_error = CASE WHEN $13::boolean OR $3 = 'dead' THEN nullif($8, '') ELSE last_error END,"
    "  route = $9,"
    "  channel = CASE WHEN $10::text IS NOT NULL THEN 'sms' ELSE channel END,"
    "  address = coalesce($10, address),"
    "  fallback_phone = CASE WHEN $10::text IS NOT NULL THEN NULL ELSE fallback_phone END"
    " WHERE id = $1::uuid AND state = 'sending' AND leased_by = $2"
    " RETURNING id, attempts),"
    " a AS (INSERT INTO notify.attempt (message_id, n, provider, at, outcome, code, detail)"
    "  SELECT id, attempts, $5, " TS(14) ", $11, $7, nullif($8, '') FROM u WHERE $13::boolean RETURNING 1),"
    " d AS (INSERT INTO notify.dead_letter (message_id, reason, code, at)"
    "  SELECT id, $12, $7, " TS(14) " FROM u WHERE $3 = 'dead'"
    "  ON CONFLICT (message_id) DO UPDATE SET reason = EXCLUDED.reason, code = EXCLUDED.code, at = EXCLUDED.at,"
    "   redriven_at = NULL RETURNING 1)"
    " SELECT (SELECT count(*) FROM u), (SELECT count(*) FROM a), (SELECT count(*) FROM d)";

/* On conn, or prepared once per connection on db when db is given. */
static bool apply_on(PGconn *conn, db_t *db, const char *id, const char *instance, const delivery_t *d, int64_t now_us,
                     bool *applied, char *err, size_t errsz)
{
    static const char *const state[] = {"sent", "pending", "dead"};
    char due[24], now[24];
    snprintf(due, sizeof due, "%lld", (long long)(d->due_us > 0 ? d->due_us : now_us));
    snprintf(now, sizeof now, "%lld", (long long)now_us);
    const char *p[] = {id,
                       instance,
                       state[d->next],
                       due,
                       d->provider ? d->provider : "",
                       d->provider_msgid ? d->provider_msgid : "",
                       d->code,
                       d->detail,
                       d->route,
                       d->to_sms,
                       d->outcome ? d->outcome : "retry",
                       d->reason ? d->reason : (d->detail && *d->detail ? d->detail : "failed"),
                       d->attempt ? "t" : "f",
                       now};
    PGresult *r = db ? db_exec_prepared(db, "notify_apply", APPLY_SQL, 14, p, err, errsz, NULL)
                     : db_pq_exec(conn, APPLY_SQL, 14, p, err, errsz, NULL);
    if (!r)
        return false;
    *applied = strcmp(PQgetvalue(r, 0, 0), "1") == 0;
    PQclear(r);
    return true;
}

bool delivery_apply(PGconn *conn, const char *id, const char *instance, const delivery_t *d, int64_t now_us,
                    bool *applied, char *err, size_t errsz)
{
    return apply_on(conn, NULL, id, instance, d, now_us, applied, err, errsz);
}

bool delivery_apply_db(db_t *db, const char *id, const char *instance, const delivery_t *d, int64_t now_us,
                       bool *applied, char *err, size_t errsz)
{
    return apply_on(NULL, db, id, instance, d, now_us, applied, err, errsz);
}

delivery_t delivery_decide(const outcome_t *out, const char *provider, const char *channel, const char *fallback,
                           int attempts, int max_attempts, const char *next_sms, int64_t now_us, int64_t wait_ms)
{
    delivery_t d = {.attempt = true, .provider = provider, .outcome = outcome_name(out->kind), .code = out->code,
                    .detail = out->detail, .next = DELIVERY_AGAIN, .due_us = now_us};
    bool last = attempts + 1 >= max_attempts;
    bool sms = strcmp(channel, "sms") == 0;
    switch (out->kind) {
    case OUTCOME_SENT:
        d.next = DELIVERY_SENT;
        d.provider_msgid = out->provider_msgid;
        return d;
    case OUTCOME_FAILOVER:
        if (sms && next_sms && !last) {
            d.route = next_sms; /* at once, on the next provider */
            return d;
        }
        break; /* nowhere else to go: a retry, from the first provider again */
    case OUTCOME_RETRY:
        break;
    case OUTCOME_UNDELIVERABLE:
        if (!sms && fallback && *fallback) {
            d.to_sms = fallback;
            return d;
        }
        d.next = DELIVERY_DEAD;
        d.reason = "the channel cannot reach the recipient and there is no fallback phone";
        return d;
    case OUTCOME_PERMANENT:
        d.next = DELIVERY_DEAD;
        d.reason = out->detail[0] ? out->detail : "the provider refused the message for good";
        return d;
    case OUTCOME_TOKEN:
        if (last) {
            d.next = DELIVERY_DEAD;
            d.reason = "the provider kept refusing its access token";
        } else {
            d.due_us = now_us + 1000 * 1000; /* once the provider has a new token (ready() fetches it) */
        }
        return d;
    }
    if (last) {
        d.next = DELIVERY_DEAD;
        d.reason = "gave up after the last attempt (max_attempts)";
    } else {
        d.due_us = now_us + (out->retry_after_ms > 0 ? out->retry_after_ms : wait_ms) * 1000;
    }
    return d;
}
