#!/usr/bin/env bash
# One release build of everything the storage and serve benchmarks run, in one cargo
# invocation so that features unify once and DataFusion is compiled once:
#   target/release/scrim, target/release/examples/otlp_load (scripts/bench-serve.sh) and
#   the scrim-store `query` criterion bench (run: scripts/build-bench.sh --run-query [ARGS]).
#
# DataFusion's crates and sqlparser (the query planner and executor) are built at
# opt-level 1 without debug info: a full opt-level 3 build of them takes about 50 minutes
# on a 2-core machine. Everything on the ingest path (Arrow, Parquet, prost, redaction,
# crypto) and Parquet reading stay at opt-level 3, so ingest figures are unaffected and
# query figures are, if anything, pessimistic.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

cfg=()
for p in $(sed -n 's/^name = "\(datafusion[a-z0-9-]*\)"$/\1/p' Cargo.lock) sqlparser; do
    cfg+=(--config "profile.release.package.$p.opt-level=1" --config "profile.release.package.$p.debug=0")
done
cargo build --release "${cfg[@]}" -p scrim --bin scrim -p scrim-agent --example otlp_load \
    -p scrim-store --bench query

if [ "${1:-}" = "--run-query" ]; then
    shift
    dir=${CARGO_TARGET_DIR:-target}/release/deps
    # The newest query bench binary (older builds leave theirs behind).
    bench=$(ls -t "$dir"/query-* | grep -v '\.d$' | head -n 1)
    exec "$bench" --bench "$@"
fi
