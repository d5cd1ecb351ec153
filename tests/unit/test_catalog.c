/* catalog against the migrated, seeded test database (the demo county). API keys the tests
 * create are named unit_catalog_<pid>_* and deleted at the end. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "catalog.h"
#include "harness.h"
#include "log.h"
#include "timefmt.h"

static db_t *g_db;
static PGconn *g_pg;
static char g_prefix[64];

static int group_setup(void **state)
{
    (void)state;
    log_init("unit", LOG_ERROR);
    char err[512];
    g_db = db_connect(h_env("GRIDGOV_DB"), "unit-test-catalog", err, sizeof err);
    if (!g_db) {
        fprintf(stderr, "db_connect: %s\n", err);
        return -1;
    }
    g_pg = h_db();
    snprintf(g_prefix, sizeof g_prefix, "unit_catalog_%d_", (int)getpid());
    return 0;
}

static int group_teardown(void **state)
{
    (void)state;
    char like[80];
    snprintf(like, sizeof like, "%s%%", g_prefix);
    const char *p[] = {like};
    PQclear(PQexecParams(g_pg, "DELETE FROM registry.api_client WHERE name LIKE $1", 1, NULL, p, NULL, NULL, 0));
    PQfinish(g_pg);
    catalog_free();
    db_destroy(&g_db);
    return 0;
}

static void load(void)
{
    char err[512] = "";
    if (!catalog_load(g_db, err, sizeof err))
        fail_msg("catalog_load: %s", err);
}

/* Inserts an API client for key (the SHA-256 is computed by PostgreSQL); returns its id. */
static long long add_key(const char *suffix, const char *key, bool active)
{
    char name[96];
    snprintf(name, sizeof name, "%s%s", g_prefix, suffix);
    const char *p[] = {name, key, active ? "true" : "false"};
    return h_sql_int(g_pg,
                     "INSERT INTO registry.api_client (name, key_sha256, active) "
                     "VALUES ($1, sha256(convert_to($2, 'UTF8')), $3::boolean) RETURNING id",
                     3, p);
}

static void unique_key(char *out, size_t n, const char *tag)
{
    snprintf(out, n, "unit-%d-%s-%ld", (int)getpid(), tag, random());
}

static const json_t *find_service(const json_t *services, const char *code)
{
    size_t i;
    json_t *s;
    json_array_foreach(services, i, s)
    {
        const char *c = json_string_value(json_object_get(s, "service_code"));
        if (c && !strcmp(c, code))
            return s;
    }
    return NULL;
}

static void load_succeeds_and_publishes_a_snapshot(void **state)
{
    (void)state;
    catalog_free();
    assert_null(catalog_acquire());
    catalog_release();
    load();
    const catalog_t *c = catalog_acquire();
    assert_non_null(c);
    assert_true(json_is_array(c->services));
    assert_true(json_is_object(c->definitions));
    assert_true(json_is_object(c->names));
    assert_true(json_is_object(c->jurisdiction));
    catalog_release();
}

static void services_list_has_light_with_metadata(void **state)
{
    (void)state;
    load();
    long long active = h_sql_int(g_pg, "SELECT count(*) FROM registry.service WHERE active", 0, NULL);
    assert_true(active >= 15); /* the demo county's 15, and whatever other tests added */
    const catalog_t *c = catalog_acquire();
    assert_int_equal(json_array_size(c->services), (size_t)active);
    const json_t *light = find_service(c->services, "LIGHT");
    assert_non_null(light);
    assert_true(json_is_string(json_object_get(light, "service_code")));
    assert_string_equal(json_string_value(json_object_get(light, "service_name")), "路灯照明");
    assert_string_equal(json_string_value(json_object_get(light, "group")), "市政设施");
    assert_string_equal(json_string_value(json_object_get(light, "type")), "realtime");
    assert_non_null(strstr(json_string_value(json_object_get(light, "keywords")), "路灯"));
    assert_true(json_is_string(json_object_get(light, "description")));
    assert_true(json_is_true(json_object_get(light, "metadata")));
    /* a service without attributes says so */
    const json_t *other = find_service(c->services, "OTHER");
    assert_non_null(other);
    assert_true(json_is_false(json_object_get(other, "metadata")));
    /* ordered by sort: LIGHT (10) before ROAD (20) before OTHER (900) */
    size_t i_light = 0, i_road = 0, i_other = 0, i;
    json_t *s;
    json_array_foreach(c->services, i, s)
    {
        if (s == light)
            i_light = i;
        else if (s == other)
            i_other = i;
        else if (s == find_service(c->services, "ROAD"))
            i_road = i;
    }
    assert_true(i_light < i_road && i_road < i_other);
    assert_string_equal(json_string_value(json_object_get(c->names, "LIGHT")), "路灯照明");
    assert_int_equal(json_object_size(c->names), (size_t)active);
    assert_int_equal(json_object_size(c->definitions), (size_t)active);
    catalog_release();
}

