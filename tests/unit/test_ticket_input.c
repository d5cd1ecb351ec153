/* ticket_input_validate(): the rules both edges share, on a hand-built catalogue, without HTTP or
 * PostgreSQL. The database rules (unknown address_id, a point 2 km from the household) are
 * tested end to end in tests/e2e/test_bad_input.c. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "catalog.h"
#include "ticket_input.h"

static catalog_t g_cat;

static json_t *list_attr(const char *code, const char *type, bool required, int order, const char *const *keys)
{
    json_t *values = json_array();
    for (; *keys; keys++)
        json_array_append_new(values, json_pack("{s:s,s:s}", "key", *keys, "name", *keys));
    return json_pack("{s:b,s:s,s:s,s:b,s:s,s:i,s:s,s:o}", "variable", 1, "code", code, "datatype", type, "required",
                     required, "datatype_description", "", "order", order, "description", code, "values", values);
}

static json_t *plain_attr(const char *code, const char *type, bool variable, bool required, int order)
{
    return json_pack("{s:b,s:s,s:s,s:b,s:s,s:i,s:s}", "variable", variable, "code", code, "datatype", type, "required",
                     required, "datatype_description", "", "order", order, "description", code);
}

static int setup(void **state)
{
    (void)state;
    static const char *const faults[] = {"off", "flicker", "day_on", "pole", NULL};
    static const char *const disputes[] = {"boundary", "water", "noise", "other", NULL};
    static const char *const hazards[] = {"seepage", "crack", NULL};
    json_t *defs = json_object();
    json_object_set_new(defs, "LIGHT",
                        json_pack("{s:s,s:[o,o]}", "service_code", "LIGHT", "attributes",
                                  list_attr("fault_type", "singlevaluelist", true, 1, faults),
                                  plain_attr("pole_no", "string", true, false, 2)));
    json_object_set_new(defs, "DISPUTE",
                        json_pack("{s:s,s:[o,o]}", "service_code", "DISPUTE", "attributes",
                                  list_attr("dispute_type", "multivaluelist", true, 1, disputes),
                                  plain_attr("households", "number", true, false, 2)));
    json_object_set_new(defs, "POND",
                        json_pack("{s:s,s:[o,o,o]}", "service_code", "POND", "attributes",
                                  plain_attr("notice", "string", false, false, 1),
                                  list_attr("hazard", "singlevaluelist", true, 2, hazards),
                                  plain_attr("water_level", "number", true, false, 3)));
    json_object_set_new(defs, "BUILD",
                        json_pack("{s:s,s:[o,o]}", "service_code", "BUILD", "attributes",
                                  plain_attr("found_at", "datetime", true, false, 1),
                                  plain_attr("detail", "text", true, false, 2)));
    json_object_set_new(defs, "OTHER", json_pack("{s:s,s:[]}", "service_code", "OTHER", "attributes"));
    g_cat = (catalog_t){
        .services = json_array(),
        .definitions = defs,
        .names = json_object(),
        .jurisdiction = json_pack("{s:s,s:s,s:s,s:s}", "id", "demo.gridgov.cn", "contact", "c", "key_service", "k",
                                  "changeset", "2024-01-01T00:00:00Z"),
        .min_lat = 28.12,
        .max_lat = 28.38,
        .min_long = 113.02,
        .max_long = 113.28,
    };
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    json_decref(g_cat.services);
    json_decref(g_cat.definitions);
    json_decref(g_cat.names);
    json_decref(g_cat.jurisdiction);
    return 0;
}

/* A valid LIGHT ticket at a point in the county; tests change one thing. attrs is borrowed. */
static ticket_input_t light(const json_t *attrs)
{
    return (ticket_input_t){
        .channel = "api",
        .api_client_id = 1,
        .service_code = "LIGHT",
        .has_lat = true,
        .has_long = true,
        .lat = 28.2,
        .lon = 113.1,
        .attributes = attrs,
    };
}

