#include "ratelimit.h"

#include <pthread.h>
#include <stdlib.h>
#include <sys/random.h>
#include <time.h>

#include "log.h"

#define PROBE 8 /* slots looked at for a key */

typedef struct {
    uint64_t h;     /* 0: empty */
    int64_t tat_us; /* when the bucket is full again; "now + burst * interval" when empty */
} slot_t;

struct ratelimit {
    pthread_mutex_t lock;
    int64_t interval_us; /* one token's worth of time; 0: no limit */
    int64_t tolerance_us; /* burst * interval */
    uint64_t seed;
    slot_t *slots;
    size_t mask;
};

ratelimit_t *ratelimit_new(long per_minute, long burst, size_t max_keys)
{
    ratelimit_t *self = calloc(1, sizeof *self);
    if (!self)
        log_oom();
    pthread_mutex_init(&self->lock, NULL);
    if (burst < 1)
        burst = 1;
    self->interval_us = per_minute > 0 ? 60000000LL / per_minute : 0;
    if (per_minute > 0 && self->interval_us < 1)
        self->interval_us = 1;
    self->tolerance_us = self->interval_us * burst;
    size_t n = PROBE;
    while (n < max_keys)
        n <<= 1;
    self->slots = calloc(n, sizeof *self->slots);
    if (!self->slots)
        log_oom();
    self->mask = n - 1;
    /* A random seed, so that nobody can make up keys that land on another key's slots. */
    if (getrandom(&self->seed, sizeof self->seed, 0) != (ssize_t)sizeof self->seed)
        self->seed = (uint64_t)time(NULL) * 0x9E3779B97F4A7C15ULL;
    return self;
}

void ratelimit_destroy(ratelimit_t **self)
{
    if (!self || !*self)
        return;
    pthread_mutex_destroy(&(*self)->lock);
    free((*self)->slots);
    free(*self);
    *self = NULL;
}

/* FNV-1a over the seed and the key, never 0. */
static uint64_t hash(uint64_t seed, const void *key, size_t n)
{
    uint64_t h = 0xcbf29ce484222325ULL;
    for (int i = 0; i < 8; i++) {
        h ^= (seed >> (8 * i)) & 0xff;
        h *= 0x100000001b3ULL;
    }
    for (const unsigned char *p = key; n--; p++) {
        h ^= *p;
        h *= 0x100000001b3ULL;
    }
    h ^= h >> 29; /* FNV's low bits mix poorly, and the slot index is taken from them */
    return h ? h : 1;
}

bool ratelimit_take(ratelimit_t *self, const void *key, size_t keylen, int64_t now_ms, int *retry_after_s)
{
    if (!self->interval_us)
        return true;
    int64_t now = now_ms * 1000;
    uint64_t h = hash(self->seed, key, keylen);
    pthread_mutex_lock(&self->lock);
    slot_t *s = NULL, *spare = NULL;
    for (size_t i = 0; i < PROBE && !s; i++) {
        slot_t *c = &self->slots[(h + i) & self->mask];
        if (c->h == h)
            s = c;
        else if (!spare || (spare->h && (!c->h || c->tat_us < spare->tat_us)))
            spare = c; /* empty first, else the bucket nearest to full */
    }
    if (!s) {
        s = spare;
        s->h = h;
        s->tat_us = now;
    }
    int64_t tat = s->tat_us > now ? s->tat_us : now;
    int64_t next = tat + self->interval_us;
    bool ok = next - now <= self->tolerance_us;
    if (ok)
        s->tat_us = next;
    pthread_mutex_unlock(&self->lock);
    if (!ok) {
        int64_t wait_us = next - self->tolerance_us - now;
        *retry_after_s = (int)((wait_us + 999999) / 1000000);
        if (*retry_after_s < 1)
            *retry_after_s = 1;
    }
    return ok;
}
