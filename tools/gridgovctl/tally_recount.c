/* tally_recount: see tally_recount.h. Counts are int64 cells in one array: resolution options,
 * election candidates, evaluation subjects × 4 levels, selection nominees × 3 choices. */
#include "tally_recount.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

typedef enum { K_RESOLUTION, K_ELECTION, K_EVALUATION, K_SELECTION } kind_t;

struct tally_recount {
    kind_t kind;
    size_t rows;          /* options, candidates, subjects or nominees */
    size_t per_row;       /* 1, 1, 4 or 3 */
    int64_t *cells;       /* rows × per_row */
    int64_t seats;        /* election */
    bool write_ins_allowed;
    int64_t blank;
    json_t *write_ins;    /* election: name → votes */
};

tally_recount_t *tally_recount_new(const char *kind, const json_t *ballot, char *err, size_t errsz)
{
    if (!kind || !json_is_object(ballot)) {
        snprintf(err, errsz, "the motion has no kind or no ballot object");
        return NULL;
    }
    tally_recount_t *r = calloc(1, sizeof *r);
    if (!r)
        abort();
    const char *list = NULL;
    if (!strcmp(kind, "resolution")) {
        r->kind = K_RESOLUTION, r->per_row = 1, list = "choices";
    } else if (!strcmp(kind, "election")) {
        r->kind = K_ELECTION, r->per_row = 1, list = "candidates";
        json_t *seats = json_object_get(ballot, "seats");
        r->seats = json_is_integer(seats) ? json_integer_value(seats) : -1;
        r->write_ins_allowed = json_is_true(json_object_get(ballot, "write_ins"));
        if (r->seats < 1) {
            snprintf(err, errsz, "the election's ballot has no seats");
            goto fail;
        }
    } else if (!strcmp(kind, "evaluation")) {
        r->kind = K_EVALUATION, r->per_row = 4, list = "subjects";
    } else if (!strcmp(kind, "selection")) {
        r->kind = K_SELECTION, r->per_row = 3, list = "nominees";
    } else {
        snprintf(err, errsz, "unknown kind '%s'", kind);
        goto fail;
    }
    json_t *items = json_object_get(ballot, list);
    if (r->kind == K_RESOLUTION && !items)
        r->rows = 3;   /* 同意, 不同意, 弃权: the ballot may leave its choices out */
    else if (json_is_array(items) && json_array_size(items) > 0)
        r->rows = json_array_size(items);
    else {
        snprintf(err, errsz, "the ballot has no %s", list);
        goto fail;
    }
    r->cells = calloc(r->rows * r->per_row, sizeof *r->cells);
    r->write_ins = json_object();
    if (!r->cells || !r->write_ins)
        abort();
    return r;
fail:
    free(r);
    return NULL;
}

void tally_recount_destroy(tally_recount_t **self)
{
    if (!self || !*self)
        return;
    free((*self)->cells);
    json_decref((*self)->write_ins);
    free(*self);
    *self = NULL;
}

/* A mark: an integer in [0, limit). */
static bool mark_at(const json_t *marks, size_t i, int64_t limit, int64_t *out)
{
    json_t *m = json_array_get(marks, i);
    if (!json_is_integer(m) || json_integer_value(m) < 0 || json_integer_value(m) >= limit)
        return false;
    *out = json_integer_value(m);
    return true;
}

static void add_write_in(json_t *acc, const char *name, int64_t n)
{
    json_t *cur = json_object_get(acc, name);
    json_object_set_new(acc, name, json_integer((cur ? json_integer_value(cur) : 0) + n));
}

