/* Open311 GeoReport v2 conformance, against a real gridgov-intake started by this test.
 * What it checks is what real clients rely on (docs: /work/shared/reference/ticket-systems.md §1):
 * discovery and service list/definition in both formats, POST with api_key and jurisdiction_id
 * in the query or the body, attribute[CODE] and attribute[CODE][], empty parameters treated as
 * absent, ids as strings, times with a zone, single requests as one-element arrays, the list
 * filters, tokens, errors as [{code, description}] with 400/403/404/405.
 * Every ticket a POST creates is checked in PostgreSQL too: intake.ticket (attributes jsonb)
 * and its ticket.created event in bus.outbox. One request is followed through routing to closed
 * (a router started for it).
 * Every JSON answer is also kept for tests/open311_check.py, which validates it against the
 * schema of its kind (tests/open311/schemas/, after open311/schema-validation): see req(). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <curl/curl.h>
#include <jansson.h>
#include <math.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>

#include "harness.h"
#include "open311_keep.h"
#include "timefmt.h"

#define JURISDICTION "demo.gridgov.cn"
#define SPEC "http://wiki.open311.org/GeoReport_v2"
#define XML_DECL "<?xml version=\"1.0\" encoding=\"utf-8\"?>"

static pid_t g_pid, g_router;
static PGconn *g_db;
static char *g_key;
static char g_base[128];
static int g_teardown_failed;

/* ---------------------------------------------------------------------------------------------
 * helpers */

static bool has_header(const h_resp_t *r, const char *line_prefix)
{
    return strcasestr(buf_str(&r->headers), line_prefix) != NULL;
}

/* One request to intake; path is under the server root. Asserts the transport worked. Every
 * Open311 JSON answer is kept for the schema check (h_open311_keep). */
static void req(const char *method, const char *path, const char *const *headers, const char *body, h_resp_t *r)
{
    char *url = malloc(strlen(g_base) + strlen(path) + 1);
    assert_non_null(url);
    strcpy(url, g_base);
    strcat(url, path);
    bool ok = h_http(method, url, headers, body, body ? strlen(body) : 0, r);
    if (!ok)
        print_error("%s %s: no HTTP answer\n", method, path);
    free(url);
    assert_true(ok);
    assert_true(h_open311_keep(method, path, r));
}

static const char *const FORM[] = {"Content-Type: application/x-www-form-urlencoded; charset=utf-8", NULL};

static void post_form(const char *path, const char *body, h_resp_t *r) { req("POST", path, FORM, body, r); }

static void expect_status(const h_resp_t *r, long want, const char *what)
{
    if (r->status != want) {
        print_error("%s: HTTP %ld, expected %ld; body: %.600s\n", what, r->status, want, buf_str(&r->body));
        fail();
    }
}

static void expect_json_ct(const h_resp_t *r)
{
    if (!has_header(r, "\nContent-Type: application/json; charset=utf-8")) {
        print_error("expected Content-Type application/json; charset=utf-8 in:\n%s\n", buf_str(&r->headers));
        fail();
    }
}

static void expect_xml(const h_resp_t *r)
{
    if (!has_header(r, "\nContent-Type: text/xml; charset=utf-8")) {
        print_error("expected Content-Type text/xml; charset=utf-8 in:\n%s\n", buf_str(&r->headers));
        fail();
    }
    if (strncmp(buf_str(&r->body), XML_DECL, strlen(XML_DECL)) != 0) {
        print_error("XML does not start with the declaration: %.200s\n", buf_str(&r->body));
        fail();
    }
}

static void expect_contains(const char *hay, const char *needle)
{
    if (!strstr(hay, needle)) {
        print_error("expected to find \"%s\" in: %.1500s\n", needle, hay);
        fail();
    }
}

/* The body as JSON (new reference; asserts it parses). */
static json_t *body_json(const h_resp_t *r)
{
    json_error_t e;
    json_t *j = json_loadb(buf_str(&r->body), r->body.len, 0, &e);
    if (!j)
        print_error("response is not JSON (%s): %.300s\n", e.text, buf_str(&r->body));
    assert_non_null(j);
    return j;
}

/* Text of the first <tag>..</tag> into out ("" when missing). */
static void xml_text(const char *xml, const char *tag, char *out, size_t n)
{
    char open[64], close[64];
    snprintf(open, sizeof open, "<%s>", tag);
    snprintf(close, sizeof close, "</%s>", tag);
    out[0] = '\0';
    const char *a = strstr(xml, open);
    if (!a)
        return;
    a += strlen(open);
    const char *b = strstr(a, close);
    if (!b)
        return;
    snprintf(out, n, "%.*s", (int)(b - a), a);
}

static int count_of(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        n++;
    return n;
}

static long long tickets(void) { return h_sql_int(g_db, "SELECT count(*) FROM intake.ticket", 0, NULL); }
static long long events(void) { return h_sql_int(g_db, "SELECT count(*) FROM bus.outbox", 0, NULL); }

static bool all_digits(const char *s)
{
    if (!*s)
        return false;
    for (; *s; s++)
        if (*s < '0' || *s > '9')
            return false;
    return true;
}

/* Open311 errors in JSON: [{code: <int>, description: <non-empty string>}], code == status. */
static void expect_o311_error_json(const h_resp_t *r, long status)
{
    expect_status(r, status, "Open311 error");
    expect_json_ct(r);
    json_t *j = body_json(r);
    assert_true(json_is_array(j));
    assert_true(json_array_size(j) >= 1);
    json_t *e = json_array_get(j, 0);
    assert_true(json_is_integer(json_object_get(e, "code")));
    assert_int_equal(json_integer_value(json_object_get(e, "code")), status);
    assert_true(json_is_string(json_object_get(e, "description")));
    assert_true(strlen(json_string_value(json_object_get(e, "description"))) > 0);
    json_decref(j);
}

static void expect_o311_error_xml(const h_resp_t *r, long status)
{
    expect_status(r, status, "Open311 error (XML)");
    expect_xml(r);
    char want[64];
    snprintf(want, sizeof want, "<errors><error><code>%ld</code><description>", status);
    expect_contains(buf_str(&r->body), want);
}

/* The ticket is in intake.ticket (channel open311, this service, exactly these attributes) and
 * its ticket.created event is in bus.outbox. */
static void verify_ticket(const char *code, const char *service_code, const char *attrs_json)
{
    const char *p[] = {code, service_code, attrs_json};
    long long n = h_sql_int(g_db,
                            "SELECT count(*) FROM intake.ticket WHERE code = $1 AND service_code = $2"
                            " AND channel = 'open311' AND attributes = $3::jsonb",
                            3, p);
    if (n != 1) {
        char *got = h_sql_text(g_db, "SELECT attributes::text FROM intake.ticket WHERE code = $1", 1, p);
        print_error("ticket %s: expected service %s with attributes %s, the row has attributes '%s'\n", code,
                    service_code, attrs_json, got);
        free(got);
        fail();
    }
    assert_int_equal(h_sql_int(g_db,
                               "SELECT count(*) FROM bus.outbox WHERE type = 'ticket.created' AND source = 'intake'"
                               " AND data->>'code' = $1 AND data->>'service_code' = $2 AND data->'attributes' = $3::jsonb",
                               3, p),
                     1);
}

/* POSTs a form to requests.json, expects 200 and [{service_request_id: "<digits>"}]; returns the id. */
/* The rating code of the last answer create_json() read ("" when it carried none). */
static char g_rating_code[16];

