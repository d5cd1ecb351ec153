/* A motion's life through tally's command socket, for each kind: create (a draft), proxies, open
 * (the roll taken from the registry and frozen), casts, paper, close with the result stored, the
 * chain written and vote.opened / vote.closed announced; and what the state machine refuses:
 * proxies once open, a second open, anything after close (never reopened), staff out of scope.
 * The clock closes a motion whose closes_at has passed; a resident added after open is not on
 * the roll. (Result arithmetic is the rules' own test: tests/unit/test_tally_rules.c.) */
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
static char g_clock[1024];

static int setup(void **state)
{
    (void)state;
    g_db = h_db();
    snprintf(g_clock, sizeof g_clock, "%s/tally-lifecycle.clock", h_env("GRIDGOV_TEST_VAR"));
    h_set_clock(g_clock, "2026-06-01T02:00:00Z");
    char clock_env[1100];
    snprintf(clock_env, sizeof clock_env, "GRIDGOV_CLOCK_FILE=%s", g_clock);
    const char *env[] = {clock_env, "GRIDGOV_TICK_MS=100", NULL};
    g_tally = h_start_tally(h_port(300), tfx_rules_dir(), env);
    g_bus = h_bus_as("intake", true);
    g_cl = tfx_client(g_bus, h_port(300));
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

static json_t *staff_cmd(const tfx_group_t *g, const char *action, const char *motion)
{
    return json_pack("{s:s,s:I,s:s}", "action", action, "staff_id", (json_int_t)g->leader, "motion", motion);
}

/* The slip of voter_id in slips (borrowed credential). */
static const char *cred_of(json_t *slips, size_t i)
{
    return json_string_value(json_object_get(json_array_get(slips, i), "credential"));
}

/* The chain is whole: heights 1..head with no gap, the head in tally.motion, opened first. */
static void chain_whole(const char *motion, int want_events)
{
    assert_int_equal(q1("SELECT count(*) FROM tally.chain_rows WHERE motion = $1", motion), want_events);
    assert_int_equal(q1("SELECT max(height) FROM tally.chain_rows WHERE motion = $1", motion), want_events);
    assert_int_equal(q1("SELECT head_height FROM tally.motion WHERE code = $1", motion), want_events);
    assert_int_equal(q1("SELECT count(*) FROM tally.motion m JOIN tally.event e ON e.motion_id = m.id"
                        " AND e.height = m.head_height AND e.hash = m.head_hash WHERE m.code = $1", motion), 1);
    assert_int_equal(q1("SELECT count(*) FROM tally.chain_rows WHERE motion = $1 AND height = 1 AND type = 'opened'", motion), 1);
}

static void resolution_from_draft_to_result(void **state)
{
    (void)state;
    tfx_group_t g;
    tfx_group(g_db, 10, 2, &g);
    const char *code = tfx_create(g_cl, &g, "resolution", "household", NULL, NULL);
    char motion[32];
    snprintf(motion, sizeof motion, "%s", code);
    assert_int_equal(q1("SELECT count(*) FROM tally.motion WHERE code = $1 AND state = 'draft'", motion), 1);

    /* a proxy while it is a draft: household 2 votes for household 1 */
    char gid[24];
    snprintf(gid, sizeof gid, "%lld", (long long)g.group_id);
    long long first = q1("SELECT min(id) FROM registry.household WHERE group_id = $1::bigint", gid);
    json_t *px = staff_cmd(&g, "proxy", motion);
    json_object_set_new(px, "principal", json_integer(first));
    json_object_set_new(px, "holder", json_integer(first + 1));
    json_t *r = tfx_call(g_cl, px);
    assert_int_equal(tfx_status(r), 200);
    assert_int_equal(json_integer_value(json_object_get(tfx_body(r), "proxies")), 1);
    json_decref(r);

    r = tfx_open(g_cl, &g, motion);
    assert_int_equal(tfx_status(r), 200);
    assert_int_equal(json_integer_value(json_object_get(tfx_body(r), "roll")), 10); /* one voter per household */
    json_decref(r);
    assert_int_equal(q1("SELECT count(*) FROM tally.roll_public WHERE motion = $1", motion), 10);
    assert_int_equal(q1("SELECT count(*) FROM bus.outbox WHERE type = 'vote.opened' AND data->>'motion' = $1", motion), 1);
    chain_whole(motion, 3);

    /* a second open, and a proxy now: the roll and its proxies are frozen */
    r = tfx_open(g_cl, &g, motion);
    assert_int_equal(tfx_status(r), 409);
    assert_string_equal(tfx_error(r), "not_draft");
    json_decref(r);
    px = staff_cmd(&g, "proxy", motion);
    json_object_set_new(px, "principal", json_integer(first + 3));
    json_object_set_new(px, "holder", json_integer(first + 4));
    r = tfx_call(g_cl, px);
    assert_int_equal(tfx_status(r), 409);
    assert_string_equal(tfx_error(r), "not_draft");
    json_decref(r);
    assert_int_equal(q1("SELECT count(*) FROM tally.proxy_public WHERE motion = $1", motion), 1);

    /* 7 online: 5 yes, 1 no, 1 abstain; 2 voters on paper, a box of 2 (1 yes, 1 invalid) */
    json_t *slips = tfx_slips(g_cl, &g, motion);
    assert_int_equal(json_array_size(slips), 10);
    int want[7] = {0, 0, 0, 0, 0, 1, 2};
    char tracker0[16] = "";
    for (int i = 0; i < 7; i++) {
        r = tfx_cast(g_cl, motion, cred_of(slips, (size_t)i), json_pack("[i]", want[i]));
        assert_int_equal(tfx_status(r), 201);
        if (i == 0)
            snprintf(tracker0, sizeof tracker0, "%s", json_string_value(json_object_get(tfx_body(r), "tracker")));
        json_decref(r);
    }
    const char *p[] = {motion, tracker0};
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM tally.tracker_public WHERE motion = $1 AND tracker = $2", 2, p), 1);
    json_t *pv = staff_cmd(&g, "paper_voters", motion);
    json_object_set_new(pv, "voters", json_pack("[O,O]", json_object_get(json_array_get(slips, 7), "voter_id"),
                                                json_object_get(json_array_get(slips, 8), "voter_id")));
    r = tfx_call(g_cl, pv);
    assert_int_equal(tfx_status(r), 200);
    json_decref(r);
    json_t *box = staff_cmd(&g, "paper", motion);
    json_object_set_new(box, "box", json_string("第一票箱"));
    json_object_set_new(box, "tellers", json_pack("[s,s,s]", "王监票", "李监票", "张监票"));
    json_object_set_new(box, "ballots", json_integer(2));
    json_object_set_new(box, "invalid", json_integer(1));
    json_object_set_new(box, "counts", json_pack("{s:[i,i,i]}", "options", 1, 0, 0));
    r = tfx_call(g_cl, box);
    assert_int_equal(tfx_status(r), 200);
    json_decref(r);

    r = tfx_call(g_cl, staff_cmd(&g, "close", motion));
    assert_int_equal(tfx_status(r), 200);
    json_t *res = json_object_get(tfx_body(r), "result");
    json_t *opts = json_object_get(json_object_get(res, "counts"), "options");
    assert_int_equal(json_integer_value(json_array_get(opts, 0)), 6);
    assert_int_equal(json_integer_value(json_array_get(opts, 1)), 1);
    assert_int_equal(json_integer_value(json_array_get(opts, 2)), 1);
    assert_int_equal(json_integer_value(json_object_get(res, "voters")), 9);
    assert_int_equal(json_integer_value(json_object_get(res, "ballots")), 9);
    assert_int_equal(json_integer_value(json_object_get(res, "invalid")), 1);
    json_decref(r);
    assert_int_equal(q1("SELECT count(*) FROM tally.motion WHERE code = $1 AND state = 'closed' AND result ? 'outcome'"
                        " AND closed_by IS NOT NULL", motion), 1);
    assert_int_equal(q1("SELECT count(*) FROM bus.outbox WHERE type = 'vote.closed' AND data->>'motion' = $1"
                        " AND data->>'head_hash' = (SELECT encode(head_hash, 'hex') FROM tally.motion WHERE code = $1)", motion), 1);
    /* opened, roll, proxies, 7 ballots events (one cast each), paper_voters, paper, trackers, closed, result */
    chain_whole(motion, 3 + 7 + 2 + 3);
    assert_int_equal(q1("SELECT count(*) FROM tally.chain_rows WHERE motion = $1 AND type = 'trackers'"
                        " AND height = (SELECT head_height - 2 FROM tally.motion WHERE code = $1)"
                        " AND jsonb_array_length(payload::jsonb->'trackers') = 7", motion), 1);
    assert_int_equal(q1("SELECT count(*) FROM tally.chain_rows WHERE motion = $1 AND type = 'result'"
                        " AND height = (SELECT head_height FROM tally.motion WHERE code = $1)"
                        " AND payload::jsonb = (SELECT result FROM tally.motion WHERE code = $1)", motion), 1);

    /* closed for good: no cast, no second close, no open */
    r = tfx_cast(g_cl, motion, cred_of(slips, 9), json_pack("[i]", 0));
    assert_int_equal(tfx_status(r), 409);
    assert_string_equal(tfx_error(r), "closed");
    json_decref(r);
    r = tfx_call(g_cl, staff_cmd(&g, "close", motion));
    assert_int_equal(tfx_status(r), 409);
    assert_string_equal(tfx_error(r), "closed");
    json_decref(r);
    r = tfx_open(g_cl, &g, motion);
    assert_int_equal(tfx_status(r), 409);
    json_decref(r);
    assert_int_equal(q1("SELECT count(*) FROM tally.motion WHERE code = $1 AND state = 'closed'", motion), 1);
    assert_int_equal(q1("SELECT count(*) FROM tally.ballot_rows WHERE motion = $1", motion), 7);
    json_decref(slips);
}

static void election_with_candidates_and_write_ins(void **state)
{
    (void)state;
    tfx_group_t g;
    tfx_group(g_db, 6, 2, &g); /* 12 adults, 6 children */
    char gid[24];
    snprintf(gid, sizeof gid, "%lld", (long long)g.group_id);
    long long r1 = q1("SELECT min(r.id) FROM registry.resident r JOIN registry.household h ON h.id = r.household_id"
                      " WHERE h.group_id = $1::bigint", gid);
    json_t *ballot = json_pack("{s:i,s:[{s:s,s:I},{s:s,s:I},{s:s,s:I}],s:b}", "seats", 2, "candidates", "name", "张三", "resident_id",
                               (json_int_t)r1, "name", "李四", "resident_id", (json_int_t)(r1 + 3), "name", "王五", "resident_id",
                               (json_int_t)(r1 + 6), "write_ins", 1);
    char motion[32];
    snprintf(motion, sizeof motion, "%s", tfx_create(g_cl, &g, "election", "adult", ballot, NULL));

    /* a candidate may not hold a proxy */
    json_t *px = staff_cmd(&g, "proxy", motion);
    json_object_set_new(px, "principal", json_integer(r1 + 1));
    json_object_set_new(px, "holder", json_integer(r1));
    json_t *r = tfx_call(g_cl, px);
    assert_int_equal(tfx_status(r), 409);
    assert_string_equal(tfx_error(r), "candidate_holder");
    json_decref(r);

    r = tfx_open(g_cl, &g, motion);
    assert_int_equal(tfx_status(r), 200);
    assert_int_equal(json_integer_value(json_object_get(tfx_body(r), "roll")), 12); /* adults only */
    json_decref(r);
    json_t *slips = tfx_slips(g_cl, &g, motion);
    json_t *marks[] = {json_pack("[i,i]", 0, 1), json_pack("[i,i]", 0, 2), json_pack("[i]", 0), json_pack("[]"),
                       json_pack("[i,i]", 1, 0)};
    for (size_t i = 0; i < 5; i++) {
        r = tfx_cast(g_cl, motion, cred_of(slips, i), marks[i]);
        assert_int_equal(tfx_status(r), 201);
        json_decref(r);
    }
    json_t *wi = json_pack("{s:s,s:s,s:s,s:[i],s:[s]}", "action", "cast", "motion", motion, "credential", cred_of(slips, 5),
                           "marks", 1, "write_ins", "赵六");
    r = tfx_call(g_cl, wi);
    assert_int_equal(tfx_status(r), 201);
    json_decref(r);
    r = tfx_call(g_cl, staff_cmd(&g, "close", motion));
    assert_int_equal(tfx_status(r), 200);
    json_t *counts = json_object_get(json_object_get(tfx_body(r), "result"), "counts");
    assert_int_equal(json_integer_value(json_array_get(json_object_get(counts, "candidates"), 0)), 4);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(counts, "candidates"), 1)), 3);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(counts, "candidates"), 2)), 1);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(counts, "write_ins"), "赵六")), 1);
    assert_int_equal(json_integer_value(json_object_get(counts, "blank")), 1);
    json_decref(r);
    assert_int_equal(q1("SELECT count(*) FROM tally.motion WHERE code = $1 AND state = 'closed'", motion), 1);
    json_decref(slips);
}

