/* rules: parsing a rule set, and the law's arithmetic applied to a motion's counts (rules.h).
 *
 * Every comparison is den·x ≥ num·n (or >) on int64. The operands are bounded so that it cannot
 * overflow: counts at most RULES_MAX_COUNT (10^12, far above any roll), denominators at most
 * RULES_MAX_DEN (10^6), so a product stays below 10^18 < INT64_MAX. Inputs beyond the bounds are
 * refused as inconsistent, never wrapped. */
#include "rules.h"

#include <inttypes.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"

#define RULES_MAX_COUNT INT64_C(1000000000000)
#define RULES_MAX_DEN INT64_C(1000000)
#define RULES_MAX_SEATS INT64_C(10000)
#define RULES_MAX_ENTRIES 200000        /* candidates, write-ins, subjects or nominees */
#define RULES_MAX_OPTION INT64_C(1000)  /* caps and counts in options */

/* ---- the names a rule set must define ---- */

enum { T_QUORUM, T_DECISION, T_VALIDITY, T_WIN, T_RUNOFF, T_UNFIT, T_EXCELLENT, T__COUNT };
static const char *const THRESHOLD_NAMES[T__COUNT] = {
    "meeting_quorum", "meeting_decision", "election_validity", "election_win", "runoff_win",
    "evaluation_unfit", "evaluation_excellent",
};

typedef enum { OT_INT, OT_BOOL, OT_STRING } otype_t;
enum {
    O_PROXY_CAP, O_PROXIES_ALLOWED, O_WRITE_INS_ALLOWED, O_MIN_TELLERS, O_BALLOTS_VOID,
    O_OVERMARKED_INVALID, O_INVALID_IN_DEN, O_CANDIDATES_EXCEED, O_TIE, O_RUNOFF_EXTRA,
    O_TWO_YEAR_FLAG, O__COUNT
};
static const struct {
    const char *name;
    otype_t type;
    int64_t min, max;            /* OT_INT */
    const char *const *allowed;  /* OT_STRING: the values this code knows how to apply */
} OPTION_DEFS[O__COUNT] = {
    [O_PROXY_CAP] = {"proxy_cap", OT_INT, 0, RULES_MAX_OPTION, NULL},
    [O_PROXIES_ALLOWED] = {"proxies_allowed", OT_BOOL, 0, 0, NULL},
    [O_WRITE_INS_ALLOWED] = {"write_ins_allowed", OT_BOOL, 0, 0, NULL},
    [O_MIN_TELLERS] = {"min_tellers", OT_INT, 1, RULES_MAX_OPTION, NULL},
    [O_BALLOTS_VOID] = {"ballots_exceed_voters_void", OT_BOOL, 0, 0, NULL},
    [O_OVERMARKED_INVALID] = {"overmarked_invalid", OT_BOOL, 0, 0, NULL},
    [O_INVALID_IN_DEN] = {"invalid_in_denominator", OT_BOOL, 0, 0, NULL},
    [O_CANDIDATES_EXCEED] = {"candidates_exceed_seats", OT_BOOL, 0, 0, NULL},
    [O_TIE] = {"tie", OT_STRING, 0, 0, (const char *const[]){"revote", NULL}},
    [O_RUNOFF_EXTRA] = {"runoff_extra_candidates", OT_INT, 0, RULES_MAX_OPTION, NULL},
    [O_TWO_YEAR_FLAG] = {"two_year_unfit_flag", OT_BOOL, 0, 0, NULL},
};

typedef struct {
    int64_t num, den;
    bool inclusive;
    const char *cite;            /* points into rules->body */
} threshold_t;

typedef struct {
    int64_t i;
    bool b;
    const char *s;
    const char *cite;
} option_t;

struct rules {
    json_t *body;                /* our own deep copy: the strings above live in it */
    threshold_t t[T__COUNT];
    option_t o[O__COUNT];
};

