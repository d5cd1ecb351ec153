/* notify against the fake providers (tests/fakes/providers.py) with real credentials: the merged
 * engine, adapters and crypto talking to byte-faithful Aliyun, Tencent, WeChat and WeCom. Messages
 * are inserted into notify.message as the planner inserts them; notify and the fake share the
 * injected clock (clock_file), so the SMS signatures' timestamps are judged on the same time.
 *   - Aliyun: an SMS reaches the fake signed (its check passes), OutId = the message id, also after
 *     the clock moved a day; a wrong secret, and a clock 1 h off the fake's, are refused by the fake;
 *   - Tencent (sms_providers=tencent): SessionContext = the message id; a wrong key is refused;
 *   - failover: Aliyun out of balance (isv.AMOUNT_NOT_ENOUGH) → the message goes by Tencent;
 *   - WeChat: a template message with client_msg_id = the message id, a 20-character thing as it
 *     was; a 21-character one is refused (47003) and dead at once, not retried;
 *   - WeChat 43004 (not following) → SMS to the fallback phone under the same id; none → dead;
 *   - WeChat's token expired at the fake (42001) → one refetch and the message goes;
 *   - WeCom robot: 21 messages to one key in a minute → 20 go, the 21st waits for the next minute
 *     (the fake never had to refuse one); the fake's own 45009 → the next minute, not dead;
 *   - permanent codes (isv.MOBILE_NUMBER_ILLEGAL, 40003) → a dead letter at once with its reason;
 *   - every provider answering 503 for a while → retried, none dead, all go once it is back. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "fakes.h"
#include "harness.h"
#include "uuid.h"

#define OPENID_A "oFa4e00000000000000000000A01"
#define OPENID_B "oFa4e00000000000000000000B02"
#define OPENID_C "oFa4e00000000000000000000C03"
#define THING_20 "小区东门路灯不亮已安排电工今晚前去修好了" /* 20 characters */

static char g_clock[1024];
static h_fake_t g_fake;
static pid_t g_running[4];

/* ---- notify ---- */

static pid_t start_notify(const char *const *extra)
{
    static char clock_env[1100];
    snprintf(clock_env, sizeof clock_env, "GRIDGOV_CLOCK_FILE=%s", g_clock);
    const char *env[44] = {clock_env, "GRIDGOV_SWEEP_MS=50"};
    int n = 2;
    for (const char *const *e = h_fake_notify_env(&g_fake); *e; e++)
        env[n++] = *e;
    for (const char *const *e = extra; e && *e && n < 43; e++)
        env[n++] = *e; /* later entries win (putenv) */
    env[n] = NULL;
    pid_t pid = h_start_notify(0, 0, env, NULL, 0);
    for (size_t i = 0; i < sizeof g_running / sizeof g_running[0]; i++)
        if (!g_running[i]) {
            g_running[i] = pid;
            break;
        }
    return pid;
}

static void stop_notify(pid_t pid)
{
    for (size_t i = 0; i < sizeof g_running / sizeof g_running[0]; i++)
        if (g_running[i] == pid)
            g_running[i] = 0;
    int st = h_stop(pid, SIGTERM);
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
}

static long long clock_now(void)
{
    FILE *f = fopen(g_clock, "r");
    long long s = 0;
    assert_non_null(f);
    assert_int_equal(fscanf(f, "%lld", &s), 1);
    fclose(f);
    return s;
}

static void clock_set(long long s)
{
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", g_clock);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fprintf(f, "%lld\n", s);
    fclose(f);
    assert_int_equal(rename(tmp, g_clock), 0);
}

/* ---- messages ---- */

