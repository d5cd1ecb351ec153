/* /channels/wechat, the WeChat Official Account callback: URL verification; plain, compatible
 * and safe mode; a resident's text becomes an appeal answered with its code after the COMMIT and
 * within WeChat's five seconds (encrypted in safe mode); a retry of the same message is answered
 * `success` and changes nothing; every bad input (signature, timestamp, account, AppID, XML that
 * is truncated, oversized, has a DOCTYPE or an entity or is not UTF-8, bad base64, a wrong pad) is
 * refused and changes nothing; the binding flow by a code sent to the phone, with its attempts
 * limited and its expiry; location; a rating by 1/2/3 from a bound openid; unsubscribe erases the
 * binding; TEMPLATESENDJOBFINISH becomes a channel.receipt. Requests are signed with
 * common/wxcrypt (cross-checked against the npm libraries by tests/xcheck). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "gclock.h"
#include "harness.h"
#include "wx_xml.h"
#include "wxcrypt.h"

#define TOKEN "gridgovWxToken"
#define AES_KEY "abcdefghijklmnopqrstuvwxyz0123456789ABCDEFG"
#define APPID "wxb11529c136998cb6"
#define ACCOUNT "gh_gridgov00001"

static pid_t g_intake, g_router;
static PGconn *g_db;
static char g_key[80], g_clock[1024];
static int g_http;
static long long g_now = 1781485200LL; /* 2026-06-15T01:00:00Z, Mon 09:00 in China */
static unsigned char g_aes[32];
static long long g_msgid = 7000000000000000LL;

static void set_clock(long long t)
{
    char iso[32];
    time_t tt = (time_t)t;
    struct tm tm;
    gmtime_r(&tt, &tm);
    strftime(iso, sizeof iso, "%Y-%m-%dT%H:%M:%SZ", &tm);
    h_set_clock(g_clock, iso);
    g_now = t;
}

static int setup(void **state)
{
    (void)state;
    g_db = h_db();
    char *k = h_api_key(g_db);
    snprintf(g_key, sizeof g_key, "%s", k);
    free(k);
    assert_int_equal(wxc_aes_key(AES_KEY, g_aes), WXC_OK);
    snprintf(g_clock, sizeof g_clock, "%s/clock-channels-wechat", h_env("GRIDGOV_TEST_VAR"));
    set_clock(g_now);
    static char clock_env[1100], router_ep[96];
    snprintf(clock_env, sizeof clock_env, "GRIDGOV_CLOCK_FILE=%s", g_clock);
    snprintf(router_ep, sizeof router_ep, "GRIDGOV_ROUTER_ENDPOINT=tcp://127.0.0.1:%d", h_port(422));
    const char *ienv[] = {clock_env, router_ep, "GRIDGOV_WECHAT_TOKEN=" TOKEN, "GRIDGOV_WECHAT_AES_KEY=" AES_KEY,
                          "GRIDGOV_WECHAT_APPID=" APPID, "GRIDGOV_WECHAT_ACCOUNT=" ACCOUNT, NULL};
    const char *renv[] = {clock_env, "GRIDGOV_TICK_MS=50", NULL};
    g_http = h_port(420);
    g_intake = h_start_intake(g_http, h_port(421), ienv);
    g_router = h_start_router(h_port(422), h_port(421), renv);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int s1 = h_stop(g_router, SIGTERM), s2 = h_stop(g_intake, SIGTERM);
    PQfinish(g_db);
    return WIFEXITED(s1) && WEXITSTATUS(s1) == 0 && WIFEXITED(s2) && WEXITSTATUS(s2) == 0 ? 0 : -1;
}

typedef struct {
    long status;
    char body[8192];
    long ms;
} answer_t;

typedef struct {
    long long ts;             /* 0: now */
    const char *nonce;
    const char *bad_sig;      /* a signature to send instead of the right one */
    bool aes;                 /* encrypt_type=aes with msg_signature over enc */
    const char *enc;          /* Encrypt, for msg_signature */
    const char *bad_msg_sig;
    bool no_sig;
} sign_t;