static json_t *attrs_of(const char *json)
{
    json_error_t e;
    json_t *j = json_loads(json, 0, &e);
    assert_non_null(j);
    return j;
}

/* Validates; expects success and exactly the normalized attributes in want_attrs. */
static void expect_ok(ticket_input_t *in, const char *want_attrs)
{
    char phone[16];
    json_t *out = NULL;
    input_error_t e;
    memset(&e, 0, sizeof e);
    if (!ticket_input_validate(in, &g_cat, phone, &out, &e)) {
        print_error("unexpected error %d %s (%s): %s\n", e.status, e.code, e.field, e.message);
        fail();
    }
    assert_non_null(out);
    json_t *want = attrs_of(want_attrs);
    if (!json_equal(out, want)) {
        char *got = json_dumps(out, JSON_SORT_KEYS | JSON_COMPACT);
        print_error("attributes %s, expected %s\n", got, want_attrs);
        free(got);
        fail();
    }
    json_decref(want);
    json_decref(out);
}

/* Validates; expects failure with this status and code (and field when given). */
static void expect_err(ticket_input_t *in, int status, const char *code, const char *field)
{
    char phone[16];
    json_t *out = NULL;
    input_error_t e;
    memset(&e, 0, sizeof e);
    if (ticket_input_validate(in, &g_cat, phone, &out, &e)) {
        print_error("expected %d %s, got success\n", status, code);
        json_decref(out);
        fail();
    }
    assert_null(out);
    if (e.status != status || strcmp(e.code, code) != 0 || (field && strcmp(e.field, field) != 0)) {
        print_error("got %d %s (field %s): %s; expected %d %s (field %s)\n", e.status, e.code, e.field, e.message, status,
                    code, field ? field : "*");
        fail();
    }
    assert_true(strlen(e.message) > 0);
}

static char *chinese(size_t n)
{
    buf_t b = BUF_INIT;
    for (size_t i = 0; i < n; i++)
        buf_puts(&b, i % 2 ? "灯" : "路");
    return buf_detach(&b);
}

/* ------------------------------------------------------------------------------------------ */

static void valid_ticket_passes(void **state)
{
    (void)state;
    json_t *a = attrs_of("{\"fault_type\":\"off\",\"pole_no\":\"LD-0123\"}");
    ticket_input_t in = light(a);
    in.description = "路灯不亮\n请修理";
    in.email = "zhang@example.cn";
    in.media_url = "https://example.cn/a.jpg";
    expect_ok(&in, "{\"fault_type\":\"off\",\"pole_no\":\"LD-0123\"}");
    json_decref(a);
}

static void no_catalog_is_503(void **state)
{
    (void)state;
    json_t *a = attrs_of("{\"fault_type\":\"off\"}");
    ticket_input_t in = light(a);
    char phone[16];
    json_t *out = NULL;
    input_error_t e;
    assert_false(ticket_input_validate(&in, NULL, phone, &out, &e));
    assert_int_equal(e.status, 503);
    assert_null(out);
    json_decref(a);
}

static void jurisdiction_and_service(void **state)
{
    (void)state;
    json_t *a = attrs_of("{\"fault_type\":\"off\"}");
    ticket_input_t in = light(a);
    in.jurisdiction_id = "demo.gridgov.cn";
    expect_ok(&in, "{\"fault_type\":\"off\"}");
    in.jurisdiction_id = "sfgov.org";
    expect_err(&in, 404, "unknown_jurisdiction", "jurisdiction_id");
    in = light(a);
    in.service_code = NULL;
    expect_err(&in, 400, "missing_service_code", "service_code");
    in.service_code = "NOPE";
    expect_err(&in, 404, "unknown_service_code", "service_code");
    json_decref(a);
}

