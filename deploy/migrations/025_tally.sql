-- tally: motions, electorates, ballots, results and their audit chain (issue 13).
-- Written only by services/tally/ (deploy/schema-owners.txt). Others read the views at the end.
--
-- The contract every part of tally, the archive and the verifier share is services/tally/CHAIN.md
-- (the hash chain, the ballot's canonical text, what each event's payload holds).
--
-- Secrecy by construction: who voted (tally.roll.voted), what was voted (tally.ballot) and the
-- voters' receipts (tally.receipt) are stored apart, with nothing in common but the motion. A
-- ballot row has no voter id, no time, no serial number and no tracker: its id is random. A
-- receipt holds the voter's tracker (random) and the casting command's hash (cast_key, so that a
-- retry of the same command gets the same tracker back), and names no ballot: a tracker proves a
-- ballot is in the box, never which one nor what it says. The chain records ballots in batches
-- sorted by their random ids, never one by one in arrival order, and publishes the trackers only
-- at close, as one sorted list. tests/e2e/test_tally_secrecy.c holds the schema to it.
--
-- Append-only: the daemons' role (gridgov_app) cannot update or delete a ballot or a chain event
-- (the triggers below); only the owner can, by disabling them, and the verifier catches that.

CREATE SCHEMA IF NOT EXISTS tally;

