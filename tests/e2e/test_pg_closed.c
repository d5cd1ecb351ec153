/* The private PostgreSQL cluster (deploy/pg.sh, as `make run` and tests/run.sh start it) is closed
 * to every other local user: no TCP listener, a Unix socket in a folder only the server's user
 * may enter, peer authentication mapped to the user who started it. The daemons' role is no
 * superuser and owns nothing; the schema belongs to an owner role that is no superuser either.
 * With GRIDGOV_PG_TCP=1 the cluster also listens on 127.0.0.1, for scram passwords kept in a 0600
 * file only. An attacker here is a local process of another user (`nobody`), or a daemon's
 * connection that tries more than rows. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <errno.h>
#include <grp.h>
#include <pwd.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "db.h"
#include "harness.h"

/* The cluster tests/run.sh started with deploy/pg.sh (GRIDGOV_TEST_PGDIR, by default
 * var/test-BUILD/pg); NULL when the runner was given a server of its own (GRIDGOV_TEST_DB),
 * whose rules are not ours to test. */
static const char *test_pgdir(void)
{
    static char dir[1100];
    const char *own = getenv("GRIDGOV_TEST_DB"), *d = getenv("GRIDGOV_TEST_PGDIR");
    if (own && *own)
        return NULL;
    if (d && *d)
        return d;
    /* GRIDGOV_BIN is TOP/BUILD/bin */
    char bin[1000];
    snprintf(bin, sizeof bin, "%s", h_env("GRIDGOV_BIN"));
    char *slash = strrchr(bin, '/');
    if (slash)
        *slash = '\0';
    slash = strrchr(bin, '/');
    snprintf(dir, sizeof dir, "%s/var/test-%s/pg", h_env("GRIDGOV_TOP"), slash ? slash + 1 : "build");
    return dir;
}

#define NEED_PRIVATE_CLUSTER()                                                                                        \
    do {                                                                                                              \
        if (!test_pgdir()) {                                                                                          \
            print_message("skipped: GRIDGOV_TEST_DB names a server of your own, not deploy/pg.sh's cluster\n");       \
            skip();                                                                                                   \
        }                                                                                                             \
    } while (0)

/* First line that deploy/pg.sh prints for ARGS (with optional environment assignments before). */
static void pg_sh(const char *env, const char *args, char *out, size_t n)
{
    char cmd[3000];
    snprintf(cmd, sizeof cmd, "%s %s/deploy/pg.sh %s", env ? env : "", h_env("GRIDGOV_TOP"), args);
    FILE *p = popen(cmd, "r");
    assert_non_null(p);
    out[0] = '\0';
    if (!fgets(out, (int)n, p))
        out[0] = '\0';
    out[strcspn(out, "\n")] = '\0';
    int st = pclose(p);
    if (!(WIFEXITED(st) && WEXITSTATUS(st) == 0))
        fail_msg("deploy/pg.sh %s failed", args);
}

static int cluster_port(const char *pgdir)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/port", pgdir);
    FILE *f = fopen(path, "r");
    assert_non_null(f);
    int port = 0;
    assert_int_equal(fscanf(f, "%d", &port), 1);
    fclose(f);
    return port;
}

static bool connects(const char *conninfo, char *msg, size_t n)
{
    PGconn *c = PQconnectdb(conninfo);
    bool ok = PQstatus(c) == CONNECTION_OK;
    snprintf(msg, n, "%s", PQerrorMessage(c));
    PQfinish(c);
    return ok;
}

/* Tries conninfo from a child process that runs as the local user `nobody`. Returns 0 when it got
 * in, 1 when it was refused (the reason in msg). Skips the test when not root: only root can be
 * another user. */
