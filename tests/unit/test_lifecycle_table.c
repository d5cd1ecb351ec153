/* lifecycle: the state machine as written in its table (services/router/lifecycle.c). Every
 * (state, action) pair is walked: the allowed ones must be exactly those listed below, each with
 * the target (and the alternative target some actions have) written out, and every other pair
 * is refused. A change to the table fails here until this listing says the same, so it shows in
 * review. (That a refused pair answers 409 with the current state is shown end to end in
 * tests/e2e/test_router_lifecycle.c.) */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <string.h>

#include "lifecycle.h"

/* action, from-state -> target [| alternative target]. Every pair not listed is refused.
 * "new" is a ticket the router does not have yet. */
static const char *const ALLOWED[] = {
    "accept            assigned    -> accepted",
    "start             accepted    -> in_progress",
    "resolve           accepted    -> resolved",
    "resolve           in_progress -> resolved",
    "return            assigned    -> returned",
    "return            accepted    -> returned",
    "dispatch          returned    -> assigned",
    "reject            assigned    -> rejected",
    "reject            returned    -> rejected",
    "request_extension accepted    -> accepted",
    "request_extension in_progress -> in_progress",
    "grant_extension   accepted    -> accepted",
    "grant_extension   in_progress -> in_progress",
    "refuse_extension  accepted    -> accepted",
    "refuse_extension  in_progress -> in_progress",
    "rate              resolved    -> closed | in_progress",
    "close_unrated     resolved    -> closed",
    "escalate          assigned    -> assigned",
    "escalate          returned    -> returned",
    "overdue           assigned    -> assigned | assigned",
    "overdue           accepted    -> assigned | accepted",
    "overdue           in_progress -> assigned | in_progress",
    "assign            new         -> assigned",
    "merge             new         -> merged",
};

/* action, who may take it, event (and the alternative target's event), whether a note is needed */
static const char *const ACTIONS[] = {
    "accept            holder     ticket.accepted",
    "start             holder     ticket.started",
    "resolve           holder     ticket.resolved",
    "return            holder     ticket.returned",
    "dispatch          supervisor ticket.dispatched",
    "reject            supervisor ticket.rejected",
    "request_extension holder     ticket.extension_requested",
    "grant_extension   supervisor ticket.extension_granted",
    "refuse_extension  supervisor ticket.extension_refused",
    "rate              resident   ticket.rated | ticket.reopened",
    "close_unrated     system     ticket.closed",
    "escalate          system     ticket.escalated",
    "overdue           system     ticket.overdue | ticket.overdue",
    "assign            system     ticket.assigned",
    "merge             system     ticket.merged",
};

/* The states in the order the listing walks them: (new) first, then the stored ones. */
static const ticket_state_t STATES[] = {ST_NEW,      ST_ASSIGNED, ST_ACCEPTED, ST_IN_PROGRESS, ST_RESOLVED,
                                        ST_CLOSED,   ST_RETURNED, ST_REJECTED, ST_MERGED};
#define NSTATES (sizeof STATES / sizeof STATES[0])

static void every_pair_is_allowed_with_its_target_or_refused(void **state)
{
    (void)state;
    size_t n = sizeof ALLOWED / sizeof ALLOWED[0], k = 0, refused = 0;
    for (int a = 0; a < ACT__COUNT; a++)
        for (size_t i = 0; i < NSTATES; i++) {
            ticket_state_t s = STATES[i];
            if (!lifecycle_allows((action_t)a, s)) {
                refused++;
                continue;
            }
            char line[128];
            int len = snprintf(line, sizeof line, "%-17s %-11s -> %s", lifecycle_action_name((action_t)a),
                               lifecycle_state_name(s), lifecycle_state_name(lifecycle_target((action_t)a, s, false)));
            if (lifecycle_has_alt((action_t)a))
                snprintf(line + len, sizeof line - (size_t)len, " | %s",
                         lifecycle_state_name(lifecycle_target((action_t)a, s, true)));
            if (k >= n)
                fail_msg("the table allows a pair the listing lacks: %s", line);
            if (strcmp(line, ALLOWED[k]))
                fail_msg("listing line %zu: expected \"%s\", the table says \"%s\"", k + 1, ALLOWED[k], line);
            k++;
        }
    if (k != n)
        fail_msg("the listing has %zu allowed pairs, the table %zu (first missing: \"%s\")", n, k, ALLOWED[k]);
    assert_int_equal(refused, ACT__COUNT * NSTATES - n);
}

