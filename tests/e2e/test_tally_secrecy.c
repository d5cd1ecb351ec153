/* Secrecy by construction (deploy/migrations/025_tally.sql): the schema itself holds nothing that
 * links a ballot to its voter or to its voter's receipt. Read from the catalog: tally.ballot has
 * no column that names or references a voter, resident, household, credential, staff member or
 * receipt (no tracker, no cast_key), no foreign key but its motion, no time of any kind, no
 * serial, identity or sequence default; it shares no column but motion_id with tally.receipt (the
 * trackers) or tally.roll (who voted); tally.receipt and tally.roll hold no time either, and no
 * view shows a tracker beside a ballot. And by behaviour: ballots cast one after another get ids
 * and trackers in no order of their casting; a `ballots` chain event lists [id, hash] sorted by
 * id with the number of receipts and no tracker; the trackers are chained once, at close, in one
 * sorted list that names no ballot: no event payload names a tracker beside a ballot. */
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

static char *text(const char *sql) { return h_sql_text(g_db, sql, 0, NULL); }

static void ballot_columns_name_no_voter_no_receipt_and_no_time(void **state)
{
    (void)state;
    g_db = h_db();
    /* the columns are exactly these: a new one must be judged here first */
    static const char COLS[] = "SELECT string_agg(attname, ',' ORDER BY attname) FROM pg_attribute"
                               " WHERE attrelid = '%s'::regclass AND attnum > 0 AND NOT attisdropped";
    char sql[512];
    snprintf(sql, sizeof sql, COLS, "tally.ballot");
    char *cols = text(sql);
    assert_string_equal(cols, "id,marks,motion_id,write_ins");
    free(cols);
    snprintf(sql, sizeof sql, COLS, "tally.receipt");
    cols = text(sql);
    assert_string_equal(cols, "cast_key,motion_id,tracker");
    free(cols);
    assert_int_equal(q("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'tally' AND table_name = 'ballot'"
                       " AND (column_name ~ '(voter|resident|household|person|staff|cred|phone|name|user|who|by)'"
                       "      OR column_name ~ '(time|date|_at$|seq|serial|order|no$|tracker|receipt|key)')"),
                     0);
    /* nothing in common but the motion: not with the receipts, not with who voted */
    assert_int_equal(q("SELECT count(*) FROM pg_attribute b JOIN pg_attribute o ON o.attname = b.attname"
                       " WHERE b.attrelid = 'tally.ballot'::regclass AND o.attrelid IN ('tally.receipt'::regclass, 'tally.roll'::regclass)"
                       " AND b.attnum > 0 AND o.attnum > 0 AND NOT b.attisdropped AND NOT o.attisdropped AND b.attname <> 'motion_id'"),
                     0);
    assert_int_equal(q("SELECT count(*) FROM pg_attribute b JOIN pg_attribute o ON o.attname = b.attname"
                       " WHERE b.attrelid = 'tally.ballot'::regclass AND o.attrelid IN ('tally.receipt'::regclass, 'tally.roll'::regclass)"
                       " AND b.attnum > 0 AND o.attnum > 0 AND b.attname = 'motion_id'"),
                     2);
    /* no time of any type, in the ballot, the receipts or the roll (when someone voted would link them) */
    assert_int_equal(q("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'tally'"
                       " AND table_name IN ('ballot', 'receipt', 'roll')"
                       " AND (data_type ~ '(time|date|interval)' OR udt_name ~ '(time|date|interval)')"),
                     0);
    /* no foreign key from a ballot or a receipt but to its motion, and none between them */
    assert_int_equal(q("SELECT count(*) FROM pg_constraint WHERE conrelid IN ('tally.ballot'::regclass, 'tally.receipt'::regclass)"
                       " AND contype = 'f' AND confrelid <> 'tally.motion'::regclass"),
                     0);
    assert_int_equal(q("SELECT count(*) FROM pg_constraint WHERE conrelid = 'tally.ballot'::regclass AND contype = 'f'"), 1);
    assert_int_equal(q("SELECT count(*) FROM pg_constraint WHERE conrelid = 'tally.receipt'::regclass AND contype = 'f'"), 1);
    /* no identity, no generated column, no sequence or clock behind any default */
    assert_int_equal(q("SELECT count(*) FROM pg_attribute WHERE attrelid IN ('tally.ballot'::regclass, 'tally.receipt'::regclass)"
                       " AND attnum > 0 AND (attidentity <> '' OR attgenerated <> '')"),
                     0);
    assert_int_equal(q("SELECT count(*) FROM pg_attrdef d WHERE d.adrelid IN ('tally.ballot'::regclass, 'tally.receipt'::regclass)"
                       " AND pg_get_expr(d.adbin, d.adrelid) ~* '(nextval|now|clock|current_|random|gen_random|timeofday)'"),
                     0);
    assert_int_equal(q("SELECT count(*) FROM pg_depend WHERE refobjid IN ('tally.ballot'::regclass, 'tally.receipt'::regclass)"
                       " AND classid = 'pg_class'::regclass AND objid IN (SELECT oid FROM pg_class WHERE relkind = 'S')"),
                     0);
    /* the views published to others show no more than their table's own columns, and no view in
     * the schema puts a tracker beside a ballot's id or marks */
    assert_int_equal(q("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'tally'"
                       " AND table_name = 'ballot_rows' AND column_name NOT IN ('motion', 'id', 'marks', 'write_ins')"),
                     0);
    assert_int_equal(q("SELECT count(*) FROM information_schema.columns WHERE table_schema = 'tally'"
                       " AND table_name IN ('tracker_public', 'receipt_rows') AND column_name NOT IN ('motion', 'tracker', 'state')"),
                     0);
    assert_int_equal(q("SELECT count(*) FROM information_schema.views v WHERE v.table_schema = 'tally'"
                       " AND EXISTS (SELECT 1 FROM information_schema.columns c WHERE c.table_schema = 'tally'"
                       "             AND c.table_name = v.table_name AND c.column_name = 'tracker')"
                       " AND EXISTS (SELECT 1 FROM information_schema.view_column_usage u WHERE u.view_schema = 'tally'"
                       "             AND u.view_name = v.table_name AND u.table_name = 'ballot')"),
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

/* True when the payload has any of the texts (trackers, ballot ids) in it. */
static bool names_a_tracker(const char *payload, char *const *trackers, int n)
{
    for (int i = 0; i < n; i++)
        if (strstr(payload, trackers[i]))
            return true;
    return false;
}

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
    }
    /* one cast at a time, each answered before the next: each ballots event is one cast, so the
     * events in height order give the ballot ids in the order of casting */
    const char *pm[] = {motion};
    PGresult *ev = PQexecParams(g_db, "SELECT type, payload FROM tally.chain_rows WHERE motion = $1 ORDER BY height", 1,
                                NULL, pm, NULL, NULL, 0);
    assert_int_equal(PQresultStatus(ev), PGRES_TUPLES_OK);
    int n_ids = 0;
    for (int i = 0; i < PQntuples(ev); i++) {
        if (strcmp(PQgetvalue(ev, i, 0), "ballots"))
            continue;
        json_error_t je;
        json_t *p = json_loads(PQgetvalue(ev, i, 1), 0, &je);
        json_t *b = json_object_get(p, "ballots");
        /* [id, hash] sorted by id, the number of receipts, and nothing else: no tracker */
        assert_int_equal(json_object_size(p), 2);
        assert_int_equal(json_integer_value(json_object_get(p, "receipts")), (json_int_t)json_array_size(b));
        for (size_t k = 0; k < json_array_size(b); k++) {
            json_t *e = json_array_get(b, k);
            assert_int_equal(json_array_size(e), 2);
            assert_int_equal(strlen(json_string_value(json_array_get(e, 1))), 64);
            if (k)
                assert_true(strcmp(json_string_value(json_array_get(json_array_get(b, k - 1), 0)),
                                   json_string_value(json_array_get(e, 0))) < 0);
            assert_true(n_ids < CASTS);
            ids[n_ids++] = strdup(json_string_value(json_array_get(e, 0)));
        }
        assert_false(names_a_tracker(PQgetvalue(ev, i, 1), trackers, CASTS));
        json_decref(p);
    }
    PQclear(ev);
    assert_int_equal(n_ids, CASTS);
    long pairs = CASTS * (CASTS - 1) / 2, ti = inversions(trackers, CASTS), ii = inversions(ids, CASTS);
    /* a random order has about half the pairs inverted (σ ≈ 43 of 780 here); insertion order none */
    assert_true(ti > pairs / 4 && ti < 3 * pairs / 4);
    assert_true(ii > pairs / 4 && ii < 3 * pairs / 4);
    /* every tracker answered is a stored receipt, and no stored receipt is a ballot's */
    assert_int_equal(h_sql_int(g_db, "SELECT count(*) FROM tally.tracker_public WHERE motion = $1", 1, pm), CASTS);

    /* closed: the trackers are chained once, right before closed, as one sorted list of exactly
     * the receipts; no payload names a tracker beside a ballot id */
    r = tfx_call(cl, json_pack("{s:s,s:I,s:s}", "action", "close", "staff_id", (json_int_t)g.leader, "motion", motion));
    assert_int_equal(tfx_status(r), 200);
    json_decref(r);
    ev = PQexecParams(g_db, "SELECT type, payload FROM tally.chain_rows WHERE motion = $1 ORDER BY height", 1, NULL, pm,
                      NULL, NULL, 0);
    int n = PQntuples(ev), tracker_events = 0;
    assert_true(n >= 3);
    assert_string_equal(PQgetvalue(ev, n - 3, 0), "trackers");
    assert_string_equal(PQgetvalue(ev, n - 2, 0), "closed");
    assert_string_equal(PQgetvalue(ev, n - 1, 0), "result");
    for (int i = 0; i < n; i++) {
        const char *payload = PQgetvalue(ev, i, 1);
        bool has_tracker = names_a_tracker(payload, trackers, CASTS), has_id = names_a_tracker(payload, ids, CASTS);
        assert_false(has_tracker && has_id);
        tracker_events += has_tracker;
    }
    assert_int_equal(tracker_events, 1);
    json_t *tp = json_loads(PQgetvalue(ev, n - 3, 1), 0, NULL), *tl = json_object_get(tp, "trackers");
    assert_int_equal(json_object_size(tp), 1);
    assert_int_equal(json_array_size(tl), CASTS);
    for (size_t k = 1; k < json_array_size(tl); k++)
        assert_true(strcmp(json_string_value(json_array_get(tl, k - 1)), json_string_value(json_array_get(tl, k))) < 0);
    for (int i = 0; i < CASTS; i++) {
        bool found = false;
        for (size_t k = 0; k < json_array_size(tl) && !found; k++)
            found = !strcmp(json_string_value(json_array_get(tl, k)), trackers[i]);
        assert_true(found);
    }
    json_decref(tp);
    PQclear(ev);
    /* and the daemons' role cannot rewrite a ballot or rewrite or remove a receipt: append-only */
    static const char *const REFUSED[] = {
        "UPDATE tally.ballot b SET marks = marks FROM tally.motion m WHERE m.id = b.motion_id AND m.code = $1",
        "UPDATE tally.receipt r SET tracker = tracker FROM tally.motion m WHERE m.id = r.motion_id AND m.code = $1",
        "DELETE FROM tally.receipt r USING tally.motion m WHERE m.id = r.motion_id AND m.code = $1"};
    for (size_t k = 0; k < sizeof REFUSED / sizeof REFUSED[0]; k++) {
        PGresult *up = PQexecParams(g_db, REFUSED[k], 1, NULL, pm, NULL, NULL, 0);
        assert_int_equal(PQresultStatus(up), PGRES_FATAL_ERROR);
        PQclear(up);
    }
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
        cmocka_unit_test(ballot_columns_name_no_voter_no_receipt_and_no_time),
        cmocka_unit_test(ids_and_trackers_come_in_no_order_of_casting),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
