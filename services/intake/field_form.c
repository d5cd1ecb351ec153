/* Online forms (数据线上填报): versioned definitions kept as data (intake.field_form), and
 * submissions checked against the version they name.
 *
 *   GET  /api/v1/field/forms         staff; the active form versions with their definitions
 *   POST /api/v1/field/submissions   grid worker;
 *        {"id": UUID (the app's), "form", "version", "at", "lat"?, "long"?, "answers": {...}}
 *        201 {"id","form","version","tickets":[{"item","code","priority"}]}; the same
 *        submission again 200 with the same tickets and nothing created; another body under a
 *        used id 409 submission_id_reused. An unknown or retired form version, an answer that
 *        does not fit its field, a missing required one or one the version does not have: 400,
 *        nothing stored.
 * Each failed check item of an inspection raises a hazard ticket of the category and priority
 * its definition gives (channel "inspection", placed in the worker's group), in the
 * transaction of the submission (intake.field_submit: through intake.create_ticket, as every
 * ticket), so a resubmission can create none twice. */
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "field.h"
#include "field_form.h"
#include "gclock.h"
#include "intake.h"
#include "render.h"
#include "secret.h"
#include "utf8.h"
#include "uuid.h"

#define TEXT_MAX_DEFAULT 1000
#define LIST_MAX_DEFAULT 100

static bool fail(field_form_error_t *e, const char *code, const char *field, const char *fmt, const char *arg)
{
    snprintf(e->code, sizeof e->code, "%s", code);
    snprintf(e->field, sizeof e->field, "%s", field ? field : "");
    snprintf(e->message, sizeof e->message, fmt, arg ? arg : "");
    return false;
}

static double num(const json_t *def, const char *key, double dflt)
{
    const json_t *v = json_object_get(def, key);
    return json_is_number(v) ? json_number_value(v) : dflt;
}

static bool is_date(const char *s)
{
    long d;
    return field_parse_date(s, &d);
}

/* A public ticket code: the digits intake.create_ticket writes. */
static bool is_ticket_code(const char *s)
{
    size_t n = strlen(s);
    return n >= 13 && n <= 24 && strspn(s, "0123456789") == n;
}

static bool text_ok(const json_t *v, double max)
{
    const char *s = json_string_value(v);
    return s && utf8_valid(s, strlen(s)) && *s && (double)utf8_count(s, strlen(s)) <= max;
}

bool field_form_check(const json_t *definition, const json_t *answers, field_form_result_t *out, field_form_error_t *e)
{
    memset(out, 0, sizeof *out);
    out->failed = json_array();
    out->households = json_array();
    out->tickets = json_array();
    if (!json_is_object(answers))
        return fail(e, "invalid_answers", "answers", "answers is an object of the form's fields%s", NULL);
    const json_t *fields = json_object_get(definition, "fields");
    /* every answer names a field of this version */
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)answers, k, v)
    {
        bool known = false;
        size_t i;
        json_t *f;
        json_array_foreach(fields, i, f) if (!strcmp(json_string_value(json_object_get(f, "code")) ?: "", k)) known = true;
        if (!known)
            return fail(e, "unknown_answer", k, "this form version has no field %s", k);
    }
    size_t i;
    json_t *f;
    json_array_foreach(fields, i, f)
    {
        const char *code = json_string_value(json_object_get(f, "code")), *type = json_string_value(json_object_get(f, "type"));
        if (!code || !type)
            return fail(e, "invalid_form", NULL, "the form's definition is damaged%s", NULL);
        const json_t *a = json_object_get(answers, code);
        if (!a || json_is_null(a)) {
            if (json_is_true(json_object_get(f, "required")))
                return fail(e, "missing_answer", code, "%s is required", code);
            continue;
        }
        bool ok = true;
        const char *want = "";
        if (!strcmp(type, "text")) {
            ok = text_ok(a, num(f, "max", TEXT_MAX_DEFAULT));
            want = "text, not empty, within the form's length";
        } else if (!strcmp(type, "number") || !strcmp(type, "integer")) {
            double x = json_is_number(a) ? json_number_value(a) : NAN;
            ok = isfinite(x) && x >= num(f, "min", -1e15) && x <= num(f, "max", 1e15) &&
                 (!strcmp(type, "number") || json_is_integer(a));
            want = !strcmp(type, "number") ? "a number within the form's range" : "a whole number within the form's range";
        } else if (!strcmp(type, "date")) {
            ok = json_is_string(a) && is_date(json_string_value(a));
            want = "a date YYYY-MM-DD";
        } else if (!strcmp(type, "check")) {
            const char *s = json_string_value(a);
            ok = s && (!strcmp(s, "ok") || !strcmp(s, "fail"));
            want = "\"ok\" or \"fail\"";
            if (ok && !strcmp(s, "fail")) {
                const json_t *spec = json_object_get(f, "fail");
                if (json_is_object(spec)) {
                    json_t *item = json_pack("{s:s,s:s,s:O?,s:O?,s:O?}", "item", code, "label",
                                             json_string_value(json_object_get(f, "label")) ?: code, "service_code",
                                             json_object_get(spec, "service_code"), "priority",
                                             json_object_get(spec, "priority"), "attributes",
                                             json_object_get(spec, "attributes"));
                    json_array_append_new(out->failed, item);
                }
                out->failed_items++;
            }
        } else if (!strcmp(type, "text_list") || !strcmp(type, "ticket_codes")) {
            ok = json_is_array(a) && (double)json_array_size(a) <= num(f, "max", LIST_MAX_DEFAULT);
            size_t j;
            json_t *x;
            json_array_foreach(a, j, x)
            {
                if (!strcmp(type, "text_list"))
                    ok = ok && text_ok(x, 200);
                else
                    ok = ok && json_is_string(x) && is_ticket_code(json_string_value(x));
            }
            if (ok && !strcmp(type, "ticket_codes"))
                json_array_extend(out->tickets, (json_t *)a);
            want = !strcmp(type, "text_list") ? "a list of texts (200 characters each)" : "a list of ticket codes";
        } else if (!strcmp(type, "household")) {
            const char *s = json_string_value(a);
            ok = s && *s && strlen(s) <= 64;
            if (ok)
                json_array_append(out->households, (json_t *)a);
            want = "a registered household's code";
        } else {
            return fail(e, "invalid_form", code, "the form's field %s has an unknown type", code);
        }
        if (!ok) {
            char msg[200];
            snprintf(msg, sizeof msg, "%s: %s", code, want);
            return fail(e, "invalid_answer", code, "%s", msg);
        }
    }
    return true;
}