static void evaluation_and_selection_close_with_results(void **state)
{
    (void)state;
    tfx_group_t g;
    tfx_group(g_db, 4, 1, &g);
    json_t *ballot = json_pack("{s:s,s:[{s:s,s:s},{s:s,s:s}],s:i}", "scale", "competence", "subjects", "name", "组长甲", "key",
                               "staff:901", "name", "会计乙", "key", "staff:902", "year", 2026);
    char ev[32], sel[32];
    snprintf(ev, sizeof ev, "%s", tfx_create(g_cl, &g, "evaluation", "adult", ballot, NULL));
    ballot = json_pack("{s:[{s:s},{s:s},{s:s}]}", "nominees", "name", "一户", "name", "二户", "name", "三户");
    snprintf(sel, sizeof sel, "%s", tfx_create(g_cl, &g, "selection", "household", ballot, NULL));
    json_t *r = tfx_open(g_cl, &g, ev);
    assert_int_equal(tfx_status(r), 200);
    json_decref(r);
    r = tfx_open(g_cl, &g, sel);
    assert_int_equal(tfx_status(r), 200);
    json_decref(r);
    json_t *se = tfx_slips(g_cl, &g, ev), *ss = tfx_slips(g_cl, &g, sel);
    for (size_t i = 0; i < 4; i++) {
        r = tfx_cast(g_cl, ev, cred_of(se, i), json_pack("[i,i]", i < 3 ? 0 : 2, 2));
        assert_int_equal(tfx_status(r), 201);
        json_decref(r);
        r = tfx_cast(g_cl, sel, cred_of(ss, i), json_pack("[i,i,i]", 0, i < 2 ? 1 : 0, 2));
        assert_int_equal(tfx_status(r), 201);
        json_decref(r);
    }
    /* a credential of one motion is nothing on another */
    r = tfx_cast(g_cl, sel, cred_of(se, 0), json_pack("[i,i,i]", 0, 0, 0));
    assert_int_equal(tfx_status(r), 403);
    assert_string_equal(tfx_error(r), "bad_credential");
    json_decref(r);
    r = tfx_call(g_cl, staff_cmd(&g, "close", ev));
    assert_int_equal(tfx_status(r), 200);
    json_t *subjects = json_object_get(json_object_get(json_object_get(tfx_body(r), "result"), "counts"), "subjects");
    assert_int_equal(json_integer_value(json_array_get(json_array_get(subjects, 0), 0)), 3);
    assert_int_equal(json_integer_value(json_array_get(json_array_get(subjects, 0), 2)), 1);
    assert_int_equal(json_integer_value(json_array_get(json_array_get(subjects, 1), 2)), 4);
    json_decref(r);
    r = tfx_call(g_cl, staff_cmd(&g, "close", sel));
    assert_int_equal(tfx_status(r), 200);
    json_t *noms = json_object_get(json_object_get(json_object_get(tfx_body(r), "result"), "counts"), "nominees");
    assert_int_equal(json_integer_value(json_array_get(json_array_get(noms, 0), 0)), 4);
    assert_int_equal(json_integer_value(json_array_get(json_array_get(noms, 1), 1)), 2);
    assert_int_equal(json_integer_value(json_array_get(json_array_get(noms, 2), 2)), 4);
    json_decref(r);
    assert_int_equal(q1("SELECT count(*) FROM tally.evaluation_verdict WHERE motion = $1", ev), 2);
    json_decref(se);
    json_decref(ss);
}

