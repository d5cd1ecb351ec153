#!/usr/bin/env python3
"""The ownership check: one writer per schema, and reads through the owner's views.

deploy/schema-owners.txt says which schema belongs to which service and which are shared
foundations. This check fails when
  - SQL of one service names another service's relation that is not a view published to it
    (COMMENT ON VIEW ... 'read by <service>: why'), or an unknown one, or writes through such
    a view; SQL of a service is the string literals of services/<svc>/*.[ch], and the views and
    functions of its schema (common/ and tools/gridgovctl/ are readers too: common may name
    foundation schemas only);
  - anyone but a foundation's writers writes it;
  - a foreign key runs between two service schemas without being listed in the owners file (or
    a listed one is gone);
  - a trigger on a service's table runs another service's function;
  - C code sets search_path (unqualified names would escape the check).

Usage:
  ownership_check.py CONNINFO      the migrated database's catalog (views through pg_depend,
                                   functions' bodies, foreign keys, triggers) and the C sources;
                                   runs the self-test first (tests/run.sh)
  ownership_check.py --static      the C sources and the migration files, without a database;
                                   runs the self-test first (make lint)
  ownership_check.py --self-test [CONNINFO]
                                   only the self-test: violating snippets must fail (and, with a
                                   database, objects created in a rolled-back transaction: it
                                   locks intake.ticket for a moment, so use a test database)
Exit status 0 when every rule holds, 1 otherwise."""
import json
import pathlib
import re
import subprocess
import sys

TOP = pathlib.Path(__file__).resolve().parent.parent
OWNERS_FILE = TOP / "deploy" / "schema-owners.txt"
MIGRATIONS = TOP / "deploy" / "migrations"
IDENT = r"[a-z_][a-z0-9_$]*"


class Owners:
    def __init__(self, text):
        self.services = {}     # schema -> its writer
        self.foundations = {}  # schema -> set of writers ("*": all)
        self.fks = set()       # (from "s.t", to "s.t")
        for n, line in enumerate(text.splitlines(), 1):
            words = line.split("#", 1)[0].split()
            if not words:
                continue
            if words[0] == "service" and len(words) == 3:
                self.services[words[1]] = words[2]
            elif words[0] == "foundation" and len(words) >= 3:
                self.foundations[words[1]] = set(words[2:])
            elif words[0] == "fk" and len(words) == 4 and words[2] == "->":
                self.fks.add((words[1], words[3]))
            else:
                raise ValueError(f"schema-owners.txt:{n}: cannot read {line!r}")
        for s in self.schemas():
            if not re.fullmatch(IDENT, s):
                raise ValueError(f"schema-owners.txt: {s!r} is not a plain schema name")

    def schemas(self):
        return list(self.services) + list(self.foundations)


class Ref:
    """One name of schema.relation (or function, type) found in SQL, as read or write."""

    def __init__(self, reader, name, write, where):
        self.reader, self.name, self.write, self.where = reader, name, write, where

    @property
    def schema(self):
        return self.name.split(".", 1)[0]


class Catalog:
    """What the database holds, as far as the rules need it."""

    def __init__(self):
        self.kinds = {}     # "s.n" -> table, view, materialized view, sequence, function, type, ...
        self.readers = {}   # "s.view" -> set of readers its comment publishes it to
        self.objects = {}   # "s.n" -> list of Ref: what a view or function in schema s names
        self.fks = set()    # (from "s.t", to "s.t")
        self.triggers = {}  # (trigger, "s.table") -> "s.function"


def published_to(comment):
    m = re.match(r"\s*read by\s+([a-z_]+(?:\s*,\s*[a-z_]+)*)\s*:", comment or "")
    return {r.strip() for r in m.group(1).split(",")} if m else set()


# ---- finding names in SQL text

def name_re(owners):
    schemas = "|".join(sorted(owners.schemas(), key=len, reverse=True))
    return re.compile(rf'(?<![\w."])"?({schemas})"?\s*\.\s*"?({IDENT})"?', re.I)


