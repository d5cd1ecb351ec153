/* roll: who may vote on a motion, taken from the registry (the foundation schema every service
 * reads) and frozen in tally.roll when the motion opens.
 *   household electorate (一户一票): one voter per household of the group that has residents;
 *     voter_id = the household's id, name = its head's (or, with no head recorded, its first
 *     resident's).
 *   adult electorate (一人一票): every resident of the group's households aged 18 in the current
 *     county year, i.e. birth_year <= year(now, +08:00) - 18. The registry keeps birth years
 *     only, so a whole birth year is counted alike: whoever turns 18 during this year may vote
 *     (Organic Law art. 13: 年满十八周岁).
 * Nothing of the registry is read again once the motion is open: a resident added later is not
 * on the roll. */
#ifndef TALLY_ROLL_H
#define TALLY_ROLL_H

#include <jansson.h>
#include <libpq-fe.h>
#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* The county year (+08:00) of an instant. */
int roll_county_year(int64_t now_us);

/* The electorate now: rows (voter_id, household_id, name) sorted by voter_id. NULL on a database
 * error (err). */
PGresult *roll_electorate(PGconn *c, bool household, int64_t group_id, int64_t now_us, char *err, size_t errsz);

/* How many of ids (a JSON list of integers) are on the electorate now: -1 on a database error. */
int64_t roll_electorate_count(PGconn *c, bool household, int64_t group_id, int64_t now_us, const json_t *ids, char *err,
                              size_t errsz);

/* {"voter_id", "household_id", "credential", "holder_voter_id"?}: a credential entry of
 * vote.credentials and of a slip (holder: the proxy holder who receives it, 0 for none). */
json_t *roll_credential_entry(int64_t voter_id, int64_t household_id, const char *credential, int64_t holder);

/* A PostgreSQL bigint[] literal of a JSON list of integers ("{1,2}"); NULL when an element is not
 * a positive integer. Caller frees. */
char *roll_ids_sql(const json_t *ids);

#endif
