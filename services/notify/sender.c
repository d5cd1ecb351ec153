/* sender: claims, checks and sends due messages over one libcurl multi handle (sender.h). */
#include "sender.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "backoff.h"
#include "buf.h"
#include "delivery.h"
#include "gclock.h"
#include "log.h"
#include "limits.h"
#include "optout.h"

#define TS(n) "('epoch'::timestamptz + $" #n "::bigint * interval '1 microsecond')"
#define MAX_SOCKETS 256
#define MAX_SMS_PARAMS 16

/* Due pending rows, and rows whose claim ran out; oldest due first. Each kind from its own
 * partial index in its order (message_due, message_lease), LIMIT rows each, then the oldest
 * LIMIT of both: a claim reads a few index entries however long the backlog. (One scan with
 * "pending AND due OR sending AND expired" can use neither index for the order: it read and
 * sorted every due row at each claim, a backlog of N cost N per claim.) */
static const char CLAIM_SQL[] =
    "WITH p AS (SELECT id, due_at FROM notify.message WHERE state = 'pending' AND due_at <= " TS(1)
    "   ORDER BY due_at LIMIT $3::int FOR UPDATE SKIP LOCKED),"
    " l AS (SELECT id, due_at FROM notify.message WHERE state = 'sending' AND lease_until < " TS(1)
    "   ORDER BY lease_until LIMIT $3::int FOR UPDATE SKIP LOCKED),"
    " c AS (SELECT id FROM (SELECT id, due_at FROM p UNION ALL SELECT id, due_at FROM l) x"
    "   ORDER BY due_at LIMIT $3::int)"
    " UPDATE notify.message m SET state = 'sending', lease_until = " TS(1) " + make_interval(secs => $4::int),"
    "  leased_by = $2"
    " FROM c, notify.template t WHERE m.id = c.id AND t.key = m.template_key"
    " RETURNING m.id, m.channel, m.address, m.fallback_phone, m.params::text, m.wechat_data::text, m.body,"
    "  m.urgent, m.audience, m.template_key, m.route, m.attempts, t.aliyun_code, t.tencent_id,"
    "  array_to_json(t.sms_params)::text, t.wechat_template_id, t.secret";

const char *sender_claim_sql(void) { return CLAIM_SQL; }

/* From now on the message counts against its recipient's rate limits (limits.h). */
static const char DISPATCH_SQL[] =
    "UPDATE notify.message SET claimed_at = " TS(3)
    " WHERE id IN (SELECT jsonb_array_elements_text($1::jsonb)::uuid) AND state = 'sending' AND leased_by = $2";

enum { C_ID, C_CHANNEL, C_ADDRESS, C_FALLBACK, C_PARAMS, C_WECHAT, C_BODY, C_URGENT, C_AUDIENCE, C_TEMPLATE,
       C_ROUTE, C_ATTEMPTS, C_ALIYUN, C_TENCENT, C_SMS_PARAMS, C_WECHAT_TMPL, C_SECRET };

/* A claimed message while its transfer runs: copies of its row. */
typedef struct xfer {
    CURL *h;
    provider_t *p;
    void *call;
    bool token_fetch; /* a provider's own request (a token), no message */
    buf_t resp;
    char id[40];
    char *channel, *fallback;
    int attempts;
    struct xfer *next;
} xfer_t;

typedef struct {
    curl_socket_t fd;
    int what; /* CURL_POLL_IN / OUT / INOUT */
} sock_t;

struct sender {
    sender_opts_t o;
    char *instance;
    db_t *db;
    providers_t *providers;
    CURLM *multi;
    xfer_t *xfers;
    int in_flight; /* message transfers (token fetches not counted) */
    sock_t socks[MAX_SOCKETS];
    int n_socks;
    long curl_timeout_ms; /* -1: none */
    int64_t curl_timer_set_ms;
    int64_t next_claim_ms;
    unsigned rnd;
    bool db_down_logged;
    /* a pass's writes, made in one statement each before its COMMIT (flush) */
    json_t *outcomes;       /* delivery_row()s */
    json_t *dispatched;     /* ids */
    limits_seen_t *seen;    /* the claim pass's rate-limit view (NULL outside one) */
    int64_t first_outcome_ms; /* when the oldest outcome not yet written was queued; 0: none */
};

