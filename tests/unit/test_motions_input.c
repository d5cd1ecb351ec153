/* motions_input (services/intake/motions_input.h): credentials and trackers as typed, codes and
 * trackers as cursor numbers and back, and the body checks at their bounds (one inside, one past). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <string.h>

#include "motions_input.h"

static void credentials_are_normalised_or_refused(void **state)
{
    (void)state;
    char out[MOTIONS_CREDENTIAL_LEN + 1];
    assert_true(motions_credential_normalise("7KQ2-M9XD-4TRV-PA3H", out));
    assert_string_equal(out, "7KQ2M9XD4TRVPA3H");
    assert_true(motions_credential_normalise("7kq2 m9xd 4trv pa3h", out));
    assert_string_equal(out, "7KQ2M9XD4TRVPA3H");
    assert_true(motions_credential_normalise("--7KQ2M9XD4TRVPA3H--", out));
    static const char *const bad[] = {"", "7KQ2-M9XD-4TRV-PA3", "7KQ2-M9XD-4TRV-PA3HX", "7KQ2-M9XD-4TRV-PA3U",
                                      "IKQ2-M9XD-4TRV-PA3H", "OKQ2-M9XD-4TRV-PA3H", "LKQ2-M9XD-4TRV-PA3H",
                                      "7KQ2_M9XD_4TRV_PA3H", "7KQ2-M9XD-4TRV-PA3H\n", "7KQ2M9XD4TRVPA3H7KQ2M9XD4TRVPA3H"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_false(motions_credential_normalise(bad[i], out));
}

static void trackers_and_codes_round_trip(void **state)
{
    (void)state;
    char t[MOTIONS_TRACKER_LEN + 1], back[MOTIONS_TRACKER_LEN + 1];
    static const char *const trackers[] = {"0000000000", "0000000001", "7KQ2M9XD4P", "ZZZZZZZZZZ"};
    long long prev = -1;
    for (size_t i = 0; i < sizeof trackers / sizeof trackers[0]; i++) {
        assert_true(motions_tracker_normalise(trackers[i], t));
        long long n = motions_tracker_number(t);
        assert_true(n > prev); /* the number keeps the text's order */
        prev = n;
        motions_tracker_text(n, back);
        assert_string_equal(back, trackers[i]);
    }
    assert_int_equal(motions_tracker_number("ZZZZZZZZZZ"), (1LL << 50) - 1);
    assert_true(motions_tracker_normalise("7kq2m9xd4p", t));
    assert_string_equal(t, "7KQ2M9XD4P");
    assert_false(motions_tracker_normalise("7KQ2M9XD4", t));
    assert_false(motions_tracker_normalise("7KQ2M9XD4U", t));
    motions_tracker_text(-5, back); /* a forged cursor: some tracker, nothing more */
    assert_true(motions_tracker_normalise(back, t));

    char code[16];
    assert_int_equal(motions_code_number("M2026-000123"), 2026000123LL);
    motions_code_text(2026000123LL, code);
    assert_string_equal(code, "M2026-000123");
    static const char *const bad[] = {"M2026-00012", "m2026-000123", "M2026000123", "M2026-0001234", "M20a6-000123", ""};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++)
        assert_int_equal(motions_code_number(bad[i]), -1);
}

static void check(motions_action_t a, const char *kind, const char *body, bool ok, const char *field)
{
    json_error_t je;
    json_t *b = json_loads(body, 0, &je);
    assert_non_null(b);
    input_error_t e = {0};
    bool got = motions_input_check(a, kind, b, &e);
    if (got != ok)
        fail_msg("%s: %s (%s)", body, got ? "passed" : "refused", e.message);
    if (!ok) {
        assert_int_equal(e.status, 400);
        assert_string_equal(e.field, field);
    }
    json_decref(b);
}

