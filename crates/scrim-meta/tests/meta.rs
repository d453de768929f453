//! The metadata database against real engines: every test function runs on SQLite and, when
//! `SCRIM_TEST_POSTGRES_URL` is set, on PostgreSQL.

mod common;

use std::net::IpAddr;
use std::time::{Duration, SystemTime};

use common::TestDb;
use scrim_meta::{
    ApiKey, AuthError, DeletionScope, DeletionStatus, Meta, MetaError, NewApiKey, NewDeletion,
    NewSegment, NewTenant, Scope, Scopes, Signal, TenantId, TimeRange, WalMark,
};

on_both_backends!(
    tenants_are_created_and_read_back,
    duplicate_tenant_name_is_already_exists,
    bad_tenant_input_is_refused_and_not_stored,
    catalog_never_shows_another_tenants_segments,
    catalog_prunes_by_time_and_service,
    replace_segments_is_all_or_nothing,
    a_flush_is_recorded_whole_with_its_wal_mark,
    a_tenants_capture_policy_is_versioned,
    segment_path_is_unique_and_tenant_must_exist,
    api_key_authenticates_with_the_right_secret_only,
    revocation_takes_effect_at_once_on_every_node,
    expired_key_is_refused,
    last_use_is_recorded_and_throttled,
    migrations_are_idempotent,
    deletions_are_claimed_once_and_a_shredded_tenant_is_gone,
);

async fn tenant(meta: &Meta, name: &str) -> TenantId {
    let new = NewTenant::new(name, vec![7u8; 60]).unwrap();
    meta.create_tenant(&new).await.unwrap().id
}

fn seg(signal: Signal, path: &str, min: i64, max: i64, services: &[&str]) -> NewSegment {
    NewSegment {
        signal,
        path: path.to_owned(),
        min_time_ns: min,
        max_time_ns: max,
        rows: 100,
        bytes: 4096,
        trace_filter: None,
        key_version: 1,
        services: services.iter().map(|s| (*s).to_owned()).collect(),
    }
}

fn paths(segments: &[scrim_meta::Segment]) -> Vec<&str> {
    segments.iter().map(|s| s.path.as_str()).collect()
}

async fn tenants_are_created_and_read_back(db: &TestDb) {
    let meta = &db.meta;
    let mut new = NewTenant::new("acme", vec![1, 2, 3, 0, 255]).unwrap();
    new.retention_days = 90;
    new.region = "eu-west-1".into();
    let created = meta.create_tenant(&new).await.unwrap();
    assert_eq!(created.id, new.id);
    assert!(created.id.as_str().starts_with("t_"));

    let by_name = meta.tenant_by_name("acme").await.unwrap().unwrap();
    assert_eq!(by_name, created);
    assert_eq!(by_name.data_key_version, 1);
    let keys = meta.tenant_data_keys(&created.id).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(
        (keys[0].version, &keys[0].wrapped_key[..]),
        (1, &[1, 2, 3, 0, 255][..])
    );
    assert_eq!(by_name.retention_days, 90);
    assert_eq!(by_name.region, "eu-west-1");
    assert_eq!(meta.tenant_by_id(&created.id).await.unwrap(), Some(created));

    let other = meta
        .create_tenant(&NewTenant::new("beta", vec![9]).unwrap())
        .await
        .unwrap();
    assert_eq!(other.region, "local");
    assert_eq!(other.retention_days, 30);

    let all = meta.list_tenants().await.unwrap();
    let names: Vec<&str> = all.iter().map(|t| t.name.as_str()).collect();
    assert_eq!(names, ["acme", "beta"]);
    assert_eq!(meta.tenant_by_name("nobody").await.unwrap(), None);
    assert_eq!(
        meta.tenant_by_id(&TenantId::generate().unwrap())
            .await
            .unwrap(),
        None
    );
}

async fn duplicate_tenant_name_is_already_exists(db: &TestDb) {
    let meta = &db.meta;
    let first = tenant(meta, "acme").await;
    let again = NewTenant::new("acme", vec![2]).unwrap();
    let err = meta.create_tenant(&again).await.unwrap_err();
    assert!(
        matches!(
            err,
            MetaError::AlreadyExists {
                what: "tenant name"
            }
        ),
        "{err:?}"
    );
    assert_eq!(err.to_string(), "tenant name already exists");
    // The first tenant is untouched and there is still exactly one.
    let stored = meta.tenant_by_name("acme").await.unwrap().unwrap();
    assert_eq!(stored.id, first);
    let keys = meta.tenant_data_keys(&stored.id).await.unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0].wrapped_key, vec![7u8; 60]);
    assert_eq!(meta.list_tenants().await.unwrap().len(), 1);

    // Same id, other name: the id is unique too.
    let mut same_id = NewTenant::new("other", vec![3]).unwrap();
    same_id.id = first;
    let err = meta.create_tenant(&same_id).await.unwrap_err();
    assert!(
        matches!(err, MetaError::AlreadyExists { what: "tenant id" }),
        "{err:?}"
    );
}

