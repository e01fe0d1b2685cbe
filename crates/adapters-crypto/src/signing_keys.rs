//! Asymmetric signing keys for access tokens (docs/api.md §12): private JWKs
//! in (`AUTH__SIGNING_KEYS`), each pinned to one algorithm and one `kid`;
//! the public JWK Set out (`/.well-known/jwks.json`); new keys for
//! `zentra new-key --algorithm`.
//!
//! jsonwebtoken takes private keys as DER only, so each JWK is read with its
//! own key crate, which also checks that the private and public members
//! belong together, and handed over as DER. The public JWK served is made
//! from that DER again (never copied from the input), so what others verify
//! with is exactly what signs.

use std::fmt;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{
    DecodingKey, EncodingKey,
    jwk::{Jwk, PublicKeyUse, ThumbprintHash},
};
use serde_json::{Map, Value, json};

use crate::JwtAlgorithm;

/// The smallest RSA modulus accepted (NIST SP 800-57: 2048 bits until 2030).
const MIN_RSA_BITS: usize = 2048;

/// Why a key set cannot be used: one line, naming the key by its place and
/// `kid`, never echoing a private member.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0}")]
pub struct KeySetError(String);

impl KeySetError {
    fn new(message: impl Into<String>) -> Self {
        Self(message.into())
    }
}

/// One private key, pinned to one algorithm and one `kid`.
#[derive(Clone)]
pub(crate) struct SigningKey {
    pub(crate) kid: String,
    pub(crate) algorithm: JwtAlgorithm,
    pub(crate) encoding: EncodingKey,
    pub(crate) decoding: DecodingKey,
    /// The public JWK, with `kid`, `alg` and `use`.
    public: Jwk,
}

/// The asymmetric keys of access tokens: the first signs, every one
/// verifies the tokens that name it by `kid` (rotation, README). Never
/// empty. `Debug` shows kids and algorithms only.
#[derive(Clone)]
pub struct SigningKeys(Vec<SigningKey>);

impl fmt::Debug for SigningKeys {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_list()
            .entries(self.0.iter().map(|key| (&key.kid, key.algorithm.name())))
            .finish()
    }
}

/// For configuration tests: two sets are equal when their public keys and
/// kids are, in the same order (a private key determines its public one).
impl PartialEq for SigningKeys {
    fn eq(&self, other: &Self) -> bool {
        self.public_jwks() == other.public_jwks()
    }
}

impl Eq for SigningKeys {}

impl SigningKeys {
    /// Reads a JWK Set (`{"keys": [...]}`) of private keys, or one private
    /// JWK alone (what `zentra new-key` prints).
    ///
    /// # Errors
    /// Not JSON, no key, a key that is not a private Ed25519, P-256 or RSA
    /// (2048 to 4096 bits) key, a member that contradicts the key (`alg`,
    /// `use`, a public part of another key), a key whose signature does not
    /// verify with its public key, or two keys with one `kid`.
    pub fn parse(text: &str) -> Result<Self, KeySetError> {
        let value: Value = serde_json::from_str(text)
            .map_err(|error| KeySetError::new(format!("not JSON: {error}")))?;
        let jwks = match &value {
            Value::Object(object) if object.contains_key("keys") => match &object["keys"] {
                Value::Array(keys) => keys.iter().collect(),
                _ => return Err(KeySetError::new("\"keys\" must be an array of JWKs")),
            },
            Value::Object(_) => vec![&value],
            _ => return Err(KeySetError::new("must be a JWK Set or one JWK (an object)")),
        };
        if jwks.is_empty() {
            return Err(KeySetError::new("holds no key"));
        }
        let mut keys: Vec<SigningKey> = Vec::with_capacity(jwks.len());
        for (index, jwk) in jwks.into_iter().enumerate() {
            let place = index + 1;
            let key = SigningKey::from_private_jwk(jwk).map_err(|message| {
                let named = jwk
                    .get("kid")
                    .and_then(Value::as_str)
                    .map(|kid| format!(" (kid {kid:?})"))
                    .unwrap_or_default();
                KeySetError::new(format!("key {place}{named}: {message}"))
            })?;
            if keys.iter().any(|other| other.kid == key.kid) {
                return Err(KeySetError::new(format!(
                    "key {place}: kid {:?} is already the kid of another key",
                    key.kid
                )));
            }
            keys.push(key);
        }
        Ok(Self(keys))
    }