/* ---- libcurl's sockets and timer, for zmq_poll ---- */

static int on_socket(CURL *h, curl_socket_t fd, int what, void *userp, void *socketp)
{
    (void)h;
    (void)socketp;
    sender_t *s = userp;
    for (int i = 0; i < s->n_socks; i++) {
        if (s->socks[i].fd != fd)
            continue;
        if (what == CURL_POLL_REMOVE)
            s->socks[i] = s->socks[--s->n_socks];
        else
            s->socks[i].what = what;
        return 0;
    }
    if (what != CURL_POLL_REMOVE && s->n_socks < MAX_SOCKETS)
        s->socks[s->n_socks++] = (sock_t){fd, what};
    return 0;
}

static int on_timer(CURLM *m, long timeout_ms, void *userp)
{
    (void)m;
    sender_t *s = userp;
    s->curl_timeout_ms = timeout_ms;
    s->curl_timer_set_ms = gclock_mono_ms();
    return 0;
}

static size_t on_body(char *data, size_t size, size_t n, void *userp)
{
    xfer_t *x = userp;
    if (x->resp.len + size * n > 1024 * 1024)
        return 0; /* a provider's answer is small: more is not one */
    buf_append(&x->resp, data, size * n);
    return size * n;
}

/* ---- the life of a transfer ---- */

static xfer_t *xfer_new(sender_t *s, provider_t *p, CURL *h, void *call)
{
    xfer_t *x = calloc(1, sizeof *x);
    if (!x)
        log_oom();
    x->h = h;
    x->p = p;
    x->call = call;
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, x);
    curl_easy_setopt(h, CURLOPT_PRIVATE, x);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    x->next = s->xfers;
    s->xfers = x;
    curl_multi_add_handle(s->multi, h);
    return x;
}

static void xfer_free(sender_t *s, xfer_t *x)
{
    for (xfer_t **pp = &s->xfers; *pp; pp = &(*pp)->next)
        if (*pp == x) {
            *pp = x->next;
            break;
        }
    curl_multi_remove_handle(s->multi, x->h);
    curl_easy_cleanup(x->h);
    buf_free(&x->resp);
    free(x->channel);
    free(x->fallback);
    free(x);
}

/* ---- outcomes ---- */

static int64_t now_us(void) { return gclock_now_us(); }

static PGconn *conn(sender_t *s)
{
    char err[256];
    PGconn *c = db_conn(s->db, err, sizeof err);
    if (!c && !s->db_down_logged) {
        log_warn("sender: database unavailable: %s", err);
        s->db_down_logged = true;
    } else if (c) {
        s->db_down_logged = false;
    }
    return c;
}

/* Queues d for message id: written with the pass's other outcomes (flush_outcomes). */
static void apply(sender_t *s, const char *id, const delivery_t *d)
{
    json_t *row = delivery_row(id, d, now_us());
    if (!row || json_array_append_new(s->outcomes, row) != 0)
        log_oom();
    if (s->seen && d->next != DELIVERY_SENT)
        limits_released(s->seen, id);
}

/* Writes the queued outcomes in one statement. If that fails, none is recorded: the claims run out
 * and the messages are sent again, under their ids. */
static void flush_outcomes(sender_t *s)
{
    size_t n = json_array_size(s->outcomes);
    if (n == 0)
        return;
    char err[512];
    json_t *applied = json_object();
    if (!applied)
        log_oom();
    if (!conn(s)) {
        /* the claims run out and the messages are sent again: under their ids, recognisable */
    } else if (!delivery_apply_rows_db(s->db, s->instance, s->outcomes, now_us(), applied, err, sizeof err)) {
        log_warn("sender: recording %zu outcomes: %s", n, err);
    } else if (json_object_size(applied) < n) {
        size_t i;
        json_t *row;
        json_array_foreach(s->outcomes, i, row) {
            char lower[40];
            snprintf(lower, sizeof lower, "%s", json_string_value(json_object_get(row, "id")));
            for (char *c = lower; *c; c++)
                *c = (char)(*c >= 'A' && *c <= 'Z' ? *c - 'A' + 'a' : *c);
            if (!json_object_get(applied, lower))
                log_warn("sender: message %s was no longer ours (its claim ran out): its outcome is not recorded",
                         lower);
        }
    }
    json_decref(applied);
    json_array_clear(s->outcomes);
}

