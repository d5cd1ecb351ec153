/* Commands sent straight to the router's command socket, as intake's DEALER sends them: each one
 * the router answers is stored in router.command with the command itself beside the reply (what
 * the contract check, tests/proto_check.py, validates against proto/); a retry under the same id
 * gets the stored reply and stores nothing more; a frame it cannot take as a command (not JSON,
 * no uuid id, no action or ticket, an action people cannot take) is answered with a 4xx error and
 * never stored. */
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
#include <zmq.h>

#include "bus.h"
#include "harness.h"
#include "uuid.h"

static pid_t g_router;
static PGconn *g_db;
static bus_t *g_bus;
static void *g_sock;
static char g_staff[24];

static int setup(void **state)
{
    (void)state;
    g_db = h_db();
    char *s = h_sql_text(g_db, "SELECT id::text FROM registry.staff WHERE active AND role = 'handler' ORDER BY id LIMIT 1",
                         0, NULL);
    snprintf(g_staff, sizeof g_staff, "%s", s);
    free(s);
    g_router = h_start_router(h_port(100), h_port(102), NULL);
    g_bus = h_bus_as("intake", true); /* the router takes commands from intake's key only */
    g_sock = zmq_socket(bus_ctx(g_bus), ZMQ_DEALER);
    int linger = 0;
    zmq_setsockopt(g_sock, ZMQ_LINGER, &linger, sizeof linger);
    char ep[64], err[512];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", h_port(100));
    if (!bus_connect(g_bus, g_sock, BUS_COMMANDS, ep, "router", err, sizeof err))
        fail_msg("%s", err);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    zmq_close(g_sock);
    bus_destroy(&g_bus);
    int st = h_stop(g_router, SIGTERM);
    PQfinish(g_db);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

/* Sends one frame and returns the reply's text (caller frees); fails the test after 10 s. */
static char *call(const char *frame)
{
    assert_int_equal(zmq_send(g_sock, frame, strlen(frame), 0), (int)strlen(frame));
    zmq_pollitem_t it = {g_sock, 0, ZMQ_POLLIN, 0};
    assert_int_equal(zmq_poll(&it, 1, 10000), 1);
    zmq_msg_t m;
    zmq_msg_init(&m);
    assert_true(zmq_msg_recv(&m, g_sock, 0) >= 0);
    char *out = strndup(zmq_msg_data(&m), zmq_msg_size(&m));
    zmq_msg_close(&m);
    return out;
}

static json_t *parse(const char *text)
{
    json_error_t je;
    json_t *j = json_loads(text, 0, &je);
    if (!j)
        fail_msg("not JSON: %s", text);
    return j;
}

static long long stored(const char *id)
{
    const char *p[] = {id};
    return h_sql_int(g_db, "SELECT count(*) FROM router.command WHERE id = $1::uuid", 1, p);
}

/* The row holds the command as sent and the reply as answered, as jsonb (so key order and
 * spacing do not matter, values and types do). */
static void row_holds(const char *id, const char *request, const char *reply, int status)
{
    char st[8];
    snprintf(st, sizeof st, "%d", status);
    const char *p[] = {id, request, reply, st};
    assert_int_equal(h_sql_int(g_db,
                               "SELECT count(*) FROM router.command WHERE id = $1::uuid AND request = $2::jsonb"
                               " AND reply = $3::jsonb AND status = $4::int",
                               4, p),
                     1);
}

static void answered_command_is_stored_with_its_request(void **state)
{
    (void)state;
    char id[UUID_STR_LEN], cmd[512];
    uuid_v4(id);
    snprintf(cmd, sizeof cmd,
             "{\"id\":\"%s\",\"action\":\"accept\",\"ticket\":\"0000000000000\",\"staff_id\":%s,"
             "\"note\":\"核实中：村口路灯\",\"hours\":2.5}",
             id, g_staff);
    char *rep = call(cmd);
    json_t *j = parse(rep);
    assert_string_equal(json_string_value(json_object_get(j, "id")), id);
    assert_int_equal(json_integer_value(json_object_get(j, "status")), 404);
    assert_string_equal(json_string_value(json_object_get(json_object_get(json_object_get(j, "body"), "error"), "code")),
                        "not_found");
    row_holds(id, cmd, rep, 404);
    json_decref(j);
    free(rep);
}

/* An id in capitals is the same uuid: stored under its canonical form, the request as sent. */
static void id_in_capitals_is_stored_as_sent(void **state)
{
    (void)state;
    char id[UUID_STR_LEN], upper[UUID_STR_LEN], cmd[256];
    uuid_v4(id);
    for (int i = 0; i < UUID_STR_LEN; i++)
        upper[i] = (char)(id[i] >= 'a' && id[i] <= 'f' ? id[i] - 32 : id[i]);
    snprintf(cmd, sizeof cmd, "{\"id\":\"%s\",\"action\":\"start\",\"ticket\":\"0000000000000\",\"staff_id\":%s}", upper,
             g_staff);
    char *rep = call(cmd);
    row_holds(id, cmd, rep, 404);
    const char *p[] = {id};
    char *req_id = h_sql_text(g_db, "SELECT request->>'id' FROM router.command WHERE id = $1::uuid", 1, p);
    assert_string_equal(req_id, upper);
    free(req_id);
    free(rep);
}

static void retry_gets_the_stored_reply_and_stores_nothing(void **state)
{
    (void)state;
    char id[UUID_STR_LEN], first[256], second[256];
    uuid_v4(id);
    snprintf(first, sizeof first, "{\"id\":\"%s\",\"action\":\"resolve\",\"ticket\":\"0000000000000\",\"staff_id\":%s,"
             "\"note\":\"已修复\"}", id, g_staff);
    /* the same id with other content: still the first command's answer */
    snprintf(second, sizeof second, "{\"id\":\"%s\",\"action\":\"rate\",\"ticket\":\"0000000000001\",\"rating\":\"basic\","
             "\"proof\":\"rating_code\"}", id);
    char *a = call(first);
    char *b = call(second);
    json_t *ja = parse(a), *jb = parse(b);
    assert_true(json_equal(ja, jb));
    assert_int_equal(stored(id), 1);
    row_holds(id, first, a, 404);
    json_decref(ja);
    json_decref(jb);
    free(a);
    free(b);
}

static void frames_that_are_no_command_are_answered_and_not_stored(void **state)
{
    (void)state;
    char id[UUID_STR_LEN];
    uuid_v4(id);
    char frames[8][256];
    int n = 0;
    snprintf(frames[n++], 256, "not json");
    snprintf(frames[n++], 256, "[\"%s\",\"accept\"]", id);
    snprintf(frames[n++], 256, "{\"action\":\"accept\",\"ticket\":\"0000000000000\",\"staff_id\":%s}", g_staff);
    snprintf(frames[n++], 256, "{\"id\":\"%.35s\",\"action\":\"accept\",\"ticket\":\"0000000000000\",\"staff_id\":%s}", id,
             g_staff);
    /* the rest carry a good id, which must stay unused */
    snprintf(frames[n++], 256, "{\"id\":\"%s\",\"ticket\":\"0000000000000\",\"staff_id\":%s}", id, g_staff);
    snprintf(frames[n++], 256, "{\"id\":\"%s\",\"action\":\"accept\",\"staff_id\":%s}", id, g_staff);
    snprintf(frames[n++], 256, "{\"id\":\"%s\",\"action\":\"fly\",\"ticket\":\"0000000000000\",\"staff_id\":%s}", id,
             g_staff);
    /* the router's own actions are not commands */
    snprintf(frames[n++], 256, "{\"id\":\"%s\",\"action\":\"escalate\",\"ticket\":\"0000000000000\",\"staff_id\":%s}", id,
             g_staff);
    for (int i = 0; i < n; i++) {
        char *rep = call(frames[i]);
        json_t *j = parse(rep);
        json_int_t st = json_integer_value(json_object_get(j, "status"));
        /* the exact status (400 or 404) is the router's to choose; it is an error of the sender's */
        if (st < 400 || st > 499 || !json_is_string(json_object_get(json_object_get(json_object_get(j, "body"), "error"), "code")))
            fail_msg("%s -> %s", frames[i], rep);
        json_decref(j);
        free(rep);
    }
    assert_int_equal(stored(id), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(answered_command_is_stored_with_its_request),
        cmocka_unit_test(id_in_capitals_is_stored_as_sent),
        cmocka_unit_test(retry_gets_the_stored_reply_and_stores_nothing),
        cmocka_unit_test(frames_that_are_no_command_are_answered_and_not_stored),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