static answer_t call(const char *method, const sign_t *s, const char *echostr, const char *body, size_t len)
{
    char ts[24], sig[WXC_SIG_HEX], msig[WXC_SIG_HEX];
    const char *nonce = s->nonce ? s->nonce : "1514711492";
    snprintf(ts, sizeof ts, "%lld", s->ts ? s->ts : g_now);
    wxc_signature(TOKEN, ts, nonce, NULL, sig);
    buf_t url = BUF_INIT;
    buf_printf(&url, "http://127.0.0.1:%d/channels/wechat?timestamp=%s&nonce=%s&openid=x", g_http, ts, nonce);
    if (!s->no_sig)
        buf_printf(&url, "&signature=%s", s->bad_sig ? s->bad_sig : sig);
    if (echostr)
        buf_printf(&url, "&echostr=%s", echostr);
    if (s->aes) {
        wxc_signature(TOKEN, ts, nonce, s->enc, msig);
        buf_printf(&url, "&encrypt_type=aes&msg_signature=%s", s->bad_msg_sig ? s->bad_msg_sig : msig);
    }
    const char *hdr[] = {"Content-Type: text/xml", NULL};
    h_resp_t r;
    int64_t t0 = gclock_mono_ms();
    assert_true(h_http(method, buf_str(&url), hdr, body, len, &r));
    answer_t a = {.status = r.status, .ms = (long)(gclock_mono_ms() - t0)};
    snprintf(a.body, sizeof a.body, "%s", buf_str(&r.body) ? buf_str(&r.body) : "");
    h_resp_free(&r);
    buf_free(&url);
    return a;
}

static answer_t post_plain(const char *xml)
{
    sign_t s = {0};
    return call("POST", &s, NULL, xml, strlen(xml));
}

/* safe mode (compatible: the plain fields too) */
static answer_t post_aes(const char *xml, bool compatible)
{
    int rc;
    char *enc = wxc_encrypt(g_aes, APPID, xml, strlen(xml), NULL, &rc);
    assert_non_null(enc);
    buf_t b = BUF_INIT;
    if (compatible) {
        buf_append(&b, xml, strlen(xml) - strlen("</xml>"));
        buf_printf(&b, "<Encrypt><![CDATA[%s]]></Encrypt></xml>", enc);
    } else {
        buf_printf(&b, "<xml><ToUserName><![CDATA[" ACCOUNT "]]></ToUserName><Encrypt><![CDATA[%s]]></Encrypt></xml>", enc);
    }
    sign_t s = {.aes = true, .enc = enc};
    answer_t a = call("POST", &s, NULL, buf_str(&b), b.len);
    buf_free(&b);
    free(enc);
    return a;
}

static char *text_xml(const char *openid, const char *content, long long msgid)
{
    buf_t b = BUF_INIT;
    buf_printf(&b,
               "<xml><ToUserName><![CDATA[" ACCOUNT "]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName>\n"
               "<CreateTime>%lld</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[%s]]></Content>\n"
               "<MsgId>%lld</MsgId></xml>",
               openid, g_now, content, msgid);
    return buf_detach(&b);
}

static char *event_xml(const char *openid, const char *event, const char *extra)
{
    buf_t b = BUF_INIT;
    buf_printf(&b,
               "<xml><ToUserName><![CDATA[" ACCOUNT "]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName>"
               "<CreateTime>%lld</CreateTime><MsgType><![CDATA[event]]></MsgType><Event><![CDATA[%s]]></Event>%s</xml>",
               openid, g_now, event, extra ? extra : "");
    return buf_detach(&b);
}

/* The Content of a passive text reply (plain, or the encrypted envelope checked and opened);
 * caller frees. */
static char *reply_content(const answer_t *a, bool encrypted, const char *openid)
{
    if (a->status != 200)
        fail_msg("answered %ld %s", a->status, a->body);
    char err[256];
    wxx_doc_t d, inner;
    if (!wxx_parse(a->body, strlen(a->body), &d, err, sizeof err))
        fail_msg("the reply is not XML (%s): %s", err, a->body);
    const wxx_doc_t *m = &d;
    memset(&inner, 0, sizeof inner);
    if (encrypted) {
        const char *enc = wxx_get(&d, "Encrypt");
        assert_non_null(enc);
        assert_null(wxx_get(&d, "Content"));
        assert_true(wxc_signature_ok(TOKEN, wxx_get(&d, "TimeStamp"), wxx_get(&d, "Nonce"), enc, wxx_get(&d, "MsgSignature")));
        int rc;
        size_t len;
        char *x = wxc_decrypt(g_aes, APPID, enc, &len, NULL, &rc);
        assert_non_null(x);
        assert_true(wxx_parse(x, len, &inner, err, sizeof err));
        free(x);
        m = &inner;
    }
    assert_string_equal(wxx_get(m, "ToUserName"), openid);
    assert_string_equal(wxx_get(m, "FromUserName"), ACCOUNT);
    assert_string_equal(wxx_get(m, "MsgType"), "text");
    char *c = strdup(wxx_get(m, "Content"));
    wxx_free(&d);
    wxx_free(&inner);
    return c;
}

