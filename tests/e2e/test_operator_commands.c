/* What a newcomer's operator commands and staff views show, against the real daemons:
 *   gridgovctl staff      staff by unit and role, and who holds a ticket (the line the README's
 *                         walkthrough takes the handler's id from), with its bad inputs;
 *   gridgovctl events     every publisher (intake's and the router's events) by default, one line
 *                         per event in +08:00; --from-start the whole outbox in order, then what
 *                         commits next;
 *   the staff views       history and the queue name the unit and the assignee, and every time the
 *                         API answers with is the county's (+08:00). */
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
#include <unistd.h>

#include "harness.h"
#include "log.h"

static pid_t g_intake, g_router;
static PGconn *g_db;
static char g_key[80];
static int g_http;

static int setup(void **state)
{
    (void)state;
    g_db = h_db();
    char *k = h_api_key(g_db);
    snprintf(g_key, sizeof g_key, "%s", k);
    free(k);
    /* a category of this file's own, held by the village, with no duplicates to follow */
    h_sql_exec(g_db, "INSERT INTO registry.service (code, name, grp) VALUES ('OPSTEST', '运维测试', '测试')"
                     " ON CONFLICT DO NOTHING");
    h_sql_exec(g_db, "INSERT INTO router.category_rule (service_code, level, sign_hours, resolve_hours, dup_radius_m)"
                     " VALUES ('OPSTEST', 'village', 8, 40, 0) ON CONFLICT DO NOTHING");
    g_http = h_port(150);
    static char router_ep[96];
    snprintf(router_ep, sizeof router_ep, "GRIDGOV_ROUTER_ENDPOINT=tcp://127.0.0.1:%d", h_port(152));
    const char *ienv[] = {router_ep, NULL};
    g_intake = h_start_intake(g_http, h_port(151), ienv);
    g_router = h_start_router(h_port(152), h_port(151), NULL); /* publishes on 153 */
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int s1 = h_stop(g_router, SIGTERM), s2 = h_stop(g_intake, SIGTERM);
    PQfinish(g_db);
    return WIFEXITED(s1) && WEXITSTATUS(s1) == 0 && WIFEXITED(s2) && WEXITSTATUS(s2) == 0 ? 0 : -1;
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    buf_t b = BUF_INIT;
    buf_puts(&b, "");
    if (f) {
        char chunk[4096];
        size_t n;
        while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
            buf_append(&b, chunk, n);
        fclose(f);
    }
    return buf_detach(&b);
}

/* Runs gridgovctl with these arguments (already shell-quoted where needed) against the test
 * database; its stdout and stderr in *out and *err (caller frees). Returns the exit status. */
static int ctl(const char *args, char **out, char **err)
{
    char o[1100], e[1100], cmd[4096];
    snprintf(o, sizeof o, "%s/ctl.out", h_env("GRIDGOV_TEST_VAR"));
    snprintf(e, sizeof e, "%s/ctl.err", h_env("GRIDGOV_TEST_VAR"));
    snprintf(cmd, sizeof cmd, "%s/gridgovctl --set log_level=warn %s >%s 2>%s", h_env("GRIDGOV_BIN"), args, o, e);
    int st = system(cmd);
    *out = slurp(o);
    *err = slurp(e);
    return WIFEXITED(st) ? WEXITSTATUS(st) : -1;
}

static int count_lines(const char *s)
{
    int n = 0;
    for (; *s; s++)
        n += *s == '\n';
    return n;
}

static void expect_out(const char *args, int want_status, const char *want_out)
{
    char *out, *err;
    int st = ctl(args, &out, &err);
    if (st != want_status || (want_out && strcmp(out, want_out))) {
        print_error("gridgovctl %s: status %d (want %d)\n--- out\n%s--- want\n%s--- err\n%s", args, st, want_status, out,
                    want_out ? want_out : "(any)\n", err);
        fail();
    }
    free(out);
    free(err);
}

static const char HEADER[] = "id\trole\tname\tunit\tplace\topen\n";

/* The lines gridgovctl staff should print for these staff (SQL over registry and the router's
 * counts), after the header. */
