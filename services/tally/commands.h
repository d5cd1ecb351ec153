/* commands: what intake (or gridgovctl) asks tally to do, over ZeroMQ request/reply (their
 * DEALER to our ROUTER). A command is {"id": uuid, "action", …} as proto/command.tally.schema.json
 * draws it per action; the reply {"id", "status", "body"} as proto/reply.tally.schema.json.
 * Every action but cast is stored in tally.command with its request and reply, in the transaction
 * of its effect, so a retry under the same id gets the same answer and changes nothing (slips
 * excepted: its stored reply says only how many were issued, and a retry issues new credentials
 * again). A cast is never stored there (it names a credential): cast.c recognises its retry by
 * the receipt's cast_key. A frame that is not JSON, has no uuid id, names no action tally takes
 * from a sender, or has members its action's shape lacks is answered 400/404 and stored nowhere.
 * A 503 (the database failed) stores nothing either: the sender retries. */
#ifndef TALLY_COMMANDS_H
#define TALLY_COMMANDS_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

#include "motion.h"
#include "tally.h"

typedef struct {
    json_t *cmd;              /* owned */
    char id[37];              /* canonical (lower case) */
    motion_action_t action;
} command_t;

/* Parses one frame. NULL when it is a command of ours (out filled: the caller frees out->cmd);
 * otherwise the reply text to send (caller frees) and nothing to do. */
char *command_parse(const char *payload, size_t len, command_t *out);

/* Handles a parsed command other than a cast; returns the reply text (caller frees), never NULL.
 * *rang is set when events were committed (the caller rings the relay). */
char *commands_handle(tally_t *t, const command_t *cmd, int64_t now_us, bool *rang);

/* The reply frame for an answer: {"id", "status", "body"} (body is stolen). */
char *command_reply(const char *id, int status, json_t *body);

#endif
