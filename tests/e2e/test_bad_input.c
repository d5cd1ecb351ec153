/* Bad input against a real gridgov-intake: the native API (/api/v1/tickets), Open311 POST and the lists.
 * The table below is the contract: each case is one request and the status and error (a
 * substring of the body: the native error code or the Open311 description) it must get.
 * For every case the counts of intake.ticket, bus.outbox and intake.idempotency rows must not
 * change, and /healthz must still answer 200 afterwards.
 *
 * Values only known at run time are written as $NAME in paths, bodies and headers and filled in
 * by setup() (see set_var calls): $KEY an API key issued for this run, $HH/$HLAT/$HLON a real
 * household and its location, $FLAT/$FLON a point in the far corner of the county from it,
 * $NSVC/$NATTR a service with a number attribute (and $NREQ/$NJSON_BAD its required attributes),
 * $D4001F/$D4001J a description of 4001 Chinese characters (form-encoded / raw), $BIG a body
 * filler of 70000 bytes, $LONG 20000 bytes of URL or header, $TOKEN a staff member's bearer token.
 *
 * After the table: positive controls (4000 characters accepted, the templates above accepted
 * with good values), idempotency (a retry replays the first answer byte for byte; 10 concurrent
 * requests with one key make one ticket), and slow or half-open clients on raw sockets (intake
 * runs here with GRIDGOV_HTTP_TIMEOUT_S=2). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <curl/curl.h>
#include <errno.h>
#include <jansson.h>
#include <netinet/in.h>
#include <pthread.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"

#define NATIVE "/api/v1/tickets"
#define O311 "/open311/v2/requests.json"
#define JSON_CT "application/json"
#define FORM_CT "application/x-www-form-urlencoded; charset=utf-8"
#define KEYH "X-API-Key: $KEY"
/* A valid native ticket is {"service_code":"LIGHT",LOC,LIGHT_OK}; cases change one thing. */
#define LOC "\"lat\":28.2,\"long\":113.1"
#define LIGHT_OK "\"attributes\":{\"fault_type\":\"off\"}"
/* A valid Open311 ticket is O_BASE O_LOC. */
#define O_BASE "api_key=$KEY&service_code=LIGHT&attribute[fault_type]=off"
#define O_LOC "&lat=28.2&long=113.1"

typedef struct {
    const char *name;
    const char *method;
    const char *path;         /* under the server root; $NAME expanded */
    const char *content_type; /* NULL: no Content-Type header at all */
    const char *body;         /* NULL: no body; $NAME expanded */
    const char *header;       /* extra headers, '\n'-separated, $NAME expanded; or NULL */
    long status;
    const char *want;         /* must occur in the response body */
} bad_case_t;

