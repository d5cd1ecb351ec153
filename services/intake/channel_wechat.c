/* /channels/wechat: the WeChat Official Account callback (providers.md §1.4, §1.5).
 *   GET   URL verification: signature over (token, timestamp, nonce); echostr back verbatim.
 *   POST  a message or event. Plain mode: signature; compatible and safe mode (encrypt_type=aes):
 *         also msg_signature over (token, timestamp, nonce, Encrypt), the message decrypted with
 *         the EncodingAESKey and checked to name our AppID (common/wxcrypt.h), the reply
 *         encrypted likewise.
 * A timestamp further than wechat_max_skew_s from our clock is refused (a captured push cannot be
 * played later); ToUserName must be our account (wechat_account). The message's dedup key (MsgId,
 * or FromUserName + CreateTime for events) is claimed in the inbox in the transaction that acts
 * on it (wechat_resident.h), so WeChat's three retries find it and are answered `success`,
 * changing nothing. The passive reply is sent after the COMMIT; a router call in between is
 * bounded (resident_rating.c) so the answer stays within WeChat's five seconds.
 * Bad input (a bad or missing signature, a stale timestamp, another account or AppID, XML that is
 * truncated, too large, not UTF-8 or holds a DOCTYPE or an entity, bad base64, a wrong padding) is
 * answered 400 or 403 and changes nothing. */
#include <openssl/rand.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "channel_store.h"
#include "channels.h"
#include "db_tx.h"
#include "form.h"
#include "gclock.h"
#include "intake.h"
#include "log.h"
#include "wechat_resident.h"
#include "wx_xml.h"
#include "wxcrypt.h"

static void plain(http_resp_t *resp, int status, const char *text)
{
    resp->status = status;
    resp->content_type = "text/plain; charset=utf-8";
    buf_reset(&resp->body);
    buf_puts(&resp->body, text);
}

static bool digits(const char *s, size_t max)
{
    size_t n = s ? strlen(s) : 0;
    return n > 0 && n <= max && strspn(s, "0123456789") == n;
}

