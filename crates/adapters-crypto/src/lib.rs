//! Crypto adapters: JWT tokens and bcrypt password hashes.

mod bcrypt_hasher;
mod jwt;

pub use bcrypt_hasher::{BcryptHasher, CostError};
pub use jwt::{JwtAlgorithm, JwtSettings, JwtTokenService, MAX_TOKEN_BYTES, SecretKey};
