/* gridgov-tally-load: drives gridgov-tally's command socket directly, as intake's DEALERs do, for
 * bench/tally.sh: the cast path without HTTP in front (what tally and PostgreSQL can do), and the
 * time a close takes (the count and the result of a large motion).
 *
 *   gridgov-tally-load cast ENDPOINT MOTION CREDS_FILE SENDERS WINDOW
 *       one cast per line of CREDS_FILE (a credential), marks [i % 3], from SENDERS threads, each
 *       keeping WINDOW casts in flight; prints "casts=N created=N refused=N other=N seconds=S rate=R"
 *   gridgov-tally-load close ENDPOINT MOTION STAFF_ID
 *       prints "close ms=M status=S outcome=O"
 *   gridgov-tally-load cmd ENDPOINT JSON
 *       sends one command (an id is added) and prints the reply
 *
 * The bus as the daemons' (GRIDGOV_CURVE_DIR, intake's key; GRIDGOV_CURVE=off for one host) and
 * GRIDGOV_BUS_MAX_COMMAND for the frame limit; GRIDGOV_TALLY_LOAD_TIMEOUT_MS bounds the wait for one
 * command's answer (60000). Exit status 2 on bad arguments, 1 on failure. */
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <zmq.h>

#include "bus.h"
#include "cmdclient.h"
#include "uuid.h"

static bus_t *g_bus;
static const char *g_endpoint, *g_motion;
static char **g_creds;
static size_t g_n;
static int g_senders, g_window;
static atomic_long g_created, g_refused, g_other;

static double now_s(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (double)ts.tv_sec + (double)ts.tv_nsec / 1e9;
}

static void *sender(void *arg)
{
    size_t k = (size_t)(intptr_t)arg;
    void *s = zmq_socket(bus_ctx(g_bus), ZMQ_DEALER);
    int linger = 0, hwm = 100000;
    zmq_setsockopt(s, ZMQ_LINGER, &linger, sizeof linger);
    zmq_setsockopt(s, ZMQ_SNDHWM, &hwm, sizeof hwm);
    zmq_setsockopt(s, ZMQ_RCVHWM, &hwm, sizeof hwm);
    char err[256];
    if (!bus_connect(g_bus, s, BUS_COMMANDS, g_endpoint, "tally", err, sizeof err)) {
        fprintf(stderr, "tally-load: %s\n", err);
        zmq_close(s);
        return NULL;
    }
    size_t next = k, inflight = 0;
    for (;;) {
        while (inflight < (size_t)g_window && next < g_n) {
            char id[UUID_STR_LEN], frame[256];
            uuid_v4(id);
            int len = snprintf(frame, sizeof frame,
                               "{\"id\":\"%s\",\"action\":\"cast\",\"motion\":\"%s\",\"credential\":\"%s\",\"marks\":[%zu]}", id,
                               g_motion, g_creds[next], next % 3);
            zmq_send(s, frame, (size_t)len, 0);
            inflight++;
            next += (size_t)g_senders;
        }
        if (!inflight)
            break;
        zmq_pollitem_t it = {s, 0, ZMQ_POLLIN, 0};
        if (zmq_poll(&it, 1, 30000) != 1) {
            atomic_fetch_add(&g_other, (long)inflight);
            break;
        }
        char buf[512];
        int n = zmq_recv(s, buf, sizeof buf - 1, 0);
        if (n <= 0)
            continue;
        inflight--;
        buf[n < (int)sizeof buf - 1 ? n : (int)sizeof buf - 1] = '\0';
        if (strstr(buf, "\"status\":201"))
            atomic_fetch_add(&g_created, 1);
        else if (strstr(buf, "already_voted"))
            atomic_fetch_add(&g_refused, 1);
        else
            atomic_fetch_add(&g_other, 1);
    }
    zmq_close(s);
    return NULL;
}

/* cmdclient (IMMEDIATE) refuses to queue a command before its connection is up: until then, a
 * command that does not exist is sent until tally answers it (404), so that the timed command
 * goes out on a connection that works. */
static bool await_connection(cmdclient_t *cl)
{
    char err[256];
    for (int i = 0; i < 100; i++) {
        char id[UUID_STR_LEN];
        uuid_v4(id);
        json_t *ping = json_pack("{s:s,s:s,s:i,s:s}", "id", id, "action", "close", "staff_id", 1, "motion", "M0000-000000");
        json_t *r = cmdclient_call(cl, ping, 100, 1, err, sizeof err);
        json_decref(ping);
        bool up = r != NULL;
        json_decref(r);
        if (up)
            return true;
    }
    fprintf(stderr, "tally-load: %s\n", err);
    return false;
}

static bool load_creds(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f)
        return false;
    size_t cap = 1024;
    char **list = malloc(cap * sizeof *list);
    char line[128];
    bool ok = list != NULL;
    while (ok && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = '\0';
        if (!line[0])
            continue;
        if (g_n == cap) {
            char **m = realloc(list, (cap *= 2) * sizeof *list);
            if (!m) {
                ok = false;
                break;
            }
            list = m;
        }
        list[g_n++] = strdup(line);
    }
    fclose(f);
    g_creds = list;
    return ok && g_n > 0;
}

