/* The motions API (services/intake/api_motions.c, README "Votes (tally)") against a real intake.
 *
 * Reads come from tally's published views (025_tally.sql): the test writes motions, rolls,
 * proxies, paper boxes and ballots as the database owner and reads them back through the API as
 * staff in and out of scope and as voters holding a credential. Writes are commands to tally: here
 * tally is a fake on intake's tally endpoint, holding tally's key, that records every command it
 * gets and answers what the test tells it to; so the test sees exactly what intake sends (or that
 * it sends nothing: malformed input, out of scope), and that intake answers with tally's status
 * and body as given, or 503 when tally stays silent.
 *
 * Then the whole path through a real gridgov-tally, behind a second intake, in a fresh group
 * (tally_fx.h): create (retried under one Idempotency-Key: one motion) → open → slips → cast
 * (201 tracker; the same credential again 409; a retry under one key the same tracker; forged
 * and off-ballot casts store nothing) → the voter finds their tracker → close → result → the
 * whole box of trackers. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <zmq.h>

#include "bus.h"
#include "harness.h"
#include "secret.h"
#include "tally_fx.h"

/* ---- the fake tally ----------------------------------------------------------------------- */

static struct {
    pthread_t thread;
    bus_t *bus;
    void *sock;
    volatile int stop;
    pthread_mutex_t mu;
    json_t *got;   /* every command received, in order */
    int status;    /* the answer to give */
    json_t *body;
    int silent;    /* receive, never answer */
} F = {.mu = PTHREAD_MUTEX_INITIALIZER};

static void *fake_tally(void *arg)
{
    (void)arg;
    while (!F.stop) {
        zmq_pollitem_t it = {F.sock, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 100) <= 0)
            continue;
        zmq_msg_t peer, m;
        zmq_msg_init(&peer);
        zmq_msg_init(&m);
        if (zmq_msg_recv(&peer, F.sock, 0) < 0 || !zmq_msg_more(&peer) || zmq_msg_recv(&m, F.sock, 0) < 0) {
            zmq_msg_close(&peer);
            zmq_msg_close(&m);
            continue;
        }
        json_error_t je;
        json_t *cmd = json_loadb(zmq_msg_data(&m), zmq_msg_size(&m), 0, &je);
        pthread_mutex_lock(&F.mu);
        json_array_append_new(F.got, cmd ? cmd : json_string("not JSON"));
        char *reply = NULL;
        if (!F.silent) {
            json_t *r = json_pack("{s:O,s:i,s:O}", "id", json_object_get(cmd, "id"), "status", F.status, "body", F.body);
            reply = json_dumps(r, JSON_COMPACT | JSON_SORT_KEYS);
            json_decref(r);
        }
        pthread_mutex_unlock(&F.mu);
        if (reply) {
            zmq_send(F.sock, zmq_msg_data(&peer), zmq_msg_size(&peer), ZMQ_SNDMORE);
            zmq_send(F.sock, reply, strlen(reply), 0);
            free(reply);
        }
        zmq_msg_close(&peer);
        zmq_msg_close(&m);
    }
    return NULL;
}

static void fake_answers(int status, const char *body)
{
    json_error_t je;
    pthread_mutex_lock(&F.mu);
    json_decref(F.body);
    F.body = json_loads(body, 0, &je);
    F.status = status;
    F.silent = 0;
    pthread_mutex_unlock(&F.mu);
    assert_non_null(F.body);
}

static size_t received(void)
{
    pthread_mutex_lock(&F.mu);
    size_t n = json_array_size(F.got);
    pthread_mutex_unlock(&F.mu);
    return n;
}

/* The i-th command received (new reference). */
static json_t *command(size_t i)
{
    pthread_mutex_lock(&F.mu);
    json_t *c = json_deep_copy(json_array_get(F.got, i));
    pthread_mutex_unlock(&F.mu);
    assert_non_null(c);
    return c;
}

/* ---- fixture ------------------------------------------------------------------------------ */

static pid_t g_intake, g_tally, g_intake2;
static PGconn *g_db, *g_owner;
static int g_http;
/* Units: G1, G2 groups of village V; G3 a group of another village V2. */
static char g_g1[24], g_g2[24], g_g3[24], g_g1_code[64], g_g3_code[64];
/* Staff tokens: V's official (a village handler), V2's official, G1's grid worker and group
 * leader, the county operator. */
static char *t_village, *t_village2, *t_gridworker, *t_leader, *t_operator;
static long long s_village;
/* Through the real tally: a fresh villager group of five households (tally_fx.h), its group
 * leader and grid worker. */
static tfx_group_t g_tg;
static char *t_tg_leader, *t_tg_gridworker;
/* Motions: A open in G1 (voters c1 c2 c3), B draft in G1, C closed in G1 (c4, five ballots),
 * D open in G2 (c5), E open in G3 (c6). */
#define M_A "M1999-900001"
#define M_B "M1999-900002"
#define M_C "M1999-900003"
#define M_D "M1999-900004"
#define M_E "M1999-900005"
static char c1[17], c2[17], c3[17], c4[17], c5[17], c6[17];
static const char *const TRACKERS[] = {"0A1B2C3D4E", "7KQ2M9XD4P", "HJKMNPQRST", "VWXYZ01234", "ZZZZZZZZZZ"};

static void new_credential(char out[17])
{
    static const char alphabet[] = "0123456789ABCDEFGHJKMNPQRSTVWXYZ";
    char hex[SECRET_HEX_LEN];
    assert_true(secret_new(hex));
    for (int i = 0; i < 16; i++)
        out[i] = alphabet[(unsigned char)(hex[2 * i] * 31 + hex[2 * i + 1]) % 32];
    out[16] = '\0';
}

static char *one(const char *sql)
{
    char *s = h_sql_text(g_db, sql, 0, NULL);
    assert_non_null(s);
    return s;
}

static void copy(char *dst, size_t n, char *src)
{
    snprintf(dst, n, "%s", src);
    free(src);
}

