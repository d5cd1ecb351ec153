/* bus: this process's side of the ZeroMQ bus, written once: the process's one ZeroMQ context,
 * its CURVE key pair, the keys it admits, the frame limits, and where it may bind.
 *
 * Who is the CURVE server: the side that binds (the router's command ROUTER, every relay's PUB)
 * holds its secret key and admits a client only when ZAP (zap.h) finds the client's public key
 * in the allow-list of the socket's kind: curve_command_peers for commands, curve_event_peers
 * for events. The side that connects (intake's command DEALER, every SUB) is a client: it
 * presents its own key pair and checks the server's key, named in the endpoint as
 * NAME@tcp://host:port (NAME.pub in curve_dir; a caller may give a default NAME). A process
 * that binds a forged server on a daemon's port cannot answer the handshake without that
 * daemon's secret key.
 * Keys live in curve_dir: NAME.key (secret, 0600) and NAME.pub (curve_key.h). Everything is
 * read at start, so a missing or bad key stops a daemon with a clear message.
 *
 * curve=off is for one host only: every bind must then be 127.0.0.1, ::1, localhost, ipc:// or
 * inproc://. bus_may_bind() says so before anything starts, so a daemon refuses to start.
 *
 * Every socket gets ZMQ_MAXMSGSIZE: bus_max_command for commands, bus_max_event for events. A
 * peer that announces a larger frame is disconnected before the frame is read into memory.
 *
 * Ownership: bus_new() returns a bus owning the context and the zap thread; bus_destroy() ends
 * them and NULLs the pointer, and must come after every socket made in bus_ctx() is closed.
 * bus_bind() and bus_connect() are thread-safe (intake's HTTP threads connect their own clients);
 * the socket itself belongs to the calling thread as usual. bus_bind() puts a socket monitor on
 * the socket (libzmq allows one per socket). */
#ifndef GRIDGOV_BUS_H
#define GRIDGOV_BUS_H

#include <stdbool.h>
#include <stddef.h>

#include "config.h"

typedef enum { BUS_COMMANDS, BUS_EVENTS } bus_kind_t;

typedef struct {
    bool curve;
    const char *curve_dir;
    const char *name;          /* this program's key pair: curve_dir/NAME.key */
    const char *event_peers;   /* comma-separated key names admitted to its event sockets */
    const char *command_peers; /* ... to its command socket */
    long max_command;          /* bytes; 0 = 65536 */
    long max_event;            /* bytes; 0 = 1048576 */
} bus_opts_t;

/* The configuration keys of the bus, for a program's KEYS table (config.h). Every program has
 * the first group; a program that publishes events adds BUS_CFG_EVENT_PEERS, one that takes
 * commands BUS_CFG_COMMAND_PEERS. */
#define BUS_CFG_KEYS(default_name)                                                                                   \
    {"curve", CFG_BOOL, "on", 0, 0,                                                                                  \
     "ZeroMQ CURVE on the bus (authenticated, encrypted); off only on one host: every endpoint must then bind "     \
     "127.0.0.1 or ipc://"},                                                                                         \
    {"curve_dir", CFG_STR, "var/curve", 0, 0,                                                                        \
     "folder of CURVE keys: NAME.key (secret, mode 0600) and NAME.pub (gridgovctl keygen NAME DIR)"},               \
    {"curve_name", CFG_STR, default_name, 0, 0, "this program's key pair in curve_dir (NAME.key)"},                 \
    {"bus_max_command", CFG_INT, "65536", 4096, 16777216,                                                             \
     "largest command frame in bytes; a peer that sends more is disconnected"},                                     \
    {"bus_max_event", CFG_INT, "1048576", 4096, 268435456,                                                           \
     "largest event frame in bytes; a peer that sends more is disconnected"}
#define BUS_CFG_EVENT_PEERS(default_peers)                                                                           \
    {"curve_event_peers", CFG_STR, default_peers, 0, 0,                                                              \
     "comma-separated key names (NAME.pub in curve_dir) admitted to subscribe to this program's events"}
#define BUS_CFG_COMMAND_PEERS(default_peers)                                                                         \
    {"curve_command_peers", CFG_STR, default_peers, 0, 0,                                                            \
     "comma-separated key names (NAME.pub in curve_dir) admitted to send this program commands"}

typedef struct bus bus_t;

/* Checks libzmq's CURVE support, loads the keys and starts the ZAP thread (when curve is on). */
bus_t *bus_new(const bus_opts_t *opts, char *err, size_t errsz);
/* The same from a program's configuration (the keys above). */
bus_t *bus_from_cfg(const cfg_t *cfg, char *err, size_t errsz);
void bus_destroy(bus_t **self);

void *bus_ctx(bus_t *self);
bool bus_curve(const bus_t *self);
/* How many clients ZAP has refused so far. */
unsigned long bus_refused(const bus_t *self);

/* False (reason in err) when endpoint may not be bound: with curve off, anything beyond this host. */
bool bus_may_bind(const bus_t *self, const char *endpoint, char *err, size_t errsz) __attribute__((warn_unused_result));

/* Sets the limits and, with curve on, the server's key and ZAP domain on sock, then binds it. */
bool bus_bind(bus_t *self, void *sock, bus_kind_t kind, const char *endpoint, char *err, size_t errsz)
    __attribute__((warn_unused_result));

/* Sets the limits and, with curve on, this program's key pair and the server's public key on sock,
 * then connects it. endpoint: [NAME@]transport://address; NAME names the server's key and
 * defaults to default_server (may be NULL: then NAME@ is required when curve is on). */
bool bus_connect(bus_t *self, void *sock, bus_kind_t kind, const char *endpoint, const char *default_server, char *err,
                 size_t errsz) __attribute__((warn_unused_result));

/* bus_connect() for each endpoint of a comma-separated list. */
bool bus_connect_list(bus_t *self, void *sock, bus_kind_t kind, const char *endpoints, char *err, size_t errsz)
    __attribute__((warn_unused_result));

#endif
