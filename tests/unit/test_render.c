#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <string.h>

#include "render.h"
#include "ticket_store.h"

#define DECL "<?xml version=\"1.0\" encoding=\"utf-8\"?>"

static json_t *J(const char *text)
{
    json_error_t je;
    json_t *v = json_loads(text, JSON_DECODE_ANY, &je);
    if (!v)
        fail_msg("bad test JSON: %s", je.text);
    return v;
}

static void resp_init(http_resp_t *r)
{
    memset(r, 0, sizeof *r);
    r->body = (buf_t)BUF_INIT;
}

/* The body parsed as JSON (new reference). */
static json_t *body_json(const http_resp_t *r)
{
    json_error_t je;
    json_t *v = json_loads(buf_str(&r->body), JSON_DECODE_ANY, &je);
    if (!v)
        fail_msg("body is not JSON (%s): %s", je.text, buf_str(&r->body));
    return v;
}

static void content_types_name_the_charset(void **state)
{
    (void)state;
    assert_string_equal(CT_XML, "text/xml; charset=utf-8");
    assert_string_equal(CT_JSON, "application/json; charset=utf-8");
}

static void list_json_is_a_top_level_array(void **state)
{
    (void)state;
    http_resp_t r;
    resp_init(&r);
    json_t *items = J("[{\"service_code\":\"LIGHT\",\"service_name\":\"路灯照明\",\"metadata\":true},"
                      "{\"service_code\":\"ROAD\",\"metadata\":false}]");
    render_o311_list(&r, FMT_JSON, 200, "services", "service", items);
    assert_int_equal(r.status, 200);
    assert_ptr_equal(r.content_type, CT_JSON);
    assert_string_equal(buf_str(&r.body), "[{\"service_code\":\"LIGHT\",\"service_name\":\"路灯照明\",\"metadata\":true},"
                                          "{\"service_code\":\"ROAD\",\"metadata\":false}]");
    json_t *back = body_json(&r);
    assert_true(json_is_array(back));
    assert_true(json_equal(back, items));
    json_decref(back);
    json_decref(items);
    buf_free(&r.body);
}

static void list_json_of_nothing_is_empty_array(void **state)
{
    (void)state;
    http_resp_t r;
    resp_init(&r);
    json_t *items = json_array();
    render_o311_list(&r, FMT_JSON, 200, "service_requests", "request", items);
    assert_string_equal(buf_str(&r.body), "[]");
    render_o311_list(&r, FMT_XML, 200, "service_requests", "request", items);
    assert_string_equal(buf_str(&r.body), DECL "<service_requests></service_requests>");
    json_decref(items);
    buf_free(&r.body);
}

static void list_xml_has_declaration_root_and_item_elements(void **state)
{
    (void)state;
    http_resp_t r;
    resp_init(&r);
    json_t *items = J("[{\"service_code\":\"LIGHT\",\"metadata\":true,\"order\":3},"
                      "{\"service_code\":\"ROAD\",\"metadata\":false,\"zipcode\":null}]");
    render_o311_list(&r, FMT_XML, 200, "services", "service", items);
    assert_int_equal(r.status, 200);
    assert_ptr_equal(r.content_type, CT_XML);
    assert_string_equal(buf_str(&r.body), DECL "<services>"
                                               "<service><service_code>LIGHT</service_code><metadata>true</metadata>"
                                               "<order>3</order></service>"
                                               "<service><service_code>ROAD</service_code><metadata>false</metadata>"
                                               "<zipcode></zipcode></service>"
                                               "</services>");
    json_decref(items);
    buf_free(&r.body);
}

static void xml_numbers_are_plain_decimals(void **state)
{
    (void)state;
    http_resp_t r;
    resp_init(&r);
    json_t *items = J("[{\"lat\":28.21,\"long\":113.123456}]");
    render_o311_list(&r, FMT_XML, 200, "service_requests", "request", items);
    assert_string_equal(buf_str(&r.body),
                        DECL "<service_requests><request><lat>28.21</lat><long>113.123456</long></request>"
                             "</service_requests>");
    render_o311_list(&r, FMT_JSON, 200, "service_requests", "request", items);
    assert_string_equal(buf_str(&r.body), "[{\"lat\":28.21,\"long\":113.123456}]");
    json_decref(items);
    buf_free(&r.body);
}

