#!/usr/bin/env python3
"""The contract check: every message the code has written during the test run validates against
its JSON Schema in proto/.
  events    every event in bus.outbox: the envelope (envelope.schema.json) and its data
            against the schema of its type and version (<type>.schema.json, the current one,
            or <type>.v<N>.schema.json for an earlier version, which events written by an
            earlier release keep; x-gridgov-version in each says which); fails when a type and
            version has no schema.
  commands  every command a daemon stored with its reply (<target>.command: request, reply):
            the request against command.<target>.schema.json, the reply against
            reply.<target>.schema.json (which refines reply.schema.json), and the three agree on
            the id and the status. A row without its request is accepted only when an earlier
            release stored it, before the migration that added the column.
Fails when anything is invalid, and when there are no events or no commands to check at all.

Usage: proto_check.py CONNINFO              check the test run's database
       proto_check.py --self-test CONNINFO  show that the check fails on each kind of invalid
                                            event, command and reply: judges the events as they
                                            are, stores the commands in a transaction it rolls
                                            back, and expects each one to be reported"""
import json
import pathlib
import subprocess
import sys

from jsonschema import Draft202012Validator, FormatChecker

try:
    from referencing import Registry, Resource
except ImportError:  # jsonschema before 4.18 (Debian 12 has 4.10): $refs resolve through RefResolver
    Registry = None

top = pathlib.Path(__file__).resolve().parent.parent
proto = top / "proto"

# Where each daemon keeps the commands it answered, and the migration after which every row has
# its request (None: from the table's first day).
COMMAND_TABLES = {"router": ("router.command", "012_router_command_request.sql"), "tally": ("tally.command", None)}


