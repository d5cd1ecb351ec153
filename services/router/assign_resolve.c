#include "assign_resolve.h"

#include <stdbool.h>
#include <stdlib.h>

#include "log.h"

static int64_t *given_slot(assign_given_t *g, int64_t staff_id)
{
    for (size_t i = 0; i < g->n; i++)
        if (g->id[i] == staff_id)
            return &g->added[i];
    if (g->n == g->cap) {
        g->cap = g->cap ? 2 * g->cap : 16;
        g->id = realloc(g->id, g->cap * sizeof *g->id);
        g->added = realloc(g->added, g->cap * sizeof *g->added);
        if (!g->id || !g->added)
            log_oom();
    }
    g->id[g->n] = staff_id;
    g->added[g->n] = 0;
    return &g->added[g->n++];
}

static bool earlier(int64_t at_a, int64_t id_a, int64_t at_b, int64_t id_b)
{
    return at_a < at_b || (at_a == at_b && id_a < id_b);
}

static int64_t pick_duty(const assign_item_t *it, assign_given_t *g)
{
    const assign_staff_t *best = NULL;
    int64_t best_load = 0;
    for (size_t k = 0; k < it->nstaff; k++) {
        const assign_staff_t *s = &it->staff[k];
        int64_t load = s->load + *given_slot(g, s->id);
        if (!best || s->tier < best->tier || (s->tier == best->tier && (load < best_load ||
                                                                         (load == best_load && s->id < best->id)))) {
            best = s;
            best_load = load;
        }
    }
    if (!best)
        return 0;
    (*given_slot(g, best->id))++;
    return best->id;
}

void assign_resolve_range(assign_item_t *items, size_t from, size_t to, assign_given_t *g)
{
    for (size_t j = from; j < to; j++) {
        assign_item_t *it = &items[j];
        it->assignee_id = it->merged_into = it->merged_unit_id = 0;
        it->merged_code = NULL;
        if (it->routed) {
            it->outcome = ASSIGN_SKIP;
            continue;
        }
        /* the original to follow: the earliest candidate, in the database or earlier in the batch */
        const assign_item_t *orig = NULL;
        if (it->dup_id) {
            it->merged_into = it->dup_id;
            it->merged_unit_id = it->dup_unit_id;
            it->merged_code = it->dup_code;
        }
        for (size_t k = 0; k < it->nnear; k++) {
            int i = it->near[k];
            if (i < 0 || (size_t)i >= j || items[i].outcome != ASSIGN_ASSIGNED)
                continue;
            const assign_item_t *c = &items[i];
            bool better = orig ? earlier(c->received_us, c->ticket_id, orig->received_us, orig->ticket_id)
                        : !it->merged_into || earlier(c->received_us, c->ticket_id, it->dup_received_us, it->dup_id);
            if (better)
                orig = c;
        }
        if (orig) {
            it->merged_into = orig->ticket_id;
            it->merged_unit_id = orig->unit_id;
            it->merged_code = orig->code;
        }
        if (it->merged_into) {
            it->outcome = ASSIGN_MERGED;
            continue;
        }
        it->outcome = ASSIGN_ASSIGNED;
        it->assignee_id = pick_duty(it, g);
    }
}

void assign_given_free(assign_given_t *g)
{
    free(g->id);
    free(g->added);
    *g = (assign_given_t){0};
}

void assign_resolve(assign_item_t *items, size_t n)
{
    assign_given_t g = {0};
    assign_resolve_range(items, 0, n, &g);
    assign_given_free(&g);
}
