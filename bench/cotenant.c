/* gridgov-cotenant: spends CPU in bursts at a fixed rate and does nothing else, the way an HTTP
 * front and its load generator spend CPU per request, so that bench/run.sh can measure what that
 * CPU alone costs PostgreSQL on the same cores, apart from any latency the front adds.
 *
 *   gridgov-cotenant THREADS CPU_US PERIOD_US SECONDS
 *
 * Each thread, once per PERIOD_US (absolute deadlines, so the rate holds), runs until its own CPU
 * time has grown by CPU_US more, then sleeps until its next period. The budget is counted in the
 * thread's CPU time, so the cost of waking up counts in it as it does in intake's, and a thread
 * kept off the CPU spends its budget late instead of losing it: like intake, which cannot skip a
 * request. At the end it prints "cotenant cpu=P" on stdout: the CPU it used, in % of one core.
 * Exit status 2 on bad arguments. */
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <time.h>

#define MAX_THREADS 64

typedef struct {
    uint64_t cpu_ns, period_ns, end_ns;
} plan_t;

static uint64_t clock_ns(clockid_t id)
{
    struct timespec t;
    clock_gettime(id, &t);
    return (uint64_t)t.tv_sec * 1000000000u + (uint64_t)t.tv_nsec;
}

static void *burn(void *arg)
{
    const plan_t *p = arg;
    volatile uint64_t sink = 0;
    uint64_t next = clock_ns(CLOCK_MONOTONIC);
    uint64_t budget = clock_ns(CLOCK_THREAD_CPUTIME_ID);
    while (next < p->end_ns) {
        budget += p->cpu_ns;
        while (clock_ns(CLOCK_THREAD_CPUTIME_ID) < budget)
            sink = sink + 1;
        next += p->period_ns;
        if (next <= clock_ns(CLOCK_MONOTONIC))
            continue; /* behind: the next burst at once */
        struct timespec at = {.tv_sec = (time_t)(next / 1000000000u), .tv_nsec = (long)(next % 1000000000u)};
        while (clock_nanosleep(CLOCK_MONOTONIC, TIMER_ABSTIME, &at, NULL) == EINTR)
            ;
    }
    return NULL;
}

/* A positive number no larger than max, or 0. */
static double arg_num(const char *s, double max)
{
    char *end;
    double v = strtod(s, &end);
    return (end != s && !*end && v > 0 && v <= max) ? v : 0;
}

int main(int argc, char **argv)
{
    double threads = argc == 5 ? arg_num(argv[1], MAX_THREADS) : 0;
    double cpu_us = argc == 5 ? arg_num(argv[2], 1e6) : 0;
    double period_us = argc == 5 ? arg_num(argv[3], 1e7) : 0;
    double secs = argc == 5 ? arg_num(argv[4], 3600) : 0;
    if (!threads || !cpu_us || !period_us || !secs || cpu_us >= period_us) {
        fprintf(stderr, "usage: %s THREADS(1-%d) CPU_US PERIOD_US SECONDS (CPU_US < PERIOD_US)\n", argv[0],
                MAX_THREADS);
        return 2;
    }
    plan_t p = {.cpu_ns = (uint64_t)(cpu_us * 1e3),
                .period_ns = (uint64_t)(period_us * 1e3),
                .end_ns = clock_ns(CLOCK_MONOTONIC) + (uint64_t)(secs * 1e9)};
    pthread_t t[MAX_THREADS];
    int n = (int)threads;
    for (int i = 0; i < n; i++) {
        if (pthread_create(&t[i], NULL, burn, &p) != 0) {
            fprintf(stderr, "cannot start thread %d\n", i);
            return 1;
        }
    }
    for (int i = 0; i < n; i++)
        pthread_join(t[i], NULL);
    printf("cotenant cpu=%.1f\n", 100.0 * (double)clock_ns(CLOCK_PROCESS_CPUTIME_ID) / 1e9 / secs);
    return 0;
}