static void bodies_at_their_bounds(void **state)
{
    (void)state;
    char name40[200] = "", name41[200] = "", body[400];
    for (int i = 0; i < 40; i++)
        strcat(name40, "名");
    strcat(strcpy(name41, name40), "名");
    snprintf(body, sizeof body, "{\"principal\":1,\"holder\":2}");
    check(MOTIONS_PROXY, NULL, body, true, NULL);
    check(MOTIONS_PROXY, NULL, "{\"principal\":0,\"holder\":2}", false, "principal");
    check(MOTIONS_PROXY, NULL, "{\"principal\":9007199254740992,\"holder\":2}", false, "principal");
    snprintf(body, sizeof body, "{\"credential\":\"x\",\"marks\":[0],\"write_ins\":[\"%s\"]}", name40);
    check(MOTIONS_CAST, NULL, body, true, NULL);
    snprintf(body, sizeof body, "{\"credential\":\"x\",\"marks\":[0],\"write_ins\":[\"%s\"]}", name41);
    check(MOTIONS_CAST, NULL, body, false, "write_ins[0]");
    check(MOTIONS_CAST, NULL, "{\"credential\":\"x\",\"marks\":[32767]}", true, NULL);
    check(MOTIONS_CAST, NULL, "{\"credential\":\"x\",\"marks\":[32768]}", false, "marks[0]");
    check(MOTIONS_CAST, NULL, "{\"credential\":\"x\",\"marks\":[],\"write_ins\":[\"a\\u0007b\"]}", false, "write_ins[0]");
    check(MOTIONS_OPEN, NULL, "{}", true, NULL);
    check(MOTIONS_OPEN, NULL, "{\"closes_at\":\"2026-12-20T18:00:00+08:00\"}", true, NULL);
    check(MOTIONS_OPEN, NULL, "{\"closes_at\":\"0000-01-01T00:00:00Z\"}", false, "closes_at");
    check(MOTIONS_SLIPS, NULL, "{}", true, NULL);
    check(MOTIONS_SLIPS, NULL, "{\"voters\":[]}", false, "voters");
    /* paper counts per kind */
    const char *tell = "\"box\":\"一\",\"tellers\":[\"甲\",\"乙\",\"丙\"],\"ballots\":3,\"invalid\":0";
    snprintf(body, sizeof body, "{%s,\"counts\":{\"options\":[1,1,1]}}", tell);
    check(MOTIONS_PAPER, "resolution", body, true, NULL);
    check(MOTIONS_PAPER, "election", body, false, "counts.options");
    snprintf(body, sizeof body, "{%s,\"counts\":{\"candidates\":[2,1],\"write_ins\":{\"王五\":1},\"blank\":0}}", tell);
    check(MOTIONS_PAPER, "election", body, true, NULL);
    snprintf(body, sizeof body, "{%s,\"counts\":{\"candidates\":[2,1],\"write_ins\":{\"王五\":-1}}}", tell);
    check(MOTIONS_PAPER, "election", body, false, "counts.write_ins");
    snprintf(body, sizeof body, "{%s,\"counts\":{\"subjects\":[[1,1,1,0],[3,0,0,0]]}}", tell);
    check(MOTIONS_PAPER, "evaluation", body, true, NULL);
    snprintf(body, sizeof body, "{%s,\"counts\":{\"subjects\":[[1,1,1]]}}", tell);
    check(MOTIONS_PAPER, "evaluation", body, false, "counts.subjects[0]");
    snprintf(body, sizeof body, "{%s,\"counts\":{\"nominees\":[[1,1,1]]}}", tell);
    check(MOTIONS_PAPER, "selection", body, true, NULL);
    /* a runoff may leave its candidates to tally, and its ballot too */
    const char *head = "\"group\":\"430121-101-03-05\",\"kind\":\"election\",\"title\":\"另行选举\",\"electorate\":\"adult\","
                       "\"rule_set\":\"cn-2018\"";
    snprintf(body, sizeof body, "{%s,\"runoff_of\":\"M2026-000001\"}", head);
    check(MOTIONS_CREATE, NULL, body, true, NULL);
    snprintf(body, sizeof body, "{%s,\"runoff_of\":\"M2026-000001\",\"ballot\":{\"seats\":1}}", head);
    check(MOTIONS_CREATE, NULL, body, true, NULL);
    snprintf(body, sizeof body, "{%s,\"ballot\":{\"seats\":1}}", head);
    check(MOTIONS_CREATE, NULL, body, false, "ballot.candidates");
    snprintf(body, sizeof body, "{%s}", head);
    check(MOTIONS_CREATE, NULL, body, false, "ballot");
    /* a resolution without a ballot gets tally's default choices */
    check(MOTIONS_CREATE, NULL,
          "{\"group\":\"430121-101-03-05\",\"kind\":\"resolution\",\"title\":\"修路\",\"electorate\":\"household\","
          "\"rule_set\":\"cn-2018\"}",
          true, NULL);
    snprintf(body, sizeof body, "{%s,\"ballot\":{\"seats\":201,\"candidates\":[]}}", head);
    check(MOTIONS_CREATE, NULL, body, false, "ballot.seats");
    snprintf(body, sizeof body, "{%s,\"runoff_of\":\"2026-1\"}", head);
    check(MOTIONS_CREATE, NULL, body, false, "runoff_of");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(credentials_are_normalised_or_refused),
        cmocka_unit_test(trackers_and_codes_round_trip),
        cmocka_unit_test(bodies_at_their_bounds),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