static void clock_closes_a_motion_and_the_roll_stays_frozen(void **state)
{
    (void)state;
    tfx_group_t g;
    tfx_group(g_db, 3, 1, &g);
    char motion[32];
    snprintf(motion, sizeof motion, "%s", tfx_create(g_cl, &g, "resolution", "adult", NULL, "2026-06-01T04:00:00Z"));
    json_t *r = tfx_open(g_cl, &g, motion);
    assert_int_equal(tfx_status(r), 200);
    assert_string_equal(json_string_value(json_object_get(tfx_body(r), "closes_at")), "2026-06-01T04:00:00Z");
    json_decref(r);

    /* a resident who moves in after open is not on the roll */
    char gid[24];
    snprintf(gid, sizeof gid, "%lld", (long long)g.group_id);
    const char *pg[] = {gid};
    h_sql_int(g_db,
              "INSERT INTO registry.resident (id, household_id, name, gender, birth_year)"
              " SELECT (SELECT max(id) + 1 FROM registry.resident), min(id), '新来的', '女', 1990"
              " FROM registry.household WHERE group_id = $1::bigint RETURNING id", 1, pg);
    assert_int_equal(q1("SELECT count(*) FROM tally.roll_public WHERE motion = $1", motion), 3);
    assert_int_equal(q1("SELECT roll_count FROM tally.motion WHERE code = $1", motion), 3);

    json_t *slips = tfx_slips(g_cl, &g, motion);
    assert_int_equal(json_array_size(slips), 3);
    r = tfx_cast(g_cl, motion, cred_of(slips, 0), json_pack("[i]", 0));
    assert_int_equal(tfx_status(r), 201);
    json_decref(r);
    /* not yet: the clock stands before closes_at */
    usleep(300 * 1000);
    assert_int_equal(q1("SELECT count(*) FROM tally.motion WHERE code = $1 AND state = 'open'", motion), 1);
    h_set_clock(g_clock, "2026-06-01T04:00:01Z");
    assert_true(h_wait_sql(g_db, "SELECT count(*) FROM tally.motion WHERE code = $1 AND state = 'closed' AND closed_by IS NULL",
                           1, (const char *[]){motion}, 1, 10000));
    assert_int_equal(q1("SELECT count(*) FROM bus.outbox WHERE type = 'vote.closed' AND data->>'motion' = $1", motion), 1);
    /* voting is over: a cast now is refused and stores nothing */
    r = tfx_cast(g_cl, motion, cred_of(slips, 1), json_pack("[i]", 0));
    assert_int_equal(tfx_status(r), 409);
    json_decref(r);
    assert_int_equal(q1("SELECT count(*) FROM tally.ballot_rows WHERE motion = $1", motion), 1);
    h_set_clock(g_clock, "2026-06-01T02:00:00Z");
    json_decref(slips);
}