static int connect_as_nobody(const char *conninfo, char *msg, size_t n)
{
    if (geteuid() != 0) {
        print_message("skipped: acting as another local user needs root\n");
        skip();
    }
    struct passwd *pw = getpwnam("nobody");
    assert_non_null(pw);
    int fds[2];
    assert_int_equal(pipe(fds), 0);
    pid_t pid = fork();
    assert_true(pid >= 0);
    if (pid == 0) {
        close(fds[0]);
        if (setgroups(0, NULL) != 0 || setgid(pw->pw_gid) != 0 || setuid(pw->pw_uid) != 0 || geteuid() != pw->pw_uid)
            _exit(2);
        /* nothing of root's: no password file, no home */
        setenv("HOME", "/nonexistent", 1);
        unsetenv("PGPASSFILE");
        unsetenv("PGPASSWORD");
        PGconn *c = PQconnectdb(conninfo);
        int rc = PQstatus(c) == CONNECTION_OK ? 0 : 1;
        const char *m = PQerrorMessage(c);
        if (write(fds[1], m, strlen(m)) < 0)
            rc = 3;
        PQfinish(c);
        _exit(rc); /* not exit(): the harness's atexit would kill the parent's children */
    }
    close(fds[1]);
    ssize_t got = read(fds[0], msg, n - 1);
    msg[got > 0 ? got : 0] = '\0';
    close(fds[0]);
    int st = 0;
    assert_int_equal(waitpid(pid, &st, 0), pid);
    assert_true(WIFEXITED(st));
    int rc = WEXITSTATUS(st);
    if (rc != 0 && rc != 1)
        fail_msg("the child could not become nobody (%d)", rc);
    return rc;
}

/* No TCP socket at all: `nobody` cannot reach the server over the network stack. */
static void cluster_has_no_tcp_listener(void **state)
{
    (void)state;
    NEED_PRIVATE_CLUSTER();
    pid_t pm = h_postmaster_pid(test_pgdir());
    assert_true(pm > 0);
    assert_int_equal(h_tcp_listeners(pm), 0);
    /* whatever else may listen on that port, it does not let a superuser in without a password */
    char conninfo[200], msg[512];
    snprintf(conninfo, sizeof conninfo, "host=127.0.0.1 port=%d dbname=gridgov user=postgres connect_timeout=3",
             cluster_port(test_pgdir()));
    assert_false(connects(conninfo, msg, sizeof msg));
}

/* A process of another local user gets in neither through the socket, as any role, nor over TCP. */
static void another_local_user_is_refused(void **state)
{
    (void)state;
    NEED_PRIVATE_CLUSTER();
    const char *roles[] = {"postgres", "gridgov_owner", "gridgov_app"};
    char conninfo[1400], msg[1024];
    int port = cluster_port(test_pgdir());
    for (size_t i = 0; i < 3; i++) {
        snprintf(conninfo, sizeof conninfo, "host=%s port=%d dbname=gridgov user=%s connect_timeout=3", test_pgdir(),
                 port, roles[i]);
        assert_int_equal(connect_as_nobody(conninfo, msg, sizeof msg), 1);
        assert_non_null(strstr(msg, "Permission denied"));
        snprintf(conninfo, sizeof conninfo, "host=127.0.0.1 port=%d dbname=gridgov user=%s connect_timeout=3", port,
                 roles[i]);
        assert_int_equal(connect_as_nobody(conninfo, msg, sizeof msg), 1);
    }
    /* and the daemons' own connection string, taken as it is */
    assert_int_equal(connect_as_nobody(h_env("GRIDGOV_DB"), msg, sizeof msg), 1);
}

/* Behind the folder's permissions, authentication itself trusts no one: pg_hba.conf holds peer
 * (mapped) and scram lines only, a role the map does not give this OS user is refused even to
 * root, and in socket mode no role has a password to guess. */
