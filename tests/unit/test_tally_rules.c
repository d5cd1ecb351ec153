/* tally's rules (services/tally/rules.c): the shipped rule sets, and the law's thresholds at
 * their boundaries. Every table row names the count one below, at and above each bound. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "services/tally/rules.h"

#define N_(a) (sizeof(a) / sizeof((a)[0]))

/* ---- helpers ---- */

static const char *rules_dir(void)
{
    static char path[4096];
    const char *top = getenv("GRIDGOV_TOP");
    snprintf(path, sizeof path, "%s/deploy/tally/rules", top && *top ? top : ".");
    return path;
}

static json_t *load_body(const char *code)
{
    char path[4200];
    snprintf(path, sizeof path, "%s/%s.json", rules_dir(), code);
    json_error_t je;
    json_t *body = json_load_file(path, 0, &je);
    if (!body) {
        print_error("%s: %s (line %d)\n", path, je.text, je.line);
        fail();
    }
    return body;
}

static rules_t *parse_or_fail(const json_t *body)
{
    char err[256] = "";
    rules_t *r = rules_parse(body, err, sizeof err);
    if (!r) {
        print_error("rules_parse: %s\n", err);
        fail();
    }
    return r;
}

static rules_t *load(const char *code)
{
    json_t *body = load_body(code);
    rules_t *r = parse_or_fail(body);
    json_decref(body);
    return r;
}

/* cn-2018 with one option changed. */
static rules_t *cn_with(const char *option, json_t *value)
{
    json_t *body = load_body("cn-2018");
    json_t *o = json_object_get(json_object_get(body, "options"), option);
    assert_non_null(o);
    assert_int_equal(json_object_set_new(o, "value", value), 0);
    rules_t *r = parse_or_fail(body);
    json_decref(body);
    return r;
}

static int setup_cn(void **state)
{
    *state = load("cn-2018");
    return 0;
}

static int teardown_rules(void **state)
{
    rules_t *r = *state;
    rules_destroy(&r);
    return 0;
}

static json_t *decide(const rules_t *r, const tally_in_t *in)
{
    char err[256] = "";
    json_t *res = rules_decide(r, in, err, sizeof err);
    if (!res) {
        print_error("rules_decide: %s\n", err);
        fail();
    }
    return res;
}

static const char *outcome(const json_t *res)
{
    return json_string_value(json_object_get(res, "outcome"));
}

/* The n-th (0-based) entry of "rules" with this name (and subject, when given). */
static json_t *rule_at(const json_t *res, const char *name, const char *subject, int nth)
{
    size_t i;
    json_t *e;
    json_array_foreach(json_object_get(res, "rules"), i, e) {
        if (strcmp(json_string_value(json_object_get(e, "rule")), name) != 0)
            continue;
        const char *s = json_string_value(json_object_get(e, "subject"));
        if (subject && (!s || strcmp(s, subject) != 0))
            continue;
        if (nth-- == 0)
            return e;
    }
    return NULL;
}

/* The rule was applied with exactly this integer test and this answer, and carries its cite. */
static void assert_rule(const json_t *res, const char *name, const char *subject, const char *test, bool met)
{
    json_t *e = rule_at(res, name, subject, 0);
    if (!e) {
        char *dump = json_dumps(json_object_get(res, "rules"), JSON_INDENT(1));
        print_error("rule %s (%s) not applied; rules: %s\n", name, subject ? subject : "-", dump);
        free(dump);
        fail();
    }
    const char *got = json_string_value(json_object_get(e, "test"));
    if (test && strcmp(got, test) != 0) {
        print_error("rule %s (%s): test \"%s\", want \"%s\"\n", name, subject ? subject : "-", got, test);
        fail();
    }
    assert_int_equal(json_is_true(json_object_get(e, "met")), met);
    const char *cite = json_string_value(json_object_get(e, "cite"));
    assert_non_null(cite);
    assert_true(strlen(cite) > 10);
}

static void assert_no_rule(const json_t *res, const char *name)
{
    assert_null(rule_at(res, name, NULL, 0));
}

static void assert_outcome(const json_t *res, const char *want)
{
    const char *got = outcome(res);
    if (!got || strcmp(got, want) != 0) {
        char *dump = json_dumps(res, JSON_INDENT(1));
        print_error("outcome \"%s\", want \"%s\"; result: %s\n", got ? got : "(none)", want, dump);
        free(dump);
        fail();
    }
}

/* The names in a list of {"name", "votes"} objects, joined by ",". */
static const char *names_of(const json_t *list, char *buf, size_t bufsz)
{
    size_t i, off = 0;
    json_t *e;
    buf[0] = 0;
    json_array_foreach(list, i, e) {
        int n = snprintf(buf + off, bufsz - off, "%s%s", i ? "," : "", json_string_value(json_object_get(e, "name")));
        off += (size_t)n;
    }
    return buf;
}

static void assert_names(const json_t *list, const char *want)
{
    char buf[512];
    assert_non_null(list);
    assert_string_equal(names_of(list, buf, sizeof buf), want);
}

/* ---- the shipped files ---- */

static const char *const THRESHOLDS[] = {"meeting_quorum", "meeting_decision", "election_validity",
                                         "election_win", "runoff_win", "evaluation_unfit",
                                         "evaluation_excellent"};
static const char *const OPTIONS[] = {"proxy_cap", "proxies_allowed", "write_ins_allowed", "min_tellers",
                                      "ballots_exceed_voters_void", "overmarked_invalid",
                                      "invalid_in_denominator", "candidates_exceed_seats", "tie",
                                      "runoff_extra_candidates", "two_year_unfit_flag"};

