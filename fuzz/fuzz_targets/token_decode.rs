//! Token decoding never panics, and accepts nothing it did not sign.
#![no_main]

use adapters_crypto::{AccessKeys, JwtAlgorithm, JwtSettings, JwtTokenService, SecretKey};
use domain::{TokenKind, TokenService};
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(token) = std::str::from_utf8(data) else {
        return;
    };
    let service = JwtTokenService::new(&JwtSettings {
        algorithm: JwtAlgorithm::Hs256,
        access_keys: AccessKeys::Hmac(SecretKey::new(*b"fuzz-access-key-fuzz-access-key-0123")),
        refresh_secret: SecretKey::new(*b"fuzz-refresh-key-fuzz-refresh-key-012"),
        issuer: "zentra".into(),
        audience: None,
        access_lifetime_secs: 900,
        refresh_lifetime_secs: 3600,
        // Every input through jsonwebtoken's decode: none is remembered.
        verified_cache_entries: 0,
    });
    for kind in [TokenKind::Access, TokenKind::Refresh] {
        // Random bytes cannot carry a valid HMAC of our key.
        assert!(service.decode(token, kind, 1_700_000_000).is_err());
    }
});
