//! What one API-key authentication costs: `cargo run --release -p scrim-meta --example
//! auth_cost [N]`. Uses a SQLite database in a temporary directory, and PostgreSQL too when
//! `SCRIM_TEST_POSTGRES_URL` is set (in a throwaway schema). Authentications run one after
//! another on one task, with the default last-use throttle (so after the first, each is a
//! read).

use std::time::Instant;

use scrim_meta::{Meta, NewApiKey, NewTenant};
use sqlx::Connection;

async fn measure(label: &str, meta: &Meta, n: u32) {
    let tenant = NewTenant::new("bench", vec![1; 60]).expect("tenant");
    meta.create_tenant(&tenant).await.expect("create tenant");
    let (_, key) = meta
        .create_api_key(
            &tenant.id,
            "ingest".parse().expect("scopes"),
            NewApiKey::default(),
        )
        .await
        .expect("create key");
    let presented = key.expose();
    for _ in 0..1000 {
        meta.authenticate_api_key(&presented, None)
            .await
            .expect("warm-up");
    }
    let start = Instant::now();
    for _ in 0..n {
        meta.authenticate_api_key(&presented, None)
            .await
            .expect("auth");
    }
    let per = start.elapsed() / n;
    println!("{label}: {n} authentications, {per:?} each");
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .and_then(|a| a.parse().ok())
        .unwrap_or(20_000);

    let dir = tempfile::tempdir().expect("tempdir");
    let meta = Meta::open_in(dir.path()).await.expect("open");
    measure("SQLite (WAL, file)", &meta, n).await;
    meta.close().await;

    // Parsing and hashing alone, without the database.
    let key = scrim_meta::ApiKey::generate().expect("key");
    let presented = key.expose();
    let hash = key.hash();
    let start = Instant::now();
    for _ in 0..n {
        let parsed = scrim_meta::ApiKey::parse(&presented).expect("parse");
        assert!(hash.verify(&parsed));
    }
    println!(
        "parse + SHA-256 + compare only: {:?} each",
        start.elapsed() / n
    );

    if let Ok(base) = std::env::var("SCRIM_TEST_POSTGRES_URL") {
        let schema = format!("scrim_bench_{}", std::process::id());
        let mut admin = sqlx::PgConnection::connect(&base).await.expect("connect");
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut admin)
            .await
            .expect("schema");
        let sep = if base.contains('?') { '&' } else { '?' };
        let meta = Meta::connect(&format!("{base}{sep}options[search_path]={schema}"))
            .await
            .expect("connect");
        measure("PostgreSQL (loopback)", &meta, n).await;
        meta.close().await;
        sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
            .execute(&mut admin)
            .await
            .expect("drop schema");
    }
}
