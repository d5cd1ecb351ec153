/* county_scale: a county's worth of tickets for tests that ask which plan PostgreSQL chooses. A
 * plan depends on what the statistics say of the tables, so a check of it on the test database's
 * few dozen rows proves nothing (a sequential scan is the right plan there) and breaks when
 * anything refreshes those statistics (an ANALYZE, a new index on the table). These tickets are
 * made and ANALYZEd inside the caller's transaction, which the caller rolls back: no later test
 * sees them.
 *
 * Every scale ticket has code 'SC' and 11 digits (SC00000000001 …, never an intake code), a
 * router.ticket row, and, by its number i (1-based):
 *   channel   wechat when i % 10 < 3, sms when < 6, else api;
 *   phone     h_scale_phone(i / 3) on all but the wechat tickets with i % 2 = 1 (no bound
 *             phone), so that a phone has about three tickets;
 *   account   h_scale_openid(i / 3) on the wechat tickets (the openid that filed them);
 *   state     resolved when i % 5 = 0, closed when 1, in_progress when 2, assigned when 3,
 *             accepted when 4;
 *   time      requested i minutes after 2025-01-01 UTC, updated (resolved) a day later. */
#ifndef TESTS_COUNTY_SCALE_H
#define TESTS_COUNTY_SCALE_H

#include <libpq-fe.h>

#define SCALE_TICKETS 60000

/* Adds n scale tickets and ANALYZEs intake.ticket and router.ticket, on owner (h_db_owner: the
 * role that may ANALYZE) inside its open transaction, with no statement timeout for the rest of
 * it. Aborts the test binary on an SQL error. */
void h_county_scale(PGconn *owner, int n);
/* After the caller's ROLLBACK: ANALYZE never rolls back what it writes in pg_class (the table's
 * size), and the table keeps the dead rows' pages until a VACUUM. This VACUUM ANALYZEs both
 * tables so that the later tests' planner sees them as they are; owner keeps no statement
 * timeout. */
void h_county_scale_undone(PGconn *owner);

/* The phone and the openid of scale resident k (caller-provided buffers of 16 and 24 bytes). */
void h_scale_phone(int k, char out[16]);
void h_scale_openid(int k, char out[24]);

#endif
