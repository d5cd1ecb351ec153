/* An address_string that names a village and a group places the ticket in that group (migration
 * 019): router.group_by_address matches village + group names, with or without the township,
 * spaces not counting, and answers nothing for an address no group or two groups answer to; the
 * router uses it after the household named and the point, before the reporter's own household. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>

#include "harness.h"

static pid_t g_intake, g_router;
static PGconn *g_db;
static char g_key[80];
static int g_http;

/* Two villages of one name in two townships, each with a group 新屋组: an address without the
 * township names both. Ids and codes outside the demo county's (village n = 98). */
static const char TWINS_SQL[] =
    "INSERT INTO registry.unit (id, parent_id, level, code, name) VALUES"
    " (10198, 101, 'village', '430121-101-98', '同名村'), (10298, 102, 'village', '430121-102-98', '同名村'),"
    " (1019801, 10198, 'group', '430121-101-98-01', '新屋组'), (1029801, 10298, 'group', '430121-102-98-01', '新屋组')";
static const char TWINS_DROP_SQL[] = "DELETE FROM registry.unit WHERE id IN (1019801, 1029801, 10198, 10298)";

static int setup(void **state)
{
    (void)state;
    g_db = h_db();
    char *k = h_api_key(g_db);
    snprintf(g_key, sizeof g_key, "%s", k);
    free(k);
    /* a category of this file's own, held by the group, with no duplicates to follow */
    h_sql_exec(g_db, "INSERT INTO registry.service (code, name, grp) VALUES ('ADDRTEST', '地址测试', '测试')"
                     " ON CONFLICT DO NOTHING");
    h_sql_exec(g_db, "INSERT INTO router.category_rule (service_code, level, sign_hours, resolve_hours, dup_radius_m)"
                     " VALUES ('ADDRTEST', 'group', 8, 40, 0) ON CONFLICT DO NOTHING");
    g_http = h_port(160);
    g_intake = h_start_intake(g_http, h_port(161), NULL);
    g_router = h_start_router(h_port(162), h_port(161), NULL);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    int s1 = h_stop(g_router, SIGTERM), s2 = h_stop(g_intake, SIGTERM);
    PQfinish(g_db);
    return WIFEXITED(s1) && WEXITSTATUS(s1) == 0 && WIFEXITED(s2) && WEXITSTATUS(s2) == 0 ? 0 : -1;
}

static long long unit_id(const char *code)
{
    const char *p[] = {code};
    long long id = h_sql_int(g_db, "SELECT id FROM registry.unit WHERE code = $1", 1, p);
    assert_true(id > 0);
    return id;
}

/* router.group_by_address(address), 0 for NULL. */
static long long by_address(const char *address)
{
    const char *p[] = {address};
    return h_sql_int(g_db, "SELECT coalesce(router.group_by_address($1), 0)", 1, p);
}

static void expect_address(const char *address, long long want)
{
    long long got = by_address(address);
    if (got != want) {
        print_error("router.group_by_address('%s') = %lld, expected %lld\n", address, got, want);
        fail();
    }
}

static void an_address_names_its_group_with_or_without_township_and_spaces(void **state)
{
    (void)state;
    long long anquan = unit_id("430121-101-05-02"), yizu = unit_id("430121-101-01-01");
    expect_address("双河村安全组", anquan);
    expect_address(" 双河村 安全组 ", anquan);
    expect_address("果园镇双河村安全组", anquan);
    expect_address("果园镇 双河村\t安全组", anquan);
    expect_address("金鼎山社区一组", yizu);
    expect_address("双河村安全组12号", anquan); /* a house number after the names */
    long long jiumu = unit_id("430121-101-02-01");
    expect_address("九木村安全组", jiumu);
    expect_address("果园镇九木村安全组12号", jiumu);
    expect_address("金鼎山社区一组3栋", yizu);
    expect_address("金鼎山社区\xE3\x80\x80一组", yizu); /* the full-width space of Chinese input */
}

static void an_address_no_group_answers_to_names_none(void **state)
{
    (void)state;
    const char *none[] = {"九木村大塘组",      /* 九木村 has no 大塘组 */
                          "双河村",            /* a village alone */
                          "安全组",            /* a group alone: ten villages have one */
                          "12号双河村安全组",  /* the names not at the start */
                          "春华镇双河村安全组", /* the wrong township */
                          "双河村 安全",       "",   "   "};
    for (size_t i = 0; i < sizeof none / sizeof none[0]; i++)
        expect_address(none[i], 0);
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM (SELECT router.group_by_address(NULL) g) x WHERE g IS NULL",
                               0, NULL),
                     1);
}

static void an_address_two_groups_answer_to_names_none_unless_the_township_says(void **state)
{
    (void)state;
    h_sql_exec(g_db, "BEGIN");
    h_sql_exec(g_db, TWINS_SQL);
    expect_address("同名村新屋组", 0);
    expect_address("果园镇同名村新屋组", 1019801);
    expect_address("春华镇 同名村 新屋组", 1029801);
    h_sql_exec(g_db, "ROLLBACK");
    expect_address("果园镇同名村新屋组", 0);
}

