/* notify killed with SIGKILL while 1,000 messages are due (the durability test), against
 * the fake Aliyun with real credentials:
 *   - 1,000 pending SMS to 1,000 numbers; the fake answers slowly so that many calls are in flight;
 *     notify is killed (SIGKILL) with send_concurrency calls out;
 *   - another notify, once the dead one's claims ran out: every message reached the fake at least
 *     once, each send of a message (the first and any resend) carried its id as the provider key
 *     (OutId), the resends are only messages that were in flight at the kill, so no more than
 *     send_concurrency, and every row ends sent with one attempt recorded. */
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
#include <unistd.h>

#include "fakes.h"
#include "harness.h"

#define N_MSG 1000
#define CONCURRENCY 32

static char g_clock[1024];
static h_fake_t g_fake;
static pid_t g_running[2];

static pid_t start_notify(void)
{
    static char clock_env[1100];
    snprintf(clock_env, sizeof clock_env, "GRIDGOV_CLOCK_FILE=%s", g_clock);
    const char *env[32] = {clock_env, "GRIDGOV_SWEEP_MS=50", "GRIDGOV_SMS_PROVIDERS=aliyun", "GRIDGOV_LEASE_S=10",
                           "GRIDGOV_SEND_CONCURRENCY=32", "GRIDGOV_SMS_PER_HOUR=0", "GRIDGOV_SMS_PER_DAY=0"};
    int n = 7;
    for (const char *const *e = h_fake_notify_env(&g_fake); *e; e++)
        env[n++] = *e;
    env[n] = NULL;
    pid_t pid = h_start_notify(0, 0, env, NULL, 0);
    for (size_t i = 0; i < 2; i++)
        if (!g_running[i]) {
            g_running[i] = pid;
            break;
        }
    return pid;
}

static void forget(pid_t pid)
{
    for (size_t i = 0; i < 2; i++)
        if (g_running[i] == pid)
            g_running[i] = 0;
}

static int count(PGconn *db, const char *state)
{
    const char *p[] = {state};
    return (int)h_sql_int(db, "SELECT count(*) FROM notify.message WHERE dedup_key LIKE 'kill-test/%' AND state = $1",
                          1, p);
}

