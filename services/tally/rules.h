/* rules: the law's arithmetic for a motion's result, as configuration that cites its source.
 *
 * A rule set is a JSON file under deploy/tally/rules/ (cn-2018.json: the Organic Law of Villagers'
 * Committees, 2018 text, and the Civil Code's 以上/过半数; provincial variants beside it). It names
 * each threshold as a fraction with its base and whether the bound is included, and each option
 * (proxy cap, write-ins, what voids a round) with the text it comes from:
 *
 *   {"code": "cn-2018", "name": "…", "law_version": "2018-12-29",
 *    "thresholds": {"<name>": {"num": 2, "den": 3, "inclusive": true, "cite": "第二十八条 …"}, …},
 *    "options":    {"<name>": {"value": <int|bool|string>, "cite": "…"}, …}}
 *
 * Thresholds every set has (the base each is applied to is fixed here, not configurable):
 *   meeting_quorum      present (voters who took part)  vs roll          resolution, selection, evaluation
 *   meeting_decision    yes (approve)                   vs present       resolution, selection
 *   election_validity   voters who took part            vs roll          election
 *   election_win        a candidate's votes             vs ballots (valid, or all when
 *                                                          invalid_in_denominator)            election round 1
 *   runoff_win          a candidate's votes             vs ballots (as above)                 election runoff
 *   evaluation_unfit    level-2 votes for a subject     vs that subject's valid votes         evaluation
 *   evaluation_excellent level-0 votes                  vs that subject's valid votes         evaluation
 * "inclusive": true is 以上 / 不少于 (≥, Civil Code art. 1259), false is 过半数 / 超过 (>).
 * Options every set has: proxy_cap (int), proxies_allowed (bool), write_ins_allowed (bool),
 * min_tellers (int), ballots_exceed_voters_void (bool), overmarked_invalid (bool),
 * invalid_in_denominator (bool), candidates_exceed_seats (bool: 差额), tie (string "revote"),
 * runoff_extra_candidates (int: runoff candidates = open seats + this), two_year_unfit_flag (bool).
 *
 * All arithmetic is on integers (int64): a threshold x of base n holds when
 * den·x ≥ num·n (inclusive) or den·x > num·n (not). No floating point anywhere. Over an empty
 * base (n = 0) no threshold holds; counts above 10^12 are refused.
 *
 * Ownership: rules_parse() returns an object the caller frees with rules_destroy(); the tally_in_t
 * and its arrays belong to the caller; rules_decide() returns a new JSON object (caller decrefs). */
#ifndef TALLY_RULES_H
#define TALLY_RULES_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

typedef struct rules rules_t;

/* Parses and checks a rule set's body (every threshold and option above present and sane:
 * 0 < num ≤ den, a non-empty cite). NULL with the reason in err. */
rules_t *rules_parse(const json_t *body, char *err, size_t errsz);
void rules_destroy(rules_t **self);

/* A named threshold held by x of base n (the integer comparison above). */
bool rules_threshold_met(const rules_t *r, const char *name, int64_t x, int64_t n);
int64_t rules_option_int(const rules_t *r, const char *name);
bool rules_option_bool(const rules_t *r, const char *name);
const char *rules_cite(const rules_t *r, const char *name);   /* a threshold's or option's cite */

typedef enum { KIND_RESOLUTION, KIND_ELECTION, KIND_EVALUATION, KIND_SELECTION } tally_kind_t;

/* What was counted, online and paper together. */
typedef struct {
    tally_kind_t kind;
    bool runoff;                /* an election's 另行选举 round */
    int64_t roll;               /* voters on the frozen roll */
    int64_t voters;             /* who took part: online voters + voters marked for paper */
    int64_t ballots;            /* ballots found: online + in the boxes, valid or not */
    int64_t invalid;            /* ballots found invalid (paper only: online ones are refused) */
    /* resolution: options[3] = yes, no, abstain.
     * election: n_options = candidates, options[i] = votes; write_in names and votes apart;
     *           seats; blank = valid ballots naming nobody.
     * evaluation: n_subjects × 4 levels in levels[s*4 + l].
     * selection: n_options = nominees × 3 in options[i*3 + c] (approve, disapprove, abstain). */
    size_t n_options;
    const int64_t *options;
    const char *const *names;             /* election: a name per candidate; evaluation: per subject;
                                           * selection: per nominee (n_options / 3) */
    size_t n_write_ins;
    const char *const *write_in_names;
    const int64_t *write_in_votes;
    int64_t seats;
    int64_t blank;
    size_t n_subjects;
    const int64_t *levels;
    const char *const *subject_keys;      /* evaluation: the subject's key (e.g. "staff:12") */
    const bool *unfit_last_year;          /* evaluation: the subject was 不称职 the year before */
} tally_in_t;

/* The result, as stored in tally.motion.result, the `result` chain event and vote.closed:
 *   {"outcome": resolution/selection "adopted" | "rejected" | "no_quorum";
 *               election "elected" | "partly_elected" | "tie" | "invalid_round" | "void";
 *               evaluation "evaluated" | "no_quorum";
 *               any kind: "void" when ballots > voters and ballots_exceed_voters_void,
 *    "roll", "voters", "ballots", "invalid", "valid",
 *    "turnout": {"voters": v, "roll": n, "permille": floor(1000·v/n)},
 *    "counts": as the paper counts of CHAIN.md, online and paper summed,
 *    "rules": [{"rule": name, "subject"?: name, "cite": text, "test": "3 × 20 ≥ 2 × 30",
 *              "met": bool}, …] in the order applied ("subject": the candidate, nominee or
 *              subject a per-person rule was applied to),
 *    election: "elected": [{"name", "index" or "write_in": true, "votes"}],
 *              "runoff": {"seats": k, "candidates": [{"name", "votes"}]} when seats remain,
 *              "tie": [{"name", "votes"}] when a tie decides a seat (re-vote among them; then
 *              "runoff" holds the tied and the seats they contest, for runoff_of),
 *    evaluation: "subjects": [{"key", "name", "levels": [4], "valid", "verdict": "excellent" |
 *              "fit" | "unfit", "flag": "unfit_two_years" (when unfit this year and last)}],
 *    selection: "nominees": [{"name", "approve", "disapprove", "abstain", "adopted": bool}]}
 * The per-person members (elected, subjects, nominees) are absent when the round decided
 * nothing (no_quorum, invalid_round, void).
 * Returns NULL only when the input is inconsistent (err says why): e.g. ballots < invalid, an
 * empty roll, voters > roll, a resolution's (or each nominee's or subject's) counts not summing
 * to the valid ballots, a candidate with more votes than ballots naming anyone, write-in votes
 * under a rule set without write-ins. */
json_t *rules_decide(const rules_t *r, const tally_in_t *in, char *err, size_t errsz);

#endif
