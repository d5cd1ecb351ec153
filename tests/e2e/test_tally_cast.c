/* Casting through tally's command socket: a thousand casts with one credential at the same moment
 * (from several senders at once) count once and every other one is answered 409 already_voted; a
 * retry of the same cast gets its tracker back; and bad input of every kind is answered with a
 * clear error and stores nothing (the ballot box, the roll and tally.command are unchanged). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "harness.h"
#include "tally_fx.h"
#include "uuid.h"

static pid_t g_tally;
static PGconn *g_db;
static bus_t *g_bus;
static cmdclient_t *g_cl;
static tfx_group_t g_group;

static int setup(void **state)
{
    (void)state;
    g_db = h_db();
    g_tally = h_start_tally(h_port(310), tfx_rules_dir(), NULL);
    g_bus = h_bus_as("intake", true);
    g_cl = tfx_client(g_bus, h_port(310));
    tfx_group(g_db, 8, 1, &g_group);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cmdclient_destroy(&g_cl);
    bus_destroy(&g_bus);
    int st = h_stop(g_tally, SIGTERM);
    PQfinish(g_db);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static long long q1(const char *sql, const char *arg)
{
    const char *p[] = {arg};
    return h_sql_int(g_db, sql, arg ? 1 : 0, p);
}

/* An open resolution of the test group and its slips. */
static void open_motion(char motion[32], json_t **slips)
{
    snprintf(motion, 32, "%s", tfx_create(g_cl, &g_group, "resolution", "adult", NULL, NULL));
    json_t *r = tfx_open(g_cl, &g_group, motion);
    assert_int_equal(tfx_status(r), 200);
    json_decref(r);
    *slips = tfx_slips(g_cl, &g_group, motion);
}

#define SENDERS 8
#define PER_SENDER 125

typedef struct {
    const char *motion, *credential;
    pthread_barrier_t *go;
    int created, refused, other;
} sender_t;

/* One sender: its own DEALER (as intake's HTTP threads have theirs), every cast sent before any
 * reply is read, so the daemon finds them all waiting at once. */
static void *sender(void *arg)
{
    sender_t *s = arg;
    void *sock = zmq_socket(bus_ctx(g_bus), ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    char ep[64], err[256];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", h_port(310));
    if (!bus_connect(g_bus, sock, BUS_COMMANDS, ep, "tally", err, sizeof err)) {
        s->other = PER_SENDER;
        zmq_close(sock);
        return NULL;
    }
    char frames[PER_SENDER][256];
    for (int i = 0; i < PER_SENDER; i++) {
        char id[UUID_STR_LEN];
        uuid_v4(id);
        snprintf(frames[i], sizeof frames[i],
                 "{\"id\":\"%s\",\"action\":\"cast\",\"motion\":\"%s\",\"credential\":\"%s\",\"marks\":[0]}", id, s->motion,
                 s->credential);
    }
    pthread_barrier_wait(s->go);
    for (int i = 0; i < PER_SENDER; i++)
        zmq_send(sock, frames[i], strlen(frames[i]), 0);
    for (int got = 0; got < PER_SENDER; got++) {
        zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 30000) != 1) {
            s->other += PER_SENDER - got;
            break;
        }
        char buf[1024];
        int n = zmq_recv(sock, buf, sizeof buf - 1, 0);
        if (n < 0)
            continue;
        buf[n] = '\0';
        json_error_t je;
        json_t *r = json_loads(buf, 0, &je);
        int st = tfx_status(r);
        if (st == 201)
            s->created++;
        else if (st == 409 && !strcmp(tfx_error(r), "already_voted"))
            s->refused++;
        else
            s->other++;
        json_decref(r);
    }
    zmq_close(sock);
    return NULL;
}

