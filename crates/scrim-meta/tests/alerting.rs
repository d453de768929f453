//! Alerting storage on SQLite and (with `SCRIM_TEST_POSTGRES_URL`) PostgreSQL: alert rules
//! and their state, alert history, notification channels, the delivery outbox,
//! sensitive-data findings, detector cursors, containment (frozen reads, suspended keys,
//! revoked sessions), audit counts, and the removal of all of it with the tenant.

mod common;

use std::time::Duration;

use common::TestDb;
use scrim_meta::{
    AuditRow, AuthError, AuthMethod, DeliveryOutcome, FindingRow, Meta, MetaError, NewAlertRule,
    NewApiKey, NewSession, NewTenant, NewUser, NotificationRow, SessionHash, TenantId,
};

on_both_backends!(
    alert_rules_are_created_listed_updated_and_deleted,
    alert_state_is_recorded_and_events_listed_newest_first,
    channels_keep_their_secret_and_never_show_it,
    deliveries_are_retried_delivered_once_and_failed_with_their_channel,
    a_due_delivery_is_claimed_by_one_node,
    findings_are_summed_and_first_sightings_reported_once,
    cursors_are_upserted,
    a_lease_has_one_holder_until_it_expires,
    suspended_keys_are_refused_until_restored,
    a_revoked_key_names_its_tenant_and_last_use_is_the_previous_one,
    tenant_sessions_are_revoked_in_that_tenant_only,
    reads_are_frozen_and_thawed,
    audit_records_are_counted_by_action_outcome_and_time,
    shredding_a_tenant_removes_its_alerting_rows,
);

const HOUR: i64 = 3_600_000;

async fn tenant(meta: &Meta, name: &str) -> TenantId {
    let new = NewTenant::new(name, vec![7u8; 60]).unwrap();
    meta.create_tenant(&new).await.unwrap().id
}

fn rule(name: &str, spec: &str) -> NewAlertRule {
    NewAlertRule {
        name: name.into(),
        spec: spec.into(),
        enabled: true,
        created_by: Some("u_alice".into()),
    }
}

fn note(id: &str, tenant: &TenantId, at: i64) -> NotificationRow {
    NotificationRow {
        id: id.into(),
        tenant_id: tenant.clone(),
        kind: "alert".into(),
        severity: "critical".into(),
        title: format!("{id} fired"),
        payload: r#"{"value":3.5}"#.into(),
        created_at_ms: at,
    }
}

fn finding(hour_ms: i64, service: &str, attribute: &str, kind: &str, count: u64) -> FindingRow {
    FindingRow {
        hour_ms,
        service: service.into(),
        attribute: attribute.into(),
        kind: kind.into(),
        count,
    }
}

