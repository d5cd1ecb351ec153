/* gridgovctl tally: a motion's audit (issue 13, services/tally/CHAIN.md).
 *   tally verify MOTION | --archive FILE
 *       checks the motion's chain, ballots, recount and roll (tally_verify.h) from the database's
 *       published views, or from an archive file written by `tally archive --json`. Prints one line:
 *       "CODE: intact: …" (exit 0) or "CODE: broken at height H: what: expected E, found F" (exit 1).
 *   tally archive MOTION --json FILE | --csv FILE
 *       writes the motion's archive (tally_archive.h) as JSON, or as a printable CSV (tally_csv.h).
 *   tally slips MOTION [--voters ID,…] [--csv]   (tally_slips.c)
 * Exit status 2 on a usage error, an unknown motion, or a database or file that cannot be read. */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "ctl.h"
#include "db.h"
#include "tally_archive.h"
#include "tally_csv.h"
#include "tally_verify.h"

static const char USAGE[] =
    "usage: gridgovctl tally verify MOTION | verify --archive FILE\n"
    "       gridgovctl tally archive MOTION --json FILE | --csv FILE\n"
    "       gridgovctl tally slips MOTION [--voters ID,...] [--csv]\n";

/* The archive of a motion from the database (NULL: the reason printed). */
static json_t *load(const cfg_t *cfg, const char *code)
{
    char err[512];
    db_t *db = db_connect(cfg_str(cfg, "db"), "gridgovctl", err, sizeof err);
    if (!db) {
        fprintf(stderr, "gridgovctl: %s\n", err);
        return NULL;
    }
    bool unknown = false;
    json_t *ar = tally_archive_load(db, code, &unknown, err, sizeof err);
    db_destroy(&db);
    if (!ar)
        fprintf(stderr, "gridgovctl: %s\n", err);
    return ar;
}

static int verify(const cfg_t *cfg, int argc, char **argv)
{
    json_t *ar = NULL;
    char err[512];
    if (argc == 2 && strcmp(argv[1], "--archive")) {
        ar = load(cfg, argv[1]);
    } else if (argc == 3 && !strcmp(argv[1], "--archive")) {
        ar = tally_archive_read_json(argv[2], err, sizeof err);
        if (!ar)
            fprintf(stderr, "gridgovctl: %s\n", err);
    } else {
        fputs(USAGE, stderr);
        return 2;
    }
    if (!ar)
        return 2;
    tally_summary_t sum;
    tally_break_t brk;
    bool ok = tally_verify(ar, &sum, &brk);
    char line[1200];
    tally_verify_line(json_string_value(json_object_get(json_object_get(ar, "motion"), "code")), ok, &sum, &brk, line,
                      sizeof line);
    printf("%s\n", line);
    json_decref(ar);
    return ok ? 0 : 1;
}

static int archive(const cfg_t *cfg, int argc, char **argv)
{
    if (argc != 4 || (strcmp(argv[2], "--json") && strcmp(argv[2], "--csv"))) {
        fputs(USAGE, stderr);
        return 2;
    }
    json_t *ar = load(cfg, argv[1]);
    if (!ar)
        return 2;
    char err[512];
    bool ok;
    if (!strcmp(argv[2], "--json")) {
        ok = tally_archive_save_json(ar, argv[3], err, sizeof err);
    } else {
        buf_t b = BUF_INIT;
        tally_csv_write(ar, &b);
        FILE *f = fopen(argv[3], "wb");
        ok = f && fwrite(buf_str(&b), 1, b.len, f) == b.len;
        ok = (f && fclose(f) == 0) && ok;
        if (!ok)
            snprintf(err, sizeof err, "cannot write %s", argv[3]);
        buf_free(&b);
    }
    if (ok)
        printf("%s: archive written to %s (head %s)\n", argv[1], argv[3],
               json_is_string(json_object_get(ar, "head_hash")) ? json_string_value(json_object_get(ar, "head_hash"))
                                                                : "(none)");
    else
        fprintf(stderr, "gridgovctl: %s\n", err);
    json_decref(ar);
    return ok ? 0 : 2;
}

int ctl_tally(const cfg_t *cfg, int argc, char **argv)
{
    if (argc >= 2 && !strcmp(argv[1], "verify"))
        return verify(cfg, argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "archive"))
        return archive(cfg, argc - 1, argv + 1);
    if (argc >= 2 && !strcmp(argv[1], "slips"))
        return ctl_tally_slips(cfg, argc - 1, argv + 1);
    fputs(USAGE, stderr);
    return 2;
}
