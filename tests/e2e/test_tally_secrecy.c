/* Secrecy by construction (deploy/migrations/025_tally.sql): the schema itself holds nothing that
 * links a ballot to its voter. Read from the catalog: tally.ballot has no column that names or
 * references a voter, resident, household, credential or staff member, no foreign key but its
 * motion, no time of any kind, no serial, identity or sequence default; tally.roll (who voted) has
 * no time either. And by behaviour: ballots cast one after another get ids and trackers in no
 * order of their casting, and a `ballots` chain event lists its batch sorted by tracker. */
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

#include "harness.h"
#include "tally_fx.h"

static PGconn *g_db;

static long long q(const char *sql) { return h_sql_int(g_db, sql, 0, NULL); }

static void ballot_columns_name_no_voter_and_no_time(void **state)
{
    (void)state;
    g_db = h_db();
    /* the columns are exactly these: a new one must be judged here first */
    char *cols = h_sql_text(g_db,
                            "SELECT string_agg(attname, ',' ORDER BY attname) FROM pg_attribute"
                            " WHERE attrelid = 'tally.ballot'::regclass AND attnum > 0 AND NOT attisdropped", 0, NULL);
    assert_string_equal(cols, "cast_key,id,marks,motion_id,tracker,write_ins");
    free(cols);
    assert_int_equal(q("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'tally' AND table_name = 'ballot'"
                       " AND (column_name ~ '(voter|resident|household|person|staff|cred|phone|name|user|who|by)'"
                       "      OR column_name ~ '(time|date|_at$|seq|serial|order|no$)')"),
                     0);
    /* no time of any type, in the ballot or in the roll (when someone voted would link the two) */
    assert_int_equal(q("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'tally'"
                       " AND table_name IN ('ballot', 'roll')"
                       " AND (data_type ~ '(time|date|interval)' OR udt_name ~ '(time|date|interval)')"),
                     0);
    /* no foreign key from a ballot but to its motion */
    assert_int_equal(q("SELECT count(*) FROM pg_constraint WHERE conrelid = 'tally.ballot'::regclass AND contype = 'f'"
                       " AND confrelid <> 'tally.motion'::regclass"),
                     0);
    assert_int_equal(q("SELECT count(*) FROM pg_constraint WHERE conrelid = 'tally.ballot'::regclass AND contype = 'f'"), 1);
    /* no identity, no generated column, no sequence or clock behind any default */
    assert_int_equal(q("SELECT count(*) FROM pg_attribute WHERE attrelid = 'tally.ballot'::regclass AND attnum > 0"
                       " AND (attidentity <> '' OR attgenerated <> '')"),
                     0);
    assert_int_equal(q("SELECT count(*) FROM pg_attrdef d WHERE d.adrelid = 'tally.ballot'::regclass"
                       " AND pg_get_expr(d.adbin, d.adrelid) ~* '(nextval|now|clock|current_|random|gen_random|timeofday)'"),
                     0);
    assert_int_equal(q("SELECT count(*) FROM pg_depend WHERE refobjid = 'tally.ballot'::regclass AND classid = 'pg_class'::regclass"
                       " AND objid IN (SELECT oid FROM pg_class WHERE relkind = 'S')"),
                     0);
    /* the views published to others show no more than the ballot's own columns */
    assert_int_equal(q("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'tally'"
                       " AND table_name IN ('ballot_rows', 'tracker_public')"
                       " AND column_name NOT IN ('motion', 'id', 'tracker', 'marks', 'write_ins', 'state')"),
                     0);
    PQfinish(g_db);
}

/* Inversions of a sequence against its sorted order: n(n-1)/4 on average for a random one. */
static long inversions(char **v, int n)
{
    long inv = 0;
    for (int i = 0; i < n; i++)
        for (int j = i + 1; j < n; j++)
            inv += strcmp(v[i], v[j]) > 0;
    return inv;
}

#define CASTS 40

static void ids_and_trackers_come_in_no_order_of_casting(void **state)
{
    (void)state;
    g_db = h_db();
    bus_t *bus = h_bus_as("intake", true);
    pid_t tally = h_start_tally(h_port(330), tfx_rules_dir(), NULL);
    cmdclient_t *cl = tfx_client(bus, h_port(330));
    tfx_group_t g;
    tfx_group(g_db, CASTS, 1, &g);
    char motion[32];
    snprintf(motion, sizeof motion, "%s", tfx_create(cl, &g, "resolution", "adult", NULL, NULL));
    json_t *r = tfx_open(cl, &g, motion);
    json_decref(r);
    json_t *slips = tfx_slips(cl, &g, motion);
    char *trackers[CASTS], *ids[CASTS];
    for (int i = 0; i < CASTS; i++) {
        r = tfx_cast(cl, motion, json_string_value(json_object_get(json_array_get(slips, (size_t)i), "credential")),
                     json_pack("[i]", i % 3));
        assert_int_equal(tfx_status(r), 201);
        trackers[i] = strdup(json_string_value(json_object_get(tfx_body(r), "tracker")));
        json_decref(r);
        const char *p[] = {motion, trackers[i]};
        ids[i] = h_sql_text(g_db, "SELECT id::text FROM tally.ballot_rows WHERE motion = $1 AND tracker = $2", 2, p);
    }
    long pairs = CASTS * (CASTS - 1) / 2, ti = inversions(trackers, CASTS), ii = inversions(ids, CASTS);
    /* a random order has about half the pairs inverted (σ ≈ 43 of 780 here); insertion order none */
    assert_true(ti > pairs / 4 && ti < 3 * pairs / 4);
    assert_true(ii > pairs / 4 && ii < 3 * pairs / 4);
    /* every ballots event lists its batch sorted by tracker */
    const char *pm[] = {motion};
    PGresult *ev = PQexecParams(g_db, "SELECT payload FROM tally.chain_rows WHERE motion = $1 AND type = 'ballots'", 1, NULL,
                                pm, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(ev), PGRES_TUPLES_OK);
    assert_true(PQntuples(ev) >= 1);
    for (int i = 0; i < PQntuples(ev); i++) {
        json_error_t je;
        json_t *p = json_loads(PQgetvalue(ev, i, 0), 0, &je);
        json_t *b = json_object_get(p, "ballots");
        for (size_t k = 1; k < json_array_size(b); k++)
            assert_true(strcmp(json_string_value(json_array_get(json_array_get(b, k - 1), 1)),
                               json_string_value(json_array_get(json_array_get(b, k), 1))) < 0);
        json_decref(p);
    }
    PQclear(ev);
    /* and the daemons' role cannot rewrite a ballot: append-only */
    PGresult *up = PQexecParams(g_db, "UPDATE tally.ballot b SET marks = marks FROM tally.motion m"
                                      " WHERE m.id = b.motion_id AND m.code = $1", 1, NULL, pm, NULL, NULL, 0);
    assert_int_not_equal(PQresultStatus(up), PGRES_COMMAND_OK);
    PQclear(up);
    for (int i = 0; i < CASTS; i++) {
        free(trackers[i]);
        free(ids[i]);
    }
    json_decref(slips);
    cmdclient_destroy(&cl);
    bus_destroy(&bus);
    int st = h_stop(tally, SIGTERM);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    PQfinish(g_db);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(ballot_columns_name_no_voter_and_no_time),
        cmocka_unit_test(ids_and_trackers_come_in_no_order_of_casting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
