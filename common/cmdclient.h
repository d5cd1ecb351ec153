/* cmdclient: request/reply to a service that owns some state (intake asking the router), over
 * ZeroMQ DEALER → ROUTER. A call sends the command, waits for the reply carrying the same "id",
 * and on timeout sends the same command again (the owner stores its answer under the id, so a
 * retry is safe and gets the same answer). Replies to earlier, abandoned calls are skipped.
 * The socket is a CURVE client of the bus (bus.h): it presents this program's key and accepts
 * only the server whose key is named `server` (or NAME@ in the endpoint); replies larger than
 * bus_max_command disconnect the server.
 * Not thread-safe: one client per thread (ZeroMQ sockets must stay in one thread).
 * Ownership: cmdclient_new() returns an object owning its socket; cmdclient_destroy() frees it. */
#ifndef GRIDGOV_CMDCLIENT_H
#define GRIDGOV_CMDCLIENT_H

#include <jansson.h>
#include <stdbool.h>
#include <stddef.h>

#include "bus.h"

typedef struct cmdclient cmdclient_t;

/* bus: the process's bus (borrowed; it must outlive the client). server: the key name of the
 * service at endpoint, e.g. "router". */
cmdclient_t *cmdclient_new(bus_t *bus, const char *endpoint, const char *server, char *err, size_t errsz);
void cmdclient_destroy(cmdclient_t **self);

/* Sends cmd (which must have a string "id") and returns the reply object (caller decrefs), or
 * NULL with the reason in err when no reply came after `tries` attempts of timeout_ms each. */
json_t *cmdclient_call(cmdclient_t *self, const json_t *cmd, int timeout_ms, int tries, char *err, size_t errsz);

#endif
