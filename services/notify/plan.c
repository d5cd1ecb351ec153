/* plan_on_event: what notify does with an event (the consumer "notify" calls it in its
 * transaction, with the event's inbox row): every enabled plan of the event's type
 * (notify.plan), each of its audience's people (recipients.c), one notify.message each
 * (plan_write.c). Two statements per event whatever the number of people: one read, one insert.
 *
 * Exactly once: a message's dedup_key is "<event id>/<plan>/<recipient>" (unique), so an event
 * the consumer hands over again (a replay after a crash between effect and commit cannot happen,
 * but an operator's replay or a rewound cursor can) plans nothing twice. The messages are due at
 * once (the injected clock, common/gclock); quiet hours and rate limits are the sender's. */
#include "plan.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "gclock.h"
#include "log.h"
#include "plan_write.h"
#include "recipients.h"
#include "uuid.h"

bool plan_on_event(PGconn *conn, const json_t *envelope, void *arg, char *err, size_t errsz)
{
    (void)arg;
    const char *id = json_string_value(json_object_get(envelope, "id"));
    const char *type = json_string_value(json_object_get(envelope, "type"));
    const char *at = json_string_value(json_object_get(envelope, "occurred_at"));
    const json_t *data = json_object_get(envelope, "data");
    if (!id || !uuid_valid(id) || !type || !at || !json_is_object(data)) {
        snprintf(err, errsz, "an envelope without id, type, occurred_at or data");
        return false;
    }
    char *text = json_dumps(data, JSON_COMPACT);
    if (!text)
        log_oom();
    int64_t now = gclock_now_us();
    PGresult *rows = recipients_of_event(conn, id, type, text, at, now, err, errsz);
    free(text);
    if (!rows)
        return false;
    int planned = 0;
    bool ok = plan_write(conn, rows, id, now, &planned, err, errsz);
    if (ok && PQntuples(rows) > 0)
        log_debug("notify: %s %s: %d messages planned", type, id, planned);
    PQclear(rows);
    return ok;
}
