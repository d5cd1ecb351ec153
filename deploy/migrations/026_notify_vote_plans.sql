-- notify tells voters (issue 13): plans and templates for tally's vote.credentials and vote.closed
-- (tally-plan.md, "Events"). The planner is the same (services/notify/recipients.c); two audiences
-- are added:
--   voter      one message per credential a vote.credentials event carries, to the voter — or,
--              when the voter gave a written proxy, to its holder (the entry's holder_voter_id). A voter of
--              an 'adult' electorate is a resident: their phone. Of a 'household' electorate it is
--              a household: its head's phone, else its first resident (by id) with a phone. By SMS
--              only: a credential is a secret, so it goes in the SMS's parameters and nowhere a
--              WeChat template or a log shows it (template.secret below).
--   household  vote.closed: the head of every household of the motion's group who has a phone,
--              by WeChat when their phone is bound (with the phone to fall back on), else SMS.
-- Values their templates use (recipients.c): motion (code), title, group (the group's name),
-- voter (the name on the roll the credential is for), credential (in groups of four),
-- closes (04月13日 17:00, or 会议结束时 when the motion has no closing time), outcome (通过 …),
-- summary (tally's short Chinese text), head1 and head2 (the chain's head hash, 64 hex digits, in two
-- halves: an SMS parameter holds at most 35 characters, and the whole hash is what a household
-- can hold the 公示 and the archive to).
--
-- The sender's per-number limits hold as for any SMS: a proxy holder's second credential goes
-- sms_same_template_s (30 s) after the first; quiet hours hold credentials until 07:00.
--
-- A secret template: the body carries a one-time credential. Its messages' bodies are never
-- logged (the sandbox provider writes "(secret)" instead) and `gridgovctl messages` shows them
-- masked (notify.message_list below); the SMS itself is the only place the credential is shown.

ALTER TABLE notify.template ADD COLUMN secret boolean NOT NULL DEFAULT false;

ALTER TABLE notify.plan DROP CONSTRAINT plan_audience_check;
ALTER TABLE notify.plan ADD CONSTRAINT plan_audience_check
    CHECK (audience IN ('reporter', 'follower', 'handler', 'supervisor', 'duty_group', 'resident', 'voter',
                        'household'));

-- Voters and households are residents: quiet hours hold their SMS as a reporter's (sender.c).
ALTER TABLE notify.message DROP CONSTRAINT message_audience_check;
ALTER TABLE notify.message ADD CONSTRAINT message_audience_check
    CHECK (audience IN ('reporter', 'follower', 'handler', 'supervisor', 'duty_group', 'resident', 'voter',
                        'household'));

INSERT INTO notify.template (key, body, aliyun_code, tencent_id, sms_params, wechat_template_id, wechat_fields, urgent,
                             secret)
VALUES
    ('vote_credential',
     '【{group}】表决{motion}“{title}”已开始投票，截止{closes}。{voter}的投票码：{credential}，只能使用一次，请勿转给他人。',
     'SMS_480100031', '2100031', '{group,motion,title,closes,voter,credential}', NULL, '{}', false, true),
    ('vote_closed',
     '【{group}】表决{motion}“{title}”已结束：{outcome}。{summary}。结果公示哈希{head1}{head2}，可凭此核验村务存档。',
     'SMS_480100032', '2100032', '{group,motion,title,outcome,summary,head1,head2}',
     'Gg8VclTplDemoCounty0000000000000000000031',
     '{"character_string1": "{motion}", "thing2": "{title}", "phrase3": "{outcome}", "thing4": "{summary}"}',
     false, false);

INSERT INTO notify.plan (key, event_type, audience, template_key) VALUES
    ('voter_credentials',   'vote.credentials', 'voter',     'vote_credential'),
    ('household_vote_closed', 'vote.closed',    'household', 'vote_closed');

-- The operator's view: a secret template's body is not shown.
CREATE OR REPLACE VIEW notify.message_list AS
SELECT m.id, m.ticket_id, c.code AS ticket_code, m.template_key, m.audience, m.channel,
       CASE WHEN m.channel = 'sms' AND m.address ~ '^[0-9]{7,}$'
            THEN left(m.address, 3) || '****' || right(m.address, 4)
            ELSE left(m.address, 4) || '****' END AS address_masked,
       CASE WHEN t.secret THEN '(secret: ' || t.key || ')' ELSE m.body END AS body,
       m.urgent, m.state, m.due_at, m.attempts, m.provider, m.last_code, m.created_at, m.sent_at,
       m.receipt_at
FROM notify.message m
JOIN notify.template t ON t.key = m.template_key
LEFT JOIN intake.ticket_contact c ON c.ticket_id = m.ticket_id;

-- What notify reads of tally to find a credential's recipient: the motion's electorate, and the
-- roll's name of the voter a credential is for.
COMMENT ON VIEW tally.motion_public IS
    'read by intake, gridgovctl, notify: the motions API (scoped by group) and the archive; notify: a motion''s '
    'electorate, whose voters a vote.credentials event names (services/notify/recipients.c)';
COMMENT ON VIEW tally.roll_public IS
    'read by intake, gridgovctl, notify: the published roll (选民名单) and who took part, never how; notify names '
    'the voter a credential is for';
