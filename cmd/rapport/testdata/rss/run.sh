#!/bin/bash
# The memory drill of issue 13: rapport serve on a fresh Badger dir, 16
# clients sending 10,000-event batches for 30 s on loopback, the server's
# RSS sampled (idle, peak, growth) and heap profiles saved at the peak.
#   cmd/rapport/testdata/rss/run.sh bin/rapport [serve flags…]
# BYTES=4150000 sends 4 MiB bodies (the default --max-body); 0 sends ~15.7 MiB.
set -euo pipefail
bin=$(realpath "$1"); shift
here=$(cd "$(dirname "$0")" && pwd)
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
(cd "$here" && go build -o "$work/rss" .)
key=$("$bin" keys create --data "$work/data" --role ingest --name rss | tail -n 1)
"$bin" serve --data "$work/data" --addr 127.0.0.1:18731 --pprof 127.0.0.1:18732 --merge-schedule off --train-schedule off \
  --erasure-schedule off --retention-schedule off --log-level warn "$@" >/dev/null 2>"$work/server.log" &
pid=$!
sleep 3
"$work/rss" -url http://127.0.0.1:18731 -key "$key" -pid "$pid" -duration "${DURATION:-30s}" -bytes "${BYTES:-4150000}" \
  -pprof http://127.0.0.1:18732 -out "${OUT:-$work/}"
kill -TERM "$pid"; wait "$pid" || true