static void every_rule_file_parses_and_cites_its_source(void **state)
{
    (void)state;
    DIR *dir = opendir(rules_dir());
    assert_non_null(dir);
    int files = 0, wanted = 0;
    struct dirent *de;
    while ((de = readdir(dir))) {
        size_t len = strlen(de->d_name);
        if (len < 6 || strcmp(de->d_name + len - 5, ".json") != 0)
            continue;
        char code[64];
        snprintf(code, sizeof code, "%.*s", (int)(len - 5), de->d_name);
        json_t *body = load_body(code);
        rules_t *r = parse_or_fail(body);
        /* the file is named by its code: a motion names the code, tally finds the file */
        assert_string_equal(json_string_value(json_object_get(body, "code")), code);
        for (size_t i = 0; i < N_(THRESHOLDS) + N_(OPTIONS); i++) {
            const char *name = i < N_(THRESHOLDS) ? THRESHOLDS[i] : OPTIONS[i - N_(THRESHOLDS)];
            const char *cite = rules_cite(r, name);
            /* a cite quotes its text (“…”) or says it is a summary, and names an article or
             * marks a local source */
            if (!cite || !(strstr(cite, "“") || strstr(cite, "摘述")) ||
                !(strstr(cite, "第") || strstr(cite, "[LOCAL]"))) {
                print_error("%s: %s: cite \"%s\"\n", code, name, cite ? cite : "(none)");
                fail();
            }
        }
        /* local (sub-provincial) sources are marked as such */
        assert_non_null(strstr(rules_cite(r, "evaluation_excellent"), "[LOCAL]"));
        /* the national law's numbers are the same in every set: provinces add details only */
        assert_true(rules_threshold_met(r, "meeting_quorum", 20, 30));
        assert_false(rules_threshold_met(r, "meeting_quorum", 19, 30));
        assert_true(rules_threshold_met(r, "meeting_decision", 11, 20));
        assert_false(rules_threshold_met(r, "meeting_decision", 10, 20));
        assert_true(rules_threshold_met(r, "runoff_win", 10, 30));
        assert_false(rules_threshold_met(r, "runoff_win", 9, 30));
        assert_int_equal(rules_option_int(r, "proxy_cap"), 3);
        assert_true(rules_option_int(r, "min_tellers") >= 3);
        if (!strcmp(code, "cn-2018") || !strcmp(code, "beijing-2012") || !strcmp(code, "shanghai-2020") ||
            !strcmp(code, "zhejiang-2020"))
            wanted++;
        rules_destroy(&r);
        json_decref(body);
        files++;
    }
    closedir(dir);
    assert_int_equal(wanted, 4);
    assert_true(files >= 4);
}

static void cn_2018_cites_the_organic_law_and_the_civil_code(void **state)
{
    const rules_t *r = *state;
    assert_non_null(strstr(rules_cite(r, "meeting_quorum"), "第二十八条"));
    assert_non_null(strstr(rules_cite(r, "meeting_quorum"), "三分之二以上"));
    assert_non_null(strstr(rules_cite(r, "meeting_quorum"), "第一千二百五十九条"));
    assert_non_null(strstr(rules_cite(r, "meeting_decision"), "到会人员的过半数同意"));
    assert_non_null(strstr(rules_cite(r, "election_validity"), "有登记参加选举的村民过半数投票，选举有效"));
    assert_non_null(strstr(rules_cite(r, "election_win"), "参加投票的村民过半数的选票"));
    assert_non_null(strstr(rules_cite(r, "runoff_win"), "不得少于已投选票总数的三分之一"));
    assert_non_null(strstr(rules_cite(r, "two_year_unfit_flag"), "连续两次被评议不称职的"));
    assert_non_null(strstr(rules_cite(r, "candidates_exceed_seats"), "候选人的名额应当多于应选名额"));
    assert_true(rules_option_bool(r, "proxies_allowed"));
    assert_true(rules_option_bool(r, "ballots_exceed_voters_void"));
    assert_true(rules_option_bool(r, "invalid_in_denominator"));
    assert_int_equal(rules_option_int(r, "runoff_extra_candidates"), 1);
    /* Beijing's 废票计入选票总数 is cited where it sets the denominator */
    rules_t *bj = load("beijing-2012");
    assert_non_null(strstr(rules_cite(bj, "invalid_in_denominator"), "废票计入选票总数"));
    assert_non_null(strstr(rules_cite(bj, "proxy_cap"), "每一村民接受委托投票不得超过三人"));
    rules_destroy(&bj);
    /* unknown names answer nothing */
    assert_null(rules_cite(r, "no_such_rule"));
    assert_false(rules_threshold_met(r, "no_such_rule", 1, 1));
    assert_false(rules_option_bool(r, "no_such_rule"));
    assert_int_equal(rules_option_int(r, "no_such_rule"), 0);
}

/* ---- each threshold at its bound ---- */

typedef struct {
    const char *name;
    int64_t x, n;
    bool met;
} bound_t;

static void thresholds_at_their_bounds(void **state)
{
    const rules_t *r = *state;
    static const bound_t rows[] = {
        /* 三分之二以上 (≥): 30 households need 20; 31 need 21 (2/3 of 31 is 20.67) */
        {"meeting_quorum", 19, 30, false}, {"meeting_quorum", 20, 30, true}, {"meeting_quorum", 21, 30, true},
        {"meeting_quorum", 20, 31, false}, {"meeting_quorum", 21, 31, true}, {"meeting_quorum", 2, 3, true},
        /* 过半数 (>): 20 present need 11; 21 need 11 */
        {"meeting_decision", 10, 20, false}, {"meeting_decision", 11, 20, true}, {"meeting_decision", 10, 21, false},
        {"meeting_decision", 11, 21, true}, {"meeting_decision", 1, 1, true}, {"meeting_decision", 0, 1, false},
        /* election valid: more than half of the registered voted */
        {"election_validity", 15, 30, false}, {"election_validity", 16, 30, true}, {"election_validity", 15, 29, true},
        {"election_validity", 14, 29, false},
        /* winning: more than half of the ballots */
        {"election_win", 15, 30, false}, {"election_win", 16, 30, true},
        /* runoff: 不得少于三分之一 (≥) */
        {"runoff_win", 9, 30, false}, {"runoff_win", 10, 30, true}, {"runoff_win", 10, 31, false},
        {"runoff_win", 11, 31, true},
        /* evaluation: 50%以上 unfit, 90%以上 excellent (both inclusive) */
        {"evaluation_unfit", 4, 10, false}, {"evaluation_unfit", 5, 10, true}, {"evaluation_unfit", 5, 11, false},
        {"evaluation_unfit", 6, 11, true},
        {"evaluation_excellent", 8, 10, false}, {"evaluation_excellent", 9, 10, true},
        {"evaluation_excellent", 17, 19, false}, {"evaluation_excellent", 18, 20, true},
        /* an empty base is never met, even at 0 of 0 */
        {"runoff_win", 0, 0, false}, {"evaluation_unfit", 0, 0, false}, {"meeting_quorum", 0, 0, false},
        /* the largest counts accepted compute without overflow */
        {"meeting_quorum", INT64_C(666666666666), INT64_C(1000000000000), false},
        {"meeting_quorum", INT64_C(666666666667), INT64_C(1000000000000), true},
        {"meeting_decision", INT64_C(500000000000), INT64_C(1000000000000), false},
        {"meeting_decision", INT64_C(500000000001), INT64_C(1000000000000), true},
        /* beyond the bound, or negative: refused (false), never wrapped */
        {"meeting_decision", INT64_C(4000000000000000000), INT64_C(4000000000000000001), false},
        {"meeting_decision", INT64_MAX, 3, false}, {"meeting_decision", -5, 3, false},
        {"meeting_decision", 3, -5, false},
    };
    for (size_t i = 0; i < N_(rows); i++) {
        bool got = rules_threshold_met(r, rows[i].name, rows[i].x, rows[i].n);
        if (got != rows[i].met) {
            print_error("row %zu: %s %lld of %lld gave %d\n", i, rows[i].name, (long long)rows[i].x,
                        (long long)rows[i].n, got);
            fail();
        }
    }
}

/* ---- resolutions ---- */

