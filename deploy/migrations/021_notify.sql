-- notify: what residents and officials are told, and how far each message got.
-- Written only by services/notify/ (deploy/schema-owners.txt). Other schemas are read through their
-- owners' views: intake.ticket_contact (the reporter's phone and account), router.ticket_assignment,
-- registry.* (staff, units).
--
-- A message is planned once per (event, plan, recipient) by the consumer that reads the event
-- (dedup_key, unique: a replayed event plans nothing twice), in the same transaction as the event's
-- inbox row. The sender claims due messages with a lease (state 'sending', lease_until), calls the
-- provider, and records the outcome. A sender killed mid-call leaves the lease to expire; the next
-- claim sends again under the same id, which travels as the provider's own key (Aliyun OutId,
-- Tencent SessionContext, WeChat client_msg_id), so a resend is recognisable.

CREATE SCHEMA IF NOT EXISTS notify;

-- What a message says, per provider. SMS providers accept only approved templates with parameters;
-- WeChat template messages name typed fields (a `thing` value at most 20 characters).
CREATE TABLE notify.template (
    key                text PRIMARY KEY CHECK (key ~ '^[a-z][a-z0-9_]{0,63}$'),
    body               text NOT NULL,                 -- Chinese text with {name} placeholders
    aliyun_code        text,                          -- approved TemplateCode, e.g. SMS_270000001
    tencent_id         text,                          -- approved TemplateId, e.g. 1900001
    sms_params         text[] NOT NULL DEFAULT '{}',  -- parameter names; Tencent's TemplateParamSet order
    wechat_template_id text,                          -- the Official Account's template id
    wechat_fields      jsonb NOT NULL DEFAULT '{}',   -- {"thing2": "{unit}", "character_string1": "{code}"}
    urgent             boolean NOT NULL DEFAULT false -- sent in quiet hours too (a hazard)
);

CREATE TABLE notify.message (
    id               uuid PRIMARY KEY,                -- also the provider key (above)
    dedup_key        text NOT NULL UNIQUE,            -- "<event id>/<plan>/<recipient>": planned once
    event_id         uuid,                            -- the event that planned it; NULL for a digest
    ticket_id        bigint,                          -- the ticket it is about, if any
    template_key     text NOT NULL REFERENCES notify.template (key),
    audience         text NOT NULL CHECK (audience IN ('reporter', 'follower', 'handler', 'supervisor',
                                                      'duty_group', 'resident')),
    channel          text NOT NULL CHECK (channel IN ('sms', 'wechat', 'wecom_robot', 'wecom_app')),
    address          text NOT NULL,                   -- phone (11 digits), openid, robot key, WeCom userid
    fallback_phone   text,                            -- SMS instead when WeChat cannot deliver (43004, 43101)
    params           jsonb NOT NULL DEFAULT '{}',     -- SMS template parameters by name (strings)
    wechat_data      jsonb,                           -- {"thing2":{"value":"…"}}, limits already applied
    body             text NOT NULL,                   -- the rendered text (WeCom, the sandbox, gridgovctl)
    urgent           boolean NOT NULL DEFAULT false,
    state            text NOT NULL DEFAULT 'pending'
                     CHECK (state IN ('pending', 'sending', 'sent', 'delivered', 'failed', 'dead')),
    due_at           timestamptz NOT NULL,            -- not sent before (backoff, quiet hours, rate limits)
    lease_until      timestamptz,                     -- while 'sending': the claim's end
    leased_by        text,                            -- the notify instance holding the claim
    attempts         integer NOT NULL DEFAULT 0,
    provider         text,                            -- who took it: aliyun, tencent, wechat, wecom_robot, wecom_app, sandbox
    provider_msgid   text,                            -- BizId, SerialNo, msgid
    last_code        text,                            -- the provider's last code ("OK", "43004", "timeout")
    last_error       text,
    created_at       timestamptz NOT NULL DEFAULT now(),
    sent_at          timestamptz,
    receipt_at       timestamptz                      -- a delivery receipt moved it to delivered or failed
);
CREATE INDEX message_due ON notify.message (due_at) WHERE state = 'pending';
CREATE INDEX message_lease ON notify.message (lease_until) WHERE state = 'sending';
CREATE INDEX message_provider_msgid ON notify.message (provider, provider_msgid) WHERE provider_msgid IS NOT NULL;
CREATE INDEX message_ticket ON notify.message (ticket_id);

