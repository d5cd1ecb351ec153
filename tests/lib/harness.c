#include "harness.h"

#include "secret.h"
#include "timefmt.h"

#include <curl/curl.h>
#include <dirent.h>
#include <jansson.h>
#include <errno.h>
#include <fcntl.h>
#include <openssl/evp.h>
#include <openssl/rand.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>
#include <zmq.h>

static void die(const char *fmt, const char *a, const char *b)
{
    fprintf(stderr, "harness: ");
    fprintf(stderr, fmt, a, b);
    fprintf(stderr, "\n");
    exit(3);
}

const char *h_env(const char *name)
{
    const char *v = getenv(name);
    if (!v || !*v)
        die("%s is not set (run the tests through tests/run.sh)%s", name, "");
    return v;
}

int h_port(int offset) { return atoi(h_env("GRIDGOV_TEST_PORT_BASE")) + offset; }

static PGconn *connect_or_die(const char *conninfo)
{
    PGconn *c = PQconnectdb(conninfo);
    if (PQstatus(c) != CONNECTION_OK)
        die("cannot connect: %s%s", PQerrorMessage(c), "");
    return c;
}

PGconn *h_db(void) { return connect_or_die(h_env("GRIDGOV_DB")); }

const char *h_owner_conninfo(void)
{
    const char *v = getenv("GRIDGOV_OWNER_DB");
    return v && *v ? v : h_env("GRIDGOV_DB");
}

PGconn *h_db_owner(void) { return connect_or_die(h_owner_conninfo()); }

static PGresult *q(PGconn *c, const char *sql, int n, const char *const *params)
{
    PGresult *r = PQexecParams(c, sql, n, NULL, params, NULL, NULL, 0);
    if (PQresultStatus(r) != PGRES_TUPLES_OK && PQresultStatus(r) != PGRES_COMMAND_OK)
        die("SQL failed: %s\n  %s", PQerrorMessage(c), sql);
    return r;
}

long long h_sql_int(PGconn *c, const char *sql, int n, const char *const *params)
{
    PGresult *r = q(c, sql, n, params);
    long long v = PQntuples(r) ? atoll(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    return v;
}

char *h_sql_text(PGconn *c, const char *sql, int n, const char *const *params)
{
    PGresult *r = q(c, sql, n, params);
    char *v = strdup(PQntuples(r) && !PQgetisnull(r, 0, 0) ? PQgetvalue(r, 0, 0) : "");
    PQclear(r);
    return v;
}

void h_sql_exec(PGconn *c, const char *sql) { PQclear(q(c, sql, 0, NULL)); }

void h_consumer_skip_backlog(PGconn *c, const char *consumer)
{
    const char *p[] = {consumer};
    PQclear(q(c, "UPDATE bus.cursor SET xid = pg_current_xact_id(), seq = 0 WHERE consumer = $1", 1, p));
}

/* Every process a test starts is killed when the test binary exits, whatever way it exits, so
 * a failed test leaves no daemon holding its ports for the next one. */
#define MAX_CHILDREN 64
static pid_t g_children[MAX_CHILDREN];

static void kill_children(void)
{
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (g_children[i] > 0) {
            kill(g_children[i], SIGKILL);
            waitpid(g_children[i], NULL, 0);
            g_children[i] = 0;
        }
}

static void remember_child(pid_t pid, bool add)
{
    static bool registered;
    if (!registered) {
        atexit(kill_children);
        registered = true;
    }
    for (int i = 0; i < MAX_CHILDREN; i++)
        if (add ? g_children[i] == 0 : g_children[i] == pid) {
            g_children[i] = add ? pid : 0;
            return;
        }
}

pid_t h_spawn(const char *const *argv, const char *const *env, const char *log_path)
{
    pid_t pid = fork();
    if (pid < 0)
        die("fork: %s%s", strerror(errno), "");
    if (pid == 0) {
        for (const char *const *e = env; e && *e; e++)
            putenv((char *)*e);
        int fd = open(log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        execv(argv[0], (char *const *)argv);
        _exit(127);
    }
    remember_child(pid, true);
    return pid;
}

int h_stop(pid_t pid, int sig)
{
    int st = 0;
    kill(pid, sig);
    waitpid(pid, &st, 0);
    remember_child(pid, false);
    return st;
}

static size_t sink(char *p, size_t sz, size_t n, void *ud)
{
    buf_append(ud, p, sz * n);
    return sz * n;
}

bool h_http(const char *method, const char *url, const char *const *headers, const char *body, size_t body_len,
            h_resp_t *out)
{
    memset(out, 0, sizeof *out);
    CURL *c = curl_easy_init();
    struct curl_slist *hl = NULL;
    for (const char *const *h = headers; h && *h; h++)
        hl = curl_slist_append(hl, *h);
    hl = curl_slist_append(hl, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hl);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &out->body);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &out->headers);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 30L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)body_len);
    }
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK)
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
    curl_slist_free_all(hl);
    curl_easy_cleanup(c);
    return rc == CURLE_OK;
}

