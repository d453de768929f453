//! The plaintext rule: unencrypted connections only on loopback, unless an operator says
//! otherwise.

use std::net::SocketAddr;

use crate::TlsError;

/// Whether `addr` may be served without TLS.
///
/// - A loopback address (`127.0.0.0/8`, `::1`, or `::ffff:127.x.y.z`) is always allowed:
///   traffic never leaves the machine.
/// - Any other address, including the unspecified `0.0.0.0` and `::` (which listen on every
///   interface), is refused with [`TlsError::PlaintextRefused`], whose message names the
///   address and the remedies, unless `allow_plaintext` is true. Then a warning is logged,
///   so the choice shows in the logs of every start.
pub fn check_plaintext(addr: SocketAddr, allow_plaintext: bool) -> Result<(), TlsError> {
    if addr.ip().to_canonical().is_loopback() {
        return Ok(());
    }
    if allow_plaintext {
        tracing::warn!(
            %addr,
            "serving plain (unencrypted) connections on a non-loopback address, because \
             plaintext was explicitly allowed; anyone on the network path can read and alter \
             this traffic"
        );
        return Ok(());
    }
    Err(TlsError::PlaintextRefused { addr })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addr(s: &str) -> SocketAddr {
        s.parse().unwrap()
    }

    #[test]
    fn loopback_is_allowed_without_the_flag() {
        for a in [
            "127.0.0.1:4318",
            "127.1.2.3:0",
            "[::1]:4317",
            "[::ffff:127.0.0.1]:4318",
        ] {
            check_plaintext(addr(a), false).unwrap_or_else(|e| panic!("{a}: {e}"));
        }
    }

    #[test]
    fn other_addresses_are_refused_without_the_flag_and_allowed_with_it() {
        for a in [
            "0.0.0.0:4318",
            "[::]:4317",
            "192.168.1.20:4318",
            "10.0.0.5:443",
            "[fe80::1]:4318",
            "[2001:db8::1]:4317",
            "[::ffff:192.168.1.20]:4318",
        ] {
            let err = check_plaintext(addr(a), false).expect_err(a);
            assert!(
                matches!(err, TlsError::PlaintextRefused { addr: refused } if refused == addr(a)),
                "{a}: {err:?}"
            );
            let message = err.to_string();
            assert!(message.contains(a), "{message}");
            for remedy in ["certificate", "self-signed", "allow-plaintext"] {
                assert!(message.contains(remedy), "{remedy} in {message}");
            }
            check_plaintext(addr(a), true).unwrap_or_else(|e| panic!("{a}: {e}"));
        }
    }

    #[test]
    fn refusal_converts_to_an_invalid_input_io_error_that_keeps_the_cause() {
        let err: std::io::Error = check_plaintext(addr("0.0.0.0:4318"), false)
            .unwrap_err()
            .into();
        assert_eq!(err.kind(), std::io::ErrorKind::InvalidInput);
        let inner = err.get_ref().unwrap().downcast_ref::<TlsError>().unwrap();
        assert!(matches!(inner, TlsError::PlaintextRefused { .. }));
    }
}
