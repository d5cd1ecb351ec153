/* digest: the daily digest (每日简报) to each supervisor at 08:00 county time (Asia/Shanghai):
 * their area's figures of the day before (received, resolved, resolved on time, from
 * router.closure_stats_daily) and the tickets open past their resolve deadline now (codes, from
 * router.ticket_assignment), by the plan of event type notify.digest (022_notify_plans.sql).
 *
 * Once per supervisor and day: dedup_key "digest/<staff id>/<local date>". A tick at or after
 * 08:00 plans today's digests that are not planned yet; a tick before plans nothing. After an
 * outage the first tick plans today's digest once, and never those of the days it missed (they
 * are yesterday's news: today's has the figures). */
#ifndef GRIDGOV_NOTIFY_DIGEST_H
#define GRIDGOV_NOTIFY_DIGEST_H

#include <libpq-fe.h>
#include <stddef.h>
#include <stdint.h>

#define DIGEST_HOUR 8 /* county time */

/* Called by the daemon's loop every tick, outside a transaction (its insert is one statement).
 * now_us: the injected clock. Returns the digests planned (0 when none is due), -1 with err set
 * on a database error. Between ticks it remembers for a minute that a connection has planned
 * every digest of a day, so most ticks cost no query. */
int digest_tick(PGconn *conn, int64_t now_us, char *err, size_t errsz);

#endif
