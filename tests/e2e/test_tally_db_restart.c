/* tally when its database goes away: on a cluster of this test's own, PostgreSQL is stopped while
 * voters cast; every cast is answered 503 (nothing stored, the daemon keeps serving, its log stays
 * small), and once the database is back the same casts, retried under their ids, are stored once.
 * A tally started while the database is down waits for it, then serves. */
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
#include "tally_fx.h"
#include "uuid.h"

static char g_pgdir[1100], g_app[1400], g_owner[1400];

static void sh(const char *cmd, char *out, size_t n)
{
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    size_t got = out ? fread(out, 1, n - 1, p) : 0;
    if (out) {
        out[got] = '\0';
        out[strcspn(out, "\n")] = '\0';
    }
    assert_int_equal(pclose(p), 0);
}

static void pg(const char *what)
{
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "%s/deploy/pg.sh %s %s >/dev/null 2>&1", h_env("GRIDGOV_TOP"), what, g_pgdir);
    assert_int_equal(system(cmd), 0);
}

static int lines_of(const char *path)
{
    FILE *f = fopen(path, "r");
    int n = 0;
    for (int c; f && (c = fgetc(f)) != EOF;)
        n += c == '\n';
    if (f)
        fclose(f);
    return n;
}

static int setup(void **state)
{
    (void)state;
    static char cmd[6000];
    snprintf(g_pgdir, sizeof g_pgdir, "%s/tallyrestart/pg", h_env("GRIDGOV_TEST_VAR"));
    snprintf(cmd, sizeof cmd, "mkdir -p %s/tallyrestart && %s/deploy/pg.sh start %s", h_env("GRIDGOV_TEST_VAR"),
             h_env("GRIDGOV_TOP"), g_pgdir);
    sh(cmd, g_app, sizeof g_app);
    snprintf(cmd, sizeof cmd, "%s/deploy/pg.sh owner-url %s", h_env("GRIDGOV_TOP"), g_pgdir);
    sh(cmd, g_owner, sizeof g_owner);
    snprintf(cmd, sizeof cmd,
             "GRIDGOV_DB='%s' %s/gridgovctl --set log_level=warn migrate %s/deploy/migrations >/dev/null && "
             "GRIDGOV_DB='%s' %s/gridgovctl --set log_level=warn seed-demo %s/deploy/seed/demo_county.sql %s/tallyrestart/api-key"
             " >/dev/null",
             g_owner, h_env("GRIDGOV_BIN"), h_env("GRIDGOV_TOP"), g_owner, h_env("GRIDGOV_BIN"), h_env("GRIDGOV_TOP"),
             h_env("GRIDGOV_TEST_VAR"));
    sh(cmd, NULL, 0);
    return 0;
}

static int teardown(void **state)
{
    (void)state;
    char cmd[1300];
    snprintf(cmd, sizeof cmd, "%s/deploy/pg.sh stop %s >/dev/null 2>&1", h_env("GRIDGOV_TOP"), g_pgdir);
    return system(cmd) == 0 ? 0 : -1;
}

#define VOTERS 20

