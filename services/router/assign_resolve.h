/* assign_resolve: the order-dependent half of 派单 for a batch of new tickets.
 *
 * router.assign_plan (migration 007) reads, for every ticket of a batch, where it lives, the
 * earliest open ticket it could follow, the earlier tickets of the same batch near enough to
 * follow, and who can hold it with their load. What each ticket becomes depends on the ones before
 * it in the batch, exactly as if they had been assigned one at a time in commit order:
 *   - it follows (merged) the earliest of: the open ticket found in the database, and the earlier
 *     tickets of the batch that were themselves assigned (not merged) — by received time, then id;
 *   - otherwise it is assigned to its unit's person on duty: best tier first, then the fewest open
 *     tickets counting the ones this batch has just given them, then the lowest id.
 * Pure: no I/O. Ownership: every pointer in an item is borrowed from the caller. */
#ifndef ROUTER_ASSIGN_RESOLVE_H
#define ROUTER_ASSIGN_RESOLVE_H

#include <stddef.h>
#include <stdint.h>

typedef struct {
    int64_t id;
    int tier;      /* lower is preferred */
    int64_t load;  /* open tickets before this batch */
} assign_staff_t;

typedef enum { ASSIGN_SKIP, ASSIGN_ASSIGNED, ASSIGN_MERGED } assign_outcome_t;

typedef struct {
    /* in: the ticket */
    int64_t ticket_id;
    const char *code;
    int64_t received_us;
    int64_t unit_id;               /* where it goes when assigned; 0 = none found */
    int routed;                    /* already routed, or earlier in the batch (a replay): skipped */
    /* in: the open ticket it could follow (dup_id 0 = none) */
    int64_t dup_id, dup_received_us, dup_unit_id;
    const char *dup_code;
    /* in: indexes (into the batch) of earlier tickets near enough to follow, ascending */
    const int *near;
    size_t nnear;
    /* in: who can hold it, any order */
    const assign_staff_t *staff;
    size_t nstaff;
    /* out */
    assign_outcome_t outcome;
    int64_t assignee_id;           /* 0 = nobody on duty there */
    int64_t merged_into, merged_unit_id;
    const char *merged_code;
} assign_item_t;

/* What the batch has given each person so far (the loads router.assign_plan read do not include
 * it). Zero-initialize; assign_given_free() releases it. */
typedef struct {
    int64_t *id, *added;
    size_t n, cap;
} assign_given_t;

/* Decides items[from..to) in order; earlier items (indexes below from, decided by an earlier call
 * with the same given) count as the batch's earlier tickets. */
void assign_resolve_range(assign_item_t *items, size_t from, size_t to, assign_given_t *given);
void assign_given_free(assign_given_t *given);

/* Decides items[0..n) in order. */
void assign_resolve(assign_item_t *items, size_t n);

#endif
