#include "ticket_input.h"

#include <ctype.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "timefmt.h"
#include "utf8.h"

static bool fail(input_error_t *e, int status, const char *code, const char *field, const char *fmt, ...)
    __attribute__((format(printf, 5, 6)));

static bool fail(input_error_t *e, int status, const char *code, const char *field, const char *fmt, ...)
{
    e->status = status;
    snprintf(e->code, sizeof e->code, "%s", code);
    snprintf(e->field, sizeof e->field, "%s", field ? field : "");
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(e->message, sizeof e->message, fmt, ap);
    va_end(ap);
    return false;
}

bool parse_double(const char *s, double *out)
{
    if (!s || !*s || isspace((unsigned char)*s))
        return false;
    char *end;
    double v = strtod(s, &end);
    if (*end || !isfinite(v))
        return false;
    /* reject hex floats and "inf"/"nan" spellings strtod accepts */
    for (const char *p = s; *p; p++)
        if (!(isdigit((unsigned char)*p) || *p == '.' || *p == '-' || *p == '+' || *p == 'e' || *p == 'E'))
            return false;
    *out = v;
    return true;
}

static bool text_ok(const char *s, size_t max_chars)
{
    size_t n = strlen(s);
    if (!utf8_valid(s, n) || utf8_count(s, n) > max_chars)
        return false;
    for (const unsigned char *p = (const unsigned char *)s; *p; p++)
        if (*p < 0x20 && *p != '\n' && *p != '\r' && *p != '\t')
            return false;
    return true;
}

static bool check_field(const char *v, const char *field, size_t max, input_error_t *e)
{
    if (v && !text_ok(v, max))
        return fail(e, 400, "invalid_field", field, "%s must be valid UTF-8 text of at most %zu characters", field, max);
    return true;
}

static bool phone_ok(const char *in, char out[16])
{
    const char *p = in;
    if (!strncmp(p, "+86", 3))
        p += 3;
    else if (!strncmp(p, "0086", 4))
        p += 4;
    while (*p == ' ' || *p == '-')
        p++;
    char digits[16];
    size_t n = 0;
    for (; *p; p++) {
        if (*p == ' ' || *p == '-')
            continue;
        if (!isdigit((unsigned char)*p) || n >= 11)
            return false;
        digits[n++] = *p;
    }
    digits[n] = '\0';
    if (n != 11 || digits[0] != '1' || digits[1] < '3' || digits[1] > '9')
        return false;
    memcpy(out, digits, 12);
    return true;
}

static bool email_ok(const char *s)
{
    const char *at = strchr(s, '@');
    return at && at != s && strchr(at + 1, '.') && !strchr(at + 1, '@') && strlen(s) <= 254 &&
           !strpbrk(s, " \t\r\n<>");
}

static const json_t *find_attr(const json_t *def, const char *code)
{
    size_t i;
    const json_t *a;
    json_array_foreach(json_object_get(def, "attributes"), i, a)
    {
        if (!strcmp(json_string_value(json_object_get(a, "code")), code))
            return a;
    }
    return NULL;
}

static bool value_in_list(const json_t *attr, const char *v)
{
    size_t i;
    const json_t *x;
    json_array_foreach(json_object_get(attr, "values"), i, x)
    {
        if (!strcmp(json_string_value(json_object_get(x, "key")), v))
            return true;
    }
    return false;
}

/* A JSON number given where a string is expected becomes its text (native clients send 3 for "3"). */
static const char *scalar_text(const json_t *v, char *tmp, size_t n)
{
    if (json_is_string(v))
        return json_string_value(v);
    if (json_is_integer(v)) {
        snprintf(tmp, n, "%lld", (long long)json_integer_value(v));
        return tmp;
    }
    if (json_is_real(v)) {
        snprintf(tmp, n, "%.15g", json_real_value(v));
        return tmp;
    }
    return NULL;
}

