#include "motions_input.h"

#include <ctype.h>
#include <stdarg.h>
#include <stdio.h>
#include <string.h>

#include "timefmt.h"
#include "utf8.h"

/* Bounds at the edge. A villager group has tens of households and a few hundred adults; these
 * leave room for the largest while keeping every command well under the bus's frame limit. */
#define NAME_MAX_CHARS 40     /* CHAIN.md: a name has 1-40 characters */
#define TITLE_MAX_CHARS 200   /* tally.motion.title */
#define BODY_MAX_CHARS 4000   /* tally.motion.body */
#define MAX_VOTER_IDS 5000    /* paper-voters, slips */
#define MAX_CANDIDATES 200   /* tally's BALLOT_MAX_OPTIONS: candidates, subjects or nominees */
#define MAX_SUBJECTS 200
#define MAX_TELLERS 20
#define MAX_MARKS 200
#define MAX_WRITE_INS 50
#define MAX_COUNT 1000000     /* ballots in one box */
#define MAX_SEATS 200

static const char ALPHABET[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"; /* Crockford base32 */

typedef struct {
    input_error_t *e;
} ck_t;

static bool fail(ck_t *c, const char *code, const char *field, const char *fmt, ...) __attribute__((format(printf, 4, 5)));

static bool fail(ck_t *c, const char *code, const char *field, const char *fmt, ...)
{
    c->e->status = 400;
    snprintf(c->e->code, sizeof c->e->code, "%s", code);
    snprintf(c->e->field, sizeof c->e->field, "%s", field);
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(c->e->message, sizeof c->e->message, fmt, ap);
    va_end(ap);
    return false;
}

/* A member's path for errors; a path too long for out is cut (it names the place, nothing more). */
static void sub(char *out, size_t n, const char *parent, const char *member)
{
    if (snprintf(out, n, "%s%s%s", parent, *parent ? "." : "", member) < 0)
        out[0] = '\0';
}

static void item(char *out, size_t n, const char *parent, size_t i)
{
    if (snprintf(out, n, "%s[%zu]", parent, i) < 0)
        out[0] = '\0';
}

/* Text of min..max characters; control characters refused unless multiline (then \n and \t pass). */
static bool text(ck_t *c, const json_t *v, const char *field, size_t min, size_t max, bool multiline)
{
    if (!json_is_string(v))
        return fail(c, "invalid_field", field, "%s must be text", field);
    const char *s = json_string_value(v);
    size_t len = json_string_length(v);
    if (!utf8_valid(s, len))
        return fail(c, "invalid_field", field, "%s must be UTF-8 without NUL", field);
    size_t chars = utf8_count(s, len);
    if (chars < min || chars > max)
        return fail(c, "invalid_field", field, "%s must have %zu to %zu characters", field, min, max);
    for (size_t i = 0; i < len;) {
        uint32_t cp = 0;
        size_t k = utf8_decode(s + i, len - i, &cp);
        if (!k)
            return fail(c, "invalid_field", field, "%s must be UTF-8", field);
        bool control = cp < 0x20 || (cp >= 0x7f && cp <= 0x9f);
        if (control && !(multiline && (cp == '\n' || cp == '\t')))
            return fail(c, "invalid_field", field, "%s must not hold control characters", field);
        i += k;
    }
    return true;
}

static bool name(ck_t *c, const json_t *v, const char *field)
{
    return text(c, v, field, 1, NAME_MAX_CHARS, false);
}

static bool integer(ck_t *c, const json_t *v, const char *field, long long min, long long max)
{
    if (!json_is_integer(v) || json_integer_value(v) < min || json_integer_value(v) > max)
        return fail(c, "invalid_field", field, "%s must be a whole number from %lld to %lld", field, min, max);
    return true;
}

static bool id(ck_t *c, const json_t *v, const char *field)
{
    return integer(c, v, field, 1, 9007199254740991LL); /* a bigint id JSON readers keep exact */
}

static bool one_of(ck_t *c, const json_t *v, const char *field, const char *const *allowed, const char *list)
{
    if (json_is_string(v))
        for (const char *const *a = allowed; *a; a++)
            if (!strcmp(json_string_value(v), *a))
                return true;
    return fail(c, "invalid_field", field, "%s must be one of %s", field, list);
}

static bool pattern_ok(const char *s, const char *first, const char *rest, size_t max)
{
    size_t n = strlen(s);
    return n >= 1 && n <= max && strchr(first, s[0]) && s[0] && strspn(s + 1, rest) == n - 1;
}

static bool array(ck_t *c, const json_t *v, const char *field, size_t min, size_t max)
{
    if (!json_is_array(v))
        return fail(c, "invalid_field", field, "%s must be a list", field);
    if (json_array_size(v) < min || json_array_size(v) > max)
        return fail(c, "invalid_field", field, "%s must have %zu to %zu entries", field, min, max);
    return true;
}

static bool time_text(ck_t *c, const json_t *v, const char *field)
{
    int64_t us;
    if (!json_is_string(v) || !timefmt_parse_db(json_string_value(v), &us))
        return fail(c, "invalid_field", field, "%s must be an RFC 3339 time with its zone, e.g. 2026-12-20T18:00:00+08:00",
                    field);
    return true;
}

/* Only the members named in allowed (NULL-terminated); each one in required present. */
static bool members(ck_t *c, const json_t *obj, const char *field, const char *const *allowed, const char *const *required)
{
    char path[64];
    if (!json_is_object(obj))
        return fail(c, "invalid_field", *field ? field : "body", "%s must be a JSON object", *field ? field : "the body");
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v)
    {
        bool known = false;
        for (const char *const *a = allowed; *a && !known; a++)
            known = !strcmp(k, *a);
        if (!known) {
            sub(path, sizeof path, field, k);
            return fail(c, "invalid_field", path, "%s is not a member this takes", path);
        }
    }
    for (const char *const *r = required; r && *r; r++)
        if (!json_object_get(obj, *r)) {
            sub(path, sizeof path, field, *r);
            return fail(c, "missing_field", path, "%s is required", path);
        }
    return true;
}