typedef struct {
    int64_t roll, voters, ballots, invalid, yes, no, abstain;
    const char *outcome;
    const char *quorum_test;
    bool quorum_met;
    const char *decision_test;   /* NULL: not applied */
    bool decision_met;
} res_row_t;

static void resolution_boundary_table(void **state)
{
    const rules_t *r = *state;
    static const res_row_t rows[] = {
        /* 30 households: 20 present is a quorum, 19 is not */
        {30, 20, 20, 0, 11, 9, 0, "adopted", "3 × 20 ≥ 2 × 30", true, "2 × 11 > 1 × 20", true},
        {30, 19, 19, 0, 19, 0, 0, "no_quorum", "3 × 19 ≥ 2 × 30", false, NULL, false},
        /* 20 present: 11 yes adopts, 10 does not (whatever the rest chose) */
        {30, 20, 20, 0, 10, 10, 0, "rejected", "3 × 20 ≥ 2 × 30", true, "2 × 10 > 1 × 20", false},
        {30, 20, 20, 0, 10, 1, 9, "rejected", "3 × 20 ≥ 2 × 30", true, "2 × 10 > 1 × 20", false},
        {30, 20, 20, 0, 11, 0, 9, "adopted", "3 × 20 ≥ 2 × 30", true, "2 × 11 > 1 × 20", true},
        /* abstentions and invalid ballots count as present, never as yes */
        {30, 20, 20, 2, 10, 8, 0, "rejected", "3 × 20 ≥ 2 × 30", true, "2 × 10 > 1 × 20", false},
        {30, 20, 20, 2, 11, 7, 0, "adopted", "3 × 20 ≥ 2 × 30", true, "2 × 11 > 1 × 20", true},
        /* a voter who took a paper ballot and returned none is still present */
        {30, 20, 19, 0, 10, 9, 0, "rejected", "3 × 20 ≥ 2 × 30", true, "2 × 10 > 1 × 20", false},
        /* 31 households: 21 needed */
        {31, 20, 20, 0, 20, 0, 0, "no_quorum", "3 × 20 ≥ 2 × 31", false, NULL, false},
        {31, 21, 21, 0, 11, 10, 0, "adopted", "3 × 21 ≥ 2 × 31", true, "2 × 11 > 1 × 21", true},
        /* everyone present, all yes; nobody present */
        {30, 30, 30, 0, 30, 0, 0, "adopted", "3 × 30 ≥ 2 × 30", true, "2 × 30 > 1 × 30", true},
        {30, 0, 0, 0, 0, 0, 0, "no_quorum", "3 × 0 ≥ 2 × 30", false, NULL, false},
    };
    for (size_t i = 0; i < N_(rows); i++) {
        const res_row_t *w = &rows[i];
        int64_t opts[3] = {w->yes, w->no, w->abstain};
        tally_in_t in = {.kind = KIND_RESOLUTION, .roll = w->roll, .voters = w->voters, .ballots = w->ballots,
                         .invalid = w->invalid, .n_options = 3, .options = opts};
        json_t *res = decide(r, &in);
        print_message("row %zu\n", i);
        assert_outcome(res, w->outcome);
        assert_rule(res, "ballots_exceed_voters_void", NULL, NULL, true);
        assert_rule(res, "meeting_quorum", NULL, w->quorum_test, w->quorum_met);
        if (w->decision_test)
            assert_rule(res, "meeting_decision", NULL, w->decision_test, w->decision_met);
        else
            assert_no_rule(res, "meeting_decision");
        json_decref(res);
    }
}

static void result_has_counts_turnout_and_rules_in_order(void **state)
{
    const rules_t *r = *state;
    int64_t opts[3] = {11, 6, 2};
    tally_in_t in = {.kind = KIND_RESOLUTION, .roll = 30, .voters = 20, .ballots = 20, .invalid = 1,
                     .n_options = 3, .options = opts};
    json_t *res = decide(r, &in);
    assert_outcome(res, "adopted");
    assert_int_equal(json_integer_value(json_object_get(res, "roll")), 30);
    assert_int_equal(json_integer_value(json_object_get(res, "voters")), 20);
    assert_int_equal(json_integer_value(json_object_get(res, "ballots")), 20);
    assert_int_equal(json_integer_value(json_object_get(res, "invalid")), 1);
    assert_int_equal(json_integer_value(json_object_get(res, "valid")), 19);
    json_t *t = json_object_get(res, "turnout");
    assert_int_equal(json_integer_value(json_object_get(t, "voters")), 20);
    assert_int_equal(json_integer_value(json_object_get(t, "roll")), 30);
    assert_int_equal(json_integer_value(json_object_get(t, "permille")), 666);   /* floor, not rounded */
    json_t *o = json_object_get(json_object_get(res, "counts"), "options");
    assert_int_equal(json_array_size(o), 3);
    assert_int_equal(json_integer_value(json_array_get(o, 0)), 11);
    assert_int_equal(json_integer_value(json_array_get(o, 2)), 2);
    json_t *rules = json_object_get(res, "rules");
    assert_int_equal(json_array_size(rules), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(rules, 0), "rule")), "ballots_exceed_voters_void");
    assert_string_equal(json_string_value(json_object_get(json_array_get(rules, 1), "rule")), "meeting_quorum");
    assert_string_equal(json_string_value(json_object_get(json_array_get(rules, 2), "rule")), "meeting_decision");
    assert_string_equal(json_string_value(json_object_get(json_array_get(rules, 1), "cite")), rules_cite(r, "meeting_quorum"));
    json_decref(res);
}

static void more_ballots_than_voters_void_the_round(void **state)
{
    const rules_t *r = *state;
    int64_t opts[3] = {21, 0, 0};
    tally_in_t in = {.kind = KIND_RESOLUTION, .roll = 30, .voters = 20, .ballots = 21, .invalid = 0,
                     .n_options = 3, .options = opts};
    json_t *res = decide(r, &in);
    assert_outcome(res, "void");
    assert_rule(res, "ballots_exceed_voters_void", NULL, "ballots 21 ≤ voters 20", false);
    assert_no_rule(res, "meeting_quorum");
    json_decref(res);

    /* an election: 31 ballots from 30 voters void it; 30 do not */
    int64_t votes[2] = {20, 10};
    const char *names[2] = {"甲", "乙"};
    tally_in_t el = {.kind = KIND_ELECTION, .roll = 40, .voters = 30, .ballots = 31, .n_options = 2,
                     .options = votes, .names = names, .seats = 1, .blank = 1};
    res = decide(r, &el);
    assert_outcome(res, "void");
    assert_rule(res, "ballots_exceed_voters_void", NULL, "ballots 31 ≤ voters 30", false);
    assert_null(json_object_get(res, "elected"));
    json_decref(res);
    el.ballots = 30;
    el.blank = 0;
    res = decide(r, &el);
    assert_outcome(res, "elected");
    assert_rule(res, "ballots_exceed_voters_void", NULL, "ballots 30 ≤ voters 30", true);
    json_decref(res);

    /* a rule set without the rule counts them */
    rules_t *lax = cn_with("ballots_exceed_voters_void", json_false());
    el.ballots = 31;
    el.blank = 1;
    res = decide(lax, &el);
    assert_outcome(res, "elected");
    assert_no_rule(res, "ballots_exceed_voters_void");
    assert_rule(res, "election_win", "甲", "2 × 20 > 1 × 31", true);
    json_decref(res);
    rules_destroy(&lax);
}