static bool check_attr_value(const json_t *attr, const char *code, const json_t *v, json_t *out, input_error_t *e)
{
    const char *type = json_string_value(json_object_get(attr, "datatype"));
    char field[80];
    snprintf(field, sizeof field, "attribute[%s]", code);
    char tmp[64];
    if (!strcmp(type, "multivaluelist")) {
        json_t *list = json_array();
        const json_t *items = v;
        json_t *single = NULL;
        if (!json_is_array(v))
            items = single = json_pack("[O]", v);
        size_t i;
        const json_t *x;
        json_array_foreach(items, i, x)
        {
            const char *s = scalar_text(x, tmp, sizeof tmp);
            if (!s || !value_in_list(attr, s)) {
                json_decref(list);
                json_decref(single);
                return fail(e, 400, "invalid_attribute_value", field, "'%s' is not an allowed value of %s",
                            s ? s : "(not text)", code);
            }
            json_array_append_new(list, json_string(s));
        }
        json_decref(single);
        if (json_array_size(list) == 0) {
            json_decref(list);
            return true; /* empty means absent */
        }
        json_object_set_new(out, code, list);
        return true;
    }
    if (json_is_array(v))
        return fail(e, 400, "invalid_attribute_value", field, "%s takes one value, not a list", code);
    const char *s = scalar_text(v, tmp, sizeof tmp);
    if (!s)
        return fail(e, 400, "invalid_attribute_value", field, "%s must be text", code);
    if (!*s)
        return true; /* empty means absent */
    if (!strcmp(type, "singlevaluelist")) {
        if (!value_in_list(attr, s))
            return fail(e, 400, "invalid_attribute_value", field, "'%s' is not an allowed value of %s", s, code);
    } else if (!strcmp(type, "number")) {
        double d;
        if (!parse_double(s, &d))
            return fail(e, 400, "invalid_attribute_value", field, "%s must be a number", code);
    } else if (!strcmp(type, "datetime")) {
        int64_t us;
        if (!timefmt_parse(s, &us))
            return fail(e, 400, "invalid_attribute_value", field,
                        "%s must be an ISO 8601 time with a zone, e.g. 2026-11-29T15:30:00+08:00", code);
    } else if (!text_ok(s, !strcmp(type, "text") ? 4000 : 500)) {
        return fail(e, 400, "invalid_attribute_value", field, "%s is too long or not valid text", code);
    }
    json_object_set_new(out, code, json_string(s));
    return true;
}

static bool check_attributes(const ticket_input_t *in, const json_t *def, json_t **out, input_error_t *e)
{
    json_t *clean = json_object();
    const char *code;
    const json_t *v;
    if (in->attributes && !json_is_object(in->attributes)) {
        json_decref(clean);
        return fail(e, 400, "invalid_attributes", "attributes", "attributes must be an object of code: value");
    }
    json_object_foreach((json_t *)in->attributes, code, v)
    {
        const json_t *attr = find_attr(def, code);
        if (!attr) {
            json_decref(clean);
            return fail(e, 400, "unknown_attribute", code, "service %s has no attribute '%s'", in->service_code, code);
        }
        if (!json_is_true(json_object_get(attr, "variable"))) {
            json_decref(clean);
            return fail(e, 400, "unknown_attribute", code, "attribute '%s' is informational and takes no value", code);
        }
        if (!check_attr_value(attr, code, v, clean, e)) {
            json_decref(clean);
            return false;
        }
    }
    size_t i;
    const json_t *attr;
    json_array_foreach(json_object_get(def, "attributes"), i, attr)
    {
        const char *c = json_string_value(json_object_get(attr, "code"));
        if (json_is_true(json_object_get(attr, "required")) && json_is_true(json_object_get(attr, "variable")) &&
            !json_object_get(clean, c)) {
            json_decref(clean);
            char field[80];
            snprintf(field, sizeof field, "attribute[%s]", c);
            return fail(e, 400, "missing_attribute", field, "attribute %s (%s) is required", c,
                        json_string_value(json_object_get(attr, "description")));
        }
    }
    *out = clean;
    return true;
}

/* What Open311 readers get back must parse as a URI (the schemas say format "uri"): an http(s)
 * scheme, a host, and only RFC 3986 characters; spaces and other text must come percent-encoded. */
