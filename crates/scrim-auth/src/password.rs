//! Passwords: Argon2id hashes stored as PHC strings
//! (`$argon2id$v=19$m=19456,t=2,p=1$<salt>$<hash>`).
//!
//! The parameters are OWASP's first recommendation for Argon2id (Password Storage Cheat
//! Sheet): 19 MiB of memory, 2 passes, 1 lane; about 20-40 ms per hash on one server core.
//! They are written into every hash, so they can be raised later: verification uses the
//! stored parameters and [`needs_rehash`] tells the sign-in path to store a new hash while
//! it still holds the plaintext.

use std::fmt;
use std::sync::OnceLock;

use argon2::password_hash::phc::PasswordHash as Phc;
use argon2::{Algorithm, Argon2, Params, PasswordHasher, PasswordVerifier, Version};

/// Memory cost in KiB (19 MiB).
pub const ARGON2_M_COST_KIB: u32 = 19 * 1024;
/// Number of passes over the memory.
pub const ARGON2_T_COST: u32 = 2;
/// Lanes. One: a sign-in should not take more than one core.
pub const ARGON2_P_COST: u32 = 1;
/// Fewest characters (Unicode scalar values) in a new password. Length is what makes a
/// password hard to guess (NIST SP 800-63B); no composition rules.
pub const MIN_PASSWORD_CHARS: usize = 12;
/// Most bytes in a password: room for any passphrase, and a bound on the work a request
/// can ask for.
pub const MAX_PASSWORD_BYTES: usize = 1024;

const SALT_LEN: usize = 16;
const OUTPUT_LEN: usize = 32;

/// Ceilings on the parameters of a stored hash: a tampered or corrupt row must not make
/// one sign-in allocate gigabytes or run for minutes.
const MAX_STORED_M_COST_KIB: u32 = 1024 * 1024;
const MAX_STORED_T_COST: u32 = 64;
const MAX_STORED_P_COST: u32 = 16;

fn current_params() -> Params {
    // The constants are valid Argon2 parameters; `Params::DEFAULT` (the same values in
    // argon2 0.6) stands in should a future release ever refuse them.
    Params::new(
        ARGON2_M_COST_KIB,
        ARGON2_T_COST,
        ARGON2_P_COST,
        Some(OUTPUT_LEN),
    )
    .unwrap_or(Params::DEFAULT)
}

/// A stored password hash in PHC string format. `Debug` does not show it: a hash is
/// enough for an offline guessing attack, so it never goes to a log.
#[derive(Clone, PartialEq, Eq)]
pub struct PasswordHash(String);

impl PasswordHash {
    /// Reads a stored hash; refuses text that is not a PHC string. The error does not
    /// contain the text.
    pub fn from_phc(stored: &str) -> Result<Self, PasswordError> {
        Phc::new(stored).map_err(|_| PasswordError::MalformedHash)?;
        Ok(Self(stored.to_owned()))
    }

    /// The PHC string, to store.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("PasswordHash(..)")
    }
}

/// Why a password could not be hashed. Never contains the password.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PasswordError {
    /// Fewer than [`MIN_PASSWORD_CHARS`] characters.
    TooShort,
    /// More than [`MAX_PASSWORD_BYTES`] bytes.
    TooLong,
    /// The operating system's random source failed (the salt).
    Random(getrandom::Error),
    /// The stored text is not a PHC string.
    MalformedHash,
    /// Argon2 refused the input (not expected with the parameters above).
    Hash,
}

impl fmt::Display for PasswordError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Self::TooShort => write!(
                f,
                "the password is too short: at least {MIN_PASSWORD_CHARS} characters"
            ),
            Self::TooLong => write!(
                f,
                "the password is too long: at most {MAX_PASSWORD_BYTES} bytes"
            ),
            Self::Random(e) => write!(f, "no random salt: {e}"),
            Self::MalformedHash => f.write_str("the stored password hash is not a PHC string"),
            Self::Hash => f.write_str("Argon2 could not hash the password"),
        }
    }
}

impl std::error::Error for PasswordError {}

