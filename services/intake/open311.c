/* Open311 GeoReport v2 under /open311/v2: discovery, services, service definitions, requests
 * (GET list with filters, GET one, POST) and tokens, each in .json and .xml.
 * Where the specification is loose this follows what real clients expect: 200 on success,
 * lists and the single request as JSON arrays, ids as strings, times with a zone, api_key and
 * jurisdiction_id from the query string or the body, empty parameters treated as absent.
 * Nulls follow open311/schema-validation (tests/open311/schemas/): none where it types a member
 * as a string (the POST answer leaves out an account_id it has not got); request records keep
 * null for what has no value yet, which its request.json allows (XML: empty elements).
 * Errors: 404 unknown resource, 403 missing or bad api_key on POST, 400 anything else
 * (and 413 for an oversize body, 503 when the database is down). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "catalog.h"
#include "form.h"
#include "gclock.h"
#include "intake.h"
#include "log.h"
#include "metrics.h"
#include "open311_updates.h"
#include "paging.h"
#include "render.h"
#include "ticket_input.h"
#include "ticket_store.h"
#include "timefmt.h"

#define MAX_SPAN_US (90LL * 86400 * 1000000)
#define DEFAULT_PAGE_SIZE 1000

/* Splits "name.fmt" into name and format. */
static bool split_format(const char *s, char *name, size_t n, fmt_t *f)
{
    const char *dot = strrchr(s, '.');
    if (!dot || (size_t)(dot - s) >= n)
        return false;
    if (!strcmp(dot, ".json"))
        *f = FMT_JSON;
    else if (!strcmp(dot, ".xml"))
        *f = FMT_XML;
    else
        return false;
    memcpy(name, s, (size_t)(dot - s));
    name[dot - s] = '\0';
    return true;
}

/* An Open311 parameter: a non-empty string, or NULL (empty means absent). */
/* Query string and (for a form POST) body merged; the same key in both must agree. */
static json_t *read_args(const http_req_t *req, fmt_t f, http_resp_t *resp, bool with_body)
{
    char err[256];
    json_t *q = form_parse(req->query, strlen(req->query), err, sizeof err);
    if (!q) {
        char msg[300];
        snprintf(msg, sizeof msg, "bad query string: %s", err);
        render_o311_error(resp, f, 400, msg);
        return NULL;
    }
    if (!with_body)
        return q;
    const char *ct = http_header(req, "Content-Type");
    if (!ct || strncasecmp(ct, "application/x-www-form-urlencoded", 33) != 0) {
        json_decref(q);
        render_o311_error(resp, f, 400, "POST body must be application/x-www-form-urlencoded; charset=utf-8");
        return NULL;
    }
    json_t *b = form_parse(req->body, req->body_len, err, sizeof err);
    if (!b) {
        json_decref(q);
        char msg[300];
        snprintf(msg, sizeof msg, "bad form body: %s", err);
        render_o311_error(resp, f, 400, msg);
        return NULL;
    }
    const char *k;
    json_t *v;
    json_object_foreach(q, k, v)
    {
        json_t *bv = json_object_get(b, k);
        const char *clash = NULL;
        if (bv && json_is_object(bv) && json_is_object(v)) {
            /* attribute[CODE] from both places: merge code by code */
            const char *ak;
            json_t *av;
            json_object_foreach(v, ak, av)
            {
                json_t *x = json_object_get(bv, ak);
                if (x && !json_equal(x, av))
                    clash = ak;
                else if (!x)
                    json_object_set(bv, ak, av);
            }
        } else if (bv && !json_equal(bv, v)) {
            clash = k;
        }
        if (clash) {
            char msg[300];
            snprintf(msg, sizeof msg, "parameter %s%s%s is given twice with different values", bv == json_object_get(b, "attribute") ? "attribute[" : "", clash, bv == json_object_get(b, "attribute") ? "]" : "");
            render_o311_error(resp, f, 400, msg);
            json_decref(q);
            json_decref(b);
            return NULL;
        }
        if (!bv)
            json_object_set(b, k, v);
    }
    json_decref(q);
    return b;
}

