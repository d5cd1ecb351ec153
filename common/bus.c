#include "bus.h"

#include <arpa/inet.h>
#include <errno.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <zmq.h>

#include "curve_key.h"
#include "log.h"
#include "zap.h"

#define DEFAULT_MAX_COMMAND 65536
#define DEFAULT_MAX_EVENT 1048576

struct bus {
    void *ctx;
    bool curve;
    char dir[1024];
    char name[65];
    char secret[CURVE_Z85_SIZE];
    char pub[CURVE_Z85_SIZE];
    zap_peer_t *peers;
    size_t npeers;
    long max_command, max_event;
    zap_t *zap;
};

/* The ZAP domain of a kind of socket; the allow-list is the key curve_<domain>_peers. */
static const char *kind_name(bus_kind_t kind) { return kind == BUS_COMMANDS ? "command" : "event"; }

/* Adds the keys named in the comma-separated list as admitted to domain. */
static bool load_peers(bus_t *self, const char *list, const char *domain, char *err, size_t errsz)
{
    if (!list)
        return true;
    char *copy = strdup(list), *save = NULL;
    if (!copy)
        log_oom();
    bool ok = true;
    for (char *tok = strtok_r(copy, ",", &save); ok && tok; tok = strtok_r(NULL, ",", &save)) {
        while (*tok == ' ')
            tok++;
        char *end = tok + strlen(tok);
        while (end > tok && end[-1] == ' ')
            *--end = '\0';
        if (!*tok)
            continue;
        zap_peer_t p = {0};
        char z85[CURVE_Z85_SIZE], why[512];
        if (!curve_key_read_public(self->dir, tok, z85, p.key, why, sizeof why)) {
            snprintf(err, errsz, "curve_%s_peers names %s, whose public key is missing: %s", domain, tok, why);
            ok = false;
            break;
        }
        snprintf(p.domain, sizeof p.domain, "%s", domain);
        snprintf(p.name, sizeof p.name, "%s", tok);
        zap_peer_t *grown = realloc(self->peers, (self->npeers + 1) * sizeof *grown);
        if (!grown)
            log_oom();
        self->peers = grown;
        self->peers[self->npeers++] = p;
    }
    free(copy);
    return ok;
}

bus_t *bus_new(const bus_opts_t *o, char *err, size_t errsz)
{
    bus_t *self = calloc(1, sizeof *self);
    if (!self)
        log_oom();
    self->curve = o->curve;
    self->max_command = o->max_command > 0 ? o->max_command : DEFAULT_MAX_COMMAND;
    self->max_event = o->max_event > 0 ? o->max_event : DEFAULT_MAX_EVENT;
    snprintf(self->dir, sizeof self->dir, "%s", o->curve_dir ? o->curve_dir : "");
    snprintf(self->name, sizeof self->name, "%s", o->name ? o->name : "");
    if (self->curve) {
        if (!zmq_has("curve")) {
            snprintf(err, errsz, "curve is on but this libzmq was built without CURVE support: install a libzmq "
                                 "with CURVE (Debian's libzmq5 has it), or set curve=off on a single host");
            goto fail;
        }
        char why[900];
        if (!curve_key_read_secret(self->dir, self->name, self->secret, self->pub, why, sizeof why)) {
            snprintf(err, errsz,
                     "curve is on and this program's key pair (curve_name=%s) cannot be used: %s "
                     "[curve=off runs without keys, on a single host only]",
                     self->name, why);
            goto fail;
        }
        if (!load_peers(self, o->event_peers, kind_name(BUS_EVENTS), err, errsz) ||
            !load_peers(self, o->command_peers, kind_name(BUS_COMMANDS), err, errsz))
            goto fail;
    }
    self->ctx = zmq_ctx_new();
    if (!self->ctx) {
        snprintf(err, errsz, "zmq_ctx_new: %s", zmq_strerror(errno));
        goto fail;
    }
    if (self->curve && !(self->zap = zap_start(self->ctx, self->peers, self->npeers, err, errsz)))
        goto fail;
    return self;
fail:
    bus_destroy(&self);
    return NULL;
}

