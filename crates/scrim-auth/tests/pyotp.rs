//! TOTP against an independent implementation: Python's `pyotp` computes codes for a
//! secret made here, at fixed times, and reads our otpauth URI; our `verify` must accept
//! its codes and our codes must equal its codes.
//!
//! Needs `pip install pyotp`. Without it the test prints why it is skipped and passes. The
//! interpreter is `$SCRIM_PYTHON`, else `python3`. Set `SCRIM_REQUIRE_PYOTP=1` to make a
//! missing pyotp a failure instead of a skip (CI does once it has installed it).

use std::process::Command;

use scrim_auth::totp::{self, TOTP_STEP_SECS, TotpSecret};
use scrim_testkit::python;

/// For each time in argv[3..]: pyotp's code from the base32 secret (argv[1]) and from the
/// parsed URI (argv[2]); then the URI's issuer and account name as pyotp decodes them.
const SCRIPT: &str = r#"
import sys, pyotp
secret, uri, times = sys.argv[1], sys.argv[2], [int(t) for t in sys.argv[3:]]
plain = pyotp.TOTP(secret)
parsed = pyotp.parse_uri(uri)
assert parsed.digits == 6 and parsed.interval == 30, (parsed.digits, parsed.interval)
for t in times:
    print(plain.at(t), parsed.at(t))
print(parsed.issuer)
print(parsed.name)
"#;

#[test]
fn pyotp_codes_verify_and_equal_ours() {
    if !scrim_testkit::python_package_available("pyotp test", &scrim_testkit::PYOTP) {
        return;
    }
    let secret = TotpSecret::generate().unwrap();
    let issuer = "Scrim: EU/1";
    let account = "alice+ops@example.com";
    let uri = totp::otpauth_uri(&secret, issuer, account);
    // Around the epoch, the RFC 6238 times, step boundaries, now-ish and past 2038.
    let times: [u64; 9] = [
        0,
        59,
        1_111_111_109,
        1_111_111_111,
        1_234_567_890,
        1_700_000_009,
        1_700_000_010,
        2_000_000_000,
        20_000_000_000,
    ];
    let output = Command::new(python())
        .args(["-c", SCRIPT, &secret.expose_base32(), &uri])
        .args(times.iter().map(u64::to_string))
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "pyotp script failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let stdout = String::from_utf8(output.stdout).unwrap();
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), times.len() + 2, "{stdout}");

    for (t, line) in times.iter().zip(&lines) {
        let (theirs, from_uri) = line.split_once(' ').unwrap();
        assert_eq!(theirs, from_uri, "pyotp disagrees with itself at {t}");
        assert_eq!(totp::code_at(&secret, *t), theirs, "our code at {t}");
        let step = totp::verify(&secret, theirs, *t, None).unwrap();
        assert_eq!(step, t / TOTP_STEP_SECS, "step at {t}");
        // The same code half a minute later is still in the window, and then a replay.
        assert_eq!(
            totp::verify(&secret, theirs, t + TOTP_STEP_SECS, None),
            Ok(step)
        );
        assert_eq!(
            totp::verify(&secret, theirs, t + TOTP_STEP_SECS, Some(step)),
            Err(totp::TotpError::Replayed)
        );
    }
    assert_eq!(lines[times.len()], issuer, "issuer as pyotp reads the URI");
    assert_eq!(
        lines[times.len() + 1],
        account,
        "account as pyotp reads the URI"
    );
}
