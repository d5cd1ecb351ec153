/* notify tells voters (issue 13; deploy/migrations/026_notify_vote_plans.sql): tally's events
 * vote.credentials and vote.closed, emitted here with bus.emit as tally emits them (source
 * "tally"), read by the real notify daemon from bus.outbox and sent through the fake providers:
 *   - a household electorate: each credential by SMS to the household's head, else to its first
 *     resident with a phone; a household nobody can be reached at gets nothing; a credential whose
 *     voter gave a written proxy goes to the holder, who gets their own as well (two messages to
 *     one phone, one per credential); the SMS holds the motion, the title, the closing time, the
 *     name on the roll and the credential in groups of four;
 *   - an adult electorate: each resident voter's own phone, or their proxy holder's;
 *   - a replayed event plans nothing twice;
 *   - vote.closed: every household head of the group with a phone, nobody else; the outcome and
 *     the whole head hash (two SMS parameters) in the SMS;
 *   - notify's log holds no credential and no whole phone number (the sandbox's log line says
 *     "(secret)" for a credential's body and masks the number); `gridgovctl messages`'s view shows
 *     a credential's body as "(secret: vote_credential)". */
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

#include "db_tx.h"
#include "fakes.h"
#include "harness.h"
#include "services/notify/plan.h"
#include "uuid.h"

static PGconn *g_db;
static h_fake_t g_fake;
static char g_clock[1024];

/* The test's own villager group: households 9913101..4 and their residents. */
#define GROUP "9913001"
static const char HEAD_HASH[] = "3f1c9a7d0b5e2a4c6e8f1a3b5c7d9e0f2a4b6c8d0e1f3a5b7c9d1e3f5a7b9c0d";

static void exec(const char *sql, int n, const char *const *p)
{
    PGresult *r = PQexecParams(g_db, sql, n, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(g_db));
    PQclear(r);
}