/* Marks the pass's dispatched messages in one statement. */
static bool flush_dispatched(sender_t *s)
{
    if (json_array_size(s->dispatched) == 0)
        return true;
    char err[512], nowtxt[24];
    char *js = json_dumps(s->dispatched, JSON_COMPACT);
    if (!js)
        log_oom();
    snprintf(nowtxt, sizeof nowtxt, "%lld", (long long)now_us());
    const char *dp[] = {js, s->instance, nowtxt};
    PGresult *dr = db_exec_prepared(s->db, "notify_dispatch_batch", DISPATCH_SQL, 3, dp, err, sizeof err, NULL);
    free(js);
    json_array_clear(s->dispatched);
    if (!dr) {
        log_warn("sender: marking dispatched messages: %s", err);
        return false;
    }
    PQclear(dr);
    return true;
}

/* Gives a claimed message back without an attempt: due at due_us (a hold). */
static void hold(sender_t *s, const char *id, int64_t due_us, const char *why)
{
    delivery_t d = {.next = DELIVERY_AGAIN, .due_us = due_us, .code = why};
    log_debug("sender: message %s held: %s", id, why);
    apply(s, id, &d);
}

/* What an outcome of provider p does to message id (delivery.h's diagram). */
static void outcome(sender_t *s, const char *id, const char *channel, const char *fallback, int attempts, provider_t *p,
                    const outcome_t *out)
{
    const char *pname = p->ops->name;
    provider_t *nx = strcmp(channel, "sms") == 0 ? providers_next_sms(s->providers, pname) : NULL;
    int64_t wait = backoff_ms(attempts + 1, s->o.backoff_base_ms, s->o.backoff_max_ms, (uint32_t)rand_r(&s->rnd));
    delivery_t d = delivery_decide(out, pname, channel, fallback, attempts, s->o.max_attempts,
                                   nx ? nx->ops->name : NULL, now_us(), wait);
    if (out->kind == OUTCOME_TOKEN && p->ops->token_refused) {
        PGconn *c = conn(s);
        if (c)
            p->ops->token_refused(p, c);
    }
    if (d.next != DELIVERY_SENT)
        log_info("sender: message %s via %s: %s %s%s%s", id, pname, d.outcome, out->code,
                 d.next == DELIVERY_DEAD ? ": dead letter, " : "", d.next == DELIVERY_DEAD ? d.reason : "");
    apply(s, id, &d);
}

/* ---- one transaction per pass ----
 * A pass's writes (the outcomes of the transfers that finished since the last pass, the claim and
 * its checks, holds and dispatch marks) go in one transaction, one statement for each kind: one
 * commit, one WAL flush, for the batch instead of one or two per message (notify's only
 * connection waits for each in turn: with per-statement commits a send cost two flushes and the
 * sender ran at a few hundred a second). If the commit fails, the batch's writes are gone as if
 * notify had been killed: claims not taken, outcomes not recorded and the messages sent again
 * under the same id when the claims run out. */

static bool tx(sender_t *s, const char *cmd)
{
    PGconn *c = conn(s);
    if (!c)
        return false;
    if (strcmp(cmd, "COMMIT") == 0 && PQtransactionStatus(c) != PQTRANS_INTRANS) {
        /* aborted by an error, or a new connection (the old one broke): nothing to commit */
        log_warn("sender: the batch's transaction was lost (%s): its writes are not recorded",
                 PQtransactionStatus(c) == PQTRANS_INERROR ? "an error aborted it" : "the connection changed");
        if (PQtransactionStatus(c) == PQTRANS_INERROR)
            PQclear(PQexec(c, "ROLLBACK"));
        return false;
    }
    PGresult *r = PQexec(c, cmd);
    /* COMMIT of a transaction an error aborted answers ROLLBACK, a success as far as libpq goes */
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK && strcmp(PQcmdStatus(r), "ROLLBACK") != 0;
    if (!ok)
        log_warn("sender: %s: %s", cmd, PQresultStatus(r) == PGRES_COMMAND_OK ? "rolled back" : PQerrorMessage(c));
    PQclear(r);
    if (!ok && PQtransactionStatus(c) != PQTRANS_IDLE) {
        PGresult *rb = PQexec(c, "ROLLBACK");
        PQclear(rb);
    }
    return ok;
}