static char *create_json(const char *query, const char *form)
{
    char path[512];
    snprintf(path, sizeof path, "/open311/v2/requests.json%s", query ? query : "");
    h_resp_t r;
    post_form(path, form, &r);
    expect_status(&r, 200, "POST requests.json");
    expect_json_ct(&r);
    json_t *j = body_json(&r);
    assert_true(json_is_array(j));
    assert_int_equal(json_array_size(j), 1);
    json_t *id = json_object_get(json_array_get(j, 0), "service_request_id");
    assert_true(json_is_string(id));
    assert_true(all_digits(json_string_value(id)));
    char *code = strdup(json_string_value(id));
    json_t *rc = json_object_get(json_array_get(j, 0), "rating_code");
    snprintf(g_rating_code, sizeof g_rating_code, "%s", rc ? json_string_value(rc) : "");
    json_decref(j);
    h_resp_free(&r);
    return code;
}

static char *form_with_key(const char *rest)
{
    buf_t b = BUF_INIT;
    buf_printf(&b, "api_key=%s&%s", g_key, rest);
    return buf_detach(&b);
}

static char *light_ticket(const char *fault)
{
    char rest[256];
    snprintf(rest, sizeof rest, "service_code=LIGHT&lat=28.25&long=113.15&attribute%%5Bfault_type%%5D=%s", fault);
    char *form = form_with_key(rest);
    char *code = create_json(NULL, form);
    free(form);
    char attrs[128];
    snprintf(attrs, sizeof attrs, "{\"fault_type\":\"%s\"}", fault);
    verify_ticket(code, "LIGHT", attrs);
    return code;
}

/* ---------------------------------------------------------------------------------------------
 * discovery */

static void discovery_json(void **state)
{
    (void)state;
    h_resp_t r;
    req("GET", "/open311/v2/discovery.json", NULL, NULL, &r);
    expect_status(&r, 200, "discovery.json");
    expect_json_ct(&r);
    json_t *d = body_json(&r);
    assert_true(json_is_object(d));
    const char *changeset = json_string_value(json_object_get(d, "changeset"));
    assert_non_null(changeset);
    int64_t cs_us = 0;
    assert_true(timefmt_parse(changeset, &cs_us));
    assert_true(cs_us < (int64_t)time(NULL) * 1000000); /* in the past, as validators require */
    assert_true(json_is_string(json_object_get(d, "contact")));
    assert_true(strlen(json_string_value(json_object_get(d, "contact"))) > 0);
    assert_true(json_is_string(json_object_get(d, "key_service")));
    assert_true(strlen(json_string_value(json_object_get(d, "key_service"))) > 0);
    json_t *eps = json_object_get(d, "endpoints");
    assert_true(json_is_array(eps));
    assert_true(json_array_size(eps) >= 1);
    json_t *ep = json_array_get(eps, 0);
    assert_string_equal(json_string_value(json_object_get(ep, "specification")), SPEC);
    char url[200];
    snprintf(url, sizeof url, "%s/open311/v2", g_base);
    assert_string_equal(json_string_value(json_object_get(ep, "url")), url);
    assert_true(json_is_string(json_object_get(ep, "changeset")));
    const char *type = json_string_value(json_object_get(ep, "type"));
    assert_non_null(type);
    assert_true(!strcmp(type, "production") || !strcmp(type, "test"));
    json_t *formats = json_object_get(ep, "formats");
    assert_true(json_is_array(formats));
    bool xml = false, js = false;
    size_t i;
    json_t *f;
    json_array_foreach(formats, i, f)
    {
        assert_true(json_is_string(f));
        xml |= !strcmp(json_string_value(f), "text/xml");
        js |= !strcmp(json_string_value(f), "application/json");
    }
    assert_true(xml); /* every v2 endpoint must support text/xml */
    assert_true(js);
    json_decref(d);
    h_resp_free(&r);
}

static void discovery_xml(void **state)
{
    (void)state;
    h_resp_t r;
    req("GET", "/open311/v2/discovery.xml", NULL, NULL, &r);
    expect_status(&r, 200, "discovery.xml");
    expect_xml(&r);
    const char *x = buf_str(&r.body);
    expect_contains(x, XML_DECL "<discovery>");
    char t[512];
    xml_text(x, "changeset", t, sizeof t);
    int64_t us;
    assert_true(timefmt_parse(t, &us));
    xml_text(x, "contact", t, sizeof t);
    assert_true(strlen(t) > 0);
    xml_text(x, "key_service", t, sizeof t);
    assert_true(strlen(t) > 0);
    expect_contains(x, "<endpoints><endpoint>");
    expect_contains(x, "<specification>" SPEC "</specification>");
    char url[200];
    snprintf(url, sizeof url, "<url>%s/open311/v2</url>", g_base);
    expect_contains(x, url);
    expect_contains(x, "<type>production</type>");
    expect_contains(x, "<formats><format>text/xml</format>");
    expect_contains(x, "<format>application/json</format></formats>");
    /* the endpoint has its own changeset too */
    const char *ep = strstr(x, "<endpoint>");
    assert_non_null(strstr(ep, "<changeset>"));
    expect_contains(x, "</discovery>");
    h_resp_free(&r);
}

/* ---------------------------------------------------------------------------------------------
 * services */

static void services_json(void **state)
{
    (void)state;
    long long active = h_sql_int(g_db, "SELECT count(*) FROM registry.service WHERE active", 0, NULL);
    h_resp_t r;
    req("GET", "/open311/v2/services.json", NULL, NULL, &r);
    expect_status(&r, 200, "services.json");
    expect_json_ct(&r);
    json_t *j = body_json(&r);
    assert_true(json_is_array(j));
    assert_int_equal(json_array_size(j), active);
    bool light = false, other = false;
    size_t i;
    json_t *s;
    json_array_foreach(j, i, s)
    {
        assert_true(json_is_string(json_object_get(s, "service_code")));
        assert_true(json_is_string(json_object_get(s, "service_name")));
        assert_true(json_is_boolean(json_object_get(s, "metadata")));
        assert_string_equal(json_string_value(json_object_get(s, "type")), "realtime");
        assert_true(json_is_string(json_object_get(s, "keywords")));
        assert_true(json_is_string(json_object_get(s, "group")));
        const char *code = json_string_value(json_object_get(s, "service_code"));
        if (!strcmp(code, "LIGHT")) {
            light = true;
            assert_true(json_is_true(json_object_get(s, "metadata")));
        } else if (!strcmp(code, "OTHER")) {
            other = true;
            assert_true(json_is_false(json_object_get(s, "metadata")));
        }
    }
    assert_true(light);
    assert_true(other);
    json_decref(j);
    h_resp_free(&r);

    /* jurisdiction_id: the right one is accepted, another is a 404 */
    req("GET", "/open311/v2/services.json?jurisdiction_id=" JURISDICTION, NULL, NULL, &r);
    expect_status(&r, 200, "services.json with jurisdiction_id");
    h_resp_free(&r);
    req("GET", "/open311/v2/services.json?jurisdiction_id=sfgov.org", NULL, NULL, &r);
    expect_o311_error_json(&r, 404);
    h_resp_free(&r);
}

