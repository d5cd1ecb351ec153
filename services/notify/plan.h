#ifndef GRIDGOV_NOTIFY_PLAN_H
#define GRIDGOV_NOTIFY_PLAN_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

bool plan_on_event(PGconn *conn, const json_t *envelope, void *arg, char *err, size_t errsz);

#endif
