/* tally's pure pieces: the motion's state machine as its table writes it (services/tally/motion.c:
 * nothing leaves closed, nothing returns to draft, the clock's close is no command), the
 * credential (alphabet, grouping, hyphens and case ignored, its SHA-256 as CHAIN.md fixes it), the
 * tracker's alphabet, marks judged per kind (CHAIN.md "The ballot"), the ballot's canonical hash
 * against a vector computed apart (Python's hashlib) and the SQL array literals. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "ballot.h"
#include "credential.h"
#include "motion.h"

static void motion_table_never_goes_back(void **state)
{
    (void)state;
    /* action, from -> to; every other pair refused */
    static const struct {
        motion_action_t a;
        motion_state_t from, to;
    } allowed[] = {
        {MA_CREATE, MS_NEW, MS_DRAFT},       {MA_PROXY, MS_DRAFT, MS_DRAFT}, {MA_OPEN, MS_DRAFT, MS_OPEN},
        {MA_CAST, MS_OPEN, MS_OPEN},         {MA_PAPER_VOTERS, MS_OPEN, MS_OPEN}, {MA_PAPER, MS_OPEN, MS_OPEN},
        {MA_SLIPS, MS_OPEN, MS_OPEN},        {MA_CLOSE, MS_OPEN, MS_CLOSED}, {MA_CLOCK_CLOSE, MS_OPEN, MS_CLOSED},
    };
    for (int a = 0; a < MA__COUNT; a++)
        for (int s = 0; s <= MS_NEW; s++) {
            bool want = false;
            for (size_t i = 0; i < sizeof allowed / sizeof allowed[0]; i++)
                if (allowed[i].a == (motion_action_t)a && allowed[i].from == (motion_state_t)s) {
                    want = true;
                    assert_int_equal(motion_target((motion_action_t)a), allowed[i].to);
                }
            if (motion_allows((motion_action_t)a, (motion_state_t)s) != want)
                fail_msg("%s from %s: table says %d", motion_action_name((motion_action_t)a),
                         motion_state_name((motion_state_t)s), !want);
        }
    for (int a = 0; a < MA__COUNT; a++)
        assert_false(motion_allows((motion_action_t)a, MS_CLOSED)); /* never reopened */
    motion_action_t x;
    assert_false(motion_action_parse("clock_close", &x)); /* the clock's own: no command */
    assert_false(motion_action_parse("reopen", &x));
    assert_true(motion_action_parse("cast", &x));
    assert_int_equal(x, MA_CAST);
    assert_int_equal(motion_who(MA_CAST), BY_VOTER);
    answer_t r = motion_refusal(MA_CAST, MS_CLOSED);
    assert_int_equal(r.status, 409);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.body, "error"), "code")), "closed");
    json_decref(r.body);
    r = motion_refusal(MA_PROXY, MS_OPEN);
    assert_string_equal(json_string_value(json_object_get(json_object_get(r.body, "error"), "code")), "not_draft");
    json_decref(r.body);
}

