/* The roll and who holds a voter's credential: written proxies within the rule set's options (cap,
 * no sub-delegation, a candidate holds none, none where the rules allow none, both sides voters of
 * the group); credentials through notify (vote.credentials, a proxy's sent to its holder, who casts
 * it); slips that replace a voter's credential, again on a retry; paper voters and boxes refused
 * when they do not add up, with nothing stored. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"
#include "tally_fx.h"
#include "uuid.h"

static pid_t g_tally;
static PGconn *g_db;
static bus_t *g_bus;
static cmdclient_t *g_cl;

static int setup(void **state)
{
    (void)state;
    g_db = h_db();
    g_tally = h_start_tally(h_port(340), tfx_rules_dir(), NULL);
    g_bus = h_bus_as("intake", true);
    g_cl = tfx_client(g_bus, h_port(340));
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    cmdclient_destroy(&g_cl);
    bus_destroy(&g_bus);
    int st = h_stop(g_tally, SIGTERM);
    PQfinish(g_db);
    return WIFEXITED(st) && WEXITSTATUS(st) == 0 ? 0 : -1;
}

static long long q1(const char *sql, const char *arg)
{
    const char *p[] = {arg};
    return h_sql_int(g_db, sql, arg ? 1 : 0, p);
}

static json_t *proxy(const tfx_group_t *g, const char *motion, long long principal, long long holder)
{
    return tfx_call(g_cl, json_pack("{s:s,s:I,s:s,s:I,s:I}", "action", "proxy", "staff_id", (json_int_t)g->leader, "motion",
                                    motion, "principal", (json_int_t)principal, "holder", (json_int_t)holder));
}

static void expect(json_t *r, int status, const char *code)
{
    if (tfx_status(r) != status || strcmp(tfx_error(r), code)) {
        char *t = json_dumps(r, 0);
        fail_msg("expected %d %s, got %s", status, code, t);
    }
    json_decref(r);
}

/* The residents (adults first) of the group, in id order: ids[i]. */
static void adults(const tfx_group_t *g, long long *ids, int n)
{
    char gid[24];
    snprintf(gid, sizeof gid, "%lld", (long long)g->group_id);
    for (int i = 0; i < n; i++) {
        char off[16];
        snprintf(off, sizeof off, "%d", i);
        const char *p[] = {gid, off};
        ids[i] = h_sql_int(g_db,
                           "SELECT r.id FROM registry.resident r JOIN registry.household h ON h.id = r.household_id"
                           " WHERE h.group_id = $1::bigint AND r.birth_year < 2000 ORDER BY r.id OFFSET $2::int LIMIT 1",
                           2, p);
    }
}

static void proxies_follow_the_rule_set(void **state)
{
    (void)state;
    tfx_group_t g;
    tfx_group(g_db, 8, 1, &g);
    long long v[8];
    adults(&g, v, 8);
    char motion[32];
    snprintf(motion, sizeof motion, "%s", tfx_create(g_cl, &g, "resolution", "adult", NULL, NULL));
    for (int i = 1; i <= 3; i++) {
        json_t *r = proxy(&g, motion, v[i], v[0]);
        assert_int_equal(tfx_status(r), 200);
        assert_int_equal(json_integer_value(json_object_get(tfx_body(r), "proxies")), i);
        json_decref(r);
    }
    expect(proxy(&g, motion, v[4], v[0]), 409, "proxy_cap");          /* cap 3 */
    expect(proxy(&g, motion, v[1], v[5]), 409, "already_delegated");
    expect(proxy(&g, motion, v[5], v[1]), 409, "sub_delegation");     /* v1 gave a proxy: holds none */
    expect(proxy(&g, motion, v[0], v[5]), 409, "sub_delegation");     /* v0 holds proxies: gives none */
    expect(proxy(&g, motion, v[5], v[5]), 400, "bad_proxy");
    char gid[24];
    snprintf(gid, sizeof gid, "%lld", (long long)g.group_id);
    long long child = q1("SELECT min(r.id) FROM registry.resident r JOIN registry.household h ON h.id = r.household_id"
                         " WHERE h.group_id = $1::bigint AND r.birth_year = 2020", gid);
    expect(proxy(&g, motion, child, v[6]), 400, "not_on_roll");        /* under 18: no voter */
    expect(proxy(&g, motion, v[6], 1), 400, "not_on_roll");            /* not of this group */
    assert_int_equal(q1("SELECT count(*) FROM tally.proxy_public WHERE motion = $1", motion), 3);

    char other[32];
    snprintf(other, sizeof other, "%s", tfx_create_with(g_cl, &g, "resolution", "adult", NULL, NULL, "test-noproxy", "slips"));
    expect(proxy(&g, other, v[1], v[0]), 409, "proxies_not_allowed");
    assert_int_equal(q1("SELECT count(*) FROM tally.proxy_public WHERE motion = $1", other), 0);

    /* open: the proxies are published on the chain */
    json_t *r = tfx_open(g_cl, &g, motion);
    assert_int_equal(tfx_status(r), 200);
    json_decref(r);
    assert_int_equal(q1("SELECT jsonb_array_length(payload::jsonb->'proxies') FROM tally.chain_rows"
                        " WHERE motion = $1 AND type = 'proxies'", motion), 3);
}

