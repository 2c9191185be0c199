//! The Salesforce org id, kept exactly as Salesforce gave it.
//!
//! Salesforce ids come in a case-sensitive 15-character form and an 18-character form that adds
//! a 3-character case checksum. The Interaction Service `OrgId` header takes only the
//! 15-character form, so this type offers [`OrgId::as_15`]. It knows nothing about HTTP.

use std::fmt;

use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// Length of the case-sensitive org id.
const SHORT_ID_LEN: usize = 15;
/// Length of the org id with its case checksum suffix.
const LONG_ID_LEN: usize = 18;

/// Why a string is not an org id.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OrgIdError {
    /// The id is neither 15 nor 18 characters long.
    #[error("org id must be 15 or 18 characters, got {length}")]
    BadLength {
        /// Number of characters found.
        length: usize,
    },
    /// The id holds something other than ASCII letters and digits.
    #[error("org id must contain only ascii letters and digits")]
    BadCharacter,
}

/// A Salesforce org id (15 or 18 characters), as given.
#[derive(Clone, PartialEq, Eq, Hash)]
pub struct OrgId(String);

impl OrgId {
    /// Checks the shape of `id` (15 or 18 ASCII alphanumerics) and keeps it unchanged.
    ///
    /// The checksum of an 18-character id is not verified: ids made up for tests often carry
    /// a wrong one, and Salesforce itself is the authority on whether the id is real.
    pub fn parse(id: &str) -> Result<Self, OrgIdError> {
        let trimmed = id.trim();
        if !trimmed.chars().all(|c| c.is_ascii_alphanumeric()) {
            return Err(OrgIdError::BadCharacter);
        }
        match trimmed.len() {
            SHORT_ID_LEN | LONG_ID_LEN => Ok(Self(trimmed.to_owned())),
            length => Err(OrgIdError::BadLength { length }),
        }
    }

    /// The id exactly as given (15 or 18 characters).
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The 15-character form, as the Interaction Service `OrgId` header requires.
    pub fn as_15(&self) -> &str {
        // parse() guarantees at least 15 ASCII characters, so this slice is on a char boundary.
        &self.0[..SHORT_ID_LEN]
    }
}

impl fmt::Debug for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("OrgId").field(&self.0).finish()
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::str::FromStr for OrgId {
    type Err = OrgIdError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Self::parse(s)
    }
}

impl Serialize for OrgId {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for OrgId {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let raw = String::deserialize(deserializer)?;
        Self::parse(&raw).map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn eighteen_character_id_is_kept_and_shortened_for_the_header() {
        let org = OrgId::parse("00D5g000004abcdEAA").unwrap();
        assert_eq!(org.as_str(), "00D5g000004abcdEAA");
        assert_eq!(org.as_15(), "00D5g000004abcd");
    }

    #[test]
    fn fifteen_character_id_is_its_own_short_form() {
        let org = OrgId::parse("00D5g000004abcd").unwrap();
        assert_eq!(org.as_15(), "00D5g000004abcd");
    }

    #[test]
    fn malformed_ids_are_rejected() {
        assert_eq!(
            OrgId::parse("00D5g"),
            Err(OrgIdError::BadLength { length: 5 })
        );
        assert_eq!(
            OrgId::parse("00D5g000004abc-"),
            Err(OrgIdError::BadCharacter)
        );
    }
}
