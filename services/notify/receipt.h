/* receipt: a provider's delivery receipt (proto/channel.receipt.schema.json, emitted by intake)
 * moves a message that went out to delivered or failed. The message is named by message_id, or by
 * provider + provider_msgid. A receipt older than the one already applied changes nothing (they
 * may arrive out of order), and so does one for a message that is not out yet or unknown: a
 * receipt never resurrects or fails a message that was not sent. */
#ifndef GRIDGOV_NOTIFY_RECEIPT_H
#define GRIDGOV_NOTIFY_RECEIPT_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

/* In the consumer's transaction (consumer.h). data: the envelope's data (borrowed). A receipt that
 * does not match the schema is logged and skipped (true: retrying would not fix it); false only on
 * a database error. */
bool receipt_apply(PGconn *conn, const json_t *data, char *err, size_t errsz) __attribute__((warn_unused_result));

#endif