static long long count(const char *sql, const char *p1)
{
    const char *p[] = {p1};
    return h_sql_int(g_db, sql, p1 ? 1 : 0, p);
}

static long long tickets(void)
{
    return count("SELECT count(*) FROM intake.ticket", NULL);
}

static long long inbox(void)
{
    return count("SELECT count(*) FROM intake.channel_inbox", NULL);
}

/* ---- tests ---- */

static void url_verification_echoes_only_a_fresh_signed_request(void **state)
{
    (void)state;
    sign_t ok = {0};
    answer_t a = call("GET", &ok, "4375120948345356249", NULL, 0);
    assert_int_equal(a.status, 200);
    assert_string_equal(a.body, "4375120948345356249");
    sign_t bad = {.bad_sig = "f464b24fc39322e44b38aa78f5edd27bd1441696"};
    assert_int_equal(call("GET", &bad, "4375120948345356249", NULL, 0).status, 403);
    sign_t none = {.no_sig = true};
    assert_int_equal(call("GET", &none, "4375120948345356249", NULL, 0).status, 400);
    sign_t old = {.ts = g_now - 301}, ahead = {.ts = g_now + 301}, near = {.ts = g_now - 200};
    assert_int_equal(call("GET", &old, "1", NULL, 0).status, 403);
    assert_int_equal(call("GET", &ahead, "1", NULL, 0).status, 403);
    assert_int_equal(call("GET", &near, "1", NULL, 0).status, 200);
    assert_int_equal(call("GET", &ok, NULL, NULL, 0).status, 400);
}

static void text_becomes_an_appeal_answered_with_its_code_within_5_s_and_retries_change_nothing(void **state)
{
    (void)state;
    long long before = tickets();
    char *x = text_xml("oResidentText01", "村口的桥栏杆断了，很危险", ++g_msgid);
    answer_t a = post_plain(x);
    assert_true(a.ms < 5000);
    char *c = reply_content(&a, false, "oResidentText01");
    assert_int_equal(tickets(), before + 1);
    char *code = h_sql_text(g_db,
                            "SELECT code FROM intake.ticket WHERE channel = 'wechat' AND account_id = 'oResidentText01'"
                            " AND service_code = 'OTHER' AND description = '村口的桥栏杆断了，很危险' AND phone IS NULL",
                            0, NULL);
    assert_true(strlen(code) > 0);
    if (!strstr(c, code))
        fail_msg("the reply does not carry the code %s: %s", code, c);
    assert_int_equal(count("SELECT count(*) FROM intake.channel_inbox WHERE action = 'appeal ' || $1", code), 1);
    /* its ticket.created was committed with it */
    assert_int_equal(count("SELECT count(*) FROM bus.outbox WHERE type = 'ticket.created' AND data->>'code' = $1", code), 1);
    /* WeChat's three retries: `success`, nothing new */
    for (int i = 0; i < 3; i++) {
        answer_t r = post_plain(x);
        assert_int_equal(r.status, 200);
        assert_string_equal(r.body, "success");
    }
    assert_int_equal(tickets(), before + 1);
    free(code);
    free(c);
    free(x);
}

static void safe_and_compatible_mode_answer_encrypted(void **state)
{
    (void)state;
    for (int compatible = 0; compatible < 2; compatible++) {
        long long before = tickets();
        const char *openid = compatible ? "oResidentCompat1" : "oResidentSafe01";
        char *x = text_xml(openid, "垃圾三天没人清运", ++g_msgid);
        answer_t a = post_aes(x, compatible);
        assert_true(a.ms < 5000);
        char *c = reply_content(&a, true, openid);
        assert_int_equal(tickets(), before + 1);
        char *code = h_sql_text(g_db, "SELECT code FROM intake.ticket ORDER BY id DESC LIMIT 1", 0, NULL);
        assert_non_null(strstr(c, code));
        answer_t r = post_aes(x, compatible);
        assert_string_equal(r.body, "success");
        assert_int_equal(tickets(), before + 1);
        free(code);
        free(c);
        free(x);
    }
}