static bool id_list(ck_t *c, const json_t *v, const char *field, size_t min)
{
    if (!array(c, v, field, min, MAX_VOTER_IDS))
        return false;
    size_t i;
    json_t *x;
    char path[64];
    json_array_foreach(v, i, x)
    {
        item(path, sizeof path, field, i);
        if (!id(c, x, path))
            return false;
    }
    return true;
}

static bool name_list(ck_t *c, const json_t *v, const char *field, size_t min, size_t max)
{
    if (!array(c, v, field, min, max))
        return false;
    size_t i;
    json_t *x;
    char path[64];
    json_array_foreach(v, i, x)
    {
        item(path, sizeof path, field, i);
        if (!name(c, x, path))
            return false;
    }
    return true;
}

/* A list of entries, each an object checked by fn. */
typedef bool (*entry_fn)(ck_t *c, const json_t *v, const char *path);

static bool entries(ck_t *c, const json_t *v, const char *field, size_t min, size_t max, entry_fn fn)
{
    if (!array(c, v, field, min, max))
        return false;
    size_t i;
    json_t *x;
    char path[64];
    json_array_foreach(v, i, x)
    {
        item(path, sizeof path, field, i);
        if (!fn(c, x, path))
            return false;
    }
    return true;
}

static bool candidate(ck_t *c, const json_t *v, const char *path)
{
    static const char *const allowed[] = {"name", "resident_id", NULL}, *const req[] = {"name", NULL};
    char f[64];
    if (!members(c, v, path, allowed, req))
        return false;
    sub(f, sizeof f, path, "name");
    if (!name(c, json_object_get(v, "name"), f))
        return false;
    sub(f, sizeof f, path, "resident_id");
    return !json_object_get(v, "resident_id") || id(c, json_object_get(v, "resident_id"), f);
}

