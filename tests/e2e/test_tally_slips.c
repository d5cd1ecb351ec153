/* `gridgovctl tally slips` against a stand-in for tally's command socket (a ZeroMQ ROUTER in this
 * test, on one host without CURVE) that answers the `slips` command as tally-plan.md says:
 *   - the command: action "slips", the motion, an active operator's staff id (or --staff), and the
 *     voters --voters names (none: tally's default, every voter who has not voted);
 *   - the slips: one per voter with the name, the motion's code and title, the credential in groups
 *     of four and how to vote; --csv: UTF-8 with BOM, one row a voter, a name that a spreadsheet
 *     would take for a formula neutralised;
 *   - tally's refusal (409 not_open) is exit 1 with its code; bad arguments exit 2; an unknown
 *     motion exit 1 before anything is sent. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <zmq.h>

#include "harness.h"
#include "uuid.h"

static PGconn *g_db;
static char g_endpoint[64];

/* The stand-in: answers one command with `reply` (its "id" set to the command's), keeps the request. */
typedef struct {
    bus_t *bus;
    void *sock;
    const char *reply;
    json_t *request;
} standin_t;

static void *serve_one(void *arg)
{
    standin_t *s = arg;
    zmq_pollitem_t it = {s->sock, 0, ZMQ_POLLIN, 0};
    if (zmq_poll(&it, 1, 15000) <= 0)
        return NULL;
    zmq_msg_t ident, body;
    zmq_msg_init(&ident);
    zmq_msg_init(&body);
    zmq_msg_recv(&ident, s->sock, 0);
    zmq_msg_recv(&body, s->sock, 0);
    s->request = json_loadb(zmq_msg_data(&body), zmq_msg_size(&body), 0, NULL);
    json_t *rep = json_loads(s->reply, 0, NULL);
    json_object_set(rep, "id", json_object_get(s->request, "id"));
    char *text = json_dumps(rep, JSON_COMPACT);
    zmq_msg_send(&ident, s->sock, ZMQ_SNDMORE);
    zmq_send(s->sock, text, strlen(text), 0);
    free(text);
    json_decref(rep);
    zmq_msg_close(&body);
    return NULL;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    buf_t b = BUF_INIT;
    buf_puts(&b, "");
    if (f) {
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
            buf_append(&b, chunk, n);
        fclose(f);
    }
    return buf_detach(&b);
}

/* Runs gridgovctl tally slips ARGS with the stand-in answering `reply` (NULL: no stand-in); its
 * stdout and stderr, the request the stand-in got (caller decrefs; NULL when none), the status. */
