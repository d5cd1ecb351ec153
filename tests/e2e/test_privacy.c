/* Residents' data, end to end (issue 10, "Residents' ratings and data" and "Events carry
 * references, not personal data"), against a real intake and router started by this test:
 *   - the ticket.created event (version 2) carries no contact details of the reporter: the row in
 *     bus.outbox holds none of the phone, name, e-mail, account or device the report came with,
 *     while intake.ticket_contact still gives them to the services they are published to;
 *   - `gridgovctl events` prints no phone number, neither of a version 1 event an earlier release
 *     left in the outbox (the upgrade test's tickets) nor one a resident typed in a description;
 *   - a ticket of a private category (邻里纠纷, 土地承包, 社会救助 in the demo county) shows the
 *     public its status only, in Open311 JSON and XML, one and lists, and the native GETs (with or
 *     without an API key: an app is not an official), and its handler's notes stay out of Open311
 *     status notes and servicerequestupdates; a public category still shows its description;
 *   - no public answer shows a household code (address_id), of any category;
 *   - staff read the whole ticket in their area, and nothing outside it;
 *   - the daemons' logs hold none of the reporters' contact details.
 * Placement by the reporter's registered phone, which the router now reads from intake's view
 * instead of the event, is e2e/test_router_assign.c's household_or_registered_phone_places_*.
 * Every Open311 JSON answer is kept for tests/open311_check.py (h_open311_keep). */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "harness.h"
#include "log.h"
#include "open311_keep.h"
#include "timefmt.h"

/* The contact details reports come with in this file: none may leave PostgreSQL but through
 * intake.ticket_contact and the staff read. */
#define PHONE_A "13912340077"
#define PHONE_B "15812340088"
#define PHONE_TYPED "18612340099" /* in a description: masked on the operator's terminal */
#define EMAIL_A "li.jianguo@example.cn"
#define EMAIL_B "wang.fang@example.cn"
#define FIRST_A "建国隐私"
#define LAST_A "李隐私"
#define ACCOUNT_A "wx-openid-privacy-77"
#define DEVICE_A "device-privacy-77"
/* What a private ticket says, which the public must not read ("隐私" marks each). */
#define SECRET_DESC "宅基地边界纠纷：隐私描述甲"
#define SECRET_ADDR "隐私地址甲"
#define SECRET_AID "低保申请：隐私描述乙"
#define SECRET_REASON "当事人隐私理由"
#define SECRET_RESOLUTION "已发放救助金（隐私）"
#define PUBLIC_DESC "路灯不亮：公开描述丙"
#define PUBLIC_RESOLUTION "已更换灯泡（公开）"

static pid_t g_intake, g_router;
static PGconn *g_db;
static char *g_key;
static char g_base[128];
static char g_household[64]; /* a household far from other tests' reports of the same categories */
static double g_lat, g_lon;
/* the tickets of this file: A DISPUTE (private, native API), B AID (private, Open311), C LIGHT
 * (public, Open311, with the household code) */
static char g_a[40], g_b[40], g_c[40];
static char g_since[TIMEFMT_LEN];

/* ---------------------------------------------------------------------------------------------
 * helpers */

/* One request to intake (path under the server root); asserts the transport worked and keeps an
 * Open311 JSON answer for the schema check. */
static void req(const char *method, const char *path, const char *const *headers, const char *body, h_resp_t *r)
{
    char url[1024];
    snprintf(url, sizeof url, "%s%s", g_base, path);
    bool ok = h_http(method, url, headers, body, body ? strlen(body) : 0, r);
    if (!ok)
        print_error("%s %s: no HTTP answer\n", method, path);
    assert_true(ok);
    assert_true(h_open311_keep(method, path, r));
}

static void expect_status(const h_resp_t *r, long want, const char *what)
{
    if (r->status != want) {
        print_error("%s: HTTP %ld, expected %ld; body: %.600s\n", what, r->status, want, buf_str(&r->body));
        fail();
    }
}

static void expect_absent(const char *hay, const char *needle, const char *where)
{
    if (strstr(hay, needle)) {
        print_error("%s shows \"%s\": %.1500s\n", where, needle, hay);
        fail();
    }
}

static void expect_present(const char *hay, const char *needle, const char *where)
{
    if (!strstr(hay, needle)) {
        print_error("%s lacks \"%s\": %.1500s\n", where, needle, hay);
        fail();
    }
}

