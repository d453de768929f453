#!/usr/bin/env bash
# Whole-collector throughput on one core: a loopback OTLP/HTTP load generator sends
# pre-encoded 512-span trace requests to a collector pinned to one core, which forwards to
# a blackhole upstream. Prints spans/s acknowledged, spans/s forwarded to the blackhole,
# the collector's peak RSS (VmHWM), and the CPU time it used (spans forwarded per CPU
# second: the figure that the other load on a shared core disturbs least).
# Not a test; figures go in BENCHMARKS.md.
#
#   scripts/bench-agent.sh TARGET [SECONDS] [CONNECTIONS]
#
# TARGET:
#   scrim            scrim agent, default policy, --mode cloud, gzip upstream (its default)
#   scrim-nogzip     the same with --gzip false
#   scrim-grpc       scrim, with the load sent over OTLP/gRPC (same requests, uncompressed)
#   rotel-blackhole  Rotel (pip install rotel) with its built-in blackhole exporter
#   rotel-otlp       Rotel forwarding over OTLP/HTTP to the same blackhole as Scrim
#
# Cores: the collector runs on CORE (default 1) with `taskset`; the load generator and the
# blackhole share LOAD_CORE (default 0). SCRIM=path runs another scrim binary (to compare
# builds back to back). Build first:
#   cargo build --release -p scrim --bin scrim -p scrim-agent --example otlp_load
set -euo pipefail
# PRIORITY=-10 runs the benchmark (collector, load generator, blackhole) in a session of
# its own whose scheduling group has that nice value (root only; with autogroup
# scheduling, nice between sessions is set per group, not per process), so that other
# work on a shared machine takes less of their cores. Default 0: as before.
priority=${PRIORITY:-0}
if [ "$priority" != 0 ] && [ -z "${BENCH_AGENT_SESSION:-}" ]; then
    exec env BENCH_AGENT_SESSION=1 setsid -w "$0" "$@"
fi
if [ "$priority" != 0 ]; then
    if [ -w /proc/self/autogroup ]; then
        echo "$priority" >/proc/self/autogroup
    fi
    renice -n "$priority" -p $$ >/dev/null
fi
cd "$(dirname "${BASH_SOURCE[0]}")/.."

target=${1:?usage: scripts/bench-agent.sh TARGET [SECONDS] [CONNECTIONS]}
seconds=${2:-20}
connections=${3:-8}
core=${CORE:-1}
load_core=${LOAD_CORE:-0}
bin=${CARGO_TARGET_DIR:-target}/release
scrim=${SCRIM:-$bin/scrim}
load=${LOAD:-$bin/examples/otlp_load}
rotel=${ROTEL:-$(python3 -c 'import os, rotel; print(os.path.join(os.path.dirname(rotel.__file__), "rotel-agent"))' 2>/dev/null || true)}

blackhole_addr=127.0.0.1:14318
http_addr=127.0.0.1:24318
grpc_addr=127.0.0.1:24317
metrics_addr=127.0.0.1:29464
data=$(mktemp -d)
pids=()
cleanup() {
    for p in "${pids[@]}"; do kill "$p" 2>/dev/null || true; done
    wait 2>/dev/null || true
    rm -rf "$data"
}
trap cleanup EXIT

wait_port() { # until something accepts on $1 (a benchmark script, not a test: polling is fine)
    for _ in $(seq 1 200); do
        (exec 3<>"/dev/tcp/${1%:*}/${1#*:}") 2>/dev/null && return 0
        sleep 0.05
    done
    echo "nothing listens on $1" >&2
    exit 1
}

taskset -c "$load_core" "$load" --blackhole "$blackhole_addr" 2>/dev/null &
pids+=($!)
wait_port "$blackhole_addr"

case "$target" in
scrim | scrim-nogzip | scrim-grpc)
    extra=()
    [ "$target" = scrim-nogzip ] && extra=(--gzip false)
    taskset -c "$core" "$scrim" agent --upstream "http://$blackhole_addr" --allow-http-fallback \
        --mode cloud --otlp-http "$http_addr" --otlp-grpc "$grpc_addr" --metrics "$metrics_addr" \
        --data-dir "$data" "${extra[@]}" 2>"$data/collector.log" &
    ;;