static const bad_case_t CASES[] = {
    /* --- native API: JSON syntax and shape --- */
    {"native: malformed JSON", "POST", NATIVE, JSON_CT, "{\"service_code\":\"LIGHT\",", KEYH, 400, "\"code\":\"invalid_json\""},
    {"native: empty body", "POST", NATIVE, JSON_CT, "", KEYH, 400, "\"code\":\"invalid_json\""},
    {"native: JSON array, not an object", "POST", NATIVE, JSON_CT, "[{\"service_code\":\"LIGHT\"," LOC "}]", KEYH, 400,
     "must be a JSON object"},
    {"native: JSON string, not an object", "POST", NATIVE, JSON_CT, "\"LIGHT\"", KEYH, 400, "\"code\":\"invalid_json\""},
    {"native: JSON null", "POST", NATIVE, JSON_CT, "null", KEYH, 400, "\"code\":\"invalid_json\""},
    {"native: duplicate keys", "POST", NATIVE, JSON_CT,
     "{\"service_code\":\"LIGHT\",\"service_code\":\"ROAD\"," LOC "," LIGHT_OK "}", KEYH, 400, "duplicate object key"},
    {"native: unknown field", "POST", NATIVE, JSON_CT, "{\"service_code\":\"LIGHT\"," LOC "," LIGHT_OK ",\"colour\":\"red\"}",
     KEYH, 400, "\"code\":\"unknown_field\""},
    {"native: lat as a string", "POST", NATIVE, JSON_CT, "{\"service_code\":\"LIGHT\",\"lat\":\"28.2\",\"long\":113.1," LIGHT_OK "}",
     KEYH, 400, "\"code\":\"invalid_location\""},
    {"native: lat \"abc\"", "POST", NATIVE, JSON_CT, "{\"service_code\":\"LIGHT\",\"lat\":\"abc\",\"long\":113.1," LIGHT_OK "}",
     KEYH, 400, "\"code\":\"invalid_location\""},
    {"native: service_code as a number", "POST", NATIVE, JSON_CT, "{\"service_code\":7," LOC "," LIGHT_OK "}", KEYH, 400,
     "\"code\":\"invalid_field\""},
    {"native: attributes not an object", "POST", NATIVE, JSON_CT, "{\"service_code\":\"LIGHT\"," LOC ",\"attributes\":\"off\"}",
     KEYH, 400, "\"code\":\"invalid_attributes\""},
    {"native: invalid UTF-8 (raw C3 28) in a string", "POST", NATIVE, JSON_CT,
     "{\"service_code\":\"LIGHT\"," LOC "," LIGHT_OK ",\"description\":\"bad \xC3"
     "\x28 byte\"}",
     KEYH, 400, "\"code\":\"invalid_json\""},
    {"native: NUL escape in a string", "POST", NATIVE, JSON_CT,
     "{\"service_code\":\"LIGHT\"," LOC "," LIGHT_OK ",\"description\":\"a\\u0000b\"}", KEYH, 400,
     "\"code\":\"invalid_json\""},
    {"native: control character in description", "POST", NATIVE, JSON_CT,
     "{\"service_code\":\"LIGHT\"," LOC "," LIGHT_OK ",\"description\":\"a\\u0001b\"}", KEYH, 400,
     "\"code\":\"invalid_description\""},
    {"native: description of 4001 Chinese characters", "POST", NATIVE, JSON_CT,
     "{\"service_code\":\"LIGHT\"," LOC "," LIGHT_OK ",\"description\":\"$D4001J\"}", KEYH, 400,
     "\"code\":\"invalid_description\""},

    /* --- native API: media type and authentication --- */
    {"native: text/plain", "POST", NATIVE, "text/plain", "{\"service_code\":\"LIGHT\"," LOC "," LIGHT_OK "}", KEYH, 415,
     "\"code\":\"unsupported_media_type\""},
    {"native: no Content-Type", "POST", NATIVE, NULL, "{\"service_code\":\"LIGHT\"," LOC "," LIGHT_OK "}", KEYH, 415,
     "\"code\":\"unsupported_media_type\""},
    {"native: application/jsonx", "POST", NATIVE, "application/jsonx", "{\"service_code\":\"LIGHT\"," LOC "," LIGHT_OK "}",
     KEYH, 415, "\"code\":\"unsupported_media_type\""},
    {"native: form body", "POST", NATIVE, FORM_CT, O_BASE O_LOC, KEYH, 415, "\"code\":\"unsupported_media_type\""},
    {"native: missing API key", "POST", NATIVE, JSON_CT, "{\"service_code\":\"LIGHT\"," LOC "," LIGHT_OK "}", NULL, 401,
     "\"code\":\"unauthorized\""},
    {"native: wrong API key", "POST", NATIVE, JSON_CT, "{\"service_code\":\"LIGHT\"," LOC "," LIGHT_OK "}",
     "X-API-Key: 0000000000000000000000000000000000000000000000000000000000000000", 401, "\"code\":\"unauthorized\""},
    {"native: wrong Bearer token", "POST", NATIVE, JSON_CT, "{\"service_code\":\"LIGHT\"," LOC "," LIGHT_OK "}",
     "Authorization: Bearer nope", 401, "\"code\":\"unauthorized\""},
    {"native: API key in the body does not count", "POST", NATIVE, JSON_CT,
     "{\"api_key\":\"$KEY\",\"service_code\":\"LIGHT\"," LOC "," LIGHT_OK "}", NULL, 401, "\"code\":\"unauthorized\""},

    /* --- native API: location --- */
    {"native: lat without long", "POST", NATIVE, JSON_CT, "{\"service_code\":\"LIGHT\",\"lat\":28.2," LIGHT_OK "}", KEYH, 400,
     "must be sent together"},
    {"native: long without lat", "POST", NATIVE, JSON_CT, "{\"service_code\":\"LIGHT\",\"long\":113.1," LIGHT_OK "}", KEYH, 400,
     "must be sent together"},
    {"native: no location at all", "POST", NATIVE, JSON_CT, "{\"service_code\":\"LIGHT\"," LIGHT_OK "}", KEYH, 400,
     "\"code\":\"missing_location\""},
    {"native: lat 91", "POST", NATIVE, JSON_CT, "{\"service_code\":\"LIGHT\",\"lat\":91,\"long\":113.1," LIGHT_OK "}", KEYH, 400,
     "lat must be between -90 and 90"},
    {"native: long 181", "POST", NATIVE, JSON_CT, "{\"service_code\":\"LIGHT\",\"lat\":28.2,\"long\":181," LIGHT_OK "}", KEYH,
     400, "long must be between -180 and 180"},
    {"native: point outside the county (Beijing)", "POST", NATIVE, JSON_CT,
     "{\"service_code\":\"LIGHT\",\"lat\":39.9,\"long\":116.4," LIGHT_OK "}", KEYH, 400,
     "\"code\":\"location_outside_jurisdiction\""},
    {"native: unknown address_id", "POST", NATIVE, JSON_CT,
     "{\"service_code\":\"LIGHT\",\"address_id\":\"430121-999-99-99-999\"," LIGHT_OK "}", KEYH, 400,
     "\"code\":\"unknown_address_id\""},
    {"native: address_id with a point over 2 km away", "POST", NATIVE, JSON_CT,
     "{\"service_code\":\"LIGHT\",\"address_id\":\"$HH\",\"lat\":$FLAT,\"long\":$FLON," LIGHT_OK "}", KEYH, 400,
     "\"code\":\"contradictory_location\""},

    /* --- native API: service and attributes --- */
    {"native: unknown service_code", "POST", NATIVE, JSON_CT, "{\"service_code\":\"NOPE\"," LOC "}", KEYH, 422,
     "\"code\":\"unknown_service_code\""},
    {"native: missing service_code", "POST", NATIVE, JSON_CT, "{" LOC "," LIGHT_OK "}", KEYH, 400,
     "\"code\":\"missing_service_code\""},
    {"native: unknown attribute code", "POST", NATIVE, JSON_CT,
     "{\"service_code\":\"LIGHT\"," LOC ",\"attributes\":{\"fault_type\":\"off\",\"colour\":\"red\"}}", KEYH, 400,
     "\"code\":\"unknown_attribute\""},
    {"native: informational attribute given a value", "POST", NATIVE, JSON_CT,
     "{\"service_code\":\"POND\"," LOC ",\"attributes\":{\"hazard\":\"crack\",\"notice\":\"x\"}}", KEYH, 400,
     "\"code\":\"unknown_attribute\""},
    {"native: singlevaluelist value not in the list", "POST", NATIVE, JSON_CT,
     "{\"service_code\":\"LIGHT\"," LOC ",\"attributes\":{\"fault_type\":\"exploded\"}}", KEYH, 400,
     "\"code\":\"invalid_attribute_value\""},
    {"native: singlevaluelist given a list", "POST", NATIVE, JSON_CT,
     "{\"service_code\":\"LIGHT\"," LOC ",\"attributes\":{\"fault_type\":[\"off\",\"pole\"]}}", KEYH, 400,
     "\"code\":\"invalid_attribute_value\""},
    {"native: multivaluelist value not in the list", "POST", NATIVE, JSON_CT,
     "{\"service_code\":\"DISPUTE\"," LOC ",\"attributes\":{\"dispute_type\":[\"water\",\"aliens\"]}}", KEYH, 400,
     "\"code\":\"invalid_attribute_value\""},
    {"native: missing required attribute", "POST", NATIVE, JSON_CT, "{\"service_code\":\"LIGHT\"," LOC "}", KEYH, 400,
     "\"code\":\"missing_attribute\""},
    {"native: required multivaluelist empty", "POST", NATIVE, JSON_CT,
     "{\"service_code\":\"DISPUTE\"," LOC ",\"attributes\":{\"dispute_type\":[]}}", KEYH, 400, "\"code\":\"missing_attribute\""},
    {"native: number attribute not a number", "POST", NATIVE, JSON_CT,
     "{\"service_code\":\"$NSVC\"," LOC ",\"attributes\":$NJSON_BAD}", KEYH, 400, "\"code\":\"invalid_attribute_value\""},
    {"native: datetime attribute without a zone", "POST", NATIVE, JSON_CT,
     "{\"service_code\":\"BUILD\"," LOC ",\"attributes\":{\"found_at\":\"2026-11-01 10:00\"}}", KEYH, 400,
     "\"code\":\"invalid_attribute_value\""},

    /* --- native API: reporter fields --- */
    {"native: bad email", "POST", NATIVE, JSON_CT, "{\"service_code\":\"LIGHT\"," LOC "," LIGHT_OK ",\"email\":\"zhang@\"}",
     KEYH, 400, "\"code\":\"invalid_email\""},
    {"native: bad phone", "POST", NATIVE, JSON_CT, "{\"service_code\":\"LIGHT\"," LOC "," LIGHT_OK ",\"phone\":\"12345\"}",
     KEYH, 400, "\"code\":\"invalid_phone\""},
    {"native: phone with letters", "POST", NATIVE, JSON_CT,
     "{\"service_code\":\"LIGHT\"," LOC "," LIGHT_OK ",\"phone\":\"1381234abcd\"}", KEYH, 400, "\"code\":\"invalid_phone\""},
    {"native: media_url not http(s)", "POST", NATIVE, JSON_CT,
     "{\"service_code\":\"LIGHT\"," LOC "," LIGHT_OK ",\"media_url\":\"ftp://example.com/a.jpg\"}", KEYH, 400,
     "\"code\":\"invalid_media_url\""},
    {"native: media_url javascript:", "POST", NATIVE, JSON_CT,
     "{\"service_code\":\"LIGHT\"," LOC "," LIGHT_OK ",\"media_url\":\"javascript:alert(1)\"}", KEYH, 400,
     "\"code\":\"invalid_media_url\""},
    {"native: unknown channel", "POST", NATIVE, JSON_CT, "{\"service_code\":\"LIGHT\"," LOC "," LIGHT_OK ",\"channel\":\"fax\"}",
     KEYH, 400, "\"code\":\"invalid_channel\""},

    /* --- native API: idempotency and size --- */
    {"native: Idempotency-Key reused with another body", "POST", NATIVE, JSON_CT,
     "{\"service_code\":\"LIGHT\"," LOC ",\"attributes\":{\"fault_type\":\"pole\"}}", KEYH "\nIdempotency-Key: reuse-native", 422,
     "\"code\":\"idempotency_key_reused\""},
    {"native: empty Idempotency-Key", "POST", NATIVE, JSON_CT, "{\"service_code\":\"LIGHT\"," LOC "," LIGHT_OK "}",
     KEYH "\nIdempotency-Key;", 400, "\"code\":\"invalid_idempotency_key\""},
    {"native: body over 65536 bytes (Content-Length)", "POST", NATIVE, JSON_CT,
     "{\"service_code\":\"LIGHT\"," LOC "," LIGHT_OK ",\"description\":\"$BIG\"}", KEYH, 413, "\"code\":\"body_too_large\""},
    {"native: body over 65536 bytes (chunked)", "POST", NATIVE, JSON_CT,
     "{\"service_code\":\"LIGHT\"," LOC "," LIGHT_OK ",\"description\":\"$BIG\"}", KEYH "\nTransfer-Encoding: chunked", 413,
     "\"code\":\"body_too_large\""},
    {"native: PUT on the collection", "PUT", NATIVE, JSON_CT, "{\"service_code\":\"LIGHT\"," LOC "," LIGHT_OK "}", KEYH, 405,
     "\"code\":\"method_not_allowed\""},

    /* --- Open311 POST: media type and form syntax --- */
    {"open311: application/json body", "POST", O311, JSON_CT, "{\"api_key\":\"$KEY\",\"service_code\":\"LIGHT\"}", NULL, 400,
     "must be application/x-www-form-urlencoded"},
    {"open311: text/plain body", "POST", O311, "text/plain", O_BASE O_LOC, NULL, 400,
     "must be application/x-www-form-urlencoded"},
    {"open311: no Content-Type", "POST", O311, NULL, O_BASE O_LOC, NULL, 400, "must be application/x-www-form-urlencoded"},
    {"open311: bad percent escape %G1", "POST", O311, FORM_CT, O_BASE O_LOC "&description=%G1", NULL, 400,
     "bad percent-escape"},
    {"open311: truncated percent escape %4", "POST", O311, FORM_CT, O_BASE O_LOC "&description=%4", NULL, 400,
     "truncated percent-escape"},
    {"open311: malformed attribute[ bracket", "POST", O311, FORM_CT,
     "api_key=$KEY&service_code=LIGHT" O_LOC "&attribute[fault_type=off", NULL, 400, "malformed parameter name"},
    {"open311: attribute[a][b]", "POST", O311, FORM_CT, O_BASE O_LOC "&attribute[pole_no][x]=1", NULL, 400,
     "malformed parameter name"},
    {"open311: attribute[]", "POST", O311, FORM_CT, O_BASE O_LOC "&attribute[]=1", NULL, 400, "malformed parameter name"},
    {"open311: brackets on another key", "POST", O311, FORM_CT, O_BASE O_LOC "&email[x]=a@b.cn", NULL, 400,
     "only attribute[CODE] may use brackets"},
    {"open311: bare attribute key", "POST", O311, FORM_CT, O_BASE O_LOC "&attribute=off", NULL, 400,
     "attribute needs a code"},
    {"open311: duplicate plain key", "POST", O311, FORM_CT, O_BASE O_LOC "&service_code=ROAD", NULL, 400,
     "duplicate parameter service_code"},
    {"open311: duplicate attribute[CODE]", "POST", O311, FORM_CT, O_BASE O_LOC "&attribute[fault_type]=pole", NULL, 400,
     "duplicate parameter attribute[fault_type]"},
    {"open311: attribute[CODE] and attribute[CODE][] mixed", "POST", O311, FORM_CT,
     "api_key=$KEY&service_code=DISPUTE" O_LOC "&attribute[dispute_type]=water&attribute[dispute_type][]=noise", NULL, 400,
     "given both as a single value and as a list"},
    {"open311: query and body disagree", "POST", O311 "?service_code=ROAD", FORM_CT, O_BASE O_LOC, NULL, 400,
     "given twice with different values"},
    {"open311: invalid UTF-8 %C3%28 in the body", "POST", O311, FORM_CT, O_BASE O_LOC "&description=%C3%28", NULL, 400,
     "invalid UTF-8"},
    {"open311: invalid UTF-8 %C3%28 in the query", "POST", O311 "?description=%C3%28", FORM_CT, O_BASE O_LOC, NULL, 400,
     "bad query string"},
    {"open311: overlong UTF-8 %C0%AF", "POST", O311, FORM_CT, O_BASE O_LOC "&description=%C0%AF", NULL, 400, "invalid UTF-8"},
    {"open311: NUL byte %00", "POST", O311, FORM_CT, O_BASE O_LOC "&description=a%00b", NULL, 400, "NUL byte"},
    {"open311: description of 4001 Chinese characters", "POST", O311, FORM_CT, O_BASE O_LOC "&description=$D4001F", NULL, 400,
     "at most 4000 characters"},

    /* --- Open311 POST: location --- */
    {"open311: lat without long", "POST", O311, FORM_CT, O_BASE "&lat=28.2", NULL, 400, "must be sent together"},
    {"open311: long without lat", "POST", O311, FORM_CT, O_BASE "&long=113.1", NULL, 400, "must be sent together"},
    {"open311: long without lat (lat empty)", "POST", O311, FORM_CT, O_BASE "&lat=&long=113.1", NULL, 400,
     "must be sent together"},
    {"open311: no location at all", "POST", O311, FORM_CT, O_BASE, NULL, 400, "a location is required"},
    {"open311: lat 91", "POST", O311, FORM_CT, O_BASE "&lat=91&long=113.1", NULL, 400, "lat must be between -90 and 90"},
    {"open311: long 181", "POST", O311, FORM_CT, O_BASE "&lat=28.2&long=181", NULL, 400, "long must be between -180 and 180"},
    {"open311: lat abc", "POST", O311, FORM_CT, O_BASE "&lat=abc&long=113.1", NULL, 400, "must be decimal numbers"},
    {"open311: lat nan", "POST", O311, FORM_CT, O_BASE "&lat=nan&long=113.1", NULL, 400, "must be decimal numbers"},
    {"open311: lat as hex 0x1C", "POST", O311, FORM_CT, O_BASE "&lat=0x1C&long=113.1", NULL, 400, "must be decimal numbers"},
    {"open311: lat with a trailing space", "POST", O311, FORM_CT, O_BASE "&lat=28.2+&long=113.1", NULL, 400,
     "must be decimal numbers"},
    {"open311: point outside the county (Beijing)", "POST", O311, FORM_CT, O_BASE "&lat=39.9&long=116.4", NULL, 400,
     "outside this county"},
    {"open311: unknown address_id", "POST", O311, FORM_CT, O_BASE "&address_id=430121-999-99-99-999", NULL, 400,
     "is not a registered household"},
    {"open311: address_id with a point over 2 km away", "POST", O311, FORM_CT, O_BASE "&address_id=$HH&lat=$FLAT&long=$FLON",
     NULL, 400, "more than 2 km"},

    /* --- Open311 POST: service and attributes --- */
    {"open311: unknown service_code", "POST", O311, FORM_CT, "api_key=$KEY&service_code=NOPE" O_LOC, NULL, 404,
     "service_code 'NOPE' does not exist"},
    {"open311: missing service_code", "POST", O311, FORM_CT, "api_key=$KEY&attribute[fault_type]=off" O_LOC, NULL, 400,
     "service_code is required"},
    {"open311: unknown attribute code", "POST", O311, FORM_CT, O_BASE O_LOC "&attribute[colour]=red", NULL, 400,
     "has no attribute 'colour'"},
    {"open311: singlevaluelist value not in the list", "POST", O311, FORM_CT,
     "api_key=$KEY&service_code=LIGHT" O_LOC "&attribute[fault_type]=exploded", NULL, 400, "is not an allowed value"},
    {"open311: multivaluelist value not in the list", "POST", O311, FORM_CT,
     "api_key=$KEY&service_code=DISPUTE" O_LOC "&attribute[dispute_type][]=water&attribute[dispute_type][]=aliens", NULL, 400,
     "is not an allowed value"},
    {"open311: missing required attribute", "POST", O311, FORM_CT, "api_key=$KEY&service_code=LIGHT" O_LOC, NULL, 400,
     "attribute fault_type"},
    {"open311: required attribute empty", "POST", O311, FORM_CT,
     "api_key=$KEY&service_code=LIGHT" O_LOC "&attribute[fault_type]=", NULL, 400, "attribute fault_type"},
    {"open311: number attribute not a number", "POST", O311, FORM_CT,
     "api_key=$KEY&service_code=$NSVC" O_LOC "$NREQ&attribute[$NATTR]=many", NULL, 400, "must be a number"},

    /* --- Open311 POST: reporter fields, jurisdiction, key --- */
    {"open311: bad email", "POST", O311, FORM_CT, O_BASE O_LOC "&email=zhang%40example", NULL, 400,
     "email is not a valid address"},
    {"open311: bad phone", "POST", O311, FORM_CT, O_BASE O_LOC "&phone=12345", NULL, 400, "phone must be"},
    {"open311: media_url not http(s)", "POST", O311, FORM_CT, O_BASE O_LOC "&media_url=file%3A%2F%2F%2Fetc%2Fpasswd", NULL,
     400, "media_url must be an http(s) URL"},
    {"open311: wrong jurisdiction_id", "POST", O311, FORM_CT, O_BASE O_LOC "&jurisdiction_id=sfgov.org", NULL, 404,
     "jurisdiction_id not found"},
    {"open311: missing api_key", "POST", O311, FORM_CT, "service_code=LIGHT&attribute[fault_type]=off" O_LOC, NULL, 403,
     "Invalid api_key"},
    {"open311: wrong api_key", "POST", O311 "?api_key=nope", FORM_CT, "service_code=LIGHT&attribute[fault_type]=off" O_LOC,
     NULL, 403, "Invalid api_key"},
    {"open311: Idempotency-Key reused with another body", "POST", O311, FORM_CT,
     "api_key=$KEY&service_code=LIGHT&attribute[fault_type]=pole" O_LOC, "Idempotency-Key: reuse-open311", 400,
     "Idempotency-Key was already used"},
    {"open311: body over 65536 bytes (Content-Length)", "POST", O311, FORM_CT, O_BASE O_LOC "&description=$BIG", NULL, 413,
     "\"code\":413"},
    {"open311: body over 65536 bytes (chunked)", "POST", O311, FORM_CT, O_BASE O_LOC "&description=$BIG",
     "Transfer-Encoding: chunked", 413, "\"code\":413"},

    /* --- HTTP limits and routing (statuses as libmicrohttpd 0.9.75 sends them) --- */
    {"http: query string of 20 KB", "GET", "/open311/v2/requests.json?x=$LONG", NULL, NULL, NULL, 414, "too big"},
    {"http: path of 20 KB", "GET", "/$LONG", NULL, NULL, NULL, 414, "too big"},
    {"http: POST with a URL of 20 KB", "POST", O311 "?x=$LONG", FORM_CT, O_BASE O_LOC, NULL, 414, "too big"},
    {"http: header of 20 KB", "GET", "/healthz", NULL, NULL, "X-Padding: $LONG", 431, "too big"},
    {"http: header of 20 KB on a native POST", "POST", NATIVE, JSON_CT, "{\"service_code\":\"LIGHT\"," LOC "," LIGHT_OK "}",
     KEYH "\nX-Padding: $LONG", 431, "too big"},
    {"http: unknown path", "GET", "/nope", NULL, NULL, NULL, 404, "\"code\":\"not_found\""},
    {"http: POST to an unknown path", "POST", "/api/v2/tickets", JSON_CT, "{\"service_code\":\"LIGHT\"," LOC "," LIGHT_OK "}",
     KEYH, 404, "\"code\":\"not_found\""},
    {"http: bad percent escape in a GET query", "GET", "/open311/v2/requests.json?status=%G1", NULL, NULL, NULL, 400,
     "bad query string"},

    /* --- native list: times (each of these once reached PostgreSQL and answered 503) --- */
    {"native list: since=garbage", "GET", NATIVE "?since=garbage", NULL, NULL, NULL, 400,
     "\"code\":\"invalid_time\",\"message\":\"since and until must be ISO 8601 (W3C) times with a zone"},
    {"native list: until=garbage", "GET", NATIVE "?until=garbage", NULL, NULL, NULL, 400, "\"field\":\"until\""},
    {"native list: good since, bad until names until", "GET", NATIVE "?since=2026-01-01T00:00:00Z&until=yesterday", NULL,
     NULL, NULL, 400, "\"field\":\"until\""},
    {"native list: since without a zone", "GET", NATIVE "?since=2026-01-01T00:00:00", NULL, NULL, NULL, 400,
     "\"field\":\"since\""},
    {"native list: since with an unencoded + (a space)", "GET", NATIVE "?since=2026-01-01T00:00:00+08:00", NULL, NULL,
     NULL, 400, "\"field\":\"since\""},
    {"native list: since in the year 0000", "GET", NATIVE "?since=0000-01-01T00:00:00Z", NULL, NULL, NULL, 400,
     "\"field\":\"since\""},
    {"native list: until in the year 0000", "GET", NATIVE "?until=0000-12-31T23:59:59Z", NULL, NULL, NULL, 400,
     "\"field\":\"until\""},
    {"native list: since on the 13th month", "GET", NATIVE "?since=2026-13-01T00:00:00Z", NULL, NULL, NULL, 400,
     "\"field\":\"since\""},
    {"native list: since in the year 10000 after its offset", "GET", NATIVE "?since=9999-12-31T23:59:59-23:59", NULL,
     NULL, NULL, 400, "\"field\":\"since\""},
    {"open311 list: start_date in the year 0000", "GET", "/open311/v2/requests.json?start_date=0000-01-01T00:00:00Z",
     NULL, NULL, NULL, 400, "start_date and end_date must be ISO 8601 (W3C) times"},
    {"open311 updates: end_date in the year 0000", "GET",
     "/open311/v2/servicerequestupdates.json?end_date=0000-01-01T00:00:00Z", NULL, NULL, NULL, 400,
     "start_date and end_date must be ISO 8601 (W3C) times"},
    /* --- lists: pages, cursors and windows (README, "Lists: pages, cursors and bounds") --- */
    {"list: native page 800 of 500", "GET", NATIVE "?page=800&page_size=500", NULL, NULL, NULL, 400,
     "\"code\":\"page_too_deep\""},
    {"list: native page 21 of 500 (past 10000 rows)", "GET", NATIVE "?page=21&page_size=500", NULL, NULL, NULL, 400,
     "follow the cursor"},
    {"list: native page_size 501", "GET", NATIVE "?page_size=501", NULL, NULL, NULL, 400, "\"code\":\"invalid_page\""},
    {"list: native page 0", "GET", NATIVE "?page=0", NULL, NULL, NULL, 400, "\"code\":\"invalid_page\""},
    {"list: native page and cursor together", "GET", NATIVE "?page=2&cursor=MTIzLjQ1Ng", NULL, NULL, NULL, 400,
     "\"code\":\"invalid_cursor\""},
    {"list: native cursor not one intake wrote", "GET", NATIVE "?cursor=nonsense", NULL, NULL, NULL, 400,
     "\"code\":\"invalid_cursor\""},
    {"list: native cursor with base64 padding", "GET", NATIVE "?cursor=MTIzLjQ1Ng%3D%3D", NULL, NULL, NULL, 400,
     "\"code\":\"invalid_cursor\""},
    {"list: native cursor past the year 9999", "GET", NATIVE "?cursor=MjUzNDAyMzAwODAwMDAwMDAwLjE", NULL, NULL, NULL,
     400, "\"code\":\"invalid_cursor\""},
    {"list: native window in the year 0", "GET", NATIVE "?since=0000-06-01T00:00:00Z&until=0000-12-01T00:00:00Z", NULL,
     NULL, NULL, 400, "\"code\":\"invalid_time\""},
    {"list: Open311 window in the year 0", "GET", O311 "?start_date=0000-06-01T00:00:00Z&end_date=0000-07-01T00:00:00Z",
     NULL, NULL, NULL, 400, "in the years 1 to 9999"},
    {"list: native since without a zone", "GET", NATIVE "?since=2026-11-01T00:00:00", NULL, NULL, NULL, 400,
     "\"code\":\"invalid_time\""},
    {"list: native until before since", "GET", NATIVE "?since=2026-11-02T00:00:00Z&until=2026-11-01T00:00:00Z", NULL, NULL,
     NULL, 400, "\"code\":\"invalid_range\""},
    {"list: native window of 366 days and a second", "GET",
     NATIVE "?since=2025-01-01T00:00:00Z&until=2026-01-02T00:00:01Z", NULL, NULL, NULL, 400,
     "\"code\":\"range_too_wide\""},
    {"list: native window of a century", "GET", NATIVE "?since=2000-01-01T00:00:00Z&until=2100-01-01T00:00:00Z", NULL,
     NULL, NULL, 400, "\"code\":\"range_too_wide\""},
    {"list: Open311 page 11 of 1000 (past 10000 rows)", "GET", O311 "?page=11", NULL, NULL, NULL, 400,
     "narrow the window with start_date and end_date"},
    {"list: Open311 page 800 of 500", "GET", O311 "?page=800&page_size=500", NULL, NULL, NULL, 400, "first 10000 rows"},
    {"list: Open311 page 800 of 500 (XML)", "GET", "/open311/v2/requests.xml?page=800&page_size=500", NULL, NULL, NULL,
     400, "<code>400</code>"},
    {"list: Open311 window of 91 days", "GET", O311 "?start_date=2026-01-01T00:00:00Z&end_date=2026-04-02T00:00:00Z",
     NULL, NULL, NULL, 400, "at most 90 days apart"},
    {"list: Open311 updates page 11 of 1000", "GET", "/open311/v2/servicerequestupdates.json?page=11", NULL, NULL, NULL,
     400, "narrow the window"},
    {"list: staff queue page_size 501", "GET", "/api/v1/staff/tickets?page_size=501", NULL, NULL,
     "Authorization: Bearer $TOKEN", 400, "\"code\":\"invalid_page\""},
    {"list: staff queue cursor not one intake wrote", "GET", "/api/v1/staff/tickets?cursor=nonsense", NULL, NULL,
     "Authorization: Bearer $TOKEN", 400, "\"code\":\"invalid_cursor\""},
};

