#![allow(dead_code)]

use scrim_audit::{Actor, AuditRecord, ChainTip, NewRecord, Outcome};

pub const T: &str = "t_acme";

pub fn new_record(tenant: &str, i: u64) -> NewRecord {
    let actor = match i % 4 {
        0 => Actor::User {
            id: format!("u_{i}"),
        },
        1 => Actor::ApiKey {
            id: format!("k_{i}"),
        },
        2 => Actor::Operator,
        _ => Actor::System {
            name: "retention".into(),
        },
    };
    let outcome = match i % 3 {
        0 => Outcome::Success,
        1 => Outcome::denied("missing scope"),
        _ => Outcome::Failed { reason: None },
    };
    NewRecord::new(
        tenant,
        1_700_000_000_000 + i as i64,
        actor,
        "telemetry.read",
        outcome,
    )
    .unwrap()
    .addr("192.0.2.7")
    .user_agent("curl/8.5")
    .target(format!("service/{i}"))
    .request_id(format!("req-{i}"))
    .detail("query", format!("SELECT * FROM spans LIMIT {i}"))
}

pub fn chain(tenant: &str, n: u64) -> Vec<AuditRecord> {
    let mut tip = ChainTip::GENESIS;
    (1..=n).map(|i| tip.seal(new_record(tenant, i))).collect()
}
