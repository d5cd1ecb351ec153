#!/usr/bin/env python3
"""The contract check: every event the code has written to bus.outbox during the test run (and
every event type it can emit) validates against its JSON Schema in proto/. Fails when an event
type has no schema, when an envelope or its data does not validate, or when there are no events
to check at all. Usage: proto_check.py CONNINFO"""
import json
import pathlib
import subprocess
import sys

from jsonschema import Draft202012Validator, FormatChecker

top = pathlib.Path(__file__).resolve().parent.parent
proto = top / "proto"


def load(name):
    schema = json.loads((proto / name).read_text(encoding="utf-8"))
    Draft202012Validator.check_schema(schema)
    return Draft202012Validator(schema, format_checker=FormatChecker())


def main():
    conninfo = sys.argv[1]
    envelope = load("envelope.schema.json")
    by_type = {}
    for p in sorted(proto.glob("*.schema.json")):
        if p.name == "envelope.schema.json":
            continue
        validator = load(p.name)
        # one schema may serve several event types of the same shape
        for t in validator.schema.get("x-gridgov-types", [p.name[: -len(".schema.json")]]):
            by_type[t] = validator
    # source 'test': malformed events a test injected on purpose (bad input for consumers)
    out = subprocess.run(["psql", "-XAtq", conninfo, "-c",
                          "SELECT envelope::text FROM bus.envelope WHERE source <> 'test' ORDER BY seq"],
                         check=True, capture_output=True, text=True).stdout
    events = [json.loads(line) for line in out.splitlines() if line.strip()]
    if not events:
        print("proto_check: no events in bus.outbox to check")
        return 1
    bad = 0
    seen = {}
    for ev in events:
        errs = [e.message for e in envelope.iter_errors(ev)]
        v = by_type.get(ev.get("type"))
        if v is None:
            errs.append(f"no schema proto/{ev.get('type')}.schema.json")
        else:
            errs += [f"data: {e.json_path}: {e.message}" for e in v.iter_errors(ev.get("data"))]
        seen[ev.get("type")] = seen.get(ev.get("type"), 0) + 1
        if errs:
            bad += 1
            if bad <= 10:
                print(f"proto_check: event {ev.get('id')} ({ev.get('type')}): " + "; ".join(errs))
    print(f"proto_check: {len(events)} events checked ({', '.join(f'{k}: {n}' for k, n in seen.items())}), {bad} invalid")
    return 1 if bad else 0


if __name__ == "__main__":
    sys.exit(main())