static void add_motion(const char *code, const char *group, const char *kind, const char *state, const char *ballot,
                       const char *age, const char *result)
{
    const char *p[] = {code, group, kind, ballot, state, age, result};
    PGresult *r = PQexecParams(
        g_owner,
        "INSERT INTO tally.motion (id, code, group_id, kind, title, body, electorate, ballot, rule_set, rules,"
        " rules_sha256, delivery, state, created_by, created_at, opened_at, closes_at, closed_at, roll_count, result,"
        " head_height, head_hash)"
        " VALUES (gen_random_uuid(), $1, $2::bigint, $3, '测试表决 ' || $1, '', 'household', $4::jsonb, 'cn-2018',"
        " '{}', sha256('rules'), 'notify', $5, 1, now() - $6::interval,"
        " CASE WHEN $5 <> 'draft' THEN now() - $6::interval + interval '1 hour' END,"
        " CASE WHEN $5 <> 'draft' THEN now() + interval '3 days' END,"
        " CASE WHEN $5 = 'closed' THEN now() - interval '1 minute' END,"
        " CASE WHEN $5 <> 'draft' THEN 3 END, $7::jsonb, 1, sha256('head'))",
        7, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("insert motion %s: %s", code, PQerrorMessage(g_owner));
    PQclear(r);
}

static void add_voter(const char *motion, long long voter, const char *name, const char *cred, const char *voted)
{
    char hex[SECRET_HEX_LEN], v[24];
    secret_hash_hex(cred, hex);
    snprintf(v, sizeof v, "%lld", voter);
    const char *p[] = {motion, v, name, hex, voted};
    PGresult *r = PQexecParams(g_owner,
                               "INSERT INTO tally.roll (motion_id, voter_id, household_id, name, cred_sha256, voted)"
                               " SELECT id, $2::bigint, $2::bigint + 1000, $3, decode($4, 'hex'), $5 FROM tally.motion WHERE code = $1",
                               5, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("insert voter: %s", PQerrorMessage(g_owner));
    PQclear(r);
}

static void owner_exec(const char *sql, int n, const char *const *p)
{
    PGresult *r = PQexecParams(g_owner, sql, n, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s: %s", sql, PQerrorMessage(g_owner));
    PQclear(r);
}

static int setup(void **state)
{
    (void)state;
    g_db = h_db();
    g_owner = h_db_owner();
    /* V: the first village with two groups or more; V2: another village. */
    char *v = one("SELECT v.id::text FROM registry.unit v WHERE v.level = 'village'"
                  " AND (SELECT count(*) FROM registry.unit g WHERE g.parent_id = v.id) >= 2"
                  " AND EXISTS (SELECT 1 FROM registry.staff s WHERE s.unit_id = v.id AND s.role = 'handler' AND s.active)"
                  " ORDER BY v.id LIMIT 1");
    const char *pv[] = {v};
    copy(g_g1, sizeof g_g1, h_sql_text(g_db, "SELECT min(id)::text FROM registry.unit WHERE parent_id = $1::bigint", 1, pv));
    copy(g_g2, sizeof g_g2, h_sql_text(g_db, "SELECT max(id)::text FROM registry.unit WHERE parent_id = $1::bigint", 1, pv));
    copy(g_g3, sizeof g_g3,
         h_sql_text(g_db,
                    "SELECT min(g.id)::text FROM registry.unit g JOIN registry.unit v ON v.id = g.parent_id"
                    " WHERE v.level = 'village' AND v.id <> $1::bigint"
                    " AND EXISTS (SELECT 1 FROM registry.staff s WHERE s.unit_id = v.id AND s.role = 'handler' AND s.active)",
                    1, pv));
    const char *p1[] = {g_g1}, *p3[] = {g_g3};
    copy(g_g1_code, sizeof g_g1_code, h_sql_text(g_db, "SELECT code FROM registry.unit WHERE id = $1::bigint", 1, p1));
    copy(g_g3_code, sizeof g_g3_code, h_sql_text(g_db, "SELECT code FROM registry.unit WHERE id = $1::bigint", 1, p3));
    s_village = h_sql_int(g_db, "SELECT min(id) FROM registry.staff WHERE unit_id = $1::bigint AND role = 'handler' AND active",
                          1, pv);
    long long s_village2 = h_sql_int(g_db,
                                     "SELECT min(s.id) FROM registry.staff s JOIN registry.unit g ON g.parent_id = s.unit_id"
                                     " WHERE g.id = $1::bigint AND s.role = 'handler' AND s.active",
                                     1, p3);
    long long s_gw = h_sql_int(g_db, "SELECT min(id) FROM registry.staff WHERE unit_id = $1::bigint AND role = 'grid_worker' AND active",
                               1, p1);
    long long s_leader = h_sql_int(
        g_db, "SELECT min(id) FROM registry.staff WHERE unit_id = $1::bigint AND role = 'group_leader' AND active", 1, p1);
    long long s_op = h_sql_int(g_db, "SELECT min(id) FROM registry.staff WHERE role = 'operator' AND active", 0, NULL);
    free(v);
    if (!s_village || !s_village2 || !s_gw || !s_leader || !s_op)
        fail_msg("the demo county lacks the staff this test needs");
    t_village = h_staff_token(g_db, s_village);
    t_village2 = h_staff_token(g_db, s_village2);
    t_gridworker = h_staff_token(g_db, s_gw);
    t_leader = h_staff_token(g_db, s_leader);
    t_operator = h_staff_token(g_db, s_op);

    new_credential(c1), new_credential(c2), new_credential(c3), new_credential(c4), new_credential(c5), new_credential(c6);
    add_motion(M_C, g_g1, "resolution", "closed", "{\"choices\":[\"同意\",\"不同意\",\"弃权\"]}", "3 days",
               "{\"outcome\":\"adopted\",\"counts\":[4,1,0]}");
    add_motion(M_B, g_g1, "election", "draft", "{\"seats\":1,\"candidates\":[{\"name\":\"张三\"},{\"name\":\"李四\"}]}",
               "2 days", NULL);
    add_motion(M_A, g_g1, "resolution", "open", "{\"choices\":[\"同意\",\"不同意\",\"弃权\"]}", "1 day", NULL);
    add_motion(M_D, g_g2, "resolution", "open", "{}", "12 hours", NULL);
    add_motion(M_E, g_g3, "resolution", "open", "{}", "6 hours", NULL);
    add_voter(M_A, 910001, "王一", c1, "online");
    add_voter(M_A, 910002, "王二", c2, NULL);
    add_voter(M_A, 910003, "王三", c3, "paper");
    add_voter(M_C, 910001, "王一", c4, "online");
    add_voter(M_D, 920001, "赵一", c5, NULL);
    add_voter(M_E, 930001, "钱一", c6, NULL);
    const char *pa[] = {M_A}, *pc[] = {M_C};
    owner_exec("INSERT INTO tally.proxy (motion_id, principal, holder) SELECT id, 910003, 910001 FROM tally.motion WHERE code = $1",
               1, pa);
    owner_exec("INSERT INTO tally.paper_box (motion_id, box, tellers, ballots, invalid, counts, entered_by, entered_at)"
               " SELECT id, '第一箱', ARRAY['甲','乙','丙'], 2, 0, '{\"options\":[2,0,0]}', 1, now() FROM tally.motion WHERE code = $1",
               1, pc);
    for (size_t i = 0; i < sizeof TRACKERS / sizeof TRACKERS[0]; i++) {
        const char *pt[] = {M_C, TRACKERS[i]};
        owner_exec("WITH m AS (SELECT id FROM tally.motion WHERE code = $1),"
                   " b AS (INSERT INTO tally.ballot (id, motion_id, marks) SELECT gen_random_uuid(), id, '{0}' FROM m)"
                   " INSERT INTO tally.receipt (motion_id, tracker, cast_key) SELECT id, $2, sha256(convert_to($2, 'UTF8')) FROM m",
                   2, pt);
    }
    const char *pa2[] = {M_A, "AAAAAAAAAA"};
    owner_exec("WITH m AS (SELECT id FROM tally.motion WHERE code = $1),"
               " b AS (INSERT INTO tally.ballot (id, motion_id, marks) SELECT gen_random_uuid(), id, '{1}' FROM m)"
               " INSERT INTO tally.receipt (motion_id, tracker, cast_key) SELECT id, $2, sha256(convert_to($2, 'UTF8')) FROM m",
               2, pa2);

    /* the fake tally, with tally's key, admitting intake's */
    F.got = json_array();
    char err[512], ep[64];
    bus_opts_t o = {.curve = true, .curve_dir = h_env("GRIDGOV_CURVE_DIR"), .name = "tally", .command_peers = "intake"};
    if (!(F.bus = bus_new(&o, err, sizeof err)))
        fail_msg("bus: %s", err);
    F.sock = zmq_socket(bus_ctx(F.bus), ZMQ_ROUTER);
    int zero = 0;
    zmq_setsockopt(F.sock, ZMQ_LINGER, &zero, sizeof zero);
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", h_port(2));
    if (!bus_bind(F.bus, F.sock, BUS_COMMANDS, ep, err, sizeof err))
        fail_msg("bind: %s", err);
    fake_answers(200, "{}");
    pthread_create(&F.thread, NULL, fake_tally, NULL);

    g_http = h_port(0);
    static char tally_env[96];
    snprintf(tally_env, sizeof tally_env, "GRIDGOV_TALLY_ENDPOINT=tcp://127.0.0.1:%d", h_port(2));
    /* a small burst and a slow refill (one a second), so that the limit on a voter's credential
     * shows; the staff tokens stay well below it */
    const char *env[] = {tally_env, "GRIDGOV_RATE_LIMIT_BURST=60", "GRIDGOV_RATE_LIMIT_PER_MINUTE=60", NULL};
    g_intake = h_start_intake(g_http, h_port(1), env);

    /* a real gridgov-tally with the test rule set, and a second intake whose tally it is */
    tfx_group(g_db, 5, 1, &g_tg);
    t_tg_leader = h_staff_token(g_db, g_tg.leader);
    t_tg_gridworker = h_staff_token(g_db, g_tg.grid_worker);
    g_tally = h_start_tally(h_port(10), tfx_rules_dir(), NULL);
    static char real_env[96];
    snprintf(real_env, sizeof real_env, "GRIDGOV_TALLY_ENDPOINT=tcp://127.0.0.1:%d", h_port(10));
    const char *env2[] = {real_env, NULL};
    g_intake2 = h_start_intake(h_port(20), h_port(21), env2);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int st = h_stop(g_intake, SIGTERM), st2 = h_stop(g_intake2, SIGTERM), st3 = h_stop(g_tally, SIGTERM);
    F.stop = 1;
    pthread_join(F.thread, NULL);
    zmq_close(F.sock);
    bus_destroy(&F.bus);
    json_decref(F.got);
    json_decref(F.body);
    free(t_village), free(t_village2), free(t_gridworker), free(t_leader), free(t_operator);
    free(t_tg_leader), free(t_tg_gridworker);
    PQfinish(g_db);
    PQfinish(g_owner);
    bool clean = WIFEXITED(st) && WEXITSTATUS(st) == 0 && WIFEXITED(st2) && WEXITSTATUS(st2) == 0 && WIFEXITED(st3) &&
                 WEXITSTATUS(st3) == 0;
    return clean ? 0 : -1;
}

/* ---- requests ----------------------------------------------------------------------------- */

typedef struct {
    long status;
    json_t *body; /* NULL when not JSON */
    char retry_after[16];
} answer_t;

/* auth: "Bearer X", "Voter X" or NULL; extra: one more header or NULL. */
static answer_t call(const char *method, const char *path, const char *auth, const char *body, const char *extra)
{
    char url[512], ah[512];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", g_http, path);
    const char *headers[4] = {NULL};
    int n = 0;
    if (auth) {
        snprintf(ah, sizeof ah, "Authorization: %s", auth);
        headers[n++] = ah;
    }
    if (body)
        headers[n++] = "Content-Type: application/json";
    if (extra)
        headers[n++] = extra;
    h_resp_t r;
    assert_true(h_http(method, url, headers, body, body ? strlen(body) : 0, &r));
    answer_t a = {.status = r.status};
    json_error_t je;
    a.body = r.body.len ? json_loadb(r.body.data, r.body.len, 0, &je) : NULL;
    const char *ra = r.headers.data ? strcasestr(r.headers.data, "Retry-After: ") : NULL;
    if (ra)
        snprintf(a.retry_after, sizeof a.retry_after, "%.*s", (int)strcspn(ra + 13, "\r\n"), ra + 13);
    h_resp_free(&r);
    return a;
}

static const char *bearer(const char *token)
{
    static _Thread_local char b[2][128];
    static _Thread_local int i;
    i ^= 1;
    snprintf(b[i], sizeof b[i], "Bearer %s", token);
    return b[i];
}

static const char *voter(const char *cred)
{
    static _Thread_local char b[128];
    snprintf(b, sizeof b, "Voter %s", cred);
    return b;
}

static const char *error_code(const answer_t *a)
{
    return json_string_value(json_object_get(json_object_get(a->body, "error"), "code"));
}

static const char *error_field(const answer_t *a)
{
    return json_string_value(json_object_get(json_object_get(a->body, "error"), "field"));
}

static void expect(answer_t a, long status, const char *code)
{
    if (a.status != status || (code && (!error_code(&a) || strcmp(error_code(&a), code)))) {
        char *t = a.body ? json_dumps(a.body, 0) : NULL;
        fail_msg("expected %ld %s, got %ld %s", status, code ? code : "", a.status, t ? t : "(no JSON)");
    }
    json_decref(a.body);
}

/* ---- authentication and scope ------------------------------------------------------------- */

static void signing_in_is_required_and_checked(void **state)
{
    (void)state;
    size_t before = received();
    expect(call("GET", "/api/v1/motions", NULL, NULL, NULL), 401, "unauthorized");
    expect(call("GET", "/api/v1/motions/" M_A, NULL, NULL, NULL), 401, "unauthorized");
    expect(call("GET", "/api/v1/motions/" M_C "/result", "Bearer 0000", NULL, NULL), 401, "unauthorized");
    expect(call("POST", "/api/v1/motions", NULL, "{}", NULL), 401, "unauthorized");
    expect(call("POST", "/api/v1/motions/" M_A "/close", NULL, "{}", NULL), 401, "unauthorized");
    /* a credential that is not on any roll, one malformed, and a voter asking to manage */
    char stranger[17];
    new_credential(stranger);
    expect(call("GET", "/api/v1/motions", voter(stranger), NULL, NULL), 401, "unauthorized");
    expect(call("GET", "/api/v1/motions", voter("not-a-credential"), NULL, NULL), 401, "unauthorized");
    expect(call("POST", "/api/v1/motions/" M_A "/close", voter(c1), "{}", NULL), 401, "unauthorized");
    expect(call("POST", "/api/v1/motions", voter(c1), "{}", NULL), 401, "unauthorized");
    /* a revoked token stops at once */
    long long sid = s_village;
    char *t = h_staff_token(g_db, sid), hex[SECRET_HEX_LEN];
    expect(call("GET", "/api/v1/motions/" M_A, bearer(t), NULL, NULL), 200, NULL);
    secret_hash_hex(t, hex);
    const char *p[] = {hex};
    PQclear(PQexecParams(g_db, "UPDATE registry.staff_token SET revoked = true WHERE token_sha256 = decode($1, 'hex')", 1, NULL,
                         p, NULL, NULL, 0));
    expect(call("GET", "/api/v1/motions/" M_A, bearer(t), NULL, NULL), 401, "unauthorized");
    free(t);
    assert_int_equal(received(), before);
}

static void staff_reach_their_area_and_grid_workers_only_read(void **state)
{
    (void)state;
    size_t before = received();
    /* reads: V's official, G1's grid worker and the operator read G1's motions; V2's official not */
    expect(call("GET", "/api/v1/motions/" M_A, bearer(t_village), NULL, NULL), 200, NULL);
    expect(call("GET", "/api/v1/motions/" M_A, bearer(t_gridworker), NULL, NULL), 200, NULL);
    expect(call("GET", "/api/v1/motions/" M_A "/roll", bearer(t_operator), NULL, NULL), 200, NULL);
    expect(call("GET", "/api/v1/motions/" M_A, bearer(t_village2), NULL, NULL), 403, "out_of_scope");
    expect(call("GET", "/api/v1/motions/" M_C "/trackers", bearer(t_village2), NULL, NULL), 403, "out_of_scope");
    expect(call("GET", "/api/v1/motions/" M_E, bearer(t_village), NULL, NULL), 403, "out_of_scope");
    /* the grid worker's group is G1: G2 (same village) is outside it */
    expect(call("GET", "/api/v1/motions/" M_D, bearer(t_gridworker), NULL, NULL), 403, "out_of_scope");
    /* unknown and malformed codes */
    expect(call("GET", "/api/v1/motions/M1999-999999", bearer(t_operator), NULL, NULL), 404, "unknown_motion");
    expect(call("GET", "/api/v1/motions/nonsense", bearer(t_operator), NULL, NULL), 404, "unknown_motion");
    expect(call("POST", "/api/v1/motions/M1999-999999/open", bearer(t_operator), "{}", NULL), 404, "unknown_motion");
    /* managing: never sent out of scope */
    expect(call("POST", "/api/v1/motions/" M_A "/close", bearer(t_gridworker), "{}", NULL), 403, "out_of_scope");
    expect(call("POST", "/api/v1/motions/" M_A "/close", bearer(t_village2), "{}", NULL), 403, "out_of_scope");
    expect(call("POST", "/api/v1/motions/" M_A "/slips", bearer(t_gridworker), "{}", NULL), 403, "out_of_scope");
    char create[512];
    snprintf(create, sizeof create,
             "{\"group\":\"%s\",\"kind\":\"resolution\",\"title\":\"修村道\",\"electorate\":\"household\","
             "\"rule_set\":\"cn-2018\",\"ballot\":{}}",
             g_g1_code);
    expect(call("POST", "/api/v1/motions", bearer(t_village2), create, NULL), 403, "out_of_scope");
    expect(call("POST", "/api/v1/motions", bearer(t_gridworker), create, NULL), 403, "out_of_scope");
    /* a unit that is not a villager group */
    char *vcode = h_sql_text(g_db, "SELECT v.code FROM registry.unit v WHERE v.level = 'village' ORDER BY v.id LIMIT 1", 0, NULL);
    char bad[512];
    snprintf(bad, sizeof bad,
             "{\"group\":\"%s\",\"kind\":\"resolution\",\"title\":\"修村道\",\"electorate\":\"household\","
             "\"rule_set\":\"cn-2018\",\"ballot\":{}}",
             vcode);
    answer_t a = call("POST", "/api/v1/motions", bearer(t_operator), bad, NULL);
    assert_string_equal(error_field(&a), "group");
    expect(a, 400, "invalid_field");
    free(vcode);
    assert_int_equal(received(), before);
    /* in scope, each is sent: the group leader manages their own group's motion */
    fake_answers(200, "{\"motion\":\"" M_A "\",\"result\":{}}");
    expect(call("POST", "/api/v1/motions/" M_A "/close", bearer(t_leader), NULL, NULL), 200, NULL);
    expect(call("POST", "/api/v1/motions", bearer(t_village), create, NULL), 200, NULL);
    assert_int_equal(received(), before + 2);
}

/* ---- voters ------------------------------------------------------------------------------- */

static json_t *codes_of(json_t *list)
{
    json_t *codes = json_array();
    size_t i;
    json_t *m;
    json_array_foreach(json_object_get(list, "motions"), i, m)
        json_array_append(codes, json_object_get(m, "code"));
    return codes;
}

static void assert_codes(answer_t a, const char *expected)
{
    assert_int_equal(a.status, 200);
    json_t *got = codes_of(a.body), *want = json_loads(expected, 0, NULL);
    /* only the motions this test made: other tests may add their own */
    json_t *mine = json_array();
    size_t i;
    json_t *c;
    json_array_foreach(got, i, c)
        if (!strncmp(json_string_value(c), "M1999-9", 7))
            json_array_append(mine, c);
    if (!json_equal(mine, want)) {
        char *g = json_dumps(mine, 0);
        fail_msg("motions %s, expected %s", g, expected);
    }
    json_decref(got), json_decref(want), json_decref(mine), json_decref(a.body);
}

static void a_voter_reads_their_groups_published_motions(void **state)
{
    (void)state;
    /* c1 votes in A (G1): the list is G1's motions, newest first, without the draft B */
    assert_codes(call("GET", "/api/v1/motions", voter(c1), NULL, NULL), "[\"" M_A "\",\"" M_C "\"]");
    /* typed in groups of four, lower case: the same credential */
    char typed[32];
    snprintf(typed, sizeof typed, "%.4s-%.4s-%.4s-%.4s", c1, c1 + 4, c1 + 8, c1 + 12);
    for (char *p = typed; *p; p++)
        *p = (char)((*p >= 'A' && *p <= 'Z') ? *p + 32 : *p);
    assert_codes(call("GET", "/api/v1/motions", voter(typed), NULL, NULL), "[\"" M_A "\",\"" M_C "\"]");
    /* a closed motion's credential still names its group */
    assert_codes(call("GET", "/api/v1/motions?state=closed", voter(c4), NULL, NULL), "[\"" M_C "\"]");
    assert_codes(call("GET", "/api/v1/motions", voter(c6), NULL, NULL), "[\"" M_E "\"]");
    expect(call("GET", "/api/v1/motions/" M_C "/result", voter(c1), NULL, NULL), 200, NULL);
    expect(call("GET", "/api/v1/motions/" M_A "/roll", voter(c2), NULL, NULL), 200, NULL);
    /* another group's motion, same village or not; the draft does not exist for voters */
    expect(call("GET", "/api/v1/motions/" M_D, voter(c1), NULL, NULL), 403, "out_of_scope");
    expect(call("GET", "/api/v1/motions/" M_E "/roll", voter(c1), NULL, NULL), 403, "out_of_scope");
    expect(call("GET", "/api/v1/motions/" M_A, voter(c6), NULL, NULL), 403, "out_of_scope");
    expect(call("GET", "/api/v1/motions/" M_B, voter(c1), NULL, NULL), 404, "unknown_motion");
    /* a credential a slip replaced stops working */
    char hex[SECRET_HEX_LEN], fresh[17], fresh_hex[SECRET_HEX_LEN];
    new_credential(fresh);
    secret_hash_hex(c3, hex);
    secret_hash_hex(fresh, fresh_hex);
    const char *p[] = {hex, fresh_hex};
    owner_exec("UPDATE tally.roll SET cred_sha256 = decode($2, 'hex') WHERE cred_sha256 = decode($1, 'hex')", 2, p);
    expect(call("GET", "/api/v1/motions", voter(c3), NULL, NULL), 401, "unauthorized");
    assert_codes(call("GET", "/api/v1/motions", voter(fresh), NULL, NULL), "[\"" M_A "\",\"" M_C "\"]");
    memcpy(c3, fresh, sizeof c3);
}

static void a_voters_credential_is_rate_limited_however_typed(void **state)
{
    (void)state;
    /* burst 60, one more a second (setup): one bucket for c5 whatever the spelling */
    char lower[17];
    for (int i = 0; i < 17; i++)
        lower[i] = (char)((c5[i] >= 'A' && c5[i] <= 'Z') ? c5[i] + 32 : c5[i]);
    int limited = 0;
    for (int i = 0; i < 90 && !limited; i++) {
        answer_t a = call("GET", "/api/v1/motions/" M_D, voter(i % 2 ? lower : c5), NULL, NULL);
        if (a.status == 429) {
            limited = i + 1;
            assert_string_equal(error_code(&a), "rate_limited");
            assert_true(atoi(a.retry_after) >= 1);
        } else {
            assert_int_equal(a.status, 200);
        }
        json_decref(a.body);
    }
    assert_true(limited >= 61 && limited <= 75);
}

/* ---- reads -------------------------------------------------------------------------------- */

static void the_motion_roll_and_proxies_read_from_the_views(void **state)
{
    (void)state;
    answer_t a = call("GET", "/api/v1/motions/" M_C, bearer(t_village), NULL, NULL);
    assert_int_equal(a.status, 200);
    json_t *m = a.body;
    assert_string_equal(json_string_value(json_object_get(m, "code")), M_C);
    assert_string_equal(json_string_value(json_object_get(json_object_get(m, "group"), "code")), g_g1_code);
    assert_string_equal(json_string_value(json_object_get(m, "state")), "closed");
    assert_string_equal(json_string_value(json_object_get(m, "kind")), "resolution");
    assert_string_equal(json_string_value(json_object_get(m, "rule_set")), "cn-2018");
    assert_int_equal(strlen(json_string_value(json_object_get(m, "head_hash"))), 64);
    assert_non_null(strstr(json_string_value(json_object_get(m, "closes_at")), "+08:00"));
    json_t *box = json_array_get(json_object_get(m, "paper"), 0);
    assert_string_equal(json_string_value(json_object_get(box, "box")), "第一箱");
    assert_int_equal(json_array_size(json_object_get(box, "tellers")), 3);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(json_object_get(box, "counts"), "options"), 0)), 2);
    assert_string_equal(json_string_value(json_object_get(json_object_get(m, "result"), "outcome")), "adopted");
    json_decref(a.body);

    a = call("GET", "/api/v1/motions/" M_A "/roll", bearer(t_gridworker), NULL, NULL);
    assert_int_equal(a.status, 200);
    json_t *roll = json_object_get(a.body, "roll");
    assert_int_equal(json_array_size(roll), 3);
    json_t *first = json_array_get(roll, 0), *second = json_array_get(roll, 1), *third = json_array_get(roll, 2);
    assert_int_equal(json_integer_value(json_object_get(first, "voter_id")), 910001);
    assert_string_equal(json_string_value(json_object_get(first, "name")), "王一");
    assert_true(json_is_true(json_object_get(first, "voted")));
    assert_true(json_is_false(json_object_get(second, "voted")));
    assert_true(json_is_true(json_object_get(third, "voted")));
    /* who took part, never how: nothing of a ballot or a credential */
    char *text = json_dumps(a.body, 0);
    assert_null(strstr(text, "cred"));
    assert_null(strstr(text, "marks"));
    assert_null(strstr(text, "online"));
    free(text);
    json_t *proxy = json_array_get(json_object_get(a.body, "proxies"), 0);
    assert_int_equal(json_integer_value(json_object_get(proxy, "principal")), 910003);
    assert_int_equal(json_integer_value(json_object_get(proxy, "holder")), 910001);
    json_decref(a.body);
}