static void location_rules(void **state)
{
    (void)state;
    json_t *a = attrs_of("{\"fault_type\":\"off\"}");
    ticket_input_t in = light(a);
    in.has_long = false;
    expect_err(&in, 400, "invalid_location", "long");
    in = light(a);
    in.has_lat = false;
    expect_err(&in, 400, "invalid_location", "lat");
    in = light(a);
    in.has_lat = in.has_long = false;
    expect_err(&in, 400, "missing_location", NULL);
    in.address_string = "九木村安全组12号";
    expect_ok(&in, "{\"fault_type\":\"off\"}");
    in.address_string = NULL;
    in.address_id = "430121-101-01-01-001";
    expect_ok(&in, "{\"fault_type\":\"off\"}");
    in = light(a);
    in.lat = 91;
    expect_err(&in, 400, "invalid_location", "lat");
    in = light(a);
    in.lat = -90.0001;
    expect_err(&in, 400, "invalid_location", "lat");
    in = light(a);
    in.lon = 181;
    expect_err(&in, 400, "invalid_location", "long");
    in = light(a);
    in.lat = 39.9; /* Beijing */
    in.lon = 116.4;
    expect_err(&in, 400, "location_outside_jurisdiction", "lat");
    in = light(a);
    in.lat = 28.12; /* on the edge counts as inside */
    in.lon = 113.28;
    expect_ok(&in, "{\"fault_type\":\"off\"}");
    in.lat = 28.1199;
    expect_err(&in, 400, "location_outside_jurisdiction", NULL);
    in = light(a);
    in.address_string = "bad \xC3\x28 text";
    expect_err(&in, 400, "invalid_field", "address_string");
    json_decref(a);
}

static void description_length_and_text(void **state)
{
    (void)state;
    json_t *a = attrs_of("{\"fault_type\":\"off\"}");
    ticket_input_t in = light(a);
    char *d = chinese(DESCRIPTION_MAX_CHARS);
    in.description = d;
    expect_ok(&in, "{\"fault_type\":\"off\"}");
    free(d);
    d = chinese(DESCRIPTION_MAX_CHARS + 1);
    in.description = d;
    expect_err(&in, 400, "invalid_description", "description");
    free(d);
    in.description = "bad \xC3\x28 byte";
    expect_err(&in, 400, "invalid_description", "description");
    in.description = "bell \x07 here";
    expect_err(&in, 400, "invalid_description", "description");
    in.description = "tabs\tand\r\nnewlines are fine";
    expect_ok(&in, "{\"fault_type\":\"off\"}");
    json_decref(a);
}

static void reporter_fields(void **state)
{
    (void)state;
    json_t *a = attrs_of("{\"fault_type\":\"off\"}");
    ticket_input_t in = light(a);
    static const char *const bad_emails[] = {"zhang", "zhang@", "@example.cn", "zhang@example", "a@b@c.cn",
                                             "zhang san@example.cn", "<a@b.cn>", NULL};
    for (const char *const *m = bad_emails; *m; m++) {
        in.email = *m;
        expect_err(&in, 400, "invalid_email", "email");
    }
    in.email = NULL;
    static const char *const bad_phones[] = {"12345", "1381234567", "138123456789", "12812345678", "1381234abcd",
                                             "+1 415 555 0100", NULL};
    for (const char *const *p = bad_phones; *p; p++) {
        in.phone = *p;
        expect_err(&in, 400, "invalid_phone", "phone");
    }
    static const char *const good_phones[] = {"13812345678", "+8613812345678", "0086 138-1234-5678", "138 1234 5678", NULL};
    for (const char *const *p = good_phones; *p; p++) {
        char phone[16];
        json_t *out = NULL;
        input_error_t e;
        in.phone = *p;
        assert_true(ticket_input_validate(&in, &g_cat, phone, &out, &e));
        assert_string_equal(phone, "13812345678");
        json_decref(out);
    }
    in.phone = NULL;
    static const char *const bad_urls[] = {"ftp://example.cn/a.jpg", "javascript:alert(1)", "file:///etc/passwd",
                                           "HTTP//example.cn", "https://example.cn/a b.jpg", "https://例子.cn/a.jpg",
                                           "https:///a.jpg", "http://", "https://example.cn/a\".jpg", NULL};
    for (const char *const *u = bad_urls; *u; u++) {
        in.media_url = *u;
        expect_err(&in, 400, "invalid_media_url", "media_url");
    }
    char *long_url = malloc(2100);
    strcpy(long_url, "https://example.cn/");
    memset(long_url + strlen(long_url), 'a', 2100 - strlen(long_url) - 1);
    long_url[2099] = '\0';
    in.media_url = long_url;
    expect_err(&in, 400, "invalid_media_url", "media_url");
    free(long_url);
    in.media_url = "https://example.cn/%E8%B7%AF%E7%81%AF.jpg?x=1&y=2#f";
    expect_ok(&in, "{\"fault_type\":\"off\"}");
    in.media_url = "http://example.cn/a.jpg";
    expect_ok(&in, "{\"fault_type\":\"off\"}");
    char name[80];
    memset(name, 'x', 65);
    name[65] = '\0';
    in.first_name = name;
    expect_err(&in, 400, "invalid_field", "first_name");
    json_decref(a);
}

