-- Who is told what (issue 12): plans and templates as data.
--
-- A plan says: when an event of this type is read, tell this audience with this template. The
-- planner (services/notify/plan.c) reads the enabled plans of each event's type, finds each
-- audience's people (services/notify/recipients.c: which channel and address), fills in the
-- template (services/notify/render.c) and writes one notify.message per (event, plan, recipient),
-- in the consumer's transaction, keyed "<event id>/<plan>/<recipient>" so a replayed event plans
-- nothing twice. Turning a plan off, or pointing it at another template, is an UPDATE.
--
-- Audiences, and where the planner finds them:
--   reporter    the resident who filed the event's ticket (intake.ticket_contact)
--   follower    the reporters of the other tickets an outcome names in `followers` (duplicates
--               merged into it: proto/ticket.transition.schema.json)
--   handler     the staff member the event names as assignee (else who holds the ticket now)
--   supervisor  the supervisors of the ticket's township (router.ticket_assignment.township_id)
--   duty_group  the township's duty-group WeCom robot (registry.unit.wecom_robot_key)
--   resident    the phone a verification request names (intake.wechat_verification)
--
-- 督办 (a supervision order): the router raises one when a resolve deadline is missed, in the
-- same transition that announces ticket.overdue (services/router/lifecycle_effects.c,
-- effect_overdue), so ticket.overdue is the order as far as notify is concerned: the township's
-- supervisor is told at once (urgent: quiet hours do not hold it), and the duty group.
--
-- Template text is Chinese with {name} placeholders. The values a plan can use (plan.c):
--   code         the recipient's own ticket code (a follower's is their duplicate's code)
--   ticket_code  the code of the event's ticket
--   service      the category's name (路灯照明)
--   unit         the unit holding the ticket after the event (ticket.assigned: which unit)
--   township     the ticket's township
--   note         the handler's note: what was done (resolved), the reason (rejected)
--   original     the code a duplicate was merged into
--   name         a staff recipient's name
--   at           the event's time (ISO 8601; WeChat time fields), when: the same as 04月13日 09:00
--   sign_due, resolve_due, due   deadlines as 04月13日 17:00 (due: the clock a yellow light is about)
--   vcode        a verification code (channel.verify_requested)
-- The daily digest (digest.c): date, area, received, resolved, on_time, overdue_count, overdue.
--
-- SMS: the providers send only approved templates: aliyun_code / tencent_id name them and
-- sms_params lists their parameters in Tencent's order (Aliyun takes them by name). The codes
-- below are the demo county's placeholders; a county enters its own approved ones. WeChat: the
-- Official Account's template and its typed fields (render.h says the types' limits).

CREATE TABLE notify.plan (
    key          text PRIMARY KEY CHECK (key ~ '^[a-z][a-z0-9_]{0,63}$'),
    event_type   text NOT NULL CHECK (event_type ~ '^[a-z]+(\.[a-z_]+)+$'),
    audience     text NOT NULL CHECK (audience IN ('reporter', 'follower', 'handler', 'supervisor', 'duty_group',
                                                   'resident')),
    template_key text NOT NULL REFERENCES notify.template (key),
    urgent       boolean NOT NULL DEFAULT false, -- or the template's: sent in quiet hours too
    enabled      boolean NOT NULL DEFAULT true
);
CREATE INDEX plan_event ON notify.plan (event_type) WHERE enabled;
COMMENT ON TABLE notify.plan IS
    'Who is told what: for each event type, the audiences and their template (022_notify_plans.sql). '
    'event_type notify.digest is the daily digest to supervisors at 08:00 county time (digest.c).';

