//! Master key rotation keeps every tenant's data readable, leaves the old key useless, and
//! survives a crash at either point of the rotation.

use std::path::Path;
use std::time::{Duration, SystemTime};

use scrim_crypto::{KeyProvider, LocalKeyProvider};
use scrim_server::keys::{NEXT_MASTER_KEY_FILE, context, rotate_master_key};
use scrim_server::{Platform, PlatformConfig, Server};
use serde_json::json;

mod common;
use common::*;

async fn spans(server: &Server, key: &str) -> u64 {
    let cred = Cred::Key(key.to_owned());
    let query = json!({ "query": "SELECT count(*) AS n FROM spans" });
    let a = call(server, "POST", "/api/v1/sql", &cred, Some(query)).await;
    assert_eq!(a.status, 200, "{}", a.body);
    a.body["rows"][0][0].as_u64().unwrap()
}

fn master_text(dir: &Path) -> String {
    std::fs::read_to_string(dir.join("master.key")).unwrap()
}

/// A data directory with the demo tenant, some flushed and some buffered (WAL) telemetry,
/// and an authenticator enrolled (its secret sealed under the platform identity key).
async fn populated(dir: &Path) -> (scrim_server::admin::DemoTenant, u64) {
    let server = start_with(dir, |c| c.flush_rows = usize::MAX).await;
    let t = scrim_server::admin::demo_tenant(server.platform())
        .await
        .unwrap();
    let start = SystemTime::now() - Duration::from_secs(60);
    let flushed = send_shop_at(&server, &t.ingest_key, 1, 2, start).await;
    server.flush().await.unwrap();
    let buffered = send_shop_at(&server, &t.ingest_key, 2, 1, start).await;
    let owner = sign_in(&server, &t.owner_email, &t.owner_password, None).await;
    let a = call(&server, "POST", "/api/v1/me/mfa/totp", &owner, None).await;
    assert_eq!(a.status, 200, "{}", a.body);
    let total: u64 = flushed
        .iter()
        .chain(&buffered)
        .filter(|b| b.signal() == scrim_otlp::Signal::Traces)
        .map(|b| b.item_count())
        .sum();
    assert_eq!(spans(&server, &t.read_key).await, total);
    server.shutdown().await;
    (t, total)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rotation_keeps_all_data_readable_and_the_old_key_opens_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let (t, total) = populated(dir.path()).await;
    let old = master_text(dir.path());
    let config = PlatformConfig::in_dir(dir.path());

    let r = rotate_master_key(&config).await.unwrap();
    assert_ne!(r.from, r.to);
    // The tenant's data key and the platform identity key.
    assert_eq!(r.keys, 2);
    assert_ne!(master_text(dir.path()), old);
    assert!(!dir.path().join(NEXT_MASTER_KEY_FILE).exists());

    // Everything reads as before: segments, the WAL replayed at start, sign-in.
    let server = start_with(dir.path(), |_| {}).await;
    assert_eq!(spans(&server, &t.read_key).await, total);
    let owner = sign_in(&server, &t.owner_email, &t.owner_password, None).await;
    let a = call(&server, "GET", "/api/v1/session", &owner, None).await;
    assert_eq!(a.status, 200);
    // The rotation is in the platform's audit chain.
    let records = server
        .platform()
        .meta()
        .audit_chain("-", 0, 1000)
        .await
        .unwrap();
    assert!(
        records.iter().any(|r| r.action == "key.master_rotate"),
        "{records:?}"
    );
    let tenant = server
        .platform()
        .meta()
        .tenant_by_name(&t.tenant)
        .await
        .unwrap()
        .unwrap();
    server.shutdown().await;

    // The old master key no longer opens the tenant's data key, and a data directory
    // given it back refuses to open rather than write anything under it.
    let old_key = LocalKeyProvider::from_hex(&old).unwrap();
    let ctx = context(scrim_meta::WrappedKeyOwner::Tenant(&tenant.id, 1));
    let wrapped = &server_meta_keys(dir.path(), &tenant.id).await[0];
    assert!(old_key.unwrap(wrapped, &ctx).is_err());
    std::fs::write(dir.path().join("master.key"), &old).unwrap();
    let err = Platform::open(&config).await.unwrap_err().to_string();
    assert!(err.contains("does not open this database's keys"), "{err}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_rotation_is_finished_or_abandoned_at_the_next_open() {
    let dir = tempfile::tempdir().unwrap();
    let (t, total) = populated(dir.path()).await;
    let config = PlatformConfig::in_dir(dir.path());
    let before = master_text(dir.path());

    // Crashed after writing the new key, before the database changed: abandoned.
    std::fs::write(
        dir.path().join(NEXT_MASTER_KEY_FILE),
        "11".repeat(32) + "\n",
    )
    .unwrap();
    set_private(&dir.path().join(NEXT_MASTER_KEY_FILE));
    Platform::open(&config).await.unwrap();
    assert!(!dir.path().join(NEXT_MASTER_KEY_FILE).exists());
    assert_eq!(master_text(dir.path()), before);

    // Crashed after the database changed, before the rename: the state after a rotation
    // with the old key put back as master.key and the new one as master.key.next.
    rotate_master_key(&config).await.unwrap();
    let new = master_text(dir.path());
    std::fs::rename(
        dir.path().join("master.key"),
        dir.path().join(NEXT_MASTER_KEY_FILE),
    )
    .unwrap();
    std::fs::write(dir.path().join("master.key"), &before).unwrap();
    set_private(&dir.path().join("master.key"));
    let server = start_with(dir.path(), |_| {}).await;
    assert_eq!(master_text(dir.path()), new);
    assert!(!dir.path().join(NEXT_MASTER_KEY_FILE).exists());
    assert_eq!(spans(&server, &t.read_key).await, total);
    server.shutdown().await;
}

/// Every wrapped version of `tenant`'s data key, oldest first.
async fn server_meta_keys(dir: &Path, tenant: &scrim_meta::TenantId) -> Vec<Vec<u8>> {
    let meta = scrim_meta::Meta::open_in(dir).await.unwrap();
    let keys = meta.tenant_data_keys(tenant).await.unwrap();
    meta.close().await;
    keys.into_iter().map(|k| k.wrapped_key).collect()
}

fn set_private(path: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(path, std::fs::Permissions::from_mode(0o600)).unwrap();
    }
}