static void result_and_trackers_wait_for_the_close(void **state)
{
    (void)state;
    answer_t a = call("GET", "/api/v1/motions/" M_A "/result", bearer(t_village), NULL, NULL);
    assert_string_equal(json_string_value(json_object_get(json_object_get(a.body, "error"), "state")), "open");
    expect(a, 409, "not_closed");
    expect(call("GET", "/api/v1/motions/" M_A "/trackers", voter(c1), NULL, NULL), 409, "not_closed");
    /* one tracker can be checked any time, in any case */
    a = call("GET", "/api/v1/motions/" M_A "/trackers/aaaaaaaaaa", voter(c2), NULL, NULL);
    assert_true(json_is_true(json_object_get(a.body, "in_box")));
    assert_string_equal(json_string_value(json_object_get(a.body, "tracker")), "AAAAAAAAAA");
    expect(a, 200, NULL);
    expect(call("GET", "/api/v1/motions/" M_A "/trackers/AAAAAAAAAB", voter(c2), NULL, NULL), 404, "unknown_tracker");
    expect(call("GET", "/api/v1/motions/" M_A "/trackers/short", voter(c2), NULL, NULL), 404, "unknown_tracker");
    /* another motion's tracker is not in this box */
    expect(call("GET", "/api/v1/motions/" M_C "/trackers/AAAAAAAAAA", voter(c1), NULL, NULL), 404, "unknown_tracker");

    a = call("GET", "/api/v1/motions/" M_C "/result", voter(c4), NULL, NULL);
    assert_int_equal(a.status, 200);
    assert_string_equal(json_string_value(json_object_get(json_object_get(a.body, "result"), "outcome")), "adopted");
    assert_int_equal(strlen(json_string_value(json_object_get(a.body, "head_hash"))), 64);
    json_decref(a.body);

    /* the whole box, page by page in tracker order, each once */
    json_t *all = json_array();
    char path[256] = "/api/v1/motions/" M_C "/trackers?page_size=2";
    for (int pages = 0; pages < 10; pages++) {
        a = call("GET", path, bearer(t_operator), NULL, NULL);
        assert_int_equal(a.status, 200);
        json_array_extend(all, json_object_get(a.body, "trackers"));
        const char *next = json_string_value(json_object_get(a.body, "next"));
        if (!next) {
            json_decref(a.body);
            break;
        }
        snprintf(path, sizeof path, "/api/v1/motions/" M_C "/trackers?page_size=2&cursor=%s", next);
        json_decref(a.body);
    }
    assert_int_equal(json_array_size(all), 5);
    for (size_t i = 0; i < 5; i++)
        assert_string_equal(json_string_value(json_array_get(all, i)), TRACKERS[i]);
    json_decref(all);
    expect(call("GET", "/api/v1/motions/" M_C "/trackers?page_size=1001", bearer(t_operator), NULL, NULL), 400, "invalid_page");
    expect(call("GET", "/api/v1/motions/" M_C "/trackers?cursor=forged", bearer(t_operator), NULL, NULL), 400, "invalid_cursor");
}

