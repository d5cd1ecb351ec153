/* The native API: /api/v1/tickets.
 *   POST   JSON body, API key in X-API-Key or "Authorization: Bearer"; 201 + Location.
 *          An Idempotency-Key header makes a retry return the first answer and create nothing.
 *   GET    /api/v1/tickets/{code}
 *   GET    /api/v1/tickets?service_code=&status=&channel=&since=&until=&page=&page_size=&cursor=
 *          newest first: {"tickets", "page", "page_size", "next_page", "next"}; next is the cursor
 *          of the following page (paging.h), null on the last
 * Errors: {"error":{"code","message","field"}} with 400, 401, 404, 405, 409, 413, 415, 422, 503. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "form.h"
#include "gclock.h"
#include "intake.h"
#include "log.h"
#include "metrics.h"
#include "paging.h"
#include "render.h"
#include "ticket_input.h"
#include "ticket_store.h"
#include "timefmt.h"

#define API_DEFAULT_PAGE_SIZE 50
#define API_MAX_PAGE_SIZE 500

static const char *const ALLOWED_FIELDS[] = {
    "service_code", "description", "lat", "long", "address_string", "address_id", "attributes", "first_name",
    "last_name", "email", "phone", "device_id", "account_id", "media_url", "channel", NULL};
static const char *const CHANNELS[] = {"api", "grid_worker", "hotline", "wechat", "sms", NULL};

static bool in_list(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(s, *list))
            return true;
    return false;
}

static const char *api_key_of(const http_req_t *req)
{
    const char *k = http_header(req, "X-API-Key");
    if (k)
        return k;
    const char *a = http_header(req, "Authorization");
    if (a && !strncasecmp(a, "Bearer ", 7))
        return a + 7;
    return NULL;
}

/* A string member, or NULL when absent, null or "". Sets *bad when present but not a string. */
static const char *str_field(const json_t *o, const char *k, bool *bad, const char **bad_field)
{
    const json_t *v = json_object_get(o, k);
    if (!v || json_is_null(v))
        return NULL;
    if (!json_is_string(v)) {
        *bad = true;
        *bad_field = k;
        return NULL;
    }
    const char *s = json_string_value(v);
    return *s ? s : NULL;
}

static void render_created(const ticket_created_t *t, http_resp_t *resp, void *arg)
{
    const ticket_input_t *in = arg;
    char path[128];
    snprintf(path, sizeof path, "/api/v1/tickets/%s", t->code);
    json_t *j = json_pack("{s:s,s:s,s:s,s:s,s:s}", "code", t->code, "status", "open", "service_code", in->service_code,
                          "channel", in->channel, "url", path);
    /* the reporter's secret for rating the outcome: given here once (README, 评价码) */
    if (t->rating_code[0])
        json_object_set_new(j, "rating_code", json_string(t->rating_code));
    render_json(resp, 201, j);
    snprintf(resp->location, sizeof resp->location, "%s", path);
    json_decref(j);
}