static void thousand_concurrent_casts_with_one_credential_count_once(void **state)
{
    (void)state;
    char motion[32];
    json_t *slips;
    open_motion(motion, &slips);
    const char *cred = json_string_value(json_object_get(json_array_get(slips, 0), "credential"));
    pthread_barrier_t go;
    pthread_barrier_init(&go, NULL, SENDERS);
    sender_t s[SENDERS];
    pthread_t th[SENDERS];
    for (int i = 0; i < SENDERS; i++) {
        s[i] = (sender_t){.motion = motion, .credential = cred, .go = &go};
        pthread_create(&th[i], NULL, sender, &s[i]);
    }
    int created = 0, refused = 0, other = 0;
    for (int i = 0; i < SENDERS; i++) {
        pthread_join(th[i], NULL);
        created += s[i].created;
        refused += s[i].refused;
        other += s[i].other;
    }
    pthread_barrier_destroy(&go);
    assert_int_equal(other, 0);
    assert_int_equal(created, 1);
    assert_int_equal(refused, SENDERS * PER_SENDER - 1);
    assert_int_equal(q1("SELECT count(*) FROM tally.ballot_rows WHERE motion = $1", motion), 1);
    assert_int_equal(q1("SELECT count(*) FROM tally.roll_public WHERE motion = $1 AND voted", motion), 1);
    json_decref(slips);
}

static void retry_of_a_cast_gets_its_tracker_back(void **state)
{
    (void)state;
    char motion[32], id[UUID_STR_LEN];
    json_t *slips;
    open_motion(motion, &slips);
    uuid_v4(id);
    const char *cred = json_string_value(json_object_get(json_array_get(slips, 1), "credential"));
    json_t *a = tfx_call(g_cl, json_pack("{s:s,s:s,s:s,s:s,s:[i]}", "id", id, "action", "cast", "motion", motion, "credential",
                                         cred, "marks", 1));
    json_t *b = tfx_call(g_cl, json_pack("{s:s,s:s,s:s,s:s,s:[i]}", "id", id, "action", "cast", "motion", motion, "credential",
                                         cred, "marks", 1));
    assert_int_equal(tfx_status(a), 201);
    assert_int_equal(tfx_status(b), 201);
    assert_string_equal(json_string_value(json_object_get(tfx_body(a), "tracker")),
                        json_string_value(json_object_get(tfx_body(b), "tracker")));
    /* another command with the same credential is a second vote: refused */
    json_t *c = tfx_cast(g_cl, motion, cred, json_pack("[i]", 0));
    assert_int_equal(tfx_status(c), 409);
    assert_string_equal(tfx_error(c), "already_voted");
    assert_int_equal(q1("SELECT count(*) FROM tally.ballot_rows WHERE motion = $1", motion), 1);
    json_decref(a);
    json_decref(b);
    json_decref(c);
    json_decref(slips);
}