static void credentials_go_out_through_notify_and_a_holder_casts_for_the_principal(void **state)
{
    (void)state;
    tfx_group_t g;
    tfx_group(g_db, 5, 1, &g);
    long long v[5];
    adults(&g, v, 5);
    char motion[32];
    snprintf(motion, sizeof motion, "%s", tfx_create_with(g_cl, &g, "resolution", "adult", NULL, NULL, "test-rules", "notify"));
    json_t *r = proxy(&g, motion, v[1], v[0]);
    assert_int_equal(tfx_status(r), 200);
    json_decref(r);
    r = tfx_open(g_cl, &g, motion);
    assert_int_equal(tfx_status(r), 200);
    json_decref(r);
    assert_int_equal(q1("SELECT count(*) FROM bus.outbox WHERE type = 'vote.credentials' AND data->>'motion' = $1", motion), 1);
    assert_int_equal(q1("SELECT jsonb_array_length(data->'credentials') FROM bus.outbox WHERE type = 'vote.credentials'"
                        " AND data->>'motion' = $1", motion), 5);
    char p1[24], p0[24];
    snprintf(p1, sizeof p1, "%lld", v[1]);
    snprintf(p0, sizeof p0, "%lld", v[0]);
    const char *pp[] = {motion, p1, p0};
    /* the principal's credential names its holder, who receives it */
    assert_int_equal(h_sql_int(g_db,
                               "SELECT count(*) FROM bus.outbox o, jsonb_array_elements(o.data->'credentials') c"
                               " WHERE o.type = 'vote.credentials' AND o.data->>'motion' = $1"
                               " AND (c->>'voter_id')::bigint = $2::bigint AND (c->>'holder_voter_id')::bigint = $3::bigint",
                               3, pp),
                     1);
    assert_int_equal(q1("SELECT count(*) FROM bus.outbox o, jsonb_array_elements(o.data->'credentials') c"
                        " WHERE o.type = 'vote.credentials' AND o.data->>'motion' = $1 AND c ? 'holder_voter_id'", motion),
                     1);
    /* the holder casts both: their own and the principal's, each counted once */
    char *own = h_sql_text(g_db,
                           "SELECT c->>'credential' FROM bus.outbox o, jsonb_array_elements(o.data->'credentials') c"
                           " WHERE o.type = 'vote.credentials' AND o.data->>'motion' = $1 AND (c->>'voter_id')::bigint = $3::bigint"
                           " AND $2::bigint IS NOT NULL",
                           3, pp);
    char *theirs = h_sql_text(g_db,
                              "SELECT c->>'credential' FROM bus.outbox o, jsonb_array_elements(o.data->'credentials') c"
                              " WHERE o.type = 'vote.credentials' AND o.data->>'motion' = $1"
                              " AND (c->>'voter_id')::bigint = $2::bigint AND $3::bigint IS NOT NULL",
                              3, pp);
    r = tfx_cast(g_cl, motion, own, json_pack("[i]", 0));
    assert_int_equal(tfx_status(r), 201);
    json_decref(r);
    r = tfx_cast(g_cl, motion, theirs, json_pack("[i]", 1));
    assert_int_equal(tfx_status(r), 201);
    json_decref(r);
    assert_int_equal(q1("SELECT count(*) FROM tally.roll_public WHERE motion = $1 AND voted", motion), 2);
    /* a credential is never stored in the clear: only its SHA-256 */
    const char *pc[] = {own};
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM tally.roll WHERE cred_sha256 = sha256(convert_to(replace($1, '-', ''), 'UTF8'))",
                               1, pc),
                     1);
    free(own);
    free(theirs);
}

