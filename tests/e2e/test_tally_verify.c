/* `gridgovctl tally verify` and `tally archive` against chains this test writes itself, the way
 * services/tally/CHAIN.md specifies (its own small writer below: SQL as the daemons' role, hashes
 * with OpenSSL), for closed motions of each kind with online ballots, proxies and paper boxes:
 *   - an intact motion verifies (exit 0, one line "CODE: intact: …"), closed or still open;
 *   - tampering as the owner (triggers disabled) is caught, each naming the break (exit 1): a
 *     ballot's marks altered, a ballot deleted, a ballot inserted (the app role may insert), a
 *     receipt inserted (open or closed) or removed or its tracker changed, the trackers event
 *     rewritten without one tracker (re-hashed), an event's payload altered, the last event
 *     removed, an event in the middle removed, a paper box altered, the result's counts rewritten
 *     with the chain re-hashed to match (the recount), a voter shown as having voted who did not
 *     (the roll's count against the closed event);
 *   - a ballot CHAIN.md forbids (a choice not on the ballot, too many names, a candidate twice, too
 *     few marks), even hashed and listed as it should be, fails the recount;
 *   - the daemons' role cannot UPDATE or DELETE a ballot, a receipt, an event or a paper box;
 *   - the JSON archive verifies offline (--archive FILE) with the same line as the database; an
 *     archive file with a ballot, a tracker or the head hash edited fails;
 *   - the CSV archive starts with the UTF-8 BOM and has its sections (结果, 规则及依据, 委托名单,
 *     监票人, 选票追踪码, 哈希链) with the trackers and the head hash;
 *   - bad input: unknown motion, missing or foreign archive file, wrong arguments (exit 2). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <openssl/evp.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"
#include "uuid.h"

static PGconn *g_db, *g_owner;
static long long g_group;

/* ---------------------------------------------------------------- the test's own chain writer */

typedef struct {
    const char *marks;       /* JSON list */
    const char *write_ins;   /* JSON list */
} vote_t;

typedef struct {
    const char *box, *tellers;   /* tellers: JSON list */
    int ballots, invalid;
    const char *counts;          /* JSON */
} box_t;

typedef struct {
    const char *kind, *electorate, *ballot;   /* ballot: JSON */
    int roll;
    const vote_t *votes;
    size_t n_votes;
    const box_t *boxes;
    size_t n_boxes;
    int paper_voters;
    const char *counts;      /* the result's counts, JSON (worked out by hand) */
    const char *outcome;
    bool close;
} spec_t;

typedef struct {
    char code[20];
    char id[UUID_STR_LEN];
    int height;
    unsigned char head[32];
} motion_t;

static void hex(const unsigned char *b, size_t n, char *out)
{
    for (size_t i = 0; i < n; i++)
        sprintf(out + 2 * i, "%02x", b[i]);
}

static void sha256(const void *a, size_t al, const void *b, size_t bl, unsigned char out[32])
{
    EVP_MD_CTX *c = EVP_MD_CTX_new();
    unsigned int n;
    EVP_DigestInit_ex(c, EVP_sha256(), NULL);
    EVP_DigestUpdate(c, a, al);
    if (b)
        EVP_DigestUpdate(c, b, bl);
    EVP_DigestFinal_ex(c, out, &n);
    EVP_MD_CTX_free(c);
}

static PGresult *sql(PGconn *c, const char *q, int n, const char *const *p)
{
    PGresult *r = PQexecParams(c, q, n, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK && PQresultStatus(r) != PGRES_TUPLES_OK) {
        print_error("%s\n%s", q, PQerrorMessage(c));
        fail();
    }
    return r;
}

static void run(PGconn *c, const char *q, int n, const char *const *p) { PQclear(sql(c, q, n, p)); }

/* Appends an event: hash(h) = SHA-256(prev ‖ "gridgov-tally-v1\n" ‖ h ‖ "\n" ‖ type ‖ "\n" ‖ payload). */
static void append(motion_t *m, const char *type, const char *payload)
{
    m->height++;
    char head[256];
    int hl = snprintf(head, sizeof head, "gridgov-tally-v1\n%d\n%s\n", m->height, type);
    unsigned char pre[32 + 256], h[32];
    memcpy(pre, m->head, 32);
    memcpy(pre + 32, head, (size_t)hl);
    sha256(pre, 32 + (size_t)hl, payload, strlen(payload), h);
    char prev_hex[65], hash_hex[65], height[16];
    hex(m->head, 32, prev_hex);
    hex(h, 32, hash_hex);
    snprintf(height, sizeof height, "%d", m->height);
    const char *p[] = {m->id, height, type, payload, prev_hex, hash_hex};
    run(g_db, "INSERT INTO tally.event (motion_id, height, type, payload, prev_hash, hash)"
              " VALUES ($1, $2, $3, $4, decode($5, 'hex'), decode($6, 'hex'))", 6, p);
    memcpy(m->head, h, 32);
}

static void append_json(motion_t *m, const char *type, json_t *payload)
{
    char *s = json_dumps(payload, JSON_PRESERVE_ORDER);   /* spaced: the bytes are what is hashed */
    append(m, type, s);
    free(s);
    json_decref(payload);
}

