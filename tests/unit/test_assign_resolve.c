/* assign_resolve: what each ticket of a batch becomes, exactly as if routed one at a time. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <string.h>

#include "assign_resolve.h"

static assign_item_t item(int64_t id, const char *code, int64_t received_s, int64_t unit)
{
    return (assign_item_t){.ticket_id = id, .code = code, .received_us = received_s * 1000000, .unit_id = unit};
}

static void a_ticket_near_an_earlier_one_of_the_batch_follows_it(void **state)
{
    (void)state;
    static const int near1[] = {0};
    assign_item_t it[2] = {item(1, "A", 100, 7), item(2, "B", 101, 7)};
    it[1].near = near1;
    it[1].nnear = 1;
    assign_resolve(it, 2);
    assert_int_equal(it[0].outcome, ASSIGN_ASSIGNED);
    assert_int_equal(it[1].outcome, ASSIGN_MERGED);
    assert_int_equal(it[1].merged_into, 1);
    assert_int_equal(it[1].merged_unit_id, 7);
    assert_string_equal(it[1].merged_code, "A");
    assert_int_equal(it[1].assignee_id, 0);
}

static void the_earliest_original_wins_database_or_batch(void **state)
{
    (void)state;
    static const int near[] = {0};
    /* the open ticket in the database came in before the batch's own: it is the original */
    assign_item_t a[2] = {item(10, "A", 200, 7), item(11, "B", 201, 7)};
    a[1].near = near;
    a[1].nnear = 1;
    a[1].dup_id = 3;
    a[1].dup_received_us = 150 * 1000000LL;
    a[1].dup_unit_id = 9;
    a[1].dup_code = "OLD";
    assign_resolve(a, 2);
    assert_int_equal(a[1].outcome, ASSIGN_MERGED);
    assert_int_equal(a[1].merged_into, 3);
    assert_int_equal(a[1].merged_unit_id, 9);
    assert_string_equal(a[1].merged_code, "OLD");
    /* the batch's ticket came in before the one in the database (a late commit): it wins */
    a[1].dup_received_us = 250 * 1000000LL;
    assign_resolve(a, 2);
    assert_int_equal(a[1].merged_into, 10);
    assert_string_equal(a[1].merged_code, "A");
    /* same time: the lower id */
    a[1].dup_received_us = 200 * 1000000LL;
    a[1].dup_id = 4;
    assign_resolve(a, 2);
    assert_int_equal(a[1].merged_into, 4);
}

static void a_merged_or_replayed_ticket_is_no_original(void **state)
{
    (void)state;
    static const int near1[] = {0}, near2[] = {0, 1};
    /* 0 was routed before (a replay); 1 follows an open ticket; 2 is near both: nothing to follow */
    assign_item_t it[3] = {item(1, "A", 100, 7), item(2, "B", 101, 7), item(3, "C", 102, 7)};
    it[0].routed = 1;
    it[1].near = near1;
    it[1].nnear = 1;
    it[1].dup_id = 99;
    it[1].dup_received_us = 50 * 1000000LL;
    it[1].dup_code = "Z";
    it[2].near = near2;
    it[2].nnear = 2;
    assign_resolve(it, 3);
    assert_int_equal(it[0].outcome, ASSIGN_SKIP);
    assert_int_equal(it[1].outcome, ASSIGN_MERGED);
    assert_int_equal(it[1].merged_into, 99);
    assert_int_equal(it[2].outcome, ASSIGN_ASSIGNED);
    assert_int_equal(it[2].merged_into, 0);
}

static void a_near_index_that_is_not_earlier_is_ignored(void **state)
{
    (void)state;
    static const int bad[] = {1, 5, -1};
    assign_item_t it[2] = {item(1, "A", 100, 7), item(2, "B", 101, 7)};
    it[0].near = bad;
    it[0].nnear = 3;
    assign_resolve(it, 2);
    assert_int_equal(it[0].outcome, ASSIGN_ASSIGNED);
    assert_int_equal(it[1].outcome, ASSIGN_ASSIGNED);
}

