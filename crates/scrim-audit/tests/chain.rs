mod common;

use common::{T, chain, new_record};
use proptest::prelude::*;
use scrim_audit::{
    Actor, AuditRecord, CheckpointKey, GENESIS, NewRecord, Outcome, Tamper, canonical_json, hex,
    recompute_hash, seal, verify_chain,
};
use serde_json::{Value, json};

fn fixed_record() -> AuditRecord {
    let details = json!({"query": "SELECT count(*) FROM spans", "rows": 3, "ratio": 0.5,
                         "nested": {"b": [1, "two", null, true], "a": "é\n"}});
    let new = NewRecord::new(
        "t_golden",
        1_735_787_045_678,
        Actor::User { id: "u_42".into() },
        "telemetry.read",
        Outcome::denied("missing scope read"),
    )
    .unwrap()
    .addr("203.0.113.9:51234")
    .user_agent("Mozilla/5.0 (X11; Linux x86_64)")
    .target("spans")
    .request_id("01JGZQ6Y9V1R1N0Z2K8W4E3C5B")
    .details(details.as_object().unwrap().clone());
    seal(new, 7, [0xab; 32])
}

/// The encoding is a format: stored chains must verify forever. If this fails, the encoding
/// changed; that needs a new version byte, not a new golden value.
#[test]
fn golden_hash_is_stable() {
    let r = fixed_record();
    assert_eq!(hex(&r.hash), GOLDEN);
    assert_eq!(recompute_hash(&r), r.hash);
}
/// Cross-checked with an independent implementation of the documented layout (Python:
/// `struct.pack(">Q", len)` prefixes, `json.dumps(sort_keys=True, separators=(",", ":"),
/// ensure_ascii=False)` for details, `hashlib.sha256`).
const GOLDEN: &str = "2680e886f8c4ea1921701e4d4256fd2610da9fe402e93a73362c9bd3e163ab80";

