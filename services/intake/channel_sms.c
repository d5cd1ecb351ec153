/* The SMS providers' pushes (providers.md §3.1, §3.2): Aliyun SmsUp and SmsReport, Tencent's
 * uplink and delivery callbacks. They carry no signature of the provider's, so the URL carries
 * ours: `token`, compared in constant time with sms_callback_token (channels.h). A push is
 * checked whole before anything is stored (one bad item refuses it all, and it changes nothing);
 * then each item is claimed in the inbox by its dedup key and acted on, all in one transaction,
 * and the provider gets its "received" answer only after the COMMIT.
 * An uplink 1/2/3 (满意/基本满意/不满意) rates the last resolved ticket of that number (proof
 * sms_uplink); TD (any case) or 退订 opts the number out of SMS; any other text is only recorded:
 * the uplink number answers every message we send, so a free text is no appeal (no category, no
 * place), and the inbox keeps it for the operators. */
#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "channel_store.h"
#include "channels.h"
#include "db_tx.h"
#include "form.h"
#include "gclock.h"
#include "intake.h"
#include "log.h"
#include "phone.h"
#include "resident_rating.h"

#define SMS_MAX_ITEMS 200
#define SMS_TEXT_MAX 1024 /* bytes of an uplink's text */
#define SMS_FUTURE_S 600  /* a push may be this far ahead of our clock */

typedef enum { SMS_UP, SMS_REPORT } sms_kind_t;

/* One item of a push, checked; strings borrowed from the parsed JSON. */
typedef struct {
    char phone[PHONE_LEN]; /* uplink: the sender; report: "" (receipts may mask it) */
    const char *text;      /* uplink */
    const char *message_id, *provider_msgid, *code; /* report */
    bool delivered;
    int64_t at_us;          /* when the provider says it happened */
    char dedup[65];
    json_t *item;
} sms_item_t;

/* The provider's answer shapes: Aliyun {"code":0,"msg":…}, Tencent {"result":0,"errmsg":…}. */
static void answer(http_resp_t *resp, bool aliyun, int status, const char *msg)
{
    json_t *j = aliyun ? json_pack("{s:i,s:s}", "code", status == 200 ? 0 : 1, "msg", status == 200 ? "接收成功" : msg)
                       : json_pack("{s:i,s:s}", "result", status == 200 ? 0 : 1, "errmsg", status == 200 ? "OK" : msg);
    char *s = json_dumps(j, JSON_COMPACT);
    resp->status = status;
    resp->content_type = "application/json; charset=utf-8";
    buf_reset(&resp->body);
    buf_puts(&resp->body, s);
    free(s);
    json_decref(j);
}

/* The URL's token against the configured one: both hashed, so that the comparison takes the same
 * time whatever their lengths and contents. */
static bool token_ok(const char *want, const char *got)
{
    if (!got)
        return false;
    unsigned char a[32], b[32];
    SHA256((const unsigned char *)want, strlen(want), a);
    SHA256((const unsigned char *)got, strlen(got), b);
    return CRYPTO_memcmp(a, b, 32) == 0;
}

static const char *str(const json_t *o, const char *k)
{
    return json_string_value(json_object_get(o, k));
}

static bool fresh(const channels_cfg_t *cfg, int64_t at_us, int64_t now_us, char *why, size_t whysz)
{
    if (now_us - at_us > (int64_t)cfg->sms_max_age_s * 1000000) {
        snprintf(why, whysz, "stale: older than %d s", cfg->sms_max_age_s);
        return false;
    }
    if (at_us - now_us > (int64_t)SMS_FUTURE_S * 1000000) {
        snprintf(why, whysz, "its time is in the future");
        return false;
    }
    return true;
}

