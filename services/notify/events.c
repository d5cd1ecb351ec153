/* events: the consumer's dispatch by event type (events.h). */
#include "events.h"

#include <string.h>

#include "plan.h"
#include "receipt.h"

bool events_on_event(PGconn *conn, const json_t *envelope, const char *raw, void *arg, char *err, size_t errsz)
{
    (void)raw;
    const char *type = json_string_value(json_object_get(envelope, "type"));
    if (type && strcmp(type, "channel.receipt") == 0)
        return receipt_apply(conn, json_object_get(envelope, "data"), err, errsz);
    return plan_on_event(conn, envelope, arg, err, errsz);
}