async fn bad_tenant_input_is_refused_and_not_stored(db: &TestDb) {
    let meta = &db.meta;
    for name in [
        "",
        "Acme",
        "acme_corp",
        "acme corp",
        "-acme",
        &"a".repeat(64),
        "acmé",
    ] {
        let err = meta
            .create_tenant(&NewTenant::new(name, vec![1]).unwrap())
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                MetaError::Invalid {
                    field: "tenant name",
                    ..
                }
            ),
            "{name:?}: {err:?}"
        );
    }
    for days in [0, 3651] {
        let mut new = NewTenant::new("acme", vec![1]).unwrap();
        new.retention_days = days;
        let err = meta.create_tenant(&new).await.unwrap_err();
        assert!(
            matches!(
                err,
                MetaError::Invalid {
                    field: "retention_days",
                    ..
                }
            ),
            "{err:?}"
        );
    }
    let mut new = NewTenant::new("acme", vec![1]).unwrap();
    new.region = "EU".into();
    assert!(matches!(
        meta.create_tenant(&new).await.unwrap_err(),
        MetaError::Invalid {
            field: "region",
            ..
        }
    ));
    let err = meta
        .create_tenant(&NewTenant::new("acme", Vec::new()).unwrap())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            MetaError::Invalid {
                field: "wrapped data key",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(meta.list_tenants().await.unwrap().is_empty());

    // The edges of the ranges are accepted.
    let mut new = NewTenant::new("a".repeat(63), vec![1]).unwrap();
    new.retention_days = 3650;
    meta.create_tenant(&new).await.unwrap();
    let mut new = NewTenant::new("0-z", vec![1]).unwrap();
    new.retention_days = 1;
    meta.create_tenant(&new).await.unwrap();
}

async fn catalog_never_shows_another_tenants_segments(db: &TestDb) {
    let meta = &db.meta;
    let a = tenant(meta, "tenant-a").await;
    let b = tenant(meta, "tenant-b").await;
    // Same signal, same times, same service: only the tenant differs.
    meta.record_segment(&a, &seg(Signal::Traces, "a/1", 0, 100, &["checkout"]))
        .await
        .unwrap();
    meta.record_segment(&b, &seg(Signal::Traces, "b/1", 0, 100, &["checkout"]))
        .await
        .unwrap();
    meta.record_segment(&b, &seg(Signal::Traces, "b/2", 50, 150, &["cart"]))
        .await
        .unwrap();

    for service in [None, Some("checkout")] {
        let got = meta
            .segments(&a, Signal::Traces, TimeRange::all(), service)
            .await
            .unwrap();
        assert_eq!(paths(&got), ["a/1"]);
        assert!(got.iter().all(|s| s.tenant_id == a));
    }
    let got = meta
        .segments(&b, Signal::Traces, TimeRange::all(), None)
        .await
        .unwrap();
    assert_eq!(paths(&got), ["b/1", "b/2"]);
    assert!(
        meta.segments(&a, Signal::Traces, TimeRange::all(), Some("cart"))
            .await
            .unwrap()
            .is_empty()
    );

    // A cannot delete or compact away B's segments, even by naming their paths.
    assert_eq!(meta.delete_segments(&a, &["b/1", "b/2"]).await.unwrap(), 0);
    let err = meta
        .replace_segments(&a, &["b/1"], &seg(Signal::Traces, "a/c", 0, 100, &[]))
        .await
        .unwrap_err();
    assert!(
        matches!(err, MetaError::NotFound { what: "segment" }),
        "{err:?}"
    );
    let got = meta
        .segments(&b, Signal::Traces, TimeRange::all(), None)
        .await
        .unwrap();
    assert_eq!(paths(&got), ["b/1", "b/2"]);
    let got = meta
        .segments(&a, Signal::Traces, TimeRange::all(), None)
        .await
        .unwrap();
    assert_eq!(paths(&got), ["a/1"]);

    // A tenant that does not exist sees nothing.
    let nobody = TenantId::generate().unwrap();
    assert!(
        meta.segments(&nobody, Signal::Traces, TimeRange::all(), None)
            .await
            .unwrap()
            .is_empty()
    );
}