WRITE_BEFORE = re.compile(r"(insert\s+into|update|delete\s+from|truncate(\s+table)?|copy|merge\s+into)\s+(only\s+)?$",
                          re.I)


def refs_in(sql, owners, reader, where, skip_own=True):
    """Refs to the owned schemas in one piece of SQL. where(offset) says where a match is."""
    out = []
    for m in name_re(owners).finditer(sql):
        name = f"{m.group(1).lower()}.{m.group(2).lower()}"
        if skip_own and name.split(".")[0] == reader:
            continue
        write = bool(WRITE_BEFORE.search(sql[max(0, m.start() - 40):m.start()]))
        out.append(Ref(reader, name, write, where(m.start())))
    return out


def strip_sql_comments(sql):
    """Drops -- and /* */ comments outside quoted text; keeps newlines so offsets keep their lines."""
    out, i, n = [], 0, len(sql)
    while i < n:
        c = sql[i]
        if sql.startswith("--", i):
            j = sql.find("\n", i)
            i = n if j < 0 else j
        elif sql.startswith("/*", i):
            j = sql.find("*/", i + 2)
            j = n if j < 0 else j + 2
            out.append(re.sub(r"[^\n]", " ", sql[i:j]))
            i = j
        elif c in "'\"":
            j = i + 1
            while j < n:
                if sql[j] == c and sql.startswith(c * 2, j):
                    j += 2
                elif sql[j] == c:
                    break
                else:
                    j += 1
            out.append(sql[i:j + 1])
            i = j + 1
        else:
            out.append(c)
            i += 1
    return "".join(out)


def sql_statements(sql):
    """Splits a migration script at top-level semicolons (outside quotes, comments, $$ bodies).
    Yields (statement text with comments removed, line of its start)."""
    sql = strip_sql_comments(sql)
    start, i, n, line, start_line = 0, 0, len(sql), 1, 1
    while i < n:
        c = sql[i]
        if c == "\n":
            line += 1
        if c in "'\"":
            j = i + 1
            while j < n and not (sql[j] == c and not sql.startswith(c * 2, j)):
                j += 2 if sql.startswith(c * 2, j) else 1
            line += sql.count("\n", i + 1, j)
            i = j + 1
            continue
        m = re.match(r"\$([a-zA-Z_]\w*)?\$", sql[i:i + 64]) if c == "$" else None
        if m:
            end = sql.find(m.group(0), i + len(m.group(0)))
            end = n if end < 0 else end + len(m.group(0))
            line += sql.count("\n", i, end)
            i = end
            continue
        if c == ";":
            yield sql[start:i], start_line
            start, start_line = i + 1, line
        i += 1
    if sql[start:].strip():
        yield sql[start:], start_line


def c_literal_runs(text):
    """String literals of a C source, adjacent ones joined (as the compiler does), each run with
    a function from offset to line. Comments, character constants and #include lines are
    skipped (macros are not: they hold SQL too)."""
    runs, cur, segs = [], [], []
    i, n, line, last_end = 0, len(text), 1, None

    def flush():
        if cur:
            s = "".join(cur)
            bounds = list(segs)

            def where(off, bounds=bounds):
                ln = bounds[0][1]
                for start, l in bounds:
                    if start <= off:
                        ln = l
                return ln
            runs.append((s, where))
        cur.clear()
        segs.clear()

    while i < n:
        c = text[i]
        if c == "\n":
            line += 1
        if (i == 0 or text[i - 1] == "\n") and re.match(r"[ \t]*#[ \t]*include\b", text[i:i + 64]):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if text.startswith("//", i):
            j = text.find("\n", i)
            i = n if j < 0 else j
            continue
        if text.startswith("/*", i):
            j = text.find("*/", i + 2)
            j = n if j < 0 else j + 2
            line += text.count("\n", i, j)
            i = j
            continue
        if c == "'":
            j = i + 1
            while j < n and text[j] != "'":
                j += 2 if text[j] == "\\" else 1
            i = j + 1
            continue
        if c == '"':
            if last_end is None or text[last_end:i].strip():
                flush()
            j, buf = i + 1, []
            while j < n and text[j] != '"':
                if text[j] == "\\" and j + 1 < n:
                    buf.append({"n": "\n", "t": "\t", '"': '"', "\\": "\\"}.get(text[j + 1], text[j + 1]))
                    j += 2
                else:
                    buf.append(text[j])
                    j += 1
            segs.append((sum(len(x) for x in cur), line))
            cur.append("".join(buf))
            i = j + 1
            last_end = i
            continue
        if not c.isspace() and last_end is not None and i >= last_end:
            flush()
            last_end = None
        i += 1
    flush()
    return runs


