/* `make run` (deploy/run.sh) is safe to start twice and never harms what it did not start: a
 * second one in the same folder, or on taken ports, fails fast with the reason and leaves the
 * first fully working, its PostgreSQL included; a port squatter that accepts and never answers
 * makes it say the port is taken, not hang; a daemon that cannot bind exits 3 and is not started
 * again in a loop; a cluster it did not start is left running when it stops. */
#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <setjmp.h>
#include <cmocka.h>

#include <arpa/inet.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <unistd.h>

#include "harness.h"

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "rb");
    if (!f)
        return NULL;
    buf_t b = BUF_INIT;
    char chunk[4096];
    size_t n;
    while ((n = fread(chunk, 1, sizeof chunk, f)) > 0)
        buf_append(&b, chunk, n);
    fclose(f);
    return buf_detach(&b);
}

static int count_in_file(const char *path, const char *needle)
{
    char *s = slurp(path);
    int n = 0;
    for (const char *p = s; p && (p = strstr(p, needle)); p += strlen(needle))
        n++;
    free(s);
    return n;
}

/* The BUILD folder the binaries came from (build or build-san). */
static void build_env(char *out, size_t n)
{
    char bdir[512];
    snprintf(bdir, sizeof bdir, "%s", h_env("GRIDGOV_BIN"));
    *strrchr(bdir, '/') = '\0';
    snprintf(out, n, "BUILD=%s", strrchr(bdir, '/') + 1);
}

/* deploy/run.sh on its own var folder under the test's, with these ports; output to NAME.log. */
static pid_t start_run(const char *name, int http, int pub, const char *extra, char *log, size_t logsz)
{
    char var[1024], e_var[1100], e_http[64], e_pub[64], e_build[300], script[1100];
    snprintf(var, sizeof var, "%s/%s", h_env("GRIDGOV_TEST_VAR"), name);
    snprintf(log, logsz, "%s.log", var);
    snprintf(e_var, sizeof e_var, "GRIDGOV_VAR=%s", var);
    snprintf(e_http, sizeof e_http, "GRIDGOV_HTTP_PORT=%d", http);
    snprintf(e_pub, sizeof e_pub, "GRIDGOV_PUB_PORT=%d", pub);
    build_env(e_build, sizeof e_build);
    snprintf(script, sizeof script, "%s/deploy/run.sh", h_env("GRIDGOV_TOP"));
    const char *env[] = {e_var, e_http, e_pub, e_build, "GRIDGOV_DB=", "GRIDGOV_PGDIR=", "GRIDGOV_CURVE_DIR=",
                         extra, NULL};
    const char *argv[] = {"/bin/bash", script, NULL};
    return h_spawn(argv, env, log);
}

/* Waits for pid to exit; its status, or -1 (and the process killed) when it is still running. */
static int wait_exit(pid_t pid, int timeout_ms)
{
    int st;
    for (int i = 0; i < timeout_ms / 50; i++) {
        if (waitpid(pid, &st, WNOHANG) == pid)
            return st;
        usleep(50000);
    }
    h_stop(pid, SIGKILL);
    return -1;
}

static bool cluster_running(const char *pgdir)
{
    pid_t pm = h_postmaster_pid(pgdir);
    return pm > 0 && kill(pm, 0) == 0;
}

/* A socket that accepts connections (the kernel completes them) and never answers. */
static int squat(int port)
{
    int s = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0); /* not inherited by run.sh */
    assert_true(s >= 0);
    struct sockaddr_in sa = {.sin_family = AF_INET, .sin_port = htons((uint16_t)port)};
    inet_pton(AF_INET, "127.0.0.1", &sa.sin_addr);
    assert_int_equal(bind(s, (struct sockaddr *)&sa, sizeof sa), 0);
    assert_int_equal(listen(s, 64), 0);
    return s;
}

