/* The lookups of intake's channels that name a resident, not a ticket (an SMS reply, a WeChat
 * message): resident_rating.c's last resolved ticket by phone or openid and wechat_resident.c's
 * open appeal of an openid. Asked of a county's worth of tickets (county_scale.h, rolled back):
 * each statement, planned for its values as intake runs it, finds the resident's tickets in
 * ticket_phone or ticket_wechat_account (migration 023) and reads no other ticket; without those
 * indexes the same check fails (they are dropped in a savepoint to show it). The answers are
 * checked too: the newest resolved ticket, only a WeChat ticket for an openid, nothing for an
 * unknown sender or for none. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "county_scale.h"
#include "db.h"
#include "harness.h"
#include "resident_rating.h"
#include "wechat_resident.h"

static PGconn *g_pg; /* the owner's (ANALYZE, DROP INDEX), in the scale transaction */

/* Scale residents (county_scale.h): resident 6668 filed tickets 20004 (sms, accepted), 20005
 * (sms, resolved) and 20006 (api, closed); resident 10000 by WeChat 30000 (resolved, with the
 * bound phone), 30001 (closed, no phone) and 30002 (in progress, with the phone). */
#define SMS_RESIDENT 6668
#define SMS_RESOLVED "SC00000020005"
#define WX_RESIDENT 10000
#define WX_RESOLVED "SC00000030000"
#define WX_OPEN "SC00000030002"

static char g_phone[16], g_openid[24], g_sms_openid[24];

static int group_setup(void **state)
{
    (void)state;
    g_pg = h_db_owner();
    h_sql_exec(g_pg, "BEGIN");
    h_county_scale(g_pg, SCALE_TICKETS);
    h_scale_phone(SMS_RESIDENT, g_phone);
    h_scale_openid(WX_RESIDENT, g_openid);
    h_scale_openid(SMS_RESIDENT, g_sms_openid); /* an openid that filed nothing by WeChat */
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    h_sql_exec(g_pg, "ROLLBACK");
    h_county_scale_undone(g_pg);
    PQfinish(g_pg);
    return 0;
}

/* The plan of sql for these values, as PostgreSQL makes it for intake's unnamed statement. */
static char *plan_of(const char *sql, int n, const char *const *params)
{
    char err[512];
    buf_t q = BUF_INIT, plan = BUF_INIT;
    buf_printf(&q, "EXPLAIN (COSTS OFF) %s", sql);
    PGresult *r = db_pq_exec(g_pg, buf_str(&q), n, params, err, sizeof err, NULL);
    buf_free(&q);
    if (!r)
        fail_msg("EXPLAIN: %s", err);
    for (int i = 0; i < PQntuples(r); i++)
        buf_printf(&plan, "%s\n", PQgetvalue(r, i, 0));
    PQclear(r);
    char *text = strdup(buf_str(&plan));
    buf_free(&plan);
    return text;
}

/* Whether the plan reads intake.ticket (alias t) through index1 (and index2 when given), in an
 * index scan or a bitmap, and nowhere by a sequential scan. */
static bool uses(const char *plan, const char *index1, const char *index2)
{
    const char *want[] = {index1, index2};
    for (int i = 0; i < 2; i++) {
        if (!want[i])
            continue;
        char scan[96], bitmap[96];
        snprintf(scan, sizeof scan, "using %s on ticket t\n", want[i]);
        snprintf(bitmap, sizeof bitmap, "Bitmap Index Scan on %s\n", want[i]);
        if (!strstr(plan, scan) && !strstr(plan, bitmap))
            return false;
    }
    return !strstr(plan, "Seq Scan on ticket t");
}

static void expect_plan(const char *sql, int n, const char *const *params, const char *index1, const char *index2,
                        const char *what)
{
    char *plan = plan_of(sql, n, params);
    if (!uses(plan, index1, index2))
        fail_msg("%s does not find the resident's tickets through %s%s%s:\n%s", what, index1, index2 ? " and " : "",
                 index2 ? index2 : "", plan);
    free(plan);
}

