/* gridgovctl staff: who handles what. One line per staff member, tab-separated under a header:
 *   id  role  name  unit  place  open
 * unit is the unit's code, place its names below the county (果园镇 九木村 安全组), open the
 * tickets they hold open (assigned, accepted, in progress: router.staff_workload, the count the
 * router weighs when it picks who is on duty). Active staff, by unit code, role and id.
 *   --unit CODE    the staff of one unit (not of the units below it)
 *   --role ROLE    grid_worker, group_leader, instructor, handler, supervisor or operator
 *   --ticket CODE  who holds the ticket now: a line naming the ticket, its state and the unit
 *                  holding it, then its assignee's line. A ticket filed a moment ago may not be
 *                  routed yet: it is waited for up to --wait seconds (default 5).
 *   -q             ids only, one a line (for TOKEN=$(gridgovctl token $(gridgovctl staff ... -q)))
 * Exit status 0 when someone was listed, 1 when nobody matched (or the ticket has no assignee,
 * or the database failed), 2 on a usage error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "ctl.h"
#include "db.h"

static const char *const ROLES[] = {"grid_worker", "group_leader", "instructor", "handler", "supervisor", "operator", NULL};

/* The place of unit u: its ancestors' names and its own, the county left out below it. */
#define PLACE_SQL(u, p1, p2)                                                                                    \
    "concat_ws(' ', CASE WHEN " p2 ".level <> 'county' THEN " p2 ".name END, CASE WHEN " p1 ".level <> 'county'" \
    " THEN " p1 ".name END, " u ".name)"

/* $1 unit code, $2 role, $3 staff id (each NULL for any); $4 true to list inactive staff too. */
static const char LIST_SQL[] =
    "SELECT s.id, s.role, s.name, u.code, " PLACE_SQL("u", "p1", "p2") ", coalesce(w.open, 0)"
    " FROM registry.staff s JOIN registry.unit u ON u.id = s.unit_id"
    " LEFT JOIN registry.unit p1 ON p1.id = u.parent_id LEFT JOIN registry.unit p2 ON p2.id = p1.parent_id"
    " LEFT JOIN router.staff_workload w ON w.staff_id = s.id"
    " WHERE ($4::boolean OR s.active) AND ($1::text IS NULL OR u.code = $1) AND ($2::text IS NULL OR s.role = $2)"
    "  AND ($3::bigint IS NULL OR s.id = $3::bigint)"
    " ORDER BY u.code, s.role, s.id";

/* Who holds a routed ticket: its state, the unit and the assignee. */
static const char HOLDER_SQL[] =
    "SELECT a.state, a.assignee_id, u.code, " PLACE_SQL("u", "p1", "p2") " FROM router.ticket_assignment a"
    " LEFT JOIN registry.unit u ON u.id = a.unit_id LEFT JOIN registry.unit p1 ON p1.id = u.parent_id"
    " LEFT JOIN registry.unit p2 ON p2.id = p1.parent_id WHERE a.code = $1";

static bool in_list(const char *s, const char *const *l)
{
    for (; *l; l++)
        if (!strcmp(s, *l))
            return true;
    return false;
}

static int usage(void)
{
    fprintf(stderr, "usage: gridgovctl staff [--unit CODE] [--role ROLE] [--ticket CODE [--wait SECONDS]] [-q]\n"
                    "  ROLE: grid_worker group_leader instructor handler supervisor operator\n");
    return 2;
}

/* Prints the staff matching the filters; returns how many, or -1 on a database error. */
static int list(db_t *db, const char *unit, const char *role, const char *id, bool quiet)
{
    char err[512];
    const char *p[] = {unit, role, id, id ? "true" : "false"};
    PGresult *r = db_exec(db, LIST_SQL, 4, p, err, sizeof err, NULL);
    if (!r) {
        fprintf(stderr, "gridgovctl: %s\n", err);
        return -1;
    }
    int n = PQntuples(r);
    if (!quiet && n > 0)
        printf("id\trole\tname\tunit\tplace\topen\n");
    for (int i = 0; i < n; i++) {
        if (quiet)
            printf("%s\n", PQgetvalue(r, i, 0));
        else
            printf("%s\t%s\t%s\t%s\t%s\t%s\n", PQgetvalue(r, i, 0), PQgetvalue(r, i, 1), PQgetvalue(r, i, 2),
                   PQgetvalue(r, i, 3), PQgetvalue(r, i, 4), PQgetvalue(r, i, 5));
    }
    PQclear(r);
    return n;
}

