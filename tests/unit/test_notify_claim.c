/* notify's claim (services/notify/sender.c, sender_claim_sql) against the migrated test database,
 * in a transaction rolled back at the end:
 *   - with a backlog (3,000 due messages, 2,000 sent, 50 whose claim ran out) a claim of 10 takes
 *     the 10 oldest due, the run-out claims among them, and marks them sending for this instance;
 *   - and reads only a few rows to do it: no plan node handles more than a few times the batch
 *     (a claim that scans and sorts the backlog made a backlog of N cost N per claim: the sender
 *     ran at a few hundred messages a second through the bench's 20,000). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "harness.h"
#include "sender.h"

#define BATCH 10

/* The largest number of rows any plan node produced (over its loops) or filtered away. */
static double widest(json_t *node)
{
    double rows = json_number_value(json_object_get(node, "Actual Rows")) *
                  (json_object_get(node, "Actual Loops") ? json_number_value(json_object_get(node, "Actual Loops")) : 1);
    double removed = json_number_value(json_object_get(node, "Rows Removed by Filter"));
    double w = rows > removed ? rows : removed;
    json_t *kids = json_object_get(node, "Plans"), *k;
    size_t i;
    json_array_foreach(kids, i, k)
    {
        double kw = widest(k);
        if (kw > w)
            w = kw;
    }
    return w;
}

static void a_claim_takes_the_oldest_due_and_reads_only_a_few_rows_of_a_backlog(void **state)
{
    (void)state;
    PGconn *db = h_db_owner();
    h_sql_exec(db, "BEGIN");
    h_sql_exec(db, "INSERT INTO notify.template (key, body, sms_params) VALUES ('claim_test', 'x{code}', '{code}')"
                   " ON CONFLICT DO NOTHING");
    /* older than anything another test leaves: this batch is claimed first */
    h_sql_exec(db, "INSERT INTO notify.message (id, dedup_key, template_key, audience, channel, address, body, state,"
                   " due_at, lease_until, leased_by, sent_at)"
                   " SELECT gen_random_uuid(), 'claim-test/' || i, 'claim_test', 'handler', 'sms', (19100000000 + i)::text,"
                   "  'x', s, '2000-01-01'::timestamptz + (CASE WHEN s = 'sending' THEN i - 100 ELSE i END) * interval '1 second',"
                   "  CASE WHEN s = 'sending' THEN '2000-01-02'::timestamptz END,"
                   "  CASE WHEN s = 'sending' THEN 'a-dead-notify:1' END,"
                   "  CASE WHEN s = 'sent' THEN '2000-01-02'::timestamptz END"
                   " FROM generate_series(1, 5050) i,"
                   "  LATERAL (SELECT CASE WHEN i % 101 = 0 THEN 'sending' WHEN i % 5 < 2 THEN 'sent' ELSE 'pending' END"
                   "   AS s) k");
    h_sql_exec(db, "ANALYZE notify.message");
    const char *p[] = {"4102444800000000", "claim-test:1", "10", "60"}; /* now: 2100-01-01 */

    /* the claim itself: the 10 oldest due of the two kinds */
    PGresult *r = PQexecParams(db, sender_claim_sql(), 4, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    assert_int_equal(PQntuples(r), BATCH);
    PQclear(r);
    char *got = h_sql_text(db, "SELECT string_agg(substr(dedup_key, 12), ',' ORDER BY due_at) FROM notify.message"
                               " WHERE leased_by = 'claim-test:1' AND state = 'sending'", 0, NULL);
    char *want = h_sql_text(db, "SELECT string_agg(substr(dedup_key, 12), ',' ORDER BY due_at) FROM"
                                " (SELECT dedup_key, due_at FROM notify.message WHERE dedup_key LIKE 'claim-test/%'"
                                "  AND (state = 'pending' OR leased_by = 'a-dead-notify:1' OR leased_by = 'claim-test:1')"
                                "  ORDER BY due_at LIMIT 10) o", 0, NULL);
    assert_string_equal(got, want);
    assert_non_null(strstr(got, "101")); /* a claim that ran out is among them */
    free(got);
    free(want);

    /* its plan: a few index entries, not the backlog */
    char sql[4096];
    snprintf(sql, sizeof sql, "EXPLAIN (ANALYZE, FORMAT JSON) %s", sender_claim_sql());
    r = PQexecParams(db, sql, 4, NULL, p, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    json_t *plan = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
    PQclear(r);
    assert_non_null(plan);
    double w = widest(json_object_get(json_array_get(plan, 0), "Plan"));
    if (w > 4 * BATCH)
        fail_msg("a claim of %d handled %.0f rows in one plan node: %s", BATCH, w,
                 json_dumps(plan, JSON_INDENT(1)));
    json_decref(plan);
    h_sql_exec(db, "ROLLBACK");
    PQfinish(db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_claim_takes_the_oldest_due_and_reads_only_a_few_rows_of_a_backlog),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