bus_t *bus_from_cfg(const cfg_t *cfg, char *err, size_t errsz)
{
    bus_opts_t o = {
        .curve = cfg_bool(cfg, "curve"),
        .curve_dir = cfg_str(cfg, "curve_dir"),
        .name = cfg_str(cfg, "curve_name"),
        .event_peers = cfg_has(cfg, "curve_event_peers") ? cfg_str(cfg, "curve_event_peers") : NULL,
        .command_peers = cfg_has(cfg, "curve_command_peers") ? cfg_str(cfg, "curve_command_peers") : NULL,
        .max_command = cfg_int(cfg, "bus_max_command"),
        .max_event = cfg_int(cfg, "bus_max_event"),
    };
    return bus_new(&o, err, errsz);
}

void bus_destroy(bus_t **pself)
{
    if (!pself || !*pself)
        return;
    bus_t *self = *pself;
    zap_stop(&self->zap);
    if (self->ctx)
        zmq_ctx_term(self->ctx);
    explicit_bzero(self->secret, sizeof self->secret);
    free(self->peers);
    free(self);
    *pself = NULL;
}

void *bus_ctx(bus_t *self) { return self->ctx; }
bool bus_curve(const bus_t *self) { return self->curve; }
unsigned long bus_refused(const bus_t *self) { return zap_refused(self->zap); }

/* Splits [NAME@]transport://address: the transport part goes to *rest, the name (or "") to name.
 * An '@' after "://" belongs to the address (ipc://@abstract). */
static bool split_endpoint(const char *endpoint, char *name, size_t namesz, const char **rest)
{
    const char *scheme = strstr(endpoint, "://");
    const char *at = strchr(endpoint, '@');
    name[0] = '\0';
    *rest = endpoint;
    if (!scheme)
        return false;
    if (at && at < scheme) {
        size_t n = (size_t)(at - endpoint);
        if (n >= namesz)
            return false;
        memcpy(name, endpoint, n);
        name[n] = '\0';
        *rest = at + 1;
    }
    return true;
}

/* True when a bind to endpoint (transport://address) is reachable from this host only. */
static bool host_only(const char *endpoint)
{
    if (!strncmp(endpoint, "ipc://", 6) || !strncmp(endpoint, "inproc://", 9))
        return true;
    if (strncmp(endpoint, "tcp://", 6) != 0)
        return false;
    char host[256];
    const char *h = endpoint + 6, *colon = strrchr(h, ':');
    size_t n = colon ? (size_t)(colon - h) : strlen(h);
    if (n == 0 || n >= sizeof host)
        return false;
    memcpy(host, h, n);
    host[n] = '\0';
    if (host[0] == '[' && n >= 2 && host[n - 1] == ']') {
        memmove(host, host + 1, n - 2);
        host[n - 2] = '\0';
    }
    if (!strcmp(host, "localhost"))
        return true;
    struct in_addr a4;
    struct in6_addr a6;
    if (inet_pton(AF_INET, host, &a4) == 1)
        return (ntohl(a4.s_addr) >> 24) == 127;
    if (inet_pton(AF_INET6, host, &a6) == 1)
        return IN6_IS_ADDR_LOOPBACK(&a6);
    return false; /* "*", an interface name, a host name: not provably this host only */
}

bool bus_may_bind(const bus_t *self, const char *endpoint, char *err, size_t errsz)
{
    char name[65];
    const char *rest;
    if (!split_endpoint(endpoint, name, sizeof name, &rest)) {
        snprintf(err, errsz, "'%s' is not a ZeroMQ endpoint (transport://address)", endpoint);
        return false;
    }
    if (!self->curve && !host_only(rest)) {
        snprintf(err, errsz,
                 "curve is off, so %s may bind only to this host (127.0.0.1, ::1, localhost, ipc:// or inproc://): "
                 "turn curve on to listen beyond it",
                 rest);
        return false;
    }
    return true;
}

static bool set_limit(void *sock, long max, char *err, size_t errsz)
{
    int64_t v = max;
    if (zmq_setsockopt(sock, ZMQ_MAXMSGSIZE, &v, sizeof v) != 0) {
        snprintf(err, errsz, "ZMQ_MAXMSGSIZE: %s", zmq_strerror(errno));
        return false;
    }
    return true;
}