static void second_run_fails_fast_and_leaves_the_first_working(void **state)
{
    (void)state;
    int http = h_port(60), pub = h_port(61);
    char log_a[1100], log_b[1100], log_c[1100], pgdir[1100];
    pid_t a = start_run("alone-a", http, pub, NULL, log_a, sizeof log_a);
    assert_true(h_wait_healthy(http, 120000));
    for (int i = 0; i < 100 && !count_in_file(log_a, "gridgov is ready"); i++)
        usleep(50000);
    assert_int_equal(count_in_file(log_a, "gridgov is ready"), 1);
    for (int i = 0; i < 200 && !count_in_file(log_a, "notifying: events from"); i++)
        usleep(50000);
    snprintf(pgdir, sizeof pgdir, "%s/alone-a/pg", h_env("GRIDGOV_TEST_VAR"));
    assert_true(cluster_running(pgdir));

    /* The same folder and ports: refused at once, saying whose they are. */
    pid_t b = start_run("alone-a", http, pub, NULL, log_b, sizeof log_b);
    snprintf(log_b, sizeof log_b, "%s/alone-a.log", h_env("GRIDGOV_TEST_VAR"));
    int st = wait_exit(b, 20000);
    assert_true(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) != 0);
    char want[200];
    snprintf(want, sizeof want, "alone-a/pg is in use by another make run (pid %d)", (int)a);
    assert_int_equal(count_in_file(log_b, want), 1);
    snprintf(want, sizeof want, "port %d (HTTP) is taken", http);
    assert_int_equal(count_in_file(log_b, want), 1);
    snprintf(want, sizeof want, "port %d (events) is taken", pub);
    assert_int_equal(count_in_file(log_b, want), 1);
    assert_int_equal(count_in_file(log_b, "gridgov is ready"), 1); /* A's, not a second one */
    /* notify runs with the others, once: the refused run started no second one (notify holds no
     * port, so only the folder's lock keeps it from a second start) */
    assert_int_equal(count_in_file(log_b, "gridgov is ready (daemons: intake router tally notify)"), 1);
    assert_int_equal(count_in_file(log_b, "notifying: events from"), 1);
    assert_int_equal(count_in_file(log_b, "gridgov: stopping"), 0);

    /* Another folder, the same ports: the ports are named, nothing is started. */
    pid_t c = start_run("alone-c", http, pub, NULL, log_c, sizeof log_c);
    st = wait_exit(c, 20000);
    assert_true(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1);
    snprintf(want, sizeof want, "port %d (HTTP) is taken by pid", http);
    assert_int_equal(count_in_file(log_c, want), 1);
    snprintf(want, sizeof want, "port %d (commands) is taken", pub + 1);
    assert_int_equal(count_in_file(log_c, want), 1);
    assert_int_equal(count_in_file(log_c, "gridgov is ready"), 0);
    char pg_c[1100];
    snprintf(pg_c, sizeof pg_c, "%s/alone-c/pg", h_env("GRIDGOV_TEST_VAR"));
    struct stat sb;
    assert_int_not_equal(stat(pg_c, &sb), 0);

    /* The first is whole: its cluster runs, it answers, and posts a ticket. */
    assert_true(cluster_running(pgdir));
    assert_true(h_wait_healthy(http, 2000));
    char keypath[1100];
    snprintf(keypath, sizeof keypath, "%s/alone-a/demo-api-key", h_env("GRIDGOV_TEST_VAR"));
    char *key = slurp(keypath);
    assert_non_null(key);
    key[strcspn(key, "\n")] = '\0';
    char code[40];
    assert_true(h_post_ticket(http, key,
                              "{\"service_code\":\"NOISE\",\"lat\":28.25,\"long\":113.15,\"description\":\"广场舞音响太吵\","
                              "\"attributes\":{\"source\":\"music\"}}",
                              code));
    free(key);
    assert_int_equal(count_in_file(log_a, "; starting it again"), 0);

    st = h_stop(a, SIGTERM);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_false(cluster_running(pgdir));
}

