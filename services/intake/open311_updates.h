/* open311_updates: the mySociety Open311 extension GET servicerequestupdates.{json,xml}
 * (http://www.mysociety.org/2013/02/20/open311-extended/): what happened to requests in a
 * window of time, one request_update per transition (router.ticket_history). */
#ifndef INTAKE_OPEN311_UPDATES_H
#define INTAKE_OPEN311_UPDATES_H

#include <jansson.h>

#include "http.h"
#include "intake.h"
#include "render.h"

/* start_date, end_date (W3C datetimes with a zone; at most 90 days apart; default the last 24
 * hours by the injected clock), page, page_size (1-1000, default 1000) from args. */
void open311_updates(const intake_t *app, const json_t *args, fmt_t f, http_resp_t *resp);

#endif