static int setup(void **state)
{
    (void)state;
    g_db = h_db();
    snprintf(g_clock, sizeof g_clock, "%s/notify-vote-clock-%d", h_env("GRIDGOV_TEST_VAR"), (int)getpid());
    h_set_clock(g_clock, "2026-12-08T02:00:00Z"); /* 10:00 in the county: no quiet hours */
    h_fake_start(&g_fake, h_port(230), NULL, g_clock);
    /* a group under the demo county's first village */
    exec("INSERT INTO registry.unit (id, parent_id, level, code, name)"
         " SELECT " GROUP ", id, 'group', 'T13-VOTE-GROUP', '投票测试组' FROM registry.unit WHERE level = 'village'"
         " ORDER BY id LIMIT 1", 0, NULL);
    exec("INSERT INTO registry.household (id, group_id, code, address) VALUES"
         " (9913101, " GROUP ", 'T13-H1', '一号'), (9913102, " GROUP ", 'T13-H2', '二号'),"
         " (9913103, " GROUP ", 'T13-H3', '三号'), (9913104, " GROUP ", 'T13-H4', '四号')", 0, NULL);
    /* H1: head with a phone; H2: the head has none, two others do (the lower id is told); H3: no
     * phone at all; H4: head with a phone, gives H1 a proxy */
    exec("INSERT INTO registry.resident (id, household_id, name, gender, birth_year, phone, is_head) VALUES"
         " (9913201, 9913101, '张一', '男', 1970, '13900001001', true),"
         " (9913202, 9913101, '张小一', '女', 1995, '13900001002', false),"
         " (9913203, 9913102, '张二', '男', 1960, NULL, true),"
         " (9913205, 9913102, '王二', '女', 1990, '13900001004', false),"
         " (9913204, 9913102, '李二', '女', 1965, '13900001003', false),"
         " (9913206, 9913103, '赵三', '男', 1950, NULL, true),"
         " (9913207, 9913104, '钱四', '男', 1975, '13900001005', true)", 0, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    h_fake_stop(&g_fake);
    PQfinish(g_db);
    return 0;
}

/* An open motion of the group with its roll (voter id, name) and one proxy (principal → holder). */
static void motion(const char *code, const char *electorate, const char *const voters[][2], size_t n,
                   const char *principal, const char *holder)
{
    char id[UUID_STR_LEN];
    uuid_v4(id);
    const char *p[] = {id, code, electorate};
    exec("INSERT INTO tally.motion (id, code, group_id, kind, title, electorate, ballot, rule_set, rules, rules_sha256,"
         " state, created_by, created_at, opened_at, closes_at, roll_count)"
         " VALUES ($1, $2, " GROUP ", 'resolution', '修缮村道的决定', $3, '{}', 'cn-2018', '{}', sha256('{}'), 'open',"
         " 1, now(), now(), '2026-12-09T10:00:00Z', 4)", 3, p);
    for (size_t i = 0; i < n; i++) {
        char salt[UUID_STR_LEN];
        uuid_v4(salt);
        const char *rp[] = {id, voters[i][0], voters[i][1], salt};
        exec("INSERT INTO tally.roll (motion_id, voter_id, household_id, name, cred_sha256)"
             " VALUES ($1, $2, $2, $3, sha256(convert_to($4, 'UTF8')))", 4, rp);
    }
    const char *xp[] = {id, principal, holder};
    exec("INSERT INTO tally.proxy (motion_id, principal, holder) VALUES ($1, $2, $3)", 3, xp);
}

/* bus.emit as tally does; the event id (caller frees). */
static char *emit(const char *type, const char *data)
{
    const char *p[] = {type, data};
    return h_sql_text(g_db, "SELECT bus.emit($1, 'tally', gen_random_uuid(), $2::jsonb)::text", 2, p);
}

/* The notify a test runs: stopped by the test, or by stop_left_over when the test failed half-way
 * (so that it claims none of the next test's messages). */
static pid_t g_notify;

static void stop_notify(void)
{
    int st = h_stop(g_notify, SIGTERM);
    g_notify = 0;
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
}

static int stop_left_over(void **state)
{
    (void)state;
    if (g_notify)
        h_stop(g_notify, SIGKILL);
    g_notify = 0;
    return 0;
}

static void start_notify(bool fakes, char *log, size_t logsz)
{
    static char clock_env[1100];
    snprintf(clock_env, sizeof clock_env, "GRIDGOV_CLOCK_FILE=%s", g_clock);
    const char *env[44] = {clock_env, "GRIDGOV_SWEEP_MS=50"};
    int n = 2;
    for (const char *const *e = fakes ? h_fake_notify_env(&g_fake) : NULL; e && *e; e++)
        env[n++] = *e;
    env[n++] = "GRIDGOV_SMS_PROVIDERS=aliyun";
    /* the per-number limits have tests of their own; here the clock stands still, and a proxy
     * holder's second credential would wait sms_same_template_s of it */
    env[n++] = "GRIDGOV_SMS_SAME_TEMPLATE_S=0";
    env[n++] = "GRIDGOV_SMS_PER_HOUR=0";
    env[n++] = "GRIDGOV_SMS_PER_DAY=0";
    env[n] = NULL;
    g_notify = h_start_notify(0, 0, env, log, logsz);
}

/* The SMS the fake Aliyun accepted to a number whose params name this motion: "voter credential"
 * lines, sorted, for vote_credential; the count for any. */
static char *credentials_sent_to(const char *number, const char *code, int *count)
{
    json_t *all = h_fake_sent(&g_fake, "aliyun"), *v;
    size_t i;
    json_t *lines = json_array();
    json_array_foreach(all, i, v)
    {
        json_t *params = json_object_get(v, "params");
        const char *to = json_string_value(json_array_get(json_object_get(v, "to"), 0));
        if (!to || strcmp(to, number) || !json_is_string(json_object_get(params, "motion")) ||
            strcmp(json_string_value(json_object_get(params, "motion")), code) || !json_object_get(params, "credential"))
            continue;
        char line[200];
        snprintf(line, sizeof line, "%s %s", json_string_value(json_object_get(params, "voter")),
                 json_string_value(json_object_get(params, "credential")));
        json_array_append_new(lines, json_string(line));
        assert_string_equal(json_string_value(json_object_get(params, "title")), "修缮村道的决定");
        assert_string_equal(json_string_value(json_object_get(params, "closes")), "12月09日 18:00");
        assert_string_equal(json_string_value(json_object_get(params, "group")), "投票测试组");
    }
    /* sorted, joined by "; " */
    size_t n = json_array_size(lines);
    const char **s = calloc(n + 1, sizeof *s);
    for (size_t k = 0; k < n; k++)
        s[k] = json_string_value(json_array_get(lines, k));
    for (size_t a = 0; a < n; a++)
        for (size_t b = a + 1; b < n; b++)
            if (strcmp(s[a], s[b]) > 0) {
                const char *t = s[a];
                s[a] = s[b];
                s[b] = t;
            }
    buf_t out = BUF_INIT;
    buf_puts(&out, "");
    for (size_t k = 0; k < n; k++)
        buf_printf(&out, "%s%s", k ? "; " : "", s[k]);
    free(s);
    *count = (int)n;
    json_decref(lines);
    json_decref(all);
    return buf_detach(&out);
}

/* How many SMS of this template the fake Aliyun took (the daily digest goes too: 10:00). */
static int sms_of(const char *template_code)
{
    json_t *all = h_fake_sent(&g_fake, "aliyun"), *v;
    size_t i;
    int n = 0;
    json_array_foreach(all, i, v) n += json_is_string(json_object_get(v, "template")) &&
                                       !strcmp(json_string_value(json_object_get(v, "template")), template_code);
    json_decref(all);
    return n;
}

static void expect_credentials(const char *number, const char *code, const char *want)
{
    int n;
    char *got = credentials_sent_to(number, code, &n);
    if (strcmp(got, want))
        fail_msg("%s got \"%s\", want \"%s\"", number, got, want);
    free(got);
}

static long long messages_of(const char *event_id)
{
    const char *p[] = {event_id};
    return h_sql_int(g_db, "SELECT count(*) FROM notify.message WHERE event_id = $1::uuid", 1, p);
}

/* The event planned want messages; else they are listed. */
static void expect_messages(const char *event_id, long long want)
{
    long long got = messages_of(event_id);
    if (got == want)
        return;
    const char *p[] = {event_id};
    char *rows = h_sql_text(g_db, "SELECT string_agg(dedup_key || ' ' || audience || ' ' || channel || ' ' || address,"
                                  " E'\\n') FROM notify.message WHERE event_id = $1::uuid", 1, p);
    fail_msg("event %s: %lld messages, want %lld:\n%s", event_id, got, want, rows ? rows : "");
}

/* The consumer's handling of one event again, in a transaction (a replay); messages it wrote. */
static long long replay(const char *event_id)
{
    const char *p[] = {event_id};
    char *text = h_sql_text(g_db, "SELECT envelope::text FROM bus.envelope WHERE id = $1::uuid", 1, p);
    json_t *env = json_loads(text, 0, NULL);
    free(text);
    long long before = messages_of(event_id);
    char err[512] = "";
    assert_true(db_begin(g_db, err, sizeof err));
    if (!plan_on_event(g_db, env, NULL, err, sizeof err))
        fail_msg("replay: %s", err);
    assert_true(db_commit(g_db, err, sizeof err));
    json_decref(env);
    return messages_of(event_id) - before;
}

static bool file_has(const char *path, const char *needle)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return false;
    buf_t b = BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    bool yes = b.len && memmem(b.data, b.len, needle, strlen(needle));
    buf_free(&b);
    return yes;
}