/* ---- elections ---- */

typedef struct {
    const char *label;
    bool runoff;
    int64_t roll, voters, ballots, invalid, blank, seats;
    int64_t votes[7];            /* 甲 乙 丙 丁 戊 己, -1 ends */
    const char *outcome;
    const char *elected;         /* names joined by "," in order of votes */
    const char *tie;             /* NULL: no tie */
    int64_t runoff_seats;        /* 0: no runoff list */
    const char *runoff_names;
} el_row_t;

static const char *const CANDIDATES[6] = {"甲", "乙", "丙", "丁", "戊", "己"};

static void check_election(const rules_t *r, const el_row_t *w)
{
    size_t n = 0;
    while (n < 6 && w->votes[n] >= 0)
        n++;
    tally_in_t in = {.kind = KIND_ELECTION, .runoff = w->runoff, .roll = w->roll, .voters = w->voters,
                     .ballots = w->ballots, .invalid = w->invalid, .n_options = n, .options = w->votes,
                     .names = CANDIDATES, .seats = w->seats, .blank = w->blank};
    print_message("%s\n", w->label);
    json_t *res = decide(r, &in);
    assert_outcome(res, w->outcome);
    if (w->elected)
        assert_names(json_object_get(res, "elected"), w->elected);
    else
        assert_null(json_object_get(res, "elected"));
    if (w->tie)
        assert_names(json_object_get(res, "tie"), w->tie);
    else
        assert_null(json_object_get(res, "tie"));
    json_t *ro = json_object_get(res, "runoff");
    if (w->runoff_seats) {
        assert_int_equal(json_integer_value(json_object_get(ro, "seats")), w->runoff_seats);
        assert_names(json_object_get(ro, "candidates"), w->runoff_names);
    } else {
        assert_null(ro);
    }
    json_decref(res);
}

static void election_boundary_table(void **state)
{
    const rules_t *r = *state;
    static const el_row_t rows[] = {
        /* validity: exactly half of the registered voting is not enough, half + 1 is */
        {"validity: 15 of 30", false, 30, 15, 15, 0, 0, 1, {15, 0, -1}, "invalid_round", NULL, NULL, 0, NULL},
        {"validity: 16 of 30", false, 30, 16, 16, 0, 0, 1, {16, 0, -1}, "elected", "甲", NULL, 0, NULL},
        /* winning: exactly half of the ballots is not enough, half + 1 is */
        {"win: 15 of 30", false, 40, 30, 30, 0, 1, 1, {15, 14, -1}, "partly_elected", "", NULL, 1, "甲,乙"},
        {"win: 16 of 30", false, 40, 30, 30, 0, 0, 1, {16, 14, -1}, "elected", "甲", NULL, 0, NULL},
        /* invalid ballots stay in the denominator (cn-2018: 参加投票的村民): 16 of 31 ballots wins,
         * 15 of 30 with one invalid does not */
        {"win with invalid: 16 of 31", false, 40, 31, 31, 1, 0, 1, {16, 14, -1}, "elected", "甲", NULL, 0, NULL},
        {"win with invalid: 15 of 30", false, 40, 30, 30, 1, 0, 1, {15, 14, -1}, "partly_elected", "", NULL, 1, "甲,乙"},
        /* most votes among those over the threshold fill the seats */
        {"3 over for 2 seats", false, 40, 30, 30, 0, 0, 2, {20, 19, 16, 5, -1}, "elected", "甲,乙", NULL, 0, NULL},
        /* a tie at the last seat among those over the threshold: re-vote; the one above is elected */
        {"tie at the last seat", false, 40, 30, 30, 0, 0, 2, {20, 18, 18, 4, -1}, "tie", "甲", "乙,丙", 1, "乙,丙"},
        {"tie for the last of three seats", false, 40, 30, 30, 0, 0, 3, {25, 20, 16, 16, 3, -1}, "tie", "甲,乙", "丙,丁", 1, "丙,丁"},
        {"three tied for two seats", false, 40, 30, 30, 0, 0, 2, {17, 17, 17, -1}, "tie", "", "甲,乙,丙", 2, "甲,乙,丙"},
        /* equal votes that all fit the seats are no tie */
        {"equal votes within the seats", false, 40, 30, 30, 0, 0, 3, {20, 20, 18, 3, -1}, "elected", "甲,乙,丙", NULL, 0, NULL},
        /* equal votes under the threshold are no tie either: a runoff, ties at its cut included */
        {"tie under the threshold", false, 40, 30, 30, 0, 0, 1, {15, 15, -1}, "partly_elected", "", NULL, 1, "甲,乙"},
        {"runoff cut with a tie", false, 40, 30, 30, 0, 0, 1, {14, 8, 8, 0, -1}, "partly_elected", "", NULL, 1, "甲,乙,丙"},
        /* seats left open: the unelected with the most votes, open seats + 1 of them */
        {"one seat open of three", false, 40, 30, 30, 0, 0, 3, {20, 16, 12, 10, 5, -1}, "partly_elected", "甲,乙", NULL, 1, "丙,丁"},
        {"two seats open of three", false, 40, 30, 30, 0, 0, 3, {20, 15, 12, 10, 5, 3, -1}, "partly_elected", "甲", NULL, 2, "乙,丙,丁"},
        {"fewer unelected than wanted", false, 40, 30, 30, 0, 0, 2, {20, 15, -1}, "partly_elected", "甲", NULL, 1, "乙"},
        /* runoff round: most votes win with ≥ 1/3 of the ballots (inclusive) */
        {"runoff: exactly 1/3", true, 40, 30, 30, 0, 3, 1, {10, 9, 8, -1}, "elected", "甲", NULL, 0, NULL},
        {"runoff: just under 1/3", true, 40, 30, 30, 0, 6, 1, {9, 8, 7, -1}, "partly_elected", "", NULL, 1, "甲,乙"},
        {"runoff: 1/3 of 31", true, 40, 31, 31, 0, 4, 1, {10, 9, 8, -1}, "partly_elected", "", NULL, 1, "甲,乙"},
        {"runoff: two seats", true, 40, 30, 30, 0, 0, 2, {12, 10, 8, -1}, "elected", "甲,乙", NULL, 0, NULL},
        {"runoff: tie at the seat", true, 40, 30, 30, 0, 0, 1, {12, 12, 6, -1}, "tie", "", "甲,乙", 1, "甲,乙"},
        {"runoff: invalid in the base", true, 40, 30, 30, 3, 0, 1, {9, 9, 9, -1}, "partly_elected", "", NULL, 1, "甲,乙,丙"},
        /* a runoff with too few voters is no election either */
        {"runoff: validity", true, 40, 20, 20, 0, 0, 1, {20, 0, -1}, "invalid_round", NULL, NULL, 0, NULL},
        /* everybody blank: nobody wins, the candidates go to a runoff */
        {"all blank", false, 40, 30, 30, 0, 30, 1, {0, 0, -1}, "partly_elected", "", NULL, 1, "甲,乙"},
    };
    for (size_t i = 0; i < N_(rows); i++)
        check_election(r, &rows[i]);
}

