/* assign: 派单. Places a new ticket in its grid cell, picks the level and unit by category and a
 * person on duty, follows duplicates, and sets the clocks. Also the helpers the lifecycle uses
 * when a ticket moves to another unit (escalation, dispatch after a return). */
#ifndef ROUTER_ASSIGN_H
#define ROUTER_ASSIGN_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "router.h"

typedef struct {
    char level[16];        /* group, village, township, county */
    char office[64];       /* desk tag for township/county handlers, "" = any */
    double sign_hours, resolve_hours, warn_share;
    double dup_radius_m, dup_window_h;
} category_rule_t;

/* The rule for a category; defaults when the category has none (village, 8 h / 40 h). */
bool assign_rule(PGconn *conn, const char *service_code, category_rule_t *out, char *err, size_t errsz)
    __attribute__((warn_unused_result));

/* Hands the ticket to unit_id: its level, the person on duty there (least open tickets), and a
 * new sign-for clock from now. Used by assignment, escalation and dispatch. */
bool assign_hold(router_t *r, PGconn *conn, int64_t ticket_id, int64_t unit_id, const category_rule_t *rule,
                 int64_t now_us, char *err, size_t errsz) __attribute__((warn_unused_result));

/* The parent of a unit (0 for the county). */
bool assign_parent(PGconn *conn, int64_t unit_id, int64_t *parent, char *err, size_t errsz)
    __attribute__((warn_unused_result));

/* The consumer's batch handler for ticket.created (consumer_batch_fn): routes the new tickets of
 * one transaction, in their order, with two SQL calls (router.assign_plan, then assign_resolve()
 * decides, then router.assign_apply). Runs in the consumer's transaction. */
bool assign_on_ticket_batch(PGconn *conn, const json_t *const *envelopes, size_t n, void *router, char *err,
                            size_t errsz);

#endif
