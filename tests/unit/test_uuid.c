#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdlib.h>
#include <string.h>

#include "uuid.h"

static int is_lower_hex(char c) { return (c >= '0' && c <= '9') || (c >= 'a' && c <= 'f'); }

static void v4_has_canonical_lower_case_format(void **state)
{
    (void)state;
    for (int n = 0; n < 200; n++) {
        char u[UUID_STR_LEN];
        memset(u, 'X', sizeof u);
        uuid_v4(u);
        assert_int_equal(strlen(u), 36);
        for (int i = 0; i < 36; i++) {
            if (i == 8 || i == 13 || i == 18 || i == 23) {
                if (u[i] != '-')
                    fail_msg("%s: position %d is not '-'", u, i);
            } else if (!is_lower_hex(u[i])) {
                fail_msg("%s: position %d is not a lower-case hex digit", u, i);
            }
        }
    }
}

static void v4_has_version_nibble_4(void **state)
{
    (void)state;
    for (int n = 0; n < 1000; n++) {
        char u[UUID_STR_LEN];
        uuid_v4(u);
        if (u[14] != '4')
            fail_msg("%s: version nibble is '%c'", u, u[14]);
    }
}

static void v4_has_rfc4122_variant_bits(void **state)
{
    (void)state;
    int seen[4] = {0};
    for (int n = 0; n < 1000; n++) {
        char u[UUID_STR_LEN];
        uuid_v4(u);
        const char *p = strchr("89ab", u[19]);
        if (!p || !u[19])
            fail_msg("%s: variant nibble is '%c'", u, u[19]);
        seen[p - "89ab"]++;
    }
    /* the two free bits are random: every one of 8, 9, a, b shows up in 1000 draws */
    for (int i = 0; i < 4; i++)
        assert_true(seen[i] > 0);
}

static int cmp(const void *a, const void *b) { return strcmp((const char *)a, (const char *)b); }

static void v4_ten_thousand_are_unique(void **state)
{
    (void)state;
    enum { N = 10000 };
    char(*all)[UUID_STR_LEN] = calloc(N, UUID_STR_LEN);
    assert_non_null(all);
    for (int i = 0; i < N; i++)
        uuid_v4(all[i]);
    qsort(all, N, UUID_STR_LEN, cmp);
    for (int i = 1; i < N; i++)
        if (strcmp(all[i - 1], all[i]) == 0)
            fail_msg("duplicate UUID %s", all[i]);
    free(all);
}

static void v4_output_is_valid(void **state)
{
    (void)state;
    char u[UUID_STR_LEN];
    uuid_v4(u);
    assert_true(uuid_valid(u));
}

static void valid_accepts_canonical_uuids_of_any_version_and_case(void **state)
{
    (void)state;
    assert_true(uuid_valid("123e4567-e89b-12d3-a456-426614174000")); /* v1 */
    assert_true(uuid_valid("550E8400-E29B-41D4-A716-446655440000")); /* upper case */
    assert_true(uuid_valid("550e8400-E29B-41d4-a716-446655440000")); /* mixed */
    assert_true(uuid_valid("00000000-0000-0000-0000-000000000000")); /* nil */
    assert_true(uuid_valid("ffffffff-ffff-ffff-ffff-ffffffffffff"));
}

static void valid_rejects_wrong_shapes(void **state)
{
    (void)state;
    assert_false(uuid_valid(NULL));
    assert_false(uuid_valid(""));
    assert_false(uuid_valid("550e8400e29b41d4a716446655440000"));       /* no hyphens */
    assert_false(uuid_valid("{550e8400-e29b-41d4-a716-446655440000}")); /* braces */
    assert_false(uuid_valid("550e8400-e29b-41d4-a716-44665544000"));   /* 35 characters */
    assert_false(uuid_valid("550e8400-e29b-41d4-a716-4466554400000")); /* 37 characters */
    assert_false(uuid_valid("550e8400-e29b-41d4-a716-44665544000g"));  /* not hex */
    assert_false(uuid_valid("550e8400-e29b-41d4-a716 446655440000"));  /* space for hyphen */
    assert_false(uuid_valid("550e840-0e29b-41d4-a716-446655440000"));  /* hyphen misplaced */
    assert_false(uuid_valid("550e8400-e29b-41d4-a716-44665544000\n")); /* trailing newline */
    assert_false(uuid_valid(" 550e8400-e29b-41d4-a716-44665544000"));  /* leading space */
    assert_false(uuid_valid("550e8400-e29b-41d4-a716-4466554400-0"));  /* extra hyphen */
    assert_false(uuid_valid("５５０e8400-e29b-41d4-a716-446655440000"));  /* full-width digits */
}

/* The id intake derives from a staff member, a path and an Idempotency-Key: pinned, because ids
 * stored in router.command before a release must still match a retry after it. */
static void from_name_is_stable(void **state)
{
    (void)state;
    const char *name[] = {"staff:24", "/api/v1/tickets/2611290000001/actions/accept", "visit-0042"};
    char a[UUID_STR_LEN], b[UUID_STR_LEN];
    uuid_from_name(name, 3, a);
    uuid_from_name(name, 3, b);
    assert_string_equal(a, "3ddc3986-7369-53d4-835c-e9315afa468b");
    assert_string_equal(a, b);
    assert_true(uuid_valid(a));
    assert_int_equal(a[14], '5');
    assert_non_null(strchr("89ab", a[19]));
}

static void from_name_differs_by_every_part_and_boundary(void **state)
{
    (void)state;
    const char *base[] = {"staff:24", "/p", "k"};
    const char *other_who[] = {"staff:25", "/p", "k"};
    const char *other_key[] = {"staff:24", "/p", "k2"};
    const char *moved[] = {"staff:24/", "p", "k"}; /* same bytes, another boundary */
    const char *fewer[] = {"staff:24", "/p"};
    char u[5][UUID_STR_LEN];
    uuid_from_name(base, 3, u[0]);
    uuid_from_name(other_who, 3, u[1]);
    uuid_from_name(other_key, 3, u[2]);
    uuid_from_name(moved, 3, u[3]);
    uuid_from_name(fewer, 2, u[4]);
    for (int i = 0; i < 5; i++)
        for (int j = i + 1; j < 5; j++)
            if (!strcmp(u[i], u[j]))
                fail_msg("names %d and %d give the same id %s", i, j, u[i]);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(v4_has_canonical_lower_case_format),
        cmocka_unit_test(v4_has_version_nibble_4),
        cmocka_unit_test(v4_has_rfc4122_variant_bits),
        cmocka_unit_test(v4_ten_thousand_are_unique),
        cmocka_unit_test(v4_output_is_valid),
        cmocka_unit_test(valid_accepts_canonical_uuids_of_any_version_and_case),
        cmocka_unit_test(valid_rejects_wrong_shapes),
        cmocka_unit_test(from_name_is_stable),
        cmocka_unit_test(from_name_differs_by_every_part_and_boundary),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
