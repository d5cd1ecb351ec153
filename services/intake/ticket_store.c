#include "ticket_store.h"

#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "db_tx.h"
#include "log.h"
#include "metrics.h"
#include "paging.h"
#include "stmt.h"
#include "rating_code.h"
#include "timefmt.h"

#define LOCAL_TIME(col) TIMEFMT_SQL_LOCAL(col)

#define TICKET_SELECT                                                                                               \
    "SELECT code, status, status_notes, service_name, service_code, description, agency_responsible,"             \
    " service_notice, " LOCAL_TIME("requested_at") ", " LOCAL_TIME("updated_at") ", " LOCAL_TIME("expected_datetime") \
    ", address_string, address_id, lat, long, media_url, channel, attributes::text, id,"                             \
    " (extract(epoch FROM requested_at) * 1000000)::bigint "
#define TICKET_COLUMNS TICKET_SELECT "FROM intake.ticket_view "

/* Prepared (stmt.h): a lookup by the unique code, whatever the code. */
static const char GET_SQL[] = TICKET_COLUMNS "WHERE code = $1";

/* Prepared: service_request_id=a,b,c is a lookup by code too. It is a statement of its own: as
 * one branch of the filtered list below, its generic plan walked all tickets by time (87 ms for
 * two codes among 50,000 tickets). The codes are looked up first (MATERIALIZED), and only what
 * they found is ordered: otherwise a generic plan, not knowing how many codes there are, may
 * again prefer to walk the time index, whose order the LIMIT can use. */
static const char LIST_CODES_SQL[] =
    "WITH wanted AS MATERIALIZED (SELECT * FROM intake.ticket_view WHERE code = ANY (string_to_array($1, ',')))"
    " " TICKET_SELECT "FROM wanted ORDER BY requested_at DESC, id DESC LIMIT $2::bigint OFFSET $3::bigint";

/* Planned on every call (stmt.h says why). Every filter is a parameter; an absent one is NULL
 * and drops out of the WHERE. A cursor ($8, $9: the last row's time and id, paging.h) is a
 * keyset: the row comparison is an Index Cond of a backward scan of ticket_requested
 * (requested_at, id), so the next page starts where the last ended, at any depth (EXPLAIN in
 * bench/README.md, "Lists"); the OFFSET of a page number is bounded by paging.h instead. */
static const char LIST_SQL[] =
    TICKET_COLUMNS "WHERE ($1::text IS NULL OR service_code = ANY (string_to_array($1, ',')))"
                   " AND ($2::text IS NULL OR status = ANY (string_to_array($2, ',')))"
                   " AND ($3::text IS NULL OR channel = $3)"
                   " AND ($4::timestamptz IS NULL OR requested_at >= $4::timestamptz)"
                   " AND ($5::timestamptz IS NULL OR requested_at <= $5::timestamptz)"
                   " AND ($8::timestamptz IS NULL OR (requested_at, id) < ($8::timestamptz, $9::bigint))"
                   " ORDER BY requested_at DESC, id DESC LIMIT $6::bigint OFFSET $7::bigint";

/* The ticket, its event and (with $18, $19: salt and hash as hex) its rating code in one
 * statement. A data-modifying WITH runs whether or not the query reads it. */
static const char CREATE_SQL[] =
    "WITH t AS (SELECT ticket_id, code FROM intake.create_ticket($1, $2::bigint, $3, $4, $5::float8, $6::float8, $7,"
    " $8, $9::jsonb, $10, $11, $12, $13, $14, $15, $16, to_timestamp($17::float8 / 1e6), NULL)),"
    " k AS (INSERT INTO intake.rating_code (ticket_id, salt, code_sha256, issued_at)"
    "  SELECT ticket_id, decode($18, 'hex'), decode($19, 'hex'), to_timestamp($17::float8 / 1e6) FROM t"
    "  WHERE $18::text IS NOT NULL)"
    " SELECT ticket_id, code FROM t";

/* A fresh rating code for a ticket that has one (a replayed POST): the hash is replaced, so the
 * code in this answer is the one that works. */
static const char ROTATE_SQL[] =
    "UPDATE intake.rating_code SET salt = decode($2, 'hex'), code_sha256 = decode($3, 'hex'),"
    " issued_at = to_timestamp($4::float8 / 1e6) WHERE ticket_id = $1::bigint";

static void hex32(const unsigned char h[32], char out[65])
{
    for (int i = 0; i < 32; i++)
        snprintf(out + 2 * i, 3, "%02x", h[i]);
}

static const char *static_ctype(const char *stored)
{
    if (!strncmp(stored, "text/xml", 8))
        return "text/xml; charset=utf-8";
    return "application/json; charset=utf-8";
}