/* Inserts a message as the planner would (due at the clock's now); its id into id. */
static void insert_msg(PGconn *db, char id[UUID_STR_LEN], const char *audience, const char *channel,
                       const char *address, const char *fallback, const char *wechat_data)
{
    uuid_v4(id);
    char dedup[80], due[24];
    snprintf(dedup, sizeof dedup, "providers-test/%s", id);
    snprintf(due, sizeof due, "%lld", clock_now());
    const char *p[] = {id, dedup, audience, channel, address, fallback, wechat_data, due};
    PGresult *r = PQexecParams(db,
                               "INSERT INTO notify.message (id, dedup_key, template_key, audience, channel, address,"
                               " fallback_phone, params, wechat_data, body, due_at)"
                               " VALUES ($1, $2, 'prov_notice', $3, $4, $5, $6, '{\"code\":\"GG-2611-0001\"}',"
                               " $7::jsonb, '网格通：您的诉求GG-2611-0001已受理', to_timestamp($8::bigint))",
                               8, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("insert message: %s", PQerrorMessage(db));
    PQclear(r);
}

static bool wait_state(PGconn *db, const char *id, const char *state, int ms)
{
    const char *p[] = {id, state};
    return h_wait_sql(db, "SELECT count(*) FROM notify.message WHERE id = $1 AND state = $2", 2, p, 1, ms);
}

/* Moves the shared clock a second every 100 ms until the message is in state (backoff and
 * token waits are in domain time). */
static bool wait_state_moving(PGconn *db, const char *id, const char *state, int ms)
{
    for (int waited = 0; waited <= ms; waited += 100) {
        if (wait_state(db, id, state, 0))
            return true;
        clock_set(clock_now() + 1);
        usleep(100 * 1000);
    }
    return false;
}

static char *field(PGconn *db, const char *sql, const char *id)
{
    const char *p[] = {id};
    return h_sql_text(db, sql, 1, p);
}

/* "n:provider:outcome:code,…" of the message's attempts. */
static char *attempts(PGconn *db, const char *id)
{
    return field(db, "SELECT coalesce(string_agg(n || ':' || provider || ':' || outcome || ':' || coalesce(code, ''),"
                     " ',' ORDER BY n), '') FROM notify.attempt WHERE message_id = $1", id);
}

static void assert_attempts(PGconn *db, const char *id, const char *want)
{
    char *got = attempts(db, id);
    if (strcmp(got, want) != 0)
        fail_msg("attempts of %s: %s, want %s", id, got, want);
    free(got);
}

/* ---- the fake's records ---- */

/* The fake's record (provider accepted) whose provider key is key; a new reference or NULL. */
static json_t *sent_by_key(const char *provider, const char *key)
{
    json_t *all = h_fake_sent(&g_fake, provider), *found = NULL, *v;
    size_t i;
    json_array_foreach(all, i, v)
    {
        const char *k = json_string_value(json_object_get(v, "key"));
        if (k && strcmp(k, key) == 0 && !found)
            found = json_incref(v);
    }
    json_decref(all);
    return found;
}

/* How many of provider's calls had this outcome and carried s somewhere in the request. */
static int calls_with(const char *provider, const char *outcome, const char *s)
{
    json_t *all = h_fake_calls(&g_fake, provider), *v;
    size_t i;
    int n = 0;
    json_array_foreach(all, i, v)
    {
        const char *o = json_string_value(json_object_get(v, "outcome"));
        char *req = json_dumps(json_object_get(v, "request"), JSON_COMPACT | JSON_ENCODE_ANY);
        if (o && strcmp(o, outcome) == 0 && (!s || (req && strstr(req, s))))
            n++;
        free(req);
    }
    json_decref(all);
    return n;
}

static bool to_has(const json_t *rec, const char *number)
{
    char *to = json_dumps(json_object_get(rec, "to"), JSON_COMPACT);
    bool yes = to && strstr(to, number);
    free(to);
    return yes;
}

/* ---- the tests ---- */

static void aliyun_sms_is_signed_on_the_shared_clock_with_outid_the_message_id(void **state)
{
    (void)state;
    PGconn *db = h_db();
    h_set_clock(g_clock, "2026-11-20T02:00:00Z");
    char id[UUID_STR_LEN], later[UUID_STR_LEN], badsig[UUID_STR_LEN], skew[UUID_STR_LEN];
    pid_t n = start_notify((const char *[]){"GRIDGOV_SMS_PROVIDERS=aliyun,tencent", NULL});
    insert_msg(db, id, "reporter", "sms", "17700000001", NULL, NULL);
    assert_true(wait_state(db, id, "sent", 5000));
    json_t *rec = sent_by_key("aliyun", id);
    assert_non_null(rec);
    assert_true(to_has(rec, "17700000001"));
    assert_string_equal(json_string_value(json_object_get(rec, "template")), "SMS_900001");
    assert_string_equal(json_string_value(json_object_get(json_object_get(rec, "params"), "code")), "GG-2611-0001");
    assert_string_equal(json_string_value(json_object_get(rec, "sign_name")), H_FAKE_SMS_SIGN_NAME);
    /* the row knows the provider's id for this send (receipts find it by it) */
    char *row = field(db, "SELECT provider || ' ' || provider_msgid FROM notify.message WHERE id = $1", id);
    char want[160];
    snprintf(want, sizeof want, "aliyun %s", json_string_value(json_object_get(rec, "id")));
    assert_string_equal(row, want);
    free(row);
    json_decref(rec);
    assert_attempts(db, id, "1:aliyun:sent:OK");
    assert_int_equal(calls_with("aliyun", "refused", NULL), 0);
    assert_int_equal(h_fake_count(&g_fake, "tencent", "calls"), 0);

    /* a day later on the shared clock: signed with the new time, still accepted */
    clock_set(clock_now() + 86400);
    insert_msg(db, later, "reporter", "sms", "17700000002", NULL, NULL);
    assert_true(wait_state(db, later, "sent", 5000));
    rec = sent_by_key("aliyun", later);
    assert_non_null(rec);
    json_decref(rec);
    stop_notify(n);

    /* the check is real: a wrong secret is refused by the fake; nothing is sent */
    n = start_notify((const char *[]){"GRIDGOV_SMS_PROVIDERS=aliyun", "GRIDGOV_MAX_ATTEMPTS=1",
                                      "GRIDGOV_ALIYUN_ACCESS_KEY_SECRET=NotTheSecret0000000000000000000", NULL});
    insert_msg(db, badsig, "reporter", "sms", "17700000003", NULL, NULL);
    assert_true(wait_state(db, badsig, "dead", 5000));
    assert_attempts(db, badsig, "1:aliyun:failover:SignatureDoesNotMatch");
    assert_null(sent_by_key("aliyun", badsig));
    assert_int_equal(calls_with("aliyun", "refused", badsig), 1);
    stop_notify(n);

    /* and the Timestamp is notify's clock: the fake an hour ahead refuses it as expired */
    assert_true(h_fake_clock(&g_fake, (double)clock_now() + 3600));
    n = start_notify((const char *[]){"GRIDGOV_SMS_PROVIDERS=aliyun", "GRIDGOV_MAX_ATTEMPTS=1", NULL});
    insert_msg(db, skew, "reporter", "sms", "17700000004", NULL, NULL);
    assert_true(wait_state(db, skew, "dead", 5000));
    assert_attempts(db, skew, "1:aliyun:failover:InvalidTimeStamp.Expired");
    stop_notify(n);
    assert_true(h_fake_clock(&g_fake, 0));
    PQfinish(db);
}

static void tencent_sms_carries_the_message_id_as_session_context(void **state)
{
    (void)state;
    PGconn *db = h_db();
    h_set_clock(g_clock, "2026-11-21T03:00:00Z");
    char id[UUID_STR_LEN], bad[UUID_STR_LEN];
    pid_t n = start_notify((const char *[]){"GRIDGOV_SMS_PROVIDERS=tencent", NULL});
    insert_msg(db, id, "reporter", "sms", "17700000011", NULL, NULL);
    assert_true(wait_state(db, id, "sent", 5000));
    json_t *rec = sent_by_key("tencent", id);
    assert_non_null(rec);
    assert_true(to_has(rec, "17700000011"));
    assert_string_equal(json_string_value(json_object_get(rec, "template")), "900001");
    assert_string_equal(json_string_value(json_array_get(json_object_get(rec, "params"), 0)), "GG-2611-0001");
    char *row = field(db, "SELECT provider || ' ' || provider_msgid FROM notify.message WHERE id = $1", id);
    char want[160];
    snprintf(want, sizeof want, "tencent %s", json_string_value(json_object_get(rec, "id")));
    assert_string_equal(row, want);
    free(row);
    json_decref(rec);
    assert_attempts(db, id, "1:tencent:sent:Ok");
    assert_int_equal(h_fake_count(&g_fake, "aliyun", "calls"), 0);
    stop_notify(n);

    /* a wrong key: the fake's TC3 check refuses it */
    n = start_notify((const char *[]){"GRIDGOV_SMS_PROVIDERS=tencent", "GRIDGOV_MAX_ATTEMPTS=1",
                                      "GRIDGOV_TENCENT_SECRET_KEY=notTheTencentKey0000000000000000", NULL});
    insert_msg(db, bad, "reporter", "sms", "17700000012", NULL, NULL);
    assert_true(wait_state(db, bad, "dead", 5000));
    assert_attempts(db, bad, "1:tencent:failover:AuthFailure.SignatureFailure");
    assert_null(sent_by_key("tencent", bad));
    stop_notify(n);
    PQfinish(db);
}

static void aliyun_out_of_balance_fails_over_to_tencent(void **state)
{
    (void)state;
    PGconn *db = h_db();
    h_set_clock(g_clock, "2026-11-22T02:00:00Z");
    char id[UUID_STR_LEN];
    assert_true(h_fake_fail(&g_fake, "aliyun", "code", 0, "isv.AMOUNT_NOT_ENOUGH", 0));
    pid_t n = start_notify((const char *[]){"GRIDGOV_SMS_PROVIDERS=aliyun,tencent", NULL});
    insert_msg(db, id, "reporter", "sms", "17700000021", NULL, NULL);
    assert_true(wait_state(db, id, "sent", 5000));
    assert_attempts(db, id, "1:aliyun:failover:isv.AMOUNT_NOT_ENOUGH,2:tencent:sent:Ok");
    json_t *rec = sent_by_key("tencent", id);
    assert_non_null(rec);
    assert_true(to_has(rec, "17700000021"));
    json_decref(rec);
    assert_null(sent_by_key("aliyun", id));
    char *row = field(db, "SELECT provider || ' ' || attempts FROM notify.message WHERE id = $1", id);
    assert_string_equal(row, "tencent 2");
    free(row);
    stop_notify(n);
    PQfinish(db);
}

static void wechat_template_goes_with_client_msg_id_and_a_longer_thing_is_refused_at_once(void **state)
{
    (void)state;
    PGconn *db = h_db();
    h_set_clock(g_clock, "2026-11-22T03:00:00Z");
    char id[UUID_STR_LEN], longer[UUID_STR_LEN];
    pid_t n = start_notify(NULL);
    insert_msg(db, id, "reporter", "wechat", OPENID_A, "17700000031",
               "{\"thing2\":{\"value\":\"" THING_20 "\"},\"character_string1\":{\"value\":\"GG-2611-0001\"}}");
    assert_true(wait_state_moving(db, id, "sent", 5000)); /* the token first */
    json_t *rec = sent_by_key("wechat", id);
    assert_non_null(rec);
    assert_string_equal(json_string_value(json_object_get(rec, "openid")), OPENID_A);
    assert_string_equal(json_string_value(json_object_get(rec, "template")), "TPL-prov-notice");
    json_t *thing = json_object_get(json_object_get(rec, "params"), "thing2");
    const char *tv = json_is_object(thing) ? json_string_value(json_object_get(thing, "value")) : json_string_value(thing);
    assert_non_null(tv);
    assert_string_equal(tv, THING_20);
    json_decref(rec);
    assert_attempts(db, id, "1:wechat:sent:0");

    /* 21 characters: the provider refuses the field (47003); retrying cannot help */
    insert_msg(db, longer, "reporter", "wechat", OPENID_A, NULL,
               "{\"thing2\":{\"value\":\"" THING_20 "了\"},\"character_string1\":{\"value\":\"GG-2611-0001\"}}");
    assert_true(wait_state(db, longer, "dead", 5000));
    assert_attempts(db, longer, "1:wechat:permanent:47003");
    assert_null(sent_by_key("wechat", longer));
    stop_notify(n);
    PQfinish(db);
}

static void wechat_not_followed_falls_back_to_sms_to_the_fallback_phone(void **state)
{
    (void)state;
    PGconn *db = h_db();
    h_set_clock(g_clock, "2026-11-22T04:00:00Z");
    char id[UUID_STR_LEN], none[UUID_STR_LEN];
    assert_true(h_fake_config(&g_fake, "{\"wechat\":{\"unfollowed\":[\"" OPENID_B "\"]}}"));
    pid_t n = start_notify((const char *[]){"GRIDGOV_SMS_PROVIDERS=aliyun,tencent", NULL});
    const char *data = "{\"thing2\":{\"value\":\"路灯维修\"},\"character_string1\":{\"value\":\"GG-2611-0001\"}}";
    insert_msg(db, id, "reporter", "wechat", OPENID_B, "17700000041", data);
    assert_true(wait_state_moving(db, id, "sent", 5000));
    assert_attempts(db, id, "1:wechat:undeliverable:43004,2:aliyun:sent:OK");
    char *row = field(db, "SELECT channel || ' ' || address || ' ' || provider || ' ' || coalesce(fallback_phone, '-')"
                          " FROM notify.message WHERE id = $1", id);
    assert_string_equal(row, "sms 17700000041 aliyun -");
    free(row);
    json_t *rec = sent_by_key("aliyun", id); /* the same id: the SMS's OutId */
    assert_non_null(rec);
    assert_true(to_has(rec, "17700000041"));
    json_decref(rec);
    assert_null(sent_by_key("wechat", id));

    /* no fallback phone: nowhere to go, a dead letter */
    insert_msg(db, none, "reporter", "wechat", OPENID_B, NULL, data);
    assert_true(wait_state(db, none, "dead", 5000));
    char *dl = field(db, "SELECT code FROM notify.dead_letter WHERE message_id = $1", none);
    assert_string_equal(dl, "43004");
    free(dl);
    stop_notify(n);
    PQfinish(db);
}

static void an_expired_wechat_token_is_fetched_again_once_and_the_message_goes(void **state)
{
    (void)state;
    PGconn *db = h_db();
    h_set_clock(g_clock, "2026-11-23T02:00:00Z");
    char first[UUID_STR_LEN], second[UUID_STR_LEN];
    const char *data = "{\"thing2\":{\"value\":\"路灯维修\"},\"character_string1\":{\"value\":\"GG-2611-0001\"}}";
    pid_t n = start_notify(NULL);
    insert_msg(db, first, "reporter", "wechat", OPENID_C, NULL, data);
    assert_true(wait_state_moving(db, first, "sent", 5000));
    long fetches = h_fake_count(&g_fake, "wechat_token", "calls");
    assert_true(fetches >= 1);

    assert_true(h_fake_expire_tokens(&g_fake, "wechat"));
    insert_msg(db, second, "reporter", "wechat", OPENID_C, NULL, data);
    assert_true(wait_state_moving(db, second, "sent", 8000));
    assert_attempts(db, second, "1:wechat:token:42001,2:wechat:sent:0");
    assert_int_equal(h_fake_count(&g_fake, "wechat_token", "calls"), fetches + 1);
    json_t *rec = sent_by_key("wechat", second);
    assert_non_null(rec);
    json_decref(rec);
    stop_notify(n);
    PQfinish(db);
}

static void a_robot_key_takes_twenty_a_minute_and_the_twenty_first_waits_for_the_next(void **state)
{
    (void)state;
    PGconn *db = h_db();
    h_set_clock(g_clock, "2026-11-24T02:00:00Z");
    char ids[21][UUID_STR_LEN], other[UUID_STR_LEN];
    pid_t n = start_notify(NULL);
    for (int i = 0; i < 21; i++)
        insert_msg(db, ids[i], "duty_group", "wecom_robot", H_FAKE_ROBOT_KEY_1, NULL, NULL);
    const char *k[] = {H_FAKE_ROBOT_KEY_1};
    assert_true(h_wait_sql(db, "SELECT count(*) FROM notify.message WHERE address = $1 AND state = 'sent'", 1, k, 20,
                           5000));
    assert_true(h_wait_sql(db, "SELECT count(*) FROM notify.message WHERE address = $1 AND state = 'pending'"
                               " AND due_at = '2026-11-24T02:01:00Z' AND attempts = 0", 1, k, 1, 5000));
    usleep(300 * 1000);
    assert_int_equal(h_fake_count(&g_fake, "wecom_robot", "sent"), 20);
    assert_int_equal(h_fake_count(&g_fake, "wecom_robot", "refused"), 0); /* never had to say 45009 */
    assert_int_equal(h_sql_int(db, "SELECT count(*) FROM notify.message WHERE address = $1 AND state = 'dead'", 1, k),
                     0);
    h_set_clock(g_clock, "2026-11-24T02:01:00Z");
    assert_true(h_wait_sql(db, "SELECT count(*) FROM notify.message WHERE address = $1 AND state = 'sent'", 1, k, 21,
                           5000));
    assert_int_equal(h_fake_count(&g_fake, "wecom_robot", "sent"), 21);

    /* the robot's own 45009 (another sender on the key): the next minute, not a dead letter */
    assert_true(h_fake_fail(&g_fake, "wecom_robot", "code", 0, "45009", 1));
    insert_msg(db, other, "duty_group", "wecom_robot", H_FAKE_ROBOT_KEY_2, NULL, NULL);
    const char *po[] = {other};
    assert_true(h_wait_sql(db, "SELECT count(*) FROM notify.message WHERE id = $1 AND state = 'pending'"
                               " AND due_at = '2026-11-24T02:02:00Z' AND attempts = 1 AND last_code = '45009'",
                           1, po, 1, 5000));
    h_set_clock(g_clock, "2026-11-24T02:02:00Z");
    assert_true(wait_state(db, other, "sent", 5000));
    assert_attempts(db, other, "1:wecom_robot:retry:45009,2:wecom_robot:sent:0");
    stop_notify(n);
    PQfinish(db);
}

static void permanent_codes_are_dead_letters_at_once_with_their_reason(void **state)
{
    (void)state;
    PGconn *db = h_db();
    h_set_clock(g_clock, "2026-11-25T02:00:00Z");
    char sms[UUID_STR_LEN], wx[UUID_STR_LEN];
    assert_true(h_fake_fail(&g_fake, "aliyun", "code", 0, "isv.MOBILE_NUMBER_ILLEGAL", 1));
    pid_t n = start_notify((const char *[]){"GRIDGOV_SMS_PROVIDERS=aliyun,tencent", NULL});
    insert_msg(db, sms, "reporter", "sms", "17700000081", NULL, NULL);
    assert_true(wait_state(db, sms, "dead", 5000));
    assert_attempts(db, sms, "1:aliyun:permanent:isv.MOBILE_NUMBER_ILLEGAL");
    assert_int_equal(h_fake_count(&g_fake, "tencent", "calls"), 0); /* another provider would not do better */
    char *dl = field(db, "SELECT code || ' ' || (length(reason) > 0)::text FROM notify.dead_letter WHERE message_id = $1",
                     sms);
    assert_string_equal(dl, "isv.MOBILE_NUMBER_ILLEGAL true");
    free(dl);

    /* an openid the account does not know: the fake answers 40003 */
    insert_msg(db, wx, "reporter", "wechat", "not-an-openid", NULL,
               "{\"thing2\":{\"value\":\"路灯维修\"},\"character_string1\":{\"value\":\"GG-2611-0001\"}}");
    assert_true(wait_state_moving(db, wx, "dead", 5000));
    assert_attempts(db, wx, "1:wechat:permanent:40003");
    dl = field(db, "SELECT code || ' ' || (length(reason) > 0)::text FROM notify.dead_letter WHERE message_id = $1", wx);
    assert_string_equal(dl, "40003 true");
    free(dl);
    stop_notify(n);
    PQfinish(db);
}

static void every_provider_down_for_a_while_then_everything_goes(void **state)
{
    (void)state;
    PGconn *db = h_db();
    h_set_clock(g_clock, "2026-11-26T02:00:00Z");
    char ids[5][UUID_STR_LEN];
    assert_true(h_fake_fail(&g_fake, "*", "http", 503, NULL, 0));
    pid_t n = start_notify((const char *[]){"GRIDGOV_SMS_PROVIDERS=aliyun,tencent", "GRIDGOV_MAX_ATTEMPTS=60",
                                            "GRIDGOV_BACKOFF_BASE_MS=1000", "GRIDGOV_BACKOFF_MAX_MS=3000", NULL});
    const char *data = "{\"thing2\":{\"value\":\"路灯维修\"},\"character_string1\":{\"value\":\"GG-2611-0001\"}}";
    insert_msg(db, ids[0], "reporter", "sms", "17700000091", NULL, NULL);
    insert_msg(db, ids[1], "handler", "sms", "17700000092", NULL, NULL);
    insert_msg(db, ids[2], "reporter", "sms", "17700000093", NULL, NULL);
    insert_msg(db, ids[3], "duty_group", "wecom_robot", H_FAKE_ROBOT_KEY_2, NULL, NULL);
    insert_msg(db, ids[4], "reporter", "wechat", OPENID_A, NULL, data);
    /* 3 s of 503s, the clock running 10x: many retries, none given up */
    for (int i = 0; i < 30; i++) {
        clock_set(clock_now() + 1);
        usleep(100 * 1000);
    }
    for (int i = 0; i < 5; i++) {
        assert_false(wait_state(db, ids[i], "sent", 0));
        assert_false(wait_state(db, ids[i], "dead", 0));
    }
    const char *p0[] = {ids[0]};
    assert_true(h_sql_int(db, "SELECT attempts FROM notify.message WHERE id = $1", 1, p0) >= 3);
    assert_true(h_fake_count(&g_fake, "aliyun", "injected") >= 3);
    assert_true(h_fake_count(&g_fake, "wecom_robot", "injected") >= 2);
    assert_true(h_fake_count(&g_fake, "wechat_token", "injected") >= 2); /* its token too */

    assert_true(h_fake_clear(&g_fake, "*"));
    for (int i = 0; i < 5; i++)
        assert_true(wait_state_moving(db, ids[i], "sent", 10000));
    for (int i = 0; i < 3; i++) {
        json_t *a = sent_by_key("aliyun", ids[i]), *t = sent_by_key("tencent", ids[i]);
        assert_true(a || t);
        json_decref(a);
        json_decref(t);
    }
    json_t *w = sent_by_key("wechat", ids[4]);
    assert_non_null(w);
    json_decref(w);
    assert_int_equal(h_fake_count(&g_fake, "wecom_robot", "sent"), 1);
    for (int i = 0; i < 5; i++) {
        const char *p[] = {ids[i]};
        assert_int_equal(h_sql_int(db, "SELECT count(*) FROM notify.dead_letter WHERE message_id = $1", 1, p), 0);
    }
    stop_notify(n);
    PQfinish(db);
}

/* ---- fixtures ---- */

static int reset(void **state)
{
    (void)state;
    /* the fake forgets its tokens: so does notify, so that each test starts by fetching one (a
     * stored token the fake no longer knows is refused with 40001 and fetched again: also right,
     * but another attempt in the counts) */
    PGconn *db = h_db_owner();
    h_sql_exec(db, "DELETE FROM notify.access_token");
    PQfinish(db);
    return h_fake_reset(&g_fake) ? 0 : -1;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof g_running / sizeof g_running[0]; i++)
        if (g_running[i]) {
            h_stop(g_running[i], SIGKILL);
            g_running[i] = 0;
        }
    h_fake_clock(&g_fake, 0);
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(g_clock, sizeof g_clock, "%s/notify-providers-clock-%d", h_env("GRIDGOV_TEST_VAR"), (int)getpid());
    h_set_clock(g_clock, "2026-11-20T02:00:00Z");
    h_fake_start(&g_fake, h_port(190), NULL, g_clock);
    PGconn *db = h_db_owner();
    h_sql_exec(db, "INSERT INTO notify.template (key, body, aliyun_code, tencent_id, sms_params, wechat_template_id)"
                   " VALUES ('prov_notice', '网格通：您的诉求{code}已受理', 'SMS_900001', '900001', '{code}',"
                   " 'TPL-prov-notice') ON CONFLICT DO NOTHING");
    /* a token of an earlier fake would be refused (40001) and fetched again: start without one */
    h_sql_exec(db, "DELETE FROM notify.access_token");
    PQfinish(db);
    return 0;
}

