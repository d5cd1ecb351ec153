-- Nobody starves the rest (issue 10): every list pages by keyset, newest first, so that the next
-- page is read from an index where the last one ended (services/intake/paging.h).
--
-- The staff queue (GET /api/v1/staff/tickets, through router.ticket_assignment) is ordered by
-- (received_at, ticket_id); without an index on them an operator's queue, which is every
-- ticket, sorted the whole table for each page. The router owns router.ticket and keeps this
-- index as it keeps the others its published views need. The ticket lists of Open311 and the
-- native API read intake.ticket in (requested_at, id) order, which ticket_requested (003)
-- already serves.
CREATE INDEX router_ticket_received ON router.ticket (received_at, ticket_id);
