/* Results through the daemon under the shipped national rule set (deploy/tally/rules/cn-2018.json):
 * what tally counts (the roll, who took part, the ballots) reaches the law's arithmetic as the
 * law means it. The arithmetic alone has its boundary tables in tests/unit/test_tally_rules.c;
 * here the same boundaries are cast ballot by ballot:
 * - a group meeting of 30 households: 20 present is a quorum (三分之二以上 includes the number),
 *   19 is not; of 20 present, 11 同意 adopt and 10 do not (过半数 does not include half);
 * - evaluations: a subject found 不称职 this year and last is flagged, one found so only this year
 *   is not. */
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
    static char rules[4096];
    if (!getcwd(rules, sizeof rules - 32))
        return -1;
    strcat(rules, "/deploy/tally/rules");
    g_tally = h_start_tally(h_port(310), rules, NULL);
    g_bus = h_bus_as("intake", true);
    g_cl = tfx_client(g_bus, h_port(310));
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

/* Opens a motion of group g under cn-2018 with slips, casts marks_of(i) for the first `cast`
 * voters, closes it and returns the result (a new reference). */
static json_t *vote(const tfx_group_t *g, const char *kind, json_t *ballot, int cast, json_t *(*marks_of)(int i))
{
    char motion[32];
    snprintf(motion, sizeof motion, "%s", tfx_create_with(g_cl, g, kind, "household", ballot, NULL, "cn-2018", "slips"));
    json_t *r = tfx_open(g_cl, g, motion);
    assert_int_equal(tfx_status(r), 200);
    json_decref(r);
    json_t *slips = tfx_slips(g_cl, g, motion);
    assert_true((int)json_array_size(slips) >= cast);
    for (int i = 0; i < cast; i++) {
        const char *cred = json_string_value(json_object_get(json_array_get(slips, (size_t)i), "credential"));
        r = tfx_cast(g_cl, motion, cred, marks_of(i));
        assert_int_equal(tfx_status(r), 201);
        json_decref(r);
    }
    json_decref(slips);
    r = tfx_call(g_cl, json_pack("{s:s,s:I,s:s}", "action", "close", "staff_id", (json_int_t)g->leader, "motion", motion));
    assert_int_equal(tfx_status(r), 200);
    json_t *result = json_incref(json_object_get(tfx_body(r), "result"));
    json_decref(r);
    assert_non_null(result);
    return result;
}

static const char *outcome(const json_t *result) { return json_string_value(json_object_get(result, "outcome")); }

/* The rule named `name` in result.rules: whether it was met (-1 when not applied). */
static int rule_met(const json_t *result, const char *name)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(result, "rules"), i, r) {
        if (!strcmp(json_string_value(json_object_get(r, "rule")), name))
            return json_is_true(json_object_get(r, "met"));
    }
    return -1;
}

/* A member of the rule named `name` in result.rules ("" when absent). */
static const char *rule_text(const json_t *result, const char *name, const char *member)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(result, "rules"), i, r) {
        if (!strcmp(json_string_value(json_object_get(r, "rule")), name)) {
            const char *v = json_string_value(json_object_get(r, member));
            return v ? v : "";
        }
    }
    return "";
}

static int g_yes; /* how many of the voters say 同意 (the rest 不同意) */
static json_t *yes_then_no(int i) { return json_pack("[i]", i < g_yes ? 0 : 1); }

