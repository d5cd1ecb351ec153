-- Where officials are reached besides their phone (issue 12, notify): a staff member's WeCom
-- user id (notify sends them WeCom app messages, else SMS to registry.staff.phone) and a
-- township's duty-group robot (its WeCom group robot's webhook key: escalations and overdue
-- tickets are posted to the group). Written, like the rest of the registry, by gridgovctl and
-- intake; read by notify (services/notify/recipients.c, plan.c).
--
-- Both are optional: a county without WeCom leaves them empty and notify uses SMS, or tells no
-- duty group. The formats are checked here so a mistyped value fails when it is written, not
-- when notify first sends to it (WeCom answers 93000 for a bad robot key, 81013 for a bad user).

-- A WeCom userid: 1 to 64 letters, digits and _ - . @ (what WeCom accepts as a member's account).
ALTER TABLE registry.staff ADD COLUMN wecom_userid text
    CONSTRAINT staff_wecom_userid_format CHECK (wecom_userid ~ '^[A-Za-z0-9_.@-]{1,64}$');
CREATE UNIQUE INDEX staff_wecom_userid ON registry.staff (wecom_userid) WHERE wecom_userid IS NOT NULL;
COMMENT ON COLUMN registry.staff.wecom_userid IS
    'The member''s WeCom userid: notify sends WeCom app messages to it; NULL: SMS to phone.';

-- A robot's webhook key is the key= of https://qyapi.weixin.qq.com/cgi-bin/webhook/send?key=...,
-- a UUID in WeCom's own form.
ALTER TABLE registry.unit ADD COLUMN wecom_robot_key text
    CONSTRAINT unit_wecom_robot_key_format
    CHECK (wecom_robot_key ~ '^[0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{12}$');
COMMENT ON COLUMN registry.unit.wecom_robot_key IS
    'The webhook key of the unit''s duty-group WeCom robot (townships): notify posts escalations and overdue '
    'tickets there; NULL: no group is told.';

-- The demo county (deploy/seed/demo_county.sql) sets its own when it is loaded on this schema; a
-- database seeded before this migration gets the same values here. Only the demo jurisdiction is
-- touched: a county's own contacts are its operators' to enter. The values are the seed's
-- (md5 of a stable key, as the seed's other choices): two townships have a duty group, the third
-- none; their supervisors and desks, and the county's operator, use WeCom, village handlers SMS.
UPDATE registry.unit u
SET wecom_robot_key = regexp_replace(md5('robot:' || u.code), '^(.{8})(.{4})(.{4})(.{4})(.{12})$', '\1-\2-\3-\4-\5')
WHERE u.level = 'township' AND u.code IN ('430121-101', '430121-102')
  AND EXISTS (SELECT 1 FROM registry.jurisdiction WHERE id = 'demo.gridgov.cn');
UPDATE registry.staff s
SET wecom_userid = 'demo.' || s.id
WHERE (s.role = 'operator' OR (s.role IN ('supervisor', 'handler') AND s.unit_id IN
        (SELECT u.id FROM registry.unit u WHERE u.code IN ('430121-101', '430121-102'))))
  AND EXISTS (SELECT 1 FROM registry.jurisdiction WHERE id = 'demo.gridgov.cn');
