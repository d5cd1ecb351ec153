/* resident_rating: a resident rates by replying 1/2/3 (满意/基本满意/不满意) to an SMS or in
 * WeChat. The sender never names the ticket: intake picks the last resolved ticket filed with
 * the sender's phone (an SMS uplink's number, or the phone a WeChat openid is bound to) or by the
 * openid itself, and sends the router `rate` with the proof it checked (sms_uplink,
 * wechat_binding; proto/WIRE.md). So only the reporter can rate, and only what they reported. */
#ifndef INTAKE_RESIDENT_RATING_H
#define INTAKE_RESIDENT_RATING_H

#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>

struct intake;

typedef enum {
    RATE_DONE,        /* the router took the rating */
    RATE_NOTHING,     /* no resolved ticket, or the router refused (already rated …): why says it */
    RATE_UNAVAILABLE, /* PostgreSQL or the router did not answer: nothing happened, retry later */
} rate_status_t;

/* The statement resident_rate finds the ticket with ($1 phone, $2 openid, either NULL): one
 * row, the code. Public for tests/unit/test_channel_lookups.c, which checks its plan. */
extern const char RESIDENT_LAST_RESOLVED_SQL[];

/* satisfied, basic or unsatisfied for "1"/"满意", "2"/"基本满意", "3"/"不满意" (surrounding
 * spaces and a final 。 or . ignored), else NULL. */
const char *resident_rating_word(const char *text);

/* Rates the last resolved ticket of phone or openid (either may be NULL) on the caller's
 * connection (in its transaction: the choice and the inbox row commit together). command_key
 * names the callback (its dedup key): a retry sends the same command id, which the router answers
 * as before. The ticket's code into code_out ("" when none). */
rate_status_t resident_rate(const struct intake *app, PGconn *c, const char *phone, const char *openid,
                            const char *rating, const char *proof, const char *command_key, char code_out[32],
                            char *why, size_t whysz) __attribute__((warn_unused_result));

#endif
