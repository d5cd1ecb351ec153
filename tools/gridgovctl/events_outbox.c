#include "events_outbox.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "gclock.h"
#include "log.h"

#define BATCH "500"

/* As a consumer's sweep (common/consumer.c), without its inbox and with the cursor in memory. */
static const char READ_SQL[] =
    "SELECT e.xid::text, e.seq, CASE WHEN starts_with(e.type, $3) THEN e.envelope::text END FROM bus.envelope e"
    " WHERE (e.xid, e.seq) > ($1::xid8, $2::bigint) AND e.xid < pg_snapshot_xmin(pg_current_snapshot())"
    " ORDER BY e.xid, e.seq LIMIT " BATCH;

static void nap(int ms)
{
    struct timespec ts = {ms / 1000, (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

int events_follow_outbox(const outbox_follow_t *o)
{
    char err[512];
    db_t *db = db_connect(o->conninfo, "gridgovctl-events", err, sizeof err);
    if (!db) {
        fprintf(stderr, "gridgovctl: %s\n", err);
        return 1;
    }
    log_info("reading bus.outbox from its first event, then every %d ms", o->poll_ms);
    char xid[32] = "0", seq[32] = "0";
    long printed = 0;
    int64_t last = gclock_mono_ms(), last_complaint = 0;
    while (!*o->stop && (o->count <= 0 || printed < o->count)) {
        const char *p[] = {xid, seq, o->type_prefix};
        PGresult *r = db_exec(db, READ_SQL, 3, p, err, sizeof err, NULL);
        if (!r) {
            /* at most one line every 10 s while the database is away; the position is kept */
            if (gclock_mono_ms() - last_complaint >= 10000) {
                log_warn("reading bus.outbox: %s (trying again)", err);
                last_complaint = gclock_mono_ms();
            }
            nap(o->poll_ms * 5);
            continue;
        }
        int n = PQntuples(r);
        for (int i = 0; i < n && !*o->stop && (o->count <= 0 || printed < o->count); i++) {
            snprintf(xid, sizeof xid, "%s", PQgetvalue(r, i, 0));
            snprintf(seq, sizeof seq, "%s", PQgetvalue(r, i, 1));
            if (PQgetisnull(r, i, 2))
                continue;
            o->print(PQgetvalue(r, i, 2), o->arg);
            printed++;
            last = gclock_mono_ms();
        }
        PQclear(r);
        if (n == 0) {
            if (o->idle_ms > 0 && gclock_mono_ms() - last >= o->idle_ms)
                break;
            nap(o->poll_ms);
        }
    }
    db_destroy(&db);
    return 0;
}
