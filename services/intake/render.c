#include "render.h"

#include <stdlib.h>
#include <string.h>

#include "ticket_store.h"
#include "xmlw.h"

const char CT_JSON[] = "application/json; charset=utf-8";
const char CT_XML[] = "text/xml; charset=utf-8";

static const char *singular(const char *plural, char *tmp, size_t n)
{
    static const char *const map[][2] = {{"attributes", "attribute"}, {"values", "value"},
                                         {"endpoints", "endpoint"}, {"formats", "format"}};
    for (size_t i = 0; i < sizeof map / sizeof map[0]; i++)
        if (!strcmp(plural, map[i][0]))
            return map[i][1];
    size_t l = strlen(plural);
    snprintf(tmp, n, "%.*s", (int)(l > 1 && plural[l - 1] == 's' ? l - 1 : l), plural);
    return tmp;
}

static void xml_value(buf_t *b, const char *name, const json_t *v);

static void xml_children(buf_t *b, const json_t *obj)
{
    const char *k;
    json_t *v;
    json_object_foreach((json_t *)obj, k, v) xml_value(b, k, v);
}

static void xml_value(buf_t *b, const char *name, const json_t *v)
{
    if (json_is_object(v)) {
        xmlw_open(b, name);
        xml_children(b, v);
        xmlw_close(b, name);
    } else if (json_is_array(v)) {
        char tmp[64];
        const char *item = singular(name, tmp, sizeof tmp);
        xmlw_open(b, name);
        size_t i;
        json_t *x;
        json_array_foreach(v, i, x) xml_value(b, item, x);
        xmlw_close(b, name);
    } else {
        xmlw_elem_json(b, name, v);
    }
}

static void begin(http_resp_t *r, fmt_t f, int status)
{
    r->status = status;
    r->content_type = f == FMT_XML ? CT_XML : CT_JSON;
    buf_reset(&r->body);
}

static void put_json(http_resp_t *r, const json_t *v)
{
    char *s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_REAL_PRECISION(12));
    buf_puts(&r->body, s ? s : "null");
    free(s);
}

void render_o311_list(http_resp_t *r, fmt_t f, int status, const char *root, const char *item, const json_t *items)
{
    begin(r, f, status);
    if (f == FMT_JSON) {
        put_json(r, items);
        return;
    }
    xmlw_begin(&r->body);
    xmlw_open(&r->body, root);
    size_t i;
    json_t *x;
    json_array_foreach(items, i, x) xml_value(&r->body, item, x);
    xmlw_close(&r->body, root);
}

void render_o311_object(http_resp_t *r, fmt_t f, int status, const char *root, const json_t *obj)
{
    begin(r, f, status);
    if (f == FMT_JSON) {
        put_json(r, obj);
        return;
    }
    xmlw_begin(&r->body);
    xml_value(&r->body, root, obj);
}

void render_o311_created(http_resp_t *r, fmt_t f, const char *code, const char *notice, const char *account_id,
                         const char *rating_code)
{
    json_t *req = json_pack("{s:s,s:s}", "service_request_id", code, "service_notice", notice);
    if (account_id)
        json_object_set_new(req, "account_id", json_string(account_id));
    else if (f == FMT_XML)
        json_object_set_new(req, "account_id", json_null());
    if (rating_code && *rating_code)
        json_object_set_new(req, "rating_code", json_string(rating_code));
    json_t *items = json_pack("[o]", req);
    render_o311_list(r, f, 200, "service_requests", "request", items);
    json_decref(items);
}

void render_o311_error(http_resp_t *r, fmt_t f, int status, const char *description)
{
    json_t *errs = json_pack("[{s:i,s:s}]", "code", status, "description", description);
    render_o311_list(r, f, status, "errors", "error", errs);
    json_decref(errs);
}

void render_api_error(http_resp_t *r, int status, const char *code, const char *field, const char *message)
{
    json_t *e = json_pack("{s:{s:s,s:s}}", "error", "code", code, "message", message);
    if (field && *field)
        json_object_set_new(json_object_get(e, "error"), "field", json_string(field));
    render_json(r, status, e);
    json_decref(e);
}

