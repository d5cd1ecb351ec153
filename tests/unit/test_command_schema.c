/* The command contract and the router's table say the same: the actions
 * proto/command.router.schema.json documents (x-gridgov-actions) are exactly the actions of
 * services/router/lifecycle.c that people take (the router's own, like escalate, are not
 * commands), and the states a reply may name (proto/reply.router.schema.json) are the table's
 * states. A change to one without the other fails here. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <string.h>

#include "harness.h"
#include "lifecycle.h"

static json_t *schema(const char *name)
{
    char path[1024];
    snprintf(path, sizeof path, "%s/proto/%s", h_env("GRIDGOV_TOP"), name);
    json_error_t je;
    json_t *j = json_load_file(path, 0, &je);
    if (!j)
        fail_msg("%s: %s", path, je.text);
    return j;
}

static bool listed(const json_t *list, const char *name)
{
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        if (json_is_string(v) && !strcmp(json_string_value(v), name))
            return true;
    }
    return false;
}

static void schema_actions_are_the_tables_actions_people_take(void **state)
{
    (void)state;
    json_t *s = schema("command.router.schema.json");
    json_t *list = json_object_get(json_object_get(json_object_get(s, "properties"), "action"), "x-gridgov-actions");
    assert_true(json_array_size(list) > 0);
    size_t i;
    json_t *v;
    json_array_foreach(list, i, v)
    {
        action_t a;
        if (!lifecycle_action_parse(json_string_value(v), &a))
            fail_msg("the schema lists %s, the router's table has no such action", json_string_value(v));
        if (lifecycle_who(a) == WHO_SYSTEM)
            fail_msg("the schema lists %s, which only the router itself takes", json_string_value(v));
    }
    for (int a = 0; a < ACT__COUNT; a++) {
        bool people = lifecycle_who((action_t)a) != WHO_SYSTEM;
        if (people != listed(list, lifecycle_action_name((action_t)a)))
            fail_msg("%s: %s in the table, %s in the schema", lifecycle_action_name((action_t)a),
                     people ? "taken by people" : "the router's own", people ? "missing" : "listed");
    }
    json_decref(s);
}

static void reply_states_are_the_tables_states(void **state)
{
    (void)state;
    json_t *s = schema("reply.router.schema.json");
    json_t *list = json_object_get(json_object_get(json_object_get(s, "$defs"), "state"), "enum");
    assert_int_equal(json_array_size(list), ST__COUNT);
    for (int st = 0; st < ST__COUNT; st++)
        if (!listed(list, lifecycle_state_name((ticket_state_t)st)))
            fail_msg("state %s is missing from the reply schema", lifecycle_state_name((ticket_state_t)st));
    json_decref(s);
}

/* The proofs a rating may name: the schema's x-gridgov-proofs are exactly LIFECYCLE_PROOFS. */
static void schema_proofs_are_the_routers_proofs(void **state)
{
    (void)state;
    json_t *s = schema("command.router.schema.json");
    json_t *list = json_object_get(json_object_get(json_object_get(s, "properties"), "proof"), "x-gridgov-proofs");
    static const char *const proofs[] = LIFECYCLE_PROOFS;
    size_t n = 0;
    for (; proofs[n]; n++)
        if (!listed(list, proofs[n]))
            fail_msg("the router knows the proof %s, the schema does not list it", proofs[n]);
    assert_int_equal(json_array_size(list), n);
    assert_true(listed(list, "sms_uplink") && listed(list, "wechat_binding"));
    json_decref(s);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(schema_actions_are_the_tables_actions_people_take),
        cmocka_unit_test(reply_states_are_the_tables_states),
        cmocka_unit_test(schema_proofs_are_the_routers_proofs),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
