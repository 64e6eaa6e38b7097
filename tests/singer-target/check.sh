#!/usr/bin/env bash
# `make test-singer`: a real Singer target loads what `ingest run --format
# singer` writes. A virtualenv under the cargo target directory gets
# target-jsonl 0.1.4 from PyPI (once; it is reused like any build output
# and goes with `make clean`); the built-in demo run is piped into it, and
# compare.py checks the rows it loaded against the run's summary, the
# messages and the state. Everything else lives in a temporary directory,
# removed on exit. Not part of `make test`: CI needs no Python packages.
#
# Usage: check.sh TARGET_DIR   (the binary is TARGET_DIR/debug/ingest)
set -euo pipefail

target_dir=${1:-target}
here=$(cd "$(dirname "$0")" && pwd)
bin="$target_dir/debug/ingest"
venv="$target_dir/singer-venv"
python=${PYTHON:-python3}

fail() {
    echo "test-singer: FAILED: $*" >&2
    exit 1
}

[ -x "$bin" ] || fail "no binary at $bin (make test-singer builds it)"
command -v "$python" >/dev/null || fail "needs $python (set PYTHON=...)"

if [ ! -x "$venv/bin/target-jsonl" ]; then
    echo "test-singer: creating $venv with target-jsonl 0.1.4 from PyPI"
    rm -rf "$venv"
    "$python" -m venv "$venv" || fail "cannot create a virtualenv with $python"
    "$venv/bin/pip" install --quiet --disable-pip-version-check 'target-jsonl==0.1.4' ||
        { rm -rf "$venv"; fail "cannot install target-jsonl 0.1.4"; }
fi

work=$(mktemp -d "${TMPDIR:-/tmp}/ingest-test-singer.XXXXXX")
trap 'rm -rf "$work"' EXIT

"$venv/bin/python" -c 'import json, sys; json.dump({"destination_path": sys.argv[1], "do_timestamp_file": False}, open(sys.argv[2], "w"))' \
    "$work/loaded" "$work/target.json"

echo "test-singer: ingest run --format singer (the demo) | target-jsonl --config target.json"
status=0
"$bin" run --format singer --no-progress --out "$work/out" --state "$work/state.json" --state-write \
        2>"$work/ingest.log" |
    tee "$work/messages.jsonl" |
    "$venv/bin/target-jsonl" --config "$work/target.json" \
        >"$work/target-state.jsonl" 2>"$work/target.log" ||
    status=$?
if [ "$status" -ne 0 ]; then
    echo "--- ingest's log (last 20 lines)" >&2
    tail -n 20 "$work/ingest.log" >&2
    echo "--- target-jsonl's log (last 20 lines)" >&2
    tail -n 20 "$work/target.log" >&2
    fail "the pipe exited $status"
fi

"$venv/bin/python" "$here/compare.py" "$work" || fail "what target-jsonl loaded is not what ingest reported"