static void lists_follow_scope_filters_and_cursors(void **state)
{
    (void)state;
    assert_codes(call("GET", "/api/v1/motions", bearer(t_village), NULL, NULL),
                 "[\"" M_D "\",\"" M_A "\",\"" M_B "\",\"" M_C "\"]");
    assert_codes(call("GET", "/api/v1/motions", bearer(t_gridworker), NULL, NULL), "[\"" M_A "\",\"" M_B "\",\"" M_C "\"]");
    assert_codes(call("GET", "/api/v1/motions", bearer(t_village2), NULL, NULL), "[\"" M_E "\"]");
    assert_codes(call("GET", "/api/v1/motions?state=draft", bearer(t_village), NULL, NULL), "[\"" M_B "\"]");
    char q[256];
    snprintf(q, sizeof q, "/api/v1/motions?group=%s&state=open", g_g1_code);
    assert_codes(call("GET", q, bearer(t_village), NULL, NULL), "[\"" M_A "\"]");
    /* another village's group filter gives nothing, not its motions */
    snprintf(q, sizeof q, "/api/v1/motions?group=%s", g_g3_code);
    assert_codes(call("GET", q, bearer(t_village), NULL, NULL), "[]");
    /* pages of one, walked by cursor, give the same order */
    json_t *seen = json_array();
    char path[256] = "/api/v1/motions?page_size=1";
    for (int i = 0; i < 10; i++) {
        answer_t a = call("GET", path, bearer(t_gridworker), NULL, NULL);
        assert_int_equal(a.status, 200);
        json_t *codes = codes_of(a.body);
        json_array_extend(seen, codes);
        json_decref(codes);
        const char *next = json_string_value(json_object_get(a.body, "next"));
        if (next)
            snprintf(path, sizeof path, "/api/v1/motions?page_size=1&cursor=%s", next);
        json_decref(a.body);
        if (!next)
            break;
    }
    json_t *want = json_loads("[\"" M_A "\",\"" M_B "\",\"" M_C "\"]", 0, NULL);
    assert_true(json_equal(seen, want));
    json_decref(seen), json_decref(want);
    expect(call("GET", "/api/v1/motions?state=voting", bearer(t_village), NULL, NULL), 400, "invalid_field");
    expect(call("GET", "/api/v1/motions?page_size=0", bearer(t_village), NULL, NULL), 400, "invalid_page");
    expect(call("GET", "/api/v1/motions?page_size=101", bearer(t_village), NULL, NULL), 400, "invalid_page");
    expect(call("GET", "/api/v1/motions?cursor=%21%21", bearer(t_village), NULL, NULL), 400, "invalid_cursor");
    expect(call("DELETE", "/api/v1/motions", bearer(t_village), NULL, NULL), 405, "method_not_allowed");
    expect(call("GET", "/api/v1/motions/" M_A "/open", bearer(t_village), NULL, NULL), 405, "method_not_allowed");
    expect(call("POST", "/api/v1/motions/" M_A "/roll", bearer(t_village), "{}", NULL), 405, "method_not_allowed");
    expect(call("GET", "/api/v1/motions/" M_A "/nothing", bearer(t_village), NULL, NULL), 404, "not_found");
}