/* Nothing of a private ticket, nor any household code, nor a reporter's contact details. */
static void expect_nothing_private(const char *body, const char *where)
{
    static const char *const secrets[] = {"隐私", PHONE_A, PHONE_B, EMAIL_A, EMAIL_B, ACCOUNT_A, DEVICE_A, NULL};
    for (const char *const *s = secrets; *s; s++)
        expect_absent(body, *s, where);
    expect_absent(body, g_household, where);
}

static json_t *body_json(const h_resp_t *r)
{
    json_error_t e;
    json_t *j = json_loadb(buf_str(&r->body), r->body.len, 0, &e);
    if (!j)
        print_error("not JSON (%s): %.300s\n", e.text, buf_str(&r->body));
    assert_non_null(j);
    return j;
}

static void expect_null(const json_t *o, const char *member, const char *where)
{
    const json_t *v = json_object_get(o, member);
    if (!json_is_null(v)) {
        char *s = json_dumps(o, JSON_COMPACT);
        print_error("%s: %s is not null in %s\n", where, member, s);
        free(s);
        fail();
    }
}

static const char *str_member(const json_t *o, const char *member)
{
    const char *v = json_string_value(json_object_get(o, member));
    if (!v || !*v) {
        char *s = json_dumps(o, JSON_COMPACT);
        print_error("%s is not a non-empty string in %s\n", member, s);
        free(s);
        fail();
    }
    return v;
}

static char *sql1(const char *sql, const char *a)
{
    const char *p[] = {a};
    return h_sql_text(g_db, sql, 1, p);
}

/* POSTs an Open311 form (the api_key added); returns the new code in code. */
static void post_open311(const char *form, char code[40])
{
    buf_t b = BUF_INIT;
    buf_printf(&b, "api_key=%s&%s", g_key, form);
    const char *hdr[] = {"Content-Type: application/x-www-form-urlencoded; charset=utf-8", NULL};
    h_resp_t r;
    req("POST", "/open311/v2/requests.json", hdr, buf_str(&b), &r);
    expect_status(&r, 200, "POST requests.json");
    json_t *j = body_json(&r);
    snprintf(code, 40, "%s", str_member(json_array_get(j, 0), "service_request_id"));
    json_decref(j);
    h_resp_free(&r);
    buf_free(&b);
}

/* Appends &name=value to an Open311 form, the value URL-encoded. */
static void enc(buf_t *b, const char *name, const char *value)
{
    buf_printf(b, "&%s=", name);
    h_urlencode(b, value);
}

static char *staff_token_of(const char *sql, const char *code)
{
    char *id = sql1(sql, code);
    assert_true(*id);
    char *tok = h_staff_token(g_db, atoll(id));
    free(id);
    return tok;
}

static long staff_act(const char *code, const char *action, const char *token, const char *json)
{
    char path[128], auth[160];
    snprintf(path, sizeof path, "/api/v1/tickets/%s/actions/%s", code, action);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    const char *hdr[] = {"Content-Type: application/json", auth, NULL};
    h_resp_t r;
    req("POST", path, hdr, json, &r);
    long st = r.status;
    if (st != 200)
        print_error("POST %s: HTTP %ld: %.300s\n", path, st, buf_str(&r.body));
    h_resp_free(&r);
    return st;
}

/* ---------------------------------------------------------------------------------------------
 * events carry references */

/* The ticket.created of code is version 2 and holds none of the contact details. */
static void expect_event_without_contact(const char *code, const char *const *contact)
{
    const char *p[] = {code};
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM bus.outbox WHERE type = 'ticket.created' AND data->>'code' = $1",
                               1, p),
                     1);
    assert_int_equal(h_sql_int(g_db, "SELECT version FROM bus.outbox WHERE type = 'ticket.created' AND data->>'code' = $1",
                               1, p),
                     2);
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM bus.outbox WHERE type = 'ticket.created'"
                                     " AND data->>'code' = $1 AND data ? 'reporter'", 1, p),
                     0);
    char *row = sql1("SELECT e.envelope::text FROM bus.envelope e JOIN bus.outbox o ON o.seq = e.seq"
                     " WHERE o.type = 'ticket.created' AND o.data->>'code' = $1", code);
    expect_present(row, code, "the ticket.created envelope");
    for (const char *const *c = contact; *c; c++)
        expect_absent(row, *c, "the ticket.created event in bus.outbox");
    free(row);
}

