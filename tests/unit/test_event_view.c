/* gridgovctl events without --json: each envelope as one line a person reads, its times in the
 * county's zone (+08:00) whatever the envelope's UTC says, nothing of the reporter, a note on one
 * line and cut when long; what is no envelope is left to the caller. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "buf.h"
#include "event_view.h"

/* The line for an envelope (caller frees), failing the test when there is none. */
static char *line_of(const char *envelope)
{
    buf_t b = BUF_INIT;
    if (!event_view_line(envelope, &b)) {
        print_error("no line for %s\n", envelope);
        fail();
    }
    return buf_detach(&b);
}

static void expect_line(const char *envelope, const char *want)
{
    char *got = line_of(envelope);
    if (strcmp(got, want)) {
        print_error("envelope %s\n   gave \"%s\"\n   want \"%s\"\n", envelope, got, want);
        free(got);
        fail();
    }
    free(got);
}

static void created_shows_category_channel_and_place_not_the_reporter(void **state)
{
    (void)state;
    expect_line("{\"id\":\"0b7e6a7c-1d1e-4c2a-9a57-3b1f6d0c9e01\",\"type\":\"ticket.created\",\"version\":1,"
                "\"occurred_at\":\"2026-12-07T07:40:01.123456Z\",\"source\":\"intake\",\"correlation_id\":null,"
                "\"data\":{\"ticket_id\":\"1\",\"code\":\"2612070000001\",\"channel\":\"grid_worker\","
                "\"service_code\":\"DISPUTE\",\"description\":\"宅基地边界纠纷\",\"address_string\":\"双河村安全组\","
                "\"attributes\":{},\"reporter\":{\"phone\":\"13912345678\",\"first_name\":\"王\"},"
                "\"requested_at\":\"2026-12-07T07:40:01.123456Z\"}}",
                "2026-12-07T15:40:01+08:00  ticket.created      2612070000001  DISPUTE via grid_worker  at 双河村安全组");
    char *l = line_of("{\"type\":\"ticket.created\",\"occurred_at\":\"2026-12-07T07:40:01Z\",\"data\":{\"code\":\"1\","
                      "\"reporter\":{\"phone\":\"13912345678\"},\"description\":\"私事\"}}");
    assert_null(strstr(l, "13912345678"));
    assert_null(strstr(l, "私事"));
    free(l);
}

static void a_transition_names_states_unit_people_and_local_deadline(void **state)
{
    (void)state;
    /* 16:30 UTC is half past midnight the next day in the county */
    expect_line("{\"type\":\"ticket.assigned\",\"occurred_at\":\"2026-12-07T16:30:00.000001Z\",\"source\":\"router\","
                "\"data\":{\"ticket_id\":\"1\",\"code\":\"2612080000001\",\"action\":\"assign\",\"to_state\":\"assigned\","
                "\"unit_id\":\"10109\",\"unit_name\":\"田园社区\",\"level\":\"village\",\"assignee_id\":\"37\","
                "\"sign_due\":\"2026-12-09T02:00:00Z\",\"resolve_due\":\"2026-12-11T07:30:00Z\","
                "\"at\":\"2026-12-07T16:30:00.000001Z\"}}",
                "2026-12-08T00:30:00+08:00  ticket.assigned     2612080000001  new → assigned  田园社区 (village)  "
                "assignee 37  resolve by 2026-12-11T15:30:00+08:00");
    expect_line("{\"type\":\"ticket.resolved\",\"occurred_at\":\"2026-12-07T08:00:00Z\",\"data\":{\"code\":\"2612070000001\","
                "\"action\":\"resolve\",\"from_state\":\"accepted\",\"to_state\":\"resolved\",\"unit_name\":\"田园社区\","
                "\"level\":\"village\",\"assignee_id\":\"37\",\"actor_id\":\"37\",\"note\":\"已更换灯泡\","
                "\"followers\":[\"2612070000001\"],\"resolve_due\":\"2026-12-11T07:30:00Z\"}}",
                "2026-12-07T16:00:00+08:00  ticket.resolved     2612070000001  accepted → resolved  田园社区 (village)  "
                "assignee 37  by 37  「已更换灯泡」");
    expect_line("{\"type\":\"ticket.merged\",\"occurred_at\":\"2026-12-07T08:00:00Z\",\"data\":{\"code\":\"2612070000009\","
                "\"action\":\"merge\",\"to_state\":\"merged\",\"merged_into\":\"2612070000001\"}}",
                "2026-12-07T16:00:00+08:00  ticket.merged       2612070000009  new → merged  follows 2612070000001");
}

