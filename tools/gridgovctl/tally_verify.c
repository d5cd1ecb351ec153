/* tally_verify: see tally_verify.h. Written from CHAIN.md alone; SHA-256 is OpenSSL's. */
#include "tally_verify.h"

#include <openssl/evp.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "tally_recount.h"

#define HASH_LEN 32

/* What one check run looks at: the archive's parts and the chain's payloads, parsed. */
typedef struct {
    const json_t *motion;
    const char *code;
    const json_t *chain;
    size_t n;              /* events */
    json_t **payload;      /* n parsed payloads (owned) */
    tally_break_t *brk;
} run_t;

/* A ballot as one `ballots` event lists it, or as a ballot row holds it. Neither has a tracker. */
typedef struct {
    const char *id;
    const char *hash;      /* listing: hex */
    const json_t *marks;   /* row */
    const json_t *write_ins;
    long height;           /* listing: its event */
} entry_t;

static bool broken(tally_break_t *b, long height, const char *expected, const char *found, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static bool broken(tally_break_t *b, long height, const char *expected, const char *found, const char *fmt, ...)
{
    b->height = height;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(b->what, sizeof b->what, fmt, ap);
    va_end(ap);
    snprintf(b->expected, sizeof b->expected, "%s", expected ? expected : "");
    snprintf(b->found, sizeof b->found, "%s", found ? found : "");
    return false;
}

static void to_hex(const unsigned char *bytes, size_t n, char *out)
{
    static const char D[] = "0123456789abcdef";
    for (size_t i = 0; i < n; i++) {
        out[2 * i] = D[bytes[i] >> 4];
        out[2 * i + 1] = D[bytes[i] & 15];
    }
    out[2 * n] = '\0';
}

/* One SHA-256 over a list of (bytes, length) parts, NULL-terminated. */
static void sha256_parts(unsigned char out[HASH_LEN], const void *const *parts, const size_t *lens)
{
    EVP_MD_CTX *ctx = EVP_MD_CTX_new();
    if (!ctx || EVP_DigestInit_ex(ctx, EVP_sha256(), NULL) != 1)
        abort();
    for (size_t i = 0; parts[i]; i++)
        if (EVP_DigestUpdate(ctx, parts[i], lens[i]) != 1)
            abort();
    unsigned int len = 0;
    if (EVP_DigestFinal_ex(ctx, out, &len) != 1 || len != HASH_LEN)
        abort();
    EVP_MD_CTX_free(ctx);
}

/* hash(h) = SHA-256(prev ‖ "gridgov-tally-v1\n" ‖ h ‖ "\n" ‖ type ‖ "\n" ‖ payload) */
static void event_hash(const unsigned char prev[HASH_LEN], long height, const char *type, const char *payload,
                       size_t payload_len, char hex[2 * HASH_LEN + 1])
{
    char head[64];
    int hl = snprintf(head, sizeof head, "gridgov-tally-v1\n%ld\n", height);
    const void *parts[] = {prev, head, type, "\n", payload, NULL};
    size_t lens[] = {HASH_LEN, (size_t)hl, strlen(type), 1, payload_len};
    unsigned char h[HASH_LEN];
    sha256_parts(h, parts, lens);
    to_hex(h, HASH_LEN, hex);
}

/* The ballot's canonical text's SHA-256 (CHAIN.md "The ballot"); false when marks or write-ins are
 * not lists of integers and texts. */
static bool ballot_hash(const char *code, const entry_t *row, char hex[2 * HASH_LEN + 1])
{
    if (!json_is_array(row->marks) || !json_is_array(row->write_ins))
        return false;
    buf_t t = BUF_INIT;
    buf_printf(&t, "gridgov-ballot-v2\n%s\n%s\n", code, row->id);
    for (size_t i = 0; i < json_array_size(row->marks); i++) {
        json_t *m = json_array_get(row->marks, i);
        if (!json_is_integer(m)) {
            buf_free(&t);
            return false;
        }
        buf_printf(&t, "%s%lld", i ? "," : "", (long long)json_integer_value(m));
    }
    buf_putc(&t, '\n');
    for (size_t i = 0; i < json_array_size(row->write_ins); i++) {
        json_t *w = json_array_get(row->write_ins, i);
        if (!json_is_string(w)) {
            buf_free(&t);
            return false;
        }
        if (i)
            buf_putc(&t, '\n');
        buf_append(&t, json_string_value(w), json_string_length(w));
    }
    const char *text = buf_str(&t);
    const void *parts[] = {text, NULL};
    size_t lens[] = {t.len};
    unsigned char h[HASH_LEN];
    sha256_parts(h, parts, lens);
    to_hex(h, HASH_LEN, hex);
    buf_free(&t);
    return true;
}

static bool hex_decode(const char *hex, unsigned char out[HASH_LEN])
{
    if (!hex || strlen(hex) != 2 * HASH_LEN)
        return false;
    for (size_t i = 0; i < HASH_LEN; i++) {
        unsigned v = 0;
        for (int k = 0; k < 2; k++) {
            char c = hex[2 * i + (size_t)k];
            v <<= 4;
            if (c >= '0' && c <= '9')
                v |= (unsigned)(c - '0');
            else if (c >= 'a' && c <= 'f')
                v |= (unsigned)(c - 'a' + 10);
            else
                return false;
        }
        out[i] = (unsigned char)v;
    }
    return true;
}

static const char *str_of(const json_t *o, const char *key) { return json_string_value(json_object_get(o, key)); }

static long int_of(const json_t *o, const char *key, long dflt)
{
    json_t *v = json_object_get(o, key);
    return json_is_integer(v) ? (long)json_integer_value(v) : dflt;
}

static const char *type_at(const run_t *r, size_t i) { return str_of(json_array_get(r->chain, i), "type"); }

/* A JSON value as compact text for a break's expected/found (truncated by the caller's buffer). */
static void json_brief(const json_t *v, char *out, size_t outsz)
{
    char *s = v ? json_dumps(v, JSON_COMPACT | JSON_SORT_KEYS | JSON_ENCODE_ANY) : NULL;
    snprintf(out, outsz, "%s", s ? s : "(none)");
    free(s);
}

/* 1. heights, links, hashes, the head */
static bool check_links(run_t *r)
{
    unsigned char prev[HASH_LEN] = {0};
    char want[2 * HASH_LEN + 1], a[32], b[32];
    for (size_t i = 0; i < r->n; i++) {
        const json_t *ev = json_array_get(r->chain, i);
        long h = (long)i + 1;
        json_t *hv = json_object_get(ev, "height");
        const char *type = str_of(ev, "type"), *payload = str_of(ev, "payload");
        const char *prev_hex = str_of(ev, "prev_hash"), *hash_hex = str_of(ev, "hash");
        if (!json_is_integer(hv) || !type || !payload || !prev_hex || !hash_hex)
            return broken(r->brk, h, "height, type, payload, prev_hash, hash", "an event without them",
                          "malformed event");
        if (json_integer_value(hv) != h) {
            snprintf(a, sizeof a, "%ld", h);
            snprintf(b, sizeof b, "%lld", (long long)json_integer_value(hv));
            return broken(r->brk, h, a, b, "height (a gap or a repeat in the chain)");
        }
        to_hex(prev, HASH_LEN, want);
        if (strcmp(prev_hex, want))
            return broken(r->brk, h, want, prev_hex, "prev_hash (%s)", type);
        event_hash(prev, h, type, payload, json_string_length(json_object_get(ev, "payload")), want);
        if (strcmp(hash_hex, want))
            return broken(r->brk, h, want, hash_hex, "hash of the %s event", type);
        if (!hex_decode(hash_hex, prev))
            return broken(r->brk, h, "64 hex digits", hash_hex, "hash");
    }
    long head = int_of(r->motion, "head_height", -1);
    const char *head_hash = str_of(r->motion, "head_hash");
    if (head != (long)r->n) {
        snprintf(a, sizeof a, "height %ld", head);
        snprintf(b, sizeof b, "chain ends at height %zu", r->n);
        return broken(r->brk, head > (long)r->n ? head : (long)r->n, a, b, "the motion's head");
    }
    const char *last = r->n ? str_of(json_array_get(r->chain, r->n - 1), "hash") : NULL;
    if ((last || head_hash) && (!last || !head_hash || strcmp(last, head_hash)))
        return broken(r->brk, (long)r->n, head_hash ? head_hash : "(none)", last ? last : "(none)", "the head hash");
    return true;
}

/* Parses every payload (a JSON object each). */
static bool parse_payloads(run_t *r)
{
    r->payload = calloc(r->n ? r->n : 1, sizeof *r->payload);
    if (!r->payload)
        abort();
    for (size_t i = 0; i < r->n; i++) {
        const json_t *p = json_object_get(json_array_get(r->chain, i), "payload");
        json_error_t je;
        r->payload[i] = json_loadb(json_string_value(p), json_string_length(p), JSON_DECODE_ANY, &je);
        if (!json_is_object(r->payload[i]))
            return broken(r->brk, (long)i + 1, "a JSON object", je.text, "the %s event's payload", type_at(r, i));
    }
    return true;
}

/* 1. the order of events */
static bool check_order(run_t *r)
{
    const char *state = str_of(r->motion, "state");
    bool closed = state && !strcmp(state, "closed");
    if (r->n == 0) {
        if (state && strcmp(state, "draft"))
            return broken(r->brk, 1, "an opened event", "no events", "the chain of a motion that opened");
        return true;
    }
    if (strcmp(type_at(r, 0), "opened"))
        return broken(r->brk, 1, "opened", type_at(r, 0), "the first event");
    const char *named = str_of(r->payload[0], "motion");
    if (!named || strcmp(named, r->code))
        return broken(r->brk, 1, r->code, named ? named : "(none)", "the motion the opened event names");
    int rolls = 0;
    for (size_t i = 0; i < r->n; i++) {
        const char *t = type_at(r, i);
        long h = (long)i + 1;
        if (i > 0 && !strcmp(t, "opened"))
            return broken(r->brk, h, "opened at height 1 only", "another opened event", "the order of events");
        rolls += !strcmp(t, "roll");
        bool end = !strcmp(t, "trackers") || !strcmp(t, "closed") || !strcmp(t, "result");
        if (end && !closed)
            return broken(r->brk, h, state ? state : "(no state)", t, "a %s event in a motion that is not closed", t);
        if (end && i + 3 < r->n)
            return broken(r->brk, h, "trackers, closed then result, last", t, "the order of events");
    }
    if (rolls != 1) {
        char f[32];
        snprintf(f, sizeof f, "%d", rolls);
        return broken(r->brk, 2, "1", f, "roll events");
    }
    if (closed && (r->n < 3 || strcmp(type_at(r, r->n - 3), "trackers") || strcmp(type_at(r, r->n - 2), "closed") ||
                   strcmp(type_at(r, r->n - 1), "result"))) {
        char f[120];
        snprintf(f, sizeof f, "%s, %s, %s", r->n >= 3 ? type_at(r, r->n - 3) : "-", r->n >= 2 ? type_at(r, r->n - 2) : "-",
                 type_at(r, r->n - 1));
        return broken(r->brk, (long)r->n, "trackers, closed, result", f, "the last events of a closed motion");
    }
    return true;
}

static int by_id(const void *a, const void *b)
{
    return strcmp(((const entry_t *)a)->id, ((const entry_t *)b)->id);
}

/* The listing of every `ballots` event, sorted by ballot id, and the receipts they say were stored. */
static bool collect_listed(run_t *r, entry_t **out, size_t *count, long *receipts)
{
    *receipts = 0;
    size_t cap = 0, n = 0;
    entry_t *e = NULL;
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(type_at(r, i), "ballots"))
            continue;
        json_t *list = json_object_get(r->payload[i], "ballots");
        if (!json_is_array(list)) {
            free(e);
            return broken(r->brk, (long)i + 1, "a list \"ballots\"", "none", "the ballots event's payload");
        }
        long nrc = int_of(r->payload[i], "receipts", -1);
        if (nrc < 0) {
            free(e);
            return broken(r->brk, (long)i + 1, "a number \"receipts\"", "none", "the ballots event's payload");
        }
        *receipts += nrc;
        for (size_t k = 0; k < json_array_size(list); k++) {
            json_t *it = json_array_get(list, k);
            const char *id = json_string_value(json_array_get(it, 0)), *hx = json_string_value(json_array_get(it, 1));
            if (!id || !hx || json_array_size(it) != 2) {
                free(e);
                return broken(r->brk, (long)i + 1, "[ballot id, hash]", "another shape", "entry %zu of the ballots event", k);
            }
            if (n == cap) {
                cap = cap ? 2 * cap : 256;
                e = realloc(e, cap * sizeof *e);
                if (!e)
                    abort();
            }
            e[n++] = (entry_t){.id = id, .hash = hx, .height = (long)i + 1};
        }
    }
    qsort(e, n, sizeof *e, by_id);
    *out = e;
    *count = n;
    return true;
}