/* The three tickets of this file, with their reporters' contact details, routed. */
static void post_the_tickets(void)
{
    /* Open311, with every contact field the specification has */
    buf_t f = BUF_INIT;
    buf_printf(&f, "service_code=LIGHT&lat=%.7f&long=%.7f&attribute%%5Bfault_type%%5D=off", g_lat + 0.0004, g_lon);
    enc(&f, "description", PUBLIC_DESC);
    enc(&f, "address_id", g_household);
    enc(&f, "phone", PHONE_A);
    enc(&f, "email", EMAIL_A);
    enc(&f, "first_name", FIRST_A);
    enc(&f, "last_name", LAST_A);
    enc(&f, "account_id", ACCOUNT_A);
    enc(&f, "device_id", DEVICE_A);
    post_open311(buf_str(&f), g_c);
    buf_free(&f);

    /* the native API, a private category */
    char body[1024];
    snprintf(body, sizeof body,
             "{\"service_code\":\"DISPUTE\",\"description\":\"" SECRET_DESC "\",\"attributes\":{\"dispute_type\":[\"boundary\"]},"
             "\"address_id\":\"%s\",\"lat\":%.7f,\"long\":%.7f,\"address_string\":\"" SECRET_ADDR "\","
             "\"media_url\":\"https://example.cn/p/yinsi-77.jpg\",\"phone\":\"" PHONE_B "\",\"email\":\"" EMAIL_B "\","
             "\"first_name\":\"芳隐私\",\"last_name\":\"王隐私\"}",
             g_household, g_lat, g_lon);
    assert_true(h_post_ticket(h_port(120), g_key, body, g_a));

    /* private, through Open311 */
    f = (buf_t)BUF_INIT;
    buf_printf(&f, "service_code=AID&lat=%.7f&long=%.7f&attribute%%5Baid_type%%5D=dibao", g_lat, g_lon + 0.0004);
    enc(&f, "description", SECRET_AID);
    enc(&f, "address_string", "隐私地址乙");
    enc(&f, "phone", PHONE_A);
    post_open311(buf_str(&f), g_b);
    buf_free(&f);

    assert_true(h_wait_routed(g_db, g_a, 20000));
    assert_true(h_wait_routed(g_db, g_b, 20000));
    assert_true(h_wait_routed(g_db, g_c, 20000));
}

static void ticket_created_carries_no_contact_details(void **state)
{
    (void)state;
    const char *contact_a[] = {PHONE_A, EMAIL_A, FIRST_A, LAST_A, ACCOUNT_A, DEVICE_A, NULL};
    const char *contact_b[] = {PHONE_B, EMAIL_B, "芳隐私", "王隐私", NULL};
    expect_event_without_contact(g_c, contact_a); /* Open311, every contact field */
    expect_event_without_contact(g_a, contact_b); /* the native API */
    expect_event_without_contact(g_b, contact_a);

    /* the details stay in PostgreSQL, for those intake publishes them to */
    const char *p[] = {g_c};
    char *got = h_sql_text(g_db, "SELECT concat_ws(' ', phone, email, first_name, last_name, account_id, device_id)"
                                 " FROM intake.ticket_contact WHERE code = $1", 1, p);
    assert_string_equal(got, PHONE_A " " EMAIL_A " " FIRST_A " " LAST_A " " ACCOUNT_A " " DEVICE_A);
    free(got);
}

/* Reads a file whole (caller frees; NULL when missing). */
static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    buf_t b = BUF_INIT;
    char chunk[8192];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    return buf_detach(&b);
}