void render_json(http_resp_t *r, int status, const json_t *v)
{
    begin(r, FMT_JSON, status);
    put_json(r, v);
}

static json_t *text_or_null(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? json_null() : json_string(PQgetvalue(res, row, col));
}

static json_t *number_or_null(const PGresult *res, int row, int col)
{
    return PQgetisnull(res, row, col) ? json_null() : json_real(atof(PQgetvalue(res, row, col)));
}

json_t *render_ticket_open311(const PGresult *res, int row)
{
    json_t *o = json_object();
    json_object_set_new(o, "service_request_id", text_or_null(res, row, TC_CODE));
    json_object_set_new(o, "status", text_or_null(res, row, TC_STATUS));
    json_object_set_new(o, "status_notes", text_or_null(res, row, TC_STATUS_NOTES));
    json_object_set_new(o, "service_name", text_or_null(res, row, TC_SERVICE_NAME));
    json_object_set_new(o, "service_code", text_or_null(res, row, TC_SERVICE_CODE));
    json_object_set_new(o, "description", text_or_null(res, row, TC_DESCRIPTION));
    json_object_set_new(o, "agency_responsible", text_or_null(res, row, TC_AGENCY));
    json_object_set_new(o, "service_notice", text_or_null(res, row, TC_NOTICE));
    json_object_set_new(o, "requested_datetime", text_or_null(res, row, TC_REQUESTED));
    json_object_set_new(o, "updated_datetime", text_or_null(res, row, TC_UPDATED));
    json_object_set_new(o, "expected_datetime", text_or_null(res, row, TC_EXPECTED));
    json_object_set_new(o, "address", text_or_null(res, row, TC_ADDRESS));
    json_object_set_new(o, "address_id", text_or_null(res, row, TC_ADDRESS_ID));
    json_object_set_new(o, "zipcode", json_null());
    json_object_set_new(o, "lat", number_or_null(res, row, TC_LAT));
    json_object_set_new(o, "long", number_or_null(res, row, TC_LONG));
    json_object_set_new(o, "media_url", text_or_null(res, row, TC_MEDIA_URL));
    return o;
}

json_t *render_ticket_native(const PGresult *res, int row)
{
    json_error_t je;
    json_t *attrs = json_loads(PQgetvalue(res, row, TC_ATTRIBUTES), 0, &je);
    json_t *o = json_object();
    json_object_set_new(o, "code", text_or_null(res, row, TC_CODE));
    json_object_set_new(o, "status", text_or_null(res, row, TC_STATUS));
    json_object_set_new(o, "status_notes", text_or_null(res, row, TC_STATUS_NOTES));
    json_object_set_new(o, "service_code", text_or_null(res, row, TC_SERVICE_CODE));
    json_object_set_new(o, "service_name", text_or_null(res, row, TC_SERVICE_NAME));
    json_object_set_new(o, "channel", text_or_null(res, row, TC_CHANNEL));
    json_object_set_new(o, "description", text_or_null(res, row, TC_DESCRIPTION));
    json_object_set_new(o, "lat", number_or_null(res, row, TC_LAT));
    json_object_set_new(o, "long", number_or_null(res, row, TC_LONG));
    json_object_set_new(o, "address_string", text_or_null(res, row, TC_ADDRESS));
    json_object_set_new(o, "address_id", text_or_null(res, row, TC_ADDRESS_ID));
    json_object_set_new(o, "attributes", attrs ? attrs : json_object());
    json_object_set_new(o, "media_url", text_or_null(res, row, TC_MEDIA_URL));
    json_object_set_new(o, "agency_responsible", text_or_null(res, row, TC_AGENCY));
    json_object_set_new(o, "requested_at", text_or_null(res, row, TC_REQUESTED));
    json_object_set_new(o, "updated_at", text_or_null(res, row, TC_UPDATED));
    json_object_set_new(o, "expected_at", text_or_null(res, row, TC_EXPECTED));
    return o;
}