    /// A new private key for `algorithm` as a JWK (with its `kid`, the RFC
    /// 7638 thumbprint, `alg` and `use`), as `zentra new-key` prints it.
    ///
    /// # Errors
    /// `algorithm` is an HMAC one (`zentra new-key` without `--algorithm`
    /// makes those secrets).
    pub fn generate(algorithm: JwtAlgorithm) -> Result<String, KeySetError> {
        let mut rng = rand_core::OsRng;
        let mut jwk = match algorithm {
            JwtAlgorithm::EdDsa => {
                let key = ed25519_dalek::SigningKey::generate(&mut rng);
                json!({
                    "kty": "OKP",
                    "crv": "Ed25519",
                    "x": URL_SAFE_NO_PAD.encode(key.verifying_key().as_bytes()),
                    "d": URL_SAFE_NO_PAD.encode(key.to_bytes()),
                })
            }
            JwtAlgorithm::Es256 => {
                let key = p256::SecretKey::random(&mut rng);
                serde_json::from_str(&key.to_jwk_string()).expect("p256 writes a JWK")
            }
            JwtAlgorithm::Rs256 => {
                use rsa::traits::{PrivateKeyParts, PublicKeyParts};
                let key = rsa::RsaPrivateKey::new(&mut rng, MIN_RSA_BITS)
                    .expect("the operating system provides randomness");
                let number = |n: &rsa::BigUint| URL_SAFE_NO_PAD.encode(n.to_bytes_be());
                let optional = |n: Option<&rsa::BigUint>| n.map(number);
                json!({
                    "kty": "RSA",
                    "n": number(key.n()),
                    "e": number(key.e()),
                    "d": number(key.d()),
                    "p": number(&key.primes()[0]),
                    "q": number(&key.primes()[1]),
                    "dp": optional(key.dp()),
                    "dq": optional(key.dq()),
                    "qi": key.crt_coefficient().map(|qi| number(&qi)),
                })
            }
            hmac => {
                return Err(KeySetError::new(format!(
                    "{hmac} keys are secrets: `zentra new-key` without --algorithm makes one"
                )));
            }
        };
        let key = SigningKey::from_private_jwk(&jwk).map_err(KeySetError::new)?;
        jwk["kid"] = json!(key.kid);
        jwk["alg"] = json!(algorithm.name());
        jwk["use"] = json!("sig");
        Ok(jwk.to_string())
    }

    /// The algorithm of the key that signs.
    #[must_use]
    pub fn algorithm(&self) -> JwtAlgorithm {
        self.0[0].algorithm
    }

    /// Each key's `kid`, the signing one first.
    pub fn kids(&self) -> impl Iterator<Item = &str> {
        self.0.iter().map(|key| key.kid.as_str())
    }

    /// The public JWK Set: public members, `kid`, `alg` and `use: sig`.
    #[must_use]
    pub fn public_jwks(&self) -> Value {
        json!({ "keys": self.0.iter().map(|key| &key.public).collect::<Vec<_>>() })
    }

    pub(crate) fn keys(&self) -> &[SigningKey] {
        &self.0
    }
}

/// A base64url member of a JWK, decoded.
fn member(jwk: &Map<String, Value>, name: &str) -> Result<Vec<u8>, String> {
    let text = jwk
        .get(name)
        .ok_or_else(|| format!("\"{name}\" is missing"))?
        .as_str()
        .ok_or_else(|| format!("\"{name}\" must be a string"))?;
    URL_SAFE_NO_PAD
        .decode(text.trim_end_matches('='))
        .map_err(|_| format!("\"{name}\" is not base64url"))
}

