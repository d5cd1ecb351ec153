#include "pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
/* Waiters by what they may take: a freed slot wakes one writer and one reader; a reader that
 * finds only the reserved slot left waits again. */
static pthread_cond_t g_freed_write = PTHREAD_COND_INITIALIZER, g_freed_read = PTHREAD_COND_INITIALIZER,
                      g_freed_health = PTHREAD_COND_INITIALIZER;
static pool_slot_t *g_slots;   /* size request slots, then the health slot */
static pool_slot_t **g_free;   /* stack of free request slots */
static size_t g_size, g_nfree;
static size_t g_reserved;      /* free slots a read leaves to writes */
static bool g_health_busy;

void pool_init(size_t size)
{
    g_slots = calloc(size + 1, sizeof *g_slots);
    g_free = calloc(size, sizeof *g_free);
    if (!g_slots || !g_free)
        log_oom();
    g_size = g_nfree = size;
    g_reserved = size >= 2 ? 1 : 0;
    g_health_busy = false;
    for (size_t i = 0; i < size; i++)
        g_free[i] = &g_slots[i];
}

static bool can_take(pool_use_t use)
{
    switch (use) {
    case POOL_READ: return g_nfree > g_reserved;
    case POOL_WRITE: return g_nfree > 0;
    case POOL_HEALTH: return !g_health_busy;
    }
    return false;
}

static pthread_cond_t *cond_of(pool_use_t use)
{
    return use == POOL_READ ? &g_freed_read : use == POOL_WRITE ? &g_freed_write : &g_freed_health;
}

pool_slot_t *pool_acquire(pool_use_t use, int timeout_ms)
{
    struct timespec until;
    clock_gettime(CLOCK_REALTIME, &until);
    until.tv_sec += timeout_ms / 1000;
    until.tv_nsec += (long)(timeout_ms % 1000) * 1000000L;
    if (until.tv_nsec >= 1000000000L) {
        until.tv_sec++;
        until.tv_nsec -= 1000000000L;
    }
    pthread_mutex_lock(&g_lock);
    while (!can_take(use))
        if (pthread_cond_timedwait(cond_of(use), &g_lock, &until) == ETIMEDOUT)
            break;
    pool_slot_t *s = NULL;
    if (can_take(use)) {
        if (use == POOL_HEALTH) {
            g_health_busy = true;
            s = &g_slots[g_size];
        } else {
            s = g_free[--g_nfree];
        }
    }
    pthread_mutex_unlock(&g_lock);
    return s;
}

void pool_release(pool_slot_t *slot)
{
    if (!slot)
        return;
    pthread_mutex_lock(&g_lock);
    if (slot == &g_slots[g_size]) {
        g_health_busy = false;
        pthread_cond_signal(&g_freed_health);
    } else {
        g_free[g_nfree++] = slot;
        pthread_cond_signal(&g_freed_write);
        pthread_cond_signal(&g_freed_read);
    }
    pthread_mutex_unlock(&g_lock);
}

void pool_destroy(void)
{
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; g_slots && i <= g_size; i++) {
        db_destroy(&g_slots[i].db);
        cmdclient_destroy(&g_slots[i].cmd);
        cmdclient_destroy(&g_slots[i].tally);
    }
    free(g_slots);
    free(g_free);
    g_slots = NULL;
    g_free = NULL;
    g_size = g_nfree = 0;
    pthread_mutex_unlock(&g_lock);
}