/* Maps the database's input rules (intake.create_ticket) onto input errors. */
static bool db_input_error(const char *sqlstate, const char *err, input_error_t *e)
{
    const char *msg = strchr(err, ':');
    msg = msg ? msg + 2 : err;
    if (!strcmp(sqlstate, "GG404")) {
        *e = (input_error_t){.status = 400, .code = "unknown_address_id", .field = "address_id"};
    } else if (!strcmp(sqlstate, "GG409")) {
        *e = (input_error_t){.status = 400, .code = "contradictory_location", .field = "lat"};
    } else {
        return false;
    }
    snprintf(e->message, sizeof e->message, "%s", msg);
    return true;
}

store_status_t ticket_store_create(db_t *db, const ticket_input_t *in, const char *phone, const json_t *attributes,
                                   int64_t now_us, const idempotency_t *idem, render_created_fn render, void *arg,
                                   http_resp_t *resp, input_error_t *e)
{
    char err[512], state[6];
    char lat[32] = "", lon[32] = "", now[32], client[24] = "";
    if (in->has_lat) {
        snprintf(lat, sizeof lat, "%.8f", in->lat);
        snprintf(lon, sizeof lon, "%.8f", in->lon);
    }
    snprintf(now, sizeof now, "%lld", (long long)now_us);
    if (in->api_client_id)
        snprintf(client, sizeof client, "%lld", in->api_client_id);
    /* The reporter's rating code: only a ticket with a phone has one (the resolved SMS carries it) */
    rating_code_t rc;
    memset(&rc, 0, sizeof rc);
    bool rated = phone && *phone;
    store_status_t st = STORE_UNAVAILABLE;
    if (rated && !rating_code_issue(&rc)) {
        snprintf(err, sizeof err, "no randomness for a rating code");
        return st;
    }
    char *attrs = json_dumps(attributes, JSON_COMPACT);
    const char *p[] = {in->channel, client[0] ? client : NULL, in->service_code, in->description,
                       in->has_lat ? lat : NULL, in->has_lat ? lon : NULL, in->address_string, in->address_id,
                       attrs, in->first_name, in->last_name, in->email, rated ? phone : NULL,
                       in->device_id, in->account_id, in->media_url, now,
                       rated ? rc.salt_hex : NULL, rated ? rc.hash_hex : NULL};
    PGconn *c = db_conn(db, err, sizeof err);
    if (!c)
        goto out;

    if (!idem || !idem->key) {
        /* One statement, its own transaction: the row and the event commit together. */
        PGresult *r = db_exec_prepared(db, STMT_TICKET_CREATE, CREATE_SQL, 19, p, err, sizeof err, state);
        if (!r) {
            st = db_input_error(state, err, e) ? STORE_BAD_INPUT : STORE_UNAVAILABLE;
            goto out;
        }
        ticket_created_t t = {.id = atoll(PQgetvalue(r, 0, 0))};
        snprintf(t.code, sizeof t.code, "%s", PQgetvalue(r, 0, 1));
        snprintf(t.rating_code, sizeof t.rating_code, "%s", rc.code);
        PQclear(r);
        render(&t, resp, arg);
        st = STORE_OK;
        goto out;
    }

    char hash[65];
    hex32(idem->hash, hash);
    if (!db_begin(c, err, sizeof err))
        goto out;
    /* Claim the key. A concurrent request with the same key waits here until the first commits. */
    const char *ip[] = {idem->scope, idem->key, hash};
    PGresult *r = db_pq_exec(c,
                             "INSERT INTO intake.idempotency (scope, key, request_hash, status, content_type, body)"
                             " VALUES ($1, $2, decode($3, 'hex'), 0, '', '') ON CONFLICT DO NOTHING",
                             3, ip, err, sizeof err, state);
    if (!r)
        goto rollback;
    bool claimed = !strcmp(PQcmdTuples(r), "1");
    PQclear(r);
    if (!claimed) {
        r = db_pq_exec(c,
                       "SELECT encode(i.request_hash, 'hex'), i.status, i.content_type, i.body, t.id, t.code,"
                       " EXISTS (SELECT 1 FROM intake.rating_code k WHERE k.ticket_id = t.id)"
                       " FROM intake.idempotency i LEFT JOIN intake.ticket t ON t.id = i.ticket_id"
                       " WHERE i.scope = $1 AND i.key = $2",
                       2, ip, err, sizeof err, state);
        if (!r || PQntuples(r) != 1) {
            PQclear(r);
            goto rollback;
        }
        if (strcmp(PQgetvalue(r, 0, 0), hash) != 0) {
            st = STORE_KEY_REUSED;
        } else if (PQgetvalue(r, 0, 6)[0] == 't') {
            /* The same request again: the same ticket, rendered anew with a fresh rating code. */
            ticket_created_t t = {.id = atoll(PQgetvalue(r, 0, 4))};
            snprintf(t.code, sizeof t.code, "%s", PQgetvalue(r, 0, 5));
            PQclear(r);
            r = NULL;
            char id[24];
            snprintf(id, sizeof id, "%lld", t.id);
            rating_code_t fresh;
            if (!rating_code_issue(&fresh))
                goto rollback;
            const char *up[] = {id, fresh.salt_hex, fresh.hash_hex, now};
            PGresult *u = db_pq_exec(c, ROTATE_SQL, 4, up, err, sizeof err, state);
            if (!u)
                goto rollback;
            PQclear(u);
            snprintf(t.rating_code, sizeof t.rating_code, "%s", fresh.code);
            render(&t, resp, arg);
            st = STORE_REPLAY;
        } else {
            st = STORE_REPLAY;
            resp->status = atoi(PQgetvalue(r, 0, 1));
            resp->content_type = static_ctype(PQgetvalue(r, 0, 2));
            buf_reset(&resp->body);
            buf_puts(&resp->body, PQgetvalue(r, 0, 3));
        }
        PQclear(r);
        if (!db_commit(c, err, sizeof err))
            st = STORE_UNAVAILABLE;
        goto out;
    }
    r = db_pq_exec(c, CREATE_SQL, 19, p, err, sizeof err, state);
    if (!r) {
        if (db_input_error(state, err, e))
            st = STORE_BAD_INPUT;
        goto rollback;
    }
    ticket_created_t t = {.id = atoll(PQgetvalue(r, 0, 0))};
    snprintf(t.code, sizeof t.code, "%s", PQgetvalue(r, 0, 1));
    PQclear(r);
    render(&t, resp, arg); /* what the key keeps: no rating code */
    char status[8], id[24];
    snprintf(status, sizeof status, "%d", resp->status);
    snprintf(id, sizeof id, "%lld", t.id);
    const char *up[] = {idem->scope, idem->key, status, resp->content_type, buf_str(&resp->body), id};
    r = db_pq_exec(c,
                   "UPDATE intake.idempotency SET status = $3::int, content_type = $4, body = $5, ticket_id = $6::bigint"
                   " WHERE scope = $1 AND key = $2",
                   6, up, err, sizeof err, state);
    if (!r)
        goto rollback;
    PQclear(r);
    /* The durability promise: only a successful COMMIT lets the caller answer 2xx. */
    if (!db_commit(c, err, sizeof err)) {
        st = STORE_UNAVAILABLE;
        goto out;
    }
    if (rated) {
        snprintf(t.rating_code, sizeof t.rating_code, "%s", rc.code);
        render(&t, resp, arg);
    }
    st = STORE_OK;
    goto out;
rollback:
    db_rollback(c);
out:
    if (st == STORE_UNAVAILABLE) {
        metrics_inc(M_DB_ERRORS);
        log_warn("ticket not stored: %s", err);
    }
    free(attrs);
    return st;
}