/* Runs gridgovctl events with these arguments until it exits (or 60 s); returns what it printed. */
static char *ctl_events(const char *const *args, const char *log, bool (*meanwhile)(void))
{
    static char bin[1024], sub[96];
    snprintf(bin, sizeof bin, "%s/gridgovctl", h_env("GRIDGOV_BIN"));
    snprintf(sub, sizeof sub, "GRIDGOV_SUB_ENDPOINTS=intake@tcp://127.0.0.1:%d", h_port(121)); /* its key */
    const char *argv[16] = {bin, "events"};
    int n = 2;
    for (const char *const *a = args; *a && n < 15; a++)
        argv[n++] = *a;
    argv[n] = NULL;
    const char *env[] = {sub, "GRIDGOV_LOG_LEVEL=info", NULL};
    unlink(log);
    pid_t pid = h_spawn(argv, env, log);
    if (meanwhile)
        assert_true(meanwhile());
    int st = 0;
    bool exited = false;
    for (int i = 0; i < 1200 && !exited; i++) {
        exited = waitpid(pid, &st, WNOHANG) == pid;
        if (!exited)
            usleep(50 * 1000);
    }
    if (!exited)
        h_stop(pid, SIGKILL);
    else
        h_stop(pid, 0); /* reaped already: only forgets it */
    assert_true(exited && WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char *out = slurp(log);
    assert_non_null(out);
    return out;
}

/* No mobile number anywhere in text: each one found is printed. */
static void expect_no_phone(const char *text, const char *where)
{
    char *copy = strdup(text);
    size_t n = log_mask_phones(copy);
    if (n) {
        /* show the first one */
        for (size_t i = 0; copy[i]; i++)
            if (copy[i] != text[i]) {
                print_error("%s shows a phone number: ...%.60s...\n", where, text + (i > 20 ? i - 20 : 0));
                break;
            }
    }
    free(copy);
    assert_int_equal(n, 0);
}

static char g_live_log[1100];

/* While a live watcher runs: a report whose description holds a phone number. */
static bool post_typed_phone(void)
{
    for (int i = 0; i < 100; i++) {
        char *s = slurp(g_live_log);
        bool up = s && strstr(s, "subscribed");
        free(s);
        if (up)
            break;
        usleep(50 * 1000);
    }
    usleep(500 * 1000); /* ZeroMQ's slow joiner: the subscription must reach the publisher */
    char body[512], code[40];
    snprintf(body, sizeof body,
             "{\"service_code\":\"LIGHT\",\"lat\":%.7f,\"long\":%.7f,\"attributes\":{\"fault_type\":\"pole\"},"
             "\"description\":\"灯杆倒了，请回电 " PHONE_TYPED "\"}",
             g_lat - 0.0004, g_lon);
    return h_post_ticket(h_port(120), g_key, body, code);
}

static void gridgovctl_events_shows_no_phone_number(void **state)
{
    (void)state;
    /* a durable consumer reads the whole outbox from the start: this file's version 2 events and
     * the version 1 events the previous release wrote, with their reporters' phones */
    long long v1 = h_sql_int(g_db, "SELECT count(*) FROM bus.outbox WHERE type = 'ticket.created' AND version = 1"
                                   " AND data->'reporter' ? 'phone'", 0, NULL);
    assert_true(v1 > 0); /* tests/sql/previous_release.sql left them */
    char consumer[64], log[1100];
    snprintf(consumer, sizeof consumer, "privacy-test-%d", (int)getpid());
    snprintf(log, sizeof log, "%s/events-consumer.log", h_env("GRIDGOV_TEST_VAR"));
    const char *args[] = {"--json", "--consumer", consumer, "--type", "ticket.created", "--idle-exit", "2000", NULL};
    char *out = ctl_events(args, log, NULL);
    expect_no_phone(out, "gridgovctl events --consumer");
    expect_present(out, g_a, "gridgovctl events");
    expect_present(out, "升级前", "gridgovctl events (the previous release's tickets)");
    expect_present(out, "\"reporter\":{", "gridgovctl events (a version 1 event)");
    expect_present(out, "****", "gridgovctl events (a version 1 event's masked reporter)");
    char *phones = h_sql_text(g_db, "SELECT string_agg(data->'reporter'->>'phone', ',') FROM bus.outbox"
                                    " WHERE type = 'ticket.created' AND version = 1", 0, NULL);
    for (char *save = NULL, *ph = strtok_r(phones, ",", &save); ph; ph = strtok_r(NULL, ",", &save))
        expect_absent(out, ph, "gridgovctl events");
    free(phones);
    /* (the events carry the tickets, private ones too: operators and daemons are not the public) */
    static const char *const contact[] = {PHONE_A, PHONE_B, EMAIL_A, EMAIL_B, FIRST_A, LAST_A, ACCOUNT_A, DEVICE_A, NULL};
    for (const char *const *c = contact; *c; c++)
        expect_absent(out, *c, "gridgovctl events");
    free(out);
    const char *p[] = {consumer};
    PQclear(PQexecParams(g_db, "DELETE FROM bus.inbox WHERE consumer = $1", 1, NULL, p, NULL, NULL, 0));
    PQclear(PQexecParams(g_db, "DELETE FROM bus.cursor WHERE consumer = $1", 1, NULL, p, NULL, NULL, 0));

    /* live: a phone number a resident typed into the description is masked too */
    snprintf(g_live_log, sizeof g_live_log, "%s/events-live.log", h_env("GRIDGOV_TEST_VAR"));
    const char *live[] = {"--json", "--type", "ticket.created", "--count", "1", NULL};
    out = ctl_events(live, g_live_log, post_typed_phone);
    expect_present(out, "请回电 186****0099", "gridgovctl events (live)");
    expect_no_phone(out, "gridgovctl events (live)");
    free(out);
}

/* ---------------------------------------------------------------------------------------------
 * private categories: the public reads the status */

/* An Open311 record of a private ticket: status, category, notes, dates and agency; nothing else. */
static void expect_o311_status_only(const json_t *t, const char *code, const char *service)
{
    assert_string_equal(str_member(t, "service_request_id"), code);
    assert_string_equal(str_member(t, "service_code"), service);
    str_member(t, "service_name");
    assert_string_equal(str_member(t, "status"), "open");
    str_member(t, "status_notes");
    str_member(t, "agency_responsible");
    str_member(t, "requested_datetime");
    static const char *const hidden[] = {"description", "lat", "long", "address", "address_id", "media_url", NULL};
    for (const char *const *m = hidden; *m; m++)
        expect_null(t, *m, code);
}

static void open311_shows_a_private_ticket_s_status_only(void **state)
{
    (void)state;
    char path[256];
    h_resp_t r;
    const char *priv[][2] = {{g_a, "DISPUTE"}, {g_b, "AID"}};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "/open311/v2/requests/%s.json", priv[i][0]);
        req("GET", path, NULL, NULL, &r);
        expect_status(&r, 200, path);
        expect_nothing_private(buf_str(&r.body), path);
        json_t *j = body_json(&r);
        assert_int_equal(json_array_size(j), 1);
        expect_o311_status_only(json_array_get(j, 0), priv[i][0], priv[i][1]);
        json_decref(j);
        h_resp_free(&r);

        snprintf(path, sizeof path, "/open311/v2/requests/%s.xml", priv[i][0]);
        req("GET", path, NULL, NULL, &r);
        expect_status(&r, 200, path);
        expect_nothing_private(buf_str(&r.body), path);
        expect_present(buf_str(&r.body), "<status>open</status>", path);
        expect_present(buf_str(&r.body), "<description></description>", path);
        expect_present(buf_str(&r.body), "<lat></lat>", path);
        expect_present(buf_str(&r.body), "<address_id></address_id>", path);
        h_resp_free(&r);
    }

    /* the list: the private ones as above, the public one with its description and point, and
     * its household code left out */
    snprintf(path, sizeof path, "/open311/v2/requests.json?service_request_id=%s,%s,%s", g_a, g_b, g_c);
    req("GET", path, NULL, NULL, &r);
    expect_status(&r, 200, path);
    expect_absent(buf_str(&r.body), g_household, path);
    expect_absent(buf_str(&r.body), SECRET_DESC, path);
    expect_absent(buf_str(&r.body), SECRET_AID, path);
    json_t *j = body_json(&r);
    assert_int_equal(json_array_size(j), 3);
    size_t i;
    json_t *t;
    json_array_foreach(j, i, t)
    {
        const char *code = str_member(t, "service_request_id");
        if (!strcmp(code, g_c)) {
            assert_string_equal(str_member(t, "description"), PUBLIC_DESC);
            assert_true(json_is_number(json_object_get(t, "lat")) && json_is_number(json_object_get(t, "long")));
            expect_null(t, "address_id", code);
        } else {
            expect_o311_status_only(t, code, !strcmp(code, g_a) ? "DISPUTE" : "AID");
        }
    }
    json_decref(j);
    h_resp_free(&r);
    snprintf(path, sizeof path, "/open311/v2/requests.xml?service_request_id=%s,%s,%s", g_a, g_b, g_c);
    req("GET", path, NULL, NULL, &r);
    expect_status(&r, 200, path);
    expect_present(buf_str(&r.body), PUBLIC_DESC, path);
    expect_absent(buf_str(&r.body), "隐私", path);
    expect_absent(buf_str(&r.body), g_household, path);
    h_resp_free(&r);

    /* a list by category, and the tokens */
    req("GET", "/open311/v2/requests.json?service_code=DISPUTE,AID,LAND&page_size=1000", NULL, NULL, &r);
    expect_status(&r, 200, "requests.json of the private categories");
    expect_present(buf_str(&r.body), g_a, "requests.json of the private categories");
    expect_nothing_private(buf_str(&r.body), "requests.json of the private categories");
    h_resp_free(&r);
    snprintf(path, sizeof path, "/open311/v2/tokens/%s.json", g_a);
    req("GET", path, NULL, NULL, &r);
    expect_status(&r, 200, path);
    expect_nothing_private(buf_str(&r.body), path);
    h_resp_free(&r);
}

