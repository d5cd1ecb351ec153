/* 派单 of the new tickets of one consumer transaction (assign.h: assign_on_ticket_batch).
 *
 * The batch is routed in chunks of ASSIGN_CHUNK, each in three steps:
 *   plan     router.assign_plan reads where each ticket lives, the open ticket it could follow,
 *            the earlier tickets of the batch near it, and who can hold it with their load;
 *   resolve  assign_resolve_range() decides, in commit order (assign_resolve.h);
 *   apply    router.assign_apply writes tickets, aggregates, transitions and events; each row
 *            carries its action, state and event as the lifecycle table names them.
 * The writes go to the consumer's connection, inside its transaction; the plans are read on the
 * router's other connection while the previous chunk's apply runs, so the two overlap. That
 * connection cannot see this transaction's writes, so everything the batch has done so far is
 * passed along: the tickets assigned earlier in the batch among each ticket's candidates to
 * follow, and the loads it has given (assign_given_t). The outcome is the same as routing one
 * ticket at a time. Without the second connection the plans run on the consumer's. */
#include "assign.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "assign_resolve.h"
#include "buf.h"
#include "db.h"
#include "lifecycle.h"
#include "log.h"
#include "timefmt.h"

/* router.assign_plan compares each ticket with the earlier ones of the batch, so a call's cost
 * grows with its size times the batch's: a consumer transaction (up to 1,000 events) is planned
 * in chunks. */
#define ASSIGN_CHUNK 200

static const char PLAN_SQL[] =
    "SELECT ord, routed, group_id, village_id, township_id, county_id, unit_id, dup_id, dup_received, dup_unit_id,"
    " dup_code, near, staff FROM router.assign_plan($1::jsonb)";
static const char APPLY_SQL[] = "SELECT router.assign_apply($1::jsonb)";