async fn catalog_prunes_by_time_and_service(db: &TestDb) {
    let meta = &db.meta;
    let t = tenant(meta, "acme").await;
    let recorded = meta
        .record_segment(&t, &seg(Signal::Logs, "s1", 0, 99, &["web", "api", "web"]))
        .await
        .unwrap();
    assert_eq!(recorded.services, ["api", "web"]);
    meta.record_segment(&t, &seg(Signal::Logs, "s2", 100, 199, &["api"]))
        .await
        .unwrap();
    meta.record_segment(&t, &seg(Signal::Logs, "s3", 200, 299, &[]))
        .await
        .unwrap();
    meta.record_segment(&t, &seg(Signal::Metrics, "m1", 0, 299, &["api"]))
        .await
        .unwrap();

    let q =
        |start, end, service| meta.segments(&t, Signal::Logs, TimeRange::new(start, end), service);
    assert_eq!(paths(&q(0, 300, None).await.unwrap()), ["s1", "s2", "s3"]);
    // Half-open: [100, 200) touches s2 only; [99, 100) touches s1 only.
    assert_eq!(paths(&q(100, 200, None).await.unwrap()), ["s2"]);
    assert_eq!(paths(&q(99, 100, None).await.unwrap()), ["s1"]);
    assert_eq!(paths(&q(150, 250, None).await.unwrap()), ["s2", "s3"]);
    assert!(q(300, 400, None).await.unwrap().is_empty());
    assert!(q(100, 100, None).await.unwrap().is_empty());
    assert_eq!(paths(&q(0, 300, Some("api")).await.unwrap()), ["s1", "s2"]);
    assert_eq!(paths(&q(0, 300, Some("web")).await.unwrap()), ["s1"]);
    assert_eq!(
        paths(&q(100, 300, Some("web")).await.unwrap()),
        Vec::<&str>::new()
    );
    assert!(q(0, 300, Some("nope")).await.unwrap().is_empty());

    // Every service of a matching segment comes back, not only the one asked for.
    let got = q(0, 300, Some("web")).await.unwrap();
    assert_eq!(got[0].services, ["api", "web"]);
    assert_eq!(got[0].rows, 100);
    assert_eq!(got[0].bytes, 4096);
    assert_eq!(got[0].signal, Signal::Logs);
    let all = q(0, 300, None).await.unwrap();
    assert!(all[2].services.is_empty());

    let metrics = meta
        .segments(&t, Signal::Metrics, TimeRange::all(), None)
        .await
        .unwrap();
    assert_eq!(paths(&metrics), ["m1"]);

    let err = q(10, 5, None).await.unwrap_err();
    assert!(matches!(err, MetaError::Invalid { .. }), "{err:?}");
}

async fn a_flush_is_recorded_whole_with_its_wal_mark(db: &TestDb) {
    let meta = &db.meta;
    let (a, b) = (tenant(meta, "acme").await, tenant(meta, "bravo").await);
    meta.record_segment(&a, &seg(Signal::Logs, "taken", 0, 9, &[]))
        .await
        .unwrap();
    let mark = |segment, offset| WalMark {
        wal_id: "0192abcd".into(),
        segment,
        offset,
    };
    let mut traces = seg(Signal::Traces, "t1", 0, 9, &["api"]);
    traces.trace_filter = Some(vec![1, 2, 3]);

    // A path already taken: neither segment nor mark is recorded.
    let err = meta
        .record_flush(
            &a,
            &[traces.clone(), seg(Signal::Logs, "taken", 0, 9, &[])],
            Some(&mark(1, 100)),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, MetaError::AlreadyExists { .. }), "{err:?}");
    assert!(meta.wal_mark(&a, "0192abcd").await.unwrap().is_none());
    let all = meta
        .segments(&a, Signal::Traces, TimeRange::all(), None)
        .await
        .unwrap();
    assert!(all.is_empty());

    let recorded = meta
        .record_flush(
            &a,
            &[traces.clone(), seg(Signal::Logs, "l1", 0, 9, &[])],
            Some(&mark(1, 100)),
        )
        .await
        .unwrap();
    assert_eq!(paths(&recorded), ["t1", "l1"]);
    assert_eq!(
        meta.wal_mark(&a, "0192abcd").await.unwrap(),
        Some(mark(1, 100))
    );
    // Later flushes move the mark; another WAL id and another tenant have none.
    meta.record_flush(&a, &[], Some(&mark(2, 40)))
        .await
        .unwrap();
    assert_eq!(
        meta.wal_mark(&a, "0192abcd").await.unwrap(),
        Some(mark(2, 40))
    );
    assert!(meta.wal_mark(&a, "ffff").await.unwrap().is_none());
    assert!(meta.wal_mark(&b, "0192abcd").await.unwrap().is_none());

    // Trace filters come back by path, for this tenant only.
    let filters = meta.trace_filters(&a).await.unwrap();
    assert_eq!(filters.len(), 1);
    assert_eq!(filters["t1"], vec![1, 2, 3]);
    assert!(meta.trace_filters(&b).await.unwrap().is_empty());

    let err = meta
        .record_flush(
            &a,
            &[],
            Some(&WalMark {
                wal_id: String::new(),
                segment: 1,
                offset: 1,
            }),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, MetaError::Invalid { .. }), "{err:?}");
}