-- A rule set: thresholds and options with the text they come from (deploy/tally/rules/*.json,
-- loaded by tally at start). A motion copies the body it was created under (tally.motion.rules);
-- a changed file is a new row (another sha256), never an edit of one a motion used.
CREATE TABLE tally.rule_set (
    code      text  NOT NULL CHECK (code ~ '^[a-z0-9][a-z0-9-]{0,31}$'),
    sha256    bytea NOT NULL CHECK (length(sha256) = 32),   -- of the file's bytes
    name      text  NOT NULL,
    body      jsonb NOT NULL,
    loaded_at timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (code, sha256)
);

CREATE SEQUENCE tally.motion_no;

CREATE TABLE tally.motion (
    id          uuid PRIMARY KEY,
    code        text NOT NULL UNIQUE CHECK (code ~ '^M[0-9]{4}-[0-9]{6}$'),   -- M2026-000123
    group_id    bigint NOT NULL REFERENCES registry.unit (id),                 -- a villager group
    kind        text NOT NULL CHECK (kind IN ('resolution', 'election', 'evaluation', 'selection')),
    title       text NOT NULL CHECK (length(title) BETWEEN 1 AND 200),
    body        text NOT NULL DEFAULT '' CHECK (length(body) <= 4000),
    electorate  text NOT NULL CHECK (electorate IN ('household', 'adult')),   -- 一户一票 / 一人一票 (18+)
    -- the ballot: resolution {"choices":["同意","不同意","弃权"]}; election {"seats":n,
    -- "candidates":[{"name","resident_id"}],"write_ins":bool}; evaluation {"scale":"satisfaction"|
    -- "competence","subjects":[{"name","key"}],"year":y}; selection {"nominees":[{"name",
    -- "household_id"}]} (CHAIN.md, "The ballot")
    ballot      jsonb NOT NULL,
    runoff_of   uuid REFERENCES tally.motion (id),             -- an election's 另行选举
    rule_set    text NOT NULL,
    rules       jsonb NOT NULL,                                -- the rule set's body, frozen at open
    rules_sha256 bytea NOT NULL CHECK (length(rules_sha256) = 32),
    delivery    text NOT NULL DEFAULT 'notify' CHECK (delivery IN ('notify', 'slips')),
    state       text NOT NULL DEFAULT 'draft' CHECK (state IN ('draft', 'open', 'closed')),
    created_by  bigint NOT NULL,                               -- registry.staff.id
    created_at  timestamptz NOT NULL,
    opened_at   timestamptz,
    closes_at   timestamptz,                                   -- closed by tally's clock at this time
    closed_at   timestamptz,
    closed_by   bigint,                                        -- staff (a teller's action); NULL: the clock
    roll_count  integer,                                       -- voters on the frozen roll
    result      jsonb,                                         -- rules.h's result, when closed
    head_height integer NOT NULL DEFAULT 0,                    -- the chain's last event
    head_hash   bytea CHECK (head_hash IS NULL OR length(head_hash) = 32),
    CHECK ((state = 'draft') = (opened_at IS NULL)),
    CHECK ((state = 'closed') = (closed_at IS NOT NULL AND result IS NOT NULL))
);
CREATE INDEX motion_group ON tally.motion (group_id, created_at DESC);
CREATE INDEX motion_due ON tally.motion (closes_at) WHERE state = 'open';

-- Written proxies (书面委托): the principal's vote cast by the holder; the list is published.
CREATE TABLE tally.proxy (
    motion_id  uuid   NOT NULL REFERENCES tally.motion (id),
    principal  bigint NOT NULL,                                -- voter id (below)
    holder     bigint NOT NULL,
    PRIMARY KEY (motion_id, principal),
    CHECK (principal <> holder)
);
CREATE INDEX proxy_holder ON tally.proxy (motion_id, holder);

-- The roll, snapshot from the registry when the motion opens, frozen while it runs. voter_id is a
-- registry.resident id (electorate 'adult') or a registry.household id ('household'). A credential
-- is kept only as its SHA-256. voted says that this voter took part and how, never what they chose.
CREATE TABLE tally.roll (
    motion_id    uuid   NOT NULL REFERENCES tally.motion (id),
    voter_id     bigint NOT NULL,
    household_id bigint NOT NULL,
    name         text   NOT NULL,                              -- published with the roll (选民名单)
    cred_sha256  bytea  NOT NULL CHECK (length(cred_sha256) = 32),
    voted        text   CHECK (voted IN ('online', 'paper')),
    PRIMARY KEY (motion_id, voter_id)
);
CREATE UNIQUE INDEX roll_credential ON tally.roll (cred_sha256);

-- What was voted. No voter, no time, no order, no receipt (above). marks and write_ins per CHAIN.md.
CREATE TABLE tally.ballot (
    id         uuid  PRIMARY KEY,                              -- random
    motion_id  uuid  NOT NULL REFERENCES tally.motion (id),
    marks      smallint[] NOT NULL,
    write_ins  text[] NOT NULL DEFAULT '{}'
);
CREATE INDEX ballot_motion ON tally.ballot (motion_id);

-- The voters' receipts: one per online ballot, stored by the same statement, naming no ballot (a
-- tracker beside a ballot would tell whoever holds this database, an archive or the chain how
-- the tracker's holder voted: village-voting.md §3). Published as one sorted list at close.
CREATE TABLE tally.receipt (
    motion_id  uuid  NOT NULL REFERENCES tally.motion (id),
    tracker    text  COLLATE "C" NOT NULL CHECK (tracker ~ '^[0-9A-HJKMNP-TV-Z]{10}$'),   -- Crockford base32; byte order
    cast_key   bytea NOT NULL CHECK (length(cast_key) = 32),   -- SHA-256 of the casting command's id
    UNIQUE (motion_id, tracker),
    UNIQUE (motion_id, cast_key)
);

-- Paper: one row per ballot box (投票箱), entered once by tellers (≥ the rule set's min_tellers).
CREATE TABLE tally.paper_box (
    motion_id  uuid    NOT NULL REFERENCES tally.motion (id),
    box        text    NOT NULL CHECK (box ~ '^[^[:cntrl:]]{1,40}$'),
    tellers    text[]  NOT NULL,                               -- 监票人, by name
    ballots    integer NOT NULL CHECK (ballots >= 0),          -- found in the box
    invalid    integer NOT NULL CHECK (invalid >= 0 AND invalid <= ballots),
    counts     jsonb   NOT NULL,                               -- per option, CHAIN.md "Paper"
    entered_by bigint  NOT NULL,
    entered_at timestamptz NOT NULL,
    PRIMARY KEY (motion_id, box)
);

-- The audit chain of each motion (CHAIN.md): height 1, 2, 3 … with no gap; hash covers the
-- previous hash, the height, the type and the payload's exact bytes.
CREATE TABLE tally.event (
    motion_id  uuid    NOT NULL REFERENCES tally.motion (id),
    height     integer NOT NULL CHECK (height >= 1),
    type       text    NOT NULL CHECK (type IN ('opened', 'roll', 'proxies', 'ballots', 'paper_voters',
                                                 'paper', 'trackers', 'closed', 'result')),
    payload    text    NOT NULL CHECK (payload::jsonb IS NOT NULL),
    prev_hash  bytea   NOT NULL CHECK (length(prev_hash) = 32),
    hash       bytea   NOT NULL CHECK (length(hash) = 32),
    PRIMARY KEY (motion_id, height)
);

-- Commands (proto/command.tally.schema.json) and their replies, stored under the command id in
-- the transaction of their effect, so a retry gets the same answer. A cast is not stored here
-- (its request names a credential): its retry is recognised by tally.receipt.cast_key.
CREATE TABLE tally.command (
    id         uuid PRIMARY KEY,
    action     text NOT NULL,
    status     integer NOT NULL,                               -- the reply's, as router.command has it (proto_check)
    request    jsonb NOT NULL,
    reply      jsonb NOT NULL,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- Append-only.
CREATE FUNCTION tally.refuse_change() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    RAISE EXCEPTION 'tally.%: rows are never changed or removed (CHAIN.md)', TG_TABLE_NAME
        USING ERRCODE = 'insufficient_privilege';
END
$$;
CREATE TRIGGER ballot_append_only BEFORE UPDATE OR DELETE ON tally.ballot
    FOR EACH ROW EXECUTE FUNCTION tally.refuse_change();
CREATE TRIGGER receipt_append_only BEFORE UPDATE OR DELETE ON tally.receipt
    FOR EACH ROW EXECUTE FUNCTION tally.refuse_change();
CREATE TRIGGER event_append_only BEFORE UPDATE OR DELETE ON tally.event
    FOR EACH ROW EXECUTE FUNCTION tally.refuse_change();
CREATE TRIGGER paper_box_append_only BEFORE UPDATE OR DELETE ON tally.paper_box
    FOR EACH ROW EXECUTE FUNCTION tally.refuse_change();

-- Published views.
CREATE VIEW tally.motion_public AS
    SELECT m.code, m.group_id, u.code AS group_code, u.name AS group_name, m.kind, m.title, m.body,
           m.electorate, m.ballot, m.rule_set, m.rules_sha256, m.delivery, m.state, m.created_by,
           m.created_at, m.opened_at, m.closes_at, m.closed_at, m.roll_count, m.result,
           m.head_height, m.head_hash, r.code AS runoff_of
    FROM tally.motion m
    JOIN registry.unit u ON u.id = m.group_id
    LEFT JOIN tally.motion r ON r.id = m.runoff_of;
COMMENT ON VIEW tally.motion_public IS
    'read by intake, gridgovctl: the motions API (scoped by group) and the archive';

CREATE VIEW tally.roll_public AS
    SELECT m.code AS motion, r.voter_id, r.household_id, r.name, r.voted IS NOT NULL AS voted
    FROM tally.roll r JOIN tally.motion m ON m.id = r.motion_id;
COMMENT ON VIEW tally.roll_public IS
    'read by intake, gridgovctl: the published roll (选民名单) and who took part, never how';

CREATE VIEW tally.proxy_public AS
    SELECT m.code AS motion, p.principal, p.holder
    FROM tally.proxy p JOIN tally.motion m ON m.id = p.motion_id;
COMMENT ON VIEW tally.proxy_public IS
    'read by intake, gridgovctl: the published list of proxies (委托人和受委托人名单)';

CREATE VIEW tally.tracker_public AS
    SELECT m.code AS motion, r.tracker, m.state
    FROM tally.receipt r JOIN tally.motion m ON m.id = r.motion_id;
COMMENT ON VIEW tally.tracker_public IS
    'read by intake: a voter checks their tracker is in the box; the whole list once closed';

CREATE VIEW tally.paper_public AS
    SELECT m.code AS motion, p.box, p.tellers, p.ballots, p.invalid, p.counts, p.entered_by, p.entered_at
    FROM tally.paper_box p JOIN tally.motion m ON m.id = p.motion_id;
COMMENT ON VIEW tally.paper_public IS 'read by intake, gridgovctl: paper counts per box and their tellers';

-- A voter's credential, as its SHA-256 (CHAIN.md), names the motion it votes in and so the group
-- whose motions and results that voter may read (Authorization: Voter <credential>); nothing of
-- the voter or their ballot.
CREATE VIEW tally.voter_group AS
    SELECT m.code AS motion, m.group_id, r.cred_sha256
    FROM tally.roll r JOIN tally.motion m ON m.id = r.motion_id;
COMMENT ON VIEW tally.voter_group IS
    'read by intake: a voter''s credential (by its SHA-256) scopes their reads to their group''s motions';

-- For the verifier: the raw rows it recomputes, as stored.
CREATE VIEW tally.chain_rows AS
    SELECT m.code AS motion, e.height, e.type, e.payload, e.prev_hash, e.hash
    FROM tally.event e JOIN tally.motion m ON m.id = e.motion_id;
COMMENT ON VIEW tally.chain_rows IS 'read by gridgovctl: `gridgovctl tally verify` and the archive';

CREATE VIEW tally.ballot_rows AS
    SELECT m.code AS motion, b.id, b.marks, b.write_ins
    FROM tally.ballot b JOIN tally.motion m ON m.id = b.motion_id;
COMMENT ON VIEW tally.ballot_rows IS 'read by gridgovctl: `gridgovctl tally verify` recounts and rehashes every ballot';

CREATE VIEW tally.receipt_rows AS
    SELECT m.code AS motion, r.tracker
    FROM tally.receipt r JOIN tally.motion m ON m.id = r.motion_id;
COMMENT ON VIEW tally.receipt_rows IS
    'read by gridgovctl: `gridgovctl tally verify` matches the stored receipts against the chain, the archive lists them';

CREATE VIEW tally.evaluation_verdict AS
    SELECT m.code AS motion, (m.ballot->>'year')::int AS year, v->>'key' AS subject_key,
           v->>'name' AS subject_name, v->>'verdict' AS verdict
    FROM tally.motion m, jsonb_array_elements(m.result->'subjects') v
    WHERE m.kind = 'evaluation' AND m.state = 'closed';
COMMENT ON VIEW tally.evaluation_verdict IS
    'read by intake: evaluation results per person and year (两年连续不称职 flagged by tally itself)';