static void random_tracker(char out[11])
{
    static const char A[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    unsigned char r[32];
    char id[UUID_STR_LEN];
    uuid_v4(id);   /* 122 random bits to draw from */
    sha256(id, strlen(id), NULL, 0, r);
    for (int i = 0; i < 10; i++)
        out[i] = A[r[i] & 31];
    out[10] = '\0';
}

/* The ballot's canonical text's SHA-256, hex (v2: no tracker). */
static void ballot_hash(const char *code, const char *id, const json_t *marks, const json_t *wi, char out[65])
{
    buf_t t = BUF_INIT;
    buf_printf(&t, "gridgov-ballot-v2\n%s\n%s\n", code, id);
    for (size_t i = 0; i < json_array_size(marks); i++)
        buf_printf(&t, "%s%lld", i ? "," : "", json_integer_value(json_array_get(marks, i)));
    buf_putc(&t, '\n');
    for (size_t i = 0; i < json_array_size(wi); i++)
        buf_printf(&t, "%s%s", i ? "\n" : "", json_string_value(json_array_get(wi, i)));
    unsigned char h[32];
    sha256(buf_str(&t), t.len, NULL, 0, h);
    hex(h, 32, out);
    buf_free(&t);
}

static int by_id(const void *a, const void *b)
{
    return strcmp(json_string_value(json_array_get(*(json_t *const *)a, 0)),
                  json_string_value(json_array_get(*(json_t *const *)b, 0)));
}

/* Stores ballots [from, to) of the spec, each with a receipt that names no ballot, and appends
 * their `ballots` event: [id, hash] sorted by id and the number of receipts. */
static void cast_batch(motion_t *m, const spec_t *s, size_t from, size_t to)
{
    json_t *list[64];
    for (size_t i = from; i < to; i++) {
        char id[UUID_STR_LEN], tracker[11], key[UUID_STR_LEN], h[65];
        uuid_v4(id);
        uuid_v4(key);
        random_tracker(tracker);
        json_t *marks = json_loads(s->votes[i].marks, 0, NULL), *wi = json_loads(s->votes[i].write_ins, 0, NULL);
        ballot_hash(m->code, id, marks, wi, h);
        const char *p[] = {id, m->id, s->votes[i].marks, s->votes[i].write_ins};
        run(g_db, "INSERT INTO tally.ballot (id, motion_id, marks, write_ins)"
                  " SELECT $1, $2, ARRAY(SELECT v::smallint FROM jsonb_array_elements_text($3::jsonb)"
                  "  WITH ORDINALITY AS e(v, o) ORDER BY o),"
                  " ARRAY(SELECT v FROM jsonb_array_elements_text($4::jsonb) WITH ORDINALITY AS e(v, o) ORDER BY o)", 4, p);
        const char *rp[] = {m->id, tracker, key};
        run(g_db, "INSERT INTO tally.receipt (motion_id, tracker, cast_key) VALUES ($1, $2, sha256(convert_to($3, 'UTF8')))",
            3, rp);
        list[i - from] = json_pack("[s, s]", id, h);
        json_decref(marks);
        json_decref(wi);
    }
    qsort(list, to - from, sizeof list[0], by_id);
    json_t *arr = json_array();
    for (size_t i = 0; i < to - from; i++)
        json_array_append_new(arr, list[i]);
    append_json(m, "ballots", json_pack("{s:o, s:i}", "ballots", arr, "receipts", (int)(to - from)));
}

static void build(const spec_t *s, motion_t *m)
{
    static int serial;
    memset(m, 0, sizeof *m);
    snprintf(m->code, sizeof m->code, "M2099-%06d", 900000 + getpid() % 1000 * 100 + ++serial);
    uuid_v4(m->id);
    char group[24], roll[16];
    snprintf(group, sizeof group, "%lld", g_group);
    snprintf(roll, sizeof roll, "%d", s->roll);
    const char *p[] = {m->id, m->code, group, s->kind, s->electorate, s->ballot, roll};
    run(g_db, "INSERT INTO tally.motion (id, code, group_id, kind, title, body, electorate, ballot, rule_set, rules,"
              " rules_sha256, state, created_by, created_at, opened_at, roll_count)"
              " VALUES ($1, $2, $3, $4, '修缮村道的决定', '一事一议', $5, $6, 'cn-2018', '{}', sha256('{}'), 'open', 1,"
              " now(), now(), $7)", 7, p);
    /* the roll: voters 1..roll, the first ones took part online, the next ones on paper */
    json_t *voters = json_array();
    for (int v = 1; v <= s->roll; v++) {
        char vid[16], name[32], voted[16];
        snprintf(vid, sizeof vid, "%d", 700000 + v);
        snprintf(name, sizeof name, "村民%d", v);
        snprintf(voted, sizeof voted, "%s", (size_t)v <= s->n_votes ? "online"
                                             : v <= (int)s->n_votes + s->paper_voters ? "paper" : "");
        char cred[UUID_STR_LEN];
        uuid_v4(cred);
        const char *rp[] = {m->id, vid, name, voted[0] ? voted : NULL, cred};
        run(g_db, "INSERT INTO tally.roll (motion_id, voter_id, household_id, name, cred_sha256, voted)"
                  " VALUES ($1, $2, $2, $3, sha256(convert_to($5, 'UTF8')), $4)", 5, rp);
        json_array_append_new(voters, json_pack("[i, i, s]", 700000 + v, 700000 + v, name));
    }
    json_t *ballot = json_loads(s->ballot, 0, NULL);
    append_json(m, "opened", json_pack("{s:s, s:s, s:s, s:s, s:s, s:s, s:o, s:s, s:s, s:s, s:n, s:n}", "motion",
                                      m->code, "group", "G1", "kind", s->kind, "title", "修缮村道的决定", "body",
                                      "一事一议", "electorate", s->electorate, "ballot", ballot, "rule_set", "cn-2018",
                                      "rules_sha256", "44136fa355b3678a1146ad16f7e8649e94fb4fc21fe77e8310c060f61caaff8a",
                                      "opened_at", "2099-05-01T08:00:00Z", "closes_at", "runoff_of"));
    append_json(m, "roll", json_pack("{s:i, s:o}", "count", s->roll, "voters", voters));
    run(g_db, "INSERT INTO tally.proxy (motion_id, principal, holder) VALUES ($1, 700002, 700001)", 1,
        (const char *[]){m->id});
    append(m, "proxies", "{\"proxies\":[[700002,700001]]}");
    if (s->n_votes > 1) {
        cast_batch(m, s, 0, s->n_votes / 2);
        cast_batch(m, s, s->n_votes / 2, s->n_votes);
    } else if (s->n_votes == 1) {
        cast_batch(m, s, 0, 1);
    }
    if (s->paper_voters) {
        json_t *pv = json_array();
        for (int v = 0; v < s->paper_voters; v++)
            json_array_append_new(pv, json_integer(700000 + (json_int_t)s->n_votes + 1 + v));
        append_json(m, "paper_voters", json_pack("{s:o}", "voters", pv));
    }
    int paper = 0, invalid = 0;
    for (size_t b = 0; b < s->n_boxes; b++) {
        const box_t *x = &s->boxes[b];
        char nb[16], ni[16];
        snprintf(nb, sizeof nb, "%d", x->ballots);
        snprintf(ni, sizeof ni, "%d", x->invalid);
        const char *bp[] = {m->id, x->box, x->tellers, nb, ni, x->counts};
        run(g_db, "INSERT INTO tally.paper_box (motion_id, box, tellers, ballots, invalid, counts, entered_by, entered_at)"
                  " SELECT $1, $2, ARRAY(SELECT jsonb_array_elements_text($3::jsonb)), $4, $5, $6, 1, now()", 6, bp);
        append_json(m, "paper", json_pack("{s:s, s:o, s:i, s:i, s:o, s:i}", "box", x->box, "tellers",
                                          json_loads(x->tellers, 0, NULL), "ballots", x->ballots, "invalid", x->invalid,
                                          "counts", json_loads(x->counts, 0, NULL), "entered_by", 1));
        paper += x->ballots;
        invalid += x->invalid;
    }
    if (s->close) {
        /* the receipts' trackers, sorted by byte order, in one list */
        PGresult *tr = sql(g_db, "SELECT tracker FROM tally.receipt WHERE motion_id = $1 ORDER BY tracker COLLATE \"C\"", 1,
                           (const char *[]){m->id});
        json_t *tl = json_array();
        for (int i = 0; i < PQntuples(tr); i++)
            json_array_append_new(tl, json_string(PQgetvalue(tr, i, 0)));
        PQclear(tr);
        append_json(m, "trackers", json_pack("{s:o}", "trackers", tl));
        int voters_n = (int)s->n_votes + s->paper_voters, ballots = (int)s->n_votes + paper;
        append_json(m, "closed", json_pack("{s:s, s:i, s:i, s:i, s:i, s:i}", "closed_at", "2099-05-03T08:00:00Z",
                                           "closed_by", 1, "online_ballots", (int)s->n_votes, "paper_ballots", paper,
                                           "voters_online", (int)s->n_votes, "voters_paper", s->paper_voters));
        json_t *res = json_pack(
            "{s:s, s:i, s:i, s:i, s:i, s:i, s:{s:i, s:i, s:i}, s:o, s:[{s:s, s:s, s:s, s:b}]}", "outcome", s->outcome,
            "roll", s->roll, "voters", voters_n, "ballots", ballots, "invalid", invalid, "valid", ballots - invalid,
            "turnout", "voters", voters_n, "roll", s->roll, "permille", 1000 * voters_n / s->roll, "counts",
            json_loads(s->counts, 0, NULL), "rules", "rule", "meeting_quorum", "cite",
            "《中华人民共和国村民委员会组织法》第二十二条：召开村民会议，应当有本村十八周岁以上村民的过半数，"
            "或者本村三分之二以上的户的代表参加", "test", "3 × 7 ≥ 2 × 10", "met", 1);
        char *rs = json_dumps(res, JSON_PRESERVE_ORDER);
        append(m, "result", rs);
        const char *cp[] = {m->id, rs};
        run(g_db, "UPDATE tally.motion SET state = 'closed', closed_at = now(), closed_by = 1, result = $2 WHERE id = $1",
            2, cp);
        free(rs);
        json_decref(res);
    }
    char head_hex[65], hh[16];
    hex(m->head, 32, head_hex);
    snprintf(hh, sizeof hh, "%d", m->height);
    const char *hp[] = {m->id, hh, head_hex};
    run(g_db, "UPDATE tally.motion SET head_height = $2, head_hash = decode($3, 'hex') WHERE id = $1", 3, hp);
}

/* ---------------------------------------------------------------- the motions */

static const vote_t RES_VOTES[] = {{"[0]", "[]"}, {"[0]", "[]"}, {"[1]", "[]"}, {"[0]", "[]"}, {"[2]", "[]"}};
static const box_t RES_BOXES[] = {{"一号票箱", "[\"张三\", \"李四\", \"王五\"]", 3, 1, "{\"options\": [1, 1, 0]}"},
                                  {"二号票箱", "[\"赵六\", \"钱七\", \"孙八\"]", 1, 0, "{\"options\": [1, 0, 0]}"}};
static const spec_t RESOLUTION = {"resolution", "household", "{\"choices\": [\"同意\", \"不同意\", \"弃权\"]}", 10,
                                  RES_VOTES, 5, RES_BOXES, 2, 4,
                                  "{\"options\": [5, 2, 1]}", "adopted", true};

static const vote_t EL_VOTES[] = {{"[0, 1]", "[]"}, {"[1]", "[\"周九\"]"}, {"[]", "[]"}, {"[2, 0]", "[]"}};
static const box_t EL_BOXES[] = {{"会场票箱", "[\"张三\", \"李四\", \"王五\"]", 3, 1,
                                  "{\"candidates\": [1, 0, 1], \"write_ins\": {\"周九\": 1, \"吴十\": 1}, \"blank\": 0}"}};
static const spec_t ELECTION = {"election", "adult",
                                "{\"seats\": 2, \"candidates\": [{\"name\": \"陈一\", \"resident_id\": 11},"
                                " {\"name\": \"林二\", \"resident_id\": 12}, {\"name\": \"黄三\", \"resident_id\": 13}],"
                                " \"write_ins\": true}",
                                9, EL_VOTES, 4, EL_BOXES, 1, 3,
                                "{\"candidates\": [3, 2, 2], \"write_ins\": {\"周九\": 2, \"吴十\": 1}, \"blank\": 1}",
                                "elected", true};

static const vote_t EV_VOTES[] = {{"[0, 1]", "[]"}, {"[2, 2]", "[]"}, {"[0, 3]", "[]"}};
static const box_t EV_BOXES[] = {{"一号票箱", "[\"张三\", \"李四\", \"王五\"]", 2, 0,
                                  "{\"subjects\": [[1, 1, 0, 0], [0, 0, 2, 0]]}"}};
static const spec_t EVALUATION = {"evaluation", "adult",
                                  "{\"scale\": \"competence\", \"subjects\": [{\"name\": \"组长刘某\", \"key\": \"staff:1\"},"
                                  " {\"name\": \"会计何某\", \"key\": \"staff:2\"}], \"year\": 2099}",
                                  6, EV_VOTES, 3, EV_BOXES, 1, 2,
                                  "{\"subjects\": [[3, 1, 1, 0], [0, 1, 3, 1]]}", "evaluated", true};

static const vote_t SEL_VOTES[] = {{"[0, 1]", "[]"}, {"[0, 0]", "[]"}, {"[2, 0]", "[]"}};
static const spec_t SELECTION = {"selection", "household",
                                 "{\"nominees\": [{\"name\": \"王家\", \"household_id\": 31},"
                                 " {\"name\": \"李家\", \"household_id\": 32}]}",
                                 4, SEL_VOTES, 3, NULL, 0, 0,
                                 "{\"nominees\": [[2, 0, 1], [2, 1, 0]]}", "adopted", true};

/* ---------------------------------------------------------------- running gridgovctl */

static char *slurp(const char *path, size_t *len)
{
    FILE *f = fopen(path, "rb");
    buf_t b = BUF_INIT;
    buf_puts(&b, "");
    if (f) {
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
            buf_append(&b, chunk, n);
        fclose(f);
    }
    if (len)
        *len = b.len;
    return buf_detach(&b);
}

/* Runs gridgovctl with args (shell words); its stdout in *out (caller frees); the exit status. */
static int ctl(const char *args, char **out)
{
    char o[512], cmd[2048];
    snprintf(o, sizeof o, "%s/tally-ctl.out", h_env("GRIDGOV_TEST_VAR"));
    snprintf(cmd, sizeof cmd, "'%s/gridgovctl' --set log_level=warn %s >'%s' 2>>'%s/tally-ctl.err'",
             h_env("GRIDGOV_BIN"), args, o, h_env("GRIDGOV_TEST_VAR"));
    int st = system(cmd);
    *out = slurp(o, NULL);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

/* verify CODE: exit status want, and the line holds each of the texts. */
static void expect_verify(const char *args, int want, const char *const *texts)
{
    char *out;
    int st = ctl(args, &out);
    bool ok = st == want;
    for (size_t i = 0; texts && texts[i]; i++)
        ok = ok && strstr(out, texts[i]);
    if (!ok) {
        print_error("gridgovctl %s: status %d (want %d)\n%s", args, st, want, out);
        for (size_t i = 0; texts && texts[i]; i++)
            print_error("  want text: %s\n", texts[i]);
        free(out);
        fail();
    }
    free(out);
}

static void verify_ok(const motion_t *m)
{
    char args[128];
    snprintf(args, sizeof args, "tally verify %s", m->code);
    char head[65];
    hex(m->head, 32, head);
    const char *t[] = {m->code, ": intact: ", head, NULL};
    expect_verify(args, 0, t);
}

static void verify_broken(const motion_t *m, const char *const *texts)
{
    char args[128];
    snprintf(args, sizeof args, "tally verify %s", m->code);
    expect_verify(args, 1, texts);
}

/* Runs SQL as the owner with the append-only triggers off (and on again after). */
static void tamper(const char *q, const motion_t *m)
{
    h_sql_exec(g_owner, "BEGIN");
    h_sql_exec(g_owner, "ALTER TABLE tally.ballot DISABLE TRIGGER ballot_append_only");
    h_sql_exec(g_owner, "ALTER TABLE tally.event DISABLE TRIGGER event_append_only");
    h_sql_exec(g_owner, "ALTER TABLE tally.paper_box DISABLE TRIGGER paper_box_append_only");
    h_sql_exec(g_owner, "ALTER TABLE tally.receipt DISABLE TRIGGER receipt_append_only");
    const char *p[] = {m->id};
    PQclear(sql(g_owner, q, 1, p));
    h_sql_exec(g_owner, "ALTER TABLE tally.ballot ENABLE TRIGGER ballot_append_only");
    h_sql_exec(g_owner, "ALTER TABLE tally.event ENABLE TRIGGER event_append_only");
    h_sql_exec(g_owner, "ALTER TABLE tally.paper_box ENABLE TRIGGER paper_box_append_only");
    h_sql_exec(g_owner, "ALTER TABLE tally.receipt ENABLE TRIGGER receipt_append_only");
    h_sql_exec(g_owner, "COMMIT");
}

/* The height of the motion's first event of a type. */
static int height_of(const motion_t *m, const char *type)
{
    const char *p[] = {m->id, type};
    return (int)h_sql_int(g_db, "SELECT min(height) FROM tally.event WHERE motion_id = $1 AND type = $2", 2, p);
}

/* ---------------------------------------------------------------- tests */

static int setup(void **state)
{
    (void)state;
    g_db = h_db();
    g_owner = h_db_owner();
    g_group = h_sql_int(g_db, "SELECT id FROM registry.unit WHERE level = 'group' ORDER BY id LIMIT 1", 0, NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    PQfinish(g_db);
    PQfinish(g_owner);
    return 0;
}

static void intact_motions_of_every_kind_verify(void **state)
{
    (void)state;
    const spec_t *specs[] = {&RESOLUTION, &ELECTION, &EVALUATION, &SELECTION};
    for (size_t i = 0; i < 4; i++) {
        motion_t m;
        build(specs[i], &m);
        verify_ok(&m);
    }
    /* one still open: its chain so far verifies, no result to recount yet */
    spec_t open = RESOLUTION;
    open.close = false;
    motion_t m;
    build(&open, &m);
    char args[64], head[65];
    snprintf(args, sizeof args, "tally verify %s", m.code);
    hex(m.head, 32, head);
    expect_verify(args, 0, (const char *[]){": intact: ", "not closed", head, NULL});
}

static void altered_deleted_inserted_ballots_are_caught(void **state)
{
    (void)state;
    motion_t m;
    build(&RESOLUTION, &m);
    char h[32];
    /* altered: one 同意 becomes 不同意; the break is at the event that lists that ballot */
    const char *ip[] = {m.id};
    char *victim = h_sql_text(g_db, "SELECT id::text FROM tally.ballot WHERE motion_id = $1 AND marks = '{0}'"
                                    " ORDER BY id LIMIT 1", 1, ip);
    const char *vp[] = {m.id, victim};
    long long at = h_sql_int(g_db, "SELECT height FROM tally.event WHERE motion_id = $1 AND type = 'ballots'"
                                   " AND payload LIKE '%' || $2 || '%'", 2, vp);
    tamper("UPDATE tally.ballot SET marks = '{1}' WHERE id = (SELECT id FROM tally.ballot WHERE motion_id = $1"
           " AND marks = '{0}' ORDER BY id LIMIT 1)", &m);
    snprintf(h, sizeof h, "broken at height %lld:", at);
    verify_broken(&m, (const char *[]){h, "the hash of ballot", victim, NULL});
    free(victim);

    build(&ELECTION, &m);
    tamper("DELETE FROM tally.ballot WHERE id = (SELECT id FROM tally.ballot WHERE motion_id = $1 ORDER BY id LIMIT 1)",
           &m);
    verify_broken(&m, (const char *[]){"broken at height", "a listed ballot is missing", "no such ballot row", NULL});

    /* inserted: the daemons' role may insert (only UPDATE and DELETE are refused) */
    build(&SELECTION, &m);
    char id[UUID_STR_LEN], key[UUID_STR_LEN];
    uuid_v4(id);
    uuid_v4(key);
    const char *p[] = {id, m.id};
    run(g_db, "INSERT INTO tally.ballot (id, motion_id, marks) VALUES ($1, $2, '{0,0}')", 2, p);
    verify_broken(&m, (const char *[]){"broken at no height", "a ballot row not in the chain", id, NULL});
    /* a ballot inserted with a receipt of its own: still not in the chain */
    build(&SELECTION, &m);
    uuid_v4(id);
    run(g_db, "INSERT INTO tally.ballot (id, motion_id, marks) VALUES ($1, $2, '{0,0}')", 2, p);
    run(g_db, "INSERT INTO tally.receipt (motion_id, tracker, cast_key) VALUES ($2, 'ZZZZZZZZZZ', sha256(convert_to($1, 'UTF8')))",
        2, p);
    verify_broken(&m, (const char *[]){"a ballot row not in the chain", id, NULL});

    /* a ballot's write-in changed (the marks left alone) */
    build(&ELECTION, &m);
    tamper("UPDATE tally.ballot SET write_ins = '{吴十}' WHERE motion_id = $1 AND write_ins = '{周九}'", &m);
    verify_broken(&m, (const char *[]){"the hash of ballot", NULL});
}

static void rehash_from(const motion_t *m, int from);

static void inserted_removed_and_changed_receipts_are_caught(void **state)
{
    (void)state;
    motion_t m;
    char key[UUID_STR_LEN];
    /* inserted (the daemons' role may insert), closed: more receipts than ballots */
    build(&RESOLUTION, &m);
    uuid_v4(key);
    const char *p[] = {m.id, key};
    run(g_db, "INSERT INTO tally.receipt (motion_id, tracker, cast_key) VALUES ($1, 'ZZZZZZZZZZ', sha256(convert_to($2, 'UTF8')))",
        2, p);
    verify_broken(&m, (const char *[]){"broken at no height", "stored receipts (one per online ballot row)",
                                       "expected 5, found 6", NULL});
    /* inserted while the motion is still open (no trackers event yet): the count catches it */
    spec_t open = ELECTION;
    open.close = false;
    build(&open, &m);
    uuid_v4(key);
    run(g_db, "INSERT INTO tally.receipt (motion_id, tracker, cast_key) VALUES ($1, 'ZZZZZZZZZZ', sha256(convert_to($2, 'UTF8')))",
        2, (const char *[]){m.id, key});
    verify_broken(&m, (const char *[]){"stored receipts (one per online ballot row)", "expected 4, found 5", NULL});
    /* removed */
    build(&EVALUATION, &m);
    tamper("DELETE FROM tally.receipt WHERE motion_id = $1 AND tracker = (SELECT min(tracker) FROM tally.receipt"
           " WHERE motion_id = $1)", &m);
    verify_broken(&m, (const char *[]){"stored receipts (one per online ballot row)", "expected 3, found 2", NULL});
    /* a receipt's tracker changed: the count holds, the list does not */
    build(&SELECTION, &m);
    tamper("UPDATE tally.receipt SET tracker = 'ZZZZZZZZZZ' WHERE motion_id = $1 AND tracker = (SELECT min(tracker)"
           " FROM tally.receipt WHERE motion_id = $1)", &m);
    char h[32];
    snprintf(h, sizeof h, "at height %d:", height_of(&m, "trackers"));
    verify_broken(&m, (const char *[]){h, "a listed tracker without its stored receipt", NULL});
    /* one removed together with its tracker in the trackers event, the chain re-hashed: the
     * trackers no longer match the online ballots */
    build(&RESOLUTION, &m);
    tamper("WITH gone AS (DELETE FROM tally.receipt WHERE motion_id = $1 AND tracker = (SELECT min(tracker)"
           " FROM tally.receipt WHERE motion_id = $1) RETURNING tracker)"
           " UPDATE tally.event SET payload = jsonb_build_object('trackers', (SELECT jsonb_agg(t ORDER BY t COLLATE \"C\")"
           " FROM jsonb_array_elements_text(payload::jsonb->'trackers') t WHERE t <> (SELECT tracker FROM gone)))::text"
           " WHERE motion_id = $1 AND type = 'trackers'", &m);
    rehash_from(&m, height_of(&m, "trackers"));
    verify_broken(&m, (const char *[]){"stored receipts (one per online ballot row)", NULL});
}

static void altered_and_removed_events_are_caught(void **state)
{
    (void)state;
    motion_t m;
    char h[32];
    /* the closed event says one more online ballot */
    build(&RESOLUTION, &m);
    int closed = height_of(&m, "closed");
    tamper("UPDATE tally.event SET payload = replace(payload, '\"online_ballots\": 5', '\"online_ballots\": 6')"
           " WHERE motion_id = $1 AND type = 'closed'", &m);
    snprintf(h, sizeof h, "at height %d:", closed);
    verify_broken(&m, (const char *[]){h, "hash of the closed event", NULL});

    /* only the spacing of a payload: the bytes are what is hashed */
    build(&EVALUATION, &m);
    tamper("UPDATE tally.event SET payload = replace(payload, ', ', ',') WHERE motion_id = $1 AND type = 'roll'", &m);
    verify_broken(&m, (const char *[]){"at height 2:", "hash of the roll event", NULL});

    /* the last event removed: the motion's head still names it */
    build(&ELECTION, &m);
    tamper("DELETE FROM tally.event WHERE motion_id = $1 AND type = 'result'", &m);
    snprintf(h, sizeof h, "height %d", m.height);
    verify_broken(&m, (const char *[]){"the motion's head", h, "chain ends at", NULL});

    /* the last event and the head rewound together: a closed motion must end in closed, result */
    build(&SELECTION, &m);
    tamper("DELETE FROM tally.event WHERE motion_id = $1 AND type = 'result'", &m);
    tamper("UPDATE tally.motion SET head_height = head_height - 1, head_hash = (SELECT hash FROM tally.event e"
           " WHERE e.motion_id = motion.id AND e.height = motion.head_height - 1) WHERE id = $1", &m);
    verify_broken(&m, (const char *[]){"the last events of a closed motion", NULL});

    /* an event in the middle removed */
    build(&RESOLUTION, &m);
    tamper("DELETE FROM tally.event WHERE motion_id = $1 AND height = 3", &m);
    verify_broken(&m, (const char *[]){"at height 3:", "height (a gap", NULL});

    /* a paper box's counts changed after they were entered */
    build(&RESOLUTION, &m);
    tamper("UPDATE tally.paper_box SET counts = '{\"options\": [2, 0, 0]}' WHERE motion_id = $1 AND box = '一号票箱'",
           &m);
    verify_broken(&m, (const char *[]){"paper box 一号票箱: counts", NULL});
    build(&EVALUATION, &m);
    tamper("UPDATE tally.paper_box SET tellers = '{张三,李四}' WHERE motion_id = $1", &m);
    verify_broken(&m, (const char *[]){"paper box 一号票箱: tellers", NULL});
}

/* Re-hashes the motion's chain from `from` on and moves its head: a rewrite with the hashes made
 * consistent, which only the recount (or a head hash kept elsewhere) can catch. */
static void rehash_from(const motion_t *m, int from)
{
    const char *p[] = {m->id};
    PGresult *r = sql(g_db, "SELECT height, type, payload, encode(prev_hash, 'hex') FROM tally.event"
                            " WHERE motion_id = $1 ORDER BY height", 1, p);
    unsigned char prev[32] = {0};
    for (int i = 0; i < PQntuples(r); i++) {
        int height = atoi(PQgetvalue(r, i, 0));
        const char *type = PQgetvalue(r, i, 1), *payload = PQgetvalue(r, i, 2);
        char head[256];
        int hl = snprintf(head, sizeof head, "gridgov-tally-v1\n%d\n%s\n", height, type);
        unsigned char pre[32 + 256], h[32];
        memcpy(pre, prev, 32);
        memcpy(pre + 32, head, (size_t)hl);
        sha256(pre, 32 + (size_t)hl, payload, strlen(payload), h);
        if (height >= from) {
            char ph[65], hh[65], hs[16];
            hex(prev, 32, ph);
            hex(h, 32, hh);
            snprintf(hs, sizeof hs, "%d", height);
            h_sql_exec(g_owner, "BEGIN");
            h_sql_exec(g_owner, "ALTER TABLE tally.event DISABLE TRIGGER event_append_only");
            const char *up[] = {m->id, hs, ph, hh};
            PQclear(sql(g_owner, "UPDATE tally.event SET prev_hash = decode($3, 'hex'), hash = decode($4, 'hex')"
                                 " WHERE motion_id = $1 AND height = $2", 4, up));
            const char *hp[] = {m->id, hs, hh};
            PQclear(sql(g_owner, "UPDATE tally.motion SET head_hash = decode($3, 'hex') WHERE id = $1 AND head_height = $2",
                        3, hp));
            h_sql_exec(g_owner, "ALTER TABLE tally.event ENABLE TRIGGER event_append_only");
            h_sql_exec(g_owner, "COMMIT");
        }
        memcpy(prev, h, 32);
    }
    PQclear(r);
}

static void a_consistent_rewrite_of_the_result_fails_the_recount(void **state)
{
    (void)state;
    motion_t m;
    build(&RESOLUTION, &m);
    /* 5 同意 become 6 and 2 不同意 become 1, in the result event and the motion alike */
    tamper("UPDATE tally.event SET payload = replace(payload, '\"options\": [5, 2, 1]', '\"options\": [6, 1, 1]')"
           " WHERE motion_id = $1 AND type = 'result'", &m);
    tamper("UPDATE tally.motion SET result = (SELECT payload::jsonb FROM tally.event e WHERE e.motion_id = $1"
           " AND e.type = 'result') WHERE id = $1", &m);
    rehash_from(&m, m.height);
    char h[32];
    snprintf(h, sizeof h, "at height %d:", m.height);
    verify_broken(&m, (const char *[]){h, "the result's counts", "expected {\"options\":[5,2,1]}",
                                       "found {\"options\":[6,1,1]}", NULL});

    /* a ballot rewritten with its listing and the chain re-hashed: the recount still disagrees */
    build(&SELECTION, &m);
    const char *p[] = {m.id};
    PGresult *r = sql(g_db, "SELECT b.id FROM tally.ballot b WHERE b.motion_id = $1 AND b.marks = '{0,0}'", 1, p);
    assert_int_equal(PQntuples(r), 1);
    json_t *marks = json_pack("[i, i]", 1, 1), *wi = json_array();
    char nh[65];
    ballot_hash(m.code, PQgetvalue(r, 0, 0), marks, wi, nh);
    const char *q[] = {m.id, PQgetvalue(r, 0, 0), nh};
    h_sql_exec(g_owner, "BEGIN");
    h_sql_exec(g_owner, "ALTER TABLE tally.ballot DISABLE TRIGGER ballot_append_only");
    h_sql_exec(g_owner, "ALTER TABLE tally.event DISABLE TRIGGER event_append_only");
    PQclear(sql(g_owner, "UPDATE tally.ballot SET marks = '{1,1}' WHERE id = $2 AND motion_id = $1", 2, q));
    PQclear(sql(g_owner, "UPDATE tally.event e SET payload = (SELECT jsonb_build_object('ballots', jsonb_agg("
                         " CASE WHEN x->>0 = $2 THEN jsonb_build_array(x->0, $3::text) ELSE x END ORDER BY o),"
                         " 'receipts', e.payload::jsonb->'receipts')::text"
                         " FROM jsonb_array_elements(e.payload::jsonb->'ballots') WITH ORDINALITY AS t(x, o))"
                         " WHERE e.motion_id = $1 AND e.type = 'ballots' AND e.payload LIKE '%' || $2 || '%'", 3, q));
    h_sql_exec(g_owner, "ALTER TABLE tally.ballot ENABLE TRIGGER ballot_append_only");
    h_sql_exec(g_owner, "ALTER TABLE tally.event ENABLE TRIGGER event_append_only");
    h_sql_exec(g_owner, "COMMIT");
    PQclear(r);
    json_decref(marks);
    json_decref(wi);
    rehash_from(&m, 4);
    verify_broken(&m, (const char *[]){"the result's counts", NULL});

    /* a voter marked as having voted who did not: the roll disagrees with the closed event */
    build(&ELECTION, &m);
    run(g_db, "UPDATE tally.roll SET voted = 'online' WHERE motion_id = $1 AND voted IS NULL"
              " AND voter_id = (SELECT max(voter_id) FROM tally.roll WHERE motion_id = $1)", 1,
        (const char *[]){m.id});
    verify_broken(&m, (const char *[]){"voters the roll marks as voted", "expected 7, found 8", NULL});
}

/* A writer that stored a ballot CHAIN.md forbids, and hashed and listed it as it should: the recount
 * refuses it (a choice not on the ballot, more names than seats, a candidate named twice). */
static void a_ballot_the_ballot_rules_forbid_is_caught_even_when_listed(void **state)
{
    (void)state;
    static const vote_t OFF[] = {{"[0]", "[]"}, {"[3]", "[]"}};
    spec_t bad = {"resolution", "household", "{\"choices\": [\"同意\", \"不同意\", \"弃权\"]}", 4, OFF, 2, NULL, 0, 0,
                  "{\"options\": [1, 0, 0]}", "rejected", true};
    motion_t m;
    build(&bad, &m);
    verify_broken(&m, (const char *[]){"a resolution's ballot is one choice of 3", "a ballot CHAIN.md allows", NULL});
    static const vote_t MANY[] = {{"[0, 1, 2]", "[]"}};
    spec_t el = ELECTION;
    el.votes = MANY, el.n_votes = 1, el.boxes = NULL, el.n_boxes = 0, el.paper_voters = 0;
    build(&el, &m);
    verify_broken(&m, (const char *[]){"3 names for 2 seats", NULL});
    static const vote_t TWICE[] = {{"[1, 1]", "[]"}};
    el.votes = TWICE;
    build(&el, &m);
    verify_broken(&m, (const char *[]){"candidate 1 marked twice", NULL});
    static const vote_t SHORT[] = {{"[0]", "[]"}};
    spec_t ev = EVALUATION;
    ev.votes = SHORT, ev.n_votes = 1, ev.boxes = NULL, ev.n_boxes = 0, ev.paper_voters = 0;
    build(&ev, &m);
    verify_broken(&m, (const char *[]){"1 marks for 2 subjects", NULL});
}

static void the_app_role_cannot_change_or_remove_rows(void **state)
{
    (void)state;
    motion_t m;
    build(&RESOLUTION, &m);
    const char *p[] = {m.id};
    const char *qs[] = {"UPDATE tally.ballot SET marks = '{1}' WHERE motion_id = $1",
                        "DELETE FROM tally.ballot WHERE motion_id = $1",
                        "UPDATE tally.receipt SET tracker = 'ZZZZZZZZZZ' WHERE motion_id = $1",
                        "DELETE FROM tally.receipt WHERE motion_id = $1",
                        "UPDATE tally.event SET payload = '{}' WHERE motion_id = $1",
                        "DELETE FROM tally.event WHERE motion_id = $1 AND type = 'result'",
                        "UPDATE tally.paper_box SET ballots = ballots + 1 WHERE motion_id = $1",
                        "DELETE FROM tally.paper_box WHERE motion_id = $1"};
    for (size_t i = 0; i < sizeof qs / sizeof qs[0]; i++) {
        PGresult *r = PQexecParams(g_db, qs[i], 1, NULL, p, NULL, NULL, 0);
        const char *state_ = PQresultErrorField(r, PG_DIAG_SQLSTATE);
        if (PQresultStatus(r) != PGRES_FATAL_ERROR || !state_ || strcmp(state_, "42501")) {
            print_error("%s: %s %s\n", qs[i], PQresStatus(PQresultStatus(r)), state_ ? state_ : "");
            fail();
        }
        PQclear(r);
    }
    verify_ok(&m);
}

static void the_json_archive_verifies_offline_and_catches_edits(void **state)
{
    (void)state;
    motion_t m;
    build(&ELECTION, &m);
    char path[512], args[1024], *db_line, *file_line;
    snprintf(path, sizeof path, "%s/%s.json", h_env("GRIDGOV_TEST_VAR"), m.code);
    snprintf(args, sizeof args, "tally archive %s --json '%s'", m.code, path);
    assert_int_equal(ctl(args, &file_line), 0);
    free(file_line);
    snprintf(args, sizeof args, "tally verify %s", m.code);
    assert_int_equal(ctl(args, &db_line), 0);
    snprintf(args, sizeof args, "tally verify --archive '%s'", path);
    assert_int_equal(ctl(args, &file_line), 0);
    assert_string_equal(db_line, file_line);
    free(db_line);
    free(file_line);

    /* the archive holds what the brief asks for */
    json_t *ar = json_load_file(path, 0, NULL);
    assert_non_null(ar);
    assert_string_equal(json_string_value(json_object_get(ar, "format")), "gridgov-tally-archive-v1");
    assert_int_equal(json_array_size(json_object_get(ar, "trackers")), 4);
    assert_int_equal(json_array_size(json_object_get(ar, "chain")), (size_t)m.height);
    char head[65];
    hex(m.head, 32, head);
    assert_string_equal(json_string_value(json_object_get(ar, "head_hash")), head);
    json_t *px = json_array_get(json_object_get(ar, "proxies"), 0);
    assert_string_equal(json_string_value(json_object_get(px, "principal_name")), "村民2");
    assert_string_equal(json_string_value(json_object_get(px, "holder_name")), "村民1");
    json_t *applied = json_array_get(json_object_get(json_object_get(ar, "rules"), "applied"), 0);
    assert_non_null(strstr(json_string_value(json_object_get(applied, "cite")), "第二十二条"));
    json_t *box = json_array_get(json_object_get(ar, "paper_boxes"), 0);
    assert_int_equal(json_array_size(json_object_get(box, "tellers")), 3);
    const char *t0 = json_string_value(json_array_get(json_object_get(ar, "trackers"), 0)),
               *t1 = json_string_value(json_array_get(json_object_get(ar, "trackers"), 1));
    assert_true(strcmp(t0, t1) < 0);

    /* edits of the file: a ballot's marks, the tracker list, the head hash, a payload */
    for (int e = 0; e < 4; e++) {
        json_t *copy = json_deep_copy(ar);
        const char *want;
        if (e == 0) {
            json_t *b = json_array_get(json_object_get(copy, "ballots"), 0);
            json_object_set_new(b, "marks", json_pack("[i]", 2));
            want = "the hash of ballot";
        } else if (e == 1) {
            json_array_set_new(json_object_get(copy, "trackers"), 0, json_string("0000000000"));
            want = "a stored receipt the trackers event does not list";
        } else if (e == 2) {
            json_object_set_new(copy, "head_hash", json_string("00000000000000000000000000000000"
                                                               "00000000000000000000000000000000"));
            want = "the archive's head hash";
        } else {
            json_t *ev = json_array_get(json_object_get(copy, "chain"), 0);
            const char *pl = json_string_value(json_object_get(ev, "payload"));
            char *changed = strdup(pl);
            char *at = strstr(changed, "修缮");
            memcpy(at, "修补", strlen("修补"));
            json_object_set_new(ev, "payload", json_string(changed));
            free(changed);
            want = "hash of the opened event";
        }
        char bad[512];
        snprintf(bad, sizeof bad, "%s/%s-edit%d.json", h_env("GRIDGOV_TEST_VAR"), m.code, e);
        assert_int_equal(json_dump_file(copy, bad, 0), 0);
        json_decref(copy);
        snprintf(args, sizeof args, "tally verify --archive '%s'", bad);
        expect_verify(args, 1, (const char *[]){m.code, want, NULL});
    }
    json_decref(ar);
}

static void the_csv_archive_is_printable(void **state)
{
    (void)state;
    motion_t m;
    build(&RESOLUTION, &m);
    char path[512], args[1024], *out;
    snprintf(path, sizeof path, "%s/%s.csv", h_env("GRIDGOV_TEST_VAR"), m.code);
    snprintf(args, sizeof args, "tally archive %s --csv '%s'", m.code, path);
    assert_int_equal(ctl(args, &out), 0);
    free(out);
    size_t len;
    char *csv = slurp(path, &len);
    assert_true(len > 3 && !memcmp(csv, "\xEF\xBB\xBF", 3));
    const char *sections[] = {"\r\n结果\r\n", "\r\n规则及依据\r\n", "\r\n委托名单\r\n", "\r\n监票人\r\n",
                              "\r\n选票追踪码\r\n", "\r\n哈希链\r\n", "结论,通过\r\n", "同意,5\r\n", "不同意,2\r\n",
                              "一号票箱,张三、李四、王五,3,1,", "700002,村民2,700001,村民1\r\n", "第二十二条"};
    for (size_t i = 0; i < sizeof sections / sizeof sections[0]; i++)
        if (!strstr(csv, sections[i])) {
            print_error("the CSV lacks %s\n%s", sections[i], csv);
            fail();
        }
    /* every tracker, and the head hash */
    const char *p[] = {m.id};
    PGresult *r = sql(g_db, "SELECT tracker FROM tally.receipt WHERE motion_id = $1", 1, p);
    assert_int_equal(PQntuples(r), 5);
    for (int i = 0; i < PQntuples(r); i++) {
        char line[32];
        snprintf(line, sizeof line, "\r\n%s\r\n", PQgetvalue(r, i, 0));
        assert_non_null(strstr(csv, line));
    }
    PQclear(r);
    char head[80];
    hex(m.head, 32, head + strlen("链头哈希,"));
    memcpy(head, "链头哈希,", strlen("链头哈希,"));
    assert_non_null(strstr(csv, head));
    free(csv);
}

static void bad_input_is_refused(void **state)
{
    (void)state;
    char *out, args[1024];
    assert_int_equal(ctl("tally verify M2099-000000", &out), 2);
    free(out);
    assert_int_equal(ctl("tally verify", &out), 2);
    free(out);
    assert_int_equal(ctl("tally verify --archive /nonexistent/a.json", &out), 2);
    free(out);
    snprintf(args, sizeof args, "tally verify --archive '%s/deploy/migrations/025_tally.sql'", h_env("GRIDGOV_TOP"));
    assert_int_equal(ctl(args, &out), 2);
    free(out);
    char path[512];
    snprintf(path, sizeof path, "%s/not-an-archive.json", h_env("GRIDGOV_TEST_VAR"));
    FILE *f = fopen(path, "w");
    fputs("{\"format\": \"something else\"}", f);
    fclose(f);
    snprintf(args, sizeof args, "tally verify --archive '%s'", path);
    assert_int_equal(ctl(args, &out), 2);
    free(out);
    assert_int_equal(ctl("tally archive M2099-000000 --json /dev/null", &out), 2);
    free(out);
    assert_int_equal(ctl("tally archive M2099-000000 --xml /dev/null", &out), 2);
    free(out);
    assert_int_equal(ctl("tally frobnicate", &out), 2);
    free(out);
    motion_t m;
    build(&SELECTION, &m);
    snprintf(args, sizeof args, "tally archive %s --json /nonexistent/dir/a.json", m.code);
    assert_int_equal(ctl(args, &out), 2);
    free(out);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(intact_motions_of_every_kind_verify),
        cmocka_unit_test(altered_deleted_inserted_ballots_are_caught),
        cmocka_unit_test(inserted_removed_and_changed_receipts_are_caught),
        cmocka_unit_test(altered_and_removed_events_are_caught),
        cmocka_unit_test(a_consistent_rewrite_of_the_result_fails_the_recount),
        cmocka_unit_test(a_ballot_the_ballot_rules_forbid_is_caught_even_when_listed),
        cmocka_unit_test(the_app_role_cannot_change_or_remove_rows),
        cmocka_unit_test(the_json_archive_verifies_offline_and_catches_edits),
        cmocka_unit_test(the_csv_archive_is_printable),
        cmocka_unit_test(bad_input_is_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
