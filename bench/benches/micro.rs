//! Micro-benchmarks of the per-request work that is not I/O: signing and
//! checking an HS256 access token, and serialising a response envelope.
//!
//! `cargo bench -p zentra-bench --bench micro`

use std::hint::black_box;

use actix_web::{body::MessageBody, http::StatusCode};
use adapters_crypto::{AccessKeys, JwtAlgorithm, JwtSettings, JwtTokenService, SecretKey};
use adapters_http::Envelope;
use criterion::{Criterion, criterion_group, criterion_main};
use domain::{Clock, Scopes, SystemClock, TokenKind, TokenRequest, TokenService, Username};

/// `verified_cache_entries`: 0 sends every decode through jsonwebtoken.
fn token_service(verified_cache_entries: usize) -> JwtTokenService {
    JwtTokenService::new(&JwtSettings {
        algorithm: JwtAlgorithm::Hs256,
        access_keys: AccessKeys::Hmac(SecretKey::new(vec![b'a'; 32])),
        refresh_secret: SecretKey::new(vec![b'r'; 32]),
        issuer: "zentra".to_owned(),
        audience: None,
        access_lifetime_secs: 15 * 60,
        refresh_lifetime_secs: 7 * 24 * 60 * 60,
        verified_cache_entries,
    })
}

fn access_request() -> TokenRequest {
    TokenRequest {
        kind: TokenKind::Access,
        subject: Username::parse("agent47").expect("a valid username"),
        family: Some("0123456789abcdef0123456789abcdef".to_owned()),
        scopes: Scopes::legacy(),
        now: SystemClock.now(),
        id: None,
    }
}

fn tokens(c: &mut Criterion) {
    let service = token_service(0);
    let request = access_request();
    c.bench_function("token/issue_access_hs256", |b| {
        b.iter(|| service.issue(black_box(&request)).expect("issued"));
    });

    let token = service.issue(&request).expect("issued").token;
    let now = request.now;
    c.bench_function("token/verify_access_hs256", |b| {
        b.iter(|| {
            service
                .decode(black_box(&token), TokenKind::Access, now)
                .expect("valid")
        });
    });

    // The same token again, as a client presents it on every request.
    let remembering = token_service(1024);
    c.bench_function("token/verify_access_hs256_seen_before", |b| {
        b.iter(|| {
            remembering
                .decode(black_box(&token), TokenKind::Access, now)
                .expect("valid")
        });
    });
}

fn envelope(c: &mut Criterion) {
    // What `GET /api/auth/users/me` answers.
    let user = serde_json::json!({
        "username": "agent47",
        "email": "agent47@example.com",
        "phone": "+44123456789",
        "full_name": "Agent 47",
        "is_active": true,
    });
    c.bench_function("envelope/users_me_to_bytes", |b| {
        b.iter(|| {
            let response = Envelope::new(StatusCode::OK)
                .data(black_box(&user))
                .bearer()
                .into_response();
            let body = response.into_body().try_into_bytes().expect("a bytes body");
            black_box(body.len())
        });
    });
}

criterion_group!(benches, tokens, envelope);
criterion_main!(benches);