/* ---- claiming and starting ---- */

static bool is_resident(const char *audience)
{
    return strcmp(audience, "reporter") == 0 || strcmp(audience, "follower") == 0 || strcmp(audience, "resident") == 0 ||
           strcmp(audience, "voter") == 0 || strcmp(audience, "household") == 0;
}

/* What a claim pass read for its whole batch at once: who opted out, the rate-limit view. */
typedef struct {
    json_t *opted;  /* phones as keys; NULL: the list could not be read */
    bool seen_ok;   /* s->seen was read */
} pass_t;

/* Checks one claimed row and starts it (or decides it at once). Returns 1 when it reached an
 * outcome now, 0 when started or held, -1 on a database error. */
static int start_one(sender_t *s, const pass_t *ps, PGresult *r, int i)
{
    const char *id = PQgetvalue(r, i, C_ID), *channel = PQgetvalue(r, i, C_CHANNEL),
               *address = PQgetvalue(r, i, C_ADDRESS), *audience = PQgetvalue(r, i, C_AUDIENCE),
               *tkey = PQgetvalue(r, i, C_TEMPLATE);
    const char *fallback = PQgetisnull(r, i, C_FALLBACK) ? NULL : PQgetvalue(r, i, C_FALLBACK);
    const char *route = PQgetisnull(r, i, C_ROUTE) ? NULL : PQgetvalue(r, i, C_ROUTE);
    bool urgent = strcmp(PQgetvalue(r, i, C_URGENT), "t") == 0;
    int attempts = atoi(PQgetvalue(r, i, C_ATTEMPTS));
    int64_t now = now_us();
    PGconn *c = conn(s);
    if (!c)
        return -1;
    bool sms = strcmp(channel, "sms") == 0;

    if (sms && !urgent) {
        if (!ps->opted) {
            hold(s, id, now + 5 * 1000000LL, "opt-out list unreadable");
            return -1;
        }
        if (json_object_get(ps->opted, address)) {
            delivery_t d = {.next = DELIVERY_DEAD, .code = "opted_out",
                            .reason = "the recipient opted out of SMS (TD); only urgent messages reach them"};
            apply(s, id, &d);
            return 1;
        }
    }
    if (sms && !urgent && is_resident(audience)) {
        int64_t until = quiet_until(&s->o.quiet, now / 1000000);
        if (until > 0) {
            hold(s, id, until * 1000000, "quiet hours");
            return 0;
        }
    }
    if (limits_any(&s->o.limits, channel)) {
        if (!ps->seen_ok) {
            hold(s, id, now + 5 * 1000000LL, "rate limits unreadable");
            return -1;
        }
        int64_t nb = limits_check(s->seen, &s->o.limits, id, channel, address, tkey, now);
        if (nb > now) {
            hold(s, id, nb, "rate limit");
            return 0;
        }
    }

    provider_t *p = providers_for(s->providers, channel, route);
    if (!p) { /* the table's CHECK keeps this from happening; say so if it does */
        delivery_t d = {.next = DELIVERY_DEAD, .code = "channel", .reason = "no provider serves this channel"};
        apply(s, id, &d);
        return 1;
    }
    if (p->ops->ready) {
        CURL *fetch = NULL;
        void *fcall = NULL;
        if (!p->ops->ready(p, c, now / 1000000, &fetch, &fcall)) {
            if (fetch) {
                xfer_t *fx = xfer_new(s, p, fetch, fcall);
                fx->token_fetch = true;
            }
            hold(s, id, now + 1000 * 1000, "waiting for the provider's access token");
            return 0;
        }
    }

    /* the message as the provider sees it */
    json_error_t jerr;
    json_t *params = json_loads(PQgetvalue(r, i, C_PARAMS), 0, &jerr);
    json_t *wechat = PQgetisnull(r, i, C_WECHAT) ? NULL : json_loads(PQgetvalue(r, i, C_WECHAT), 0, &jerr);
    json_t *names = json_loads(PQgetvalue(r, i, C_SMS_PARAMS), 0, &jerr);
    const char *pnames[MAX_SMS_PARAMS];
    size_t n_pn = 0;
    for (size_t k = 0; json_is_array(names) && k < json_array_size(names) && n_pn < MAX_SMS_PARAMS; k++)
        if (json_is_string(json_array_get(names, k)))
            pnames[n_pn++] = json_string_value(json_array_get(names, k));
    tmpl_codes_t tc = {.key = tkey,
                       .aliyun_code = PQgetisnull(r, i, C_ALIYUN) ? NULL : PQgetvalue(r, i, C_ALIYUN),
                       .tencent_id = PQgetisnull(r, i, C_TENCENT) ? NULL : PQgetvalue(r, i, C_TENCENT),
                       .sms_params = pnames,
                       .n_sms_params = n_pn,
                       .wechat_template_id = PQgetisnull(r, i, C_WECHAT_TMPL) ? NULL : PQgetvalue(r, i, C_WECHAT_TMPL),
                       .secret = PQgetvalue(r, i, C_SECRET)[0] == 't'};
    message_t m = {.id = id, .channel = channel, .address = address, .body = PQgetvalue(r, i, C_BODY),
                   .params = params, .wechat_data = wechat, .tmpl = &tc};

    /* from now on it counts against its recipient's limits: marked with the batch (flush_dispatched) */
    if (json_array_append_new(s->dispatched, json_string(id)) != 0)
        log_oom();
    if (s->seen)
        limits_dispatched(s->seen, id, channel, address, tkey, now);
    int rc = 0;
    void *call = NULL;
    outcome_t out;
    memset(&out, 0, sizeof out);
    CURL *h = p->ops->prepare(p, &m, now / 1000000, &call, &out);
    if (!h) {
        outcome(s, id, channel, fallback, attempts, p, &out);
        rc = 1;
        goto done;
    }
    xfer_t *x = xfer_new(s, p, h, call);
    snprintf(x->id, sizeof x->id, "%s", id);
    x->channel = strdup(channel);
    x->fallback = fallback ? strdup(fallback) : NULL;
    if (!x->channel || (fallback && !x->fallback))
        log_oom();
    x->attempts = attempts;
    s->in_flight++;
done:
    json_decref(params);
    json_decref(wechat);
    json_decref(names);
    return rc;
}

