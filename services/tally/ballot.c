#include "ballot.h"

#include <openssl/evp.h>
#include <stdio.h>
#include <string.h>

#include "log.h"
#include "utf8.h"

static const char *const KIND_NAMES[] = {[KIND_RESOLUTION] = "resolution", [KIND_ELECTION] = "election",
                                         [KIND_EVALUATION] = "evaluation", [KIND_SELECTION] = "selection"};

const char *kind_name(tally_kind_t k) { return k <= KIND_SELECTION ? KIND_NAMES[k] : "?"; }

bool kind_parse(const char *name, tally_kind_t *out)
{
    for (int k = KIND_RESOLUTION; name && k <= KIND_SELECTION; k++)
        if (!strcmp(name, KIND_NAMES[k])) {
            *out = (tally_kind_t)k;
            return true;
        }
    return false;
}

bool ballot_name_ok(const char *s)
{
    if (!s)
        return false;
    size_t n = strlen(s);
    if (n == 0 || !utf8_valid(s, n))
        return false;
    size_t chars = 0;
    for (size_t i = 0; i < n;) {
        uint32_t cp;
        size_t l = utf8_decode(s + i, n - i, &cp);
        if (!l || cp < 0x20 || (cp >= 0x7f && cp < 0xa0) || cp == 0x2028 || cp == 0x2029)
            return false;
        i += l;
        chars++;
    }
    return chars <= NAME_MAX_CHARS;
}

/* true when obj has no member outside the NULL-terminated list */
static bool only(const json_t *obj, const char *const *members)
{
    const char *key;
    json_t *v;
    json_object_foreach ((json_t *)obj, key, v) {
        bool known = false;
        for (int i = 0; members[i] && !known; i++)
            known = !strcmp(key, members[i]);
        if (!known)
            return false;
    }
    return true;
}

/* a list of 1..BALLOT_MAX_OPTIONS objects, each with a distinct valid "name", an optional
 * integer id member (>= 1) and, for subjects, a "key" */
static bool entries_ok(const json_t *list, const char *id_member, bool keyed, char *why, size_t whysz,
                       const char *what)
{
    size_t n = json_array_size(list);
    if (!json_is_array(list) || n == 0 || n > BALLOT_MAX_OPTIONS) {
        snprintf(why, whysz, "%s: a list of 1 to %d entries", what, BALLOT_MAX_OPTIONS);
        return false;
    }
    for (size_t i = 0; i < n; i++) {
        json_t *e = json_array_get(list, i);
        const char *members[] = {"name", id_member ? id_member : "key", keyed ? "key" : NULL, NULL};
        const char *name = json_string_value(json_object_get(e, "name"));
        json_t *id = id_member ? json_object_get(e, id_member) : NULL;
        if (!json_is_object(e) || !only(e, members) || !ballot_name_ok(name) ||
            (id && (!json_is_integer(id) || json_integer_value(id) < 1))) {
            snprintf(why, whysz, "%s[%zu]: {\"name\": 1-40 characters%s%s%s}", what, i, id_member ? ", \"" : "",
                     id_member ? id_member : "", id_member ? "\": an id" : "");
            return false;
        }
        if (keyed) {
            const char *key = json_string_value(json_object_get(e, "key"));
            if (!key || !*key || strlen(key) > 64 || !utf8_valid(key, strlen(key))) {
                snprintf(why, whysz, "%s[%zu]: a \"key\" of 1-64 bytes (e.g. \"staff:12\")", what, i);
                return false;
            }
        }
        for (size_t j = 0; j < i; j++) {
            json_t *o = json_array_get(list, j);
            if (!strcmp(name, json_string_value(json_object_get(o, "name"))) ||
                (keyed && !strcmp(json_string_value(json_object_get(e, "key")), json_string_value(json_object_get(o, "key"))))) {
                snprintf(why, whysz, "%s[%zu]: the same as %s[%zu]", what, i, what, j);
                return false;
            }
        }
    }
    return true;
}

