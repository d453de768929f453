#!/usr/bin/env bash
# Fuzz scrim-redact with cargo-fuzz (libFuzzer + AddressSanitizer).
#
#   scripts/fuzz.sh [SECONDS] [TARGET...]    default: 60 seconds for each of all targets
#
# Targets (fuzz/fuzz_targets/): sql_obfuscate (no panic, and obfuscation is idempotent),
# nosql (Redis, Memcached and JSON-query scrubbing never panic), json_body (JSON body
# redaction: no panic, idempotent, valid JSON stays valid, no value under a sensitive key
# survives) and url (URL, query, path and IP redaction: no panic, idempotent, no query
# value of an absolute URL survives unless allow-listed; checks in fuzz/checks/url.rs), and
# wire_traces (scrim-otlp's wire-format trace redactor against the decoded path: no panic,
# equal results and errors).
#
# cargo-fuzz passes nightly-only flags to rustc (-Zsanitizer=address and friends). The
# project has only the stable toolchain, which accepts them with RUSTC_BOOTSTRAP=1; this
# script sets it for the fuzz build alone. The command it runs, for one target:
#
#   RUSTC_BOOTSTRAP=1 cargo fuzz run sql_obfuscate fuzz/corpus/sql_obfuscate -- -max_total_time=600
#
# Install cargo-fuzz once with `cargo install --locked cargo-fuzz` (about a minute).
# A crash stops the run and is written to fuzz/artifacts/<target>/; replay it with
#   RUSTC_BOOTSTRAP=1 cargo fuzz run <target> fuzz/artifacts/<target>/crash-…
# and keep it as fuzz/regressions/<target>-<what>.bin (see fuzz/regressions/README.md);
# `cargo test` replays the sql_obfuscate and url ones (crates/scrim-redact/tests/fuzz_regressions.rs).
# When CARGO_TARGET_DIR is set, the fuzz build goes to $CARGO_TARGET_DIR/fuzz.
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."
seconds="${1:-60}"
shift || true
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(sql_obfuscate nosql json_body url wire_traces)

if ! cargo fuzz --version >/dev/null 2>&1; then
    echo "cargo-fuzz is not installed: cargo install --locked cargo-fuzz" >&2
    exit 1
fi
target_dir=()
[ -z "${CARGO_TARGET_DIR:-}" ] || target_dir=(--target-dir "$CARGO_TARGET_DIR/fuzz")

