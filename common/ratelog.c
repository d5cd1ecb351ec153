#include "ratelog.h"

#include <time.h>

bool ratelog_allow(ratelog_t *self, long *held)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    int64_t now = (int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (self->window_start_ms == 0 || now - self->window_start_ms >= self->window_ms) {
        self->window_start_ms = now;
        self->used = 0;
    }
    if (self->used >= self->per_window) {
        self->held++;
        return false;
    }
    self->used++;
    *held = self->held;
    self->held = 0;
    return true;
}
