/* catalog: an in-memory snapshot of what intake validates against and serves read-mostly:
 * the service catalogue (Open311 shapes), the jurisdiction and its extent. Reloaded every
 * catalog_refresh_s by the main loop; readers hold a read lock between catalog_acquire() and
 * catalog_release(). API keys are not cached: see catalog_api_client(). */
#ifndef INTAKE_CATALOG_H
#define INTAKE_CATALOG_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "db.h"

typedef struct {
    json_t *services;     /* Open311 service list (array) */
    json_t *definitions;  /* service_code -> Open311 service_definition object */
    json_t *names;        /* service_code -> service_name */
    json_t *jurisdiction; /* {id, contact, key_service, changeset} */
    double min_lat, max_lat, min_long, max_long; /* the county's extent */
} catalog_t;

bool catalog_load(db_t *db, char *err, size_t errsz) __attribute__((warn_unused_result));
const catalog_t *catalog_acquire(void);
void catalog_release(void);
void catalog_free(void);

/* Looks up an API key in PostgreSQL on every call: returns the client id, 0 when unknown or
 * inactive, -1 when the database cannot say (answer 503). A key issued or deactivated a moment
 * ago counts at once, on every intake instance.
 * One indexed lookup by the key's hash, prepared on the request's connection: cheaper than
 * keeping a cache honest (LISTEN/NOTIFY would leave a window after each change and a gap
 * whenever the listening connection drops). */
long long catalog_api_client(db_t *db, const char *api_key);

#endif