bool tally_recount_ballot(tally_recount_t *self, const json_t *marks, const json_t *write_ins, char *err, size_t errsz)
{
    if (!json_is_array(marks) || !json_is_array(write_ins)) {
        snprintf(err, errsz, "marks and write_ins must be lists");
        return false;
    }
    size_t n = json_array_size(marks), w = json_array_size(write_ins);
    if (self->kind != K_ELECTION && w > 0) {
        snprintf(err, errsz, "write-ins on a ballot of a kind that has none");
        return false;
    }
    int64_t v;
    switch (self->kind) {
    case K_RESOLUTION:
        if (n != 1 || !mark_at(marks, 0, (int64_t)self->rows, &v)) {
            snprintf(err, errsz, "a resolution's ballot is one choice of %zu", self->rows);
            return false;
        }
        self->cells[v]++;
        return true;
    case K_ELECTION: {
        if (w > 0 && !self->write_ins_allowed) {
            snprintf(err, errsz, "write-ins on a ballot that allows none");
            return false;
        }
        if ((int64_t)(n + w) > self->seats) {
            snprintf(err, errsz, "%zu names for %lld seats", n + w, (long long)self->seats);
            return false;
        }
        for (size_t i = 0; i < n; i++) {
            if (!mark_at(marks, i, (int64_t)self->rows, &v)) {
                snprintf(err, errsz, "mark %zu is not a candidate", i);
                return false;
            }
            for (size_t j = 0; j < i; j++)
                if (json_integer_value(json_array_get(marks, j)) == v) {
                    snprintf(err, errsz, "candidate %lld marked twice", (long long)v);
                    return false;
                }
        }
        for (size_t i = 0; i < w; i++)
            if (!json_is_string(json_array_get(write_ins, i)) || !json_string_length(json_array_get(write_ins, i))) {
                snprintf(err, errsz, "write-in %zu is not a name", i);
                return false;
            }
        for (size_t i = 0; i < n; i++)
            self->cells[json_integer_value(json_array_get(marks, i))]++;
        for (size_t i = 0; i < w; i++)
            add_write_in(self->write_ins, json_string_value(json_array_get(write_ins, i)), 1);
        if (n + w == 0)
            self->blank++;
        return true;
    }
    case K_EVALUATION:
    case K_SELECTION:
        if (n != self->rows) {
            snprintf(err, errsz, "%zu marks for %zu %s", n, self->rows,
                     self->kind == K_EVALUATION ? "subjects" : "nominees");
            return false;
        }
        for (size_t i = 0; i < n; i++) {
            if (!mark_at(marks, i, (int64_t)self->per_row, &v)) {
                snprintf(err, errsz, "mark %zu is not one of %zu levels", i, self->per_row);
                return false;
            }
        }
        for (size_t i = 0; i < n; i++)
            self->cells[i * self->per_row + (size_t)json_integer_value(json_array_get(marks, i))]++;
        return true;
    }
    return false;
}

/* A count: a non-negative integer. */
static bool count_of(const json_t *c, int64_t *out)
{
    if (!json_is_integer(c) || json_integer_value(c) < 0)
        return false;
    *out = json_integer_value(c);
    return true;
}

/* Adds a list of `len` counts into cells. */
static bool add_list(int64_t *cells, const json_t *list, size_t len)
{
    if (!json_is_array(list) || json_array_size(list) != len)
        return false;
    int64_t v;
    for (size_t i = 0; i < len; i++)
        if (!count_of(json_array_get(list, i), &v))
            return false;
    for (size_t i = 0; i < len; i++)
        cells[i] += json_integer_value(json_array_get(list, i));
    return true;
}

bool tally_recount_paper(tally_recount_t *self, const json_t *counts, char *err, size_t errsz)
{
    static const char *const KEY[] = {"options", "candidates", "subjects", "nominees"};
    const char *key = KEY[self->kind];
    json_t *list = json_object_get(counts, key);
    bool ok = json_is_object(counts) && json_is_array(list) && json_array_size(list) == self->rows;
    if (ok && self->per_row == 1)
        ok = add_list(self->cells, list, self->rows);
    for (size_t i = 0; ok && self->per_row > 1 && i < self->rows; i++)
        ok = add_list(self->cells + i * self->per_row, json_array_get(list, i), self->per_row);
    if (ok && self->kind == K_ELECTION) {
        int64_t blank = 0;
        json_t *wi = json_object_get(counts, "write_ins");
        ok = count_of(json_object_get(counts, "blank"), &blank) && (!wi || json_is_object(wi));
        const char *name;
        json_t *v;
        int64_t n;
        json_object_foreach(wi, name, v) ok = ok && count_of(v, &n);
        if (ok) {
            self->blank += blank;
            json_object_foreach(wi, name, v) add_write_in(self->write_ins, name, json_integer_value(v));
        }
    }
    if (!ok)
        snprintf(err, errsz, "the counts do not have the %s's shape (\"%s\")",
                 self->kind == K_RESOLUTION ? "resolution" : self->kind == K_ELECTION ? "election"
                 : self->kind == K_EVALUATION ? "evaluation" : "selection", key);
    return ok;
}

json_t *tally_recount_counts(const tally_recount_t *self)
{
    json_t *list = json_array();
    for (size_t i = 0; i < self->rows; i++) {
        if (self->per_row == 1) {
            json_array_append_new(list, json_integer(self->cells[i]));
            continue;
        }
        json_t *row = json_array();
        for (size_t j = 0; j < self->per_row; j++)
            json_array_append_new(row, json_integer(self->cells[i * self->per_row + j]));
        json_array_append_new(list, row);
    }
    static const char *const KEY[] = {"options", "candidates", "subjects", "nominees"};
    json_t *out = json_object();
    json_object_set_new(out, KEY[self->kind], list);
    if (self->kind == K_ELECTION) {
        json_object_set_new(out, "write_ins", json_deep_copy(self->write_ins));
        json_object_set_new(out, "blank", json_integer(self->blank));
    }
    return out;
}