# Seed corpora: the peer corpora beside the checkout, when present, and a few commands.
# An input's first byte picks the dialect (index into Dialect::ALL: generic, postgresql,
# mysql, mssql, oracle, sqlite, snowflake), the second flips options (0 = defaults).
seed_sql() {
    local dir=fuzz/corpus/sql_obfuscate peers=../shared/corpora
    mkdir -p "$dir"
    [ -z "$(ls -A "$dir")" ] || return 0
    for f in "$peers"/sql-bench/*.sql; do
        [ -f "$f" ] || continue
        { printf '\000\000'; cat "$f"; } >"$dir/bench-$(basename "$f" .sql)"
    done
    if [ -d "$peers/go-sqllexer/testdata" ] && command -v python3 >/dev/null; then
        python3 - "$peers/go-sqllexer/testdata" "$dir" <<'PY'
import json, pathlib, sys
dialects = {"postgresql": 1, "mysql": 2, "mssql": 3, "oracle": 4, "snowflake": 6}
src, out = pathlib.Path(sys.argv[1]), pathlib.Path(sys.argv[2])
for i, path in enumerate(sorted(src.rglob("*.json"))):
    try:
        statement = json.loads(path.read_text())["input"]
    except (ValueError, KeyError, UnicodeDecodeError):
        continue
    dialect = dialects.get(path.relative_to(src).parts[0], 0)
    (out / f"go-sqllexer-{i:03}").write_bytes(bytes([dialect, 0]) + statement.encode())
PY
    fi
    printf '\000\000SELECT * FROM t WHERE a = 1' >"$dir/minimal"
}

seed_nosql() {
    local dir=fuzz/corpus/nosql
    mkdir -p "$dir"
    [ -z "$(ls -A "$dir")" ] || return 0
    printf '\000SET user:42 "alice@example.com" EX 60' >"$dir/redis-set"
    printf '\000HMSET h f1 v1 f2 v2\nGET k' >"$dir/redis-multi"
    printf '\001set session 0 3600 6\r\nsecret\r\n' >"$dir/memcached-set"
    printf '\001get a b c' >"$dir/memcached-get"
    printf '\002{"find":"users","filter":{"email":"a@b.c","age":{"$gt":30}},"limit":5}' >"$dir/mongo-find"
    printf '\002{"query":{"bool":{"must":[{"match":{"title":"secret"}},{"range":{"n":{"gte":1.5e3}}}]}}}' >"$dir/es-query"
}

# Byte 0: bits 0-1 the method (mask, hash, remove), bits 2-3 the body template (0: the
# rest as is; see fuzz/fuzz_targets/json_body.rs).
seed_json_body() {
    local dir=fuzz/corpus/json_body
    mkdir -p "$dir"
    [ -z "$(ls -A "$dir")" ] || return 0
    printf '\000{"username": "alice@example.com", "password": "hunter2", "remember": true}' >"$dir/login"
    printf '\001{"amount": 1999, "card": {"number": "4111 1111 1111 1111", "cvv": "123"}, "n": 4111111111111111}' >"$dir/payment"
    printf '\002{\n  "access_token": "eyJhbGciOi.eyJzdWIi.sig",\n  "token_type": "Bearer",\n  "expires_in": 3600\n}' >"$dir/oauth"
    printf '\000[{"id": 1, "email": "a\\u0040b.c", "tags": ["x", "y"]}, {"id": 2, "email": null}]' >"$dir/users"
    printf '\000{"query": "mutation($pw: String!) { login(password: $pw) }", "variables": {"pw": "s3cret", "secret": 1}}' >"$dir/graphql"
    printf '\000{"a": 1}\n{"token": "x"}\n"str" 12 -3.5e7 null' >"$dir/ndjson"
    printf '\000{"password": "hunt' >"$dir/truncated"
    printf '\004[1, "two", {"three": 3.0}]' >"$dir/template-1"
    printf '\010", "x": 1}' >"$dir/template-2"
    printf '\014{"a": [1, {"b": "\\ud83d\\ude00"}]}' >"$dir/template-3"
}

# The first byte holds flags (fuzz/checks/url.rs): bits 0-1 pick url (0), query (1), path (2)
# or ip (3, bits 4-5 the mode); bit 2 allow-lists q and page; bit 3 scrubs text.
seed_url() {
    local dir=fuzz/corpus/url
    mkdir -p "$dir"
    [ -z "$(ls -A "$dir")" ] || return 0
    printf '\000https://bob:hunter2@api.example.com:8443/v1/users/alice%%40example.com?q=shoes&page=2&sig=abc#top' >"$dir/url-full"
    printf '\004https://bucket.s3.amazonaws.com/a.jpg?AWSAccessKeyId=AKIAIOSFODNN7EXAMPLE&Expires=1141889120&Signature=vjbyPxyb%%2ByT272YEAiv4%%3D' >"$dir/url-s3-v2"
    printf '\000https://storage.googleapis.com/b/cat.jpeg?X-Goog-Algorithm=GOOG4-RSA-SHA256&X-Goog-Credential=a%%40p.iam.gserviceaccount.com%%2F20181026&X-Goog-Signature=247a2a' >"$dir/url-gcs"
    printf '\000https://app.example.com/cb#access_token=eyJhbGciOiJIUzI1NiJ9.e30.sig&state=xyz&token_type=Bearer' >"$dir/url-fragment"
    printf '\000postgres://user:p@ss#word@db.internal:5432/orders?sslmode=require' >"$dir/url-postgres"
    printf '\000http://[fe80::1%%25eth0]:8080/metrics?token=abc;x=1' >"$dir/url-ipv6"
    printf '\010/users/zzsecret%%40x/../a?zz=secret&q=%%41#frag' >"$dir/url-relative-scrubbed"
    printf '\000user:pw@host/path?x=1 not a url token=abc' >"$dir/url-garbage"
    printf '\005?q=alice%%40example.com&page=2&code=4/P7q7W91a;sig=' >"$dir/query"
    printf '\012/api/v1/users/alice%%40example.com/orders;v=2' >"$dir/path"
    printf '\003203.0.113.195, 2001:db8:85a3:8d3:1319:8a2e:370:7348, [2001:db8::1]:443' >"$dir/ip-mask"
    printf '\023for=192.0.2.60;proto=http;by="[2001:db8:cafe::17]:4711", fe80::1%%eth0, ::ffff:1.2.3.4:80' >"$dir/ip-hash"
}

# Byte 0: flags (bit 0 small limits, bit 1 attribute rules); the rest an
# ExportTraceServiceRequest (fuzz/fuzz_targets/wire_traces.rs), written here by hand.
seed_wire_traces() {
    local dir=fuzz/corpus/wire_traces
    mkdir -p "$dir"
    [ -z "$(ls -A "$dir")" ] || return 0
    python3 - "$dir" <<'PY'
import pathlib, struct, sys
def varint(n):
    out = b""
    while True:
        b = n & 0x7F
        n >>= 7
        if n:
            out += bytes([b | 0x80])
        else:
            return out + bytes([b])
def field(tag, body):
    if isinstance(body, str):
        body = body.encode()
    return varint(tag << 3 | 2) + varint(len(body)) + body
def kv(key, value):
    if isinstance(value, int):
        any_value = varint(3 << 3) + varint(value)
    elif isinstance(value, list):
        any_value = field(5, b"".join(field(1, field(1, v)) for v in value))
    else:
        any_value = field(1, value)
    return field(1, key) + field(2, any_value)
span = (field(1, b"\x01" * 16) + field(2, b"\x02" * 8)
        + field(5, "SELECT * FROM users WHERE email = 'alice@example.com'")
        + varint(7 << 3 | 1) + struct.pack("<Q", 1700000000000000000)
        + field(9, kv("db.system.name", "postgresql"))
        + field(9, kv("url.full", "https://x.example/p?token=abc&card=4111111111111111"))
        + field(9, kv("client.address", "203.0.113.57"))
        + field(9, kv("enduser.id", "u-42"))
        + field(9, kv("n", 4111111111111111))
        + field(9, kv("tags", ["a@b.example", "x"]))
        + field(11, field(2, "exception") + field(3, kv("exception.message", "bad card 4111 1111 1111 1111")))
        + field(15, field(2, "mail bob@example.com") + varint(3 << 3) + varint(2)))
scope = field(1, field(1, "io.opentelemetry.jdbc") + field(2, "2.1")) + field(2, span)
resource = field(1, field(1, kv("service.name", "checkout")))
request = field(1, resource + field(2, scope))
out = pathlib.Path(sys.argv[1])
(out / "span").write_bytes(b"\x00" + request)
(out / "span-small-limits-rules").write_bytes(b"\x03" + request)
PY
}

status=0
for target in "${targets[@]}"; do
    case "$target" in
        sql_obfuscate) seed_sql ;;
        nosql) seed_nosql ;;
        json_body) seed_json_body ;;
        url) seed_url ;;
        wire_traces) seed_wire_traces ;;
    esac
    echo "fuzz: $target for ${seconds}s"
    if ! RUSTC_BOOTSTRAP=1 cargo fuzz run "${target_dir[@]}" "$target" "fuzz/corpus/$target" -- \
        -max_total_time="$seconds" -timeout=10 -print_final_stats=1; then
        echo "fuzz: $target FAILED; the input is in fuzz/artifacts/$target/" >&2
        status=1
    fi
done
exit $status