/* The native record of a private ticket: the same, its attributes empty. */
static void expect_native_status_only(const json_t *t, const char *code)
{
    assert_string_equal(str_member(t, "code"), code);
    assert_string_equal(str_member(t, "status"), "open");
    str_member(t, "status_notes");
    str_member(t, "agency_responsible");
    static const char *const hidden[] = {"description", "lat", "long", "address_string", "address_id", "media_url", NULL};
    for (const char *const *m = hidden; *m; m++)
        expect_null(t, *m, code);
    assert_true(json_is_object(json_object_get(t, "attributes")));
    assert_int_equal(json_object_size(json_object_get(t, "attributes")), 0);
}

static void the_native_api_shows_a_private_ticket_s_status_only(void **state)
{
    (void)state;
    char path[256], key[128];
    snprintf(key, sizeof key, "X-API-Key: %s", g_key);
    /* an API key is an app, not an official: it sees what anyone sees */
    const char *const *headers[] = {NULL, (const char *const[]){key, NULL}};
    for (int k = 0; k < 2; k++) {
        h_resp_t r;
        snprintf(path, sizeof path, "/api/v1/tickets/%s", g_a);
        req("GET", path, headers[k], NULL, &r);
        expect_status(&r, 200, path);
        expect_nothing_private(buf_str(&r.body), path);
        json_t *j = body_json(&r);
        expect_native_status_only(j, g_a);
        json_decref(j);
        h_resp_free(&r);

        snprintf(path, sizeof path, "/api/v1/tickets/%s", g_c);
        req("GET", path, headers[k], NULL, &r);
        expect_status(&r, 200, path);
        j = body_json(&r);
        assert_string_equal(str_member(j, "description"), PUBLIC_DESC);
        assert_string_equal(json_string_value(json_object_get(json_object_get(j, "attributes"), "fault_type")), "off");
        expect_null(j, "address_id", g_c);
        json_decref(j);
        h_resp_free(&r);

        req("GET", "/api/v1/tickets?service_code=DISPUTE&page_size=500", headers[k], NULL, &r);
        expect_status(&r, 200, "the native list of DISPUTE");
        expect_present(buf_str(&r.body), g_a, "the native list of DISPUTE");
        expect_nothing_private(buf_str(&r.body), "the native list of DISPUTE");
        h_resp_free(&r);
    }
}