void h_resp_free(h_resp_t *r)
{
    buf_free(&r->body);
    buf_free(&r->headers);
}

bool h_wait_healthy(int port, int timeout_ms)
{
    char url[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/healthz", port);
    for (int waited = 0; waited < timeout_ms; waited += 50) {
        h_resp_t r;
        bool ok = h_http("GET", url, NULL, NULL, 0, &r) && r.status == 200;
        h_resp_free(&r);
        if (ok)
            return true;
        struct timespec ts = {0, 50 * 1000000L};
        nanosleep(&ts, NULL);
    }
    return false;
}

pid_t h_start_intake(int http_port, int pub_port, const char *const *extra_env)
{
    static char port_env[64], pub_env[96], db_env[1024], log[1024];
    snprintf(port_env, sizeof port_env, "GRIDGOV_HTTP_PORT=%d", http_port);
    snprintf(pub_env, sizeof pub_env, "GRIDGOV_PUB_ENDPOINT=tcp://127.0.0.1:%d", pub_port);
    snprintf(db_env, sizeof db_env, "GRIDGOV_DB=%s", h_env("GRIDGOV_DB"));
    snprintf(log, sizeof log, "%s/intake-%d.log", h_env("GRIDGOV_TEST_VAR"), http_port);
    const char *env[16] = {port_env, pub_env, db_env, "GRIDGOV_LOG_LEVEL=warn"};
    int n = 4;
    for (const char *const *e = extra_env; e && *e && n < 15; e++)
        env[n++] = *e;
    env[n] = NULL;
    char bin[1024];
    snprintf(bin, sizeof bin, "%s/gridgov-intake", h_env("GRIDGOV_BIN"));
    const char *argv[] = {bin, NULL};
    pid_t pid = h_spawn(argv, env, log);
    if (!h_wait_healthy(http_port, 20000)) {
        h_stop(pid, SIGKILL);
        die("intake did not become healthy, see %s%s", log, "");
    }
    return pid;
}

bus_t *h_bus_as(const char *name, bool curve)
{
    char err[1024];
    bus_opts_t o = {.curve = curve, .curve_dir = h_env("GRIDGOV_CURVE_DIR"), .name = name ? name : "gridgovctl"};
    bus_t *b = bus_new(&o, err, sizeof err);
    if (!b)
        die("bus: %s%s", err, "");
    return b;
}

char *h_api_key(PGconn *c)
{
    char key[SECRET_HEX_LEN], hex[SECRET_HEX_LEN];
    if (!secret_new(key))
        die("no randomness%s%s", "", "");
    secret_hash_hex(key, hex);
    const char *p[] = {hex};
    PQclear(q(c, "INSERT INTO registry.api_client (name, key_sha256) VALUES ('test', decode($1, 'hex'))", 1, p));
    return strdup(key);
}

void h_urlencode(buf_t *b, const char *s)
{
    for (const unsigned char *p = (const unsigned char *)s; *p; p++) {
        if ((*p >= 'a' && *p <= 'z') || (*p >= 'A' && *p <= 'Z') || (*p >= '0' && *p <= '9') || strchr("-_.~", *p))
            buf_putc(b, (char)*p);
        else
            buf_printf(b, "%%%02X", *p);
    }
}

pid_t h_start_router(int base_port, int intake_pub_port, const char *const *extra_env)
{
    static char cmd_env[96], pub_env[96], sub_env[96], db_env[1024], cal_env[1100], log[1024];
    snprintf(cmd_env, sizeof cmd_env, "GRIDGOV_COMMAND_ENDPOINT=tcp://127.0.0.1:%d", base_port);
    snprintf(pub_env, sizeof pub_env, "GRIDGOV_ROUTER_PUB_ENDPOINT=tcp://127.0.0.1:%d", base_port + 1);
    snprintf(sub_env, sizeof sub_env, "GRIDGOV_SUB_ENDPOINTS=intake@tcp://127.0.0.1:%d", intake_pub_port);
    snprintf(db_env, sizeof db_env, "GRIDGOV_DB=%s", h_env("GRIDGOV_DB"));
    snprintf(cal_env, sizeof cal_env, "GRIDGOV_CALENDAR_DIR=%s/deploy/calendar", h_env("GRIDGOV_TOP"));
    snprintf(log, sizeof log, "%s/router-%d.log", h_env("GRIDGOV_TEST_VAR"), base_port);
    const char *env[20] = {cmd_env, pub_env, sub_env, db_env, cal_env, "GRIDGOV_LOG_LEVEL=warn"};
    int n = 6;
    for (const char *const *e = extra_env; e && *e && n < 19; e++)
        env[n++] = *e;
    env[n] = NULL;
    char bin[1024];
    snprintf(bin, sizeof bin, "%s/gridgov-router", h_env("GRIDGOV_BIN"));
    const char *argv[] = {bin, NULL};
    pid_t pid = h_spawn(argv, env, log);
    /* ready when its command socket answers: a malformed command gets an error reply */
    usleep(200 * 1000);
    return pid;
}

pid_t h_start_tally(int base_port, const char *rules_dir, const char *const *extra_env)
{
    char cmd_env[96], pub_env[96], db_env[1024], rules_env[1100], log[1024];
    snprintf(cmd_env, sizeof cmd_env, "GRIDGOV_TALLY_ENDPOINT=tcp://127.0.0.1:%d", base_port);
    snprintf(pub_env, sizeof pub_env, "GRIDGOV_TALLY_PUB_ENDPOINT=tcp://127.0.0.1:%d", base_port + 1);
    snprintf(db_env, sizeof db_env, "GRIDGOV_DB=%s", h_env("GRIDGOV_DB"));
    if (rules_dir)
        snprintf(rules_env, sizeof rules_env, "GRIDGOV_RULES_DIR=%s", rules_dir);
    else
        snprintf(rules_env, sizeof rules_env, "GRIDGOV_RULES_DIR=%s/deploy/tally/rules", h_env("GRIDGOV_TOP"));
    snprintf(log, sizeof log, "%s/tally-%d.log", h_env("GRIDGOV_TEST_VAR"), base_port);
    const char *env[24] = {cmd_env, pub_env, db_env, rules_env, "GRIDGOV_LOG_LEVEL=warn"};
    int n = 5;
    for (const char *const *e = extra_env; e && *e && n < 23; e++)
        env[n++] = *e;
    env[n] = NULL;
    char bin[1024];
    snprintf(bin, sizeof bin, "%s/gridgov-tally", h_env("GRIDGOV_BIN"));
    const char *argv[] = {bin, NULL};
    pid_t pid = h_spawn(argv, env, log);
    /* ready when its command socket answers: a frame without an id gets an error reply */
    bus_t *bus = h_bus_as("gridgovctl", true);
    void *s = zmq_socket(bus_ctx(bus), ZMQ_DEALER);
    int linger = 0, ready = 0;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    char ep[64], err[512];
    snprintf(ep, sizeof ep, "tcp://127.0.0.1:%d", base_port);
    if (bus_connect(bus, s, BUS_COMMANDS, ep, "tally", err, sizeof err)) {
        for (int i = 0; i < 200 && !ready; i++) {
            zmq_send(s, "{}", 2, ZMQ_DONTWAIT);
            zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
            if (zmq_poll(&it, 1, 100) == 1) {
                char buf[512];
                ready = zmq_recv(s, buf, sizeof buf, 0) > 0;
            }
            if (!ready && waitpid(pid, NULL, WNOHANG) == pid)
                break;
        }
    }
    zmq_close(s);
    bus_destroy(&bus);
    if (!ready) {
        h_stop(pid, SIGKILL);
        die("tally did not answer on its command socket, see %s%s", log, "");
    }
    return pid;
}

pid_t h_start_notify(int intake_pub_port, int router_pub_port, const char *const *extra_env, char *log_path,
                     size_t log_path_size)
{
    static int started;
    char sub_env[160], db_env[1024], log[1024];
    if (intake_pub_port > 0 && router_pub_port > 0)
        snprintf(sub_env, sizeof sub_env, "GRIDGOV_SUB_ENDPOINTS=intake@tcp://127.0.0.1:%d,router@tcp://127.0.0.1:%d",
                 intake_pub_port, router_pub_port);
    else if (intake_pub_port > 0 || router_pub_port > 0)
        snprintf(sub_env, sizeof sub_env, "GRIDGOV_SUB_ENDPOINTS=%s@tcp://127.0.0.1:%d",
                 intake_pub_port > 0 ? "intake" : "router", intake_pub_port > 0 ? intake_pub_port : router_pub_port);
    else
        snprintf(sub_env, sizeof sub_env, "GRIDGOV_SUB_ENDPOINTS=");
    snprintf(db_env, sizeof db_env, "GRIDGOV_DB=%s", h_env("GRIDGOV_DB"));
    snprintf(log, sizeof log, "%s/notify-%d-%d.log", h_env("GRIDGOV_TEST_VAR"), (int)getpid(), ++started);
    if (log_path)
        snprintf(log_path, log_path_size, "%s", log);
    /* room for the fake providers' 16 entries (h_fake_notify_env) and a test's own */
    const char *env[48] = {sub_env, db_env, "GRIDGOV_LOG_LEVEL=info"};
    int n = 3;
    for (const char *const *e = extra_env; e && *e; e++) {
        if (n == 47)
            die("h_start_notify: %s%s", "more than 44 extra environment entries", "");
        env[n++] = *e;
    }
    env[n] = NULL;
    char bin[1024];
    snprintf(bin, sizeof bin, "%s/gridgov-notify", h_env("GRIDGOV_BIN"));
    const char *argv[] = {bin, NULL};
    pid_t pid = h_spawn(argv, env, log);
    usleep(200 * 1000);
    return pid;
}

bool h_wait_sql(PGconn *c, const char *sql, int n, const char *const *params, long long want, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 20) {
        if (h_sql_int(c, sql, n, params) == want)
            return true;
        usleep(20 * 1000);
    }
    return false;
}