/* ---- malformed input: 400 (or 413, 415), and nothing reaches tally ------------------------- */

typedef struct {
    const char *path, *body;
    long status;
    const char *code, *field;
} bad_t;

static void malformed_input_is_refused_at_the_edge(void **state)
{
    (void)state;
    char big_title[1200] = "{\"group\":\"x\",\"kind\":\"resolution\",\"title\":\"";
    for (int i = 0; i < 201; i++)
        strcat(big_title, "长");
    strcat(big_title, "\",\"electorate\":\"adult\",\"rule_set\":\"cn-2018\",\"ballot\":{}}");
    char many_voters[70000] = "{\"voters\":[";
    for (int i = 0; i < 5001; i++)
        sprintf(many_voters + strlen(many_voters), "%s%d", i ? "," : "", i + 1);
    strcat(many_voters, "]}");
    char huge_box[20000] = "{\"box\":\"";
    memset(huge_box + strlen(huge_box), 'x', 17000);
    strcat(huge_box, "\"}");
    char big_cast[6000] = "{\"credential\":\"7KQ2-M9XD-4TRV-PA3H\",\"marks\":[0";
    for (int i = 0; i < 2500; i++)
        strcat(big_cast, ",0");
    strcat(big_cast, "]}");
    char group_create[512];
    snprintf(group_create, sizeof group_create,
             "{\"group\":\"%s\",\"kind\":\"election\",\"title\":\"选组长\",\"electorate\":\"adult\",\"rule_set\":\"cn-2018\","
             "\"ballot\":{\"seats\":1,\"candidates\":[{\"name\":\"张三\"},{\"name\":\"\"}]}}",
             g_g1_code);
#define A_ "/api/v1/motions/" M_A
    const bad_t cases[] = {
        {"/api/v1/motions", "{not json", 400, "invalid_json", NULL},
        {"/api/v1/motions", "[1,2]", 400, "invalid_json", NULL},
        {"/api/v1/motions", "{\"kind\":\"resolution\"}", 400, "missing_field", "group"},
        {"/api/v1/motions", "{\"group\":5,\"kind\":\"resolution\",\"title\":\"t\",\"electorate\":\"adult\",\"rule_set\":\"cn-2018\","
                            "\"ballot\":{}}", 400, "invalid_field", "group"},
        {"/api/v1/motions", "{\"group\":\"430121\",\"kind\":\"referendum\",\"title\":\"t\",\"electorate\":\"adult\","
                            "\"rule_set\":\"cn-2018\",\"ballot\":{}}", 400, "invalid_field", "kind"},
        {"/api/v1/motions", big_title, 400, "invalid_field", "title"},
        {"/api/v1/motions", "{\"group\":\"430121 05\",\"kind\":\"resolution\",\"title\":\"t\",\"electorate\":\"adult\","
                            "\"rule_set\":\"cn-2018\"}", 400, "invalid_field", "group"},
        {"/api/v1/motions", "{\"group\":\"430121\",\"kind\":\"resolution\",\"title\":\"t\",\"electorate\":\"adult\","
                            "\"rule_set\":\"CN 2018\",\"ballot\":{}}", 400, "invalid_field", "rule_set"},
        {"/api/v1/motions", "{\"group\":\"430121\",\"kind\":\"resolution\",\"title\":\"t\\n\",\"electorate\":\"adult\","
                            "\"rule_set\":\"cn-2018\",\"ballot\":{}}", 400, "invalid_field", "title"},
        {"/api/v1/motions", "{\"group\":\"430121\",\"kind\":\"election\",\"title\":\"t\",\"electorate\":\"adult\","
                            "\"rule_set\":\"cn-2018\"}", 400, "missing_field", "ballot"},
        {"/api/v1/motions", "{\"group\":\"430121\",\"kind\":\"resolution\",\"title\":\"t\",\"electorate\":\"adult\","
                            "\"rule_set\":\"cn-2018\",\"ballot\":{},\"closes_at\":\"tomorrow\"}", 400, "invalid_field", "closes_at"},
        {"/api/v1/motions", "{\"group\":\"430121\",\"kind\":\"resolution\",\"title\":\"t\",\"electorate\":\"adult\","
                            "\"rule_set\":\"cn-2018\",\"ballot\":{},\"secret\":1}", 400, "invalid_field", "secret"},
        {"/api/v1/motions", "{\"group\":\"430121\",\"kind\":\"election\",\"title\":\"t\",\"electorate\":\"adult\","
                            "\"rule_set\":\"cn-2018\",\"ballot\":{\"seats\":0,\"candidates\":[]}}", 400, "invalid_field",
         "ballot.seats"},
        {"/api/v1/motions", group_create, 400, "invalid_field", "ballot.candidates[1].name"},
        {"/api/v1/motions", "{\"group\":\"430121\",\"kind\":\"evaluation\",\"title\":\"t\",\"electorate\":\"adult\","
                            "\"rule_set\":\"cn-2018\",\"ballot\":{\"scale\":\"satisfaction\",\"subjects\":[],\"year\":2026}}",
         400, "invalid_field", "ballot.subjects"},
        {"/api/v1/motions", "{\"group\":\"430121\",\"kind\":\"selection\",\"title\":\"t\",\"electorate\":\"adult\","
                            "\"rule_set\":\"cn-2018\",\"ballot\":{\"nominees\":[{\"name\":\"甲\",\"household_id\":\"7\"}]}}",
         400, "invalid_field", "ballot.nominees[0].household_id"},
        {A_ "/proxies", "{\"principal\":1}", 400, "missing_field", "holder"},
        {A_ "/proxies", "{\"principal\":\"1\",\"holder\":2}", 400, "invalid_field", "principal"},
        {A_ "/proxies", "{\"principal\":-1,\"holder\":2}", 400, "invalid_field", "principal"},
        {A_ "/open", "{\"closes_at\":\"2026-12-20 18:00\"}", 400, "invalid_field", "closes_at"},
        {A_ "/close", "{\"why\":\"done\"}", 400, "invalid_field", "why"},
        {A_ "/paper", "{\"box\":\"一\",\"tellers\":[\"甲\",\"乙\",\"丙\"],\"ballots\":3,\"invalid\":0,"
                      "\"counts\":{\"options\":[3,0]}}", 400, "invalid_field", "counts.options"},
        {A_ "/paper", "{\"box\":\"一\",\"tellers\":[\"甲\",\"乙\",\"丙\"],\"ballots\":3,\"invalid\":0,"
                      "\"counts\":{\"candidates\":[3]}}", 400, "invalid_field", "counts.candidates"},
        {A_ "/paper", "{\"box\":\"一\",\"tellers\":[],\"ballots\":3,\"invalid\":0,\"counts\":{\"options\":[3,0,0]}}", 400,
         "invalid_field", "tellers"},
        {A_ "/paper", "{\"box\":\"一\",\"tellers\":[\"甲\"],\"ballots\":-3,\"invalid\":0,\"counts\":{\"options\":[3,0,0]}}", 400,
         "invalid_field", "ballots"},
        {A_ "/paper", huge_box, 413, "body_too_large", NULL},
        {A_ "/paper-voters", "{\"voters\":[]}", 400, "invalid_field", "voters"},
        {A_ "/paper-voters", "{\"voters\":[1,\"2\"]}", 400, "invalid_field", "voters[1]"},
        {A_ "/slips", many_voters, 400, "invalid_field", "voters"},
        {A_ "/ballots", big_cast, 413, "body_too_large", NULL},
        {A_ "/slips", "{\"voters\":\"all\"}", 400, "invalid_field", "voters"},
        {A_ "/ballots", "{\"credential\":\"X\"}", 400, "missing_field", "marks"},
        {A_ "/ballots", "{\"credential\":7,\"marks\":[0]}", 400, "invalid_field", "credential"},
        {A_ "/ballots", "{\"credential\":\"7KQ2-M9XD-4TRV-PA3H\",\"marks\":0}", 400, "invalid_field", "marks"},
        {A_ "/ballots", "{\"credential\":\"7KQ2-M9XD-4TRV-PA3H\",\"marks\":[-1]}", 400, "invalid_field", "marks[0]"},
        {A_ "/ballots", "{\"credential\":\"7KQ2-M9XD-4TRV-PA3H\",\"marks\":[1.5]}", 400, "invalid_field", "marks[0]"},
        {A_ "/ballots", "{\"credential\":\"7KQ2-M9XD-4TRV-PA3H\",\"marks\":[],\"write_ins\":[\"\"]}", 400, "invalid_field",
         "write_ins[0]"},
        {A_ "/ballots", "{\"credential\":\"7KQ2-M9XD-4TRV-PA3H\",\"marks\":[0],\"voter\":1}", 400, "invalid_field", "voter"},
        {A_ "/ballots", "{\"credential\":\"7KQ2-M9XD-4TRV-PA3\",\"marks\":[0]}", 403, "bad_credential", "credential"},
        {A_ "/ballots", "{\"credential\":\"7KQ2-M9XD-4TRV-PA3U\",\"marks\":[0]}", 403, "bad_credential", "credential"},
        {"/api/v1/motions/nonsense/ballots", "{\"credential\":\"7KQ2-M9XD-4TRV-PA3H\",\"marks\":[0]}", 404, "unknown_motion", NULL},
    };
#undef A_
    size_t before = received();
    long long op = h_sql_int(g_db, "SELECT min(id) FROM registry.staff WHERE role = 'operator' AND active", 0, NULL);
    char *token = h_staff_token(g_db, op); /* its own bucket: this test makes many requests */
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        answer_t a = call("POST", cases[i].path, strstr(cases[i].path, "/ballots") ? NULL : bearer(token), cases[i].body,
                          NULL);
        const char *code = error_code(&a), *field = error_field(&a);
        if (a.status != cases[i].status || !code || strcmp(code, cases[i].code) ||
            (cases[i].field && (!field || strcmp(field, cases[i].field)))) {
            char *t = a.body ? json_dumps(a.body, 0) : NULL;
            fail_msg("case %zu (%s %.60s): got %ld %s", i, cases[i].path, cases[i].body, a.status, t ? t : "");
        }
        json_decref(a.body);
        assert_int_equal(received(), before);
    }
    /* not JSON by its type */
    char url[256];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/motions/" M_A "/close", g_http);
    char auth[160];
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    free(token);
    const char *h[] = {auth, "Content-Type: text/plain", NULL};
    h_resp_t r;
    assert_true(h_http("POST", url, h, "{}", 2, &r));
    assert_int_equal(r.status, 415);
    h_resp_free(&r);
    assert_int_equal(received(), before);
}

