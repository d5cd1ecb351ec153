#include "catalog.h"

#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "log.h"
#include "secret.h"
#include "stmt.h"
#include "timefmt.h"

static pthread_rwlock_t g_lock = PTHREAD_RWLOCK_INITIALIZER;
static catalog_t *g_cat;

static const char SERVICES_SQL[] =
    "SELECT coalesce(json_agg(json_build_object("
    "  'service_code', s.code, 'service_name', s.name, 'description', s.description,"
    "  'metadata', EXISTS (SELECT 1 FROM registry.service_attribute a WHERE a.service_code = s.code),"
    "  'type', s.type, 'keywords', s.keywords, 'group', s.grp) ORDER BY s.sort, s.code), '[]')::text,"
    " coalesce(json_object_agg(s.code, json_build_object('service_code', s.code, 'attributes',"
    "  coalesce((SELECT json_agg(CASE WHEN a.datatype IN ('singlevaluelist', 'multivaluelist') THEN json_build_object("
    "     'variable', a.variable, 'code', a.code, 'datatype', a.datatype, 'required', a.required,"
    "     'datatype_description', a.datatype_description, 'order', a.ord, 'description', a.description,"
    "     'values', coalesce((SELECT json_agg(json_build_object('key', v.key, 'name', v.name) ORDER BY v.ord, v.key)"
    "                  FROM registry.service_attribute_value v"
    "                  WHERE v.service_code = a.service_code AND v.attribute_code = a.code), '[]'))"
    "     ELSE json_build_object("
    "     'variable', a.variable, 'code', a.code, 'datatype', a.datatype, 'required', a.required,"
    "     'datatype_description', a.datatype_description, 'order', a.ord, 'description', a.description) END"
    "     ORDER BY a.ord) FROM registry.service_attribute a WHERE a.service_code = s.code), '[]'))), '{}')::text,"
    " coalesce(json_object_agg(s.code, s.name), '{}')::text"
    " FROM registry.service s WHERE s.active";

static const char JURISDICTION_SQL[] =
    "SELECT json_build_object('id', j.id, 'contact', j.contact, 'key_service', j.key_service,"
    "  'changeset', " TIMEFMT_SQL_LOCAL("j.changeset") ")::text,"
    "  ST_YMin(u.boundary), ST_YMax(u.boundary), ST_XMin(u.boundary), ST_XMax(u.boundary)"
    " FROM registry.jurisdiction j JOIN registry.unit u ON u.id = j.county_id LIMIT 1";

static void free_cat(catalog_t *c)
{
    if (!c)
        return;
    json_decref(c->services);
    json_decref(c->definitions);
    json_decref(c->names);
    json_decref(c->jurisdiction);
    free(c);
}

static json_t *parse(const char *s)
{
    json_error_t e;
    return json_loads(s, 0, &e);
}

bool catalog_load(db_t *db, char *err, size_t errsz)
{
    catalog_t *c = calloc(1, sizeof *c);
    if (!c)
        log_oom();
    PGresult *r = db_exec(db, SERVICES_SQL, 0, NULL, err, errsz, NULL);
    if (!r)
        goto fail;
    c->services = parse(PQgetvalue(r, 0, 0));
    c->definitions = parse(PQgetvalue(r, 0, 1));
    c->names = parse(PQgetvalue(r, 0, 2));
    PQclear(r);
    r = db_exec(db, JURISDICTION_SQL, 0, NULL, err, errsz, NULL);
    if (!r)
        goto fail;
    if (PQntuples(r) == 0) {
        PQclear(r);
        snprintf(err, errsz, "registry.jurisdiction is empty: load the demo county or configure one");
        goto fail;
    }
    c->jurisdiction = parse(PQgetvalue(r, 0, 0));
    c->min_lat = atof(PQgetvalue(r, 0, 1));
    c->max_lat = atof(PQgetvalue(r, 0, 2));
    c->min_long = atof(PQgetvalue(r, 0, 3));
    c->max_long = atof(PQgetvalue(r, 0, 4));
    PQclear(r);
    if (!c->services || !c->definitions || !c->names || !c->jurisdiction) {
        snprintf(err, errsz, "catalog: unexpected JSON from PostgreSQL");
        goto fail;
    }
    pthread_rwlock_wrlock(&g_lock);
    catalog_t *old = g_cat;
    g_cat = c;
    pthread_rwlock_unlock(&g_lock);
    free_cat(old);
    return true;
fail:
    free_cat(c);
    return false;
}

const catalog_t *catalog_acquire(void)
{
    pthread_rwlock_rdlock(&g_lock);
    return g_cat;
}

void catalog_release(void) { pthread_rwlock_unlock(&g_lock); }

void catalog_free(void)
{
    pthread_rwlock_wrlock(&g_lock);
    free_cat(g_cat);
    g_cat = NULL;
    pthread_rwlock_unlock(&g_lock);
}

long long catalog_api_client(db_t *db, const char *api_key)
{
    if (!api_key || !*api_key || strlen(api_key) > 256 || !db)
        return 0;
    char hex[SECRET_HEX_LEN], err[256];
    secret_hash_hex(api_key, hex);
    /* Asked on every request (a prepared primary-key lookup on the request's own connection), so
     * a key deactivated a moment ago is refused now, on every intake instance. */
    const char *p[] = {hex};
    PGresult *r = stmt_read(db, STMT_API_CLIENT,
                            "SELECT id FROM registry.api_client WHERE key_sha256 = decode($1, 'hex') AND active", 1, p,
                            err, sizeof err);
    long long id = !r ? -1 : PQntuples(r) == 1 ? atoll(PQgetvalue(r, 0, 0)) : 0;
    PQclear(r);
    return id;
}
