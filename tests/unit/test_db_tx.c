/* db_tx: transaction boundaries that report what the server really did. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "db_tx.h"
#include "harness.h"

static int setup(void **state)
{
    char err[512] = "";
    /* as the owner: the probes are temporary tables, which the daemons' role may not create */
    db_t *db = db_connect(h_owner_conninfo(), "unit-test-db-tx", err, sizeof err);
    if (!db)
        fail_msg("db_connect: %s", err);
    PGconn *c = db_conn(db, err, sizeof err);
    PQclear(PQexec(c, "CREATE TEMP TABLE tx_probe (v int PRIMARY KEY)"));
    *state = db;
    return 0;
}

static int teardown(void **state)
{
    db_t *db = *state;
    db_destroy(&db);
    return 0;
}

static PGconn *conn(void **state)
{
    char err[256];
    PGconn *c = db_conn(*state, err, sizeof err);
    assert_non_null(c);
    return c;
}

static long count(PGconn *c)
{
    PGresult *r = PQexec(c, "SELECT count(*) FROM tx_probe");
    assert_int_equal(PQresultStatus(r), PGRES_TUPLES_OK);
    long n = atol(PQgetvalue(r, 0, 0));
    PQclear(r);
    return n;
}

static void insert(PGconn *c, const char *v, bool expect_ok)
{
    char err[256];
    const char *p[] = {v};
    PGresult *r = db_pq_exec(c, "INSERT INTO tx_probe VALUES ($1::int)", 1, p, err, sizeof err, NULL);
    assert_true((r != NULL) == expect_ok);
    PQclear(r);
}

static void begin_commit_keeps_the_work(void **state)
{
    PGconn *c = conn(state);
    char err[256] = "";
    assert_true(db_begin(c, err, sizeof err));
    assert_int_equal(PQtransactionStatus(c), PQTRANS_INTRANS);
    insert(c, "1", true);
    assert_true(db_commit(c, err, sizeof err));
    assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);
    assert_int_equal(count(c), 1);
}

static void rollback_drops_the_work(void **state)
{
    PGconn *c = conn(state);
    char err[256];
    assert_true(db_begin(c, err, sizeof err));
    insert(c, "2", true);
    db_rollback(c);
    assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);
    assert_int_equal(count(c), 0);
}

/* The trap the helper exists for: after a failed statement the server answers COMMIT with a
 * success status and the tag ROLLBACK. */
static void commit_after_a_failed_statement_reports_failure(void **state)
{
    PGconn *c = conn(state);
    char err[256] = "";
    assert_true(db_begin(c, err, sizeof err));
    insert(c, "3", true);
    insert(c, "3", false); /* duplicate key: the transaction is now aborted */
    assert_false(db_commit(c, err, sizeof err));
    assert_non_null(strstr(err, "25P02"));
    assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);
    assert_int_equal(count(c), 0);
}

static void commit_failing_at_the_server_reports_failure(void **state)
{
    PGconn *c = conn(state);
    char err[256] = "";
    PQclear(PQexec(c, "CREATE TEMP TABLE tx_deferred (v int UNIQUE DEFERRABLE INITIALLY DEFERRED)"));
    assert_true(db_begin(c, err, sizeof err));
    PQclear(PQexec(c, "INSERT INTO tx_deferred VALUES (1), (1)"));
    assert_false(db_commit(c, err, sizeof err));
    assert_non_null(strstr(err, "23505"));
    db_rollback(c);
    assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);
}

static void begin_inside_a_transaction_is_refused(void **state)
{
    PGconn *c = conn(state);
    char err[256] = "";
    assert_true(db_begin(c, err, sizeof err));
    assert_false(db_begin(c, err, sizeof err));
    assert_non_null(strstr(err, "not idle"));
    db_rollback(c);
}

static void begin_mode_applies_the_mode(void **state)
{
    PGconn *c = conn(state);
    char err[256] = "";
    assert_true(db_begin_mode(c, "ISOLATION LEVEL REPEATABLE READ READ ONLY", err, sizeof err));
    PGresult *r = PQexec(c, "SELECT current_setting('transaction_isolation'), current_setting('transaction_read_only')");
    assert_string_equal(PQgetvalue(r, 0, 0), "repeatable read");
    assert_string_equal(PQgetvalue(r, 0, 1), "on");
    PQclear(r);
    assert_true(db_commit(c, err, sizeof err));
    assert_false(db_begin_mode(c, "NOT A MODE", err, sizeof err));
    assert_non_null(strstr(err, "42601"));
    assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);
}

static void rollback_on_idle_and_null_is_harmless(void **state)
{
    PGconn *c = conn(state);
    db_rollback(c);
    db_rollback(NULL);
    char err[64];
    assert_false(db_begin(NULL, err, sizeof err));
    assert_false(db_commit(NULL, err, sizeof err));
    assert_int_equal(PQtransactionStatus(c), PQTRANS_IDLE);
}

#define T(f) cmocka_unit_test_setup_teardown(f, setup, teardown)

int main(void)
{
    const struct CMUnitTest tests[] = {
        T(begin_commit_keeps_the_work),
        T(rollback_drops_the_work),
        T(commit_after_a_failed_statement_reports_failure),
        T(commit_failing_at_the_server_reports_failure),
        T(begin_inside_a_transaction_is_refused),
        T(begin_mode_applies_the_mode),
        T(rollback_on_idle_and_null_is_harmless),
    };
    return cmocka_run_group_tests(tests, NULL, NULL);
}