/// The text of an optional string member.
fn text<'a>(jwk: &'a Map<String, Value>, name: &str) -> Result<Option<&'a str>, String> {
    match jwk.get(name) {
        None => Ok(None),
        Some(Value::String(text)) => Ok(Some(text)),
        Some(_) => Err(format!("\"{name}\" must be a string")),
    }
}

/// A private member's absence says "a public key": worth its own message.
fn require_private(jwk: &Map<String, Value>) -> Result<(), String> {
    if jwk.contains_key("d") {
        Ok(())
    } else {
        Err("\"d\" is missing: a public key cannot sign (give the private JWK)".to_owned())
    }
}

/// The key's own members, for the key crates (p256 refuses any other, such
/// as `kid`).
fn only(jwk: &Map<String, Value>, names: &[&str]) -> String {
    let kept: Map<String, Value> = names
        .iter()
        .filter_map(|name| Some(((*name).to_owned(), jwk.get(*name)?.clone())))
        .collect();
    Value::Object(kept).to_string()
}

impl SigningKey {
    /// Reads one private JWK; the error names the member at fault.
    fn from_private_jwk(value: &Value) -> Result<Self, String> {
        let jwk = value.as_object().ok_or("a JWK must be an object")?;
        let (algorithm, der) = match text(jwk, "kty")? {
            Some("OKP") => (JwtAlgorithm::EdDsa, ed25519_der(jwk)?),
            Some("EC") => (JwtAlgorithm::Es256, p256_der(jwk)?),
            Some("RSA") => (JwtAlgorithm::Rs256, rsa_der(jwk)?),
            Some("oct") => {
                return Err(
                    "kty \"oct\" is an HMAC secret: it belongs in AUTH__SECRET_ACCESS_KEY".into(),
                );
            }
            Some(other) => return Err(format!("kty {other:?}: expected OKP, EC or RSA")),
            None => return Err("\"kty\" is missing".into()),
        };
        if let Some(alg) = text(jwk, "alg")?
            && alg != algorithm.name()
        {
            return Err(format!(
                "\"alg\" is {alg:?}, but this is a {} key",
                algorithm.name()
            ));
        }
        if let Some(usage) = text(jwk, "use")?
            && usage != "sig"
        {
            return Err(format!("\"use\" is {usage:?}: a signing key has \"sig\""));
        }
        let jwt_algorithm = algorithm.to_jsonwebtoken();
        let encoding = match algorithm {
            JwtAlgorithm::EdDsa => EncodingKey::from_ed_der(&der),
            JwtAlgorithm::Es256 => EncodingKey::from_ec_der(&der),
            _ => EncodingKey::from_rsa_der(&der),
        };
        let mut public = Jwk::from_encoding_key(&encoding, jwt_algorithm)
            .map_err(|error| format!("not a usable key: {error}"))?;
        let decoding =
            DecodingKey::from_jwk(&public).map_err(|error| format!("not a usable key: {error}"))?;
        round_trips(&encoding, &decoding, jwt_algorithm)?;
        let kid = match text(jwk, "kid")? {
            Some("") => return Err("\"kid\" is empty".into()),
            Some(kid) => kid.to_owned(),
            None => public
                .thumbprint(ThumbprintHash::SHA256)
                .map_err(|error| format!("no thumbprint: {error}"))?,
        };
        public.common.key_id = Some(kid.clone());
        public.common.public_key_use = Some(PublicKeyUse::Signature);
        Ok(Self {
            kid,
            algorithm,
            encoding,
            decoding,
            public,
        })
    }
}

/// Signs a probe with `encoding` and verifies it with `decoding`, the very
/// keys tokens will use: whatever the checks above miss (a key the
/// verifier refuses, a public key that is not the private one's), a key
/// that cannot verify its own signature stops the start, not every token.
fn round_trips(
    encoding: &EncodingKey,
    decoding: &DecodingKey,
    algorithm: jsonwebtoken::Algorithm,
) -> Result<(), String> {
    use jsonwebtoken::crypto::{sign, verify};
    const PROBE: &[u8] = b"zentra signing key probe";
    let signature =
        sign(PROBE, encoding, algorithm).map_err(|error| format!("cannot sign: {error}"))?;
    match verify(&signature, PROBE, decoding, algorithm) {
        Ok(true) => Ok(()),
        Ok(false) => Err("its tokens would not verify with its own public key".into()),
        Err(error) => Err(format!("its tokens would not verify: {error}")),
    }
}

