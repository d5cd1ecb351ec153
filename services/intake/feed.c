/* Outside systems' alerts ("一张网": the county's water, traffic and agriculture platforms).
 *
 *   POST /api/v1/feeds/alerts   X-API-Key of a feed (registry.feed_client: `gridgovctl feed`)
 *   {"alert_id": the source's own id, "kind": "alert" (default) | "update" | "all_clear",
 *    "issued_at": ISO 8601 with zone, "title", "description"?, "level"? (red, orange, yellow,
 *    blue: the national four-colour warning levels), "service_code"? (default the feed's),
 *    "lat"?, "long"?, "place"? {"unit": a group's or village's code} | {"township"?, "village",
 *    "group"?}, "data"? (anything else the source sends: kept in the raw alert only)}
 *   201 {"code", "created": true, "status"} for a new alert: a hazard ticket (channel "feed")
 *       placed by the router from the point, or from the place named;
 *   200 {"code", "created": false, "changed", "status"} for an alert id seen before: the same
 *       body again changes nothing; an update or the all-clear updates its ticket (its
 *       alert_status and alert_level attributes, and a ticket.updated event) instead of making
 *       another. The raw JSON of every distinct post is kept (intake.feed_alert_raw).
 *   400 for bad input (nothing stored), 401 for a key that is not a feed's, 404 for the
 *   all-clear of an alert never posted.
 * One statement (intake.feed_receive), its own transaction: answered after COMMIT. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "catalog.h"
#include "field.h"
#include "gclock.h"
#include "intake.h"
#include "render.h"
#include "secret.h"
#include "utf8.h"

static bool text_ok(const json_t *v, size_t max_chars)
{
    const char *s = json_string_value(v);
    return s && *s && utf8_valid(s, strlen(s)) && utf8_count(s, strlen(s)) <= max_chars;
}

/* A string member that may be absent; false when present and not fitting. */
static bool opt_text(const json_t *o, const char *k, size_t max, const char **out)
{
    const json_t *v = json_object_get(o, k);
    *out = NULL;
    if (!v)
        return true;
    if (!text_ok(v, max))
        return false;
    *out = json_string_value(v);
    return true;
}

static bool one_of(const char *s, const char *const *list)
{
    for (; *list; list++)
        if (!strcmp(s, *list))
            return true;
    return false;
}

static void bad(http_resp_t *resp, const char *code, const char *field, const char *msg)
{
    render_api_error(resp, 400, code, field, msg);
}

static const char RECEIVE_SQL[] =
    "SELECT code, created, changed, status FROM intake.feed_receive($1, $2, $3, $4, $5, $6::float8, $7::float8,"
    " $8, $9, $10::jsonb, $11::jsonb, decode($12, 'hex'), to_timestamp($13::numeric))";