static bool subject(ck_t *c, const json_t *v, const char *path)
{
    static const char *const allowed[] = {"name", "key", NULL};
    char f[64];
    if (!members(c, v, path, allowed, allowed))
        return false;
    sub(f, sizeof f, path, "name");
    if (!name(c, json_object_get(v, "name"), f))
        return false;
    sub(f, sizeof f, path, "key");
    return text(c, json_object_get(v, "key"), f, 1, 64, false);
}

static bool nominee(ck_t *c, const json_t *v, const char *path)
{
    static const char *const allowed[] = {"name", "household_id", NULL}, *const req[] = {"name", NULL};
    char f[64];
    if (!members(c, v, path, allowed, req))
        return false;
    sub(f, sizeof f, path, "name");
    if (!name(c, json_object_get(v, "name"), f))
        return false;
    sub(f, sizeof f, path, "household_id");
    return !json_object_get(v, "household_id") || id(c, json_object_get(v, "household_id"), f);
}

/* The ballot per kind (025_tally.sql's comment on tally.motion.ballot). A runoff takes its
 * candidates from the first round's result, so they may be left out there. */
static bool ballot(ck_t *c, const char *kind, const json_t *b, bool runoff)
{
    if (!strcmp(kind, "resolution")) {
        static const char *const allowed[] = {"choices", NULL};
        return members(c, b, "ballot", allowed, NULL) &&
               (!json_object_get(b, "choices") || name_list(c, json_object_get(b, "choices"), "ballot.choices", 3, 3));
    }
    if (!strcmp(kind, "election")) {
        static const char *const allowed[] = {"seats", "candidates", "write_ins", NULL};
        static const char *const req[] = {"seats", "candidates", NULL}, *const req_runoff[] = {NULL};
        if (!members(c, b, "ballot", allowed, runoff ? req_runoff : req))
            return false;
        const json_t *w = json_object_get(b, "write_ins");
        if (w && !json_is_boolean(w))
            return fail(c, "invalid_field", "ballot.write_ins", "ballot.write_ins must be true or false");
        return (!json_object_get(b, "seats") || integer(c, json_object_get(b, "seats"), "ballot.seats", 1, MAX_SEATS)) &&
               (!json_object_get(b, "candidates") ||
                entries(c, json_object_get(b, "candidates"), "ballot.candidates", 0, MAX_CANDIDATES, candidate));
    }
    if (!strcmp(kind, "evaluation")) {
        static const char *const allowed[] = {"scale", "subjects", "year", NULL};
        static const char *const scales[] = {"satisfaction", "competence", NULL};
        return members(c, b, "ballot", allowed, allowed) &&
               one_of(c, json_object_get(b, "scale"), "ballot.scale", scales, "satisfaction, competence") &&
               entries(c, json_object_get(b, "subjects"), "ballot.subjects", 1, MAX_SUBJECTS, subject) &&
               integer(c, json_object_get(b, "year"), "ballot.year", 2000, 2100);
    }
    static const char *const allowed[] = {"nominees", NULL};
    return members(c, b, "ballot", allowed, allowed) &&
           entries(c, json_object_get(b, "nominees"), "ballot.nominees", 1, MAX_CANDIDATES, nominee);
}

static bool count_list(ck_t *c, const json_t *v, const char *field, size_t min, size_t max)
{
    if (!array(c, v, field, min, max))
        return false;
    size_t i;
    json_t *x;
    char path[64];
    json_array_foreach(v, i, x)
    {
        item(path, sizeof path, field, i);
        if (!integer(c, x, path, 0, MAX_COUNT))
            return false;
    }
    return true;
}

static bool count_rows(ck_t *c, const json_t *v, const char *field, size_t max_rows, size_t width)
{
    if (!array(c, v, field, 1, max_rows))
        return false;
    size_t i;
    json_t *x;
    char path[64];
    json_array_foreach(v, i, x)
    {
        item(path, sizeof path, field, i);
        if (!count_list(c, x, path, width, width))
            return false;
    }
    return true;
}