int main(int argc, char **argv)
{
    bool cmd_mode = argc == 4 && !strcmp(argv[1], "cmd");
    if (!cmd_mode && (argc < 5 || (strcmp(argv[1], "cast") && strcmp(argv[1], "close")) || (!strcmp(argv[1], "cast") && argc != 7))) {
        fprintf(stderr, "usage: gridgov-tally-load cast ENDPOINT MOTION CREDS_FILE SENDERS WINDOW\n"
                        "       gridgov-tally-load close ENDPOINT MOTION STAFF_ID\n"
                        "       gridgov-tally-load cmd ENDPOINT JSON\n");
        return 2;
    }
    const char *dir = getenv("GRIDGOV_CURVE_DIR"), *curve = getenv("GRIDGOV_CURVE"), *max = getenv("GRIDGOV_BUS_MAX_COMMAND");
    bus_opts_t o = {.curve = !curve || strcmp(curve, "off"), .curve_dir = dir ? dir : "var/curve", .name = "intake",
                    .max_command = max ? atol(max) : 0};
    char err[512];
    if (!(g_bus = bus_new(&o, err, sizeof err))) {
        fprintf(stderr, "tally-load: %s\n", err);
        return 1;
    }
    g_endpoint = argv[2];
    g_motion = argv[3];
    int status = 0;
    if (cmd_mode) {
        json_error_t je;
        json_t *cmd = json_loads(argv[3], 0, &je);
        cmdclient_t *cl = cmd ? cmdclient_new(g_bus, g_endpoint, "tally", err, sizeof err) : NULL;
        char id[UUID_STR_LEN];
        uuid_v4(id);
        if (cmd)
            json_object_set_new(cmd, "id", json_string(id));
        const char *tmo = getenv("GRIDGOV_TALLY_LOAD_TIMEOUT_MS");
        json_t *r = cl && await_connection(cl) ? cmdclient_call(cl, cmd, tmo ? atoi(tmo) : 60000, 1, err, sizeof err) : NULL;
        char *text = r ? json_dumps(r, JSON_COMPACT) : NULL;
        if (text)
            printf("%s\n", text);
        else
            fprintf(stderr, "tally-load: %s\n", cmd ? err : je.text);
        status = r && json_integer_value(json_object_get(r, "status")) < 300 ? 0 : 1;
        free(text);
        json_decref(r);
        json_decref(cmd);
        cmdclient_destroy(&cl);
    } else if (!strcmp(argv[1], "close")) {
        cmdclient_t *cl = cmdclient_new(g_bus, g_endpoint, "tally", err, sizeof err);
        char id[UUID_STR_LEN];
        uuid_v4(id);
        json_t *cmd = json_pack("{s:s,s:s,s:I,s:s}", "id", id, "action", "close", "staff_id", (json_int_t)atoll(argv[4]), "motion",
                                g_motion);
        bool up = cl && await_connection(cl);
        double t0 = now_s();
        json_t *r = up ? cmdclient_call(cl, cmd, 60000, 1, err, sizeof err) : NULL;
        double ms = (now_s() - t0) * 1000;
        if (!r) {
            fprintf(stderr, "tally-load: close: %s\n", err);
            status = 1;
        } else {
            const char *outcome = json_string_value(json_object_get(json_object_get(json_object_get(r, "body"), "result"), "outcome"));
            printf("close ms=%.0f status=%lld outcome=%s\n", ms, (long long)json_integer_value(json_object_get(r, "status")),
                   outcome ? outcome : "-");
            status = json_integer_value(json_object_get(r, "status")) == 200 ? 0 : 1;
        }
        json_decref(r);
        json_decref(cmd);
        cmdclient_destroy(&cl);
    } else {
        g_senders = atoi(argv[5]);
        g_window = atoi(argv[6]);
        if (g_senders < 1 || g_senders > 256 || g_window < 1 || !load_creds(argv[4])) {
            fprintf(stderr, "tally-load: SENDERS 1-256, WINDOW >= 1, and a file of credentials\n");
            bus_destroy(&g_bus);
            return 2;
        }
        pthread_t th[256];
        double t0 = now_s();
        for (int i = 0; i < g_senders; i++)
            pthread_create(&th[i], NULL, sender, (void *)(intptr_t)i);
        for (int i = 0; i < g_senders; i++)
            pthread_join(th[i], NULL);
        double secs = now_s() - t0;
        printf("casts=%zu created=%ld refused=%ld other=%ld seconds=%.2f rate=%.0f\n", g_n, atomic_load(&g_created),
               atomic_load(&g_refused), atomic_load(&g_other), secs, (double)g_n / secs);
        status = atomic_load(&g_other) ? 1 : 0;
        for (size_t i = 0; i < g_n; i++)
            free(g_creds[i]);
        free(g_creds);
    }
    bus_destroy(&g_bus);
    return status;
}
