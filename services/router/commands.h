/* commands: what intake asks the router to do, over ZeroMQ request/reply (intake's DEALER to
 * our ROUTER). A command is {"id": uuid, "action", "ticket": code, "staff_id", "note", "hours",
 * "unit": code} from staff, or {"id", "action": "rate", "ticket", "rating", "proof"} from a
 * resident (no staff_id; proof names what intake checked: "rating_code"); the reply is {"id",
 * "status", "body"} (proto/command.router and proto/reply.router schemas). The command and its
 * reply are stored under the id in the same transaction as the change, so a retry of the same id
 * gets the same answer and changes nothing. The actions are the lifecycle table's (lifecycle.h):
 * a name it lacks, or one the router only takes itself (assign, merge, escalate, overdue,
 * close_unrated), is answered 404 unknown_action; a frame that is not JSON, has no uuid id, or
 * names no action or ticket is answered 400 bad_command. None of these is stored. */
#ifndef ROUTER_COMMANDS_H
#define ROUTER_COMMANDS_H

#include <stdint.h>

#include "router.h"

/* Handles one command text; returns the reply text (caller frees). Never NULL. */
char *commands_handle(router_t *r, const char *payload, size_t len, int64_t now_us);

#endif
