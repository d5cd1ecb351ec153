#include "assign.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "db.h"
#include "log.h"
#include "assign_resolve.h"
#include "timefmt.h"

static PGresult *exec(PGconn *c, const char *sql, int n, const char *const *p, char *err, size_t errsz)
{
    return db_pq_exec(c, sql, n, p, err, errsz, NULL);
}

/* Rules change rarely: they are read once every RULE_CACHE_MS, not per ticket. */
#define RULE_CACHE_MS 30000
#define MAX_RULES 256
static struct {
    char service[40];
    category_rule_t rule;
} g_rules[MAX_RULES];
static int g_nrules = -1;
static long long g_rules_at;

static long long mono_ms(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
}

static const category_rule_t DEFAULT_RULE = {.level = "village", .sign_hours = 8, .resolve_hours = 40,
                                             .warn_share = 0.8, .dup_radius_m = 250, .dup_window_h = 168};

static bool load_rules(PGconn *conn, char *err, size_t errsz)
{
    PGresult *r = exec(conn,
                       "SELECT service_code, level, coalesce(office, ''), sign_hours, resolve_hours, warn_share,"
                       " dup_radius_m, dup_window_h FROM router.category_rule ORDER BY service_code",
                       0, NULL, err, errsz);
    if (!r)
        return false;
    int n = PQntuples(r) < MAX_RULES ? PQntuples(r) : MAX_RULES;
    for (int i = 0; i < n; i++) {
        category_rule_t *c = &g_rules[i].rule;
        snprintf(g_rules[i].service, sizeof g_rules[i].service, "%s", PQgetvalue(r, i, 0));
        snprintf(c->level, sizeof c->level, "%s", PQgetvalue(r, i, 1));
        snprintf(c->office, sizeof c->office, "%s", PQgetvalue(r, i, 2));
        c->sign_hours = atof(PQgetvalue(r, i, 3));
        c->resolve_hours = atof(PQgetvalue(r, i, 4));
        c->warn_share = atof(PQgetvalue(r, i, 5));
        c->dup_radius_m = atof(PQgetvalue(r, i, 6));
        c->dup_window_h = atof(PQgetvalue(r, i, 7));
    }
    PQclear(r);
    g_nrules = n;
    g_rules_at = mono_ms();
    return true;
}

bool assign_rule(PGconn *conn, const char *service_code, category_rule_t *out, char *err, size_t errsz)
{
    if ((g_nrules < 0 || mono_ms() - g_rules_at > RULE_CACHE_MS) && !load_rules(conn, err, errsz))
        return false;
    *out = DEFAULT_RULE;
    for (int i = 0; i < g_nrules; i++)
        if (!strcmp(g_rules[i].service, service_code)) {
            *out = g_rules[i].rule;
            break;
        }
    return true;
}