static char *expected_rows(const char *where)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT coalesce(string_agg(format(E'%%s\\t%%s\\t%%s\\t%%s\\t%%s\\t%%s\\n', s.id, s.role, s.name, u.code,"
             " concat_ws(' ', CASE WHEN p2.level <> 'county' THEN p2.name END,"
             "  CASE WHEN p1.level <> 'county' THEN p1.name END, u.name),"
             " coalesce((SELECT l.open FROM router.staff_load l WHERE l.staff_id = s.id), 0)), '' ORDER BY u.code, s.role, s.id), '')"
             " FROM registry.staff s JOIN registry.unit u ON u.id = s.unit_id"
             " LEFT JOIN registry.unit p1 ON p1.id = u.parent_id LEFT JOIN registry.unit p2 ON p2.id = p1.parent_id"
             " WHERE %s",
             where);
    return h_sql_text(g_db, sql, 0, NULL);
}

static void staff_lists_who_handles_what_by_unit_and_role(void **state)
{
    (void)state;
    char *rows = expected_rows("s.active AND u.code = '430121-101-05-02' AND s.role = 'group_leader'");
    assert_int_equal(count_lines(rows), 1);
    assert_non_null(strstr(rows, "\t果园镇 双河村 安全组\t"));
    char want[2048];
    snprintf(want, sizeof want, "%s%s", HEADER, rows);
    expect_out("staff --unit 430121-101-05-02 --role group_leader", 0, want);
    free(rows);

    rows = expected_rows("s.active AND u.code = '430121-101-05-02'");
    assert_true(count_lines(rows) >= 2); /* a grid worker and a group leader at least */
    snprintf(want, sizeof want, "%s%s", HEADER, rows);
    expect_out("staff --unit 430121-101-05-02", 0, want);
    free(rows);

    /* the county's own staff: the place is the county */
    rows = expected_rows("s.active AND u.code = '430121' AND s.role = 'handler'");
    assert_non_null(strstr(rows, "\t430121\t示范县\t"));
    snprintf(want, sizeof want, "%s%s", HEADER, rows);
    expect_out("staff --unit 430121 --role handler", 0, want);
    free(rows);

    /* -q: the ids alone; everyone without filters */
    char *ids = h_sql_text(g_db, "SELECT string_agg(s.id || E'\\n', '' ORDER BY u.code, s.role, s.id) FROM registry.staff s"
                                 " JOIN registry.unit u ON u.id = s.unit_id WHERE s.active AND s.role = 'operator'",
                           0, NULL);
    assert_true(*ids);
    expect_out("staff --role operator -q", 0, ids);
    free(ids);
    char *out, *err;
    assert_int_equal(ctl("staff -q", &out, &err), 0);
    assert_int_equal(count_lines(out), h_sql_int(g_db, "SELECT count(*) FROM registry.staff WHERE active", 0, NULL));
    free(out);
    free(err);
}

static void staff_refuses_what_it_cannot_answer(void **state)
{
    (void)state;
    const char *usage[] = {"staff --role boss", "staff --unit", "staff --ticket 2612070000001 --role handler",
                           "staff --ticket 1 --wait -1", "staff --ticket 1 --wait x", "staff extra"};
    for (size_t i = 0; i < sizeof usage / sizeof usage[0]; i++)
        expect_out(usage[i], 2, "");
    char *out, *err;
    assert_int_equal(ctl("staff --unit 999-nosuch", &out, &err), 1);
    assert_string_equal(out, "");
    assert_non_null(strstr(err, "no unit with this code"));
    free(out);
    free(err);
    /* a unit without such staff: nothing listed, status 1 */
    assert_int_equal(ctl("staff --unit 430121-101-05-02 --role supervisor", &out, &err), 1);
    assert_string_equal(out, "");
    assert_non_null(strstr(err, "no active staff match"));
    free(out);
    free(err);
    assert_int_equal(ctl("staff --ticket 2612079999999 --wait 0", &out, &err), 1);
    assert_string_equal(out, "");
    assert_non_null(strstr(err, "no routed ticket 2612079999999"));
    free(out);
    free(err);
}

/* POSTs an OPSTEST ticket at a point inside group 430121-101-05-02 (held by its village, 双河村);
 * returns its code (static). */
static const char *file_ticket(void)
{
    static char code[40];
    char *pt = h_sql_text(g_db,
                          "SELECT format('\"lat\":%s,\"long\":%s', round(ST_Y(p)::numeric, 7), round(ST_X(p)::numeric, 7))"
                          " FROM (SELECT ST_PointOnSurface(boundary) p FROM registry.unit WHERE code = '430121-101-05-02') x",
                          0, NULL);
    char body[512];
    snprintf(body, sizeof body,
             "{\"service_code\":\"OPSTEST\",%s,\"description\":\"运维测试\"}", pt);
    free(pt);
    assert_true(h_post_ticket(g_http, g_key, body, code));
    return code;
}

static void staff_names_who_holds_a_ticket(void **state)
{
    (void)state;
    char code[40], args[128];
    snprintf(code, sizeof code, "%s", file_ticket());
    /* asked at once: the command waits for the router */
    snprintf(args, sizeof args, "staff --ticket %s", code);
    char *out, *err;
    assert_int_equal(ctl(args, &out, &err), 0);
    const char *p[] = {code};
    char *assignee = h_sql_text(g_db, "SELECT assignee_id FROM router.ticket WHERE code = $1", 1, p);
    assert_true(*assignee);
    char *first = h_sql_text(g_db,
                             "SELECT format('ticket %s (%s) is held by %s 果园镇 %s', t.code, t.state, u.code, u.name)"
                             " FROM router.ticket t JOIN registry.unit u ON u.id = t.unit_id WHERE t.code = $1",
                             1, p);
    char where[128];
    snprintf(where, sizeof where, "s.id = %s", assignee);
    char *row = expected_rows(where);
    char want[2048];
    snprintf(want, sizeof want, "%s\n%s%s", first, HEADER, row);
    assert_string_equal(out, want);
    free(out);
    free(err);
    snprintf(args, sizeof args, "staff --ticket %s -q", code);
    char ids[64];
    snprintf(ids, sizeof ids, "%s\n", assignee);
    expect_out(args, 0, ids);
    free(assignee);
    free(first);
    free(row);
}

static bool file_has(const char *path, const char *needle)
{
    char *s = slurp(path);
    bool yes = strstr(s, needle) != NULL;
    free(s);
    return yes;
}

static void events_show_every_publisher_by_default_in_local_time(void **state)
{
    (void)state;
    /* the default endpoints are intake's and the router's */
    char *out, *err;
    assert_int_equal(ctl("--help", &out, &err), 0);
    assert_non_null(strstr(out, "intake@tcp://127.0.0.1:7101,router@tcp://127.0.0.1:7103"));
    free(out);
    free(err);

    char log[1100], e_sub[160], bin[1100];
    snprintf(log, sizeof log, "%s/events-live.log", h_env("GRIDGOV_TEST_VAR"));
    snprintf(e_sub, sizeof e_sub, "GRIDGOV_SUB_ENDPOINTS=intake@tcp://127.0.0.1:%d,router@tcp://127.0.0.1:%d", h_port(151),
             h_port(153));
    snprintf(bin, sizeof bin, "%s/gridgovctl", h_env("GRIDGOV_BIN"));
    const char *argv[] = {bin, "events", "--count", "2", NULL};
    const char *env[] = {e_sub, NULL};
    pid_t ev = h_spawn(argv, env, log);
    for (int i = 0; i < 100 && !file_has(log, "subscribed"); i++)
        usleep(50 * 1000);
    usleep(500 * 1000); /* ZeroMQ's slow joiner */
    char code[40];
    snprintf(code, sizeof code, "%s", file_ticket());
    int st = -1;
    for (int i = 0; i < 200; i++) {
        if (waitpid(ev, &st, WNOHANG) == ev)
            break;
        usleep(50 * 1000);
    }
    if (!WIFEXITED(st))
        h_stop(ev, SIGKILL);
    char *text = slurp(log);
    char created[128], assigned[128];
    snprintf(created, sizeof created, "+08:00  ticket.created      %s  OPSTEST via api", code);
    snprintf(assigned, sizeof assigned, "+08:00  ticket.assigned     %s  new → assigned  ", code);
    if (!strstr(text, created) || !strstr(text, assigned)) {
        print_error("gridgovctl events printed:\n%s\nwanted lines with \"%s\" and \"%s\"\n", text, created, assigned);
        fail();
    }
    free(text);
}

static void events_from_start_replay_the_outbox_then_follow_it(void **state)
{
    (void)state;
    char *out, *err;
    expect_out("events --from-start --consumer x", 2, "");
    /* every ticket.created so far, in the consumers' order, each once, the envelopes unchanged but
     * for what gridgovctl never shows: phone numbers masked, and the reporter block an earlier
     * release's version 1 events carry (compared apart: test_privacy checks its masking) */
    char *want = h_sql_text(g_db, "SELECT string_agg(envelope::text || E'\\n', '' ORDER BY xid, seq) FROM bus.envelope"
                                  " WHERE type = 'ticket.created'",
                            0, NULL);
    assert_true(*want);
    assert_int_equal(ctl("events --from-start --json --type ticket.created --idle-exit 1000", &out, &err), 0);
    /* jsonb text both ways: compare parsed envelopes, line by line */
    int n = count_lines(want);
    assert_int_equal(count_lines(out), n);
    char *a = out, *b = want;
    for (int i = 0; i < n; i++) {
        char *ea = strchr(a, '\n'), *eb = strchr(b, '\n');
        *ea = *eb = '\0';
        log_mask_phones(b);
        json_error_t je;
        json_t *ja = json_loads(a, 0, &je), *jb = json_loads(b, 0, &je);
        assert_non_null(ja);
        assert_non_null(jb);
        json_t *ra = json_object_get(json_object_get(ja, "data"), "reporter");
        assert_true((ra != NULL) == (json_object_get(json_object_get(jb, "data"), "reporter") != NULL));
        json_object_del(json_object_get(ja, "data"), "reporter");
        json_object_del(json_object_get(jb, "data"), "reporter");
        if (!json_equal(ja, jb))
            print_error("line %d differs:\n%s\n%s\n", i, a, b);
        assert_true(json_equal(ja, jb));
        json_decref(ja);
        json_decref(jb);
        a = ea + 1;
        b = eb + 1;
    }
    free(out);
    free(err);
    free(want);

    /* then what commits next: one more ticket, and the follower stops after it */
    char log[1100], bin[1100], count[16];
    snprintf(log, sizeof log, "%s/events-from-start.log", h_env("GRIDGOV_TEST_VAR"));
    snprintf(bin, sizeof bin, "%s/gridgovctl", h_env("GRIDGOV_BIN"));
    snprintf(count, sizeof count, "%d", n + 1);
    const char *argv[] = {bin, "--set", "log_level=warn", "events", "--from-start", "--type", "ticket.created", "--count",
                          count, NULL};
    pid_t ev = h_spawn(argv, NULL, log);
    usleep(300 * 1000);
    char code[40];
    snprintf(code, sizeof code, "%s", file_ticket());
    int st = -1;
    for (int i = 0; i < 200; i++) {
        if (waitpid(ev, &st, WNOHANG) == ev)
            break;
        usleep(50 * 1000);
    }
    if (!WIFEXITED(st))
        h_stop(ev, SIGKILL);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    char *text = slurp(log);
    assert_int_equal(count_lines(text), n + 1);
    char last[128];
    snprintf(last, sizeof last, "+08:00  ticket.created      %s  OPSTEST via api\n", code);
    size_t tl = strlen(text), ll = strlen(last);
    if (tl < ll || strcmp(text + tl - ll, last)) {
        print_error("the follower's last line is not the new ticket's:\n%s", text);
        fail();
    }
    free(text);
}

static json_t *get_json(const char *path, const char *token, long want_status)
{
    char url[256], auth[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d%s", g_http, path);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token ? token : "");
    const char *hdr[] = {token ? auth : NULL, NULL};
    h_resp_t r;
    assert_true(h_http("GET", url, hdr, NULL, 0, &r));
    if (r.status != want_status) {
        print_error("GET %s: %ld %s\n", path, r.status, buf_str(&r.body));
        fail();
    }
    json_error_t je;
    json_t *j = json_loads(buf_str(&r.body), 0, &je);
    h_resp_free(&r);
    return j;
}

static bool local_time(const json_t *v)
{
    const char *s = json_string_value(v);
    return s && strlen(s) == 25 && !strcmp(s + 19, "+08:00");
}

static void staff_views_name_the_holder_in_local_time(void **state)
{
    (void)state;
    char code[40];
    snprintf(code, sizeof code, "%s", file_ticket());
    assert_true(h_wait_routed(g_db, code, 10000));
    const char *p[] = {code};
    long long assignee = h_sql_int(g_db, "SELECT assignee_id FROM router.ticket WHERE code = $1", 1, p);
    char *unit = h_sql_text(g_db, "SELECT u.code FROM router.ticket t JOIN registry.unit u ON u.id = t.unit_id"
                                  " WHERE t.code = $1",
                            1, p);
    char *at = h_sql_text(g_db, "SELECT to_char(tr.at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD\"T\"HH24:MI:SS\"+08:00\"')"
                                " FROM router.transition tr JOIN router.ticket t ON t.ticket_id = tr.ticket_id"
                                " WHERE t.code = $1 ORDER BY tr.id LIMIT 1",
                          1, p);
    char *token = h_staff_token(g_db, assignee);
    char path[128];
    snprintf(path, sizeof path, "/api/v1/tickets/%s/history", code);
    json_decref(get_json(path, NULL, 401)); /* staff only */
    json_t *h = get_json(path, token, 200);
    assert_string_equal(json_string_value(json_object_get(h, "state")), "assigned");
    assert_string_equal(json_string_value(json_object_get(json_object_get(h, "unit"), "code")), unit);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(h, "assignee"), "id")), assignee);
    const json_t *t0 = json_array_get(json_object_get(h, "transitions"), 0);
    assert_string_equal(json_string_value(json_object_get(t0, "action")), "assign");
    assert_true(local_time(json_object_get(t0, "at")));
    assert_string_equal(json_string_value(json_object_get(t0, "at")), at);
    json_decref(h);

    json_t *q = get_json("/api/v1/staff/tickets", token, 200);
    const json_t *mine = NULL;
    for (size_t i = 0; i < json_array_size(json_object_get(q, "tickets")); i++) {
        const json_t *t = json_array_get(json_object_get(q, "tickets"), i);
        if (!strcmp(json_string_value(json_object_get(t, "code")), code))
            mine = t;
    }
    assert_non_null(mine);
    assert_string_equal(json_string_value(json_object_get(mine, "unit_code")), unit);
    assert_int_equal(json_integer_value(json_object_get(json_object_get(mine, "assignee"), "id")), assignee);
    assert_true(local_time(json_object_get(mine, "sign_due")));
    assert_true(local_time(json_object_get(mine, "resolve_due")));
    json_decref(q);

    /* the answer to an action: the router's view of the ticket, in the same zone */
    char url[256], auth[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/tickets/%s/actions/accept", g_http, code);
    snprintf(auth, sizeof auth, "Authorization: Bearer %s", token);
    const char *hdr[] = {auth, NULL};
    h_resp_t r;
    assert_true(h_http("POST", url, hdr, "", 0, &r));
    assert_int_equal(r.status, 200);
    json_error_t je;
    json_t *a = json_loads(buf_str(&r.body), 0, &je);
    h_resp_free(&r);
    assert_true(local_time(json_object_get(json_object_get(a, "ticket"), "sign_due")));
    assert_true(local_time(json_object_get(json_object_get(a, "ticket"), "resolve_due")));
    json_decref(a);
    free(token);
    free(unit);
    free(at);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(staff_lists_who_handles_what_by_unit_and_role),
        cmocka_unit_test(staff_refuses_what_it_cannot_answer),
        cmocka_unit_test(staff_names_who_holds_a_ticket),
        cmocka_unit_test(events_show_every_publisher_by_default_in_local_time),
        cmocka_unit_test(events_from_start_replay_the_outbox_then_follow_it),
        cmocka_unit_test(staff_views_name_the_holder_in_local_time),
    };
    return cmocka_run_group_tests_name("operator_commands", tests, setup, teardown);
}