async fn alert_rules_are_created_listed_updated_and_deleted(db: &TestDb) {
    let meta = &db.meta;
    let t = tenant(meta, "acme").await;
    let other = tenant(meta, "globex").await;
    let latency = meta
        .create_alert_rule(&t, &rule("latency", r#"{"p":99}"#), 1_000)
        .await
        .unwrap();
    assert!(latency.id.starts_with("al_"), "{}", latency.id);
    assert_eq!(latency.id.len(), 19);
    assert!(
        latency.id[3..]
            .bytes()
            .all(|b| b.is_ascii_lowercase() || (b'2'..=b'7').contains(&b))
    );
    assert_eq!(latency.tenant_id, t);
    assert_eq!(latency.state, "ok");
    assert_eq!(
        (latency.created_at_ms, latency.updated_at_ms),
        (1_000, 1_000)
    );
    assert_eq!(latency.created_by.as_deref(), Some("u_alice"));
    assert!(latency.enabled);
    assert_eq!(latency.state_since_ms, None);
    let errors = meta
        .create_alert_rule(&t, &rule("errors", "{}"), 2_000)
        .await
        .unwrap();
    // The same name in another tenant is fine; twice in one tenant is not.
    meta.create_alert_rule(&other, &rule("latency", "{}"), 1_000)
        .await
        .unwrap();
    let err = meta
        .create_alert_rule(&t, &rule("latency", "{}"), 3_000)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            MetaError::AlreadyExists {
                what: "alert rule name"
            }
        ),
        "{err:?}"
    );
    let err = meta
        .create_alert_rule(&t, &rule("  ", "{}"), 3_000)
        .await
        .unwrap_err();
    assert!(matches!(err, MetaError::Invalid { .. }), "{err:?}");
    let err = meta
        .create_alert_rule(&TenantId::generate().unwrap(), &rule("x", "{}"), 3_000)
        .await
        .unwrap_err();
    assert!(
        matches!(err, MetaError::NotFound { what: "tenant" }),
        "{err:?}"
    );

    let names: Vec<String> = meta
        .alert_rules(&t)
        .await
        .unwrap()
        .into_iter()
        .map(|r| r.name)
        .collect();
    assert_eq!(names, ["errors", "latency"]);
    assert_eq!(
        meta.alert_rule(&t, &latency.id).await.unwrap(),
        Some(latency.clone())
    );
    assert_eq!(meta.alert_rule(&other, &latency.id).await.unwrap(), None);

    // Same spec: the state stays.
    meta.set_alert_state(&t, &latency.id, "pending", Some(5_000), Some(1.5), 5_000)
        .await
        .unwrap();
    let renamed = meta
        .update_alert_rule(&t, &latency.id, "latency-p99", r#"{"p":99}"#, false, 6_000)
        .await
        .unwrap();
    assert_eq!(renamed.name, "latency-p99");
    assert!(!renamed.enabled);
    assert_eq!(renamed.updated_at_ms, 6_000);
    assert_eq!(renamed.created_at_ms, 1_000);
    assert_eq!(
        (renamed.state.as_str(), renamed.state_since_ms),
        ("pending", Some(5_000))
    );
    // A new spec: back to ok.
    let changed = meta
        .update_alert_rule(&t, &latency.id, "latency-p99", r#"{"p":95}"#, true, 7_000)
        .await
        .unwrap();
    assert_eq!(changed.spec, r#"{"p":95}"#);
    assert_eq!(
        (changed.state.as_str(), changed.state_since_ms),
        ("ok", None)
    );
    assert_eq!(
        meta.alert_rule(&t, &latency.id).await.unwrap(),
        Some(changed)
    );

    let err = meta
        .update_alert_rule(&t, &latency.id, "errors", "{}", true, 8_000)
        .await
        .unwrap_err();
    assert!(matches!(err, MetaError::AlreadyExists { .. }), "{err:?}");
    let err = meta
        .update_alert_rule(&other, &latency.id, "x", "{}", true, 8_000)
        .await
        .unwrap_err();
    assert!(
        matches!(err, MetaError::NotFound { what: "alert rule" }),
        "{err:?}"
    );

    // Another tenant cannot delete it; its owner can, once.
    let err = meta
        .delete_alert_rule(&other, &errors.id)
        .await
        .unwrap_err();
    assert!(matches!(err, MetaError::NotFound { .. }), "{err:?}");
    meta.delete_alert_rule(&t, &errors.id).await.unwrap();
    let err = meta.delete_alert_rule(&t, &errors.id).await.unwrap_err();
    assert!(
        matches!(err, MetaError::NotFound { what: "alert rule" }),
        "{err:?}"
    );
    assert_eq!(meta.alert_rules(&t).await.unwrap().len(), 1);
}

async fn alert_state_is_recorded_and_events_listed_newest_first(db: &TestDb) {
    let meta = &db.meta;
    let t = tenant(meta, "acme").await;
    let other = tenant(meta, "globex").await;
    let idle = tenant(meta, "initech").await;
    let r = meta
        .create_alert_rule(&t, &rule("latency", "{}"), 1_000)
        .await
        .unwrap();
    let mut off = rule("off", "{}");
    off.enabled = false;
    meta.create_alert_rule(&idle, &off, 1_000).await.unwrap();
    meta.create_alert_rule(&other, &rule("x", "{}"), 1_000)
        .await
        .unwrap();
    let mut expected = vec![t.clone(), other.clone()];
    expected.sort();
    assert_eq!(meta.tenants_with_alert_rules().await.unwrap(), expected);

    meta.set_alert_state(&t, &r.id, "firing", Some(10_000), Some(2.25), 12_000)
        .await
        .unwrap();
    let got = meta.alert_rule(&t, &r.id).await.unwrap().unwrap();
    assert_eq!(got.state, "firing");
    assert_eq!(got.state_since_ms, Some(10_000));
    assert_eq!(got.last_value, Some(2.25));
    assert_eq!(got.last_evaluated_at_ms, Some(12_000));
    let err = meta
        .set_alert_state(&t, &r.id, "exploded", None, None, 1)
        .await
        .unwrap_err();
    assert!(matches!(err, MetaError::Invalid { .. }), "{err:?}");
    let err = meta
        .set_alert_state(&other, &r.id, "ok", None, None, 1)
        .await
        .unwrap_err();
    assert!(matches!(err, MetaError::NotFound { .. }), "{err:?}");

    let a = meta
        .record_alert_event(&t, &r.id, "latency", "firing", Some(2.25), 2.0, 10_000)
        .await
        .unwrap();
    let b = meta
        .record_alert_event(&t, &r.id, "latency", "resolved", None, 2.0, 20_000)
        .await
        .unwrap();
    let c = meta
        .record_alert_event(&t, "al_other", "errors", "firing", Some(9.0), 1.0, 15_000)
        .await
        .unwrap();
    meta.record_alert_event(&other, "al_x", "x", "firing", None, 1.0, 30_000)
        .await
        .unwrap();
    assert!(b > a);
    let err = meta
        .record_alert_event(&t, &r.id, "latency", "ok", None, 2.0, 1)
        .await
        .unwrap_err();
    assert!(matches!(err, MetaError::Invalid { .. }), "{err:?}");

    let all = meta.alert_events(&t, None, 100).await.unwrap();
    let ids: Vec<i64> = all.iter().map(|e| e.id).collect();
    assert_eq!(ids, [b, c, a]);
    assert_eq!(all[2].value, Some(2.25));
    assert_eq!(all[2].threshold, 2.0);
    assert_eq!(all[2].rule_name, "latency");
    assert_eq!(all[2].tenant_id, t);
    assert_eq!(all[0].value, None);
    assert_eq!(all[0].state, "resolved");
    let of_rule: Vec<i64> = meta
        .alert_events(&t, Some(&r.id), 100)
        .await
        .unwrap()
        .iter()
        .map(|e| e.id)
        .collect();
    assert_eq!(of_rule, [b, a]);
    assert_eq!(meta.alert_events(&t, None, 1).await.unwrap().len(), 1);
    // Events outlive their rule.
    meta.delete_alert_rule(&t, &r.id).await.unwrap();
    assert_eq!(
        meta.alert_events(&t, Some(&r.id), 100).await.unwrap().len(),
        2
    );
}

async fn channels_keep_their_secret_and_never_show_it(db: &TestDb) {
    let meta = &db.meta;
    let t = tenant(meta, "acme").await;
    let other = tenant(meta, "globex").await;
    let secret = vec![0xA5u8; 48];
    let ch = meta
        .create_channel(
            &t,
            "ops",
            "webhook",
            r#"{"host":"hooks.example"}"#,
            &secret,
            Some("u_alice"),
            1_000,
        )
        .await
        .unwrap();
    assert!(ch.id.starts_with("ch_") && ch.id.len() == 19, "{}", ch.id);
    assert!(ch.enabled);
    let stored = meta.channel(&t, &ch.id).await.unwrap().unwrap();
    assert_eq!(stored, ch);
    assert_eq!(stored.secret, secret);
    let shown = format!("{stored:?}");
    assert!(shown.contains("[48 bytes]"), "{shown}");
    assert!(!shown.contains("165"), "{shown}");
    assert!(!shown.to_lowercase().contains("a5"), "{shown}");

    assert_eq!(meta.channel(&other, &ch.id).await.unwrap(), None);
    let err = meta
        .create_channel(&t, "ops", "slack", "{}", b"s", None, 2_000)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            MetaError::AlreadyExists {
                what: "channel name"
            }
        ),
        "{err:?}"
    );
    let err = meta
        .create_channel(&t, "pager", "carrier-pigeon", "{}", b"s", None, 2_000)
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            MetaError::Invalid {
                field: "channel kind",
                ..
            }
        ),
        "{err:?}"
    );
    meta.create_channel(&t, "mail", "email", "{}", b"", None, 2_000)
        .await
        .unwrap();
    let names: Vec<String> = meta
        .channels(&t)
        .await
        .unwrap()
        .into_iter()
        .map(|c| c.name)
        .collect();
    assert_eq!(names, ["mail", "ops"]);
    assert!(meta.channels(&other).await.unwrap().is_empty());

    meta.set_channel_enabled(&t, &ch.id, false).await.unwrap();
    assert!(!meta.channel(&t, &ch.id).await.unwrap().unwrap().enabled);
    let err = meta
        .set_channel_enabled(&other, &ch.id, true)
        .await
        .unwrap_err();
    assert!(
        matches!(err, MetaError::NotFound { what: "channel" }),
        "{err:?}"
    );
    let err = meta.delete_channel(&other, &ch.id).await.unwrap_err();
    assert!(
        matches!(err, MetaError::NotFound { what: "channel" }),
        "{err:?}"
    );
    meta.delete_channel(&t, &ch.id).await.unwrap();
    assert_eq!(meta.channel(&t, &ch.id).await.unwrap(), None);
}