static void socket_admits_only_mapped_roles_by_peer(void **state)
{
    (void)state;
    NEED_PRIVATE_CLUSTER();
    char admin[1400], args[1200];
    snprintf(args, sizeof args, "admin-url %s", test_pgdir());
    pg_sh(NULL, args, admin, sizeof admin);
    PGconn *a = PQconnectdb(admin);
    assert_int_equal(PQstatus(a), CONNECTION_OK);
    assert_int_equal(h_sql_int(a, "SELECT count(*) FROM pg_hba_file_rules WHERE error IS NOT NULL", 0, NULL), 0);
    assert_int_equal(h_sql_int(a, "SELECT count(*) FROM pg_hba_file_rules WHERE auth_method = 'trust'", 0, NULL), 0);
    assert_int_equal(h_sql_int(a,
                               "SELECT count(*) FROM pg_hba_file_rules WHERE NOT ((type = 'local' AND auth_method = "
                               "'peer' AND options @> ARRAY['map=gridgov']) OR (type = 'host' AND auth_method = "
                               "'scram-sha-256' AND NOT 'postgres' = ANY(user_name)))",
                               0, NULL),
                     0);
    assert_int_equal(h_sql_int(a, "SELECT count(*) FROM pg_authid WHERE rolname LIKE 'gridgov%' AND rolpassword IS NOT NULL",
                               0, NULL),
                     0);

    /* a login role the map does not name: under trust root would get in as it */
    char probe[64], sql[200];
    snprintf(probe, sizeof probe, "gridgov_probe_%ld", (long)getpid());
    snprintf(sql, sizeof sql, "CREATE ROLE %s LOGIN", probe);
    h_sql_exec(a, sql);
    char conninfo[1400], msg[1024];
    snprintf(conninfo, sizeof conninfo, "host=%s port=%d dbname=gridgov user=%s", test_pgdir(),
             cluster_port(test_pgdir()), probe);
    bool got_in = connects(conninfo, msg, sizeof msg);
    snprintf(sql, sizeof sql, "DROP ROLE %s", probe);
    h_sql_exec(a, sql);
    PQfinish(a);
    assert_false(got_in);
    assert_non_null(strstr(msg, "Peer authentication failed"));
}

typedef struct {
    const char *sql;
    const char *why;
} probe_t;

/* Each probe runs in a transaction that is rolled back, so even on a cluster that lets it through
 * it changes nothing for the tests after this one. */
static void expect_refused(PGconn *c, const probe_t *p)
{
    PQclear(PQexec(c, "BEGIN"));
    PGresult *r = PQexec(c, p->sql);
    const char *state = PQresultErrorField(r, PG_DIAG_SQLSTATE);
    char got[8];
    snprintf(got, sizeof got, "%s", state ? state : "ok");
    PQclear(r);
    PQclear(PQexec(c, "ROLLBACK"));
    if (strcmp(got, "42501") != 0)
        fail_msg("the daemons' role could %s (%s): %s", p->why, p->sql, got);
}

/* The connection string the daemons get (tests/run.sh hands the same to every daemon a test
 * starts, as deploy/run.sh does): no superuser, owns nothing, may touch rows and nothing else. */
static void daemons_role_is_not_superuser_and_cannot_change_the_schema(void **state)
{
    (void)state;
    NEED_PRIVATE_CLUSTER();
    PGconn *c = h_db();
    char *attrs = h_sql_text(c,
                             "SELECT concat_ws(',', rolsuper, rolcreaterole, rolcreatedb, rolreplication, rolbypassrls)"
                             " FROM pg_roles WHERE rolname = current_user",
                             0, NULL);
    assert_string_equal(attrs, "f,f,f,f,f");
    free(attrs);
    assert_int_equal(h_sql_int(c, "SELECT count(*) FROM pg_class WHERE relowner = current_user::regrole", 0, NULL), 0);
    assert_int_equal(h_sql_int(c, "SELECT count(*) FROM pg_namespace WHERE nspowner = current_user::regrole", 0, NULL),
                     0);
    assert_int_equal(h_sql_int(c, "SELECT count(*) FROM pg_proc WHERE proowner = current_user::regrole", 0, NULL), 0);
    assert_int_equal(h_sql_int(c, "SELECT count(*) FROM pg_database WHERE datdba = current_user::regrole", 0, NULL), 0);
    /* what it is there for still works: the residents' rows it serves */
    assert_true(h_sql_int(c, "SELECT count(*) FROM registry.resident", 0, NULL) > 0);

    static const probe_t probes[] = {
        {"CREATE ROLE gridgov_evil LOGIN SUPERUSER", "create a role"},
        {"ALTER ROLE current_user SUPERUSER", "make itself a superuser"},
        {"SET ROLE gridgov_owner", "become the owner"},
        {"SET ROLE postgres", "become the superuser"},
        {"SELECT rolname, rolpassword FROM pg_authid", "read the roles' password hashes"},
        {"SELECT pg_read_file('pg_hba.conf')", "read the server's files"},
        {"COPY (SELECT 1) TO PROGRAM 'true'", "run a program on the server"},
        {"CREATE SCHEMA evil", "create a schema"},
        {"CREATE TABLE intake.evil (x int)", "create a table in a service's schema"},
        {"CREATE FUNCTION intake.evil() RETURNS int LANGUAGE sql AS 'SELECT 1'", "create a function"},
        {"CREATE TEMP TABLE evil (x int)", "create a temporary table"},
        {"ALTER TABLE registry.resident ADD COLUMN evil int", "alter a table"},
        {"DROP TABLE bus.outbox", "drop a table"},
        {"TRUNCATE registry.staff_token", "truncate a table"},
        {"CREATE TRIGGER evil BEFORE INSERT ON intake.ticket FOR EACH ROW EXECUTE FUNCTION suppress_redundant_updates_trigger()",
         "add a trigger"},
        {"GRANT gridgov_owner TO current_user", "grant itself the owner's role"},
    };
    for (size_t i = 0; i < sizeof probes / sizeof probes[0]; i++)
        expect_refused(c, &probes[i]);
    PQfinish(c);
}