static void casts_while_the_database_is_away_store_nothing_and_are_taken_after(void **state)
{
    (void)state;
    int port = h_port(350);
    char e_db[1500];
    snprintf(e_db, sizeof e_db, "GRIDGOV_DB=%s", g_app);
    const char *env[] = {e_db, "GRIDGOV_LOG_LEVEL=info", NULL};
    const char *rules = tfx_rules_dir();
    pid_t tally = h_start_tally(port, rules, env);
    char log[1100];
    snprintf(log, sizeof log, "%s/tally-%d.log", h_env("GRIDGOV_TEST_VAR"), port);
    bus_t *bus = h_bus_as("intake", true);
    cmdclient_t *cl = tfx_client(bus, port);
    PGconn *db = PQconnectdb(g_app);
    assert_int_equal(PQstatus(db), CONNECTION_OK);
    tfx_group_t g;
    tfx_group(db, VOTERS, 1, &g);
    PQfinish(db);
    char motion[32];
    snprintf(motion, sizeof motion, "%s", tfx_create(cl, &g, "resolution", "adult", NULL, NULL));
    json_decref(tfx_open(cl, &g, motion));
    json_t *slips = tfx_slips(cl, &g, motion);
    char ids[VOTERS][UUID_STR_LEN];
    for (int i = 0; i < VOTERS; i++)
        uuid_v4(ids[i]);
#define CAST(i)                                                                                                     \
    tfx_call(cl, json_pack("{s:s,s:s,s:s,s:s,s:[i]}", "id", ids[i], "action", "cast", "motion", motion, "credential", \
                           json_string_value(json_object_get(json_array_get(slips, (size_t)(i)), "credential")), "marks", \
                           (i) % 3))
    for (int i = 0; i < 5; i++) {
        json_t *r = CAST(i);
        assert_int_equal(tfx_status(r), 201);
        json_decref(r);
    }

    pg("stop");
    int before = lines_of(log);
    for (int i = 5; i < 10; i++) {
        json_t *r = CAST(i);
        assert_int_equal(tfx_status(r), 503);
        assert_string_equal(tfx_error(r), "unavailable");
        json_decref(r);
    }
    json_t *r = tfx_call(cl, json_pack("{s:s,s:I,s:s}", "action", "close", "staff_id", (json_int_t)g.leader, "motion", motion));
    assert_int_equal(tfx_status(r), 503);
    json_decref(r);
    assert_int_equal(waitpid(tally, NULL, WNOHANG), 0); /* still serving */
    assert_true(lines_of(log) - before < 50);

    pg("start");
    /* the same casts again, under their ids, and the rest: each stored once */
    for (int i = 5; i < VOTERS; i++) {
        for (int k = 0; k < 100; k++) {
            r = CAST(i);
            if (tfx_status(r) != 503)
                break;
            json_decref(r);
            usleep(100 * 1000);
        }
        assert_int_equal(tfx_status(r), 201);
        json_decref(r);
    }
    db = PQconnectdb(g_app);
    const char *pm[] = {motion};
    assert_int_equal(h_sql_int(db, "SELECT count(*) FROM tally.ballot_rows WHERE motion = $1", 1, pm), VOTERS);
    assert_int_equal(h_sql_int(db, "SELECT count(*) FROM tally.roll_public WHERE motion = $1 AND voted", 1, pm), VOTERS);
    PQfinish(db);
    cmdclient_destroy(&cl);
    assert_int_equal(h_stop(tally, SIGTERM), 0);

    /* started while the database is down: it waits, then serves */
    pg("stop");
    char cmd[1400];
    snprintf(cmd, sizeof cmd, "(sleep 2; %s/deploy/pg.sh start %s) >/dev/null 2>&1 &", h_env("GRIDGOV_TOP"), g_pgdir);
    assert_int_equal(system(cmd), 0);
    tally = h_start_tally(port, rules, env); /* answers only once it is connected */
    cl = tfx_client(bus, port);
    /* tally binds its socket only once connected: PostgreSQL's start (2 s from now, then however
     * long the cluster takes on a loaded sanitizer run) and tally's reconnect backoff come first,
     * so this one call waits up to a minute, not tfx_call's 20 s */
    char id[UUID_STR_LEN], err[512];
    uuid_v4(id);
    json_t *close_cmd = json_pack("{s:s,s:s,s:I,s:s}", "id", id, "action", "close", "staff_id", (json_int_t)g.leader,
                                  "motion", motion);
    r = cmdclient_call(cl, close_cmd, 10000, 6, err, sizeof err);
    json_decref(close_cmd);
    if (!r)
        fail_msg("tally started before its database never answered: %s", err);
    assert_int_equal(tfx_status(r), 200);
    json_decref(r);
    cmdclient_destroy(&cl);
    json_decref(slips);
    assert_int_equal(h_stop(tally, SIGTERM), 0);
    bus_destroy(&bus);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(casts_while_the_database_is_away_store_nothing_and_are_taken_after),
    };
    return cmocka_run_group_tests(tests, setup, teardown);
}
