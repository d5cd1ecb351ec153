/* delivery_apply on the test database: each transition of a claimed message writes the message,
 * its attempt and its dead letter together, and only while the claim is still the caller's.
 *   - UNDELIVERABLE with a fallback phone: the WeChat message becomes an SMS to that phone;
 *   - FAILOVER: the next provider is kept as the message's route, due at once;
 *   - a claim another instance holds (this one's ran out): nothing changes, no attempt row;
 *   - dead, then dead again after a redrive: one dead letter, its redriven_at cleared;
 *   - a batch in one statement (delivery_apply_rows): each row its own transition, a row whose claim
 *     is another instance's left alone and missing from the ids applied. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "delivery.h"
#include "harness.h"
#include "redrive.h"
#include "uuid.h"

static const int64_t NOW = INT64_C(1796700000000000); /* the injected clock: any fixed time */

static void claimed(PGconn *db, char id[UUID_STR_LEN], const char *channel, const char *address, const char *fallback)
{
    uuid_v4(id);
    char dedup[80];
    snprintf(dedup, sizeof dedup, "delivery-test/%s", id);
    const char *p[] = {id, dedup, channel, address, fallback};
    PGresult *r = PQexecParams(db,
                               "INSERT INTO notify.message (id, dedup_key, template_key, audience, channel, address,"
                               " fallback_phone, body, due_at, state, leased_by, lease_until)"
                               " VALUES ($1, $2, 'delivery_test', 'reporter', $3, $4, $5, '测试', now(), 'sending', 'me',"
                               " now() + interval '1 minute')",
                               5, NULL, p, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_COMMAND_OK)
        fail_msg("%s", PQerrorMessage(db));
    PQclear(r);
}

static char *row(PGconn *db, const char *id)
{
    const char *p[] = {id};
    return h_sql_text(db,
                      "SELECT concat_ws(' ', state, channel, address, coalesce(fallback_phone, '-'), coalesce(route, '-'),"
                      " attempts, coalesce(last_code, '-'), coalesce(leased_by, '-'),"
                      " (SELECT string_agg(n || ':' || provider || ':' || outcome, ',') FROM notify.attempt WHERE message_id = m.id),"
                      " (SELECT count(*) FROM notify.dead_letter WHERE message_id = m.id))"
                      " FROM notify.message m WHERE id = $1",
                      1, p);
}

static void undeliverable_wechat_goes_by_sms_to_the_fallback_phone(void **state)
{
    (void)state;
    PGconn *db = h_db();
    char id[UUID_STR_LEN];
    claimed(db, id, "wechat", "oOPENID-delivery-test", "13800000020");
    outcome_t o = {.kind = OUTCOME_UNDELIVERABLE, .code = "43004", .detail = "require subscribe"};
    delivery_t d = delivery_decide(&o, "wechat", "wechat", "13800000020", 0, 8, NULL, NOW, 2000);
    bool applied = false;
    char err[256];
    assert_true(delivery_apply(db, id, "me", &d, NOW, &applied, err, sizeof err));
    assert_true(applied);
    char *r = row(db, id);
    assert_string_equal(r, "pending sms 13800000020 - - 1 43004 - 1:wechat:undeliverable 0");
    free(r);
    PQfinish(db);
}

static void failover_keeps_the_next_provider_as_the_route(void **state)
{
    (void)state;
    PGconn *db = h_db();
    char id[UUID_STR_LEN];
    claimed(db, id, "sms", "13800000021", NULL);
    outcome_t o = {.kind = OUTCOME_FAILOVER, .code = "isv.AMOUNT_NOT_ENOUGH"};
    delivery_t d = delivery_decide(&o, "aliyun", "sms", NULL, 0, 8, "tencent", NOW, 2000);
    bool applied = false;
    char err[256];
    assert_true(delivery_apply(db, id, "me", &d, NOW, &applied, err, sizeof err));
    assert_true(applied);
    char *r = row(db, id);
    assert_string_equal(r, "pending sms 13800000021 - tencent 1 isv.AMOUNT_NOT_ENOUGH - 1:aliyun:failover 0");
    free(r);
    PQfinish(db);
}

static void an_instance_whose_claim_ran_out_changes_nothing(void **state)
{
    (void)state;
    PGconn *db = h_db();
    char id[UUID_STR_LEN];
    claimed(db, id, "sms", "13800000022", NULL);
    outcome_t o = {.kind = OUTCOME_SENT, .code = "OK", .provider_msgid = "biz"};
    delivery_t d = delivery_decide(&o, "aliyun", "sms", NULL, 0, 8, NULL, NOW, 2000);
    bool applied = true;
    char err[256];
    assert_true(delivery_apply(db, id, "someone-else", &d, NOW, &applied, err, sizeof err));
    assert_false(applied);
    char *r = row(db, id);
    assert_string_equal(r, "sending sms 13800000022 - - 0 - me 0");
    free(r);
    PQfinish(db);
}