static void nested_arrays_are_named_by_their_singular(void **state)
{
    (void)state;
    http_resp_t r;
    resp_init(&r);
    json_t *def = J("{\"service_code\":\"LIGHT\",\"attributes\":["
                    "{\"code\":\"fault_type\",\"order\":1,\"values\":[{\"key\":\"off\",\"name\":\"不亮\"},"
                    "{\"key\":\"flicker\",\"name\":\"闪烁\"}]},"
                    "{\"code\":\"pole_no\",\"order\":2}]}");
    render_o311_object(&r, FMT_XML, 200, "service_definition", def);
    assert_string_equal(buf_str(&r.body),
                        DECL "<service_definition><service_code>LIGHT</service_code><attributes>"
                             "<attribute><code>fault_type</code><order>1</order><values>"
                             "<value><key>off</key><name>不亮</name></value>"
                             "<value><key>flicker</key><name>闪烁</name></value>"
                             "</values></attribute>"
                             "<attribute><code>pole_no</code><order>2</order></attribute>"
                             "</attributes></service_definition>");
    json_decref(def);
    buf_free(&r.body);
}

static void endpoints_and_formats_are_named_by_their_singular(void **state)
{
    (void)state;
    http_resp_t r;
    resp_init(&r);
    json_t *disc = J("{\"changeset\":\"2026-11-29T07:40:01Z\",\"contact\":\"12345\",\"endpoints\":["
                     "{\"specification\":\"http://wiki.open311.org/GeoReport_v2\",\"url\":\"http://x/open311/v2\","
                     "\"formats\":[\"text/xml\",\"application/json\"]}]}");
    render_o311_object(&r, FMT_XML, 200, "discovery", disc);
    assert_string_equal(buf_str(&r.body),
                        DECL "<discovery><changeset>2026-11-29T07:40:01Z</changeset><contact>12345</contact>"
                             "<endpoints><endpoint>"
                             "<specification>http://wiki.open311.org/GeoReport_v2</specification>"
                             "<url>http://x/open311/v2</url>"
                             "<formats><format>text/xml</format><format>application/json</format></formats>"
                             "</endpoint></endpoints></discovery>");
    json_decref(disc);
    buf_free(&r.body);
}

static void other_plural_arrays_drop_the_final_s(void **state)
{
    (void)state;
    http_resp_t r;
    resp_init(&r);
    json_t *o = J("{\"photos\":[\"a.jpg\"],\"data\":[1,2],\"empty\":[]}");
    render_o311_object(&r, FMT_XML, 200, "x", o);
    assert_string_equal(buf_str(&r.body), DECL "<x><photos><photo>a.jpg</photo></photos>"
                                               "<data><data>1</data><data>2</data></data>"
                                               "<empty></empty></x>");
    json_decref(o);
    buf_free(&r.body);
}

static void object_json_is_the_object(void **state)
{
    (void)state;
    http_resp_t r;
    resp_init(&r);
    json_t *o = J("{\"service_code\":\"LIGHT\",\"attributes\":[]}");
    render_o311_object(&r, FMT_JSON, 201, "service_definition", o);
    assert_int_equal(r.status, 201);
    assert_ptr_equal(r.content_type, CT_JSON);
    assert_string_equal(buf_str(&r.body), "{\"service_code\":\"LIGHT\",\"attributes\":[]}");
    json_decref(o);
    buf_free(&r.body);
}

static void xml_text_is_escaped(void **state)
{
    (void)state;
    http_resp_t r;
    resp_init(&r);
    json_t *items = json_pack("[{s:s}]", "description", "a & b <c> \"d\" 'e' 路灯\x01");
    render_o311_list(&r, FMT_XML, 200, "service_requests", "request", items);
    assert_string_equal(buf_str(&r.body), DECL "<service_requests><request><description>"
                                               "a &amp; b &lt;c&gt; &quot;d&quot; &apos;e&apos; 路灯"
                                               "</description></request></service_requests>");
    render_o311_list(&r, FMT_JSON, 200, "service_requests", "request", items);
    json_t *back = body_json(&r);
    assert_true(json_equal(back, items));
    json_decref(back);
    json_decref(items);
    buf_free(&r.body);
}

