-- Run by tests/run.sh after every test binary: the tickets the previous release left in the
-- database (tests/sql/previous_release.sql, descriptions starting with 升级前) came through the
-- upgrade and the whole run intact, and the ones it had not routed yet were routed by this release's
-- router (when the run started it at all).
DO $$
DECLARE
    n int;
    bad text;
BEGIN
    SELECT count(*) INTO n FROM intake.ticket WHERE description LIKE '升级前：%';
    IF n <> 8 THEN
        RAISE EXCEPTION 'the previous release left 8 tickets, % are there', n;
    END IF;
    -- what the previous release did stays recorded: its 17 transitions (6 assign or merge, 4 accept,
    -- 3 start, 2 resolve, an extension request, a rating), the duplicate and the rating. (The router
    -- may move the open ones on since: sweeps of long-missed clocks, a resolved one closing unrated.)
    SELECT count(*) INTO n FROM router.transition tr JOIN intake.ticket i ON i.id = tr.ticket_id
    WHERE i.description LIKE '升级前：%' AND i.service_code NOT IN ('NOISE', 'DISPUTE') AND tr.at < '2025-09-03';
    IF n <> 17 THEN
        RAISE EXCEPTION 'the previous release recorded 17 transitions, % are there', n;
    END IF;
    SELECT string_agg(format('%s (%s): %s', i.code, i.service_code, coalesce(t.state, 'not routed')), '; ') INTO bad
    FROM intake.ticket i LEFT JOIN router.ticket t ON t.ticket_id = i.id
    WHERE i.description LIKE '升级前：%' AND i.service_code NOT IN ('NOISE', 'DISPUTE')
      AND (t.ticket_id IS NULL
           OR (i.description = '升级前：路灯不亮，晚上看不见路'
               AND (t.state <> 'merged' OR t.merged_into <> (SELECT o.id FROM intake.ticket o
                                                             WHERE o.description = '升级前：村口路灯不亮')))
           OR (i.service_code = 'AID' AND (t.state <> 'closed' OR t.rating <> 'satisfied')));
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'tickets of the previous release changed in the upgrade: %', bad;
    END IF;
    -- the reply the previous release stored for the rating, with no request beside it
    IF NOT EXISTS (SELECT 1 FROM router.command c JOIN router.transition tr ON tr.command_id = c.id
                   WHERE c.id = '01d01d00-0000-4000-8000-000000000001' AND c.request IS NULL
                     AND c.reply #>> '{body,ticket,rating}' = 'satisfied' AND tr.action = 'rate') THEN
        RAISE EXCEPTION 'the command the previous release stored is gone or changed';
    END IF;
    -- what it had not routed, this release's router routes as soon as it runs
    IF EXISTS (SELECT 1 FROM bus.cursor WHERE consumer = 'router') THEN
        SELECT string_agg(i.code, ', ') INTO bad FROM intake.ticket i
        WHERE i.description LIKE '升级前：%' AND i.service_code IN ('NOISE', 'DISPUTE')
          AND NOT EXISTS (SELECT 1 FROM router.transition tr WHERE tr.ticket_id = i.id AND tr.action = 'assign');
        IF bad IS NOT NULL THEN
            RAISE EXCEPTION 'the router ran but did not route the tickets the previous release left unrouted: %', bad;
        END IF;
    END IF;
    RAISE NOTICE 'the previous release''s 8 tickets came through the upgrade';
END
$$;