static void create(const intake_t *app, const http_req_t *req, http_resp_t *resp)
{
    const char *ct = http_header(req, "Content-Type");
    if (!ct || strncasecmp(ct, "application/json", 16) != 0 || (ct[16] && ct[16] != ';' && ct[16] != ' ')) {
        render_api_error(resp, 415, "unsupported_media_type", NULL, "send the ticket as application/json");
        return;
    }
    char err[512];
    db_t *db = intake_db(app, err, sizeof err);
    if (!db) {
        render_api_error(resp, 503, "unavailable", NULL, "the database is unavailable; nothing was stored, try again");
        return;
    }
    long long client = catalog_api_client(db, api_key_of(req));
    if (client < 0) {
        render_api_error(resp, 503, "unavailable", NULL, "the database is unavailable; nothing was stored, try again");
        return;
    }
    if (!client) {
        render_api_error(resp, 401, "unauthorized", NULL, "a valid API key is required (X-API-Key or Authorization: Bearer)");
        return;
    }
    json_error_t je;
    /* jansson rejects invalid UTF-8 and NUL in strings; duplicates are contradictory input. */
    json_t *body = json_loadb(req->body, req->body_len, JSON_REJECT_DUPLICATES, &je);
    if (!body || !json_is_object(body)) {
        char msg[300];
        snprintf(msg, sizeof msg, body ? "the body must be a JSON object" : "malformed JSON: %s (line %d, column %d)",
                 je.text, je.line, je.column);
        json_decref(body);
        metrics_inc(M_REJECTED_INPUT);
        render_api_error(resp, 400, "invalid_json", NULL, msg);
        return;
    }
    const char *key;
    json_t *v;
    json_object_foreach(body, key, v)
    {
        if (!in_list(key, ALLOWED_FIELDS)) {
            char msg[200];
            snprintf(msg, sizeof msg, "unknown field '%.64s'", key);
            render_api_error(resp, 400, "unknown_field", key, msg);
            json_decref(body);
            return;
        }
    }
    bool bad = false;
    const char *bad_field = NULL;
    ticket_input_t in = {
        .api_client_id = client,
        .service_code = str_field(body, "service_code", &bad, &bad_field),
        .description = str_field(body, "description", &bad, &bad_field),
        .address_string = str_field(body, "address_string", &bad, &bad_field),
        .address_id = str_field(body, "address_id", &bad, &bad_field),
        .first_name = str_field(body, "first_name", &bad, &bad_field),
        .last_name = str_field(body, "last_name", &bad, &bad_field),
        .email = str_field(body, "email", &bad, &bad_field),
        .phone = str_field(body, "phone", &bad, &bad_field),
        .device_id = str_field(body, "device_id", &bad, &bad_field),
        .account_id = str_field(body, "account_id", &bad, &bad_field),
        .media_url = str_field(body, "media_url", &bad, &bad_field),
        .channel = str_field(body, "channel", &bad, &bad_field),
        .attributes = json_object_get(body, "attributes"),
    };
    if (bad) {
        render_api_error(resp, 400, "invalid_field", bad_field, "this field must be a string");
        json_decref(body);
        return;
    }
    if (!in.channel)
        in.channel = "api";
    if (!in_list(in.channel, CHANNELS)) {
        render_api_error(resp, 400, "invalid_channel", "channel", "channel must be api, grid_worker, hotline, wechat or sms");
        json_decref(body);
        return;
    }
    const json_t *lat = json_object_get(body, "lat"), *lon = json_object_get(body, "long");
    in.has_lat = lat && !json_is_null(lat);
    in.has_long = lon && !json_is_null(lon);
    if ((in.has_lat && !json_is_number(lat)) || (in.has_long && !json_is_number(lon))) {
        render_api_error(resp, 400, "invalid_location", in.has_lat && !json_is_number(lat) ? "lat" : "long",
                         "lat and long must be JSON numbers (WGS84)");
        json_decref(body);
        return;
    }
    in.lat = in.has_lat ? json_number_value(lat) : 0;
    in.lon = in.has_long ? json_number_value(lon) : 0;
    if (in.attributes && json_is_null(in.attributes))
        in.attributes = NULL;

    input_error_t e;
    char phone[16];
    json_t *attrs = NULL;
    const catalog_t *cat = catalog_acquire();
    bool ok = ticket_input_validate(&in, cat, phone, &attrs, &e);
    catalog_release();
    if (!ok) {
        metrics_inc(M_REJECTED_INPUT);
        /* In the native API an unknown service is a bad field of the body, not a missing resource. */
        render_api_error(resp, e.status == 404 ? 422 : e.status, e.code, e.field, e.message);
        json_decref(body);
        return;
    }
    char scope[24];
    snprintf(scope, sizeof scope, "%lld", client);
    idempotency_t idem = {.scope = scope, .key = http_header(req, "Idempotency-Key")};
    if (idem.key && (!*idem.key || strlen(idem.key) > 255)) {
        render_api_error(resp, 400, "invalid_idempotency_key", NULL, "Idempotency-Key must be 1 to 255 characters");
        json_decref(attrs);
        json_decref(body);
        return;
    }
    if (idem.key)
        intake_request_hash(req, idem.hash);
    store_status_t st = ticket_store_create(db, &in, phone, attrs, gclock_now_us(), &idem, render_created, &in, resp, &e);
    switch (st) {
    case STORE_OK:
        metrics_inc(M_TICKETS_CREATED);
        relay_ring(app->relay);
        break;
    case STORE_REPLAY: {
        metrics_inc(M_IDEMPOTENT_REPLAYS);
        /* The first answer had a Location header, which is not stored: rebuild it from the body. */
        json_t *first = resp->status == 201 ? json_loadb(resp->body.data, resp->body.len, 0, NULL) : NULL;
        const char *url = json_string_value(json_object_get(first, "url"));
        if (url)
            snprintf(resp->location, sizeof resp->location, "%s", url);
        json_decref(first);
        break;
    }
    case STORE_KEY_REUSED:
        render_api_error(resp, 422, "idempotency_key_reused", NULL,
                         "this Idempotency-Key was already used for a different request");
        break;
    case STORE_BAD_INPUT:
        metrics_inc(M_REJECTED_INPUT);
        render_api_error(resp, e.status, e.code, e.field, e.message);
        break;
    case STORE_UNAVAILABLE:
        render_api_error(resp, 503, "unavailable", NULL, "the database is unavailable; nothing was stored, try again");
        break;
    }
    json_decref(attrs);
    json_decref(body);
}