def code_readers():
    """(reader, file) for every C source the rules apply to."""
    for d in sorted((TOP / "services").iterdir()):
        if d.is_dir():
            for f in sorted(d.glob("*.[ch]")):
                yield d.name, f
    for f in sorted((TOP / "common").glob("*.[ch]")):
        yield "common", f
    for f in sorted((TOP / "tools" / "gridgovctl").glob("*.[ch]")):
        yield "gridgovctl", f


def scan_c(text, reader, path, owners):
    """Refs in one C file's string literals, and search_path settings (as problems)."""
    refs, problems = [], []
    for s, where in c_literal_runs(text):
        refs += refs_in(s, owners, reader, lambda off, where=where: f"{path}:{where(off)}", skip_own=False)
        m = re.search(r"search_path", s, re.I)
        if m:
            problems.append(f"{path}:{where(m.start())}: {reader} sets search_path: name every relation with its "
                            f"schema, so this check sees what the SQL reads")
    return refs, problems


# ---- the catalog, from migration files or from the database

def static_catalog(files, owners):
    """The catalog the migrations leave behind, read from their text in order: the last
    definition of each view and function counts, DROP removes."""
    cat = Catalog()
    nm = rf'"?({IDENT})"?\s*\.\s*"?({IDENT})"?'

    def key(m, a=1):
        return f"{m.group(a).lower()}.{m.group(a + 1).lower()}"

    for fname, sql in files:
        for stmt, line in sql_statements(sql):
            s = stmt.strip()
            low = s.lower()
            where = f"{fname}:{line}"
            m = re.match(rf"create\s+(?:unlogged\s+)?table\s+(?:if\s+not\s+exists\s+)?{nm}", s, re.I)
            if m:
                cat.kinds[key(m)] = "table"
                for r in re.finditer(rf"references\s+{nm}", s, re.I):
                    cat.fks.add((key(m), key(r)))
                continue
            m = re.match(rf"create\s+(?:or\s+replace\s+)?(materialized\s+)?view\s+{nm}", s, re.I)
            if m:
                k = key(m, 2)
                if "or replace" not in low[:m.end()]:
                    cat.readers.pop(k, None)
                cat.kinds[k] = "materialized view" if m.group(1) else "view"
                body = s[m.end():]
                cat.objects[k] = refs_in(body, owners, k.split(".")[0], lambda off, w=where: w)
                continue
            m = re.match(rf"create\s+(?:or\s+replace\s+)?(function|procedure)\s+{nm}", s, re.I)
            if m:
                k = key(m, 2)
                cat.kinds[k] = m.group(1).lower()
                cat.objects[k] = refs_in(s[m.end():], owners, k.split(".")[0], lambda off, w=where: w)
                continue
            m = re.match(rf"create\s+(sequence|type|domain)\s+(?:if\s+not\s+exists\s+)?{nm}", s, re.I)
            if m:
                cat.kinds[key(m, 2)] = m.group(1).lower()
                continue
            m = re.match(rf"comment\s+on\s+(?:materialized\s+)?view\s+{nm}\s+is\s+(.*)$", s, re.I | re.S)
            if m:
                text = "".join(x.replace("''", "'") for x in re.findall(r"'((?:[^']|'')*)'", m.group(3)))
                cat.readers[key(m)] = published_to(text)
                continue
            m = re.match(r"drop\s+(table|view|materialized\s+view|function|procedure|sequence|type|domain)\s+"
                         r"(?:if\s+exists\s+)?(.*)$", s, re.I | re.S)
            if m:
                for d in re.finditer(nm, re.sub(r"\([^)]*\)", "", m.group(2))):
                    k = key(d)
                    cat.kinds.pop(k, None)
                    cat.objects.pop(k, None)
                    cat.readers.pop(k, None)
                    cat.fks = {fk for fk in cat.fks if k not in fk}
                continue
            m = re.match(rf"alter\s+table\s+(?:if\s+exists\s+)?(?:only\s+)?{nm}", s, re.I)
            if m:
                for r in re.finditer(rf"references\s+{nm}", s, re.I):
                    cat.fks.add((key(m), key(r)))
                continue
            m = re.match(rf"create\s+(?:or\s+replace\s+)?(?:constraint\s+)?trigger\s+({IDENT})\s.*?\son\s+{nm}.*?"
                         rf"execute\s+(?:function|procedure)\s+{nm}", s, re.I | re.S)
            if m:
                cat.triggers[(m.group(1).lower(), key(m, 2))] = key(m, 4)
                continue
            m = re.match(rf"drop\s+trigger\s+(?:if\s+exists\s+)?({IDENT})\s+on\s+{nm}", s, re.I)
            if m:
                cat.triggers.pop((m.group(1).lower(), key(m, 2)), None)
    return cat


