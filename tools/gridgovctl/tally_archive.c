/* tally_archive: see tally_archive.h. Every part is read in one read-only repeatable-read
 * transaction, so a motion that is being voted on is archived as one moment of its chain (the head
 * and the events agree) rather than as a mix of two. */
#include "tally_archive.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define UTC(col) "to_char(" col " AT TIME ZONE 'UTC', 'YYYY-MM-DD\"T\"HH24:MI:SS\"Z\"')"

static const char MOTION_SQL[] =
    "SELECT json_build_object('code', code, 'group_code', group_code, 'group_name', group_name, 'kind', kind,"
    " 'title', title, 'body', body, 'electorate', electorate, 'ballot', ballot, 'rule_set', rule_set,"
    " 'rules_sha256', encode(rules_sha256, 'hex'), 'delivery', delivery, 'state', state,"
    " 'opened_at', " UTC("opened_at") ", 'closes_at', " UTC("closes_at") ", 'closed_at', " UTC("closed_at") ","
    " 'roll_count', roll_count, 'result', result, 'head_height', head_height,"
    " 'head_hash', encode(head_hash, 'hex'), 'runoff_of', runoff_of)::text"
    " FROM tally.motion_public WHERE code = $1";

static const char CHAIN_SQL[] =
    "SELECT height, type, payload, encode(prev_hash, 'hex'), encode(hash, 'hex')"
    " FROM tally.chain_rows WHERE motion = $1 ORDER BY height";

static const char BALLOTS_SQL[] =
    "SELECT coalesce(json_agg(json_build_object('id', id, 'marks', marks, 'write_ins', write_ins) ORDER BY id), '[]')::text"
    " FROM tally.ballot_rows WHERE motion = $1";

/* The receipts, apart from the ballots: nothing in either says which goes with which. */
static const char TRACKERS_SQL[] =
    "SELECT coalesce(json_agg(tracker ORDER BY tracker COLLATE \"C\"), '[]')::text FROM tally.receipt_rows WHERE motion = $1";

static const char PAPER_SQL[] =
    "SELECT coalesce(json_agg(json_build_object('box', box, 'tellers', tellers, 'ballots', ballots, 'invalid', invalid,"
    " 'counts', counts, 'entered_by', entered_by, 'entered_at', " UTC("entered_at") ") ORDER BY box COLLATE \"C\"),"
    " '[]')::text FROM tally.paper_public WHERE motion = $1";

static const char ROLL_SQL[] = "SELECT count(*) FILTER (WHERE voted) FROM tally.roll_public WHERE motion = $1";

/* The first column of a one-row query, parsed as JSON (NULL: err says why). */
static json_t *json_query(db_t *db, const char *sql, const char *code, char *err, size_t errsz)
{
    const char *p[] = {code};
    PGresult *r = db_exec(db, sql, 1, p, err, errsz, NULL);
    if (!r)
        return NULL;
    json_t *v = NULL;
    if (PQntuples(r) == 1 && !PQgetisnull(r, 0, 0)) {
        json_error_t je;
        v = json_loads(PQgetvalue(r, 0, 0), JSON_DECODE_ANY, &je);
        if (!v)
            snprintf(err, errsz, "unreadable JSON from the database: %s", je.text);
    } else {
        snprintf(err, errsz, "no row");
    }
    PQclear(r);
    return v;
}

static json_t *load_chain(db_t *db, const char *code, char *err, size_t errsz)
{
    const char *p[] = {code};
    PGresult *r = db_exec(db, CHAIN_SQL, 1, p, err, errsz, NULL);
    if (!r)
        return NULL;
    json_t *chain = json_array();
    for (int i = 0; i < PQntuples(r); i++)
        json_array_append_new(chain, json_pack("{s:I, s:s, s:s%, s:s, s:s}", "height",
                                               (json_int_t)strtoll(PQgetvalue(r, i, 0), NULL, 10), "type",
                                               PQgetvalue(r, i, 1), "payload", PQgetvalue(r, i, 2),
                                               (size_t)PQgetlength(r, i, 2), "prev_hash", PQgetvalue(r, i, 3), "hash",
                                               PQgetvalue(r, i, 4)));
    PQclear(r);
    return chain;
}

/* The payload of the chain's first event of this type, parsed (NULL when none). */
static json_t *payload_of(const json_t *chain, const char *type)
{
    size_t i;
    json_t *ev;
    json_array_foreach(chain, i, ev) if (!strcmp(json_string_value(json_object_get(ev, "type")), type))
    {
        const json_t *p = json_object_get(ev, "payload");
        return json_loadb(json_string_value(p), json_string_length(p), 0, NULL);
    }
    return NULL;
}