/* Records the outcomes queued since the last pass, then claims up to the free slots and starts
 * them, all in one transaction (above). Returns outcomes reached, -1 on a database error. */
static int claim(sender_t *s)
{
    int free_slots = s->o.concurrency - s->in_flight;
    s->first_outcome_ms = 0;
    if (free_slots <= 0 && json_array_size(s->outcomes) == 0)
        return 0;
    PGconn *c = conn(s);
    if (!c)
        return -1;
    char now[24], n[16], lease[16], err[512];
    snprintf(now, sizeof now, "%lld", (long long)now_us());
    snprintf(n, sizeof n, "%d", free_slots > 0 ? free_slots : 0);
    snprintf(lease, sizeof lease, "%d", s->o.lease_s);
    const char *p[] = {now, s->instance, n, lease};
    if (!tx(s, "BEGIN"))
        return -1;
    /* the finished transfers' outcomes first: a retry due now is claimed by this very pass */
    flush_outcomes(s);
    if (free_slots <= 0) {
        tx(s, "COMMIT");
        return 0;
    }
    /* not prepared: a generic plan could not know how few rows LIMIT $3 wants (the index order) */
    PGresult *r = db_pq_exec(c, CLAIM_SQL, 4, p, err, sizeof err, NULL);
    if (!r) {
        log_warn("sender: claiming due messages: %s", err);
        tx(s, "ROLLBACK");
        return -1;
    }
    xfer_t *before = s->xfers; /* the transfers this batch starts go in front of it */
    int done = 0, rows = PQntuples(r);
    /* the batch's opt-outs and rate-limit state, one statement each */
    json_t *phones = json_array(), *recips = json_array();
    pass_t ps = {.opted = json_object()};
    if (!phones || !recips || !ps.opted)
        log_oom();
    for (int i = 0; i < rows; i++) {
        const char *channel = PQgetvalue(r, i, C_CHANNEL), *address = PQgetvalue(r, i, C_ADDRESS);
        if (strcmp(channel, "sms") == 0 && strcmp(PQgetvalue(r, i, C_URGENT), "t") != 0)
            json_array_append_new(phones, json_string(address));
        if (limits_any(&s->o.limits, channel))
            json_array_append_new(recips, json_pack("{s:s, s:s}", "channel", channel, "address", address));
    }
    if (json_array_size(phones) > 0 && !optout_which_db(s->db, phones, ps.opted, err, sizeof err)) {
        log_warn("sender: reading the opt-out list: %s", err);
        json_decref(ps.opted);
        ps.opted = NULL;
    }
    s->seen = limits_load(c, &s->o.limits, recips, now_us(), err, sizeof err);
    ps.seen_ok = s->seen != NULL;
    if (!ps.seen_ok)
        log_warn("sender: rate limits: %s", err);
    json_decref(phones);
    json_decref(recips);
    for (int i = 0; i < rows; i++) {
        int k = start_one(s, &ps, r, i);
        if (k > 0)
            done += k;
    }
    PQclear(r);
    json_decref(ps.opted);
    limits_seen_free(&s->seen);
    /* the dispatch marks before the outcomes decided at once: as if written one by one */
    flush_dispatched(s);
    flush_outcomes(s);
    if (!tx(s, "COMMIT")) {
        /* the claims were not taken: their calls must not go (not one has been made yet: libcurl
         * starts them in the next sender_run) */
        while (s->xfers != before) {
            xfer_t *x = s->xfers;
            if (x->p->ops->cancel)
                x->p->ops->cancel(x->p, x->call);
            if (!x->token_fetch)
                s->in_flight--;
            xfer_free(s, x);
        }
        return -1;
    }
    /* a full batch: more may be due at once */
    s->next_claim_ms = gclock_mono_ms() + (rows == free_slots ? 0 : s->o.idle_ms);
    return done;
}

