/* gridgovctl's view of notify: what was told to whom, what died, and sending a dead message again.
 *   messages [--ticket CODE] [--state S] [--limit N]
 *       one line per message, newest first, tab-separated under a header:
 *       id  ticket  channel  address  template  state  attempts  provider  body
 *       addresses masked (notify.message_list masks them: 138****0000, openids and robot keys to
 *       their first four characters)
 *   dead-letters   the dead messages: id  ticket  channel  address  template  attempts  at  code  reason  redriven
 *   redrive ID     a dead message goes again (pending, due now); its dead letter keeps redriven_at
 * Exit status 0 on success (messages, dead-letters: also when none is listed), 1 when the database
 * failed or redrive found nothing to do, 2 on a usage error. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "db.h"
#include "gclock.h"
#include "services/notify/redrive.h"

static const char *const STATES[] = {"pending", "sending", "sent", "delivered", "failed", "dead", NULL};

/* $1 ticket code, $2 state (NULL: any), $3 limit */
static const char MESSAGES_SQL[] =
    "SELECT id, coalesce(ticket_code, ''), channel, address_masked, template_key, state, attempts,"
    " coalesce(provider, ''), replace(replace(body, E'\\t', ' '), E'\\n', ' ')"
    " FROM notify.message_list WHERE ($1::text IS NULL OR ticket_code = $1) AND ($2::text IS NULL OR state = $2)"
    " ORDER BY created_at DESC, id LIMIT $3::int";

static const char DEAD_SQL[] =
    "SELECT message_id, coalesce(ticket_code, ''), channel, address_masked, template_key, attempts,"
    " to_char(at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI:SS'), coalesce(code, ''), reason,"
    " coalesce(to_char(redriven_at AT TIME ZONE 'Asia/Shanghai', 'YYYY-MM-DD HH24:MI:SS'), '')"
    " FROM notify.dead_letter_list ORDER BY at DESC, message_id";

static db_t *open_db(const cfg_t *cfg)
{
    char err[512];
    db_t *db = db_connect(cfg_str(cfg, "db"), "gridgovctl", err, sizeof err);
    if (!db)
        fprintf(stderr, "gridgovctl: %s\n", err);
    return db;
}

static int print_rows(db_t *db, const char *header, const char *sql, int n, const char *const *p)
{
    char err[512];
    PGresult *r = db_exec(db, sql, n, p, err, sizeof err, NULL);
    if (!r) {
        fprintf(stderr, "gridgovctl: %s\n", err);
        return 1;
    }
    printf("%s\n", header);
    for (int i = 0; i < PQntuples(r); i++)
        for (int j = 0; j < PQnfields(r); j++)
            printf("%s%c", PQgetvalue(r, i, j), j + 1 < PQnfields(r) ? '\t' : '\n');
    PQclear(r);
    return 0;
}

int ctl_messages(const cfg_t *cfg, int argc, char **argv)
{
    const char *ticket = NULL, *state = NULL, *limit = "50";
    for (int i = 1; i < argc; i++) {
        if (!strcmp(argv[i], "--ticket") && i + 1 < argc)
            ticket = argv[++i];
        else if (!strcmp(argv[i], "--state") && i + 1 < argc)
            state = argv[++i];
        else if (!strcmp(argv[i], "--limit") && i + 1 < argc)
            limit = argv[++i];
        else
            goto usage;
    }
    bool known = !state;
    for (int k = 0; state && STATES[k]; k++)
        known = known || !strcmp(state, STATES[k]);
    char *end;
    long lim = strtol(limit, &end, 10);
    if (!known) {
        fprintf(stderr, "gridgovctl: unknown state '%s' (pending, sending, sent, delivered, failed, dead)\n", state);
        return 2;
    }
    if (*end || lim < 1 || lim > 10000) {
        fprintf(stderr, "gridgovctl: --limit takes 1 to 10000\n");
        return 2;
    }
    db_t *db = open_db(cfg);
    if (!db)
        return 1;
    const char *p[] = {ticket, state, limit};
    int rc = print_rows(db, "id\tticket\tchannel\taddress\ttemplate\tstate\tattempts\tprovider\tbody", MESSAGES_SQL, 3, p);
    db_destroy(&db);
    return rc;
usage:
    fprintf(stderr, "usage: gridgovctl messages [--ticket CODE] [--state S] [--limit N]\n");
    return 2;
}

int ctl_dead_letters(const cfg_t *cfg, int argc, char **argv)
{
    (void)argv;
    if (argc != 1) {
        fprintf(stderr, "usage: gridgovctl dead-letters\n");
        return 2;
    }
    db_t *db = open_db(cfg);
    if (!db)
        return 1;
    int rc = print_rows(db, "id\tticket\tchannel\taddress\ttemplate\tattempts\tat\tcode\treason\tredriven", DEAD_SQL, 0,
                        NULL);
    db_destroy(&db);
    return rc;
}

int ctl_redrive(const cfg_t *cfg, int argc, char **argv)
{
    if (argc != 2) {
        fprintf(stderr, "usage: gridgovctl redrive MESSAGE_ID\n");
        return 2;
    }
    db_t *db = open_db(cfg);
    if (!db)
        return 1;
    char err[512];
    PGconn *c = db_conn(db, err, sizeof err);
    redrive_result_t r = c ? redrive_message(c, argv[1], gclock_now_us(), err, sizeof err) : REDRIVE_ERROR;
    db_destroy(&db);
    if (r == REDRIVE_DONE) {
        printf("message %s is pending again, due now\n", argv[1]);
        return 0;
    }
    fprintf(stderr, "gridgovctl: %s\n", err);
    return 1;
}