INSERT INTO notify.template (key, body, aliyun_code, tencent_id, sms_params, wechat_template_id, wechat_fields, urgent)
VALUES
    -- residents: the reporter and whoever follows their ticket
    ('resident_received',
     '您反映的“{service}”诉求已受理，受理编号{code}，请留存以便查询办理进度。',
     'SMS_480100001', '2100001', '{service,code}', 'Gg8RcvTplDemoCounty0000000000000000000001',
     '{"character_string1": "{code}", "thing2": "{service}", "time3": "{at}", "phrase4": "已受理"}', false),
    ('resident_assigned',
     '您的诉求{code}已派至{unit}办理，我们会在办结后告知您。',
     'SMS_480100002', '2100002', '{code,unit}', 'Gg8AsgTplDemoCounty0000000000000000000002',
     '{"character_string1": "{code}", "thing2": "{unit}", "time3": "{at}", "phrase4": "已派单"}', false),
    ('resident_merged',
     '您反映的诉求{code}与已受理的诉求{original}为同一事项，已合并办理，办结后一并告知您。',
     'SMS_480100003', '2100003', '{code,original}', 'Gg8MrgTplDemoCounty0000000000000000000003',
     '{"character_string1": "{code}", "character_string2": "{original}", "time3": "{at}", "phrase4": "合并办理"}', false),
    ('resident_resolved',
     '您的诉求{code}已办结：{note}。请回复1满意、2基本满意、3不满意，对办理结果进行评价。',
     'SMS_480100004', '2100004', '{code,note}', 'Gg8RslTplDemoCounty0000000000000000000004',
     '{"character_string1": "{code}", "thing2": "{note}", "time3": "{at}", "thing4": "回复1满意 2基本满意 3不满意"}', false),
    ('resident_reopened',
     '您对诉求{code}的评价为不满意，该诉求已重新交由{unit}办理。',
     'SMS_480100005', '2100005', '{code,unit}', 'Gg8RopTplDemoCounty0000000000000000000005',
     '{"character_string1": "{code}", "thing2": "{unit}", "time3": "{at}", "phrase4": "重新办理"}', false),
    ('resident_closed',
     '您的诉求{code}已办结归档，感谢您的支持与监督。',
     'SMS_480100006', '2100006', '{code}', 'Gg8ClsTplDemoCounty0000000000000000000006',
     '{"character_string1": "{code}", "time2": "{at}", "phrase3": "已归档"}', false),
    ('resident_rejected',
     '您的诉求{code}不予受理，原因：{note}。如有疑问请致电0731-84011234。',
     'SMS_480100007', '2100007', '{code,note}', 'Gg8RjcTplDemoCounty0000000000000000000007',
     '{"character_string1": "{code}", "thing2": "{note}", "time3": "{at}", "phrase4": "不予受理"}', false),
    ('verify_code',
     '您正在绑定示范县网格服务公众号，验证码{vcode}，10分钟内有效。如非本人操作，请忽略本短信。',
     'SMS_480100008', '2100008', '{vcode}', NULL, '{}', true),
    -- staff: WeCom app, else SMS
    ('handler_assigned',
     '【新派单】{name}，诉求{code}（{service}）已派给您，请在{sign_due}前签收。',
     'SMS_480100011', '2100011', '{code,service,sign_due}', NULL, '{}', false),
    ('handler_escalated',
     '【提级派单】{name}，诉求{code}（{service}）签收超时，已提级由{unit}办理，请在{sign_due}前签收。',
     'SMS_480100012', '2100012', '{code,service,unit,sign_due}', NULL, '{}', false),
    ('handler_warning',
     '【黄灯预警】{name}，诉求{code}（{service}）将于{due}到期，请抓紧办理。',
     'SMS_480100013', '2100013', '{code,service,due}', NULL, '{}', false),
    ('handler_overdue',
     '【超期】{name}，诉求{code}（{service}）已超过办理时限，已提级至{unit}并督办，请在{sign_due}前签收办理。',
     'SMS_480100014', '2100014', '{code,service,unit,sign_due}', NULL, '{}', false),
    ('handler_reopened',
     '【重办】{name}，诉求{code}（{service}）群众评价不满意，已重新办理，请在{resolve_due}前办结。',
     'SMS_480100015', '2100015', '{code,service,resolve_due}', NULL, '{}', false),
    ('supervisor_escalated',
     '【提级】{name}，{township}诉求{code}（{service}）签收超时，已提级至{unit}。',
     'SMS_480100021', '2100021', '{township,code,service,unit}', NULL, '{}', true),
    ('supervisor_overdue',
     '【督办】{name}，{township}诉求{code}（{service}）已超期未办结，已提级至{unit}督办，请督促办理。',
     'SMS_480100022', '2100022', '{township,code,service,unit}', NULL, '{}', true),
    ('supervisor_digest',
     '【每日简报】{name}，{area}{date}受理{received}件，已办结{resolved}件，按时办结{on_time}件；当前超期{overdue_count}件{overdue}。',
     'SMS_480100023', '2100023', '{area,date,received,resolved,on_time,overdue_count}', NULL, '{}', false),
    -- the township's duty group (WeCom robot: the body is posted as it is)
    ('duty_escalated',
     '【提级】{township}诉求{code}（{service}）签收超时，已提级至{unit}。',
     NULL, NULL, '{}', NULL, '{}', true),
    ('duty_overdue',
     '【督办】{township}诉求{code}（{service}）已超期未办结，已提级至{unit}督办。',
     NULL, NULL, '{}', NULL, '{}', true);

