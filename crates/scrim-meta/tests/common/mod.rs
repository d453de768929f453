//! One database per test, on SQLite (always) or PostgreSQL (when
//! `SCRIM_TEST_POSTGRES_URL` is set).
//!
//! On PostgreSQL each test gets a fresh schema `scrim_test_<random>` (set as the
//! connection's `search_path`), dropped at the end, so tests run in parallel and reruns
//! never meet each other's rows.

#![allow(dead_code)]

use scrim_meta::Meta;
use sqlx::Connection;

pub const PG_ENV: &str = "SCRIM_TEST_POSTGRES_URL";

pub struct TestDb {
    pub meta: Meta,
    kind: Kind,
}

enum Kind {
    Sqlite(tempfile::TempDir),
    Postgres { url: String, schema: String },
}

fn random_suffix() -> String {
    let mut bytes = [0u8; 8];
    getrandom::fill(&mut bytes).expect("random");
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

impl TestDb {
    pub async fn sqlite() -> TestDb {
        let dir = tempfile::tempdir().expect("tempdir");
        let meta = Meta::open_in(dir.path()).await.expect("open sqlite");
        TestDb {
            meta,
            kind: Kind::Sqlite(dir),
        }
    }

    /// `None` when `SCRIM_TEST_POSTGRES_URL` is not set.
    pub async fn postgres() -> Option<TestDb> {
        let base = std::env::var(PG_ENV).ok().filter(|u| !u.is_empty())?;
        let schema = format!("scrim_test_{}", random_suffix());
        let mut admin = sqlx::PgConnection::connect(&base)
            .await
            .expect("connect to SCRIM_TEST_POSTGRES_URL");
        sqlx::query(&format!("CREATE SCHEMA {schema}"))
            .execute(&mut admin)
            .await
            .expect("create test schema");
        admin.close().await.expect("close");
        let sep = if base.contains('?') { '&' } else { '?' };
        let url = format!("{base}{sep}options[search_path]={schema}");
        let meta = Meta::connect(&url).await.expect("connect postgres");
        Some(TestDb {
            meta,
            kind: Kind::Postgres { url, schema },
        })
    }

    /// A second, independent connection to the same database (applies the migrations
    /// again).
    pub async fn reopen(&self) -> Result<Meta, scrim_meta::MetaError> {
        match &self.kind {
            Kind::Sqlite(dir) => Meta::open_in(dir.path()).await,
            Kind::Postgres { url, .. } => Meta::connect(url).await,
        }
    }

    pub fn sqlite_dir(&self) -> Option<&std::path::Path> {
        match &self.kind {
            Kind::Sqlite(dir) => Some(dir.path()),
            Kind::Postgres { .. } => None,
        }
    }

    pub async fn finish(self) {
        self.meta.close().await;
        if let Kind::Postgres { schema, .. } = &self.kind {
            let base = std::env::var(PG_ENV).expect("set");
            let mut admin = sqlx::PgConnection::connect(&base).await.expect("connect");
            sqlx::query(&format!("DROP SCHEMA {schema} CASCADE"))
                .execute(&mut admin)
                .await
                .expect("drop test schema");
            admin.close().await.expect("close");
        }
    }
}

/// Generates, for each `async fn name(db: &TestDb)`, a test `sqlite::name` and a test
/// `postgres::name`; the latter passes with a one-line note when PostgreSQL is not
/// configured.
#[macro_export]
macro_rules! on_both_backends {
    ($($name:ident),* $(,)?) => {
        mod sqlite {
            $(
                #[tokio::test]
                async fn $name() {
                    let db = $crate::common::TestDb::sqlite().await;
                    super::$name(&db).await;
                    db.finish().await;
                }
            )*
        }
        mod postgres {
            $(
                #[tokio::test]
                async fn $name() {
                    let Some(db) = $crate::common::TestDb::postgres().await else {
                        eprintln!(
                            "skipped: {} is not set, PostgreSQL tests did not run",
                            $crate::common::PG_ENV
                        );
                        return;
                    };
                    super::$name(&db).await;
                    db.finish().await;
                }
            )*
        }
    };
}