static void squatted_port_is_named_not_waited_on(void **state)
{
    (void)state;
    int http = h_port(64), pub = h_port(65);
    int s = squat(http);
    char log[1100];
    pid_t run = start_run("alone-squat", http, pub, NULL, log, sizeof log);
    int st = wait_exit(run, 20000);
    assert_true(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1);
    char want[200];
    snprintf(want, sizeof want, "port %d (HTTP) is taken by pid %d", http, (int)getpid());
    assert_int_equal(count_in_file(log, want), 1);
    assert_int_equal(count_in_file(log, "is taken"), 1);
    assert_int_equal(count_in_file(log, "gridgov is ready"), 0);

    /* intake itself, on the squatted port: exit 3 (cannot bind), at once */
    char e_http[64], e_pub[64], ctl[1100];
    snprintf(e_http, sizeof e_http, "GRIDGOV_HTTP_PORT=%d", http);
    snprintf(e_pub, sizeof e_pub, "GRIDGOV_PUB_ENDPOINT=tcp://127.0.0.1:%d", pub);
    snprintf(ctl, sizeof ctl, "%s/gridgov-intake", h_env("GRIDGOV_BIN"));
    snprintf(log, sizeof log, "%s/alone-squat-intake.log", h_env("GRIDGOV_TEST_VAR"));
    const char *argv[] = {ctl, NULL};
    const char *env[] = {e_http, e_pub, NULL};
    pid_t in = h_spawn(argv, env, log);
    st = wait_exit(in, 20000);
    assert_true(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 3);
    assert_int_equal(count_in_file(log, "cannot listen"), 1);
    close(s);
}

/* Free ports, but intake cannot bind (an address that is not this host's): run.sh gives up on it
 * with the reason instead of starting it every second, and stops the cluster it started. */
static void daemon_that_cannot_bind_is_not_restarted(void **state)
{
    (void)state;
    int http = h_port(68), pub = h_port(69);
    char log[1100], pgdir[1100];
    pid_t run = start_run("alone-nobind", http, pub, "GRIDGOV_HTTP_BIND=192.0.2.1", log, sizeof log);
    int st = wait_exit(run, 120000);
    assert_true(st != -1 && WIFEXITED(st) && WEXITSTATUS(st) == 1);
    assert_int_equal(count_in_file(log, "intake cannot bind its ports (exit 3, 5 times"), 1);
    assert_int_equal(count_in_file(log, "cannot listen on 192.0.2.1"), 5);
    assert_int_equal(count_in_file(log, "gridgov: intake exited (3); starting it again"), 4);
    assert_int_equal(count_in_file(log, "gridgov is ready"), 0);
    snprintf(pgdir, sizeof pgdir, "%s/alone-nobind/pg", h_env("GRIDGOV_TEST_VAR"));
    assert_false(cluster_running(pgdir));
}

/* A cluster started by hand (or left by a killed make run) is used, said so, and left running. */
static void cluster_it_did_not_start_is_left_running(void **state)
{
    (void)state;
    int http = h_port(72), pub = h_port(73);
    char pgdir[1100], cmd[2400], log[1100];
    snprintf(pgdir, sizeof pgdir, "%s/alone-hand/pg", h_env("GRIDGOV_TEST_VAR"));
    snprintf(cmd, sizeof cmd, "mkdir -p %s/alone-hand && %s/deploy/pg.sh start %s >/dev/null", h_env("GRIDGOV_TEST_VAR"),
             h_env("GRIDGOV_TOP"), pgdir);
    assert_int_equal(system(cmd), 0);
    pid_t pm = h_postmaster_pid(pgdir);
    assert_true(pm > 0);
    pid_t run = start_run("alone-hand", http, pub, NULL, log, sizeof log);
    assert_true(h_wait_healthy(http, 120000));
    assert_int_equal(count_in_file(log, "is already running (started by hand"), 1);
    int st = h_stop(run, SIGTERM);
    assert_true(WIFEXITED(st) && WEXITSTATUS(st) == 0);
    assert_false(h_wait_healthy(http, 300));
    assert_int_equal(h_postmaster_pid(pgdir), pm);
    assert_true(cluster_running(pgdir));
    snprintf(cmd, sizeof cmd, "%s/deploy/pg.sh stop %s >/dev/null", h_env("GRIDGOV_TOP"), pgdir);
    assert_int_equal(system(cmd), 0);
}

int main(void)
{
    const struct CMUnitTest tests[] = {
        cmocka_unit_test(squatted_port_is_named_not_waited_on),
        cmocka_unit_test(second_run_fails_fast_and_leaves_the_first_working),
        cmocka_unit_test(daemon_that_cannot_bind_is_not_restarted),
        cmocka_unit_test(cluster_it_did_not_start_is_left_running),
    };
    return cmocka_run_group_tests_name("run_alone", tests, NULL, NULL);
}