async fn a_tenants_capture_policy_is_versioned(db: &TestDb) {
    let meta = &db.meta;
    let (a, b) = (tenant(meta, "acme").await, tenant(meta, "bravo").await);
    let read = |id: TenantId| async move { meta.tenant_by_id(&id).await.unwrap().unwrap() };
    let fresh = read(a.clone()).await;
    assert_eq!((fresh.capture_policy, fresh.policy_version), (None, 0));

    let policy = "[client_ips]\nmethod = \"drop\"\n";
    assert_eq!(meta.set_capture_policy(&a, Some(policy)).await.unwrap(), 1);
    let set = read(a.clone()).await;
    assert_eq!(set.capture_policy.as_deref(), Some(policy));
    assert_eq!(set.policy_version, 1);
    assert_eq!(
        read(b.clone()).await.capture_policy,
        None,
        "only acme changed"
    );
    let by_name = meta.tenant_by_name("acme").await.unwrap().unwrap();
    assert_eq!(by_name.capture_policy.as_deref(), Some(policy));

    assert_eq!(meta.set_capture_policy(&a, None).await.unwrap(), 2);
    let cleared = read(a.clone()).await;
    assert_eq!((cleared.capture_policy, cleared.policy_version), (None, 2));

    let huge = "#".repeat(scrim_meta::MAX_POLICY_BYTES + 1);
    let err = meta.set_capture_policy(&a, Some(&huge)).await.unwrap_err();
    assert!(matches!(err, MetaError::Invalid { .. }), "{err:?}");
    assert_eq!(
        read(a.clone()).await.policy_version,
        2,
        "nothing half-written"
    );
    let unknown = TenantId::generate().unwrap();
    let err = meta
        .set_capture_policy(&unknown, Some(policy))
        .await
        .unwrap_err();
    assert!(matches!(err, MetaError::NotFound { .. }), "{err:?}");
}

async fn replace_segments_is_all_or_nothing(db: &TestDb) {
    let meta = &db.meta;
    let t = tenant(meta, "acme").await;
    for (p, min, max, svc) in [("p1", 0, 9, "a"), ("p2", 10, 19, "b"), ("p3", 20, 29, "c")] {
        meta.record_segment(&t, &seg(Signal::Traces, p, min, max, &[svc]))
            .await
            .unwrap();
    }
    let all = || meta.segments(&t, Signal::Traces, TimeRange::all(), None);

    // One old path missing: nothing changes, the new segment is not added.
    let err = meta
        .replace_segments(
            &t,
            &["p1", "missing"],
            &seg(Signal::Traces, "c1", 0, 19, &["a", "b"]),
        )
        .await
        .unwrap_err();
    assert!(matches!(err, MetaError::NotFound { .. }), "{err:?}");
    assert_eq!(paths(&all().await.unwrap()), ["p1", "p2", "p3"]);

    // A signal mismatch is a missing segment too.
    let err = meta
        .replace_segments(&t, &["p1"], &seg(Signal::Logs, "c1", 0, 9, &["a"]))
        .await
        .unwrap_err();
    assert!(matches!(err, MetaError::NotFound { .. }), "{err:?}");

    // The new path already taken by a third segment: rolled back, p1 and p2 still there.
    let err = meta
        .replace_segments(&t, &["p1", "p2"], &seg(Signal::Traces, "p3", 0, 19, &[]))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            MetaError::AlreadyExists {
                what: "segment path"
            }
        ),
        "{err:?}"
    );
    assert_eq!(paths(&all().await.unwrap()), ["p1", "p2", "p3"]);

    let merged = meta
        .replace_segments(
            &t,
            &["p1", "p2"],
            &seg(Signal::Traces, "c1", 0, 19, &["b", "a"]),
        )
        .await
        .unwrap();
    assert_eq!(merged.services, ["a", "b"]);
    assert_eq!(paths(&all().await.unwrap()), ["c1", "p3"]);
    let by_service = meta
        .segments(&t, Signal::Traces, TimeRange::all(), Some("b"))
        .await
        .unwrap();
    assert_eq!(paths(&by_service), ["c1"]);

    // Rewriting a segment in place (same path) works.
    meta.replace_segments(&t, &["p3"], &seg(Signal::Traces, "p3", 20, 29, &["d"]))
        .await
        .unwrap();
    let got = meta
        .segments(&t, Signal::Traces, TimeRange::all(), Some("d"))
        .await
        .unwrap();
    assert_eq!(paths(&got), ["p3"]);

    // What replaced what is remembered (not the failed attempts, not a rewrite in place),
    // and forgotten once the replaced segment is past a cutoff.
    let replaced = meta.replacements(&t).await.unwrap();
    let mut pairs: Vec<(&str, &str)> = replaced
        .iter()
        .map(|(a, b)| (a.as_str(), b.as_str()))
        .collect();
    pairs.sort();
    assert_eq!(pairs, [("p1", "c1"), ("p2", "c1")]);
    let other = tenant(meta, "other").await;
    assert!(meta.replacements(&other).await.unwrap().is_empty());
    assert_eq!(meta.forget_replacements(&other, i64::MAX).await.unwrap(), 0);
    assert_eq!(meta.forget_replacements(&t, 10).await.unwrap(), 1);
    let left: Vec<String> = meta.replacements(&t).await.unwrap().into_keys().collect();
    assert_eq!(left, ["p2"]);

    assert_eq!(meta.delete_segments(&t, &["c1", "nope"]).await.unwrap(), 1);
    assert_eq!(paths(&all().await.unwrap()), ["p3"]);
    // Deleted segments' services are gone with them.
    assert!(
        meta.segments(&t, Signal::Traces, TimeRange::all(), Some("a"))
            .await
            .unwrap()
            .is_empty()
    );
}