static void slips_replace_credentials_and_a_retry_issues_new_ones(void **state)
{
    (void)state;
    tfx_group_t g;
    tfx_group(g_db, 3, 1, &g);
    char motion[32], id[UUID_STR_LEN];
    snprintf(motion, sizeof motion, "%s", tfx_create(g_cl, &g, "resolution", "adult", NULL, NULL));
    json_decref(tfx_open(g_cl, &g, motion));
    uuid_v4(id);
    json_t *a = tfx_call(g_cl, json_pack("{s:s,s:s,s:I,s:s}", "id", id, "action", "slips", "staff_id", (json_int_t)g.leader,
                                         "motion", motion));
    json_t *b = tfx_call(g_cl, json_pack("{s:s,s:s,s:I,s:s}", "id", id, "action", "slips", "staff_id", (json_int_t)g.leader,
                                         "motion", motion));
    assert_int_equal(tfx_status(a), 200);
    assert_int_equal(tfx_status(b), 200);
    json_t *sa = json_object_get(tfx_body(a), "slips"), *sb = json_object_get(tfx_body(b), "slips");
    assert_int_equal(json_array_size(sa), 3);
    assert_int_equal(json_array_size(sb), 3);
    const char *old = json_string_value(json_object_get(json_array_get(sa, 0), "credential"));
    const char *now = json_string_value(json_object_get(json_array_get(sb, 0), "credential"));
    assert_string_not_equal(old, now);
    assert_non_null(json_string_value(json_object_get(json_array_get(sa, 0), "name")));
    /* stored once, without a credential */
    const char *pid[] = {id};
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM tally.command WHERE id = $1::uuid AND reply->'body' = '{\"issued\": 3}'",
                               1, pid),
                     1);
    expect(tfx_cast(g_cl, motion, old, json_pack("[i]", 0)), 403, "bad_credential");
    json_t *r = tfx_cast(g_cl, motion, now, json_pack("[i]", 0));
    assert_int_equal(tfx_status(r), 201);
    json_decref(r);
    /* who has voted gets no slip: the default is everyone else */
    json_t *s = tfx_slips(g_cl, &g, motion);
    assert_int_equal(json_array_size(s), 2);
    json_decref(s);
    json_decref(a);
    json_decref(b);
}

static json_t *staff(const tfx_group_t *g, const char *action, const char *motion)
{
    return json_pack("{s:s,s:I,s:s}", "action", action, "staff_id", (json_int_t)g->leader, "motion", motion);
}