static void services_xml(void **state)
{
    (void)state;
    long long active = h_sql_int(g_db, "SELECT count(*) FROM registry.service WHERE active", 0, NULL);
    h_resp_t r;
    req("GET", "/open311/v2/services.xml", NULL, NULL, &r);
    expect_status(&r, 200, "services.xml");
    expect_xml(&r);
    const char *x = buf_str(&r.body);
    expect_contains(x, XML_DECL "<services><service>");
    expect_contains(x, "<service_code>LIGHT</service_code>");
    expect_contains(x, "<metadata>true</metadata>");
    expect_contains(x, "<type>realtime</type>");
    assert_int_equal(count_of(x, "<service>"), active);
    assert_int_equal(count_of(x, "<service_code>"), active);
    expect_contains(x, "</services>");
    h_resp_free(&r);

    req("GET", "/open311/v2/services.xml?jurisdiction_id=sfgov.org", NULL, NULL, &r);
    expect_o311_error_xml(&r, 404);
    h_resp_free(&r);
}

static void definition_light_json(void **state)
{
    (void)state;
    h_resp_t r;
    req("GET", "/open311/v2/services/LIGHT.json", NULL, NULL, &r);
    expect_status(&r, 200, "services/LIGHT.json");
    expect_json_ct(&r);
    json_t *d = body_json(&r);
    assert_true(json_is_object(d)); /* a definition is an object, not an array */
    assert_string_equal(json_string_value(json_object_get(d, "service_code")), "LIGHT");
    json_t *attrs = json_object_get(d, "attributes");
    assert_true(json_is_array(attrs));
    assert_int_equal(json_array_size(attrs), 2);

    json_t *a = json_array_get(attrs, 0);
    assert_true(json_is_true(json_object_get(a, "variable")));
    assert_string_equal(json_string_value(json_object_get(a, "code")), "fault_type");
    assert_string_equal(json_string_value(json_object_get(a, "datatype")), "singlevaluelist");
    assert_true(json_is_true(json_object_get(a, "required")));
    assert_true(json_is_string(json_object_get(a, "datatype_description")));
    assert_int_equal(json_integer_value(json_object_get(a, "order")), 1);
    assert_true(json_is_string(json_object_get(a, "description")));
    json_t *vals = json_object_get(a, "values");
    assert_true(json_is_array(vals));
    static const char *const keys[] = {"off", "flicker", "day_on", "pole"};
    assert_int_equal(json_array_size(vals), 4);
    for (size_t i = 0; i < 4; i++) {
        json_t *v = json_array_get(vals, i);
        assert_string_equal(json_string_value(json_object_get(v, "key")), keys[i]);
        assert_true(json_is_string(json_object_get(v, "name")));
        assert_true(strlen(json_string_value(json_object_get(v, "name"))) > 0);
    }

    json_t *b = json_array_get(attrs, 1);
    assert_true(json_is_true(json_object_get(b, "variable")));
    assert_string_equal(json_string_value(json_object_get(b, "code")), "pole_no");
    assert_string_equal(json_string_value(json_object_get(b, "datatype")), "string");
    assert_true(json_is_false(json_object_get(b, "required")));
    assert_int_equal(json_integer_value(json_object_get(b, "order")), 2);
    assert_null(json_object_get(b, "values"));
    json_decref(d);
    h_resp_free(&r);
}

static void definition_light_xml(void **state)
{
    (void)state;
    h_resp_t r;
    req("GET", "/open311/v2/services/LIGHT.xml", NULL, NULL, &r);
    expect_status(&r, 200, "services/LIGHT.xml");
    expect_xml(&r);
    const char *x = buf_str(&r.body);
    expect_contains(x, XML_DECL "<service_definition><service_code>LIGHT</service_code><attributes><attribute>");
    /* attribute 1 before attribute 2, values in their order */
    const char *seq[] = {"<variable>true</variable><code>fault_type</code><datatype>singlevaluelist</datatype>"
                         "<required>true</required>",
                         "<order>1</order>",
                         "<values><value><key>off</key><name>",
                         "<value><key>flicker</key>",
                         "<value><key>day_on</key>",
                         "<value><key>pole</key>",
                         "</values></attribute><attribute>",
                         "<code>pole_no</code><datatype>string</datatype><required>false</required>",
                         "<order>2</order>",
                         "</attribute></attributes></service_definition>"};
    const char *p = x;
    for (size_t i = 0; i < sizeof seq / sizeof seq[0]; i++) {
        const char *q = strstr(p, seq[i]);
        if (!q) {
            print_error("expected \"%s\" after offset %ld in %s\n", seq[i], (long)(p - x), x);
            fail();
        }
        p = q + strlen(seq[i]);
    }
    assert_int_equal(count_of(x, "<value>"), 4);
    h_resp_free(&r);
}

static void definition_unknown_is_404(void **state)
{
    (void)state;
    h_resp_t r;
    req("GET", "/open311/v2/services/NOPE.json", NULL, NULL, &r);
    expect_o311_error_json(&r, 404);
    h_resp_free(&r);
    req("GET", "/open311/v2/services/NOPE.xml", NULL, NULL, &r);
    expect_o311_error_xml(&r, 404);
    h_resp_free(&r);
    /* a known code under the wrong jurisdiction is not found either */
    req("GET", "/open311/v2/services/LIGHT.json?jurisdiction_id=sfgov.org", NULL, NULL, &r);
    expect_o311_error_json(&r, 404);
    h_resp_free(&r);
}

/* ---------------------------------------------------------------------------------------------
 * POST requests */

static void post_json_key_in_body(void **state)
{
    (void)state;
    long long t0 = tickets(), e0 = events();
    /* empty optional parameters behave as absent ones; brackets arrive unencoded here */
    char *form = form_with_key("service_code=LIGHT&lat=28.2&long=113.1&attribute[fault_type]=flicker"
                               "&attribute[pole_no]=LD-0123&description=%E8%B7%AF%E7%81%AF%E9%97%AA%E7%83%81"
                               "&email=&phone=&first_name=&last_name=&device_id=&account_id=&media_url="
                               "&address_string=&address_id=&jurisdiction_id=");
    char *code = create_json(NULL, form);
    assert_int_equal(tickets(), t0 + 1);
    assert_int_equal(events(), e0 + 1);
    verify_ticket(code, "LIGHT", "{\"fault_type\":\"flicker\",\"pole_no\":\"LD-0123\"}");
    const char *p[] = {code};
    assert_int_equal(h_sql_int(g_db,
                               "SELECT count(*) FROM intake.ticket WHERE code = $1 AND email IS NULL AND phone IS NULL"
                               " AND first_name IS NULL AND last_name IS NULL AND device_id IS NULL"
                               " AND account_id IS NULL AND media_url IS NULL AND address_string IS NULL"
                               " AND address_id IS NULL AND description = '路灯闪烁' AND lat = 28.2 AND long = 113.1",
                               1, p),
                     1);
    free(code);
    free(form);
}