char *h_staff_token(PGconn *c, long long staff_id)
{
    char tok[SECRET_HEX_LEN], hex[SECRET_HEX_LEN], id[24];
    if (!secret_new(tok))
        die("no randomness%s%s", "", "");
    secret_hash_hex(tok, hex);
    snprintf(id, sizeof id, "%lld", staff_id);
    const char *p[] = {hex, id};
    PQclear(q(c, "INSERT INTO registry.staff_token (token_sha256, staff_id, expires_at)"
                 " VALUES (decode($1, 'hex'), $2::bigint, now() + interval '12 hours')", 2, p));
    return strdup(tok);
}

void h_set_clock(const char *path, const char *iso_utc)
{
    int64_t us = 0;
    if (!timefmt_parse(iso_utc, &us))
        die("bad time %s%s", iso_utc, "");
    char tmp[1100];
    snprintf(tmp, sizeof tmp, "%s.tmp", path);
    FILE *f = fopen(tmp, "w");
    if (!f)
        die("cannot write %s%s", tmp, "");
    fprintf(f, "%lld.%06lld\n", (long long)(us / 1000000), (long long)(us % 1000000));
    fclose(f);
    rename(tmp, path); /* a new file: the daemons see the change */
}

bool h_post_ticket(int http_port, const char *api_key, const char *json, char code[40])
{
    return h_post_ticket_rc(http_port, api_key, json, code, NULL);
}

