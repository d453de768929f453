//! ID-token validation (OpenID Connect Core 1.0 §3.1.3.7), on `openidconnect`'s verifier with
//! Scrim's choices added: the accepted algorithms are the provider's advertised ones minus
//! `none` and minus HMAC for a client without a secret; `iat` must be recent; `azp`, when
//! present, must be this client; `at_hash`, when present, must match the access token.

use std::str::FromStr;
use std::time::Duration;

use chrono::{DateTime, Utc};
use openidconnect::core::{
    CoreGenderClaim, CoreJsonWebKey, CoreJsonWebKeySet, CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
};
use openidconnect::{
    AccessToken, AccessTokenHash, AdditionalClaims, ClaimsVerificationError, ClientId,
    ClientSecret, IdTokenClaims, IdTokenVerifier, IssuerUrl, JsonWebKey, JwsSigningAlgorithm,
    Nonce, SignatureVerificationError,
};
use serde::{Deserialize, Serialize};

use crate::error::IdTokenError;

/// How far the provider's clock may be ahead of ours (`iat` in the future).
pub(crate) const CLOCK_SKEW: Duration = Duration::from_secs(5 * 60);
/// How old an ID token may be when it reaches us: it was issued at the token endpoint a
/// moment ago, so anything older (beyond the skew) is a replay or a broken clock.
pub(crate) const MAX_ID_TOKEN_AGE: Duration = Duration::from_secs(10 * 60);

const IAT_MARKER: &str = "scrim-oidc:iat";

/// Every claim that is not a standard one, for the configured groups claim.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub(crate) struct OtherClaims {
    #[serde(flatten)]
    pub(crate) claims: serde_json::Map<String, serde_json::Value>,
}

impl AdditionalClaims for OtherClaims {}

pub(crate) type IdToken = openidconnect::IdToken<
    OtherClaims,
    CoreGenderClaim,
    CoreJweContentEncryptionAlgorithm,
    CoreJwsSigningAlgorithm,
>;

pub(crate) type Claims = IdTokenClaims<OtherClaims, CoreGenderClaim>;

/// What an ID token must satisfy.
pub(crate) struct Expected<'a> {
    pub(crate) issuer: &'a IssuerUrl,
    pub(crate) client_id: &'a ClientId,
    /// Set for a confidential client; the key of HMAC-signed tokens.
    pub(crate) client_secret: Option<&'a ClientSecret>,
    pub(crate) keys: &'a CoreJsonWebKeySet,
    /// Accepted signature algorithms (see [`accepted_algorithms`]).
    pub(crate) algorithms: &'a [CoreJwsSigningAlgorithm],
    pub(crate) nonce: &'a Nonce,
    pub(crate) now: DateTime<Utc>,
    /// The access token of the same response, checked against `at_hash` when present.
    pub(crate) access_token: Option<&'a AccessToken>,
}

/// The algorithms to accept from a provider that advertises `advertised`: never `none`, HMAC
/// only for a confidential client (its secret is the key; a public client's "secret" is no
/// secret). An empty advertisement means RS256, the specification's default.
pub(crate) fn accepted_algorithms(
    advertised: &[CoreJwsSigningAlgorithm],
    confidential: bool,
) -> Vec<CoreJwsSigningAlgorithm> {
    let advertised = if advertised.is_empty() {
        vec![CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256]
    } else {
        advertised.to_vec()
    };
    advertised
        .into_iter()
        .filter(|alg| match alg {
            CoreJwsSigningAlgorithm::None => false,
            alg if alg.uses_shared_secret() => confidential,
            _ => true,
        })
        .collect()
}