static void post_xml_key_in_query_multivaluelist(void **state)
{
    (void)state;
    long long t0 = tickets();
    char path[256];
    snprintf(path, sizeof path, "/open311/v2/requests.xml?api_key=%s&jurisdiction_id=" JURISDICTION, g_key);
    h_resp_t r;
    post_form(path,
              "service_code=DISPUTE&address_string=%E4%B9%9D%E6%9C%A8%E6%9D%91%E5%AE%89%E5%85%A8%E7%BB%8412%E5%8F%B7"
              "&attribute%5Bdispute_type%5D%5B%5D=water&attribute[dispute_type][]=noise&email=&phone=",
              &r);
    expect_status(&r, 200, "POST requests.xml");
    expect_xml(&r);
    const char *x = buf_str(&r.body);
    expect_contains(x, XML_DECL "<service_requests><request><service_request_id>");
    char code[64];
    xml_text(x, "service_request_id", code, sizeof code);
    assert_true(all_digits(code));
    assert_int_equal(tickets(), t0 + 1);
    verify_ticket(code, "DISPUTE", "{\"dispute_type\":[\"water\",\"noise\"]}");
    const char *p[] = {code};
    assert_int_equal(h_sql_int(g_db,
                               "SELECT count(*) FROM intake.ticket WHERE code = $1 AND lat IS NULL"
                               " AND address_string = '九木村安全组12号'",
                               1, p),
                     1);
    h_resp_free(&r);

    /* the same multivaluelist with a single value is a one-element list */
    char *form = form_with_key("service_code=DISPUTE&address_string=x&attribute[dispute_type][]=debt");
    char *c2 = create_json(NULL, form);
    verify_ticket(c2, "DISPUTE", "{\"dispute_type\":[\"debt\"]}");
    free(c2);
    free(form);

    /* and the other way round: .json with api_key in the query, .xml with api_key in the body */
    snprintf(path, sizeof path, "?api_key=%s", g_key);
    c2 = create_json(path, "service_code=LIGHT&lat=28.21&long=113.11&attribute[fault_type]=off");
    verify_ticket(c2, "LIGHT", "{\"fault_type\":\"off\"}");
    free(c2);
    form = form_with_key("service_code=LIGHT&lat=28.21&long=113.11&attribute[fault_type]=pole&jurisdiction_id=" JURISDICTION);
    post_form("/open311/v2/requests.xml", form, &r);
    expect_status(&r, 200, "POST requests.xml, api_key in the body");
    expect_xml(&r);
    xml_text(buf_str(&r.body), "service_request_id", code, sizeof code);
    assert_true(all_digits(code));
    verify_ticket(code, "LIGHT", "{\"fault_type\":\"pole\"}");
    h_resp_free(&r);
    free(form);
    assert_int_equal(tickets(), t0 + 4);
}

static void post_jurisdiction_in_query_or_body(void **state)
{
    (void)state;
    /* right one in the body */
    char *form = form_with_key("jurisdiction_id=" JURISDICTION "&service_code=POND&lat=28.3&long=113.2"
                               "&attribute[hazard]=seepage&attribute[water_level]=3.5");
    char *code = create_json(NULL, form);
    verify_ticket(code, "POND", "{\"hazard\":\"seepage\",\"water_level\":\"3.5\"}");
    free(code);
    free(form);
    /* right one in the query, the same in both */
    form = form_with_key("jurisdiction_id=" JURISDICTION "&service_code=LIGHT&lat=28.3&long=113.2"
                         "&attribute[fault_type]=pole");
    code = create_json("?jurisdiction_id=" JURISDICTION, form);
    verify_ticket(code, "LIGHT", "{\"fault_type\":\"pole\"}");
    free(code);
    free(form);

    /* a wrong one, in the query or in the body: 404 and nothing stored */
    long long t0 = tickets(), e0 = events();
    h_resp_t r;
    form = form_with_key("service_code=LIGHT&lat=28.3&long=113.2&attribute[fault_type]=pole");
    post_form("/open311/v2/requests.json?jurisdiction_id=sfgov.org", form, &r);
    expect_o311_error_json(&r, 404);
    h_resp_free(&r);
    free(form);
    form = form_with_key("jurisdiction_id=sfgov.org&service_code=LIGHT&lat=28.3&long=113.2&attribute[fault_type]=pole");
    post_form("/open311/v2/requests.json", form, &r);
    expect_o311_error_json(&r, 404);
    h_resp_free(&r);
    post_form("/open311/v2/requests.xml", form, &r);
    expect_o311_error_xml(&r, 404);
    h_resp_free(&r);
    free(form);
    assert_int_equal(tickets(), t0);
    assert_int_equal(events(), e0);
}

/* Attributes may be split between the query string and the body (clients put some in each);
 * they merge code by code, and the same code with two values is contradictory. */
static void post_attributes_split_between_query_and_body(void **state)
{
    (void)state;
    char *form = form_with_key("service_code=LIGHT&lat=28.25&long=113.15&attribute%5Bpole_no%5D=LD-0123");
    char *code = create_json("?attribute%5Bfault_type%5D=flicker", form);
    verify_ticket(code, "LIGHT", "{\"fault_type\":\"flicker\",\"pole_no\":\"LD-0123\"}");
    free(code);
    free(form);

    long long before = tickets();
    form = form_with_key("service_code=LIGHT&lat=28.25&long=113.15&attribute%5Bfault_type%5D=off");
    h_resp_t r;
    post_form("/open311/v2/requests.json?attribute%5Bfault_type%5D=pole", form, &r);
    expect_o311_error_json(&r, 400);
    expect_contains(buf_str(&r.body), "attribute[fault_type]");
    assert_int_equal(tickets(), before);
    h_resp_free(&r);
    free(form);
}

static void post_without_valid_api_key_is_403(void **state)
{
    (void)state;
    long long t0 = tickets(), e0 = events();
    const char *body = "service_code=LIGHT&lat=28.2&long=113.1&attribute[fault_type]=off";
    h_resp_t r;
    post_form("/open311/v2/requests.json", body, &r);
    expect_o311_error_json(&r, 403);
    h_resp_free(&r);
    post_form("/open311/v2/requests.xml", body, &r);
    expect_o311_error_xml(&r, 403);
    h_resp_free(&r);
    post_form("/open311/v2/requests.json?api_key=", "api_key=&service_code=LIGHT&lat=28.2&long=113.1&attribute[fault_type]=off",
              &r);
    expect_o311_error_json(&r, 403);
    h_resp_free(&r);
    post_form("/open311/v2/requests.json?api_key=0123456789abcdef", body, &r);
    expect_o311_error_json(&r, 403);
    h_resp_free(&r);
    post_form("/open311/v2/requests.json",
              "api_key=not-a-key&service_code=LIGHT&lat=28.2&long=113.1&attribute[fault_type]=off", &r);
    expect_o311_error_json(&r, 403);
    h_resp_free(&r);
    assert_int_equal(tickets(), t0);
    assert_int_equal(events(), e0);
}

/* The POST answer names what it has a value for and leaves the rest out: RequestResponse types
 * account_id as a string, so "account_id":null fails outside validators. XML keeps the empty
 * <account_id/> of the specification's example. */
