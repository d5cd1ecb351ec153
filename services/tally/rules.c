/* PLACEHOLDER (branch t-daemon only): a minimal rules.c so that gridgov-tally links before helper
 * A's services/tally/rules.c (branch t-rules) lands. The coordinator replaces this file with A's
 * at merge. It reads thresholds and options as rules.h describes and gives a result with the
 * counts and a plain outcome; it does NOT apply the law's rules as A's does (no runoffs, ties,
 * voiding, evaluation verdicts beyond a simple share). Do not judge results by it. */
#include "rules.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct rules {
    json_t *body;
};

static const char *const THRESHOLDS[] = {"meeting_quorum", "meeting_decision", "election_validity", "election_win",
                                         "runoff_win", "evaluation_unfit", "evaluation_excellent", NULL};

rules_t *rules_parse(const json_t *body, char *err, size_t errsz)
{
    json_t *th = json_object_get(body, "thresholds"), *op = json_object_get(body, "options");
    if (!json_is_object(th) || !json_is_object(op)) {
        snprintf(err, errsz, "thresholds and options: objects");
        return NULL;
    }
    for (int i = 0; THRESHOLDS[i]; i++) {
        json_t *t = json_object_get(th, THRESHOLDS[i]);
        json_int_t num = json_integer_value(json_object_get(t, "num")), den = json_integer_value(json_object_get(t, "den"));
        if (num <= 0 || den < num) {
            snprintf(err, errsz, "threshold %s: 0 < num <= den", THRESHOLDS[i]);
            return NULL;
        }
    }
    rules_t *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    r->body = json_deep_copy(body);
    return r;
}

void rules_destroy(rules_t **self)
{
    if (!self || !*self)
        return;
    json_decref((*self)->body);
    free(*self);
    *self = NULL;
}

bool rules_threshold_met(const rules_t *r, const char *name, int64_t x, int64_t n)
{
    json_t *t = json_object_get(json_object_get(r->body, "thresholds"), name);
    int64_t num = json_integer_value(json_object_get(t, "num")), den = json_integer_value(json_object_get(t, "den"));
    return json_is_true(json_object_get(t, "inclusive")) ? den * x >= num * n : den * x > num * n;
}

static json_t *option(const rules_t *r, const char *name)
{
    return json_object_get(json_object_get(json_object_get(r->body, "options"), name), "value");
}

int64_t rules_option_int(const rules_t *r, const char *name) { return json_integer_value(option(r, name)); }

bool rules_option_bool(const rules_t *r, const char *name) { return json_is_true(option(r, name)); }

const char *rules_cite(const rules_t *r, const char *name)
{
    json_t *t = json_object_get(json_object_get(r->body, "thresholds"), name);
    if (!t)
        t = json_object_get(json_object_get(r->body, "options"), name);
    const char *c = json_string_value(json_object_get(t, "cite"));
    return c ? c : "";
}

static json_t *int_list(const int64_t *v, size_t n)
{
    json_t *a = json_array();
    for (size_t i = 0; i < n; i++)
        json_array_append_new(a, json_integer(v[i]));
    return a;
}

json_t *rules_decide(const rules_t *r, const tally_in_t *in, char *err, size_t errsz)
{
    if (in->ballots < in->invalid || in->roll < 0) {
        snprintf(err, errsz, "ballots < invalid");
        return NULL;
    }
    int64_t valid = in->ballots - in->invalid;
    json_t *counts = json_object(), *res = json_object();
    const char *outcome = "evaluated";
    bool quorum = rules_threshold_met(r, in->kind == KIND_ELECTION ? "election_validity" : "meeting_quorum", in->voters,
                                      in->roll);
    switch (in->kind) {
    case KIND_RESOLUTION:
        json_object_set_new(counts, "options", int_list(in->options, 3));
        outcome = !quorum ? "no_quorum" : rules_threshold_met(r, "meeting_decision", in->options[0], in->voters) ? "adopted" : "rejected";
        break;
    case KIND_ELECTION: {
        json_object_set_new(counts, "candidates", int_list(in->options, in->n_options));
        json_t *wi = json_object();
        for (size_t i = 0; i < in->n_write_ins; i++)
            json_object_set_new(wi, in->write_in_names[i], json_integer(in->write_in_votes[i]));
        json_object_set_new(counts, "write_ins", wi);
        json_object_set_new(counts, "blank", json_integer(in->blank));
        json_t *elected = json_array();
        for (size_t i = 0; quorum && i < in->n_options; i++)
            if (rules_threshold_met(r, "election_win", in->options[i], valid))
                json_array_append_new(elected, json_pack("{s:s,s:i,s:I}", "name", in->names[i], "index", (int)i, "votes",
                                                         (json_int_t)in->options[i]));
        outcome = !quorum ? "invalid_round" : json_array_size(elected) >= (size_t)in->seats ? "elected" : "partly_elected";
        json_object_set_new(res, "elected", elected);
        break;
    }
    case KIND_EVALUATION: {
        json_t *subj = json_array(), *rows = json_array();
        for (size_t s = 0; s < in->n_subjects; s++) {
            json_array_append_new(rows, int_list(in->levels + 4 * s, 4));
            json_array_append_new(subj, json_pack("{s:s,s:s,s:o,s:s}", "key", in->subject_keys[s], "name", in->names[s],
                                                  "levels", int_list(in->levels + 4 * s, 4), "verdict", "fit"));
        }
        json_object_set_new(counts, "subjects", rows);
        json_object_set_new(res, "subjects", subj);
        outcome = quorum ? "evaluated" : "no_quorum";
        break;
    }
    case KIND_SELECTION: {
        json_t *rows = json_array(), *nom = json_array();
        for (size_t i = 0; i < in->n_options / 3; i++) {
            const int64_t *o = in->options + 3 * i;
            json_array_append_new(rows, int_list(o, 3));
            json_array_append_new(nom, json_pack("{s:s,s:I,s:I,s:I,s:b}", "name", in->names[i], "approve", (json_int_t)o[0],
                                                 "disapprove", (json_int_t)o[1], "abstain", (json_int_t)o[2], "adopted",
                                                 quorum && rules_threshold_met(r, "meeting_decision", o[0], in->voters)));
        }
        json_object_set_new(counts, "nominees", rows);
        json_object_set_new(res, "nominees", nom);
        outcome = quorum ? "adopted" : "no_quorum";
        break;
    }
    }
    json_object_set_new(res, "outcome", json_string(outcome));
    json_object_set_new(res, "roll", json_integer(in->roll));
    json_object_set_new(res, "voters", json_integer(in->voters));
    json_object_set_new(res, "ballots", json_integer(in->ballots));
    json_object_set_new(res, "invalid", json_integer(in->invalid));
    json_object_set_new(res, "valid", json_integer(valid));
    json_object_set_new(res, "turnout", json_pack("{s:I,s:I,s:I}", "voters", (json_int_t)in->voters, "roll",
                                                  (json_int_t)in->roll, "permille",
                                                  (json_int_t)(in->roll ? 1000 * in->voters / in->roll : 0)));
    json_object_set_new(res, "counts", counts);
    json_object_set_new(res, "rules", json_array());
    return res;
}