static pid_t g_pid;
static PGconn *g_db;
static char *g_key;
static char g_base[128];
static int g_port;
static int g_teardown_failed;

/* ---------------------------------------------------------------------------------------------
 * $NAME variables */

#define MAX_VARS 32
static struct {
    char *name;
    char *value;
} g_vars[MAX_VARS];
static int g_nvars;

static void set_var(const char *name, const char *value)
{
    assert_true(g_nvars < MAX_VARS);
    g_vars[g_nvars].name = strdup(name);
    g_vars[g_nvars].value = strdup(value);
    g_nvars++;
}

static const char *var(const char *name)
{
    for (int i = 0; i < g_nvars; i++)
        if (!strcmp(g_vars[i].name, name))
            return g_vars[i].value;
    return NULL;
}

/* A copy of t with every $NAME replaced (NULL for NULL). An unknown name is a bug in the table. */
static char *expand(const char *t)
{
    if (!t)
        return NULL;
    buf_t b = BUF_INIT;
    buf_append(&b, "", 0);
    for (const char *p = t; *p;) {
        if (*p != '$') {
            buf_putc(&b, *p++);
            continue;
        }
        size_t n = 1;
        while ((p[n] >= 'A' && p[n] <= 'Z') || (p[n] >= '0' && p[n] <= '9') || p[n] == '_')
            n++;
        char name[64];
        snprintf(name, sizeof name, "%.*s", (int)(n - 1), p + 1);
        const char *v = var(name);
        if (!v) {
            print_error("the table uses $%s, which setup() does not define\n", name);
            fail();
        }
        buf_puts(&b, v);
        p += n;
    }
    return buf_detach(&b);
}

