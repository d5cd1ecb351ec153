/* receipt: delivery receipts (receipt.h). */
#include "receipt.h"

#include <string.h>

#include "db.h"
#include "log.h"
#include "timefmt.h"
#include "uuid.h"

static const char APPLY_SQL[] =
    "UPDATE notify.message SET state = $4, receipt_at = $5::timestamptz, last_code = coalesce($6, last_code)"
    " WHERE ((provider = $2 AND provider_msgid = $3) OR id = $1::uuid)"
    "   AND state IN ('sent', 'delivered', 'failed')"
    "   AND (receipt_at IS NULL OR receipt_at <= $5::timestamptz)";

static const char *str(const json_t *o, const char *k)
{
    const json_t *v = json_object_get(o, k);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

bool receipt_apply(PGconn *conn, const json_t *data, char *err, size_t errsz)
{
    const char *provider = str(data, "provider"), *id = str(data, "message_id"), *msgid = str(data, "provider_msgid"),
               *status = str(data, "status"), *code = str(data, "code"), *at = str(data, "reported_at");
    int64_t at_us;
    bool known = provider && (strcmp(provider, "aliyun") == 0 || strcmp(provider, "tencent") == 0 ||
                              strcmp(provider, "wechat") == 0);
    if (!known || !status || !at || (!id && !msgid) || (id && !uuid_valid(id)) ||
        (strcmp(status, "delivered") != 0 && strcmp(status, "failed") != 0) || !timefmt_parse(at, &at_us) ||
        (msgid && strlen(msgid) > 128) || (code && strlen(code) > 64)) {
        log_warn("channel.receipt does not match its schema: skipped");
        return true;
    }
    const char *p[] = {id, provider, msgid, status, at, code};
    PGresult *r = db_pq_exec(conn, APPLY_SQL, 6, p, err, errsz, NULL);
    if (!r)
        return false;
    if (strcmp(PQcmdTuples(r), "0") == 0)
        log_info("channel.receipt from %s for %s matches no message that went out: nothing changed", provider,
                 id ? id : "a provider message id");
    PQclear(r);
    return true;
}