static void election_rules_show_each_test(void **state)
{
    const rules_t *r = *state;
    int64_t votes[3] = {16, 15, 10};
    tally_in_t in = {.kind = KIND_ELECTION, .roll = 40, .voters = 30, .ballots = 30, .invalid = 2,
                     .n_options = 3, .options = votes, .names = CANDIDATES, .seats = 2, .blank = 0};
    json_t *res = decide(r, &in);
    assert_outcome(res, "partly_elected");
    assert_rule(res, "election_validity", NULL, "2 × 30 > 1 × 40", true);
    assert_rule(res, "invalid_in_denominator", NULL, "base 30 ballots (2 invalid included)", true);
    assert_rule(res, "election_win", "甲", "2 × 16 > 1 × 30", true);
    assert_rule(res, "election_win", "乙", "2 × 15 > 1 × 30", false);
    assert_rule(res, "election_win", "丙", "2 × 10 > 1 × 30", false);
    assert_rule(res, "runoff_extra_candidates", NULL, NULL, true);
    json_t *el = json_array_get(json_object_get(res, "elected"), 0);
    assert_int_equal(json_integer_value(json_object_get(el, "index")), 0);
    assert_int_equal(json_integer_value(json_object_get(el, "votes")), 16);
    json_decref(res);

    in.runoff = true;
    res = decide(r, &in);
    assert_outcome(res, "elected");
    assert_rule(res, "runoff_win", "乙", "3 × 15 ≥ 1 × 30", true);
    assert_rule(res, "runoff_win", "丙", "3 × 10 ≥ 1 × 30", true);
    assert_no_rule(res, "election_win");
    assert_names(json_object_get(res, "elected"), "甲,乙");
    json_decref(res);
}

static void invalid_ballots_in_or_out_of_the_denominator(void **state)
{
    const rules_t *r = *state;
    /* 30 ballots, 4 invalid: 14 votes is not half of 30 but is more than half of 26 */
    int64_t votes[2] = {14, 12};
    tally_in_t in = {.kind = KIND_ELECTION, .roll = 40, .voters = 30, .ballots = 30, .invalid = 4,
                     .n_options = 2, .options = votes, .names = CANDIDATES, .seats = 1};
    json_t *res = decide(r, &in);
    assert_outcome(res, "partly_elected");
    assert_rule(res, "election_win", "甲", "2 × 14 > 1 × 30", false);
    json_decref(res);

    rules_t *valid_only = cn_with("invalid_in_denominator", json_false());
    res = decide(valid_only, &in);
    assert_outcome(res, "elected");
    assert_rule(res, "invalid_in_denominator", NULL, "base 26 ballots (4 invalid excluded)", false);
    assert_rule(res, "election_win", "甲", "2 × 14 > 1 × 26", true);
    json_decref(res);
    /* at the bound of the smaller base: 13 of 26 is not more than half */
    votes[0] = 13;
    votes[1] = 13;
    res = decide(valid_only, &in);
    assert_outcome(res, "partly_elected");
    assert_rule(res, "election_win", "甲", "2 × 13 > 1 × 26", false);
    json_decref(res);
    /* runoff: 9 of 27 valid is 1/3 exactly (elected); 9 of 30 is not */
    in.runoff = true;
    in.invalid = 3;
    votes[0] = 9;
    votes[1] = 8;
    res = decide(valid_only, &in);
    assert_outcome(res, "elected");
    assert_rule(res, "runoff_win", "甲", "3 × 9 ≥ 1 × 27", true);
    json_decref(res);
    res = decide(r, &in);
    assert_outcome(res, "partly_elected");
    assert_rule(res, "runoff_win", "甲", "3 × 9 ≥ 1 × 30", false);
    json_decref(res);
    rules_destroy(&valid_only);
}

static void write_ins_count_like_candidates(void **state)
{
    const rules_t *r = *state;
    int64_t votes[2] = {10, 2};
    const char *wn[2] = {"王五", "赵六"};
    int64_t wv[2] = {17, 1};
    tally_in_t in = {.kind = KIND_ELECTION, .roll = 40, .voters = 30, .ballots = 30, .n_options = 2,
                     .options = votes, .names = CANDIDATES, .seats = 1, .n_write_ins = 2,
                     .write_in_names = wn, .write_in_votes = wv};
    json_t *res = decide(r, &in);
    assert_outcome(res, "elected");
    json_t *el = json_array_get(json_object_get(res, "elected"), 0);
    assert_string_equal(json_string_value(json_object_get(el, "name")), "王五");
    assert_true(json_is_true(json_object_get(el, "write_in")));
    assert_null(json_object_get(el, "index"));
    assert_rule(res, "election_win", "王五", "2 × 17 > 1 × 30", true);
    json_t *counts = json_object_get(res, "counts");
    assert_int_equal(json_integer_value(json_object_get(json_object_get(counts, "write_ins"), "王五")), 17);
    assert_int_equal(json_integer_value(json_object_get(counts, "blank")), 0);
    json_decref(res);

    /* a write-in can be a runoff candidate */
    wv[0] = 12;
    res = decide(r, &in);
    assert_outcome(res, "partly_elected");
    assert_names(json_object_get(json_object_get(res, "runoff"), "candidates"), "王五,甲");
    json_decref(res);

    /* a rule set without write-ins cannot count any */
    rules_t *none = cn_with("write_ins_allowed", json_false());
    char err[256] = "";
    assert_null(rules_decide(none, &in, err, sizeof err));
    assert_non_null(strstr(err, "write-in"));
    rules_destroy(&none);

    /* the same write-in listed twice would be counted apart: refused */
    const char *dup[2] = {"王五", "王五"};
    in.write_in_names = dup;
    err[0] = 0;
    assert_null(rules_decide(r, &in, err, sizeof err));
    assert_non_null(strstr(err, "twice"));
}

/* ---- evaluations ---- */