/* A box's counts per kind (CHAIN.md, "Paper"). */
static bool counts(ck_t *c, const char *kind, const json_t *v)
{
    if (!kind || !strcmp(kind, "resolution")) {
        static const char *const allowed[] = {"options", NULL};
        return members(c, v, "counts", allowed, allowed) && count_list(c, json_object_get(v, "options"), "counts.options", 3, 3);
    }
    if (!strcmp(kind, "election")) {
        static const char *const allowed[] = {"candidates", "write_ins", "blank", NULL}, *const req[] = {"candidates", NULL};
        if (!members(c, v, "counts", allowed, req) ||
            !count_list(c, json_object_get(v, "candidates"), "counts.candidates", 0, MAX_CANDIDATES))
            return false;
        const json_t *b = json_object_get(v, "blank"), *w = json_object_get(v, "write_ins");
        if (b && !integer(c, b, "counts.blank", 0, MAX_COUNT))
            return false;
        if (!w)
            return true;
        if (!json_is_object(w) || json_object_size(w) > MAX_WRITE_INS)
            return fail(c, "invalid_field", "counts.write_ins", "counts.write_ins must be an object of at most %d names",
                        MAX_WRITE_INS);
        const char *k;
        json_t *n;
        json_object_foreach((json_t *)w, k, n)
        {
            json_t *key = json_string(k);
            bool ok = name(c, key, "counts.write_ins") && integer(c, n, "counts.write_ins", 0, MAX_COUNT);
            json_decref(key);
            if (!ok)
                return false;
        }
        return true;
    }
    if (!strcmp(kind, "evaluation")) {
        static const char *const allowed[] = {"subjects", NULL};
        return members(c, v, "counts", allowed, allowed) &&
               count_rows(c, json_object_get(v, "subjects"), "counts.subjects", MAX_SUBJECTS, 4);
    }
    static const char *const allowed[] = {"nominees", NULL};
    return members(c, v, "counts", allowed, allowed) &&
           count_rows(c, json_object_get(v, "nominees"), "counts.nominees", MAX_CANDIDATES, 3);
}

static bool check_create(ck_t *c, const json_t *b)
{
    static const char *const allowed[] = {"group",    "kind",      "title",     "body",    "electorate", "rule_set",
                                          "ballot",   "delivery",  "closes_at", "runoff_of", NULL};
    static const char *const req[] = {"group", "kind", "title", "electorate", "rule_set", NULL};
    static const char *const kinds[] = {"resolution", "election", "evaluation", "selection", NULL};
    static const char *const electorates[] = {"household", "adult", NULL};
    static const char *const deliveries[] = {"notify", "slips", NULL};
    if (!members(c, b, "", allowed, req))
        return false;
    const json_t *g = json_object_get(b, "group"), *rs = json_object_get(b, "rule_set"), *ro = json_object_get(b, "runoff_of");
    static const char code_chars[] = "0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz-_";
    if (!json_is_string(g) || !pattern_ok(json_string_value(g), code_chars, code_chars, 64))
        return fail(c, "invalid_field", "group", "group must be a villager group's unit code, e.g. 430121-101-03-05");
    if (!one_of(c, json_object_get(b, "kind"), "kind", kinds, "resolution, election, evaluation, selection") ||
        !text(c, json_object_get(b, "title"), "title", 1, TITLE_MAX_CHARS, false) ||
        (json_object_get(b, "body") && !text(c, json_object_get(b, "body"), "body", 0, BODY_MAX_CHARS, true)) ||
        !one_of(c, json_object_get(b, "electorate"), "electorate", electorates, "household (一户一票), adult (一人一票)"))
        return false;
    if (!json_is_string(rs) ||
        !pattern_ok(json_string_value(rs), "abcdefghijklmnopqrstuvwxyz0123456789", "abcdefghijklmnopqrstuvwxyz0123456789-", 32))
        return fail(c, "invalid_field", "rule_set", "rule_set must be a rule set's code, e.g. cn-2018");
    if (json_object_get(b, "delivery") && !one_of(c, json_object_get(b, "delivery"), "delivery", deliveries, "notify, slips"))
        return false;
    if (json_object_get(b, "closes_at") && !time_text(c, json_object_get(b, "closes_at"), "closes_at"))
        return false;
    if (ro && (!json_is_string(ro) || motions_code_number(json_string_value(ro)) < 0))
        return fail(c, "invalid_field", "runoff_of", "runoff_of must be a motion code, e.g. M2026-000123");
    /* A resolution without one gets the default choices (同意, 不同意, 弃权), a runoff its first
     * round's candidates: tally fills both in. */
    const json_t *bal = json_object_get(b, "ballot");
    if (!bal && !ro && strcmp(json_string_value(json_object_get(b, "kind")), "resolution"))
        return fail(c, "missing_field", "ballot", "ballot is required (README, \"Votes (tally)\": one shape per kind)");
    return !bal || ballot(c, json_string_value(json_object_get(b, "kind")), bal, ro != NULL);
}

