//! Audit-chain storage on SQLite and (with `SCRIM_TEST_POSTGRES_URL`) PostgreSQL: appends
//! continue the chain, never fork it under concurrency, and a refused append stores nothing;
//! pruning keeps the chain's end; an API key's address is new exactly once.

mod common;

use common::TestDb;
use scrim_meta::{AuditQuery, AuditRow, CheckpointRow, MetaError};
use sha2::{Digest, Sha256};
use std::net::IpAddr;

on_both_backends!(
    appends_form_one_chain_per_tenant,
    concurrent_appends_from_two_nodes_never_fork_the_chain,
    a_failed_or_inconsistent_append_stores_nothing,
    records_are_filtered_newest_first_and_checkpoints_kept,
    a_key_address_is_new_once_per_key_and_address,
    racing_nodes_see_a_new_key_address_exactly_once,
    prune_removes_the_oldest_records_and_the_chain_continues,
    head_and_single_record_reads,
);

/// A row as a writer would make it; the hash here is a stand-in for scrim-audit's.
fn row(tenant: &str, seq: u64, prev: [u8; 32], actor: &str, action: &str, at_ms: i64) -> AuditRow {
    let body = format!("{{\"seq\":{seq},\"action\":\"{action}\"}}");
    let mut h = Sha256::new();
    h.update(prev);
    h.update(body.as_bytes());
    AuditRow {
        tenant: tenant.into(),
        seq,
        at_ms,
        actor: actor.into(),
        action: action.into(),
        outcome: "allowed".into(),
        body,
        prev_hash: prev.to_vec(),
        hash: h.finalize().to_vec(),
    }
}

async fn appends_form_one_chain_per_tenant(db: &TestDb) {
    let meta = &db.meta;
    let mut hashes = Vec::new();
    for i in 0..5 {
        let r = meta
            .append_audit("t_a", |seq, prev| {
                Ok(row("t_a", seq, prev, "u_x", "telemetry.read", i))
            })
            .await
            .unwrap();
        assert_eq!(r.seq, i as u64 + 1);
        hashes.push(r.hash.clone());
    }
    let other = meta
        .append_audit("t_b", |seq, prev| {
            Ok(row("t_b", seq, prev, "u_y", "session.sign_in", 0))
        })
        .await
        .unwrap();
    assert_eq!((other.seq, other.prev_hash.clone()), (1, vec![0; 32]));
    let chain = meta.audit_chain("t_a", 0, 100).await.unwrap();
    assert_eq!(chain.len(), 5);
    assert_eq!(chain[0].prev_hash, vec![0; 32]);
    for w in chain.windows(2) {
        assert_eq!(w[1].prev_hash, w[0].hash);
        assert_eq!(w[1].seq, w[0].seq + 1);
    }
    assert_eq!(meta.audit_chain("t_a", 3, 100).await.unwrap().len(), 2);
    assert_eq!(meta.audit_tenants().await.unwrap(), vec!["t_a", "t_b"]);
}

async fn concurrent_appends_from_two_nodes_never_fork_the_chain(db: &TestDb) {
    let a = std::sync::Arc::new(db.reopen().await.unwrap());
    let b = std::sync::Arc::new(db.reopen().await.unwrap());
    let mut tasks = Vec::new();
    for i in 0..40 {
        let node = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            node.append_audit("t_c", |seq, prev| {
                Ok(row("t_c", seq, prev, "k", "telemetry.read", i))
            })
            .await
            .unwrap()
        }));
    }
    for t in tasks {
        t.await.unwrap();
    }
    let chain = db.meta.audit_chain("t_c", 0, 1000).await.unwrap();
    assert_eq!(chain.len(), 40);
    for (i, w) in chain.windows(2).enumerate() {
        assert_eq!(w[1].prev_hash, w[0].hash, "fork after record {}", i + 1);
    }
    a.close().await;
    b.close().await;
}

async fn a_failed_or_inconsistent_append_stores_nothing(db: &TestDb) {
    let meta = &db.meta;
    let err = meta
        .append_audit("t_d", |_, _| {
            Err(MetaError::Invalid {
                field: "x",
                reason: "refused",
            })
        })
        .await
        .unwrap_err();
    assert!(matches!(err, MetaError::Invalid { field: "x", .. }));
    // A row that does not continue the chain is refused.
    let err = meta
        .append_audit("t_d", |seq, _| Ok(row("t_d", seq, [9; 32], "k", "x.y", 0)))
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            MetaError::Invalid {
                field: "audit record",
                ..
            }
        ),
        "{err:?}"
    );
    assert!(meta.audit_chain("t_d", 0, 10).await.unwrap().is_empty());
    let ok = meta
        .append_audit("t_d", |seq, prev| Ok(row("t_d", seq, prev, "k", "x.y", 0)))
        .await
        .unwrap();
    assert_eq!(ok.seq, 1);
}