static void evaluation_verdicts_and_the_two_year_flag(void **state)
{
    const rules_t *r = *state;
    /* 20 ballots; each row sums to 20 (level 3 = 弃权) */
    static const int64_t levels[] = {
        5, 5, 10, 0,    /* A: 10 of 20 unfit: 50% exactly → unfit; last year unfit too → flagged */
        5, 6, 9, 0,     /* B: 9 of 20 → fit (last year unfit, this year not: no flag) */
        18, 2, 0, 0,    /* C: 18 of 20 = 90% → excellent */
        17, 3, 0, 0,    /* D: 17 of 20 → fit */
        9, 1, 0, 10,    /* E: abstentions out: 9 of 10 valid → excellent */
        0, 10, 10, 0,   /* F: unfit, not last year → no flag */
        0, 0, 0, 20,    /* G: all abstain: nothing to judge → fit, no threshold met */
        4, 1, 5, 10,    /* H: 5 of 10 valid → unfit although 5 of 20 ballots */
    };
    const char *names[] = {"A", "B", "C", "D", "E", "F", "G", "H"};
    const char *keys[] = {"staff:1", "staff:2", "staff:3", "staff:4", "staff:5", "staff:6", "staff:7", "staff:8"};
    const bool last[] = {true, true, false, false, false, false, true, false};
    static const char *const verdicts[] = {"unfit", "fit", "excellent", "fit", "excellent", "unfit", "fit", "unfit"};
    tally_in_t in = {.kind = KIND_EVALUATION, .roll = 30, .voters = 20, .ballots = 20, .n_subjects = 8,
                     .levels = levels, .names = names, .subject_keys = keys, .unfit_last_year = last};
    json_t *res = decide(r, &in);
    assert_outcome(res, "evaluated");
    json_t *subjects = json_object_get(res, "subjects");
    assert_int_equal(json_array_size(subjects), 8);
    for (size_t s = 0; s < 8; s++) {
        json_t *e = json_array_get(subjects, s);
        assert_string_equal(json_string_value(json_object_get(e, "key")), keys[s]);
        assert_string_equal(json_string_value(json_object_get(e, "name")), names[s]);
        print_message("subject %s\n", names[s]);
        assert_string_equal(json_string_value(json_object_get(e, "verdict")), verdicts[s]);
        assert_int_equal(json_array_size(json_object_get(e, "levels")), 4);
        if (s == 0)
            assert_string_equal(json_string_value(json_object_get(e, "flag")), "unfit_two_years");
        else
            assert_null(json_object_get(e, "flag"));
    }
    assert_rule(res, "evaluation_unfit", "A", "2 × 10 ≥ 1 × 20", true);
    assert_rule(res, "two_year_unfit_flag", "A", NULL, true);
    assert_rule(res, "evaluation_unfit", "B", "2 × 9 ≥ 1 × 20", false);
    assert_rule(res, "evaluation_excellent", "B", "10 × 5 ≥ 9 × 20", false);
    assert_rule(res, "evaluation_excellent", "C", "10 × 18 ≥ 9 × 20", true);
    assert_rule(res, "evaluation_excellent", "D", "10 × 17 ≥ 9 × 20", false);
    assert_rule(res, "evaluation_excellent", "E", "10 × 9 ≥ 9 × 10", true);
    assert_rule(res, "two_year_unfit_flag", "F", NULL, false);
    assert_rule(res, "evaluation_unfit", "G", "2 × 0 ≥ 1 × 0 (base 0: not met)", false);
    assert_rule(res, "evaluation_unfit", "H", "2 × 5 ≥ 1 × 10", true);
    /* unfit is decided first: an unfit subject is not also tested for excellent */
    assert_null(rule_at(res, "evaluation_excellent", "A", 0));
    json_decref(res);

    /* the flag is the rule set's to give */
    rules_t *noflag = cn_with("two_year_unfit_flag", json_false());
    res = decide(noflag, &in);
    assert_null(json_object_get(json_array_get(json_object_get(res, "subjects"), 0), "flag"));
    assert_no_rule(res, "two_year_unfit_flag");
    json_decref(res);
    rules_destroy(&noflag);

    /* no record of last year: no flag */
    in.unfit_last_year = NULL;
    res = decide(r, &in);
    assert_null(json_object_get(json_array_get(json_object_get(res, "subjects"), 0), "flag"));
    json_decref(res);

    /* without a quorum nothing is judged */
    in.voters = 19;
    in.ballots = 19;
    static const int64_t nineteen[] = {19, 0, 0, 0};
    in.levels = nineteen;
    in.n_subjects = 1;
    res = decide(r, &in);
    assert_outcome(res, "no_quorum");
    assert_null(json_object_get(res, "subjects"));
    assert_no_rule(res, "evaluation_excellent");
    json_decref(res);
}

/* ---- selections ---- */

static void selection_adopts_each_nominee_by_the_meeting_decision(void **state)
{
    const rules_t *r = *state;
    int64_t counts[] = {11, 9, 0,    /* 11 of 20 present: adopted */
                        10, 5, 5,    /* 10 of 20: not */
                        20, 0, 0};
    const char *names[] = {"张家", "李家", "王家"};
    tally_in_t in = {.kind = KIND_SELECTION, .roll = 30, .voters = 20, .ballots = 20, .n_options = 9,
                     .options = counts, .names = names};
    json_t *res = decide(r, &in);
    assert_outcome(res, "adopted");
    json_t *list = json_object_get(res, "nominees");
    assert_int_equal(json_array_size(list), 3);
    assert_true(json_is_true(json_object_get(json_array_get(list, 0), "adopted")));
    assert_false(json_is_true(json_object_get(json_array_get(list, 1), "adopted")));
    assert_true(json_is_true(json_object_get(json_array_get(list, 2), "adopted")));
    assert_int_equal(json_integer_value(json_object_get(json_array_get(list, 1), "abstain")), 5);
    assert_rule(res, "meeting_quorum", NULL, "3 × 20 ≥ 2 × 30", true);
    assert_rule(res, "meeting_decision", "张家", "2 × 11 > 1 × 20", true);
    assert_rule(res, "meeting_decision", "李家", "2 × 10 > 1 × 20", false);
    json_decref(res);

    /* none adopted: rejected */
    counts[0] = 10; counts[1] = 10;
    counts[6] = 0; counts[7] = 0; counts[8] = 20;
    res = decide(r, &in);
    assert_outcome(res, "rejected");
    json_decref(res);

    /* no quorum: no decision applied */
    in.voters = 19;
    in.ballots = 19;
    int64_t small[] = {19, 0, 0};
    in.options = small;
    in.n_options = 3;
    res = decide(r, &in);
    assert_outcome(res, "no_quorum");
    assert_no_rule(res, "meeting_decision");
    assert_null(json_object_get(res, "nominees"));
    json_decref(res);
}

/* ---- refusals ---- */