static bool check_jurisdiction(const json_t *args, fmt_t f, http_resp_t *resp)
{
    const char *j = form_arg(args, "jurisdiction_id");
    if (!j)
        return true;
    const catalog_t *cat = catalog_acquire();
    bool ok = cat && !strcmp(j, json_string_value(json_object_get(cat->jurisdiction, "id")));
    catalog_release();
    if (!ok)
        render_o311_error(resp, f, 404, "jurisdiction_id not found");
    return ok;
}

static void discovery(const intake_t *app, fmt_t f, http_resp_t *resp)
{
    const catalog_t *cat = catalog_acquire();
    if (!cat) {
        catalog_release();
        render_o311_error(resp, f, 503, "service catalogue not loaded");
        return;
    }
    char url[512];
    snprintf(url, sizeof url, "%s/open311/v2", app->public_url);
    const char *changeset = json_string_value(json_object_get(cat->jurisdiction, "changeset"));
    json_t *d = json_pack("{s:s,s:O,s:O,s:[{s:s,s:s,s:s,s:s,s:[s,s]}]}", "changeset", changeset, "contact",
                          json_object_get(cat->jurisdiction, "contact"), "key_service",
                          json_object_get(cat->jurisdiction, "key_service"), "endpoints", "specification",
                          "http://wiki.open311.org/GeoReport_v2", "url", url, "changeset", changeset, "type",
                          "production", "formats", "text/xml", "application/json");
    catalog_release();
    render_o311_object(resp, f, 200, "discovery", d);
    json_decref(d);
}

static void services(fmt_t f, http_resp_t *resp)
{
    const catalog_t *cat = catalog_acquire();
    if (cat)
        render_o311_list(resp, f, 200, "services", "service", cat->services);
    else
        render_o311_error(resp, f, 503, "service catalogue not loaded");
    catalog_release();
}

static void definition(const char *code, fmt_t f, http_resp_t *resp)
{
    const catalog_t *cat = catalog_acquire();
    const json_t *def = cat ? json_object_get(cat->definitions, code) : NULL;
    if (def)
        render_o311_object(resp, f, 200, "service_definition", def);
    else
        render_o311_error(resp, f, 404, "service_code not found");
    catalog_release();
}

static void send_rows(PGresult *r, long limit, fmt_t f, http_resp_t *resp)
{
    json_t *items = json_array();
    for (int i = 0; i < PQntuples(r) && i < limit; i++)
        json_array_append_new(items, render_ticket_open311(r, i));
    render_o311_list(resp, f, 200, "service_requests", "request", items);
    json_decref(items);
}

static void get_requests(const intake_t *app, const json_t *args, fmt_t f, http_resp_t *resp)
{
    /* GeoReport v2: at most 90 days, by default the last 90; 1000 requests a page by default and
     * at most; a page number reaches 10,000 requests deep (paging.h) */
    static const page_rules_t rules = {DEFAULT_PAGE_SIZE, DEFAULT_PAGE_SIZE,
                                       "narrow the window with start_date and end_date and start again from page 1"};
    static const window_rules_t wr = {"start_date", "end_date", MAX_SPAN_US, MAX_SPAN_US};
    ticket_filter_t flt = {0};
    flt.codes = form_arg(args, "service_request_id");
    flt.service_codes = form_arg(args, "service_code");
    flt.statuses = form_arg(args, "status");
    input_error_t e;
    if (!paging_page(args, &rules, &flt.page, &flt.page_size, &e)) {
        render_o311_error(resp, f, 400, e.message);
        return;
    }
    if (flt.statuses) {
        char tmp[64];
        snprintf(tmp, sizeof tmp, "%s", flt.statuses);
        char *save = NULL;
        for (char *s = strtok_r(tmp, ",", &save); s; s = strtok_r(NULL, ",", &save))
            if (strcmp(s, "open") && strcmp(s, "closed")) {
                render_o311_error(resp, f, 400, "status must be open, closed or both (comma-separated)");
                return;
            }
    }
    window_t w;
    if (!paging_window(form_arg(args, "start_date"), form_arg(args, "end_date"), &wr, gclock_now_us(), &w, &e)) {
        render_o311_error(resp, f, 400, e.message);
        return;
    }
    char s1[TIMEFMT_LEN], s2[TIMEFMT_LEN];
    paging_time_text(w.start_us, s1);
    paging_time_text(w.end_us, s2);
    if (!flt.codes) {
        flt.start = s1;
        flt.end = w.open_end ? NULL : s2;
    }
    char err[512];
    db_t *db = intake_db(app, err, sizeof err);
    PGresult *r = db ? ticket_store_list(db, &flt, err, sizeof err) : NULL;
    if (!r) {
        log_warn("open311 list: %s", err);
        render_o311_error(resp, f, 503, "the database is unavailable; try again");
        return;
    }
    send_rows(r, flt.page_size, f, resp);
    PQclear(r);
}

