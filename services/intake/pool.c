#include "pool.h"

#include <errno.h>
#include <pthread.h>
#include <stdlib.h>
#include <time.h>

#include "log.h"

static pthread_mutex_t g_lock = PTHREAD_MUTEX_INITIALIZER;
static pthread_cond_t g_freed = PTHREAD_COND_INITIALIZER;
static pool_slot_t *g_slots;
static pool_slot_t **g_free; /* stack of free slots */
static size_t g_size, g_nfree;

void pool_init(size_t size)
{
    g_slots = calloc(size, sizeof *g_slots);
    g_free = calloc(size, sizeof *g_free);
    if (!g_slots || !g_free)
        log_oom();
    g_size = g_nfree = size;
    for (size_t i = 0; i < size; i++)
        g_free[i] = &g_slots[i];
}

pool_slot_t *pool_acquire(int timeout_ms)
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
    while (g_nfree == 0)
        if (pthread_cond_timedwait(&g_freed, &g_lock, &until) == ETIMEDOUT)
            break;
    pool_slot_t *s = g_nfree ? g_free[--g_nfree] : NULL;
    pthread_mutex_unlock(&g_lock);
    return s;
}

void pool_release(pool_slot_t *slot)
{
    if (!slot)
        return;
    pthread_mutex_lock(&g_lock);
    g_free[g_nfree++] = slot;
    pthread_cond_signal(&g_freed);
    pthread_mutex_unlock(&g_lock);
}

void pool_destroy(void)
{
    pthread_mutex_lock(&g_lock);
    for (size_t i = 0; i < g_size; i++) {
        db_destroy(&g_slots[i].db);
        cmdclient_destroy(&g_slots[i].cmd);
    }
    free(g_slots);
    free(g_free);
    g_slots = NULL;
    g_free = NULL;
    g_size = g_nfree = 0;
    pthread_mutex_unlock(&g_lock);
}
