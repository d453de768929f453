mod common;

use common::{T, chain};
use scrim_audit::{
    Actor, AuditRecord, NewRecord, Outcome, PLATFORM_TENANT, REDACTED, csv_header, hex,
    redact_secrets, seal, to_csv_row, to_json_line,
};
use serde_json::{Value, json};

fn record(target: &str, ua: &str) -> AuditRecord {
    let new = NewRecord::new(
        T,
        1_735_787_045_678,
        Actor::User { id: "u_1".into() },
        "apikey.create",
        Outcome::Success,
    )
    .unwrap()
    .addr("192.0.2.1")
    .user_agent(ua)
    .target(target)
    .detail("scopes", "ingest");
    seal(new, 1, [0; 32])
}

#[test]
fn csv_header_and_row_line_up() {
    let header = csv_header();
    assert!(header.ends_with("\r\n"));
    assert_eq!(
        header,
        "time,at_ms,tenant,seq,actor_kind,actor_id,addr,user_agent,action,target,outcome,reason,request_id,details,prev_hash,hash\r\n"
    );
    let r = record("k_1", "curl/8");
    let row = to_csv_row(&r);
    assert_eq!(
        row,
        format!(
            "2025-01-02T03:04:05.678Z,1735787045678,t_acme,1,user,u_1,192.0.2.1,curl/8,apikey.create,k_1,success,,,\"{{\"\"scopes\"\":\"\"ingest\"\"}}\",{},{}\r\n",
            hex(&[0; 32]),
            hex(&r.hash)
        )
    );
}

#[test]
fn csv_quotes_per_rfc_4180() {
    let row = to_csv_row(&record("a,b \"c\"\r\nd", "x"));
    assert!(row.contains(",\"a,b \"\"c\"\"\r\nd\","), "{row}");
}

#[test]
fn csv_neutralises_formulas() {
    for (evil, shown) in [
        (
            "=HYPERLINK(\"http://x\")",
            "\"'=HYPERLINK(\"\"http://x\"\")\"",
        ),
        ("+1+1", "'+1+1"),
        ("-2+3", "'-2+3"),
        ("@SUM(A1)", "'@SUM(A1)"),
        ("\t=1", "'\t=1"),
    ] {
        let row = to_csv_row(&record(evil, evil));
        let cells = row.matches(shown).count();
        assert_eq!(cells, 2, "{evil:?} → {row}");
    }
    // Numbers Scrim writes itself, and the platform tenant, are left alone.
    let mut r = record("x", "y");
    r.at_ms = -5;
    r.tenant = PLATFORM_TENANT.into();
    let row = to_csv_row(&r);
    assert!(row.contains(",-5,-,1,"), "{row}");
}

#[test]
fn json_lines_are_one_line_with_hex_hashes() {
    let mut r = chain(T, 2).swap_remove(0);
    r.target = Some("line\nbreak".into());
    let line = to_json_line(&r);
    assert!(!line.contains('\n'));
    let v: Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["hash"], json!(hex(&r.hash)));
    assert_eq!(v["prev_hash"], json!(hex(&r.prev_hash)));
    assert_eq!(v["actor"], json!({"kind": "api_key", "id": "k_1"}));
    assert_eq!(
        v["outcome"],
        json!({"status": "denied", "reason": "missing scope"})
    );
    assert_eq!(v["seq"], json!(1));
    let r2 = chain(T, 3).swap_remove(1);
    let v: Value = serde_json::from_str(&to_json_line(&r2)).unwrap();
    assert_eq!(v["actor"], json!({"kind": "operator"}));
    assert_eq!(v["outcome"], json!({"status": "failed"}));
}

#[test]
fn secrets_are_redacted_at_every_depth() {
    let mut v = json!({
        "password": "hunter2",
        "Client_Secret": "abc",
        "smtp": {"host": "mail", "smtpPassword": "p", "port": 25},
        "headers": [{"Authorization": "Bearer x", "Cookie": "s=1", "accept": "*/*"}],
        "api-key": 12345,
        "private_key": {"before": "-----BEGIN", "after": "-----BEGIN2"},
        "sessionToken": ["a", "b"],
        "password_set": true,
        "old_secret": null,
        "query": "SELECT 1",
    });
    redact_secrets(&mut v);
    assert_eq!(
        v,
        json!({
            "password": REDACTED,
            "Client_Secret": REDACTED,
            "smtp": {"host": "mail", "smtpPassword": REDACTED, "port": 25},
            "headers": [{"Authorization": REDACTED, "Cookie": REDACTED, "accept": "*/*"}],
            "api-key": REDACTED,
            "private_key": REDACTED,
            "sessionToken": REDACTED,
            "password_set": true,
            "old_secret": null,
            "query": "SELECT 1",
        })
    );
}

#[test]
fn new_records_never_hold_secrets() {
    let diff =
        json!({"oidc": {"client_id": "scrim", "client_secret": {"before": "s1", "after": "s2"}}});
    let r = seal(
        NewRecord::new(T, 0, Actor::Operator, "settings.update", Outcome::Success)
            .unwrap()
            .details(diff.as_object().unwrap().clone())
            .detail("token", "t0k3n"),
        1,
        [0; 32],
    );
    let line = to_json_line(&r);
    for secret in ["s1", "s2", "t0k3n"] {
        assert!(!line.contains(secret), "{line}");
    }
    assert_eq!(r.details["oidc"]["client_id"], json!("scrim"));
}

#[test]
fn request_fields_are_bounded() {
    let ua = "é".repeat(400);
    let r = record("x", &ua);
    let kept = r.user_agent.unwrap();
    assert_eq!(kept.len(), 300);
    assert!(ua.starts_with(&kept));
    assert!(NewRecord::new(T, 0, Actor::Operator, "Bad-Action", Outcome::Success).is_err());
    let err = NewRecord::new("", 0, Actor::Operator, "a.b", Outcome::Success).unwrap_err();
    assert!(err.to_string().contains("invalid tenant id"));
}