/* ---- the loop's side ---- */

/* Below this many free slots a finished transfer does not bring the next claim forward: claims
 * (and the outcomes written with them) then go in batches of a quarter of send_concurrency
 * instead of one or two at a time, each its own transaction, when the calls finish one by one. */
static int claim_at(const sender_t *s) { return s->o.concurrency / 4 > 1 ? s->o.concurrency / 4 : 1; }

/* An outcome waits for the next claim at most this long (a few slow calls would otherwise keep
 * the finished ones' outcomes unwritten until a quarter of the slots is free). */
#define OUTCOME_WAIT_MS 20

/* Takes the outcomes of the transfers that finished; the next claim's transaction records them. */
static int finished(sender_t *s)
{
    int done = 0, left;
    CURLMsg *msg;
    while ((msg = curl_multi_info_read(s->multi, &left))) {
        if (msg->msg != CURLMSG_DONE)
            continue;
        xfer_t *x = NULL;
        curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&x);
        CURLcode rc = msg->data.result;
        long status = 0;
        curl_easy_getinfo(x->h, CURLINFO_RESPONSE_CODE, &status);
        const char *body = buf_str(&x->resp);
        if (x->token_fetch) {
            PGconn *c = conn(s);
            if (c && x->p->ops->fetched)
                x->p->ops->fetched(x->p, c, x->call, rc, status, body, x->resp.len);
            else if (x->p->ops->cancel)
                x->p->ops->cancel(x->p, x->call);
            s->next_claim_ms = 0; /* messages held for the token may go */
        } else {
            outcome_t out;
            memset(&out, 0, sizeof out);
            x->p->ops->finish(x->p, x->call, rc, status, body, x->resp.len, &out);
            outcome(s, x->id, x->channel, x->fallback, x->attempts, x->p, &out);
            s->in_flight--;
            done++;
            int64_t now = gclock_mono_ms();
            if (!s->first_outcome_ms)
                s->first_outcome_ms = now;
            if (s->o.concurrency - s->in_flight >= claim_at(s) || s->in_flight == 0)
                s->next_claim_ms = 0;
            else if (s->next_claim_ms > s->first_outcome_ms + OUTCOME_WAIT_MS)
                s->next_claim_ms = s->first_outcome_ms + OUTCOME_WAIT_MS;
        }
        xfer_free(s, x);
    }
    return done;
}