/* ---------------------------------------------------------------------------------------------
 * helpers */

static long long count_rows(const char *table)
{
    char sql[128];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM %s", table);
    return h_sql_int(g_db, sql, 0, NULL);
}

typedef struct {
    long long tickets, events, idem;
} counts_t;

static counts_t counts(void)
{
    return (counts_t){count_rows("intake.ticket"), count_rows("bus.outbox"), count_rows("intake.idempotency")};
}

static bool healthy(void)
{
    char url[160];
    snprintf(url, sizeof url, "%s/healthz", g_base);
    h_resp_t r;
    bool ok = h_http("GET", url, NULL, NULL, 0, &r) && r.status == 200;
    h_resp_free(&r);
    return ok;
}

/* One request: method, path (under the root), headers list, body. Returns false on transport failure. */
static bool call(const char *method, const char *path, const char *const *headers, const char *body, h_resp_t *r)
{
    char *url = malloc(strlen(g_base) + strlen(path) + 1);
    assert_non_null(url);
    strcpy(url, g_base);
    strcat(url, path);
    bool ok = h_http(method, url, headers, body, body ? strlen(body) : 0, r);
    free(url);
    return ok;
}

static void expect_status(const h_resp_t *r, long want, const char *what)
{
    if (r->status != want) {
        print_error("%s: HTTP %ld, expected %ld; body: %.600s\n", what, r->status, want, buf_str(&r->body));
        fail();
    }
}