/* A ciphertext whose padding is wrong: WeChat's layout encrypted by hand with pad bytes that do
 * not all say the pad's length. */
static char *bad_pad_ciphertext(const char *msg)
{
    unsigned char plain[512];
    size_t n = 0, mlen = strlen(msg);
    memcpy(plain, "aaaabbbbccccdddd", 16);
    n = 16;
    plain[n++] = (unsigned char)(mlen >> 24);
    plain[n++] = (unsigned char)(mlen >> 16);
    plain[n++] = (unsigned char)(mlen >> 8);
    plain[n++] = (unsigned char)mlen;
    memcpy(plain + n, msg, mlen);
    n += mlen;
    memcpy(plain + n, APPID, strlen(APPID));
    n += strlen(APPID);
    size_t pad = 32 - n % 32;
    for (size_t i = 0; i < pad; i++)
        plain[n + i] = (unsigned char)(i == 0 ? pad - 1 : pad); /* one byte off */
    n += pad;
    unsigned char out[560];
    int l1 = 0, l2 = 0;
    EVP_CIPHER_CTX *ctx = EVP_CIPHER_CTX_new();
    assert_int_equal(EVP_EncryptInit_ex(ctx, EVP_aes_256_cbc(), NULL, g_aes, g_aes), 1);
    EVP_CIPHER_CTX_set_padding(ctx, 0);
    assert_int_equal(EVP_EncryptUpdate(ctx, out, &l1, plain, (int)n), 1);
    assert_int_equal(EVP_EncryptFinal_ex(ctx, out + l1, &l2), 1);
    EVP_CIPHER_CTX_free(ctx);
    char *b64 = calloc(1, 4 * ((size_t)(l1 + l2) / 3 + 2));
    EVP_EncodeBlock((unsigned char *)b64, out, l1 + l2);
    return b64;
}

static answer_t post_enc(const char *enc, const char *bad_msg_sig)
{
    buf_t b = BUF_INIT;
    buf_printf(&b, "<xml><ToUserName><![CDATA[" ACCOUNT "]]></ToUserName><Encrypt><![CDATA[%s]]></Encrypt></xml>", enc);
    sign_t s = {.aes = true, .enc = enc, .bad_msg_sig = bad_msg_sig};
    answer_t a = call("POST", &s, NULL, buf_str(&b), b.len);
    buf_free(&b);
    return a;
}