/* Every public list: no household code in any record, of any category. */
static void no_public_answer_shows_a_household_code(void **state)
{
    (void)state;
    assert_true(h_sql_int(g_db, "SELECT count(*) FROM intake.ticket WHERE address_id IS NOT NULL", 0, NULL) > 0);
    h_resp_t r;
    req("GET", "/open311/v2/requests.json?page_size=1000", NULL, NULL, &r);
    expect_status(&r, 200, "requests.json");
    json_t *j = body_json(&r);
    assert_true(json_array_size(j) > 0);
    size_t i;
    json_t *t;
    json_array_foreach(j, i, t) expect_null(t, "address_id", "requests.json");
    json_decref(j);
    expect_absent(buf_str(&r.body), g_household, "requests.json");
    h_resp_free(&r);
    req("GET", "/api/v1/tickets?page_size=500", NULL, NULL, &r);
    expect_status(&r, 200, "/api/v1/tickets");
    j = body_json(&r);
    assert_true(json_array_size(json_object_get(j, "tickets")) > 0);
    json_array_foreach(json_object_get(j, "tickets"), i, t) expect_null(t, "address_id", "/api/v1/tickets");
    json_decref(j);
    h_resp_free(&r);
}

/* What handlers write about a private ticket stays with staff: the reason it was not taken (in
 * its status notes), the resolution (in the updates). A public ticket's resolution is shown. */
