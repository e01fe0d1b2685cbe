//! Crypto adapters: JWT tokens, bcrypt password hashes and API keys. bcrypt runs on
//! the calling thread: the app gives password work a lane of its own.

mod api_key;
mod bcrypt_hasher;
mod jwt;

pub use api_key::{KEY_LEN, Sha256KeyMinter};
pub use bcrypt_hasher::{BcryptHasher, CostError};
pub use jwt::{JwtAlgorithm, JwtSettings, JwtTokenService, MAX_TOKEN_BYTES, SecretKey};