/// An Ed25519 private key as the 48-byte PKCS#8 DER jsonwebtoken reads
/// (without the public key, which `Jwk::from_encoding_key` would refuse).
fn ed25519_der(jwk: &Map<String, Value>) -> Result<Vec<u8>, String> {
    use ed25519_dalek::pkcs8::{EncodePrivateKey, KeypairBytes};
    match text(jwk, "crv")? {
        Some("Ed25519") => {}
        other => return Err(format!("crv {other:?}: the OKP keys taken are Ed25519")),
    }
    require_private(jwk)?;
    let secret: [u8; 32] = member(jwk, "d")?
        .try_into()
        .map_err(|_| "\"d\" must be 32 bytes")?;
    let key = ed25519_dalek::SigningKey::from_bytes(&secret);
    if member(jwk, "x")? != key.verifying_key().as_bytes() {
        return Err("\"x\" is not the public key of \"d\"".into());
    }
    KeypairBytes {
        secret_key: secret,
        public_key: None,
    }
    .to_pkcs8_der()
    .map(|der| der.as_bytes().to_vec())
    .map_err(|error| error.to_string())
}

/// A P-256 private key as PKCS#8 DER; p256 checks that `x` and `y` are the
/// public key of `d`.
fn p256_der(jwk: &Map<String, Value>) -> Result<Vec<u8>, String> {
    use p256::pkcs8::EncodePrivateKey;
    match text(jwk, "crv")? {
        Some("P-256") => {}
        other => {
            return Err(format!(
                "crv {other:?}: the EC keys taken are P-256 (ES256)"
            ));
        }
    }
    require_private(jwk)?;
    let key = p256::SecretKey::from_jwk_str(&only(jwk, &["kty", "crv", "x", "y", "d"]))
        .map_err(|_| "not a P-256 key pair (\"x\", \"y\" and \"d\" must belong together)")?;
    key.to_pkcs8_der()
        .map(|der| der.as_bytes().to_vec())
        .map_err(|error| error.to_string())
}

/// An RSA private key as PKCS#1 DER (what jsonwebtoken's `from_rsa_der`
/// reads); rsa checks that the members make one key.
fn rsa_der(jwk: &Map<String, Value>) -> Result<Vec<u8>, String> {
    use rsa::{pkcs1::EncodeRsaPrivateKey, traits::PublicKeyParts};
    require_private(jwk)?;
    let number = |name| member(jwk, name).map(|bytes| rsa::BigUint::from_bytes_be(&bytes));
    let primes = if jwk.contains_key("p") || jwk.contains_key("q") {
        vec![number("p")?, number("q")?]
    } else {
        Vec::new()
    };
    let key = rsa::RsaPrivateKey::from_components(number("n")?, number("e")?, number("d")?, primes)
        .map_err(
            |_| "not an RSA key pair (\"n\", \"e\", \"d\", \"p\" and \"q\" must belong together)",
        )?;
    let bits = key.n().bits();
    if bits < MIN_RSA_BITS {
        return Err(format!(
            "a {bits}-bit modulus; RS256 keys need {MIN_RSA_BITS} bits or more"
        ));
    }
    // jsonwebtoken verifies with `RsaPublicKey::new`, which refuses larger
    // moduli: such a key would sign tokens that no one here could verify.
    if bits > rsa::RsaPublicKey::MAX_SIZE {
        return Err(format!(
            "a {bits}-bit modulus; RS256 keys are verified up to {} bits",
            rsa::RsaPublicKey::MAX_SIZE
        ));
    }
    key.to_pkcs1_der()
        .map(|der| der.as_bytes().to_vec())
        .map_err(|error| error.to_string())
}

#[cfg(test)]
mod tests;