/// Validates `raw` (a compact JWS) and returns its claims.
pub(crate) fn verify_id_token(raw: &str, expected: &Expected<'_>) -> Result<Claims, IdTokenError> {
    if raw.split('.').count() == 5 {
        return Err(IdTokenError::Encrypted);
    }
    let token = IdToken::from_str(raw).map_err(|_| IdTokenError::Malformed)?;

    let now = expected.now;
    let verifier = match expected.client_secret {
        Some(secret) => IdTokenVerifier::new_confidential_client(
            expected.client_id.clone(),
            secret.clone(),
            expected.issuer.clone(),
            expected.keys.clone(),
        ),
        None => IdTokenVerifier::new_public_client(
            expected.client_id.clone(),
            expected.issuer.clone(),
            expected.keys.clone(),
        ),
    }
    .set_allowed_algs(expected.algorithms.iter().cloned())
    .set_time_fn(move || now)
    .set_issue_time_verifier_fn(move |iat| check_issue_time(iat, now));

    let claims = token
        .claims(&verifier, expected.nonce)
        .map_err(map_claims_error)?
        .clone();

    // The subject is the account's key (with the issuer): an empty one would be everyone's.
    if claims.subject().is_empty() {
        return Err(IdTokenError::Malformed);
    }

    // §3.1.3.7 items 4 and 5: with several audiences azp is required; when present it must
    // be this client. (openidconnect leaves azp to the caller; other audiences are already
    // refused.)
    match claims.authorized_party() {
        Some(azp) if azp.as_str() != expected.client_id.as_str() => {
            return Err(IdTokenError::WrongAuthorizedParty);
        }
        None if claims.audiences().len() > 1 => return Err(IdTokenError::WrongAuthorizedParty),
        _ => {}
    }

    if let (Some(at_hash), Some(access_token)) = (claims.access_token_hash(), expected.access_token)
    {
        let alg = token
            .signing_alg()
            .map_err(|_| IdTokenError::DisallowedAlgorithm)?;
        let computed = if alg.uses_shared_secret() {
            let secret = expected
                .client_secret
                .ok_or(IdTokenError::DisallowedAlgorithm)?;
            let key = CoreJsonWebKey::new_symmetric(secret.secret().as_bytes().to_vec());
            AccessTokenHash::from_token(access_token, alg, &key)
        } else {
            let key = token
                .signing_key(&verifier)
                .map_err(|_| IdTokenError::NoMatchingKey)?;
            AccessTokenHash::from_token(access_token, alg, key)
        }
        .map_err(|_| IdTokenError::AccessTokenHashMismatch)?;
        if computed != *at_hash {
            return Err(IdTokenError::AccessTokenHashMismatch);
        }
    }
    Ok(claims)
}

fn check_issue_time(iat: DateTime<Utc>, now: DateTime<Utc>) -> Result<(), String> {
    let skew = chrono::Duration::from_std(CLOCK_SKEW).unwrap_or_default();
    let age = chrono::Duration::from_std(MAX_ID_TOKEN_AGE).unwrap_or_default();
    if iat > now + skew || iat < now - age - skew {
        Err(IAT_MARKER.to_string())
    } else {
        Ok(())
    }
}

fn map_claims_error(e: ClaimsVerificationError) -> IdTokenError {
    match e {
        ClaimsVerificationError::Expired(m) if m == IAT_MARKER => IdTokenError::BadIssueTime,
        ClaimsVerificationError::Expired(_) => IdTokenError::Expired,
        ClaimsVerificationError::InvalidAudience(_) => IdTokenError::WrongAudience,
        ClaimsVerificationError::InvalidIssuer(_) => IdTokenError::WrongIssuer,
        ClaimsVerificationError::InvalidNonce(_) => IdTokenError::NonceMismatch,
        ClaimsVerificationError::SignatureVerification(e) => match e {
            SignatureVerificationError::NoMatchingKey
            | SignatureVerificationError::AmbiguousKeyId(_)
            | SignatureVerificationError::InvalidKey(_) => IdTokenError::NoMatchingKey,
            SignatureVerificationError::CryptoError(_) => IdTokenError::BadSignature,
            SignatureVerificationError::DisallowedAlg(_)
            | SignatureVerificationError::NoSignature
            | SignatureVerificationError::UnsupportedAlg(_) => IdTokenError::DisallowedAlgorithm,
            _ => IdTokenError::BadSignature,
        },
        ClaimsVerificationError::Unsupported(_) => IdTokenError::Encrypted,
        _ => IdTokenError::Malformed,
    }
}

