/* `gridgovctl tally verify`, `archive` and `slips` on motions the real gridgov-tally produced (not
 * this branch's own writer, tests/e2e/test_tally_verify.c): an election with a proxy, online
 * ballots, write-ins and a paper box, closed by a teller, verifies intact from the database and
 * from its JSON archive, and a ballot altered afterwards by the owner is caught; `tally slips`
 * sends tally the slips command as the operator (CURVE, gridgovctl's key) and prints the slips
 * tally issued, whose credentials then cast. */
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

#include "harness.h"
#include "tally_fx.h"

static pid_t g_tally;
static PGconn *g_db;
static bus_t *g_bus;
static cmdclient_t *g_cl;

static int setup(void **state)
{
    (void)state;
    g_db = h_db();
    g_tally = h_start_tally(h_port(350), tfx_rules_dir(), NULL);
    g_bus = h_bus_as("intake", true);
    g_cl = tfx_client(g_bus, h_port(350));
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

/* gridgovctl ARGS against the test database and this test's tally; stdout in *out (caller frees). */
static int ctl(const char *args, char **out)
{
    char o[512], cmd[2048];
    snprintf(o, sizeof o, "%s/audit-real.out", h_env("GRIDGOV_TEST_VAR"));
    snprintf(cmd, sizeof cmd, "'%s/gridgovctl' --set log_level=warn --set tally_endpoint=tcp://127.0.0.1:%d %s >'%s' 2>>'%s/audit-real.err'",
             h_env("GRIDGOV_BIN"), h_port(350), args, o, h_env("GRIDGOV_TEST_VAR"));
    int st = system(cmd);
    *out = slurp(o);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static json_t *staff_cmd(const tfx_group_t *g, const char *action, const char *motion)
{
    return json_pack("{s:s,s:I,s:s}", "action", action, "staff_id", (json_int_t)g->leader, "motion", motion);
}

static void a_motion_the_daemon_closed_verifies_and_its_tampering_is_caught(void **state)
{
    (void)state;
    tfx_group_t g;
    tfx_group(g_db, 6, 2, &g); /* 12 adults */
    char gid[24];
    snprintf(gid, sizeof gid, "%lld", (long long)g.group_id);
    const char *gp[] = {gid};
    long long r1 = h_sql_int(g_db, "SELECT min(r.id) FROM registry.resident r JOIN registry.household h ON h.id = r.household_id"
                                   " WHERE h.group_id = $1::bigint AND r.birth_year = 1970", 1, gp);
    json_t *ballot = json_pack("{s:i,s:[{s:s,s:I},{s:s,s:I},{s:s,s:I}],s:b}", "seats", 2, "candidates", "name", "张三",
                               "resident_id", (json_int_t)r1, "name", "李四", "resident_id", (json_int_t)(r1 + 3), "name",
                               "王五", "resident_id", (json_int_t)(r1 + 6), "write_ins", 1);
    char motion[32];
    snprintf(motion, sizeof motion, "%s", tfx_create(g_cl, &g, "election", "adult", ballot, NULL));
    json_t *r = tfx_open(g_cl, &g, motion);
    assert_int_equal(tfx_status(r), 200);
    json_decref(r);

    /* gridgovctl tally slips: the credentials tally issued, printed; four of them cast */
    char args[1024], *out;
    snprintf(args, sizeof args, "tally slips %s", motion);
    assert_int_equal(ctl(args, &out), 0);
    char creds[4][24];
    const char *at = out;
    for (int i = 0; i < 4; i++) {
        at = strstr(at, "投票码：");
        if (!at)
            fail_msg("fewer than 4 slips:\n%s", out);
        at += strlen("投票码：");
        snprintf(creds[i], sizeof creds[i], "%.19s", at);
    }
    free(out);
    json_t *marks[3] = {json_pack("[i,i]", 0, 1), json_pack("[i]", 0), json_pack("[]")};
    for (int i = 0; i < 3; i++) {
        r = tfx_cast(g_cl, motion, creds[i], marks[i]);
        assert_int_equal(tfx_status(r), 201);
        json_decref(r);
    }
    /* one ballot with a write-in */
    json_t *cast = json_pack("{s:s,s:s,s:s,s:[i],s:[s]}", "action", "cast", "motion", motion, "credential", creds[3],
                             "marks", 2, "write_ins", "赵六");
    r = tfx_call(g_cl, cast);
    assert_int_equal(tfx_status(r), 201);
    json_decref(r);
    /* a paper box: two voters took paper ballots */
    long long v1 = h_sql_int(g_db, "SELECT max(voter_id) FROM tally.roll_public WHERE motion = $1 AND NOT voted", 1,
                             (const char *[]){motion});
    json_t *pv = staff_cmd(&g, "paper_voters", motion);
    json_object_set_new(pv, "voters", json_pack("[I,I]", (json_int_t)v1, (json_int_t)(v1 - 1)));
    r = tfx_call(g_cl, pv);
    assert_int_equal(tfx_status(r), 200);
    json_decref(r);
    json_t *box = staff_cmd(&g, "paper", motion);
    json_object_set_new(box, "box", json_string("第一票箱"));
    json_object_set_new(box, "tellers", json_pack("[s,s,s]", "王监票", "李监票", "张监票"));
    json_object_set_new(box, "ballots", json_integer(2));
    json_object_set_new(box, "invalid", json_integer(0));
    json_object_set_new(box, "counts", json_pack("{s:[i,i,i],s:{s:i},s:i}", "candidates", 1, 1, 0, "write_ins", "赵六", 1,
                                                 "blank", 0));
    r = tfx_call(g_cl, box);
    assert_int_equal(tfx_status(r), 200);
    json_decref(r);
    r = tfx_call(g_cl, staff_cmd(&g, "close", motion));
    assert_int_equal(tfx_status(r), 200);
    json_decref(r);

    /* intact, from the database and from the archive */
    char *head = h_sql_text(g_db, "SELECT encode(head_hash, 'hex') FROM tally.motion WHERE code = $1", 1,
                            (const char *[]){motion});
    snprintf(args, sizeof args, "tally verify %s", motion);
    assert_int_equal(ctl(args, &out), 0);
    if (!strstr(out, ": intact: ") || !strstr(out, head) || !strstr(out, "4 online ballots"))
        fail_msg("%s", out);
    free(out);
    char path[512];
    snprintf(path, sizeof path, "%s/%s-real.json", h_env("GRIDGOV_TEST_VAR"), motion);
    snprintf(args, sizeof args, "tally archive %s --json '%s'", motion, path);
    assert_int_equal(ctl(args, &out), 0);
    free(out);
    snprintf(args, sizeof args, "tally verify --archive '%s'", path);
    assert_int_equal(ctl(args, &out), 0);
    assert_non_null(strstr(out, head));
    free(out);
    free(head);

    /* the owner alters a ballot: caught */
    PGconn *owner = h_db_owner();
    h_sql_exec(owner, "BEGIN");
    h_sql_exec(owner, "ALTER TABLE tally.ballot DISABLE TRIGGER ballot_append_only");
    const char *mp[] = {motion};
    PQclear(PQexecParams(owner, "UPDATE tally.ballot SET marks = '{2}' WHERE id = (SELECT b.id FROM tally.ballot b"
                                " JOIN tally.motion m ON m.id = b.motion_id WHERE m.code = $1 AND b.marks = '{0}')",
                         1, NULL, mp, NULL, NULL, 0));
    h_sql_exec(owner, "ALTER TABLE tally.ballot ENABLE TRIGGER ballot_append_only");
    h_sql_exec(owner, "COMMIT");
    PQfinish(owner);
    snprintf(args, sizeof args, "tally verify %s", motion);
    assert_int_equal(ctl(args, &out), 1);
    assert_non_null(strstr(out, "the hash of ballot"));
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_motion_the_daemon_closed_verifies_and_its_tampering_is_caught),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