/* The ballot rows of the archive, sorted by id. */
static bool collect_rows(run_t *r, const json_t *ballots, entry_t **out, size_t *count)
{
    size_t n = json_array_size(ballots);
    entry_t *e = calloc(n ? n : 1, sizeof *e);
    if (!e)
        abort();
    for (size_t i = 0; i < n; i++) {
        json_t *b = json_array_get(ballots, i);
        e[i] = (entry_t){.id = str_of(b, "id"), .marks = json_object_get(b, "marks"),
                         .write_ins = json_object_get(b, "write_ins")};
        if (!e[i].id) {
            free(e);
            return broken(r->brk, 0, "id, marks, write_ins", "a row without them", "ballot row %zu", i);
        }
    }
    qsort(e, n, sizeof *e, by_id);
    *out = e;
    *count = n;
    return true;
}

/* 2. every ballot row listed exactly once with its hash, every listed ballot present */
static bool check_ballots(run_t *r, const entry_t *listed, size_t nl, const entry_t *rows, size_t nr)
{
    char exp[256], found[256], hex[2 * HASH_LEN + 1];
    for (size_t i = 1; i < nl; i++)
        if (!strcmp(listed[i].id, listed[i - 1].id)) {
            snprintf(exp, sizeof exp, "listed once (height %ld)", listed[i - 1].height);
            return broken(r->brk, listed[i].height, exp, "listed again", "ballot %s", listed[i].id);
        }
    for (size_t i = 1; i < nr; i++)
        if (!strcmp(rows[i].id, rows[i - 1].id))
            return broken(r->brk, 0, "one row", "two rows", "ballot %s", rows[i].id);
    size_t i = 0, j = 0;
    while (i < nl || j < nr) {
        int c = i == nl ? 1 : j == nr ? -1 : strcmp(listed[i].id, rows[j].id);
        if (c < 0) {
            snprintf(exp, sizeof exp, "ballot %s", listed[i].id);
            return broken(r->brk, listed[i].height, exp, "no such ballot row", "a listed ballot is missing");
        }
        if (c > 0) {
            snprintf(found, sizeof found, "ballot %s", rows[j].id);
            return broken(r->brk, 0, "no ballot that the chain does not list", found, "a ballot row not in the chain");
        }
        if (!ballot_hash(r->code, &rows[j], hex))
            return broken(r->brk, listed[i].height, "marks: integers, write_ins: texts", "another shape", "ballot %s",
                          rows[j].id);
        if (strcmp(hex, listed[i].hash))
            return broken(r->brk, listed[i].height, listed[i].hash, hex, "the hash of ballot %s", rows[j].id);
        i++, j++;
    }
    return true;
}