/* ---- commands as tally's contract names them ---------------------------------------------- */

/* The last command received, without its id (which must be a UUID), equals want. */
static void sent(const char *want, char id_out[40])
{
    json_t *c = command(received() - 1), *w = json_loads(want, 0, NULL);
    assert_non_null(w);
    const char *id = json_string_value(json_object_get(c, "id"));
    assert_non_null(id);
    assert_int_equal(strlen(id), 36);
    if (id_out)
        snprintf(id_out, 40, "%s", id);
    json_object_del(c, "id");
    if (!json_equal(c, w)) {
        char *t = json_dumps(c, JSON_SORT_KEYS);
        fail_msg("sent %s\nwant %s", t, want);
    }
    json_decref(c), json_decref(w);
}

static void each_write_becomes_the_command_and_tallys_answer_comes_back(void **state)
{
    (void)state;
    char want[2048], create[1024], sid[24];
    snprintf(sid, sizeof sid, "%lld", s_village);
    /* create: closes_at travels as UTC */
    snprintf(create, sizeof create,
             "{\"group\":\"%s\",\"kind\":\"election\",\"title\":\"选举村民小组长\",\"body\":\"差额选举\\n一名\","
             "\"electorate\":\"adult\",\"rule_set\":\"cn-2018\",\"delivery\":\"slips\",\"closes_at\":\"2026-12-20T18:00:00+08:00\","
             "\"ballot\":{\"seats\":1,\"candidates\":[{\"name\":\"张三\",\"resident_id\":11},{\"name\":\"李四\",\"resident_id\":12}],"
             "\"write_ins\":true}}",
             g_g1_code);
    fake_answers(201, "{\"motion\":\"M2026-000042\"}");
    answer_t a = call("POST", "/api/v1/motions", bearer(t_village), create, NULL);
    assert_int_equal(a.status, 201);
    assert_string_equal(json_string_value(json_object_get(a.body, "motion")), "M2026-000042");
    json_decref(a.body);
    snprintf(want, sizeof want,
             "{\"action\":\"create\",\"staff_id\":%s,\"group\":\"%s\",\"kind\":\"election\",\"title\":\"选举村民小组长\","
             "\"body\":\"差额选举\\n一名\",\"electorate\":\"adult\",\"rule_set\":\"cn-2018\",\"delivery\":\"slips\","
             "\"closes_at\":\"2026-12-20T10:00:00Z\",\"ballot\":{\"seats\":1,\"candidates\":[{\"name\":\"张三\",\"resident_id\":11},"
             "{\"name\":\"李四\",\"resident_id\":12}],\"write_ins\":true}}",
             sid, g_g1_code);
    sent(want, NULL);

    struct {
        const char *segment, *body, *want, *answer;
        int status;
    } acts[] = {
        {"proxies", "{\"principal\":910002,\"holder\":910001}",
         "{\"action\":\"proxy\",\"motion\":\"" M_A "\",\"principal\":910002,\"holder\":910001}", "{\"proxies\":2}", 200},
        {"open", "{\"closes_at\":\"2026-12-21T09:30:00Z\"}",
         "{\"action\":\"open\",\"motion\":\"" M_A "\",\"closes_at\":\"2026-12-21T09:30:00Z\"}",
         "{\"motion\":\"" M_A "\",\"roll\":3,\"closes_at\":\"2026-12-21T09:30:00Z\"}", 200},
        {"open", NULL, "{\"action\":\"open\",\"motion\":\"" M_A "\"}",
         "{\"error\":{\"code\":\"not_draft\",\"message\":\"表决已开始\"}}", 409},
        {"paper-voters", "{\"voters\":[910002]}", "{\"action\":\"paper_voters\",\"motion\":\"" M_A "\",\"voters\":[910002]}",
         "{\"marked\":1}", 200},
        {"paper", "{\"box\":\"第二箱\",\"tellers\":[\"甲\",\"乙\",\"丙\"],\"ballots\":1,\"invalid\":0,\"counts\":{\"options\":[1,0,0]}}",
         "{\"action\":\"paper\",\"motion\":\"" M_A "\",\"box\":\"第二箱\",\"tellers\":[\"甲\",\"乙\",\"丙\"],\"ballots\":1,"
         "\"invalid\":0,\"counts\":{\"options\":[1,0,0]}}",
         "{\"box\":\"第二箱\"}", 200},
        {"slips", "{}", "{\"action\":\"slips\",\"motion\":\"" M_A "\"}",
         "{\"slips\":[{\"voter_id\":910002,\"name\":\"王二\",\"credential\":\"7KQ2-M9XD-4TRV-PA3H\"}]}", 200},
        {"close", "{}", "{\"action\":\"close\",\"motion\":\"" M_A "\"}",
         "{\"motion\":\"" M_A "\",\"result\":{\"outcome\":\"adopted\"}}", 200},
    };
    for (size_t i = 0; i < sizeof acts / sizeof acts[0]; i++) {
        char path[128];
        snprintf(path, sizeof path, "/api/v1/motions/" M_A "/%s", acts[i].segment);
        fake_answers(acts[i].status, acts[i].answer);
        size_t before = received();
        a = call("POST", path, bearer(t_village), acts[i].body, NULL);
        assert_int_equal(a.status, acts[i].status);
        json_t *w = json_loads(acts[i].answer, 0, NULL);
        assert_true(json_equal(a.body, w));
        json_decref(w), json_decref(a.body);
        assert_int_equal(received(), before + 1);
        json_t *cmd = json_loads(acts[i].want, 0, NULL);
        json_object_set_new(cmd, "staff_id", json_integer(s_village));
        char *t = json_dumps(cmd, 0);
        sent(t, NULL);
        free(t);
        json_decref(cmd);
    }
}