static bool media_url_ok(const char *u)
{
    size_t n = strlen(u), skip;
    if (n > 2048)
        return false;
    if (!strncasecmp(u, "http://", 7))
        skip = 7;
    else if (!strncasecmp(u, "https://", 8))
        skip = 8;
    else
        return false;
    if (!u[skip] || strchr("/?#", u[skip]))
        return false; /* no host */
    for (const char *c = u; *c; c++)
        if (!(isalnum((unsigned char)*c) || strchr("-._~:/?#[]@!$&'()*+,;=%", *c)))
            return false;
    return true;
}

bool ticket_input_validate(ticket_input_t *in, const catalog_t *cat, char phone_out[16], json_t **attributes_out,
                           input_error_t *e)
{
    *attributes_out = NULL;
    phone_out[0] = '\0';
    if (!cat)
        return fail(e, 503, "not_ready", NULL, "the service catalogue is not loaded yet");
    const char *jid = json_string_value(json_object_get(cat->jurisdiction, "id"));
    if (in->jurisdiction_id && strcmp(in->jurisdiction_id, jid) != 0)
        return fail(e, 404, "unknown_jurisdiction", "jurisdiction_id", "jurisdiction_id '%s' is not served here (use %s)",
                    in->jurisdiction_id, jid);
    if (!in->service_code)
        return fail(e, 400, "missing_service_code", "service_code", "service_code is required");
    const json_t *def = json_object_get(cat->definitions, in->service_code);
    if (!def)
        return fail(e, 404, "unknown_service_code", "service_code", "service_code '%s' does not exist",
                    in->service_code);

    /* Location: lat+long together, or an address; inside the county when given as a point. */
    if (in->has_lat != in->has_long)
        return fail(e, 400, "invalid_location", in->has_lat ? "long" : "lat", "lat and long must be sent together");
    if (!in->has_lat && !in->address_string && !in->address_id)
        return fail(e, 400, "missing_location", "lat", "a location is required: lat and long, address_string or address_id");
    if (in->has_lat) {
        if (in->lat < -90 || in->lat > 90)
            return fail(e, 400, "invalid_location", "lat", "lat must be between -90 and 90");
        if (in->lon < -180 || in->lon > 180)
            return fail(e, 400, "invalid_location", "long", "long must be between -180 and 180");
        if (in->lat < cat->min_lat || in->lat > cat->max_lat || in->lon < cat->min_long || in->lon > cat->max_long)
            return fail(e, 400, "location_outside_jurisdiction", "lat",
                        "the point %.6f,%.6f is outside this county (lat %.4f..%.4f, long %.4f..%.4f)", in->lat, in->lon,
                        cat->min_lat, cat->max_lat, cat->min_long, cat->max_long);
    }
    if (!check_field(in->address_string, "address_string", 500, e) || !check_field(in->address_id, "address_id", 64, e))
        return false;

    if (in->description && !text_ok(in->description, DESCRIPTION_MAX_CHARS))
        return fail(e, 400, "invalid_description", "description",
                    "description must be valid text of at most %d characters", DESCRIPTION_MAX_CHARS);
    if (!check_field(in->first_name, "first_name", 64, e) || !check_field(in->last_name, "last_name", 64, e) ||
        !check_field(in->device_id, "device_id", 128, e) || !check_field(in->account_id, "account_id", 128, e))
        return false;
    if (in->email && !email_ok(in->email))
        return fail(e, 400, "invalid_email", "email", "email is not a valid address");
    if (in->phone) {
        if (!phone_ok(in->phone, phone_out))
            return fail(e, 400, "invalid_phone", "phone", "phone must be a mainland mobile number such as 13812345678");
    }
    if (in->media_url && !media_url_ok(in->media_url))
        return fail(e, 400, "invalid_media_url", "media_url",
                    "media_url must be an http(s) URL (RFC 3986 characters, non-ASCII percent-encoded) of at most 2048 bytes");
    return check_attributes(in, def, attributes_out, e);
}