json_t *ballot_def_check(tally_kind_t kind, const json_t *ballot, char *why, size_t whysz)
{
    if (ballot && !json_is_object(ballot)) {
        snprintf(why, whysz, "ballot: an object");
        return NULL;
    }
    switch (kind) {
    case KIND_RESOLUTION: {
        static const char *const m[] = {"choices", NULL};
        json_t *choices = ballot ? json_object_get(ballot, "choices") : NULL;
        if (ballot && !only(ballot, m)) {
            snprintf(why, whysz, "ballot of a resolution: {\"choices\": [3 names]} only");
            return NULL;
        }
        if (!choices)
            return json_pack("{s:[s,s,s]}", "choices", "同意", "不同意", "弃权");
        if (json_array_size(choices) != 3 || !ballot_name_ok(json_string_value(json_array_get(choices, 0))) ||
            !ballot_name_ok(json_string_value(json_array_get(choices, 1))) ||
            !ballot_name_ok(json_string_value(json_array_get(choices, 2)))) {
            snprintf(why, whysz, "ballot.choices: three names (yes, no, abstain: 同意, 不同意, 弃权)");
            return NULL;
        }
        return json_deep_copy(ballot);
    }
    case KIND_ELECTION: {
        static const char *const m[] = {"seats", "candidates", "write_ins", NULL};
        json_t *seats = json_object_get(ballot, "seats"), *wi = json_object_get(ballot, "write_ins");
        if (!ballot || !only(ballot, m) || !json_is_integer(seats) || json_integer_value(seats) < 1 ||
            json_integer_value(seats) > BALLOT_MAX_OPTIONS || (wi && !json_is_boolean(wi))) {
            snprintf(why, whysz, "ballot of an election: {\"seats\": n >= 1, \"candidates\": [...], \"write_ins\": bool}");
            return NULL;
        }
        if (!entries_ok(json_object_get(ballot, "candidates"), "resident_id", false, why, whysz, "ballot.candidates"))
            return NULL;
        json_t *out = json_deep_copy(ballot);
        if (!wi)
            json_object_set_new(out, "write_ins", json_false());
        return out;
    }
    case KIND_EVALUATION: {
        static const char *const m[] = {"scale", "subjects", "year", NULL};
        const char *scale = json_string_value(json_object_get(ballot, "scale"));
        json_t *year = json_object_get(ballot, "year");
        if (!ballot || !only(ballot, m) || !scale || (strcmp(scale, "satisfaction") && strcmp(scale, "competence")) ||
            !json_is_integer(year) || json_integer_value(year) < 2000 || json_integer_value(year) > 2100) {
            snprintf(why, whysz,
                     "ballot of an evaluation: {\"scale\": \"satisfaction\" | \"competence\", \"subjects\": [...], \"year\": y}");
            return NULL;
        }
        if (!entries_ok(json_object_get(ballot, "subjects"), NULL, true, why, whysz, "ballot.subjects"))
            return NULL;
        return json_deep_copy(ballot);
    }
    case KIND_SELECTION: {
        static const char *const m[] = {"nominees", NULL};
        if (!ballot || !only(ballot, m)) {
            snprintf(why, whysz, "ballot of a selection: {\"nominees\": [{\"name\", \"household_id\"}]}");
            return NULL;
        }
        if (!entries_ok(json_object_get(ballot, "nominees"), "household_id", false, why, whysz, "ballot.nominees"))
            return NULL;
        return json_deep_copy(ballot);
    }
    }
    snprintf(why, whysz, "unknown kind");
    return NULL;
}

void ballot_shape(tally_kind_t kind, const json_t *def, ballot_shape_t *out)
{
    static const char *const LIST[] = {[KIND_RESOLUTION] = "choices", [KIND_ELECTION] = "candidates",
                                       [KIND_EVALUATION] = "subjects", [KIND_SELECTION] = "nominees"};
    *out = (ballot_shape_t){.kind = kind, .options = json_array_size(json_object_get(def, LIST[kind]))};
    if (kind == KIND_ELECTION) {
        out->seats = (int)json_integer_value(json_object_get(def, "seats"));
        out->write_ins = json_is_true(json_object_get(def, "write_ins"));
    }
}

