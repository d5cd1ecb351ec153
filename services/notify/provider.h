/* provider: one outbound provider (Aliyun SMS, Tencent Cloud SMS, WeChat Official Account
 * template messages, WeCom group robot, WeCom app messages, the sandbox), as the sender drives it.
 *
 * The sender (sender.c) owns a libcurl multi handle and never blocks on a provider: for each
 * claimed message it asks the provider for a ready-made easy handle (prepare), adds it to the
 * multi, and when the transfer ends hands the HTTP status and body back (finish), which says what
 * happened as an outcome. What the sender then does is decided by the outcome's kind alone:
 *
 *   SENT           the provider took it: state 'sent', provider_msgid kept for receipts
 *   RETRY          transient (5xx, timeout, system busy, rate limited): again after exponential
 *                  backoff with jitter, or after retry_after_ms when the provider says when
 *   FAILOVER       this provider cannot take it (its credentials, balance, template, or it is
 *                  down): the next SMS provider in `sms_providers`, else RETRY
 *   UNDELIVERABLE  this channel cannot reach the person (WeChat 43004 not following, 43101
 *                  refused): the message goes again by SMS to its fallback_phone, if any, else dead
 *   PERMANENT      the message itself is wrong (invalid number, bad openid, bad robot key): the
 *                  dead-letter table at once, with the code and reason
 *   TOKEN          the access token was refused (40001/40014/42001): the provider has dropped it
 *                  (token_refused); the message is sent again once a new one is fetched
 *
 * Tokens (WeChat, WeCom app): a provider with `ready` is asked before each prepare whether it can
 * send now. When its token is missing or near expiry it returns false and may hand the sender a
 * request of its own (a token fetch) to run on the same multi; the sender passes the answer to
 * `fetched`. The token is kept in notify.access_token, shared by every notify instance; only the
 * instance holding refreshing_until fetches (single flight), the others read the row.
 *
 * Ownership: a provider is made by its constructor from the configuration and freed by
 * provider_destroy. prepare returns an easy handle the sender owns (it calls curl_easy_cleanup),
 * and *call, which the provider owns until finish (or cancel) frees it; the message is borrowed for
 * the prepare call only: the provider copies what it needs. Providers are used by one thread. */
#ifndef GRIDGOV_NOTIFY_PROVIDER_H
#define GRIDGOV_NOTIFY_PROVIDER_H

#include <curl/curl.h>
#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#include "config.h"

typedef enum {
    OUTCOME_SENT,
    OUTCOME_RETRY,
    OUTCOME_FAILOVER,
    OUTCOME_UNDELIVERABLE,
    OUTCOME_PERMANENT,
    OUTCOME_TOKEN,
} outcome_kind_t;

/* notify.attempt.outcome's words, in the order of outcome_kind_t. */
const char *outcome_name(outcome_kind_t kind);

typedef struct {
    outcome_kind_t kind;
    char code[64];            /* the provider's own code: "OK", "Ok", "isv.MOBILE_NUMBER_ILLEGAL",
                               * "43004", "http 503", "timeout" */
    char detail[256];         /* its message, for notify.attempt: never a phone number */
    char provider_msgid[128]; /* Aliyun BizId, Tencent SerialNo, WeChat msgid, WeCom msgid */
    int retry_after_ms;       /* > 0 when the provider says when (WeCom robot 45009: next minute) */
} outcome_t;

/* A template's codes at the providers (notify.template). */
typedef struct {
    const char *key;
    const char *aliyun_code;
    const char *tencent_id;
    const char *const *sms_params; /* names, in Tencent's TemplateParamSet order */
    size_t n_sms_params;
    const char *wechat_template_id;
    bool secret;                   /* the body carries a credential: never logged (026) */
} tmpl_codes_t;

/* A message as the sender hands it to a provider (a notify.message row). */
typedef struct {
    const char *id;             /* uuid: the provider key (OutId, SessionContext, client_msg_id) */
    const char *channel;        /* sms, wechat, wecom_robot, wecom_app */
    const char *address;        /* phone (11 digits), openid, robot key, WeCom userid */
    const char *body;           /* the rendered text */
    const json_t *params;       /* SMS parameters by name: an object of strings */
    const json_t *wechat_data;  /* {"thing2":{"value":"…"},…}, limits applied; NULL when not WeChat */
    const tmpl_codes_t *tmpl;
} message_t;

typedef struct provider provider_t;