void field_form_result_free(field_form_result_t *r)
{
    json_decref(r->failed);
    json_decref(r->households);
    json_decref(r->tickets);
    memset(r, 0, sizeof *r);
}

/* ---- the routes ---------------------------------------------------------------------------- */

void field_forms_get(const intake_t *app, const http_req_t *req, http_resp_t *resp)
{
    db_t *db;
    staff_t who;
    if (!field_auth(app, req, resp, &db, &who))
        return;
    char err[256];
    PGresult *r = db_exec(db,
                          "SELECT code, version, kind, name, definition::text FROM intake.field_form WHERE active"
                          " ORDER BY code, version",
                          0, NULL, err, sizeof err, NULL);
    if (!r) {
        field_unavailable(resp, "forms", err);
        return;
    }
    json_t *list = json_array();
    for (int i = 0; i < PQntuples(r); i++) {
        json_t *def = json_loads(PQgetvalue(r, i, 4), 0, NULL);
        json_array_append_new(list, json_pack("{s:s,s:i,s:s,s:s,s:o}", "code", PQgetvalue(r, i, 0), "version",
                                              atoi(PQgetvalue(r, i, 1)), "kind", PQgetvalue(r, i, 2), "name",
                                              PQgetvalue(r, i, 3), "definition", def ? def : json_object()));
    }
    PQclear(r);
    json_t *j = json_pack("{s:o}", "forms", list);
    render_json(resp, 200, j);
    json_decref(j);
}

/* The text that says where a failed item is: the form's first text answer (the reservoir's or
 * the site's name). */
static const char *where_of(const json_t *definition, const json_t *answers)
{
    size_t i;
    json_t *f;
    json_array_foreach(json_object_get(definition, "fields"), i, f)
    {
        if (!strcmp(json_string_value(json_object_get(f, "type")) ?: "", "text")) {
            const char *s = json_string_value(json_object_get(answers, json_string_value(json_object_get(f, "code"))));
            if (s)
                return s;
        }
    }
    return "";
}

static const char *priority_zh(const char *p)
{
    return !strcmp(p, "urgent") ? "紧急" : !strcmp(p, "high") ? "较急" : "一般";
}