/* Native POST with the run's key and optional extra header; expects 201 and returns the ticket code. */
static char *native_create(const char *json, const char *extra, h_resp_t *out)
{
    char key[128];
    snprintf(key, sizeof key, "X-API-Key: %s", g_key);
    const char *hdrs[] = {"Content-Type: application/json", key, extra, NULL};
    h_resp_t r;
    assert_true(call("POST", NATIVE, hdrs, json, &r));
    expect_status(&r, 201, "native POST");
    json_error_t e;
    json_t *j = json_loadb(buf_str(&r.body), r.body.len, 0, &e);
    assert_non_null(j);
    char *code = strdup(json_string_value(json_object_get(j, "code")));
    json_decref(j);
    if (out)
        *out = r;
    else
        h_resp_free(&r);
    return code;
}

static char *o311_create(const char *form, const char *extra, h_resp_t *out)
{
    const char *hdrs[] = {"Content-Type: " FORM_CT, extra, NULL};
    h_resp_t r;
    assert_true(call("POST", O311, hdrs, form, &r));
    expect_status(&r, 200, "Open311 POST");
    json_error_t e;
    json_t *j = json_loadb(buf_str(&r.body), r.body.len, 0, &e);
    assert_non_null(j);
    const char *id = json_string_value(json_object_get(json_array_get(j, 0), "service_request_id"));
    assert_non_null(id);
    char *code = strdup(id);
    json_decref(j);
    if (out)
        *out = r;
    else
        h_resp_free(&r);
    return code;
}

/* n Chinese characters (cycling through a sentence), UTF-8; caller frees. */
static char *chinese(size_t n)
{
    static const char *const chars[] = {"路", "灯", "不", "亮", "，", "请", "尽", "快", "修", "理", "。"};
    buf_t b = BUF_INIT;
    for (size_t i = 0; i < n; i++)
        buf_puts(&b, chars[i % (sizeof chars / sizeof chars[0])]);
    return buf_detach(&b);
}

/* ---------------------------------------------------------------------------------------------
 * raw sockets: clients curl will not imitate */

static int raw_connect(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    assert_true(fd >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)g_port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(connect(fd, (struct sockaddr *)&sa, sizeof sa), 0);
    return fd;
}

static bool send_all(int fd, const char *p, size_t n)
{
    while (n) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL);
        if (w < 0 && errno == EINTR)
            continue;
        if (w <= 0)
            return false;
        p += w;
        n -= (size_t)w;
    }
    return true;
}

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + ts.tv_nsec / 1e9;
}

/* Reads until the peer closes or timeout_s passes. Returns bytes read (in out), and sets
 * *closed when the server closed the connection (recv returned 0 or the connection was reset). */
static size_t read_until_close(int fd, double timeout_s, buf_t *out, bool *closed)
{
    *closed = false;
    double end = now_s() + timeout_s;
    char tmp[4096];
    size_t total = 0;
    while (now_s() < end) {
        double left = end - now_s();
        struct timeval tv = {(time_t)left, (suseconds_t)((left - (double)(time_t)left) * 1e6)};
        if (tv.tv_sec == 0 && tv.tv_usec < 1000)
            tv.tv_usec = 1000; /* {0, 0} would mean "wait forever" */
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
        ssize_t n = recv(fd, tmp, sizeof tmp, 0);
        if (n > 0) {
            buf_append(out, tmp, (size_t)n);
            total += (size_t)n;
            continue;
        }
        if (n == 0 || (n < 0 && (errno == ECONNRESET || errno == EPIPE))) {
            *closed = true;
            break;
        }
        if (n < 0 && errno == EINTR)
            continue;
        break; /* EAGAIN: timed out */
    }
    return total;
}

/* ---------------------------------------------------------------------------------------------
 * the table */