static void light_definition_orders_attributes_and_lists_values(void **state)
{
    (void)state;
    load();
    const catalog_t *c = catalog_acquire();
    const json_t *def = json_object_get(c->definitions, "LIGHT");
    assert_non_null(def);
    assert_string_equal(json_string_value(json_object_get(def, "service_code")), "LIGHT");
    const json_t *attrs = json_object_get(def, "attributes");
    assert_int_equal(json_array_size(attrs), 2);

    const json_t *a1 = json_array_get(attrs, 0);
    assert_string_equal(json_string_value(json_object_get(a1, "code")), "fault_type");
    assert_int_equal(json_integer_value(json_object_get(a1, "order")), 1);
    assert_string_equal(json_string_value(json_object_get(a1, "datatype")), "singlevaluelist");
    assert_true(json_is_true(json_object_get(a1, "required")));
    assert_true(json_is_true(json_object_get(a1, "variable")));
    assert_string_equal(json_string_value(json_object_get(a1, "description")), "故障类型");
    const json_t *vals = json_object_get(a1, "values");
    assert_int_equal(json_array_size(vals), 4);
    const char *keys[] = {"off", "flicker", "day_on", "pole"};
    const char *names[] = {"不亮", "闪烁", "白天常亮", "灯杆损坏"};
    for (size_t i = 0; i < 4; i++) {
        const json_t *v = json_array_get(vals, i);
        assert_int_equal(json_object_size(v), 2);
        assert_string_equal(json_string_value(json_object_get(v, "key")), keys[i]);
        assert_string_equal(json_string_value(json_object_get(v, "name")), names[i]);
    }

    const json_t *a2 = json_array_get(attrs, 1);
    assert_string_equal(json_string_value(json_object_get(a2, "code")), "pole_no");
    assert_int_equal(json_integer_value(json_object_get(a2, "order")), 2);
    assert_string_equal(json_string_value(json_object_get(a2, "datatype")), "string");
    assert_true(json_is_false(json_object_get(a2, "required")));
    assert_string_equal(json_string_value(json_object_get(a2, "datatype_description")), "灯杆上喷涂的编号，如 LD-0123");
    assert_null(json_object_get(a2, "values"));
    catalog_release();
}

static void every_definition_orders_attributes_and_keys_values_by_datatype(void **state)
{
    (void)state;
    load();
    const catalog_t *c = catalog_acquire();
    const char *code;
    json_t *def;
    json_object_foreach(c->definitions, code, def)
    {
        assert_string_equal(json_string_value(json_object_get(def, "service_code")), code);
        const json_t *attrs = json_object_get(def, "attributes");
        assert_true(json_is_array(attrs));
        json_int_t last = 0;
        size_t i;
        json_t *a;
        json_array_foreach(attrs, i, a)
        {
            json_int_t ord = json_integer_value(json_object_get(a, "order"));
            if (ord <= last)
                fail_msg("%s: attribute %zu has order %lld after %lld", code, i, (long long)ord, (long long)last);
            last = ord;
            const char *dt = json_string_value(json_object_get(a, "datatype"));
            bool list = !strcmp(dt, "singlevaluelist") || !strcmp(dt, "multivaluelist");
            json_t *vals = json_object_get(a, "values");
            if (list && (!json_is_array(vals) || json_array_size(vals) == 0))
                fail_msg("%s.%s (%s) has no values", code, json_string_value(json_object_get(a, "code")), dt);
            if (!list && vals)
                fail_msg("%s.%s (%s) has a values key", code, json_string_value(json_object_get(a, "code")), dt);
        }
    }
    /* services without attributes have an empty list */
    assert_int_equal(json_array_size(json_object_get(json_object_get(c->definitions, "OTHER"), "attributes")), 0);
    /* a multivaluelist has values too, and POND's three attributes come in order */
    const json_t *pond = json_object_get(json_object_get(c->definitions, "POND"), "attributes");
    assert_int_equal(json_array_size(pond), 3);
    assert_string_equal(json_string_value(json_object_get(json_array_get(pond, 0), "code")), "notice");
    assert_true(json_is_false(json_object_get(json_array_get(pond, 0), "variable")));
    assert_string_equal(json_string_value(json_object_get(json_array_get(pond, 1), "code")), "hazard");
    assert_string_equal(json_string_value(json_object_get(json_array_get(pond, 2), "code")), "water_level");
    const json_t *dispute = json_array_get(json_object_get(json_object_get(c->definitions, "DISPUTE"), "attributes"), 0);
    assert_string_equal(json_string_value(json_object_get(dispute, "datatype")), "multivaluelist");
    assert_int_equal(json_array_size(json_object_get(dispute, "values")), 7);
    catalog_release();
}