/// A password for a new account that an administrator hands over once: 20 characters of
/// lowercase base32 (100 random bits, the same alphabet as API keys), in four groups of
/// five for reading aloud (`abcde-fghij-…`, 23 characters, within the length rules).
pub fn generate_initial_password() -> Result<String, getrandom::Error> {
    let chars = crate::apikey::random_base32(20)?;
    let groups: Vec<&str> = (0..20).step_by(5).map(|i| &chars[i..i + 5]).collect();
    Ok(groups.join("-"))
}

/// Checks the length rules for a new password.
pub fn check_new_password(password: &str) -> Result<(), PasswordError> {
    if password.len() > MAX_PASSWORD_BYTES {
        Err(PasswordError::TooLong)
    } else if password.chars().count() < MIN_PASSWORD_CHARS {
        Err(PasswordError::TooShort)
    } else {
        Ok(())
    }
}

/// Hashes a new password with Argon2id, the current parameters and a 16-byte random salt.
/// Refuses a password that breaks the length rules.
pub fn hash_password(password: &str) -> Result<PasswordHash, PasswordError> {
    check_new_password(password)?;
    hash_with(password, current_params())
}

fn hash_with(password: &str, params: Params) -> Result<PasswordHash, PasswordError> {
    let mut salt = [0u8; SALT_LEN];
    getrandom::fill(&mut salt).map_err(PasswordError::Random)?;
    let hash = Argon2::new(Algorithm::Argon2id, Version::V0x13, params)
        .hash_password_with_salt(password.as_bytes(), &salt)
        .map_err(|_| PasswordError::Hash)?;
    Ok(PasswordHash(hash.to_string()))
}

/// Whether `password` is the one `stored` was made from. The hash is recomputed with the
/// stored parameters and compared in constant time (by the `phc` crate's `Output`).
/// False for anything that is not an Argon2id hash within sane parameter ceilings, and for
/// a password over [`MAX_PASSWORD_BYTES`]. No minimum here: the rule applies to new
/// passwords, and refusing early would tell a short guess from a wrong one by its time.
pub fn verify_password(password: &str, stored: &PasswordHash) -> bool {
    if password.len() > MAX_PASSWORD_BYTES {
        return false;
    }
    let Ok(phc) = Phc::new(&stored.0) else {
        return false;
    };
    if phc.algorithm != argon2::ARGON2ID_IDENT {
        return false;
    }
    let Ok(params) = Params::try_from(&phc) else {
        return false;
    };
    if params.m_cost() > MAX_STORED_M_COST_KIB
        || params.t_cost() > MAX_STORED_T_COST
        || params.p_cost() > MAX_STORED_P_COST
    {
        return false;
    }
    Argon2::default()
        .verify_password(password.as_bytes(), &phc)
        .is_ok()
}

/// Spends the time of one verification against a fixed hash and returns nothing: for a
/// sign-in to an account that does not exist, so its timing does not tell which accounts
/// exist.
pub fn verify_without_account(password: &str) {
    static DUMMY: OnceLock<Option<PasswordHash>> = OnceLock::new();
    let dummy = DUMMY.get_or_init(|| hash_with("scrim-no-such-account", current_params()).ok());
    if let Some(hash) = dummy {
        let _ = verify_password(password, hash);
    }
}

/// Whether `stored` was made with weaker settings than the current ones (another algorithm
/// or version, less memory, fewer passes, a shorter salt or output) or cannot be read, so
/// the caller should store [`hash_password`] of the plaintext it has just verified.
pub fn needs_rehash(stored: &PasswordHash) -> bool {
    let Ok(phc) = Phc::new(&stored.0) else {
        return true;
    };
    let Ok(params) = Params::try_from(&phc) else {
        return true;
    };
    let current = current_params();
    phc.algorithm != argon2::ARGON2ID_IDENT
        || phc.version != Some(Version::V0x13.into())
        || params.m_cost() < current.m_cost()
        || params.t_cost() < current.t_cost()
        || phc.salt.is_none_or(|s| s.len() < SALT_LEN)
        || phc.hash.is_none_or(|h| h.len() < OUTPUT_LEN)
}

#[cfg(test)]
mod tests {
    use super::*;

    const GOOD: &str = "correct horse battery staple";

    /// The cheapest valid parameters, for tests that are not about cost.
    fn cheap() -> Params {
        Params::new(64, 1, 1, Some(OUTPUT_LEN)).unwrap()
    }