bool ballot_marks_check(const ballot_shape_t *s, const json_t *marks, const json_t *write_ins, short *out, size_t *n,
                        char *why, size_t whysz)
{
    size_t nm = json_array_size(marks), nw = write_ins ? json_array_size(write_ins) : 0;
    if (!json_is_array(marks) || (write_ins && !json_is_array(write_ins))) {
        snprintf(why, whysz, "marks (and write_ins) must be lists");
        return false;
    }
    if (nw && (s->kind != KIND_ELECTION || !s->write_ins)) {
        snprintf(why, whysz, "this ballot takes no write-ins");
        return false;
    }
    size_t want = s->kind == KIND_RESOLUTION ? 1 : s->kind == KIND_ELECTION ? 0 : s->options;
    int top = s->kind == KIND_RESOLUTION ? (int)s->options - 1 : s->kind == KIND_ELECTION ? (int)s->options - 1
              : s->kind == KIND_EVALUATION ? 3 : 2;
    if (s->kind == KIND_ELECTION ? nm + nw > (size_t)s->seats : nm != want) {
        if (s->kind == KIND_ELECTION)
            snprintf(why, whysz, "too many marks: %zu names for %d seats", nm + nw, s->seats);
        else
            snprintf(why, whysz, "%zu marks where the ballot needs %zu", nm, want);
        return false;
    }
    if (nm > BALLOT_MAX_OPTIONS) {
        snprintf(why, whysz, "too many marks");
        return false;
    }
    for (size_t i = 0; i < nm; i++) {
        json_t *m = json_array_get(marks, i);
        json_int_t v = json_is_integer(m) ? json_integer_value(m) : -1;
        if (v < 0 || v > top) {
            snprintf(why, whysz, "marks[%zu]: not a choice on the ballot (0 to %d)", i, top);
            return false;
        }
        out[i] = (short)v;
        if (s->kind == KIND_ELECTION)
            for (size_t j = 0; j < i; j++)
                if (out[j] == out[i]) {
                    snprintf(why, whysz, "marks[%zu]: candidate %d marked twice", i, out[i]);
                    return false;
                }
    }
    for (size_t i = 0; i < nw; i++) {
        const char *w = json_string_value(json_array_get(write_ins, i));
        if (!ballot_name_ok(w)) {
            snprintf(why, whysz, "write_ins[%zu]: a name of 1-40 characters", i);
            return false;
        }
        for (size_t j = 0; j < i; j++)
            if (!strcmp(w, json_string_value(json_array_get(write_ins, j)))) {
                snprintf(why, whysz, "write_ins[%zu]: named twice", i);
                return false;
            }
    }
    *n = nm;
    return true;
}

bool ballot_marks_sql(const short *marks, size_t n, char *out, size_t outsz)
{
    if (outsz < 3)
        return false;
    size_t at = 0;
    out[at++] = '{';
    for (size_t i = 0; i < n; i++) {
        int w = snprintf(out + at, outsz - at, "%s%d", i ? "," : "", marks[i]);
        if (w < 0 || (size_t)w >= outsz - at)
            return false;
        at += (size_t)w;
    }
    if (at + 2 > outsz)
        return false;
    out[at++] = '}';
    out[at] = '\0';
    return true;
}

bool ballot_names_sql(const json_t *names, char *out, size_t outsz)
{
    size_t at = 0;
    if (outsz < 3)
        return false;
    out[at++] = '{';
    for (size_t i = 0; i < json_array_size(names); i++) {
        const char *s = json_string_value(json_array_get(names, i));
        if (!s)
            return false;
        if (at + 2 * strlen(s) + 4 >= outsz)
            return false;
        if (i)
            out[at++] = ',';
        out[at++] = '"';
        for (const char *p = s; *p; p++) {
            if (*p == '"' || *p == '\\')
                out[at++] = '\\';
            out[at++] = *p;
        }
        out[at++] = '"';
    }
    if (at + 2 > outsz)
        return false;
    out[at++] = '}';
    out[at] = '\0';
    return true;
}

void ballot_hash_hex(const char *motion_code, const char *id, const short *marks, size_t n, const json_t *write_ins,
                     char hex[65])
{
    EVP_MD_CTX *md = EVP_MD_CTX_new();
    if (!md)
        log_oom();
    EVP_DigestInit_ex(md, EVP_sha256(), NULL);
    EVP_DigestUpdate(md, "gridgov-ballot-v2\n", 18);
    EVP_DigestUpdate(md, motion_code, strlen(motion_code));
    EVP_DigestUpdate(md, "\n", 1);
    EVP_DigestUpdate(md, id, strlen(id));
    EVP_DigestUpdate(md, "\n", 1);
    for (size_t i = 0; i < n; i++) {
        char b[16];
        int l = snprintf(b, sizeof b, "%s%d", i ? "," : "", marks[i]);
        EVP_DigestUpdate(md, b, (size_t)l);
    }
    EVP_DigestUpdate(md, "\n", 1);
    for (size_t i = 0; write_ins && i < json_array_size(write_ins); i++) {
        const char *w = json_string_value(json_array_get(write_ins, i));
        if (i)
            EVP_DigestUpdate(md, "\n", 1);
        EVP_DigestUpdate(md, w, strlen(w));
    }
    unsigned char d[32];
    unsigned len = 0;
    EVP_DigestFinal_ex(md, d, &len);
    EVP_MD_CTX_free(md);
    for (int i = 0; i < 32; i++)
        snprintf(hex + 2 * i, 3, "%02x", d[i]);
}
