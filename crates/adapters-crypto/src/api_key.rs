//! API keys (docs/api.md §10): `zk_`, 32 random base62 characters (190
//! bits) and a 6-character base62 CRC32 of them, so that a secret scanner
//! (or this service, before any store read) tells a real key from a typo.
//! The store keeps the key's SHA-256: a key is high-entropy, so a fast hash
//! is as safe as a slow one, and checking a key costs well under a
//! microsecond instead of bcrypt's milliseconds.

use domain::{ApiKeyMinter, InfraError, KeyDigest, MintedKey, api_key::KEY_PREFIX};
use secrecy::SecretString;
use sha2::{Digest, Sha256};

const ALPHABET: &[u8; 62] = b"0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz";
/// Random characters after the prefix.
const RANDOM_CHARS: usize = 32;
/// Base62 characters of the checksum: 62^6 > 2^32.
const CHECKSUM_CHARS: usize = 6;
/// Characters of the listed prefix (docs/api.md §10).
const SHOWN_CHARS: usize = 8;
/// The whole key.
pub const KEY_LEN: usize = KEY_PREFIX.len() + RANDOM_CHARS + CHECKSUM_CHARS;

/// Mints keys from the operating system's randomness.
#[derive(Debug, Clone, Copy, Default)]
pub struct Sha256KeyMinter;

impl ApiKeyMinter for Sha256KeyMinter {
    fn mint(&self) -> Result<MintedKey, InfraError> {
        let random = random_chars()?;
        let mut key = String::with_capacity(KEY_LEN);
        key.push_str(KEY_PREFIX);
        key.push_str(&random);
        key.push_str(&checksum(random.as_bytes()));
        Ok(MintedKey {
            prefix: random[..SHOWN_CHARS].to_owned(),
            digest: digest_of(&key),
            secret: SecretString::from(key),
        })
    }

    fn digest(&self, presented: &str) -> Option<KeyDigest> {
        let body = presented.strip_prefix(KEY_PREFIX)?;
        if presented.len() != KEY_LEN || !body.bytes().all(|byte| byte.is_ascii_alphanumeric()) {
            return None;
        }
        let (random, sum) = body.split_at(RANDOM_CHARS);
        (checksum(random.as_bytes()) == sum).then(|| digest_of(presented))
    }
}

/// `RANDOM_CHARS` uniform base62 characters: bytes of 248 and above are
/// drawn again (248 = 4 × 62), so that every character is equally likely.
fn random_chars() -> Result<String, InfraError> {
    let mut chars = String::with_capacity(RANDOM_CHARS);
    let mut bytes = [0_u8; 64];
    while chars.len() < RANDOM_CHARS {
        getrandom::fill(&mut bytes)
            .map_err(|err| InfraError::unexpected(format!("no randomness for a key: {err}")))?;
        for byte in bytes.iter().filter(|byte| **byte < 248) {
            if chars.len() == RANDOM_CHARS {
                break;
            }
            chars.push(char::from(ALPHABET[usize::from(*byte % 62)]));
        }
    }
    Ok(chars)
}

/// The CRC32 of `random` in `CHECKSUM_CHARS` base62 characters, most
/// significant first.
fn checksum(random: &[u8]) -> String {
    let mut value = crc32fast::hash(random);
    let mut out = [b'0'; CHECKSUM_CHARS];
    for slot in out.iter_mut().rev() {
        *slot = ALPHABET[(value % 62) as usize];
        value /= 62;
    }
    out.iter().map(|&byte| char::from(byte)).collect()
}

/// The SHA-256 of the whole key, in lower-case hex (written into one
/// string: every request with a key computes it).
fn digest_of(key: &str) -> KeyDigest {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let digest = Sha256::digest(key.as_bytes());
    let mut hex = String::with_capacity(2 * digest.len());
    for byte in &digest[..] {
        hex.push(char::from(HEX[usize::from(byte >> 4)]));
        hex.push(char::from(HEX[usize::from(byte & 0x0f)]));
    }
    KeyDigest::new(hex)
}

#[cfg(test)]
mod tests {
    use std::collections::HashSet;

    use secrecy::ExposeSecret;

    use super::*;

    #[test]
    fn a_minted_key_has_its_form_and_its_digest_is_found_again() {
        let minted = Sha256KeyMinter.mint().unwrap();
        let key = minted.secret.expose_secret();
        assert_eq!(key.len(), KEY_LEN);
        assert!(key.starts_with("zk_"));
        assert_eq!(minted.prefix, key[3..11]);
        assert_eq!(Sha256KeyMinter.digest(key), Some(minted.digest.clone()));
        assert_eq!(minted.digest.as_str().len(), 64);
    }

    #[test]
    fn the_digest_is_sha256_of_the_whole_key() {
        // SHA-256("abc"), FIPS 180-2's first example.
        assert_eq!(
            digest_of("abc").as_str(),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }

    #[test]
    fn keys_are_distinct_and_use_the_whole_alphabet() {
        let keys: Vec<String> = (0..200)
            .map(|_| {
                Sha256KeyMinter
                    .mint()
                    .unwrap()
                    .secret
                    .expose_secret()
                    .to_owned()
            })
            .collect();
        assert_eq!(keys.iter().collect::<HashSet<_>>().len(), keys.len());
        let used: HashSet<u8> = keys.iter().flat_map(|key| key.bytes().skip(3)).collect();
        assert_eq!(used.len(), 62, "200 keys use every base62 character");
    }

    #[test]
    fn a_typo_a_truncation_or_a_foreign_text_has_no_digest() {
        let minted = Sha256KeyMinter.mint().unwrap();
        let key = minted.secret.expose_secret().to_owned();
        let mut refused = vec![
            key[..KEY_LEN - 1].to_owned(),
            format!("{key}x"),
            key.replacen("zk_", "zz_", 1),
            key.replacen("zk_", "", 1),
            format!("zk_{}", "é".repeat(19)),
            String::new(),
            "zk_".into(),
        ];
        // Every single-character change in the random part or the checksum.
        for at in 3..KEY_LEN {
            let mut bytes = key.clone().into_bytes();
            bytes[at] = if bytes[at] == b'A' { b'B' } else { b'A' };
            refused.push(String::from_utf8(bytes).unwrap());
        }
        for text in refused {
            assert_eq!(Sha256KeyMinter.digest(&text), None, "{text:?}");
        }
    }

    #[test]
    fn the_checksum_is_six_base62_characters_of_the_crc32() {
        assert_eq!(checksum(b""), "000000");
        // CRC32("123456789") = 0xCBF43926 = 3421780262 = (3, 45, 35, 27, 22, 14) in base 62.
        assert_eq!(checksum(b"123456789"), "3jZRME");
    }
}