static void bad_inputs_table(void **state)
{
    (void)state;
    /* The first use of the two Idempotency-Keys the table then reuses with other bodies. */
    char *c1 = native_create("{\"service_code\":\"LIGHT\"," LOC "," LIGHT_OK "}", "Idempotency-Key: reuse-native", NULL);
    char *form = expand(O_BASE O_LOC);
    char *c2 = o311_create(form, "Idempotency-Key: reuse-open311", NULL);
    free(form);
    free(c1);
    free(c2);

    size_t n = sizeof CASES / sizeof CASES[0];
    int failures = 0;
    for (size_t i = 0; i < n; i++) {
        const bad_case_t *c = &CASES[i];
        print_message("case %2zu: %s\n", i + 1, c->name);
        char *path = expand(c->path), *body = expand(c->body), *extra = expand(c->header);
        const char *hdrs[12];
        int nh = 0;
        char ct[160];
        if (c->content_type) {
            snprintf(ct, sizeof ct, "Content-Type: %s", c->content_type);
            hdrs[nh++] = ct;
        } else if (body) {
            hdrs[nh++] = "Content-Type:"; /* libcurl would add a form type to a POST body */
        }
        for (char *save = NULL, *h = extra ? strtok_r(extra, "\n", &save) : NULL; h && nh < 11;
             h = strtok_r(NULL, "\n", &save))
            hdrs[nh++] = h;
        hdrs[nh] = NULL;

        counts_t before = counts();
        h_resp_t r;
        bool sent = call(c->method, path, hdrs, body, &r);
        counts_t after = counts();
        bool ok = true;
        if (!sent || r.status != c->status) {
            print_error("FAILED case \"%s\": HTTP %ld, expected %ld; body: %.400s\n", c->name, r.status, c->status,
                        buf_str(&r.body));
            ok = false;
        } else if (c->want && !strstr(buf_str(&r.body), c->want)) {
            print_error("FAILED case \"%s\": body does not contain \"%s\": %.400s\n", c->name, c->want, buf_str(&r.body));
            ok = false;
        }
        if (after.tickets != before.tickets || after.events != before.events || after.idem != before.idem) {
            print_error("FAILED case \"%s\": rows changed: intake.ticket %lld -> %lld, bus.outbox %lld -> %lld,"
                        " intake.idempotency %lld -> %lld\n",
                        c->name, before.tickets, after.tickets, before.events, after.events, before.idem, after.idem);
            ok = false;
        }
        if (!healthy()) {
            print_error("FAILED case \"%s\": /healthz does not answer 200 afterwards\n", c->name);
            ok = false;
        }
        failures += !ok;
        h_resp_free(&r);
        free(path);
        free(body);
        free(extra);
    }
    print_message("%zu cases, %d failed\n", n, failures);
    assert_int_equal(failures, 0);
}

/* ---------------------------------------------------------------------------------------------
 * positive controls: what the table's bad cases are varied from is accepted */

static void description_of_4000_chars_is_accepted(void **state)
{
    (void)state;
    char *d = chinese(4000);
    counts_t before = counts();

    buf_t json = BUF_INIT;
    buf_printf(&json, "{\"service_code\":\"LIGHT\"," LOC "," LIGHT_OK ",\"description\":\"%s\"}", d);
    char *code = native_create(buf_str(&json), NULL, NULL);
    assert_int_equal(counts().tickets, before.tickets + 1);
    const char *p[] = {code, d};
    assert_int_equal(h_sql_int(g_db,
                               "SELECT count(*) FROM intake.ticket WHERE code = $1 AND char_length(description) = 4000"
                               " AND description = $2",
                               2, p),
                     1);
    free(code);

    buf_t form = BUF_INIT;
    buf_printf(&form, "api_key=%s&service_code=LIGHT&attribute[fault_type]=off&lat=28.2&long=113.1&description=", g_key);
    h_urlencode(&form, d);
    assert_true(form.len < 65536);
    code = o311_create(buf_str(&form), NULL, NULL);
    counts_t after = counts();
    assert_int_equal(after.tickets, before.tickets + 2);
    assert_int_equal(after.events, before.events + 2);
    const char *p2[] = {code, d};
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM intake.ticket WHERE code = $1 AND description = $2", 2, p2), 1);
    free(code);
    buf_free(&json);
    buf_free(&form);
    free(d);
}

/* Times the table refuses have valid neighbours: an offset PostgreSQL would not read in the text
 * (past +-15:59) names an instant all the same, and + encoded is a zone. The list answers 200 and
 * holds the ticket created in between, which the window includes. */
static void unusual_but_valid_list_times_are_accepted(void **state)
{
    (void)state;
    char *code = native_create("{\"service_code\":\"LIGHT\"," LOC "," LIGHT_OK ",\"description\":\"time window\"}",
                               NULL, NULL);
    /* the extreme zone offsets, around today (a window is at most list_max_days wide) */
    char yesterday[16], tomorrow[16], p0[200], p1[200];
    time_t now = time(NULL), y = now - 86400, t = now + 2 * 86400;
    struct tm tm;
    strftime(yesterday, sizeof yesterday, "%Y-%m-%d", gmtime_r(&y, &tm));
    strftime(tomorrow, sizeof tomorrow, "%Y-%m-%d", gmtime_r(&t, &tm));
    snprintf(p0, sizeof p0, NATIVE "?since=%sT00:00:00-23:59&until=%sT00:00:00%%2B14:00&page_size=500", yesterday, tomorrow);
    snprintf(p1, sizeof p1, NATIVE "?since=%sT00:00:00%%2B08:00&page_size=500", yesterday);
    const char *paths[] = {p0, p1, NULL};
    for (int i = 0; paths[i]; i++) {
        h_resp_t r;
        assert_true(call("GET", paths[i], NULL, NULL, &r));
        expect_status(&r, 200, paths[i]);
        if (!strstr(buf_str(&r.body), code))
            fail_msg("%s: the new ticket %s is not listed: %.300s", paths[i], code, buf_str(&r.body));
        h_resp_free(&r);
    }
    free(code);
}

static void templates_with_good_values_are_accepted(void **state)
{
    (void)state;
    counts_t before = counts();
    /* the number attribute with a number, both APIs */
    buf_t b = BUF_INIT;
    buf_printf(&b, "{\"service_code\":\"%s\"," LOC ",\"attributes\":%s}", var("NSVC"), var("NJSON_OK"));
    char *code = native_create(buf_str(&b), NULL, NULL);
    free(code);
    buf_reset(&b);
    buf_printf(&b, "api_key=%s&service_code=%s" O_LOC "%s&attribute[%s]=2.5", g_key, var("NSVC"), var("NREQ"), var("NATTR"));
    code = o311_create(buf_str(&b), NULL, NULL);
    const char *p[] = {code, var("NATTR")};
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM intake.ticket WHERE code = $1 AND attributes->>$2 = '2.5'", 2, p),
                     1);
    free(code);
    /* address_id with the household's own location; address_id alone */
    buf_reset(&b);
    buf_printf(&b, "{\"service_code\":\"LIGHT\",\"address_id\":\"%s\",\"lat\":%s,\"long\":%s," LIGHT_OK "}", var("HH"),
               var("HLAT"), var("HLON"));
    code = native_create(buf_str(&b), NULL, NULL);
    free(code);
    buf_reset(&b);
    buf_printf(&b, O_BASE "&address_id=%s", var("HH"));
    char *form = expand(buf_str(&b));
    code = o311_create(form, NULL, NULL);
    free(form);
    free(code);
    assert_int_equal(counts().tickets, before.tickets + 4);
    buf_free(&b);
}

/* ---------------------------------------------------------------------------------------------
 * idempotency */