/* Sends one raw frame and returns the reply (caller decrefs). */
static json_t *raw(const char *frame)
{
    void *sock = zmq_socket(bus_ctx(g_bus), ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    char ep[64], err[256];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", h_port(310));
    assert_true(bus_connect(g_bus, sock, BUS_COMMANDS, ep, "tally", err, sizeof err));
    assert_int_equal(zmq_send(sock, frame, strlen(frame), 0), (int)strlen(frame));
    zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
    assert_int_equal(zmq_poll(&it, 1, 10000), 1);
    char buf[2048];
    int n = zmq_recv(sock, buf, sizeof buf - 1, 0);
    assert_true(n > 0);
    buf[n] = '\0';
    zmq_close(sock);
    json_error_t je;
    json_t *r = json_loads(buf, 0, &je);
    assert_non_null(r);
    return r;
}

typedef struct {
    long long ballots, voted, commands;
} counts_t;

static counts_t counts(void)
{
    return (counts_t){q1("SELECT count(*) FROM tally.ballot", NULL), q1("SELECT count(*) FROM tally.roll WHERE voted IS NOT NULL", NULL),
                      q1("SELECT count(*) FROM tally.command", NULL)};
}

static void expect(json_t *reply, int status, const char *code)
{
    if (tfx_status(reply) != status || strcmp(tfx_error(reply), code)) {
        char *t = json_dumps(reply, 0);
        fail_msg("expected %d %s, got %s", status, code, t);
    }
    const char *msg = json_string_value(json_object_get(json_object_get(tfx_body(reply), "error"), "message"));
    assert_non_null(msg);
    assert_true(strlen(msg) > 0);
    json_decref(reply);
}

static void bad_casts_are_refused_and_store_nothing(void **state)
{
    (void)state;
    char motion[32], closed[32];
    json_t *slips, *cslips;
    open_motion(motion, &slips);
    open_motion(closed, &cslips);
    json_t *r = tfx_call(g_cl, json_pack("{s:s,s:I,s:s}", "action", "close", "staff_id", (json_int_t)g_group.leader, "motion", closed));
    assert_int_equal(tfx_status(r), 200);
    json_decref(r);
    const char *c0 = json_string_value(json_object_get(json_array_get(slips, 0), "credential"));
    const char *c1 = json_string_value(json_object_get(json_array_get(slips, 1), "credential"));
    r = tfx_cast(g_cl, motion, c0, json_pack("[i]", 2)); /* c0 is used now */
    assert_int_equal(tfx_status(r), 201);
    json_decref(r);

    counts_t before = counts();
    expect(tfx_cast(g_cl, "M2026-999999", c1, json_pack("[i]", 0)), 404, "unknown_motion");
    expect(tfx_cast(g_cl, closed, json_string_value(json_object_get(json_array_get(cslips, 0), "credential")),
                    json_pack("[i]", 0)), 409, "closed");
    expect(tfx_cast(g_cl, motion, c0, json_pack("[i]", 0)), 409, "already_voted");
    expect(tfx_cast(g_cl, motion, "0000-0000-0000-0000", json_pack("[i]", 0)), 403, "bad_credential"); /* forged */
    expect(tfx_cast(g_cl, motion, "not a credential!", json_pack("[i]", 0)), 403, "bad_credential");
    expect(tfx_cast(g_cl, motion, c1, json_pack("[i]", 3)), 400, "bad_ballot");      /* not on the ballot */
    expect(tfx_cast(g_cl, motion, c1, json_pack("[i]", -1)), 400, "bad_ballot");
    expect(tfx_cast(g_cl, motion, c1, json_pack("[i,i]", 0, 1)), 400, "bad_ballot"); /* too many marks */
    expect(tfx_cast(g_cl, motion, c1, json_pack("[]")), 400, "bad_ballot");
    expect(tfx_cast(g_cl, motion, c1, json_pack("[s]", "0")), 400, "bad_ballot");
    json_t *wi = json_pack("{s:s,s:s,s:s,s:[i],s:[s]}", "action", "cast", "motion", motion, "credential", c1, "marks", 0,
                           "write_ins", "某人");
    expect(tfx_call(g_cl, wi), 400, "bad_ballot"); /* a resolution takes no names */
    json_t *j = raw("{\"id\":\"5e1f7e57-0000-4000-8000-00000000c0de\",\"action\":\"cast\",\"motion\":");
    assert_int_equal(tfx_status(j), 400);
    assert_string_equal(tfx_error(j), "bad_command"); /* malformed JSON */
    json_decref(j);
    j = raw("{\"id\":\"5e1f7e57-0000-4000-8000-00000000c0df\",\"action\":\"cast\",\"motion\":\"x\",\"credential\":\"y\","
            "\"marks\":[0],\"voter\":42}");
    assert_int_equal(tfx_status(j), 400);
    assert_string_equal(tfx_error(j), "bad_command"); /* a member a cast does not have */
    json_decref(j);
    j = raw("{\"id\":\"5e1f7e57-0000-4000-8000-00000000c0e0\",\"action\":\"cast\",\"motion\":\"x\",\"credential\":\"y\","
            "\"marks\":\"0\"}");
    assert_string_equal(tfx_error(j), "bad_command");
    json_decref(j);
    j = raw("{\"id\":\"5e1f7e57-0000-4000-8000-00000000c0e1\",\"action\":\"vote\"}");
    assert_int_equal(tfx_status(j), 404);
    assert_string_equal(tfx_error(j), "unknown_action");
    json_decref(j);
    j = raw("[1,2,3]");
    assert_int_equal(tfx_status(j), 400);
    assert_true(json_is_null(json_object_get(j, "id")));
    json_decref(j);
    counts_t after = counts();
    assert_int_equal(after.ballots, before.ballots);
    assert_int_equal(after.voted, before.voted);
    assert_int_equal(after.commands, before.commands);

    /* the voter whose casts were refused may still vote */
    r = tfx_cast(g_cl, motion, c1, json_pack("[i]", 1));
    assert_int_equal(tfx_status(r), 201);
    json_decref(r);
    json_decref(slips);
    json_decref(cslips);
}

/* A batch whose transaction fails (here a trigger the owner adds makes the database refuse ballots
 * marked 2 on one motion, as a constraint tally does not know would) is done again one cast per
 * transaction: that cast alone is answered 503 with nothing stored, the others of its batch 201. */
static void one_failing_cast_does_not_fail_its_batch(void **state)
{
    (void)state;
    char motion[32];
    json_t *slips;
    open_motion(motion, &slips);
    PGconn *owner = h_db_owner();
    char fn[600];
    snprintf(fn, sizeof fn, /* the code is tally's (M2026-000123): no quoting needed */
             "CREATE FUNCTION public.test_refuse_two() RETURNS trigger LANGUAGE plpgsql AS $$"
             " BEGIN IF NEW.marks = '{2}' AND NEW.motion_id = (SELECT id FROM tally.motion WHERE code = '%s')"
             " THEN RAISE EXCEPTION 'refused by the test'; END IF; RETURN NEW; END $$", motion);
    h_sql_exec(owner, fn);
    h_sql_exec(owner, "CREATE TRIGGER test_refuse_two BEFORE INSERT ON tally.ballot FOR EACH ROW EXECUTE FUNCTION public.test_refuse_two()");

    void *sock = zmq_socket(bus_ctx(g_bus), ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    char ep[64], err[256];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", h_port(310));
    assert_true(bus_connect(g_bus, sock, BUS_COMMANDS, ep, "tally", err, sizeof err));
    usleep(300 * 1000);
    int n = (int)json_array_size(slips), created = 0, failed = 0;
    for (int i = 0; i < n; i++) { /* all sent before any answer is read: one batch */
        char frame[300], id[UUID_STR_LEN];
        uuid_v4(id);
        snprintf(frame, sizeof frame, "{\"id\":\"%s\",\"action\":\"cast\",\"motion\":\"%s\",\"credential\":\"%s\",\"marks\":[%d]}",
                 id, motion, json_string_value(json_object_get(json_array_get(slips, (size_t)i), "credential")), i == 3 ? 2 : 0);
        zmq_send(sock, frame, strlen(frame), 0);
    }
    for (int got = 0; got < n; got++) {
        zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
        assert_int_equal(zmq_poll(&it, 1, 10000), 1);
        char buf[1024];
        int len = zmq_recv(sock, buf, sizeof buf - 1, 0);
        assert_true(len > 0);
        buf[len] = '\0';
        json_error_t je;
        json_t *r = json_loads(buf, 0, &je);
        created += tfx_status(r) == 201;
        failed += tfx_status(r) == 503;
        json_decref(r);
    }
    zmq_close(sock);
    h_sql_exec(owner, "DROP TRIGGER test_refuse_two ON tally.ballot");
    h_sql_exec(owner, "DROP FUNCTION public.test_refuse_two()");
    PQfinish(owner);
    assert_int_equal(failed, 1);
    assert_int_equal(created, n - 1);
    assert_int_equal(q1("SELECT count(*) FROM tally.ballot_rows WHERE motion = $1", motion), n - 1);
    assert_int_equal(q1("SELECT count(*) FROM tally.roll_public WHERE motion = $1 AND voted", motion), n - 1);
    /* the casts of that batch were written one transaction each: a ballots event apiece */
    assert_true(q1("SELECT count(*) FROM tally.chain_rows WHERE motion = $1 AND type = 'ballots'", motion) >= n - 1);
    json_decref(slips);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(thousand_concurrent_casts_with_one_credential_count_once),
        cmocka_unit_test(retry_of_a_cast_gets_its_tracker_back),
        cmocka_unit_test(bad_casts_are_refused_and_store_nothing),
        cmocka_unit_test(one_failing_cast_does_not_fail_its_batch),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