static void a_ballot_is_sent_with_the_credential_as_tally_keeps_it(void **state)
{
    (void)state;
    fake_answers(201, "{\"tracker\":\"7KQ2M9XD4P\"}");
    answer_t a = call("POST", "/api/v1/motions/" M_A "/ballots", NULL,
                      "{\"credential\":\"7kq2-m9xd-4trv-pa3h\",\"marks\":[0],\"write_ins\":[]}", NULL);
    assert_int_equal(a.status, 201);
    assert_string_equal(json_string_value(json_object_get(a.body, "tracker")), "7KQ2M9XD4P");
    json_decref(a.body);
    sent("{\"action\":\"cast\",\"motion\":\"" M_A "\",\"credential\":\"7KQ2M9XD4TRVPA3H\",\"marks\":[0],\"write_ins\":[]}", NULL);
    /* tally's refusal comes back as it was given */
    fake_answers(409, "{\"error\":{\"code\":\"already_voted\",\"message\":\"此凭证已投票\"}}");
    a = call("POST", "/api/v1/motions/" M_A "/ballots", NULL, "{\"credential\":\"7KQ2M9XD4TRVPA3H\",\"marks\":[1]}", NULL);
    assert_string_equal(json_string_value(json_object_get(json_object_get(a.body, "error"), "message")), "此凭证已投票");
    expect(a, 409, "already_voted");
    sent("{\"action\":\"cast\",\"motion\":\"" M_A "\",\"credential\":\"7KQ2M9XD4TRVPA3H\",\"marks\":[1]}", NULL);
    /* no key: every cast is a new command; one Idempotency-Key: the same command, however the
     * credential is typed; another key or another credential: another command */
    char id1[40], id2[40], id3[40], id4[40], id5[40];
    fake_answers(201, "{\"tracker\":\"7KQ2M9XD4P\"}");
    const char *body = "{\"credential\":\"7KQ2M9XD4TRVPA3H\",\"marks\":[0]}";
    const char *typed = "{\"credential\":\"7KQ2-M9XD-4TRV-PA3H\",\"marks\":[0]}";
    expect(call("POST", "/api/v1/motions/" M_A "/ballots", NULL, body, NULL), 201, NULL);
    sent("{\"action\":\"cast\",\"motion\":\"" M_A "\",\"credential\":\"7KQ2M9XD4TRVPA3H\",\"marks\":[0]}", id1);
    expect(call("POST", "/api/v1/motions/" M_A "/ballots", NULL, body, NULL), 201, NULL);
    sent("{\"action\":\"cast\",\"motion\":\"" M_A "\",\"credential\":\"7KQ2M9XD4TRVPA3H\",\"marks\":[0]}", id2);
    assert_string_not_equal(id1, id2);
    expect(call("POST", "/api/v1/motions/" M_A "/ballots", NULL, body, "Idempotency-Key: cast-1"), 201, NULL);
    sent("{\"action\":\"cast\",\"motion\":\"" M_A "\",\"credential\":\"7KQ2M9XD4TRVPA3H\",\"marks\":[0]}", id3);
    expect(call("POST", "/api/v1/motions/" M_A "/ballots", NULL, typed, "Idempotency-Key: cast-1"), 201, NULL);
    sent("{\"action\":\"cast\",\"motion\":\"" M_A "\",\"credential\":\"7KQ2M9XD4TRVPA3H\",\"marks\":[0]}", id4);
    assert_string_equal(id3, id4);
    expect(call("POST", "/api/v1/motions/" M_A "/ballots", NULL, "{\"credential\":\"7KQ2M9XD4TRVPA3J\",\"marks\":[0]}",
                "Idempotency-Key: cast-1"),
           201, NULL);
    sent("{\"action\":\"cast\",\"motion\":\"" M_A "\",\"credential\":\"7KQ2M9XD4TRVPA3J\",\"marks\":[0]}", id5);
    assert_string_not_equal(id3, id5);
    /* the staff's key works the same way */
    fake_answers(200, "{\"marked\":1}");
    expect(call("POST", "/api/v1/motions/" M_A "/paper-voters", bearer(t_village), "{\"voters\":[910002]}", "Idempotency-Key: k"),
           200, NULL);
    char want[256], k1[40], k2[40], k3[40];
    snprintf(want, sizeof want, "{\"action\":\"paper_voters\",\"motion\":\"" M_A "\",\"staff_id\":%lld,\"voters\":[910002]}",
             s_village);
    sent(want, k1);
    expect(call("POST", "/api/v1/motions/" M_A "/paper-voters", bearer(t_village), "{\"voters\":[910002]}", "Idempotency-Key: k"),
           200, NULL);
    sent(want, k2);
    assert_string_equal(k1, k2);
    /* the same key from another staff member is another command */
    expect(call("POST", "/api/v1/motions/" M_A "/paper-voters", bearer(t_operator), "{\"voters\":[910002]}", "Idempotency-Key: k"),
           200, NULL);
    json_t *c = command(received() - 1);
    snprintf(k3, sizeof k3, "%s", json_string_value(json_object_get(c, "id")));
    json_decref(c);
    assert_string_not_equal(k1, k3);
}

static void a_silent_tally_is_a_503_after_the_same_command_three_times(void **state)
{
    (void)state;
    pthread_mutex_lock(&F.mu);
    F.silent = 1;
    pthread_mutex_unlock(&F.mu);
    size_t before = received();
    answer_t a = call("POST", "/api/v1/motions/" M_A "/close", bearer(t_village), "{}", "Idempotency-Key: close-1");
    assert_int_equal(a.status, 503);
    assert_string_equal(error_code(&a), "tally_unavailable");
    assert_true(atoi(a.retry_after) >= 1);
    json_decref(a.body);
    assert_int_equal(received(), before + 3);
    json_t *x = command(before), *y = command(before + 1), *z = command(before + 2);
    assert_true(json_equal(x, y) && json_equal(y, z));
    json_decref(x), json_decref(y), json_decref(z);
    /* the reads do not need tally */
    expect(call("GET", "/api/v1/motions/" M_A, bearer(t_village), NULL, NULL), 200, NULL);
    fake_answers(200, "{}");
}

