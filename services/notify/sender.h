/* sender: sends the due messages of notify.message through the providers, many at a time, without
 * ever blocking the daemon's loop.
 *
 * Claims: due pending rows, and rows whose lease ran out (a notify killed mid-call), are claimed with
 * FOR UPDATE SKIP LOCKED: state 'sending', lease_until = now + lease_s, leased_by = this instance, so
 * several notify instances share the work and none sends what another holds. A claimed message is
 * then checked (opt-out, quiet hours, rate limits: delivery.h says what each does), handed to its
 * provider (provider.h) and its transfer added to one libcurl multi handle. Every outcome goes
 * through delivery_apply (delivery.h), the one place a message changes state.
 *
 * The loop: the daemon polls sender_pollitems' sockets (libcurl's, as fd items of zmq_poll) with at
 * most sender_timeout_ms, then calls sender_run. Domain time (due_at, leases, quiet hours, backoff)
 * comes from the injected clock (gclock_now_us).
 *
 * Shutdown: sender_destroy abandons transfers in flight and gives their messages back (pending, due
 * now, no attempt counted); a provider that had already taken one sees it again under the same id
 * (its provider key), which is how providers recognise a resend.
 *
 * Ownership: sender_new borrows the database handle and the providers (they must outlive it). */
#ifndef GRIDGOV_NOTIFY_SENDER_H
#define GRIDGOV_NOTIFY_SENDER_H

#include <stdbool.h>
#include <stdint.h>
#include <zmq.h>

#include "db.h"
#include "limits.h"
#include "providers.h"
#include "quiet.h"

typedef struct {
    const char *instance;   /* leased_by: host:pid, unique among running instances (copied) */
    int concurrency;        /* transfers in flight at most */
    int lease_s;            /* a claim's length: longer than provider_timeout_ms */
    int max_attempts;       /* calls before a transient failure becomes a dead letter */
    int64_t backoff_base_ms;
    int64_t backoff_max_ms;
    int idle_ms;            /* how often to look for due messages when nothing woke the sender */
    quiet_t quiet;
    limits_t limits;
} sender_opts_t;

typedef struct sender sender_t;

sender_t *sender_new(const sender_opts_t *opts, db_t *db, providers_t *providers, char *err, size_t errsz);
void sender_destroy(sender_t **self);

/* Writes up to max poll items (libcurl's sockets, socket NULL and fd set); returns how many. */
int sender_pollitems(sender_t *self, zmq_pollitem_t *items, int max);
/* Milliseconds until the sender has something to do (a curl timer, the next look for due rows). */
int sender_timeout_ms(const sender_t *self);
/* After the poll: drives the transfers (items: what sender_pollitems wrote, with revents), records
 * finished ones, claims more. Returns how many messages reached an outcome, -1 when the database
 * could not be reached (nothing is lost; try again later). */
int sender_run(sender_t *self, const zmq_pollitem_t *items, int n);
/* Something may have become due (the consumer planned messages): look now. */
void sender_kick(sender_t *self);
/* Transfers in flight. */
int sender_in_flight(const sender_t *self);

/* The claim statement ($1 now in epoch microseconds, $2 instance, $3 how many, $4 lease seconds),
 * for tests of its plan: a claim must not read the whole backlog. */
const char *sender_claim_sql(void);

#endif