static void staff_out_of_scope_and_unknown_things_are_refused(void **state)
{
    (void)state;
    tfx_group_t g;
    tfx_group(g_db, 3, 1, &g);
    long long before = q1("SELECT count(*) FROM tally.motion", NULL);
    json_t *cmd = json_pack("{s:s,s:I,s:s,s:s,s:s,s:s,s:s}", "action", "create", "staff_id", (json_int_t)g.grid_worker, "group",
                            g.group_code, "kind", "resolution", "title", "网格员不能发起", "electorate", "household",
                            "rule_set", "test-rules");
    json_t *r = tfx_call(g_cl, cmd);
    assert_int_equal(tfx_status(r), 403);
    assert_string_equal(tfx_error(r), "out_of_scope");
    json_decref(r);
    cmd = json_pack("{s:s,s:I,s:s,s:s,s:s,s:s,s:s}", "action", "create", "staff_id", (json_int_t)g.leader, "group",
                    g.group_code, "kind", "resolution", "title", "未知规则", "electorate", "household", "rule_set", "nope");
    r = tfx_call(g_cl, cmd);
    assert_int_equal(tfx_status(r), 400);
    assert_string_equal(tfx_error(r), "unknown_rule_set");
    json_decref(r);
    cmd = json_pack("{s:s,s:I,s:s,s:s,s:s,s:s,s:s,s:{s:i,s:[{s:s},{s:s}]}}", "action", "create", "staff_id",
                    (json_int_t)g.leader, "group", g.group_code, "kind", "election", "title", "等额选举", "electorate", "adult",
                    "rule_set", "test-rules", "ballot", "seats", 2, "candidates", "name", "甲", "name", "乙");
    r = tfx_call(g_cl, cmd);
    assert_int_equal(tfx_status(r), 400); /* 差额: candidates must outnumber seats */
    assert_string_equal(tfx_error(r), "bad_ballot");
    json_decref(r);
    assert_int_equal(q1("SELECT count(*) FROM tally.motion", NULL), before);
    r = tfx_open(g_cl, &g, "M2026-999999");
    assert_int_equal(tfx_status(r), 404);
    assert_string_equal(tfx_error(r), "unknown_motion");
    json_decref(r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(resolution_from_draft_to_result),
        cmocka_unit_test(election_with_candidates_and_write_ins),
        cmocka_unit_test(evaluation_and_selection_close_with_results),
        cmocka_unit_test(clock_closes_a_motion_and_the_roll_stays_frozen),
        cmocka_unit_test(staff_out_of_scope_and_unknown_things_are_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