static void bad_input_is_refused_and_changes_nothing(void **state)
{
    (void)state;
    long long t0 = tickets(), i0 = inbox();
    char *good = text_xml("oResidentBad001", "路面塌陷", ++g_msgid);
    /* the transport: signature, timestamp */
    sign_t bad_sig = {.bad_sig = "0000000000000000000000000000000000000000"}, no_sig = {.no_sig = true},
           old = {.ts = g_now - 3600}, ahead = {.ts = g_now + 3600};
    const sign_t *signs[] = {&bad_sig, &no_sig, &old, &ahead};
    for (size_t i = 0; i < 4; i++) {
        answer_t a = call("POST", signs[i], NULL, good, strlen(good));
        if (a.status != 403 && a.status != 400)
            fail_msg("transport case %zu: answered %ld %s", i, a.status, a.body);
    }
    /* the XML */
    char big[20000];
    memcpy(big, good, strlen(good) - 6);
    size_t n = strlen(good) - 6;
    n += (size_t)snprintf(big + n, sizeof big - n, "<Pad><![CDATA[");
    while (n < 17000)
        big[n++] = 'x';
    snprintf(big + n, sizeof big - n, "]]></Pad></xml>");
    char trunc[512];
    snprintf(trunc, sizeof trunc, "%.*s", (int)strlen(good) - 12, good);
    const char *bad_xml[][2] = {
        {trunc, "truncated"},
        {big, "over 16 KiB"},
        {"<!DOCTYPE xml [<!ENTITY x \"boom\">]><xml><ToUserName><![CDATA[" ACCOUNT "]]></ToUserName>"
         "<FromUserName><![CDATA[oResidentBad001]]></FromUserName><CreateTime>1781485200</CreateTime>"
         "<MsgType><![CDATA[text]]></MsgType><Content>&x;</Content><MsgId>1</MsgId></xml>", "a DOCTYPE with an entity"},
        {"<xml><ToUserName><![CDATA[" ACCOUNT "]]></ToUserName><FromUserName><![CDATA[oResidentBad001]]></FromUserName>"
         "<CreateTime>1781485200</CreateTime><MsgType><![CDATA[text]]></MsgType><Content>a &amp; b</Content>"
         "<MsgId>2</MsgId></xml>", "an entity reference"},
        {"<xml><ToUserName><![CDATA[" ACCOUNT "]]></ToUserName><FromUserName><![CDATA[oResidentBad001]]></FromUserName>"
         "<CreateTime>1781485200</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[\xff\xfe]]></Content>"
         "<MsgId>3</MsgId></xml>", "not UTF-8"},
        {"<xml><ToUserName a=\"1\"><![CDATA[" ACCOUNT "]]></ToUserName></xml>", "an attribute"},
        {"<xml><ToUserName><![CDATA[" ACCOUNT "]]></ToUserName><ToUserName><![CDATA[gh_other]]></ToUserName></xml>",
         "a duplicated element"},
        {"<xml><ToUserName><![CDATA[" ACCOUNT "]]></ToUserName><FromUserName><![CDATA[oResidentBad001]]></FromUserName>"
         "<CreateTime>1781485200</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[x]]></Content>"
         "<MsgId>4</MsgId></xml><xml/>", "bytes after </xml>"},
        {"<xml><ToUserName><![CDATA[" ACCOUNT "]]></ToUserName><CreateTime>1781485200</CreateTime>"
         "<MsgType><![CDATA[text]]></MsgType><Content><![CDATA[x]]></Content><MsgId>5</MsgId></xml>", "no FromUserName"},
        {"<xml><ToUserName><![CDATA[gh_someoneelse]]></ToUserName><FromUserName><![CDATA[oResidentBad001]]></FromUserName>"
         "<CreateTime>1781485200</CreateTime><MsgType><![CDATA[text]]></MsgType><Content><![CDATA[x]]></Content>"
         "<MsgId>6</MsgId></xml>", "another account's ToUserName"},
        {"", "an empty body"},
    };
    for (size_t i = 0; i < sizeof bad_xml / sizeof bad_xml[0]; i++) {
        sign_t s = {0};
        answer_t a = call("POST", &s, NULL, bad_xml[i][0], strlen(bad_xml[i][0]));
        if (a.status != 400 && a.status != 403 && a.status != 413)
            fail_msg("%s: answered %ld %s", bad_xml[i][1], a.status, a.body);
    }
    /* the crypto: msg_signature, base64, padding, AppID, an entity inside */
    int rc;
    char *enc = wxc_encrypt(g_aes, APPID, good, strlen(good), NULL, &rc);
    char *other_app = wxc_encrypt(g_aes, "wx0000000000000000", good, strlen(good), NULL, &rc);
    const char *ent = "<!DOCTYPE x [<!ENTITY e SYSTEM \"file:///etc/passwd\">]><xml><Content>&e;</Content></xml>";
    char *enc_ent = wxc_encrypt(g_aes, APPID, ent, strlen(ent), NULL, &rc);
    char *bad_pad = bad_pad_ciphertext(good);
    char not_b64[1024], short_b64[1024];
    snprintf(not_b64, sizeof not_b64, "%s", enc);
    not_b64[10] = '*';
    snprintf(short_b64, sizeof short_b64, "%.*s", (int)strlen(enc) - 4, enc); /* not whole blocks */
    struct {
        const char *enc, *bad_msg_sig, *what;
    } crypt[] = {
        {enc, "0123456789012345678901234567890123456789", "a wrong msg_signature"},
        {not_b64, NULL, "bad base64"},
        {short_b64, NULL, "a ciphertext cut short"},
        {bad_pad, NULL, "a wrong padding"},
        {other_app, NULL, "another AppID"},
        {enc_ent, NULL, "an entity in the decrypted XML"},
    };
    for (size_t i = 0; i < sizeof crypt / sizeof crypt[0]; i++) {
        answer_t a = post_enc(crypt[i].enc, crypt[i].bad_msg_sig);
        if (a.status != 400 && a.status != 403)
            fail_msg("%s: answered %ld %s", crypt[i].what, a.status, a.body);
    }
    assert_int_equal(tickets(), t0);
    assert_int_equal(inbox(), i0);
    /* the same message, well formed, still goes through: nothing was consumed by the refusals */
    answer_t a = post_aes(good, false);
    char *c = reply_content(&a, true, "oResidentBad001");
    assert_int_equal(tickets(), t0 + 1);
    free(c);
    free(enc);
    free(other_app);
    free(enc_ent);
    free(bad_pad);
    free(good);
}