bool h_post_ticket_rc(int http_port, const char *api_key, const char *json, char code[40], char rating_code[16])
{
    char url[128], key[128];
    snprintf(url, sizeof url, "http://127.0.0.1:%d/api/v1/tickets", http_port);
    snprintf(key, sizeof key, "X-API-Key: %s", api_key);
    const char *hdr[] = {"Content-Type: application/json", key, NULL};
    h_resp_t r;
    bool ok = h_http("POST", url, hdr, json, strlen(json), &r) && r.status == 201;
    code[0] = '\0';
    if (ok) {
        json_error_t je;
        json_t *j = json_loads(buf_str(&r.body), 0, &je);
        const char *c = json_string_value(json_object_get(j, "code"));
        snprintf(code, 40, "%s", c ? c : "");
        ok = c != NULL;
        if (rating_code) {
            const char *rc = json_string_value(json_object_get(j, "rating_code"));
            snprintf(rating_code, 16, "%s", rc ? rc : "");
        }
        json_decref(j);
    } else {
        fprintf(stderr, "harness: POST %s -> %ld %s\n", json, r.status, buf_str(&r.body));
    }
    h_resp_free(&r);
    return ok;
}

bool h_wait_routed(PGconn *c, const char *code, int timeout_ms)
{
    const char *p[] = {code};
    bool ok = h_wait_sql(c, "SELECT count(*) FROM router.ticket WHERE code = $1", 1, p, 1, timeout_ms);
    if (!ok)
        fprintf(stderr, "harness: ticket %s was not routed within %d ms\n", code, timeout_ms);
    return ok;
}