/* Checks one item and fills it; false with why. */
static bool check_item(const channels_cfg_t *cfg, bool aliyun, sms_kind_t kind, json_t *o, int64_t now_us,
                       sms_item_t *it, char *why, size_t whysz)
{
    memset(it, 0, sizeof *it);
    it->item = o;
    if (!json_is_object(o)) {
        snprintf(why, whysz, "an item is not a JSON object");
        return false;
    }
    if (kind == SMS_UP) {
        const char *num = aliyun ? str(o, "phone_number") : str(o, "mobile");
        char full[32];
        if (!aliyun) {
            const char *nc = str(o, "nationcode");
            if (!nc || strcmp(nc, "86")) {
                snprintf(why, whysz, "nationcode must be 86");
                return false;
            }
        }
        snprintf(full, sizeof full, "%s", num ? num : "");
        if (!phone_normalize(full, it->phone)) {
            snprintf(why, whysz, "%s is not a mainland mobile number", aliyun ? "phone_number" : "mobile");
            return false;
        }
        it->text = aliyun ? str(o, "content") : str(o, "text");
        if (!it->text || strlen(it->text) > SMS_TEXT_MAX) {
            snprintf(why, whysz, "%s is missing or longer than %d bytes", aliyun ? "content" : "text", SMS_TEXT_MAX);
            return false;
        }
        if (aliyun) {
            if (!channel_parse_cst(str(o, "send_time"), &it->at_us)) {
                snprintf(why, whysz, "send_time is not YYYY-MM-DD hh:mm:ss");
                return false;
            }
            json_t *seq = json_object_get(o, "sequence_id");
            char seqs[40];
            if (json_is_integer(seq))
                snprintf(seqs, sizeof seqs, "%lld", (long long)json_integer_value(seq));
            else if (json_is_string(seq) && *json_string_value(seq) && strlen(json_string_value(seq)) < sizeof seqs)
                snprintf(seqs, sizeof seqs, "%s", json_string_value(seq));
            else {
                snprintf(why, whysz, "sequence_id is missing");
                return false;
            }
            const char *parts[] = {"aliyun", "up", seqs};
            channel_dedup_key(parts, 3, it->dedup);
        } else {
            json_t *t = json_object_get(o, "time");
            if (!json_is_integer(t) || json_integer_value(t) <= 0) {
                snprintf(why, whysz, "time is not a Unix time in seconds");
                return false;
            }
            it->at_us = (int64_t)json_integer_value(t) * 1000000;
            char ts[24];
            snprintf(ts, sizeof ts, "%lld", (long long)json_integer_value(t));
            const char *parts[] = {"tencent", "up", it->phone, ts, it->text};
            channel_dedup_key(parts, 5, it->dedup);
        }
    } else {
        it->provider_msgid = aliyun ? str(o, "biz_id") : str(o, "sid");
        it->message_id = aliyun ? str(o, "out_id") : str(o, "ext");
        if (!it->provider_msgid || !*it->provider_msgid || strlen(it->provider_msgid) > 128) {
            snprintf(why, whysz, "%s is missing", aliyun ? "biz_id" : "sid");
            return false;
        }
        const char *status;
        if (aliyun) {
            json_t *s = json_object_get(o, "success");
            if (!json_is_boolean(s)) {
                snprintf(why, whysz, "success is not true or false");
                return false;
            }
            it->delivered = json_is_true(s);
            it->code = str(o, "err_code");
            status = it->delivered ? "true" : "false";
            if (!channel_parse_cst(str(o, "report_time"), &it->at_us)) {
                snprintf(why, whysz, "report_time is not YYYY-MM-DD hh:mm:ss");
                return false;
            }
        } else {
            status = str(o, "report_status");
            if (!status || (strcmp(status, "SUCCESS") && strcmp(status, "FAIL"))) {
                snprintf(why, whysz, "report_status is not SUCCESS or FAIL");
                return false;
            }
            it->delivered = !strcmp(status, "SUCCESS");
            it->code = str(o, "errmsg");
            if (!channel_parse_cst(str(o, "user_receive_time"), &it->at_us)) {
                snprintf(why, whysz, "user_receive_time is not YYYY-MM-DD hh:mm:ss");
                return false;
            }
        }
        const char *parts[] = {aliyun ? "aliyun" : "tencent", "report", it->provider_msgid, status,
                               it->code ? it->code : ""};
        channel_dedup_key(parts, 5, it->dedup);
    }
    return fresh(cfg, it->at_us, now_us, why, whysz);
}

/* TD, td, Td … or 退订, around spaces. */
static bool opt_out_word(const char *text)
{
    while (*text == ' ')
        text++;
    size_t n = strlen(text);
    while (n && text[n - 1] == ' ')
        n--;
    return (n == 2 && !strncasecmp(text, "TD", 2)) || (n == 6 && !strncmp(text, "退订", 6));
}

/* Does what one new item asks; false (with err) when nothing may be committed. */
static bool act(const intake_t *app, PGconn *c, bool aliyun, sms_kind_t kind, const sms_item_t *it, int64_t now_us,
                char *action, size_t actsz, char *err, size_t errsz)
{
    const char *provider = aliyun ? "aliyun" : "tencent";
    char masked[PHONE_LEN];
    if (kind == SMS_REPORT) {
        if (!channel_emit_receipt(c, provider, it->message_id, it->provider_msgid, it->delivered, it->code, it->at_us,
                                  err, errsz))
            return false;
        snprintf(action, actsz, "receipt %s", it->delivered ? "delivered" : "failed");
        return true;
    }
    phone_mask(it->phone, masked);
    const char *rating = resident_rating_word(it->text);
    if (rating) {
        char code[32];
        rate_status_t st = resident_rate(app, c, it->phone, NULL, rating, "sms_uplink", it->dedup, code, action, actsz);
        if (st == RATE_UNAVAILABLE) {
            snprintf(err, errsz, "%s", action);
            return false;
        }
        log_info("sms %s uplink from %s: %s", provider, masked, action);
        return true;
    }
    if (opt_out_word(it->text)) {
        char now[32];
        snprintf(now, sizeof now, "%lld", (long long)now_us);
        const char *p[] = {it->phone, now};
        PGresult *r = db_pq_exec(c,
                                 "INSERT INTO intake.sms_opt_out_row (phone, at) VALUES ($1, to_timestamp($2::float8 / 1e6))"
                                 " ON CONFLICT (phone) DO NOTHING",
                                 2, p, err, errsz, NULL);
        if (!r)
            return false;
        PQclear(r);
        snprintf(action, actsz, "opt_out");
        log_info("sms %s uplink from %s: opted out of SMS", provider, masked);
        return true;
    }
    snprintf(action, actsz, "none: free text, recorded");
    return true;
}

