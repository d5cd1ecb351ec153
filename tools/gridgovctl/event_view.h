/* event_view: an event envelope as one line a person reads (gridgovctl events without --json).
 *
 *   2026-12-07T15:40:01+08:00  ticket.created      2612070000001  LIGHT via open311
 *   2026-12-07T15:40:01+08:00  ticket.assigned     2612070000001  new → assigned  九木村 (village)  assignee 37  resolve by 2026-12-10T15:40:01+08:00
 *   2026-12-07T15:41:12+08:00  ticket.accepted     2612070000001  assigned → accepted  九木村 (village)  assignee 37  by 37
 *
 * Times are the county's local time (+08:00, timefmt.h), converted from the envelope's UTC
 * (occurred_at and the deadlines of the data); the envelope itself is unchanged on the bus and
 * with --json. The reporter and the description are not shown. */
#ifndef GRIDGOVCTL_EVENT_VIEW_H
#define GRIDGOVCTL_EVENT_VIEW_H

#include <stdbool.h>

#include "buf.h"

/* Appends the line (without a newline) for the envelope JSON text to out. False, with out
 * unchanged, when the text is not an envelope (not JSON, no type or occurred_at): the caller then
 * shows the text as it came. */
bool event_view_line(const char *envelope_json, buf_t *out) __attribute__((warn_unused_result));

#endif