typedef struct {
    const char *name; /* aliyun, tencent, wechat, wecom_robot, wecom_app, sandbox */
    const char *channel; /* the channel it serves: sms, wechat, wecom_robot, wecom_app */
    /* An easy handle ready to add to the multi (URL, headers, body, timeouts set; the response is
     * collected by the sender), or NULL with *out set when this provider cannot take m at all
     * (the sandbox answers SENT this way without a call). now_s: the injected clock (signatures'
     * timestamps). */
    CURL *(*prepare)(provider_t *self, const message_t *m, int64_t now_s, void **call, outcome_t *out);
    /* The transfer of a prepare ended: rc from curl, the HTTP status and body (NUL-terminated).
     * Frees call. */
    void (*finish)(provider_t *self, void *call, CURLcode rc, long http_status, const char *body, size_t len,
                   outcome_t *out);
    /* The transfer will not be finished (shutdown): frees call. */
    void (*cancel)(provider_t *self, void *call);
    /* Optional (NULL: always ready). See "Tokens" above. db: the sender's connection. */
    bool (*ready)(provider_t *self, PGconn *db, int64_t now_s, CURL **fetch, void **call);
    void (*fetched)(provider_t *self, PGconn *db, void *call, CURLcode rc, long http_status, const char *body,
                    size_t len);
    void (*token_refused)(provider_t *self, PGconn *db);
    void (*destroy)(provider_t *self);
} provider_ops_t;

struct provider {
    const provider_ops_t *ops;
    void *impl;
};

/* Constructors: NULL and err empty when the configuration names no credentials for it (the
 * provider is off); NULL and err set when it is configured wrongly. Keys: issue 12's list
 * (wechat_api_base, wechat_appid, …, aliyun_sms_endpoint, …, wecom_corp_secret, wecom_agent_id). */
provider_t *provider_aliyun_new(const cfg_t *cfg, char *err, size_t errsz);
provider_t *provider_tencent_new(const cfg_t *cfg, char *err, size_t errsz);
provider_t *provider_wechat_new(const cfg_t *cfg, char *err, size_t errsz);
provider_t *provider_wecom_robot_new(const cfg_t *cfg, char *err, size_t errsz);
provider_t *provider_wecom_app_new(const cfg_t *cfg, char *err, size_t errsz);
provider_t *provider_sandbox_new(const cfg_t *cfg, char *err, size_t errsz);
void provider_destroy(provider_t **self);

/* The configuration keys every provider reads, for notify's cfg_key_t table. */
#define PROVIDER_CFG_KEYS                                                                                             \
    {"wechat_api_base", CFG_STR, "https://api.weixin.qq.com", 0, 0, "WeChat Official Account API base URL"},        \
    {"wechat_appid", CFG_STR, "", 0, 0, "WeChat Official Account AppID (empty: WeChat off)"},                     \
    {"wechat_secret", CFG_STR, "", 0, 0, "WeChat Official Account AppSecret"},                                     \
    {"wechat_token", CFG_STR, "", 0, 0, "WeChat callback Token (intake verifies callbacks with it)"},             \
    {"wechat_aes_key", CFG_STR, "", 0, 0, "WeChat EncodingAESKey, 43 characters (safe mode)"},                    \
    {"aliyun_sms_endpoint", CFG_STR, "https://dysmsapi.aliyuncs.com/", 0, 0, "Aliyun SMS endpoint"},               \
    {"aliyun_access_key_id", CFG_STR, "", 0, 0, "Aliyun AccessKeyId (empty: Aliyun off)"},                         \
    {"aliyun_access_key_secret", CFG_STR, "", 0, 0, "Aliyun AccessKeySecret"},                                     \
    {"aliyun_sms_sign_name", CFG_STR, "", 0, 0, "Aliyun approved SignName"},                                       \
    {"tencent_sms_endpoint", CFG_STR, "https://sms.tencentcloudapi.com/", 0, 0, "Tencent Cloud SMS endpoint"},    \
    {"tencent_secret_id", CFG_STR, "", 0, 0, "Tencent Cloud SecretId (empty: Tencent off)"},                       \
    {"tencent_secret_key", CFG_STR, "", 0, 0, "Tencent Cloud SecretKey"},                                          \
    {"tencent_sms_app_id", CFG_STR, "", 0, 0, "Tencent SmsSdkAppId"},                                              \
    {"tencent_sms_sign_name", CFG_STR, "", 0, 0, "Tencent approved SignName"},                                     \
    {"wecom_api_base", CFG_STR, "https://qyapi.weixin.qq.com", 0, 0, "WeCom API base URL"},                        \
    {"wecom_robot_enabled", CFG_BOOL, "false", 0, 0,                                                                \
     "post to the townships' duty-group robots (their keys are data, with the units); off: the sandbox"},            \
    {"wecom_corp_id", CFG_STR, "", 0, 0, "WeCom CorpID (empty: WeCom app messages off)"},                          \
    {"wecom_corp_secret", CFG_STR, "", 0, 0, "WeCom app Secret"},                                                  \
    {"wecom_agent_id", CFG_STR, "", 0, 0, "WeCom AgentId"},                                                        \
    {"provider_timeout_ms", CFG_INT, "5000", 100, 60000, "the longest a provider call may take"}

#endif