INSERT INTO notify.plan (key, event_type, audience, template_key) VALUES
    ('reporter_received',        'ticket.created',    'reporter',   'resident_received'),
    ('reporter_assigned',        'ticket.assigned',   'reporter',   'resident_assigned'),
    ('reporter_merged',          'ticket.merged',     'reporter',   'resident_merged'),
    ('reporter_resolved',        'ticket.resolved',   'reporter',   'resident_resolved'),
    ('follower_resolved',        'ticket.resolved',   'follower',   'resident_resolved'),
    ('reporter_reopened',        'ticket.reopened',   'reporter',   'resident_reopened'),
    ('reporter_closed',          'ticket.closed',     'reporter',   'resident_closed'),
    ('follower_closed',          'ticket.closed',     'follower',   'resident_closed'),
    ('reporter_rated_closed',    'ticket.rated',      'reporter',   'resident_closed'),
    ('follower_rated_closed',    'ticket.rated',      'follower',   'resident_closed'),
    ('reporter_rejected',        'ticket.rejected',   'reporter',   'resident_rejected'),
    ('follower_rejected',        'ticket.rejected',   'follower',   'resident_rejected'),
    ('handler_assigned',         'ticket.assigned',   'handler',    'handler_assigned'),
    ('handler_dispatched',       'ticket.dispatched', 'handler',    'handler_assigned'),
    ('handler_escalated',        'ticket.escalated',  'handler',    'handler_escalated'),
    ('handler_warning',          'ticket.warning',    'handler',    'handler_warning'),
    ('handler_overdue',          'ticket.overdue',    'handler',    'handler_overdue'),
    ('handler_reopened',         'ticket.reopened',   'handler',    'handler_reopened'),
    ('supervisor_escalated',     'ticket.escalated',  'supervisor', 'supervisor_escalated'),
    ('supervisor_overdue',       'ticket.overdue',    'supervisor', 'supervisor_overdue'),
    ('duty_escalated',           'ticket.escalated',  'duty_group', 'duty_escalated'),
    ('duty_overdue',             'ticket.overdue',    'duty_group', 'duty_overdue'),
    ('resident_verify',          'channel.verify_requested', 'resident', 'verify_code'),
    ('supervisor_digest',        'notify.digest',     'supervisor', 'supervisor_digest');

-- What notify reads of the router: who holds a ticket and its township (the handler, supervisor
-- and duty-group audiences), and the closure figures and overdue tickets of the daily digest.
COMMENT ON VIEW router.ticket_assignment IS
    'read by intake, gridgovctl, notify: which staff may see a ticket and their work list (services/intake/api_staff.c), the '
    'open tickets past their resolve deadline in the closure-rate API (services/intake/api_stats.c), who '
    'holds a ticket in `gridgovctl staff --ticket` (tools/gridgovctl/staff.c), and whom notify tells about a ticket '
    '(its holder, its township''s supervisor and duty group) and the overdue list of the daily digest (services/notify/).';
COMMENT ON VIEW router.closure_stats_daily IS
    'read by intake, notify: the closure-rate API (GET /api/v1/stats, services/intake/api_stats.c) sums these rows, '
    'which the router keeps current with every transition; notify''s daily digest to supervisors (services/notify/digest.c).';
