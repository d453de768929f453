//! Tenant data keys by version: rotation adds the next version only over the current one,
//! master key rotation rewraps every version, destruction removes every version at once,
//! and the catalog knows which version each segment is under. Each test runs on SQLite
//! and, when `SCRIM_TEST_POSTGRES_URL` is set, on PostgreSQL.

mod common;

use common::TestDb;
use scrim_meta::{
    Meta, MetaError, NewSegment, NewTenant, Signal, TenantId, TimeRange, WrappedKeyOwner,
    WrappedKeyOwnerBuf,
};

on_both_backends!(
    rotation_adds_the_next_version_over_the_current_one_only,
    master_rotation_rewraps_every_version_and_stale_rotations_are_refused,
    destroying_a_tenants_keys_removes_every_version_and_nothing_else,
    segments_carry_the_version_of_their_key,
);

async fn tenant(meta: &Meta, name: &str, wrapped: u8) -> TenantId {
    let new = NewTenant::new(name, vec![wrapped; 40]).unwrap();
    meta.create_tenant(&new).await.unwrap().id
}

/// (version, first byte of the wrapped key) of each of the tenant's keys.
async fn keys(meta: &Meta, t: &TenantId) -> Vec<(u32, u8)> {
    meta.tenant_data_keys(t)
        .await
        .unwrap()
        .iter()
        .map(|k| (k.version, k.wrapped_key[0]))
        .collect()
}

async fn rotation_adds_the_next_version_over_the_current_one_only(db: &TestDb) {
    let meta = &db.meta;
    let a = tenant(meta, "acme", 1).await;
    let b = tenant(meta, "beta", 9).await;
    assert_eq!(keys(meta, &a).await, [(1, 1)]);

    let added = meta
        .add_tenant_data_key(&a, 2, &[1; 40], &[2; 40])
        .await
        .unwrap();
    assert_eq!(added.version, 2);
    assert_eq!(keys(meta, &a).await, [(1, 1), (2, 2)]);
    let t = meta.tenant_by_id(&a).await.unwrap().unwrap();
    assert_eq!(t.data_key_version, 2);
    // The list shows each tenant's current version too.
    let listed: Vec<(String, u32)> = meta
        .list_tenants()
        .await
        .unwrap()
        .into_iter()
        .map(|t| (t.name, t.data_key_version))
        .collect();
    assert_eq!(listed, [("acme".into(), 2), ("beta".into(), 1)]);

    // A second rotation to the same version loses.
    let err = meta
        .add_tenant_data_key(&a, 2, &[1; 40], &[7; 40])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            MetaError::AlreadyExists {
                what: "data key version"
            }
        ),
        "{err:?}"
    );
    // Over a previous version whose bytes are not what the caller read, or that does not
    // exist, nothing is stored.
    for (version, previous) in [(3, [1u8; 40]), (4, [2u8; 40])] {
        let err = meta
            .add_tenant_data_key(&a, version, &previous, &[3; 40])
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                MetaError::Invalid {
                    field: "data key rotation",
                    ..
                }
            ),
            "{err:?}"
        );
    }
    // Version 1 is only ever made with the tenant; empty keys are refused.
    assert!(matches!(
        meta.add_tenant_data_key(&a, 1, &[1; 40], &[3; 40]).await,
        Err(MetaError::Invalid { .. })
    ));
    assert!(matches!(
        meta.add_tenant_data_key(&a, 3, &[2; 40], &[]).await,
        Err(MetaError::Invalid { .. })
    ));
    // Another tenant's key is never the "previous" one.
    assert!(matches!(
        meta.add_tenant_data_key(&b, 2, &[1; 40], &[3; 40]).await,
        Err(MetaError::Invalid { .. })
    ));
    assert_eq!(keys(meta, &a).await, [(1, 1), (2, 2)]);
    assert_eq!(keys(meta, &b).await, [(1, 9)]);
    // Unknown tenant: no keys.
    let nobody = TenantId::generate().unwrap();
    assert!(meta.tenant_data_keys(&nobody).await.unwrap().is_empty());
}