static bool num_eq(run_t *r, long height, long want, long got, const char *what)
{
    if (want == got)
        return true;
    char a[32], b[32];
    snprintf(a, sizeof a, "%ld", want);
    snprintf(b, sizeof b, "%ld", got);
    return broken(r->brk, height, a, b, "%s", what);
}

static int by_text(const void *a, const void *b) { return strcmp(*(const char *const *)a, *(const char *const *)b); }

/* A list of texts, sorted (borrowed from the list); NULL when an entry is not a text. */
static const char **sorted_texts(const json_t *list, size_t *n)
{
    *n = json_array_size(list);
    const char **t = calloc(*n ? *n : 1, sizeof *t);
    if (!t)
        abort();
    for (size_t i = 0; i < *n; i++)
        if (!(t[i] = json_string_value(json_array_get(list, i)))) {
            free(t);
            return NULL;
        }
    qsort(t, *n, sizeof *t, by_text);
    return t;
}

/* 3. the receipts: as many as the ballot rows and as the ballots events say were stored; when
 * closed, the trackers event lists exactly the stored receipts' trackers, each once, sorted. */
static bool check_receipts(run_t *r, const json_t *trackers, size_t nr, long listed_receipts)
{
    char a[64], b[64];
    size_t ns = 0, nt = 0;
    const char **stored = json_is_array(trackers) ? sorted_texts(trackers, &ns) : NULL;
    if (!stored)
        return broken(r->brk, 0, "a list of trackers", "another shape", "the stored receipts");
    bool ok = num_eq(r, 0, (long)nr, (long)ns, "stored receipts (one per online ballot row)") &&
              num_eq(r, 0, listed_receipts, (long)ns, "stored receipts (the ballots events' receipts)");
    for (size_t i = 1; ok && i < ns; i++)
        if (!strcmp(stored[i], stored[i - 1]))
            ok = broken(r->brk, 0, "each tracker once", stored[i], "the stored receipts");
    bool closed = ok && r->n >= 3 && !strcmp(type_at(r, r->n - 1), "result");
    if (closed) {
        long h = (long)r->n - 2;
        const json_t *list = json_object_get(r->payload[r->n - 3], "trackers");
        const char **ev = json_is_array(list) ? sorted_texts(list, &nt) : NULL;
        if (!ev)
            ok = broken(r->brk, h, "a list \"trackers\" of texts", "another shape", "the trackers event's payload");
        for (size_t i = 0; ok && i < nt; i++)
            if (strcmp(json_string_value(json_array_get(list, i)), ev[i]) || (i && !strcmp(ev[i], ev[i - 1])))
                ok = broken(r->brk, h, "each tracker once, sorted", json_string_value(json_array_get(list, i)),
                            "the trackers event's list");
        ok = ok && num_eq(r, h, (long)nr, (long)nt, "trackers listed at close (one per online ballot)");
        /* both sorted: the first difference is a tracker one has and the other lacks */
        for (size_t i = 0; ok && i < nt; i++) {
            int c = strcmp(ev[i], stored[i]);
            if (c) {
                snprintf(a, sizeof a, "%s", c < 0 ? ev[i] : "(no receipt)");
                snprintf(b, sizeof b, "%s", c < 0 ? "(no receipt)" : stored[i]);
                ok = broken(r->brk, h, a, b, c < 0 ? "a listed tracker without its stored receipt"
                                                   : "a stored receipt the trackers event does not list");
            }
        }
        free(ev);
    }
    free(stored);
    return ok;
}

