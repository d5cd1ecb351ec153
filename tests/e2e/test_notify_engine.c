/* notify's engine end to end: a real gridgov-notify on the test database, messages inserted into
 * notify.message as the planner would insert them, the sandbox provider (no credentials), the
 * injected clock (clock_file), and a small HTTP responder of this test's own standing in for a
 * provider (sandbox_url) that answers 200, 400, 503, or takes the request and never answers.
 *   - a due message is sent (sandbox), with one attempt row, and the log masks the phone; the
 *     consumer did not read the events from before the release (nothing planned about the past);
 *   - quiet hours hold a resident's SMS until 07:00 county time; urgent ones and staff's go;
 *   - per-recipient rate limits move due_at instead of failing (same template 30 s; robot per minute);
 *   - an opted-out phone gets no SMS but urgent ones;
 *   - a refused message is a dead letter at once; transient failures are retried with backoff and
 *     die after max_attempts; gridgovctl dead-letters lists it, gridgovctl redrive sends it again;
 *   - up to send_concurrency calls are in flight at once while the loop goes on; a stop gives
 *     them back;
 *   - a notify killed mid-call leaves its claim to run out; another sends the message under the
 *     same id;
 *   - channel.receipt events move a sent message to delivered or failed, by id or provider msgid;
 *   - gridgovctl messages shows messages with masked addresses, and refuses bad filters. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "uuid.h"

static char g_clock[1024];
static int g_resp_port;

/* ---- a provider stand-in: answers every request with g_status; 0: reads it and never answers ---- */

static atomic_int g_status = 200;
static atomic_int g_requests;
static pthread_mutex_t g_seen_mu = PTHREAD_MUTEX_INITIALIZER;
static char g_seen[8192]; /* the request bodies, concatenated */
static int g_listen = -1;
static int g_hung[64];
static int g_n_hung;

static void *responder(void *arg)
{
    (void)arg;
    for (;;) {
        int c = accept(g_listen, NULL, NULL);
        if (c < 0)
            return NULL;
        char req[8192];
        ssize_t n = 0, k;
        /* headers and a small body: read until the JSON's closing brace or the peer stops */
        while (n < (ssize_t)sizeof req - 1 && (k = read(c, req + n, sizeof req - 1 - (size_t)n)) > 0) {
            n += k;
            req[n] = '\0';
            const char *body = strstr(req, "\r\n\r\n");
            if (body && strchr(body, '}'))
                break;
        }
        req[n > 0 ? n : 0] = '\0';
        atomic_fetch_add(&g_requests, 1);
        const char *body = strstr(req, "\r\n\r\n");
        pthread_mutex_lock(&g_seen_mu);
        if (body && strlen(g_seen) + strlen(body) < sizeof g_seen)
            strcat(g_seen, body + 4);
        pthread_mutex_unlock(&g_seen_mu);
        int st = atomic_load(&g_status);
        if (st == 0) { /* hang: keep the connection open, answer nothing */
            if (g_n_hung < 64)
                g_hung[g_n_hung++] = c;
            continue;
        }
        /* a body in the providers' JSON shape; the status is what the test asked for */
        char out[256];
        int len = snprintf(out, sizeof out, "HTTP/1.1 %d X\r\nContent-Type: application/json\r\nContent-Length: 27\r\n"
                                            "Connection: close\r\n\r\n{\"errcode\":0,\"errmsg\":\"ok\"}", st);
        if (write(c, out, (size_t)len) < 0)
            perror("responder write");
        close(c);
    }
}

static bool seen(const char *s)
{
    pthread_mutex_lock(&g_seen_mu);
    bool yes = strstr(g_seen, s) != NULL;
    pthread_mutex_unlock(&g_seen_mu);
    return yes;
}

/* ---- helpers ---- */

/* The notifies a test started and has not stopped: a test that fails half-way leaves none
 * running to claim the next test's messages (teardown). */
static pid_t g_running[8];

static pid_t start_notify(const char *const *extra, char *log, size_t logsz)
{
    static char clock_env[1100];
    snprintf(clock_env, sizeof clock_env, "GRIDGOV_CLOCK_FILE=%s", g_clock);
    /* no credentials and the robots off (wecom_robot_enabled): every channel is the sandbox's */
    const char *env[20] = {clock_env, "GRIDGOV_SWEEP_MS=50", "GRIDGOV_SMS_PROVIDERS=aliyun,tencent"};
    int n = 3;
    for (const char *const *e = extra; e && *e && n < 19; e++)
        env[n++] = *e;
    env[n] = NULL;
    pid_t pid = h_start_notify(0, 0, env, log, logsz);
    for (size_t i = 0; i < sizeof g_running / sizeof g_running[0]; i++)
        if (!g_running[i]) {
            g_running[i] = pid;
            break;
        }
    return pid;
}