static void rendering_again_replaces_the_body(void **state)
{
    (void)state;
    http_resp_t r;
    resp_init(&r);
    json_t *items = J("[{\"a\":1}]");
    render_o311_list(&r, FMT_XML, 200, "as", "a", items);
    render_o311_list(&r, FMT_JSON, 202, "as", "a", items);
    assert_int_equal(r.status, 202);
    assert_ptr_equal(r.content_type, CT_JSON);
    assert_string_equal(buf_str(&r.body), "[{\"a\":1}]");
    json_decref(items);
    buf_free(&r.body);
}

static void o311_error_json_is_array_of_code_and_description(void **state)
{
    (void)state;
    http_resp_t r;
    resp_init(&r);
    render_o311_error(&r, FMT_JSON, 400, "service_code \"X\" 不存在");
    assert_int_equal(r.status, 400);
    assert_ptr_equal(r.content_type, CT_JSON);
    assert_string_equal(buf_str(&r.body), "[{\"code\":400,\"description\":\"service_code \\\"X\\\" 不存在\"}]");
    json_t *v = body_json(&r);
    assert_true(json_is_array(v));
    assert_int_equal(json_array_size(v), 1);
    assert_int_equal(json_integer_value(json_object_get(json_array_get(v, 0), "code")), 400);
    assert_string_equal(json_string_value(json_object_get(json_array_get(v, 0), "description")),
                        "service_code \"X\" 不存在");
    json_decref(v);
    buf_free(&r.body);
}

static void o311_error_xml_is_errors_error(void **state)
{
    (void)state;
    http_resp_t r;
    resp_init(&r);
    render_o311_error(&r, FMT_XML, 404, "no request <7> & more");
    assert_int_equal(r.status, 404);
    assert_ptr_equal(r.content_type, CT_XML);
    assert_string_equal(buf_str(&r.body), DECL "<errors><error><code>404</code>"
                                               "<description>no request &lt;7&gt; &amp; more</description>"
                                               "</error></errors>");
    buf_free(&r.body);
}

/* RequestResponse (open311/schema-validation swagger.json) types account_id as a string: without
 * one the JSON answer leaves the member out instead of writing null. */