/* An openid or account id: [A-Za-z0-9_-], 1..64 characters. */
static bool ident(const char *s)
{
    size_t n = s ? strlen(s) : 0;
    return n > 0 && n <= 64 &&
           strspn(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789_-") == n;
}

/* Text inside CDATA: a "]]>" in it is split across two sections. */
static void cdata(buf_t *b, const char *name, const char *text)
{
    buf_printf(b, "<%s><![CDATA[", name);
    for (const char *p = text; *p; p++) {
        if (!strncmp(p, "]]>", 3)) {
            buf_puts(b, "]]]]><![CDATA[>");
            p += 2;
        } else {
            buf_putc(b, *p);
        }
    }
    buf_printf(b, "]]></%s>", name);
}

static void random_nonce(char out[16])
{
    unsigned char r[8];
    if (RAND_bytes(r, sizeof r) != 1)
        abort();
    unsigned long long v = 0;
    for (int i = 0; i < 8; i++)
        v = v << 8 | r[i];
    snprintf(out, 16, "%010llu", v % 10000000000ULL);
}

/* The passive text reply, encrypted in compatible and safe mode (key non-NULL). False when the
 * encryption failed (the caller answers `success`: the resident sees nothing, WeChat retries nothing). */
static bool passive_reply(const channels_cfg_t *cfg, const unsigned char *key, const char *to, const char *from,
                          const char *text, int64_t now_us, http_resp_t *resp)
{
    buf_t x = BUF_INIT;
    long long now_s = (long long)(now_us / 1000000);
    buf_puts(&x, "<xml>");
    cdata(&x, "ToUserName", to);
    cdata(&x, "FromUserName", from);
    buf_printf(&x, "<CreateTime>%lld</CreateTime>", now_s);
    cdata(&x, "MsgType", "text");
    cdata(&x, "Content", text);
    buf_puts(&x, "</xml>");
    if (!key) {
        resp->status = 200;
        resp->content_type = "text/xml; charset=utf-8";
        buf_reset(&resp->body);
        buf_puts(&resp->body, buf_str(&x));
        buf_free(&x);
        return true;
    }
    int rc = 0;
    char *enc = wxc_encrypt(key, cfg->wechat_appid, buf_str(&x), x.len, NULL, &rc);
    buf_free(&x);
    if (!enc) {
        log_warn("wechat: the reply could not be encrypted: %s", wxc_strerror(rc));
        return false;
    }
    char ts[24], nonce[16], sig[WXC_SIG_HEX];
    snprintf(ts, sizeof ts, "%lld", now_s);
    random_nonce(nonce);
    wxc_signature(cfg->wechat_token, ts, nonce, enc, sig);
    resp->status = 200;
    resp->content_type = "text/xml; charset=utf-8";
    buf_reset(&resp->body);
    buf_puts(&resp->body, "<xml>");
    cdata(&resp->body, "Encrypt", enc);
    cdata(&resp->body, "MsgSignature", sig);
    buf_printf(&resp->body, "<TimeStamp>%s</TimeStamp>", ts);
    cdata(&resp->body, "Nonce", nonce);
    buf_puts(&resp->body, "</xml>");
    free(enc);
    return true;
}

/* The message from an encrypted push: *msg parsed from the decrypted XML. Answers and returns
 * false on any fault. */
static bool decrypt_push(const channels_cfg_t *cfg, const wxx_doc_t *outer, const char *ts, const char *nonce,
                         const char *msg_signature, unsigned char key[32], wxx_doc_t *msg, http_resp_t *resp)
{
    const char *enc = wxx_get(outer, "Encrypt");
    if (!cfg->wechat_aes_key || !*cfg->wechat_aes_key || !cfg->wechat_appid || !*cfg->wechat_appid) {
        log_warn("/channels/wechat: an encrypted push, but wechat_aes_key or wechat_appid is not set");
        plain(resp, 503, "encrypted pushes are not configured here");
        return false;
    }
    if (wxc_aes_key(cfg->wechat_aes_key, key) != WXC_OK) {
        log_warn("/channels/wechat: wechat_aes_key is not a 43-character EncodingAESKey");
        plain(resp, 503, "encrypted pushes are not configured here");
        return false;
    }
    if (!enc || !*enc) {
        plain(resp, 400, "encrypt_type=aes without <Encrypt>");
        return false;
    }
    if (!msg_signature || !wxc_signature_ok(cfg->wechat_token, ts, nonce, enc, msg_signature)) {
        plain(resp, 403, "bad msg_signature");
        return false;
    }
    int rc = 0;
    size_t len = 0;
    char *xml = wxc_decrypt(key, cfg->wechat_appid, enc, &len, NULL, &rc);
    if (!xml) {
        log_warn("/channels/wechat: cannot decrypt: %s", wxc_strerror(rc));
        plain(resp, rc == WXC_VALIDATE_APPID ? 403 : 400,
              rc == WXC_VALIDATE_APPID ? "the message is not for our AppID" : "cannot decrypt <Encrypt>");
        return false;
    }
    char err[200];
    bool ok = wxx_parse(xml, len, msg, err, sizeof err);
    free(xml);
    if (!ok) {
        plain(resp, 400, err);
        return false;
    }
    /* compatible mode repeats ToUserName outside: it must be the same */
    const char *outer_to = wxx_get(outer, "ToUserName"), *inner_to = wxx_get(msg, "ToUserName");
    if (outer_to && inner_to && strcmp(outer_to, inner_to)) {
        plain(resp, 400, "ToUserName outside and inside <Encrypt> differ");
        return false;
    }
    return true;
}

void channel_wechat_handle(const intake_t *app, const http_req_t *req, http_resp_t *resp)
{
    const channels_cfg_t *cfg = &app->channels;
    if (!cfg->wechat_token || !*cfg->wechat_token) {
        log_warn("/channels/wechat refused: the WeChat channel is off (set wechat_token, GRIDGOV_WECHAT_TOKEN)");
        plain(resp, 404, "the WeChat channel is not configured here");
        return;
    }
    bool get = !strcmp(req->method, "GET");
    if (!get && strcmp(req->method, "POST")) {
        snprintf(resp->allow, sizeof resp->allow, "GET, POST");
        plain(resp, 405, "GET or POST");
        return;
    }
    wxx_doc_t outer = {0}, inner = {0};
    json_t *qs = form_parse(req->query, strlen(req->query), NULL, 0);
    const char *sig = form_arg(qs, "signature"), *ts = form_arg(qs, "timestamp"), *nonce = form_arg(qs, "nonce");
    const char *enc_type = form_arg(qs, "encrypt_type");
    int64_t now = gclock_now_us();
    char err[512] = "";
    if (!digits(ts, 12) || !nonce || strlen(nonce) > 64 || !sig) {
        plain(resp, 400, "signature, timestamp and nonce are required");
        goto out;
    }
    long long skew = now / 1000000 - atoll(ts);
    if (skew > cfg->wechat_max_skew_s || -skew > cfg->wechat_max_skew_s) {
        log_warn("/channels/wechat refused: timestamp %s is %lld s from our clock", ts, skew);
        plain(resp, 403, "stale timestamp");
        goto out;
    }
    if (!wxc_signature_ok(cfg->wechat_token, ts, nonce, NULL, sig)) {
        log_warn("/channels/wechat refused: bad signature");
        plain(resp, 403, "bad signature");
        goto out;
    }
    if (get) {
        const char *echo = form_arg(qs, "echostr");
        if (!echo || !*echo || strlen(echo) > 512)
            plain(resp, 400, "echostr is required");
        else
            plain(resp, 200, echo); /* verbatim: WeChat compares it byte for byte */
        goto out;
    }
    bool encrypted = enc_type && !strcmp(enc_type, "aes");
    if (enc_type && !encrypted && strcmp(enc_type, "raw")) {
        plain(resp, 400, "encrypt_type is aes or raw");
        goto out;
    }
    if (!wxx_parse(req->body, req->body_len, &outer, err, sizeof err)) {
        log_warn("/channels/wechat refused: %s", err);
        plain(resp, 400, err);
        goto out;
    }
    unsigned char key[32];
    const wxx_doc_t *msg = &outer;
    if (encrypted) {
        if (!decrypt_push(cfg, &outer, ts, nonce, form_arg(qs, "msg_signature"), key, &inner, resp))
            goto out;
        msg = &inner;
    }
    const char *to = wxx_get(msg, "ToUserName"), *from = wxx_get(msg, "FromUserName");
    const char *ct = wxx_get(msg, "CreateTime"), *type = wxx_get(msg, "MsgType"), *msgid = wxx_get(msg, "MsgId");
    if (!ident(to) || !ident(from) || !digits(ct, 12) || !type || !*type || (msgid && !digits(msgid, 24))) {
        plain(resp, 400, "ToUserName, FromUserName, CreateTime and MsgType are required");
        goto out;
    }
    if (cfg->wechat_account && *cfg->wechat_account && strcmp(to, cfg->wechat_account)) {
        log_warn("/channels/wechat refused: ToUserName is not our account");
        plain(resp, 403, "ToUserName is not this account");
        goto out;
    }
    char dedup[65];
    if (msgid) {
        const char *parts[] = {"wechat", "msg", msgid};
        channel_dedup_key(parts, 3, dedup);
    } else {
        const char *parts[] = {"wechat", "event", from, ct, wxx_get(msg, "MsgID")};
        channel_dedup_key(parts, 5, dedup);
    }
    db_t *db = intake_db(app, err, sizeof err);
    PGconn *c = db ? db_conn(db, err, sizeof err) : NULL;
    if (!c || !db_begin(c, err, sizeof err))
        goto unavailable;
    inbox_entry_t e = {.channel = "wechat", .kind = msgid ? "message" : "event", .sender = from,
                       .body = req->body, .body_len = req->body_len, .now_us = now};
    long long id = 0;
    wechat_outcome_t o = {.reply = ""};
    inbox_status_t st = channel_inbox_claim(c, dedup, &e, &id, err, sizeof err);
    if (st == INBOX_UNAVAILABLE)
        goto rollback;
    if (st == INBOX_NEW && (!wechat_resident_act(app, c, msg, dedup, now, &o, err, sizeof err) ||
                            !channel_inbox_done(c, id, o.action, err, sizeof err)))
        goto rollback;
    /* The answer only after this COMMIT. */
    if (!db_commit(c, err, sizeof err))
        goto unavailable;
    if (st == INBOX_SEEN || !o.reply[0] || !passive_reply(cfg, encrypted ? key : NULL, from, to, o.reply, now, resp))
        plain(resp, 200, "success");
    goto out;
rollback:
    db_rollback(c);
unavailable:
    log_warn("/channels/wechat not stored: %s", err);
    plain(resp, 503, "not stored; WeChat will retry");
out:
    json_decref(qs);
    wxx_free(&outer);
    wxx_free(&inner);
}