async fn deliveries_are_retried_delivered_once_and_failed_with_their_channel(db: &TestDb) {
    let meta = &db.meta;
    let t = tenant(meta, "acme").await;
    let other = tenant(meta, "globex").await;
    let hook = meta
        .create_channel(&t, "hook", "webhook", "{}", b"k", None, 0)
        .await
        .unwrap();
    let slack = meta
        .create_channel(&t, "slack", "slack", "{}", b"k", None, 0)
        .await
        .unwrap();
    let foreign = meta
        .create_channel(&other, "hook", "webhook", "{}", b"k", None, 0)
        .await
        .unwrap();

    // Another tenant's channel: refused, and nothing stored.
    let err = meta
        .enqueue_notification(
            &note("n_0", &t, 500),
            &[hook.id.clone(), foreign.id.clone()],
        )
        .await
        .unwrap_err();
    assert!(
        matches!(err, MetaError::NotFound { what: "channel" }),
        "{err:?}"
    );
    assert!(meta.notifications(&t, 10).await.unwrap().is_empty());

    meta.enqueue_notification(
        &note("n_1", &t, 1_000),
        &[hook.id.clone(), slack.id.clone(), hook.id.clone()],
    )
    .await
    .unwrap();
    meta.enqueue_notification(&note("n_2", &t, 2_000), std::slice::from_ref(&hook.id))
        .await
        .unwrap();
    let err = meta
        .enqueue_notification(&note("n_2", &t, 2_000), &[])
        .await
        .unwrap_err();
    assert!(
        matches!(
            err,
            MetaError::AlreadyExists {
                what: "notification id"
            }
        ),
        "{err:?}"
    );

    assert!(meta.due_deliveries(999, 10).await.unwrap().is_empty());
    let due = meta.due_deliveries(1_000, 10).await.unwrap();
    assert_eq!(due.len(), 2);
    for (n, d) in &due {
        assert_eq!(n, &note("n_1", &t, 1_000));
        assert_eq!((d.state.as_str(), d.attempts), ("pending", 0));
        assert_eq!(d.next_attempt_at_ms, Some(1_000));
        assert_eq!(d.tenant_id, t);
    }
    let due = meta.due_deliveries(5_000, 10).await.unwrap();
    let order: Vec<(&str, &str)> = due
        .iter()
        .map(|(n, d)| (n.id.as_str(), d.channel_id.as_str()))
        .collect();
    let mut first_two = [hook.id.as_str(), slack.id.as_str()];
    first_two.sort();
    assert_eq!(
        order,
        [
            ("n_1", first_two[0]),
            ("n_1", first_two[1]),
            ("n_2", hook.id.as_str())
        ]
    );
    assert_eq!(meta.due_deliveries(5_000, 1).await.unwrap().len(), 1);

    // A retry: still pending, due later, one attempt counted.
    let retry = DeliveryOutcome::Retry {
        next_attempt_at_ms: 9_000,
        status: Some(503),
        error: "é".repeat(2_000),
    };
    meta.record_delivery("n_1", &hook.id, &retry, 3_000)
        .await
        .unwrap();
    let due: Vec<String> = meta
        .due_deliveries(5_000, 10)
        .await
        .unwrap()
        .into_iter()
        .map(|(n, d)| format!("{}/{}", n.id, d.channel_id))
        .collect();
    assert!(!due.contains(&format!("n_1/{}", hook.id)), "{due:?}");
    let delivered = DeliveryOutcome::Delivered { status: Some(204) };
    meta.record_delivery("n_1", &hook.id, &delivered, 9_500)
        .await
        .unwrap();
    // Recorded again (another node, a late answer): nothing changes.
    meta.record_delivery("n_1", &hook.id, &delivered, 9_900)
        .await
        .unwrap();
    meta.record_delivery("n_1", &hook.id, &retry, 9_900)
        .await
        .unwrap();
    let failed = DeliveryOutcome::Failed {
        status: None,
        error: "connection refused".into(),
    };
    meta.record_delivery("n_1", &slack.id, &failed, 4_000)
        .await
        .unwrap();

    let listed = meta.notifications(&t, 10).await.unwrap();
    let ids: Vec<&str> = listed.iter().map(|(n, _)| n.id.as_str()).collect();
    assert_eq!(ids, ["n_2", "n_1"]);
    let n1 = &listed[1].1;
    assert_eq!(n1.len(), 2);
    let h = n1.iter().find(|d| d.channel_id == hook.id).unwrap();
    assert_eq!(h.state, "delivered");
    assert_eq!(h.attempts, 2);
    assert_eq!(h.last_status, Some(204));
    assert_eq!(h.last_error, None);
    assert_eq!(h.next_attempt_at_ms, None);
    assert_eq!((h.updated_at_ms, h.delivered_at_ms), (9_500, Some(9_500)));
    let s = n1.iter().find(|d| d.channel_id == slack.id).unwrap();
    assert_eq!((s.state.as_str(), s.attempts), ("failed", 1));
    assert_eq!(s.last_status, None);
    assert_eq!(s.last_error.as_deref(), Some("connection refused"));
    assert_eq!(s.delivered_at_ms, None);
    assert_eq!(meta.notifications(&t, 1).await.unwrap().len(), 1);
    assert!(meta.notifications(&other, 10).await.unwrap().is_empty());

    // A retry's error is kept, cut on a character boundary.
    meta.enqueue_notification(&note("n_3", &t, 3_000), std::slice::from_ref(&slack.id))
        .await
        .unwrap();
    meta.record_delivery("n_3", &slack.id, &retry, 3_000)
        .await
        .unwrap();
    let listed = meta.notifications(&t, 1).await.unwrap();
    let d = &listed[0].1[0];
    assert_eq!(d.state, "pending");
    assert_eq!(d.last_status, Some(503));
    let kept = d.last_error.as_deref().unwrap();
    assert!(kept.len() <= 1000 && kept.len() >= 998 && kept.chars().all(|c| c == 'é'));

    // Deleting a channel fails its pending deliveries and keeps them as history.
    meta.delete_channel(&t, &hook.id).await.unwrap();
    let due = meta.due_deliveries(i64::MAX, 10).await.unwrap();
    assert!(due.iter().all(|(_, d)| d.channel_id != hook.id), "{due:?}");
    let listed = meta.notifications(&t, 10).await.unwrap();
    let n2 = &listed.iter().find(|(n, _)| n.id == "n_2").unwrap().1;
    assert_eq!(n2.len(), 1);
    assert_eq!(n2[0].state, "failed");
    assert_eq!(n2[0].last_error.as_deref(), Some("channel deleted"));
    assert_eq!(n2[0].attempts, 0);
    // The delivered one stays delivered.
    let n1 = &listed.iter().find(|(n, _)| n.id == "n_1").unwrap().1;
    assert_eq!(
        n1.iter().find(|d| d.channel_id == hook.id).unwrap().state,
        "delivered"
    );
}