static char *say(const char *openid, const char *text)
{
    char *x = text_xml(openid, text, ++g_msgid);
    answer_t a = post_plain(x);
    free(x);
    return reply_content(&a, false, openid);
}

static void binding_by_a_code_sent_to_the_phone(void **state)
{
    (void)state;
    const char *me = "oResidentBind01";
    char *ev = event_xml(me, "subscribe", NULL);
    answer_t a = post_plain(ev);
    char *c = reply_content(&a, false, me);
    assert_non_null(strstr(c, "手机"));
    free(c);
    free(ev);
    long long events = count("SELECT count(*) FROM bus.outbox WHERE type = 'channel.verify_requested'", NULL);
    c = say(me, "13900009901");
    assert_non_null(strstr(c, "139****9901"));
    free(c);
    /* notify reads the code through the view, by the event's request_id */
    assert_int_equal(count("SELECT count(*) FROM bus.outbox WHERE type = 'channel.verify_requested'", NULL), events + 1);
    char *rid = h_sql_text(g_db, "SELECT data->>'request_id' FROM bus.outbox WHERE type = 'channel.verify_requested'"
                                 " ORDER BY seq DESC LIMIT 1", 0, NULL);
    const char *p[] = {rid};
    char *code = h_sql_text(g_db, "SELECT code FROM intake.wechat_verification WHERE request_id = $1::uuid"
                                  " AND phone = '13900009901' AND expires_at = to_timestamp(1781485800)", 1, p);
    assert_int_equal(strlen(code), 6);
    /* a wrong code is counted, the right one binds */
    char wrong[8];
    snprintf(wrong, sizeof wrong, "%06d", (atoi(code) + 1) % 1000000);
    c = say(me, wrong);
    assert_non_null(strstr(c, "验证码错误"));
    free(c);
    assert_int_equal(count("SELECT count(*) FROM intake.wechat_binding WHERE openid = $1", me), 0);
    c = say(me, code);
    assert_non_null(strstr(c, "绑定成功"));
    free(c);
    assert_int_equal(count("SELECT count(*) FROM intake.wechat_binding WHERE openid = $1 AND phone = '13900009901'", me), 1);
    assert_int_equal(count("SELECT count(*) FROM intake.wechat_verification WHERE request_id = $1::uuid", rid), 0);
    /* the log shows the number masked */
    free(code);
    free(rid);

    /* attempts are limited: five wrong codes end the request */
    const char *guesser = "oResidentGuess1";
    c = say(guesser, "13900009902");
    free(c);
    char *real = h_sql_text(g_db, "SELECT code FROM intake.wechat_verification WHERE phone = '13900009902'", 0, NULL);
    for (int i = 0; i < 5; i++) {
        snprintf(wrong, sizeof wrong, "%06d", (atoi(real) + 1 + i) % 1000000);
        c = say(guesser, wrong);
        free(c);
    }
    assert_int_equal(count("SELECT count(*) FROM intake.wechat_verification WHERE phone = '13900009902'", NULL), 0);
    c = say(guesser, real); /* too late: no pending request, so six digits are just an appeal */
    assert_null(strstr(c, "绑定成功"));
    free(c);
    assert_int_equal(count("SELECT count(*) FROM intake.wechat_binding WHERE openid = $1", guesser), 0);
    free(real);

    /* a code expires after 10 minutes */
    const char *late = "oResidentLate01";
    c = say(late, "13900009903");
    free(c);
    real = h_sql_text(g_db, "SELECT code FROM intake.wechat_verification WHERE phone = '13900009903'", 0, NULL);
    set_clock(g_now + 601);
    c = say(late, real);
    assert_non_null(strstr(c, "过期"));
    free(c);
    assert_int_equal(count("SELECT count(*) FROM intake.wechat_binding WHERE openid = $1", late), 0);
    free(real);
}