void channel_sms_handle(const intake_t *app, const http_req_t *req, http_resp_t *resp, const char *provider,
                        const char *what)
{
    const channels_cfg_t *cfg = &app->channels;
    bool aliyun = !strcmp(provider, "aliyun");
    sms_kind_t kind = !strcmp(what, "up") ? SMS_UP : SMS_REPORT;
    if (!cfg->sms_token || !*cfg->sms_token) {
        log_warn("%s refused: the SMS channels are off (set sms_callback_token, GRIDGOV_SMS_CALLBACK_TOKEN)", req->path);
        answer(resp, aliyun, 404, "SMS callbacks are not configured here");
        return;
    }
    if (strcmp(req->method, "POST")) {
        answer(resp, aliyun, 405, "POST only");
        snprintf(resp->allow, sizeof resp->allow, "POST");
        return;
    }
    json_t *q = form_parse(req->query, strlen(req->query), NULL, 0);
    bool authorized = token_ok(cfg->sms_token, form_arg(q, "token"));
    json_decref(q);
    if (!authorized) {
        log_warn("%s refused: wrong or missing token", req->path);
        answer(resp, aliyun, 403, "wrong token");
        return;
    }
    json_error_t je;
    json_t *doc = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
    /* Tencent's uplink is one object; every other push is an array */
    bool single = !aliyun && kind == SMS_UP;
    if (!doc || (single ? !json_is_object(doc) : !json_is_array(doc)) ||
        (!single && (json_array_size(doc) == 0 || json_array_size(doc) > SMS_MAX_ITEMS))) {
        json_decref(doc);
        answer(resp, aliyun, 400, single ? "send one JSON object" : "send a JSON array of 1 to 200 items");
        return;
    }
    size_t n = single ? 1 : json_array_size(doc);
    sms_item_t *items = calloc(n, sizeof *items);
    if (!items)
        abort();
    int64_t now = gclock_now_us();
    char why[200], err[512] = "", action[256];
    for (size_t i = 0; i < n; i++) {
        if (!check_item(cfg, aliyun, kind, single ? doc : json_array_get(doc, i), now, &items[i], why, sizeof why)) {
            log_warn("%s refused: item %zu: %s", req->path, i, why);
            answer(resp, aliyun, 400, why);
            goto out;
        }
    }
    db_t *db = intake_db(app, err, sizeof err);
    PGconn *c = db ? db_conn(db, err, sizeof err) : NULL;
    if (!c || !db_begin(c, err, sizeof err))
        goto unavailable;
    int fresh_items = 0;
    for (size_t i = 0; i < n; i++) {
        char *body = json_dumps(items[i].item, JSON_COMPACT);
        inbox_entry_t e = {.channel = provider, .kind = kind == SMS_UP ? "uplink" : "report",
                           .sender = items[i].phone[0] ? items[i].phone : NULL, .body = body,
                           .body_len = strlen(body), .now_us = now};
        long long id = 0;
        inbox_status_t st = channel_inbox_claim(c, items[i].dedup, &e, &id, err, sizeof err);
        free(body);
        if (st == INBOX_UNAVAILABLE)
            goto rollback;
        if (st == INBOX_SEEN)
            continue;
        fresh_items++;
        if (!act(app, c, aliyun, kind, &items[i], now, action, sizeof action, err, sizeof err) ||
            !channel_inbox_done(c, id, action, err, sizeof err))
            goto rollback;
    }
    /* The provider's "received" only after this COMMIT: otherwise it pushes again. */
    if (!db_commit(c, err, sizeof err))
        goto unavailable;
    if ((size_t)fresh_items < n)
        log_info("%s: %zu of %zu items seen before, left as they were", req->path, n - (size_t)fresh_items, n);
    answer(resp, aliyun, 200, NULL);
    goto out;
rollback:
    db_rollback(c);
unavailable:
    log_warn("%s not stored: %s", req->path, err);
    answer(resp, aliyun, 503, "not stored; push again later");
out:
    free(items);
    json_decref(doc);
}