/// The values of `claim` among `claims`: an array of strings, or one string. A name that is
/// not a top-level claim but contains dots is looked up as a path (`realm_access.roles`).
pub(crate) fn groups_from(
    claims: &serde_json::Map<String, serde_json::Value>,
    claim: &str,
) -> Option<Vec<String>> {
    let value = match claims.get(claim) {
        Some(value) => value,
        None if claim.contains('.') => {
            let mut parts = claim.split('.');
            let mut value = claims.get(parts.next()?)?;
            for part in parts {
                value = value.as_object()?.get(part)?;
            }
            value
        }
        None => return None,
    };
    match value {
        serde_json::Value::String(s) => Some(vec![s.clone()]),
        serde_json::Value::Array(items) => Some(
            items
                .iter()
                .filter_map(|item| item.as_str().map(str::to_string))
                .collect(),
        ),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use base64::Engine;
    use base64::engine::general_purpose::URL_SAFE_NO_PAD as B64;
    use ring::rand::SystemRandom;
    use ring::signature::{self, EcdsaKeyPair, KeyPair, RsaKeyPair};
    use serde_json::json;

    const ISSUER: &str = "https://idp.example.test";
    const CLIENT: &str = "scrim";
    const NONCE: &str = "n-0123456789abcdef";
    /// A 2048-bit RSA key made for these tests only (PKCS#8 DER).
    const RSA_KEY: &[u8] = include_bytes!("../tests/data/rsa-2048-test-key.pk8.der");

    struct Keys {
        rsa: RsaKeyPair,
        ec: EcdsaKeyPair,
        set: CoreJsonWebKeySet,
        rng: SystemRandom,
    }

    fn keys() -> Keys {
        let rng = SystemRandom::new();
        let rsa = RsaKeyPair::from_pkcs8(RSA_KEY).unwrap();
        let ec_pkcs8 =
            EcdsaKeyPair::generate_pkcs8(&signature::ECDSA_P256_SHA256_FIXED_SIGNING, &rng)
                .unwrap();
        let ec = EcdsaKeyPair::from_pkcs8(
            &signature::ECDSA_P256_SHA256_FIXED_SIGNING,
            ec_pkcs8.as_ref(),
            &rng,
        )
        .unwrap();
        let point = ec.public_key().as_ref();
        let rsa_public = signature::RsaPublicKeyComponents::<Vec<u8>>::from(rsa.public());
        let set = serde_json::from_value(json!({
            "keys": [
                {
                    "kty": "RSA", "kid": "rsa-1", "use": "sig", "alg": "RS256",
                    "n": B64.encode(&rsa_public.n),
                    "e": B64.encode(&rsa_public.e),
                },
                {
                    "kty": "EC", "kid": "ec-1", "use": "sig", "crv": "P-256",
                    "x": B64.encode(&point[1..33]),
                    "y": B64.encode(&point[33..65]),
                },
            ]
        }))
        .unwrap();
        Keys { rsa, ec, set, rng }
    }

    fn now() -> DateTime<Utc> {
        DateTime::from_timestamp(1_900_000_000, 0).unwrap()
    }

    fn claims() -> serde_json::Value {
        let now = now().timestamp();
        json!({
            "iss": ISSUER,
            "sub": "user-1",
            "aud": CLIENT,
            "exp": now + 300,
            "iat": now - 5,
            "nonce": NONCE,
            "email": "alice@example.test",
            "email_verified": true,
            "groups": ["scrim-admins", "staff"],
        })
    }

    fn encode(header: &serde_json::Value, claims: &serde_json::Value) -> String {
        format!(
            "{}.{}",
            B64.encode(serde_json::to_vec(header).unwrap()),
            B64.encode(serde_json::to_vec(claims).unwrap())
        )
    }

    fn rs256(keys: &Keys, kid: &str, claims: &serde_json::Value) -> String {
        let input = encode(&json!({"alg": "RS256", "typ": "JWT", "kid": kid}), claims);
        let mut sig = vec![0; keys.rsa.public().modulus_len()];
        keys.rsa
            .sign(
                &signature::RSA_PKCS1_SHA256,
                &keys.rng,
                input.as_bytes(),
                &mut sig,
            )
            .unwrap();
        format!("{input}.{}", B64.encode(sig))
    }

    fn es256(keys: &Keys, claims: &serde_json::Value) -> String {
        let input = encode(
            &json!({"alg": "ES256", "typ": "JWT", "kid": "ec-1"}),
            claims,
        );
        let sig = keys.ec.sign(&keys.rng, input.as_bytes()).unwrap();
        format!("{input}.{}", B64.encode(sig.as_ref()))
    }

    fn hs256(secret: &[u8], claims: &serde_json::Value) -> String {
        let input = encode(&json!({"alg": "HS256", "typ": "JWT"}), claims);
        let key = ring::hmac::Key::new(ring::hmac::HMAC_SHA256, secret);
        let tag = ring::hmac::sign(&key, input.as_bytes());
        format!("{input}.{}", B64.encode(tag.as_ref()))
    }

    fn algorithms(confidential: bool) -> Vec<CoreJwsSigningAlgorithm> {
        accepted_algorithms(
            &[
                CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
                CoreJwsSigningAlgorithm::EcdsaP256Sha256,
                CoreJwsSigningAlgorithm::HmacSha256,
                CoreJwsSigningAlgorithm::None,
            ],
            confidential,
        )
    }

    fn check(keys: &Keys, raw: &str) -> Result<Claims, IdTokenError> {
        check_with(keys, raw, None, None)
    }

    fn check_with(
        keys: &Keys,
        raw: &str,
        secret: Option<&ClientSecret>,
        access_token: Option<&AccessToken>,
    ) -> Result<Claims, IdTokenError> {
        let algorithms = algorithms(secret.is_some());
        verify_id_token(
            raw,
            &Expected {
                issuer: &IssuerUrl::new(ISSUER.into()).unwrap(),
                client_id: &ClientId::new(CLIENT.into()),
                client_secret: secret,
                keys: &keys.set,
                algorithms: &algorithms,
                nonce: &Nonce::new(NONCE.into()),
                now: now(),
                access_token,
            },
        )
    }

    fn with(
        change: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>),
    ) -> serde_json::Value {
        let mut claims = claims();
        change(claims.as_object_mut().unwrap());
        claims
    }

    #[test]
    fn rs256_and_es256_tokens_verify_and_carry_their_claims() {
        let keys = keys();
        for raw in [rs256(&keys, "rsa-1", &claims()), es256(&keys, &claims())] {
            let claims = check(&keys, &raw).unwrap();
            assert_eq!(claims.subject().as_str(), "user-1");
            assert_eq!(claims.email().unwrap().as_str(), "alice@example.test");
            assert_eq!(claims.email_verified(), Some(true));
            assert_eq!(
                groups_from(&claims.additional_claims().claims, "groups").unwrap(),
                ["scrim-admins", "staff"]
            );
        }
    }

    #[test]
    fn string_booleans_are_read() {
        let keys = keys();
        for (text, verified) in [("true", true), ("false", false)] {
            let raw = rs256(
                &keys,
                "rsa-1",
                &with(|c| {
                    c.insert("email_verified".into(), json!(text));
                }),
            );
            assert_eq!(check(&keys, &raw).unwrap().email_verified(), Some(verified));
        }
        let raw = rs256(
            &keys,
            "rsa-1",
            &with(|c| {
                c.insert("email_verified".into(), json!("yes"));
            }),
        );
        assert_eq!(check(&keys, &raw).unwrap_err(), IdTokenError::Malformed);
    }

    #[test]
    fn empty_subject_is_refused() {
        let keys = keys();
        let raw = rs256(
            &keys,
            "rsa-1",
            &with(|c| {
                c.insert("sub".into(), json!(""));
            }),
        );
        assert_eq!(check(&keys, &raw).unwrap_err(), IdTokenError::Malformed);
    }

    #[test]
    fn wrong_issuer_is_refused() {
        let keys = keys();
        let raw = rs256(
            &keys,
            "rsa-1",
            &with(|c| {
                c.insert("iss".into(), json!("https://evil.example.test"));
            }),
        );
        assert_eq!(check(&keys, &raw).unwrap_err(), IdTokenError::WrongIssuer);
        let raw = rs256(
            &keys,
            "rsa-1",
            &with(|c| {
                c.remove("iss");
            }),
        );
        assert!(check(&keys, &raw).is_err());
    }

    #[test]
    fn wrong_audience_is_refused() {
        let keys = keys();
        let raw = rs256(
            &keys,
            "rsa-1",
            &with(|c| {
                c.insert("aud".into(), json!("another-client"));
            }),
        );
        assert_eq!(check(&keys, &raw).unwrap_err(), IdTokenError::WrongAudience);
        // This client among others: the other audience is not trusted.
        let raw = rs256(
            &keys,
            "rsa-1",
            &with(|c| {
                c.insert("aud".into(), json!([CLIENT, "another-client"]));
                c.insert("azp".into(), json!(CLIENT));
            }),
        );
        assert_eq!(check(&keys, &raw).unwrap_err(), IdTokenError::WrongAudience);
    }

    #[test]
    fn foreign_authorized_party_is_refused() {
        let keys = keys();
        let raw = rs256(
            &keys,
            "rsa-1",
            &with(|c| {
                c.insert("azp".into(), json!("another-client"));
            }),
        );
        assert_eq!(
            check(&keys, &raw).unwrap_err(),
            IdTokenError::WrongAuthorizedParty
        );
        let raw = rs256(
            &keys,
            "rsa-1",
            &with(|c| {
                c.insert("azp".into(), json!(CLIENT));
            }),
        );
        check(&keys, &raw).unwrap();
    }

    #[test]
    fn expired_token_is_refused() {
        let keys = keys();
        let raw = rs256(
            &keys,
            "rsa-1",
            &with(|c| {
                c.insert("exp".into(), json!(now().timestamp() - 1));
            }),
        );
        assert_eq!(check(&keys, &raw).unwrap_err(), IdTokenError::Expired);
        let raw = rs256(
            &keys,
            "rsa-1",
            &with(|c| {
                c.insert("exp".into(), json!(now().timestamp()));
            }),
        );
        assert_eq!(check(&keys, &raw).unwrap_err(), IdTokenError::Expired);
    }

    #[test]
    fn issue_time_far_from_now_is_refused() {
        let keys = keys();
        let future = now().timestamp() + CLOCK_SKEW.as_secs() as i64 + 60;
        let raw = rs256(
            &keys,
            "rsa-1",
            &with(|c| {
                c.insert("iat".into(), json!(future));
                c.insert("exp".into(), json!(future + 300));
            }),
        );
        assert_eq!(check(&keys, &raw).unwrap_err(), IdTokenError::BadIssueTime);
        let past = now().timestamp() - (MAX_ID_TOKEN_AGE + CLOCK_SKEW).as_secs() as i64 - 60;
        let raw = rs256(
            &keys,
            "rsa-1",
            &with(|c| {
                c.insert("iat".into(), json!(past));
            }),
        );
        assert_eq!(check(&keys, &raw).unwrap_err(), IdTokenError::BadIssueTime);
    }

    #[test]
    fn wrong_or_missing_nonce_is_refused() {
        let keys = keys();
        let raw = rs256(
            &keys,
            "rsa-1",
            &with(|c| {
                c.insert("nonce".into(), json!("n-another-login"));
            }),
        );
        assert_eq!(check(&keys, &raw).unwrap_err(), IdTokenError::NonceMismatch);
        let raw = rs256(
            &keys,
            "rsa-1",
            &with(|c| {
                c.remove("nonce");
            }),
        );
        assert_eq!(check(&keys, &raw).unwrap_err(), IdTokenError::NonceMismatch);
    }

    #[test]
    fn alg_none_is_refused() {
        let keys = keys();
        for header in [
            json!({"alg": "none"}),
            json!({"alg": "none", "kid": "rsa-1"}),
        ] {
            let raw = format!("{}.", encode(&header, &claims()));
            assert_eq!(
                check(&keys, &raw).unwrap_err(),
                IdTokenError::DisallowedAlgorithm
            );
            // Even for a confidential client, and with a signature stuck on.
            let secret = ClientSecret::new("s3cret".into());
            let raw = format!("{raw}{}", B64.encode(b"sig"));
            assert!(check_with(&keys, &raw, Some(&secret), None).is_err());
        }
    }

    #[test]
    fn hmac_is_refused_for_a_public_client_and_keyed_by_the_secret_otherwise() {
        let keys = keys();
        let raw = hs256(b"s3cret-s3cret-s3cret-s3cret-s3cret", &claims());
        assert_eq!(
            check(&keys, &raw).unwrap_err(),
            IdTokenError::DisallowedAlgorithm
        );
        let secret = ClientSecret::new("s3cret-s3cret-s3cret-s3cret-s3cret".into());
        check_with(&keys, &raw, Some(&secret), None).unwrap();
        let other = ClientSecret::new("another-secret-another-secret".into());
        assert_eq!(
            check_with(&keys, &raw, Some(&other), None).unwrap_err(),
            IdTokenError::BadSignature
        );
        // The provider's public key is never an HMAC key (the classic algorithm confusion):
        // a token "signed" with it is refused, for a public and a confidential client alike.
        let public_key = serde_json::to_vec(&keys.set.keys()[0]).unwrap();
        let forged = hs256(&public_key, &claims());
        assert_eq!(
            check(&keys, &forged).unwrap_err(),
            IdTokenError::DisallowedAlgorithm
        );
        assert_eq!(
            check_with(&keys, &forged, Some(&secret), None).unwrap_err(),
            IdTokenError::BadSignature
        );
    }

    #[test]
    fn tampered_signature_or_payload_is_refused() {
        let keys = keys();
        let raw = rs256(&keys, "rsa-1", &claims());
        let (input, sig) = raw.rsplit_once('.').unwrap();
        let mut sig = B64.decode(sig).unwrap();
        sig[10] ^= 1;
        let tampered = format!("{input}.{}", B64.encode(&sig));
        assert_eq!(
            check(&keys, &tampered).unwrap_err(),
            IdTokenError::BadSignature
        );

        // Another payload under the original signature.
        let (header, _) = input.split_once('.').unwrap();
        let payload = B64.encode(
            serde_json::to_vec(&with(|c| {
                c.insert("sub".into(), json!("admin"));
            }))
            .unwrap(),
        );
        let (_, original_sig) = raw.rsplit_once('.').unwrap();
        let swapped = format!("{header}.{payload}.{original_sig}");
        assert_eq!(
            check(&keys, &swapped).unwrap_err(),
            IdTokenError::BadSignature
        );

        let es = es256(&keys, &claims());
        let (input, _) = es.rsplit_once('.').unwrap();
        let zeros = format!("{input}.{}", B64.encode([0u8; 64]));
        assert_eq!(
            check(&keys, &zeros).unwrap_err(),
            IdTokenError::BadSignature
        );
    }

    #[test]
    fn unknown_key_or_mismatched_key_type_is_refused() {
        let keys = keys();
        let raw = rs256(&keys, "rsa-2", &claims());
        assert_eq!(check(&keys, &raw).unwrap_err(), IdTokenError::NoMatchingKey);
        // An RS256 signature presented under the EC key's id.
        let raw = rs256(&keys, "ec-1", &claims());
        assert_eq!(check(&keys, &raw).unwrap_err(), IdTokenError::NoMatchingKey);
    }

    #[test]
    fn garbage_and_encrypted_tokens_are_refused() {
        let keys = keys();
        for raw in ["", "a", "a.b", "a.b.c", "....", "e30.e30.", "e30.e30.e30"] {
            assert!(check(&keys, raw).is_err(), "{raw:?}");
        }
        assert_eq!(
            check(&keys, "eyJhbGciOiJSU0EtT0FFUCJ9.a.b.c.d").unwrap_err(),
            IdTokenError::Encrypted
        );
    }

    #[test]
    fn at_hash_must_match_the_access_token() {
        let keys = keys();
        let access_token = AccessToken::new("the-access-token".into());
        let key = keys
            .set
            .keys()
            .iter()
            .find(|k| k.key_id().map(|k| k.as_str()) == Some("rsa-1"))
            .unwrap();
        let at_hash = AccessTokenHash::from_token(
            &access_token,
            &CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256,
            key,
        )
        .unwrap();
        let raw = rs256(
            &keys,
            "rsa-1",
            &with(|c| {
                c.insert("at_hash".into(), json!(at_hash.as_str()));
            }),
        );
        check_with(&keys, &raw, None, Some(&access_token)).unwrap();
        let other = AccessToken::new("another-access-token".into());
        assert_eq!(
            check_with(&keys, &raw, None, Some(&other)).unwrap_err(),
            IdTokenError::AccessTokenHashMismatch
        );
    }

    #[test]
    fn accepted_algorithms_never_include_none_or_public_hmac() {
        let public = algorithms(false);
        assert!(!public.contains(&CoreJwsSigningAlgorithm::None));
        assert!(!public.contains(&CoreJwsSigningAlgorithm::HmacSha256));
        assert!(algorithms(true).contains(&CoreJwsSigningAlgorithm::HmacSha256));
        assert_eq!(
            accepted_algorithms(&[], false),
            [CoreJwsSigningAlgorithm::RsaSsaPkcs1V15Sha256]
        );
    }

    #[test]
    fn groups_claim_shapes() {
        let claims = json!({
            "groups": ["a", "b", 3],
            "role": "solo",
            "realm_access": {"roles": ["x"]},
            "https://example.test/groups": ["namespaced"],
            "number": 1,
        });
        let claims = claims.as_object().unwrap();
        assert_eq!(groups_from(claims, "groups").unwrap(), ["a", "b"]);
        assert_eq!(groups_from(claims, "role").unwrap(), ["solo"]);
        assert_eq!(groups_from(claims, "realm_access.roles").unwrap(), ["x"]);
        assert_eq!(
            groups_from(claims, "https://example.test/groups").unwrap(),
            ["namespaced"]
        );
        assert_eq!(groups_from(claims, "number"), None);
        assert_eq!(groups_from(claims, "missing"), None);
        assert_eq!(groups_from(claims, "realm_access.missing"), None);
    }
}