static const char *const CREDS[] = {"7KQ2M9XD4TRVPA3H", "A1B2C3D4E5F6G7H8", "JKMNPQRSTVWXYZ01", "23456789ABCDEFGH",
                                    "Z9Y8X7W6V5T4S3R2", "M0N1P2Q3R4S5T6V7", "HJKM0123NPQR4567", "QRST89ABVWXYCDEF"};
static const char *const GROUPED[] = {"7KQ2-M9XD-4TRV-PA3H", "A1B2-C3D4-E5F6-G7H8", "JKMN-PQRS-TVWX-YZ01",
                                      "2345-6789-ABCD-EFGH", "Z9Y8-X7W6-V5T4-S3R2", "M0N1-P2Q3-R4S5-T6V7",
                                      "HJKM-0123-NPQR-4567", "QRST-89AB-VWXY-CDEF"};

static void credentials_reach_each_voter_or_proxy_holder_and_a_replay_plans_nothing(void **state)
{
    (void)state;
    h_consumer_skip_backlog(g_db, "notify");
    char log[1024];
    start_notify(true, log, sizeof log);

    /* one household, one vote: H4 gave its vote to H1 */
    const char *const households[][2] = {
        {"9913101", "张一户"}, {"9913102", "张二户"}, {"9913103", "赵三户"}, {"9913104", "钱四户"}};
    motion("M2026-913001", "household", households, 4, "9913104", "9913101");
    char data[2048];
    snprintf(data, sizeof data,
             "{\"motion\": \"M2026-913001\", \"group_id\": %s, \"title\": \"修缮村道的决定\","
             " \"closes_at\": \"2026-12-09T10:00:00Z\", \"credentials\": ["
             "{\"voter_id\": 9913101, \"household_id\": 9913101, \"credential\": \"%s\"},"
             "{\"voter_id\": 9913102, \"household_id\": 9913102, \"credential\": \"%s\"},"
             "{\"voter_id\": 9913103, \"household_id\": 9913103, \"credential\": \"%s\"},"
             "{\"voter_id\": 9913104, \"household_id\": 9913104, \"credential\": \"%s\","
             " \"holder_voter_id\": 9913101}]}",
             GROUP, GROUPED[0], GROUPED[1], GROUPED[2], GROUPED[3]);
    char *ev = emit("vote.credentials", data);
    assert_true(h_fake_wait_sent(&g_fake, "aliyun", 3, 10000));
    for (int i = 0; i < 100 && sms_of("SMS_480100031") < 3; i++)
        usleep(50 * 1000);
    usleep(300 * 1000); /* nothing more comes */
    char want[256];
    snprintf(want, sizeof want, "张一户 %s; 钱四户 %s", GROUPED[0], GROUPED[3]);
    expect_credentials("13900001001", "M2026-913001", want);   /* H1's head: its own and H4's (proxy) */
    snprintf(want, sizeof want, "张二户 %s", GROUPED[1]);
    expect_credentials("13900001003", "M2026-913001", want);   /* H2: no head's phone, its first resident's */
    expect_credentials("13900001004", "M2026-913001", "");     /* not the later resident */
    expect_credentials("13900001005", "M2026-913001", "");     /* H4's head: the proxy holder was told */
    expect_credentials("13900001002", "M2026-913001", "");
    expect_messages(ev, 3); /* H3: nobody to reach */
    assert_int_equal(sms_of("SMS_480100031"), 3);

    /* one person, one vote: 王二 gave hers to 张一 */
    const char *const adults[][2] = {{"9913201", "张一"}, {"9913203", "张二"}, {"9913204", "李二"}, {"9913205", "王二"}};
    motion("M2026-913002", "adult", adults, 4, "9913205", "9913201");
    snprintf(data, sizeof data,
             "{\"motion\": \"M2026-913002\", \"group_id\": %s, \"title\": \"修缮村道的决定\","
             " \"closes_at\": \"2026-12-09T10:00:00Z\", \"credentials\": ["
             "{\"voter_id\": 9913201, \"household_id\": 9913101, \"credential\": \"%s\"},"
             "{\"voter_id\": 9913203, \"household_id\": 9913102, \"credential\": \"%s\"},"
             "{\"voter_id\": 9913204, \"household_id\": 9913102, \"credential\": \"%s\"},"
             "{\"voter_id\": 9913205, \"household_id\": 9913102, \"credential\": \"%s\","
             " \"holder_voter_id\": 9913201}]}",
             GROUP, GROUPED[4], GROUPED[5], GROUPED[6], GROUPED[7]);
    char *ev2 = emit("vote.credentials", data);
    for (int i = 0; i < 200 && sms_of("SMS_480100031") < 6; i++)
        usleep(50 * 1000);
    usleep(300 * 1000);
    snprintf(want, sizeof want, "张一 %s; 王二 %s", GROUPED[4], GROUPED[7]);
    expect_credentials("13900001001", "M2026-913002", want);
    snprintf(want, sizeof want, "李二 %s", GROUPED[6]);
    expect_credentials("13900001003", "M2026-913002", want);
    expect_credentials("13900001004", "M2026-913002", "");     /* 王二's went to her holder */
    expect_messages(ev2, 3); /* 张二 has no phone */

    /* a replay plans nothing twice */
    assert_int_equal(replay(ev), 0);
    assert_int_equal(replay(ev2), 0);
    usleep(500 * 1000);
    assert_int_equal(sms_of("SMS_480100031"), 6);

    /* the operator's view does not show a credential */
    const char *pe[] = {ev};
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM notify.message_list l JOIN notify.message m ON m.id = l.id"
                                     " WHERE m.event_id = $1::uuid AND l.body = '(secret: vote_credential)'", 1, pe), 3);
    stop_notify();
    /* notify's log: no credential, no whole number */
    for (size_t i = 0; i < 8; i++) {
        assert_false(file_has(log, CREDS[i]));
        assert_false(file_has(log, GROUPED[i]));
    }
    assert_false(file_has(log, "13900001001"));
    assert_false(file_has(log, "13900001003"));
    free(ev);
    free(ev2);
}

