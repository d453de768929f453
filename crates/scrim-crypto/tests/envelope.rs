//! Master key files and wrapping data keys, through the public API.

use std::fs;
use std::os::unix::fs::PermissionsExt;

use scrim_crypto::{
    CryptoError, DataKey, KeyProvider, LocalKeyProvider, WRAPPED_KEY_LEN, open, rewrap, seal,
};

#[test]
fn master_key_file_is_created_private_once_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    let first = LocalKeyProvider::load_or_create(&path).unwrap();
    let mode = fs::metadata(&path).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode, 0o600);
    let text = fs::read_to_string(&path).unwrap();
    assert_eq!(text.trim().len(), 64);

    let (data_key, wrapped) = first.new_data_key(b"tenant-a").unwrap();
    assert_eq!(wrapped.len(), WRAPPED_KEY_LEN);
    assert!(
        !wrapped
            .windows(8)
            .any(|w| data_key.as_bytes().windows(8).any(|k| k == w)),
        "the wrapped form must not contain the key"
    );

    // A second start reads the same key back and unwraps what the first wrapped.
    let second = LocalKeyProvider::load_or_create(&path).unwrap();
    assert_eq!(second.id(), first.id());
    let unwrapped = second.unwrap(&wrapped, b"tenant-a").unwrap();
    assert_eq!(unwrapped.as_bytes(), data_key.as_bytes());
    assert_eq!(fs::read_to_string(&path).unwrap(), text, "not rewritten");
}

#[test]
fn a_master_key_file_others_can_read_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    LocalKeyProvider::load_or_create(&path).unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o644)).unwrap();
    let err = LocalKeyProvider::load_or_create(&path).unwrap_err();
    assert!(err.to_string().contains("chmod 600"), "{err}");
}

#[test]
fn bad_master_keys_get_clear_errors_that_do_not_repeat_them() {
    let secretish = "zz".repeat(32);
    for text in ["", "abcd", secretish.as_str(), &"0".repeat(65)] {
        let err = LocalKeyProvider::from_hex(text).unwrap_err().to_string();
        assert!(err.starts_with("master key:"), "{err}");
        if text.len() > 4 {
            assert!(!err.contains(text), "{err}");
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("master.key");
    fs::write(&path, "not a key\n").unwrap();
    fs::set_permissions(&path, fs::Permissions::from_mode(0o600)).unwrap();
    assert!(matches!(
        LocalKeyProvider::load_or_create(&path),
        Err(CryptoError::MasterKey(_))
    ));
}

#[test]
fn a_wrapped_key_needs_the_same_master_key_and_context() {
    let a = LocalKeyProvider::from_hex(&"11".repeat(32)).unwrap();
    let b = LocalKeyProvider::from_hex(&"22".repeat(32)).unwrap();
    let (_, wrapped) = a.new_data_key(b"tenant-a").unwrap();
    assert!(matches!(
        b.unwrap(&wrapped, b"tenant-a"),
        Err(CryptoError::WrongMasterKey { .. })
    ));
    // Moving one tenant's wrapped key to another tenant's row does not work.
    assert!(matches!(
        a.unwrap(&wrapped, b"tenant-b"),
        Err(CryptoError::Decrypt)
    ));
    let mut altered = wrapped.clone();
    altered[WRAPPED_KEY_LEN - 1] ^= 1;
    assert!(a.unwrap(&altered, b"tenant-a").is_err());
    assert!(a.unwrap(&wrapped[..10], b"tenant-a").is_err());
}

#[test]
fn rotation_rewraps_without_changing_the_data_key() {
    let old = LocalKeyProvider::from_hex(&"33".repeat(32)).unwrap();
    let new = LocalKeyProvider::from_hex(&"44".repeat(32)).unwrap();
    let (key, wrapped) = old.new_data_key(b"t1").unwrap();
    let record = seal(&key, b"t1", b"span").unwrap();
    let rewrapped = rewrap(&old, &new, &wrapped, b"t1").unwrap();
    let key_again = new.unwrap(&rewrapped, b"t1").unwrap();
    assert_eq!(open(&key_again, b"t1", &record).unwrap(), b"span");
    assert!(old.unwrap(&rewrapped, b"t1").is_err());
}

#[test]
fn destroying_the_wrapped_key_shreds_the_data() {
    // Crypto-shredding in one line: without the data key the record cannot be opened, and
    // any other key, even one from the same master key, fails.
    let master = LocalKeyProvider::from_hex(&"55".repeat(32)).unwrap();
    let (key, _wrapped) = master.new_data_key(b"t").unwrap();
    let record = seal(&key, b"t", b"payload").unwrap();
    drop(key);
    let (other, _) = master.new_data_key(b"t").unwrap();
    assert!(open(&other, b"t", &record).is_err());
    assert!(open(&DataKey::from_bytes([0; 32]), b"t", &record).is_err());
}

#[test]
fn debug_output_never_shows_keys() {
    let p = LocalKeyProvider::from_hex(&"ab".repeat(32)).unwrap();
    let shown = format!("{p:?}");
    assert!(!shown.contains("abab"), "{shown}");
    assert!(shown.contains(p.id()));
}
