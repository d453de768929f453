//! Audit-log appends per second through `Meta::append_audit`, with realistic records
//! (scrim-audit's `NewRecord`, sealed inside the append's transaction and stored as their
//! JSON line).
//!
//! Engines: SQLite in a temporary directory (`Meta::open_in`: WAL, `synchronous = FULL`)
//! and, when `SCRIM_TEST_POSTGRES_URL` is set, PostgreSQL in a fresh schema dropped
//! afterwards. Cases:
//!
//! - `one_writer`: one task appending to one tenant, one record after another;
//! - `8_writers_one_tenant`: 8 tokio tasks appending to the same tenant (one chain);
//! - `8_writers_8_tenants`: 8 tokio tasks, each appending to its own tenant.
//!
//! ```sh
//! SCRIM_TEST_POSTGRES_URL=postgres://postgres@127.0.0.1:5432/test \
//!     cargo bench -p scrim-meta --bench audit_append
//! ```
//!
//! Results and what limits them: BENCHMARKS.md, "Audit log appends (scrim-meta)".

use std::sync::Arc;
use std::time::{Duration, Instant};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use scrim_audit::{Actor, NewRecord, Outcome, seal, to_json_line};
use scrim_meta::{AuditRow, Meta};
use sqlx::Connection;

const PG_ENV: &str = "SCRIM_TEST_POSTGRES_URL";
const WRITERS: usize = 8;

/// A record as the server would write for a telemetry query made with an API key.
fn new_record(tenant: &str, n: u64) -> NewRecord {
    NewRecord::new(
        tenant,
        1_790_000_000_000 + i64::try_from(n).unwrap_or(0),
        Actor::ApiKey {
            id: "k_8f3a9c2e1b7d4f60".into(),
        },
        "telemetry.read",
        Outcome::Success,
    )
    .expect("valid record")
    .addr("198.51.100.23")
    .user_agent("scrim-cli/0.1.0 (linux; x86_64)")
    .target("traces")
    .request_id(format!("req_{n:016x}"))
    .detail(
        "query",
        "SELECT trace_id, name, duration_ns FROM spans WHERE service_name = 'checkout' \
         AND duration_ns > 250000000 ORDER BY start_time_ns DESC LIMIT 100",
    )
    .detail("range_ms", 3_600_000)
}

/// Appends one record to `tenant`'s chain, sealing it with the seq and previous hash the
/// database hands out.
async fn append(meta: &Meta, tenant: &str, n: u64) {
    let new = new_record(tenant, n);
    meta.append_audit(tenant, move |seq, prev| {
        let rec = seal(new, seq, prev);
        Ok(AuditRow {
            tenant: rec.tenant.clone(),
            seq: rec.seq,
            at_ms: rec.at_ms,
            actor: rec.actor.id().unwrap_or(rec.actor.kind()).to_owned(),
            action: rec.action.clone(),
            outcome: rec.outcome.status().to_owned(),
            body: to_json_line(&rec),
            prev_hash: rec.prev_hash.to_vec(),
            hash: rec.hash.to_vec(),
        })
    })
    .await
    .expect("append");
}

/// `iters` appends by each of `tenants.len()` concurrent tasks (one per tenant name, names
/// may repeat); returns the wall-clock time of the whole.
async fn concurrent(meta: &Arc<Meta>, tenants: &[String], iters: u64) -> Duration {
    let start = Instant::now();
    let tasks: Vec<_> = tenants
        .iter()
        .map(|tenant| {
            let meta = meta.clone();
            let tenant = tenant.clone();
            tokio::spawn(async move {
                for n in 0..iters {
                    append(&meta, &tenant, n).await;
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.expect("writer task");
    }
    start.elapsed()
}

fn run_cases(c: &mut Criterion, rt: &tokio::runtime::Runtime, engine: &str, meta: Arc<Meta>) {
    let mut group = c.benchmark_group(format!("audit_append/{engine}"));

    group.throughput(Throughput::Elements(1));
    group.bench_function("one_writer", |b| {
        b.iter_custom(|iters| {
            rt.block_on(async {
                let start = Instant::now();
                for n in 0..iters {
                    append(&meta, "t_seq", n).await;
                }
                start.elapsed()
            })
        });
    });

    group.throughput(Throughput::Elements(WRITERS as u64));
    let shared = vec!["t_shared".to_owned(); WRITERS];
    group.bench_function("8_writers_one_tenant", |b| {
        b.iter_custom(|iters| rt.block_on(concurrent(&meta, &shared, iters)));
    });
    let own: Vec<String> = (0..WRITERS).map(|i| format!("t_own_{i}")).collect();
    group.bench_function("8_writers_8_tenants", |b| {
        b.iter_custom(|iters| rt.block_on(concurrent(&meta, &own, iters)));
    });
    group.finish();

    // Every append above must have continued its tenant's chain: seqs 1..=head without a
    // gap, each record linked to the one before, the last one the head.
    rt.block_on(async {
        let tenants = ["t_seq", "t_shared"]
            .into_iter()
            .chain(own.iter().map(String::as_str));
        for tenant in tenants {
            // Absent when a filter on the command line skipped its case.
            let Some((head, head_hash)) = meta.audit_head(tenant).await.expect("head") else {
                continue;
            };
            let (mut seq, mut hash) = (0, vec![0; 32]);
            loop {
                let page = meta.audit_chain(tenant, seq, 10_000).await.expect("chain");
                if page.is_empty() {
                    break;
                }
                for r in page {
                    assert_eq!((r.seq, &r.prev_hash), (seq + 1, &hash), "{engine} {tenant}");
                    (seq, hash) = (r.seq, r.hash);
                }
            }
            assert_eq!((seq, hash), (head, head_hash), "{engine} {tenant}");
        }
    });
}

fn random_suffix() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("random");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn pg_admin(base: &str, sql: &str) {
    let mut admin = sqlx::PgConnection::connect(base)
        .await
        .expect("connect to SCRIM_TEST_POSTGRES_URL");
    sqlx::query(sql).execute(&mut admin).await.expect(sql);
    admin.close().await.expect("close");
}

fn benches(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .expect("tokio runtime");

    let dir = tempfile::tempdir().expect("tempdir");
    let sqlite = Arc::new(rt.block_on(Meta::open_in(dir.path())).expect("open sqlite"));
    run_cases(c, &rt, "sqlite", sqlite.clone());
    rt.block_on(sqlite.close());

    let Some(base) = std::env::var(PG_ENV).ok().filter(|u| !u.is_empty()) else {
        eprintln!("audit_append/postgres skipped: {PG_ENV} is not set");
        return;
    };
    let schema = format!("scrim_bench_{}", random_suffix());
    rt.block_on(pg_admin(&base, &format!("CREATE SCHEMA {schema}")));
    let sep = if base.contains('?') { '&' } else { '?' };
    let url = format!("{base}{sep}options[search_path]={schema}");
    // The schema is dropped even if a case panics.
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
        let pg = Arc::new(rt.block_on(Meta::connect(&url)).expect("connect postgres"));
        run_cases(c, &rt, "postgres", pg.clone());
        rt.block_on(pg.close());
    }));
    rt.block_on(pg_admin(&base, &format!("DROP SCHEMA {schema} CASCADE")));
    if let Err(panic) = result {
        std::panic::resume_unwind(panic);
    }
}

criterion_group! {
    name = audit_append;
    config = Criterion::default()
        .sample_size(10)
        .warm_up_time(Duration::from_secs(1))
        .measurement_time(Duration::from_secs(4));
    targets = benches
}
criterion_main!(audit_append);