/* Leaves no message of this binary behind for the next binary's notify to claim. */
static int group_teardown(void **state)
{
    (void)state;
    h_fake_stop(&g_fake);
    PGconn *db = h_db_owner();
    h_sql_exec(db, "DELETE FROM notify.attempt WHERE message_id IN (SELECT id FROM notify.message"
                   " WHERE dedup_key LIKE 'providers-test/%')");
    h_sql_exec(db, "DELETE FROM notify.dead_letter WHERE message_id IN (SELECT id FROM notify.message"
                   " WHERE dedup_key LIKE 'providers-test/%')");
    h_sql_exec(db, "DELETE FROM notify.message WHERE dedup_key LIKE 'providers-test/%'");
    PQfinish(db);
    return 0;
}

int main(void)
{
#define T(f) cmocka_unit_test_setup_teardown(f, reset, teardown)
    const struct CMUnitTest tests[] = {
        T(aliyun_sms_is_signed_on_the_shared_clock_with_outid_the_message_id),
        T(tencent_sms_carries_the_message_id_as_session_context),
        T(aliyun_out_of_balance_fails_over_to_tencent),
        T(wechat_template_goes_with_client_msg_id_and_a_longer_thing_is_refused_at_once),
        T(wechat_not_followed_falls_back_to_sms_to_the_fallback_phone),
        T(an_expired_wechat_token_is_fetched_again_once_and_the_message_goes),
        T(a_robot_key_takes_twenty_a_minute_and_the_twenty_first_waits_for_the_next),
        T(permanent_codes_are_dead_letters_at_once_with_their_reason),
        T(every_provider_down_for_a_while_then_everything_goes),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