static void a_handler_s_notes_on_a_private_ticket_stay_off_open311(void **state)
{
    (void)state;
    /* the county operator, who may take every action anywhere */
    char *op_id = h_sql_text(g_db, "SELECT id::text FROM registry.staff WHERE role = 'operator' ORDER BY id LIMIT 1", 0, NULL);
    assert_true(*op_id);
    char *op = h_staff_token(g_db, atoll(op_id));
    free(op_id);
    char json[256];
    snprintf(json, sizeof json, "{\"note\":\"%s\"}", SECRET_REASON);
    assert_int_equal(staff_act(g_a, "reject", op, json), 200);
    assert_int_equal(staff_act(g_b, "accept", op, ""), 200);
    snprintf(json, sizeof json, "{\"note\":\"%s\"}", SECRET_RESOLUTION);
    assert_int_equal(staff_act(g_b, "resolve", op, json), 200);
    assert_int_equal(staff_act(g_c, "accept", op, ""), 200);
    snprintf(json, sizeof json, "{\"note\":\"%s\"}", PUBLIC_RESOLUTION);
    assert_int_equal(staff_act(g_c, "resolve", op, json), 200);
    free(op);

    char path[256];
    h_resp_t r;
    snprintf(path, sizeof path, "/open311/v2/requests/%s.json", g_a);
    req("GET", path, NULL, NULL, &r);
    expect_status(&r, 200, path);
    json_t *j = body_json(&r);
    json_t *t = json_array_get(j, 0);
    assert_string_equal(str_member(t, "status"), "closed");
    assert_string_equal(str_member(t, "status_notes"), "不予受理");
    json_decref(j);
    expect_nothing_private(buf_str(&r.body), path);
    h_resp_free(&r);

    /* the updates of the three, page by page: every step, the private ones in the words of
     * their states */
    int seen_a = 0, seen_b = 0;
    bool public_note = false;
    size_t got = 1000;
    for (int page = 1; got == 1000 && page <= 20; page++) {
        snprintf(path, sizeof path, "/open311/v2/servicerequestupdates.json?start_date=%s&page=%d", g_since, page);
        req("GET", path, NULL, NULL, &r);
        expect_status(&r, 200, "servicerequestupdates.json");
        j = body_json(&r);
        got = json_array_size(j);
        size_t i;
        json_array_foreach(j, i, t)
        {
            const char *code = str_member(t, "service_request_id");
            const char *d = json_string_value(json_object_get(t, "description"));
            if (!strcmp(code, g_a)) {
                seen_a++;
                expect_absent(d, "隐私", "an update of the private ticket A");
            } else if (!strcmp(code, g_b)) {
                seen_b++;
                expect_absent(d, "隐私", "an update of the private ticket B");
            } else if (!strcmp(code, g_c)) {
                public_note |= !strcmp(d, PUBLIC_RESOLUTION);
            }
        }
        json_decref(j);
        h_resp_free(&r);
    }
    assert_int_equal(seen_a, 2); /* assigned, rejected */
    assert_int_equal(seen_b, 3); /* assigned, accepted, resolved */
    assert_true(public_note);
}

/* ---------------------------------------------------------------------------------------------
 * staff read the whole ticket in their area */

static void staff_read_the_whole_ticket_in_their_area(void **state)
{
    (void)state;
    char *holder = staff_token_of("SELECT s.id::text FROM registry.staff s JOIN router.ticket_assignment a"
                                  " ON a.unit_id = s.unit_id WHERE a.code = $1 ORDER BY s.id LIMIT 1", g_b);
    char *outsider = staff_token_of("SELECT s.id::text FROM registry.staff s JOIN registry.unit u ON u.id = s.unit_id"
                                    " WHERE u.level = 'township' AND s.role <> 'operator' AND u.id <>"
                                    " (SELECT township_id FROM router.ticket_assignment WHERE code = $1)"
                                    " ORDER BY s.id LIMIT 1", g_b);
    char path[128], auth[160];
    snprintf(path, sizeof path, "/api/v1/staff/tickets/%s", g_b);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", holder);
    const char *hdr[] = {auth, NULL};
    h_resp_t r;
    req("GET", path, hdr, NULL, &r);
    expect_status(&r, 200, "the holder's read of a private ticket");
    json_t *j = body_json(&r);
    assert_string_equal(str_member(j, "description"), SECRET_AID);
    assert_string_equal(str_member(j, "address_string"), "隐私地址乙");
    assert_true(json_is_true(json_object_get(j, "private")));
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "attributes"), "aid_type")), "dibao");
    assert_string_equal(json_string_value(json_object_get(json_object_get(j, "reporter"), "phone")), PHONE_A);
    assert_true(json_is_number(json_object_get(j, "lat")));
    json_decref(j);
    h_resp_free(&r);

    /* outside the area, without a token, a bad token, a code that is none, another method */
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", outsider);
    req("GET", path, hdr, NULL, &r);
    expect_status(&r, 403, "another township's read");
    expect_nothing_private(buf_str(&r.body), "another township's read");
    h_resp_free(&r);
    req("GET", path, NULL, NULL, &r);
    expect_status(&r, 401, "a read without a token");
    expect_nothing_private(buf_str(&r.body), "a read without a token");
    h_resp_free(&r);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", g_key); /* an API key is no staff token */
    req("GET", path, hdr, NULL, &r);
    expect_status(&r, 401, "a read with an API key");
    h_resp_free(&r);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", holder);
    req("GET", "/api/v1/staff/tickets/9999999999999", hdr, NULL, &r);
    expect_status(&r, 404, "a read of no ticket");
    h_resp_free(&r);
    req("GET", "/api/v1/staff/tickets/abc'--", hdr, NULL, &r);
    expect_status(&r, 404, "a read of no code");
    h_resp_free(&r);
    req("DELETE", path, hdr, NULL, &r);
    expect_status(&r, 405, "DELETE");
    h_resp_free(&r);
    free(holder);
    free(outsider);
}