/* Files an ADDRTEST ticket with these extra members and returns where the router placed it:
 * "<group code or -> <unit level>". Caller frees. */
static char *placed(const char *members)
{
    char body[1024], code[40];
    snprintf(body, sizeof body, "{\"service_code\":\"ADDRTEST\",\"channel\":\"grid_worker\",\"description\":\"地址\"%s%s}",
             *members ? "," : "", members);
    assert_true(h_post_ticket(g_http, g_key, body, code));
    assert_true(h_wait_routed(g_db, code, 10000));
    const char *p[] = {code};
    return h_sql_text(g_db,
                      "SELECT coalesce(g.code, '-') || ' ' || u.level FROM router.ticket t"
                      " LEFT JOIN registry.unit g ON g.id = t.group_id JOIN registry.unit u ON u.id = t.unit_id"
                      " WHERE t.code = $1",
                      1, p);
}

static void expect_placed(const char *members, const char *want)
{
    char *got = placed(members);
    if (strcmp(got, want)) {
        print_error("a ticket with %s was placed at '%s', expected '%s'\n", members, got, want);
        free(got);
        fail();
    }
    free(got);
}

static void the_router_places_by_household_then_point_then_address_then_phone(void **state)
{
    (void)state;
    /* a point inside 金鼎山社区一组, a household of 九木村, a resident of another group */
    char *point = h_sql_text(g_db,
                             "SELECT format('\"lat\":%s,\"long\":%s', round(ST_Y(p)::numeric, 7), round(ST_X(p)::numeric, 7))"
                             " FROM (SELECT ST_PointOnSurface(boundary) p FROM registry.unit WHERE code = '430121-101-01-01') x",
                             0, NULL);
    char *household = h_sql_text(g_db,
                                 "SELECT h.code FROM registry.household h JOIN registry.unit g ON g.id = h.group_id"
                                 " WHERE g.code = '430121-101-02-01' ORDER BY h.id LIMIT 1",
                                 0, NULL);
    char *phone = h_sql_text(g_db,
                             "SELECT r.phone FROM registry.resident r JOIN registry.household h ON h.id = r.household_id"
                             " JOIN registry.unit g ON g.id = h.group_id WHERE g.code = '430121-103-01-01'"
                             " AND r.phone IS NOT NULL AND r.is_head ORDER BY r.id LIMIT 1",
                             0, NULL);
    assert_true(*point && *household && *phone);
    char m[512];

    /* the README's example: the address alone */
    expect_placed("\"address_string\":\"双河村安全组\"", "430121-101-05-02 group");
    expect_placed("\"address_string\":\"金鼎山社区 一组\"", "430121-101-01-01 group");
    /* and held there by the group leader on duty */
    char *role = h_sql_text(g_db,
                            "SELECT s.role || ' ' || u.code FROM router.ticket t JOIN registry.staff s ON s.id = t.assignee_id"
                            " JOIN registry.unit u ON u.id = s.unit_id WHERE t.service_code = 'ADDRTEST'"
                            " ORDER BY t.ticket_id DESC LIMIT 1",
                            0, NULL);
    assert_string_equal(role, "group_leader 430121-101-01-01");
    free(role);

    /* a household named wins over the address */
    snprintf(m, sizeof m, "\"address_id\":\"%s\",\"address_string\":\"双河村安全组\"", household);
    expect_placed(m, "430121-101-02-01 group");
    /* so does a point inside a group */
    snprintf(m, sizeof m, "%s,\"address_string\":\"双河村安全组\"", point);
    expect_placed(m, "430121-101-01-01 group");
    /* the address wins over the reporter's own household */
    snprintf(m, sizeof m, "\"phone\":\"%s\",\"address_string\":\"双河村安全组\"", phone);
    expect_placed(m, "430121-101-05-02 group");
    /* an address that names no group leaves the reporter's household, or the county */
    snprintf(m, sizeof m, "\"phone\":\"%s\",\"address_string\":\"九木村大塘组\"", phone);
    expect_placed(m, "430121-103-01-01 group");
    expect_placed("\"address_string\":\"九木村大塘组\"", "- county");

    /* two groups answer to the address: none is chosen (the SQL test above shows the township
     * deciding); nothing is placed in either, so both go again */
    h_sql_exec(g_db, TWINS_SQL);
    expect_placed("\"address_string\":\"同名村新屋组\"", "- county");
    h_sql_exec(g_db, TWINS_DROP_SQL);
    free(point);
    free(household);
    free(phone);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(an_address_names_its_group_with_or_without_township_and_spaces),
        cmocka_unit_test(an_address_no_group_answers_to_names_none),
        cmocka_unit_test(an_address_two_groups_answer_to_names_none_unless_the_township_says),
        cmocka_unit_test(the_router_places_by_household_then_point_then_address_then_phone),
    };
    return cmocka_run_group_tests_name("address_placement", tests, setup, teardown);
}
