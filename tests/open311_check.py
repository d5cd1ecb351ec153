#!/usr/bin/env python3
"""The Open311 contract check: every JSON answer the Open311 tests received validates against
the schema of its kind in tests/open311/schemas/ (our restatement of open311/schema-validation's
georeport-v2 schemas, of the specification where that project has none, and of mySociety's
update extension). The end-to-end tests (test_open311.c, test_privacy.c) keep each answer as
DIR/<schema>/<name>.json (tests/lib/open311_keep.c), the body exactly as it came over the wire.

Fails when DIR holds no answers, when an answer is not strict JSON or does not validate, when a
folder names no schema, or when a schema that describes an answer ("x-gridgov-answers") has no
answer to check, so a kind of answer that stops being tested shows up here.

Formats are checked by this file, not left to optional packages: Debian's python3-jsonschema
checks neither date-time nor uri without them and would pass anything.

Usage: open311_check.py DIR        check the answers under DIR
       open311_check.py --self-test  show that bad answers fail (and good ones pass)"""
import datetime
import json
import pathlib
import re
import sys
import tempfile

from jsonschema import Draft202012Validator, FormatChecker

SCHEMAS = pathlib.Path(__file__).resolve().parent / "open311" / "schemas"

# RFC 3339 date-time, which is the W3C profile GeoReport v2 asks for: the zone is mandatory.
DATE_TIME = re.compile(r"^(\d{4})-(\d{2})-(\d{2})[Tt](\d{2}):(\d{2}):(\d{2})(\.\d+)?([Zz]|([+-])(\d{2}):(\d{2}))$")
# RFC 3986 absolute URI: a scheme, then only characters a URI may hold, % only as an escape.
URI = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:(?:[A-Za-z0-9\-._~:/?#\[\]@!$&'()*+,;=]|%[0-9A-Fa-f]{2})*$")


def format_checker():
    fc = FormatChecker()

    @fc.checks("date-time")
    def is_date_time(value):
        if not isinstance(value, str):
            return True
        m = DATE_TIME.match(value)
        if not m:
            return False
        y, mo, d, h, mi, s = (int(g) for g in m.groups()[:6])
        if m.group(9) and (int(m.group(10)) > 23 or int(m.group(11)) > 59):
            return False
        try:
            datetime.datetime(y, mo, d, h, mi, min(s, 59))  # 60: a leap second
        except ValueError:
            return False
        return s <= 60

    @fc.checks("uri")
    def is_uri(value):
        return not isinstance(value, str) or URI.match(value) is not None

    return fc


def load_schemas():
    """{name: schema} for every tests/open311/schemas/<name>.schema.json."""
    schemas = {}
    for p in sorted(SCHEMAS.glob("*.schema.json")):
        s = json.loads(p.read_text(encoding="utf-8"))
        Draft202012Validator.check_schema(s)
        schemas[p.name[: -len(".schema.json")]] = s
    if not schemas:
        raise SystemExit(f"open311_check: no schemas in {SCHEMAS}")
    return schemas


def validators(schemas):
    """{name: validator}; $ref between the files resolves by their $id."""
    fc = format_checker()
    try:
        from referencing import Registry, Resource

        registry = Registry().with_resources((s["$id"], Resource.from_contents(s)) for s in schemas.values())
        return {n: Draft202012Validator(s, registry=registry, format_checker=fc) for n, s in schemas.items()}
    except ImportError:  # jsonschema before 4.18 (Debian 12's 4.10)
        from jsonschema import RefResolver

        store = {s["$id"]: s for s in schemas.values()}
        return {n: Draft202012Validator(s, resolver=RefResolver.from_schema(s, store=store), format_checker=fc)
                for n, s in schemas.items()}


def strict_json(raw):
    """Parses bytes as a client would insist: UTF-8, no NaN or Infinity, no member twice."""

    def no_twice(pairs):
        seen = {}
        for k, v in pairs:
            if k in seen:
                raise ValueError(f"member {k!r} appears twice")
            seen[k] = v
        return seen

    def no_constant(name):
        raise ValueError(f"{name} is not JSON")

    return json.loads(raw.decode("utf-8"), object_pairs_hook=no_twice, parse_constant=no_constant)


def errors_of(validator, body):
    return [f"{e.json_path}: {e.message}" for e in validator.iter_errors(body)]


def check_dir(root, schemas, vals, out=print):
    """0 when every answer under root validates and every answer schema has one; else 1."""
    root = pathlib.Path(root)
    if not root.is_dir():
        out(f"open311_check: {root} does not exist: no Open311 answers were kept (did e2e/test_open311 run?)")
        return 1
    bad, problems, counts = 0, [], {}
    for sub in sorted(root.iterdir()):
        if not sub.is_dir():
            problems.append(f"{sub.name}: not in a folder named after its schema")
            continue
        if sub.name not in vals:
            problems.append(f"{sub.name}/: no schema tests/open311/schemas/{sub.name}.schema.json")
            continue
        for f in sorted(sub.glob("*.json")):
            counts[sub.name] = counts.get(sub.name, 0) + 1
            try:
                errs = errors_of(vals[sub.name], strict_json(f.read_bytes()))
            except ValueError as e:  # also UnicodeDecodeError and JSONDecodeError
                errs = [f"not strict JSON: {e}"]
            if errs:
                bad += 1
                if bad <= 20:
                    out(f"open311_check: {sub.name}/{f.name}: " + "; ".join(errs[:5]))
    for name, s in schemas.items():
        if "x-gridgov-answers" in s and not counts.get(name):
            problems.append(f"no answer was checked against {name} ({', '.join(s['x-gridgov-answers'])})")
    total = sum(counts.values())
    if total == 0:
        problems.append(f"no answers under {root}")
    for p in problems:
        out(f"open311_check: {p}")
    out(f"open311_check: {total} answers checked ({', '.join(f'{k}: {n}' for k, n in sorted(counts.items()))}),"
        f" {bad} invalid")
    return 1 if bad or problems else 0


# ---------------------------------------------------------------------------------------------
# self-test: answers that must fail, and answers that must pass, against the same schemas

RECORD = {
    "service_request_id": "2611290000001", "status": "open", "status_notes": None, "service_name": "路灯照明",
    "service_code": "LIGHT", "description": None, "agency_responsible": None, "service_notice": None,
    "requested_datetime": "2026-11-29T09:00:00+08:00", "updated_datetime": "2026-11-29T09:00:00+08:00",
    "expected_datetime": None, "address": None, "address_id": None, "zipcode": None, "lat": 28.25,
    "long": 113.15, "media_url": None,
}
DISCOVERY = {
    "changeset": "2026-11-01T00:00:00Z", "contact": "示范县 12345", "key_service": "向县政务服务中心申请",
    "endpoints": [{"specification": "http://wiki.open311.org/GeoReport_v2", "url": "http://127.0.0.1:8080/open311/v2",
                   "changeset": "2026-11-01T00:00:00Z", "type": "production",
                   "formats": ["text/xml", "application/json"]}],
}
SERVICE = {"service_code": "LIGHT", "service_name": "路灯照明", "description": "", "metadata": True,
           "type": "realtime", "keywords": "路灯", "group": "市政"}
ATTRIBUTE = {"variable": True, "code": "fault_type", "datatype": "singlevaluelist", "required": True,
             "datatype_description": "", "order": 1, "description": "故障类型",
             "values": [{"key": "off", "name": "不亮"}]}
UPDATE = {"update_id": "17", "service_request_id": "2611290000001", "status": "fixed",
          "updated_datetime": "2026-11-30T10:00:00+08:00", "description": "已更换灯泡", "media_url": ""}


def with_(base, **changes):
    d = dict(base)
    for k, v in changes.items():
        if v is KeyError:
            d.pop(k, None)
        else:
            d[k] = v
    return d


SELF_TEST = [
    # (schema, body, should validate, what it shows)
    ("post-response", [{"service_request_id": "2611290000001", "service_notice": "诉求已受理", "account_id": None}],
     False, "the answer issue 9 names: account_id null"),
    ("post-response", [{"service_request_id": "2611290000001", "service_notice": "诉求已受理"}], True,
     "no account_id at all"),
    ("post-response", [{"service_request_id": "2611290000001", "service_notice": "诉求已受理", "account_id": "wx-1"}],
     True, "account_id as a string"),
    ("post-response", [{"service_request_id": 293944, "service_notice": "x"}], False, "a numeric id"),
    ("post-response", [{"service_request_id": "1", "service_notice": None}], False, "service_notice null"),
    ("request-by-id", [RECORD], True, "one record, absent members null"),
    ("request-by-id", [RECORD, RECORD], False, "two records for one id"),
    ("request-by-id", [], False, "no record for an id"),
    ("request-by-id", RECORD, False, "the record not wrapped in a list"),
    ("requests", [], True, "an empty list"),
    ("requests", [with_(RECORD, status="pending")], False, "status outside open/closed"),
    ("requests", [with_(RECORD, status=None)], False, "status null"),
    ("requests", [with_(RECORD, service_code=KeyError)], False, "no service_code"),
    ("requests", [with_(RECORD, service_request_id=2611290000001)], False, "a numeric id"),
    ("requests", [with_(RECORD, requested_datetime="2026-11-29T09:00:00")], False, "a time without a zone"),
    ("requests", [with_(RECORD, requested_datetime="2026-02-30T09:00:00Z")], False, "a day that does not exist"),
    ("requests", [with_(RECORD, updated_datetime="yesterday")], False, "updated_datetime not a datetime"),
    ("requests", [with_(RECORD, expected_datetime="2026-12-01T17:30:00.5-05:00")], True, "fractions and offsets"),
    ("requests", [with_(RECORD, lat="28.25")], False, "lat as a string"),
    ("requests", [with_(RECORD, description="诉" * 4001)], False, "a description over 4000 characters"),
    ("requests", [with_(RECORD, description="诉" * 4000)], True, "a description of 4000 characters"),
    ("requests", [with_(RECORD, media_url="not a url")], False, "media_url that is no URI"),
    ("requests", [with_(RECORD, media_url="https://example.cn/p/1.jpg?x=%E8%AF%89")], True, "an escaped URI"),
    ("requests", [with_(RECORD, media_url="https://example.cn/a b.jpg")], False, "a URI with a space"),
    ("services", [SERVICE, with_(SERVICE, keywords=None, group=None)], True, "services, nulls where allowed"),
    ("services", [with_(SERVICE, metadata=KeyError)], False, "a service without metadata"),
    ("services", [with_(SERVICE, type="instant")], False, "a type outside the list"),
    ("services", [with_(SERVICE, service_name=None)], False, "service_name null"),
    ("service-definition", {"service_code": "LIGHT", "attributes": [ATTRIBUTE]}, True, "a definition"),
    ("service-definition", {"service_code": "LIGHT", "attributes": [with_(ATTRIBUTE, order=None)]}, True,
     "order null"),
    ("service-definition", {"service_code": "LIGHT", "attributes": [with_(ATTRIBUTE, datatype="bool")]}, False,
     "a datatype outside the list"),
    ("service-definition", {"service_code": "LIGHT", "attributes": [with_(ATTRIBUTE, values=[{"key": 123,
                                                                                               "name": "Ford"}])]},
     False, "a numeric value key"),
    ("service-definition", {"service_code": "LIGHT"}, False, "no attributes"),
    ("service-definition", [{"service_code": "LIGHT", "attributes": []}], False, "a list instead of an object"),
    ("token-response", [{"service_request_id": "2611290000001", "token": "2611290000001"}], True, "strings"),
    ("token-response", [{"service_request_id": 638344, "token": 12345}], False, "numbers"),
    ("errors", [{"code": 403, "description": "Invalid api_key received"}], True, "an error"),
    ("errors", [], False, "an empty error list"),
    ("errors", [{"code": "403", "description": "x"}], False, "code as a string"),
    ("errors", [{"code": 404}], False, "no description"),
    ("errors", {"error": {"code": "not_found", "message": "x"}}, False, "the native API's error shape"),
    ("discovery", DISCOVERY, True, "discovery"),
    ("discovery", with_(DISCOVERY, key_service=KeyError), False, "no key_service"),
    ("discovery", with_(DISCOVERY, changeset="recently"), False, "changeset not a datetime"),
    ("discovery", with_(DISCOVERY, endpoints=[]), False, "no endpoint"),
    ("discovery", with_(DISCOVERY, endpoints=[with_(DISCOVERY["endpoints"][0], type="staging")]), False,
     "an endpoint type outside production/test"),
    ("discovery", with_(DISCOVERY, endpoints=[with_(DISCOVERY["endpoints"][0], formats=["application/json"])]),
     False, "no text/xml"),
    ("request-updates", [UPDATE], True, "an update"),
    ("request-updates", [with_(UPDATE, status="assigned")], False, "a status outside the extended list"),
    ("request-updates", [with_(UPDATE, media_url=None)], False, "media_url null"),
    ("request-updates", [with_(UPDATE, note="x")], False, "a member the record does not have"),
]


def self_test():
    schemas = load_schemas()
    vals = validators(schemas)
    wrong = 0
    for schema, body, want, what in SELF_TEST:
        errs = errors_of(vals[schema], body)
        if (not errs) != want:
            wrong += 1
            print(f"open311_check self-test: {schema}: {what}: expected {'valid' if want else 'invalid'},"
                  f" got {'; '.join(errs) if errs else 'valid'}")
    covered = {s for s, _, _, _ in SELF_TEST}
    for name, s in schemas.items():
        if "x-gridgov-answers" in s and name not in covered:
            wrong += 1
            print(f"open311_check self-test: no case for {name}")

    # The folder check itself: it must fail on a bad body, on nothing, on a folder without a
    # schema, on bytes that are not strict JSON, and on an answer kind nobody tested.
    def run(files):
        with tempfile.TemporaryDirectory() as d:
            for rel, raw in files.items():
                p = pathlib.Path(d, rel)
                p.parent.mkdir(parents=True, exist_ok=True)
                p.write_bytes(raw)
            lines = []
            return check_dir(pathlib.Path(d), schemas, vals, out=lines.append), lines

    good = {}
    for schema, body, want, _ in SELF_TEST:
        if want and f"{schema}/0.json" not in good:
            good[f"{schema}/0.json"] = json.dumps(body, ensure_ascii=False).encode()
    dir_cases = [
        ("one good answer of each kind", good, 0),
        ("a POST answer with account_id null among them",
         {**good, "post-response/1.json": b'[{"service_request_id":"1","service_notice":"n","account_id":null}]'}, 1),
        ("nothing", {}, 1),
        ("a folder no schema names", {**good, "mystery/0.json": b"[]"}, 1),
        ("a member twice", {**good, "errors/1.json": b'[{"code":400,"code":400,"description":"x"}]'}, 1),
        ("NaN", {**good, "requests/1.json": json.dumps([with_(RECORD, lat=float("nan"))]).encode()}, 1),
        ("bytes that are not UTF-8", {**good, "errors/1.json": b'[{"code":400,"description":"\xff"}]'}, 1),
        ("a kind of answer with none to check",
         {k: v for k, v in good.items() if not k.startswith("token-response/")}, 1),
    ]
    for what, files, want in dir_cases:
        rc, lines = run(files)
        if rc != want:
            wrong += 1
            print(f"open311_check self-test: folder with {what}: expected exit {want}, got {rc}: {lines}")
    n = len(SELF_TEST) + len(dir_cases)
    print(f"open311_check self-test: {n} cases, {n - wrong} as expected, {wrong} not")
    return 1 if wrong else 0


def main(argv):
    if len(argv) != 2:
        print(__doc__)
        return 2
    if argv[1] == "--self-test":
        return self_test()
    schemas = load_schemas()
    return check_dir(argv[1], schemas, validators(schemas))


if __name__ == "__main__":
    sys.exit(main(sys.argv))
