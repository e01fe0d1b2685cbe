//! Crypto adapters: JWT tokens and bcrypt password hashes. bcrypt runs on
//! the calling thread: the app gives password work a lane of its own.

mod bcrypt_hasher;
mod jwt;

pub use bcrypt_hasher::{BcryptHasher, CostError};
pub use jwt::{JwtAlgorithm, JwtSettings, JwtTokenService, MAX_TOKEN_BYTES, SecretKey};
