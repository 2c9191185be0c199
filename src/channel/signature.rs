//! The webhook signature: `X-Byoc-Signature: t=<unix seconds>,v1=<hex HMAC-SHA256>`.
//!
//! The signed message is `"<t>.<body>"`: the timestamp in decimal, a dot, then the raw body
//! bytes. `v1` is the lowercase hex HMAC-SHA256 of that message keyed with the webhook secret.
//! Signing and verification are pure functions, so partners and tests use the same code as
//! the connector. Verification accepts several `v1` values (secret rotation), compares in
//! constant time and rejects timestamps outside a tolerance (replays). It knows nothing about
//! HTTP or what the body holds.

use std::sync::Arc;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use aws_lc_rs::{constant_time, hmac};

use crate::secret::SecretString;

/// The header carrying the signature.
pub(crate) const SIGNATURE_HEADER: &str = "x-byoc-signature";

/// The tolerance we recommend to partners between the signature's `t` and their clock.
pub const SIGNATURE_TOLERANCE: Duration = Duration::from_secs(5 * 60);

/// The signature scheme this module produces.
const SCHEME_V1: &str = "v1";

/// Why a signature header does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    /// The header is not `t=<unix seconds>,v1=<hex>[,v1=<hex>…]`.
    #[error("signature header is malformed: {reason}")]
    Malformed {
        /// What is wrong with it.
        reason: &'static str,
    },
    /// No `v1` value matches the body and the secret.
    #[error("signature does not match the body")]
    Mismatch,
    /// The timestamp is too far from the verifier's clock.
    #[error("signature timestamp is {age_seconds} s away from now, beyond the tolerance")]
    OutsideTolerance {
        /// Distance between the timestamp and now.
        age_seconds: u64,
    },
}

/// Signs bodies with one secret; the key is prepared once and shared by clones.
#[derive(Clone)]
pub(crate) struct Signer {
    // Boxed behind an `Arc`: the prepared HMAC state is over a kilobyte.
    key: Arc<hmac::Key>,
}

impl std::fmt::Debug for Signer {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Signer([redacted])")
    }
}

impl Signer {
    /// A signer for `secret`.
    pub(crate) fn new(secret: &SecretString) -> Self {
        Self {
            key: Arc::new(hmac::Key::new(
                hmac::HMAC_SHA256,
                secret.expose().as_bytes(),
            )),
        }
    }

    /// The full header value for `body` signed at `timestamp` (unix seconds).
    pub(crate) fn sign(&self, timestamp: u64, body: &[u8]) -> String {
        let tag = self.tag(timestamp, body);
        format!("t={timestamp},{SCHEME_V1}={}", hex::encode(tag.as_ref()))
    }

    fn tag(&self, timestamp: u64, body: &[u8]) -> hmac::Tag {
        let mut context = hmac::Context::with_key(&self.key);
        context.update(timestamp.to_string().as_bytes());
        context.update(b".");
        context.update(body);
        context.sign()
    }
}

/// The `X-Byoc-Signature` value for `body` signed with `secret` at `timestamp` (unix seconds).
pub fn sign(secret: &SecretString, timestamp: u64, body: &[u8]) -> String {
    Signer::new(secret).sign(timestamp, body)
}

/// Checks a `X-Byoc-Signature` value against `body`, with the local clock.
pub fn verify(
    secret: &SecretString,
    header_value: &str,
    body: &[u8],
    tolerance: Duration,
) -> Result<(), SignatureError> {
    verify_at(secret, header_value, body, tolerance, SystemTime::now())
}

/// Checks a `X-Byoc-Signature` value against `body`, as if the clock read `now`.
pub fn verify_at(
    secret: &SecretString,
    header_value: &str,
    body: &[u8],
    tolerance: Duration,
    now: SystemTime,
) -> Result<(), SignatureError> {
    let parsed = parse_header(header_value)?;
    let expected = Signer::new(secret).tag(parsed.timestamp, body);
    let matches = parsed.v1_signatures.iter().any(|candidate| {
        hex::decode(candidate).is_ok_and(|candidate| {
            constant_time::verify_slices_are_equal(&candidate, expected.as_ref()).is_ok()
        })
    });
    if !matches {
        return Err(SignatureError::Mismatch);
    }
    let now_seconds = now
        .duration_since(UNIX_EPOCH)
        .unwrap_or(Duration::ZERO)
        .as_secs();
    let age_seconds = now_seconds.abs_diff(parsed.timestamp);
    if age_seconds > tolerance.as_secs() {
        return Err(SignatureError::OutsideTolerance { age_seconds });
    }
    Ok(())
}

/// A parsed header: one timestamp and every `v1` candidate.
struct ParsedHeader<'a> {
    timestamp: u64,
    v1_signatures: Vec<&'a str>,
}

fn parse_header(header_value: &str) -> Result<ParsedHeader<'_>, SignatureError> {
    let mut timestamp = None;
    let mut v1_signatures = Vec::new();
    for part in header_value.split(',') {
        let Some((name, value)) = part.trim().split_once('=') else {
            return Err(SignatureError::Malformed {
                reason: "expected comma-separated name=value pairs",
            });
        };
        match name {
            "t" => {
                let parsed = value
                    .parse::<u64>()
                    .map_err(|_| SignatureError::Malformed {
                        reason: "t is not a unix timestamp in seconds",
                    })?;
                if timestamp.replace(parsed).is_some() {
                    return Err(SignatureError::Malformed {
                        reason: "t appears more than once",
                    });
                }
            }
            SCHEME_V1 => v1_signatures.push(value),
            // Later schemes may be added next to v1; a v1 verifier ignores them.
            _ => {}
        }
    }
    let timestamp = timestamp.ok_or(SignatureError::Malformed {
        reason: "t is missing",
    })?;
    if v1_signatures.is_empty() {
        return Err(SignatureError::Malformed {
            reason: "v1 is missing",
        });
    }
    Ok(ParsedHeader {
        timestamp,
        v1_signatures,
    })
}
