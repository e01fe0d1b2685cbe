//! Crypto adapters: JWT tokens and bcrypt password hashes (on a bounded
//! pool of their own).

mod bcrypt_hasher;
mod hashing_pool;
mod jwt;

pub use bcrypt_hasher::{BcryptHasher, CostError};
pub use hashing_pool::{HashingQueueFull, PooledHasher};
pub use jwt::{JwtAlgorithm, JwtSettings, JwtTokenService, MAX_TOKEN_BYTES, SecretKey};