static bool check_cast(ck_t *c, const json_t *b)
{
    static const char *const allowed[] = {"credential", "marks", "write_ins", NULL}, *const req[] = {"credential", "marks", NULL};
    if (!members(c, b, "", allowed, req))
        return false;
    const json_t *cred = json_object_get(b, "credential");
    if (!json_is_string(cred) || json_string_length(cred) > 64)
        return fail(c, "invalid_field", "credential", "credential must be the text on the voter's slip or message");
    const json_t *m = json_object_get(b, "marks");
    if (!array(c, m, "marks", 0, MAX_MARKS))
        return false;
    size_t i;
    json_t *x;
    char path[64];
    json_array_foreach(m, i, x)
    {
        item(path, sizeof path, "marks", i);
        if (!integer(c, x, path, 0, 32767))
            return false;
    }
    const json_t *w = json_object_get(b, "write_ins");
    return !w || name_list(c, w, "write_ins", 0, MAX_WRITE_INS);
}

bool motions_input_check(motions_action_t a, const char *kind, const json_t *body, input_error_t *e)
{
    ck_t c = {e};
    switch (a) {
    case MOTIONS_CREATE: return check_create(&c, body);
    case MOTIONS_PROXY: {
        static const char *const allowed[] = {"principal", "holder", NULL};
        return members(&c, body, "", allowed, allowed) && id(&c, json_object_get(body, "principal"), "principal") &&
               id(&c, json_object_get(body, "holder"), "holder");
    }
    case MOTIONS_OPEN: {
        static const char *const allowed[] = {"closes_at", NULL};
        return members(&c, body, "", allowed, NULL) &&
               (!json_object_get(body, "closes_at") || time_text(&c, json_object_get(body, "closes_at"), "closes_at"));
    }
    case MOTIONS_CLOSE: {
        static const char *const none[] = {NULL};
        return members(&c, body, "", none, NULL);
    }
    case MOTIONS_PAPER: {
        static const char *const allowed[] = {"box", "tellers", "ballots", "invalid", "counts", NULL};
        return members(&c, body, "", allowed, allowed) && name(&c, json_object_get(body, "box"), "box") &&
               name_list(&c, json_object_get(body, "tellers"), "tellers", 1, MAX_TELLERS) &&
               integer(&c, json_object_get(body, "ballots"), "ballots", 0, MAX_COUNT) &&
               integer(&c, json_object_get(body, "invalid"), "invalid", 0, MAX_COUNT) &&
               counts(&c, kind, json_object_get(body, "counts"));
    }
    case MOTIONS_PAPER_VOTERS: {
        static const char *const allowed[] = {"voters", NULL};
        return members(&c, body, "", allowed, allowed) && id_list(&c, json_object_get(body, "voters"), "voters", 1);
    }
    case MOTIONS_SLIPS: {
        static const char *const allowed[] = {"voters", NULL};
        return members(&c, body, "", allowed, NULL) &&
               (!json_object_get(body, "voters") || id_list(&c, json_object_get(body, "voters"), "voters", 1));
    }
    case MOTIONS_CAST: return check_cast(&c, body);
    }
    return fail(&c, "invalid_field", "", "unknown action");
}