static void a_notify_killed_with_a_thousand_due_resends_only_what_was_in_flight_under_the_same_keys(void **state)
{
    (void)state;
    PGconn *db = h_db();
    PGconn *own = h_db_owner(); /* the temporary tables below: the daemons' role may not make them */
    h_set_clock(g_clock, "2026-11-27T02:00:00Z");
    /* 1,000 numbers: neither notify's per-number limits nor the fake's get in the way */
    h_sql_exec(db, "INSERT INTO notify.message (id, dedup_key, template_key, audience, channel, address, params, body,"
                   " due_at)"
                   " SELECT u, 'kill-test/' || u, 'kill_notice', 'handler', 'sms', (17800000000 + i)::text,"
                   "  jsonb_build_object('code', 'GG-' || i), '网格通：新派单', '2026-11-27T02:00:00Z'"
                   " FROM (SELECT i, gen_random_uuid() AS u FROM generate_series(1, 1000) i) g");
    assert_int_equal(count(db, "pending"), N_MSG);
    assert_true(h_fake_fail(&g_fake, "aliyun", "slow", 400, NULL, 0));

    pid_t a = start_notify();
    /* well under way: some sent, a full window of calls out */
    assert_true(h_wait_sql(db, "SELECT (count(*) FILTER (WHERE state = 'sent') >= 100"
                               " AND count(*) FILTER (WHERE state = 'sending') >= 16)::int"
                               " FROM notify.message WHERE dedup_key LIKE 'kill-test/%'", 0, NULL, 1, 20000));
    forget(a);
    h_stop(a, SIGKILL);
    /* what was in flight: claimed by the dead one and never recorded */
    h_sql_exec(own, "CREATE TEMP TABLE in_flight AS SELECT id FROM notify.message"
                   " WHERE dedup_key LIKE 'kill-test/%' AND state = 'sending'");
    int in_flight = (int)h_sql_int(own, "SELECT count(*) FROM in_flight", 0, NULL);
    int sent_before = count(db, "sent");
    assert_true(in_flight >= 1 && in_flight <= CONCURRENCY);
    assert_int_equal(sent_before + in_flight + count(db, "pending"), N_MSG);
    /* let the dead one's calls end at the fake (it may still have taken them) */
    usleep(600 * 1000);

    assert_true(h_fake_clear(&g_fake, "aliyun"));
    pid_t b = start_notify();
    /* the dead one's claims hold until they run out (lease_s 10 on the shared clock) */
    usleep(500 * 1000);
    assert_int_equal(h_sql_int(own, "SELECT count(*) FROM notify.message m JOIN in_flight f USING (id)"
                                   " WHERE m.state = 'sending'", 0, NULL), in_flight);
    h_set_clock(g_clock, "2026-11-27T02:00:11Z");
    assert_true(h_wait_sql(db, "SELECT count(*) FROM notify.message WHERE dedup_key LIKE 'kill-test/%' AND state = 'sent'",
                           0, NULL, N_MSG, 60000));
    forget(b);
    int st = h_stop(b, SIGTERM);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);

    /* the fake's view, by provider key */
    json_t *sent = h_fake_sent(&g_fake, "aliyun"), *v;
    h_sql_exec(own, "CREATE TEMP TABLE got (n bigint, key text, number text)");
    size_t i;
    json_array_foreach(sent, i, v)
    {
        const char *key = json_string_value(json_object_get(v, "key"));
        const char *num = json_string_value(json_object_get(v, "number"));
        char seq[24];
        snprintf(seq, sizeof seq, "%lld", (long long)json_integer_value(json_object_get(v, "seq")));
        const char *p[] = {seq, key ? key : "", num ? num : ""};
        PGresult *r = PQexecParams(own, "INSERT INTO got VALUES ($1::bigint, $2, $3)", 3, NULL, p, NULL, NULL, 0);
        assert_int_equal(PQresultStatus(r), PGRES_COMMAND_OK);
        PQclear(r);
    }
    json_decref(sent);
    const char *mine = "SELECT g.*, m.id FROM got g JOIN notify.message m ON m.address = g.number"
                       " WHERE m.dedup_key LIKE 'kill-test/%'";
    char sql[1024];
    /* every message reached the fake at least once */
    snprintf(sql, sizeof sql, "SELECT count(DISTINCT id) FROM (%s) x", mine);
    assert_int_equal(h_sql_int(own, sql, 0, NULL), N_MSG);
    /* every send of a message, first or again, carried the message's id as OutId */
    snprintf(sql, sizeof sql, "SELECT count(*) FROM (%s) x WHERE key <> id::text", mine);
    assert_int_equal(h_sql_int(own, sql, 0, NULL), 0);
    /* resends: only of messages in flight at the kill, so at most send_concurrency */
    snprintf(sql, sizeof sql, "SELECT count(*) - count(DISTINCT id) FROM (%s) x", mine);
    long long resends = h_sql_int(own, sql, 0, NULL);
    snprintf(sql, sizeof sql, "SELECT count(*) FROM (SELECT id FROM (%s) x GROUP BY id HAVING count(*) > 1) d"
                              " WHERE id NOT IN (SELECT id FROM in_flight)", mine);
    assert_int_equal(h_sql_int(own, sql, 0, NULL), 0);
    printf("# in flight at the kill %d (send_concurrency %d), sent before it %d, resends %lld\n", in_flight,
           CONCURRENCY, sent_before, resends);
    assert_true(resends <= in_flight);
    /* and the rows: all sent, one attempt each (the killed calls were never recorded), none dead */
    assert_int_equal(h_sql_int(db, "SELECT count(*) FROM notify.message WHERE dedup_key LIKE 'kill-test/%'"
                                   " AND state = 'sent' AND attempts = 1 AND provider = 'aliyun'", 0, NULL), N_MSG);
    assert_int_equal(h_sql_int(db, "SELECT count(*) FROM notify.dead_letter d JOIN notify.message m ON m.id ="
                                   " d.message_id WHERE m.dedup_key LIKE 'kill-test/%'", 0, NULL), 0);
    PQfinish(own);
    PQfinish(db);
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < 2; i++)
        if (g_running[i]) {
            h_stop(g_running[i], SIGKILL);
            g_running[i] = 0;
        }
    return 0;
}

static int group_setup(void **state)
{
    (void)state;
    snprintf(g_clock, sizeof g_clock, "%s/notify-kill-clock-%d", h_env("GRIDGOV_TEST_VAR"), (int)getpid());
    h_set_clock(g_clock, "2026-11-27T02:00:00Z");
    h_fake_start(&g_fake, h_port(192), NULL, g_clock);
    PGconn *db = h_db_owner();
    h_sql_exec(db, "INSERT INTO notify.template (key, body, aliyun_code, tencent_id, sms_params) VALUES"
                   " ('kill_notice', '网格通：新派单{code}', 'SMS_900002', '900002', '{code}') ON CONFLICT DO NOTHING");
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
                   " WHERE dedup_key LIKE 'kill-test/%')");
    h_sql_exec(db, "DELETE FROM notify.dead_letter WHERE message_id IN (SELECT id FROM notify.message"
                   " WHERE dedup_key LIKE 'kill-test/%')");
    h_sql_exec(db, "DELETE FROM notify.message WHERE dedup_key LIKE 'kill-test/%'");
    PQfinish(db);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(a_notify_killed_with_a_thousand_due_resends_only_what_was_in_flight_under_the_same_keys,
                                  teardown),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