async fn a_due_delivery_is_claimed_by_one_node(db: &TestDb) {
    let node1 = &db.meta;
    let node2 = db.reopen().await.unwrap();
    let t = tenant(node1, "acme").await;
    let ch = node1
        .create_channel(&t, "hook", "webhook", "{}", b"k", None, 0)
        .await
        .unwrap();
    node1
        .enqueue_notification(&note("n_1", &t, 1_000), std::slice::from_ref(&ch.id))
        .await
        .unwrap();
    let (_, d1) = node1.due_deliveries(2_000, 10).await.unwrap().remove(0);
    let (_, d2) = node2.due_deliveries(2_000, 10).await.unwrap().remove(0);
    let seen = d1.next_attempt_at_ms.unwrap();
    assert_eq!(d2.next_attempt_at_ms, Some(seen));
    assert!(
        node1
            .claim_delivery("n_1", &ch.id, seen, 62_000)
            .await
            .unwrap()
    );
    assert!(
        !node2
            .claim_delivery("n_1", &ch.id, seen, 62_000)
            .await
            .unwrap()
    );
    assert!(node2.due_deliveries(2_000, 10).await.unwrap().is_empty());
    // The lease runs out: due again.
    assert_eq!(node2.due_deliveries(62_000, 10).await.unwrap().len(), 1);
    node2.close().await;
}