/* Looks the ticket up until it is routed or wait_s have passed. NULL with a message on failure. */
static PGresult *holder(db_t *db, const char *code, long wait_s)
{
    char err[512];
    const char *p[] = {code};
    for (long waited_ms = 0;; waited_ms += 100) {
        PGresult *r = db_exec(db, HOLDER_SQL, 1, p, err, sizeof err, NULL);
        if (!r) {
            fprintf(stderr, "gridgovctl: %s\n", err);
            return NULL;
        }
        if (PQntuples(r) == 1)
            return r;
        PQclear(r);
        if (waited_ms >= wait_s * 1000) {
            fprintf(stderr, "gridgovctl: no routed ticket %s (a mistyped code, or not routed yet: is the router running?)\n",
                    code);
            return NULL;
        }
        struct timespec ts = {0, 100 * 1000000L};
        nanosleep(&ts, NULL);
    }
}

int ctl_staff(const cfg_t *cfg, int argc, char **argv)
{
    const char *unit = NULL, *role = NULL, *ticket = NULL;
    long wait_s = 5;
    bool quiet = false;
    for (int i = 1; i < argc; i++) {
        bool has = i + 1 < argc;
        if (!strcmp(argv[i], "-q"))
            quiet = true;
        else if (!strcmp(argv[i], "--unit") && has)
            unit = argv[++i];
        else if (!strcmp(argv[i], "--role") && has)
            role = argv[++i];
        else if (!strcmp(argv[i], "--ticket") && has)
            ticket = argv[++i];
        else if (!strcmp(argv[i], "--wait") && has) {
            char *end;
            wait_s = strtol(argv[++i], &end, 10);
            if (*end || wait_s < 0 || wait_s > 3600)
                return usage();
        } else
            return usage();
    }
    if (role && !in_list(role, ROLES)) {
        fprintf(stderr, "gridgovctl: unknown role '%s'\n", role);
        return usage();
    }
    if (ticket && (unit || role)) {
        fprintf(stderr, "gridgovctl: --ticket names one person; it takes no --unit or --role\n");
        return usage();
    }
    char err[512];
    db_t *db = db_connect(cfg_str(cfg, "db"), "gridgovctl", err, sizeof err);
    if (!db) {
        fprintf(stderr, "gridgovctl: %s\n", err);
        return 1;
    }
    int status = 1;
    if (ticket) {
        PGresult *h = holder(db, ticket, wait_s);
        if (!h)
            goto out;
        const char *state = PQgetvalue(h, 0, 0), *assignee = PQgetvalue(h, 0, 1);
        if (!quiet)
            printf("ticket %s (%s) is held by %s %s\n", ticket, state, PQgetvalue(h, 0, 2), PQgetvalue(h, 0, 3));
        if (PQgetisnull(h, 0, 1)) {
            if (!strcmp(state, "merged"))
                fprintf(stderr, "gridgovctl: ticket %s is a duplicate (重复件): it follows the ticket its status notes name\n",
                        ticket);
            else
                fprintf(stderr, "gridgovctl: ticket %s has nobody assigned (%s)\n", ticket, state);
        } else if (list(db, NULL, NULL, assignee, quiet) == 1) {
            status = 0;
        }
        PQclear(h);
        goto out;
    }
    if (unit) {
        const char *p[] = {unit};
        PGresult *r = db_exec(db, "SELECT 1 FROM registry.unit WHERE code = $1", 1, p, err, sizeof err, NULL);
        bool failed = !r, known = r && PQntuples(r) == 1;
        PQclear(r);
        if (!known) {
            fprintf(stderr, "gridgovctl: %s\n", failed ? err : "no unit with this code (codes look like 430121-101-02-03)");
            goto out;
        }
    }
    int n = list(db, unit, role, NULL, quiet);
    if (n == 0)
        fprintf(stderr, "gridgovctl: no active staff match\n");
    status = n > 0 ? 0 : 1;
out:
    db_destroy(&db);
    return status;
}