static void a_closed_vote_tells_every_household_head_with_a_phone(void **state)
{
    (void)state;
    h_consumer_skip_backlog(g_db, "notify");
    assert_true(h_fake_reset(&g_fake));
    char log[1024];
    start_notify(true, log, sizeof log);
    char data[1024];
    snprintf(data, sizeof data,
             "{\"motion\": \"M2026-913001\", \"group_id\": %s, \"kind\": \"resolution\", \"title\": \"修缮村道的决定\","
             " \"outcome\": \"adopted\", \"summary\": \"同意3户，不同意1户\", \"head_hash\": \"%s\"}",
             GROUP, HEAD_HASH);
    char *ev = emit("vote.closed", data);
    for (int i = 0; i < 200 && sms_of("SMS_480100032") < 2; i++)
        usleep(50 * 1000);
    usleep(300 * 1000);
    json_t *all = h_fake_sent(&g_fake, "aliyun"), *v;
    size_t i;
    assert_int_equal(sms_of("SMS_480100032"), 2);
    assert_int_equal(sms_of("SMS_480100031"), 0);
    bool h1 = false, h4 = false;
    json_array_foreach(all, i, v)
    {
        if (strcmp(json_string_value(json_object_get(v, "template")), "SMS_480100032"))
            continue;
        const char *to = json_string_value(json_array_get(json_object_get(v, "to"), 0));
        h1 = h1 || !strcmp(to, "13900001001");
        h4 = h4 || !strcmp(to, "13900001005");
        json_t *params = json_object_get(v, "params");
        assert_string_equal(json_string_value(json_object_get(params, "outcome")), "通过");
        assert_string_equal(json_string_value(json_object_get(params, "summary")), "同意3户，不同意1户");
        char head[65];
        snprintf(head, sizeof head, "%s%s", json_string_value(json_object_get(params, "head1")),
                 json_string_value(json_object_get(params, "head2")));
        assert_string_equal(head, HEAD_HASH);
        assert_null(json_object_get(params, "credential"));
    }
    json_decref(all);
    assert_true(h1 && h4); /* H2's head has no phone, H3 nobody: not told; H2's others are not heads */
    expect_messages(ev, 2);
    assert_int_equal(replay(ev), 0);
    stop_notify();
    assert_false(file_has(log, "13900001005"));
    free(ev);
}

