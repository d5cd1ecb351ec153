#include "plan_write.h"

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "prepared.h"
#include "log.h"
#include "render.h"

enum { C_DEDUP, C_TICKET, C_TEMPLATE, C_AUDIENCE, C_CHANNEL, C_ADDRESS, C_FALLBACK, C_URGENT, C_BODY, C_SMS_PARAMS,
       C_WECHAT_ID, C_WECHAT_FIELDS, C_VARS, C__COUNT };

static const char *const COLUMNS[C__COUNT] = {
    "dedup_key", "ticket_id", "template_key", "audience", "channel", "address", "fallback_phone",
    "urgent", "body", "sms_params", "wechat_template_id", "wechat_fields", "vars",
};

static json_t *col_json(const PGresult *r, int row, int col)
{
    if (PQgetisnull(r, row, col))
        return NULL;
    json_error_t je;
    return json_loads(PQgetvalue(r, row, col), 0, &je);
}

static json_t *col_text(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? json_null() : json_string(PQgetvalue(r, row, col));
}

/* One message row as JSON for the insert, or NULL with err set. */
static json_t *message_row(const PGresult *r, int row, const int *c, char *err, size_t errsz)
{
    const char *channel = PQgetvalue(r, row, c[C_CHANNEL]);
    bool sms = !strcmp(channel, "sms"), wechat = !strcmp(channel, "wechat");
    json_t *vars = col_json(r, row, c[C_VARS]), *names = col_json(r, row, c[C_SMS_PARAMS]);
    json_t *fields = col_json(r, row, c[C_WECHAT_FIELDS]), *params = NULL, *wx = NULL, *out = NULL;
    buf_t body = BUF_INIT;
    if (!vars || !names || !fields) {
        snprintf(err, errsz, "template %s: a JSON column did not parse", PQgetvalue(r, row, c[C_TEMPLATE]));
        goto done;
    }
    if (!render_text(PQgetvalue(r, row, c[C_BODY]), vars, sms ? RENDER_SMS_PARAM_MAX : RENDER_BODY_VALUE_MAX, &body,
                     err, errsz))
        goto done;
    if ((sms || wechat) && !render_sms_params(names, vars, &params, err, errsz))
        goto done;
    if (wechat && !render_wechat(fields, vars, &wx, err, errsz))
        goto done;
    out = json_object();
    json_object_set_new(out, "dedup_key", col_text(r, row, c[C_DEDUP]));
    json_object_set_new(out, "ticket_id", col_text(r, row, c[C_TICKET]));
    json_object_set_new(out, "template_key", col_text(r, row, c[C_TEMPLATE]));
    json_object_set_new(out, "audience", col_text(r, row, c[C_AUDIENCE]));
    json_object_set_new(out, "channel", json_string(channel));
    json_object_set_new(out, "address", col_text(r, row, c[C_ADDRESS]));
    json_object_set_new(out, "fallback_phone", col_text(r, row, c[C_FALLBACK]));
    json_object_set_new(out, "urgent", json_boolean(PQgetvalue(r, row, c[C_URGENT])[0] == 't'));
    json_object_set_new(out, "body", json_string(buf_str(&body)));
    json_object_set_new(out, "params", params ? params : json_object());
    json_object_set_new(out, "wechat_data", wx ? wx : json_null());
    params = wx = NULL;
done:
    if (!out && err[0] == '\0')
        snprintf(err, errsz, "cannot render a message");
    if (!out) {
        /* name the template so a plan that asks for a value its event lacks is found at once */
        char why[256];
        snprintf(why, sizeof why, "%s", err);
        snprintf(err, errsz, "template %s: %s", PQgetvalue(r, row, c[C_TEMPLATE]), why);
    }
    json_decref(vars);
    json_decref(names);
    json_decref(fields);
    json_decref(params);
    json_decref(wx);
    buf_free(&body);
    return out;
}

bool plan_write(PGconn *conn, const PGresult *rows, const char *event_id, int64_t due_us, int *planned, char *err,
                size_t errsz)
{
    *planned = 0;
    int c[C__COUNT];
    for (int i = 0; i < C__COUNT; i++)
        if ((c[i] = PQfnumber(rows, COLUMNS[i])) < 0) {
            snprintf(err, errsz, "the planner's rows have no column %s", COLUMNS[i]);
            return false;
        }
    json_t *batch = json_array();
    for (int i = 0; i < PQntuples(rows); i++) {
        if (PQgetisnull(rows, i, c[C_CHANNEL])) {
            log_debug("notify: %s: no phone and no WeChat binding, nobody to tell", PQgetvalue(rows, i, c[C_DEDUP]));
            continue;
        }
        err[0] = '\0';
        json_t *m = message_row(rows, i, c, err, errsz);
        if (!m) {
            json_decref(batch);
            return false;
        }
        json_array_append_new(batch, m);
    }
    if (json_array_size(batch) == 0) {
        json_decref(batch);
        return true;
    }
    char *text = json_dumps(batch, JSON_COMPACT);
    json_decref(batch);
    if (!text)
        log_oom();
    char due[32];
    snprintf(due, sizeof due, "%lld", (long long)due_us);
    const char *p[] = {event_id, due, text};
    PGresult *r = prepared_exec(
        conn, "notify_plan_write",
        "INSERT INTO notify.message (id, dedup_key, event_id, ticket_id, template_key, audience, channel, address,"
        " fallback_phone, params, wechat_data, body, urgent, due_at)"
        " SELECT gen_random_uuid(), x.dedup_key, $1::uuid, x.ticket_id, x.template_key, x.audience, x.channel,"
        " x.address, x.fallback_phone, x.params, x.wechat_data, x.body, x.urgent,"
        " timestamptz 'epoch' + $2::bigint * interval '1 microsecond'"
        " FROM jsonb_to_recordset($3::jsonb) AS x(dedup_key text, ticket_id bigint, template_key text, audience text,"
        " channel text, address text, fallback_phone text, params jsonb, wechat_data jsonb, body text, urgent boolean)"
        " ON CONFLICT (dedup_key) DO NOTHING",
        3, p, err, errsz);
    free(text);
    if (!r)
        return false;
    *planned = atoi(PQcmdTuples(r));
    PQclear(r);
    return true;
}