void motions_input_normalise_time(json_t *body)
{
    int64_t us;
    const char *t = json_string_value(json_object_get(body, "closes_at"));
    if (t && timefmt_parse_db(t, &us)) {
        char utc[TIMEFMT_LEN];
        timefmt_format(us, 0, utc);
        json_object_set_new(body, "closes_at", json_string(utc));
    }
}

static const struct {
    const char *segment, *name;
    size_t body_max;
} ACTIONS[] = {
    [MOTIONS_CREATE] = {NULL, "create", 32768},         [MOTIONS_PROXY] = {"proxies", "proxy", 1024},
    [MOTIONS_OPEN] = {"open", "open", 1024},            [MOTIONS_CLOSE] = {"close", "close", 1024},
    [MOTIONS_PAPER] = {"paper", "paper", 16384},        [MOTIONS_PAPER_VOTERS] = {"paper-voters", "paper_voters", 65536},
    [MOTIONS_SLIPS] = {"slips", "slips", 65536},        [MOTIONS_CAST] = {"ballots", "cast", 4096},
};

bool motions_action_of_segment(const char *segment, motions_action_t *out)
{
    for (size_t i = 0; i < sizeof ACTIONS / sizeof ACTIONS[0]; i++)
        if (ACTIONS[i].segment && !strcmp(segment, ACTIONS[i].segment)) {
            *out = (motions_action_t)i;
            return true;
        }
    return false;
}

const char *motions_action_name(motions_action_t a)
{
    return ACTIONS[a].name;
}

size_t motions_body_max(motions_action_t a)
{
    return ACTIONS[a].body_max;
}

static int digit_of(char ch)
{
    const char *p = ch ? strchr(ALPHABET, ch) : NULL;
    return p ? (int)(p - ALPHABET) : -1;
}

bool motions_credential_normalise(const char *typed, char out[MOTIONS_CREDENTIAL_LEN + 1])
{
    size_t n = 0;
    for (const char *p = typed; *p; p++) {
        if (*p == '-' || *p == ' ')
            continue;
        char u = (char)toupper((unsigned char)*p);
        if (n == MOTIONS_CREDENTIAL_LEN || digit_of(u) < 0)
            return false;
        out[n++] = u;
    }
    out[n] = '\0';
    return n == MOTIONS_CREDENTIAL_LEN;
}

bool motions_tracker_normalise(const char *typed, char out[MOTIONS_TRACKER_LEN + 1])
{
    size_t n = strlen(typed);
    if (n != MOTIONS_TRACKER_LEN)
        return false;
    for (size_t i = 0; i < n; i++) {
        out[i] = (char)toupper((unsigned char)typed[i]);
        if (digit_of(out[i]) < 0)
            return false;
    }
    out[n] = '\0';
    return true;
}

long long motions_tracker_number(const char tracker[MOTIONS_TRACKER_LEN + 1])
{
    long long v = 0;
    for (int i = 0; i < MOTIONS_TRACKER_LEN; i++)
        v = v * 32 + digit_of(tracker[i]);
    return v;
}

void motions_tracker_text(long long number, char out[MOTIONS_TRACKER_LEN + 1])
{
    unsigned long long v = (unsigned long long)number;
    for (int i = MOTIONS_TRACKER_LEN - 1; i >= 0; i--) {
        out[i] = ALPHABET[v % 32];
        v /= 32;
    }
    out[MOTIONS_TRACKER_LEN] = '\0';
}

long long motions_code_number(const char *code)
{
    if (strlen(code) != 12 || code[0] != 'M' || code[5] != '-' || strspn(code + 1, "0123456789") != 4 ||
        strspn(code + 6, "0123456789") != 6)
        return -1;
    long long year = 0, seq = 0;
    for (int i = 1; i < 5; i++)
        year = year * 10 + (code[i] - '0');
    for (int i = 6; i < 12; i++)
        seq = seq * 10 + (code[i] - '0');
    return year * 1000000 + seq;
}

void motions_code_text(long long number, char out[16])
{
    if (number < 0 || number > 9999999999LL)
        number = 0;
    snprintf(out, 16, "M%04lld-%06lld", number / 1000000, number % 1000000);
}