CATALOG_SQL = """
WITH s AS (SELECT oid, nspname FROM pg_namespace WHERE nspname = ANY (ARRAY[%(schemas)s]::text[]))
SELECT json_build_object(
 'relations', (SELECT coalesce(json_agg(json_build_array(s.nspname || '.' || c.relname, c.relkind::text,
                                                          obj_description(c.oid, 'pg_class'))), '[]')
               FROM pg_class c JOIN s ON s.oid = c.relnamespace WHERE c.relkind IN ('r', 'p', 'v', 'm', 'S', 'f', 'c')),
 'types', (SELECT coalesce(json_agg(s.nspname || '.' || t.typname), '[]')
           FROM pg_type t JOIN s ON s.oid = t.typnamespace WHERE t.typtype IN ('d', 'e', 'r', 'm')),
 'functions', (SELECT coalesce(json_agg(json_build_array(s.nspname || '.' || p.proname, p.prosrc, p.proconfig)), '[]')
               FROM pg_proc p JOIN s ON s.oid = p.pronamespace),
 'view_deps', (SELECT coalesce(json_agg(DISTINCT jsonb_build_array(vs.nspname || '.' || v.relname,
                                                                 coalesce(rs.nspname || '.' || r.relname,
                                                                          ps.nspname || '.' || p.proname))), '[]')
               FROM pg_rewrite rw JOIN pg_class v ON v.oid = rw.ev_class JOIN s vs ON vs.oid = v.relnamespace
               JOIN pg_depend d ON d.classid = 'pg_rewrite'::regclass AND d.objid = rw.oid
               LEFT JOIN pg_class r ON d.refclassid = 'pg_class'::regclass AND r.oid = d.refobjid AND r.oid <> v.oid
               LEFT JOIN pg_namespace rs ON rs.oid = r.relnamespace
               LEFT JOIN pg_proc p ON d.refclassid = 'pg_proc'::regclass AND p.oid = d.refobjid
               LEFT JOIN pg_namespace ps ON ps.oid = p.pronamespace
               WHERE r.oid IS NOT NULL OR p.oid IS NOT NULL),
 'fks', (SELECT coalesce(json_agg(json_build_array(fs.nspname || '.' || f.relname, ts.nspname || '.' || t.relname)), '[]')
         FROM pg_constraint k JOIN pg_class f ON f.oid = k.conrelid JOIN pg_namespace fs ON fs.oid = f.relnamespace
         JOIN pg_class t ON t.oid = k.confrelid JOIN pg_namespace ts ON ts.oid = t.relnamespace
         WHERE k.contype = 'f' AND (fs.oid IN (SELECT oid FROM s) OR ts.oid IN (SELECT oid FROM s))),
 'triggers', (SELECT coalesce(json_agg(json_build_array(g.tgname, ts.nspname || '.' || c.relname,
                                                         ps.nspname || '.' || p.proname)), '[]')
              FROM pg_trigger g JOIN pg_class c ON c.oid = g.tgrelid JOIN pg_namespace ts ON ts.oid = c.relnamespace
              JOIN pg_proc p ON p.oid = g.tgfoid JOIN pg_namespace ps ON ps.oid = p.pronamespace
              WHERE NOT g.tgisinternal AND (ts.oid IN (SELECT oid FROM s) OR ps.oid IN (SELECT oid FROM s))))
"""