/* The tickets' descriptions, written into each failed item (the ticket's text). */
static void describe_failed(json_t *failed, const char *form_name, const json_t *definition, const json_t *answers)
{
    const char *where = where_of(definition, answers);
    const char *note = json_string_value(json_object_get(answers, "note"));
    size_t i;
    json_t *it;
    json_array_foreach(failed, i, it)
    {
        buf_t b = BUF_INIT;
        const char *pr = json_string_value(json_object_get(it, "priority")) ?: "normal";
        buf_printf(&b, "【巡查隐患·%s】%s：%s 未通过", priority_zh(pr), form_name,
                   json_string_value(json_object_get(it, "label")));
        if (*where)
            buf_printf(&b, "（%s）", where);
        if (note && *note)
            buf_printf(&b, "。备注：%s", note);
        json_object_set_new(it, "description", json_string(buf_str(&b)));
        json_object_set_new(it, "priority", json_string(pr));
        json_object_del(it, "label");
        buf_free(&b);
    }
}

static char *array_literal(const json_t *a)
{
    /* {"x","y"}: PostgreSQL's array text, each element quoted with " and \ escaped */
    buf_t b = BUF_INIT;
    buf_putc(&b, '{');
    size_t i;
    json_t *v;
    json_array_foreach(a, i, v)
    {
        buf_puts(&b, i ? ",\"" : "\"");
        for (const char *s = json_string_value(v); *s; s++) {
            if (*s == '"' || *s == '\\')
                buf_putc(&b, '\\');
            buf_putc(&b, *s);
        }
        buf_putc(&b, '"');
    }
    buf_putc(&b, '}');
    return buf_detach(&b);
}

static const char SUBMIT_SQL[] =
    "SELECT created, same_body, item, code, priority FROM intake.field_submit($1::uuid, $2::bigint, $3::bigint, $4,"
    " $5::int, to_timestamp($6::numeric), to_timestamp($7::numeric), $8::float8, $9::float8, $10::jsonb,"
    " decode($11, 'hex'), $12::jsonb, $13::text[], $14::text[])";

