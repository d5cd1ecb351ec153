/* intake: the daemon's shared context, built by main.c and borrowed by every handler. */
#ifndef INTAKE_INTAKE_H
#define INTAKE_INTAKE_H

#include <stdbool.h>
#include <stddef.h>

#include "bus.h"
#include "channels.h"
#include "cmdclient.h"
#include "db.h"
#include "field.h"
#include "http.h"
#include "rating_guard.h"
#include "ratelimit.h"
#include "relay.h"

typedef struct intake {
    const char *conninfo;
    const char *public_url; /* e.g. http://127.0.0.1:8080, for Open311 discovery */
    relay_t *relay;         /* rung after every committed ticket */
    bus_t *bus;             /* ZeroMQ context and CURVE keys, shared by the relay and command clients */
    const char *router_endpoint;
    const char *tally_endpoint;  /* tally's command socket (motions and ballots) */
    rating_guard_t rating_guard; /* failed rating attempts allowed */
    ratelimit_t *limits;    /* per API key and staff token (dispatch.c) */
    int list_max_days;           /* the widest window of the native ticket list (paging.h) */
    channels_cfg_t channels;     /* WeChat and SMS callbacks (channels.h) */
    field_cfg_t field;           /* field work (field.h) */
} intake_t;

/* The current request's PostgreSQL connection and router and tally command clients, from the pool slot
 * the request holds until its answer is ready (request.c). NULL with err when none is free or
 * reachable. */
db_t *intake_db(const intake_t *app, char *err, size_t errsz);
cmdclient_t *intake_router(const intake_t *app, char *err, size_t errsz);
/* The same for tally's command socket (tally_endpoint, key tally.pub). */
cmdclient_t *intake_tally(const intake_t *app, char *err, size_t errsz);

/* The request router: one function per route lives in open311.c and api.c. */
void intake_dispatch(const http_req_t *req, http_resp_t *resp, void *app);

void open311_handle(const intake_t *app, const http_req_t *req, http_resp_t *resp, const char *subpath);
void api_tickets_handle(const intake_t *app, const http_req_t *req, http_resp_t *resp, const char *subpath);
/* Staff and resident actions through the router; false when the path is not one of its own. */
bool api_staff_handle(const intake_t *app, const http_req_t *req, http_resp_t *resp);
/* Motions, ballots and results (tally); false when the path is not under /api/v1/motions. */
bool api_motions_handle(const intake_t *app, const http_req_t *req, http_resp_t *resp);

/* SHA-256 over method, path, query and body: what makes two requests "the same" for an
 * Idempotency-Key (request.c). */
void intake_request_hash(const http_req_t *req, unsigned char out[32]);

#endif