static void post_answer_leaves_out_what_it_has_no_value_for(void **state)
{
    (void)state;
    char *form = form_with_key("service_code=LIGHT&lat=28.22&long=113.12&attribute[fault_type]=off");
    h_resp_t r;
    post_form("/open311/v2/requests.json", form, &r);
    expect_status(&r, 200, "POST requests.json without optional fields");
    expect_json_ct(&r);
    if (strstr(buf_str(&r.body), "null")) {
        print_error("the POST answer has a null: %s\n", buf_str(&r.body));
        fail();
    }
    json_t *j = body_json(&r);
    assert_true(json_is_array(j));
    assert_int_equal(json_array_size(j), 1);
    json_t *a = json_array_get(j, 0);
    assert_int_equal(json_object_size(a), 2);
    assert_true(all_digits(json_string_value(json_object_get(a, "service_request_id"))));
    assert_true(strlen(json_string_value(json_object_get(a, "service_notice"))) > 0);
    assert_null(json_object_get(a, "account_id"));
    json_decref(j);
    h_resp_free(&r);
    free(form);

    /* every optional field: account_id comes back as the string it was, the rest is in the record */
    form = form_with_key("service_code=LIGHT&lat=28.23&long=113.13&attribute[fault_type]=flicker"
                         "&attribute[pole_no]=LD-0042&description=%E7%81%AF%E6%9D%86%E5%80%BE%E6%96%9C"
                         "&address_string=%E4%B9%9D%E6%9C%A8%E6%9D%91%E6%9D%91%E5%8F%A3&email=li%40example.cn"
                         "&phone=13900004444&first_name=%E5%BB%BA%E5%9B%BD&last_name=%E6%9D%8E&device_id=dev-7"
                         "&account_id=wx-0042&media_url=https%3A%2F%2Fexample.cn%2Fp%2F1.jpg");
    post_form("/open311/v2/requests.json", form, &r);
    expect_status(&r, 200, "POST requests.json with every optional field");
    j = body_json(&r);
    a = json_array_get(j, 0);
    assert_int_equal(json_object_size(a), 4);
    assert_string_equal(json_string_value(json_object_get(a, "account_id")), "wx-0042");
    /* with a phone: the reporter's rating code, a string like the rest (RequestResponse allows it) */
    assert_int_equal(strlen(json_string_value(json_object_get(a, "rating_code"))), 10);
    char *code = strdup(json_string_value(json_object_get(a, "service_request_id")));
    json_decref(j);
    h_resp_free(&r);
    verify_ticket(code, "LIGHT", "{\"fault_type\":\"flicker\",\"pole_no\":\"LD-0042\"}");
    char path[128];
    snprintf(path, sizeof path, "/open311/v2/requests/%s.json", code);
    req("GET", path, NULL, NULL, &r);
    expect_status(&r, 200, "GET the request with every optional field");
    j = body_json(&r);
    a = json_array_get(j, 0);
    assert_string_equal(json_string_value(json_object_get(a, "description")), "灯杆倾斜");
    assert_string_equal(json_string_value(json_object_get(a, "address")), "九木村村口");
    assert_string_equal(json_string_value(json_object_get(a, "media_url")), "https://example.cn/p/1.jpg");
    json_decref(j);
    h_resp_free(&r);
    free(code);

    /* XML: the element is there, empty or with the value */
    post_form("/open311/v2/requests.xml", form, &r);
    expect_status(&r, 200, "POST requests.xml with account_id");
    expect_contains(buf_str(&r.body), "</service_notice><account_id>wx-0042</account_id><rating_code>");
    h_resp_free(&r);
    free(form);
    form = form_with_key("service_code=LIGHT&lat=28.23&long=113.13&attribute[fault_type]=off&account_id=");
    post_form("/open311/v2/requests.xml", form, &r);
    expect_status(&r, 200, "POST requests.xml without account_id");
    expect_contains(buf_str(&r.body), "</service_notice><account_id></account_id></request></service_requests>");
    h_resp_free(&r);
    free(form);
}

/* ---------------------------------------------------------------------------------------------
 * GET requests */

static void expect_zoned_now(const char *dt)
{
    assert_non_null(dt);
    size_t n = strlen(dt);
    bool zoned = (n > 6 && !strcmp(dt + n - 6, "+08:00")) || (n > 1 && dt[n - 1] == 'Z');
    if (!zoned) {
        print_error("datetime without a zone: %s\n", dt);
        fail();
    }
    int64_t us;
    assert_true(timefmt_parse(dt, &us));
    long long diff = (long long)(us / 1000000) - (long long)time(NULL);
    assert_true(diff > -600 && diff < 600);
}

static void get_request_json(void **state)
{
    (void)state;
    char *code = light_ticket("day_on");
    char path[128];
    snprintf(path, sizeof path, "/open311/v2/requests/%s.json", code);
    h_resp_t r;
    req("GET", path, NULL, NULL, &r);
    expect_status(&r, 200, "GET requests/{id}.json");
    expect_json_ct(&r);
    json_t *j = body_json(&r);
    assert_true(json_is_array(j)); /* clients do response.json()[0] */
    assert_int_equal(json_array_size(j), 1);
    json_t *t = json_array_get(j, 0);
    assert_true(json_is_string(json_object_get(t, "service_request_id")));
    assert_string_equal(json_string_value(json_object_get(t, "service_request_id")), code);
    assert_string_equal(json_string_value(json_object_get(t, "status")), "open");
    assert_string_equal(json_string_value(json_object_get(t, "service_code")), "LIGHT");
    assert_true(json_is_string(json_object_get(t, "service_name")));
    expect_zoned_now(json_string_value(json_object_get(t, "requested_datetime")));
    expect_zoned_now(json_string_value(json_object_get(t, "updated_datetime")));
    assert_true(json_is_number(json_object_get(t, "lat")));
    assert_true(json_is_number(json_object_get(t, "long")));
    assert_true(fabs(json_number_value(json_object_get(t, "lat")) - 28.25) < 1e-9);
    assert_true(fabs(json_number_value(json_object_get(t, "long")) - 113.15) < 1e-9);
    /* optional members are present as null */
    assert_true(json_is_null(json_object_get(t, "zipcode")));
    assert_true(json_is_null(json_object_get(t, "media_url")));
    json_decref(j);
    h_resp_free(&r);
    /* the right jurisdiction_id is accepted on GET too */
    snprintf(path, sizeof path, "/open311/v2/requests/%s.json?jurisdiction_id=" JURISDICTION, code);
    req("GET", path, NULL, NULL, &r);
    expect_status(&r, 200, "GET requests/{id}.json with jurisdiction_id");
    h_resp_free(&r);
    free(code);
}

static void get_request_xml(void **state)
{
    (void)state;
    char *code = light_ticket("off");
    char path[128];
    snprintf(path, sizeof path, "/open311/v2/requests/%s.xml", code);
    h_resp_t r;
    req("GET", path, NULL, NULL, &r);
    expect_status(&r, 200, "GET requests/{id}.xml");
    expect_xml(&r);
    const char *x = buf_str(&r.body);
    expect_contains(x, XML_DECL "<service_requests><request><service_request_id>");
    assert_int_equal(count_of(x, "<request>"), 1);
    char t[128];
    xml_text(x, "service_request_id", t, sizeof t);
    assert_string_equal(t, code);
    xml_text(x, "status", t, sizeof t);
    assert_string_equal(t, "open");
    xml_text(x, "service_code", t, sizeof t);
    assert_string_equal(t, "LIGHT");
    xml_text(x, "requested_datetime", t, sizeof t);
    expect_zoned_now(t);
    xml_text(x, "lat", t, sizeof t);
    double v;
    assert_true(sscanf(t, "%lf", &v) == 1 && fabs(v - 28.25) < 1e-9);
    xml_text(x, "long", t, sizeof t);
    assert_true(sscanf(t, "%lf", &v) == 1 && fabs(v - 113.15) < 1e-9);
    expect_contains(x, "</request></service_requests>");
    h_resp_free(&r);
    free(code);
}

static void get_request_unknown_is_404(void **state)
{
    (void)state;
    h_resp_t r;
    req("GET", "/open311/v2/requests/9999999999999.json", NULL, NULL, &r);
    expect_o311_error_json(&r, 404);
    h_resp_free(&r);
    req("GET", "/open311/v2/requests/no-such-id.xml", NULL, NULL, &r);
    expect_o311_error_xml(&r, 404);
    h_resp_free(&r);
}