rotel-blackhole)
    taskset -c "$core" "$rotel" start --otlp-http-endpoint "$http_addr" --otlp-grpc-endpoint "$grpc_addr" \
        --exporter blackhole --pid-file "$data/rotel.pid" --log-file "$data/rotel.log" 2>"$data/collector.log" &
    ;;
rotel-otlp)
    taskset -c "$core" "$rotel" start --otlp-http-endpoint "$http_addr" --otlp-grpc-endpoint "$grpc_addr" \
        --exporter otlp --otlp-exporter-endpoint "http://$blackhole_addr" --otlp-exporter-protocol http \
        --pid-file "$data/rotel.pid" --log-file "$data/rotel.log" 2>"$data/collector.log" &
    ;;
*)
    echo "unknown target $target" >&2
    exit 2
    ;;
esac
collector=$!
pids+=("$collector")
wait_port "$http_addr"

count() { curl -s "http://$blackhole_addr/count" | awk '{print $2}'; }
started=$(date +%s.%N)
load_args=(--target "$http_addr")
[ "$target" = scrim-grpc ] && load_args=(--target "$grpc_addr" --grpc)
taskset -c "$load_core" "$load" "${load_args[@]}" --connections "$connections" --seconds "$seconds" >"$data/load.out" &
load_pid=$!
pids+=("$load_pid")
# Where the wall time went, from the start of the load to the last span forwarded: how
# much of it each process ran, and how long its threads were runnable but waited for a
# CPU (other work on the same core). A collector that ran well under 100% while it
# hardly waited for the CPU was waiting on something else (the load, the upstream, I/O).
python3 scripts/sched-share.py collector="$collector" blackhole="${pids[0]}" load="$load_pid" >"$data/share.out" &
share_pid=$!
wait "$load_pid"
result=$(cat "$data/load.out")
drained=""
if [ "$target" != rotel-blackhole ]; then
    # What reached the blackhole: a collector may acknowledge faster than it forwards
    # (Scrim keeps the backlog on disk, Rotel in memory). Wait until the blackhole's count
    # stops growing (2 s without a change, at most 120 s); the sustained rate is the spans
    # forwarded divided by the time from the start of the load to the last one.
    last=$(count) last_change=$(date +%s.%N) still=0
    for _ in $(seq 1 240); do
        sleep 0.5
        now=$(count)
        if [ "$now" != "$last" ]; then last=$now last_change=$(date +%s.%N) still=0; else still=$((still + 1)); fi
        [ "$still" -ge 4 ] && break
    done
    drained=$(awk -v n="$last" -v a="$started" -v b="$last_change" \
        'BEGIN {printf " forwarded=%d forwarded_spans_per_sec=%.0f (%.1fs from the start of the load to the last span forwarded)", n, n / (b - a), b - a}')
fi
kill -TERM "$share_pid"
wait "$share_pid" || true
share=$(cat "$data/share.out")
hwm=$(awk '/VmHWM/ {print $2 " " $3}' "/proc/$collector/status")
# CPU the collector used (user + system, all its threads, whole run): on a shared core the
# wall-clock rates move with the other load; CPU per span moves much less.
ticks=$(getconf CLK_TCK)
cpu=$(awk -v t="$ticks" '{sub(/^.*\) /, ""); printf "%.2f", ($12 + $13) / t}' "/proc/$collector/stat")
spans_done=${last:-$(echo "$result" | sed -n 's/.* spans=\([0-9]*\).*/\1/p')}
per_cpu=$(awk -v n="$spans_done" -v c="$cpu" 'BEGIN {printf "%.0f", n / c}')
echo "$target: $result$drained peak_rss=$hwm cpu=${cpu}s spans_per_cpu_second=$per_cpu (collector on core $core, load on core $load_core)"
echo "  time shares: $share; load average $(cut -d' ' -f1-3 /proc/loadavg)"