/* The paper boxes, each equal to exactly one `paper` event; their totals. */
static bool check_paper(run_t *r, const json_t *boxes, tally_recount_t *rc, long *ballots, long *invalid)
{
    static const char *const FIELDS[] = {"box", "tellers", "ballots", "invalid", "counts", "entered_by"};
    char err[256];
    size_t nb = json_array_size(boxes), events = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(type_at(r, i), "paper"))
            continue;
        events++;
        const char *box = str_of(r->payload[i], "box");
        const json_t *row = NULL;
        for (size_t k = 0; box && k < nb && !row; k++)
            if (!strcmp(str_of(json_array_get(boxes, k), "box") ? str_of(json_array_get(boxes, k), "box") : "", box))
                row = json_array_get(boxes, k);
        if (!row)
            return broken(r->brk, (long)i + 1, box ? box : "(no box)", "no such paper box row", "a paper box is missing");
        for (size_t f = 0; f < sizeof FIELDS / sizeof FIELDS[0]; f++)
            if (!json_equal(json_object_get(row, FIELDS[f]), json_object_get(r->payload[i], FIELDS[f]))) {
                char a[256], b[256];
                json_brief(json_object_get(r->payload[i], FIELDS[f]), a, sizeof a);
                json_brief(json_object_get(row, FIELDS[f]), b, sizeof b);
                return broken(r->brk, (long)i + 1, a, b, "paper box %s: %s", box, FIELDS[f]);
            }
        long b = int_of(row, "ballots", -1), inv = int_of(row, "invalid", -1);
        if (b < 0 || inv < 0 || inv > b)
            return broken(r->brk, (long)i + 1, "0 ≤ invalid ≤ ballots", "other numbers", "paper box %s", box);
        if (!tally_recount_paper(rc, json_object_get(row, "counts"), err, sizeof err))
            return broken(r->brk, (long)i + 1, "the kind's counts", err, "paper box %s", box);
        *ballots += b;
        *invalid += inv;
    }
    if (events != nb) {
        char a[32], b[32];
        snprintf(a, sizeof a, "%zu (paper events)", events);
        snprintf(b, sizeof b, "%zu", nb);
        return broken(r->brk, 0, a, b, "paper box rows (one not in the chain, or listed twice)");
    }
    return true;
}