static void paper_that_does_not_add_up_is_refused(void **state)
{
    (void)state;
    tfx_group_t g;
    tfx_group(g_db, 5, 1, &g);
    long long v[5];
    adults(&g, v, 5);
    char motion[32];
    snprintf(motion, sizeof motion, "%s", tfx_create(g_cl, &g, "resolution", "adult", NULL, NULL));
    json_decref(tfx_open(g_cl, &g, motion));
    json_t *slips = tfx_slips(g_cl, &g, motion);
    const char *c0 = NULL;
    for (size_t i = 0; i < json_array_size(slips); i++)
        if (json_integer_value(json_object_get(json_array_get(slips, i), "voter_id")) == v[0])
            c0 = json_string_value(json_object_get(json_array_get(slips, i), "credential"));
    json_t *r = tfx_cast(g_cl, motion, c0, json_pack("[i]", 0));
    assert_int_equal(tfx_status(r), 201);
    json_decref(r);
    long long events = q1("SELECT count(*) FROM tally.chain_rows WHERE motion = $1", motion);

    /* v0 voted online: marking v0 and v1 for paper marks none */
    json_t *pv = staff(&g, "paper_voters", motion);
    json_object_set_new(pv, "voters", json_pack("[I,I]", (json_int_t)v[1], (json_int_t)v[0]));
    expect(tfx_call(g_cl, pv), 409, "already_voted");
    pv = staff(&g, "paper_voters", motion);
    json_object_set_new(pv, "voters", json_pack("[I,I]", (json_int_t)v[1], (json_int_t)v[1]));
    expect(tfx_call(g_cl, pv), 400, "not_on_roll");
    assert_int_equal(q1("SELECT count(*) FROM tally.roll_public WHERE motion = $1 AND voted", motion), 1);
    pv = staff(&g, "paper_voters", motion);
    json_object_set_new(pv, "voters", json_pack("[I,I]", (json_int_t)v[2], (json_int_t)v[1]));
    r = tfx_call(g_cl, pv);
    assert_int_equal(tfx_status(r), 200);
    assert_int_equal(json_integer_value(json_object_get(tfx_body(r), "marked")), 2);
    json_decref(r);
    /* a paper voter's credential is spent too */
    const char *c1 = NULL;
    for (size_t i = 0; i < json_array_size(slips); i++)
        if (json_integer_value(json_object_get(json_array_get(slips, i), "voter_id")) == v[1])
            c1 = json_string_value(json_object_get(json_array_get(slips, i), "credential"));
    expect(tfx_cast(g_cl, motion, c1, json_pack("[i]", 0)), 409, "already_voted");

    json_t *bad[] = {
        json_pack("{s:s,s:[s,s],s:i,s:i,s:{s:[i,i,i]}}", "box", "一号箱", "tellers", "甲", "乙", "ballots", 2, "invalid", 0,
                  "counts", "options", 2, 0, 0),                                       /* two tellers */
        json_pack("{s:s,s:[s,s,s],s:i,s:i,s:{s:[i,i,i]}}", "box", "一号箱", "tellers", "甲", "乙", "丙", "ballots", 2,
                  "invalid", 0, "counts", "options", 1, 0, 0),                         /* 1 of 2 counted */
        json_pack("{s:s,s:[s,s,s],s:i,s:i,s:{s:[i,i,i]}}", "box", "一号箱", "tellers", "甲", "乙", "丙", "ballots", 2,
                  "invalid", 3, "counts", "options", 0, 0, 0),                         /* more invalid than found */
        json_pack("{s:s,s:[s,s,s],s:i,s:i,s:{s:[i,i]}}", "box", "一号箱", "tellers", "甲", "乙", "丙", "ballots", 2,
                  "invalid", 0, "counts", "options", 1, 1),                            /* not the ballot's shape */
        json_pack("{s:s,s:[s,s,s],s:i,s:i,s:{s:[i,i,i]}}", "box", "", "tellers", "甲", "乙", "丙", "ballots", 2, "invalid", 0,
                  "counts", "options", 2, 0, 0),                                       /* no box name */
    };
    const char *codes[] = {"bad_tellers", "bad_counts", "bad_counts", "bad_counts", "bad_box"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        json_t *cmd = staff(&g, "paper", motion);
        json_object_update(cmd, bad[i]);
        json_decref(bad[i]);
        expect(tfx_call(g_cl, cmd), 400, codes[i]);
    }
    assert_int_equal(q1("SELECT count(*) FROM tally.paper_public WHERE motion = $1", motion), 0);
    json_t *good = staff(&g, "paper", motion);
    json_t *fields = json_pack("{s:s,s:[s,s,s],s:i,s:i,s:{s:[i,i,i]}}", "box", "一号箱", "tellers", "甲", "乙", "丙", "ballots", 2,
                               "invalid", 0, "counts", "options", 1, 1, 0);
    json_object_update(good, fields);
    json_decref(fields);
    json_t *again = json_deep_copy(good);
    r = tfx_call(g_cl, good);
    assert_int_equal(tfx_status(r), 200);
    json_decref(r);
    expect(tfx_call(g_cl, again), 409, "box_exists");
    assert_int_equal(q1("SELECT count(*) FROM tally.paper_public WHERE motion = $1", motion), 1);
    /* paper_voters and one box: two events more, no more */
    assert_int_equal(q1("SELECT count(*) FROM tally.chain_rows WHERE motion = $1", motion), events + 2);
    json_decref(slips);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(proxies_follow_the_rule_set),
        cmocka_unit_test(credentials_go_out_through_notify_and_a_holder_casts_for_the_principal),
        cmocka_unit_test(slips_replace_credentials_and_a_retry_issues_new_ones),
        cmocka_unit_test(paper_that_does_not_add_up_is_refused),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