async fn segment_path_is_unique_and_tenant_must_exist(db: &TestDb) {
    let meta = &db.meta;
    let a = tenant(meta, "tenant-a").await;
    let b = tenant(meta, "tenant-b").await;
    meta.record_segment(&a, &seg(Signal::Traces, "x", 0, 1, &[]))
        .await
        .unwrap();
    for t in [&a, &b] {
        let err = meta
            .record_segment(t, &seg(Signal::Traces, "x", 0, 1, &[]))
            .await
            .unwrap_err();
        assert!(
            matches!(
                err,
                MetaError::AlreadyExists {
                    what: "segment path"
                }
            ),
            "{err:?}"
        );
    }
    let err = meta
        .record_segment(
            &TenantId::generate().unwrap(),
            &seg(Signal::Traces, "y", 0, 1, &[]),
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, MetaError::NotFound { what: "tenant" }),
        "{err:?}"
    );
    let err = meta
        .record_segment(&a, &seg(Signal::Traces, "z", 5, 1, &[]))
        .await
        .unwrap_err();
    assert!(matches!(err, MetaError::Invalid { .. }), "{err:?}");
    let mut huge = seg(Signal::Traces, "z", 0, 1, &[]);
    huge.rows = u64::MAX;
    assert!(matches!(
        meta.record_segment(&a, &huge).await.unwrap_err(),
        MetaError::Invalid { .. }
    ));
    assert!(matches!(
        meta.record_segment(&a, &seg(Signal::Traces, "z", 0, 1, &[""]))
            .await
            .unwrap_err(),
        MetaError::Invalid { .. }
    ));
    let got = meta
        .segments(&a, Signal::Traces, TimeRange::all(), None)
        .await
        .unwrap();
    assert_eq!(paths(&got), ["x"]);
}

fn with_other_secret(key: &str) -> String {
    let (head, last) = key.split_at(key.len() - 1);
    format!("{head}{}", if last == "a" { "b" } else { "a" })
}