async fn master_rotation_rewraps_every_version_and_stale_rotations_are_refused(db: &TestDb) {
    let meta = &db.meta;
    let a = tenant(meta, "acme", 1).await;
    let b = tenant(meta, "beta", 9).await;
    meta.add_tenant_data_key(&a, 2, &[1; 40], &[2; 40])
        .await
        .unwrap();
    meta.add_tenant_data_key(&a, 3, &[2; 40], &[3; 40])
        .await
        .unwrap();
    meta.platform_key("identity", || Ok(vec![5; 40]))
        .await
        .unwrap();

    let mut seen = Vec::new();
    let n = meta
        .rewrap_keys(|owner, old| {
            seen.push(match owner {
                WrappedKeyOwner::Tenant(t, v) => format!("{t}/{v}"),
                WrappedKeyOwner::Platform(name) => name.to_owned(),
            });
            Ok(old.iter().map(|b| b + 100).collect())
        })
        .await
        .unwrap();
    assert_eq!(n, 5);
    let mut want = vec![
        format!("{a}/1"),
        format!("{a}/2"),
        format!("{a}/3"),
        format!("{b}/1"),
    ];
    want.sort();
    want.push("identity".into());
    assert_eq!(seen, want);
    assert_eq!(keys(meta, &a).await, [(1, 101), (2, 102), (3, 103)]);
    assert_eq!(keys(meta, &b).await, [(1, 109)]);

    // A rotation prepared before the master rotation (it read version 3 as wrapped by the
    // old master key, and wrapped its new key with that key too) is refused.
    let err = meta
        .add_tenant_data_key(&a, 4, &[3; 40], &[4; 40])
        .await
        .unwrap_err();
    assert!(matches!(err, MetaError::Invalid { .. }), "{err:?}");
    assert_eq!(keys(meta, &a).await.len(), 3);

    // A failing rewrap changes nothing.
    let err = meta
        .rewrap_keys(|owner, old| match owner {
            WrappedKeyOwner::Tenant(_, 2) => Err(MetaError::Invalid {
                field: "test",
                reason: "refused",
            }),
            _ => Ok(old.to_vec()),
        })
        .await
        .unwrap_err();
    assert!(matches!(err, MetaError::Invalid { field: "test", .. }));
    assert_eq!(keys(meta, &a).await, [(1, 101), (2, 102), (3, 103)]);

    // The sample is a tenant key with its version.
    let (owner, wrapped) = meta.wrapped_key_sample().await.unwrap().unwrap();
    let first = a.clone().min(b.clone());
    assert_eq!(owner, WrappedKeyOwnerBuf::Tenant(first.clone(), 1));
    assert_eq!(wrapped[0], if first == a { 101 } else { 109 });
}

/// Whether any file in `dir` holds `needle`.
fn any_file_holds(dir: &std::path::Path, needle: &[u8]) -> bool {
    std::fs::read_dir(dir).unwrap().flatten().any(|e| {
        std::fs::read(e.path())
            .map(|bytes| bytes.windows(needle.len()).any(|w| w == needle))
            .unwrap_or(false)
    })
}

