//! HS256 JSON Web Tokens as the Engine API (and the preconf payload server) use them: a 32-byte
//! shared secret, claims `{"iat": <unix seconds>}`, and a freshness window on `iat`.

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use hmac::{Hmac, Mac};
use sha2::Sha256;
use std::{
    path::Path,
    time::{SystemTime, UNIX_EPOCH},
};

/// A 32-byte JWT secret.
#[derive(Clone, PartialEq, Eq)]
pub struct JwtSecret([u8; 32]);

impl std::fmt::Debug for JwtSecret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("JwtSecret(..)")
    }
}

/// Why a token or secret was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum JwtError {
    /// The secret is not 32 bytes of hex.
    #[error("invalid JWT secret: {0}")]
    BadSecret(String),
    /// The token is not three base64url parts.
    #[error("malformed token")]
    Malformed,
    /// Only HS256 is accepted.
    #[error("unsupported algorithm (only HS256)")]
    Algorithm,
    /// The signature does not verify with the secret.
    #[error("signature mismatch")]
    Signature,
    /// `iat` is missing or outside the accepted window.
    #[error("iat missing or outside the {0} s window")]
    Stale(u64),
    /// `exp` is in the past or `nbf` in the future.
    #[error("token expired or not yet valid")]
    Expired,
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

impl JwtSecret {
    /// Wraps raw bytes.
    pub const fn new(bytes: [u8; 32]) -> Self {
        Self(bytes)
    }

    /// A fresh random secret.
    pub fn random() -> Self {
        Self(alloy_primitives::B256::random().0)
    }

    /// Parses 64 hex characters, with or without `0x`, surrounding whitespace trimmed.
    pub fn from_hex(s: &str) -> Result<Self, JwtError> {
        let s = s.trim();
        let s = s.strip_prefix("0x").unwrap_or(s);
        let bytes =
            alloy_primitives::hex::decode(s).map_err(|e| JwtError::BadSecret(e.to_string()))?;
        let arr: [u8; 32] = bytes
            .try_into()
            .map_err(|_| JwtError::BadSecret("expected 32 bytes".into()))?;
        Ok(Self(arr))
    }