static void every_action_has_its_actor_and_event(void **state)
{
    (void)state;
    static const char *const WHO[] = {[WHO_HOLDER] = "holder", [WHO_SUPERVISOR] = "supervisor",
                                      [WHO_RESIDENT] = "resident", [WHO_SYSTEM] = "system"};
    assert_int_equal(sizeof ACTIONS / sizeof ACTIONS[0], ACT__COUNT);
    for (int a = 0; a < ACT__COUNT; a++) {
        char line[128];
        int len = snprintf(line, sizeof line, "%-17s %-10s ticket.%s", lifecycle_action_name((action_t)a),
                           WHO[lifecycle_who((action_t)a)], lifecycle_event((action_t)a, false));
        if (lifecycle_has_alt((action_t)a))
            snprintf(line + len, sizeof line - (size_t)len, " | ticket.%s", lifecycle_event((action_t)a, true));
        assert_string_equal(line, ACTIONS[a]);
        /* names go both ways */
        action_t back;
        assert_true(lifecycle_action_parse(lifecycle_action_name((action_t)a), &back));
        assert_int_equal(back, a);
    }
}

static void stored_states_parse_and_new_is_not_one(void **state)
{
    (void)state;
    for (int s = 0; s < ST__COUNT; s++) {
        ticket_state_t back;
        assert_true(lifecycle_state_parse(lifecycle_state_name((ticket_state_t)s), &back));
        assert_int_equal(back, s);
    }
    ticket_state_t x;
    assert_string_equal(lifecycle_state_name(ST_NEW), "new");
    assert_false(lifecycle_state_parse("new", &x));
    assert_false(lifecycle_state_parse("", &x));
    assert_false(lifecycle_state_parse("Assigned", &x));
    action_t a;
    assert_false(lifecycle_action_parse("bogus", &a));
    assert_false(lifecycle_action_parse("", &a));
    assert_false(lifecycle_action_parse("accept ", &a));
    /* nothing is allowed from the table's markers or past the last action */
    assert_false(lifecycle_allows(ACT_ACCEPT, ST_KEEP));
    assert_false(lifecycle_allows(ACT_ACCEPT, ST_NONE));
    assert_false(lifecycle_allows(ACT__COUNT, ST_ASSIGNED));
    assert_int_equal(lifecycle_target(ACT__COUNT, ST_ASSIGNED, false), ST_NONE);
}

/* The SLA sweeps select tickets by these arrays (sla.c): they follow the table. */
static void states_from_are_the_tables_as_a_postgres_array(void **state)
{
    (void)state;
    char buf[128];
    assert_true(lifecycle_states_from(ACT_OVERDUE, buf, sizeof buf));
    assert_string_equal(buf, "{assigned,accepted,in_progress}");
    assert_true(lifecycle_states_from(ACT_ESCALATE, buf, sizeof buf));
    assert_string_equal(buf, "{assigned,returned}");
    assert_true(lifecycle_states_from(ACT_CLOSE_UNRATED, buf, sizeof buf));
    assert_string_equal(buf, "{resolved}");
    /* (new) is no stored state: nothing to select */
    assert_true(lifecycle_states_from(ACT_ASSIGN, buf, sizeof buf));
    assert_string_equal(buf, "{}");
    /* every action's array names exactly the stored states the table allows it from */
    for (int a = 0; a < ACT__COUNT; a++) {
        assert_true(lifecycle_states_from((action_t)a, buf, sizeof buf));
        for (int s = 0; s < ST__COUNT; s++) {
            char item[40];
            snprintf(item, sizeof item, "%s", lifecycle_state_name((ticket_state_t)s));
            const char *at = strstr(buf, item);
            /* whole items only: "{…,name,…}" */
            bool listed = false;
            for (; at; at = strstr(at + 1, item)) {
                char before = at[-1], after = at[strlen(item)];
                if ((before == '{' || before == ',') && (after == '}' || after == ','))
                    listed = true;
            }
            assert_int_equal(listed, lifecycle_allows((action_t)a, (ticket_state_t)s));
        }
    }
    /* too small a buffer is refused, not cut */
    char small[12];
    assert_false(lifecycle_states_from(ACT_OVERDUE, small, sizeof small));
    assert_false(lifecycle_states_from(ACT_OVERDUE, small, 2));
    assert_false(lifecycle_states_from(ACT__COUNT, buf, sizeof buf));
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(every_pair_is_allowed_with_its_target_or_refused),
        cmocka_unit_test(every_action_has_its_actor_and_event),
        cmocka_unit_test(stored_states_parse_and_new_is_not_one),
        cmocka_unit_test(states_from_are_the_tables_as_a_postgres_array),
    };
    return cmocka_run_group_tests_name("lifecycle_table", tests, NULL, NULL);
}