static void get_one(const intake_t *app, const char *code, http_resp_t *resp)
{
    char err[512];
    db_t *db = intake_db(app, err, sizeof err);
    PGresult *r = db ? ticket_store_get(db, code, err, sizeof err) : NULL;
    if (!r) {
        render_api_error(resp, 503, "unavailable", NULL, "the database is unavailable; try again");
        return;
    }
    if (PQntuples(r) == 0) {
        render_api_error(resp, 404, "not_found", NULL, "no ticket with this code");
    } else {
        json_t *t = render_ticket_native(r, 0);
        render_json(resp, 200, t);
        json_decref(t);
    }
    PQclear(r);
}

/* Newest first, by page number (bounded) or by cursor (paging.h), in a window of at most
 * list_max_days (default: the last list_max_days days). */
static void list(const intake_t *app, const http_req_t *req, http_resp_t *resp)
{
    char err[512];
    json_t *q = form_parse(req->query, strlen(req->query), err, sizeof err);
    if (!q) {
        render_api_error(resp, 400, "invalid_query", NULL, err);
        return;
    }
    static const page_rules_t rules = {API_DEFAULT_PAGE_SIZE, API_MAX_PAGE_SIZE,
                                       "follow the cursor in the answer's next (cursor=), or narrow since and until"};
    int64_t span = (int64_t)app->list_max_days * 86400 * 1000000;
    window_rules_t wr = {"since", "until", span, span};
    ticket_filter_t f = {.service_codes = form_arg(q, "service_code"), .statuses = form_arg(q, "status"),
                         .channel = form_arg(q, "channel")};
    window_t w;
    input_error_t e;
    char s1[TIMEFMT_LEN], s2[TIMEFMT_LEN];
    if (!paging_page(q, &rules, &f.page, &f.page_size, &e) || !paging_cursor(q, &f.has_cursor, &f.cursor, &e) ||
        !paging_window(form_arg(q, "since"), form_arg(q, "until"), &wr, gclock_now_us(), &w, &e)) {
        render_api_error(resp, e.status, e.code, e.field, e.message);
        json_decref(q);
        return;
    }
    paging_time_text(w.start_us, s1);
    paging_time_text(w.end_us, s2);
    f.start = s1;
    f.end = w.open_end ? NULL : s2;
    db_t *db = intake_db(app, err, sizeof err);
    PGresult *r = db ? ticket_store_list(db, &f, err, sizeof err) : NULL;
    if (!r) {
        render_api_error(resp, 503, "unavailable", NULL, "the database is unavailable; try again");
    } else {
        json_t *items = json_array();
        int n = PQntuples(r);
        for (int i = 0; i < n && i < f.page_size; i++)
            json_array_append_new(items, render_ticket_native(r, i));
        /* more rows: the cursor always leads on; a page number only while it stays in bounds */
        bool more = n > f.page_size;
        char next[CURSOR_LEN];
        if (more) {
            cursor_t c;
            ticket_store_cursor(r, (int)f.page_size - 1, &c);
            cursor_encode(&c, next);
        }
        bool next_page = more && !f.has_cursor && f.page + 1 <= PAGING_MAX_ROWS / f.page_size;
        json_t *out = json_pack("{s:o,s:o,s:I,s:o,s:o}", "tickets", items, "page",
                                f.has_cursor ? json_null() : json_integer(f.page), "page_size", (json_int_t)f.page_size,
                                "next_page", next_page ? json_integer(f.page + 1) : json_null(), "next",
                                more ? json_string(next) : json_null());
        render_json(resp, 200, out);
        json_decref(out);
        PQclear(r);
    }
    json_decref(q);
}

void api_tickets_handle(const intake_t *app, const http_req_t *req, http_resp_t *resp, const char *sub)
{
    bool get = !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD");
    if (!*sub) {
        if (!strcmp(req->method, "POST"))
            create(app, req, resp);
        else if (get)
            list(app, req, resp);
        else {
            render_api_error(resp, 405, "method_not_allowed", NULL, "use GET or POST");
            snprintf(resp->allow, sizeof resp->allow, "GET, POST");
        }
        return;
    }
    const char *code = sub + 1; /* after the slash */
    if (!*code || strchr(code, '/') || strlen(code) > 32) {
        render_api_error(resp, 404, "not_found", NULL, "no such resource");
    } else if (!get) {
        render_api_error(resp, 405, "method_not_allowed", NULL, "use GET");
        snprintf(resp->allow, sizeof resp->allow, "GET");
    } else {
        get_one(app, code, resp);
    }
}