static void attribute_rules(void **state)
{
    (void)state;
    struct {
        const char *service, *attrs;
        int status;
        const char *code, *field; /* NULL code: accepted, field then holds the normalized attributes */
    } cases[] = {
        {"LIGHT", "{\"fault_type\":\"flicker\"}", 0, NULL, "{\"fault_type\":\"flicker\"}"},
        {"LIGHT", "{\"fault_type\":\"exploded\"}", 400, "invalid_attribute_value", "attribute[fault_type]"},
        {"LIGHT", "{\"fault_type\":[\"off\"]}", 400, "invalid_attribute_value", "attribute[fault_type]"},
        {"LIGHT", "{\"fault_type\":{}}", 400, "invalid_attribute_value", "attribute[fault_type]"},
        {"LIGHT", "{\"fault_type\":\"\"}", 400, "missing_attribute", "attribute[fault_type]"},
        {"LIGHT", "{}", 400, "missing_attribute", "attribute[fault_type]"},
        {"LIGHT", "{\"pole_no\":\"LD-1\"}", 400, "missing_attribute", "attribute[fault_type]"},
        {"LIGHT", "{\"fault_type\":\"off\",\"colour\":\"red\"}", 400, "unknown_attribute", "colour"},
        {"LIGHT", "[\"off\"]", 400, "invalid_attributes", "attributes"},
        {"LIGHT", "{\"fault_type\":\"off\",\"pole_no\":\"\"}", 0, NULL, "{\"fault_type\":\"off\"}"},
        {"DISPUTE", "{\"dispute_type\":[\"water\",\"noise\"]}", 0, NULL, "{\"dispute_type\":[\"water\",\"noise\"]}"},
        {"DISPUTE", "{\"dispute_type\":\"water\"}", 0, NULL, "{\"dispute_type\":[\"water\"]}"},
        {"DISPUTE", "{\"dispute_type\":[\"water\",\"aliens\"]}", 400, "invalid_attribute_value", "attribute[dispute_type]"},
        {"DISPUTE", "{\"dispute_type\":[]}", 400, "missing_attribute", "attribute[dispute_type]"},
        {"DISPUTE", "{\"dispute_type\":[\"water\"],\"households\":3}", 0, NULL,
         "{\"dispute_type\":[\"water\"],\"households\":\"3\"}"},
        {"DISPUTE", "{\"dispute_type\":[\"water\"],\"households\":\"2.5\"}", 0, NULL,
         "{\"dispute_type\":[\"water\"],\"households\":\"2.5\"}"},
        {"DISPUTE", "{\"dispute_type\":[\"water\"],\"households\":\"many\"}", 400, "invalid_attribute_value",
         "attribute[households]"},
        {"DISPUTE", "{\"dispute_type\":[\"water\"],\"households\":\"0x10\"}", 400, "invalid_attribute_value",
         "attribute[households]"},
        {"DISPUTE", "{\"dispute_type\":[\"water\"],\"households\":true}", 400, "invalid_attribute_value",
         "attribute[households]"},
        {"POND", "{\"hazard\":\"crack\",\"notice\":\"x\"}", 400, "unknown_attribute", "notice"},
        {"POND", "{\"hazard\":\"crack\",\"water_level\":\"3.5\"}", 0, NULL, "{\"hazard\":\"crack\",\"water_level\":\"3.5\"}"},
        {"BUILD", "{\"found_at\":\"2026-11-01T10:00:00+08:00\"}", 0, NULL, "{\"found_at\":\"2026-11-01T10:00:00+08:00\"}"},
        {"BUILD", "{\"found_at\":\"2026-11-01 10:00\"}", 400, "invalid_attribute_value", "attribute[found_at]"},
        {"BUILD", "{\"found_at\":\"2026-11-01T10:00:00\"}", 400, "invalid_attribute_value", "attribute[found_at]"},
        {"BUILD", "{}", 0, NULL, "{}"},
        {"OTHER", "{\"anything\":\"x\"}", 400, "unknown_attribute", "anything"},
    };
    for (size_t i = 0; i < sizeof cases / sizeof cases[0]; i++) {
        print_message("attributes %s %s\n", cases[i].service, cases[i].attrs);
        json_t *a = attrs_of(cases[i].attrs);
        ticket_input_t in = light(a);
        in.service_code = cases[i].service;
        if (cases[i].code)
            expect_err(&in, cases[i].status, cases[i].code, cases[i].field);
        else
            expect_ok(&in, cases[i].field);
        json_decref(a);
    }
    /* no attributes at all: fine when none is required */
    ticket_input_t in = light(NULL);
    in.service_code = "BUILD";
    expect_ok(&in, "{}");
    in.service_code = "LIGHT";
    expect_err(&in, 400, "missing_attribute", "attribute[fault_type]");
    /* a text attribute: 4000 characters */
    char *d = chinese(4000);
    json_t *a = json_pack("{s:s}", "detail", d);
    in = light(a);
    in.service_code = "BUILD";
    char want[16100];
    snprintf(want, sizeof want, "{\"detail\":\"%s\"}", d);
    expect_ok(&in, want);
    json_decref(a);
    free(d);
    d = chinese(4001);
    a = json_pack("{s:s}", "detail", d);
    in = light(a);
    in.service_code = "BUILD";
    expect_err(&in, 400, "invalid_attribute_value", "attribute[detail]");
    json_decref(a);
    free(d);
}

static void parse_double_is_strict(void **state)
{
    (void)state;
    double v = 0;
    assert_true(parse_double("28.2", &v));
    assert_true(v == 28.2);
    assert_true(parse_double("-90", &v));
    assert_true(parse_double("1e2", &v));
    assert_true(v == 100);
    assert_true(parse_double("+113.10", &v));
    static const char *const bad[] = {"", " 28.2", "28.2 ", "28,2", "abc", "0x1C", "inf", "nan", "1e999", "28.2.1",
                                      "28.2abc", NULL};
    for (const char *const *s = bad; *s; s++) {
        if (parse_double(*s, &v)) {
            print_error("parse_double accepted \"%s\"\n", *s);
            fail();
        }
    }
    assert_false(parse_double(NULL, &v));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(valid_ticket_passes),
        cmocka_unit_test(no_catalog_is_503),
        cmocka_unit_test(jurisdiction_and_service),
        cmocka_unit_test(location_rules),
        cmocka_unit_test(description_length_and_text),
        cmocka_unit_test(reporter_fields),
        cmocka_unit_test(attribute_rules),
        cmocka_unit_test(parse_double_is_strict),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