static void a_note_stays_on_one_line_and_is_cut_when_long(void **state)
{
    (void)state;
    expect_line("{\"type\":\"ticket.returned\",\"occurred_at\":\"2026-12-07T08:00:00Z\",\"data\":{\"code\":\"1\","
                "\"from_state\":\"assigned\",\"to_state\":\"returned\",\"note\":\"不属于\\n本村\\t职责\"}}",
                "2026-12-07T16:00:00+08:00  ticket.returned     1  assigned → returned  「不属于 本村 职责」");
    char note[400] = "";
    for (int i = 0; i < 70; i++)
        strcat(note, "长");
    char env[600];
    snprintf(env, sizeof env,
             "{\"type\":\"ticket.returned\",\"occurred_at\":\"2026-12-07T08:00:00Z\",\"data\":{\"code\":\"1\","
             "\"to_state\":\"returned\",\"note\":\"%s\"}}",
             note);
    char *l = line_of(env);
    char want[400] = "「";
    for (int i = 0; i < 60; i++)
        strcat(want, "长");
    strcat(want, "…」");
    assert_non_null(strstr(l, want));
    free(l);
}

static void warnings_and_unknown_types(void **state)
{
    (void)state;
    expect_line("{\"type\":\"ticket.warning\",\"occurred_at\":\"2026-12-07T08:00:00Z\",\"data\":{\"ticket_id\":\"1\","
                "\"code\":\"2612070000001\",\"sign_due\":\"2026-12-07T09:00:00Z\"}}",
                "2026-12-07T16:00:00+08:00  ticket.warning      2612070000001  sign by 2026-12-07T17:00:00+08:00");
    /* a type this view does not know: its data as it came */
    expect_line("{\"type\":\"vote.closed\",\"occurred_at\":\"2026-12-07T08:00:00Z\",\"data\":{\"motion\":\"7\"}}",
                "2026-12-07T16:00:00+08:00  vote.closed         -  {\"motion\":\"7\"}");
    /* a time that does not parse is shown as it came, not invented */
    expect_line("{\"type\":\"ticket.closed\",\"occurred_at\":\"yesterday\",\"data\":{\"code\":\"1\",\"to_state\":\"closed\"}}",
                "yesterday  ticket.closed       1  new → closed");
}

static void what_is_no_envelope_gets_no_line(void **state)
{
    (void)state;
    const char *bad[] = {"", "not json", "[]", "{\"type\":\"ticket.created\"}",
                         "{\"occurred_at\":\"2026-12-07T08:00:00Z\",\"data\":{}}",
                         "{\"type\":\"ticket.created\",\"occurred_at\":\"2026-12-07T08:00:00Z\",\"data\":\"x\"}",
                         "{\"type\":7,\"occurred_at\":\"2026-12-07T08:00:00Z\",\"data\":{}}"};
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        buf_t b = BUF_INIT;
        buf_puts(&b, "kept");
        if (event_view_line(bad[i], &b)) {
            print_error("a line for \"%s\"\n", bad[i]);
            fail();
        }
        assert_string_equal(buf_str(&b), "kept");
        buf_free(&b);
    }
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(created_shows_category_channel_and_place_not_the_reporter),
        cmocka_unit_test(a_transition_names_states_unit_people_and_local_deadline),
        cmocka_unit_test(a_note_stays_on_one_line_and_is_cut_when_long),
        cmocka_unit_test(warnings_and_unknown_types),
        cmocka_unit_test(what_is_no_envelope_gets_no_line),
    };
    return cmocka_run_group_tests_name("event_view", tests, NULL, NULL);
}
