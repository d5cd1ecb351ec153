#include "assign.h"

#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db.h"
#include "lifecycle.h"
#include "log.h"
#include "stats.h"
#include "timefmt.h"

static PGresult *exec(PGconn *c, const char *sql, int n, const char *const *p, char *err, size_t errsz)
{
    return db_pq_exec(c, sql, n, p, err, errsz, NULL);
}

bool assign_rule(PGconn *conn, const char *service_code, category_rule_t *out, char *err, size_t errsz)
{
    *out = (category_rule_t){.level = "village", .sign_hours = 8, .resolve_hours = 40, .warn_share = 0.8,
                             .dup_radius_m = 250, .dup_window_h = 168};
    const char *p[] = {service_code};
    PGresult *r = exec(conn,
                       "SELECT level, coalesce(office, ''), sign_hours, resolve_hours, warn_share, dup_radius_m, dup_window_h"
                       " FROM router.category_rule WHERE service_code = $1",
                       1, p, err, errsz);
    if (!r)
        return false;
    if (PQntuples(r) == 1) {
        snprintf(out->level, sizeof out->level, "%s", PQgetvalue(r, 0, 0));
        snprintf(out->office, sizeof out->office, "%s", PQgetvalue(r, 0, 1));
        out->sign_hours = atof(PQgetvalue(r, 0, 2));
        out->resolve_hours = atof(PQgetvalue(r, 0, 3));
        out->warn_share = atof(PQgetvalue(r, 0, 4));
        out->dup_radius_m = atof(PQgetvalue(r, 0, 5));
        out->dup_window_h = atof(PQgetvalue(r, 0, 6));
    }
    PQclear(r);
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

/* The person on duty at a unit: the right role for its level, the desk's office when the rule
 * names one (matched on the name tag, e.g. 王建国（水利站）), fewest open tickets, then lowest id. */
static const char DUTY_SQL[] =
    "SELECT s.id FROM registry.staff s JOIN registry.unit u ON u.id = s.unit_id"
    " WHERE s.unit_id = $1::bigint AND s.active"
    "  AND s.role = ANY (CASE u.level WHEN 'group' THEN ARRAY['group_leader', 'grid_worker']"
    "                   WHEN 'county' THEN ARRAY['handler', 'operator'] ELSE ARRAY['handler'] END)"
    "  AND ($2 = '' OR s.name LIKE '%' || $2 || '%')"
    " ORDER BY CASE WHEN s.role IN ('group_leader', 'handler') THEN 0 ELSE 1 END,"
    "  (SELECT count(*) FROM router.ticket t WHERE t.assignee_id = s.id"
    "   AND t.state IN ('assigned', 'accepted', 'in_progress')), s.id LIMIT 1";

bool assign_hold(router_t *r, PGconn *conn, int64_t ticket_id, int64_t unit_id, const category_rule_t *rule,
                 int64_t now_us, char *err, size_t errsz)
{
    char unit[24], id[24];
    snprintf(unit, sizeof unit, "%lld", (long long)unit_id);
    snprintf(id, sizeof id, "%lld", (long long)ticket_id);
    /* the office applies only at the level the rule names */
    PGresult *lv = exec(conn, "SELECT level FROM registry.unit WHERE id = $1::bigint", 1, (const char *const[]){unit},
                        err, errsz);
    if (!lv)
        return false;
    bool at_rule_level = PQntuples(lv) && !strcmp(PQgetvalue(lv, 0, 0), rule->level);
    PQclear(lv);
    const char *p1[] = {unit, at_rule_level ? rule->office : ""};
    PGresult *d = exec(conn, DUTY_SQL, 2, p1, err, errsz);
    if (!d)
        return false;
    if (PQntuples(d) == 0 && p1[1][0]) { /* no desk with that tag: anyone on duty there */
        PQclear(d);
        p1[1] = "";
        if (!(d = exec(conn, DUTY_SQL, 2, p1, err, errsz)))
            return false;
    }
    char duty[24] = "";
    if (PQntuples(d))
        snprintf(duty, sizeof duty, "%s", PQgetvalue(d, 0, 0));
    PQclear(d);
    char at[32], due[32], warn[32];
    router_ts(now_us, at);
    router_ts(workcal_add(r->cal, now_us, (int64_t)llround(rule->sign_hours * 3600)), due);
    router_ts(workcal_add(r->cal, now_us, (int64_t)llround(rule->sign_hours * rule->warn_share * 3600)), warn);
    const char *p2[] = {id, unit, duty[0] ? duty : NULL, at, due, warn};
    PGresult *u = exec(conn,
                       "UPDATE router.ticket SET unit_id = $2::bigint,"
                       " level = (SELECT level FROM registry.unit WHERE id = $2::bigint), assignee_id = $3::bigint,"
                       " assigned_at = to_timestamp($4::float8), sign_due = to_timestamp($5::float8),"
                       " sign_warn_at = to_timestamp($6::float8) WHERE ticket_id = $1::bigint",
                       6, p2, err, errsz);
    PQclear(u);
    return u != NULL;
}

/* Where the ticket lives: its grid cell (group) when one can be found, else the township desk
 * whose area holds the point, else the county desk. In order: the household named (address_id,
 * as a grid worker at the door gives it), the point reported (the problem's own place), the
 * reporter's registered household (by phone). */
static const char PLACE_SQL[] =
    "WITH pt AS (SELECT CASE WHEN $1::float8 IS NULL THEN NULL"
    "             ELSE ST_SetSRID(ST_MakePoint($2::float8, $1::float8), 4326) END AS g),"
    " named AS (SELECT h.group_id FROM registry.household h WHERE h.code = $3),"
    " geo AS (SELECT u.id FROM registry.unit u, pt WHERE pt.g IS NOT NULL AND u.level = 'group'"
    "         AND ST_Covers(u.boundary, pt.g) ORDER BY u.id LIMIT 1),"
    " home AS (SELECT h.group_id FROM registry.resident r JOIN registry.household h ON h.id = r.household_id"
    "          WHERE r.phone = $4 ORDER BY r.is_head DESC, r.id LIMIT 1),"
    " desk AS (SELECT u.id FROM registry.unit u, pt WHERE pt.g IS NOT NULL AND u.level = 'township'"
    "          AND ST_Covers(u.boundary, pt.g) ORDER BY u.id LIMIT 1),"
    " cell AS (SELECT coalesce((SELECT group_id FROM named), (SELECT id FROM geo), (SELECT group_id FROM home)) AS id)"
    " SELECT g.id, v.id, coalesce(t.id, (SELECT id FROM desk)),"
    "  (SELECT id FROM registry.unit WHERE level = 'county' ORDER BY id LIMIT 1)"
    " FROM cell LEFT JOIN registry.unit g ON g.id = cell.id LEFT JOIN registry.unit v ON v.id = g.parent_id"
    " LEFT JOIN registry.unit t ON t.id = v.parent_id";

static const char DUP_SQL[] =
    "SELECT r.ticket_id, r.code FROM router.ticket r JOIN intake.ticket i ON i.id = r.ticket_id"
    " WHERE r.service_code = $1 AND r.state NOT IN ('closed', 'rejected', 'merged')"
    "  AND r.received_at >= to_timestamp($2::float8) - make_interval(secs => $3::float8 * 3600)"
    "  AND r.ticket_id <> $6::bigint AND i.lat IS NOT NULL"
    "  AND ST_DWithin(ST_SetSRID(ST_MakePoint(i.long, i.lat), 4326)::geography,"
    "                 ST_SetSRID(ST_MakePoint($5::float8, $4::float8), 4326)::geography, $7::float8)"
    " ORDER BY r.received_at, r.ticket_id LIMIT 1";

static const char *str(const json_t *o, const char *k) { return json_string_value(json_object_get(o, k)); }

bool assign_on_ticket_created(PGconn *conn, const json_t *envelope, const char *raw, void *arg, char *err, size_t errsz)
{
    (void)raw;
    router_t *r = arg;
    const json_t *d = json_object_get(envelope, "data");
    const char *id = str(d, "ticket_id"), *code = str(d, "code"), *service = str(d, "service_code");
    const char *req = str(d, "requested_at");
    int64_t received_us;
    if (!id || !code || !service || !req || !timefmt_parse(req, &received_us)) {
        snprintf(err, errsz, "ticket.created without ticket_id, code, service_code or requested_at");
        return false;
    }
    bool has_pt = json_is_number(json_object_get(d, "lat")) && json_is_number(json_object_get(d, "long"));
    char lat[32] = "", lon[32] = "";
    if (has_pt) {
        snprintf(lat, sizeof lat, "%.8f", json_number_value(json_object_get(d, "lat")));
        snprintf(lon, sizeof lon, "%.8f", json_number_value(json_object_get(d, "long")));
    }
    const char *phone = str(json_object_get(d, "reporter"), "phone");

    PGresult *pl = exec(conn, PLACE_SQL, 4,
                        (const char *const[]){has_pt ? lat : NULL, has_pt ? lon : NULL, str(d, "address_id"), phone}, err,
                        errsz);
    if (!pl)
        return false;
    char gid[24], vid[24], tid[24], cid[24];
    snprintf(gid, sizeof gid, "%s", PQgetvalue(pl, 0, 0));
    snprintf(vid, sizeof vid, "%s", PQgetvalue(pl, 0, 1));
    snprintf(tid, sizeof tid, "%s", PQgetvalue(pl, 0, 2));
    snprintf(cid, sizeof cid, "%s", PQgetvalue(pl, 0, 3));
    PQclear(pl);
    if (!cid[0]) {
        snprintf(err, errsz, "the registry has no county");
        return false;
    }
    const char *placed = gid[0] ? gid : tid[0] ? tid : cid;

    category_rule_t rule;
    if (!assign_rule(conn, service, &rule, err, errsz))
        return false;
    char at[32];
    router_ts(received_us, at);

    /* Duplicate: an open ticket of the same category nearby and recent becomes the one this
     * report follows (重复件/合并). */
    char dup_id[24] = "", dup_code[40] = "";
    if (has_pt && rule.dup_radius_m > 0) {
        char win[32], rad[32];
        snprintf(win, sizeof win, "%.3f", rule.dup_window_h);
        snprintf(rad, sizeof rad, "%.3f", rule.dup_radius_m);
        PGresult *dp = exec(conn, DUP_SQL, 7, (const char *const[]){service, at, win, lat, lon, id, rad}, err, errsz);
        if (!dp)
            return false;
        if (PQntuples(dp)) {
            snprintf(dup_id, sizeof dup_id, "%s", PQgetvalue(dp, 0, 0));
            snprintf(dup_code, sizeof dup_code, "%s", PQgetvalue(dp, 0, 1));
        }
        PQclear(dp);
    }

    const char *p[] = {id, code, service, dup_id[0] ? "merged" : "assigned", placed, gid[0] ? gid : NULL,
                       vid[0] ? vid : NULL, tid[0] ? tid : NULL, cid, at, dup_id[0] ? dup_id : NULL};
    PGresult *ins = exec(conn,
                         "INSERT INTO router.ticket (ticket_id, code, service_code, state, placed_unit_id, group_id,"
                         " village_id, township_id, county_id, received_at, updated_at, merged_into, unit_id)"
                         " VALUES ($1::bigint, $2, $3, $4, $5::bigint, $6::bigint, $7::bigint, $8::bigint, $9::bigint,"
                         "  to_timestamp($10::float8), to_timestamp($10::float8), $11::bigint,"
                         "  (SELECT unit_id FROM router.ticket WHERE ticket_id = $11::bigint))"
                         " ON CONFLICT (ticket_id) DO NOTHING",
                         11, p, err, errsz);
    if (!ins)
        return false;
    bool fresh = !strcmp(PQcmdTuples(ins), "1");
    PQclear(ins);
    if (!fresh)
        return true; /* assigned before (a replay): nothing to do */

    if (dup_id[0]) {
        PGresult *f = exec(conn,
                           "INSERT INTO router.follower (ticket_id, source_ticket_id) VALUES ($1::bigint, $2::bigint)"
                           " ON CONFLICT DO NOTHING",
                           2, (const char *const[]){dup_id, id}, err, errsz);
        PQclear(f);
        char note[96];
        snprintf(note, sizeof note, "重复件，已并入 %s", dup_code);
        return f && lifecycle_record(conn, atoll(id), "merge", NULL, "merged", 0, note, received_us, NULL, "merged", err,
                                     errsz);
    }

    /* The unit at the rule's level above the placement (a desk cannot hand down). */
    const char *by_level[] = {gid, vid, tid, cid};
    const char *levels[] = {"group", "village", "township", "county"};
    const char *target = NULL;
    for (int i = 0; i < 4 && !target; i++)
        if (!strcmp(levels[i], rule.level))
            for (int j = i; j < 4 && !target; j++)
                if (by_level[j][0])
                    target = by_level[j];
    if (!target)
        target = cid;
    char due[32], warn[32];
    router_ts(workcal_add(r->cal, received_us, (int64_t)llround(rule.resolve_hours * 3600)), due);
    router_ts(workcal_add(r->cal, received_us, (int64_t)llround(rule.resolve_hours * rule.warn_share * 3600)), warn);
    PGresult *u = exec(conn,
                       "UPDATE router.ticket SET resolve_due = to_timestamp($2::float8),"
                       " resolve_warn_at = to_timestamp($3::float8) WHERE ticket_id = $1::bigint",
                       3, (const char *const[]){id, due, warn}, err, errsz);
    PQclear(u);
    if (!u)
        return false;
    PGresult *f = exec(conn, "INSERT INTO router.follower (ticket_id, source_ticket_id) VALUES ($1::bigint, $1::bigint)",
                       1, (const char *const[]){id}, err, errsz);
    PQclear(f);
    if (!f || !assign_hold(r, conn, atoll(id), atoll(target), &rule, received_us, err, errsz))
        return false;
    stat_delta_t sd = {.received = 1};
    return stats_add(conn, atoll(id), &sd, err, errsz) &&
           lifecycle_record(conn, atoll(id), "assign", NULL, "assigned", 0, NULL, received_us, NULL, "assigned", err,
                            errsz);
}
