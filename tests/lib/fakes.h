/* fakes: the fake providers (tests/fakes/providers.py) as a process for end-to-end tests.
 *
 * One process plays WeChat OA, WeCom (app and robot), Aliyun SMS and Tencent SMS on one loopback
 * port, in their real wire shapes, with their signature checks and limits; the notify daemon is
 * pointed at it through its configuration (h_fake_notify_env). Its control API (/_fake/...) resets
 * it, makes a provider fail (HTTP status, hang, slow, a provider error code) and lists what each
 * provider accepted and every call made. Provider names: wechat, wechat_token, wecom_app,
 * wecom_token, wecom_robot, aliyun, tencent (and "*" for h_fake_fail).
 *
 * Records (h_fake_sent): an array of objects, oldest first, one per message a provider accepted
 * (one per number for SMS): seq, time (the fake's clock), provider, to (array: numbers / openid /
 * userids / robot key), key (the provider key: Aliyun OutId, Tencent SessionContext, WeChat
 * client_msg_id; null for WeCom), id (what it answered: BizId, SerialNo, msgid as a string),
 * template, params (Aliyun: object, Tencent: array, WeChat: field -> value), text (the SMS as the
 * phone shows it when the fake knows the template's text, the WeCom content), and per provider:
 * number, sign_name, openid, userid, dropped, robot_key, msgtype.
 * h_fake_calls: one object per call, refused and injected ones too: seq, time, provider, method,
 * path, status, outcome ("sent", "refused", "dedup", "injected", "hang"), code, response, request.
 *
 * The fake's credentials are tests/fakes/default.json's, named below. Ownership: h_fake_t is the
 * caller's; json_t results are the caller's (json_decref). Failures to start abort the test binary,
 * like the harness's other starters; the process is killed when the test binary exits. */
#ifndef TESTS_FAKES_H
#define TESTS_FAKES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#define H_FAKE_WECHAT_APPID "wxfa4e0000000c0de1"
#define H_FAKE_WECHAT_SECRET "f00dfeedf00dfeedf00dfeedf00dfeed"
#define H_FAKE_WECOM_CORP_ID "wwfa4e0000000c0de2"
#define H_FAKE_WECOM_CORP_SECRET "fake-wecom-app-secret-0000000000000000000000"
#define H_FAKE_WECOM_AGENT_ID "1000002"
#define H_FAKE_ROBOT_KEY_1 "fa4e0000-0000-4000-8000-00000000f001"
#define H_FAKE_ROBOT_KEY_2 "fa4e0000-0000-4000-8000-00000000f002"
#define H_FAKE_ALIYUN_KEY_ID "LTAI5tFa4eKeyId00000000"
#define H_FAKE_ALIYUN_KEY_SECRET "Fa4eAccessKeySecret00000000000"
#define H_FAKE_TENCENT_SECRET_ID "AKIDfa4e000000000000000000000000000"
#define H_FAKE_TENCENT_SECRET_KEY "fa4eTencentSecretKey000000000000"
#define H_FAKE_TENCENT_APP_ID "1400000000"
#define H_FAKE_SMS_SIGN_NAME "网格通"

typedef struct {
    pid_t pid;
    int port;
    char base[64];  /* "http://127.0.0.1:PORT" */
    char log[1024]; /* its stderr (and the port line) */
} h_fake_t;

/* Starts the fake on port (0: a free port the fake picks and reports) with config_path (NULL:
 * tests/fakes/default.json) and clock_file (NULL: real time; else the file h_set_clock writes,
 * which the daemons under test may share), and waits until /_fake/health answers. */
void h_fake_start(h_fake_t *f, int port, const char *config_path, const char *clock_file);
/* Kills it and waits for it; safe twice. */
void h_fake_stop(h_fake_t *f);

/* The environment entries that point notify's providers at the fake with its credentials
 * (GRIDGOV_WECHAT_API_BASE, GRIDGOV_ALIYUN_SMS_ENDPOINT=…/aliyun/, GRIDGOV_TENCENT_SMS_ENDPOINT=…/tencent/,
 * …), NULL-terminated; the strings live in f's static storage until the next call. */
const char *const *h_fake_notify_env(const h_fake_t *f);

/* Forgets records, failure rules, tokens, nonces and limit counters. */
bool h_fake_reset(const h_fake_t *f);
/* Makes provider fail for its next count calls (0: until cleared). mode "http": arg is the HTTP
 * status (0: 503); "slow": answers normally after arg ms; "hang": no answer until the client gives
 * up (or arg ms, 0: ten minutes); "code": the provider error code `code` in the provider's own
 * shape ("45009", "isv.BUSINESS_LIMIT_CONTROL", "LimitExceeded.PhoneNumberDailyLimit" …). */
bool h_fake_fail(const h_fake_t *f, const char *provider, const char *mode, long arg, const char *code, int count);
/* Drops provider's failure rules and ends its hanging calls. */
bool h_fake_clear(const h_fake_t *f, const char *provider);
/* Merges configuration (the JSON of tests/fakes/default.json's shape), e.g. strict templates:
 * {"aliyun":{"templates":{"SMS_1":["code"]}}}. */
bool h_fake_config(const h_fake_t *f, const char *json);
/* Fixes the fake's clock at epoch seconds (0: back to its clock file or real time). */
bool h_fake_clock(const h_fake_t *f, double epoch_s);
/* Its tokens for provider "wechat" or "wecom" expire now: the next use answers 42001. */
bool h_fake_expire_tokens(const h_fake_t *f, const char *provider);

/* GET path (e.g. "/_fake/health") parsed, or NULL when the call or the JSON failed. */
json_t *h_fake_get(const h_fake_t *f, const char *path);
/* What provider accepted (NULL: every provider), as described above; an empty array on failure. */
json_t *h_fake_sent(const h_fake_t *f, const char *provider);
/* Every call to provider (NULL: all), refused ones included. */
json_t *h_fake_calls(const h_fake_t *f, const char *provider);
/* /_fake/counts[provider][what], what: "calls", "sent", "refused", "injected"; -1 on failure. */
long h_fake_count(const h_fake_t *f, const char *provider, const char *what);
/* Polls until provider has accepted at least n messages or timeout_ms pass. */
bool h_fake_wait_sent(const h_fake_t *f, const char *provider, size_t n, int timeout_ms);

#endif