async fn api_key_authenticates_with_the_right_secret_only(db: &TestDb) {
    let meta = &db.meta;
    let t = tenant(meta, "acme").await;
    let scopes: Scopes = "ingest,read".parse().unwrap();
    let (record, key) = meta
        .create_api_key(
            &t,
            scopes,
            NewApiKey {
                name: Some("ci".into()),
                ..NewApiKey::default()
            },
        )
        .await
        .unwrap();
    let plaintext = key.expose();
    assert_eq!(record.id, *key.id());
    assert_eq!(record.tenant_id, t);
    assert_eq!(record.scopes, scopes);
    assert_eq!(record.name.as_deref(), Some("ci"));
    assert_eq!(
        meta.api_key(&t, key.id()).await.unwrap(),
        Some(record.clone())
    );
    assert_eq!(
        meta.list_api_keys(&t).await.unwrap(),
        std::slice::from_ref(&record)
    );

    let principal = meta.authenticate_api_key(&plaintext, None).await.unwrap();
    assert_eq!(principal.tenant_id, t);
    assert_eq!(principal.key_id, record.id);
    assert!(principal.scopes.contains(Scope::IngestLogs));
    assert!(principal.scopes.contains(Scope::Read));
    assert!(!principal.scopes.contains(Scope::Admin));

    let wrong = with_other_secret(&plaintext);
    let err = meta.authenticate_api_key(&wrong, None).await.unwrap_err();
    assert!(matches!(err, AuthError::WrongSecret), "{err:?}");
    assert!(err.is_refusal());

    // Another existing key's id with this key's secret.
    let (_, other) = meta
        .create_api_key(&t, scopes, NewApiKey::default())
        .await
        .unwrap();
    let secret = plaintext.rsplit('_').next().unwrap();
    let tampered = format!("scrim_{}_{secret}", other.id());
    let err = meta
        .authenticate_api_key(&tampered, None)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::WrongSecret), "{err:?}");

    // An id nobody issued.
    let unknown = ApiKey::generate().unwrap().expose();
    let err = meta.authenticate_api_key(&unknown, None).await.unwrap_err();
    assert!(matches!(err, AuthError::UnknownKey), "{err:?}");

    for bad in ["", "Bearer x", "scrim_", &plaintext[..plaintext.len() - 1]] {
        let err = meta.authenticate_api_key(bad, None).await.unwrap_err();
        assert!(matches!(err, AuthError::Malformed(_)), "{bad}: {err:?}");
    }

    // No secret in any message or debug output.
    for shown in [
        format!("{err:?}"),
        format!(
            "{}",
            meta.authenticate_api_key(&wrong, None).await.unwrap_err()
        ),
        format!("{record:?}"),
        format!("{key:?}"),
        format!("{key}"),
        format!("{principal:?}"),
    ] {
        assert!(!shown.contains(secret), "{shown}");
    }

    // Keys of one tenant are invisible to another.
    let b = tenant(meta, "beta").await;
    assert!(meta.list_api_keys(&b).await.unwrap().is_empty());
    assert_eq!(meta.api_key(&b, key.id()).await.unwrap(), None);

    let err = meta
        .create_api_key(&t, Scopes::empty(), NewApiKey::default())
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            MetaError::Invalid {
                field: "scopes",
                ..
            }
        ),
        "{err:?}"
    );
    let err = meta
        .create_api_key(&TenantId::generate().unwrap(), scopes, NewApiKey::default())
        .await
        .unwrap_err();
    assert!(
        matches!(err, MetaError::NotFound { what: "tenant" }),
        "{err:?}"
    );
}

async fn revocation_takes_effect_at_once_on_every_node(db: &TestDb) {
    let node1 = &db.meta;
    let node2 = db.reopen().await.unwrap();
    let t = tenant(node1, "acme").await;
    let other = tenant(node1, "beta").await;
    let (_, key) = node1
        .create_api_key(&t, "ingest".parse().unwrap(), NewApiKey::default())
        .await
        .unwrap();
    let plaintext = key.expose();
    node1.authenticate_api_key(&plaintext, None).await.unwrap();
    node2.authenticate_api_key(&plaintext, None).await.unwrap();

    // Another tenant cannot revoke it.
    let err = node1.revoke_api_key(&other, key.id()).await.unwrap_err();
    assert!(
        matches!(err, MetaError::NotFound { what: "API key" }),
        "{err:?}"
    );
    node2.authenticate_api_key(&plaintext, None).await.unwrap();

    node1.revoke_api_key(&t, key.id()).await.unwrap();
    for node in [node1, &node2] {
        let err = node
            .authenticate_api_key(&plaintext, None)
            .await
            .unwrap_err();
        assert!(
            matches!(&err, AuthError::Revoked { tenant_id, key_id }
                if tenant_id == &t && key_id == key.id()),
            "{err:?}"
        );
    }
    // A wrong secret for a revoked key is still just a wrong secret.
    let err = node2
        .authenticate_api_key(&with_other_secret(&plaintext), None)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::WrongSecret), "{err:?}");

    let first = node1
        .api_key(&t, key.id())
        .await
        .unwrap()
        .unwrap()
        .revoked_at;
    assert!(first.is_some());
    node2.revoke_api_key(&t, key.id()).await.unwrap();
    assert_eq!(
        node1
            .api_key(&t, key.id())
            .await
            .unwrap()
            .unwrap()
            .revoked_at,
        first
    );
    node2.close().await;
}

async fn expired_key_is_refused(db: &TestDb) {
    let meta = &db.meta;
    let t = tenant(meta, "acme").await;
    let now = SystemTime::now();
    let (past, expired) = meta
        .create_api_key(
            &t,
            "read".parse().unwrap(),
            NewApiKey {
                expires_at: Some(now - Duration::from_secs(1)),
                ..NewApiKey::default()
            },
        )
        .await
        .unwrap();
    assert!(past.expires_at.is_some());
    let err = meta
        .authenticate_api_key(&expired.expose(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Expired), "{err:?}");

    let (_, valid) = meta
        .create_api_key(
            &t,
            "read".parse().unwrap(),
            NewApiKey {
                expires_at: Some(now + Duration::from_secs(3600)),
                ..NewApiKey::default()
            },
        )
        .await
        .unwrap();
    meta.authenticate_api_key(&valid.expose(), None)
        .await
        .unwrap();
}

