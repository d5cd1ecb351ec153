#include "wechat_resident.h"

#include <jansson.h>
#include <openssl/crypto.h>
#include <openssl/rand.h>
#include <openssl/sha.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "channel_store.h"
#include "db.h"
#include "intake.h"
#include "log.h"
#include "phone.h"
#include "resident_rating.h"
#include "ticket_input.h"
#include "utf8.h"
#include "uuid.h"

/* An appeal without a point yet: intake.ticket needs a point or an address, and a location
 * message may bring the point later. */
#define NO_PLACE_YET "微信留言（位置待补充）"

static void hex(const unsigned char *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        snprintf(out + 2 * i, 3, "%02x", b[i]);
}

static void unhex(const char *s, unsigned char *out, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        char two[3] = {s[2 * i], s[2 * i + 1], '\0'};
        out[i] = (unsigned char)strtoul(two, NULL, 16);
    }
}

static void us_text(int64_t us, char out[32])
{
    snprintf(out, 32, "%lld", (long long)us);
}

static PGresult *q(PGconn *c, const char *sql, int n, const char *const *p, char *err, size_t errsz)
{
    return db_pq_exec(c, sql, n, p, err, errsz, NULL);
}

static bool run(PGconn *c, const char *sql, int n, const char *const *p, char *err, size_t errsz)
{
    PGresult *r = q(c, sql, n, p, err, errsz);
    PQclear(r);
    return r != NULL;
}

