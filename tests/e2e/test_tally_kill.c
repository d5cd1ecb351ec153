/* tally killed with SIGKILL while voters cast: every cast answered 201 has its ballot in the box
 * (answers leave only after COMMIT), none is counted twice (ballots = voters marked online), and a
 * cast that was not answered, retried under its id after the restart, gets its ballot's tracker
 * if it had been committed, or is stored now: at the end every voter has exactly one ballot. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>
#include <zmq.h>

#include "harness.h"
#include "tally_fx.h"
#include "uuid.h"

#define VOTERS 400
#define SENDERS 4

static PGconn *g_db;
static bus_t *g_bus;

typedef struct {
    char id[UUID_STR_LEN];
    const char *credential;
    char tracker[16]; /* from a 201 */
} cast_rec_t;

static cast_rec_t g_casts[VOTERS];
static char g_motion[32];
static atomic_int g_answered;

static long long q1(const char *sql, const char *arg)
{
    const char *p[] = {arg};
    return h_sql_int(g_db, sql, arg ? 1 : 0, p);
}

static void *sender(void *arg)
{
    int k = (int)(intptr_t)arg;
    void *sock = zmq_socket(bus_ctx(g_bus), ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(sock, ZMQ_LINGER, &linger, sizeof linger);
    char ep[64], err[256];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", h_port(320));
    if (!bus_connect(g_bus, sock, BUS_COMMANDS, ep, "tally", err, sizeof err)) {
        zmq_close(sock);
        return NULL;
    }
    for (int i = k; i < VOTERS; i += SENDERS) {
        char frame[300];
        snprintf(frame, sizeof frame, "{\"id\":\"%s\",\"action\":\"cast\",\"motion\":\"%s\",\"credential\":\"%s\",\"marks\":[%d]}",
                 g_casts[i].id, g_motion, g_casts[i].credential, i % 3);
        zmq_send(sock, frame, strlen(frame), 0);
        zmq_pollitem_t it = {sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 2000) != 1)
            break; /* tally is gone: this one and the rest stay unanswered */
        char buf[512];
        int n = zmq_recv(sock, buf, sizeof buf - 1, 0);
        if (n <= 0)
            break;
        buf[n] = '\0';
        json_error_t je;
        json_t *r = json_loads(buf, 0, &je);
        if (tfx_status(r) == 201) {
            snprintf(g_casts[i].tracker, sizeof g_casts[i].tracker, "%s", json_string_value(json_object_get(tfx_body(r), "tracker")));
            atomic_fetch_add(&g_answered, 1);
        }
        json_decref(r);
    }
    zmq_close(sock);
    return NULL;
}