static void a_group_meeting_of_30_households_at_its_bounds(void **state)
{
    (void)state;
    tfx_group_t g;
    tfx_group(g_db, 30, 1, &g);

    g_yes = 11; /* 20 present, 11 同意: quorum (3 × 20 ≥ 2 × 30) and 2 × 11 > 20 */
    json_t *r = vote(&g, "resolution", NULL, 20, yes_then_no);
    assert_string_equal(outcome(r), "adopted");
    assert_int_equal(json_integer_value(json_object_get(r, "roll")), 30);
    assert_int_equal(json_integer_value(json_object_get(r, "voters")), 20);
    assert_int_equal(rule_met(r, "meeting_quorum"), 1);
    assert_int_equal(rule_met(r, "meeting_decision"), 1);
    /* each rule applied says its integer test and cites the law */
    assert_string_equal(rule_text(r, "meeting_quorum", "test"), "3 × 20 ≥ 2 × 30");
    assert_non_null(strstr(rule_text(r, "meeting_quorum", "cite"), "三分之二以上"));
    assert_string_equal(rule_text(r, "meeting_decision", "test"), "2 × 11 > 1 × 20");
    json_decref(r);

    g_yes = 10; /* 20 present, 10 同意: 2 × 10 is not more than 20 */
    r = vote(&g, "resolution", NULL, 20, yes_then_no);
    assert_string_equal(outcome(r), "rejected");
    assert_int_equal(rule_met(r, "meeting_quorum"), 1);
    assert_int_equal(rule_met(r, "meeting_decision"), 0);
    json_decref(r);

    g_yes = 19; /* 19 present, all 同意: 3 × 19 < 2 × 30, no quorum, nothing decided */
    r = vote(&g, "resolution", NULL, 19, yes_then_no);
    assert_string_equal(outcome(r), "no_quorum");
    assert_int_equal(rule_met(r, "meeting_quorum"), 0);
    assert_int_equal(rule_met(r, "meeting_decision"), -1);
    json_decref(r);
}

static json_t *unfit_first_fit_second(int i)
{
    (void)i;
    return json_pack("[i,i]", 2, 0); /* 不称职 for the first subject, 称职 for the second */
}
static json_t *unfit_both(int i)
{
    (void)i;
    return json_pack("[i,i]", 2, 2);
}

/* The verdict object of subject key in result.subjects. */
static json_t *subject(const json_t *result, const char *key)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(result, "subjects"), i, s) {
        if (!strcmp(json_string_value(json_object_get(s, "key")), key))
            return s;
    }
    fail_msg("no subject %s in the result", key);
    return NULL;
}

static void unfit_two_years_running_is_flagged(void **state)
{
    (void)state;
    tfx_group_t g;
    tfx_group(g_db, 6, 1, &g);
    /* keys unique to this test, so other tests' evaluations are not "last year" */
    char k1[40], k2[40];
    snprintf(k1, sizeof k1, "staff:%lld", (long long)g.leader);
    snprintf(k2, sizeof k2, "resident:g%lld", (long long)g.group_id);
#define BALLOT(year) json_pack("{s:s,s:[{s:s,s:s},{s:s,s:s}],s:i}", "scale", "competence", "subjects", "name", "组长", \
                               "key", k1, "name", "会计", "key", k2, "year", year)
    json_t *r = vote(&g, "evaluation", BALLOT(2025), 6, unfit_first_fit_second);
    assert_string_equal(outcome(r), "evaluated");
    assert_string_equal(json_string_value(json_object_get(subject(r, k1), "verdict")), "unfit");
    assert_null(json_object_get(subject(r, k1), "flag"));
    assert_string_equal(json_string_value(json_object_get(subject(r, k2), "verdict")), "excellent");
    json_decref(r);

    r = vote(&g, "evaluation", BALLOT(2026), 6, unfit_both);
    assert_string_equal(json_string_value(json_object_get(subject(r, k1), "verdict")), "unfit");
    assert_string_equal(json_string_value(json_object_get(subject(r, k1), "flag")), "unfit_two_years");
    /* unfit this year only: not flagged */
    assert_string_equal(json_string_value(json_object_get(subject(r, k2), "verdict")), "unfit");
    assert_null(json_object_get(subject(r, k2), "flag"));
    json_decref(r);
#undef BALLOT
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_group_meeting_of_30_households_at_its_bounds),
        cmocka_unit_test(unfit_two_years_running_is_flagged),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