def schemas():
    """Every schema of proto/, checked against the metaschema and registered by its $id so that
    one may $ref another (reply.router.schema.json refines reply.schema.json)."""
    loaded = {}
    for p in sorted(proto.glob("*.schema.json")):
        s = json.loads(p.read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(s)
        loaded[p.name] = s
    if Registry is not None:
        registry = Registry().with_resources(
            (s["$id"], Resource.from_contents(s)) for s in loaded.values())

        def validator(name):
            return Draft202012Validator(loaded[name], registry=registry, format_checker=FormatChecker())
    else:
        from jsonschema import RefResolver
        store = {s["$id"]: s for s in loaded.values()}

        def validator(name):
            resolver = RefResolver.from_schema(loaded[name], store=store)
            return Draft202012Validator(loaded[name], resolver=resolver, format_checker=FormatChecker())
    return loaded, validator


def psql(conninfo, script):
    """Runs a script and returns its output lines (only SELECTs print with -q)."""
    out = subprocess.run(["psql", "-XAtq", "-v", "ON_ERROR_STOP=1", conninfo], input=script,
                         check=True, capture_output=True, text=True).stdout
    return [line for line in out.splitlines() if line.strip()]


def errors(validator, doc, where):
    return [f"{where}{e.json_path[1:]}: {e.message}" for e in validator.iter_errors(doc)]


# ---- events ------------------------------------------------------------------------------------

def event_validators(loaded, validator):
    """(type, version) -> the validator of that event's data. A schema names the version it
    describes (x-gridgov-version, 1 when it does not) and may serve several event types of the
    same shape (x-gridgov-types, else the type its file is named after)."""
    by = {}
    for name in loaded:
        if name == "envelope.schema.json" or name.startswith(("command.", "reply.")):
            continue
        v = validator(name)
        version = loaded[name].get("x-gridgov-version", 1)
        for t in loaded[name].get("x-gridgov-types", [name[: -len(".schema.json")]]):
            if (t, version) in by:
                raise ValueError(f"proto/{name}: a second schema for {t} version {version}")
            by[(t, version)] = v
    return by


def event_errors(ev, envelope, by):
    """What is wrong with one envelope: itself, and its data against the schema of its type and
    version (an event written by an earlier release keeps the version it was written as)."""
    errs = errors(envelope, ev, "")
    v = by.get((ev.get("type"), ev.get("version")))
    if v is None:
        errs.append(f"no schema in proto/ for {ev.get('type')} version {ev.get('version')}")
    else:
        errs += errors(v, ev.get("data"), "data")
    return errs


def check_events(conninfo, loaded, validator):
    envelope = validator("envelope.schema.json")
    by = event_validators(loaded, validator)
    # source 'test': malformed events a test injected on purpose (bad input for consumers)
    lines = psql(conninfo, "SELECT envelope::text FROM bus.envelope WHERE source <> 'test' ORDER BY seq")
    events = [json.loads(line) for line in lines]
    if not events:
        print("proto_check: no events in bus.outbox to check")
        return 1
    bad = 0
    seen = {}
    for ev in events:
        errs = event_errors(ev, envelope, by)
        key = f"{ev.get('type')} v{ev.get('version')}"
        seen[key] = seen.get(key, 0) + 1
        if errs:
            bad += 1
            if bad <= 10:
                print(f"proto_check: event {ev.get('id')} ({ev.get('type')} version {ev.get('version')}): "
                      + "; ".join(errs))
    print(f"proto_check: {len(events)} events checked ({', '.join(f'{k}: {n}' for k, n in seen.items())}), {bad} invalid")
    return 1 if bad else 0


# ---- commands ----------------------------------------------------------------------------------

def command_rows(conninfo, target, where="true", prelude="", epilogue=""):
    """The stored commands of a target as dicts {id, status, request, reply, old}; `old` is true
    for a row stored before the migration that added the request column."""
    table, since = COMMAND_TABLES[target]
    old = "false"
    if since:
        old = ("coalesce(c.created_at < (SELECT applied_at FROM public.schema_migrations"
               f" WHERE name = '{since}'), false)")
    lines = psql(conninfo, prelude + f"""
SELECT json_build_object('id', c.id, 'status', c.status, 'request', c.request, 'reply', c.reply,
                         'old', {old})::text
FROM {table} c WHERE {where} ORDER BY c.created_at, c.id;
""" + epilogue)
    return [json.loads(line) for line in lines]


def command_errors(row, command, reply):
    """What is wrong with one stored command and its reply (empty when nothing is)."""
    errs = []
    req, rep = row["request"], row["reply"]
    if req is None:
        if not row["old"]:
            errs.append("stored without its request")
    else:
        errs += errors(command, req, "request")
        if isinstance(req, dict) and str(req.get("id", "")).lower() != row["id"]:
            errs.append(f"request.id {req.get('id')!r} is not the row's id")
    errs += errors(reply, rep, "reply")
    if isinstance(rep, dict):
        if str(rep.get("id") or "").lower() != row["id"]:
            errs.append(f"reply.id {rep.get('id')!r} is not the row's id")
        if rep.get("status") != row["status"]:
            errs.append(f"reply.status {rep.get('status')!r} is not the row's status {row['status']}")
    return errs


def report_commands(target, rows, command, reply, quiet=False):
    """Validates rows; returns the ids found invalid (and prints them unless quiet)."""
    bad = {}
    for row in rows:
        errs = command_errors(row, command, reply)
        if errs:
            bad[row["id"]] = errs
            if not quiet and len(bad) <= 10:
                print(f"proto_check: {target} command {row['id']}: " + "; ".join(errs))
    return bad


def judge_commands(target, rows, command, reply):
    """1 when any row is invalid or no row has a request to check (a run that stored no commands
    proves nothing), else 0; prints what it found."""
    if not [r for r in rows if r["request"] is not None]:
        print(f"proto_check: no commands in {COMMAND_TABLES[target][0]} to check")
        return 1
    bad = report_commands(target, rows, command, reply)
    actions, statuses = {}, {}
    for r in rows:
        a = (r["request"] or {}).get("action", "(stored before requests were)")
        actions[a] = actions.get(a, 0) + 1
        statuses[r["status"]] = statuses.get(r["status"], 0) + 1
    print(f"proto_check: {len(rows)} {target} commands checked"
          f" ({', '.join(f'{k}: {n}' for k, n in sorted(actions.items()))};"
          f" replies {', '.join(f'{k}: {n}' for k, n in sorted(statuses.items()))}), {len(bad)} invalid")
    return 1 if bad else 0


def check_commands(conninfo, loaded, validator):
    status = 0
    for name in loaded:  # every command schema has its reply's and a table of stored commands
        if name.startswith("command."):
            target = name[len("command."): -len(".schema.json")]
            if target not in COMMAND_TABLES or f"reply.{target}.schema.json" not in loaded:
                print(f"proto_check: {name} has no reply.{target}.schema.json or no table of stored commands")
                status = 1
    for target in COMMAND_TABLES:
        command = validator(f"command.{target}.schema.json")
        reply = validator(f"reply.{target}.schema.json")
        status |= judge_commands(target, command_rows(conninfo, target), command, reply)
    return status


# ---- self-test ---------------------------------------------------------------------------------

# Stored as router.command rows by the self-test; {id} is the row's id.
GOOD_REQUEST = {"id": "{id}", "action": "accept", "ticket": "2604030000001", "staff_id": 24}
GOOD_REPLY = {"id": "{id}", "status": 404, "body": {"error": {"code": "not_found", "message": "no ticket with this code"}}}
TICKET = {"code": "2604030000001", "state": "accepted", "service_code": "LIGHT",
          "unit": {"id": 10101, "code": "430121-101-01", "name": "九木村", "level": "village"},
          "assignee": {"id": 24, "name": "张三"}, "sign_due": "2026-04-07T17:00:00+08:00",
          "resolve_due": None, "overdue": False, "escalations": 0, "returns": 0, "reopened": 0,
          "extension_pending": False, "rating": None, "resolution": None, "merged_into": None}
SELF_TEST = [  # (what is wrong, what the report must say, request, reply)
    ("valid: 404 for a staff action", None, GOOD_REQUEST, GOOD_REPLY),
    ("valid: 200 with the ticket", None, GOOD_REQUEST, {"id": "{id}", "status": 200, "body": {"ticket": TICKET}}),
    ("valid: a rating", None,
     {"id": "{id}", "action": "rate", "ticket": "2604030000001", "rating": "satisfied", "proof": "rating_code"},
     {"id": "{id}", "status": 409, "body": {"error": {"code": "invalid_transition", "message": "cannot rate",
                                                      "state": "accepted"}}}),
    ("valid: a rating from the reporter's SMS reply", None,
     {"id": "{id}", "action": "rate", "ticket": "2604030000001", "rating": "basic", "proof": "sms_uplink"},
     {"id": "{id}", "status": 409, "body": {"error": {"code": "invalid_transition", "message": "cannot rate",
                                                      "state": "accepted"}}}),
    ("valid: a rating from the reporter's bound WeChat", None,
     {"id": "{id}", "action": "rate", "ticket": "2604030000001", "rating": "unsatisfied", "proof": "wechat_binding"},
     {"id": "{id}", "status": 409, "body": {"error": {"code": "invalid_transition", "message": "cannot rate",
                                                      "state": "accepted"}}}),
    ("a rating from WeChat that names the openid", "'openid' was unexpected",
     {"id": "{id}", "action": "rate", "ticket": "2604030000001", "rating": "basic", "proof": "wechat_binding",
      "openid": "oABC"}, GOOD_REPLY),
    ("request without ticket", "'ticket' is a required property",
     {"id": "{id}", "action": "accept", "staff_id": 24}, GOOD_REPLY),
    ("staff_id as text", "request.staff_id: '24' is not of type 'integer'", {**GOOD_REQUEST, "staff_id": "24"}, GOOD_REPLY),
    ("a member the contract does not have", "'priority' was unexpected", {**GOOD_REQUEST, "priority": "high"}, GOOD_REPLY),
    ("an action that is not a name", "request.action: 'Accept!' does not match", {**GOOD_REQUEST, "action": "Accept!"},
     GOOD_REPLY),
    ("a staff action without staff_id", "is not valid under any of the given schemas",
     {"id": "{id}", "action": "accept", "ticket": "2604030000001"}, GOOD_REPLY),
    ("a staff action with a proof", "is not valid under any of the given schemas", {**GOOD_REQUEST, "proof": "rating_code"}, GOOD_REPLY),
    ("a rating with the reporter's phone", "'phone' was unexpected",
     {"id": "{id}", "action": "rate", "ticket": "2604030000001", "rating": "basic", "phone": "13900001111"}, GOOD_REPLY),
    ("a rating without proof", "is not valid under any of the given schemas",
     {"id": "{id}", "action": "rate", "ticket": "2604030000001", "rating": "basic"}, GOOD_REPLY),
    ("a rating by staff", "is not valid under any of the given schemas",
     {"id": "{id}", "action": "rate", "ticket": "2604030000001", "rating": "basic", "proof": "rating_code", "staff_id": 24},
     GOOD_REPLY),
    ("hours as text", "request.hours: '4' is not of type 'number'",
     {**GOOD_REQUEST, "action": "request_extension", "hours": "4", "note": "x"}, GOOD_REPLY),
    ("request stored without it, after the migration", "stored without its request", None, GOOD_REPLY),
    ("reply with another id", "is not the row's id", GOOD_REQUEST,
     {**GOOD_REPLY, "id": "00000000-0000-4000-8000-000000000000"}),
    ("reply without body", "'body' is a required property", GOOD_REQUEST, {"id": "{id}", "status": 404}),
    ("200 with an error body", "reply.body:", GOOD_REQUEST, {**GOOD_REPLY, "status": 200}),
    ("error without message", "reply.body.error: 'message' is a required property", GOOD_REQUEST,
     {**GOOD_REPLY, "body": {"error": {"code": "not_found"}}}),
    ("a status the router never answers", "reply.status: 418 is not one of", GOOD_REQUEST, {**GOOD_REPLY, "status": 418}),
    ("200 without the ticket", "'ticket' is a required property", GOOD_REQUEST, {"id": "{id}", "status": 200, "body": {}}),
    ("a ticket in a state that does not exist", "reply.body.ticket.state: 'done'", GOOD_REQUEST,
     {"id": "{id}", "status": 200, "body": {"ticket": {**TICKET, "state": "done"}}}),
    ("a ticket with a member the contract does not have", "'secret' was unexpected", GOOD_REQUEST,
     {"id": "{id}", "status": 200, "body": {"ticket": {**TICKET, "secret": 1}}}),
    ("a 409 naming a state that does not exist", "reply.body.error.state: 'lost'", GOOD_REQUEST,
     {**GOOD_REPLY, "status": 409, "body": {"error": {"code": "invalid_transition", "message": "no", "state": "lost"}}}),
]


# Events judged by the self-test without a database: (what is wrong, what the report must say, envelope).
CREATED = {"ticket_id": "42", "code": "2604030000042", "channel": "api", "service_code": "DISPUTE",
           "description": "宅基地边界纠纷", "attributes": {}, "requested_at": "2026-04-03T01:00:00.000000Z"}
REPORTER = {"first_name": "建国", "last_name": "李", "phone": "13900001111", "email": "li@example.cn"}


def envelope_of(version, data, type_="ticket.created"):
    return {"id": "5e1f7e57-0000-4000-8000-00000000e000", "type": type_, "version": version,
            "occurred_at": "2026-04-03T01:00:00.000000Z", "source": "intake", "correlation_id": None, "data": data}


EVENT_SELF_TEST = [
    ("valid: ticket.created version 2", None, envelope_of(2, CREATED)),
    ("valid: ticket.created version 1 (an earlier release's) with its reporter", None,
     envelope_of(1, {**CREATED, "reporter": REPORTER})),
    ("version 2 with the reporter's contact details", "'reporter' was unexpected",
     envelope_of(2, {**CREATED, "reporter": REPORTER})),
    ("version 1 without the reporter it required", "'reporter' is a required property", envelope_of(1, CREATED)),
    ("a version no schema describes", "no schema in proto/ for ticket.created version 3", envelope_of(3, CREATED)),
    ("a type no schema describes", "no schema in proto/ for ticket.lost version 1", envelope_of(1, CREATED, "ticket.lost")),
]


def self_test_events(loaded, validator):
    envelope = validator("envelope.schema.json")
    by = event_validators(loaded, validator)
    failures = 0
    for what, expect, ev in EVENT_SELF_TEST:
        said = "; ".join(event_errors(ev, envelope, by))
        ok = (expect is None and not said) or (expect is not None and expect in said)
        print(f"proto_check self-test: {'ok  ' if ok else 'FAIL'} event, {what}: {said or 'accepted'}")
        failures += not ok
    return failures


def fill(doc, id_):
    return None if doc is None else json.loads(json.dumps(doc).replace("{id}", id_))


def sql_literal(s):
    return "'" + s.replace("'", "''") + "'"


def self_test(conninfo, loaded, validator):
    """Each case becomes a stored row (in a transaction rolled back at once); the check must
    report exactly the invalid ones, for the reason given, and pass the valid ones. Also: a row
    without its request passes only when stored before the migration, and no rows at all fail."""
    failures = self_test_events(loaded, validator)
    command = validator("command.router.schema.json")
    reply = validator("reply.router.schema.json")
    ids = [f"5e1f7e57-0000-4000-8000-{n:012x}" for n in range(len(SELF_TEST) + 1)]
    inserts = []
    for (what, _, req, rep), id_ in zip(SELF_TEST, ids):
        r, p = fill(req, id_), fill(rep, id_)
        status = p.get("status", 0) if isinstance(p, dict) else 0
        inserts.append(f"({sql_literal(id_)}::uuid, {int(status)}, {sql_literal(json.dumps(p))}::jsonb, "
                       f"{'NULL' if r is None else sql_literal(json.dumps(r)) + '::jsonb'}, now())")
    # a row an earlier release stored: no request, created before 012 was applied
    inserts.append(f"({sql_literal(ids[-1])}::uuid, 404, {sql_literal(json.dumps(fill(GOOD_REPLY, ids[-1])))}::jsonb,"
                   " NULL, '2000-01-01')")
    prelude = ("BEGIN;\nINSERT INTO router.command (id, status, reply, request, created_at) VALUES\n"
               + ",\n".join(inserts) + ";\n")
    id_list = ", ".join(sql_literal(i) for i in ids)
    rows = command_rows(conninfo, "router", f"c.id IN ({id_list})", prelude, "ROLLBACK;\n")
    if len(rows) != len(ids):
        print(f"proto_check self-test: stored {len(ids)} rows, read back {len(rows)}")
        return 1
    bad = report_commands("router", rows, command, reply, quiet=True)
    for (what, expect, _, _), id_ in zip(SELF_TEST, ids):
        said = "; ".join(bad.get(id_, []))
        ok = (expect is None and not said) or (expect is not None and expect in said)
        print(f"proto_check self-test: {'ok  ' if ok else 'FAIL'} {what}: {said or 'accepted'}")
        failures += not ok
    if ids[-1] in bad:
        print(f"proto_check self-test: FAIL a row of an earlier release (no request) was reported: {bad[ids[-1]]}")
        failures += 1
    # nothing to check, or only rows of an earlier release: the check fails rather than pass vacuously
    old_only = [r for r in rows if r["id"] == ids[-1]]
    for what, subset in (("no rows", []), ("only a row of an earlier release", old_only)):
        if judge_commands("router", subset, command, reply) != 1:
            print(f"proto_check self-test: FAIL {what} passed the check")
            failures += 1
        else:
            print(f"proto_check self-test: ok   {what} fails the check")
    left = command_rows(conninfo, "router", f"c.id IN ({id_list})")
    if left:
        print("proto_check self-test: FAIL its rows were not rolled back")
        failures += 1
    print(f"proto_check self-test: {len(EVENT_SELF_TEST) + len(SELF_TEST) + 3} cases, {failures} failed")
    return 1 if failures else 0


def main():
    args = sys.argv[1:]
    loaded, validator = schemas()
    if args[:1] == ["--self-test"]:
        return self_test(args[1], loaded, validator)
    conninfo = args[0]
    return check_events(conninfo, loaded, validator) | check_commands(conninfo, loaded, validator)


if __name__ == "__main__":
    sys.exit(main())