static void credentials_and_trackers(void **state)
{
    (void)state;
    const char *alphabet = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    char c[CREDENTIAL_LEN + 1], seen[CREDENTIAL_LEN + 1] = "", t[TRACKER_LEN + 1], g[CREDENTIAL_LEN + 4], n[CREDENTIAL_LEN + 1];
    int hist[32] = {0};
    for (int i = 0; i < 2000; i++) {
        credential_new(c);
        assert_int_equal(strlen(c), CREDENTIAL_LEN);
        assert_int_equal(strspn(c, alphabet), CREDENTIAL_LEN);
        assert_string_not_equal(c, seen);
        snprintf(seen, sizeof seen, "%s", c);
        for (int k = 0; k < CREDENTIAL_LEN; k++)
            hist[strchr(alphabet, c[k]) - alphabet]++;
        tracker_new(t);
        assert_int_equal(strlen(t), TRACKER_LEN);
        assert_int_equal(strspn(t, alphabet), TRACKER_LEN);
    }
    for (int k = 0; k < 32; k++) /* 1000 expected per character: every one of the 32 is used */
        assert_true(hist[k] > 700 && hist[k] < 1300);
    credential_grouped("7KQ2M9XD4TRVPA3H", g);
    assert_string_equal(g, "7KQ2-M9XD-4TRV-PA3H");
    assert_true(credential_normalize("7kq2-m9xd-4trv-pa3h", n));
    assert_string_equal(n, "7KQ2M9XD4TRVPA3H");
    assert_true(credential_normalize("7KQ2 M9XD 4TRV PA3H", n));
    assert_false(credential_normalize("7KQ2-M9XD-4TRV-PA3", n));    /* 15 */
    assert_false(credential_normalize("7KQ2-M9XD-4TRV-PA3HH", n));  /* 17 */
    assert_false(credential_normalize("7KQ2-M9XD-4TRV-PA3I", n));   /* I is not in the alphabet */
    assert_false(credential_normalize("7KQ2-M9XD-4TRV-PAUH", n));   /* nor U */
    assert_false(credential_normalize("", n));
    char hex[65];
    credential_hash_hex("7KQ2M9XD4TRVPA3H", hex);
    assert_string_equal(hex, "dd5c6c8545e5ccad058f41836aa222309d47a02a06ffe8944817f38dd79a1400");
}

static void check(tally_kind_t kind, const char *def, const char *marks, const char *write_ins, bool ok)
{
    json_error_t je;
    char why[200];
    json_t *d = json_loads(def, 0, &je), *m = json_loads(marks, 0, &je), *w = write_ins ? json_loads(write_ins, 0, &je) : NULL;
    json_t *stored = ballot_def_check(kind, d, why, sizeof why);
    if (!stored)
        fail_msg("definition %s refused: %s", def, why);
    ballot_shape_t s;
    ballot_shape(kind, stored, &s);
    short out[BALLOT_MAX_OPTIONS];
    size_t n;
    bool got = ballot_marks_check(&s, m, w, out, &n, why, sizeof why);
    if (got != ok)
        fail_msg("%s %s %s: %s", def, marks, write_ins ? write_ins : "", got ? "taken" : why);
    json_decref(d);
    json_decref(m);
    json_decref(w);
    json_decref(stored);
}