/* Voters the tellers marked for paper: each once. */
static bool count_paper_voters(run_t *r, long *count)
{
    json_t *seen = json_object();
    *count = 0;
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(type_at(r, i), "paper_voters"))
            continue;
        json_t *v = json_object_get(r->payload[i], "voters");
        for (size_t k = 0; k < json_array_size(v); k++) {
            char key[32];
            snprintf(key, sizeof key, "%lld", (long long)json_integer_value(json_array_get(v, k)));
            if (!json_is_integer(json_array_get(v, k)) || json_object_get(seen, key)) {
                json_decref(seen);
                return broken(r->brk, (long)i + 1, "each voter once", key, "a voter marked for paper");
            }
            json_object_set_new(seen, key, json_true());
            (*count)++;
        }
    }
    json_decref(seen);
    return true;
}

/* 4. the recount against the result and the closed event */
static bool check_recount(run_t *r, const json_t *archive, const entry_t *rows, size_t nr, const entry_t *listed,
                          size_t nl)
{
    const json_t *opened = r->payload[0];
    const char *kind = str_of(opened, "kind");
    if (!kind || !str_of(r->motion, "kind") || strcmp(kind, str_of(r->motion, "kind")))
        return broken(r->brk, 1, kind ? kind : "(none)", str_of(r->motion, "kind"), "the motion's kind");
    if (!json_equal(json_object_get(opened, "ballot"), json_object_get(r->motion, "ballot")))
        return broken(r->brk, 1, "the opened event's ballot", "another", "the motion's ballot");
    char err[256];
    tally_recount_t *rc = tally_recount_new(kind, json_object_get(opened, "ballot"), err, sizeof err);
    if (!rc)
        return broken(r->brk, 1, "a ballot of its kind", err, "the opened event's ballot");
    bool ok = true;
    /* rows and listed are both sorted by id and equal by now: the listing gives each its height */
    for (size_t j = 0; ok && j < nr; j++)
        if (!tally_recount_ballot(rc, rows[j].marks, rows[j].write_ins, err, sizeof err))
            ok = broken(r->brk, j < nl ? listed[j].height : 0, "a ballot CHAIN.md allows", err, "ballot %s",
                        rows[j].id);
    long paper = 0, invalid = 0, vpaper = 0;
    ok = ok && check_paper(r, json_object_get(archive, "paper_boxes"), rc, &paper, &invalid);
    ok = ok && count_paper_voters(r, &vpaper);
    bool closed = !strcmp(type_at(r, r->n - 1), "result");
    if (ok && closed) {
        long hc = (long)r->n - 1, hr = (long)r->n;
        const json_t *cl = r->payload[r->n - 2], *res = r->payload[r->n - 1];
        json_t *counts = tally_recount_counts(rc);
        if (!json_equal(counts, json_object_get(res, "counts"))) {
            char a[256], b[256];
            json_brief(counts, a, sizeof a);
            json_brief(json_object_get(res, "counts"), b, sizeof b);
            ok = broken(r->brk, hr, a, b, "the result's counts (recount of %zu online ballots and the paper boxes)", nr);
        }
        json_decref(counts);
        long vonline = int_of(cl, "voters_online", -1);
        ok = ok && num_eq(r, hc, (long)nr, int_of(cl, "online_ballots", -1), "closed: online_ballots (ballot rows)");
        ok = ok && num_eq(r, hc, paper, int_of(cl, "paper_ballots", -1), "closed: paper_ballots (the boxes' ballots)");
        ok = ok && num_eq(r, hc, vpaper, int_of(cl, "voters_paper", -1), "closed: voters_paper (voters marked for paper)");
        ok = ok && num_eq(r, hc, (long)nr, vonline, "closed: voters_online (one online ballot each)");
        ok = ok && num_eq(r, hr, (long)nr + paper, int_of(res, "ballots", -1), "result: ballots");
        ok = ok && num_eq(r, hr, invalid, int_of(res, "invalid", -1), "result: invalid");
        ok = ok && num_eq(r, hr, vonline + vpaper, int_of(res, "voters", -1), "result: voters");
        ok = ok && num_eq(r, hr, int_of(r->motion, "roll_count", -1), int_of(res, "roll", -1), "result: roll");
        if (ok && json_object_get(res, "valid"))
            ok = num_eq(r, hr, (long)nr + paper - invalid, int_of(res, "valid", -1), "result: valid");
        const json_t *roll = json_object_get(archive, "roll");
        if (ok && json_object_get(roll, "voted"))
            ok = num_eq(r, hc, vonline + vpaper, int_of(roll, "voted", -1), "voters the roll marks as voted");
        if (ok && !json_equal(res, json_object_get(r->motion, "result")))
            ok = broken(r->brk, hr, "the result event's object", "another", "the motion's stored result");
    }
    tally_recount_destroy(&rc);
    return ok;
}

