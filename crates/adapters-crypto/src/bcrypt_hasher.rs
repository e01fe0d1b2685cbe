use std::{cmp::Ordering, str::FromStr};

use domain::{HashStrength, InfraError, Password, PasswordHash, PasswordHasher};

/// bcrypt at a fixed cost.
///
/// The domain's [`Password`] is at most 72 bytes with no NUL, so
/// `bcrypt::hash` never truncates what it is given here.
#[derive(Debug, Clone, Copy)]
pub struct BcryptHasher {
    cost: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("bcrypt cost must be between 4 and 31, got {0}")]
pub struct CostError(pub u32);

/// A salt and a digest in bcrypt's alphabet (a real hash with one digest
/// character changed, so that it is the hash of no known password).
const DUMMY_SALT_AND_DIGEST: &str = "/li9ayvg.1V3oX7MflslS.UMA6HClgkBZYoPjawSHAP00ZBV9XleK";

impl BcryptHasher {
    /// A well-formed hash at this hasher's cost that no password matches.
    ///
    /// bcrypt's work depends only on the cost written in the hash, so
    /// checking a password against this one takes as long as against a real
    /// user's — which is what login needs for unknown users — and making
    /// it costs nothing at start-up, unlike hashing at cost 12 (~0.25 s).
    #[must_use]
    pub fn dummy_hash(&self) -> PasswordHash {
        PasswordHash::new(format!("$2b${:02}${DUMMY_SALT_AND_DIGEST}", self.cost))
    }

    /// # Errors
    /// [`CostError`] outside bcrypt's range 4–31.
    pub fn new(cost: u32) -> Result<Self, CostError> {
        if (4..=31).contains(&cost) {
            Ok(Self { cost })
        } else {
            Err(CostError(cost))
        }
    }
}

impl PasswordHasher for BcryptHasher {
    fn hash(&self, password: &Password) -> Result<PasswordHash, InfraError> {
        bcrypt::hash(password.expose(), self.cost)
            .map(PasswordHash::new)
            .map_err(InfraError::unexpected)
    }

    fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, InfraError> {
        bcrypt::verify(password.expose(), hash.as_ref()).map_err(InfraError::unexpected)
    }

    /// The cost written in the hash against this hasher's.
    fn strength(&self, hash: &PasswordHash) -> HashStrength {
        match bcrypt::HashParts::from_str(hash.as_ref())
            .map(|parts| parts.get_cost().cmp(&self.cost))
        {
            Ok(Ordering::Less) => HashStrength::Weaker,
            Ok(Ordering::Greater) => HashStrength::Stronger,
            Ok(Ordering::Equal) | Err(_) => HashStrength::Current,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn password(raw: &str) -> Password {
        Password::parse(raw).unwrap()
    }

    #[test]
    fn a_hash_verifies_its_own_password_only() {
        let hasher = BcryptHasher::new(4).unwrap();
        let hash = hasher.hash(&password("correct horse")).unwrap();
        assert!(hash.as_ref().starts_with("$2b$04$"));
        assert!(hasher.verify(&password("correct horse"), &hash).unwrap());
        assert!(!hasher.verify(&password("correct horsf"), &hash).unwrap());
    }

    #[test]
    fn every_one_of_72_bytes_counts() {
        let hasher = BcryptHasher::new(4).unwrap();
        let long = "a".repeat(72);
        let hash = hasher.hash(&password(&long)).unwrap();
        let last_byte_differs = format!("{}b", "a".repeat(71));
        assert!(hasher.verify(&password(&long), &hash).unwrap());
        assert!(!hasher.verify(&password(&last_byte_differs), &hash).unwrap());
    }

    #[test]
    fn a_malformed_stored_hash_is_an_error_not_a_mismatch() {
        let hasher = BcryptHasher::new(4).unwrap();
        let result = hasher.verify(&password("correct horse"), &PasswordHash::new("nope"));
        assert!(matches!(result, Err(InfraError::Unexpected(_))));
    }

    #[test]
    fn the_dummy_hash_is_checked_at_the_configured_cost_and_matches_nothing() {
        for cost in [4, 5] {
            let hasher = BcryptHasher::new(cost).unwrap();
            let dummy = hasher.dummy_hash();
            assert!(dummy.as_ref().starts_with(&format!("$2b${cost:02}$")));
            for candidate in ["correct horse", "zentra-dummy-password", "        "] {
                assert!(!hasher.verify(&password(candidate), &dummy).unwrap());
            }
        }
    }

    #[test]
    fn a_hash_is_weaker_or_stronger_by_the_cost_written_in_it() {
        let at = |cost| BcryptHasher::new(cost).unwrap();
        let hash = at(5).hash(&password("correct horse")).unwrap();
        assert_eq!(at(5).strength(&hash), HashStrength::Current);
        assert_eq!(at(6).strength(&hash), HashStrength::Weaker);
        assert_eq!(at(4).strength(&hash), HashStrength::Stronger);
        assert_eq!(at(6).strength(&at(6).dummy_hash()), HashStrength::Current);
        assert_eq!(
            at(6).strength(&PasswordHash::new("not a hash")),
            HashStrength::Current
        );
    }

    #[test]
    fn the_cost_must_be_in_bcrypt_range() {
        assert_eq!(BcryptHasher::new(3).unwrap_err(), CostError(3));
        assert_eq!(BcryptHasher::new(32).unwrap_err(), CostError(32));
        assert!(BcryptHasher::new(31).is_ok());
    }
}
