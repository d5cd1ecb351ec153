-- The router owns the ticket lifecycle: where a ticket is placed, who holds it, its state, its
-- clocks, escalations, and the closure-rate aggregates. Written only by gridgov-router.

CREATE SCHEMA IF NOT EXISTS router;

-- Routing rules per service category (configurable catalogue).
--   level: where a ticket of this category is handled first.
--   office: for township/county level, which desk (matches the handler's name tag, e.g. 水利站).
--   sign_hours / resolve_hours: working hours to sign for (签收) and to resolve (办结).
--   warn_share: the yellow light (黄灯) at this share of each clock.
CREATE TABLE router.category_rule (
    service_code  text    PRIMARY KEY REFERENCES registry.service (code),
    level         text    NOT NULL CHECK (level IN ('group', 'village', 'township', 'county')),
    office        text,
    sign_hours    numeric NOT NULL CHECK (sign_hours > 0),
    resolve_hours numeric NOT NULL CHECK (resolve_hours > 0),
    warn_share    numeric NOT NULL DEFAULT 0.8 CHECK (warn_share > 0 AND warn_share < 1),
    dup_radius_m  numeric NOT NULL DEFAULT 250 CHECK (dup_radius_m >= 0),
    dup_window_h  numeric NOT NULL DEFAULT 168 CHECK (dup_window_h >= 0)
);

-- One row per ticket the router has taken over. State changes only through router code's
-- lifecycle_apply() (services/router/lifecycle.c); every change writes router.transition.
CREATE TABLE router.ticket (
    ticket_id      bigint      PRIMARY KEY REFERENCES intake.ticket (id),
    code           text        NOT NULL UNIQUE,
    service_code   text        NOT NULL,
    state          text        NOT NULL CHECK (state IN ('assigned', 'accepted', 'in_progress', 'resolved',
                                                          'closed', 'returned', 'rejected', 'merged')),
    placed_unit_id bigint      REFERENCES registry.unit (id),  -- the grid cell (group), or the desk that covers the point
    group_id       bigint      REFERENCES registry.unit (id),
    village_id     bigint      REFERENCES registry.unit (id),
    township_id    bigint      REFERENCES registry.unit (id),
    county_id      bigint      NOT NULL REFERENCES registry.unit (id),
    unit_id        bigint      REFERENCES registry.unit (id),  -- who holds it now
    level          text        CHECK (level IN ('group', 'village', 'township', 'county')),
    assignee_id    bigint      REFERENCES registry.staff (id),
    merged_into    bigint      REFERENCES router.ticket (ticket_id),
    received_at    timestamptz NOT NULL,
    assigned_at    timestamptz,
    sign_due       timestamptz,
    sign_warn_at   timestamptz,
    resolve_due    timestamptz,
    resolve_warn_at timestamptz,
    accepted_at    timestamptz,
    resolved_at    timestamptz,
    closed_at      timestamptz,
    overdue        boolean     NOT NULL DEFAULT false,
    escalations    integer     NOT NULL DEFAULT 0,
    returns        integer     NOT NULL DEFAULT 0,
    reopened       integer     NOT NULL DEFAULT 0,
    rating         text        CHECK (rating IN ('satisfied', 'basic', 'unsatisfied', 'unrated')),
    resolution     text,
    status_notes   text,
    extension_pending boolean  NOT NULL DEFAULT false,
    updated_at     timestamptz NOT NULL
);
CREATE INDEX router_ticket_open_sign ON router.ticket (sign_due) WHERE state = 'assigned';
CREATE INDEX router_ticket_open_resolve ON router.ticket (resolve_due) WHERE state IN ('assigned', 'accepted', 'in_progress');
CREATE INDEX router_ticket_resolved ON router.ticket (resolved_at) WHERE state = 'resolved';
CREATE INDEX router_ticket_unit ON router.ticket (unit_id, state);
CREATE INDEX router_ticket_dup ON router.ticket (service_code, received_at) WHERE state NOT IN ('closed', 'rejected', 'merged');

-- Every transition: who, when, from, to, what was said.
CREATE TABLE router.transition (
    id         bigserial   PRIMARY KEY,
    ticket_id  bigint      NOT NULL REFERENCES router.ticket (ticket_id),
    action     text        NOT NULL,
    from_state text,
    to_state   text        NOT NULL,
    actor_id   bigint      REFERENCES registry.staff (id),  -- NULL: the system (clock, assignment)
    unit_id    bigint      REFERENCES registry.unit (id),
    note       text,
    at         timestamptz NOT NULL,
    command_id uuid
);
CREATE INDEX transition_ticket ON router.transition (ticket_id, id);
CREATE INDEX transition_at ON router.transition (at);

-- Residents who follow a ticket (the reporter, and reporters of duplicates merged into it).
CREATE TABLE router.follower (
    ticket_id       bigint NOT NULL REFERENCES router.ticket (ticket_id),
    source_ticket_id bigint NOT NULL REFERENCES intake.ticket (id),
    PRIMARY KEY (ticket_id, source_ticket_id)
);

-- Extension requests (延期): the deadline moves only when granted.
CREATE TABLE router.extension (
    id           bigserial   PRIMARY KEY,
    ticket_id    bigint      NOT NULL REFERENCES router.ticket (ticket_id),
    hours        numeric     NOT NULL CHECK (hours > 0 AND hours <= 400),
    reason       text        NOT NULL,
    requested_by bigint      REFERENCES registry.staff (id),
    requested_at timestamptz NOT NULL,
    decision     text        CHECK (decision IN ('granted', 'refused')),
    decided_by   bigint      REFERENCES registry.staff (id),
    decided_at   timestamptz
);
CREATE UNIQUE INDEX extension_one_pending ON router.extension (ticket_id) WHERE decision IS NULL;

-- Supervision orders (督办) raised when a resolve deadline is missed.
CREATE TABLE router.supervision (
    id            bigserial   PRIMARY KEY,
    ticket_id     bigint      NOT NULL REFERENCES router.ticket (ticket_id),
    to_unit_id    bigint      NOT NULL REFERENCES registry.unit (id),
    supervisor_id bigint      REFERENCES registry.staff (id),
    raised_at     timestamptz NOT NULL,
    reason        text        NOT NULL
);

-- Commands from intake: the reply is stored under the command id, so a retry gets the same answer.
CREATE TABLE router.command (
    id         uuid        PRIMARY KEY,
    status     integer     NOT NULL,
    reply      jsonb       NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Staff bearer tokens, issued by an operator (gridgovctl token STAFF_ID); only the hash is kept.
-- Part of the registry (written by intake's admin and gridgovctl), read by intake to authenticate.
CREATE TABLE registry.staff_token (
    token_sha256 bytea       PRIMARY KEY CHECK (length(token_sha256) = 32),
    staff_id     bigint      NOT NULL REFERENCES registry.staff (id),
    issued_at    timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz,
    revoked      boolean     NOT NULL DEFAULT false
);

-- Closure-rate aggregates, kept current in the same transaction as the transitions that change
-- them: one row per (day, unit, category) for every level the ticket belongs to (its group,
-- village, township and county), so any area over any period is a small sum.
CREATE TABLE router.stat_daily (
    day              date    NOT NULL,
    unit_id          bigint  NOT NULL REFERENCES registry.unit (id),
    service_code     text    NOT NULL,
    received         integer NOT NULL DEFAULT 0,
    resolved         integer NOT NULL DEFAULT 0,
    resolved_on_time integer NOT NULL DEFAULT 0,
    rated            integer NOT NULL DEFAULT 0,
    satisfied        integer NOT NULL DEFAULT 0,   -- 满意 + 基本满意
    resolve_work_s   bigint  NOT NULL DEFAULT 0,   -- sum of working seconds from receipt to resolution
    escalations      integer NOT NULL DEFAULT 0,
    returns          integer NOT NULL DEFAULT 0,
    PRIMARY KEY (unit_id, service_code, day)
);
CREATE INDEX stat_daily_day ON router.stat_daily (unit_id, day);

-- What a resolution contributed to the aggregates, so a reopen can take it back exactly.
ALTER TABLE router.ticket ADD COLUMN stat_on_time boolean, ADD COLUMN stat_work_s bigint;

-- Open311 and the native API show the true lifecycle from here on.
CREATE OR REPLACE VIEW intake.ticket_view AS
SELECT t.id, t.code, t.channel, t.service_code, s.name AS service_name, t.description,
       t.lat, t.long, t.address_string, t.address_id, t.attributes, t.media_url,
       t.requested_at, coalesce(r.updated_at, t.requested_at) AS updated_at,
       CASE WHEN r.state IN ('closed', 'rejected', 'merged') THEN 'closed' ELSE 'open' END::text AS status,
       coalesce(r.status_notes, CASE r.state
           WHEN 'assigned' THEN '已派单，等待签收' WHEN 'accepted' THEN '已签收' WHEN 'in_progress' THEN '办理中'
           WHEN 'resolved' THEN '已办结，等待评价' WHEN 'closed' THEN '已办结' WHEN 'returned' THEN '已退单，重新派单中'
           WHEN 'rejected' THEN '不予受理' WHEN 'merged' THEN '重复件，已合并' END) AS status_notes,
       u.name AS agency_responsible,
       r.resolve_due AS expected_datetime, NULL::text AS service_notice
FROM intake.ticket t
JOIN registry.service s ON s.code = t.service_code
LEFT JOIN router.ticket r ON r.ticket_id = t.id
LEFT JOIN registry.unit u ON u.id = r.unit_id;

-- The yellow lights (黄灯) already announced, so each is announced once.
ALTER TABLE router.ticket ADD COLUMN sign_warned boolean NOT NULL DEFAULT false,
                          ADD COLUMN resolve_warned boolean NOT NULL DEFAULT false;
CREATE INDEX router_ticket_assignee ON router.ticket (assignee_id) WHERE state IN ('assigned', 'accepted', 'in_progress');