static void malformed_rule_sets_are_refused(void **state)
{
    (void)state;
    static const struct {
        const char *label, *section, *entry, *member;
        const char *value_json;   /* NULL: delete the member (or the entry when member is NULL) */
        const char *err_has;
    } cases[] = {
        {"missing threshold", "thresholds", "meeting_quorum", NULL, NULL, "meeting_quorum"},
        {"missing option", "options", "proxy_cap", NULL, NULL, "proxy_cap"},
        {"num > den", "thresholds", "meeting_decision", "num", "3", "meeting_decision"},
        {"den 0", "thresholds", "election_win", "den", "0", "election_win"},
        {"num 0", "thresholds", "runoff_win", "num", "0", "runoff_win"},
        {"negative num", "thresholds", "runoff_win", "num", "-1", "runoff_win"},
        {"den too large", "thresholds", "runoff_win", "den", "100000000000", "runoff_win"},
        {"num not an integer", "thresholds", "meeting_quorum", "num", "0.66", "meeting_quorum"},
        {"missing den", "thresholds", "meeting_quorum", "den", NULL, "meeting_quorum"},
        {"missing inclusive", "thresholds", "meeting_quorum", "inclusive", NULL, "meeting_quorum"},
        {"inclusive not boolean", "thresholds", "meeting_quorum", "inclusive", "1", "meeting_quorum"},
        {"missing cite", "thresholds", "evaluation_unfit", "cite", NULL, "evaluation_unfit"},
        {"blank cite", "thresholds", "evaluation_unfit", "cite", "\" \\n \"", "evaluation_unfit"},
        {"option without cite", "options", "tie", "cite", NULL, "tie"},
        {"option wrong type", "options", "proxies_allowed", "value", "3", "proxies_allowed"},
        {"option int as string", "options", "proxy_cap", "value", "\"3\"", "proxy_cap"},
        {"negative cap", "options", "proxy_cap", "value", "-1", "proxy_cap"},
        {"no tellers", "options", "min_tellers", "value", "0", "min_tellers"},
        {"unknown tie rule", "options", "tie", "value", "\"coin\"", "tie"},
        {"unknown threshold", "thresholds", "meeting_quorom", NULL, "{\"num\":1,\"den\":2,\"inclusive\":true,\"cite\":\"x\"}", "meeting_quorom"},
        {"unknown option", "options", "proxy_limit", NULL, "{\"value\":3,\"cite\":\"x\"}", "proxy_limit"},
    };
    for (size_t i = 0; i < N_(cases); i++) {
        json_t *body = load_body("cn-2018");
        json_t *sec = json_object_get(body, cases[i].section);
        json_t *value = cases[i].value_json ? json_loads(cases[i].value_json, JSON_DECODE_ANY, NULL) : NULL;
        if (cases[i].value_json)
            assert_non_null(value);
        if (!cases[i].member) {
            if (value)
                json_object_set_new(sec, cases[i].entry, value);
            else
                json_object_del(sec, cases[i].entry);
        } else {
            json_t *e = json_object_get(sec, cases[i].entry);
            if (value)
                json_object_set_new(e, cases[i].member, value);
            else
                json_object_del(e, cases[i].member);
        }
        char err[256] = "";
        rules_t *r = rules_parse(body, err, sizeof err);
        if (r || !strstr(err, cases[i].err_has)) {
            print_error("%s: parsed=%d err \"%s\"\n", cases[i].label, r != NULL, err);
            fail();
        }
        json_decref(body);
    }

    /* the top level */
    static const struct {
        const char *key, *value_json;
    } top[] = {{"code", "\"CN 2018\""}, {"code", NULL}, {"code", "\"\""}, {"code", "\"-cn\""},
               {"name", NULL}, {"name", "\"\""}, {"law_version", NULL}, {"thresholds", "[]"},
               {"options", NULL}};
    for (size_t i = 0; i < N_(top); i++) {
        json_t *body = load_body("cn-2018");
        if (top[i].value_json)
            json_object_set_new(body, top[i].key, json_loads(top[i].value_json, JSON_DECODE_ANY, NULL));
        else
            json_object_del(body, top[i].key);
        char err[256] = "";
        rules_t *r = rules_parse(body, err, sizeof err);
        if (r || !err[0]) {
            print_error("top-level %s: parsed=%d\n", top[i].key, r != NULL);
            fail();
        }
        json_decref(body);
    }
    char err[256] = "";
    json_t *arr = json_array();
    assert_null(rules_parse(arr, err, sizeof err));
    json_decref(arr);
    assert_null(rules_parse(NULL, err, sizeof err));

    /* destroy is safe twice */
    rules_t *r = load("cn-2018");
    rules_destroy(&r);
    assert_null(r);
    rules_destroy(&r);
    rules_destroy(NULL);
}

static void rules_outlive_the_body_they_were_parsed_from(void **state)
{
    (void)state;
    json_t *body = load_body("cn-2018");
    rules_t *r = parse_or_fail(body);
    json_decref(body);   /* the caller may free its body: the rules keep their own copy */
    assert_non_null(strstr(rules_cite(r, "meeting_quorum"), "第二十八条"));
    int64_t opts[3] = {11, 9, 0};
    tally_in_t in = {.kind = KIND_RESOLUTION, .roll = 30, .voters = 20, .ballots = 20, .n_options = 3, .options = opts};
    json_t *res = decide(r, &in);
    assert_outcome(res, "adopted");
    json_decref(res);
    rules_destroy(&r);
}

typedef struct {
    const char *label;
    tally_in_t in;
    const char *err_has;
} bad_t;