int sender_run(sender_t *self, const zmq_pollitem_t *items, int n)
{
    int running;
    for (int i = 0; i < n; i++) {
        int ev = 0;
        if (items[i].revents & ZMQ_POLLIN)
            ev |= CURL_CSELECT_IN;
        if (items[i].revents & ZMQ_POLLOUT)
            ev |= CURL_CSELECT_OUT;
        if (items[i].revents & ZMQ_POLLERR)
            ev |= CURL_CSELECT_ERR;
        if (ev)
            curl_multi_socket_action(self->multi, items[i].fd, ev, &running);
    }
    if (self->curl_timeout_ms >= 0 && gclock_mono_ms() >= self->curl_timer_set_ms + self->curl_timeout_ms) {
        self->curl_timeout_ms = -1;
        curl_multi_socket_action(self->multi, CURL_SOCKET_TIMEOUT, 0, &running);
    }
    int done = finished(self);
    if (gclock_mono_ms() >= self->next_claim_ms) {
        int k = claim(self);
        if (k < 0) {
            self->next_claim_ms = gclock_mono_ms() + 1000;
            return done > 0 ? done : -1;
        }
        done += k;
    }
    return done;
}

int sender_pollitems(sender_t *self, zmq_pollitem_t *items, int max)
{
    int n = 0;
    for (int i = 0; i < self->n_socks && n < max; i++) {
        short ev = 0;
        if (self->socks[i].what & CURL_POLL_IN)
            ev |= ZMQ_POLLIN;
        if (self->socks[i].what & CURL_POLL_OUT)
            ev |= ZMQ_POLLOUT;
        items[n++] = (zmq_pollitem_t){NULL, self->socks[i].fd, ev, 0};
    }
    return n;
}

int sender_timeout_ms(const sender_t *self)
{
    int64_t now = gclock_mono_ms(), wait = self->next_claim_ms - now;
    if (self->in_flight >= self->o.concurrency && json_array_size(self->outcomes) == 0)
        wait = 60000; /* no free slot: only a finished transfer frees one */
    if (self->curl_timeout_ms >= 0) {
        int64_t cw = self->curl_timer_set_ms + self->curl_timeout_ms - now;
        if (cw < wait)
            wait = cw;
    }
    return wait < 0 ? 0 : (wait > 60000 ? 60000 : (int)wait);
}

void sender_kick(sender_t *self) { self->next_claim_ms = 0; }

int sender_in_flight(const sender_t *self) { return self->in_flight; }

sender_t *sender_new(const sender_opts_t *opts, db_t *db, providers_t *providers, char *err, size_t errsz)
{
    sender_t *s = calloc(1, sizeof *s);
    if (!s)
        log_oom();
    s->o = *opts;
    s->instance = strdup(opts->instance);
    s->db = db;
    s->providers = providers;
    s->curl_timeout_ms = -1;
    s->outcomes = json_array();
    s->dispatched = json_array();
    if (!s->outcomes || !s->dispatched)
        log_oom();
    s->rnd = (unsigned)getpid() ^ (unsigned)gclock_mono_ms();
    s->multi = curl_multi_init();
    if (!s->instance || !s->multi) {
        snprintf(err, errsz, "libcurl: cannot make a multi handle");
        sender_destroy(&s);
        return NULL;
    }
    s->o.instance = s->instance;
    curl_multi_setopt(s->multi, CURLMOPT_SOCKETFUNCTION, on_socket);
    curl_multi_setopt(s->multi, CURLMOPT_SOCKETDATA, s);
    curl_multi_setopt(s->multi, CURLMOPT_TIMERFUNCTION, on_timer);
    curl_multi_setopt(s->multi, CURLMOPT_TIMERDATA, s);
    /* one connection per provider host would serialize calls; allow as many as transfers */
    curl_multi_setopt(s->multi, CURLMOPT_MAX_TOTAL_CONNECTIONS, (long)opts->concurrency + 4);
    return s;
}

void sender_destroy(sender_t **self)
{
    if (!self || !*self)
        return;
    sender_t *s = *self;
    while (s->xfers) {
        xfer_t *x = s->xfers;
        if (x->p->ops->cancel)
            x->p->ops->cancel(x->p, x->call);
        if (!x->token_fetch)
            hold(s, x->id, now_us(), "shutdown");
        xfer_free(s, x);
    }
    flush_outcomes(s);
    json_decref(s->outcomes);
    json_decref(s->dispatched);
    if (s->multi)
        curl_multi_cleanup(s->multi);
    free(s->instance);
    free(s);
    *self = NULL;
}