bool bus_bind(bus_t *self, void *sock, bus_kind_t kind, const char *endpoint, char *err, size_t errsz)
{
    char name[65];
    const char *rest;
    if (!bus_may_bind(self, endpoint, err, errsz))
        return false;
    (void)split_endpoint(endpoint, name, sizeof name, &rest);
    if (!set_limit(sock, kind == BUS_COMMANDS ? self->max_command : self->max_event, err, errsz))
        return false;
    if (self->curve) {
        int one = 1;
        const char *domain = kind_name(kind);
        char what[64];
        snprintf(what, sizeof what, "serving %ss on", domain);
        if (zmq_setsockopt(sock, ZMQ_CURVE_SERVER, &one, sizeof one) != 0 ||
            zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, self->secret, CURVE_Z85_SIZE) != 0 ||
            zmq_setsockopt(sock, ZMQ_ZAP_DOMAIN, domain, strlen(domain)) != 0) {
            snprintf(err, errsz, "CURVE server options: %s", zmq_strerror(errno));
            return false;
        }
        if (!zap_watch(self->zap, sock, what, err, errsz))
            return false;
    }
    if (zmq_bind(sock, rest) != 0) {
        snprintf(err, errsz, "cannot bind %s: %s", rest, zmq_strerror(errno));
        return false;
    }
    return true;
}

static bool connect_one(bus_t *self, void *sock, bus_kind_t kind, const char *endpoint, const char *default_server,
                        char *err, size_t errsz)
{
    char name[65];
    const char *rest;
    if (!split_endpoint(endpoint, name, sizeof name, &rest)) {
        snprintf(err, errsz, "'%s' is not a ZeroMQ endpoint ([NAME@]transport://address)", endpoint);
        return false;
    }
    if (!set_limit(sock, kind == BUS_COMMANDS ? self->max_command : self->max_event, err, errsz))
        return false;
    if (self->curve) {
        const char *server = name[0] ? name : default_server;
        if (!server || !*server) {
            snprintf(err, errsz, "curve is on: say whose key the server at %s has, as NAME@%s (NAME.pub in %s)", rest, rest,
                     self->dir);
            return false;
        }
        char spub[CURVE_Z85_SIZE], why[600];
        if (!curve_key_read_public(self->dir, server, spub, NULL, why, sizeof why)) {
            snprintf(err, errsz, "the server key for %s: %s", rest, why);
            return false;
        }
        if (zmq_setsockopt(sock, ZMQ_CURVE_SERVERKEY, spub, CURVE_Z85_SIZE) != 0 ||
            zmq_setsockopt(sock, ZMQ_CURVE_PUBLICKEY, self->pub, CURVE_Z85_SIZE) != 0 ||
            zmq_setsockopt(sock, ZMQ_CURVE_SECRETKEY, self->secret, CURVE_Z85_SIZE) != 0) {
            snprintf(err, errsz, "CURVE client options: %s", zmq_strerror(errno));
            return false;
        }
    }
    if (zmq_connect(sock, rest) != 0) {
        snprintf(err, errsz, "cannot connect %s: %s", rest, zmq_strerror(errno));
        return false;
    }
    return true;
}

bool bus_connect(bus_t *self, void *sock, bus_kind_t kind, const char *endpoint, const char *default_server, char *err,
                 size_t errsz)
{
    return connect_one(self, sock, kind, endpoint, default_server, err, errsz);
}

bool bus_connect_list(bus_t *self, void *sock, bus_kind_t kind, const char *endpoints, char *err, size_t errsz)
{
    char *copy = strdup(endpoints ? endpoints : ""), *save = NULL;
    if (!copy)
        log_oom();
    bool ok = true;
    for (char *ep = strtok_r(copy, ",", &save); ok && ep; ep = strtok_r(NULL, ",", &save)) {
        while (*ep == ' ')
            ep++;
        char *end = ep + strlen(ep);
        while (end > ep && end[-1] == ' ')
            *--end = '\0';
        if (*ep)
            ok = connect_one(self, sock, kind, ep, NULL, err, errsz);
    }
    free(copy);
    return ok;
}