/* The migrations and the seed ran as gridgov_owner, which owns every schema and object of the
 * services and is no superuser; the daemons' role cannot apply a migration. */
static void schema_belongs_to_an_owner_that_is_not_superuser(void **state)
{
    (void)state;
    NEED_PRIVATE_CLUSTER();
    PGconn *o = h_db_owner();
    assert_int_equal(h_sql_int(o, "SELECT count(*) FROM pg_roles WHERE rolname = current_user AND NOT rolsuper"
                                  " AND NOT rolcreaterole AND NOT rolcreatedb", 0, NULL),
                     1);
    static const char schemas[] = "ARRAY['bus', 'registry', 'intake', 'router']";
    char sql[600];
    snprintf(sql, sizeof sql, "SELECT count(*) FROM pg_namespace WHERE nspname = ANY(%s) AND nspowner = current_user::regrole",
             schemas);
    assert_int_equal(h_sql_int(o, sql, 0, NULL), 4);
    snprintf(sql, sizeof sql,
             "SELECT count(*) FROM pg_class c JOIN pg_namespace n ON n.oid = c.relnamespace"
             " WHERE n.nspname = ANY(%s) AND c.relowner <> current_user::regrole",
             schemas);
    assert_int_equal(h_sql_int(o, sql, 0, NULL), 0);
    PQfinish(o);

    /* gridgovctl migrate with the daemons' connection string: refused, nothing recorded */
    char dir[1100], file[1200];
    snprintf(dir, sizeof dir, "%s/pg-closed-migrations", h_env("GRIDGOV_TEST_VAR"));
    mkdir(dir, 0700);
    snprintf(file, sizeof file, "%s/900_probe.sql", dir);
    FILE *f = fopen(file, "w");
    assert_non_null(f);
    fputs("CREATE TABLE bus.probe (x int);\n", f);
    fclose(f);
    char err[1024] = "";
    db_t *db = db_connect(h_env("GRIDGOV_DB"), "test-pg-closed", err, sizeof err);
    assert_non_null(db);
    bool migrated = db_migrate(db, dir, err, sizeof err);
    db_destroy(&db);
    assert_false(migrated);
    assert_non_null(strstr(err, "42501"));
    PGconn *c = h_db();
    assert_int_equal(h_sql_int(c, "SELECT count(*) FROM pg_class WHERE relname = 'probe'", 0, NULL), 0);
    PQfinish(c);
}

/* Returns the value of KEY=... in a conninfo string (caller's buffer). */
static void conninfo_value(const char *conninfo, const char *key, char *out, size_t n)
{
    char pat[64];
    snprintf(pat, sizeof pat, "%s=", key);
    const char *p = strstr(conninfo, pat);
    out[0] = '\0';
    if (p) {
        p += strlen(pat);
        snprintf(out, n, "%.*s", (int)strcspn(p, " "), p);
    }
}

/* GRIDGOV_PG_TCP=1: a listener on 127.0.0.1 for tools that need one, scram only, for the two
 * gridgov roles only, with passwords that exist in one 0600 file of the user who started it. */