/* ---- through the real tally -------------------------------------------------------------- */

/* A second intake, its tally endpoint on a real gridgov-tally, and a fresh villager group of five
 * households (tally_fx.h) whose group leader manages the motion. */

static long long ballots_in(const char *motion)
{
    const char *p[] = {motion};
    return h_sql_int(g_db, "SELECT count(*) FROM tally.tracker_public WHERE motion = $1", 1, p);
}

static void a_resolution_from_draft_to_result_through_tally(void **state)
{
    (void)state;
    g_http = h_port(20); /* the intake whose tally is real */
    char body[512], path[128], motion[16];
    snprintf(body, sizeof body,
             "{\"group\":\"%s\",\"kind\":\"resolution\",\"title\":\"硬化组内道路\",\"electorate\":\"household\","
             "\"rule_set\":\"test-rules\",\"delivery\":\"slips\"}",
             g_tg.group_code);
    answer_t a = call("POST", "/api/v1/motions", bearer(t_tg_leader), body, "Idempotency-Key: real-create");
    assert_int_equal(a.status, 201);
    snprintf(motion, sizeof motion, "%s", json_string_value(json_object_get(a.body, "motion")));
    json_decref(a.body);
    /* the same key: the same motion, nothing new */
    a = call("POST", "/api/v1/motions", bearer(t_tg_leader), body, "Idempotency-Key: real-create");
    assert_int_equal(a.status, 201);
    assert_string_equal(json_string_value(json_object_get(a.body, "motion")), motion);
    json_decref(a.body);
    /* a grid worker reads the draft but does not open it */
    snprintf(path, sizeof path, "/api/v1/motions/%s", motion);
    expect(call("GET", path, bearer(t_tg_gridworker), NULL, NULL), 200, NULL);
    snprintf(path, sizeof path, "/api/v1/motions/%s/open", motion);
    expect(call("POST", path, bearer(t_tg_gridworker), NULL, NULL), 403, "out_of_scope");

    a = call("POST", path, bearer(t_tg_leader), NULL, NULL);
    assert_int_equal(a.status, 200);
    assert_int_equal(json_integer_value(json_object_get(a.body, "roll")), 5);
    json_decref(a.body);
    expect(call("POST", path, bearer(t_tg_leader), NULL, NULL), 409, "not_draft");

    snprintf(path, sizeof path, "/api/v1/motions/%s/slips", motion);
    a = call("POST", path, bearer(t_tg_leader), "{}", NULL);
    assert_int_equal(a.status, 200);
    json_t *slips = json_incref(json_object_get(a.body, "slips"));
    json_decref(a.body);
    assert_int_equal(json_array_size(slips), 5);
    const char *cred0 = json_string_value(json_object_get(json_array_get(slips, 0), "credential"));
    const char *cred1 = json_string_value(json_object_get(json_array_get(slips, 1), "credential"));

    /* cast: 201 with a tracker; the same credential again 409; a retry under one key the same tracker */
    snprintf(path, sizeof path, "/api/v1/motions/%s/ballots", motion);
    snprintf(body, sizeof body, "{\"credential\":\"%s\",\"marks\":[0]}", cred0);
    a = call("POST", path, NULL, body, NULL);
    assert_int_equal(a.status, 201);
    char tracker0[16];
    snprintf(tracker0, sizeof tracker0, "%s", json_string_value(json_object_get(a.body, "tracker")));
    assert_int_equal(strlen(tracker0), 10);
    json_decref(a.body);
    snprintf(body, sizeof body, "{\"credential\":\"%s\",\"marks\":[1]}", cred0);
    expect(call("POST", path, NULL, body, NULL), 409, "already_voted");
    snprintf(body, sizeof body, "{\"credential\":\"%s\",\"marks\":[0]}", cred1);
    a = call("POST", path, NULL, body, "Idempotency-Key: voter-1");
    assert_int_equal(a.status, 201);
    char tracker1[16];
    snprintf(tracker1, sizeof tracker1, "%s", json_string_value(json_object_get(a.body, "tracker")));
    json_decref(a.body);
    a = call("POST", path, NULL, body, "Idempotency-Key: voter-1");
    assert_int_equal(a.status, 201);
    assert_string_equal(json_string_value(json_object_get(a.body, "tracker")), tracker1);
    json_decref(a.body);
    /* bad casts store nothing: a forged credential, a choice not on the ballot */
    expect(call("POST", path, NULL, "{\"credential\":\"7KQ2-M9XD-4TRV-PA3H\",\"marks\":[0]}", NULL), 403, "bad_credential");
    const char *cred2 = json_string_value(json_object_get(json_array_get(slips, 2), "credential"));
    snprintf(body, sizeof body, "{\"credential\":\"%s\",\"marks\":[3]}", cred2);
    expect(call("POST", path, NULL, body, NULL), 400, "bad_ballot");
    assert_int_equal(ballots_in(motion), 2);

    /* the voter reads their group's motion and finds their tracker; the box waits for the close */
    char q[128];
    snprintf(q, sizeof q, "/api/v1/motions/%s/trackers/%s", motion, tracker0);
    a = call("GET", q, voter(cred0), NULL, NULL);
    assert_true(json_is_true(json_object_get(a.body, "in_box")));
    expect(a, 200, NULL);
    snprintf(q, sizeof q, "/api/v1/motions/%s/trackers", motion);
    expect(call("GET", q, voter(cred0), NULL, NULL), 409, "not_closed");
    a = call("GET", "/api/v1/motions?state=open", voter(cred0), NULL, NULL);
    assert_int_equal(a.status, 200);
    assert_int_equal(json_array_size(json_object_get(a.body, "motions")), 1);
    assert_string_equal(json_string_value(json_object_get(json_array_get(json_object_get(a.body, "motions"), 0), "code")), motion);
    json_decref(a.body);

    snprintf(path, sizeof path, "/api/v1/motions/%s/close", motion);
    a = call("POST", path, bearer(t_tg_leader), NULL, NULL);
    assert_int_equal(a.status, 200);
    assert_non_null(json_object_get(json_object_get(a.body, "result"), "outcome"));
    json_decref(a.body);
    snprintf(path, sizeof path, "/api/v1/motions/%s/ballots", motion);
    snprintf(body, sizeof body, "{\"credential\":\"%s\",\"marks\":[0]}", cred2);
    a = call("POST", path, NULL, body, NULL);
    assert_int_equal(a.status, 409);
    json_decref(a.body);

    snprintf(q, sizeof q, "/api/v1/motions/%s/result", motion);
    a = call("GET", q, voter(cred1), NULL, NULL);
    assert_int_equal(a.status, 200);
    json_t *res = json_object_get(a.body, "result");
    assert_int_equal(json_integer_value(json_object_get(res, "ballots")), 2);
    assert_int_equal(json_integer_value(json_array_get(json_object_get(json_object_get(res, "counts"), "options"), 0)), 2);
    assert_int_equal(strlen(json_string_value(json_object_get(a.body, "head_hash"))), 64);
    json_decref(a.body);
    snprintf(q, sizeof q, "/api/v1/motions/%s/trackers", motion);
    a = call("GET", q, voter(cred1), NULL, NULL);
    assert_int_equal(a.status, 200);
    json_t *list = json_object_get(a.body, "trackers");
    assert_int_equal(json_array_size(list), 2);
    bool t0 = false, t1 = false;
    size_t i;
    json_t *t;
    json_array_foreach(list, i, t)
    {
        t0 = t0 || !strcmp(json_string_value(t), tracker0);
        t1 = t1 || !strcmp(json_string_value(t), tracker1);
    }
    assert_true(t0 && t1);
    json_decref(a.body);
    json_decref(slips);
    g_http = h_port(0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(signing_in_is_required_and_checked),
        cmocka_unit_test(staff_reach_their_area_and_grid_workers_only_read),
        cmocka_unit_test(a_voter_reads_their_groups_published_motions),
        cmocka_unit_test(a_voters_credential_is_rate_limited_however_typed),
        cmocka_unit_test(the_motion_roll_and_proxies_read_from_the_views),
        cmocka_unit_test(result_and_trackers_wait_for_the_close),
        cmocka_unit_test(lists_follow_scope_filters_and_cursors),
        cmocka_unit_test(malformed_input_is_refused_at_the_edge),
        cmocka_unit_test(each_write_becomes_the_command_and_tallys_answer_comes_back),
        cmocka_unit_test(a_ballot_is_sent_with_the_credential_as_tally_keeps_it),
        cmocka_unit_test(a_silent_tally_is_a_503_after_the_same_command_three_times),
        cmocka_unit_test(a_resolution_from_draft_to_result_through_tally),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