/* The proxies event's pairs with the roll's names. */
static json_t *proxies_of(const json_t *chain)
{
    json_t *proxies = json_array(), *roll = payload_of(chain, "roll"), *px = payload_of(chain, "proxies");
    json_t *names = json_object(), *v;
    size_t i;
    json_array_foreach(json_object_get(roll, "voters"), i, v)
    {
        char key[32];
        snprintf(key, sizeof key, "%lld", (long long)json_integer_value(json_array_get(v, 0)));
        json_object_set(names, key, json_array_get(v, 2));
    }
    json_array_foreach(json_object_get(px, "proxies"), i, v)
    {
        char a[32], b[32];
        snprintf(a, sizeof a, "%lld", (long long)json_integer_value(json_array_get(v, 0)));
        snprintf(b, sizeof b, "%lld", (long long)json_integer_value(json_array_get(v, 1)));
        json_t *an = json_object_get(names, a), *bn = json_object_get(names, b);
        json_array_append_new(proxies, json_pack("{s:O, s:O, s:O, s:O}", "principal", json_array_get(v, 0),
                                                 "principal_name", an ? an : json_null(), "holder",
                                                 json_array_get(v, 1), "holder_name", bn ? bn : json_null()));
    }
    json_decref(names);
    json_decref(roll);
    json_decref(px);
    return proxies;
}

static json_t *assemble(db_t *db, const char *code, bool *unknown, char *err, size_t errsz)
{
    const char *p[] = {code};
    PGresult *mr = db_exec(db, MOTION_SQL, 1, p, err, errsz, NULL);
    if (!mr)
        return NULL;
    if (PQntuples(mr) == 0) {
        PQclear(mr);
        *unknown = true;
        snprintf(err, errsz, "unknown motion %s", code);
        return NULL;
    }
    json_error_t je;
    json_t *motion = json_loads(PQgetvalue(mr, 0, 0), 0, &je);
    PQclear(mr);
    json_t *chain = motion ? load_chain(db, code, err, errsz) : NULL;
    json_t *ballots = NULL, *trackers = NULL, *paper = NULL, *voted = NULL;
    if (chain)
        ballots = json_query(db, BALLOTS_SQL, code, err, errsz);
    if (ballots)
        trackers = json_query(db, TRACKERS_SQL, code, err, errsz);
    if (ballots && trackers)
        paper = json_query(db, PAPER_SQL, code, err, errsz);
    if (paper)
        voted = json_query(db, ROLL_SQL, code, err, errsz);
    json_t *ar = NULL;
    if (voted && json_is_integer(voted)) {
        json_t *result = json_object_get(motion, "result");
        json_t *applied = json_object_get(result, "rules");
        applied = json_is_array(applied) ? json_incref(applied) : json_array();
        ar = json_pack("{s:s, s:O, s:{s:O, s:O, s:o}, s:{s:O, s:O}, s:o, s:O, s:O, s:O, s:O, s:O, s:O}",
                       "format", TALLY_ARCHIVE_FORMAT, "motion", motion, "rules", "rule_set",
                       json_object_get(motion, "rule_set"), "rules_sha256", json_object_get(motion, "rules_sha256"),
                       "applied", applied, "roll", "count",
                       json_object_get(motion, "roll_count"), "voted", voted, "proxies", proxies_of(chain),
                       "paper_boxes", paper, "trackers", trackers, "result", result ? result : json_null(), "ballots",
                       ballots, "chain", chain, "head_hash", json_object_get(motion, "head_hash"));
        if (!ar)
            snprintf(err, errsz, "the motion's row lacks a part of the archive");
    } else if (voted) {
        snprintf(err, errsz, "unexpected roll count");
    } else if (motion && !chain && !*err) {
        snprintf(err, errsz, "unreadable motion: %s", je.text);
    }
    json_decref(motion);
    json_decref(chain);
    json_decref(ballots);
    json_decref(trackers);
    json_decref(paper);
    json_decref(voted);
    return ar;
}

json_t *tally_archive_load(db_t *db, const char *code, bool *unknown, char *err, size_t errsz)
{
    *unknown = false;
    err[0] = '\0';
    if (!db_run(db, "BEGIN ISOLATION LEVEL REPEATABLE READ READ ONLY", 0, NULL, err, errsz))
        return NULL;
    json_t *ar = assemble(db, code, unknown, err, errsz);
    char err2[256];
    if (!db_run(db, ar ? "COMMIT" : "ROLLBACK", 0, NULL, err2, sizeof err2) && ar) {
        snprintf(err, errsz, "%s", err2);
        json_decref(ar);
        ar = NULL;
    }
    return ar;
}

json_t *tally_archive_read_json(const char *path, char *err, size_t errsz)
{
    json_error_t je;
    json_t *ar = json_load_file(path, 0, &je);
    if (!ar) {
        snprintf(err, errsz, "%s: line %d: %s", path, je.line, je.text);
        return NULL;
    }
    const char *fmt = json_string_value(json_object_get(ar, "format"));
    if (!fmt || strcmp(fmt, TALLY_ARCHIVE_FORMAT)) {
        snprintf(err, errsz, "%s: not a tally archive (format \"%s\")", path, TALLY_ARCHIVE_FORMAT);
        json_decref(ar);
        return NULL;
    }
    return ar;
}

bool tally_archive_save_json(const json_t *archive, const char *path, char *err, size_t errsz)
{
    if (json_dump_file(archive, path, JSON_INDENT(1) | JSON_PRESERVE_ORDER) != 0) {
        snprintf(err, errsz, "cannot write %s", path);
        return false;
    }
    return true;
}