KINDS = {"r": "table", "p": "table", "v": "view", "m": "materialized view", "S": "sequence", "f": "foreign table",
         "c": "type"}


def catalog_sql(owners):
    return CATALOG_SQL % {"schemas": ", ".join(f"'{s}'" for s in owners.schemas())}


def db_catalog(doc, owners):
    """The catalog from the JSON document CATALOG_SQL returns."""
    cat = Catalog()
    for name, kind, comment in doc["relations"]:
        cat.kinds[name] = KINDS[kind]
        if kind in ("v", "m"):
            cat.readers[name] = published_to(comment)
            cat.objects.setdefault(name, [])
    for name in doc["types"]:
        cat.kinds[name] = "type"
    problems = []
    for name, src, config in doc["functions"]:
        cat.kinds.setdefault(name, "function")
        schema = name.split(".")[0]
        cat.objects.setdefault(name, [])
        cat.objects[name] += refs_in(strip_sql_comments(src or ""), owners, schema,
                                     lambda off, name=name: f"function {name}")
        for setting in config or []:
            if setting.lower().startswith("search_path="):
                problems.append(f"function {name}: sets {setting}: name every relation with its schema instead")
    for view, dep in doc["view_deps"]:
        cat.objects.setdefault(view, [])
        if dep.split(".")[0] != view.split(".")[0]:
            cat.objects[view].append(Ref(view.split(".")[0], dep, False, f"view {view}"))
    cat.fks = {(a, b) for a, b in doc["fks"]}
    cat.triggers = {(t, tbl): fn for t, tbl, fn in doc["triggers"]}
    return cat, problems


def psql(conninfo, script):
    return subprocess.run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", conninfo], input=script, check=True,
                          capture_output=True, text=True).stdout


def read_db_catalog(conninfo, owners, before=""):
    """The database's catalog; `before` runs first in the same transaction, which is rolled back."""
    out = psql(conninfo, f"BEGIN;\n{before}\n{catalog_sql(owners)};\nROLLBACK;\n")
    return db_catalog(json.loads(out), owners)


# ---- the rules

def check_ref(ref, owners, cat):
    s = ref.schema
    if s == ref.reader:
        return None
    if s in owners.foundations:
        writers = owners.foundations[s]
        service_code = ref.reader in owners.services or ref.reader == "common"
        if ref.write and not ("*" in writers and service_code) and ref.reader not in writers:
            return (f"{ref.where}: {ref.reader} writes {ref.name}; schema {s} is written only by "
                    f"{', '.join(sorted(writers))} (deploy/schema-owners.txt)")
        return None
    if s not in owners.services:
        return None
    owner = owners.services[s]
    kind = cat.kinds.get(ref.name)
    publish = f"a view {owner} publishes to it (COMMENT ON VIEW ... IS 'read by {ref.reader}: why')"
    if kind is None:
        return f"{ref.where}: {ref.reader} names {ref.name}, which is not in the database; read {s} through {publish}"
    if kind != "view":
        return f"{ref.where}: {ref.reader} names {ref.name}, a {kind} of service {owner}; read it through {publish}"
    if ref.reader not in cat.readers.get(ref.name, set()):
        return (f"{ref.where}: {ref.reader} reads {ref.name}, a view {owner} has not published to {ref.reader}; "
                f"read it through {publish}")
    if ref.write:
        return f"{ref.where}: {ref.reader} writes through {ref.name}; only {owner} writes schema {s}"
    return None