static char g_point[96];
static const char *point(int offset)
{
    char off[16];
    snprintf(off, sizeof off, "%d", offset);
    const char *p[] = {off};
    char *s = h_sql_text(g_db,
                         "SELECT format('\"lat\":%s,\"long\":%s', round(ST_Y(p)::numeric, 7), round(ST_X(p)::numeric, 7))"
                         " FROM (SELECT ST_PointOnSurface(boundary) p FROM registry.unit WHERE level = 'group'"
                         " AND code LIKE '430121-101-%' ORDER BY id OFFSET $1::int LIMIT 1) x",
                         1, p);
    snprintf(g_point, sizeof g_point, "%s", s);
    free(s);
    return g_point;
}

static long staff_act(const char *code, const char *action, const char *token, const char *json)
{
    char url[256], auth[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/tickets/%s/actions/%s", g_http, code, action);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    const char *hdr[] = {"Content-Type: application/json", auth, NULL};
    h_resp_t r;
    assert_true(h_http("POST", url, hdr, json, strlen(json), &r));
    long st = r.status;
    h_resp_free(&r);
    return st;
}

static void a_bound_resident_rates_by_1_2_3_and_nobody_else_can(void **state)
{
    (void)state;
    /* binding_by_a_code_sent_to_the_phone bound oResidentBind01 to 13900009901 */
    char body[512], code[40];
    snprintf(body, sizeof body, "{\"service_code\":\"POLICY\",%s,\"phone\":\"13900009901\",\"description\":\"路面坑洼\"}",
             point(6));
    assert_true(h_post_ticket(g_http, g_key, body, code));
    assert_true(h_wait_routed(g_db, code, 20000));
    const char *p[] = {code};
    char *id = h_sql_text(g_db, "SELECT assignee_id FROM router.ticket WHERE code = $1", 1, p);
    char *tok = h_staff_token(g_db, atoll(id));
    assert_int_equal(staff_act(code, "accept", tok, ""), 200);
    assert_int_equal(staff_act(code, "resolve", tok, "{\"note\":\"已修补\"}"), 200);
    free(tok);
    free(id);
    /* someone else's 1: nothing to rate */
    char *c = say("oStranger000001", "1");
    assert_non_null(strstr(c, "没有待评价"));
    free(c);
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM router.ticket WHERE code = $1 AND state = 'resolved'", 1, p), 1);
    c = say("oResidentBind01", "2");
    assert_non_null(strstr(c, code));
    assert_non_null(strstr(c, "基本满意"));
    free(c);
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM router.ticket WHERE code = $1 AND state = 'closed'"
                                     " AND rating = 'basic'", 1, p), 1);
    /* rated once: a 1 afterwards is refused by the router and says so */
    c = say("oResidentBind01", "1");
    assert_null(strstr(c, "感谢"));
    free(c);
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM router.command WHERE request->>'ticket' = $1"
                                     " AND request->>'proof' = 'wechat_binding'", 1, p), 1);
}

static void location_completes_the_latest_open_appeal_once(void **state)
{
    (void)state;
    const char *me = "oResidentLoc001";
    char *c = say(me, "山塘堤坝有渗水");
    free(c);
    char *code = h_sql_text(g_db, "SELECT code FROM intake.ticket WHERE account_id = 'oResidentLoc001'", 0, NULL);
    char x[1024];
    snprintf(x, sizeof x,
             "<xml><ToUserName><![CDATA[" ACCOUNT "]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName>"
             "<CreateTime>%lld</CreateTime><MsgType><![CDATA[location]]></MsgType><Location_X>28.2345</Location_X>"
             "<Location_Y>113.0812</Location_Y><Scale>20</Scale><Label><![CDATA[九木村山塘]]></Label><MsgId>%lld</MsgId></xml>",
             me, g_now, ++g_msgid);
    answer_t a = post_plain(x);
    c = reply_content(&a, false, me);
    assert_non_null(strstr(c, code));
    free(c);
    const char *p[] = {code};
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM intake.ticket WHERE code = $1 AND abs(lat - 28.2345) < 1e-6"
                                     " AND abs(long - 113.0812) < 1e-6 AND address_string = '九木村山塘'", 1, p), 1);
    /* a second point does not move it */
    snprintf(x, sizeof x,
             "<xml><ToUserName><![CDATA[" ACCOUNT "]]></ToUserName><FromUserName><![CDATA[%s]]></FromUserName>"
             "<CreateTime>%lld</CreateTime><MsgType><![CDATA[location]]></MsgType><Location_X>28.5</Location_X>"
             "<Location_Y>113.5</Location_Y><Scale>20</Scale><Label><![CDATA[别处]]></Label><MsgId>%lld</MsgId></xml>",
             me, g_now, ++g_msgid);
    a = post_plain(x);
    c = reply_content(&a, false, me);
    assert_non_null(strstr(c, "已有位置"));
    free(c);
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM intake.ticket WHERE code = $1 AND abs(lat - 28.2345) < 1e-6", 1, p),
                     1);
    free(code);
}