async fn last_use_is_recorded_and_throttled(db: &TestDb) {
    let t = tenant(&db.meta, "acme").await;
    let (_, key) = db
        .meta
        .create_api_key(&t, "read".parse().unwrap(), NewApiKey::default())
        .await
        .unwrap();
    let first: IpAddr = "192.0.2.1".parse().unwrap();
    let second: IpAddr = "2001:db8::2".parse().unwrap();
    let stored = async |meta: &Meta| meta.api_key(&t, key.id()).await.unwrap().unwrap();

    // Default interval (a minute): the second use within it is not written.
    let throttled = &db.meta;
    assert_eq!(stored(throttled).await.last_used_at, None);
    throttled
        .authenticate_api_key(&key.expose(), Some(first))
        .await
        .unwrap();
    let after_first = stored(throttled).await;
    assert!(after_first.last_used_at.is_some());
    assert_eq!(after_first.last_used_addr, Some(first));
    throttled
        .authenticate_api_key(&key.expose(), Some(second))
        .await
        .unwrap();
    assert_eq!(stored(throttled).await.last_used_addr, Some(first));

    // Interval zero: every use is written.
    let mut eager = db.reopen().await.unwrap();
    eager.set_last_used_interval(Duration::ZERO);
    eager
        .authenticate_api_key(&key.expose(), Some(second))
        .await
        .unwrap();
    assert_eq!(stored(&eager).await.last_used_addr, Some(second));
    eager
        .authenticate_api_key(&key.expose(), Some(first))
        .await
        .unwrap();
    assert_eq!(stored(&eager).await.last_used_addr, Some(first));
    eager.close().await;
}

async fn migrations_are_idempotent(db: &TestDb) {
    let t = tenant(&db.meta, "acme").await;
    db.meta
        .record_segment(&t, &seg(Signal::Traces, "p", 0, 1, &["svc"]))
        .await
        .unwrap();
    for _ in 0..2 {
        let again = db.reopen().await.unwrap();
        assert_eq!(again.tenant_by_name("acme").await.unwrap().unwrap().id, t);
        let got = again
            .segments(&t, Signal::Traces, TimeRange::all(), Some("svc"))
            .await
            .unwrap();
        assert_eq!(paths(&got), ["p"]);
        tenant(
            &again,
            &format!("t-{}", again.list_tenants().await.unwrap().len()),
        )
        .await;
        again.close().await;
    }
    assert_eq!(db.meta.list_tenants().await.unwrap().len(), 3);
}

// SQLite only.

#[tokio::test]
async fn open_in_creates_meta_db_in_wal_mode() {
    use sqlx::Connection;
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");
    let meta = Meta::open_in(&data).await.unwrap();
    assert_eq!(meta.backend(), scrim_meta::Backend::Sqlite);
    tenant(&meta, "acme").await;
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        // While open, the WAL exists too and inherits the mode.
        for name in [scrim_meta::SQLITE_FILE, "meta.db-wal"] {
            let mode = std::fs::metadata(data.join(name))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600, "{name}");
        }
    }
    meta.close().await;

    let file = data.join(scrim_meta::SQLITE_FILE);
    assert!(file.is_file());
    let mut conn = sqlx::SqliteConnection::connect(&format!("sqlite://{}", file.display()))
        .await
        .unwrap();
    let (mode,): (String,) = sqlx::query_as("PRAGMA journal_mode")
        .fetch_one(&mut conn)
        .await
        .unwrap();
    assert_eq!(mode, "wal");
    conn.close().await.unwrap();
}

#[tokio::test]
async fn connect_accepts_sqlite_urls_and_refuses_others() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}?mode=rwc", dir.path().join("m.db").display());
    let meta = Meta::connect(&url).await.unwrap();
    tenant(&meta, "acme").await;
    meta.close().await;
    let meta = Meta::connect(&url).await.unwrap();
    assert!(meta.tenant_by_name("acme").await.unwrap().is_some());
    meta.close().await;

    let mem = Meta::connect("sqlite::memory:").await.unwrap();
    tenant(&mem, "acme").await;
    assert_eq!(mem.list_tenants().await.unwrap().len(), 1);
    mem.close().await;

    for bad in ["mysql://localhost/x", "", "http://x"] {
        let err = Meta::connect(bad).await.unwrap_err();
        assert!(matches!(err, MetaError::UnsupportedUrl), "{bad}: {err:?}");
    }
}