async fn findings_are_summed_and_first_sightings_reported_once(db: &TestDb) {
    let meta = &db.meta;
    let t = tenant(meta, "acme").await;
    let other = tenant(meta, "globex").await;
    let h0 = 100 * HOUR;
    let first = meta
        .add_redaction_findings(
            &t,
            &[
                finding(h0 + 5, "api", "user.email", "email", 3),
                finding(h0 + 10, "api", "user.email", "email", 2),
                finding(h0 + HOUR, "api", "http.url", "card", 1),
                finding(h0, "web", "user.email", "email", 0),
            ],
            50_000,
        )
        .await
        .unwrap();
    let mut first = first;
    first.sort();
    assert_eq!(
        first,
        [
            ("api".to_owned(), "http.url".to_owned(), "card".to_owned()),
            (
                "api".to_owned(),
                "user.email".to_owned(),
                "email".to_owned()
            ),
        ]
    );
    let again = meta
        .add_redaction_findings(
            &t,
            &[
                finding(h0, "api", "user.email", "email", 10),
                finding(h0 + 2 * HOUR, "worker", "db.statement", "iban", 4),
            ],
            60_000,
        )
        .await
        .unwrap();
    assert_eq!(
        again,
        [(
            "worker".to_owned(),
            "db.statement".to_owned(),
            "iban".to_owned()
        )]
    );
    // Another tenant sees the same triple for the first time too.
    let theirs = meta
        .add_redaction_findings(
            &other,
            &[finding(h0, "api", "user.email", "email", 1)],
            70_000,
        )
        .await
        .unwrap();
    assert_eq!(theirs.len(), 1);
    assert!(
        meta.add_redaction_findings(&t, &[], 1)
            .await
            .unwrap()
            .is_empty()
    );

    let all = meta
        .redaction_findings(&t, h0 + 30 * 60_000, h0 + 3 * HOUR)
        .await
        .unwrap();
    let got: Vec<(&str, &str, &str, u64, i64)> = all
        .iter()
        .map(|f| {
            (
                f.service.as_str(),
                f.attribute.as_str(),
                f.kind.as_str(),
                f.count,
                f.first_seen_ms,
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            ("api", "user.email", "email", 15, 50_000),
            ("worker", "db.statement", "iban", 4, 60_000),
            ("api", "http.url", "card", 1, 50_000),
        ]
    );
    // `until` is exclusive and `since` starts at its hour.
    let first_hour = meta
        .redaction_findings(&t, h0 + 1, h0 + HOUR)
        .await
        .unwrap();
    assert_eq!(first_hour.len(), 1);
    assert_eq!(first_hour[0].count, 15);
    assert!(meta.redaction_findings(&t, 0, h0).await.unwrap().is_empty());

    let new_since = meta.first_seen_since(&t, 55_000).await.unwrap();
    assert_eq!(new_since.len(), 1);
    assert_eq!(
        (
            new_since[0].service.as_str(),
            new_since[0].count,
            new_since[0].first_seen_ms
        ),
        ("worker", 4, 60_000)
    );
    let every = meta.first_seen_since(&t, 0).await.unwrap();
    assert_eq!(every.len(), 3);
    assert_eq!(every.iter().map(|f| f.count).sum::<u64>(), 20);
    let theirs = meta.redaction_findings(&other, 0, i64::MAX).await.unwrap();
    assert_eq!(theirs.len(), 1);
    assert_eq!(theirs[0].count, 1);
}

async fn cursors_are_upserted(db: &TestDb) {
    let meta = &db.meta;
    let t = tenant(meta, "acme").await;
    assert_eq!(meta.cursor(t.as_str(), "audit").await.unwrap(), None);
    meta.set_cursor(t.as_str(), "audit", 7).await.unwrap();
    meta.set_cursor("-", "audit", 3).await.unwrap();
    assert_eq!(meta.cursor(t.as_str(), "audit").await.unwrap(), Some(7));
    meta.set_cursor(t.as_str(), "audit", 42).await.unwrap();
    assert_eq!(meta.cursor(t.as_str(), "audit").await.unwrap(), Some(42));
    assert_eq!(meta.cursor("-", "audit").await.unwrap(), Some(3));
    assert_eq!(meta.cursor(t.as_str(), "other").await.unwrap(), None);
}

async fn a_lease_has_one_holder_until_it_expires(db: &TestDb) {
    let meta = &db.meta;
    let a = meta.take_lease("alerts", None, 0, 30_000).await.unwrap();
    assert!(a.is_some(), "a free lease is taken");
    // Another node, while it runs: refused, whatever token it claims to hold.
    assert_eq!(
        meta.take_lease("alerts", None, 10_000, 40_000)
            .await
            .unwrap(),
        None
    );
    assert_eq!(
        meta.take_lease("alerts", Some(12_345), 10_000, 40_000)
            .await
            .unwrap(),
        None
    );
    // The holder renews with its token, and gets a new one.
    let a2 = meta.take_lease("alerts", a, 10_000, 40_000).await.unwrap();
    assert!(a2.is_some() && a2 != a);
    assert_eq!(
        meta.take_lease("alerts", a, 20_000, 50_000).await.unwrap(),
        None,
        "an old token is spent"
    );
    // Once it expires, anyone takes it; the old holder then cannot renew.
    let b = meta
        .take_lease("alerts", None, 41_000, 70_000)
        .await
        .unwrap();
    assert!(b.is_some());
    assert_eq!(
        meta.take_lease("alerts", a2, 42_000, 72_000).await.unwrap(),
        None
    );
    // Leases are independent by name.
    assert!(
        meta.take_lease("other", None, 42_000, 72_000)
            .await
            .unwrap()
            .is_some()
    );
}

async fn suspended_keys_are_refused_until_restored(db: &TestDb) {
    let meta = &db.meta;
    let t = tenant(meta, "acme").await;
    let other = tenant(meta, "globex").await;
    let details = NewApiKey::default;
    let (_, key) = meta
        .create_api_key(&t, "ingest".parse().unwrap(), details())
        .await
        .unwrap();
    let (_, revoked) = meta
        .create_api_key(&t, "ingest".parse().unwrap(), details())
        .await
        .unwrap();
    let (_, theirs) = meta
        .create_api_key(&other, "ingest".parse().unwrap(), details())
        .await
        .unwrap();
    meta.revoke_api_key(&t, revoked.id()).await.unwrap();
    meta.authenticate_api_key(&key.expose(), None)
        .await
        .unwrap();

    assert_eq!(meta.suspend_api_keys(&t, 5_000).await.unwrap(), 1);
    // Already suspended: not counted again.
    assert_eq!(meta.suspend_api_keys(&t, 6_000).await.unwrap(), 0);
    let record = meta.api_key(&t, key.id()).await.unwrap().unwrap();
    assert_eq!(
        record.suspended_at,
        Some(std::time::UNIX_EPOCH + Duration::from_millis(5_000))
    );
    let err = meta
        .authenticate_api_key(&key.expose(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Suspended), "{err:?}");
    assert!(err.is_refusal());
    assert_eq!(err.to_string(), "API key refused: suspended");
    // The revoked key stays revoked, the other tenant's key works.
    let err = meta
        .authenticate_api_key(&revoked.expose(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Revoked { .. }), "{err:?}");
    meta.authenticate_api_key(&theirs.expose(), None)
        .await
        .unwrap();

    assert_eq!(meta.restore_api_keys(&t).await.unwrap(), 1);
    assert_eq!(meta.restore_api_keys(&t).await.unwrap(), 0);
    meta.authenticate_api_key(&key.expose(), None)
        .await
        .unwrap();
    assert_eq!(
        meta.api_key(&t, key.id())
            .await
            .unwrap()
            .unwrap()
            .suspended_at,
        None
    );
    let err = meta
        .authenticate_api_key(&revoked.expose(), None)
        .await
        .unwrap_err();
    assert!(matches!(err, AuthError::Revoked { .. }), "{err:?}");
}

async fn a_revoked_key_names_its_tenant_and_last_use_is_the_previous_one(db: &TestDb) {
    let t = tenant(&db.meta, "acme").await;
    let (_, key) = db
        .meta
        .create_api_key(&t, "read".parse().unwrap(), NewApiKey::default())
        .await
        .unwrap();
    // Every use recorded, so each authentication sees the one before.
    let mut meta = db.reopen().await.unwrap();
    meta.set_last_used_interval(Duration::ZERO);
    let first = meta
        .authenticate_api_key(&key.expose(), None)
        .await
        .unwrap();
    assert_eq!(first.last_used_at, None);
    let recorded = meta
        .api_key(&t, key.id())
        .await
        .unwrap()
        .unwrap()
        .last_used_at;
    assert!(recorded.is_some());
    tokio::time::sleep(Duration::from_millis(5)).await;
    let second = meta
        .authenticate_api_key(&key.expose(), None)
        .await
        .unwrap();
    assert_eq!(second.last_used_at, recorded);
    let now_recorded = meta
        .api_key(&t, key.id())
        .await
        .unwrap()
        .unwrap()
        .last_used_at;
    assert!(now_recorded > recorded);

    // With the default throttle, the first use is still written, so the next sees it.
    let (_, key2) = meta
        .create_api_key(&t, "read".parse().unwrap(), NewApiKey::default())
        .await
        .unwrap();
    let throttled = &db.meta;
    assert_eq!(
        throttled
            .authenticate_api_key(&key2.expose(), None)
            .await
            .unwrap()
            .last_used_at,
        None
    );
    assert!(
        throttled
            .authenticate_api_key(&key2.expose(), None)
            .await
            .unwrap()
            .last_used_at
            .is_some()
    );

    meta.revoke_api_key(&t, key.id()).await.unwrap();
    let err = meta
        .authenticate_api_key(&key.expose(), None)
        .await
        .unwrap_err();
    match &err {
        AuthError::Revoked { tenant_id, key_id } => {
            assert_eq!(tenant_id, &t);
            assert_eq!(key_id, key.id());
        }
        other => panic!("expected Revoked, got {other:?}"),
    }
    assert_eq!(err.to_string(), "API key refused: revoked");
    assert!(err.is_refusal());
    meta.close().await;
}

async fn tenant_sessions_are_revoked_in_that_tenant_only(db: &TestDb) {
    let meta = &db.meta;
    let t = tenant(meta, "acme").await;
    let other = tenant(meta, "globex").await;
    let u = meta
        .create_user(&NewUser {
            email: "s@example.com".into(),
            password_hash: Some("$argon2id$stub".into()),
            ..NewUser::default()
        })
        .await
        .unwrap();
    let hash = |n: u8| SessionHash::from_bytes(&[n; 32]).unwrap();
    for (n, tenant) in [(1, &t), (2, &t), (3, &other)] {
        meta.create_session(&NewSession {
            hash: hash(n),
            user_id: u.id.clone(),
            tenant_id: tenant.clone(),
            method: AuthMethod::Password,
            addr: None,
            user_agent: None,
        })
        .await
        .unwrap();
    }
    meta.revoke_session(&hash(2)).await.unwrap();
    let before = meta.session(&hash(2)).await.unwrap().unwrap().revoked_at;
    assert_eq!(meta.revoke_tenant_sessions(&t, 9_000).await.unwrap(), 1);
    let s1 = meta.session(&hash(1)).await.unwrap().unwrap();
    assert_eq!(
        s1.revoked_at,
        Some(std::time::UNIX_EPOCH + Duration::from_millis(9_000))
    );
    assert!(s1.is_void());
    // Already revoked: keeps its first revocation.
    assert_eq!(
        meta.session(&hash(2)).await.unwrap().unwrap().revoked_at,
        before
    );
    let s3 = meta.session(&hash(3)).await.unwrap().unwrap();
    assert!(!s3.is_void());
    assert_eq!(meta.revoke_tenant_sessions(&t, 10_000).await.unwrap(), 0);
}

async fn reads_are_frozen_and_thawed(db: &TestDb) {
    let meta = &db.meta;
    let t = tenant(meta, "acme").await;
    let fresh = meta.tenant_by_id(&t).await.unwrap().unwrap();
    assert_eq!((fresh.reads_frozen_at, fresh.reads_frozen_by), (None, None));
    meta.set_reads_frozen(&t, Some((12_000, "u_alice")))
        .await
        .unwrap();
    let frozen = meta.tenant_by_name("acme").await.unwrap().unwrap();
    assert_eq!(
        frozen.reads_frozen_at,
        Some(std::time::UNIX_EPOCH + Duration::from_millis(12_000))
    );
    assert_eq!(frozen.reads_frozen_by.as_deref(), Some("u_alice"));
    let listed = meta.list_tenants().await.unwrap();
    assert_eq!(listed[0].reads_frozen_by.as_deref(), Some("u_alice"));
    meta.set_reads_frozen(&t, None).await.unwrap();
    let thawed = meta.tenant_by_id(&t).await.unwrap().unwrap();
    assert_eq!(
        (thawed.reads_frozen_at, thawed.reads_frozen_by),
        (None, None)
    );
    let err = meta
        .set_reads_frozen(&TenantId::generate().unwrap(), None)
        .await
        .unwrap_err();
    assert!(
        matches!(err, MetaError::NotFound { what: "tenant" }),
        "{err:?}"
    );
}

async fn audit_records_are_counted_by_action_outcome_and_time(db: &TestDb) {
    let meta = &db.meta;
    let records = [
        ("t_a", "session.sign_in", "refused", 1_000),
        ("t_a", "session.sign_in", "refused", 2_000),
        ("t_a", "session.sign_in", "allowed", 3_000),
        ("t_a", "apikey.create", "allowed", 4_000),
        ("t_b", "session.sign_in", "refused", 5_000),
    ];
    for (tenant, action, outcome, at_ms) in records {
        meta.append_audit(tenant, |seq, prev| {
            Ok(AuditRow {
                tenant: tenant.into(),
                seq,
                at_ms,
                actor: "u_x".into(),
                action: action.into(),
                outcome: outcome.into(),
                body: format!("{{\"seq\":{seq}}}"),
                prev_hash: prev.to_vec(),
                hash: vec![seq as u8; 32],
            })
        })
        .await
        .unwrap();
    }
    let count = async |tenant, action, outcome, since| {
        meta.count_audit(tenant, action, outcome, since)
            .await
            .unwrap()
    };
    assert_eq!(count("t_a", "session.sign_in", None, 0).await, 3);
    assert_eq!(count("t_a", "session.sign_in", Some("refused"), 0).await, 2);
    assert_eq!(
        count("t_a", "session.sign_in", Some("refused"), 2_000).await,
        1
    );
    assert_eq!(
        count("t_a", "session.sign_in", Some("refused"), 2_001).await,
        0
    );
    assert_eq!(count("t_a", "apikey.create", None, 0).await, 1);
    assert_eq!(count("t_b", "session.sign_in", None, 0).await, 1);
    assert_eq!(count("t_c", "session.sign_in", None, 0).await, 0);
}

async fn shredding_a_tenant_removes_its_alerting_rows(db: &TestDb) {
    let meta = &db.meta;
    let t = tenant(meta, "acme").await;
    let keep = tenant(meta, "globex").await;
    for tenant in [&t, &keep] {
        let r = meta
            .create_alert_rule(tenant, &rule("latency", "{}"), 1_000)
            .await
            .unwrap();
        meta.record_alert_event(tenant, &r.id, "latency", "firing", Some(1.0), 0.5, 1_000)
            .await
            .unwrap();
        let ch = meta
            .create_channel(tenant, "hook", "webhook", "{}", b"sealed", None, 1_000)
            .await
            .unwrap();
        meta.enqueue_notification(
            &note(&format!("n_{}", tenant.as_str()), tenant, 1_000),
            &[ch.id],
        )
        .await
        .unwrap();
        meta.add_redaction_findings(tenant, &[finding(0, "api", "a", "email", 2)], 1_000)
            .await
            .unwrap();
        meta.set_cursor(tenant.as_str(), "audit", 5).await.unwrap();
    }
    assert_eq!(meta.due_deliveries(i64::MAX, 100).await.unwrap().len(), 2);

    let shredded = meta.shred_tenant(&t).await.unwrap();
    assert_eq!(shredded.alert_rules, 1);
    assert_eq!(shredded.notification_channels, 1);
    assert_eq!(shredded.notifications, 1);

    assert!(meta.alert_rules(&t).await.unwrap().is_empty());
    assert!(meta.alert_events(&t, None, 100).await.unwrap().is_empty());
    assert!(meta.channels(&t).await.unwrap().is_empty());
    assert!(meta.notifications(&t, 100).await.unwrap().is_empty());
    assert!(
        meta.redaction_findings(&t, i64::MIN / 2, i64::MAX)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(
        meta.first_seen_since(&t, i64::MIN)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(meta.cursor(t.as_str(), "audit").await.unwrap(), None);
    let due = meta.due_deliveries(i64::MAX, 100).await.unwrap();
    assert_eq!(due.len(), 1);
    assert_eq!(due[0].1.tenant_id, keep);
    assert_eq!(
        meta.tenants_with_alert_rules().await.unwrap(),
        vec![keep.clone()]
    );

    // The other tenant keeps everything.
    assert_eq!(meta.alert_rules(&keep).await.unwrap().len(), 1);
    assert_eq!(meta.alert_events(&keep, None, 100).await.unwrap().len(), 1);
    assert_eq!(meta.channels(&keep).await.unwrap().len(), 1);
    assert_eq!(meta.notifications(&keep, 100).await.unwrap().len(), 1);
    assert_eq!(
        meta.first_seen_since(&keep, i64::MIN).await.unwrap().len(),
        1
    );
    assert_eq!(meta.cursor(keep.as_str(), "audit").await.unwrap(), Some(5));
}