#[test]
fn key_order_in_details_does_not_change_the_hash() {
    let a: Value = serde_json::from_str(r#"{"a":1,"b":{"x":[1,2],"y":"z"},"c":null}"#).unwrap();
    let b: Value = serde_json::from_str(r#"{"c":null,"b":{"y":"z","x":[1,2]},"a":1}"#).unwrap();
    assert_eq!(canonical_json(&a), canonical_json(&b));
    let mut r1 = fixed_record();
    let mut r2 = fixed_record();
    r1.details = a;
    r2.details = b;
    assert_eq!(recompute_hash(&r1), recompute_hash(&r2));
}

#[test]
fn every_field_is_covered_by_the_hash() {
    type Change = dyn Fn(&mut AuditRecord);
    let base = fixed_record();
    let changes: Vec<Box<Change>> = vec![
        Box::new(|r| r.tenant = "t_other".into()),
        Box::new(|r| r.seq += 1),
        Box::new(|r| r.at_ms += 1),
        Box::new(|r| r.actor = Actor::ApiKey { id: "u_42".into() }),
        Box::new(|r| r.actor = Actor::User { id: "u_43".into() }),
        Box::new(|r| r.addr = None),
        Box::new(|r| r.user_agent = Some("x".into())),
        Box::new(|r| r.action = "telemetry.export".into()),
        Box::new(|r| r.target = None),
        Box::new(|r| r.outcome = Outcome::Success),
        Box::new(|r| {
            r.outcome = Outcome::Failed {
                reason: Some("missing scope read".into()),
            }
        }),
        Box::new(|r| r.request_id = Some("other".into())),
        Box::new(|r| r.details["rows"] = json!(4)),
        Box::new(|r| r.prev_hash[31] ^= 1),
    ];
    for (i, change) in changes.iter().enumerate() {
        let mut r = base.clone();
        change(&mut r);
        assert_ne!(recompute_hash(&r), base.hash, "change {i} not covered");
    }
}

#[test]
fn fields_do_not_run_into_each_other() {
    // Moving bytes between adjacent optional fields must change the hash.
    let mut a = fixed_record();
    let mut b = fixed_record();
    a.addr = Some("ab".into());
    a.user_agent = Some("c".into());
    b.addr = Some("a".into());
    b.user_agent = Some("bc".into());
    assert_ne!(recompute_hash(&a), recompute_hash(&b));
    a.addr = None;
    a.user_agent = Some(String::new());
    b.addr = Some(String::new());
    b.user_agent = None;
    assert_ne!(recompute_hash(&a), recompute_hash(&b));
}

#[test]
fn records_survive_a_json_round_trip() {
    for r in chain(T, 20).into_iter().chain([fixed_record()]) {
        let line = scrim_audit::to_json_line(&r);
        let back: AuditRecord = serde_json::from_str(&line).unwrap();
        assert_eq!(back, r);
        assert_eq!(recompute_hash(&back), r.hash);
    }
}

#[test]
fn a_valid_chain_of_1000_records_verifies() {
    let records = chain(T, 1000);
    let last = records[999].hash;
    assert_eq!(records[0].prev_hash, GENESIS);
    let report = verify_chain(T, records, &[]).unwrap();
    assert_eq!(report.records, 1000);
    assert_eq!(report.last_seq, 1000);
    assert_eq!(report.last_hash, last);
    assert_eq!(report.checkpoints_checked, 0);
}

#[test]
fn an_empty_chain_verifies() {
    let report = verify_chain(T, Vec::new(), &[]).unwrap();
    assert_eq!(
        (report.records, report.last_seq, report.last_hash),
        (0, 0, GENESIS)
    );
}

#[test]
fn a_changed_record_is_named() {
    for k in [1usize, 2, 10, 20] {
        let mut records = chain(T, 20);
        records[k - 1].target = Some("something else".into());
        let err = verify_chain(T, records, &[]).unwrap_err();
        assert_eq!(
            err,
            Tamper::Changed {
                tenant: T.into(),
                seq: k as u64
            }
        );
        assert_eq!(
            err.to_string(),
            format!(
                "record {k} of tenant t_acme was changed after it was written (its contents do not match its hash)"
            )
        );
    }
}

#[test]
fn a_changed_detail_is_named() {
    let mut records = chain(T, 5);
    records[2].details["query"] = json!("SELECT 1");
    assert_eq!(
        verify_chain(T, records, &[]).unwrap_err(),
        Tamper::Changed {
            tenant: T.into(),
            seq: 3
        }
    );
}

#[test]
fn a_removed_record_is_named() {
    for k in [1usize, 2, 10, 19] {
        let mut records = chain(T, 20);
        records.remove(k - 1);
        let err = verify_chain(T, records, &[]).unwrap_err();
        assert_eq!(
            err,
            Tamper::Missing {
                tenant: T.into(),
                after_seq: k as u64 - 1,
                before_seq: k as u64 + 1
            }
        );
        assert_eq!(
            err.to_string(),
            format!("record {k} of tenant t_acme was removed")
        );
    }
}

#[test]
fn several_removed_records_are_named() {
    let mut records = chain(T, 20);
    records.drain(4..8); // 5..=8
    let err = verify_chain(T, records, &[]).unwrap_err();
    assert_eq!(
        err,
        Tamper::Missing {
            tenant: T.into(),
            after_seq: 4,
            before_seq: 9
        }
    );
    assert_eq!(
        err.to_string(),
        "records 5 to 8 of tenant t_acme were removed"
    );
}

#[test]
fn a_removed_and_renumbered_record_is_named() {
    // Record 5 removed, the rest renumbered and re-hashed, but record 5's successor still
    // points at the removed record.
    let mut records = chain(T, 8);
    records.remove(4);
    for r in &mut records[4..] {
        r.seq -= 1;
        r.hash = recompute_hash(r);
    }
    let err = verify_chain(T, records, &[]).unwrap_err();
    assert_eq!(
        err,
        Tamper::Missing {
            tenant: T.into(),
            after_seq: 4,
            before_seq: 5
        }
    );
    assert_eq!(
        err.to_string(),
        "record 5 of tenant t_acme does not follow record 4: a record between them was removed or replaced"
    );
}

#[test]
fn swapped_records_are_named() {
    for k in [1usize, 2, 10, 19] {
        let mut records = chain(T, 20);
        records.swap(k - 1, k);
        let err = verify_chain(T, records, &[]).unwrap_err();
        assert_eq!(
            err,
            Tamper::Reordered {
                tenant: T.into(),
                seq: k as u64,
                after_seq: k as u64 + 1
            }
        );
        assert_eq!(
            err.to_string(),
            format!(
                "record {k} of tenant t_acme is stored after record {}: records were reordered",
                k + 1
            )
        );
    }
}

#[test]
fn a_repeated_record_is_named() {
    let mut records = chain(T, 5);
    records.insert(3, records[2].clone());
    let err = verify_chain(T, records, &[]).unwrap_err();
    assert_eq!(
        err,
        Tamper::Reordered {
            tenant: T.into(),
            seq: 3,
            after_seq: 3
        }
    );
    assert_eq!(err.to_string(), "record 3 of tenant t_acme is stored twice");
}

#[test]
fn a_record_of_another_tenant_is_named() {
    let mut records = chain(T, 10);
    let other = chain("t_other", 10);
    records.insert(4, other[4].clone());
    let err = verify_chain(T, records, &[]).unwrap_err();
    assert_eq!(
        err,
        Tamper::WrongTenant {
            tenant: T.into(),
            after_seq: 4,
            found_tenant: "t_other".into(),
            found_seq: 5
        }
    );
    assert!(err.to_string().contains("a record of tenant t_other"));
    // Even replacing a record with the other tenant's record at the same seq.
    let mut records = chain(T, 10);
    records[4] = other[4].clone();
    assert!(matches!(
        verify_chain(T, records, &[]),
        Err(Tamper::WrongTenant { .. })
    ));
    // And a whole chain of another tenant.
    assert!(matches!(
        verify_chain(T, other, &[]),
        Err(Tamper::WrongTenant { after_seq: 0, .. })
    ));
}

#[test]
fn a_replaced_first_record_is_named() {
    let mut records = chain(T, 3);
    records[0].prev_hash = [1; 32];
    records[0].hash = recompute_hash(&records[0]);
    let err = verify_chain(T, records, &[]).unwrap_err();
    assert_eq!(
        err,
        Tamper::Missing {
            tenant: T.into(),
            after_seq: 0,
            before_seq: 1
        }
    );
}

#[test]
fn the_first_problem_is_named() {
    let mut records = chain(T, 20);
    records[15].action = "telemetry.export".into();
    records.swap(4, 5);
    records.remove(10);
    assert!(matches!(
        verify_chain(T, records, &[]),
        Err(Tamper::Reordered {
            seq: 5,
            after_seq: 6,
            ..
        })
    ));
}

#[test]
fn a_fully_rewritten_chain_passes_without_a_checkpoint_but_not_with_one() {
    let records = chain(T, 10);
    let key = CheckpointKey::generate().unwrap().0;
    let cp = key
        .sign(scrim_audit::Checkpoint::at(&records[7], 1_800_000_000_000))
        .verify(&key.public_key())
        .unwrap();
    // Rewrite record 3 and recompute every hash after it.
    let mut forged = records.clone();
    forged[2].action = "telemetry.write".into();
    let mut prev = forged[1].hash;
    for r in &mut forged[2..] {
        r.prev_hash = prev;
        r.hash = recompute_hash(r);
        prev = r.hash;
    }
    assert!(verify_chain(T, forged.clone(), &[]).is_ok());
    let err = verify_chain(T, forged, std::slice::from_ref(&cp)).unwrap_err();
    assert_eq!(
        err,
        Tamper::BeforeCheckpoint {
            tenant: T.into(),
            checkpoint_seq: 8,
            checkpoint_at_ms: 1_800_000_000_000,
            last_seq: 8
        }
    );
    assert_eq!(
        err.to_string(),
        "record 8 of tenant t_acme does not match the checkpoint signed at 2027-01-15T08:00:00.000Z: records up to 8 were rewritten"
    );
    let report = verify_chain(T, records, &[cp]).unwrap();
    assert_eq!(report.checkpoints_checked, 1);
}

#[test]
fn a_cut_tail_is_named_against_a_checkpoint() {
    let records = chain(T, 10);
    let key = CheckpointKey::generate().unwrap().0;
    let pk = key.public_key();
    let cps: Vec<_> = [3usize, 10]
        .iter()
        .map(|&i| {
            key.sign(scrim_audit::Checkpoint::at(
                &records[i - 1],
                1_000 * i as i64,
            ))
        })
        .map(|s| s.verify(&pk).unwrap())
        .collect();
    let report = verify_chain(T, records.clone(), &cps).unwrap();
    assert_eq!(report.checkpoints_checked, 2);
    // Without a checkpoint, a cut tail is undetectable; with one, it is named.
    let cut: Vec<_> = records[..7].to_vec();
    assert!(verify_chain(T, cut.clone(), &[]).is_ok());
    let err = verify_chain(T, cut, &cps).unwrap_err();
    assert_eq!(
        err,
        Tamper::BeforeCheckpoint {
            tenant: T.into(),
            checkpoint_seq: 10,
            checkpoint_at_ms: 10_000,
            last_seq: 7
        }
    );
    assert_eq!(
        err.to_string(),
        "the chain of tenant t_acme ends at record 7, but the checkpoint signed at 1970-01-01T00:00:10.000Z says it reached record 10: records after 7 were removed"
    );
    // Everything removed.
    assert!(matches!(
        verify_chain(T, Vec::new(), &cps),
        Err(Tamper::BeforeCheckpoint {
            checkpoint_seq: 3,
            last_seq: 0,
            ..
        })
    ));
}

#[test]
fn checkpoints_of_other_tenants_are_ignored() {
    let other = chain("t_other", 50);
    let key = CheckpointKey::generate().unwrap().0;
    let cp = key
        .sign(scrim_audit::Checkpoint::at(&other[49], 0))
        .verify(&key.public_key())
        .unwrap();
    let report = verify_chain(T, chain(T, 5), &[cp]).unwrap();
    assert_eq!(report.checkpoints_checked, 0);
}

#[test]
fn a_pruned_prefix_is_accepted_only_after_a_checkpoint() {
    let records = chain(T, 20);
    let key = CheckpointKey::generate().unwrap().0;
    let pk = key.public_key();
    let cp = |i: usize| {
        key.sign(scrim_audit::Checkpoint::at(&records[i - 1], 0))
            .verify(&pk)
            .unwrap()
    };
    let pruned = records[10..].to_vec(); // 11..=20
    assert_eq!(
        verify_chain(T, pruned.clone(), &[]).unwrap_err(),
        Tamper::Missing {
            tenant: T.into(),
            after_seq: 0,
            before_seq: 11
        }
    );
    assert_eq!(
        verify_chain(T, pruned.clone(), &[cp(9)]).unwrap_err(),
        Tamper::Missing {
            tenant: T.into(),
            after_seq: 0,
            before_seq: 11
        }
    );
    let report = verify_chain(T, pruned.clone(), &[cp(5), cp(10), cp(15)]).unwrap();
    assert_eq!(
        (report.records, report.last_seq, report.checkpoints_checked),
        (10, 20, 2)
    );
    // A checkpoint that does not vouch for the first record's prev_hash.
    let mut forged = pruned;
    forged[0].prev_hash = [9; 32];
    forged[0].hash = recompute_hash(&forged[0]);
    assert!(matches!(
        verify_chain(T, forged, &[cp(10)]),
        Err(Tamper::Missing {
            after_seq: 0,
            before_seq: 11,
            ..
        })
    ));
}

fn new_for(i: u64) -> NewRecord {
    new_record(T, i)
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    /// Any single change of order, removal or field edit inside a chain is caught, never
    /// accepted, and never panics.
    #[test]
    fn any_tampering_is_caught(n in 2u64..40, k in 0usize..40, kind in 0u8..4, byte in any::<u8>()) {
        let mut records: Vec<AuditRecord> = {
            let mut tip = scrim_audit::ChainTip::GENESIS;
            (1..=n).map(|i| tip.seal(new_for(i))).collect()
        };
        let k = k % records.len();
        match kind {
            0 => { records.remove(k); if k == records.len() { return Ok(()); } }
            1 => { if k + 1 == records.len() { return Ok(()); } records.swap(k, k + 1); }
            2 => { records[k].at_ms ^= i64::from(byte) + 1; }
            _ => { let r = records[k].clone(); records.insert(k, r); }
        }
        prop_assert!(verify_chain(T, records, &[]).is_err());
    }

    #[test]
    fn details_hash_ignores_insertion_order(keys in proptest::collection::btree_set("[a-z]{1,6}", 1..8)) {
        let keys: Vec<String> = keys.into_iter().collect();
        let mut fwd = serde_json::Map::new();
        for (i, k) in keys.iter().enumerate() { fwd.insert(k.clone(), json!(i)); }
        let mut rev = serde_json::Map::new();
        for (i, k) in keys.iter().enumerate().rev() { rev.insert(k.clone(), json!(i)); }
        let a = seal(new_for(1).details(fwd), 1, GENESIS);
        let b = seal(new_for(1).details(rev), 1, GENESIS);
        prop_assert_eq!(a.hash, b.hash);
    }
}