static void get_request(const intake_t *app, const char *id, fmt_t f, http_resp_t *resp, bool as_token)
{
    char err[512];
    db_t *db = intake_db(app, err, sizeof err);
    PGresult *r = db ? ticket_store_get(db, id, err, sizeof err) : NULL;
    if (!r) {
        render_o311_error(resp, f, 503, "the database is unavailable; try again");
        return;
    }
    if (PQntuples(r) == 0) {
        render_o311_error(resp, f, 404, as_token ? "token not found" : "service_request_id not found");
    } else if (as_token) {
        /* Requests are realtime: a ticket's token is its public code. */
        json_t *items = json_pack("[{s:s,s:s}]", "service_request_id", PQgetvalue(r, 0, TC_CODE), "token", id);
        render_o311_list(resp, f, 200, "service_requests", "request", items);
        json_decref(items);
    } else {
        send_rows(r, 1, f, resp);
    }
    PQclear(r);
}

typedef struct {
    fmt_t f;
    const char *account_id;
} post_render_t;

static void render_post(const ticket_created_t *t, http_resp_t *resp, void *arg)
{
    const post_render_t *pr = arg;
    render_o311_created(resp, pr->f, t->code, "诉求已受理，请记住受理编号以便查询。", pr->account_id, t->rating_code);
}

static void post_request(const intake_t *app, const http_req_t *req, const json_t *args, fmt_t f, http_resp_t *resp)
{
    char err[512];
    db_t *db = intake_db(app, err, sizeof err);
    if (!db) {
        render_o311_error(resp, f, 503, "the database is unavailable; nothing was stored, try again");
        return;
    }
    long long client = catalog_api_client(db, form_arg(args, "api_key"));
    if (client < 0) {
        render_o311_error(resp, f, 503, "the database is unavailable; nothing was stored, try again");
        return;
    }
    if (!client) {
        metrics_inc(M_REJECTED_INPUT);
        render_o311_error(resp, f, 403, "Invalid api_key received -- can't proceed with create_request.");
        return;
    }
    ticket_input_t in = {
        .channel = "open311",
        .api_client_id = client,
        .jurisdiction_id = form_arg(args, "jurisdiction_id"),
        .service_code = form_arg(args, "service_code"),
        .description = form_arg(args, "description"),
        .address_string = form_arg(args, "address_string"),
        .address_id = form_arg(args, "address_id"),
        .attributes = json_object_get(args, "attribute"),
        .first_name = form_arg(args, "first_name"),
        .last_name = form_arg(args, "last_name"),
        .email = form_arg(args, "email"),
        .phone = form_arg(args, "phone"),
        .device_id = form_arg(args, "device_id"),
        .account_id = form_arg(args, "account_id"),
        .media_url = form_arg(args, "media_url"),
    };
    const char *lat = form_arg(args, "lat"), *lon = form_arg(args, "long");
    in.has_lat = lat != NULL;
    in.has_long = lon != NULL;
    if ((lat && !parse_double(lat, &in.lat)) || (lon && !parse_double(lon, &in.lon))) {
        metrics_inc(M_REJECTED_INPUT);
        render_o311_error(resp, f, 400, "lat and long must be decimal numbers (WGS84)");
        return;
    }
    input_error_t e;
    char phone[16];
    json_t *attrs = NULL;
    const catalog_t *cat = catalog_acquire();
    bool ok = ticket_input_validate(&in, cat, phone, &attrs, &e);
    catalog_release();
    if (!ok) {
        metrics_inc(M_REJECTED_INPUT);
        render_o311_error(resp, f, e.status == 404 ? 404 : e.status == 503 ? 503 : 400, e.message);
        return;
    }
    char scope[24];
    snprintf(scope, sizeof scope, "%lld", client);
    idempotency_t idem = {.scope = scope, .key = http_header(req, "Idempotency-Key")};
    if (idem.key && (strlen(idem.key) > 255 || !*idem.key)) {
        json_decref(attrs);
        render_o311_error(resp, f, 400, "Idempotency-Key must be 1 to 255 characters");
        return;
    }
    if (idem.key)
        intake_request_hash(req, idem.hash);
    post_render_t pr = {.f = f, .account_id = in.account_id};
    store_status_t st = ticket_store_create(db, &in, phone, attrs, gclock_now_us(), &idem, render_post, &pr, resp, &e);
    json_decref(attrs);
    switch (st) {
    case STORE_OK:
        metrics_inc(M_TICKETS_CREATED);
        relay_ring(app->relay);
        break;
    case STORE_REPLAY:
        metrics_inc(M_IDEMPOTENT_REPLAYS);
        break;
    case STORE_KEY_REUSED:
        render_o311_error(resp, f, 400, "Idempotency-Key was already used for a different request");
        break;
    case STORE_BAD_INPUT:
        metrics_inc(M_REJECTED_INPUT);
        render_o311_error(resp, f, 400, e.message);
        break;
    case STORE_UNAVAILABLE:
        render_o311_error(resp, f, 503, "the database is unavailable; nothing was stored, try again");
        break;
    }
}