static const char *str(const json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

/* One new ticket: what its envelope says, its rule, and where the plan placed it. */
typedef struct {
    const json_t *data; /* borrowed from the envelope */
    const char *service;
    category_rule_t rule;
    bool has_pt;
    double lat, lon;
    int64_t group_id, village_id, township_id, county_id;
} batch_ticket_t;

/* PostgreSQL int[] text ("{1,5}") into a malloc'd array. */
static int *parse_int_array(const char *s, size_t *n)
{
    *n = 0;
    size_t cap = 1;
    for (const char *q = s; *q; q++)
        cap += *q == ',';
    int *out = malloc(cap * sizeof *out);
    if (!out)
        log_oom();
    for (const char *q = s; *q;) {
        if (*q >= '0' && *q <= '9') {
            char *end;
            out[(*n)++] = (int)strtol(q, &end, 10);
            q = end;
        } else {
            q++;
        }
    }
    return out;
}

/* Staff candidates [[id, tier, load], ...] (router.assign_plan) into a malloc'd array. */
static assign_staff_t *parse_staff(const char *text, size_t *n)
{
    json_error_t jerr;
    json_t *a = json_loads(text, 0, &jerr);
    *n = json_is_array(a) ? json_array_size(a) : 0;
    assign_staff_t *out = calloc(*n ? *n : 1, sizeof *out);
    if (!out)
        log_oom();
    for (size_t k = 0; k < *n; k++) {
        const json_t *e = json_array_get(a, k);
        out[k].id = json_integer_value(json_array_get(e, 0));
        out[k].tier = (int)json_integer_value(json_array_get(e, 1));
        out[k].load = json_integer_value(json_array_get(e, 2));
    }
    json_decref(a);
    return out;
}

static int64_t col_id(const PGresult *r, int row, int col)
{
    return PQgetisnull(r, row, col) ? 0 : atoll(PQgetvalue(r, row, col));
}

/* JSON text is written straight into a buffer: building jansson objects for every row cost more
 * of the router's CPU (allocations, formatting reals) than the rest of its work. */
static void put_str(buf_t *b, const char *key, const char *v)
{
    buf_printf(b, ",\"%s\":", key);
    if (v)
        buf_put_json_string(b, v);
    else
        buf_puts(b, "null");
}

static void put_id(buf_t *b, const char *key, int64_t v)
{
    if (v)
        buf_printf(b, ",\"%s\":%lld", key, (long long)v);
    else
        buf_printf(b, ",\"%s\":null", key);
}

/* The reported point as JSON numbers (exactly as the envelope had them), when there is one. */
static void put_point(buf_t *b, const json_t *d)
{
    const json_t *lat = json_object_get(d, "lat"), *lon = json_object_get(d, "long");
    if (json_is_number(lat) && json_is_number(lon))
        buf_printf(b, ",\"lat\":%.17g,\"long\":%.17g", json_number_value(lat), json_number_value(lon));
}

/* Whether earlier ticket e could be the original that ticket n follows, as far as cheap tests can
 * tell: the same category, inside n's window, and inside a box around n a little larger than its
 * radius. router.assign_plan measures the distance of those that pass. */
static bool maybe_near(const batch_ticket_t *e, const assign_item_t *ei, const batch_ticket_t *n,
                       const assign_item_t *ni, double cos_lat)
{
    if (!e->has_pt || !n->has_pt || n->rule.dup_radius_m <= 0 || strcmp(e->service, n->service) != 0 ||
        ei->received_us < ni->received_us - llround(n->rule.dup_window_h * 3600e6))
        return false;
    double r = n->rule.dup_radius_m * 1.01 + 1; /* metres, with room for rounding */
    double dlat = fabs(e->lat - n->lat) * 110574.0;  /* the shortest degree of latitude */
    double dlon = fabs(e->lon - n->lon) * 111320.0 * cos_lat * 0.99;
    return dlat <= r && dlon <= r;
}

/* A ticket as router.assign_plan reads it, with its candidates among items[0..j): the earlier
 * tickets of its chunk (from on), and the earlier chunks' assigned ones when the plan cannot see
 * them (below from). */
static void plan_row(buf_t *b, const batch_ticket_t *bt, const assign_item_t *items, size_t j, size_t from,
                     bool sees_batch)
{
    const batch_ticket_t *t = &bt[j];
    const assign_item_t *it = &items[j];
    const json_t *d = t->data;
    buf_printf(b, "%s{\"ord\":%zu,\"received\":%lld", b->len > 1 ? "," : "", j, (long long)it->received_us);
    put_str(b, "service", t->service);
    put_point(b, d);
    buf_puts(b, ",\"cand\":[");
    bool first = true;
    double cos_lat = cos(t->lat * M_PI / 180);
    for (size_t i = sees_batch ? from : 0; i < j; i++) {
        if ((i < from && items[i].outcome != ASSIGN_ASSIGNED) || !maybe_near(&bt[i], &items[i], t, it, cos_lat))
            continue;
        buf_printf(b, "%s[%zu,%.17g,%.17g]", first ? "" : ",", i, bt[i].lat, bt[i].lon);
        first = false;
    }
    buf_putc(b, ']');
    put_id(b, "ticket_id", it->ticket_id);
    /* no phone: the event has none (version 2); the plan reads it from intake.ticket_contact */
    put_str(b, "address_id", str(d, "address_id"));
    put_str(b, "address_string", str(d, "address_string"));
    put_str(b, "level", t->rule.level);
    put_str(b, "office", t->rule.office);
    buf_printf(b, ",\"radius\":%.3f,\"window_h\":%.3f}", t->rule.dup_radius_m, t->rule.dup_window_h);
}

/* A ticket as router.assign_apply writes it. */
static void apply_row(buf_t *b, router_t *r, const batch_ticket_t *t, const assign_item_t *it, size_t ord)
{
    buf_printf(b, "%s{\"ord\":%zu,\"received\":%lld", b->len > 1 ? "," : "", ord, (long long)it->received_us);
    put_id(b, "ticket_id", it->ticket_id);
    put_str(b, "code", it->code);
    put_str(b, "service", t->service);
    /* what the lifecycle table says a new ticket's assignment or merge is called and leads to */
    action_t a = it->outcome == ASSIGN_MERGED ? ACT_MERGE : ACT_ASSIGN;
    put_str(b, "action", lifecycle_action_name(a));
    put_str(b, "state", lifecycle_state_name(lifecycle_target(a, ST_NEW, false)));
    put_str(b, "event", lifecycle_event(a, false));
    put_id(b, "group_id", t->group_id);
    put_id(b, "village_id", t->village_id);
    put_id(b, "township_id", t->township_id);
    put_id(b, "county_id", t->county_id);
    if (it->outcome == ASSIGN_MERGED) {
        put_id(b, "unit_id", it->merged_unit_id);
        put_id(b, "merged_into", it->merged_into);
        put_str(b, "merged_code", it->merged_code);
    } else {
        /* The clocks run from the moment the resident was answered, on the working-time calendar. */
        const category_rule_t *c = &t->rule;
        int64_t at = it->received_us;
        put_id(b, "unit_id", it->unit_id);
        put_id(b, "assignee_id", it->assignee_id);
        buf_printf(b, ",\"sign_due\":%lld,\"sign_warn\":%lld,\"resolve_due\":%lld,\"resolve_warn\":%lld",
                   (long long)workcal_add(r->cal, at, llround(c->sign_hours * 3600)),
                   (long long)workcal_add(r->cal, at, llround(c->sign_hours * c->warn_share * 3600)),
                   (long long)workcal_add(r->cal, at, llround(c->resolve_hours * 3600)),
                   (long long)workcal_add(r->cal, at, llround(c->resolve_hours * c->warn_share * 3600)));
    }
    put_point(b, t->data);
    buf_putc(b, '}');
}

/* Waits for the result of a query sent with PQsendQueryParams, reading it to the end. */
static bool finish(PGconn *conn, bool *pending, char *err, size_t errsz)
{
    if (!*pending)
        return true;
    *pending = false;
    bool ok = true;
    PGresult *res;
    while ((res = PQgetResult(conn))) {
        if (PQresultStatus(res) != PGRES_TUPLES_OK && PQresultStatus(res) != PGRES_COMMAND_OK) {
            if (ok)
                snprintf(err, errsz, "router.assign_apply: %s", PQresultErrorMessage(res));
            ok = false;
        }
        PQclear(res);
    }
    return ok;
}

/* Fills items[from..to) from the plan's rows (one per ticket, by ord). */
static bool take_plan(const PGresult *plan, batch_ticket_t *bt, assign_item_t *items, size_t from, size_t to,
                      char *err, size_t errsz)
{
    if ((size_t)PQntuples(plan) != to - from) {
        snprintf(err, errsz, "router.assign_plan returned %d rows for %zu tickets", PQntuples(plan), to - from);
        return false;
    }
    for (int row = 0; row < PQntuples(plan); row++) {
        size_t i = (size_t)atoll(PQgetvalue(plan, row, 0));
        if (i < from || i >= to) {
            snprintf(err, errsz, "router.assign_plan returned ord %zu outside %zu..%zu", i, from, to);
            return false;
        }
        assign_item_t *it = &items[i];
        it->routed = it->routed || PQgetvalue(plan, row, 1)[0] == 't';
        bt[i].group_id = col_id(plan, row, 2);
        bt[i].village_id = col_id(plan, row, 3);
        bt[i].township_id = col_id(plan, row, 4);
        bt[i].county_id = col_id(plan, row, 5);
        it->unit_id = col_id(plan, row, 6);
        it->dup_id = col_id(plan, row, 7);
        it->dup_received_us = col_id(plan, row, 8);
        it->dup_unit_id = col_id(plan, row, 9);
        it->dup_code = PQgetisnull(plan, row, 10) ? NULL : PQgetvalue(plan, row, 10);
        it->near = parse_int_array(PQgetvalue(plan, row, 11), &it->nnear);
        it->staff = parse_staff(PQgetvalue(plan, row, 12), &it->nstaff);
    }
    return true;
}

bool assign_on_ticket_batch(PGconn *conn, const json_t *const *envelopes, size_t n, void *arg, char *err,
                            size_t errsz)
{
    router_t *r = arg;
    batch_ticket_t *bt = calloc(n ? n : 1, sizeof *bt);
    assign_item_t *items = calloc(n ? n : 1, sizeof *items);
    if (!bt || !items)
        log_oom();
    PGresult *plan = NULL; /* the chunk's: dup_code points into it until its rows are written */
    assign_given_t given = {0};
    buf_t json = BUF_INIT;
    bool ok = false, pending = false;
    size_t m = 0; /* tickets that can be routed */
    for (size_t i = 0; i < n; i++) {
        const json_t *d = json_object_get(envelopes[i], "data");
        const char *id = str(d, "ticket_id"), *code = str(d, "code"), *service = str(d, "service_code");
        const char *req = str(d, "requested_at");
        int64_t received;
        if (!id || !*id || strspn(id, "0123456789") != strlen(id) || strlen(id) > 18 || !code || !service || !req ||
            !timefmt_parse(req, &received)) {
            /* nothing to route: skip it (retrying cannot help) */
            log_error("ticket.created %s without a numeric ticket_id, code, service_code or requested_at: skipped",
                      json_string_value(json_object_get(envelopes[i], "id")));
            continue;
        }
        if (!assign_rule(conn, service, &bt[m].rule, err, errsz))
            goto done;
        bt[m].data = d;
        bt[m].service = service;
        bt[m].has_pt = json_is_number(json_object_get(d, "lat")) && json_is_number(json_object_get(d, "long"));
        bt[m].lat = json_number_value(json_object_get(d, "lat"));
        bt[m].lon = json_number_value(json_object_get(d, "long"));
        items[m] = (assign_item_t){.ticket_id = atoll(id), .code = code, .received_us = received};
        /* the same ticket twice in one batch (a replayed event under another id): the first
         * routes it, the second finds it routed, as one at a time */
        for (size_t k = 0; k < m; k++)
            if (items[k].ticket_id == items[m].ticket_id)
                items[m].routed = 1;
        m++;
    }
    /* the plans' connection: the router's own, idle while the consumer runs (same thread) */
    PGconn *reader = db_conn(r->db, err, errsz);
    if (!reader)
        reader = conn;
    /* Read on the consumer's own connection, a plan sees the batch's writes so far: the tickets
     * (candidates come from the chunk alone) and the loads (the triggers counted them: nothing to
     * carry). */
    bool sees_batch = reader == conn;
    for (size_t from = 0; from < m; from += ASSIGN_CHUNK) {
        size_t to = m - from < ASSIGN_CHUNK ? m : from + ASSIGN_CHUNK;
        if (sees_batch)
            assign_given_free(&given);
        buf_reset(&json);
        buf_putc(&json, '[');
        for (size_t j = from; j < to; j++)
            plan_row(&json, bt, items, j, from, sees_batch);
        buf_putc(&json, ']');
        const char *p[] = {buf_str(&json)};
        /* on the consumer's own connection the previous apply must end first */
        PQclear(plan);
        bool plan_ok = (reader != conn || finish(conn, &pending, err, errsz)) &&
                       (plan = db_pq_exec(reader, PLAN_SQL, 1, p, err, errsz, NULL)) != NULL;
        if (!finish(conn, &pending, err, errsz) || !plan_ok || !take_plan(plan, bt, items, from, to, err, errsz))
            goto done;
        assign_resolve_range(items, from, to, &given);
        buf_reset(&json);
        buf_putc(&json, '[');
        for (size_t i = from; i < to; i++)
            if (items[i].outcome != ASSIGN_SKIP)
                apply_row(&json, r, &bt[i], &items[i], i);
        buf_putc(&json, ']');
        if (json.len > 2) {
            /* sent, not awaited: the next chunk's plan runs meanwhile */
            const char *ap[] = {buf_str(&json)};
            pending = PQsendQueryParams(conn, APPLY_SQL, 1, NULL, ap, NULL, NULL, 0) == 1;
            if (!pending) {
                snprintf(err, errsz, "router.assign_apply: %s", PQerrorMessage(conn));
                goto done;
            }
        }
    }
    ok = finish(conn, &pending, err, errsz);
done:
    if (!finish(conn, &pending, err, errsz))
        ok = false;
    for (size_t i = 0; i < m; i++) {
        free((void *)items[i].near);
        free((void *)items[i].staff);
    }
    PQclear(plan);
    assign_given_free(&given);
    buf_free(&json);
    free(items);
    free(bt);
    return ok;
}