static void o311_created_json_leaves_out_an_absent_account_id(void **state)
{
    (void)state;
    http_resp_t r;
    resp_init(&r);
    render_o311_created(&r, FMT_JSON, "2611290000001", "诉求已受理", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_ptr_equal(r.content_type, CT_JSON);
    assert_string_equal(buf_str(&r.body), "[{\"service_request_id\":\"2611290000001\",\"service_notice\":\"诉求已受理\"}]");
    assert_null(strstr(buf_str(&r.body), "null"));
    buf_free(&r.body);
}

static void o311_created_json_echoes_the_account_id_as_a_string(void **state)
{
    (void)state;
    http_resp_t r;
    resp_init(&r);
    render_o311_created(&r, FMT_JSON, "2611290000002", "诉求已受理", "wx-0042", "");
    json_t *v = body_json(&r);
    assert_true(json_is_array(v));
    assert_int_equal(json_array_size(v), 1);
    json_t *o = json_array_get(v, 0);
    assert_int_equal(json_object_size(o), 3);
    assert_string_equal(json_string_value(json_object_get(o, "service_request_id")), "2611290000002");
    assert_string_equal(json_string_value(json_object_get(o, "service_notice")), "诉求已受理");
    assert_string_equal(json_string_value(json_object_get(o, "account_id")), "wx-0042");
    json_decref(v);
    buf_free(&r.body);
}

/* XML keeps the empty <account_id/> the specification's example (and the open311 gem's fixture)
 * shows; with a value it is the element's text. */
static void o311_created_xml_keeps_the_account_id_element(void **state)
{
    (void)state;
    http_resp_t r;
    resp_init(&r);
    render_o311_created(&r, FMT_XML, "2611290000001", "诉求已受理", NULL, NULL);
    assert_int_equal(r.status, 200);
    assert_ptr_equal(r.content_type, CT_XML);
    assert_string_equal(buf_str(&r.body), DECL "<service_requests><request><service_request_id>2611290000001"
                                               "</service_request_id><service_notice>诉求已受理</service_notice>"
                                               "<account_id></account_id></request></service_requests>");
    render_o311_created(&r, FMT_XML, "2611290000002", "n", "a&b", NULL);
    assert_non_null(strstr(buf_str(&r.body), "<account_id>a&amp;b</account_id></request>"));
    buf_free(&r.body);
}

/* The reporter's rating code, when one was issued, follows the members RequestResponse names, in
 * both formats; it is a string like the rest. */
static void o311_created_carries_the_rating_code(void **state)
{
    (void)state;
    http_resp_t r;
    resp_init(&r);
    render_o311_created(&r, FMT_JSON, "2611290000003", "n", NULL, "7KQ2M9XD4P");
    assert_string_equal(buf_str(&r.body), "[{\"service_request_id\":\"2611290000003\",\"service_notice\":\"n\","
                                          "\"rating_code\":\"7KQ2M9XD4P\"}]");
    render_o311_created(&r, FMT_XML, "2611290000003", "n", NULL, "7KQ2M9XD4P");
    assert_non_null(strstr(buf_str(&r.body), "<account_id></account_id><rating_code>7KQ2M9XD4P</rating_code></request>"));
    buf_free(&r.body);
}

/* A ticket row as an Open311 request: every member of the record is there; what the row lacks is
 * null (request.json allows null for each optional member, as the specification's JSON example
 * shows) and an empty element in XML; lat/long are numbers. Built as libpq would hand it over. */
static PGresult *ticket_row(const char *const values[TC_NCOLS])
{
    PGresult *res = PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    PGresAttDesc attrs[TC_NCOLS];
    memset(attrs, 0, sizeof attrs);
    for (int i = 0; i < TC_NCOLS; i++) {
        attrs[i].name = (char *)"c";
        attrs[i].typid = 25; /* text */
        attrs[i].typlen = -1;
        attrs[i].atttypmod = -1;
    }
    assert_true(PQsetResultAttrs(res, TC_NCOLS, attrs));
    for (int i = 0; i < TC_NCOLS; i++)
        assert_true(PQsetvalue(res, 0, i, (char *)values[i], values[i] ? (int)strlen(values[i]) : -1));
    return res;
}

static void o311_record_has_every_member_null_when_absent(void **state)
{
    (void)state;
    const char *v[TC_NCOLS] = {0};
    v[TC_CODE] = "2611290000003";
    v[TC_STATUS] = "open";
    v[TC_SERVICE_NAME] = "路灯照明";
    v[TC_SERVICE_CODE] = "LIGHT";
    v[TC_REQUESTED] = "2026-11-29T09:00:00+08:00";
    v[TC_UPDATED] = "2026-11-29T09:00:00+08:00";
    v[TC_LAT] = "28.25";
    v[TC_LONG] = "113.15";
    v[TC_ATTRIBUTES] = "{}";
    v[TC_ID] = "3";
    PGresult *res = ticket_row(v);
    json_t *o = render_ticket_open311(res, 0);
    static const char *const members[] = {"service_request_id", "status", "status_notes", "service_name",
                                          "service_code", "description", "agency_responsible", "service_notice",
                                          "requested_datetime", "updated_datetime", "expected_datetime", "address",
                                          "address_id", "zipcode", "lat", "long", "media_url"};
    assert_int_equal(json_object_size(o), sizeof members / sizeof members[0]);
    for (size_t i = 0; i < sizeof members / sizeof members[0]; i++)
        assert_non_null(json_object_get(o, members[i]));
    assert_string_equal(json_string_value(json_object_get(o, "service_request_id")), "2611290000003");
    assert_true(json_is_null(json_object_get(o, "status_notes")));
    assert_true(json_is_null(json_object_get(o, "agency_responsible")));
    assert_true(json_is_null(json_object_get(o, "expected_datetime")));
    assert_true(json_is_null(json_object_get(o, "media_url")));
    assert_true(json_is_real(json_object_get(o, "lat")));
    assert_true(json_is_real(json_object_get(o, "long")));

    http_resp_t r;
    resp_init(&r);
    json_t *items = json_pack("[O]", o);
    render_o311_list(&r, FMT_XML, 200, "service_requests", "request", items);
    const char *x = buf_str(&r.body);
    assert_non_null(strstr(x, "<status_notes></status_notes>"));
    assert_non_null(strstr(x, "<agency_responsible></agency_responsible>"));
    assert_non_null(strstr(x, "<lat>28.25</lat><long>113.15</long><media_url></media_url></request>"));
    json_decref(items);
    json_decref(o);
    PQclear(res);
    buf_free(&r.body);
}

static void api_error_with_field(void **state)
{
    (void)state;
    http_resp_t r;
    resp_init(&r);
    render_api_error(&r, 422, "invalid", "lat", "纬度超出本县范围");
    assert_int_equal(r.status, 422);
    assert_ptr_equal(r.content_type, CT_JSON);
    assert_string_equal(buf_str(&r.body),
                        "{\"error\":{\"code\":\"invalid\",\"message\":\"纬度超出本县范围\",\"field\":\"lat\"}}");
    buf_free(&r.body);
}

static void api_error_without_field_has_no_field_key(void **state)
{
    (void)state;
    http_resp_t r;
    resp_init(&r);
    render_api_error(&r, 401, "unauthorized", NULL, "missing \"api_key\"");
    assert_int_equal(r.status, 401);
    assert_ptr_equal(r.content_type, CT_JSON);
    json_t *v = body_json(&r);
    json_t *e = json_object_get(v, "error");
    assert_int_equal(json_object_size(v), 1);
    assert_int_equal(json_object_size(e), 2);
    assert_string_equal(json_string_value(json_object_get(e, "code")), "unauthorized");
    assert_string_equal(json_string_value(json_object_get(e, "message")), "missing \"api_key\"");
    assert_null(json_object_get(e, "field"));
    json_decref(v);
    render_api_error(&r, 400, "bad", "", "empty field");
    v = body_json(&r);
    assert_null(json_object_get(json_object_get(v, "error"), "field"));
    json_decref(v);
    buf_free(&r.body);
}

static void render_json_writes_any_value_compactly(void **state)
{
    (void)state;
    http_resp_t r;
    resp_init(&r);
    json_t *v = J("{\"a\": [1, 2.5, null, \"x\"], \"b\": {}}");
    render_json(&r, 200, v);
    assert_int_equal(r.status, 200);
    assert_ptr_equal(r.content_type, CT_JSON);
    assert_string_equal(buf_str(&r.body), "{\"a\":[1,2.5,null,\"x\"],\"b\":{}}");
    json_decref(v);
    v = json_string("bare");
    render_json(&r, 200, v);
    assert_string_equal(buf_str(&r.body), "\"bare\"");
    json_decref(v);
    buf_free(&r.body);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(content_types_name_the_charset),
        cmocka_unit_test(list_json_is_a_top_level_array),
        cmocka_unit_test(list_json_of_nothing_is_empty_array),
        cmocka_unit_test(list_xml_has_declaration_root_and_item_elements),
        cmocka_unit_test(xml_numbers_are_plain_decimals),
        cmocka_unit_test(nested_arrays_are_named_by_their_singular),
        cmocka_unit_test(endpoints_and_formats_are_named_by_their_singular),
        cmocka_unit_test(other_plural_arrays_drop_the_final_s),
        cmocka_unit_test(object_json_is_the_object),
        cmocka_unit_test(xml_text_is_escaped),
        cmocka_unit_test(rendering_again_replaces_the_body),
        cmocka_unit_test(o311_error_json_is_array_of_code_and_description),
        cmocka_unit_test(o311_error_xml_is_errors_error),
        cmocka_unit_test(o311_created_json_leaves_out_an_absent_account_id),
        cmocka_unit_test(o311_created_json_echoes_the_account_id_as_a_string),
        cmocka_unit_test(o311_created_xml_keeps_the_account_id_element),
        cmocka_unit_test(o311_created_carries_the_rating_code),
        cmocka_unit_test(o311_record_has_every_member_null_when_absent),
        cmocka_unit_test(api_error_with_field),
        cmocka_unit_test(api_error_without_field_has_no_field_key),
        cmocka_unit_test(render_json_writes_any_value_compactly),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