def violations(owners, cat, code_refs):
    out = []
    for ref in code_refs:
        v = check_ref(ref, owners, cat)
        if v:
            out.append(v)
    for name in sorted(cat.objects):
        for ref in cat.objects[name]:
            v = check_ref(ref, owners, cat)
            if v:
                out.append(v)
    for a, b in sorted(cat.fks):
        sa, sb = a.split(".")[0], b.split(".")[0]
        if sa != sb and sb in owners.services and (a, b) not in owners.fks:
            out.append(f"foreign key {a} -> {b} crosses from schema {sa} into service {owners.services[sb]}'s; "
                       f"list it in deploy/schema-owners.txt (fk {a} -> {b}) only if a constraint, not a read, is meant")
    for a, b in sorted(owners.fks - cat.fks):
        out.append(f"deploy/schema-owners.txt lists fk {a} -> {b}, which the database does not have: remove the line")
    for (trig, table), fn in sorted(cat.triggers.items()):
        st, sf = table.split(".")[0], fn.split(".")[0]
        if st in owners.services and sf != st:
            out.append(f"trigger {trig} on {table} runs {fn}: only {owners.services[st]} acts on writes to its schema")
    return out


def code_refs_and_problems(owners, sources=None):
    refs, problems = [], []
    for reader, f in sources if sources is not None else code_readers():
        text = f.read_text(encoding="utf-8") if isinstance(f, pathlib.Path) else f[1]
        path = str(f.relative_to(TOP)) if isinstance(f, pathlib.Path) else f[0]
        r, p = scan_c(text, reader, path, owners)
        refs += r
        problems += p
    return refs, problems


def migration_files():
    return [(p.relative_to(TOP).as_posix(), p.read_text(encoding="utf-8")) for p in sorted(MIGRATIONS.glob("*.sql"))]


# ---- the self-test: every rule must be able to fail

SELF_OWNERS = """
service intake intake
service router router
foundation registry gridgovctl intake
foundation bus *
fk router.ticket -> intake.ticket
"""

SELF_MIGRATIONS = [("001.sql", """
CREATE TABLE registry.unit (id bigint PRIMARY KEY, name text);
CREATE TABLE bus.outbox (seq bigserial PRIMARY KEY, data jsonb);
CREATE TABLE intake.ticket (id bigint PRIMARY KEY, code text, phone text);
CREATE TABLE router.ticket (ticket_id bigint PRIMARY KEY REFERENCES intake.ticket (id), state text,
                            unit_id bigint REFERENCES registry.unit (id));
CREATE TABLE router.transition (id bigserial PRIMARY KEY, ticket_id bigint REFERENCES router.ticket (ticket_id));
-- a view in intake's schema on router's table, as 004 had it: replaced below, so no longer a violation
CREATE VIEW intake.ticket_view AS SELECT t.id, r.state FROM intake.ticket t LEFT JOIN router.ticket r ON r.ticket_id = t.id;
CREATE FUNCTION router.record(p bigint) RETURNS void LANGUAGE sql AS $$
    INSERT INTO router.transition (ticket_id) VALUES (p); -- router.transition is its own
    INSERT INTO bus.outbox (data) VALUES ('{}');
$$;
"""), ("002.sql", """
CREATE VIEW router.ticket_status AS SELECT ticket_id, state FROM router.ticket;
COMMENT ON VIEW router.ticket_status IS 'read by intake: '
    'what Open311 shows';
CREATE VIEW intake.ticket_submitted AS SELECT id, phone FROM intake.ticket;
COMMENT ON VIEW intake.ticket_submitted IS 'read by router, notify: the reporter''s phone';
CREATE OR REPLACE VIEW intake.ticket_view AS
SELECT t.id, r.state FROM intake.ticket t LEFT JOIN router.ticket_status r ON r.ticket_id = t.id;
CREATE FUNCTION registry.guard() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN OLD; END $$;
DROP FUNCTION registry.guard();
CREATE FUNCTION router.guard() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF EXISTS (SELECT 1 FROM router.ticket t WHERE t.unit_id = OLD.id) THEN RAISE EXCEPTION 'in use'; END IF;
    RETURN OLD;
END $$;
CREATE TRIGGER guard BEFORE DELETE ON registry.unit FOR EACH ROW EXECUTE FUNCTION router.guard();
""")]