static void idempotent_retry_replays_the_first_answer(void **state)
{
    (void)state;
    counts_t before = counts();
    const char *json = "{\"service_code\":\"LIGHT\"," LOC ",\"attributes\":{\"fault_type\":\"day_on\"}}";
    h_resp_t r1, r2;
    char *c1 = native_create(json, "Idempotency-Key: replay-native-1", &r1);
    char *c2 = native_create(json, "Idempotency-Key: replay-native-1", &r2);
    assert_int_equal(r1.status, 201);
    assert_int_equal(r2.status, 201);
    assert_int_equal(r1.body.len, r2.body.len);
    assert_memory_equal(r1.body.data, r2.body.data, r1.body.len);
    assert_string_equal(c1, c2);
    /* the replay is the whole first answer: status, body and the Location of the ticket */
    char loc[128];
    snprintf(loc, sizeof loc, "\nLocation: /api/v1/tickets/%s", c1);
    if (!strcasestr(buf_str(&r1.headers), loc) || !strcasestr(buf_str(&r2.headers), loc)) {
        print_error("Location header missing; first answer:\n%s\nreplay:\n%s\n", buf_str(&r1.headers), buf_str(&r2.headers));
        fail();
    }
    assert_int_equal(counts().tickets, before.tickets + 1);
    assert_int_equal(counts().events, before.events + 1);
    const char *p[] = {"replay-native-1", c1};
    assert_int_equal(h_sql_int(g_db,
                               "SELECT count(*) FROM intake.idempotency i JOIN intake.ticket t ON t.id = i.ticket_id"
                               " WHERE i.key = $1 AND t.code = $2",
                               2, p),
                     1);
    h_resp_free(&r1);
    h_resp_free(&r2);
    free(c1);
    free(c2);

    /* Open311, both formats of answer as stored */
    char *form = expand(O_BASE O_LOC "&description=replay");
    c1 = o311_create(form, "Idempotency-Key: replay-open311-1", &r1);
    c2 = o311_create(form, "Idempotency-Key: replay-open311-1", &r2);
    assert_string_equal(c1, c2);
    assert_int_equal(r1.body.len, r2.body.len);
    assert_memory_equal(r1.body.data, r2.body.data, r1.body.len);
    assert_int_equal(counts().tickets, before.tickets + 2);
    h_resp_free(&r1);
    h_resp_free(&r2);
    free(c1);
    free(c2);
    free(form);
}

#define N_THREADS 10

typedef struct {
    pthread_barrier_t *start;
    const char *url;
    const char *const *headers;
    const char *body;
    long status;
    char *answer;
} racer_t;

static void *race(void *arg)
{
    racer_t *t = arg;
    pthread_barrier_wait(t->start);
    h_resp_t r;
    if (h_http("POST", t->url, t->headers, t->body, strlen(t->body), &r))
        t->status = r.status;
    t->answer = strdup(buf_str(&r.body));
    h_resp_free(&r);
    return NULL;
}

static void concurrent_requests_with_one_key_make_one_ticket(void **state)
{
    (void)state;
    counts_t before = counts();
    char url[160], key[128];
    snprintf(url, sizeof url, "%s" NATIVE, g_base);
    snprintf(key, sizeof key, "X-API-Key: %s", g_key);
    const char *hdrs[] = {"Content-Type: application/json", key, "Idempotency-Key: race-1", NULL};
    const char *body = "{\"service_code\":\"LIGHT\"," LOC ",\"attributes\":{\"fault_type\":\"flicker\"},\"description\":\"race\"}";
    pthread_barrier_t start;
    pthread_barrier_init(&start, NULL, N_THREADS);
    racer_t t[N_THREADS];
    pthread_t th[N_THREADS];
    for (int i = 0; i < N_THREADS; i++) {
        t[i] = (racer_t){.start = &start, .url = url, .headers = hdrs, .body = body};
        assert_int_equal(pthread_create(&th[i], NULL, race, &t[i]), 0);
    }
    for (int i = 0; i < N_THREADS; i++)
        pthread_join(th[i], NULL);
    pthread_barrier_destroy(&start);
    int bad = 0;
    for (int i = 0; i < N_THREADS; i++) {
        if (t[i].status != 201 || strcmp(t[i].answer, t[0].answer) != 0) {
            print_error("request %d: HTTP %ld %s (request 0: %s)\n", i, t[i].status, t[i].answer, t[0].answer);
            bad++;
        }
    }
    counts_t after = counts();
    for (int i = 0; i < N_THREADS; i++)
        free(t[i].answer);
    assert_int_equal(bad, 0);
    assert_int_equal(after.tickets, before.tickets + 1);
    assert_int_equal(after.events, before.events + 1);
    assert_int_equal(after.idem, before.idem + 1);
}

/* ---------------------------------------------------------------------------------------------
 * raw clients */

static void oversize_bodies_on_a_raw_socket(void **state)
{
    (void)state;
    counts_t before = counts();
    /* chunked, really: 9 chunks of 8 KiB, over the 64 KiB limit */
    int fd = raw_connect();
    buf_t req = BUF_INIT;
    buf_printf(&req,
               "POST " NATIVE " HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: %s\r\nContent-Type: application/json\r\n"
               "Transfer-Encoding: chunked\r\n\r\n",
               g_key);
    char chunk[8192];
    memset(chunk, 'a', sizeof chunk);
    for (int i = 0; i < 9; i++) {
        buf_printf(&req, "%zx\r\n", sizeof chunk);
        buf_append(&req, chunk, sizeof chunk);
        buf_puts(&req, "\r\n");
    }
    buf_puts(&req, "0\r\n\r\n");
    send_all(fd, req.data, req.len); /* the server may answer and close early */
    buf_t in = BUF_INIT;
    bool closed;
    read_until_close(fd, 5, &in, &closed);
    close(fd);
    if (strncmp(buf_str(&in), "HTTP/1.1 413", 12) != 0) {
        print_error("chunked oversize body: %.200s\n", buf_str(&in));
        fail();
    }

    /* a declared Content-Length over the limit is refused before the body is read */
    fd = raw_connect();
    buf_reset(&req);
    buf_printf(&req,
               "POST " NATIVE " HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: %s\r\nContent-Type: application/json\r\n"
               "Content-Length: 70000\r\n\r\n",
               g_key);
    assert_true(send_all(fd, req.data, req.len));
    buf_reset(&in);
    double t0 = now_s();
    read_until_close(fd, 5, &in, &closed);
    close(fd);
    if (strncmp(buf_str(&in), "HTTP/1.1 413", 12) != 0) {
        print_error("declared oversize body: %.200s\n", buf_str(&in));
        fail();
    }
    assert_true(now_s() - t0 < 1.5); /* not after a timeout */
    counts_t after = counts();
    assert_int_equal(after.tickets, before.tickets);
    assert_int_equal(after.events, before.events);
    assert_true(healthy());
    buf_free(&req);
    buf_free(&in);
}

static void half_request_line_is_closed_after_the_timeout(void **state)
{
    (void)state;
    int fd = raw_connect();
    const char *half = "GET /heal";
    assert_true(send_all(fd, half, strlen(half)));
    double t0 = now_s();
    /* intake serves everyone else meanwhile */
    for (int i = 0; i < 5; i++)
        assert_true(healthy());
    buf_t in = BUF_INIT;
    bool closed;
    read_until_close(fd, 8, &in, &closed);
    double waited = now_s() - t0;
    close(fd);
    print_message("half-open client closed after %.2f s (timeout 2 s), %zu bytes sent to it\n", waited, in.len);
    assert_true(closed);
    assert_true(waited >= 1.0); /* by the timeout, not at once */
    assert_true(waited <= 5.0);
    assert_true(healthy());
    buf_free(&in);
}

static void short_body_creates_nothing_and_is_closed(void **state)
{
    (void)state;
    counts_t before = counts();
    int fd = raw_connect();
    buf_t req = BUF_INIT;
    buf_printf(&req,
               "POST " NATIVE " HTTP/1.1\r\nHost: 127.0.0.1\r\nX-API-Key: %s\r\nContent-Type: application/json\r\n"
               "Content-Length: 1000\r\n\r\n{\"service_",
               g_key);
    assert_true(send_all(fd, req.data, req.len));
    double t0 = now_s();
    for (int i = 0; i < 5; i++)
        assert_true(healthy());
    /* a second slow client on the Open311 side at the same time */
    int fd2 = raw_connect();
    buf_reset(&req);
    buf_printf(&req,
               "POST " O311 " HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: " FORM_CT "\r\n"
               "Content-Length: 1000\r\n\r\napi_key=%s&service_code=LIGHT",
               g_key);
    assert_true(send_all(fd2, req.data, req.len));
    buf_t in = BUF_INIT;
    bool closed, closed2;
    read_until_close(fd, 8, &in, &closed);
    double waited = now_s() - t0;
    size_t got2 = read_until_close(fd2, 8, &in, &closed2);
    close(fd);
    close(fd2);
    print_message("short-body clients closed after %.2f s; %zu bytes answered\n", waited, in.len);
    assert_true(closed);
    assert_true(closed2);
    assert_true(waited <= 5.0);
    (void)got2;
    /* no answer that looks like success, and nothing stored */
    assert_null(strstr(buf_str(&in), "HTTP/1.1 2"));
    counts_t after = counts();
    assert_int_equal(after.tickets, before.tickets);
    assert_int_equal(after.events, before.events);
    assert_int_equal(after.idem, before.idem);
    assert_true(healthy());
    buf_free(&req);
    buf_free(&in);
}