/* The phone bound to openid into phone ("" when none). */
static bool bound_phone(PGconn *c, const char *openid, char phone[PHONE_LEN], char *err, size_t errsz)
{
    const char *p[] = {openid};
    PGresult *r = q(c, "SELECT phone FROM intake.wechat_binding_row WHERE openid = $1", 1, p, err, errsz);
    if (!r)
        return false;
    snprintf(phone, PHONE_LEN, "%s", PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return true;
}

static bool rate(const struct intake *app, PGconn *c, const char *openid, const char *rating, const char *dedup,
                 wechat_outcome_t *out, char *err, size_t errsz)
{
    char phone[PHONE_LEN], code[32];
    if (!bound_phone(c, openid, phone, err, errsz))
        return false;
    rate_status_t st = resident_rate(app, c, phone[0] ? phone : NULL, openid, rating, "wechat_binding", dedup, code,
                                     out->action, sizeof out->action);
    if (st == RATE_UNAVAILABLE) {
        snprintf(err, errsz, "%s", out->action);
        return false;
    }
    const char *word = !strcmp(rating, "satisfied") ? "满意" : !strcmp(rating, "basic") ? "基本满意" : "不满意";
    if (st == RATE_DONE)
        snprintf(out->reply, sizeof out->reply, "感谢您的评价！诉求 %s 已评为「%s」。", code, word);
    else if (!code[0])
        snprintf(out->reply, sizeof out->reply, "您目前没有待评价的诉求。");
    else
        snprintf(out->reply, sizeof out->reply, "诉求 %s 目前不能评价（可能已评价过）。", code);
    return true;
}

/* A mobile number from an openid: a new verification request (replacing a pending one), its
 * event for notify, unless the last one is younger than WECHAT_CODE_RESEND_S. */
static bool start_binding(PGconn *c, const char *openid, const char *phone, int64_t now_us, wechat_outcome_t *out,
                          char *err, size_t errsz)
{
    char now[32], masked[PHONE_LEN];
    us_text(now_us, now);
    phone_mask(phone, masked);
    const char *pe[] = {now};
    /* codes past their 10 minutes go, whoever asked for them */
    if (!run(c, "DELETE FROM intake.wechat_verification_request WHERE expires_at < to_timestamp($1::float8 / 1e6)", 1,
             pe, err, errsz))
        return false;
    char resend[16];
    snprintf(resend, sizeof resend, "%d", WECHAT_CODE_RESEND_S);
    const char *pr[] = {openid, now, resend};
    PGresult *r = q(c,
                    "SELECT 1 FROM intake.wechat_verification_request WHERE openid = $1"
                    " AND created_at > to_timestamp($2::float8 / 1e6) - make_interval(secs => $3::int) FOR UPDATE",
                    3, pr, err, errsz);
    if (!r)
        return false;
    bool recent = PQntuples(r) > 0;
    PQclear(r);
    if (recent) {
        snprintf(out->reply, sizeof out->reply, "验证码刚刚已发送，请稍候一分钟再试。");
        snprintf(out->action, sizeof out->action, "none: a code was sent less than a minute ago");
        return true;
    }
    unsigned char rnd[4], salt[16], h[32];
    if (RAND_bytes(rnd, sizeof rnd) != 1 || RAND_bytes(salt, sizeof salt) != 1) {
        snprintf(err, errsz, "no randomness for a verification code");
        return false;
    }
    char code[8], salt_hex[33], hash_hex[65], id[UUID_STR_LEN], ttl[16];
    uint32_t v = ((uint32_t)rnd[0] << 24 | (uint32_t)rnd[1] << 16 | (uint32_t)rnd[2] << 8 | rnd[3]) % 1000000u;
    snprintf(code, sizeof code, "%06u", v);
    unsigned char sc[16 + 6];
    memcpy(sc, salt, 16);
    memcpy(sc + 16, code, 6);
    SHA256(sc, sizeof sc, h);
    hex(salt, 16, salt_hex);
    hex(h, 32, hash_hex);
    uuid_v4(id);
    snprintf(ttl, sizeof ttl, "%d", WECHAT_CODE_TTL_S);
    const char *p[] = {id, openid, phone, code, salt_hex, hash_hex, now, ttl};
    if (!run(c,
             "INSERT INTO intake.wechat_verification_request"
             " (request_id, openid, phone, code, salt, code_sha256, attempts, created_at, expires_at)"
             " VALUES ($1::uuid, $2, $3, $4, decode($5, 'hex'), decode($6, 'hex'), 0, to_timestamp($7::float8 / 1e6),"
             "  to_timestamp($7::float8 / 1e6) + make_interval(secs => $8::int))"
             " ON CONFLICT (openid) DO UPDATE SET request_id = EXCLUDED.request_id, phone = EXCLUDED.phone,"
             "  code = EXCLUDED.code, salt = EXCLUDED.salt, code_sha256 = EXCLUDED.code_sha256, attempts = 0,"
             "  created_at = EXCLUDED.created_at, expires_at = EXCLUDED.expires_at",
             8, p, err, errsz))
        return false;
    json_t *d = json_pack("{s:s}", "request_id", id);
    bool ok = channel_emit(c, "channel.verify_requested", d, now_us, err, errsz);
    json_decref(d);
    if (!ok)
        return false;
    snprintf(out->reply, sizeof out->reply, "验证码已通过短信发送至 %s，请在10分钟内回复6位验证码完成绑定。", masked);
    snprintf(out->action, sizeof out->action, "verify_requested %s", id);
    log_info("wechat: binding to %s requested (%s)", masked, id);
    return true;
}

/* 6 digits: the pending request's code? Returns false only on a database error; *pending false
 * when this openid has no request (the digits are then an ordinary text). */
static bool check_code(PGconn *c, const char *openid, const char *typed, int64_t now_us, bool *pending,
                       wechat_outcome_t *out, char *err, size_t errsz)
{
    char now[32];
    us_text(now_us, now);
    const char *p[] = {openid, now};
    PGresult *r = q(c,
                    "SELECT request_id, phone, encode(salt, 'hex'), encode(code_sha256, 'hex'), attempts,"
                    " expires_at < to_timestamp($2::float8 / 1e6)"
                    " FROM intake.wechat_verification_request WHERE openid = $1 FOR UPDATE",
                    2, p, err, errsz);
    if (!r)
        return false;
    *pending = PQntuples(r) == 1;
    if (!*pending) {
        PQclear(r);
        return true;
    }
    char id[UUID_STR_LEN], phone[PHONE_LEN], masked[PHONE_LEN];
    snprintf(id, sizeof id, "%s", PQgetvalue(r, 0, 0));
    snprintf(phone, sizeof phone, "%s", PQgetvalue(r, 0, 1));
    unsigned char sc[16 + 6], want[32], got[32];
    unhex(PQgetvalue(r, 0, 2), sc, 16);
    unhex(PQgetvalue(r, 0, 3), want, 32);
    int attempts = atoi(PQgetvalue(r, 0, 4));
    bool expired = PQgetvalue(r, 0, 5)[0] == 't';
    PQclear(r);
    phone_mask(phone, masked);
    memcpy(sc + 16, typed, 6);
    SHA256(sc, sizeof sc, got);
    const char *pid[] = {id};
    if (expired) {
        snprintf(out->reply, sizeof out->reply, "验证码已过期，请重新发送您登记的手机号码。");
        snprintf(out->action, sizeof out->action, "none: code expired");
        return run(c, "DELETE FROM intake.wechat_verification_request WHERE request_id = $1::uuid", 1, pid, err, errsz);
    }
    if (CRYPTO_memcmp(want, got, 32) != 0) {
        if (attempts + 1 >= WECHAT_CODE_ATTEMPTS) {
            snprintf(out->reply, sizeof out->reply, "验证码错误次数过多，请重新发送您登记的手机号码获取新的验证码。");
            snprintf(out->action, sizeof out->action, "none: wrong code, attempts spent");
            return run(c, "DELETE FROM intake.wechat_verification_request WHERE request_id = $1::uuid", 1, pid, err,
                       errsz);
        }
        snprintf(out->reply, sizeof out->reply, "验证码错误，还可尝试 %d 次。", WECHAT_CODE_ATTEMPTS - attempts - 1);
        snprintf(out->action, sizeof out->action, "none: wrong code");
        return run(c, "UPDATE intake.wechat_verification_request SET attempts = attempts + 1 WHERE request_id = $1::uuid",
                   1, pid, err, errsz);
    }
    const char *pb[] = {openid, phone, now};
    if (!run(c,
             "INSERT INTO intake.wechat_binding_row (openid, phone, bound_at) VALUES ($1, $2, to_timestamp($3::float8 / 1e6))"
             " ON CONFLICT (openid) DO UPDATE SET phone = EXCLUDED.phone, bound_at = EXCLUDED.bound_at",
             3, pb, err, errsz) ||
        !run(c, "DELETE FROM intake.wechat_verification_request WHERE request_id = $1::uuid", 1, pid, err, errsz))
        return false;
    snprintf(out->reply, sizeof out->reply, "绑定成功！您的微信已绑定手机 %s，办理进展将通过微信通知您。", masked);
    snprintf(out->action, sizeof out->action, "bound");
    log_info("wechat: bound to %s", masked);
    return true;
}

static bool appeal(const struct intake *app, PGconn *c, const char *openid, const char *text, int64_t now_us,
                   wechat_outcome_t *out, char *err, size_t errsz)
{
    if (!*text) {
        snprintf(out->reply, sizeof out->reply, "请用文字描述您要反映的问题。");
        snprintf(out->action, sizeof out->action, "none: empty text");
        return true;
    }
    if (utf8_count(text, strlen(text)) > DESCRIPTION_MAX_CHARS) {
        snprintf(out->reply, sizeof out->reply, "内容过长（不超过%d字），请精简后再发送。", DESCRIPTION_MAX_CHARS);
        snprintf(out->action, sizeof out->action, "none: text too long");
        return true;
    }
    char phone[PHONE_LEN], now[32];
    if (!bound_phone(c, openid, phone, err, errsz))
        return false;
    us_text(now_us, now);
    const char *p[] = {app->channels.wechat_service, text, NO_PLACE_YET, phone[0] ? phone : NULL, openid, now};
    PGresult *r = q(c,
                    "SELECT code FROM intake.create_ticket('wechat', NULL, $1, $2, NULL, NULL, $3, NULL, '{}', NULL, NULL,"
                    " NULL, $4, NULL, $5, NULL, to_timestamp($6::float8 / 1e6), NULL)",
                    6, p, err, errsz);
    if (!r)
        return false;
    snprintf(out->reply, sizeof out->reply,
             "您的诉求已受理，编号 %s。可发送位置补充地点；办结后回复 1 满意、2 基本满意、3 不满意 进行评价。",
             PQgetvalue(r, 0, 0));
    snprintf(out->action, sizeof out->action, "appeal %s", PQgetvalue(r, 0, 0));
    PQclear(r);
    return true;
}

static bool text_message(const struct intake *app, PGconn *c, const char *openid, const char *content,
                         const char *dedup, int64_t now_us, wechat_outcome_t *out, char *err, size_t errsz)
{
    /* the text without surrounding spaces */
    while (*content == ' ' || *content == '\n' || *content == '\r' || *content == '\t')
        content++;
    size_t n = strlen(content);
    while (n && strchr(" \n\r\t", content[n - 1]))
        n--;
    char *t = strndup(content, n);
    if (!t)
        abort();
    bool ok;
    const char *rating = resident_rating_word(t);
    char phone[PHONE_LEN];
    bool pending = false;
    if (rating) {
        ok = rate(app, c, openid, rating, dedup, out, err, errsz);
    } else if (phone_normalize(t, phone)) {
        ok = start_binding(c, openid, phone, now_us, out, err, errsz);
    } else if (n == 6 && strspn(t, "0123456789") == 6) {
        ok = check_code(c, openid, t, now_us, &pending, out, err, errsz);
        if (ok && !pending)
            ok = appeal(app, c, openid, t, now_us, out, err, errsz);
    } else {
        ok = appeal(app, c, openid, t, now_us, out, err, errsz);
    }
    free(t);
    return ok;
}

/* The openid's latest open appeal, newest first along ticket_wechat_account (migration 023). */
const char WECHAT_OPEN_APPEAL_SQL[] =
    "SELECT t.id, t.code, t.lat IS NULL FROM intake.ticket t"
    " LEFT JOIN router.ticket_status s ON s.ticket_id = t.id"
    " WHERE t.channel = 'wechat' AND t.account_id = $1 AND coalesce(s.status, 'open') = 'open'"
    " ORDER BY t.requested_at DESC, t.id DESC LIMIT 1 FOR UPDATE OF t";

static bool location(PGconn *c, const wxx_doc_t *m, const char *openid, wechat_outcome_t *out, char *err, size_t errsz)
{
    double lat, lon;
    const char *label = wxx_get(m, "Label");
    if (!wxx_get(m, "Location_X") || !wxx_get(m, "Location_Y") || !parse_double(wxx_get(m, "Location_X"), &lat) ||
        !parse_double(wxx_get(m, "Location_Y"), &lon) || lat < -90 || lat > 90 || lon < -180 || lon > 180) {
        snprintf(out->reply, sizeof out->reply, "未能识别该位置，请重新发送。");
        snprintf(out->action, sizeof out->action, "none: no valid Location_X/Location_Y");
        return true;
    }
    const char *p[] = {openid};
    PGresult *r = q(c, WECHAT_OPEN_APPEAL_SQL, 1, p, err, errsz);
    if (!r)
        return false;
    if (PQntuples(r) == 0 || PQgetvalue(r, 0, 2)[0] != 't') {
        if (PQntuples(r))
            snprintf(out->reply, sizeof out->reply, "位置已记录（诉求 %s 已有位置）。", PQgetvalue(r, 0, 1));
        else
            snprintf(out->reply, sizeof out->reply, "位置已记录。如需反映问题，请直接发送文字描述。");
        snprintf(out->action, sizeof out->action, "none: location recorded");
        PQclear(r);
        return true;
    }
    char id[24], code[32], la[32], lo[32];
    snprintf(id, sizeof id, "%s", PQgetvalue(r, 0, 0));
    snprintf(code, sizeof code, "%s", PQgetvalue(r, 0, 1));
    PQclear(r);
    snprintf(la, sizeof la, "%.8f", lat);
    snprintf(lo, sizeof lo, "%.8f", lon);
    const char *label_p = label && *label && strlen(label) <= 500 ? label : NULL;
    const char *pu[] = {id, la, lo, label_p};
    if (!run(c,
             "UPDATE intake.ticket SET lat = $2::float8, long = $3::float8, address_string = coalesce($4, address_string)"
             " WHERE id = $1::bigint",
             4, pu, err, errsz))
        return false;
    snprintf(out->reply, sizeof out->reply, "已为诉求 %s 补充位置%s%s。", code, label_p ? "：" : "", label_p ? label_p : "");
    snprintf(out->action, sizeof out->action, "location %s", code);
    return true;
}

/* "must delete all the information of the user": the binding, a pending code, and the openid and
 * bodies the inbox holds (this push's row included). Tickets stay: they are the county's record. */
static bool unsubscribe(PGconn *c, const char *openid, wechat_outcome_t *out, char *err, size_t errsz)
{
    const char *p[] = {openid};
    if (!run(c, "DELETE FROM intake.wechat_binding_row WHERE openid = $1", 1, p, err, errsz) ||
        !run(c, "DELETE FROM intake.wechat_verification_request WHERE openid = $1", 1, p, err, errsz) ||
        !run(c, "UPDATE intake.channel_inbox SET sender = NULL, body = NULL WHERE sender = $1", 1, p, err, errsz))
        return false;
    snprintf(out->action, sizeof out->action, "unsubscribed: binding and inbox erased");
    return true;
}

static bool template_finished(PGconn *c, const wxx_doc_t *m, wechat_outcome_t *out, char *err, size_t errsz)
{
    const char *msgid = wxx_get(m, "MsgID"), *status = wxx_get(m, "Status"), *ct = wxx_get(m, "CreateTime");
    if (!msgid || !*msgid || strspn(msgid, "0123456789") != strlen(msgid) || !status) {
        snprintf(out->action, sizeof out->action, "none: TEMPLATESENDJOBFINISH without MsgID or Status");
        return true;
    }
    int64_t at = atoll(ct) * 1000000;
    bool delivered = !strcmp(status, "success");
    if (!channel_emit_receipt(c, "wechat", NULL, msgid, delivered, status, at, err, errsz))
        return false;
    snprintf(out->action, sizeof out->action, "receipt %s", delivered ? "delivered" : "failed");
    return true;
}

bool wechat_resident_act(const struct intake *app, PGconn *c, const wxx_doc_t *msg, const char *dedup_key,
                         int64_t now_us, wechat_outcome_t *out, char *err, size_t errsz)
{
    out->reply[0] = out->action[0] = '\0';
    const char *type = wxx_get(msg, "MsgType"), *openid = wxx_get(msg, "FromUserName");
    if (!strcmp(type, "text"))
        return text_message(app, c, openid, wxx_get(msg, "Content") ? wxx_get(msg, "Content") : "", dedup_key, now_us,
                            out, err, errsz);
    if (!strcmp(type, "location"))
        return location(c, msg, openid, out, err, errsz);
    if (!strcmp(type, "event")) {
        const char *ev = wxx_get(msg, "Event");
        ev = ev ? ev : "";
        if (!strcmp(ev, "subscribe")) {
            snprintf(out->reply, sizeof out->reply,
                     "欢迎关注！直接发送文字即可反映诉求。回复您登记的手机号码，我们将发送验证码完成绑定，办理进展将通过微信通知您。");
            snprintf(out->action, sizeof out->action, "subscribed");
            return true;
        }
        if (!strcmp(ev, "unsubscribe"))
            return unsubscribe(c, openid, out, err, errsz);
        if (!strcmp(ev, "TEMPLATESENDJOBFINISH"))
            return template_finished(c, msg, out, err, errsz);
        snprintf(out->action, sizeof out->action, "none: event %.40s", ev);
        return true;
    }
    snprintf(out->reply, sizeof out->reply, "目前仅支持文字和位置消息，请用文字描述您要反映的问题。");
    snprintf(out->action, sizeof out->action, "none: %.40s message", type);
    return true;
}