SELF_CODE = [
    ("intake", ("services/intake/ok.c", '#include "router.h"\nstatic const char A[] = "SELECT state FROM router.ticket_status"\n'
                '    " WHERE ticket_id = $1"; /* router.ticket in a comment is no read */\n'
                'static const char B[] = "SELECT name FROM registry.unit"; static const char C[] = "SELECT 1 FROM intake.ticket";\n')),
    ("router", ("services/router/ok.c", 'x = "UPDATE router.ticket SET state = $2"; y = "SELECT phone FROM intake.ticket_submitted";\n'
                'z = "SELECT name FROM registry.unit"; w = "INSERT INTO bus.outbox (data) VALUES ($1)";\n')),
    ("common", ("common/ok.c", 'q = "INSERT INTO bus.outbox (data) SELECT $1";\n')),
    ("gridgovctl", ("tools/gridgovctl/ok.c", 'q = "INSERT INTO registry.unit (id) VALUES ($1)";\n')),
]

# (what is added, the text the one violation must contain)
SELF_BAD = [
    (("code", "intake", 'p = "SELECT state FROM router.ticket WHERE ticket_id = $1";'), "a table of service router"),
    (("code", "intake", 'p = "SELECT count(*) FROM" " router.transition";'), "router.transition, a table"),
    (("code", "intake", 'p = "UPDATE router.ticket_status SET state = $1";'), "writes through router.ticket_status"),
    (("code", "router", 'p = "SELECT code FROM intake.ticket_view";'), "has not published to router"),
    (("code", "common", 'p = "SELECT state FROM router.ticket_status";'), "has not published to common"),
    (("code", "intake", 'p = "SELECT * FROM router.nosuch";'), "not in the database"),
    (("code", "intake", 'p = "SELECT router.record($1)";'), "a function of service router"),
    (("code", "router", 'p = "INSERT INTO registry.unit (id) VALUES ($1)";'), "written only by"),
    (("code", "intake", 'p = "SET search_path = router, public";'), "sets search_path"),
    (("sql", "CREATE VIEW intake.bad AS SELECT r.state FROM router.ticket r;"), "intake names router.ticket"),
    (("sql", "CREATE FUNCTION intake.bad() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM router.transition $$;"),
     "intake names router.transition"),
    (("sql", "CREATE FUNCTION registry.bad() RETURNS trigger LANGUAGE plpgsql AS $b$ BEGIN\n"
             "  PERFORM 1 FROM router.ticket; RETURN OLD; END $b$;"), "registry names router.ticket"),
    (("sql", "CREATE TABLE router.follower (source bigint NOT NULL REFERENCES intake.ticket (id));"),
     "foreign key router.follower -> intake.ticket"),
    (("sql", "ALTER TABLE router.ticket DROP CONSTRAINT ticket_ticket_id_fkey;\nDROP TABLE router.ticket CASCADE;\n"
             "CREATE TABLE router.ticket (ticket_id bigint PRIMARY KEY, state text);"), "which the database does not have"),
    (("sql", "CREATE FUNCTION router.on_ticket() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;\n"
             "CREATE TRIGGER follow AFTER INSERT ON intake.ticket FOR EACH ROW EXECUTE FUNCTION router.on_ticket();"),
     "only intake acts on writes"),
    (("sql", "DROP VIEW router.ticket_status;\nCREATE VIEW router.ticket_status AS SELECT ticket_id, state FROM router.ticket;"),
     "has not published to intake"),
]