static int slips(const char *args, const char *reply, char **out, char **err, json_t **request)
{
    standin_t s = {.reply = reply};
    pthread_t t;
    if (reply) {
        s.bus = h_bus_as(NULL, false);
        s.sock = zmq_socket(bus_ctx(s.bus), ZMQ_ROUTER);
        char e[256];
        assert_true(bus_bind(s.bus, s.sock, BUS_COMMANDS, g_endpoint, e, sizeof e));
        pthread_create(&t, NULL, serve_one, &s);
    }
    char o[512], x[512], cmd[2048];
    snprintf(o, sizeof o, "%s/slips.out", h_env("GRIDGOV_TEST_VAR"));
    snprintf(x, sizeof x, "%s/slips.err", h_env("GRIDGOV_TEST_VAR"));
    snprintf(cmd, sizeof cmd,
             "'%s/gridgovctl' --set log_level=warn --set curve=off --set tally_endpoint=%s tally slips %s >'%s' 2>'%s'",
             h_env("GRIDGOV_BIN"), g_endpoint, args, o, x);
    int st = system(cmd);
    if (reply) {
        pthread_join(t, NULL);
        zmq_close(s.sock);
        bus_destroy(&s.bus);
    }
    *out = slurp(o);
    *err = slurp(x);
    if (request)
        *request = s.request;
    else
        json_decref(s.request);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static const char SLIPS[] =
    "{\"status\": 200, \"body\": {\"slips\": ["
    "{\"voter_id\": 12, \"name\": \"张一\", \"credential\": \"7KQ2M9XD4TRVPA3H\"},"
    "{\"voter_id\": 15, \"household_id\": 3, \"name\": \"=HYPERLINK(\\\"http://x\\\")\","
    " \"credential\": \"A1B2-C3D4-E5F6-G7H8\", \"holder_voter_id\": 12}]}}";

static int setup(void **state)
{
    (void)state;
    g_db = h_db();
    snprintf(g_endpoint, sizeof g_endpoint, "tcp://127.0.0.1:%d", h_port(240));
    char id[UUID_STR_LEN];
    uuid_v4(id);
    const char *p[] = {id};
    h_sql_exec(g_db, "BEGIN");
    PQclear(PQexecParams(g_db,
                         "INSERT INTO tally.motion (id, code, group_id, kind, title, electorate, ballot, rule_set, rules,"
                         " rules_sha256, delivery, state, created_by, created_at, opened_at, roll_count)"
                         " SELECT $1, 'M2026-924001', id, 'resolution', '修缮村道的决定', 'household', '{}', 'cn-2018',"
                         " '{}', sha256('{}'), 'slips', 'open', 1, now(), now(), 2"
                         " FROM registry.unit WHERE level = 'group' ORDER BY id LIMIT 1",
                         1, NULL, p, NULL, NULL, 0));
    h_sql_exec(g_db, "COMMIT");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    PQfinish(g_db);
    return 0;
}

static void slips_print_each_voter_with_the_credential_in_groups_of_four(void **state)
{
    (void)state;
    char *out, *err;
    json_t *req;
    int st = slips("M2026-924001 --voters 12,15", SLIPS, &out, &err, &req);
    if (st != 0)
        fail_msg("status %d:\n%s%s", st, out, err);
    /* the command as tally-plan.md says, sent as the first active operator */
    assert_non_null(req);
    assert_string_equal(json_string_value(json_object_get(req, "action")), "slips");
    assert_string_equal(json_string_value(json_object_get(req, "motion")), "M2026-924001");
    assert_true(uuid_valid(json_string_value(json_object_get(req, "id"))));
    long long op = h_sql_int(g_db, "SELECT id FROM registry.staff WHERE role = 'operator' AND active ORDER BY id LIMIT 1",
                             0, NULL);
    assert_int_equal(json_integer_value(json_object_get(req, "staff_id")), op);
    json_t *voters = json_object_get(req, "voters");
    assert_int_equal(json_array_size(voters), 2);
    assert_int_equal(json_integer_value(json_array_get(voters, 1)), 15);
    json_decref(req);
    const char *want[] = {"表决：M2026-924001　修缮村道的决定", "选民：张一（编号 12）", "投票码：7KQ2-M9XD-4TRV-PA3H",
                          "投票码：A1B2-C3D4-E5F6-G7H8", "投票方法", "沿此线剪开",
                          "书面委托：交受委托人（编号 12）代为投票"};
    for (size_t i = 0; i < sizeof want / sizeof want[0]; i++)
        if (!strstr(out, want[i]))
            fail_msg("the slips lack \"%s\":\n%s", want[i], out);
    assert_non_null(strstr(err, "2 slips"));
    free(out);
    free(err);

    /* without --voters: tally picks (no "voters" member); --staff names who sends it */
    assert_int_equal(slips("M2026-924001 --staff 7 --csv", SLIPS, &out, &err, &req), 0);
    assert_null(json_object_get(req, "voters"));
    assert_int_equal(json_integer_value(json_object_get(req, "staff_id")), 7);
    json_decref(req);
    assert_memory_equal(out, "\xEF\xBB\xBF", 3);
    assert_non_null(strstr(out, "选民编号,姓名,表决,标题,投票码,投票方法,受委托人编号\r\n"));
    assert_non_null(strstr(out, "请勿交给他人。,12\r\n")); /* 15's holder */
    assert_non_null(strstr(out, "请勿交给他人。,\r\n"));   /* 12 gave no proxy */
    assert_non_null(strstr(out, "\r\n12,张一,M2026-924001,修缮村道的决定,7KQ2-M9XD-4TRV-PA3H,"));
    assert_non_null(strstr(out, "\r\n15,\"'=HYPERLINK(\"\"http://x\"\")\",M2026-924001,"));
    free(out);
    free(err);
}

static void refusals_and_bad_arguments(void **state)
{
    (void)state;
    char *out, *err;
    assert_int_equal(slips("M2026-924001", "{\"status\": 409, \"body\": {\"error\": \"not_open\", \"message\": \"表决未在进行\"}}",
                           &out, &err, NULL),
                     1);
    assert_non_null(strstr(err, "409 not_open: 表决未在进行"));
    assert_string_equal(out, "");
    free(out);
    free(err);
    /* a 200 without slips (a retry's stored answer) prints none */
    assert_int_equal(slips("M2026-924001", "{\"status\": 200, \"body\": {\"issued\": 2}}", &out, &err, NULL), 1);
    assert_string_equal(out, "");
    free(out);
    free(err);
    const char *bad[] = {"", "M2026-924001 --voters", "M2026-924001 --voters 12,x", "M2026-924001 --voters 0",
                         "M2026-924001 --staff abc", "M2026-924001 --bogus", "M2026-924001 M2026-924002"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        int st = slips(bad[i], NULL, &out, &err, NULL);
        if (st != 2)
            fail_msg("tally slips %s: status %d, want 2", bad[i], st);
        free(out);
        free(err);
    }
    assert_int_equal(slips("M2026-999999", NULL, &out, &err, NULL), 1);
    assert_non_null(strstr(err, "unknown motion"));
    free(out);
    free(err);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(slips_print_each_voter_with_the_credential_in_groups_of_four),
        cmocka_unit_test(refusals_and_bad_arguments),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