static void jurisdiction_is_the_demo_county(void **state)
{
    (void)state;
    load();
    const catalog_t *c = catalog_acquire();
    assert_string_equal(json_string_value(json_object_get(c->jurisdiction, "id")), "demo.gridgov.cn");
    assert_non_null(strstr(json_string_value(json_object_get(c->jurisdiction, "contact")), "0731-84011234"));
    assert_true(json_is_string(json_object_get(c->jurisdiction, "key_service")));
    /* the changeset instant, written in the county's zone (as every time the API answers with)
     * with whole seconds */
    const char *cs = json_string_value(json_object_get(c->jurisdiction, "changeset"));
    assert_non_null(cs);
    assert_int_equal(strlen(cs), 25);
    assert_string_equal(cs + 19, "+08:00");
    int64_t us = 0;
    assert_true(timefmt_parse(cs, &us));
    assert_int_equal(us / 1000000, h_sql_int(g_pg, "SELECT floor(extract(epoch FROM changeset))::bigint "
                                                   "FROM registry.jurisdiction WHERE id = 'demo.gridgov.cn'",
                                             0, NULL));
    catalog_release();
}

static void extent_brackets_the_demo_county(void **state)
{
    (void)state;
    load();
    const catalog_t *c = catalog_acquire();
    assert_float_equal(c->min_lat, 28.12, 1e-6);
    assert_float_equal(c->max_lat, 28.38, 1e-6);
    assert_float_equal(c->min_long, 113.02, 1e-6);
    assert_float_equal(c->max_long, 113.28, 1e-6);
    assert_true(c->min_lat < c->max_lat && c->min_long < c->max_long);
    catalog_release();
}

/* Keys are not cached: every lookup asks PostgreSQL, so one issued a moment ago works at once,
 * snapshot or none; without a database nothing is found. */
static void key_created_after_load_is_found_in_the_database(void **state)
{
    (void)state;
    load();
    char key[96];
    unique_key(key, sizeof key, "late");
    long long id = add_key("late", key, true);
    assert_true(id > 0);
    assert_int_equal(catalog_api_client(g_db, key), id);
    assert_int_equal(catalog_api_client(NULL, key), 0);
    catalog_free();
    assert_int_equal(catalog_api_client(g_db, key), id);
}

static void key_with_chinese_characters_hashes_as_utf8(void **state)
{
    (void)state;
    load();
    char key[128];
    snprintf(key, sizeof key, "钥匙-%d-%ld", (int)getpid(), random());
    long long id = add_key("utf8", key, true);
    assert_int_equal(catalog_api_client(g_db, key), id);
}

static void unknown_key_gives_zero(void **state)
{
    (void)state;
    load();
    char key[96];
    unique_key(key, sizeof key, "unknown");
    assert_int_equal(catalog_api_client(g_db, key), 0);
    assert_int_equal(catalog_api_client(NULL, key), 0);
}

static void empty_null_and_overlong_keys_give_zero(void **state)
{
    (void)state;
    load();
    assert_int_equal(catalog_api_client(g_db, NULL), 0);
    assert_int_equal(catalog_api_client(g_db, ""), 0);
    char big[300];
    memset(big, 'k', sizeof big - 1);
    big[sizeof big - 1] = '\0';
    assert_int_equal(catalog_api_client(g_db, big), 0);
}

static void inactive_key_gives_zero(void **state)
{
    (void)state;
    char key[96];
    unique_key(key, sizeof key, "inactive");
    add_key("inactive", key, false);
    assert_int_equal(catalog_api_client(g_db, key), 0);
}

/* A deactivated key is refused on the very next lookup, with no catalogue reload between. */
static void deactivated_key_stops_working_at_once(void **state)
{
    (void)state;
    char key[96], name[96];
    unique_key(key, sizeof key, "revoked");
    long long id = add_key("revoked", key, true);
    load();
    assert_int_equal(catalog_api_client(g_db, key), id);
    snprintf(name, sizeof name, "%srevoked", g_prefix);
    const char *p[] = {name};
    h_sql_int(g_pg, "WITH u AS (UPDATE registry.api_client SET active = false WHERE name = $1 RETURNING 1) "
                    "SELECT count(*) FROM u",
              1, p);
    assert_int_equal(catalog_api_client(g_db, key), 0);
}