static void tcp_option_takes_scram_passwords_from_a_0600_file(void **state)
{
    (void)state;
    char dir[1100], args[1300], url[1600], owner[1600], msg[1024];
    snprintf(dir, sizeof dir, "%s/pgtcp", h_env("GRIDGOV_TEST_VAR"));
    mkdir(dir, 0755);
    /* under a pg/ folder: tests/run.sh stops and removes it even when this test dies */
    snprintf(dir, sizeof dir, "%s/pgtcp/pg", h_env("GRIDGOV_TEST_VAR"));
    snprintf(args, sizeof args, "start %s", dir);
    pg_sh("GRIDGOV_PG_TCP=1", args, url, sizeof url);
    snprintf(args, sizeof args, "owner-url %s", dir);
    pg_sh(NULL, args, owner, sizeof owner);
    /* a second start (another test runner sharing the cluster) finds it up, at once: the server
     * does not hold the start lock */
    char again[1600];
    snprintf(args, sizeof args, "start %s", dir);
    pg_sh("GRIDGOV_PG_TCP=1 timeout 20", args, again, sizeof again);
    assert_string_equal(again, url);

    char host[64], passfile[1200];
    conninfo_value(url, "host", host, sizeof host);
    conninfo_value(url, "passfile", passfile, sizeof passfile);
    assert_string_equal(host, "127.0.0.1");
    assert_true(passfile[0] == '/');
    struct stat sb;
    assert_int_equal(stat(passfile, &sb), 0);
    assert_int_equal(sb.st_mode & 0777, 0600);
    assert_int_equal(sb.st_uid, geteuid());
    pid_t pm = h_postmaster_pid(dir);
    assert_true(pm > 0);
    assert_int_equal(h_tcp_listeners(pm), 1);

    /* with the file: in, as the daemons' role, no superuser */
    PGconn *c = PQconnectdb(url);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    char *who = h_sql_text(c, "SELECT current_user || ',' || rolsuper FROM pg_roles WHERE rolname = current_user", 0, NULL);
    assert_string_equal(who, "gridgov_app,false");
    free(who);
    PQfinish(c);
    c = PQconnectdb(owner);
    assert_int_equal(PQstatus(c), CONNECTION_OK);
    who = h_sql_text(c, "SELECT current_user || ',' || rolsuper FROM pg_roles WHERE rolname = current_user", 0, NULL);
    assert_string_equal(who, "gridgov_owner,false");
    free(who);
    PQfinish(c);

    /* without it, or with a guess: out */
    char bad[1800];
    snprintf(bad, sizeof bad, "%s passfile=/nonexistent/pgpass", url);
    assert_false(connects(bad, msg, sizeof msg));
    assert_non_null(strstr(msg, "password"));
    snprintf(bad, sizeof bad, "%s passfile=/nonexistent/pgpass password=gridgov", url);
    assert_false(connects(bad, msg, sizeof msg));
    assert_non_null(strstr(msg, "password authentication failed"));
    /* the superuser has no TCP line at all */
    snprintf(bad, sizeof bad, "%s user=postgres", url);
    assert_false(connects(bad, msg, sizeof msg));
    assert_non_null(strstr(msg, "no pg_hba.conf entry"));
    if (geteuid() == 0) {
        /* another local user cannot read the file, so the listener is no way in for them */
        assert_int_equal(connect_as_nobody(url, msg, sizeof msg), 1);
        assert_int_equal(connect_as_nobody(owner, msg, sizeof msg), 1);
    }
    snprintf(args, sizeof args, "stop %s", dir);
    pg_sh(NULL, args, msg, sizeof msg);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(cluster_has_no_tcp_listener),
        cmocka_unit_test(another_local_user_is_refused),
        cmocka_unit_test(socket_admits_only_mapped_roles_by_peer),
        cmocka_unit_test(daemons_role_is_not_superuser_and_cannot_change_the_schema),
        cmocka_unit_test(schema_belongs_to_an_owner_that_is_not_superuser),
        cmocka_unit_test(tcp_option_takes_scram_passwords_from_a_0600_file),
    };
    return cmocka_run_group_tests_name("pg_closed", tests, NULL, NULL);
}