/* 5. the roll */
static bool check_roll(run_t *r)
{
    for (size_t i = 0; i < r->n; i++) {
        if (strcmp(type_at(r, i), "roll"))
            continue;
        long count = int_of(r->payload[i], "count", -1);
        if (!num_eq(r, (long)i + 1, int_of(r->motion, "roll_count", -1), count, "the roll's count (motion roll_count)"))
            return false;
        return num_eq(r, (long)i + 1, count, (long)json_array_size(json_object_get(r->payload[i], "voters")),
                      "voters the roll lists");
    }
    return true;
}

bool tally_verify(const json_t *archive, tally_summary_t *sum, tally_break_t *brk)
{
    memset(brk, 0, sizeof *brk);
    memset(sum, 0, sizeof *sum);
    run_t r = {.motion = json_object_get(archive, "motion"), .chain = json_object_get(archive, "chain"), .brk = brk};
    r.code = str_of(r.motion, "code");
    if (!r.code || !json_is_array(r.chain) || !json_is_array(json_object_get(archive, "ballots")) ||
        !json_is_array(json_object_get(archive, "trackers")))
        return broken(brk, 0, "motion, chain, ballots, trackers", "an archive without them", "the archive's shape");
    r.n = json_array_size(r.chain);
    entry_t *listed = NULL, *rows = NULL;
    size_t nl = 0, nr = 0;
    long receipts = 0;
    const char *top_head = str_of(archive, "head_hash"), *head = str_of(r.motion, "head_hash");
    bool ok = check_links(&r) && parse_payloads(&r) && check_order(&r);
    if (ok && top_head && (!head || strcmp(top_head, head)))
        ok = broken(brk, (long)r.n, head ? head : "(none)", top_head, "the archive's head hash");
    ok = ok && collect_listed(&r, &listed, &nl, &receipts) &&
         collect_rows(&r, json_object_get(archive, "ballots"), &rows, &nr);
    ok = ok && check_ballots(&r, listed, nl, rows, nr) &&
         check_receipts(&r, json_object_get(archive, "trackers"), nr, receipts);
    ok = ok && (r.n == 0 || check_recount(&r, archive, rows, nr, listed, nl)) && check_roll(&r);
    if (ok) {
        sum->events = (long)r.n;
        snprintf(sum->head_hash, sizeof sum->head_hash, "%s", head ? head : "");
        sum->online_ballots = (long)nr;
        sum->paper_boxes = (long)json_array_size(json_object_get(archive, "paper_boxes"));
        for (size_t i = 0; i < (size_t)sum->paper_boxes; i++)
            sum->paper_ballots += int_of(json_array_get(json_object_get(archive, "paper_boxes"), i), "ballots", 0);
        sum->roll = int_of(r.motion, "roll_count", 0);
        sum->closed = r.n && !strcmp(type_at(&r, r.n - 1), "result");
    }
    for (size_t i = 0; r.payload && i < r.n; i++)
        json_decref(r.payload[i]);
    free(r.payload);
    free(listed);
    free(rows);
    return ok;
}

void tally_verify_line(const char *code, bool ok, const tally_summary_t *sum, const tally_break_t *brk, char *out,
                       size_t outsz)
{
    if (ok) {
        snprintf(out, outsz, "%s: intact: %ld events, head %s, %s, %ld online ballots, %ld paper boxes (%ld ballots), roll %ld",
                 code, sum->events, sum->events ? sum->head_hash : "(none)", sum->closed ? "closed" : "not closed",
                 sum->online_ballots, sum->paper_boxes, sum->paper_ballots, sum->roll);
        return;
    }
    char h[32];
    if (brk->height > 0)
        snprintf(h, sizeof h, "height %ld", brk->height);
    else
        snprintf(h, sizeof h, "no height");
    snprintf(out, outsz, "%s: broken at %s: %s: expected %s, found %s", code ? code : "(no motion)", h, brk->what,
             brk->expected, brk->found);
}