static void marks_per_kind(void **state)
{
    (void)state;
    const char *res = "{}", *el = "{\"seats\":2,\"candidates\":[{\"name\":\"甲\"},{\"name\":\"乙\"},{\"name\":\"丙\"}],\"write_ins\":true}",
               *el_no = "{\"seats\":1,\"candidates\":[{\"name\":\"甲\"},{\"name\":\"乙\"}]}",
               *ev = "{\"scale\":\"satisfaction\",\"subjects\":[{\"name\":\"甲\",\"key\":\"s:1\"},{\"name\":\"乙\",\"key\":\"s:2\"}],\"year\":2026}",
               *se = "{\"nominees\":[{\"name\":\"一户\"},{\"name\":\"二户\"}]}";
    check(KIND_RESOLUTION, res, "[0]", NULL, true);
    check(KIND_RESOLUTION, res, "[2]", NULL, true);
    check(KIND_RESOLUTION, res, "[3]", NULL, false);
    check(KIND_RESOLUTION, res, "[-1]", NULL, false);
    check(KIND_RESOLUTION, res, "[0,1]", NULL, false);
    check(KIND_RESOLUTION, res, "[]", NULL, false);
    check(KIND_RESOLUTION, res, "[\"0\"]", NULL, false);
    check(KIND_RESOLUTION, res, "[0]", "[\"某\"]", false);
    check(KIND_ELECTION, el, "[]", NULL, true);              /* blank */
    check(KIND_ELECTION, el, "[2,0]", NULL, true);
    check(KIND_ELECTION, el, "[1]", "[\"丁\"]", true);
    check(KIND_ELECTION, el, "[0,1,2]", NULL, false);        /* more than seats */
    check(KIND_ELECTION, el, "[0,1]", "[\"丁\"]", false);
    check(KIND_ELECTION, el, "[1,1]", NULL, false);          /* twice */
    check(KIND_ELECTION, el, "[3]", NULL, false);
    check(KIND_ELECTION, el, "[]", "[\"丁\",\"丁\"]", false);
    check(KIND_ELECTION, el, "[]", "[\"\"]", false);
    check(KIND_ELECTION, el, "[]", "[\"a\\nb\"]", false);
    check(KIND_ELECTION, el_no, "[]", "[\"丁\"]", false);    /* the ballot takes no names */
    check(KIND_EVALUATION, ev, "[0,3]", NULL, true);
    check(KIND_EVALUATION, ev, "[0]", NULL, false);
    check(KIND_EVALUATION, ev, "[0,4]", NULL, false);
    check(KIND_SELECTION, se, "[0,2]", NULL, true);
    check(KIND_SELECTION, se, "[0,3]", NULL, false);
    check(KIND_SELECTION, se, "[0,1,2]", NULL, false);
    char why[200];
    json_error_t je;
    json_t *bad = json_loads("{\"seats\":0,\"candidates\":[{\"name\":\"甲\"}]}", 0, &je);
    assert_null(ballot_def_check(KIND_ELECTION, bad, why, sizeof why));
    json_decref(bad);
    bad = json_loads("{\"seats\":1,\"candidates\":[{\"name\":\"甲\"},{\"name\":\"甲\"}]}", 0, &je);
    assert_null(ballot_def_check(KIND_ELECTION, bad, why, sizeof why)); /* the same name twice */
    json_decref(bad);
    bad = json_loads("{\"nominees\":[{\"name\":\"一户\",\"phone\":\"13800000000\"}]}", 0, &je);
    assert_null(ballot_def_check(KIND_SELECTION, bad, why, sizeof why));
    json_decref(bad);
}

static void ballot_hash_and_literals(void **state)
{
    (void)state;
    json_error_t je;
    json_t *wi = json_loads("[\"张三\",\"李四\"]", 0, &je);
    short m[] = {0, 2};
    char hex[65];
    /* python3: hashlib.sha256('gridgov-ballot-v2\nM2026-000001\n0b7f…4a5b\n0,2\n张三\n李四'.encode()): no tracker */
    ballot_hash_hex("M2026-000001", "0b7f2a9e-1c3d-4e5f-8a9b-0c1d2e3f4a5b", m, 2, wi, hex);
    assert_string_equal(hex, "dd0679a72a454c852a424f1641f61de6543c877ea2f9eee6bb0b9e38bd63cacb");
    ballot_hash_hex("M2026-000001", "0b7f2a9e-1c3d-4e5f-8a9b-0c1d2e3f4a5b", m, 0, NULL, hex);
    assert_string_equal(hex, "ccd7b4c45685c8b5ed640323aeac7432cdb1ae67c2a4bffded8b8cc3840bd0c8");
    char lit[64];
    assert_true(ballot_marks_sql(m, 2, lit, sizeof lit));
    assert_string_equal(lit, "{0,2}");
    assert_true(ballot_marks_sql(m, 0, lit, sizeof lit));
    assert_string_equal(lit, "{}");
    assert_false(ballot_marks_sql(m, 2, lit, 4));
    json_t *q = json_loads("[\"a\\\"b\",\"c\\\\d\",\"e,f\"]", 0, &je);
    assert_true(ballot_names_sql(q, lit, sizeof lit));
    assert_string_equal(lit, "{\"a\\\"b\",\"c\\\\d\",\"e,f\"}");
    json_decref(q);
    json_decref(wi);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(motion_table_never_goes_back),
        cmocka_unit_test(credentials_and_trackers),
        cmocka_unit_test(marks_per_kind),
        cmocka_unit_test(ballot_hash_and_literals),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