def static_run(owners, migrations, code):
    cat = static_catalog(migrations, owners)
    refs, problems = code_refs_and_problems(owners, code)
    return problems + violations(owners, cat, refs), cat, refs


def self_test(conninfo=None):
    owners = Owners(SELF_OWNERS)
    failures = []
    found, _, refs = static_run(owners, SELF_MIGRATIONS, SELF_CODE)
    if found:
        failures.append("the clean example has violations: " + "; ".join(found))
    if len(refs) < 8:
        failures.append(f"the clean example yields {len(refs)} names from C, expected 8 or more")
    for (what, *args), expect in SELF_BAD:
        migrations, code = list(SELF_MIGRATIONS), list(SELF_CODE)
        if what == "code":
            code.append((args[0], (f"services/{args[0]}/bad.c", args[1] + "\n")))
        else:
            migrations.append(("003.sql", args[0]))
        got, _, _ = static_run(owners, migrations, code)
        if not got or any(expect not in g for g in got):
            failures.append(f"{args[-1]!r}: expected violations with {expect!r} (only), got {got}")
    checked = len(SELF_BAD)
    if conninfo:
        # Objects that break each rule, created in a transaction that is rolled back: the
        # catalog path must report each of them.
        real = Owners(OWNERS_FILE.read_text(encoding="utf-8"))
        bad_sql = """
CREATE VIEW intake.ownership_selftest_view AS SELECT ticket_id FROM router.ticket;
CREATE FUNCTION intake.ownership_selftest_fn() RETURNS bigint LANGUAGE sql AS $$ SELECT count(*) FROM router.transition $$;
CREATE TABLE router.ownership_selftest_fk (id bigint REFERENCES intake.ticket (id));
CREATE FUNCTION router.ownership_selftest_trg() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RETURN NEW; END $$;
CREATE TRIGGER ownership_selftest AFTER INSERT ON intake.ticket FOR EACH ROW EXECUTE FUNCTION router.ownership_selftest_trg();
"""
        cat, problems = read_db_catalog(conninfo, real, bad_sql)
        got = problems + violations(real, cat, [])
        for expect in ("view intake.ownership_selftest_view: intake names router.ticket, a table",
                       "function intake.ownership_selftest_fn: intake names router.transition, a table",
                       "foreign key router.ownership_selftest_fk -> intake.ticket",
                       "trigger ownership_selftest on intake.ticket runs router.ownership_selftest_trg"):
            if not any(expect in g for g in got):
                failures.append(f"database: expected a violation with {expect!r}, got {got}")
        checked += 4
    for f in failures:
        print(f"ownership_check self-test: {f}")
    print(f"ownership_check self-test: {checked} violating examples, {len(failures)} not caught as expected")
    return not failures


def main(argv):
    args = argv[1:]
    if not args or args[0] in ("-h", "--help"):
        print(__doc__)
        return 0 if args else 2
    if args[0] == "--self-test":
        return 0 if self_test(args[1] if len(args) > 1 else None) else 1
    owners = Owners(OWNERS_FILE.read_text(encoding="utf-8"))
    static = args[0] == "--static"
    if not self_test(None if static else args[0]):
        return 1
    problems = []
    if static:
        cat = static_catalog(migration_files(), owners)
        source = "the migration files"
    else:
        cat, problems = read_db_catalog(args[0], owners)
        source = "the database"
    refs, code_problems = code_refs_and_problems(owners)
    found = code_problems + problems + violations(owners, cat, refs)
    views = sum(1 for k in cat.kinds.values() if k == "view")
    if not refs or not views:
        found.append(f"nothing to check: {len(refs)} names in C, {views} views in {source}")
    for v in found:
        print(f"ownership: {v}")
    print(f"ownership_check: {len(refs)} names in C and {sum(len(r) for r in cat.objects.values())} in {views} views "
          f"and {sum(1 for k in cat.kinds.values() if k == 'function')} functions of {source}, "
          f"{len(cat.fks)} foreign keys, {len(cat.triggers)} triggers: {len(found)} violations")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
