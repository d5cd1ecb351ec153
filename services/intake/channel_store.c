#include "channel_store.h"

#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "buf.h"
#include "db.h"
#include "timefmt.h"
#include "uuid.h"

void channel_dedup_key(const char *const *parts, size_t n, char out[65])
{
    buf_t b = BUF_INIT;
    for (size_t i = 0; i < n; i++) {
        if (i)
            buf_putc(&b, ':');
        buf_puts(&b, parts[i] ? parts[i] : "");
    }
    unsigned char h[32];
    SHA256((const unsigned char *)(b.data ? b.data : ""), b.len, h);
    buf_free(&b);
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static void us_text(int64_t us, char out[32])
{
    snprintf(out, 32, "%lld", (long long)us);
}

inbox_status_t channel_inbox_claim(PGconn *c, const char *dedup_key, const inbox_entry_t *e, long long *id, char *err,
                                   size_t errsz)
{
    /* keep at most INBOX_BODY_MAX bytes, cut before a UTF-8 continuation byte */
    size_t n = e->body_len;
    if (n > INBOX_BODY_MAX) {
        n = INBOX_BODY_MAX;
        while (n > 0 && ((unsigned char)e->body[n] & 0xC0) == 0x80)
            n--;
    }
    char *body = malloc(n + 1);
    if (!body)
        abort();
    memcpy(body, e->body, n);
    body[n] = '\0';
    char now[32];
    us_text(e->now_us, now);
    const char *p[] = {e->channel, e->kind, dedup_key, e->sender, body, now};
    PGresult *r = db_pq_exec(c,
                             "INSERT INTO intake.channel_inbox (channel, kind, dedup_key, sender, body, action, received_at)"
                             " VALUES ($1, $2, $3, $4, $5, 'received', to_timestamp($6::float8 / 1e6))"
                             " ON CONFLICT (dedup_key) DO NOTHING RETURNING id",
                             6, p, err, errsz, NULL);
    free(body);
    if (!r)
        return INBOX_UNAVAILABLE;
    inbox_status_t st = PQntuples(r) == 1 ? INBOX_NEW : INBOX_SEEN;
    if (st == INBOX_NEW)
        *id = atoll(PQgetvalue(r, 0, 0));
    PQclear(r);
    return st;
}

bool channel_inbox_done(PGconn *c, long long id, const char *action, char *err, size_t errsz)
{
    char ids[24], act[201];
    snprintf(ids, sizeof ids, "%lld", id);
    /* the action names codes and outcomes only; cut at 200 bytes on a character boundary */
    size_t n = strlen(action);
    if (n > 200) {
        n = 200;
        while (n > 0 && ((unsigned char)action[n] & 0xC0) == 0x80)
            n--;
    }
    memcpy(act, action, n);
    act[n] = '\0';
    const char *p[] = {ids, act};
    PGresult *r = db_pq_exec(c, "UPDATE intake.channel_inbox SET action = $2 WHERE id = $1::bigint", 2, p, err, errsz,
                             NULL);
    PQclear(r);
    return r != NULL;
}

bool channel_emit(PGconn *c, const char *type, const json_t *data, int64_t occurred_us, char *err, size_t errsz)
{
    char *d = json_dumps(data, JSON_COMPACT);
    char at[32];
    us_text(occurred_us, at);
    const char *p[] = {type, d, at};
    PGresult *r = db_pq_exec(c, "SELECT bus.emit($1, 'intake', NULL, $2::jsonb, to_timestamp($3::float8 / 1e6))", 3, p,
                             err, errsz, NULL);
    free(d);
    PQclear(r);
    return r != NULL;
}

bool channel_emit_receipt(PGconn *c, const char *provider, const char *message_id, const char *provider_msgid,
                          bool delivered, const char *code, int64_t reported_us, char *err, size_t errsz)
{
    char at[TIMEFMT_LEN];
    timefmt_format(reported_us, 0, at);
    json_t *d = json_pack("{s:s,s:s,s:s}", "provider", provider, "status", delivered ? "delivered" : "failed",
                          "reported_at", at);
    if (message_id && uuid_valid(message_id))
        json_object_set_new(d, "message_id", json_string(message_id));
    if (provider_msgid && *provider_msgid && strlen(provider_msgid) <= 128)
        json_object_set_new(d, "provider_msgid", json_string(provider_msgid));
    if (code && *code && strlen(code) <= 64)
        json_object_set_new(d, "code", json_string(code));
    bool ok = false;
    if (!json_object_get(d, "message_id") && !json_object_get(d, "provider_msgid"))
        snprintf(err, errsz, "a receipt names no message (no uuid out_id/ext, no provider id)");
    else
        ok = channel_emit(c, "channel.receipt", d, reported_us, err, errsz);
    json_decref(d);
    return ok;
}

bool channel_parse_cst(const char *s, int64_t *us)
{
    int y, mo, d, h, mi, se, n = 0;
    if (!s || sscanf(s, "%4d-%2d-%2d %2d:%2d:%2d%n", &y, &mo, &d, &h, &mi, &se, &n) != 6 || s[n] != '\0' ||
        strlen(s) != 19)
        return false;
    if (mo < 1 || mo > 12 || d < 1 || d > 31 || h > 23 || mi > 59 || se > 60 || y < 2000)
        return false;
    struct tm tm = {.tm_year = y - 1900, .tm_mon = mo - 1, .tm_mday = d, .tm_hour = h, .tm_min = mi, .tm_sec = se};
    time_t t = timegm(&tm);
    *us = ((int64_t)t - 8 * 3600) * 1000000;
    return true;
}
