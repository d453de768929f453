//! Serde for 32-byte hashes as lowercase hex.

use serde::{Deserialize, Deserializer, Serializer, de::Error};

pub(crate) fn serialize<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&crate::canonical::hex(bytes))
}

pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
    let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
    crate::canonical::unhex(&s)
        .and_then(|v| <[u8; 32]>::try_from(v).ok())
        .ok_or_else(|| D::Error::custom("expected 64 hex digits"))
}

/// The same for variable-length bytes (signatures).
pub(crate) mod vec {
    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub(crate) fn serialize<S: Serializer>(bytes: &[u8], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&crate::canonical::hex(bytes))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<u8>, D::Error> {
        let s = <std::borrow::Cow<'de, str>>::deserialize(d)?;
        crate::canonical::unhex(&s).ok_or_else(|| D::Error::custom("expected hex digits"))
    }
}