/* The first column of the statement's only row, or "" when it has none (caller frees). */
static char *answer(const char *sql, int n, const char *const *params)
{
    char err[512];
    PGresult *r = db_pq_exec(g_pg, sql, n, params, err, sizeof err, NULL);
    if (!r)
        fail_msg("%s: %s", sql, err);
    assert_true(PQntuples(r) <= 1);
    char *v = strdup(PQntuples(r) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return v;
}

static void expect_answer(const char *sql, int n, const char *const *params, const char *want)
{
    char *got = answer(sql, n, params);
    assert_string_equal(got, want);
    free(got);
}

/* ---- the last resolved ticket (a rating by SMS or WeChat) ------------------------------------ */

static void last_resolved_by_phone_uses_ticket_phone(void **state)
{
    (void)state;
    const char *sms[] = {g_phone, NULL};
    expect_plan(RESIDENT_LAST_RESOLVED_SQL, 2, sms, "ticket_phone", NULL, "an SMS reply's lookup");
    expect_answer(RESIDENT_LAST_RESOLVED_SQL, 2, sms, SMS_RESOLVED);
    /* a number that filed nothing, another resident's, one whose only ticket is not resolved */
    const char *unknown[] = {"13800000000", NULL};
    expect_plan(RESIDENT_LAST_RESOLVED_SQL, 2, unknown, "ticket_phone", NULL, "an unknown number's lookup");
    expect_answer(RESIDENT_LAST_RESOLVED_SQL, 2, unknown, "");
    char other[16];
    h_scale_phone(1, other); /* tickets 3 (sms, assigned), 4 (sms, accepted), 5 (sms, resolved) */
    const char *r1[] = {other, NULL};
    expect_answer(RESIDENT_LAST_RESOLVED_SQL, 2, r1, "SC00000000005");
    h_scale_phone(0, other); /* ticket 2 (wechat, in progress) only */
    const char *r0[] = {other, NULL};
    expect_answer(RESIDENT_LAST_RESOLVED_SQL, 2, r0, "");
}

static void last_resolved_by_openid_uses_ticket_wechat_account(void **state)
{
    (void)state;
    const char *wx[] = {NULL, g_openid};
    expect_plan(RESIDENT_LAST_RESOLVED_SQL, 2, wx, "ticket_wechat_account", NULL, "a WeChat rating's lookup");
    expect_answer(RESIDENT_LAST_RESOLVED_SQL, 2, wx, WX_RESOLVED);
    /* an openid bound to resident 6668's phone: that phone's tickets or its own, one plan
     * reading both indexes */
    const char *both[] = {g_phone, g_openid};
    expect_plan(RESIDENT_LAST_RESOLVED_SQL, 2, both, "ticket_phone", "ticket_wechat_account",
                "a bound openid's lookup");
    char *got = answer(RESIDENT_LAST_RESOLVED_SQL, 2, both);
    /* the later resolved of 20005 and 30000 (each updated a day after it was filed) */
    assert_string_equal(got, WX_RESOLVED);
    free(got);
    /* only a WeChat ticket's account_id is an openid: this one filed nothing by WeChat */
    const char *stranger[] = {NULL, g_sms_openid};
    expect_answer(RESIDENT_LAST_RESOLVED_SQL, 2, stranger, "");
    const char *injected[] = {NULL, "' OR 1=1 --"};
    expect_answer(RESIDENT_LAST_RESOLVED_SQL, 2, injected, "");
    /* neither: both branches drop, nothing is read */
    const char *neither[] = {NULL, NULL};
    expect_answer(RESIDENT_LAST_RESOLVED_SQL, 2, neither, "");
}

/* ---- a location message: the openid's latest open appeal -------------------------------------- */

static void open_appeal_by_openid_uses_ticket_wechat_account(void **state)
{
    (void)state;
    const char *wx[] = {g_openid};
    expect_plan(WECHAT_OPEN_APPEAL_SQL, 1, wx, "ticket_wechat_account", NULL, "a location's lookup");
    char err[512];
    PGresult *r = db_pq_exec(g_pg, WECHAT_OPEN_APPEAL_SQL, 1, wx, err, sizeof err, NULL);
    if (!r)
        fail_msg("open appeal: %s", err);
    assert_int_equal(PQntuples(r), 1);
    assert_string_equal(PQgetvalue(r, 0, 1), WX_OPEN); /* 30001 is closed, 30000 resolved */
    assert_string_equal(PQgetvalue(r, 0, 2), "f");     /* it has a point already */
    PQclear(r);
    const char *stranger[] = {g_sms_openid};
    expect_answer(WECHAT_OPEN_APPEAL_SQL, 1, stranger, "");
}

/* ---- and without the indexes ------------------------------------------------------------------ */

static void without_the_indexes_the_checks_fail(void **state)
{
    (void)state;
    h_sql_exec(g_pg, "SAVEPOINT no_index");
    h_sql_exec(g_pg, "DROP INDEX intake.ticket_phone, intake.ticket_wechat_account");
    const char *sms[] = {g_phone, NULL}, *wx[] = {NULL, g_openid}, *loc[] = {g_openid};
    char *plans[] = {plan_of(RESIDENT_LAST_RESOLVED_SQL, 2, sms), plan_of(RESIDENT_LAST_RESOLVED_SQL, 2, wx),
                     plan_of(WECHAT_OPEN_APPEAL_SQL, 1, loc)};
    h_sql_exec(g_pg, "ROLLBACK TO SAVEPOINT no_index");
    assert_false(uses(plans[0], "ticket_phone", NULL));
    assert_false(uses(plans[1], "ticket_wechat_account", NULL));
    assert_false(uses(plans[2], "ticket_wechat_account", NULL));
    /* what the index saves: every ticket read */
    for (int i = 0; i < 3; i++) {
        assert_non_null(strstr(plans[i], "Seq Scan on ticket t"));
        free(plans[i]);
    }
    /* and back after the savepoint */
    expect_plan(RESIDENT_LAST_RESOLVED_SQL, 2, sms, "ticket_phone", NULL, "the lookup after the savepoint");
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(last_resolved_by_phone_uses_ticket_phone),
        cmocka_unit_test(last_resolved_by_openid_uses_ticket_wechat_account),
        cmocka_unit_test(open_appeal_by_openid_uses_ticket_wechat_account),
        cmocka_unit_test(without_the_indexes_the_checks_fail),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