static void dead_twice_keeps_one_dead_letter_and_clears_its_redrive(void **state)
{
    (void)state;
    PGconn *db = h_db();
    char id[UUID_STR_LEN], err[256];
    claimed(db, id, "sms", "13800000023", NULL);
    outcome_t o = {.kind = OUTCOME_PERMANENT, .code = "isv.MOBILE_NUMBER_ILLEGAL", .detail = "bad number"};
    delivery_t d = delivery_decide(&o, "aliyun", "sms", NULL, 0, 8, NULL, NOW, 2000);
    bool applied = false;
    assert_true(delivery_apply(db, id, "me", &d, NOW, &applied, err, sizeof err));
    assert_true(applied);
    assert_int_equal(redrive_message(db, id, NOW + 1000000, err, sizeof err), REDRIVE_DONE);
    assert_int_equal(redrive_message(db, id, NOW + 2000000, err, sizeof err), REDRIVE_NOT_DEAD);
    const char *p[] = {id};
    assert_int_equal(h_sql_int(db, "SELECT count(*) FROM notify.dead_letter WHERE message_id = $1 AND redriven_at ="
                                   " 'epoch'::timestamptz + 1796700001 * interval '1 second'", 1, p), 1);
    /* claimed again, refused again */
    h_sql_exec(db, "UPDATE notify.message SET state = 'sending', leased_by = 'me' WHERE address = '13800000023'");
    assert_true(delivery_apply(db, id, "me", &d, NOW + 3000000, &applied, err, sizeof err));
    assert_true(applied);
    assert_int_equal(h_sql_int(db, "SELECT count(*) FROM notify.dead_letter WHERE message_id = $1 AND redriven_at IS NULL"
                                   " AND reason = 'bad number'", 1, p), 1);
    char *r = row(db, id);
    assert_string_equal(r, "dead sms 13800000023 - - 2 isv.MOBILE_NUMBER_ILLEGAL - 1:aliyun:permanent,2:aliyun:permanent 1");
    free(r);
    PQfinish(db);
}

static void a_batch_applies_each_row_and_leaves_claims_of_others_alone(void **state)
{
    (void)state;
    PGconn *db = h_db();
    char sent[UUID_STR_LEN], dead[UUID_STR_LEN], other[UUID_STR_LEN];
    claimed(db, sent, "sms", "13800000024", NULL);
    claimed(db, dead, "sms", "13800000025", NULL);
    claimed(db, other, "sms", "13800000026", NULL);
    const char *p[] = {other};
    assert_int_equal(h_sql_int(db, "WITH u AS (UPDATE notify.message SET leased_by = 'someone-else' WHERE id = $1"
                                   " RETURNING 1) SELECT count(*) FROM u", 1, p), 1);
    outcome_t os = {.kind = OUTCOME_SENT, .code = "OK", .provider_msgid = "biz-1"};
    outcome_t od = {.kind = OUTCOME_PERMANENT, .code = "isv.MOBILE_NUMBER_ILLEGAL", .detail = "bad number"};
    delivery_t ds = delivery_decide(&os, "aliyun", "sms", NULL, 0, 8, NULL, NOW, 2000);
    delivery_t dd = delivery_decide(&od, "aliyun", "sms", NULL, 0, 8, NULL, NOW, 2000);
    json_t *rows = json_array(), *applied = json_object();
    json_array_append_new(rows, delivery_row(sent, &ds, NOW));
    json_array_append_new(rows, delivery_row(dead, &dd, NOW));
    json_array_append_new(rows, delivery_row(other, &ds, NOW));
    char err[256];
    assert_true(delivery_apply_rows(db, "me", rows, NOW, applied, err, sizeof err));
    assert_int_equal(json_object_size(applied), 2);
    assert_non_null(json_object_get(applied, sent));
    assert_non_null(json_object_get(applied, dead));
    assert_null(json_object_get(applied, other));
    char *r = row(db, sent);
    assert_string_equal(r, "sent sms 13800000024 - - 1 OK - 1:aliyun:sent 0");
    free(r);
    r = row(db, dead);
    assert_string_equal(r, "dead sms 13800000025 - - 1 isv.MOBILE_NUMBER_ILLEGAL - 1:aliyun:permanent 1");
    free(r);
    r = row(db, other);
    assert_string_equal(r, "sending sms 13800000026 - - 0 - someone-else 0");
    free(r);
    /* a row that cannot be one (an id that is no uuid) fails the whole batch: nothing applied */
    char fresh[UUID_STR_LEN];
    claimed(db, fresh, "sms", "13800000028", NULL);
    json_t *bad = json_array();
    json_array_append_new(bad, delivery_row(fresh, &ds, NOW));
    json_array_append_new(bad, delivery_row("not-a-uuid", &ds, NOW));
    json_object_clear(applied);
    assert_false(delivery_apply_rows(db, "me", bad, NOW, applied, err, sizeof err));
    assert_int_equal(json_object_size(applied), 0);
    r = row(db, fresh);
    assert_string_equal(r, "sending sms 13800000028 - - 0 - me 0");
    free(r);
    json_decref(bad);
    json_decref(rows);
    json_decref(applied);
    PQfinish(db);
}

static int setup(void **state)
{
    (void)state;
    PGconn *db = h_db_owner();
    h_sql_exec(db, "INSERT INTO notify.template (key, body) VALUES ('delivery_test', '测试') ON CONFLICT DO NOTHING");
    /* these tests insert their own messages: notify starts past the earlier tests' events */
    h_consumer_skip_backlog(db, "notify");
    PQfinish(db);
    return 0;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(undeliverable_wechat_goes_by_sms_to_the_fallback_phone),
        cmocka_unit_test(failover_keeps_the_next_provider_as_the_route),
        cmocka_unit_test(an_instance_whose_claim_ran_out_changes_nothing),
        cmocka_unit_test(dead_twice_keeps_one_dead_letter_and_clears_its_redrive),
        cmocka_unit_test(a_batch_applies_each_row_and_leaves_claims_of_others_alone),
    };
    return cmocka_run_group_tests(tests, setup, NULL);
}
