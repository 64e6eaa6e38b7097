#!/usr/bin/env bash
# `make test-meltano`: the README's "In Meltano" section, run as written
# by a real Meltano. A virtualenv under the cargo target directory gets
# meltano from PyPI (once; reused like any build output, gone with `make
# clean`); a Meltano project is made in a temporary directory with the
# README's meltano.yml plugins block, `ingest` and its `tap-ingest` link on
# PATH, and an ingest.json of one incremental source served by server.py.
# Then: discover and select (`meltano select --list --all`), a first run
# that loads every issue, a second run after three issues changed that
# loads only those (and the ones at the bookmark's instant, re-sent on
# purpose), and the state Meltano stored. Not part of `make test`.
#
# Usage: check.sh TARGET_DIR   (the binary is TARGET_DIR/debug/ingest)
set -euo pipefail

target_dir=$(cd "${1:-target}" && pwd)
here=$(cd "$(dirname "$0")" && pwd)
readme="$here/../../README.md"
bin="$target_dir/debug/ingest"
venv="$target_dir/meltano-venv"
python=${PYTHON:-python3}

fail() {
    echo "test-meltano: FAILED: $*" >&2
    # The logs the message names, for whoever reads CI's output.
    for log in "${work:-/nonexistent}"/*.log; do
        [ -f "$log" ] || continue
        echo "--- $(basename "$log") (last 15 lines)" >&2
        tail -n 15 "$log" >&2
    done
    exit 1
}

[ -x "$bin" ] || fail "no binary at $bin (make test-meltano builds it)"
command -v "$python" >/dev/null || fail "needs $python (set PYTHON=...)"

if [ ! -x "$venv/bin/meltano" ]; then
    echo "test-meltano: creating $venv with meltano 4.4.1 from PyPI"
    rm -rf "$venv"
    "$python" -m venv "$venv" || fail "cannot create a virtualenv with $python"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'meltano==4.4.1' ||
        { rm -rf "$venv"; fail "cannot install meltano 4.4.1"; }
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ingest-test-meltano.XXXXXX")
server_pid=
cleanup() {
    [ -n "$server_pid" ] && kill "$server_pid" 2>/dev/null || true
    rm -rf "$work"
}
trap cleanup EXIT

# ingest and its second name, on PATH (README step 1).
mkdir "$work/bin"
ln -s "$bin" "$work/bin/ingest"
ln -s "$bin" "$work/bin/tap-ingest"
export PATH="$work/bin:$venv/bin:$PATH"
tap-ingest --about >/dev/null || fail "tap-ingest --about"

"$python" "$here/server.py" "$work/port" "$work/second-generation" &
server_pid=$!
for _ in $(seq 50); do [ -s "$work/port" ] && break; sleep 0.1; done
[ -s "$work/port" ] || fail "the issue server did not start"
port=$(cat "$work/port")

cd "$work"
meltano init proj --no_usage_stats >meltano-init.log 2>&1 || fail "meltano init"
cd proj
# README step 2: its meltano.yml plugins block, as written.
"$venv/bin/python" - "$readme" meltano.yml <<'PY'
import sys, yaml
text = open(sys.argv[1]).read()
section = text[text.index("### In Meltano"):]
block = section[section.index("```yaml\n") + len("```yaml\n"):]
block = yaml.safe_load(block[:block.index("```")])
project = yaml.safe_load(open(sys.argv[2]))
project["plugins"] = block["plugins"]
# The extractor as written; the loader as a custom plugin, which needs no
# Meltano Hub (a machine that reaches only PyPI cannot look variants up).
project["plugins"]["loaders"] = [{
    "name": "target-jsonl", "namespace": "target_jsonl",
    "pip_url": "target-jsonl==0.1.4", "executable": "target-jsonl",
    "config": {"destination_path": "output", "do_timestamp_file": False},
}]
yaml.safe_dump(project, open(sys.argv[2], "w"), sort_keys=False)
PY
cat >ingest.json <<JSON
{ "sources": [ { "name": "gh", "url": "http://127.0.0.1:$port/issues",
    "incremental": { "field": "updated_at", "param": "since" },
    "record": { "id": "id", "fields": { "number": { "path": "number", "type": "integer" },
      "title": "title", "labels": { "path": "labels", "type": "json" },
      "updated_at": { "path": "updated_at", "type": "timestamp" } } } } ] }
JSON
meltano install >../install.log 2>&1 || fail "meltano install "

# README step 3: the catalog, from a subdirectory of the project.
(cd extract && meltano select tap-ingest --list --all) >../select.log 2>&1 ||
    fail "meltano select --list "
grep -q 'gh.updated_at' ../select.log || fail "the catalog has no gh.updated_at: $(cat ../select.log)"

rows() { cat output/gh.jsonl 2>/dev/null | wc -l; }

# README step 4, twice.
meltano run tap-ingest target-jsonl >../run1.log 2>&1 || fail "first meltano run "
first=$(rows)
[ "$first" -eq 30 ] || fail "the first run loaded $first rows, not the 30 issues"
touch "$work/second-generation"
meltano run tap-ingest target-jsonl >../run2.log 2>&1 || fail "second meltano run "
second=$(($(rows) - first))
# The 3 changed issues, and the one at the bookmark's instant (re-sent).
[ "$second" -eq 4 ] || fail "the second run loaded $second rows, not 3 changed + 1 at the bookmark"
state=$(meltano state get dev:tap-ingest-to-target-jsonl 2>/dev/null)
echo "$state" | grep -qE '"bookmark": ?"2026-11-01T09:20:00Z"' ||
    fail "the stored state does not hold the new bookmark: $state"
echo "test-meltano: ok: a real Meltano discovered, selected and ran ingest tap twice: 30 rows, then 4 (3 changed, 1 at the bookmark), state bookmark 2026-11-01T09:20:00Z"
