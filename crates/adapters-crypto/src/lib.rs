//! Crypto adapters: JWT tokens (HMAC or asymmetric signing keys), bcrypt
//! password hashes and API keys. bcrypt runs on
//! the calling thread: the app gives password work a lane of its own.

mod api_key;
mod bcrypt_hasher;
mod jwt;
mod signing_keys;

pub use api_key::{KEY_LEN, Sha256KeyMinter};
pub use bcrypt_hasher::{BcryptHasher, CostError};
pub use jwt::{AccessKeys, JwtAlgorithm, JwtSettings, JwtTokenService, MAX_TOKEN_BYTES, SecretKey};
pub use signing_keys::{KeySetError, SigningKeys};
