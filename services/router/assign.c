#include "assign.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "gclock.h"
#include "log.h"
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
    g_rules_at = gclock_mono_ms();
    return true;
}

bool assign_rule(PGconn *conn, const char *service_code, category_rule_t *out, char *err, size_t errsz)
{
    if ((g_nrules < 0 || gclock_mono_ms() - g_rules_at > RULE_CACHE_MS) && !load_rules(conn, err, errsz))
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