/* ids of a JSON request list, as one comma-separated string ",a,b," for membership tests */
static void list_ids(const char *query, long want_status, buf_t *ids, json_t **rows_out)
{
    char path[1024];
    snprintf(path, sizeof path, "/open311/v2/requests.json%s", query);
    h_resp_t r;
    req("GET", path, NULL, NULL, &r);
    expect_status(&r, want_status, query);
    buf_reset(ids);
    buf_putc(ids, ',');
    if (want_status != 200) {
        expect_o311_error_json(&r, want_status);
        h_resp_free(&r);
        return;
    }
    expect_json_ct(&r);
    json_t *j = body_json(&r);
    assert_true(json_is_array(j));
    size_t i;
    json_t *t;
    json_array_foreach(j, i, t)
    {
        assert_true(json_is_string(json_object_get(t, "service_request_id")));
        buf_printf(ids, "%s,", json_string_value(json_object_get(t, "service_request_id")));
    }
    if (rows_out)
        *rows_out = j;
    else
        json_decref(j);
    h_resp_free(&r);
}

static bool in_ids(const buf_t *ids, const char *code)
{
    char needle[64];
    snprintf(needle, sizeof needle, ",%s,", code);
    return strstr(buf_str(ids), needle) != NULL;
}

static void all_rows_have(json_t *rows, const char *field, const char *value)
{
    size_t i;
    json_t *t;
    json_array_foreach(rows, i, t)
    {
        const char *v = json_string_value(json_object_get(t, field));
        if (!v || strcmp(v, value) != 0) {
            print_error("row %zu has %s=%s, expected %s\n", i, field, v ? v : "(null)", value);
            fail();
        }
    }
}

static void get_requests_filters(void **state)
{
    (void)state;
    char *a = light_ticket("off");
    char *b = light_ticket("flicker");
    char *form = form_with_key("service_code=SANIT&lat=28.2&long=113.2&attribute[problem]=garbage");
    char *c = create_json(NULL, form);
    verify_ticket(c, "SANIT", "{\"problem\":\"garbage\"}");
    free(form);

    buf_t ids = BUF_INIT;
    json_t *rows = NULL;
    char q[1024];

    /* service_request_id: a comma list, overriding every other argument */
    snprintf(q, sizeof q, "?service_request_id=%s,%s", a, c);
    list_ids(q, 200, &ids, &rows);
    assert_int_equal(json_array_size(rows), 2);
    assert_true(in_ids(&ids, a) && in_ids(&ids, c) && !in_ids(&ids, b));
    json_decref(rows);
    snprintf(q, sizeof q, "?service_request_id=%s%%2C%s&service_code=ROAD&status=closed", a, c);
    list_ids(q, 200, &ids, &rows);
    assert_int_equal(json_array_size(rows), 2);
    json_decref(rows);

    /* service_code, one and a comma list */
    list_ids("?service_code=SANIT", 200, &ids, &rows);
    assert_true(in_ids(&ids, c) && !in_ids(&ids, a));
    all_rows_have(rows, "service_code", "SANIT");
    json_decref(rows);
    list_ids("?service_code=LIGHT,SANIT", 200, &ids, NULL);
    assert_true(in_ids(&ids, a) && in_ids(&ids, b) && in_ids(&ids, c));

    /* status */
    list_ids("?status=open", 200, &ids, &rows);
    assert_true(in_ids(&ids, a) && in_ids(&ids, c));
    all_rows_have(rows, "status", "open");
    json_decref(rows);
    list_ids("?status=closed", 200, &ids, &rows);
    assert_false(in_ids(&ids, a));
    all_rows_have(rows, "status", "closed");
    json_decref(rows);
    list_ids("?status=open,closed", 200, &ids, NULL);
    assert_true(in_ids(&ids, a));
    list_ids("?status=pending", 400, &ids, NULL);
    /* empty means absent */
    list_ids("?status=&service_code=&start_date=&end_date=&page=&page_size=", 200, &ids, NULL);
    assert_true(in_ids(&ids, a));

    /* start_date / end_date: W3C datetimes with a zone, at most 90 days apart */
    char s1[TIMEFMT_LEN], s2[TIMEFMT_LEN];
    int64_t now = (int64_t)time(NULL) * 1000000;
    timefmt_format(now - 86400LL * 1000000, 480, s1);
    timefmt_format(now + 86400LL * 1000000, 480, s2);
    buf_t enc1 = BUF_INIT, enc2 = BUF_INIT;
    h_urlencode(&enc1, s1); /* '+' must be sent as %2B */
    h_urlencode(&enc2, s2);
    snprintf(q, sizeof q, "?start_date=%s&end_date=%s", buf_str(&enc1), buf_str(&enc2));
    list_ids(q, 200, &ids, NULL);
    assert_true(in_ids(&ids, a) && in_ids(&ids, b) && in_ids(&ids, c));
    snprintf(q, sizeof q, "?start_date=%s", buf_str(&enc1));
    list_ids(q, 200, &ids, NULL);
    assert_true(in_ids(&ids, a));
    snprintf(q, sizeof q, "?end_date=%s&service_code=LIGHT", buf_str(&enc2));
    list_ids(q, 200, &ids, NULL);
    assert_true(in_ids(&ids, a) && !in_ids(&ids, c));
    timefmt_format(now - 86400LL * 1000000, 0, s1); /* the Z form */
    snprintf(q, sizeof q, "?start_date=%s", s1);
    list_ids(q, 200, &ids, NULL);
    assert_true(in_ids(&ids, a));
    list_ids("?start_date=2020-01-01T00:00:00Z&end_date=2020-03-01T00:00:00Z", 200, &ids, NULL);
    assert_false(in_ids(&ids, a));
    buf_free(&enc1);
    buf_free(&enc2);
    list_ids("?start_date=2026-11-01", 400, &ids, NULL);                                 /* no time, no zone */
    list_ids("?start_date=2026-11-01T00:00:00", 400, &ids, NULL);                        /* no zone */
    list_ids("?end_date=yesterday", 400, &ids, NULL);
    list_ids("?start_date=2026-02-30T00:00:00Z", 400, &ids, NULL);                       /* no such day */
    list_ids("?start_date=2026-01-01T00:00:00Z&end_date=2026-06-01T00:00:00Z", 400, &ids, NULL); /* > 90 days */
    list_ids("?start_date=2026-06-01T00:00:00Z&end_date=2026-01-01T00:00:00Z", 400, &ids, NULL); /* reversed */
    list_ids("?start_date=2026-01-01T00:00:00Z&end_date=2026-04-01T00:00:00Z", 200, &ids, NULL); /* exactly 90 */
    list_ids("?start_date=2026-01-01T00:00:00Z&end_date=2026-04-01T00:00:01Z", 400, &ids, NULL); /* and a second */

    /* page / page_size */
    json_t *p1 = NULL, *p2 = NULL;
    list_ids("?page_size=1", 200, &ids, &p1);
    assert_int_equal(json_array_size(p1), 1);
    list_ids("?page_size=1&page=2", 200, &ids, &p2);
    assert_int_equal(json_array_size(p2), 1);
    assert_string_not_equal(json_string_value(json_object_get(json_array_get(p1, 0), "service_request_id")),
                            json_string_value(json_object_get(json_array_get(p2, 0), "service_request_id")));
    json_decref(p1);
    json_decref(p2);
    snprintf(q, sizeof q, "?service_request_id=%s,%s,%s&page_size=2", a, b, c);
    list_ids(q, 200, &ids, &rows);
    assert_int_equal(json_array_size(rows), 2);
    json_decref(rows);
    snprintf(q, sizeof q, "?service_request_id=%s,%s,%s&page_size=2&page=2", a, b, c);
    list_ids(q, 200, &ids, &rows);
    assert_int_equal(json_array_size(rows), 1);
    json_decref(rows);
    list_ids("?page_size=0", 400, &ids, NULL);
    list_ids("?page_size=1001", 400, &ids, NULL);
    list_ids("?page=0", 400, &ids, NULL);
    list_ids("?page=abc", 400, &ids, NULL);
    /* a page number reaches the first 10,000 requests of the window, no further (README, "Lists") */
    list_ids("?page=10", 200, &ids, NULL);
    list_ids("?page=11", 400, &ids, NULL);
    list_ids("?page=20&page_size=500", 200, &ids, NULL);
    list_ids("?page=21&page_size=500", 400, &ids, NULL);
    list_ids("?page=800&page_size=500", 400, &ids, NULL);
    snprintf(q, sizeof q, "?service_request_id=%s&page=11", a);
    list_ids(q, 400, &ids, NULL);

    /* the list in XML */
    snprintf(q, sizeof q, "/open311/v2/requests.xml?service_request_id=%s,%s", a, b);
    h_resp_t r;
    req("GET", q, NULL, NULL, &r);
    expect_status(&r, 200, "requests.xml");
    expect_xml(&r);
    expect_contains(buf_str(&r.body), XML_DECL "<service_requests><request>");
    assert_int_equal(count_of(buf_str(&r.body), "<request>"), 2);
    h_resp_free(&r);
    req("GET", "/open311/v2/requests.xml?start_date=bad", NULL, NULL, &r);
    expect_o311_error_xml(&r, 400);
    h_resp_free(&r);
    /* jurisdiction on the list */
    req("GET", "/open311/v2/requests.json?jurisdiction_id=sfgov.org", NULL, NULL, &r);
    expect_o311_error_json(&r, 404);
    h_resp_free(&r);

    buf_free(&ids);
    free(a);
    free(b);
    free(c);
}

