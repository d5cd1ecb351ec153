#include "server.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "cast.h"
#include "commands.h"
#include "gclock.h"
#include "log.h"

typedef struct {
    zmq_msg_t who;
    command_t cmd;
    char *reply;   /* set when answered */
} frame_t;

static void send_reply(void *sock, frame_t *f)
{
    /* ROUTER_MANDATORY: a peer that went away makes this fail; it will retry by id */
    if (zmq_send(sock, zmq_msg_data(&f->who), zmq_msg_size(&f->who), ZMQ_SNDMORE | ZMQ_DONTWAIT) < 0 ||
        zmq_send(sock, f->reply, strlen(f->reply), ZMQ_DONTWAIT) < 0)
        log_debug("reply not delivered: %s", zmq_strerror(errno));
}

/* Runs the casts of fs[from, to) as one batch and answers them. */
static void flush_casts(tally_t *t, void *sock, frame_t *fs, int from, int to)
{
    int n = 0;
    for (int i = from; i < to; i++)
        n += !fs[i].reply && fs[i].cmd.action == MA_CAST;
    if (!n)
        return;
    command_t *cmds = malloc((size_t)n * sizeof *cmds);
    char **out = malloc((size_t)n * sizeof *out);
    int *at = malloc((size_t)n * sizeof *at);
    if (!cmds || !out || !at)
        log_oom();
    int k = 0;
    for (int i = from; i < to; i++)
        if (!fs[i].reply && fs[i].cmd.action == MA_CAST) {
            cmds[k] = fs[i].cmd;
            at[k++] = i;
        }
    cast_batch(t, cmds, (size_t)n, gclock_now_us(), out);
    for (int j = 0; j < n; j++) {
        fs[at[j]].reply = out[j];
        send_reply(sock, &fs[at[j]]);
    }
    free(cmds);
    free(out);
    free(at);
}

int server_serve(tally_t *t, void *sock, bool *rang)
{
    int max = t->cast_batch_max, n = 0;
    frame_t *fs = calloc((size_t)max, sizeof *fs);
    if (!fs)
        log_oom();
    while (n < max) {
        frame_t *f = &fs[n];
        zmq_msg_init(&f->who);
        if (zmq_msg_recv(&f->who, sock, ZMQ_DONTWAIT) < 0) {
            zmq_msg_close(&f->who);
            break;
        }
        zmq_msg_t body;
        zmq_msg_init(&body);
        bool ok = zmq_msg_more(&f->who) && zmq_msg_recv(&body, sock, 0) >= 0;
        while (ok && zmq_msg_more(&body)) { /* drop extra frames */
            zmq_msg_t x;
            zmq_msg_init(&x);
            zmq_msg_recv(&x, sock, 0);
            int more = zmq_msg_more(&x);
            zmq_msg_close(&x);
            if (!more)
                break;
        }
        if (!ok) {
            zmq_msg_close(&body);
            zmq_msg_close(&f->who);
            continue;
        }
        f->reply = command_parse(zmq_msg_data(&body), zmq_msg_size(&body), &f->cmd);
        zmq_msg_close(&body);
        n++;
    }
    int batch_from = 0;
    for (int i = 0; i < n; i++) {
        if (fs[i].reply) {
            send_reply(sock, &fs[i]);
            continue;
        }
        if (fs[i].cmd.action == MA_CAST)
            continue;
        flush_casts(t, sock, fs, batch_from, i);
        batch_from = i + 1;
        fs[i].reply = commands_handle(t, &fs[i].cmd, gclock_now_us(), rang);
        send_reply(sock, &fs[i]);
    }
    flush_casts(t, sock, fs, batch_from, n);
    for (int i = 0; i < n; i++) {
        free(fs[i].reply);
        json_decref(fs[i].cmd.cmd);
        zmq_msg_close(&fs[i].who);
    }
    free(fs);
    return n;
}