void field_submission_post(const intake_t *app, const http_req_t *req, http_resp_t *resp)
{
    db_t *db;
    staff_t who;
    int64_t group;
    if (!field_auth(app, req, resp, &db, &who) || !field_worker(db, &who, resp, &group))
        return;
    json_t *b = field_body(req, resp);
    if (!b)
        return;
    field_form_result_t res = {0};
    PGresult *r = NULL;
    char *body = NULL, *answers = NULL, *failed = NULL, *hh = NULL, *tk = NULL;
    const char *k;
    json_t *v;
    json_object_foreach(b, k, v)
    {
        static const char *const allowed[] = {"id", "form", "version", "at", "lat", "long", "answers", NULL};
        bool ok = false;
        for (const char *const *a = allowed; *a; a++)
            ok = ok || !strcmp(*a, k);
        if (!ok) {
            render_api_error(resp, 400, "invalid_field", k, "a submission has id, form, version, at, lat, long, answers");
            goto out;
        }
    }
    const char *id = json_string_value(json_object_get(b, "id")), *form = json_string_value(json_object_get(b, "form"));
    const json_t *ver = json_object_get(b, "version");
    int64_t at, now = gclock_now_us();
    double lat = 0, lon = 0;
    bool has_point = json_object_get(b, "lat") || json_object_get(b, "long");
    if (!id || !uuid_valid(id)) {
        render_api_error(resp, 400, "invalid_id", "id", "id is the submission's UUID, made by the app once");
        goto out;
    }
    if (!form || !json_is_integer(ver) || json_integer_value(ver) < 1 || json_integer_value(ver) > 100000) {
        render_api_error(resp, 400, "invalid_form", "form", "form (a form's code) and version (a whole number) are required");
        goto out;
    }
    if (!field_time(b, "at", now, app->field.max_skew_us, &at)) {
        render_api_error(resp, 400, "invalid_time", "at", "at is when it was filled in, ISO 8601 with its zone, not in the future");
        goto out;
    }
    if (has_point && !field_latlong(b, &lat, &lon)) {
        render_api_error(resp, 400, "invalid_location", "lat", "lat (-90..90) and long (-180..180) are numbers, both or neither");
        goto out;
    }
    char err[512], state[6], vs[16];
    snprintf(vs, sizeof vs, "%lld", (long long)json_integer_value(ver));
    const char *fp[] = {form, vs};
    r = db_exec(db,
                "SELECT f.definition::text, f.active, f.name, (SELECT string_agg(version::text, ', ' ORDER BY version)"
                " FROM intake.field_form a WHERE a.code = $1 AND a.active)"
                " FROM (SELECT 1) x LEFT JOIN intake.field_form f ON f.code = $1 AND f.version = $2::int",
                2, fp, err, sizeof err, NULL);
    if (!r) {
        field_unavailable(resp, "form", err);
        goto out;
    }
    if (PQgetisnull(r, 0, 0) || PQgetvalue(r, 0, 1)[0] != 't') {
        char msg[300];
        if (PQgetisnull(r, 0, 3))
            snprintf(msg, sizeof msg, "no form %s takes submissions", form);
        else
            snprintf(msg, sizeof msg, "form %s takes version %s, not %s", form, PQgetvalue(r, 0, 3), vs);
        render_api_error(resp, 400, "unknown_form_version", "version", msg);
        goto out;
    }
    json_t *def = json_loads(PQgetvalue(r, 0, 0), 0, NULL);
    char form_name[200];
    snprintf(form_name, sizeof form_name, "%s", PQgetvalue(r, 0, 2));
    PQclear(r);
    r = NULL;
    field_form_error_t fe;
    memset(&fe, 0, sizeof fe);
    const json_t *ans = json_object_get(b, "answers");
    bool valid = def && field_form_check(def, ans, &res, &fe);
    if (valid && !strcmp(form, "house_meeting")) {
        /* matters resolved on the spot and handed on as tickets are matters raised */
        json_int_t raised = json_integer_value(json_object_get(ans, "matters_raised"));
        if (json_integer_value(json_object_get(ans, "resolved_on_site")) + (json_int_t)json_array_size(res.tickets) > raised) {
            valid = false;
            snprintf(fe.code, sizeof fe.code, "invalid_answer");
            snprintf(fe.field, sizeof fe.field, "resolved_on_site");
            snprintf(fe.message, sizeof fe.message, "resolved_on_site and linked_tickets together are at most matters_raised");
        }
    }
    if (!valid) {
        if (!def)
            snprintf(fe.code, sizeof fe.code, "invalid_form"), snprintf(fe.field, sizeof fe.field, "form"),
                snprintf(fe.message, sizeof fe.message, "the form's definition is damaged");
        render_api_error(resp, 400, fe.code, fe.field, fe.message);
        json_decref(def);
        goto out;
    }
    describe_failed(res.failed, form_name, def, ans);
    json_decref(def);

    body = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
    answers = json_dumps(ans, JSON_COMPACT);
    failed = json_dumps(res.failed, JSON_COMPACT);
    hh = array_literal(res.households);
    tk = array_literal(res.tickets);
    char hash[SECRET_HEX_LEN], s[24], g[24], ats[32], rec[32], la[32], lo[32];
    secret_hash_hex(body, hash);
    snprintf(s, sizeof s, "%lld", (long long)who.id);
    snprintf(g, sizeof g, "%lld", (long long)group);
    field_us_text(at, ats);
    field_us_text(now, rec);
    snprintf(la, sizeof la, "%.8f", lat);
    snprintf(lo, sizeof lo, "%.8f", lon);
    const char *p[] = {id, s, g, form, vs, ats, rec, has_point ? la : NULL, has_point ? lo : NULL, answers, hash, failed, hh, tk};
    /* one statement, its own transaction: the submission, its tickets and their events commit
     * together, and the answer is sent after the COMMIT */
    r = db_exec(db, SUBMIT_SQL, 14, p, err, sizeof err, state);
    if (!r) {
        if (!strcmp(state, "GG404")) {
            const char *msg = strchr(err, ':');
            render_api_error(resp, 400, strstr(err, "household") ? "unknown_household" : "unknown_ticket",
                             strstr(err, "household") ? "household" : "linked_tickets", msg ? msg + 2 : err);
        } else {
            field_unavailable(resp, "submission", err);
        }
        goto out;
    }
    bool created = PQntuples(r) > 0 && PQgetvalue(r, 0, 0)[0] == 't';
    bool same = PQntuples(r) > 0 && PQgetvalue(r, 0, 1)[0] == 't';
    if (!created && !same) {
        render_api_error(resp, 409, "submission_id_reused", "id", "another submission was made under this id");
        goto out;
    }
    json_t *tickets = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        if (!PQgetisnull(r, i, 3))
            json_array_append_new(tickets, json_pack("{s:s,s:s,s:s}", "item", PQgetvalue(r, i, 2), "code",
                                                     PQgetvalue(r, i, 3), "priority", PQgetvalue(r, i, 4)));
    json_t *j = json_pack("{s:s,s:s,s:I,s:o}", "id", id, "form", form, "version", json_integer_value(ver), "tickets", tickets);
    render_json(resp, created ? 201 : 200, j);
    json_decref(j);
    if (created && json_array_size(res.failed) > 0)
        relay_ring(app->relay);
out:
    PQclear(r);
    free(body);
    free(answers);
    free(failed);
    free(hh);
    free(tk);
    field_form_result_free(&res);
    json_decref(b);
}