/// The server calls these from axum handlers and spawned tasks: their futures must be
/// `Send`, and `Meta` shareable across threads.
#[allow(dead_code, clippy::let_underscore_future)]
fn futures_are_send(meta: &Meta, t: &TenantId, id: &scrim_meta::KeyId) {
    fn send<T: Send>(_: T) {}
    fn sync<T: Send + Sync>() {}
    sync::<Meta>();
    send(meta.authenticate_api_key("", None));
    send(meta.create_api_key(t, Scopes::empty(), NewApiKey::default()));
    send(meta.revoke_api_key(t, id));
    send(meta.create_tenant(&NewTenant::new("x", vec![1]).unwrap()));
    send(meta.segments(t, Signal::Traces, TimeRange::all(), None));
    send(meta.replace_segments(t, &["a"], &seg(Signal::Traces, "b", 0, 1, &[])));
    send(meta.delete_segments(t, &[String::new()]));
    send(Meta::connect(""));
}

async fn deletions_are_claimed_once_and_a_shredded_tenant_is_gone(db: &TestDb) {
    let meta = &db.meta;
    let t = tenant(meta, "acme").await;
    meta.record_flush(
        &t,
        &[seg(Signal::Logs, "r/t/logs/a", 1, 2, &["shop"])],
        None,
    )
    .await
    .unwrap();
    let request = |id: &str, scope: DeletionScope| NewDeletion {
        id: id.into(),
        tenant_id: t.clone(),
        scope,
        erasure: (scope == DeletionScope::Selective).then(|| "{}".to_owned()),
        requested_by: "operator".into(),
    };
    let d = meta
        .insert_deletion(&request("del_a", DeletionScope::Selective))
        .await
        .unwrap();
    assert_eq!(d.status, DeletionStatus::Pending);
    let mut no_erasure = request("del_b", DeletionScope::Selective);
    no_erasure.erasure = None;
    assert!(meta.insert_deletion(&no_erasure).await.is_err());

    // A node of another region never takes it.
    assert!(meta.claim_deletion(0, &["eu"]).await.unwrap().is_none());
    // Claimed once; taken again only once its claim is older than the cutoff.
    let claimed = meta
        .claim_deletion(0, &["local", "eu"])
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (claimed.id.as_str(), claimed.status),
        ("del_a", DeletionStatus::Running)
    );
    assert!(meta.claim_deletion(0, &["local"]).await.unwrap().is_none());
    assert_eq!(
        meta.claim_deletion(i64::MAX, &["local"])
            .await
            .unwrap()
            .unwrap()
            .id,
        "del_a"
    );
    meta.finish_deletion("del_a", DeletionStatus::Done, 5, 2, None)
        .await
        .unwrap();
    assert!(
        meta.claim_deletion(i64::MAX, &["local"])
            .await
            .unwrap()
            .is_none()
    );
    let listed = meta.deletions(&t).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(
        (listed[0].rows_removed, listed[0].segments_rewritten),
        (5, 2)
    );

    // A shredded tenant: its keys destroyed, hidden everywhere, nothing more accepted.
    let shredded = meta.shred_tenant(&t).await.unwrap();
    assert_eq!(shredded.segments, ["r/t/logs/a"]);
    assert!(meta.tenant_by_name("acme").await.unwrap().is_none());
    assert!(meta.tenant_by_id(&t).await.unwrap().is_none());
    assert!(meta.list_tenants().await.unwrap().is_empty());
    assert!(meta.wrapped_key_sample().await.unwrap().is_none());
    // Where its data was is still known, for the removal to finish there.
    assert_eq!(
        meta.tenant_region(&t).await.unwrap().as_deref(),
        Some("local")
    );
    assert!(meta.tenant_data_keys(&t).await.unwrap().is_empty());
    assert!(
        meta.segments(&t, Signal::Logs, TimeRange::all(), None)
            .await
            .unwrap()
            .is_empty()
    );
    let again = meta.shred_tenant(&t).await.unwrap_err();
    assert!(matches!(again, MetaError::NotFound { .. }), "{again:?}");
    let flush = meta
        .record_flush(&t, &[seg(Signal::Logs, "r/t/logs/b", 1, 2, &[])], None)
        .await
        .unwrap_err();
    assert!(matches!(flush, MetaError::NotFound { .. }), "{flush:?}");
    let late = meta
        .insert_deletion(&request("del_c", DeletionScope::Tenant))
        .await
        .unwrap_err();
    assert!(matches!(late, MetaError::NotFound { .. }), "{late:?}");
    // The tombstone stays; the name is free.
    assert_eq!(meta.deletions(&t).await.unwrap().len(), 1);
    tenant(meta, "acme").await;
}