static void duty_goes_to_the_least_loaded_counting_the_batch(void **state)
{
    (void)state;
    static const assign_staff_t staff[] = {{20, 0, 1}, {10, 0, 3}, {30, 1, 0}};
    assign_item_t it[4];
    for (int i = 0; i < 4; i++) {
        it[i] = item(i + 1, "X", 100 + i, 7);
        it[i].staff = staff;
        it[i].nstaff = 3;
    }
    assign_resolve(it, 4);
    /* 20 has 1, 10 has 3: 20 (2), 20 (3), then 10 and 20 tie at 3: the lower id, 10 (4), then 20.
     * 30 is a grid worker (tier 1): never while a leader of tier 0 is there, whatever the load. */
    assert_int_equal(it[0].assignee_id, 20);
    assert_int_equal(it[1].assignee_id, 20);
    assert_int_equal(it[2].assignee_id, 10);
    assert_int_equal(it[3].assignee_id, 20);
}

static void merged_tickets_add_no_load_and_nobody_on_duty_is_zero(void **state)
{
    (void)state;
    static const assign_staff_t staff[] = {{10, 0, 0}, {20, 0, 0}};
    static const int near1[] = {0};
    assign_item_t it[3] = {item(1, "A", 100, 7), item(2, "B", 101, 7), item(3, "C", 102, 8)};
    it[0].staff = it[1].staff = staff;
    it[0].nstaff = it[1].nstaff = 2;
    it[1].near = near1;
    it[1].nnear = 1;
    assign_resolve(it, 3);
    assert_int_equal(it[0].assignee_id, 10);
    assert_int_equal(it[1].outcome, ASSIGN_MERGED);
    assert_int_equal(it[2].outcome, ASSIGN_ASSIGNED);
    assert_int_equal(it[2].assignee_id, 0);
    /* the next one at unit 7 still sees 10 with one ticket: 20 */
    assign_item_t more[2] = {it[0], item(4, "D", 103, 7)};
    more[1].staff = staff;
    more[1].nstaff = 2;
    assign_resolve(more, 2);
    assert_int_equal(more[0].assignee_id, 10);
    assert_int_equal(more[1].assignee_id, 20);
}

/* A batch decided in chunks: the second chunk follows a ticket of the first and sees the loads
 * the first gave, exactly as one call over the whole batch. */
static void chunks_decide_as_one_batch(void **state)
{
    (void)state;
    static const assign_staff_t staff[] = {{10, 0, 0}, {20, 0, 0}, {30, 0, 0}};
    static const int near_first[] = {1};
    assign_item_t whole[5], parts[5];
    for (int i = 0; i < 5; i++) {
        whole[i] = item(i + 1, "X", 100 + i, 7);
        whole[i].staff = staff;
        whole[i].nstaff = 3;
    }
    whole[4].near = near_first; /* the last follows the second */
    whole[4].nnear = 1;
    memcpy(parts, whole, sizeof whole);
    assign_resolve(whole, 5);
    assign_given_t g = {0};
    assign_resolve_range(parts, 0, 2, &g);
    assign_resolve_range(parts, 2, 5, &g);
    assign_given_free(&g);
    for (int i = 0; i < 5; i++) {
        assert_int_equal(parts[i].outcome, whole[i].outcome);
        assert_int_equal(parts[i].assignee_id, whole[i].assignee_id);
        assert_int_equal(parts[i].merged_into, whole[i].merged_into);
    }
    /* 10, 20, 30, then 10 again: the second chunk saw the first one's three */
    assert_int_equal(parts[3].assignee_id, 10);
    assert_int_equal(parts[4].outcome, ASSIGN_MERGED);
    assert_int_equal(parts[4].merged_into, 2);
    /* without the carried loads the second chunk would start again from 10 */
    assign_given_t fresh = {0};
    assign_resolve_range(parts, 2, 5, &fresh);
    assign_given_free(&fresh);
    assert_int_equal(parts[2].assignee_id, 10);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(a_ticket_near_an_earlier_one_of_the_batch_follows_it),
        cmocka_unit_test(the_earliest_original_wins_database_or_batch),
        cmocka_unit_test(a_merged_or_replayed_ticket_is_no_original),
        cmocka_unit_test(a_near_index_that_is_not_earlier_is_ignored),
        cmocka_unit_test(duty_goes_to_the_least_loaded_counting_the_batch),
        cmocka_unit_test(merged_tickets_add_no_load_and_nobody_on_duty_is_zero),
        cmocka_unit_test(chunks_decide_as_one_batch),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
