/* harness: what end-to-end tests need to drive the real suite: the test database, daemons
 * started as processes, HTTP through libcurl, SQL checks. tests/run.sh provides the
 * environment (GRIDGOV_DB, GRIDGOV_BIN, GRIDGOV_TOP, GRIDGOV_TEST_VAR, GRIDGOV_TEST_PORT_BASE).
 * Failures to set up abort the test binary with a message: a test cannot go on without them. */
#ifndef TESTS_HARNESS_H
#define TESTS_HARNESS_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <sys/types.h>

#include "buf.h"
#include "bus.h"

const char *h_env(const char *name);
/* A port for this test binary: GRIDGOV_TEST_PORT_BASE + offset. */
int h_port(int offset);
/* A new connection to the test database (caller PQfinish), as the daemons' role (gridgov_app:
 * rows only, no DDL). */
PGconn *h_db(void);
/* The test database as its owner (gridgov_owner), for tests that create or drop objects:
 * GRIDGOV_OWNER_DB, else GRIDGOV_DB when the runner has only one role. */
const char *h_owner_conninfo(void);
PGconn *h_db_owner(void);
/* First column of the first row as a number / text (caller frees text). Aborts on SQL error. */
long long h_sql_int(PGconn *c, const char *sql, int n, const char *const *params);
char *h_sql_text(PGconn *c, const char *sql, int n, const char *const *params);
void h_sql_exec(PGconn *c, const char *sql);
/* Moves a consumer's cursor (bus.cursor) past every event committed so far, so that a daemon a
 * test starts acts on that test's events only, not on the backlog of the tests before it. */
void h_consumer_skip_backlog(PGconn *c, const char *consumer);

/* Starts a program with extra environment entries ("KEY=VALUE", NULL-terminated), stdout and
 * stderr appended to log_path. Returns its pid. */
pid_t h_spawn(const char *const *argv, const char *const *env, const char *log_path);
/* Sends sig and reaps; returns the exit status as waitpid reports it. */
int h_stop(pid_t pid, int sig);
/* Polls GET /healthz until 200 or timeout. */
bool h_wait_healthy(int port, int timeout_ms);

/* A bus for the test's own ZeroMQ clients and servers, with the key pair NAME from the runner's
 * key folder (GRIDGOV_CURVE_DIR; tests/run.sh makes intake, router and gridgovctl). NULL name:
 * gridgovctl's, an operator's key, which the daemons admit to their events. curve false: the
 * one-host mode. Intake's and the router's defaults admit what the suite needs. Caller destroys. */
bus_t *h_bus_as(const char *name, bool curve);

/* Starts gridgov-intake on the given ports; waits until healthy. */
pid_t h_start_intake(int http_port, int pub_port, const char *const *extra_env);

/* Starts gridgov-router: commands on base_port, its events on base_port+1, subscribed to the
 * intake publishing on intake_pub_port, with the shipped calendar. */
pid_t h_start_router(int base_port, int intake_pub_port, const char *const *extra_env);
/* Starts gridgov-tally: commands on base_port, its events on base_port+1, rule sets from
 * rules_dir (NULL: the shipped deploy/tally/rules), its log in GRIDGOV_TEST_VAR/tally-PORT.log.
 * Ready when its command socket answers a ping (a malformed command gets its error reply). */
pid_t h_start_tally(int base_port, const char *rules_dir, const char *const *extra_env);
/* Starts gridgov-notify subscribed to the intake and router publishing on those ports (0: not
 * that one), its log in GRIDGOV_TEST_VAR/notify-N.log (N counts the notifies this binary started;
 * log_path, when given, receives the path). Waits until it has claimed nothing yet but is up. */
pid_t h_start_notify(int intake_pub_port, int router_pub_port, const char *const *extra_env, char *log_path,
                     size_t log_path_size);
/* POSTs a ticket to the native API with this API key; true on 201 with the public code in code. */
bool h_post_ticket(int http_port, const char *api_key, const char *json, char code[40]);
/* The same, and the reporter's rating code from the answer into rating_code ("" when none). */
bool h_post_ticket_rc(int http_port, const char *api_key, const char *json, char code[40], char rating_code[16]);
/* Waits until the router has taken the ticket (a row in router.ticket). */
bool h_wait_routed(PGconn *c, const char *code, int timeout_ms);
/* Polls a count query until it equals want or the time is up. */
bool h_wait_sql(PGconn *c, const char *sql, int n, const char *const *params, long long want, int timeout_ms);

/* Issues a bearer token for a staff member, valid 12 hours, as gridgovctl does (caller frees). */
char *h_staff_token(PGconn *c, long long staff_id);
/* Moves the daemons' injected clock (config clock_file) to an ISO 8601 time. */
void h_set_clock(const char *path, const char *iso_utc);

/* The postmaster of the cluster in pgdir (deploy/pg.sh's DIR), from its postmaster.pid; 0 if none. */
pid_t h_postmaster_pid(const char *pgdir);
/* How many listening TCP sockets (IPv4 and IPv6) the process holds; -1 when its descriptors
 * cannot be read. */
int h_tcp_listeners(pid_t pid);

/* Issues a fresh API key (through SQL, as gridgovctl does) and returns it (caller frees). */
char *h_api_key(PGconn *c);

typedef struct {
    long status;     /* 0 when the request failed at the transport */
    buf_t body;
    buf_t headers;
} h_resp_t;

/* One HTTP request. headers: NULL-terminated "Name: value" list, or NULL. */
bool h_http(const char *method, const char *url, const char *const *headers, const char *body, size_t body_len,
            h_resp_t *out);
void h_resp_free(h_resp_t *r);
/* URL-encodes s (UTF-8 bytes) into b. */
void h_urlencode(buf_t *b, const char *s);

#endif