PGresult *ticket_store_get(db_t *db, const char *code, char *err, size_t errsz)
{
    const char *p[] = {code};
    return stmt_read(db, STMT_TICKET_GET, GET_SQL, 1, p, err, errsz);
}

PGresult *ticket_store_list(db_t *db, const ticket_filter_t *f, char *err, size_t errsz)
{
    char limit[24], offset[24], after[TIMEFMT_LEN], after_id[24];
    snprintf(limit, sizeof limit, "%ld", f->page_size + 1);
    snprintf(offset, sizeof offset, "%ld", f->has_cursor ? 0 : (f->page - 1) * f->page_size);
    if (f->codes) {
        const char *p[] = {f->codes, limit, offset};
        return stmt_read(db, STMT_TICKET_LIST_CODES, LIST_CODES_SQL, 3, p, err, errsz);
    }
    if (f->has_cursor) {
        paging_time_text(f->cursor.at_us, after);
        snprintf(after_id, sizeof after_id, "%lld", f->cursor.id);
    }
    const char *p[] = {f->service_codes, f->statuses, f->channel, f->start, f->end, limit, offset,
                       f->has_cursor ? after : NULL, f->has_cursor ? after_id : NULL};
    return stmt_read(db, NULL, LIST_SQL, 9, p, err, errsz);
}

void ticket_store_cursor(const PGresult *r, int row, cursor_t *c)
{
    c->at_us = atoll(PQgetvalue(r, row, TC_AT_US));
    c->id = atoll(PQgetvalue(r, row, TC_ID));
}