static void the_sandbox_logs_no_credential_and_masks_the_number(void **state)
{
    (void)state;
    h_consumer_skip_backlog(g_db, "notify");
    char log[1024];
    start_notify(false, log, sizeof log); /* no provider credentials: the sandbox sends */
    char data[1024];
    snprintf(data, sizeof data,
             "{\"motion\": \"M2026-913001\", \"group_id\": %s, \"title\": \"修缮村道的决定\", \"closes_at\": null,"
             " \"credentials\": [{\"voter_id\": 9913102, \"household_id\": 9913102, \"credential\": \"%s\"}]}",
             GROUP, GROUPED[1]);
    char *ev = emit("vote.credentials", data);
    const char *pe[] = {ev};
    assert_true(h_wait_sql(g_db, "SELECT count(*) FROM notify.message WHERE event_id = $1::uuid AND state = 'sent'",
                           1, pe, 1, 10000));
    /* the message itself holds the credential (it is what goes out), and no closing time */
    char *body = h_sql_text(g_db, "SELECT body FROM notify.message WHERE event_id = $1::uuid", 1, pe);
    assert_non_null(strstr(body, GROUPED[1]));
    assert_non_null(strstr(body, "截止会议结束时"));
    free(body);
    stop_notify();
    assert_true(file_has(log, "139****1003"));
    assert_true(file_has(log, "(vote_credential): (secret)"));
    assert_false(file_has(log, "13900001003"));
    assert_false(file_has(log, CREDS[1]));
    assert_false(file_has(log, GROUPED[1]));
    free(ev);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(credentials_reach_each_voter_or_proxy_holder_and_a_replay_plans_nothing, stop_left_over),
        cmocka_unit_test_teardown(a_closed_vote_tells_every_household_head_with_a_phone, stop_left_over),
        cmocka_unit_test_teardown(the_sandbox_logs_no_credential_and_masks_the_number, stop_left_over),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