void open311_handle(const intake_t *app, const http_req_t *req, http_resp_t *resp, const char *sub)
{
    char name[256];
    fmt_t f = FMT_JSON;
    bool get = !strcmp(req->method, "GET") || !strcmp(req->method, "HEAD");
    bool post = !strcmp(req->method, "POST");
    if (!split_format(sub, name, sizeof name, &f)) {
        render_o311_error(resp, FMT_JSON, 404, "unknown resource: Open311 paths end in .json or .xml");
        return;
    }
    const char *id = NULL;
    enum { R_DISCOVERY, R_SERVICES, R_SERVICE, R_REQUESTS, R_REQUEST, R_TOKEN, R_UPDATES, R_NONE } route = R_NONE;
    if (!strcmp(name, "discovery"))
        route = R_DISCOVERY;
    else if (!strcmp(name, "services"))
        route = R_SERVICES;
    else if (!strncmp(name, "services/", 9) && name[9] && !strchr(name + 9, '/'))
        route = R_SERVICE, id = name + 9;
    else if (!strcmp(name, "requests"))
        route = R_REQUESTS;
    else if (!strncmp(name, "requests/", 9) && name[9] && !strchr(name + 9, '/'))
        route = R_REQUEST, id = name + 9;
    else if (!strncmp(name, "tokens/", 7) && name[7] && !strchr(name + 7, '/'))
        route = R_TOKEN, id = name + 7;
    else if (!strcmp(name, "servicerequestupdates")) /* mySociety extension (open311_updates.c) */
        route = R_UPDATES;
    if (route == R_NONE) {
        render_o311_error(resp, f, 404, "unknown resource");
        return;
    }
    if (!(get || (post && route == R_REQUESTS))) {
        render_o311_error(resp, f, 405, "method not allowed");
        snprintf(resp->allow, sizeof resp->allow, route == R_REQUESTS ? "GET, POST" : "GET");
        return;
    }
    json_t *args = read_args(req, f, resp, post);
    if (!args)
        return;
    if (check_jurisdiction(args, f, resp)) {
        switch (route) {
        case R_DISCOVERY: discovery(app, f, resp); break;
        case R_SERVICES: services(f, resp); break;
        case R_SERVICE: definition(id, f, resp); break;
        case R_REQUESTS:
            if (post)
                post_request(app, req, args, f, resp);
            else
                get_requests(app, args, f, resp);
            break;
        case R_REQUEST: get_request(app, id, f, resp, false); break;
        case R_TOKEN: get_request(app, id, f, resp, true); break;
        case R_UPDATES: open311_updates(app, args, f, resp); break;
        case R_NONE: break;
        }
    }
    json_decref(args);
}