    /// Reads a secret file, or creates one with a random secret when it does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, JwtError> {
        match std::fs::read_to_string(path) {
            Ok(s) => Self::from_hex(&s),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let secret = Self::random();
                crate::secret_file::write_new(path, &secret.to_hex())
                    .map_err(|e| JwtError::BadSecret(format!("{}: {e}", path.display())))?;
                Ok(secret)
            }
            Err(e) => Err(JwtError::BadSecret(format!("{}: {e}", path.display()))),
        }
    }

    /// `0x` + 64 hex characters.
    pub fn to_hex(&self) -> String {
        format!("0x{}", alloy_primitives::hex::encode(self.0))
    }

    fn mac(&self, data: &[u8]) -> [u8; 32] {
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(data);
        mac.finalize().into_bytes().into()
    }

    /// A token with `iat` = now.
    pub fn token(&self) -> String {
        self.token_at(now())
    }

    /// A token with the given `iat`.
    pub fn token_at(&self, iat: u64) -> String {
        let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
        let claims = URL_SAFE_NO_PAD.encode(format!(r#"{{"iat":{iat}}}"#));
        let signing_input = format!("{header}.{claims}");
        let sig = URL_SAFE_NO_PAD.encode(self.mac(signing_input.as_bytes()));
        format!("{signing_input}.{sig}")
    }

    /// Verifies a token: HS256, valid signature, `|now − iat| ≤ window_secs`, and `exp` / `nbf`
    /// when present.
    pub fn verify(&self, token: &str, window_secs: u64) -> Result<(), JwtError> {
        let mut parts = token.split('.');
        let (Some(h), Some(c), Some(s), None) =
            (parts.next(), parts.next(), parts.next(), parts.next())
        else {
            return Err(JwtError::Malformed);
        };
        let header: serde_json::Value = URL_SAFE_NO_PAD
            .decode(h)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(JwtError::Malformed)?;
        if header.get("alg").and_then(|a| a.as_str()) != Some("HS256") {
            return Err(JwtError::Algorithm);
        }
        let sig = URL_SAFE_NO_PAD.decode(s).map_err(|_| JwtError::Malformed)?;
        let mut mac = Hmac::<Sha256>::new_from_slice(&self.0).expect("HMAC takes any key length");
        mac.update(format!("{h}.{c}").as_bytes());
        mac.verify_slice(&sig).map_err(|_| JwtError::Signature)?;
        let claims: serde_json::Value = URL_SAFE_NO_PAD
            .decode(c)
            .ok()
            .and_then(|b| serde_json::from_slice(&b).ok())
            .ok_or(JwtError::Malformed)?;
        let iat = claims
            .get("iat")
            .and_then(|v| v.as_u64())
            .ok_or(JwtError::Stale(window_secs))?;
        let now = now();
        if now.abs_diff(iat) > window_secs {
            return Err(JwtError::Stale(window_secs));
        }
        let claim = |k: &str| claims.get(k).map(|v| v.as_u64().ok_or(JwtError::Malformed));
        if let Some(exp) = claim("exp").transpose()?
            && now >= exp
        {
            return Err(JwtError::Expired);
        }
        if let Some(nbf) = claim("nbf").transpose()?
            && now < nbf
        {
            return Err(JwtError::Expired);
        }
        Ok(())
    }
}

/// Extracts the token from an `Authorization: Bearer <token>` header value (`Bearer` in any
/// case, as RFC 6750's scheme name is case-insensitive).
pub fn bearer(header: &str) -> Option<&str> {
    let (scheme, token) = header.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trip_and_rejections() {
        let s = JwtSecret::from_hex(&format!("0x{}", "11".repeat(32))).unwrap();
        let other = JwtSecret::new([2u8; 32]);
        assert_eq!(s.verify(&s.token(), 60), Ok(()));
        assert_eq!(other.verify(&s.token(), 60), Err(JwtError::Signature));
        assert_eq!(
            s.verify(&s.token_at(now() - 120), 60),
            Err(JwtError::Stale(60))
        );
        assert_eq!(s.verify("a.b", 60), Err(JwtError::Malformed));
        assert!(JwtSecret::from_hex("0x1234").is_err());
        assert_eq!(bearer("bearer abc"), Some("abc"));
        assert_eq!(bearer("BEARER  abc "), Some("abc"));
        assert_eq!(bearer("Basic abc"), None);
        assert_eq!(bearer("Bearer "), None);
    }

    #[test]
    fn exp_and_nbf_are_enforced_when_present() {
        let s = JwtSecret::new([7u8; 32]);
        let signed = |claims: String| {
            let header = URL_SAFE_NO_PAD.encode(br#"{"alg":"HS256","typ":"JWT"}"#);
            let input = format!("{header}.{}", URL_SAFE_NO_PAD.encode(claims));
            let sig = URL_SAFE_NO_PAD.encode(s.mac(input.as_bytes()));
            format!("{input}.{sig}")
        };
        let t = now();
        assert_eq!(
            s.verify(&signed(format!(r#"{{"iat":{t},"exp":{}}}"#, t + 30)), 60),
            Ok(())
        );
        assert_eq!(
            s.verify(&signed(format!(r#"{{"iat":{t},"exp":{}}}"#, t - 1)), 60),
            Err(JwtError::Expired)
        );
        assert_eq!(
            s.verify(&signed(format!(r#"{{"iat":{t},"nbf":{}}}"#, t + 30)), 60),
            Err(JwtError::Expired)
        );
    }

    #[test]
    fn matches_a_known_token() {
        // HS256 over {"alg":"HS256","typ":"JWT"}.{"iat":1700000000} with key 0x00..00, checked
        // independently with Python's hmac module.
        let s = JwtSecret::new([0u8; 32]);
        let t = s.token_at(1_700_000_000);
        assert_eq!(
            t,
            "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9.eyJpYXQiOjE3MDAwMDAwMDB9.AV0neG6Q-D2P_lDW7gragYW8jJ_BPpKgG5A6auv-Ef4"
        );
    }
}