static void unsubscribe_erases_the_binding_and_the_inbox_of_the_openid(void **state)
{
    (void)state;
    const char *me = "oResidentBind01";
    assert_int_equal(count("SELECT count(*) FROM intake.wechat_binding WHERE openid = $1", me), 1);
    assert_true(count("SELECT count(*) FROM intake.channel_inbox WHERE sender = $1", me) > 0);
    char *ev = event_xml(me, "unsubscribe", NULL);
    for (int i = 0; i < 2; i++) {
        answer_t a = post_plain(ev);
        assert_int_equal(a.status, 200);
        assert_string_equal(a.body, "success");
    }
    free(ev);
    assert_int_equal(count("SELECT count(*) FROM intake.wechat_binding WHERE openid = $1", me), 0);
    assert_int_equal(count("SELECT count(*) FROM intake.channel_inbox WHERE sender = $1", me), 0);
    assert_int_equal(count("SELECT count(*) FROM intake.channel_inbox WHERE body LIKE '%' || $1 || '%'", me), 0);
}

static void template_job_finished_becomes_a_receipt(void **state)
{
    (void)state;
    long long before = count("SELECT count(*) FROM bus.outbox WHERE type = 'channel.receipt' AND data->>'provider' = 'wechat'",
                             NULL);
    char *ok = event_xml("oResidentTpl001", "TEMPLATESENDJOBFINISH",
                         "<MsgID>200163836</MsgID><Status><![CDATA[success]]></Status>");
    char *blocked = event_xml("oResidentTpl002", "TEMPLATESENDJOBFINISH",
                              "<MsgID>200163837</MsgID><Status><![CDATA[failed:user block]]></Status>");
    for (int i = 0; i < 3; i++) {
        assert_string_equal(post_plain(ok).body, "success");
        assert_string_equal(post_aes(blocked, false).body, "success");
    }
    assert_int_equal(count("SELECT count(*) FROM bus.outbox WHERE type = 'channel.receipt' AND data->>'provider' = 'wechat'",
                           NULL),
                     before + 2);
    assert_int_equal(count("SELECT count(*) FROM bus.outbox WHERE type = 'channel.receipt' AND data->>'provider' = 'wechat'"
                           " AND data->>'provider_msgid' = '200163836' AND data->>'status' = 'delivered'", NULL), 1);
    assert_int_equal(count("SELECT count(*) FROM bus.outbox WHERE type = 'channel.receipt' AND data->>'provider' = 'wechat'"
                           " AND data->>'provider_msgid' = '200163837' AND data->>'status' = 'failed'"
                           " AND data->>'code' = 'failed:user block'", NULL), 1);
    free(ok);
    free(blocked);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(url_verification_echoes_only_a_fresh_signed_request),
        cmocka_unit_test(text_becomes_an_appeal_answered_with_its_code_within_5_s_and_retries_change_nothing),
        cmocka_unit_test(safe_and_compatible_mode_answer_encrypted),
        cmocka_unit_test(bad_input_is_refused_and_changes_nothing),
        cmocka_unit_test(binding_by_a_code_sent_to_the_phone),
        cmocka_unit_test(a_bound_resident_rates_by_1_2_3_and_nobody_else_can),
        cmocka_unit_test(location_completes_the_latest_open_appeal_once),
        cmocka_unit_test(unsubscribe_erases_the_binding_and_the_inbox_of_the_openid),
        cmocka_unit_test(template_job_finished_becomes_a_receipt),
    };
    return cmocka_run_group_tests_name("channels_wechat", tests, setup, teardown);
}