pid_t h_postmaster_pid(const char *pgdir)
{
    char path[1200];
    snprintf(path, sizeof path, "%s/data/postmaster.pid", pgdir);
    FILE *f = fopen(path, "r");
    if (!f)
        return 0;
    long pid = 0;
    if (fscanf(f, "%ld", &pid) != 1)
        pid = 0;
    fclose(f);
    return (pid_t)pid;
}

/* Does /proc/net/FILE list this socket inode in state LISTEN (0A)? */
static bool listed_as_listening(const char *file, unsigned long inode)
{
    char path[64], line[512];
    snprintf(path, sizeof path, "/proc/net/%s", file);
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    bool found = false;
    while (!found && fgets(line, sizeof line, f)) {
        char local[128], remote[128], st[8];
        unsigned long ino = 0;
        /* sl local rem st tx:rx tr:when retrnsmt uid timeout inode */
        if (sscanf(line, "%*s %127s %127s %7s %*s %*s %*s %*s %*s %lu", local, remote, st, &ino) == 4)
            found = ino == inode && strcmp(st, "0A") == 0;
    }
    fclose(f);
    return found;
}

int h_tcp_listeners(pid_t pid)
{
    char dir[64];
    snprintf(dir, sizeof dir, "/proc/%ld/fd", (long)pid);
    DIR *d = opendir(dir);
    if (!d)
        return -1;
    int n = 0;
    struct dirent *e;
    while ((e = readdir(d))) {
        char path[400], target[128];
        snprintf(path, sizeof path, "%s/%s", dir, e->d_name);
        ssize_t len = readlink(path, target, sizeof target - 1);
        if (len <= 0)
            continue;
        target[len] = '\0';
        unsigned long inode;
        if (sscanf(target, "socket:[%lu]", &inode) == 1 &&
            (listed_as_listening("tcp", inode) || listed_as_listening("tcp6", inode)))
            n++;
    }
    closedir(d);
    return n;
}