async fn destroying_a_tenants_keys_removes_every_version_and_nothing_else(db: &TestDb) {
    let meta = &db.meta;
    // Wrapped keys that are easy to find in a file.
    let wrapped = |v: u8| -> Vec<u8> { format!("wrapped key {v} of acme, 40 bytes long!").into() };
    let new = NewTenant::new("acme", wrapped(1)).unwrap();
    let a = meta.create_tenant(&new).await.unwrap().id;
    let b = tenant(meta, "beta", 9).await;
    meta.add_tenant_data_key(&a, 2, &wrapped(1), &wrapped(2))
        .await
        .unwrap();
    meta.add_tenant_data_key(&a, 3, &wrapped(2), &wrapped(3))
        .await
        .unwrap();
    if let Some(dir) = db.sqlite_dir() {
        assert!(
            any_file_holds(dir, &wrapped(3)),
            "the test looks for the right bytes"
        );
    }

    assert_eq!(meta.destroy_tenant_keys(&a).await.unwrap(), 3);
    // Not in the SQLite files either (deleted rows are zeroed, the journal truncated).
    if let Some(dir) = db.sqlite_dir() {
        for v in 1..=3 {
            assert!(
                !any_file_holds(dir, &wrapped(v)),
                "version {v} is still on disk"
            );
        }
    }
    // No version of the key can be read back, by any way the database offers.
    assert!(meta.tenant_data_keys(&a).await.unwrap().is_empty());
    let t = meta.tenant_by_id(&a).await.unwrap().unwrap();
    assert_eq!(t.data_key_version, 0);
    let mut rewrapped = Vec::new();
    meta.rewrap_keys(|owner, old| {
        if let WrappedKeyOwner::Tenant(t, v) = owner {
            rewrapped.push((t.clone(), v));
        }
        Ok(old.to_vec())
    })
    .await
    .unwrap();
    assert_eq!(rewrapped, [(b.clone(), 1)]);
    assert_eq!(
        meta.wrapped_key_sample().await.unwrap().unwrap().0,
        WrappedKeyOwnerBuf::Tenant(b.clone(), 1)
    );
    // A rotation cannot bring a key back, and a second destruction finds nothing.
    assert!(
        meta.add_tenant_data_key(&a, 4, &wrapped(3), &[4; 40])
            .await
            .is_err()
    );
    assert!(meta.tenant_data_keys(&a).await.unwrap().is_empty());
    assert_eq!(meta.destroy_tenant_keys(&a).await.unwrap(), 0);
    // The other tenant keeps its key.
    assert_eq!(keys(meta, &b).await, [(1, 9)]);
}

fn seg(path: &str, key_version: u32) -> NewSegment {
    NewSegment {
        signal: Signal::Traces,
        path: path.to_owned(),
        min_time_ns: 0,
        max_time_ns: 10,
        rows: 5,
        bytes: 100,
        services: vec!["svc".into()],
        trace_filter: None,
        key_version,
    }
}

async fn segments_carry_the_version_of_their_key(db: &TestDb) {
    let meta = &db.meta;
    let a = tenant(meta, "acme", 1).await;
    let b = tenant(meta, "beta", 9).await;
    meta.record_flush(&a, &[seg("a/1", 1), seg("a/2", 1)], None)
        .await
        .unwrap();
    meta.record_segment(&a, &seg("a/3", 2)).await.unwrap();
    meta.record_segment(&b, &seg("b/1", 1)).await.unwrap();
    let listed: Vec<(String, u32)> = meta
        .segments(&a, Signal::Traces, TimeRange::all(), None)
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.path, s.key_version))
        .collect();
    assert_eq!(
        listed,
        [("a/1".into(), 1), ("a/2".into(), 1), ("a/3".into(), 2)]
    );
    assert_eq!(
        meta.segments_per_key_version(&a).await.unwrap(),
        [(1, 2), (2, 1)]
    );
    // Compaction under the current key: the old version's segments are gone.
    let merged = meta
        .replace_segments(&a, &["a/1", "a/2", "a/3"], &seg("a/m", 2))
        .await
        .unwrap();
    assert_eq!(merged.key_version, 2);
    assert_eq!(meta.segments_per_key_version(&a).await.unwrap(), [(2, 1)]);
    assert_eq!(meta.segments_per_key_version(&b).await.unwrap(), [(1, 1)]);
    let err = meta.record_segment(&a, &seg("a/0", 0)).await.unwrap_err();
    assert!(
        matches!(
            err,
            MetaError::Invalid {
                field: "segment key version",
                ..
            }
        ),
        "{err:?}"
    );
}
