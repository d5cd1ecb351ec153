/* pool: nobody starves the rest (services/intake/pool.h). Reads never take the last free slot of
 * a pool of two or more, so a write always finds one; the health check has its own slot, one
 * check at a time; a pool of one serves reads. No database is touched: slots connect lazily. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <pthread.h>
#include <stdatomic.h>
#include <time.h>
#include <unistd.h>

#include "pool.h"

static void reads_leave_the_last_slot_to_writes(void **state)
{
    (void)state;
    pool_init(4);
    pool_slot_t *r[3];
    for (int i = 0; i < 3; i++)
        assert_non_null(r[i] = pool_acquire(POOL_READ, 0));
    /* a fourth read waits for a slot and gets none, however many are asked */
    assert_null(pool_acquire(POOL_READ, 50));
    /* the write gets the last one at once */
    pool_slot_t *w = pool_acquire(POOL_WRITE, 0);
    assert_non_null(w);
    assert_null(pool_acquire(POOL_WRITE, 50));
    /* the health check is not in the pool at all */
    pool_slot_t *h = pool_acquire(POOL_HEALTH, 0);
    assert_non_null(h);
    for (int i = 0; i < 3; i++)
        assert_ptr_not_equal(h, r[i]);
    assert_ptr_not_equal(h, w);
    /* one check at a time */
    assert_null(pool_acquire(POOL_HEALTH, 50));
    pool_release(h);
    assert_non_null(h = pool_acquire(POOL_HEALTH, 0));
    pool_release(h);
    /* a freed read slot: a read takes it only while another stays free for writes */
    pool_release(r[0]);
    assert_null(pool_acquire(POOL_READ, 20));
    pool_release(w);
    assert_non_null(r[0] = pool_acquire(POOL_READ, 0));
    for (int i = 0; i < 3; i++)
        pool_release(r[i]);
    pool_destroy();
}

static void a_pool_of_one_serves_reads(void **state)
{
    (void)state;
    pool_init(1);
    pool_slot_t *r = pool_acquire(POOL_READ, 0);
    assert_non_null(r);
    assert_null(pool_acquire(POOL_WRITE, 20));
    pool_release(r);
    assert_non_null(r = pool_acquire(POOL_WRITE, 0));
    pool_release(r);
    pool_destroy();
}

typedef struct {
    pool_use_t use;
    pool_slot_t *_Atomic got; /* read by the test while the waiter may still write it */
} waiter_t;

static void *wait_for_slot(void *p)
{
    waiter_t *w = p;
    atomic_store(&w->got, pool_acquire(w->use, 5000));
    return NULL;
}

/* A write waiting behind reads is woken by the next slot freed, and a read waiting beside it
 * is not given the slot the write needs. */
static void a_freed_slot_goes_to_the_waiting_write(void **state)
{
    (void)state;
    pool_init(2);
    pool_slot_t *r = pool_acquire(POOL_READ, 0);
    pool_slot_t *w0 = pool_acquire(POOL_WRITE, 0);
    assert_non_null(r);
    assert_non_null(w0);
    waiter_t reader = {POOL_READ, NULL}, writer = {POOL_WRITE, NULL};
    pthread_t tr, tw;
    assert_int_equal(pthread_create(&tr, NULL, wait_for_slot, &reader), 0);
    assert_int_equal(pthread_create(&tw, NULL, wait_for_slot, &writer), 0);
    usleep(100000);
    pool_release(r);
    usleep(100000);
    /* the read may not take the only free slot: the write has it */
    assert_null(atomic_load(&reader.got));
    pthread_join(tw, NULL);
    assert_non_null(atomic_load(&writer.got));
    /* one slot free: still the writes' */
    pool_release(w0);
    usleep(100000);
    assert_null(atomic_load(&reader.got));
    /* two free: the read takes one */
    pool_release(atomic_load(&writer.got));
    pthread_join(tr, NULL);
    assert_non_null(atomic_load(&reader.got));
    pool_release(atomic_load(&reader.got));
    pool_destroy();
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(reads_leave_the_last_slot_to_writes),
        cmocka_unit_test(a_pool_of_one_serves_reads),
        cmocka_unit_test(a_freed_slot_goes_to_the_waiting_write),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