static bool fail(char *err, size_t errsz, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static bool fail(char *err, size_t errsz, const char *fmt, ...)
{
    if (err && errsz) {
        va_list ap;
        va_start(ap, fmt);
        vsnprintf(err, errsz, fmt, ap);
        va_end(ap);
    }
    return false;
}

/* ---- parsing ---- */

static bool code_ok(const char *s)
{
    size_t n = strlen(s);
    if (n < 1 || n > 32)
        return false;
    for (size_t i = 0; i < n; i++) {
        char c = s[i];
        bool alnum = (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9');
        if (!alnum && !(i > 0 && c == '-'))
            return false;
    }
    return true;
}

/* A cite says where a number comes from: text that is more than blanks. */
static const char *cite_of(const json_t *entry)
{
    const char *s = json_string_value(json_object_get(entry, "cite"));
    if (!s)
        return NULL;
    for (const char *p = s; *p; p++)
        if (*p != ' ' && *p != '\t' && *p != '\n' && *p != '\r')
            return s;
    return NULL;
}

static bool text_member(const json_t *body, const char *key, char *err, size_t errsz)
{
    const char *s = json_string_value(json_object_get(body, key));
    if (!s || !*s)
        return fail(err, errsz, "rule set: \"%s\" must be a non-empty string", key);
    return true;
}

static bool parse_threshold(const json_t *e, const char *name, threshold_t *t, char *err, size_t errsz)
{
    if (!json_is_object(e))
        return fail(err, errsz, "threshold %s: missing or not an object", name);
    const json_t *num = json_object_get(e, "num"), *den = json_object_get(e, "den");
    const json_t *inc = json_object_get(e, "inclusive");
    if (!json_is_integer(num) || !json_is_integer(den))
        return fail(err, errsz, "threshold %s: num and den must be integers", name);
    if (!json_is_boolean(inc))
        return fail(err, errsz, "threshold %s: inclusive must be true or false", name);
    t->num = json_integer_value(num);
    t->den = json_integer_value(den);
    t->inclusive = json_is_true(inc);
    if (t->den <= 0 || t->den > RULES_MAX_DEN)
        return fail(err, errsz, "threshold %s: den must be 1..%" PRId64, name, RULES_MAX_DEN);
    if (t->num <= 0 || t->num > t->den)
        return fail(err, errsz, "threshold %s: num must be 1..den (%" PRId64 "/%" PRId64 ")", name,
                    t->num, t->den);
    t->cite = cite_of(e);
    if (!t->cite)
        return fail(err, errsz, "threshold %s: no cite", name);
    return true;
}

static bool parse_option(const json_t *e, int k, option_t *o, char *err, size_t errsz)
{
    const char *name = OPTION_DEFS[k].name;
    if (!json_is_object(e))
        return fail(err, errsz, "option %s: missing or not an object", name);
    const json_t *v = json_object_get(e, "value");
    switch (OPTION_DEFS[k].type) {
    case OT_INT:
        if (!json_is_integer(v))
            return fail(err, errsz, "option %s: value must be an integer", name);
        o->i = json_integer_value(v);
        if (o->i < OPTION_DEFS[k].min || o->i > OPTION_DEFS[k].max)
            return fail(err, errsz, "option %s: value must be %" PRId64 "..%" PRId64, name,
                        OPTION_DEFS[k].min, OPTION_DEFS[k].max);
        o->b = o->i != 0;
        break;
    case OT_BOOL:
        if (!json_is_boolean(v))
            return fail(err, errsz, "option %s: value must be true or false", name);
        o->b = json_is_true(v);
        o->i = o->b;
        break;
    case OT_STRING: {
        o->s = json_string_value(v);
        bool known = false;
        for (const char *const *a = OPTION_DEFS[k].allowed; o->s && *a; a++)
            known = known || strcmp(*a, o->s) == 0;
        if (!known)
            return fail(err, errsz, "option %s: unknown value", name);
        break;
    }
    }
    o->cite = cite_of(e);
    if (!o->cite)
        return fail(err, errsz, "option %s: no cite", name);
    return true;
}

/* Every member of a section must be one this code applies: a misspelt name is refused rather
 * than silently leaving the law's number unused. */
static bool names_known(const json_t *section, const char *what, const char *const *names, size_t n,
                        char *err, size_t errsz)
{
    const char *key;
    const json_t *v;
    json_object_foreach((json_t *)section, key, v) {
        (void)v;
        bool known = false;
        for (size_t i = 0; i < n && !known; i++)
            known = strcmp(names[i], key) == 0;
        if (!known)
            return fail(err, errsz, "rule set: unknown %s \"%s\"", what, key);
    }
    return true;
}

rules_t *rules_parse(const json_t *body, char *err, size_t errsz)
{
    if (!json_is_object(body)) {
        fail(err, errsz, "rule set: not a JSON object");
        return NULL;
    }
    rules_t *r = calloc(1, sizeof *r);
    if (!r)
        log_oom();
    r->body = json_deep_copy(body);
    if (!r->body)
        log_oom();

    const char *code = json_string_value(json_object_get(r->body, "code"));
    if (!code || !code_ok(code)) {
        fail(err, errsz, "rule set: \"code\" must match [a-z0-9][a-z0-9-]{0,31}");
        goto fail;
    }
    if (!text_member(r->body, "name", err, errsz) || !text_member(r->body, "law_version", err, errsz))
        goto fail;

    const json_t *th = json_object_get(r->body, "thresholds");
    const json_t *op = json_object_get(r->body, "options");
    if (!json_is_object(th) || !json_is_object(op)) {
        fail(err, errsz, "rule set: \"thresholds\" and \"options\" must be objects");
        goto fail;
    }
    if (!names_known(th, "threshold", THRESHOLD_NAMES, T__COUNT, err, errsz))
        goto fail;
    const char *opt_names[O__COUNT];
    for (int k = 0; k < O__COUNT; k++)
        opt_names[k] = OPTION_DEFS[k].name;
    if (!names_known(op, "option", opt_names, O__COUNT, err, errsz))
        goto fail;
    for (int k = 0; k < T__COUNT; k++)
        if (!parse_threshold(json_object_get(th, THRESHOLD_NAMES[k]), THRESHOLD_NAMES[k], &r->t[k], err, errsz))
            goto fail;
    for (int k = 0; k < O__COUNT; k++)
        if (!parse_option(json_object_get(op, OPTION_DEFS[k].name), k, &r->o[k], err, errsz))
            goto fail;
    return r;
fail:
    rules_destroy(&r);
    return NULL;
}

void rules_destroy(rules_t **self)
{
    if (!self || !*self)
        return;
    json_decref((*self)->body);
    free(*self);
    *self = NULL;
}

/* ---- lookups ---- */

static int threshold_index(const char *name)
{
    for (int k = 0; name && k < T__COUNT; k++)
        if (strcmp(THRESHOLD_NAMES[k], name) == 0)
            return k;
    return -1;
}

static int option_index(const char *name)
{
    for (int k = 0; name && k < O__COUNT; k++)
        if (strcmp(OPTION_DEFS[k].name, name) == 0)
            return k;
    return -1;
}

/* A share of nothing is never reached: over an empty base (no ballots, no valid votes) the
 * threshold does not hold, or a runoff with no ballots would elect a candidate with 0 votes
 * (3·0 ≥ 1·0). Out-of-bound operands do not hold either (the caller refused them already). */
static bool met(const threshold_t *t, int64_t x, int64_t n)
{
    if (x < 0 || n <= 0 || x > RULES_MAX_COUNT || n > RULES_MAX_COUNT)
        return false;
    int64_t lhs = t->den * x, rhs = t->num * n;
    return t->inclusive ? lhs >= rhs : lhs > rhs;
}

bool rules_threshold_met(const rules_t *r, const char *name, int64_t x, int64_t n)
{
    int k = threshold_index(name);
    return r && k >= 0 && met(&r->t[k], x, n);
}

int64_t rules_option_int(const rules_t *r, const char *name)
{
    int k = option_index(name);
    return r && k >= 0 ? r->o[k].i : 0;
}

bool rules_option_bool(const rules_t *r, const char *name)
{
    int k = option_index(name);
    return r && k >= 0 && r->o[k].b;
}

const char *rules_cite(const rules_t *r, const char *name)
{
    if (!r)
        return NULL;
    int k = threshold_index(name);
    if (k >= 0)
        return r->t[k].cite;
    k = option_index(name);
    return k >= 0 ? r->o[k].cite : NULL;
}

/* ---- the result ---- */

typedef struct {
    const rules_t *r;
    const tally_in_t *in;
    json_t *res;
    json_t *rules;               /* res["rules"], borrowed */
} decide_t;

static void jset(json_t *obj, const char *key, json_t *v)
{
    if (!v || json_object_set_new(obj, key, v) != 0)
        log_oom();
}

static void jpush(json_t *arr, json_t *v)
{
    if (!v || json_array_append_new(arr, v) != 0)
        log_oom();
}

static json_t *jint(int64_t v)
{
    json_t *j = json_integer(v);
    if (!j)
        log_oom();
    return j;
}

static json_t *jstr(const char *s)
{
    json_t *j = json_string(s);
    if (!j)
        log_oom();
    return j;
}

static void add_rule(decide_t *d, const char *rule, const char *cite, const char *test, bool ok,
                     const char *subject)
{
    json_t *e = json_object();
    if (!e)
        log_oom();
    jset(e, "rule", jstr(rule));
    if (subject)
        jset(e, "subject", jstr(subject));
    jset(e, "cite", jstr(cite));
    jset(e, "test", jstr(test));
    jset(e, "met", json_boolean(ok));
    jpush(d->rules, e);
}

/* Applies threshold k to x of base n, records it (with the integer test as text) and answers. */
static bool apply(decide_t *d, int k, int64_t x, int64_t n, const char *subject)
{
    const threshold_t *t = &d->r->t[k];
    bool ok = met(t, x, n);
    char test[160];
    snprintf(test, sizeof test, "%" PRId64 " × %" PRId64 " %s %" PRId64 " × %" PRId64 "%s", t->den, x,
             t->inclusive ? "≥" : ">", t->num, n, n == 0 ? " (base 0: not met)" : "");
    add_rule(d, THRESHOLD_NAMES[k], t->cite, test, ok, subject);
    return ok;
}

static void outcome(decide_t *d, const char *o)
{
    jset(d->res, "outcome", jstr(o));
}

/* More ballots than voters: the round is void where the rule set says so (选票多于投票人数的，
 * 选举无效). Applied to every kind: a count that holds more ballots than people who took part
 * decides nothing. True when the round is void. */
static bool ballots_void(decide_t *d)
{
    if (!d->r->o[O_BALLOTS_VOID].b)
        return false;
    char test[120];
    snprintf(test, sizeof test, "ballots %" PRId64 " ≤ voters %" PRId64, d->in->ballots, d->in->voters);
    bool within = d->in->ballots <= d->in->voters;
    add_rule(d, "ballots_exceed_voters_void", d->r->o[O_BALLOTS_VOID].cite, test, within, NULL);
    if (!within)
        outcome(d, "void");
    return !within;
}

/* ---- input checks ---- */

static bool count_ok(int64_t v)
{
    return v >= 0 && v <= RULES_MAX_COUNT;
}

static bool check_common(const tally_in_t *in, char *err, size_t errsz)
{
    if (in->kind != KIND_RESOLUTION && in->kind != KIND_ELECTION && in->kind != KIND_EVALUATION &&
        in->kind != KIND_SELECTION)
        return fail(err, errsz, "unknown kind");
    if (in->roll <= 0 || in->roll > RULES_MAX_COUNT)
        return fail(err, errsz, "roll %" PRId64 ": must be 1..10^12 (an empty roll decides nothing)", in->roll);
    if (!count_ok(in->voters) || in->voters > in->roll)
        return fail(err, errsz, "voters %" PRId64 " of a roll of %" PRId64 ": must be 0..roll", in->voters, in->roll);
    if (!count_ok(in->ballots))
        return fail(err, errsz, "ballots %" PRId64 ": must be 0..10^12", in->ballots);
    if (in->invalid < 0 || in->invalid > in->ballots)
        return fail(err, errsz, "invalid %" PRId64 " of %" PRId64 " ballots", in->invalid, in->ballots);
    return true;
}

/* Each valid ballot marks exactly one choice per row (CHAIN.md, "The ballot"), so a row sums to
 * the valid ballots. */
static bool rows_ok(const int64_t *v, size_t rows, size_t width, int64_t valid, const char *what,
                    char *err, size_t errsz)
{
    if (rows > 0 && !v)
        return fail(err, errsz, "%s: no counts", what);
    for (size_t i = 0; i < rows; i++) {
        int64_t sum = 0;
        for (size_t c = 0; c < width; c++) {
            if (!count_ok(v[i * width + c]))
                return fail(err, errsz, "%s %zu: a count out of range", what, i);
            sum += v[i * width + c];
        }
        if (sum != valid)
            return fail(err, errsz, "%s %zu: counts sum to %" PRId64 ", valid ballots are %" PRId64, what, i,
                        sum, valid);
    }
    return true;
}

static bool names_ok(const char *const *names, size_t n, const char *what, char *err, size_t errsz)
{
    if (n > 0 && !names)
        return fail(err, errsz, "%s: no names", what);
    for (size_t i = 0; i < n; i++)
        if (!names[i] || !*names[i])
            return fail(err, errsz, "%s %zu: no name", what, i);
    return true;
}

static bool check_kind(const rules_t *r, const tally_in_t *in, char *err, size_t errsz)
{
    int64_t valid = in->ballots - in->invalid;
    switch (in->kind) {
    case KIND_RESOLUTION:
        if (in->n_options != 3)
            return fail(err, errsz, "resolution: 3 counts (yes, no, abstain), not %zu", in->n_options);
        return rows_ok(in->options, 1, 3, valid, "resolution", err, errsz);
    case KIND_SELECTION:
        if (in->n_options == 0 || in->n_options % 3 != 0 || in->n_options / 3 > RULES_MAX_ENTRIES)
            return fail(err, errsz, "selection: 3 counts per nominee, not %zu counts", in->n_options);
        return names_ok(in->names, in->n_options / 3, "nominee", err, errsz) &&
               rows_ok(in->options, in->n_options / 3, 3, valid, "nominee", err, errsz);
    case KIND_EVALUATION:
        if (in->n_subjects == 0 || in->n_subjects > RULES_MAX_ENTRIES)
            return fail(err, errsz, "evaluation: 1..%d subjects, not %zu", RULES_MAX_ENTRIES, in->n_subjects);
        return names_ok(in->names, in->n_subjects, "subject", err, errsz) &&
               names_ok(in->subject_keys, in->n_subjects, "subject key", err, errsz) &&
               rows_ok(in->levels, in->n_subjects, 4, valid, "subject", err, errsz);
    case KIND_ELECTION:
        break;
    }
    if (in->seats < 1 || in->seats > RULES_MAX_SEATS)
        return fail(err, errsz, "election: seats %" PRId64 " must be 1..%" PRId64, in->seats, RULES_MAX_SEATS);
    if (in->n_options > RULES_MAX_ENTRIES || in->n_write_ins > RULES_MAX_ENTRIES)
        return fail(err, errsz, "election: too many candidates or write-ins");
    if (in->blank < 0 || in->blank > valid)
        return fail(err, errsz, "election: blank %" PRId64 " of %" PRId64 " valid ballots", in->blank, valid);
    if ((in->n_options > 0 && !in->options) || (in->n_write_ins > 0 && !in->write_in_votes))
        return fail(err, errsz, "election: no counts");
    if (!names_ok(in->names, in->n_options, "candidate", err, errsz) ||
        !names_ok(in->write_in_names, in->n_write_ins, "write-in", err, errsz))
        return false;
    /* A ballot that names someone names each person once and at most `seats` people. */
    int64_t marking = valid - in->blank, sum = 0;
    for (size_t i = 0; i < in->n_options + in->n_write_ins; i++) {
        bool w = i >= in->n_options;
        int64_t v = w ? in->write_in_votes[i - in->n_options] : in->options[i];
        if (v < 0 || v > marking)
            return fail(err, errsz, "election: %s %zu has %" PRId64 " votes of %" PRId64 " marking ballots",
                        w ? "write-in" : "candidate", w ? i - in->n_options : i, v, marking);
        if (w && v > 0 && !r->o[O_WRITE_INS_ALLOWED].b)
            return fail(err, errsz, "election: write-in votes under a rule set that allows none");
        sum += v;
    }
    if (sum > in->seats * marking)
        return fail(err, errsz, "election: %" PRId64 " votes on %" PRId64 " ballots of at most %" PRId64 " names",
                    sum, marking, in->seats);
    return true;
}

/* ---- counts, as CHAIN.md's paper counts ---- */

static json_t *int_row(const int64_t *v, size_t n)
{
    json_t *a = json_array();
    if (!a)
        log_oom();
    for (size_t i = 0; i < n; i++)
        jpush(a, jint(v[i]));
    return a;
}

static json_t *rows(const int64_t *v, size_t n, size_t width)
{
    json_t *a = json_array();
    if (!a)
        log_oom();
    for (size_t i = 0; i < n; i++)
        jpush(a, int_row(v + i * width, width));
    return a;
}

static bool put_counts(decide_t *d, char *err, size_t errsz)
{
    const tally_in_t *in = d->in;
    json_t *c = json_object();
    if (!c)
        log_oom();
    jset(d->res, "counts", c);
    switch (in->kind) {
    case KIND_RESOLUTION:
        jset(c, "options", int_row(in->options, 3));
        break;
    case KIND_SELECTION:
        jset(c, "nominees", rows(in->options, in->n_options / 3, 3));
        break;
    case KIND_EVALUATION:
        jset(c, "subjects", rows(in->levels, in->n_subjects, 4));
        break;
    case KIND_ELECTION: {
        jset(c, "candidates", int_row(in->options, in->n_options));
        json_t *w = json_object();
        if (!w)
            log_oom();
        jset(c, "write_ins", w);
        for (size_t i = 0; i < in->n_write_ins; i++) {
            const char *name = in->write_in_names[i];
            if (json_object_get(w, name))
                return fail(err, errsz, "election: write-in \"%s\" listed twice", name);
            jset(w, name, jint(in->write_in_votes[i]));
        }
        jset(c, "blank", jint(in->blank));
        break;
    }
    }
    return true;
}

/* ---- meetings: resolution, selection, evaluation ---- */

static bool quorum(decide_t *d)
{
    if (apply(d, T_QUORUM, d->in->voters, d->in->roll, NULL))
        return true;
    outcome(d, "no_quorum");
    return false;
}

static void decide_resolution(decide_t *d)
{
    if (ballots_void(d) || !quorum(d))
        return;
    bool adopted = apply(d, T_DECISION, d->in->options[0], d->in->voters, NULL);
    outcome(d, adopted ? "adopted" : "rejected");
}

static void decide_selection(decide_t *d)
{
    if (ballots_void(d) || !quorum(d))
        return;
    json_t *list = json_array();
    if (!list)
        log_oom();
    jset(d->res, "nominees", list);
    bool any = false;
    for (size_t i = 0; i < d->in->n_options / 3; i++) {
        const int64_t *c = d->in->options + i * 3;
        const char *name = d->in->names[i];
        bool adopted = apply(d, T_DECISION, c[0], d->in->voters, name);
        any = any || adopted;
        json_t *e = json_object();
        if (!e)
            log_oom();
        jset(e, "name", jstr(name));
        jset(e, "approve", jint(c[0]));
        jset(e, "disapprove", jint(c[1]));
        jset(e, "abstain", jint(c[2]));
        jset(e, "adopted", json_boolean(adopted));
        jpush(list, e);
    }
    outcome(d, any ? "adopted" : "rejected");
}

/* Per subject: the valid votes are levels 0..2 (3 is an abstention). 不称职 is tested first;
 * a subject that is not unfit may be excellent; else fit. */
static void decide_evaluation(decide_t *d)
{
    if (ballots_void(d) || !quorum(d))
        return;
    json_t *list = json_array();
    if (!list)
        log_oom();
    jset(d->res, "subjects", list);
    for (size_t s = 0; s < d->in->n_subjects; s++) {
        const int64_t *lv = d->in->levels + s * 4;
        const char *name = d->in->names[s];
        int64_t valid = lv[0] + lv[1] + lv[2];
        const char *verdict = "fit";
        bool two_years = false;
        if (apply(d, T_UNFIT, lv[2], valid, name)) {
            verdict = "unfit";
            if (d->r->o[O_TWO_YEAR_FLAG].b) {
                bool last = d->in->unfit_last_year && d->in->unfit_last_year[s];
                add_rule(d, "two_year_unfit_flag", d->r->o[O_TWO_YEAR_FLAG].cite,
                         last ? "unfit this year and last year" : "unfit this year, not last year", last, name);
                two_years = last;
            }
        } else if (apply(d, T_EXCELLENT, lv[0], valid, name)) {
            verdict = "excellent";
        }
        json_t *e = json_object();
        if (!e)
            log_oom();
        jset(e, "key", jstr(d->in->subject_keys[s]));
        jset(e, "name", jstr(name));
        jset(e, "levels", int_row(lv, 4));
        jset(e, "valid", jint(valid));
        jset(e, "verdict", jstr(verdict));
        if (two_years)
            jset(e, "flag", jstr("unfit_two_years"));
        jpush(list, e);
    }
    outcome(d, "evaluated");
}

/* ---- elections ---- */

typedef struct {
    const char *name;
    size_t pos;                  /* input order: candidates, then write-ins (breaks equal votes) */
    size_t order;                /* index among the candidates, or among the write-ins */
    bool write_in;
    int64_t votes;
    bool over;                   /* met the round's threshold */
    bool elected;
} person_t;

static int by_votes(const void *a, const void *b)
{
    const person_t *x = *(const person_t *const *)a, *y = *(const person_t *const *)b;
    if (x->votes != y->votes)
        return x->votes > y->votes ? -1 : 1;
    return x->pos < y->pos ? -1 : x->pos > y->pos;
}

static json_t *person_json(const person_t *p, bool with_index)
{
    json_t *e = json_object();
    if (!e)
        log_oom();
    jset(e, "name", jstr(p->name));
    if (with_index) {
        if (p->write_in)
            jset(e, "write_in", json_true());
        else
            jset(e, "index", jint((int64_t)p->order));
    }
    jset(e, "votes", jint(p->votes));
    return e;
}

static json_t *runoff_json(int64_t seats, person_t *const *list, size_t n)
{
    json_t *ro = json_object(), *cands = json_array();
    if (!ro || !cands)
        log_oom();
    jset(ro, "seats", jint(seats));
    for (size_t i = 0; i < n; i++)
        jpush(cands, person_json(list[i], false));
    jset(ro, "candidates", cands);
    return ro;
}

/* Fills the seats from `sorted` (all people, most votes first). Among those over the threshold
 * the most votes win; a tie across the last seat is re-voted among the tied, the ones above it
 * still elected. Seats left open go to a runoff among the unelected with the most votes
 * (第一次投票未当选的人员得票多的为候选人): open seats + runoff_extra_candidates of them, all
 * tied at the cut included. */
static void fill_seats(decide_t *d, person_t **sorted, size_t n)
{
    int64_t seats = d->in->seats;
    person_t **over = malloc((n ? n : 1) * sizeof *over);
    if (!over)
        log_oom();
    size_t k = 0;
    for (size_t i = 0; i < n; i++)
        if (sorted[i]->over)
            over[k++] = sorted[i];

    json_t *elected = json_array();
    if (!elected)
        log_oom();
    jset(d->res, "elected", elected);

    if ((int64_t)k > seats && over[seats]->votes == over[seats - 1]->votes) {
        int64_t v = over[seats - 1]->votes, above = 0;
        size_t first_tied = k, n_tied = 0;
        for (size_t i = 0; i < k; i++) {
            if (over[i]->votes > v) {
                over[i]->elected = true;
                jpush(elected, person_json(over[i], true));
                above++;
            } else if (over[i]->votes == v) {
                first_tied = first_tied < i ? first_tied : i;
                n_tied++;
            }
        }
        json_t *tie = json_array();
        if (!tie)
            log_oom();
        for (size_t i = 0; i < n_tied; i++)
            jpush(tie, person_json(over[first_tied + i], false));
        jset(d->res, "tie", tie);
        /* the re-vote is held like a runoff among the tied (tally's runoff_of takes this list) */
        jset(d->res, "runoff", runoff_json(seats - above, over + first_tied, n_tied));
        char test[160];
        snprintf(test, sizeof test, "%zu over the threshold with %" PRId64 " votes for %" PRId64 " seat(s)",
                 n_tied, v, seats - above);
        add_rule(d, "tie", d->r->o[O_TIE].cite, test, true, NULL);
        outcome(d, "tie");
        free(over);
        return;
    }

    int64_t filled = 0;
    for (size_t i = 0; i < k && filled < seats; i++, filled++) {
        over[i]->elected = true;
        jpush(elected, person_json(over[i], true));
    }
    free(over);
    if (filled == seats) {
        outcome(d, "elected");
        return;
    }

    int64_t open = seats - filled, want = open + d->r->o[O_RUNOFF_EXTRA].i;
    person_t **rest = malloc((n ? n : 1) * sizeof *rest);
    if (!rest)
        log_oom();
    size_t m = 0;
    for (size_t i = 0; i < n; i++)
        if (!sorted[i]->elected)
            rest[m++] = sorted[i];
    size_t take = m;
    if ((int64_t)m > want) {
        take = (size_t)want;
        while (take > 0 && take < m && rest[take]->votes == rest[take - 1]->votes)
            take++;
    }
    jset(d->res, "runoff", runoff_json(open, rest, take));
    char test[160];
    snprintf(test, sizeof test, "%" PRId64 " open seat(s) + %" PRId64 " = %" PRId64 " candidate(s); %zu with ties at the cut",
             open, d->r->o[O_RUNOFF_EXTRA].i, want, take);
    add_rule(d, "runoff_extra_candidates", d->r->o[O_RUNOFF_EXTRA].cite, test, true, NULL);
    free(rest);
    outcome(d, "partly_elected");
}

static void decide_election(decide_t *d)
{
    const tally_in_t *in = d->in;
    if (ballots_void(d))
        return;
    if (!apply(d, T_VALIDITY, in->voters, in->roll, NULL)) {
        outcome(d, "invalid_round");
        return;
    }
    bool all = d->r->o[O_INVALID_IN_DEN].b;
    int64_t base = all ? in->ballots : in->ballots - in->invalid;
    char test[160];
    snprintf(test, sizeof test, "base %" PRId64 " ballots (%" PRId64 " invalid %s)", base, in->invalid,
             all ? "included" : "excluded");
    add_rule(d, "invalid_in_denominator", d->r->o[O_INVALID_IN_DEN].cite, test, all, NULL);

    size_t n = in->n_options + in->n_write_ins;
    person_t *people = calloc(n ? n : 1, sizeof *people);
    person_t **sorted = malloc((n ? n : 1) * sizeof *sorted);
    if (!people || !sorted)
        log_oom();
    int k = in->runoff ? T_RUNOFF : T_WIN;
    for (size_t i = 0; i < n; i++) {
        person_t *p = &people[i];
        p->pos = i;
        p->write_in = i >= in->n_options;
        p->order = p->write_in ? i - in->n_options : i;
        p->name = p->write_in ? in->write_in_names[p->order] : in->names[i];
        p->votes = p->write_in ? in->write_in_votes[p->order] : in->options[i];
        p->over = apply(d, k, p->votes, base, p->name);
        sorted[i] = p;
    }
    qsort(sorted, n, sizeof *sorted, by_votes);
    fill_seats(d, sorted, n);
    free(sorted);
    free(people);
}

json_t *rules_decide(const rules_t *r, const tally_in_t *in, char *err, size_t errsz)
{
    if (!r || !in) {
        fail(err, errsz, "no rules or no input");
        return NULL;
    }
    if (!check_common(in, err, errsz) || !check_kind(r, in, err, errsz))
        return NULL;
    decide_t d = {.r = r, .in = in, .res = json_object(), .rules = json_array()};
    if (!d.res || !d.rules)
        log_oom();
    jset(d.res, "outcome", jstr(""));    /* first member; set for real below */
    jset(d.res, "roll", jint(in->roll));
    jset(d.res, "voters", jint(in->voters));
    jset(d.res, "ballots", jint(in->ballots));
    jset(d.res, "invalid", jint(in->invalid));
    jset(d.res, "valid", jint(in->ballots - in->invalid));
    json_t *turnout = json_object();
    if (!turnout)
        log_oom();
    jset(turnout, "voters", jint(in->voters));
    jset(turnout, "roll", jint(in->roll));
    jset(turnout, "permille", jint(in->voters * 1000 / in->roll));
    jset(d.res, "turnout", turnout);
    if (!put_counts(&d, err, errsz)) {
        json_decref(d.rules);
        json_decref(d.res);
        return NULL;
    }
    jset(d.res, "rules", d.rules);
    switch (in->kind) {
    case KIND_RESOLUTION:
        decide_resolution(&d);
        break;
    case KIND_SELECTION:
        decide_selection(&d);
        break;
    case KIND_EVALUATION:
        decide_evaluation(&d);
        break;
    case KIND_ELECTION:
        decide_election(&d);
        break;
    }
    return d.res;
}