async fn records_are_filtered_newest_first_and_checkpoints_kept(db: &TestDb) {
    let meta = &db.meta;
    for (i, (actor, action)) in [
        ("u_1", "session.sign_in"),
        ("u_2", "telemetry.read"),
        ("u_1", "telemetry.read"),
    ]
    .into_iter()
    .enumerate()
    {
        meta.append_audit("t_e", |seq, prev| {
            Ok(row("t_e", seq, prev, actor, action, 1000 * i as i64))
        })
        .await
        .unwrap();
    }
    let all = meta
        .audit_rows("t_e", &AuditQuery::default())
        .await
        .unwrap();
    assert_eq!(all.iter().map(|r| r.seq).collect::<Vec<_>>(), [3, 2, 1]);
    let by_actor = meta
        .audit_rows(
            "t_e",
            &AuditQuery {
                actor: Some("u_1".into()),
                ..AuditQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(by_actor.len(), 2);
    let reads_after = meta
        .audit_rows(
            "t_e",
            &AuditQuery {
                action: Some("telemetry.read".into()),
                start_ms: Some(1500),
                ..AuditQuery::default()
            },
        )
        .await
        .unwrap();
    assert_eq!(reads_after.iter().map(|r| r.seq).collect::<Vec<_>>(), [3]);
    assert!(
        meta.audit_rows("t_other", &AuditQuery::default())
            .await
            .unwrap()
            .is_empty()
    );

    let c = CheckpointRow {
        tenant: "t_e".into(),
        seq: 3,
        body: "{}".into(),
        signature: vec![1; 64],
        key_id: "abcd".into(),
        at_ms: 5,
    };
    meta.store_audit_checkpoint(&c).await.unwrap();
    assert_eq!(
        meta.audit_checkpoints("t_e").await.unwrap(),
        vec![c.clone()]
    );
    assert!(matches!(
        meta.store_audit_checkpoint(&c).await.unwrap_err(),
        MetaError::AlreadyExists { .. }
    ));
}

fn ip(s: &str) -> IpAddr {
    s.parse().unwrap()
}

async fn a_key_address_is_new_once_per_key_and_address(db: &TestDb) {
    let meta = &db.meta;
    assert!(
        meta.note_key_address("k1", ip("192.0.2.1"), 10)
            .await
            .unwrap()
    );
    assert!(
        !meta
            .note_key_address("k1", ip("192.0.2.1"), 20)
            .await
            .unwrap()
    );
    assert!(
        !meta
            .note_key_address("k1", ip("192.0.2.1"), 30)
            .await
            .unwrap()
    );
    // Another address of the same key, the same address of another key.
    assert!(
        meta.note_key_address("k1", ip("192.0.2.2"), 40)
            .await
            .unwrap()
    );
    assert!(
        meta.note_key_address("k2", ip("192.0.2.1"), 50)
            .await
            .unwrap()
    );
    assert!(
        !meta
            .note_key_address("k2", ip("192.0.2.1"), 60)
            .await
            .unwrap()
    );
    // IPv6, and an IPv4 client seen through an IPv6 socket is the IPv4 address.
    assert!(
        meta.note_key_address("k1", ip("2001:db8::1"), 70)
            .await
            .unwrap()
    );
    assert!(
        !meta
            .note_key_address("k1", ip("2001:db8::1"), 80)
            .await
            .unwrap()
    );
    assert!(
        !meta
            .note_key_address("k1", ip("::ffff:192.0.2.2"), 90)
            .await
            .unwrap()
    );
    assert!(
        meta.note_key_address("k3", ip("::ffff:192.0.2.9"), 100)
            .await
            .unwrap()
    );
    assert!(
        !meta
            .note_key_address("k3", ip("192.0.2.9"), 110)
            .await
            .unwrap()
    );
}

async fn racing_nodes_see_a_new_key_address_exactly_once(db: &TestDb) {
    let a = std::sync::Arc::new(db.reopen().await.unwrap());
    let b = std::sync::Arc::new(db.reopen().await.unwrap());
    let mut tasks = Vec::new();
    for i in 0..20 {
        let node = if i % 2 == 0 { a.clone() } else { b.clone() };
        tasks.push(tokio::spawn(async move {
            node.note_key_address("k_race", ip("198.51.100.7"), i)
                .await
                .unwrap()
        }));
    }
    let mut new = 0;
    for t in tasks {
        new += usize::from(t.await.unwrap());
    }
    assert_eq!(new, 1);
    a.close().await;
    b.close().await;
}

async fn append_n(meta: &scrim_meta::Meta, tenant: &str, n: usize) -> Vec<AuditRow> {
    let mut out = Vec::new();
    for i in 0..n {
        let r = meta
            .append_audit(tenant, |seq, prev| {
                Ok(row(tenant, seq, prev, "u_x", "telemetry.read", i as i64))
            })
            .await
            .unwrap();
        out.push(r);
    }
    out
}

async fn prune_removes_the_oldest_records_and_the_chain_continues(db: &TestDb) {
    let meta = &db.meta;
    let p = append_n(meta, "t_p", 10).await;
    let q = append_n(meta, "t_q", 3).await;
    let c = CheckpointRow {
        tenant: "t_p".into(),
        seq: 4,
        body: "{}".into(),
        signature: vec![2; 64],
        key_id: "abcd".into(),
        at_ms: 7,
    };
    meta.store_audit_checkpoint(&c).await.unwrap();

    assert_eq!(meta.prune_audit("t_p", 4).await.unwrap(), 4);
    let left = meta.audit_chain("t_p", 0, 100).await.unwrap();
    assert_eq!(left, p[4..]);
    assert_eq!(
        meta.audit_head("t_p").await.unwrap(),
        Some((10, p[9].hash.clone()))
    );
    assert_eq!(
        meta.audit_checkpoints("t_p").await.unwrap(),
        vec![c.clone()]
    );
    // Another tenant's chain is untouched, and pruning again removes nothing.
    assert_eq!(meta.audit_chain("t_q", 0, 100).await.unwrap(), q);
    assert_eq!(meta.prune_audit("t_p", 4).await.unwrap(), 0);
    assert_eq!(meta.prune_audit("t_none", 100).await.unwrap(), 0);

    let next = append_n(meta, "t_p", 1).await.remove(0);
    assert_eq!((next.seq, &next.prev_hash), (11, &p[9].hash));

    // Pruning the whole chain still leaves its end to append after.
    assert_eq!(meta.prune_audit("t_p", u64::MAX).await.unwrap(), 7);
    assert!(meta.audit_chain("t_p", 0, 100).await.unwrap().is_empty());
    assert_eq!(
        meta.audit_head("t_p").await.unwrap(),
        Some((11, next.hash.clone()))
    );
    let after = append_n(meta, "t_p", 1).await.remove(0);
    assert_eq!((after.seq, &after.prev_hash), (12, &next.hash));
    assert_eq!(meta.audit_chain("t_q", 0, 100).await.unwrap(), q);
    assert_eq!(meta.audit_checkpoints("t_p").await.unwrap(), vec![c]);
    assert_eq!(meta.audit_tenants().await.unwrap(), vec!["t_p", "t_q"]);
}

async fn head_and_single_record_reads(db: &TestDb) {
    let meta = &db.meta;
    assert_eq!(meta.audit_head("t_h").await.unwrap(), None);
    assert_eq!(meta.audit_record("t_h", 1).await.unwrap(), None);
    let rows = append_n(meta, "t_h", 3).await;
    append_n(meta, "t_i", 1).await;
    assert_eq!(
        meta.audit_head("t_h").await.unwrap(),
        Some((3, rows[2].hash.clone()))
    );
    for r in &rows {
        assert_eq!(
            meta.audit_record("t_h", r.seq).await.unwrap().as_ref(),
            Some(r)
        );
    }
    assert_eq!(meta.audit_record("t_h", 0).await.unwrap(), None);
    assert_eq!(meta.audit_record("t_h", 4).await.unwrap(), None);
    assert_eq!(meta.audit_record("t_h", u64::MAX).await.unwrap(), None);
    // Record 2 of t_i does not exist; record 1 is t_i's own, not t_h's.
    assert_eq!(meta.audit_record("t_i", 2).await.unwrap(), None);
    assert_eq!(
        meta.audit_record("t_i", 1).await.unwrap().unwrap().tenant,
        "t_i"
    );
}
