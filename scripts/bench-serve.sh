#!/usr/bin/env bash
# `scrim serve` ingest on one core: a loopback OTLP/HTTP load generator sends pre-encoded
# 512-span trace requests, with a tenant's ingest key, to a server pinned to one core.
# Each acknowledgement means: key checked, capture policy applied, the request sealed in
# the tenant's WAL and fsynced (group commit). The server's flusher writes encrypted
# Parquet segments meanwhile. Not a test; figures go in BENCHMARKS.md.
#
#   scripts/bench-serve.sh [SECONDS] [CONNECTIONS]
#
# Reports, over the measured window (after the warm-up):
#   acknowledged spans/s (wall clock), the server's CPU seconds (utime + stime of all its
#   threads, /proc/<pid>/stat) and spans per CPU second (the figure least disturbed by
#   other load on a shared core), peak RSS (VmHWM);
# then, after SIGTERM (the server flushes what it buffered and exits):
#   bytes on disk per span: all of <data-dir>/segments divided by every span acknowledged
#   (warm-up included), and the catalog's row count as a check; the WAL's size right
#   before shutdown and its peak during the run (sampled every second).
#
# Environment: CORE (server, default 1), LOAD_CORE (load generator, default 0), WARMUP
# (seconds, default 3), REQUESTS (different requests cycled, default 16; more means fewer
# repeated trace and span ids, which matters for bytes on disk), SPANS (per request,
# default 512), SCRIM=path (another scrim binary), KEEP=1 (keep the data directory).
#
# Builds nothing. Build first:
#   cargo build --release -p scrim --bin scrim -p scrim-agent --example otlp_load
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

seconds=${1:-20}
connections=${2:-8}
core=${CORE:-1}
load_core=${LOAD_CORE:-0}
warmup=${WARMUP:-3}
requests=${REQUESTS:-16}
spans=${SPANS:-512}
bin=${CARGO_TARGET_DIR:-target}/release
scrim=${SCRIM:-$bin/scrim}
load=$bin/examples/otlp_load
for b in "$scrim" "$load"; do
    [ -x "$b" ] || {
        echo "$b is missing: cargo build --release -p scrim --bin scrim -p scrim-agent --example otlp_load" >&2
        exit 2
    }
done

work=$(mktemp -d "${TMPDIR:-/tmp}/scrim-bench-serve.XXXXXX")
data=$work/data
server=""
sampler=""
cleanup() {
    [ -n "$sampler" ] && kill "$sampler" 2>/dev/null
    [ -n "$server" ] && kill "$server" 2>/dev/null
    wait 2>/dev/null || true
    if [ "${KEEP:-0}" = 1 ]; then echo "kept $work" >&2; else rm -rf "$work"; fi
}
trap cleanup EXIT

"$scrim" tenant create bench --data-dir "$data" >/dev/null
key=$("$scrim" apikey create --tenant bench --scopes ingest --data-dir "$data" | tail -n 1)

taskset -c "$core" "$scrim" serve --data-dir "$data" --http 127.0.0.1:0 \
    --otlp-grpc 127.0.0.1:0 --otlp-http 127.0.0.1:0 2>"$work/serve.log" &
server=$!
for _ in $(seq 1 200); do
    grep -q '^scrim serve: API' "$work/serve.log" && break
    kill -0 "$server" 2>/dev/null || { cat "$work/serve.log" >&2; exit 1; }
    sleep 0.05
done
# scrim serve: API http://A, OTLP/gRPC B, OTLP/HTTP C
http_addr=$(sed -n 's/^scrim serve: API .*OTLP\/HTTP \(.*\)$/\1/p' "$work/serve.log")
[ -n "$http_addr" ] || { echo "no readiness line" >&2; cat "$work/serve.log" >&2; exit 1; }

ticks=$(getconf CLK_TCK)
cpu_ticks() { awk '{sub(/^.*\) /, ""); print $12 + $13}' "/proc/$server/stat"; }
bytes() { du -sb "$1" 2>/dev/null | awk '{print $1}'; }

taskset -c "$load_core" "$load" --target "$http_addr" --connections "$connections" \
    --spans "$spans" --requests "$requests" --seconds "$seconds" --warmup "$warmup" \
    --header "authorization:Bearer $key" >"$work/load.out" 2>"$work/load.err" &
loader=$!
# The generator prints its first line once the requests are encoded, just before it
# connects and starts its warm-up clock: the window here starts WARMUP seconds later.
until grep -qs '^load: ' "$work/load.err"; do
    kill -0 "$loader" 2>/dev/null || { cat "$work/load.err" >&2; exit 1; }
    sleep 0.01
done
(
    set +e
    peak=0
    while :; do
        n=$(bytes "$data/wal")
        [ "${n:-0}" -gt "$peak" ] && peak=$n && echo "$peak" >"$work/wal.peak"
        sleep 1
    done
) &
sampler=$!
sleep "$warmup"
c0=$(cpu_ticks)
sleep "$seconds"
c1=$(cpu_ticks)
wait "$loader"
kill "$sampler" 2>/dev/null || true
wait "$sampler" 2>/dev/null || true
sampler=""
result=$(cat "$work/load.out")
measured=$(echo "$result" | sed -n 's/.* spans=\([0-9]*\).*/\1/p')
total=$(sed -n 's/^load: \([0-9]*\) spans acknowledged in all.*/\1/p' "$work/load.err")
hwm=$(awk '/VmHWM/ {print $2 " " $3}' "/proc/$server/status")
wal_now=$(bytes "$data/wal")
wal_peak=$(cat "$work/wal.peak" 2>/dev/null || echo 0)
run_ticks=$(cpu_ticks)

# SIGTERM: the server stops accepting, flushes what is buffered, and exits.
t0=$(date +%s.%N)
kill -TERM "$server"
wait "$server" || true
t1=$(date +%s.%N)
server=""
segments=$(bytes "$data/segments")
files=$(find "$data/segments" -type f | wc -l)
rows=""
if command -v sqlite3 >/dev/null; then
    rows=$(sqlite3 -readonly "$data/meta.db" \
        "SELECT COALESCE(SUM(row_count), 0) FROM segments WHERE signal = 'traces'" 2>/dev/null || true)
fi

awk -v r="$result" -v m="$measured" -v tot="$total" -v c0="$c0" -v c1="$c1" -v t="$ticks" \
    -v hwm="$hwm" -v seg="$segments" -v files="$files" -v rows="$rows" -v waln="$wal_now" \
    -v walp="$wal_peak" -v stop="$(awk -v a="$t0" -v b="$t1" 'BEGIN {printf "%.1f", b - a}')" \
    -v req="$requests" -v core="$core" -v lc="$load_core" 'BEGIN {
    cpu = (c1 - c0) / t
    printf "serve: %s\n", r
    printf "  window: server cpu=%.2fs spans_per_cpu_second=%.0f peak_rss=%s (server on core %d, load on core %d)\n", cpu, m / cpu, hwm, core, lc
    printf "  disk: %d spans acknowledged in all (warm-up included; %d different requests cycled)\n", tot, req
    printf "        segments=%d bytes in %d files, %.1f bytes/span; catalog rows=%s; shutdown (final flush) %ss\n", seg, files, seg / tot, rows, stop
    printf "        WAL before shutdown=%d bytes, peak during the run=%d bytes\n", waln, walp
}'
