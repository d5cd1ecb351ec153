/* paging: the bounds every list intake serves keeps, so that no request makes PostgreSQL walk far
 * (README, "Lists: pages, cursors and bounds"). Parsing and checking only; the lists' SQL lives
 * with each list.
 *  - page_size has a maximum per list (the native lists 500, Open311 1000).
 *  - A page number reaches the first PAGING_MAX_ROWS rows of its window and no further
 *    (page * page_size <= 10,000): a page by number is an OFFSET, and PostgreSQL reads and
 *    throws away every row before it, so page 800 of 500 costs what 400,000 rows cost. Deeper
 *    answers 400 with what to do instead: the native lists follow a cursor, Open311 clients
 *    narrow their window.
 *  - A cursor is where the last page ended, (time, id) of its last row: the next page is read
 *    from the index (ticket_requested on intake.ticket, router_ticket_received on router.ticket)
 *    from there on, at the same cost at any depth. It is opaque to clients (base64url); any
 *    value it decodes to is only a position, so a forged one shows nothing a page would not.
 *  - The time window has a widest span (Open311 90 days, the native list list_max_days) and a
 *    default when no dates are given, up to now. */
#ifndef INTAKE_PAGING_H
#define INTAKE_PAGING_H

#include <jansson.h>
#include <stdbool.h>
#include <stdint.h>

#include "ticket_input.h"
#include "timefmt.h"

#define PAGING_MAX_ROWS 10000
#define CURSOR_LEN 64

typedef struct {
    long default_size, max_size;
    const char *instead; /* what a client asking deeper should do, for the error message */
} page_rules_t;

/* page and page_size from args (absent or empty: 1 and default_size). False with e: 400
 * invalid_page out of range, 400 page_too_deep past PAGING_MAX_ROWS. */
bool paging_page(const json_t *args, const page_rules_t *rules, long *page, long *page_size, input_error_t *e)
    __attribute__((warn_unused_result));

typedef struct {
    int64_t at_us; /* the row's time, microseconds since the epoch */
    long long id;  /* its id: rows of the same time are ordered by it */
} cursor_t;

/* Writes c as the opaque text clients send back. */
void cursor_encode(const cursor_t *c, char out[CURSOR_LEN]);
/* The "cursor" parameter of args: *has false when absent. False with e (400 invalid_cursor)
 * when it is not a cursor intake wrote, or when a page number is given with it. */
bool paging_cursor(const json_t *args, bool *has, cursor_t *c, input_error_t *e) __attribute__((warn_unused_result));
/* A keyset page's parameters: "page_size" from 1 to max (*page_size keeps its default when absent;
 * 400 invalid_page otherwise) and the cursor as paging_cursor(). */
bool paging_keyset(const json_t *args, long max, long *page_size, bool *has, cursor_t *c, input_error_t *e)
    __attribute__((warn_unused_result));
/* A time as PostgreSQL reads it back to the microsecond ("2026-11-29T07:40:01.000001Z"). */
void paging_time_text(int64_t at_us, char out[TIMEFMT_LEN]);

typedef struct {
    const char *since, *until; /* the parameters' names, for errors */
    int64_t max_span_us;       /* the widest window */
    int64_t default_span_us;   /* the window up to now when neither is given, back from until alone */
} window_rules_t;

typedef struct {
    int64_t start_us, end_us;
    bool open_end; /* neither given: from now - default span to whatever is newest */
} window_t;

/* The window from the since and until texts (NULL: absent): both given, as given; since alone,
 * max_span from it; until alone, default_span back from it. False with e: 400 invalid_time (not
 * ISO 8601 with a zone), invalid_range (until before since), range_too_wide (wider than
 * max_span). */
bool paging_window(const char *since, const char *until, const window_rules_t *rules, int64_t now_us, window_t *w,
                   input_error_t *e) __attribute__((warn_unused_result));

#endif
