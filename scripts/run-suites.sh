#!/usr/bin/env bash
# Run the two passes of the test suite side by side: SQLite + local disk (with the Chromium
# journeys) and PostgreSQL + S3 (moto server). Each pass is one mostly single-threaded pytest
# process, so on a 2-core machine running them together roughly halves the wall time of
# `make test`. Each pass gets its own --basetemp (pytest would otherwise share and prune
# /tmp/pytest-of-$USER between the two runs); every server they start takes a free port.
# The output of each pass is streamed with a prefix and the script fails when either fails.
set -uo pipefail
cd "$(dirname "$0")/.."
BIN=${BIN:-.venv/bin}
TMP=${HOCSO_SUITE_TMP:-var/suites}
rm -rf "$TMP"
mkdir -p "$TMP"

run_pass() {  # name, then the command
    local name=$1
    shift
    local start=$SECONDS
    "$@" > >(sed -u "s/^/[$name] /") 2>&1
    local rc=$?
    echo "[$name] finished with exit code $rc in $((SECONDS - start)) s"
    return $rc
}

run_pass sqlite env HOCSO_TEST_DB=sqlite \
    "$BIN/pytest" -q --basetemp="$TMP/sqlite" &
sqlite_pid=$!
run_pass postgresql env HOCSO_TEST_DB=postgresql HOCSO_TEST_STORAGE=s3 \
    "$BIN/pytest" -q -m "not e2e" -p no:logging --basetemp="$TMP/postgresql" &
pg_pid=$!

status=0
wait "$sqlite_pid" || status=1
wait "$pg_pid" || status=1
rm -rf "$TMP"
exit $status