static void tokens(void **state)
{
    (void)state;
    char *code = light_ticket("pole");
    char path[128];
    snprintf(path, sizeof path, "/open311/v2/tokens/%s.json", code);
    h_resp_t r;
    req("GET", path, NULL, NULL, &r);
    expect_status(&r, 200, "tokens/{code}.json");
    expect_json_ct(&r);
    json_t *j = body_json(&r);
    assert_true(json_is_array(j));
    assert_int_equal(json_array_size(j), 1);
    json_t *t = json_array_get(j, 0);
    assert_true(json_is_string(json_object_get(t, "service_request_id")));
    assert_string_equal(json_string_value(json_object_get(t, "service_request_id")), code);
    assert_true(json_is_string(json_object_get(t, "token")));
    assert_string_equal(json_string_value(json_object_get(t, "token")), code);
    json_decref(j);
    h_resp_free(&r);

    snprintf(path, sizeof path, "/open311/v2/tokens/%s.xml", code);
    req("GET", path, NULL, NULL, &r);
    expect_status(&r, 200, "tokens/{code}.xml");
    expect_xml(&r);
    char want[256];
    snprintf(want, sizeof want, XML_DECL "<service_requests><request><service_request_id>%s</service_request_id><token>%s</token>",
             code, code);
    expect_contains(buf_str(&r.body), want);
    h_resp_free(&r);

    req("GET", "/open311/v2/tokens/0000000000000.json", NULL, NULL, &r);
    expect_o311_error_json(&r, 404);
    h_resp_free(&r);
    free(code);
}

/* ---------------------------------------------------------------------------------------------
 * one request through its life: before routing, routed, closed (a router started for it) */

/* A staff action or the resident's rating through intake's native API; returns the HTTP status. */
static long native_post(const char *path, const char *auth, const char *json)
{
    char url[256];
    snprintf(url, sizeof url, "%s%s", g_base, path);
    const char *hdr[] = {"Content-Type: application/json", auth, NULL};
    h_resp_t r;
    assert_true(h_http("POST", url, hdr, json, strlen(json), &r));
    long st = r.status;
    if (st != 200)
        print_error("POST %s: HTTP %ld: %.300s\n", path, st, buf_str(&r.body));
    h_resp_free(&r);
    return st;
}

static long staff_act(const char *code, const char *action, const char *token, const char *json)
{
    char path[128], auth[160];
    snprintf(path, sizeof path, "/api/v1/tickets/%s/actions/%s", code, action);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    return native_post(path, auth, json);
}

/* GET requests/{code}.json: the one record (new reference). */
static json_t *get_one(const char *code)
{
    char path[128];
    snprintf(path, sizeof path, "/open311/v2/requests/%s.json", code);
    h_resp_t r;
    req("GET", path, NULL, NULL, &r);
    expect_status(&r, 200, path);
    json_t *j = body_json(&r);
    h_resp_free(&r);
    assert_true(json_is_array(j));
    assert_int_equal(json_array_size(j), 1);
    json_t *t = json_incref(json_array_get(j, 0));
    json_decref(j);
    return t;
}

static const char *member(const json_t *t, const char *name)
{
    const char *v = json_string_value(json_object_get(t, name));
    if (!v) {
        print_error("%s is not a string\n", name);
        fail();
    }
    return v;
}

