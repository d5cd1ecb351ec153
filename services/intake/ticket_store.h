/* ticket_store: intake's reads and writes of tickets in PostgreSQL.
 *
 * Durability contract: ticket_store_create() returns STORE_OK only after COMMIT of the ticket
 * and its ticket.created event (one transaction). Callers answer 2xx only on STORE_OK or
 * STORE_REPLAY; anything else must not look like success.
 * Idempotency: with a key, the response the caller renders is stored with the ticket in the same
 * transaction; a retry with the same key and body gets it back (STORE_REPLAY), a retry with the
 * same key and another body gets STORE_KEY_REUSED.
 * Rating code: a ticket filed with a phone gets one (intake.rating_code, the hash only), in the
 * same transaction; the answer carries it. A replay issues a fresh one and renders the answer
 * again with it, since the stored answer cannot hold it: the earlier code stops working. */
#ifndef INTAKE_TICKET_STORE_H
#define INTAKE_TICKET_STORE_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdint.h>

#include "db.h"
#include "http.h"
#include "paging.h"
#include "ticket_input.h"

typedef enum {
    STORE_OK,
    STORE_REPLAY,
    STORE_KEY_REUSED,
    STORE_BAD_INPUT,   /* rejected by the database rules (address_id): see input_error_t */
    STORE_UNAVAILABLE, /* PostgreSQL unreachable or failed: answer 503, nothing was promised */
} store_status_t;

typedef struct {
    long long id;
    char code[32];
    char rating_code[16]; /* the reporter's rating code (rating_code.h), "" when none was issued */
} ticket_created_t;

/* Fills resp (status, content type, body) for a freshly created ticket. Called once with the
 * rating code blank for the answer an Idempotency-Key keeps (the database holds only the code's
 * hash), then with it for the answer sent. */
typedef void (*render_created_fn)(const ticket_created_t *t, http_resp_t *resp, void *arg);

typedef struct {
    const char *scope;        /* api client id as text */
    const char *key;          /* NULL: no idempotency */
    unsigned char hash[32];   /* SHA-256 of what identifies the request */
} idempotency_t;

store_status_t ticket_store_create(db_t *db, const ticket_input_t *in, const char *phone, const json_t *attributes,
                                   int64_t now_us, const idempotency_t *idem, render_created_fn render, void *arg,
                                   http_resp_t *resp, input_error_t *e) __attribute__((warn_unused_result));

/* The columns every read returns, in this order (see TICKET_COLUMNS in ticket_store.c). */
enum {
    TC_CODE, TC_STATUS, TC_STATUS_NOTES, TC_SERVICE_NAME, TC_SERVICE_CODE, TC_DESCRIPTION, TC_AGENCY,
    TC_NOTICE, TC_REQUESTED, TC_UPDATED, TC_EXPECTED, TC_ADDRESS, TC_ADDRESS_ID, TC_LAT, TC_LONG,
    TC_MEDIA_URL, TC_CHANNEL, TC_ATTRIBUTES, TC_ID, TC_AT_US /* requested_at in microseconds, for cursors */,
    TC_NCOLS
};

typedef struct {
    const char *codes;          /* comma list of public codes (overrides the rest), or NULL */
    const char *service_codes;  /* comma list or NULL */
    const char *statuses;       /* comma list or NULL */
    const char *channel;        /* or NULL */
    const char *start;          /* ISO 8601 or NULL */
    const char *end;
    long page, page_size;       /* page from 1, bounded by paging.h; ignored with a cursor */
    bool has_cursor;            /* rows after this one, newest first (not with codes) */
    cursor_t cursor;
} ticket_filter_t;

/* Returns rows (caller PQclears) or NULL with err. One row for get, up to page_size+1 for list
 * (the extra row tells the caller there is a next page). */
PGresult *ticket_store_get(db_t *db, const char *code, char *err, size_t errsz);
PGresult *ticket_store_list(db_t *db, const ticket_filter_t *f, char *err, size_t errsz);
/* The cursor of a listed row: the next page starts after it. */
void ticket_store_cursor(const PGresult *r, int row, cursor_t *c);

#endif
