#include "resident_rating.h"

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "cmdclient.h"
#include "db.h"
#include "intake.h"
#include "log.h"
#include "uuid.h"

const char *resident_rating_word(const char *text)
{
    if (!text)
        return NULL;
    char t[32];
    while (*text == ' ' || *text == '\t' || *text == '\r' || *text == '\n')
        text++;
    size_t n = strlen(text);
    if (n >= sizeof t)
        return NULL;
    memcpy(t, text, n + 1);
    while (n && strchr(" \t\r\n.", t[n - 1]))
        t[--n] = '\0';
    if (n >= 3 && !strcmp(t + n - 3, "。"))
        t[n -= 3] = '\0';
    if (!strcmp(t, "1") || !strcmp(t, "满意"))
        return "satisfied";
    if (!strcmp(t, "2") || !strcmp(t, "基本满意"))
        return "basic";
    if (!strcmp(t, "3") || !strcmp(t, "不满意"))
        return "unsatisfied";
    return NULL;
}

/* The reporter's last resolved ticket: by the phone it was filed with, or the openid that filed
 * it by WeChat. Planned for its values (an unnamed statement): an absent $1 or $2 drops its
 * branch, and what is left is a lookup in ticket_phone or ticket_wechat_account (migration 023). */
const char RESIDENT_LAST_RESOLVED_SQL[] =
    "SELECT t.code FROM intake.ticket t JOIN router.ticket_status s ON s.ticket_id = t.id"
    " WHERE s.state = 'resolved'"
    " AND (($1::text IS NOT NULL AND t.phone = $1) OR ($2::text IS NOT NULL AND t.channel = 'wechat' AND t.account_id = $2))"
    " ORDER BY s.updated_at DESC, t.id DESC LIMIT 1";

rate_status_t resident_rate(const struct intake *app, PGconn *c, const char *phone, const char *openid,
                            const char *rating, const char *proof, const char *command_key, char code_out[32],
                            char *why, size_t whysz)
{
    code_out[0] = '\0';
    char err[256];
    const char *p[] = {phone && *phone ? phone : NULL, openid && *openid ? openid : NULL};
    PGresult *r = db_pq_exec(c, RESIDENT_LAST_RESOLVED_SQL, 2, p, err, sizeof err, NULL);
    if (!r) {
        snprintf(why, whysz, "database: %s", err);
        return RATE_UNAVAILABLE;
    }
    if (PQntuples(r) == 0) {
        PQclear(r);
        snprintf(why, whysz, "none: no resolved ticket of this resident");
        return RATE_NOTHING;
    }
    snprintf(code_out, 32, "%s", PQgetvalue(r, 0, 0));
    PQclear(r);
    char id[UUID_STR_LEN];
    const char *name[] = {"channel-rating", command_key};
    uuid_from_name(name, 2, id);
    cmdclient_t *cc = intake_router(app, err, sizeof err);
    json_t *cmd = json_pack("{s:s,s:s,s:s,s:s,s:s}", "id", id, "action", "rate", "ticket", code_out, "rating", rating,
                            "proof", proof);
    /* short: a WeChat answer is due within 5 s */
    json_t *rep = cc ? cmdclient_call(cc, cmd, 1500, 2, err, sizeof err) : NULL;
    json_decref(cmd);
    if (!rep) {
        snprintf(why, whysz, "router: %s", err);
        return RATE_UNAVAILABLE;
    }
    int status = (int)json_integer_value(json_object_get(rep, "status"));
    const char *ecode = json_string_value(json_object_get(json_object_get(json_object_get(rep, "body"), "error"), "code"));
    rate_status_t st = status == 200 ? RATE_DONE : RATE_NOTHING;
    if (st == RATE_DONE)
        snprintf(why, whysz, "rated %s %s", code_out, rating);
    else
        snprintf(why, whysz, "none: the router answered %d %s for %s", status, ecode ? ecode : "", code_out);
    json_decref(rep);
    return st;
}
