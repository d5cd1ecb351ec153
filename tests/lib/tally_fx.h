/* tally_fx: what the tally end-to-end tests share: a rule set file of their own (so they do not
 * depend on the shipped ones' numbers), a fresh villager group with households, residents and a
 * group leader, and commands to tally through a cmdclient (as intake's key, as intake sends them).
 * Failures to set up abort the test binary. */
#ifndef TESTS_TALLY_FX_H
#define TESTS_TALLY_FX_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stdint.h>

#include "bus.h"
#include "cmdclient.h"

/* Writes the test rule sets (code "test-rules": the Organic Law's group-meeting numbers, proxy cap
 * 3, write-ins allowed, 3 tellers; "test-noproxy": the same without proxies) into a folder of
 * GRIDGOV_TEST_VAR and returns the folder (static storage). */
const char *tfx_rules_dir(void);

typedef struct {
    int64_t group_id;
    char group_code[64];
    int64_t leader;       /* a group_leader of the group: in scope */
    int64_t grid_worker;  /* a grid_worker of the group: never in scope */
} tfx_group_t;

/* A new villager group with `households` households, each with `adults` residents born 1970 (the
 * first its head) and one child born 2020. */
void tfx_group(PGconn *c, int households, int adults, tfx_group_t *g);

/* A command client to tally on port, as intake (bus made by the caller, with intake's key). */
cmdclient_t *tfx_client(bus_t *bus, int port);

/* Sends cmd (a new "id" is added when it has none; cmd is stolen) and returns the reply (caller
 * decrefs); fails the test binary when none comes within 20 s. */
json_t *tfx_call(cmdclient_t *cl, json_t *cmd);
/* The reply's status and body members. */
int tfx_status(const json_t *reply);
const char *tfx_error(const json_t *reply); /* body.error.code, or "" */
json_t *tfx_body(const json_t *reply);      /* borrowed */

/* create (a draft) then open; returns the motion code (static buffer per call: copy it). ballot
 * may be NULL (a resolution's default); it is stolen. */
const char *tfx_create(cmdclient_t *cl, const tfx_group_t *g, const char *kind, const char *electorate, json_t *ballot,
                       const char *closes_at);
/* The same under another rule set ("test-noproxy": no proxies) and delivery ("notify", "slips"). */
const char *tfx_create_with(cmdclient_t *cl, const tfx_group_t *g, const char *kind, const char *electorate, json_t *ballot,
                            const char *closes_at, const char *rule_set, const char *delivery);
json_t *tfx_open(cmdclient_t *cl, const tfx_group_t *g, const char *motion);

/* Issues slips to every voter not yet voted and returns them: [{"voter_id", "credential", ...}]
 * (a new reference). */
json_t *tfx_slips(cmdclient_t *cl, const tfx_group_t *g, const char *motion);

/* A cast; returns the reply. */
json_t *tfx_cast(cmdclient_t *cl, const char *motion, const char *credential, json_t *marks /* stolen */);

#endif