void feed_alert_post(const intake_t *app, const http_req_t *req, http_resp_t *resp)
{
    char err[512], state[6] = "";
    db_t *db = intake_db(app, err, sizeof err);
    if (!db) {
        field_unavailable(resp, "feed connect", err);
        return;
    }
    /* the key, and whether it is a feed's */
    const char *key = http_header(req, "X-API-Key");
    long long client = key ? catalog_api_client(db, key) : 0;
    if (client < 0) {
        field_unavailable(resp, "feed key", "lookup failed");
        return;
    }
    char cid[24];
    snprintf(cid, sizeof cid, "%lld", client);
    const char *kp[] = {cid};
    PGresult *r = client > 0 ? db_exec(db, "SELECT source, service_code FROM registry.feed_client WHERE api_client_id = $1::bigint",
                                       1, kp, err, sizeof err, NULL)
                             : NULL;
    if (client > 0 && !r) {
        field_unavailable(resp, "feed", err);
        return;
    }
    if (!r || PQntuples(r) != 1) {
        PQclear(r);
        render_api_error(resp, 401, "unauthorized", NULL, "alerts come from outside systems with their feed's API key (X-API-Key)");
        return;
    }
    char source[40], default_service[40];
    snprintf(source, sizeof source, "%s", PQgetvalue(r, 0, 0));
    snprintf(default_service, sizeof default_service, "%s", PQgetvalue(r, 0, 1));
    PQclear(r);
    r = NULL;

    json_t *b = field_body(req, resp);
    if (!b)
        return;
    char *raw = NULL;
    static const char *const members[] = {"alert_id", "kind", "issued_at", "title", "description", "level", "service_code",
                                          "lat", "long", "place", "data", NULL};
    const char *k;
    json_t *v;
    json_object_foreach(b, k, v)
    {
        if (!one_of(k, members)) {
            bad(resp, "invalid_field", k, "an alert has alert_id, kind, issued_at, title, description, level, service_code,"
                                          " lat, long, place and data");
            goto out;
        }
    }
    const char *alert_id, *kind = "alert", *title, *desc, *level, *service, *kind_in;
    static const char *const kinds[] = {"alert", "update", "all_clear", NULL};
    static const char *const levels[] = {"red", "orange", "yellow", "blue", NULL};
    if (!opt_text(b, "alert_id", 128, &alert_id) || !alert_id) {
        bad(resp, "invalid_alert_id", "alert_id", "alert_id is the source's own id of the alert, 1..128 characters");
        goto out;
    }
    if (!opt_text(b, "kind", 16, &kind_in) || (kind_in && !one_of(kind_in, kinds))) {
        bad(resp, "invalid_kind", "kind", "kind is alert, update or all_clear");
        goto out;
    }
    if (kind_in)
        kind = kind_in;
    int64_t issued, now = gclock_now_us();
    if (!field_time(b, "issued_at", now, app->field.max_skew_us, &issued)) {
        bad(resp, "invalid_time", "issued_at", "issued_at is ISO 8601 with its zone, not in the future");
        goto out;
    }
    if (!opt_text(b, "title", 200, &title) || (!title && strcmp(kind, "all_clear") != 0)) {
        bad(resp, "invalid_title", "title", "an alert or update has a title of at most 200 characters");
        goto out;
    }
    if (!opt_text(b, "description", 3000, &desc)) {
        bad(resp, "invalid_description", "description", "description is text of at most 3000 characters");
        goto out;
    }
    if (!opt_text(b, "level", 16, &level) || (level && !one_of(level, levels))) {
        bad(resp, "invalid_level", "level", "level is red, orange, yellow or blue");
        goto out;
    }
    if (!opt_text(b, "service_code", 32, &service)) {
        bad(resp, "invalid_service_code", "service_code", "service_code names a category of the catalogue");
        goto out;
    }
    if (!service)
        service = default_service;
    const catalog_t *cat = catalog_acquire();
    bool known = cat && json_object_get(cat->names, service) != NULL;
    catalog_release();
    if (!known) {
        bad(resp, "unknown_service_code", "service_code", "no category of the catalogue has this code");
        goto out;
    }
    double lat = 0, lon = 0;
    bool has_point = json_object_get(b, "lat") || json_object_get(b, "long");
    if (has_point && !field_latlong(b, &lat, &lon)) {
        bad(resp, "invalid_location", "lat", "lat (-90..90) and long (-180..180) are numbers, both or neither");
        goto out;
    }
    const json_t *place = json_object_get(b, "place"), *data = json_object_get(b, "data");
    if (data && !json_is_object(data)) {
        bad(resp, "invalid_data", "data", "data is an object");
        goto out;
    }
    char address[400] = "", plat[32] = "", plon[32] = "";
    if (place) {
        const char *unit, *town, *village, *group;
        bool shaped = json_is_object(place) && opt_text(place, "unit", 64, &unit) && opt_text(place, "township", 50, &town) &&
                      opt_text(place, "village", 50, &village) && opt_text(place, "group", 50, &group) &&
                      (unit ? json_object_size(place) == 1 : village != NULL);
        static const char *const place_members[] = {"unit", "township", "village", "group", NULL};
        json_object_foreach((json_t *)place, k, v) shaped = shaped && one_of(k, place_members);
        if (!shaped) {
            bad(resp, "invalid_place", "place", "place is {\"unit\": a group's or village's code} or {\"township\"?, \"village\", \"group\"?}");
            goto out;
        }
        const char *pp[] = {unit, town, village, group};
        r = db_exec(db, "SELECT address, lat, long FROM intake.feed_place($1, $2, $3, $4)", 4, pp, err, sizeof err, NULL);
        if (!r) {
            field_unavailable(resp, "feed place", err);
            goto out;
        }
        if (PQntuples(r) != 1) {
            bad(resp, "unknown_place", "place", "no village or group, or more than one, answers to this place");
            goto out;
        }
        snprintf(address, sizeof address, "%s", PQgetvalue(r, 0, 0));
        if (!has_point && !PQgetisnull(r, 0, 1)) {
            snprintf(plat, sizeof plat, "%s", PQgetvalue(r, 0, 1));
            snprintf(plon, sizeof plon, "%s", PQgetvalue(r, 0, 2));
        }
        PQclear(r);
        r = NULL;
    }
    if (has_point) {
        snprintf(plat, sizeof plat, "%.8f", lat);
        snprintf(plon, sizeof plon, "%.8f", lon);
    }

    /* the ticket's text: the source's name for it, then what it says */
    char description[4000];
    snprintf(description, sizeof description, "【%s预警%s%s】%s%s%s", source, level ? "·" : "", level ? level : "",
             title ? title : "解除", desc ? "：" : "", desc ? desc : "");
    raw = json_dumps(b, JSON_COMPACT | JSON_SORT_KEYS);
    char hash[SECRET_HEX_LEN], rec[32];
    secret_hash_hex(raw, hash);
    field_us_text(now, rec);
    const char *p[] = {source, alert_id, kind, service, description, *plat ? plat : NULL, *plon ? plon : NULL,
                       *address ? address : NULL, level, "{}", raw, hash, rec};
    r = db_exec(db, RECEIVE_SQL, 13, p, err, sizeof err, state);
    if (!r) {
        if (!strcmp(state, "GG404"))
            render_api_error(resp, 404, "unknown_alert", "alert_id", "no alert with this id was posted: nothing to clear");
        else if (!strcmp(state, "GG422"))
            bad(resp, "missing_location", "lat", "a new alert needs lat and long, or a place");
        else
            field_unavailable(resp, "feed alert", err);
        goto out;
    }
    bool created = PQgetvalue(r, 0, 1)[0] == 't', changed = PQgetvalue(r, 0, 2)[0] == 't';
    json_t *j = json_pack("{s:s,s:b,s:b,s:s}", "code", PQgetvalue(r, 0, 0), "created", created, "changed", changed,
                          "status", PQgetvalue(r, 0, 3));
    render_json(resp, created ? 201 : 200, j);
    json_decref(j);
    if (changed)
        relay_ring(app->relay);
out:
    PQclear(r);
    free(raw);
    json_decref(b);
}