static void inconsistent_inputs_are_refused(void **state)
{
    const rules_t *r = *state;
    static const int64_t ok3[3] = {11, 9, 0}, short3[3] = {11, 8, 0}, neg3[3] = {21, -1, 0};
    static const int64_t votes2[2] = {16, 14}, over2[2] = {31, 0}, many3[3] = {30, 30, 1};
    static const int64_t lv[4] = {10, 5, 5, 0};
    static const char *const nm[3] = {"甲", "乙", "丙"};
    static const char *const nm_null[2] = {"甲", NULL};
    static const char *const keys[1] = {"staff:1"};
    const bad_t cases[] = {
        {"roll 0", {.kind = KIND_RESOLUTION, .roll = 0, .voters = 0, .ballots = 0, .n_options = 3, .options = (int64_t[3]){0}}, "roll"},
        {"negative roll", {.kind = KIND_RESOLUTION, .roll = -3, .n_options = 3, .options = ok3}, "roll"},
        {"roll above 10^12", {.kind = KIND_RESOLUTION, .roll = INT64_C(1000000000001), .voters = 20, .ballots = 20, .n_options = 3, .options = ok3}, "roll"},
        {"voters > roll", {.kind = KIND_RESOLUTION, .roll = 30, .voters = 31, .ballots = 20, .n_options = 3, .options = ok3}, "voters"},
        {"negative voters", {.kind = KIND_RESOLUTION, .roll = 30, .voters = -1, .ballots = 20, .n_options = 3, .options = ok3}, "voters"},
        {"invalid > ballots", {.kind = KIND_RESOLUTION, .roll = 30, .voters = 20, .ballots = 20, .invalid = 21, .n_options = 3, .options = ok3}, "invalid"},
        {"negative invalid", {.kind = KIND_RESOLUTION, .roll = 30, .voters = 20, .ballots = 20, .invalid = -1, .n_options = 3, .options = ok3}, "invalid"},
        {"ballots above 10^12", {.kind = KIND_RESOLUTION, .roll = 30, .voters = 20, .ballots = INT64_MAX, .n_options = 3, .options = ok3}, "ballots"},
        {"counts short of the valid ballots", {.kind = KIND_RESOLUTION, .roll = 30, .voters = 20, .ballots = 20, .n_options = 3, .options = short3}, "sum"},
        {"negative count", {.kind = KIND_RESOLUTION, .roll = 30, .voters = 20, .ballots = 20, .n_options = 3, .options = neg3}, "range"},
        {"resolution with 2 counts", {.kind = KIND_RESOLUTION, .roll = 30, .voters = 20, .ballots = 20, .n_options = 2, .options = ok3}, "3 counts"},
        {"resolution without counts", {.kind = KIND_RESOLUTION, .roll = 30, .voters = 20, .ballots = 20, .n_options = 3, .options = NULL}, "counts"},
        {"unknown kind", {.kind = (tally_kind_t)9, .roll = 30, .voters = 20, .ballots = 20}, "kind"},
        {"no seats", {.kind = KIND_ELECTION, .roll = 40, .voters = 30, .ballots = 30, .n_options = 2, .options = votes2, .names = nm, .seats = 0}, "seats"},
        {"more votes than ballots", {.kind = KIND_ELECTION, .roll = 40, .voters = 30, .ballots = 30, .n_options = 2, .options = over2, .names = nm, .seats = 1}, "votes"},
        {"more votes than blank leaves", {.kind = KIND_ELECTION, .roll = 40, .voters = 30, .ballots = 30, .blank = 15, .n_options = 2, .options = votes2, .names = nm, .seats = 1}, "votes"},
        {"more names than seats allow", {.kind = KIND_ELECTION, .roll = 40, .voters = 30, .ballots = 30, .n_options = 3, .options = many3, .names = nm, .seats = 2}, "at most"},
        {"blank > valid", {.kind = KIND_ELECTION, .roll = 40, .voters = 30, .ballots = 30, .invalid = 2, .blank = 29, .n_options = 2, .options = votes2, .names = nm, .seats = 1}, "blank"},
        {"candidate without a name", {.kind = KIND_ELECTION, .roll = 40, .voters = 30, .ballots = 30, .n_options = 2, .options = votes2, .names = nm_null, .seats = 1}, "name"},
        {"election without names", {.kind = KIND_ELECTION, .roll = 40, .voters = 30, .ballots = 30, .n_options = 2, .options = votes2, .seats = 1}, "names"},
        {"selection not in threes", {.kind = KIND_SELECTION, .roll = 30, .voters = 20, .ballots = 20, .n_options = 4, .options = lv, .names = nm}, "3 counts"},
        {"evaluation row short", {.kind = KIND_EVALUATION, .roll = 30, .voters = 20, .ballots = 21, .n_subjects = 1, .levels = lv, .names = nm, .subject_keys = keys}, "sum"},
        {"evaluation without subjects", {.kind = KIND_EVALUATION, .roll = 30, .voters = 20, .ballots = 20, .n_subjects = 0, .levels = lv, .names = nm, .subject_keys = keys}, "subjects"},
        {"evaluation without keys", {.kind = KIND_EVALUATION, .roll = 30, .voters = 20, .ballots = 20, .n_subjects = 1, .levels = lv, .names = nm}, "key"},
    };
    for (size_t i = 0; i < N_(cases); i++) {
        char err[256] = "";
        json_t *res = rules_decide(r, &cases[i].in, err, sizeof err);
        if (res || !strstr(err, cases[i].err_has)) {
            print_error("%s: result=%d err \"%s\"\n", cases[i].label, res != NULL, err);
            json_decref(res);
            fail();
        }
    }
    char err[64];
    assert_null(rules_decide(NULL, &cases[0].in, err, sizeof err));
    assert_null(rules_decide(r, NULL, err, sizeof err));
    /* an error buffer is optional */
    assert_null(rules_decide(r, &cases[0].in, NULL, 0));
}

static void large_counts_compute_exactly(void **state)
{
    const rules_t *r = *state;
    /* a roll of 10^12 (the largest accepted): 2/3 needs 666,666,666,667 */
    int64_t opts[3] = {INT64_C(333333333334), INT64_C(333333333333), 0};
    tally_in_t in = {.kind = KIND_RESOLUTION, .roll = INT64_C(1000000000000), .voters = INT64_C(666666666667),
                     .ballots = INT64_C(666666666667), .n_options = 3, .options = opts};
    json_t *res = decide(r, &in);
    assert_outcome(res, "adopted");
    assert_rule(res, "meeting_quorum", NULL, "3 × 666666666667 ≥ 2 × 1000000000000", true);
    assert_rule(res, "meeting_decision", NULL, "2 × 333333333334 > 1 × 666666666667", true);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(res, "turnout"), "permille")), 666);
    json_decref(res);
    in.voters = in.ballots = INT64_C(666666666666);
    opts[0] = INT64_C(333333333333);
    res = decide(r, &in);
    assert_outcome(res, "no_quorum");
    json_decref(res);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_rule_file_parses_and_cites_its_source),
        cmocka_unit_test_setup_teardown(cn_2018_cites_the_organic_law_and_the_civil_code, setup_cn, teardown_rules),
        cmocka_unit_test_setup_teardown(thresholds_at_their_bounds, setup_cn, teardown_rules),
        cmocka_unit_test_setup_teardown(resolution_boundary_table, setup_cn, teardown_rules),
        cmocka_unit_test_setup_teardown(result_has_counts_turnout_and_rules_in_order, setup_cn, teardown_rules),
        cmocka_unit_test_setup_teardown(more_ballots_than_voters_void_the_round, setup_cn, teardown_rules),
        cmocka_unit_test_setup_teardown(election_boundary_table, setup_cn, teardown_rules),
        cmocka_unit_test_setup_teardown(election_rules_show_each_test, setup_cn, teardown_rules),
        cmocka_unit_test_setup_teardown(invalid_ballots_in_or_out_of_the_denominator, setup_cn, teardown_rules),
        cmocka_unit_test_setup_teardown(write_ins_count_like_candidates, setup_cn, teardown_rules),
        cmocka_unit_test_setup_teardown(evaluation_verdicts_and_the_two_year_flag, setup_cn, teardown_rules),
        cmocka_unit_test_setup_teardown(selection_adopts_each_nominee_by_the_meeting_decision, setup_cn, teardown_rules),
        cmocka_unit_test(malformed_rule_sets_are_refused),
        cmocka_unit_test(rules_outlive_the_body_they_were_parsed_from),
        cmocka_unit_test_setup_teardown(inconsistent_inputs_are_refused, setup_cn, teardown_rules),
        cmocka_unit_test_setup_teardown(large_counts_compute_exactly, setup_cn, teardown_rules),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
