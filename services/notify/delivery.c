/* delivery: the message's state transitions (delivery.h). */
#include "delivery.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "db.h"
#include "log.h"

#define TS(n) "('epoch'::timestamptz + $" #n "::bigint * interval '1 microsecond')"

/* A batch of transitions in one statement: $1 a JSON array of rows (delivery_row), $2 the instance,
 * $3 now (us). One statement per batch instead of one per message: PostgreSQL's cost per message
 * was mostly the statement's own overhead, not its writes. The rows of ids this instance no longer
 * holds match nothing (the WHERE), and the answer lists the ids that were applied. */
static const char APPLY_SQL[] =
    "WITH b AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(id uuid, st text, due bigint, provider text,"
    "   msgid text, code text, detail text, route text, to_sms text, outcome text, reason text, attempt boolean)),"
    " u AS ("
    " UPDATE notify.message m SET state = b.st,"
    "  attempts = m.attempts + CASE WHEN b.attempt THEN 1 ELSE 0 END,"
    "  due_at = CASE WHEN b.st = 'pending' THEN 'epoch'::timestamptz + b.due * interval '1 microsecond' ELSE m.due_at END,"
    "  lease_until = NULL, leased_by = NULL,"
    "  provider = CASE WHEN b.st = 'sent' THEN b.provider ELSE m.provider END,"
    "  provider_msgid = CASE WHEN b.st = 'sent' THEN nullif(b.msgid, '') ELSE m.provider_msgid END,"
    "  sent_at = CASE WHEN b.st = 'sent' THEN " TS(3) " ELSE m.sent_at END,"
    "  last_code = CASE WHEN b.attempt OR b.st = 'dead' THEN b.code ELSE m.last_code END,"
    "  last_error = CASE WHEN b.attempt OR b.st = 'dead' THEN nullif(b.detail, '') ELSE m.last_error END,"
    "  route = b.route,"
    "  channel = CASE WHEN b.to_sms IS NOT NULL THEN 'sms' ELSE m.channel END,"
    "  address = coalesce(b.to_sms, m.address),"
    "  fallback_phone = CASE WHEN b.to_sms IS NOT NULL THEN NULL ELSE m.fallback_phone END"
    " FROM b WHERE m.id = b.id AND m.state = 'sending' AND m.leased_by = $2"
    " RETURNING m.id, m.attempts, b.st, b.provider, b.outcome, b.code, b.detail, b.reason, b.attempt),"
    " a AS (INSERT INTO notify.attempt (message_id, n, provider, at, outcome, code, detail)"
    "  SELECT id, attempts, provider, " TS(3) ", outcome, code, nullif(detail, '') FROM u WHERE attempt RETURNING 1),"
    " d AS (INSERT INTO notify.dead_letter (message_id, reason, code, at)"
    "  SELECT id, reason, code, " TS(3) " FROM u WHERE st = 'dead'"
    "  ON CONFLICT (message_id) DO UPDATE SET reason = EXCLUDED.reason, code = EXCLUDED.code, at = EXCLUDED.at,"
    "   redriven_at = NULL RETURNING 1)"
    " SELECT id::text FROM u";

json_t *delivery_row(const char *id, const delivery_t *d, int64_t now_us)
{
    static const char *const state[] = {"sent", "pending", "dead"};
    json_t *row = json_object();
    if (!row)
        return NULL;
    json_object_set_new(row, "id", json_string(id));
    json_object_set_new(row, "st", json_string(state[d->next]));
    json_object_set_new(row, "due", json_integer((json_int_t)(d->due_us > 0 ? d->due_us : now_us)));
    json_object_set_new(row, "provider", json_string(d->provider ? d->provider : ""));
    json_object_set_new(row, "msgid", json_string(d->provider_msgid ? d->provider_msgid : ""));
    json_object_set_new(row, "code", d->code ? json_string(d->code) : json_null());
    json_object_set_new(row, "detail", d->detail ? json_string(d->detail) : json_null());
    json_object_set_new(row, "route", d->route ? json_string(d->route) : json_null());
    json_object_set_new(row, "to_sms", d->to_sms ? json_string(d->to_sms) : json_null());
    json_object_set_new(row, "outcome", json_string(d->outcome ? d->outcome : "retry"));
    json_object_set_new(row, "reason",
                        json_string(d->reason ? d->reason : (d->detail && *d->detail ? d->detail : "failed")));
    json_object_set_new(row, "attempt", json_boolean(d->attempt));
    return row;
}

/* On conn, or prepared once per connection on db when db is given. */
static bool apply_rows(PGconn *conn, db_t *db, const char *instance, const json_t *rows, int64_t now_us,
                       json_t *applied, char *err, size_t errsz)
{
    char *js = json_dumps(rows, JSON_COMPACT);
    if (!js) {
        snprintf(err, errsz, "out of memory");
        return false;
    }
    char now[24];
    snprintf(now, sizeof now, "%lld", (long long)now_us);
    const char *p[] = {js, instance, now};
    PGresult *r = db ? db_exec_prepared(db, "notify_apply_batch", APPLY_SQL, 3, p, err, errsz, NULL)
                     : db_pq_exec(conn, APPLY_SQL, 3, p, err, errsz, NULL);
    free(js);
    if (!r)
        return false;
    for (int i = 0; applied && i < PQntuples(r); i++)
        json_object_set_new(applied, PQgetvalue(r, i, 0), json_true());
    PQclear(r);
    return true;
}

bool delivery_apply_rows_db(db_t *db, const char *instance, const json_t *rows, int64_t now_us, json_t *applied,
                            char *err, size_t errsz)
{
    return apply_rows(NULL, db, instance, rows, now_us, applied, err, errsz);
}

bool delivery_apply_rows(PGconn *conn, const char *instance, const json_t *rows, int64_t now_us, json_t *applied,
                         char *err, size_t errsz)
{
    return apply_rows(conn, NULL, instance, rows, now_us, applied, err, errsz);
}

bool delivery_apply(PGconn *conn, const char *id, const char *instance, const delivery_t *d, int64_t now_us,
                    bool *applied, char *err, size_t errsz)
{
    json_t *rows = json_array(), *done = json_object();
    if (!rows || !done)
        log_oom();
    json_array_append_new(rows, delivery_row(id, d, now_us));
    bool ok = apply_rows(conn, NULL, instance, rows, now_us, done, err, errsz);
    /* the answer's ids are PostgreSQL's spelling of the uuid: compare case-blind */
    *applied = ok && json_object_size(done) == 1 && strcasecmp(json_object_iter_key(json_object_iter(done)), id) == 0;
    json_decref(rows);
    json_decref(done);
    return ok;
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
