/* The router killed with SIGKILL while 2,000 tickets flow: after it is started again every ticket
 * is assigned exactly once, with one assign transition, one ticket.assigned event and one count
 * in the aggregates. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <signal.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define TOTAL 2000
#define THREADS 4

static char g_key[80], g_tag[40];
static int g_http;
static atomic_int g_answered;

/* Points on a grid across the county, about 500 m apart: no two reports are duplicates. */
static void *client(void *arg)
{
    long t = (long)arg;
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/open311/v2/requests.json", g_http);
    const char *hdr[] = {"Content-Type: application/x-www-form-urlencoded", NULL};
    for (int i = (int)t; i < TOTAL; i += THREADS) {
        buf_t b = BUF_INIT;
        buf_printf(&b, "api_key=%s&service_code=KILLTEST&lat=%.6f&long=%.6f&description=%s-%d", g_key,
                   28.125 + (i / 50) * 0.0062, 113.025 + (i % 50) * 0.0052, g_tag, i);
        h_resp_t r;
        if (h_http("POST", url, hdr, b.data, b.len, &r) && r.status == 200)
            atomic_fetch_add(&g_answered, 1);
        h_resp_free(&r);
        buf_free(&b);
    }
    return NULL;
}

static void sigkill_during_flow_assigns_every_ticket_once(void **state)
{
    (void)state;
    PGconn *db = h_db();
    char *k = h_api_key(db);
    snprintf(g_key, sizeof g_key, "%s", k);
    free(k);
    snprintf(g_tag, sizeof g_tag, "kill%ld", (long)getpid());
    /* A category of this test's own, without duplicate merging, so no other test's open tickets
     * can absorb these reports (and these cannot absorb theirs). */
    h_sql_exec(db, "INSERT INTO registry.service (code, name, grp) VALUES ('KILLTEST', '测试事项', '测试')"
                   " ON CONFLICT DO NOTHING");
    h_sql_exec(db, "INSERT INTO router.category_rule (service_code, level, sign_hours, resolve_hours, dup_radius_m)"
                   " VALUES ('KILLTEST', 'village', 8, 40, 0) ON CONFLICT DO NOTHING");
    g_http = h_port(90);
    /* 2,000 reports from one key as fast as 4 threads go: over the per-key rate limit, which is
     * not what this test is about (test_limits is) */
    static const char *const env[] = {"GRIDGOV_RATE_LIMIT_PER_MINUTE=0", NULL};
    pid_t intake = h_start_intake(g_http, h_port(91), env);
    pid_t router = h_start_router(h_port(92), h_port(91), NULL);

    char like[64];
    snprintf(like, sizeof like, "%s-%%", g_tag);
    const char *p[] = {like};
    const char *routed_sql = "SELECT count(*) FROM router.ticket r JOIN intake.ticket i ON i.id = r.ticket_id"
                             " WHERE i.description LIKE $1";
    pthread_t th[THREADS];
    for (long t = 0; t < THREADS; t++)
        pthread_create(&th[t], NULL, client, (void *)t);
    /* kill it in the middle of assigning */
    while (h_sql_int(db, routed_sql, 1, p) < 500)
        usleep(2000);
    int st = h_stop(router, SIGKILL);
    assert_true(WIFSIGNALED(st));
    long long at_kill = h_sql_int(db, routed_sql, 1, p);
    usleep(300 * 1000);
    router = h_start_router(h_port(92), h_port(91), NULL);
    for (int t = 0; t < THREADS; t++)
        pthread_join(th[t], NULL);
    assert_int_equal(atomic_load(&g_answered), TOTAL);
    print_message("router killed after %lld of %d tickets were assigned\n", at_kill, TOTAL);
    assert_true(at_kill < TOTAL);

    assert_true(h_wait_sql(db, routed_sql, 1, p, TOTAL, 120000));
    /* exactly once: one row each (primary key), one assign transition, one event, one count */
    assert_int_equal(h_sql_int(db, "SELECT count(*) FROM router.transition tr JOIN intake.ticket i ON i.id = tr.ticket_id"
                                   " WHERE i.description LIKE $1 AND tr.action = 'assign'", 1, p), TOTAL);
    assert_int_equal(h_sql_int(db, "SELECT count(*) FROM router.ticket r JOIN intake.ticket i ON i.id = r.ticket_id"
                                   " WHERE i.description LIKE $1 AND r.state = 'assigned' AND r.assignee_id IS NOT NULL", 1, p),
                     TOTAL);
    assert_int_equal(h_sql_int(db, "SELECT count(*) FROM bus.outbox o JOIN intake.ticket i ON i.code = o.data->>'code'"
                                   " WHERE i.description LIKE $1 AND o.type = 'ticket.assigned'", 1, p), TOTAL);
    assert_int_equal(h_sql_int(db, "SELECT count(*) FROM (SELECT o.data->>'code' FROM bus.outbox o"
                                   " JOIN intake.ticket i ON i.code = o.data->>'code' WHERE i.description LIKE $1"
                                   " AND o.source = 'router' GROUP BY 1 HAVING count(*) <> 1) x", 1, p), 0);
    /* the aggregates counted each once: the county's received equals all routed tickets */
    assert_int_equal(h_sql_int(db, "SELECT (SELECT coalesce(sum(received), 0) FROM router.stat_daily s JOIN registry.unit u"
                                   " ON u.id = s.unit_id WHERE u.level = 'county') -"
                                   " (SELECT count(*) FROM router.ticket WHERE state <> 'merged')", 0, NULL), 0);

    st = h_stop(router, SIGTERM);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    st = h_stop(intake, SIGTERM);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    PQfinish(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(sigkill_during_flow_assigns_every_ticket_once),
    };
    return cmocka_run_group_tests_name("router_kill", tests, NULL, NULL);
}
