//! SQL obfuscation throughput, side by side with Datadog's Rust obfuscator
//! (`libdd-trace-obfuscation`), on the five queries go-sqllexer benchmarks itself with.
//!
//! Run: `cargo bench -p scrim-redact --bench sql` (add `-- --measurement-time 5` for a
//! quicker pass). The queries are read from `shared/corpora/sql-bench/` beside the project
//! checkout; results go in BENCHMARKS.md.

use std::hint::black_box;

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use libdd_trace_obfuscation::sql::obfuscate_sql_string;
use scrim_redact::sql::{Dialect, SqlOptions, obfuscate};

const CORPUS_DIR: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../../shared/corpora/sql-bench/"
);

/// go-sqllexer's benchmark queries, one file each.
const QUERIES: [&str; 5] = ["Escaping", "Grouping", "Large", "Complex", "SuperLarge"];

/// An already parameterised statement: the common case, which must cost no allocation.
const UNCHANGED: &str = "SELECT id, name FROM users WHERE id = $1 AND status = ?";

fn load(name: &str) -> String {
    let path = format!("{CORPUS_DIR}{name}.sql");
    std::fs::read_to_string(&path).unwrap_or_else(|e| {
        panic!(
            "cannot read benchmark query {path}: {e}\n\
             The corpus lives in shared/corpora/sql-bench/, in the folder `shared` beside \
             the project checkout (../shared from the workspace root)."
        )
    })
}

/// One group per query: `scrim` (generic dialect), `scrim-mysql`, and `libdd`.
fn bench_query(c: &mut Criterion, name: &str, query: &str) {
    let generic = SqlOptions::default();
    let mysql = SqlOptions::for_dialect(Dialect::MySql);
    let mut group = c.benchmark_group(name);
    group.throughput(Throughput::Bytes(query.len() as u64));
    group.bench_function("scrim", |b| {
        b.iter(|| obfuscate(black_box(query), &generic))
    });
    group.bench_function("scrim-mysql", |b| {
        b.iter(|| obfuscate(black_box(query), &mysql))
    });
    group.bench_function("libdd", |b| {
        b.iter(|| obfuscate_sql_string(black_box(query)))
    });
    group.finish();
}

fn sql(c: &mut Criterion) {
    for name in QUERIES {
        bench_query(c, name, &load(name));
    }
    bench_query(c, "unchanged", UNCHANGED);
}

criterion_group!(benches, sql);
criterion_main!(benches);
