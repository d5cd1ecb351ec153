/* The shared access token of the WeChat Official Account and the WeCom app (notify.access_token):
 * several notify instances (here: several providers made from one configuration, each with its
 * own claim name) fetch it once between them, refresh it before it expires, fetch it once again
 * when the provider refuses it, and never let an older fetch overwrite a newer one. Against the
 * real database; the provider's answers are handed in as the sender would hand them. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "log.h"
#include "provider.h"
#include "provider_fx.h"

#define NOW 1796000000

static PGconn *g_db;
static int g_seq;
static char g_app[128];  /* the row of the current test */
static char g_appid[64];

static const tmpl_codes_t TMPL = {.key = "received", .wechat_template_id = "tmpl-1"};

static void sleep_ms(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int group_setup(void **state)
{
    (void)state;
    log_init("unit", LOG_ERROR);
    g_db = h_db();
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    char like[64];
    snprintf(like, sizeof like, "%%tok%d-%%", (int)getpid());
    const char *p[] = {like};
    PQclear(PQexecParams(g_db, "DELETE FROM notify.access_token WHERE app LIKE $1", 1, NULL, p, NULL, NULL, 0));
    PQfinish(g_db);
    return 0;
}

/* A fresh app id per test, so each starts without a row. */
static int test_setup(void **state)
{
    (void)state;
    snprintf(g_appid, sizeof g_appid, "wxtok%d-%d", (int)getpid(), ++g_seq);
    snprintf(g_app, sizeof g_app, "wechat:%s", g_appid);
    return 0;
}

static provider_t *instance(void)
{
    char appid[96];
    snprintf(appid, sizeof appid, "wechat_appid=%s", g_appid);
    const char *kv[] = {appid, "wechat_secret=s3cret", "wechat_api_base=http://127.0.0.1:9/", NULL};
    cfg_t *cfg = pfx_cfg(kv);
    char err[256];
    provider_t *p = provider_wechat_new(cfg, err, sizeof err);
    cfg_destroy(&cfg);
    assert_non_null(p);
    return p;
}

typedef struct {
    CURL *h;
    void *call;
} fetch_t;

/* ready(); the fetch it handed out, if any, in *f. */
static bool ready(provider_t *p, fetch_t *f)
{
    f->h = NULL;
    f->call = NULL;
    bool r = p->ops->ready(p, g_db, NOW, &f->h, &f->call);
    if (r)
        assert_null(f->h);
    return r;
}

static const char *url_of(CURL *h)
{
    char *u = NULL;
    curl_easy_getinfo(h, CURLINFO_EFFECTIVE_URL, &u);
    return u ? u : "";
}

static void answer_fetch(provider_t *p, fetch_t *f, CURLcode rc, long status, const char *body)
{
    p->ops->fetched(p, g_db, f->call, rc, status, body, strlen(body));
    curl_easy_cleanup(f->h);
    f->h = NULL;
}

static char *row_token(void)
{
    const char *p[] = {g_app};
    return h_sql_text(g_db, "SELECT coalesce(token, '') FROM notify.access_token WHERE app = $1", 1, p);
}

static long long row_claimed(void)
{
    const char *p[] = {g_app};
    return h_sql_int(g_db, "SELECT count(*) FROM notify.access_token WHERE app = $1 AND refreshing_until IS NOT NULL",
                     1, p);
}

static void set_row(const char *token, const char *expires_in, const char *age)
{
    const char *p[] = {g_app, token, expires_in, age};
    PGresult *r = PQexecParams(g_db,
                               "INSERT INTO notify.access_token (app, token, expires_at, fetched_at)"
                               " VALUES ($1, $2, now() + $3::interval, now() - $4::interval)"
                               " ON CONFLICT (app) DO UPDATE SET token = $2, expires_at = now() + $3::interval,"
                               " fetched_at = now() - $4::interval, refreshing_until = NULL, refreshing_by = NULL",
                               4, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
    PQclear(r);
}

/* A template send in flight: the handle and call of a prepare. */
typedef struct {
    CURL *h;
    void *call;
    json_t *data;
} send_t;

static send_t send_start(provider_t *p)
{
    send_t s = {.data = json_pack("{s:{s:s}}", "thing2", "value", "路灯")};
    message_t m = {.id = "0b6f3f5e-6c55-4b8e-9d55-1c1f0f5b9a09", .channel = "wechat", .address = "openid-1",
                   .body = "x", .wechat_data = s.data, .tmpl = &TMPL};
    outcome_t out;
    memset(&out, 0, sizeof out);
    s.h = p->ops->prepare(p, &m, NOW, &s.call, &out);
    assert_non_null(s.h);
    return s;
}

/* The send ends with body; the outcome's kind. A TOKEN outcome is reported back as the sender does. */
static outcome_kind_t send_end(provider_t *p, send_t *s, const char *body)
{
    outcome_t out;
    p->ops->finish(p, s->call, CURLE_OK, 200, body, strlen(body), &out);
    curl_easy_cleanup(s->h);
    json_decref(s->data);
    if (out.kind == OUTCOME_TOKEN)
        p->ops->token_refused(p, g_db);
    return out.kind;
}

static bool send_uses(provider_t *p, const char *token)
{
    send_t s = send_start(p);
    char want[160];
    snprintf(want, sizeof want, "/cgi-bin/message/template/send?access_token=%s", token);
    bool ok = strstr(url_of(s.h), want) != NULL;
    if (!ok)
        print_error("send URL %s, want %s\n", url_of(s.h), want);
    p->ops->cancel(p, s.call);
    curl_easy_cleanup(s.h);
    json_decref(s.data);
    return ok;
}

#define REFUSED "{\"errcode\":40001,\"errmsg\":\"invalid credential, access_token is invalid or not latest\"}"
#define SENT "{\"errcode\":0,\"errmsg\":\"ok\",\"msgid\":1}"

static void one_instance_fetches_and_the_others_read_the_row(void **state)
{
    (void)state;
    provider_t *a = instance(), *b = instance();
    fetch_t fa, fb;
    assert_false(ready(a, &fa));
    assert_non_null(fa.h);
    char want[256];
    snprintf(want, sizeof want, "http://127.0.0.1:9/cgi-bin/token?grant_type=client_credential&appid=%s&secret=s3cret",
             g_appid);
    assert_string_equal(url_of(fa.h), want);
    /* single flight: b waits while a fetches */
    assert_false(ready(b, &fb));
    assert_null(fb.h);
    assert_int_equal(row_claimed(), 1);

    answer_fetch(a, &fa, CURLE_OK, 200, "{\"access_token\":\"T1\",\"expires_in\":7200}");
    char *t = row_token();
    assert_string_equal(t, "T1");
    free(t);
    assert_int_equal(row_claimed(), 0);
    const char *p[] = {g_app};
    assert_int_equal(h_sql_int(g_db,
                               "SELECT count(*) FROM notify.access_token WHERE app = $1"
                               " AND expires_at BETWEEN now() + interval '7190 s' AND now() + interval '7200 s'",
                               1, p),
                     1);
    assert_true(ready(a, &fa));
    assert_true(send_uses(a, "T1"));
    sleep_ms(300); /* b looks at the row again */
    assert_true(ready(b, &fb));
    assert_true(send_uses(b, "T1"));
    provider_destroy(&a);
    provider_destroy(&b);
}

static void a_token_near_expiry_is_refreshed_by_one_while_the_others_use_it(void **state)
{
    (void)state;
    /* two hours' life, 200 s left: within the last five minutes */
    set_row("OLD", "200 seconds", "7000 seconds");
    provider_t *c = instance(), *d = instance();
    fetch_t fc, fd;
    assert_false(ready(c, &fc));
    assert_non_null(fc.h);
    /* d finds the refresh taken and goes on with the old token, still valid */
    assert_true(ready(d, &fd));
    assert_true(send_uses(d, "OLD"));
    answer_fetch(c, &fc, CURLE_OK, 200, "{\"access_token\":\"NEW\",\"expires_in\":7200}");
    assert_true(ready(c, &fc));
    assert_true(send_uses(c, "NEW"));
    sleep_ms(300);
    assert_true(ready(d, &fd));
    assert_true(send_uses(d, "NEW"));

    /* a token with most of its life left is used as it is: no claim, no fetch */
    set_row("FRESH", "7000 seconds", "200 seconds");
    provider_t *e = instance();
    fetch_t fe;
    assert_true(ready(e, &fe));
    assert_int_equal(row_claimed(), 0);
    assert_true(send_uses(e, "FRESH"));
    provider_destroy(&c);
    provider_destroy(&d);
    provider_destroy(&e);
}

static void a_refused_token_is_fetched_once_again(void **state)
{
    (void)state;
    set_row("T1", "7000 seconds", "200 seconds");
    provider_t *a = instance(), *b = instance();
    fetch_t fa, fb;
    assert_true(ready(a, &fa));
    assert_true(ready(b, &fb));
    /* three of a's messages and one of b's in flight with T1 */
    send_t s1 = send_start(a), s2 = send_start(a), s3 = send_start(a), s4 = send_start(b);

    assert_int_equal(send_end(a, &s1, REFUSED), OUTCOME_TOKEN);
    assert_false(ready(a, &fa));
    assert_non_null(fa.h); /* the one fetch */
    /* another refusal of the same token while the fetch runs: no second fetch */
    assert_int_equal(send_end(a, &s2, REFUSED), OUTCOME_TOKEN);
    fetch_t again;
    assert_false(ready(a, &again));
    assert_null(again.h);
    /* b, refused too, finds a's claim and waits */
    assert_int_equal(send_end(b, &s4, REFUSED), OUTCOME_TOKEN);
    assert_false(ready(b, &fb));
    assert_null(fb.h);

    answer_fetch(a, &fa, CURLE_OK, 200, "{\"access_token\":\"T2\",\"expires_in\":7200}");
    assert_true(ready(a, &fa));
    /* a late refusal of T1 does not drop T2 */
    assert_int_equal(send_end(a, &s3, REFUSED), OUTCOME_TOKEN);
    assert_true(ready(a, &fa));
    assert_true(send_uses(a, "T2"));
    sleep_ms(300);
    assert_true(ready(b, &fb));
    assert_true(send_uses(b, "T2"));
    /* and a send with T2 goes through */
    send_t s5 = send_start(b);
    assert_int_equal(send_end(b, &s5, SENT), OUTCOME_SENT);
    provider_destroy(&a);
    provider_destroy(&b);
}

static void a_lapsed_claim_is_taken_over_and_the_older_fetch_is_not_stored(void **state)
{
    (void)state;
    provider_t *a = instance(), *b = instance();
    fetch_t fa, fb;
    assert_false(ready(a, &fa));
    assert_non_null(fa.h);
    /* a's fetch hangs beyond its claim (a killed instance looks the same) */
    const char *p[] = {g_app};
    h_sql_int(g_db,
              "WITH u AS (UPDATE notify.access_token SET refreshing_until = now() - interval '1 second'"
              " WHERE app = $1 RETURNING 1) SELECT count(*) FROM u",
              1, p);
    sleep_ms(300);
    assert_false(ready(b, &fb));
    assert_non_null(fb.h);
    answer_fetch(b, &fb, CURLE_OK, 200, "{\"access_token\":\"T3\",\"expires_in\":7200}");
    answer_fetch(a, &fa, CURLE_OK, 200, "{\"access_token\":\"T4\",\"expires_in\":7200}");
    char *t = row_token();
    assert_string_equal(t, "T3");
    free(t);
    assert_true(ready(a, &fa));
    assert_true(send_uses(a, "T3"));
    provider_destroy(&a);
    provider_destroy(&b);
}

static void a_failed_fetch_releases_the_claim_and_backs_off(void **state)
{
    (void)state;
    provider_t *a = instance(), *b = instance();
    fetch_t fa, fb;
    assert_false(ready(a, &fa));
    answer_fetch(a, &fa, CURLE_OK, 200, "{\"errcode\":40013,\"errmsg\":\"invalid appid\"}");
    assert_int_equal(row_claimed(), 0);
    char *t = row_token();
    assert_string_equal(t, "");
    free(t);
    assert_false(ready(a, &fa)); /* a waits a moment before it asks again */
    assert_null(fa.h);
    assert_false(ready(b, &fb)); /* the claim is free: b tries */
    assert_non_null(fb.h);
    answer_fetch(b, &fb, CURLE_OPERATION_TIMEDOUT, 0, "");
    assert_int_equal(row_claimed(), 0);
    /* an answer without expires_in is not a token (a's first failure: a second's wait) */
    sleep_ms(1100);
    assert_false(ready(a, &fa));
    assert_non_null(fa.h);
    answer_fetch(a, &fa, CURLE_OK, 200, "{\"access_token\":\"T5\"}");
    t = row_token();
    assert_string_equal(t, "");
    free(t);
    /* a fetch cancelled at shutdown leaves the claim to lapse (a's second failure: two seconds' wait) */
    sleep_ms(2100);
    assert_false(ready(a, &fa));
    assert_non_null(fa.h);
    a->ops->cancel(a, fa.call);
    curl_easy_cleanup(fa.h);
    provider_destroy(&a);
    provider_destroy(&b);
}

static void without_the_database_it_waits_and_keeps_a_valid_token(void **state)
{
    (void)state;
    PGconn *gone = PQconnectdb("host=/nonexistent-gridgov dbname=x connect_timeout=1");
    assert_int_not_equal(PQstatus(gone), CONNECTION_OK);
    provider_t *a = instance();
    CURL *h = NULL;
    void *call = NULL;
    assert_false(a->ops->ready(a, gone, NOW, &h, &call));
    assert_null(h);
    /* a token it holds stays in use while the database is away */
    set_row("KEEP", "7000 seconds", "200 seconds");
    provider_t *b = instance();
    fetch_t f;
    assert_true(ready(b, &f));
    assert_true(b->ops->ready(b, gone, NOW, &h, &call));
    assert_true(send_uses(b, "KEEP"));
    PQfinish(gone);
    provider_destroy(&a);
    provider_destroy(&b);
}

static void wecom_app_fetches_its_token_with_gettoken(void **state)
{
    (void)state;
    char corp[96], app[128];
    snprintf(corp, sizeof corp, "wecom_corp_id=wwtok%d-%d", (int)getpid(), ++g_seq);
    snprintf(app, sizeof app, "wecom:wwtok%d-%d:1000002", (int)getpid(), g_seq);
    snprintf(g_app, sizeof g_app, "%s", app);
    const char *kv[] = {corp, "wecom_corp_secret=s3cret", "wecom_agent_id=1000002", "wecom_api_base=http://127.0.0.1:9",
                        NULL};
    cfg_t *cfg = pfx_cfg(kv);
    char err[256];
    provider_t *p = provider_wecom_app_new(cfg, err, sizeof err);
    cfg_destroy(&cfg);
    assert_non_null(p);
    fetch_t f;
    assert_false(ready(p, &f));
    assert_non_null(f.h);
    char want[256];
    snprintf(want, sizeof want, "http://127.0.0.1:9/cgi-bin/gettoken?corpid=wwtok%d-%d&corpsecret=s3cret",
             (int)getpid(), g_seq);
    assert_string_equal(url_of(f.h), want);
    answer_fetch(p, &f, CURLE_OK, 200, "{\"errcode\":0,\"errmsg\":\"ok\",\"access_token\":\"W1\",\"expires_in\":7200}");
    char *t = row_token();
    assert_string_equal(t, "W1");
    free(t);
    assert_true(ready(p, &f));
    message_t m = {.id = "0b6f3f5e-6c55-4b8e-9d55-1c1f0f5b9a0a", .channel = "wecom_app", .address = "zhangsan",
                   .body = "新派单", .tmpl = &TMPL};
    char url[512];
    outcome_t out = pfx_answer(p, &m, NOW, CURLE_OK, 200, "{\"errcode\":42001,\"errmsg\":\"access_token expired\"}",
                               url, sizeof url);
    assert_string_equal(url, "http://127.0.0.1:9/cgi-bin/message/send?access_token=W1");
    assert_int_equal(out.kind, OUTCOME_TOKEN);
    p->ops->token_refused(p, g_db);
    assert_false(ready(p, &f));
    assert_non_null(f.h); /* fetched again; WeCom may answer the same token while it is valid */
    answer_fetch(p, &f, CURLE_OK, 200, "{\"errcode\":0,\"errmsg\":\"ok\",\"access_token\":\"W1\",\"expires_in\":7000}");
    assert_true(ready(p, &f));
    provider_destroy(&p);
    /* misconfigured: a corp id without a numeric agent id */
    const char *bad[] = {corp, "wecom_corp_secret=s3cret", "wecom_agent_id=abc", NULL};
    cfg = pfx_cfg(bad);
    assert_null(provider_wecom_app_new(cfg, err, sizeof err));
    assert_non_null(strstr(err, "wecom_agent_id"));
    cfg_destroy(&cfg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_setup(one_instance_fetches_and_the_others_read_the_row, test_setup),
        cmocka_unit_test_setup(a_token_near_expiry_is_refreshed_by_one_while_the_others_use_it, test_setup),
        cmocka_unit_test_setup(a_refused_token_is_fetched_once_again, test_setup),
        cmocka_unit_test_setup(a_lapsed_claim_is_taken_over_and_the_older_fetch_is_not_stored, test_setup),
        cmocka_unit_test_setup(a_failed_fetch_releases_the_claim_and_backs_off, test_setup),
        cmocka_unit_test_setup(without_the_database_it_waits_and_keeps_a_valid_token, test_setup),
        cmocka_unit_test_setup(wecom_app_fetches_its_token_with_gettoken, test_setup),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