-- Every call to a provider, with its outcome.
CREATE TABLE notify.attempt (
    message_id  uuid NOT NULL REFERENCES notify.message (id),
    n           integer NOT NULL,
    provider    text NOT NULL,
    at          timestamptz NOT NULL,
    outcome     text NOT NULL CHECK (outcome IN ('sent', 'retry', 'failover', 'undeliverable', 'permanent', 'token')),
    code        text,
    detail      text,
    PRIMARY KEY (message_id, n)
);

-- Messages given up on at once (a permanent error) or after the last retry; an operator re-drives
-- them (gridgovctl dead-letters, gridgovctl redrive ID).
CREATE TABLE notify.dead_letter (
    message_id  uuid PRIMARY KEY REFERENCES notify.message (id),
    reason      text NOT NULL,
    code        text,
    at          timestamptz NOT NULL,
    redriven_at timestamptz
);

-- One access token per app for every notify instance (WeChat: fetching a new one invalidates the
-- old; WeCom: per app). Refreshed before expiry by whichever instance holds refreshing_until.
CREATE TABLE notify.access_token (
    app              text PRIMARY KEY,                -- 'wechat:<appid>', 'wecom:<corpid>:<agentid>'
    token            text,
    expires_at       timestamptz,
    refreshing_until timestamptz,                     -- a fetch in flight (single flight across instances)
    refreshing_by    text,
    fetched_at       timestamptz
);

-- The sender's own bookkeeping (services/notify/sender.c).
--   route:      the provider to try next for this message (NULL: the first of its channel's list);
--               a FAILOVER moves it along `sms_providers`.
--   claimed_at: when the current (or last) claim was taken; per-recipient rate limits count a
--               message from then on, so that messages in flight count before they are sent.
ALTER TABLE notify.message ADD COLUMN route text;
ALTER TABLE notify.message ADD COLUMN claimed_at timestamptz;
-- rate limits look up what went recently to one address
CREATE INDEX message_address ON notify.message (address, channel, claimed_at) WHERE claimed_at IS NOT NULL;

-- What gridgovctl shows (`messages`, `dead-letters`): the address masked here, so the operator's
-- tool never holds a phone number, openid or robot key (a robot key is a credential).
CREATE VIEW notify.message_list AS
SELECT m.id, m.ticket_id, c.code AS ticket_code, m.template_key, m.audience, m.channel,
       CASE WHEN m.channel = 'sms' AND m.address ~ '^[0-9]{7,}$'
            THEN left(m.address, 3) || '****' || right(m.address, 4)
            ELSE left(m.address, 4) || '****' END AS address_masked,
       m.body, m.urgent, m.state, m.due_at, m.attempts, m.provider, m.last_code, m.created_at, m.sent_at,
       m.receipt_at
FROM notify.message m
LEFT JOIN intake.ticket_contact c ON c.ticket_id = m.ticket_id;
COMMENT ON VIEW notify.message_list IS 'read by gridgovctl: `gridgovctl messages`, addresses masked';

CREATE VIEW notify.dead_letter_list AS
SELECT d.message_id, d.reason, d.code, d.at, d.redriven_at, l.channel, l.address_masked, l.template_key,
       l.ticket_code, l.attempts, l.state
FROM notify.dead_letter d JOIN notify.message_list l ON l.id = d.message_id;
COMMENT ON VIEW notify.dead_letter_list IS 'read by gridgovctl: `gridgovctl dead-letters`, addresses masked';

-- notify's consumer starts at this release, not at the beginning of bus.outbox: a county that
-- upgrades must not text its residents about every ticket of the past years. Its cursor is put
-- past every transaction that began before this migration (the consumer reads by (xid, seq),
-- common/consumer.h); an event committed later by such a transaction is still taken live.
INSERT INTO bus.cursor (consumer, xid, seq) VALUES ('notify', pg_current_xact_id(), 0)
ON CONFLICT (consumer) DO NOTHING;