bool assign_parent(PGconn *conn, int64_t unit_id, int64_t *parent, char *err, size_t errsz)
{
    char id[24];
    snprintf(id, sizeof id, "%lld", (long long)unit_id);
    const char *p[] = {id};
    PGresult *r = exec(conn, "SELECT coalesce(parent_id, 0) FROM registry.unit WHERE id = $1::bigint", 1, p, err, errsz);
    if (!r)
        return false;
    *parent = PQntuples(r) ? atoll(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    return true;
}

bool assign_hold(router_t *r, PGconn *conn, int64_t ticket_id, int64_t unit_id, const category_rule_t *rule,
                 int64_t now_us, char *err, size_t errsz)
{
    char unit[24], id[24], at[32], due[32], warn[32];
    snprintf(unit, sizeof unit, "%lld", (long long)unit_id);
    snprintf(id, sizeof id, "%lld", (long long)ticket_id);
    router_ts(now_us, at);
    router_ts(workcal_add(r->cal, now_us, (int64_t)llround(rule->sign_hours * 3600)), due);
    router_ts(workcal_add(r->cal, now_us, (int64_t)llround(rule->sign_hours * rule->warn_share * 3600)), warn);
    const char *p[] = {id, unit, rule->level, rule->office, at, due, warn};
    PGresult *u = exec(conn,
                       "SELECT router.hold($1::bigint, $2::bigint, $3, $4, to_timestamp($5::float8),"
                       " to_timestamp($6::float8), to_timestamp($7::float8))",
                       7, p, err, errsz);
    PQclear(u);
    return u != NULL;
}

static const char *str(const json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

static double epoch_s(int64_t us) { return (double)us / 1e6; }

/* One new ticket of a batch: what the envelope says and the rule's clocks. */
typedef struct {
    const json_t *data;  /* borrowed from the envelope */
    int64_t ticket_id, received_us;
    category_rule_t rule;
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

static void set_id(json_t *o, const char *k, int64_t v) { json_object_set_new(o, k, v ? json_integer(v) : json_null()); }

/* The rows router.assign_apply writes: one per ticket that was not routed before. */
static json_t *apply_rows(router_t *r, const batch_ticket_t *bt, const assign_item_t *items, const PGresult *plan,
                          size_t n)
{
    json_t *rows = json_array();
    for (size_t i = 0; i < n; i++) {
        const assign_item_t *it = &items[i];
        if (it->outcome == ASSIGN_SKIP)
            continue;
        const json_t *d = bt[i].data;
        json_t *o = json_object();
        json_object_set_new(o, "ord", json_integer((json_int_t)i));
        json_object_set_new(o, "ticket_id", json_integer(it->ticket_id));
        json_object_set_new(o, "code", json_string(it->code));
        json_object_set_new(o, "service", json_string(str(d, "service_code")));
        json_object_set_new(o, "state", json_string(it->outcome == ASSIGN_MERGED ? "merged" : "assigned"));
        set_id(o, "group_id", col_id(plan, (int)i, 2));
        set_id(o, "village_id", col_id(plan, (int)i, 3));
        set_id(o, "township_id", col_id(plan, (int)i, 4));
        set_id(o, "county_id", col_id(plan, (int)i, 5));
        json_object_set_new(o, "received", json_real(epoch_s(it->received_us)));
        if (it->outcome == ASSIGN_MERGED) {
            set_id(o, "unit_id", it->merged_unit_id);
            set_id(o, "merged_into", it->merged_into);
            json_object_set_new(o, "merged_code", it->merged_code ? json_string(it->merged_code) : json_null());
        } else {
            /* The clocks run from the moment the resident was answered, on the working-time calendar. */
            const category_rule_t *c = &bt[i].rule;
            int64_t at = it->received_us;
            set_id(o, "unit_id", it->unit_id);
            set_id(o, "assignee_id", it->assignee_id);
            json_object_set_new(o, "sign_due", json_real(epoch_s(workcal_add(r->cal, at, llround(c->sign_hours * 3600)))));
            json_object_set_new(o, "sign_warn", json_real(epoch_s(workcal_add(
                                                    r->cal, at, llround(c->sign_hours * c->warn_share * 3600)))));
            json_object_set_new(o, "resolve_due",
                                json_real(epoch_s(workcal_add(r->cal, at, llround(c->resolve_hours * 3600)))));
            json_object_set_new(o, "resolve_warn", json_real(epoch_s(workcal_add(
                                                       r->cal, at, llround(c->resolve_hours * c->warn_share * 3600)))));
        }
        json_object_set(o, "lat", json_object_get(d, "lat"));
        json_object_set(o, "long", json_object_get(d, "long"));
        json_array_append_new(rows, o);
    }
    return rows;
}

/* Runs one SQL call with a JSON array as its parameter. */
static PGresult *call_json(PGconn *conn, const char *sql, const json_t *arg, char *err, size_t errsz)
{
    char *text = json_dumps(arg, JSON_COMPACT);
    if (!text)
        log_oom();
    const char *p[] = {text};
    PGresult *res = exec(conn, sql, 1, p, err, errsz);
    free(text);
    return res;
}

/* One chunk of a batch: plan, resolve, apply. */
static bool assign_chunk(router_t *r, PGconn *conn, const json_t *const *envelopes, size_t n, char *err, size_t errsz)
{
    batch_ticket_t *bt = calloc(n, sizeof *bt);
    assign_item_t *items = calloc(n, sizeof *items);
    if (!bt || !items)
        log_oom();
    json_t *plan_in = json_array();
    size_t m = 0; /* tickets that can be routed */
    bool ok = false;
    PGresult *plan = NULL;
    for (size_t i = 0; i < n; i++) {
        const json_t *d = json_object_get(envelopes[i], "data");
        const char *id = str(d, "ticket_id"), *code = str(d, "code"), *service = str(d, "service_code");
        const char *req = str(d, "requested_at");
        int64_t received;
        if (!id || !code || !service || !req || !timefmt_parse(req, &received)) {
            /* nothing to route: skip it (retrying cannot help) */
            log_error("ticket.created %s without ticket_id, code, service_code or requested_at: skipped",
                      json_string_value(json_object_get(envelopes[i], "id")));
            continue;
        }
        batch_ticket_t *t = &bt[m];
        t->data = d;
        t->ticket_id = atoll(id);
        t->received_us = received;
        if (!assign_rule(conn, service, &t->rule, err, errsz))
            goto done;
        items[m].ticket_id = t->ticket_id;
        items[m].code = code;
        items[m].received_us = received;
        bool has_pt = json_is_number(json_object_get(d, "lat")) && json_is_number(json_object_get(d, "long"));
        json_t *o = json_object();
        json_object_set_new(o, "ord", json_integer((json_int_t)m));
        json_object_set_new(o, "ticket_id", json_integer(t->ticket_id));
        json_object_set_new(o, "service", json_string(service));
        if (has_pt) {
            json_object_set(o, "lat", json_object_get(d, "lat"));
            json_object_set(o, "long", json_object_get(d, "long"));
        }
        if (str(d, "address_id"))
            json_object_set(o, "address_id", json_object_get(d, "address_id"));
        const char *phone = str(json_object_get(d, "reporter"), "phone");
        if (phone)
            json_object_set_new(o, "phone", json_string(phone));
        json_object_set_new(o, "received", json_real(epoch_s(received)));
        json_object_set_new(o, "level", json_string(t->rule.level));
        json_object_set_new(o, "office", json_string(t->rule.office));
        json_object_set_new(o, "radius", json_real(t->rule.dup_radius_m));
        json_object_set_new(o, "window_h", json_real(t->rule.dup_window_h));
        json_array_append_new(plan_in, o);
        m++;
    }
    if (m == 0) {
        ok = true;
        goto done;
    }
    plan = call_json(conn,
                     "SELECT ord, routed, group_id, village_id, township_id, county_id, unit_id, unit_level, dup_id,"
                     " dup_received, dup_unit_id, dup_code, near, staff FROM router.assign_plan($1::jsonb)",
                     plan_in, err, errsz);
    if (!plan)
        goto done;
    if ((size_t)PQntuples(plan) != m) {
        snprintf(err, errsz, "router.assign_plan returned %d rows for %zu tickets", PQntuples(plan), m);
        goto done;
    }
    for (size_t i = 0; i < m; i++) {
        assign_item_t *it = &items[i];
        int row = (int)i; /* ordered by ord */
        it->routed = PQgetvalue(plan, row, 1)[0] == 't';
        it->unit_id = col_id(plan, row, 6);
        it->dup_id = col_id(plan, row, 8);
        it->dup_received_us = PQgetisnull(plan, row, 9) ? 0 : llround(atof(PQgetvalue(plan, row, 9)) * 1e6);
        it->dup_unit_id = col_id(plan, row, 10);
        it->dup_code = PQgetisnull(plan, row, 11) ? NULL : PQgetvalue(plan, row, 11);
        it->near = parse_int_array(PQgetvalue(plan, row, 12), &it->nnear);
        it->staff = parse_staff(PQgetvalue(plan, row, 13), &it->nstaff);
    }
    assign_resolve(items, m);
    json_t *rows = apply_rows(r, bt, items, plan, m);
    PGresult *res = json_array_size(rows) ? call_json(conn, "SELECT router.assign_apply($1::jsonb)", rows, err, errsz)
                                          : PQmakeEmptyPGresult(NULL, PGRES_TUPLES_OK);
    json_decref(rows);
    ok = res != NULL;
    PQclear(res);
done:
    for (size_t i = 0; i < m; i++) {
        free((void *)items[i].near);
        free((void *)items[i].staff);
    }
    PQclear(plan);
    json_decref(plan_in);
    free(items);
    free(bt);
    return ok;
}

/* router.assign_plan compares each ticket with the earlier ones of its call, so its cost grows with
 * the square of the call's size: a consumer transaction (up to 500 events) is routed in chunks.
 * A chunk sees the tickets the chunks before it wrote (same transaction), so the result is the
 * same as one ticket at a time. */
#define ASSIGN_CHUNK 100

bool assign_on_ticket_batch(PGconn *conn, const json_t *const *envelopes, size_t n, void *arg, char *err,
                            size_t errsz)
{
    for (size_t i = 0; i < n; i += ASSIGN_CHUNK)
        if (!assign_chunk(arg, conn, envelopes + i, n - i < ASSIGN_CHUNK ? n - i : ASSIGN_CHUNK, err, errsz))
            return false;
    return true;
}
