/* limits: per-recipient rate limits (limits.h). */
#include "limits.h"

#include <stdbool.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"

/* The max-th most recent dispatch to this address inside the window (OFFSET max-1): when there is
 * one, the window is full until that one leaves it. */
static const char RULE_SQL[] =
    "SELECT (extract(epoch FROM claimed_at) * 1000000)::bigint FROM notify.message"
    " WHERE channel = $1 AND address = $2 AND id <> $3::uuid"
    "   AND state IN ('sending', 'sent', 'delivered', 'failed')"
    "   AND claimed_at > to_timestamp($4::bigint / 1e6) - make_interval(secs => $5::int)"
    "   AND ($6 = '' OR template_key = $6)"
    " ORDER BY claimed_at DESC OFFSET $7::int - 1 LIMIT 1";

/* One rule: updates *nb when the window is full. False on a database error. */
static int rule(PGconn *conn, const char *id, const char *channel, const char *address, const char *tmpl,
                int64_t now_us, int window_s, int max, int64_t *nb, char *err, size_t errsz)
{
    if (window_s <= 0 || max <= 0)
        return 1;
    char now[24], win[16], mx[16];
    snprintf(now, sizeof now, "%lld", (long long)now_us);
    snprintf(win, sizeof win, "%d", window_s);
    snprintf(mx, sizeof mx, "%d", max);
    const char *p[] = {channel, address, id, now, win, tmpl, mx};
    PGresult *r = db_pq_exec(conn, RULE_SQL, 7, p, err, errsz, NULL);
    if (!r)
        return 0;
    if (PQntuples(r) == 1) {
        int64_t until = strtoll(PQgetvalue(r, 0, 0), NULL, 10) + (int64_t)window_s * 1000000;
        if (until > *nb)
            *nb = until;
    }
    PQclear(r);
    return 1;
}

int64_t limits_not_before(PGconn *conn, const limits_t *l, const char *id, const char *channel, const char *address,
                          const char *template_key, int64_t now_us, char *err, size_t errsz)
{
    int64_t nb = 0;
    bool ok = true;
    if (strcmp(channel, "sms") == 0) {
        ok = rule(conn, id, channel, address, template_key, now_us, l->sms_same_template_s, 1, &nb, err, errsz) &&
             rule(conn, id, channel, address, "", now_us, 3600, l->sms_per_hour, &nb, err, errsz) &&
             rule(conn, id, channel, address, "", now_us, 86400, l->sms_per_day, &nb, err, errsz);
    } else if (strcmp(channel, "wecom_robot") == 0) {
        ok = rule(conn, id, channel, address, "", now_us, 60, l->wecom_robot_per_min, &nb, err, errsz);
    } else if (strcmp(channel, "wecom_app") == 0) {
        ok = rule(conn, id, channel, address, "", now_us, 60, l->wecom_app_per_min, &nb, err, errsz);
    }
    return ok ? nb : -1;
}
