-- Run by tests/run.sh after every test binary: what the router keeps in step must agree with what
-- it counts, after all the scenarios (assignment, batches, escalations, returns, kills) ran.
DO $$
DECLARE
    bad text;
BEGIN
    -- router.staff_load (kept by triggers) against a count of each person's open tickets
    SELECT string_agg(format('staff %s: kept %s, counted %s', id, kept, counted), '; ') INTO bad FROM (
        SELECT coalesce(l.staff_id, c.assignee_id) AS id, coalesce(l.open, 0) AS kept, coalesce(c.n, 0) AS counted
        FROM router.staff_load l
        FULL JOIN (SELECT assignee_id, count(*) AS n FROM router.ticket
                   WHERE assignee_id IS NOT NULL AND state IN ('assigned', 'accepted', 'in_progress')
                   GROUP BY 1) c ON c.assignee_id = l.staff_id) x
    WHERE kept <> counted;
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'router.staff_load disagrees with the tickets: %', bad;
    END IF;
    -- every routed ticket has its first transition, and a merged one its original
    SELECT string_agg(code, ', ') INTO bad FROM router.ticket t
    WHERE NOT EXISTS (SELECT 1 FROM router.transition tr WHERE tr.ticket_id = t.ticket_id AND tr.action IN ('assign', 'merge'))
       OR (t.state = 'merged' AND t.merged_into IS NULL);
    IF bad IS NOT NULL THEN
        RAISE EXCEPTION 'tickets without their assign/merge transition or original: %', bad;
    END IF;
    -- a unit tickets were placed in cannot be deleted (the placement columns have no foreign keys)
    BEGIN
        DELETE FROM registry.unit WHERE id = (SELECT group_id FROM router.ticket WHERE group_id IS NOT NULL LIMIT 1);
        RAISE EXCEPTION 'a unit with placed tickets was deleted';
    EXCEPTION WHEN foreign_key_violation THEN
        IF SQLERRM NOT LIKE '%has tickets placed in it%' THEN
            RAISE EXCEPTION 'deleting a unit with placed tickets failed for another reason: %', SQLERRM;
        END IF;
    END;
    RAISE NOTICE 'router invariants hold over % tickets', (SELECT count(*) FROM router.ticket);
END
$$;