/* ---------------------------------------------------------------------------------------------
 * logs */

static void the_logs_hold_no_contact_details(void **state)
{
    (void)state;
    char path[1100];
    const int ports[] = {120, 122};
    const char *names[] = {"intake", "router"};
    for (int i = 0; i < 2; i++) {
        snprintf(path, sizeof path, "%s/%s-%d.log", h_env("GRIDGOV_TEST_VAR"), names[i], h_port(ports[i]));
        char *log = slurp(path);
        assert_non_null(log);
        expect_no_phone(log, path);
        expect_nothing_private(log, path);
        free(log);
    }
}

/* ---------------------------------------------------------------------------------------------
 * setup */

static int setup(void **state)
{
    (void)state;
    g_db = h_db();
    g_key = h_api_key(g_db);
    timefmt_format((int64_t)time(NULL) * 1000000 - 60 * 1000000LL, 0, g_since);
    /* far from any report of these categories, so nothing here is a duplicate of another test's */
    char *hh = h_sql_text(g_db,
                          "SELECT h.code || ' ' || ST_Y(h.location) || ' ' || ST_X(h.location) FROM registry.household h"
                          " WHERE NOT EXISTS (SELECT 1 FROM intake.ticket t WHERE t.service_code IN ('DISPUTE', 'AID', 'LIGHT')"
                          "  AND t.lat IS NOT NULL AND ST_DWithin(ST_SetSRID(ST_MakePoint(t.long, t.lat), 4326)::geography,"
                          "  h.location::geography, 1000))"
                          " ORDER BY h.id DESC LIMIT 1",
                          0, NULL);
    assert_int_equal(sscanf(hh, "%63s %lf %lf", g_household, &g_lat, &g_lon), 3);
    free(hh);
    snprintf(g_base, sizeof g_base, "http://127.0.0.1:%d", h_port(120));
    static char router_ep[96];
    snprintf(router_ep, sizeof router_ep, "GRIDGOV_ROUTER_ENDPOINT=tcp://127.0.0.1:%d", h_port(122));
    /* debug: whatever intake logs at all is looked at */
    const char *env[] = {router_ep, "GRIDGOV_LOG_LEVEL=debug", NULL};
    g_intake = h_start_intake(h_port(120), h_port(121), env);
    const char *renv[] = {"GRIDGOV_LOG_LEVEL=debug", NULL};
    g_router = h_start_router(h_port(122), h_port(121), renv);
    post_the_tickets();
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int s1 = h_stop(g_router, SIGTERM), s2 = h_stop(g_intake, SIGTERM);
    free(g_key);
    PQfinish(g_db);
    return WIFEXITED(s1) && WEXITSTATUS(s1) == 0 && WIFEXITED(s2) && WEXITSTATUS(s2) == 0 ? 0 : -1;
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ticket_created_carries_no_contact_details),
        cmocka_unit_test(gridgovctl_events_shows_no_phone_number),
        cmocka_unit_test(open311_shows_a_private_ticket_s_status_only),
        cmocka_unit_test(the_native_api_shows_a_private_ticket_s_status_only),
        cmocka_unit_test(no_public_answer_shows_a_household_code),
        cmocka_unit_test(staff_read_the_whole_ticket_in_their_area),
        cmocka_unit_test(a_handler_s_notes_on_a_private_ticket_stay_off_open311),
        cmocka_unit_test(the_logs_hold_no_contact_details),
    };
    return cmocka_run_group_tests_name("privacy", tests, setup, teardown);
}
