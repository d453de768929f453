mod common;

use common::{T, chain};
use scrim_audit::{
    Checkpoint, CheckpointError, CheckpointKey, CheckpointPublicKey, SignedCheckpoint, hex, verify,
};

fn checkpoint() -> Checkpoint {
    Checkpoint::at(&chain(T, 3)[2], 1_700_000_100_000)
}

#[test]
fn a_signed_checkpoint_verifies() {
    let (key, _) = CheckpointKey::generate().unwrap();
    let signed = key.sign(checkpoint());
    assert_eq!(signed.signature.len(), 64);
    assert_eq!(signed.key_id, key.public_key().key_id());
    assert_eq!(signed.key_id.len(), 16);
    let verified = verify(&signed, &key.public_key()).unwrap();
    assert_eq!(*verified.checkpoint(), checkpoint());
    assert_eq!(verified.seq, 3);
}

#[test]
fn another_key_is_refused() {
    let (key, _) = CheckpointKey::generate().unwrap();
    let (other, _) = CheckpointKey::generate().unwrap();
    let signed = key.sign(checkpoint());
    assert!(matches!(
        signed.verify(&other.public_key()),
        Err(CheckpointError::WrongKey { .. })
    ));
    // Claiming the other key's id does not help.
    let mut relabelled = signed.clone();
    relabelled.key_id = other.key_id();
    assert_eq!(
        relabelled.verify(&other.public_key()).unwrap_err(),
        CheckpointError::BadSignature {
            tenant: T.into(),
            seq: 3
        }
    );
}

#[test]
fn a_changed_checkpoint_is_refused() {
    let (key, _) = CheckpointKey::generate().unwrap();
    let pk = key.public_key();
    let signed = key.sign(checkpoint());
    let changes: [fn(&mut SignedCheckpoint); 5] = [
        |s| s.checkpoint.tenant = "t_other".into(),
        |s| s.checkpoint.seq += 1,
        |s| s.checkpoint.hash[0] ^= 1,
        |s| s.checkpoint.at_ms += 1,
        |s| s.signature[10] ^= 1,
    ];
    for (i, change) in changes.iter().enumerate() {
        let mut s = signed.clone();
        change(&mut s);
        let err = s.verify(&pk).unwrap_err();
        assert!(
            matches!(err, CheckpointError::BadSignature { .. }),
            "change {i}: {err:?}"
        );
    }
    let mut short = signed;
    short.signature.truncate(10);
    assert!(short.verify(&pk).is_err());
}

#[test]
fn a_key_round_trips_through_pkcs8() {
    let (key, pkcs8) = CheckpointKey::generate().unwrap();
    let loaded = CheckpointKey::from_pkcs8(pkcs8.expose()).unwrap();
    assert_eq!(loaded.public_key(), key.public_key());
    let signed = loaded.sign(checkpoint());
    assert!(signed.verify(&key.public_key()).is_ok());
    assert_eq!(
        CheckpointKey::from_pkcs8(b"not a key").unwrap_err(),
        CheckpointError::InvalidKey
    );
}

#[test]
fn a_pkcs8_v1_key_from_openssl_loads() {
    // `openssl genpkey -algorithm ed25519 -outform DER`: PKCS#8 v1, no public key inside.
    // RFC 8032 test 1: private 9d61b19d…7f60, public d75a9801…511a.
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend(
        scrim_audit::unhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
            .unwrap(),
    );
    let key = CheckpointKey::from_pkcs8(&der).unwrap();
    assert_eq!(
        hex(key.public_key().as_bytes()),
        "d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a"
    );
}

#[test]
fn debug_never_shows_the_private_key() {
    let (key, pkcs8) = CheckpointKey::generate().unwrap();
    let secret_hex = hex(pkcs8.expose());
    let shown = format!("{key:?} {pkcs8:?}");
    assert!(shown.contains(&key.key_id()), "{shown}");
    assert!(!shown.contains(&secret_hex[32..48]), "{shown}");
    assert_eq!(format!("{pkcs8:?}"), "Pkcs8([hidden])");
}

#[test]
fn public_keys_are_32_bytes() {
    assert_eq!(
        CheckpointPublicKey::from_bytes(&[0; 31]).unwrap_err(),
        CheckpointError::InvalidPublicKey
    );
    let (key, _) = CheckpointKey::generate().unwrap();
    let pk = CheckpointPublicKey::from_bytes(key.public_key().as_bytes()).unwrap();
    assert_eq!(pk, key.public_key());
}

#[test]
fn signed_checkpoints_survive_json() {
    let (key, _) = CheckpointKey::generate().unwrap();
    let signed = key.sign(checkpoint());
    let text = serde_json::to_string(&signed).unwrap();
    assert!(text.contains(&hex(&signed.checkpoint.hash)));
    let back: SignedCheckpoint = serde_json::from_str(&text).unwrap();
    assert_eq!(back, signed);
    assert!(back.verify(&key.public_key()).is_ok());
}

#[test]
fn signed_bytes_are_stable() {
    let cp = Checkpoint {
        tenant: "t".into(),
        seq: 2,
        hash: [1; 32],
        at_ms: -1,
    };
    let mut want = Vec::new();
    want.extend(22u64.to_be_bytes());
    want.extend(b"scrim-audit-checkpoint");
    want.push(1);
    want.extend(1u64.to_be_bytes());
    want.push(b't');
    want.extend(2u64.to_be_bytes());
    want.extend([1; 32]);
    want.extend((-1i64).to_be_bytes());
    assert_eq!(cp.signed_bytes(), want);
}
