-- intake's inbound channels: the WeChat Official Account callback (/channels/wechat) and the SMS
-- providers' pushes (/channels/sms/{aliyun,tencent}/{up,report}), services/intake/channel_*.c.
--
-- Every callback intake accepts leaves one row in intake.channel_inbox, in the transaction that
-- does what it asks; its dedup_key is unique, so a provider's retry (WeChat's three, Aliyun's
-- re-pushes at +1, +5, +10 min, Tencent's two) finds its row and changes nothing. The answer is
-- given only after that COMMIT.
--
-- notify reads what it needs through three views (COMMENT ON VIEW 'read by notify: …'):
-- intake.wechat_binding (which openid a phone is bound to), intake.sms_opt_out (numbers that
-- replied TD) and intake.wechat_verification (the codes it must send by SMS).
--
-- Nothing here depends on the data.

-- ==== the inbox: every accepted callback ====

CREATE TABLE intake.channel_inbox (
    id          bigserial   PRIMARY KEY,
    channel     text        NOT NULL CHECK (channel IN ('wechat', 'aliyun', 'tencent')),
    kind        text        NOT NULL CHECK (kind IN ('message', 'event', 'uplink', 'report')),
    -- what makes a retry the same callback, hashed so that it holds no openid or phone:
    -- hex(sha256(channel ':' MsgId | FromUserName ':' CreateTime | sequence_id | mobile ':' time
    -- ':' text | biz_id ':' status …)), services/intake/channel_store.c
    dedup_key   text        NOT NULL UNIQUE CHECK (dedup_key ~ '^[0-9a-f]{64}$'),
    -- the openid or the phone, so that an unsubscribe can erase what the inbox holds of them
    sender      text        CHECK (octet_length(sender) <= 64),
    body        text        CHECK (octet_length(body) <= 16384),
    action      text        NOT NULL CHECK (octet_length(action) <= 200), -- what it did: "appeal 2612070000001", "rated", "opt_out", "receipt", "none: …"
    received_at timestamptz NOT NULL
);
CREATE INDEX channel_inbox_sender ON intake.channel_inbox (sender) WHERE sender IS NOT NULL;

-- ==== WeChat: an openid bound to the phone its resident registered ====

CREATE TABLE intake.wechat_binding_row (
    openid   text        PRIMARY KEY CHECK (octet_length(openid) BETWEEN 1 AND 64),
    phone    text        NOT NULL CHECK (phone ~ '^1[3-9][0-9]{9}$'),
    bound_at timestamptz NOT NULL
);
CREATE INDEX wechat_binding_phone ON intake.wechat_binding_row (phone);

-- A binding in progress: the code sent by SMS to the phone (by notify, on channel.verify_requested)
-- and its salted hash, which is what the reply is checked against. One per openid; the row goes
-- when the binding is made, the attempts are spent, the code expires (10 minutes) or the
-- resident unsubscribes.
CREATE TABLE intake.wechat_verification_request (
    request_id  uuid        PRIMARY KEY,
    openid      text        NOT NULL UNIQUE CHECK (octet_length(openid) BETWEEN 1 AND 64),
    phone       text        NOT NULL CHECK (phone ~ '^1[3-9][0-9]{9}$'),
    code        text        NOT NULL CHECK (code ~ '^[0-9]{6}$'),
    salt        bytea       NOT NULL,
    code_sha256 bytea       NOT NULL,
    attempts    integer     NOT NULL DEFAULT 0 CHECK (attempts >= 0),
    created_at  timestamptz NOT NULL,
    expires_at  timestamptz NOT NULL
);
CREATE INDEX wechat_verification_expires ON intake.wechat_verification_request (expires_at);

-- ==== SMS: numbers that replied TD (退订) ====

CREATE TABLE intake.sms_opt_out_row (
    phone text        PRIMARY KEY CHECK (phone ~ '^1[3-9][0-9]{9}$'),
    at    timestamptz NOT NULL
);

-- ==== a resident's tickets, by phone or openid ====

-- A reply to an SMS (a rating) and a WeChat message (a rating, a location for the open appeal)
-- name a resident, not a ticket: their tickets are found by the phone they were filed with or the
-- openid that filed them by WeChat (services/intake/resident_rating.c, wechat_resident.c), among
-- a county's hundreds of thousands. Partial: most tickets carry no phone, and only a WeChat
-- ticket's account_id is an openid. The plans that use them: tests/unit/test_channel_lookups.c.
CREATE INDEX ticket_phone ON intake.ticket (phone, requested_at DESC) WHERE phone IS NOT NULL;
CREATE INDEX ticket_wechat_account ON intake.ticket (account_id, requested_at DESC) WHERE channel = 'wechat';

-- ==== what notify reads ====

CREATE VIEW intake.wechat_binding AS
SELECT openid, phone, bound_at FROM intake.wechat_binding_row;
COMMENT ON VIEW intake.wechat_binding IS
    'read by notify: a resident whose phone is bound to a WeChat openid gets template messages there (with SMS as '
    'the fallback); the binding is made by a code sent to the phone and deleted on unsubscribe '
    '(services/intake/wechat_resident.c).';

CREATE VIEW intake.sms_opt_out AS
SELECT phone, at FROM intake.sms_opt_out_row;
COMMENT ON VIEW intake.sms_opt_out IS
    'read by notify: numbers that replied TD (退订) to an SMS; notify sends them no more SMS '
    '(services/intake/channel_sms.c).';

CREATE VIEW intake.wechat_verification AS
SELECT request_id, phone, code, expires_at FROM intake.wechat_verification_request;
COMMENT ON VIEW intake.wechat_verification IS
    'read by notify: the 6-digit code to send by SMS for a channel.verify_requested event (by request_id); the '
    'row is gone once the binding is made, its attempts were spent or the resident unsubscribed, and expired rows '
    'are deleted by the next binding; send only while expires_at is ahead of the injected clock.';
