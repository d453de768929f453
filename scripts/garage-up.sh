#!/usr/bin/env bash
# Starts a one-node Garage (S3-compatible object store) on loopback for the scale-out tests,
# with a bucket and a key, and prints the environment that enables those tests:
#
#   eval "$(scripts/garage-up.sh [DIR])"      # DIR defaults to a new temporary directory
#
# prints `export SCRIM_TEST_S3_URL=s3://scrim-test?endpoint=http://127.0.0.1:PORT&region=garage`,
# AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, and SCRIM_GARAGE_PID (kill it to stop Garage).
# Everything else goes to stderr. Needs `garage` on PATH (`cargo install --locked garage`,
# about 10 minutes on 2 cores). Ports: GARAGE_S3_PORT (default 39000), GARAGE_RPC_PORT (39001).
set -euo pipefail

dir=${1:-$(mktemp -d -t scrim-garage-XXXXXX)}
s3_port=${GARAGE_S3_PORT:-39000}
rpc_port=${GARAGE_RPC_PORT:-39001}
mkdir -p "$dir/meta" "$dir/data"
config=$dir/garage.toml
cat >"$config" <<TOML
metadata_dir = "$dir/meta"
data_dir = "$dir/data"
db_engine = "sqlite"
replication_factor = 1
rpc_bind_addr = "127.0.0.1:$rpc_port"
rpc_public_addr = "127.0.0.1:$rpc_port"
rpc_secret = "$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')"

[s3_api]
s3_region = "garage"
api_bind_addr = "127.0.0.1:$s3_port"
root_domain = ".s3.garage.localhost"
TOML

garage() { command garage -c "$config" "$@"; }

command garage -c "$config" server >"$dir/garage.log" 2>&1 &
pid=$!
# Readiness: `garage status` answers once the RPC layer is up (a failsafe bound of 60 tries).
node=""
for _ in $(seq 1 60); do
    if ! kill -0 "$pid" 2>/dev/null; then
        echo "garage exited; its log:" >&2
        cat "$dir/garage.log" >&2
        exit 1
    fi
    node=$(garage status 2>/dev/null | awk '/NO ROLE ASSIGNED|^[0-9a-f]{16}/ {print $1; exit}') || true
    [ -n "$node" ] && break
    sleep 1
done
if [ -z "$node" ]; then
    echo "garage did not answer; its log:" >&2
    cat "$dir/garage.log" >&2
    kill "$pid" 2>/dev/null || true
    exit 1
fi
{
    garage layout assign -z dc1 -c 1G "$node"
    garage layout apply --version 1
    garage bucket create scrim-test
    garage key create scrim-test-key
    garage bucket allow --read --write --owner scrim-test --key scrim-test-key
} >"$dir/setup.log" 2>&1 || {
    echo "garage setup failed:" >&2
    cat "$dir/setup.log" >&2
    kill "$pid" 2>/dev/null || true
    exit 1
}
key_id=$(awk '/Key ID:/ {print $3; exit}' "$dir/setup.log")
secret=$(awk '/Secret key:/ {print $3; exit}' "$dir/setup.log")
if [ -z "$key_id" ] || [ -z "$secret" ]; then
    echo "could not read the key from garage's output:" >&2
    cat "$dir/setup.log" >&2
    kill "$pid" 2>/dev/null || true
    exit 1
fi
echo "garage: S3 on 127.0.0.1:$s3_port, bucket scrim-test, state in $dir" >&2
echo "export SCRIM_TEST_S3_URL='s3://scrim-test?endpoint=http://127.0.0.1:$s3_port&region=garage'"
echo "export AWS_ACCESS_KEY_ID='$key_id'"
echo "export AWS_SECRET_ACCESS_KEY='$secret'"
echo "export SCRIM_GARAGE_PID=$pid"
