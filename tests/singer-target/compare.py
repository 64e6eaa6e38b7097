"""make test-singer: compares what target-jsonl loaded with what ingest
reported. In WORK: out/summary.json and state.json (ingest's), messages.jsonl
(ingest's stdout), loaded/<stream>.jsonl (target-jsonl's rows) and
target-state.jsonl (the STATE target-jsonl echoed). Exits 1 on any mismatch,
saying which."""

import json
import sys
from decimal import Decimal
from pathlib import Path


def lines(path):
    with open(path, encoding="utf-8") as f:
        return [json.loads(line, parse_float=Decimal) for line in f if line.strip()]


def main(work):
    work = Path(work)
    summary = json.loads((work / "out" / "summary.json").read_text())
    state_file = json.loads((work / "state.json").read_text())
    messages = lines(work / "messages.jsonl")
    echoed = lines(work / "target-state.jsonl")
    problems = []

    sent = {}
    for m in messages:
        if m["type"] == "RECORD":
            sent.setdefault(m["stream"], []).append(m["record"])
    states = [m["value"] for m in messages if m["type"] == "STATE"]

    if summary["status"] != "complete":
        problems.append(f"the run ended {summary['status']}, not complete")
    for key in ("items", "records", "invalid", "duplicates"):
        if key not in summary["totals"]:
            problems.append(f"the summary has no totals.{key}")
    print(f"{'stream':8} {'summary':>8} {'sent':>6} {'loaded':>7}")
    for name, source in sorted(summary["sources"].items()):
        path = work / "loaded" / f"{name}.jsonl"
        loaded = lines(path) if path.exists() else []
        want = source["records"]
        records = sent.get(name, [])
        print(f"{name:8} {want:>8} {len(records):>6} {len(loaded):>7}")
        if source["items"] != source["records"] + source["invalid"] + source["duplicates"]:
            problems.append(f"{name}: items != records + invalid + duplicates")
        if len(loaded) != want:
            problems.append(f"{name}: target-jsonl loaded {len(loaded)} rows, the summary says {want} records")
        if len(records) != want:
            problems.append(f"{name}: {len(records)} RECORD messages, the summary says {want} records")
        keys = [r["key"] for r in loaded]
        if len(set(keys)) != len(keys):
            problems.append(f"{name}: a key loaded twice")
        by_key = {r["key"]: r for r in records}
        differ = [r["key"] for r in loaded if by_key.get(r["key"]) != r]
        if differ:
            problems.append(f"{name}: {len(differ)} loaded rows differ from the RECORDs sent, e.g. {differ[0]}")
    if not states:
        problems.append("no STATE message")
    elif states[-1] != state_file:
        problems.append("the last STATE is not the state file")
    if not echoed:
        problems.append("target-jsonl echoed no STATE")
    elif echoed[-1] != state_file:
        problems.append("the STATE target-jsonl echoed is not ingest's state file")

    if problems:
        for p in problems:
            print(f"mismatch: {p}", file=sys.stderr)
        return 1
    total = summary["totals"]["records"]
    print(f"test-singer: ok: target-jsonl loaded {total} rows in {len(summary['sources'])} streams, "
          "as the summary says; its echoed STATE is ingest's state file")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1]))