/* ---------------------------------------------------------------------------------------------
 * setup */

static void setup_vars(void)
{
    set_var("KEY", g_key);
    /* a staff member's bearer token, for the staff queue */
    char *staff = h_sql_text(g_db, "SELECT min(id)::text FROM registry.staff WHERE active", 0, NULL);
    char *token = h_staff_token(g_db, atoll(staff));
    set_var("TOKEN", token);
    free(token);
    free(staff);

    /* a real household with a location, and the county corner farthest from it */
    char *h = h_sql_text(g_db,
                         "SELECT h.code || ' ' || ST_Y(h.location) || ' ' || ST_X(h.location) || ' ' ||"
                         "  ST_YMin(u.boundary) || ' ' || ST_YMax(u.boundary) || ' ' ||"
                         "  ST_XMin(u.boundary) || ' ' || ST_XMax(u.boundary)"
                         " FROM registry.household h, registry.jurisdiction j JOIN registry.unit u ON u.id = j.county_id"
                         " WHERE h.location IS NOT NULL ORDER BY h.id LIMIT 1",
                         0, NULL);
    char code[64];
    double hlat, hlon, ymin, ymax, xmin, xmax;
    assert_int_equal(sscanf(h, "%63s %lf %lf %lf %lf %lf %lf", code, &hlat, &hlon, &ymin, &ymax, &xmin, &xmax), 7);
    free(h);
    double flat = (hlat - ymin > ymax - hlat) ? ymin + 0.001 : ymax - 0.001;
    double flon = (hlon - xmin > xmax - hlon) ? xmin + 0.001 : xmax - 0.001;
    char t[64];
    set_var("HH", code);
    snprintf(t, sizeof t, "%.6f", hlat);
    set_var("HLAT", t);
    snprintf(t, sizeof t, "%.6f", hlon);
    set_var("HLON", t);
    snprintf(t, sizeof t, "%.6f", flat);
    set_var("FLAT", t);
    snprintf(t, sizeof t, "%.6f", flon);
    set_var("FLON", t);
    const char *dp[] = {var("HH"), var("FLAT"), var("FLON")};
    long long dist = h_sql_int(g_db,
                               "SELECT ST_DistanceSphere(location, ST_SetSRID(ST_MakePoint($3::float8, $2::float8), 4326))::bigint"
                               " FROM registry.household WHERE code = $1",
                               3, dp);
    assert_true(dist > 2000);

    /* a service with a number attribute, and what else it requires */
    char *n = h_sql_text(g_db,
                         "SELECT a.service_code || ' ' || a.code FROM registry.service_attribute a"
                         " JOIN registry.service s ON s.code = a.service_code"
                         " WHERE a.datatype = 'number' AND a.variable AND s.active ORDER BY a.service_code, a.ord LIMIT 1",
                         0, NULL);
    char svc[64], attr[64];
    assert_int_equal(sscanf(n, "%63s %63s", svc, attr), 2);
    free(n);
    set_var("NSVC", svc);
    set_var("NATTR", attr);
    static const char REQUIRED[] =
        " FROM registry.service_attribute a CROSS JOIN LATERAL (SELECT CASE"
        "   WHEN a.datatype IN ('singlevaluelist', 'multivaluelist') THEN (SELECT v.key FROM registry.service_attribute_value v"
        "     WHERE v.service_code = a.service_code AND v.attribute_code = a.code ORDER BY v.ord, v.key LIMIT 1)"
        "   WHEN a.datatype = 'number' THEN '1' WHEN a.datatype = 'datetime' THEN '2026-01-01T00:00:00Z' ELSE 'x' END AS val) v"
        " WHERE a.service_code = $1 AND a.required AND a.variable AND a.code <> $2";
    const char *np[] = {svc, attr};
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(string_agg('&attribute[' || a.code || CASE WHEN a.datatype = 'multivaluelist' THEN '][]=' ELSE ']=' END"
             " || v.val, '' ORDER BY a.ord), '')%s",
             REQUIRED);
    char *form = h_sql_text(g_db, sql, 2, np);
    set_var("NREQ", form);
    free(form);
    snprintf(sql, sizeof sql,
             "SELECT coalesce(json_object_agg(a.code, CASE WHEN a.datatype = 'multivaluelist' THEN json_build_array(v.val)"
             " ELSE to_json(v.val) END), '{}')::text%s",
             REQUIRED);
    char *js = h_sql_text(g_db, sql, 2, np);
    json_error_t je;
    json_t *o = json_loads(js, 0, &je);
    assert_non_null(o);
    free(js);
    json_object_set_new(o, attr, json_string("many"));
    char *bad = json_dumps(o, JSON_COMPACT);
    set_var("NJSON_BAD", bad);
    free(bad);
    json_object_set_new(o, attr, json_integer(3));
    char *good = json_dumps(o, JSON_COMPACT);
    set_var("NJSON_OK", good);
    free(good);
    json_decref(o);

    /* 4001 Chinese characters, raw and form-encoded */
    char *d = chinese(4001);
    set_var("D4001J", d);
    buf_t enc = BUF_INIT;
    h_urlencode(&enc, d);
    set_var("D4001F", buf_str(&enc));
    buf_free(&enc);
    free(d);

    char *big = malloc(70001);
    assert_non_null(big);
    memset(big, 'x', 70000);
    big[70000] = '\0';
    set_var("BIG", big);
    big[20000] = '\0';
    set_var("LONG", big);
    free(big);
}

/* The harness exits on a setup failure (no database, say): do not leave our intake behind. */
static void stop_leftover_intake(void)
{
    if (g_pid > 0)
        h_stop(g_pid, SIGKILL);
}

static int setup(void **state)
{
    (void)state;
    atexit(stop_leftover_intake);
    g_db = h_db();
    g_key = h_api_key(g_db);
    g_port = h_port(20);
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", g_port);
    setup_vars();
    static const char *const env[] = {"GRIDGOV_HTTP_TIMEOUT_S=2", NULL};
    g_pid = h_start_intake(h_port(20), h_port(21), env);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int st = h_stop(g_pid, SIGTERM);
    g_pid = 0;
    for (int i = 0; i < g_nvars; i++) {
        free(g_vars[i].name);
        free(g_vars[i].value);
    }
    g_nvars = 0;
    free(g_key);
    PQfinish(g_db);
    if (!WIFEXITED(st) || WEXITSTATUS(st) != 0) {
        g_teardown_failed = 1; /* cmocka does not count a failed group teardown; main() does */
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
        cmocka_unit_test(bad_inputs_table),
        cmocka_unit_test(description_of_4000_chars_is_accepted),
        cmocka_unit_test(templates_with_good_values_are_accepted),
        cmocka_unit_test(unusual_but_valid_list_times_are_accepted),
        cmocka_unit_test(idempotent_retry_replays_the_first_answer),
        cmocka_unit_test(concurrent_requests_with_one_key_make_one_ticket),
        cmocka_unit_test(oversize_bodies_on_a_raw_socket),
        cmocka_unit_test(half_request_line_is_closed_after_the_timeout),
        cmocka_unit_test(short_body_creates_nothing_and_is_closed),
    };
    int rc = cmocka_run_group_tests(tests, setup, teardown);
    curl_global_cleanup();
    return rc || g_teardown_failed ? 1 : 0;
}