    #[test]
    fn hash_has_the_documented_shape_and_verifies() {
        let hash = hash_password(GOOD).unwrap();
        assert!(
            hash.as_str().starts_with("$argon2id$v=19$m=19456,t=2,p=1$"),
            "{}",
            hash.as_str()
        );
        assert!(verify_password(GOOD, &hash));
        assert!(!verify_password("correct horse battery stapler", &hash));
        assert!(!verify_password("", &hash));
        assert!(!needs_rehash(&hash));
        let stored = PasswordHash::from_phc(hash.as_str()).unwrap();
        assert!(verify_password(GOOD, &stored));
    }

    #[test]
    fn same_password_gets_a_new_salt_each_time() {
        let a = hash_with(GOOD, cheap()).unwrap();
        let b = hash_with(GOOD, cheap()).unwrap();
        assert_ne!(a, b);
        assert!(verify_password(GOOD, &a) && verify_password(GOOD, &b));
    }

    #[test]
    fn length_rules() {
        assert_eq!(hash_password("elevenchars"), Err(PasswordError::TooShort));
        // Twelve characters, more bytes: characters count, not bytes.
        assert_eq!(
            check_new_password("ééééééééééé"),
            Err(PasswordError::TooShort)
        );
        assert_eq!(check_new_password("éééééééééééé"), Ok(()));
        let long = "a".repeat(MAX_PASSWORD_BYTES + 1);
        assert_eq!(hash_password(&long), Err(PasswordError::TooLong));
        assert_eq!(check_new_password(&long[1..]), Ok(()));
        let hash = hash_with(&long, cheap()).unwrap();
        assert!(!verify_password(&long, &hash), "over the limit is refused");
    }

    #[test]
    fn initial_passwords_are_four_groups_of_five_and_acceptable() {
        let p = generate_initial_password().unwrap();
        assert_eq!(p.len(), 23);
        assert!(p.split('-').all(|g| g.len() == 5));
        assert!(check_new_password(&p).is_ok());
        assert_ne!(p, generate_initial_password().unwrap());
    }

    #[test]
    fn weaker_hashes_need_a_rehash() {
        let weak = hash_with(GOOD, cheap()).unwrap();
        assert!(verify_password(GOOD, &weak));
        assert!(needs_rehash(&weak));
        let fewer_passes = hash_with(
            GOOD,
            Params::new(ARGON2_M_COST_KIB, 1, 1, Some(OUTPUT_LEN)).unwrap(),
        )
        .unwrap();
        assert!(needs_rehash(&fewer_passes));
        let stronger = hash_with(
            GOOD,
            Params::new(ARGON2_M_COST_KIB + 1024, 3, 2, None).unwrap(),
        )
        .unwrap();
        assert!(!needs_rehash(&stronger));
        assert!(verify_password(GOOD, &stronger));
    }

    #[test]
    fn other_algorithms_and_garbage_are_refused() {
        let argon2i = Argon2::new(Algorithm::Argon2i, Version::V0x13, cheap())
            .hash_password_with_salt(GOOD.as_bytes(), &[7u8; SALT_LEN])
            .unwrap()
            .to_string();
        let stored = PasswordHash::from_phc(&argon2i).unwrap();
        assert!(!verify_password(GOOD, &stored));
        assert!(needs_rehash(&stored));

        let huge = "$argon2id$v=19$m=4194304,t=1,p=1$c2FsdHNhbHRzYWx0c2FsdA$\
                    AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA";
        let stored = PasswordHash::from_phc(huge).unwrap();
        assert!(!verify_password(GOOD, &stored), "over the memory ceiling");

        assert_eq!(
            PasswordHash::from_phc("not a hash"),
            Err(PasswordError::MalformedHash)
        );
    }

    #[test]
    fn debug_never_shows_the_hash() {
        let hash = hash_with(GOOD, cheap()).unwrap();
        let shown = format!("{hash:?}");
        assert_eq!(shown, "PasswordHash(..)");
        assert!(!format!("{:?}", hash_password("short")).contains("short"));
    }

    #[test]
    fn dummy_verification_runs() {
        verify_without_account(GOOD);
        verify_without_account(GOOD);
    }
}
