/* server: the command socket (ROUTER). Every frame waiting is read at once (up to the batch
 * size), in order: casts gather into one batch (cast.h), any other command first sends the batch
 * gathered so far to the database and then runs alone (commands.h), so a close that arrived after
 * a cast is handled after it. Replies go back to each sender by its routing id. */
#ifndef TALLY_SERVER_H
#define TALLY_SERVER_H

#include <stdbool.h>

#include "tally.h"

/* Answers what is waiting on sock; sets *rang when events were committed. Returns the number of
 * frames handled. */
int server_serve(tally_t *t, void *sock, bool *rang);

#endif
