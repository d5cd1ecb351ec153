-- The registry: the county's places, people, staff and service catalogue.
-- Written by intake (registry admin, demo seed); read by every service.

CREATE EXTENSION IF NOT EXISTS postgis;
CREATE SCHEMA IF NOT EXISTS registry;

-- Administrative units: county > township > village > villager group (one grid cell).
CREATE TABLE registry.unit (
    id        bigint PRIMARY KEY,
    parent_id bigint REFERENCES registry.unit (id),
    level     text   NOT NULL CHECK (level IN ('county', 'township', 'village', 'group')),
    code      text   NOT NULL UNIQUE,          -- stable, e.g. 430121-101-03-05
    name      text   NOT NULL,
    boundary  geometry(MultiPolygon, 4326),    -- WGS84; groups tile their village
    CHECK ((level = 'county') = (parent_id IS NULL))
);
CREATE INDEX unit_parent ON registry.unit (parent_id);
CREATE INDEX unit_boundary ON registry.unit USING gist (boundary);

CREATE TABLE registry.household (
    id         bigint PRIMARY KEY,
    group_id   bigint NOT NULL REFERENCES registry.unit (id),
    code       text   NOT NULL UNIQUE,         -- the address_id residents and Open311 clients quote
    address    text   NOT NULL,
    location   geometry(Point, 4326)
);
CREATE INDEX household_group ON registry.household (group_id);

CREATE TABLE registry.resident (
    id           bigint  PRIMARY KEY,
    household_id bigint  NOT NULL REFERENCES registry.household (id),
    name         text    NOT NULL,
    gender       text    NOT NULL CHECK (gender IN ('男', '女')),
    birth_year   integer NOT NULL CHECK (birth_year BETWEEN 1900 AND 2100),
    phone        text    CHECK (phone ~ '^1[3-9][0-9]{9}$'),
    is_head      boolean NOT NULL DEFAULT false
);
CREATE INDEX resident_household ON registry.resident (household_id);
CREATE INDEX resident_phone ON registry.resident (phone);
CREATE UNIQUE INDEX resident_one_head ON registry.resident (household_id) WHERE is_head;

-- People who work the system. Roles: grid_worker, group_leader, instructor, handler,
-- supervisor, operator (county operations center).
CREATE TABLE registry.staff (
    id      bigint PRIMARY KEY,
    unit_id bigint NOT NULL REFERENCES registry.unit (id),
    role    text   NOT NULL CHECK (role IN ('grid_worker', 'group_leader', 'instructor',
                                            'handler', 'supervisor', 'operator')),
    name    text   NOT NULL,
    phone   text   NOT NULL CHECK (phone ~ '^1[3-9][0-9]{9}$'),
    active  boolean NOT NULL DEFAULT true
);
CREATE INDEX staff_unit ON registry.staff (unit_id);

-- The service catalogue (Open311 services).
CREATE TABLE registry.service (
    code        text    PRIMARY KEY CHECK (code ~ '^[A-Za-z0-9_-]{1,32}$'),
    name        text    NOT NULL,
    description text    NOT NULL DEFAULT '',
    grp         text    NOT NULL,              -- Open311 "group"
    keywords    text    NOT NULL DEFAULT '',
    type        text    NOT NULL DEFAULT 'realtime' CHECK (type IN ('realtime', 'batch', 'blackbox')),
    active      boolean NOT NULL DEFAULT true,
    sort        integer NOT NULL DEFAULT 0
);

CREATE TABLE registry.service_attribute (
    service_code         text    NOT NULL REFERENCES registry.service (code),
    code                 text    NOT NULL CHECK (code ~ '^[A-Za-z0-9_-]{1,32}$'),
    variable             boolean NOT NULL DEFAULT true,
    datatype             text    NOT NULL CHECK (datatype IN ('string', 'number', 'datetime', 'text',
                                                              'singlevaluelist', 'multivaluelist')),
    required             boolean NOT NULL DEFAULT false,
    datatype_description text    NOT NULL DEFAULT '',
    ord                  integer NOT NULL CHECK (ord > 0),
    description          text    NOT NULL,
    PRIMARY KEY (service_code, code),
    UNIQUE (service_code, ord)
);

CREATE TABLE registry.service_attribute_value (
    service_code   text NOT NULL,
    attribute_code text NOT NULL,
    key            text NOT NULL,
    name           text NOT NULL,
    ord            integer NOT NULL DEFAULT 0,
    PRIMARY KEY (service_code, attribute_code, key),
    FOREIGN KEY (service_code, attribute_code) REFERENCES registry.service_attribute (service_code, code)
);

-- Open311 API keys: only the SHA-256 of the key is stored.
CREATE TABLE registry.api_client (
    id         bigserial PRIMARY KEY,
    name       text   NOT NULL,
    key_sha256 bytea  NOT NULL UNIQUE CHECK (length(key_sha256) = 32),
    active     boolean NOT NULL DEFAULT true,
    created_at timestamptz NOT NULL DEFAULT now()
);

-- One row: what this deployment calls itself on Open311.
CREATE TABLE registry.jurisdiction (
    id         text PRIMARY KEY,               -- Open311 jurisdiction_id
    county_id  bigint NOT NULL REFERENCES registry.unit (id),
    contact    text NOT NULL,
    key_service text NOT NULL,
    changeset  timestamptz NOT NULL DEFAULT now()
);
