/* sla: the clocks (红黄灯). One tick looks at the deadlines that have passed by the injected clock
 * and moves each ticket through the lifecycle, one transaction per ticket:
 *   resolve deadline missed  -> overdue: supervision order one level up, escalated (ACT_OVERDUE)
 *   sign-for deadline missed -> re-dispatched one level up (ACT_ESCALATE)
 *   a warning share reached  -> ticket.warning (yellow light), once per clock
 *   resolved and not rated within unrated_close_s -> closed as unrated (ACT_CLOSE_UNRATED)
 * Each sweep and each yellow light looks only at the states the lifecycle table lets its action
 * start from (lifecycle_states_from), so a change to the table moves the clocks with it. */
#ifndef ROUTER_SLA_H
#define ROUTER_SLA_H

#include <stdint.h>

#include "router.h"

/* Returns the number of tickets moved, or -1 when the database failed (try again next tick). */
int sla_tick(router_t *r, int64_t now_us);

#endif