static void forget(pid_t pid)
{
    for (size_t i = 0; i < sizeof g_running / sizeof g_running[0]; i++)
        if (g_running[i] == pid)
            g_running[i] = 0;
}

static int teardown(void **state)
{
    (void)state;
    for (size_t i = 0; i < sizeof g_running / sizeof g_running[0]; i++)
        if (g_running[i]) {
            h_stop(g_running[i], SIGKILL);
            g_running[i] = 0;
        }
    return 0;
}

static void stop_notify(pid_t pid)
{
    forget(pid);
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

/* Inserts a message as the planner would, due at the clock's now; its id into id. */
static void insert_msg(PGconn *db, char id[UUID_STR_LEN], const char *audience, const char *channel,
                       const char *address, const char *fallback, const char *tmpl, bool urgent)
{
    uuid_v4(id);
    char dedup[80], due[24];
    snprintf(dedup, sizeof dedup, "engine-test/%s", id);
    snprintf(due, sizeof due, "%lld", clock_now());
    const char *p[] = {id, dedup, tmpl, audience, channel, address, fallback, urgent ? "t" : "f", due};
    PGresult *r = PQexecParams(db,
                               "INSERT INTO notify.message (id, dedup_key, template_key, audience, channel, address,"
                               " fallback_phone, params, body, urgent, due_at)"
                               " VALUES ($1, $2, $3, $4, $5, $6, $7, '{\"code\":\"T1\"}',"
                               " '测试消息：您的诉求已受理', $8::boolean, to_timestamp($9::bigint))",
                               9, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("insert message: %s", PQerrorMessage(db));
    PQclear(r);
}

static char *field(PGconn *db, const char *sql, const char *id)
{
    const char *p[] = {id};
    return h_sql_text(db, sql, 1, p);
}

static bool wait_state(PGconn *db, const char *id, const char *state, int ms)
{
    const char *p[] = {id, state};
    return h_wait_sql(db, "SELECT count(*) FROM notify.message WHERE id = $1 AND state = $2", 2, p, 1, ms);
}

static bool file_has(const char *path, const char *s)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    char line[8192];
    bool yes = false;
    while (!yes && fgets(line, sizeof line, f))
        yes = strstr(line, s) != NULL;
    fclose(f);
    return yes;
}

/* Runs gridgovctl with args; its stdout into out; returns the exit status. */
static int ctl(char *out, size_t outsz, const char *args)
{
    char cmd[2048];
    snprintf(cmd, sizeof cmd, "'%s/gridgovctl' --set log_level=warn %s 2>&1", h_env("GRIDGOV_BIN"), args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t n = fread(out, 1, outsz - 1, p);
    out[n] = '\0';
    int st = pclose(p);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* ---- the tests ---- */

static void a_due_message_is_sent_by_the_sandbox_with_one_attempt_and_a_masked_log(void **state)
{
    (void)state;
    PGconn *db = h_db();
    h_set_clock(g_clock, "2026-12-07T03:00:00Z"); /* 11:00 county time */
    char log[1024], id[UUID_STR_LEN], bad[UUID_STR_LEN];
    pid_t n = start_notify(NULL, log, sizeof log);
    insert_msg(db, id, "reporter", "sms", "13800000001", NULL, "engine_notice", false);
    /* a message whose channel has no real provider: WeChat, and the WeCom app */
    insert_msg(db, bad, "handler", "wecom_app", "zhangsan", NULL, "engine_notice", false);
    assert_true(wait_state(db, id, "sent", 5000));
    assert_true(wait_state(db, bad, "sent", 5000));
    char *prov = field(db, "SELECT provider || ' ' || provider_msgid || ' ' || attempts || ' ' || "
                           "to_char(sent_at AT TIME ZONE 'UTC', 'HH24:MI') FROM notify.message WHERE id = $1", id);
    char want[128];
    snprintf(want, sizeof want, "sandbox sandbox-%s 1 03:00", id);
    assert_string_equal(prov, want);
    free(prov);
    char *att = field(db, "SELECT string_agg(n || ':' || provider || ':' || outcome, ',') FROM notify.attempt"
                          " WHERE message_id = $1", id);
    assert_string_equal(att, "1:sandbox:sent");
    free(att);
    stop_notify(n);
    /* the consumer started at this release: the previous release's events (the database was
     * upgraded with tickets in it) were not read, so nothing is planned about the past */
    PGconn *owner = h_db_owner();
    /* by transaction: the events of transactions older than the one that applied 021 (a test
     * cluster is young: its 64-bit xids equal the 32-bit xmin) */
    const char *before = "FROM bus.outbox o WHERE o.xid::text::bigint <"
                         " (SELECT xmin::text::bigint FROM public.schema_migrations WHERE name = '021_notify.sql')";
    char sql[512];
    snprintf(sql, sizeof sql, "SELECT count(*) %s", before);
    assert_true(h_sql_int(owner, sql, 0, NULL) > 0);
    snprintf(sql, sizeof sql, "SELECT count(*) %s AND o.id IN (SELECT event_id FROM bus.inbox WHERE consumer = 'notify')",
             before);
    assert_int_equal(h_sql_int(owner, sql, 0, NULL), 0);
    PQfinish(owner);
    /* the sandbox logged what it would send, the phone masked (the body's number too) */
    assert_true(file_has(log, "138****0001"));
    assert_false(file_has(log, "13800000001"));
    PQfinish(db);
}

static void quiet_hours_hold_residents_sms_until_seven_and_urgent_or_staff_go(void **state)
{
    (void)state;
    PGconn *db = h_db();
    h_set_clock(g_clock, "2026-12-07T15:00:00Z"); /* 23:00 county time */
    char log[1024], held[UUID_STR_LEN], urgent[UUID_STR_LEN], staff[UUID_STR_LEN];
    pid_t n = start_notify(NULL, log, sizeof log);
    insert_msg(db, held, "reporter", "sms", "13800000002", NULL, "engine_notice", false);
    insert_msg(db, urgent, "resident", "sms", "13800000003", NULL, "engine_notice", true);
    insert_msg(db, staff, "handler", "sms", "13800000004", NULL, "engine_notice", false);
    assert_true(wait_state(db, urgent, "sent", 5000));
    assert_true(wait_state(db, staff, "sent", 5000));
    /* held until the window ends: 07:00 county time = 23:00 UTC, no attempt counted */
    const char *p[] = {held};
    assert_true(h_wait_sql(db, "SELECT count(*) FROM notify.message WHERE id = $1 AND state = 'pending'"
                               " AND due_at = '2026-12-07T23:00:00Z' AND attempts = 0", 1, p, 1, 5000));
    h_set_clock(g_clock, "2026-12-07T22:59:00Z"); /* 06:59: still quiet */
    usleep(400 * 1000);
    assert_true(wait_state(db, held, "pending", 10));
    h_set_clock(g_clock, "2026-12-07T23:00:00Z"); /* 07:00 */
    assert_true(wait_state(db, held, "sent", 5000));
    char *at = field(db, "SELECT to_char(sent_at AT TIME ZONE 'Asia/Shanghai', 'HH24:MI') FROM notify.message"
                         " WHERE id = $1", held);
    assert_string_equal(at, "07:00");
    free(at);
    stop_notify(n);
    PQfinish(db);
}

static void rate_limits_move_due_at_instead_of_failing(void **state)
{
    (void)state;
    PGconn *db = h_db();
    h_set_clock(g_clock, "2026-12-08T02:00:00Z");
    char log[1024], s1[UUID_STR_LEN], s2[UUID_STR_LEN], other[UUID_STR_LEN], r[3][UUID_STR_LEN];
    const char *env[] = {"GRIDGOV_WECOM_ROBOT_PER_MIN=2", NULL};
    /* two to one number before notify starts: one claim takes both, and the batch's own dispatch
     * counts for the second (the limits are read once per batch and kept up to date in memory) */
    char b1[UUID_STR_LEN], b2[UUID_STR_LEN];
    insert_msg(db, b1, "reporter", "sms", "13800000027", NULL, "engine_notice", false);
    insert_msg(db, b2, "reporter", "sms", "13800000027", NULL, "engine_notice", false);
    pid_t n = start_notify(env, log, sizeof log);
    assert_true(h_wait_sql(db, "SELECT count(*) FROM notify.message WHERE address = '13800000027' AND state = 'sent'",
                           0, NULL, 1, 5000));
    assert_true(h_wait_sql(db, "SELECT count(*) FROM notify.message WHERE address = '13800000027' AND state = 'pending'"
                               " AND due_at = '2026-12-08T02:00:30Z' AND attempts = 0", 0, NULL, 1, 5000));
    /* SMS: the same template to one number within 30 s waits; another template does not */
    insert_msg(db, s1, "reporter", "sms", "13800000005", NULL, "engine_notice", false);
    assert_true(wait_state(db, s1, "sent", 5000));
    insert_msg(db, s2, "reporter", "sms", "13800000005", NULL, "engine_notice", false);
    insert_msg(db, other, "reporter", "sms", "13800000005", NULL, "engine_other", false);
    assert_true(wait_state(db, other, "sent", 5000));
    const char *p2[] = {s2};
    assert_true(h_wait_sql(db, "SELECT count(*) FROM notify.message WHERE id = $1 AND state = 'pending'"
                               " AND due_at = '2026-12-08T02:00:30Z' AND attempts = 0", 1, p2, 1, 5000));
    /* a robot key takes 2 a minute here: the third waits for the minute of the first */
    for (int i = 0; i < 3; i++)
        insert_msg(db, r[i], "duty_group", "wecom_robot", "robot-key-engine-test", NULL, "engine_notice", false);
    assert_true(h_wait_sql(db, "SELECT count(*) FROM notify.message WHERE address = 'robot-key-engine-test'"
                               " AND state = 'sent'", 0, NULL, 2, 5000));
    assert_true(h_wait_sql(db, "SELECT count(*) FROM notify.message WHERE address = 'robot-key-engine-test'"
                               " AND state = 'pending' AND due_at = '2026-12-08T02:01:00Z'", 0, NULL, 1, 5000));
    assert_int_equal(h_sql_int(db, "SELECT count(*) FROM notify.dead_letter d JOIN notify.message m ON m.id ="
                                   " d.message_id WHERE m.address IN ('13800000005', 'robot-key-engine-test')", 0, NULL), 0);
    /* when the window has passed, they go */
    h_set_clock(g_clock, "2026-12-08T02:01:00Z");
    assert_true(wait_state(db, s2, "sent", 5000));
    assert_true(wait_state(db, b1, "sent", 5000));
    assert_true(wait_state(db, b2, "sent", 5000));
    assert_true(h_wait_sql(db, "SELECT count(*) FROM notify.message WHERE address = 'robot-key-engine-test'"
                               " AND state = 'sent'", 0, NULL, 3, 5000));
    stop_notify(n);
    PQfinish(db);
}

static void an_opted_out_phone_gets_no_sms_but_urgent_ones(void **state)
{
    (void)state;
    PGconn *db = h_db();
    PGconn *owner = h_db_owner();
    /* the number replied TD: intake keeps it (services/intake/channel_sms.c) and publishes it to
     * notify as intake.sms_opt_out; the test writes intake's row as intake would */
    h_sql_exec(owner, "INSERT INTO intake.sms_opt_out_row (phone, at) VALUES ('13800000006', now())");
    h_set_clock(g_clock, "2026-12-08T03:00:00Z");
    char log[1024], plain[UUID_STR_LEN], urgent[UUID_STR_LEN], other[UUID_STR_LEN];
    pid_t n = start_notify(NULL, log, sizeof log);
    insert_msg(db, plain, "reporter", "sms", "13800000006", NULL, "engine_notice", false);
    insert_msg(db, urgent, "resident", "sms", "13800000006", NULL, "engine_other", true);
    insert_msg(db, other, "reporter", "sms", "13800000016", NULL, "engine_notice", false);
    assert_true(wait_state(db, plain, "dead", 5000));
    assert_true(wait_state(db, urgent, "sent", 5000));
    assert_true(wait_state(db, other, "sent", 5000));
    char *dl = field(db, "SELECT code FROM notify.dead_letter WHERE message_id = $1", plain);
    assert_string_equal(dl, "opted_out");
    free(dl);
    assert_int_equal(h_sql_int(db, "SELECT count(*) FROM notify.attempt a JOIN notify.message m ON m.id = a.message_id"
                                   " WHERE m.state = 'dead' AND m.address = '13800000006'", 0, NULL), 0);
    stop_notify(n);
    h_sql_exec(owner, "DELETE FROM intake.sms_opt_out_row WHERE phone = '13800000006'");
    PQfinish(owner);
    PQfinish(db);
}

static void refused_messages_die_at_once_transient_ones_after_retries_and_redrive_sends_them(void **state)
{
    (void)state;
    PGconn *db = h_db();
    h_set_clock(g_clock, "2026-12-08T04:00:00Z");
    char log[1024], url[160], refused[UUID_STR_LEN], flaky[UUID_STR_LEN], out[8192], args[256];
    snprintf(url, sizeof url, "GRIDGOV_SANDBOX_URL=http://127.0.0.1:%d/send", g_resp_port);
    const char *env[] = {url, "GRIDGOV_MAX_ATTEMPTS=3", "GRIDGOV_BACKOFF_BASE_MS=10", "GRIDGOV_BACKOFF_MAX_MS=20", NULL};
    atomic_store(&g_status, 400);
    pid_t n = start_notify(env, log, sizeof log);
    insert_msg(db, refused, "reporter", "sms", "13800000007", NULL, "engine_notice", false);
    assert_true(wait_state(db, refused, "dead", 5000));
    assert_int_equal(h_sql_int(db, "SELECT count(*) FROM notify.attempt WHERE message_id = $1 AND outcome = 'permanent'",
                               1, (const char *[]){refused}), 1);
    assert_true(seen(refused));

    /* 503 is transient: retried (backoff in domain time, so the clock moves), dead after 3 calls */
    atomic_store(&g_status, 503);
    insert_msg(db, flaky, "handler", "wecom_app", "lisi", NULL, "engine_notice", false);
    for (int i = 0; i < 50 && h_sql_int(db, "SELECT count(*) FROM notify.message WHERE id = $1 AND state = 'dead'", 1,
                                        (const char *[]){flaky}) == 0; i++) {
        /* every 100 ms a second later: past the 10-20 ms backoff */
        long long now = clock_now() + 1;
        FILE *f = fopen(g_clock, "w");
        assert_non_null(f);
        fprintf(f, "%lld\n", now);
        fclose(f);
        usleep(100 * 1000);
    }
    assert_true(wait_state(db, flaky, "dead", 10));
    char *att = field(db, "SELECT string_agg(n || ':' || outcome || ':' || code, ',' ORDER BY n) FROM notify.attempt"
                          " WHERE message_id = $1", flaky);
    assert_string_equal(att, "1:retry:http 503,2:retry:http 503,3:retry:http 503");
    free(att);

    /* the operator's view: both dead, masked; then a redrive once the provider takes them */
    assert_int_equal(ctl(out, sizeof out, "dead-letters"), 0);
    assert_non_null(strstr(out, refused));
    assert_non_null(strstr(out, flaky));
    assert_non_null(strstr(out, "138****0007"));
    assert_null(strstr(out, "13800000007"));
    atomic_store(&g_status, 200);
    snprintf(args, sizeof args, "redrive %s", flaky);
    assert_int_equal(ctl(out, sizeof out, args), 0);
    assert_true(wait_state(db, flaky, "sent", 5000));
    char *rd = field(db, "SELECT (redriven_at IS NOT NULL)::text FROM notify.dead_letter WHERE message_id = $1", flaky);
    assert_string_equal(rd, "true");
    free(rd);
    char *att4 = field(db, "SELECT max(n) || ':' || (array_agg(outcome ORDER BY n DESC))[1] FROM notify.attempt"
                           " WHERE message_id = $1", flaky);
    assert_string_equal(att4, "4:sent");
    free(att4);
    /* a message that is not dead, or no message at all, is not redriven */
    assert_int_equal(ctl(out, sizeof out, args), 1);
    assert_non_null(strstr(out, "not dead"));
    assert_int_equal(ctl(out, sizeof out, "redrive 00000000-0000-4000-8000-000000000000"), 1);
    assert_int_equal(ctl(out, sizeof out, "redrive not-a-uuid"), 1);
    assert_int_equal(ctl(out, sizeof out, "redrive"), 2);
    stop_notify(n);
    PQfinish(db);
}

static void a_claim_left_by_a_killed_notify_runs_out_and_the_message_goes_under_the_same_id(void **state)
{
    (void)state;
    PGconn *db = h_db();
    h_set_clock(g_clock, "2026-12-08T05:00:00Z");
    char log[1024], url[160], id[UUID_STR_LEN];
    snprintf(url, sizeof url, "GRIDGOV_SANDBOX_URL=http://127.0.0.1:%d/send", g_resp_port);
    const char *env[] = {url, "GRIDGOV_LEASE_S=60", "GRIDGOV_PROVIDER_TIMEOUT_MS=30000", NULL};
    atomic_store(&g_status, 0); /* the provider takes the call and never answers */
    int before = atomic_load(&g_requests);
    pid_t a = start_notify(env, log, sizeof log);
    insert_msg(db, id, "reporter", "sms", "13800000008", NULL, "engine_notice", false);
    const char *p[] = {id};
    assert_true(h_wait_sql(db, "SELECT count(*) FROM notify.message WHERE id = $1 AND state = 'sending'"
                               " AND lease_until = '2026-12-08T05:01:00Z' AND claimed_at IS NOT NULL", 1, p, 1, 5000));
    for (int i = 0; i < 250 && atomic_load(&g_requests) == before; i++)
        usleep(20 * 1000);
    assert_true(seen(id)); /* the call is in flight, carrying the message's id */
    forget(a);
    h_stop(a, SIGKILL);
    assert_true(wait_state(db, id, "sending", 10));

    /* another notify: nothing happens while the claim holds, then it is sent again */
    atomic_store(&g_status, 200);
    int first = atomic_load(&g_requests);
    pid_t b = start_notify(env, log, sizeof log);
    usleep(400 * 1000);
    assert_true(wait_state(db, id, "sending", 10));
    h_set_clock(g_clock, "2026-12-08T05:01:01Z");
    assert_true(wait_state(db, id, "sent", 5000));
    assert_true(atomic_load(&g_requests) > first); /* a second call, under the same id */
    char *row = field(db, "SELECT attempts || ' ' || (SELECT count(*) FROM notify.message WHERE address = '13800000008')"
                          " FROM notify.message WHERE id = $1", id);
    assert_string_equal(row, "1 1");
    free(row);
    stop_notify(b);
    PQfinish(db);
}

static void many_calls_are_in_flight_at_once_up_to_send_concurrency_and_a_stop_gives_them_back(void **state)
{
    (void)state;
    PGconn *db = h_db();
    h_set_clock(g_clock, "2026-12-08T05:30:00Z");
    char log[1024], url[160], ids[12][UUID_STR_LEN], phone[32];
    snprintf(url, sizeof url, "GRIDGOV_SANDBOX_URL=http://127.0.0.1:%d/send", g_resp_port);
    const char *env[] = {url, "GRIDGOV_SEND_CONCURRENCY=8", "GRIDGOV_PROVIDER_TIMEOUT_MS=30000", NULL};
    atomic_store(&g_status, 0); /* every call hangs */
    int before = atomic_load(&g_requests);
    for (int i = 0; i < 12; i++) {
        snprintf(phone, sizeof phone, "139000000%02d", i);
        insert_msg(db, ids[i], "handler", "sms", phone, NULL, "engine_notice", false);
    }
    pid_t n = start_notify(env, log, sizeof log);
    /* eight calls reach the provider together, none waiting for another's answer */
    for (int i = 0; i < 250 && atomic_load(&g_requests) - before < 8; i++)
        usleep(20 * 1000);
    usleep(300 * 1000);
    assert_int_equal(atomic_load(&g_requests) - before, 8);
    assert_int_equal(h_sql_int(db, "SELECT count(*) FROM notify.message WHERE address LIKE '139000000%'"
                                   " AND state = 'sending' AND claimed_at IS NOT NULL", 0, NULL), 8);
    assert_int_equal(h_sql_int(db, "SELECT count(*) FROM notify.message WHERE address LIKE '139000000%'"
                                   " AND state = 'pending'", 0, NULL), 4);
    /* the loop is not blocked by the calls: a receipt event is still consumed meanwhile */
    char json[256];
    snprintf(json, sizeof json, "{\"provider\":\"aliyun\",\"provider_msgid\":\"no-such\",\"status\":\"failed\","
             "\"reported_at\":\"2026-12-08T05:30:00Z\"}");
    const char *pj[] = {json};
    char *eid = h_sql_text(db, "SELECT bus.emit('channel.receipt', 'intake', gen_random_uuid(), $1::jsonb)::text", 1, pj);
    const char *pe[] = {eid};
    assert_true(h_wait_sql(db, "SELECT count(*) FROM bus.inbox WHERE consumer = 'notify' AND event_id = $1::uuid", 1, pe,
                           1, 5000));
    free(eid);
    /* stopping: the calls in flight are given back, pending and due, no attempt counted */
    stop_notify(n);
    assert_int_equal(h_sql_int(db, "SELECT count(*) FROM notify.message WHERE address LIKE '139000000%'"
                                   " AND state = 'pending' AND attempts = 0 AND leased_by IS NULL", 0, NULL), 12);
    /* and they go with the next notify once the provider answers */
    atomic_store(&g_status, 200);
    n = start_notify(env, log, sizeof log);
    assert_true(h_wait_sql(db, "SELECT count(*) FROM notify.message WHERE address LIKE '139000000%' AND state = 'sent'",
                           0, NULL, 12, 5000));
    stop_notify(n);
    PQfinish(db);
}

static char *emit_receipt(PGconn *db, const char *json)
{
    const char *p[] = {json};
    return h_sql_text(db, "SELECT bus.emit('channel.receipt', 'intake', gen_random_uuid(), $1::jsonb)::text", 1, p);
}

static void receipts_move_sent_messages_to_delivered_or_failed(void **state)
{
    (void)state;
    PGconn *db = h_db();
    h_set_clock(g_clock, "2026-12-08T06:00:00Z");
    char log[1024], a[UUID_STR_LEN], b[UUID_STR_LEN], pending[UUID_STR_LEN], json[512];
    pid_t n = start_notify(NULL, log, sizeof log);
    insert_msg(db, a, "reporter", "sms", "13800000010", NULL, "engine_notice", false);
    insert_msg(db, b, "reporter", "sms", "13800000011", NULL, "engine_notice", false);
    assert_true(wait_state(db, a, "sent", 5000));
    assert_true(wait_state(db, b, "sent", 5000));
    stop_notify(n);
    /* a message not sent yet: a receipt for it changes nothing */
    h_set_clock(g_clock, "2026-12-08T15:00:00Z"); /* quiet hours keep it pending */
    insert_msg(db, pending, "reporter", "sms", "13800000012", NULL, "engine_notice", false);

    snprintf(json, sizeof json,
             "{\"provider\":\"aliyun\",\"message_id\":\"%s\",\"status\":\"delivered\",\"code\":\"DELIVERED\","
             "\"reported_at\":\"2026-12-08T06:00:05Z\"}", a);
    free(emit_receipt(db, json));
    snprintf(json, sizeof json,
             "{\"provider\":\"tencent\",\"message_id\":\"%s\",\"status\":\"failed\",\"code\":\"x\","
             "\"reported_at\":\"2026-12-08T06:00:07Z\"}", pending);
    free(emit_receipt(db, json));
    /* an older receipt after a newer one changes nothing */
    snprintf(json, sizeof json,
             "{\"provider\":\"aliyun\",\"message_id\":\"%s\",\"status\":\"failed\",\"code\":\"LATE\","
             "\"reported_at\":\"2026-12-08T06:00:01Z\"}", a);
    free(emit_receipt(db, json));
    /* by the provider's message id */
    h_sql_exec(db, "UPDATE notify.message SET provider = 'tencent', provider_msgid = 'sid-engine-test'"
                   " WHERE address = '13800000011'");
    free(emit_receipt(db, "{\"provider\":\"tencent\",\"provider_msgid\":\"sid-engine-test\",\"status\":\"failed\","
                          "\"code\":\"UNDELIV\",\"reported_at\":\"2026-12-08T06:00:08Z\"}"));

    pid_t m = start_notify((const char *[]){"GRIDGOV_QUIET_HOURS=22:00-07:00", NULL}, log, sizeof log);
    assert_true(h_wait_sql(db, "SELECT count(*) FROM bus.inbox WHERE consumer = 'notify' AND event_id IN"
                               " (SELECT id FROM bus.outbox WHERE type = 'channel.receipt'"
                               "  AND data->>'reported_at' LIKE '2026-12-08T06:00:0%')", 0, NULL, 4, 5000));
    char *sa = field(db, "SELECT state || ' ' || last_code || ' ' || to_char(receipt_at AT TIME ZONE 'UTC', 'HH24:MI:SS')"
                         " FROM notify.message WHERE id = $1", a);
    assert_string_equal(sa, "delivered DELIVERED 06:00:05");
    free(sa);
    char *sb = field(db, "SELECT state || ' ' || last_code FROM notify.message WHERE id = $1", b);
    assert_string_equal(sb, "failed UNDELIV");
    free(sb);
    assert_true(wait_state(db, pending, "pending", 10));
    stop_notify(m);
    PQfinish(db);
}

static void gridgovctl_messages_lists_masked_addresses_and_refuses_bad_filters(void **state)
{
    (void)state;
    char out[65536];
    assert_int_equal(ctl(out, sizeof out, "messages --state sent --limit 500"), 0);
    assert_non_null(strstr(out, "id\tticket\tchannel\taddress\ttemplate\tstate\tattempts\tprovider\tbody"));
    assert_non_null(strstr(out, "\tsms\t138****0001\tengine_notice\tsent\t1\tsandbox\t测试消息：您的诉求已受理"));
    assert_non_null(strstr(out, "\twecom_robot\trobo****\t"));
    assert_null(strstr(out, "13800000001"));
    assert_null(strstr(out, "robot-key-engine-test"));
    assert_null(strstr(out, "\tpending\t"));
    assert_int_equal(ctl(out, sizeof out, "messages --state bogus"), 2);
    assert_int_equal(ctl(out, sizeof out, "messages --limit 0"), 2);
    assert_int_equal(ctl(out, sizeof out, "messages --limit x"), 2);
    assert_int_equal(ctl(out, sizeof out, "messages --what"), 2);
    assert_int_equal(ctl(out, sizeof out, "messages --ticket NO-SUCH-TICKET"), 0);
    assert_null(strstr(out, "engine_notice"));
}

static void bad_configuration_is_refused_at_start(void **state)
{
    (void)state;
    const char *cases[][2] = {
        {"GRIDGOV_QUIET_HOURS=22:00-22:00", "quiet_hours"},
        {"GRIDGOV_QUIET_HOURS=late", "quiet_hours"},
        {"GRIDGOV_SMS_PROVIDERS=aliyun,pigeon", "sms_providers"},
        {"GRIDGOV_SANDBOX_URL=ftp://x", "sandbox_url"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        char log[1024];
        const char *env[] = {cases[i][0], NULL};
        pid_t p = start_notify(env, log, sizeof log);
        forget(p);
        int st = h_stop(p, 0);
        if (!WIFEXITED(st) || WEXITSTATUS(st) != 2)
            fail_msg("%s: exit %d, want 2 (log %s)", cases[i][0], WIFEXITED(st) ? WEXITSTATUS(st) : -1, log);
        assert_true(file_has(log, cases[i][1]));
    }
}

static int setup(void **state)
{
    (void)state;
    snprintf(g_clock, sizeof g_clock, "%s/notify-clock-%d", h_env("GRIDGOV_TEST_VAR"), (int)getpid());
    h_set_clock(g_clock, "2026-12-07T03:00:00Z");
    PGconn *db = h_db_owner();
    h_sql_exec(db, "INSERT INTO notify.template (key, body, aliyun_code, tencent_id, sms_params) VALUES"
                   " ('engine_notice', '测试消息：{code}', 'SMS_1', '1', '{code}'),"
                   " ('engine_other', '另一条：{code}', 'SMS_2', '2', '{code}') ON CONFLICT DO NOTHING");
    /* Migration 021 started notify's consumer at this release (the first test checks that the
     * previous release's events were not read). The tests before this one in the run made
     * tickets since, which the planner would now tell their residents about, at length: these
     * tests insert their own messages, so notify starts past them. */
    if (h_sql_int(db, "SELECT count(*) FROM bus.cursor WHERE consumer = 'notify' AND xid::text::bigint >="
                      " (SELECT xmin::text::bigint FROM public.schema_migrations WHERE name = '021_notify.sql')",
                  0, NULL) != 1) {
        fprintf(stderr, "notify's cursor was not placed at this release by migration 021\n");
        return -1;
    }
    h_consumer_skip_backlog(db, "notify");
    PQfinish(db);
    g_resp_port = h_port(170);
    g_listen = socket(AF_INET, SOCK_STREAM, 0);
    int one = 1;
    setsockopt(g_listen, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_resp_port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    if (bind(g_listen, (struct sockaddr *)&a, sizeof a) != 0 || listen(g_listen, 64) != 0) {
        perror("responder");
        return -1;
    }
    pthread_t t;
    pthread_create(&t, NULL, responder, NULL);
    pthread_detach(t);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test_teardown(a_due_message_is_sent_by_the_sandbox_with_one_attempt_and_a_masked_log, teardown),
        cmocka_unit_test_teardown(quiet_hours_hold_residents_sms_until_seven_and_urgent_or_staff_go, teardown),
        cmocka_unit_test_teardown(rate_limits_move_due_at_instead_of_failing, teardown),
        cmocka_unit_test_teardown(an_opted_out_phone_gets_no_sms_but_urgent_ones, teardown),
        cmocka_unit_test_teardown(refused_messages_die_at_once_transient_ones_after_retries_and_redrive_sends_them, teardown),
        cmocka_unit_test_teardown(many_calls_are_in_flight_at_once_up_to_send_concurrency_and_a_stop_gives_them_back, teardown),
        cmocka_unit_test_teardown(a_claim_left_by_a_killed_notify_runs_out_and_the_message_goes_under_the_same_id, teardown),
        cmocka_unit_test_teardown(receipts_move_sent_messages_to_delivered_or_failed, teardown),
        cmocka_unit_test_teardown(gridgovctl_messages_lists_masked_addresses_and_refuses_bad_filters, teardown),
        cmocka_unit_test_teardown(bad_configuration_is_refused_at_start, teardown),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