/* When the database cannot answer, the lookup says so (-1: the caller answers 503, not 401). */
static void database_failure_gives_minus_one(void **state)
{
    (void)state;
    char key[96], err[256];
    unique_key(key, sizeof key, "dbfail");
    add_key("dbfail", key, true);
    assert_true(db_run(g_db, "BEGIN", 0, NULL, err, sizeof err));
    assert_false(db_run(g_db, "SELECT 1 / 0", 0, NULL, err, sizeof err)); /* the transaction is aborted */
    assert_int_equal(catalog_api_client(g_db, key), -1);
    assert_true(db_run(g_db, "ROLLBACK", 0, NULL, err, sizeof err));
    assert_true(catalog_api_client(g_db, key) > 0);
}

static void failed_load_keeps_the_previous_snapshot(void **state)
{
    (void)state;
    load();
    const catalog_t *before = catalog_acquire();
    catalog_release();
    /* inside a transaction on the catalog's own connection the jurisdiction is gone */
    char err[512] = "";
    assert_true(db_run(g_db, "BEGIN", 0, NULL, err, sizeof err));
    assert_true(db_run(g_db, "DELETE FROM registry.jurisdiction", 0, NULL, err, sizeof err));
    err[0] = '\0';
    bool ok = catalog_load(g_db, err, sizeof err);
    assert_true(db_run(g_db, "ROLLBACK", 0, NULL, err + 256, sizeof err - 256));
    assert_false(ok);
    assert_string_equal(err, "registry.jurisdiction is empty: load the demo county or configure one");
    const catalog_t *after = catalog_acquire();
    assert_ptr_equal(after, before);
    assert_string_equal(json_string_value(json_object_get(after->jurisdiction, "id")), "demo.gridgov.cn");
    catalog_release();
    load(); /* and the jurisdiction is back */
}

static void reload_replaces_snapshot_and_sees_new_services(void **state)
{
    (void)state;
    load();
    const catalog_t *c = catalog_acquire();
    size_t n = json_array_size(c->services);
    catalog_release();
    char err[512] = "";
    assert_true(db_run(g_db, "BEGIN", 0, NULL, err, sizeof err));
    assert_true(db_run(g_db,
                       "INSERT INTO registry.service (code, name, grp, sort) "
                       "VALUES ('UNITTEST', '单元测试', '测试', -1000000)",
                       0, NULL, err, sizeof err));
    bool ok = catalog_load(g_db, err, sizeof err);
    char e2[256];
    assert_true(db_run(g_db, "ROLLBACK", 0, NULL, e2, sizeof e2));
    if (!ok)
        fail_msg("catalog_load: %s", err);
    c = catalog_acquire();
    assert_int_equal(json_array_size(c->services), n + 1);
    const json_t *s = find_service(c->services, "UNITTEST");
    assert_non_null(s);
    assert_true(json_is_false(json_object_get(s, "metadata")));
    assert_ptr_equal(json_array_get(c->services, 0), s); /* the lowest sort comes first */
    assert_int_equal(json_array_size(json_object_get(json_object_get(c->definitions, "UNITTEST"), "attributes")), 0);
    catalog_release();
    load();
    c = catalog_acquire();
    assert_int_equal(json_array_size(c->services), n);
    assert_null(find_service(c->services, "UNITTEST"));
    catalog_release();
}

int main(void)
{
    srandom((unsigned)getpid());
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(load_succeeds_and_publishes_a_snapshot),
        cmocka_unit_test(services_list_has_light_with_metadata),
        cmocka_unit_test(light_definition_orders_attributes_and_lists_values),
        cmocka_unit_test(every_definition_orders_attributes_and_keys_values_by_datatype),
        cmocka_unit_test(jurisdiction_is_the_demo_county),
        cmocka_unit_test(extent_brackets_the_demo_county),
        cmocka_unit_test(key_created_after_load_is_found_in_the_database),
        cmocka_unit_test(key_with_chinese_characters_hashes_as_utf8),
        cmocka_unit_test(unknown_key_gives_zero),
        cmocka_unit_test(empty_null_and_overlong_keys_give_zero),
        cmocka_unit_test(inactive_key_gives_zero),
        cmocka_unit_test(deactivated_key_stops_working_at_once),
        cmocka_unit_test(database_failure_gives_minus_one),
        cmocka_unit_test(failed_load_keeps_the_previous_snapshot),
        cmocka_unit_test(reload_replaces_snapshot_and_sees_new_services),
    };
    return cmocka_run_group_tests(tests, group_setup, group_teardown);
}