static void request_before_routing_routed_and_closed(void **state)
{
    (void)state;
    /* far (> 250 m) from every other LIGHT report of the suite, so no open one absorbs it */
    char *form = form_with_key("service_code=LIGHT&lat=28.357&long=113.262&attribute[fault_type]=off"
                               "&phone=13900003333&description=%E6%9D%91%E5%8F%A3%E8%B7%AF%E7%81%AF%E4%B8%8D%E4%BA%AE");
    char *code = create_json(NULL, form);
    free(form);
    const char *p[] = {code};
    /* filed with a phone: the answer gives the reporter the code that proves a rating theirs */
    assert_int_equal(strlen(g_rating_code), 10);
    char rating_code[16];
    snprintf(rating_code, sizeof rating_code, "%s", g_rating_code);

    /* before routing: no router runs yet, so what the router adds is null */
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM router.ticket WHERE code = $1", 1, p), 0);
    json_t *t = get_one(code);
    assert_string_equal(member(t, "status"), "open");
    assert_true(json_is_null(json_object_get(t, "agency_responsible")));
    assert_true(json_is_null(json_object_get(t, "expected_datetime")));
    assert_true(json_is_null(json_object_get(t, "status_notes")));
    json_decref(t);

    /* routed: a unit is responsible, with a deadline */
    g_router = h_start_router(h_port(12), h_port(11), NULL);
    assert_true(h_wait_routed(g_db, code, 20000));
    t = get_one(code);
    assert_string_equal(member(t, "status"), "open");
    assert_true(strlen(member(t, "agency_responsible")) > 0);
    assert_true(strlen(member(t, "status_notes")) > 0);
    int64_t due;
    assert_true(timefmt_parse(member(t, "expected_datetime"), &due));
    assert_true(due > (int64_t)time(NULL) * 1000000);
    json_decref(t);

    /* closed: accepted, started, resolved by the assignee, rated by the reporter */
    char since[TIMEFMT_LEN];
    timefmt_format((int64_t)time(NULL) * 1000000, 0, since);
    char *staff = h_sql_text(g_db, "SELECT assignee_id::text FROM router.ticket WHERE code = $1", 1, p);
    assert_true(*staff);
    char *token = h_staff_token(g_db, atoll(staff));
    free(staff);
    assert_int_equal(staff_act(code, "accept", token, ""), 200);
    assert_int_equal(staff_act(code, "start", token, ""), 200);
    assert_int_equal(staff_act(code, "resolve", token, "{\"note\":\"已更换灯泡\"}"), 200);
    char path[160], key[128];
    snprintf(path, sizeof path, "/api/v1/tickets/%s/rating", code);
    snprintf(key, sizeof key, "X-API-Key: %s", g_key);
    char rating[96];
    snprintf(rating, sizeof rating, "{\"rating\":\"满意\",\"rating_code\":\"%s\"}", rating_code);
    assert_int_equal(native_post(path, key, rating), 200);
    free(token);
    t = get_one(code);
    assert_string_equal(member(t, "status"), "closed");
    expect_zoned_now(member(t, "updated_datetime"));
    assert_true(strlen(member(t, "status_notes")) > 0);
    json_decref(t);

    /* the list filters agree with the record; the updates name each step */
    buf_t ids = BUF_INIT;
    list_ids("?status=closed&service_code=LIGHT", 200, &ids, NULL);
    assert_true(in_ids(&ids, code));
    list_ids("?status=open&service_code=LIGHT", 200, &ids, NULL);
    assert_false(in_ids(&ids, code));
    buf_free(&ids);
    /* page by page: the router routed the suite's backlog at the same time; a page number reaches
     * 10,000 updates deep (page 10 of 1000), past that a narrower window is the way on */
    const char *want[] = {"open", "in_progress", "fixed", "closed"};
    size_t seen = 0, got = 1000;
    h_resp_t r;
    for (int page = 1; seen < 4 && got == 1000 && page <= 10; page++) {
        snprintf(path, sizeof path, "/open311/v2/servicerequestupdates.json?start_date=%s&page=%d", since, page);
        req("GET", path, NULL, NULL, &r);
        expect_status(&r, 200, "servicerequestupdates.json");
        json_t *ups = body_json(&r);
        h_resp_free(&r);
        got = json_array_size(ups);
        size_t i;
        json_t *u;
        json_array_foreach(ups, i, u)
        {
            if (seen < 4 && !strcmp(member(u, "service_request_id"), code) && !strcmp(member(u, "status"), want[seen]))
                seen++;
        }
        json_decref(ups);
    }
    if (seen != 4)
        print_error("updates of %s: %zu of open, in_progress, fixed, closed in order\n", code, seen);
    assert_int_equal(seen, 4);
    snprintf(path, sizeof path, "/open311/v2/servicerequestupdates.json?start_date=%s&page=11", since);
    req("GET", path, NULL, NULL, &r);
    expect_o311_error_json(&r, 400);
    expect_contains(buf_str(&r.body), "narrow the window");
    h_resp_free(&r);
    snprintf(path, sizeof path, "/open311/v2/tokens/%s.json", code);
    req("GET", path, NULL, NULL, &r);
    expect_status(&r, 200, path);
    h_resp_free(&r);

    int st = h_stop(g_router, SIGTERM);
    g_router = 0;
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    free(code);
}

static void wrong_method_is_405(void **state)
{
    (void)state;
    long long t0 = tickets();
    char *form = form_with_key("service_code=LIGHT&lat=28.2&long=113.1&attribute[fault_type]=off");
    h_resp_t r;
    req("PUT", "/open311/v2/requests.json", FORM, form, &r);
    expect_o311_error_json(&r, 405);
    assert_true(has_header(&r, "\nAllow: GET, POST"));
    h_resp_free(&r);
    req("DELETE", "/open311/v2/requests.xml", NULL, NULL, &r);
    expect_o311_error_xml(&r, 405);
    h_resp_free(&r);
    req("POST", "/open311/v2/services.json", FORM, form, &r);
    expect_o311_error_json(&r, 405);
    assert_true(has_header(&r, "\nAllow: GET"));
    h_resp_free(&r);
    req("POST", "/open311/v2/requests/2611290000001.json", FORM, form, &r);
    expect_o311_error_json(&r, 405);
    h_resp_free(&r);
    assert_int_equal(tickets(), t0);
    free(form);
}

static void unknown_resource_is_404(void **state)
{
    (void)state;
    h_resp_t r;
    req("GET", "/open311/v2/nothing.json", NULL, NULL, &r);
    expect_o311_error_json(&r, 404);
    h_resp_free(&r);
    req("GET", "/open311/v2/services.html", NULL, NULL, &r);
    expect_status(&r, 404, "services.html");
    h_resp_free(&r);
    req("GET", "/open311/v2/services/LIGHT/extra.json", NULL, NULL, &r);
    expect_o311_error_json(&r, 404);
    h_resp_free(&r);
    req("GET", "/open311/v2/requests/.json", NULL, NULL, &r);
    expect_o311_error_json(&r, 404);
    h_resp_free(&r);
}

/* ---------------------------------------------------------------------------------------------
 * setup */

/* The harness exits on a setup failure (no database, say): do not leave our intake behind. */
static void stop_leftover_intake(void)
{
    if (g_router > 0)
        h_stop(g_router, SIGKILL);
    if (g_pid > 0)
        h_stop(g_pid, SIGKILL);
}

static int setup(void **state)
{
    (void)state;
    atexit(stop_leftover_intake);
    g_db = h_db();
    g_key = h_api_key(g_db);
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", h_port(10));
    /* the router is started only by the test that follows a request through routing */
    static char router_ep[96];
    snprintf(router_ep, sizeof router_ep, "GRIDGOV_ROUTER_ENDPOINT=tcp://127.0.0.1:%d", h_port(12));
    const char *env[] = {router_ep, NULL};
    g_pid = h_start_intake(h_port(10), h_port(11), env);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    if (g_router > 0) /* its test failed half-way */
        h_stop(g_router, SIGKILL);
    g_router = 0;
    int st = h_stop(g_pid, SIGTERM);
    g_pid = 0;
    free(g_key);
    PQfinish(g_db);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        /* cmocka does not count a failed group teardown; main() turns this into a failure */
        g_teardown_failed = 1;
        print_error("gridgov-intake did not exit 0 on SIGTERM (wait status %d; see its log in $GRIDGOV_TEST_VAR)\n",
                    st);
    }
    assert_true(WIFEXITED(st));
    assert_int_equal(WEXITSTATUS(st), 0);
    return 0;
}

int main(void)
{
    curl_global_init(CURL_GLOBAL_ALL);
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(discovery_json),
        cmocka_unit_test(discovery_xml),
        cmocka_unit_test(services_json),
        cmocka_unit_test(services_xml),
        cmocka_unit_test(definition_light_json),
        cmocka_unit_test(definition_light_xml),
        cmocka_unit_test(definition_unknown_is_404),
        cmocka_unit_test(post_json_key_in_body),
        cmocka_unit_test(post_xml_key_in_query_multivaluelist),
        cmocka_unit_test(post_jurisdiction_in_query_or_body),
        cmocka_unit_test(post_attributes_split_between_query_and_body),
        cmocka_unit_test(post_without_valid_api_key_is_403),
        cmocka_unit_test(post_answer_leaves_out_what_it_has_no_value_for),
        cmocka_unit_test(get_request_json),
        cmocka_unit_test(get_request_xml),
        cmocka_unit_test(get_request_unknown_is_404),
        cmocka_unit_test(get_requests_filters),
        cmocka_unit_test(tokens),
        cmocka_unit_test(request_before_routing_routed_and_closed),
        cmocka_unit_test(wrong_method_is_405),
        cmocka_unit_test(unknown_resource_is_404),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc || g_teardown_failed ? 1 : 0;
}