static void sigkill_during_casting_loses_no_answered_ballot(void **state)
{
    (void)state;
    g_db = h_db();
    g_bus = h_bus_as("intake", true);
    const char *rules = tfx_rules_dir();
    pid_t tally = h_start_tally(h_port(320), rules, NULL);
    cmdclient_t *cl = tfx_client(g_bus, h_port(320));
    tfx_group_t g;
    tfx_group(g_db, VOTERS, 1, &g);
    snprintf(g_motion, sizeof g_motion, "%s", tfx_create(cl, &g, "resolution", "adult", NULL, NULL));
    json_t *r = tfx_open(cl, &g, g_motion);
    assert_int_equal(tfx_status(r), 200);
    json_decref(r);
    json_t *slips = tfx_slips(cl, &g, g_motion);
    assert_int_equal(json_array_size(slips), VOTERS);
    for (int i = 0; i < VOTERS; i++) {
        uuid_v4(g_casts[i].id);
        g_casts[i].credential = json_string_value(json_object_get(json_array_get(slips, (size_t)i), "credential"));
    }
    cmdclient_destroy(&cl);

    pthread_t th[SENDERS];
    for (int k = 0; k < SENDERS; k++)
        pthread_create(&th[k], NULL, sender, (void *)(intptr_t)k);
    /* kill it mid-stream: some answered, many not yet sent */
    while (atomic_load(&g_answered) < VOTERS / 4)
        usleep(2000);
    h_stop(tally, SIGKILL);
    for (int k = 0; k < SENDERS; k++)
        pthread_join(th[k], NULL);
    int answered = atomic_load(&g_answered);
    assert_true(answered >= VOTERS / 4 && answered < VOTERS);

    /* every answered ballot is in the box, and none twice */
    const char *pm[] = {g_motion};
    long long stored = h_sql_int(g_db, "SELECT count(*) FROM tally.ballot_rows WHERE motion = $1", 1, pm);
    assert_true(stored >= answered);
    assert_int_equal(stored, h_sql_int(g_db, "SELECT count(*) FROM tally.roll_public WHERE motion = $1 AND voted", 1, pm));
    for (int i = 0; i < VOTERS; i++)
        if (g_casts[i].tracker[0]) {
            const char *p[] = {g_motion, g_casts[i].tracker};
            assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM tally.tracker_public WHERE motion = $1 AND tracker = $2", 2, p), 1);
        }

    /* after the restart, the unanswered casts retried under their ids: each once */
    tally = h_start_tally(h_port(320), rules, NULL);
    cl = tfx_client(g_bus, h_port(320));
    int recognised = 0;
    for (int i = 0; i < VOTERS; i++) {
        json_t *cmd = json_pack("{s:s,s:s,s:s,s:s,s:[i]}", "id", g_casts[i].id, "action", "cast", "motion", g_motion,
                                "credential", g_casts[i].credential, "marks", i % 3);
        r = tfx_call(cl, cmd);
        assert_int_equal(tfx_status(r), 201);
        const char *t = json_string_value(json_object_get(tfx_body(r), "tracker"));
        if (g_casts[i].tracker[0])
            assert_string_equal(t, g_casts[i].tracker); /* answered before: the same ballot */
        else {
            const char *p[] = {g_motion, t};
            recognised += h_sql_int(g_db, "SELECT count(*) FROM tally.tracker_public WHERE motion = $1 AND tracker = $2", 2, p) == 1;
        }
        json_decref(r);
    }
    assert_int_equal(recognised, VOTERS - answered);
    assert_int_equal(q1("SELECT count(*) FROM tally.ballot_rows WHERE motion = $1", g_motion), VOTERS);
    assert_int_equal(q1("SELECT count(*) FROM tally.roll_public WHERE motion = $1 AND voted", g_motion), VOTERS);
    assert_int_equal(q1("SELECT count(DISTINCT tracker) FROM tally.tracker_public WHERE motion = $1", g_motion), VOTERS);
    /* batches of concurrent casts: each ballots event lists [id, hash] sorted by id (no arrival
     * order), counts its receipts, and no tracker */
    assert_int_equal(q1("SELECT count(*) FROM tally.chain_rows WHERE motion = $1 AND type = 'ballots'", g_motion) > 0, 1);
    assert_int_equal(q1("SELECT count(*) FROM tally.chain_rows c WHERE motion = $1 AND type = 'ballots' AND ("
                        " (payload::jsonb->>'receipts')::int <> jsonb_array_length(payload::jsonb->'ballots')"
                        " OR EXISTS (SELECT 1 FROM jsonb_array_elements(payload::jsonb->'ballots') WITH ORDINALITY a(x, o)"
                        "   JOIN jsonb_array_elements(payload::jsonb->'ballots') WITH ORDINALITY b(y, p) ON p = o + 1"
                        "   WHERE (x->>0) COLLATE \"C\" >= (y->>0) COLLATE \"C\")"
                        " OR EXISTS (SELECT 1 FROM jsonb_array_elements(payload::jsonb->'ballots') e(x) WHERE jsonb_array_length(x) <> 2)"
                        " OR EXISTS (SELECT 1 FROM tally.tracker_public t WHERE t.motion = c.motion AND c.payload LIKE '%' || t.tracker || '%'))",
                        g_motion), 0);
    /* and the count agrees: a third of the voters each way */
    r = tfx_call(cl, json_pack("{s:s,s:I,s:s}", "action", "close", "staff_id", (json_int_t)g.leader, "motion", g_motion));
    assert_int_equal(tfx_status(r), 200);
    json_t *opts = json_object_get(json_object_get(json_object_get(tfx_body(r), "result"), "counts"), "options");
    assert_int_equal(json_integer_value(json_array_get(opts, 0)), (VOTERS + 2) / 3);
    assert_int_equal(json_integer_value(json_array_get(opts, 1)), (VOTERS + 1) / 3);
    assert_int_equal(json_integer_value(json_array_get(opts, 2)), VOTERS / 3);
    json_decref(r);
    cmdclient_destroy(&cl);
    json_decref(slips);
    int st = h_stop(tally, SIGTERM);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    bus_destroy(&g_bus);
    PQfinish(g_db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sigkill_during_casting_loses_no_answered_ballot),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
