//! Access tokens under asymmetric keys (docs/api.md §12): each algorithm's
//! round trip, every forged variant of §5, kid confusion and algorithm
//! confusion.

use std::sync::OnceLock;

use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use domain::Username;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};

use super::*;

const NOW: u64 = 1_700_000_000;
const REFRESH_KEY: &[u8] = b"refresh-key-refresh-key-refresh-key-01234567";
const ALGORITHMS: [JwtAlgorithm; 3] = [
    JwtAlgorithm::EdDsa,
    JwtAlgorithm::Es256,
    JwtAlgorithm::Rs256,
];

/// Two private JWKs per algorithm, made once per test run (an RSA key takes
/// a while even optimised).
fn jwks(algorithm: JwtAlgorithm) -> &'static [Value; 2] {
    static KEYS: OnceLock<Vec<(JwtAlgorithm, [Value; 2])>> = OnceLock::new();
    let all = KEYS.get_or_init(|| {
        ALGORITHMS
            .iter()
            .map(|&algorithm| {
                let make =
                    || serde_json::from_str(&SigningKeys::generate(algorithm).unwrap()).unwrap();
                (algorithm, [make(), make()])
            })
            .collect()
    });
    &all.iter().find(|(a, _)| *a == algorithm).unwrap().1
}

fn set_of(keys: &[&Value]) -> SigningKeys {
    SigningKeys::parse(&json!({ "keys": keys }).to_string()).unwrap()
}

fn settings(keys: SigningKeys) -> JwtSettings {
    JwtSettings {
        algorithm: keys.algorithm(),
        access_keys: AccessKeys::Signing(keys),
        refresh_secret: SecretKey::new(REFRESH_KEY),
        issuer: "zentra".into(),
        audience: None,
        access_lifetime_secs: 900,
        refresh_lifetime_secs: 604_800,
        verified_cache_entries: 1024,
    }
}

fn service_with(keys: SigningKeys) -> JwtTokenService {
    JwtTokenService::new(&settings(keys))
}

/// A service whose one key is the first of `algorithm`.
fn service(algorithm: JwtAlgorithm) -> JwtTokenService {
    service_with(set_of(&[&jwks(algorithm)[0]]))
}

fn issue(service: &JwtTokenService, kind: TokenKind) -> IssuedToken {
    service
        .issue(&TokenRequest {
            kind,
            subject: Username::parse("agent47").unwrap(),
            family: Some("fam-1".into()),
            scopes: Scopes::parse("me items:read").unwrap(),
            now: NOW,
            id: None,
        })
        .unwrap()
}

fn part(token: &str, index: usize) -> Value {
    let segment = token.split('.').nth(index).unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
}

fn kid(jwk: &Value) -> String {
    jwk["kid"].as_str().unwrap().to_owned()
}

/// The private key of `jwk` as jsonwebtoken signs with it.
fn encoding_key(jwk: &Value) -> EncodingKey {
    let set = set_of(&[jwk]);
    set.keys()[0].encoding.clone()
}

fn access_claims() -> Value {
    json!({"sub": "agent47", "exp": NOW + 60, "iat": NOW, "jti": "j", "type": "access",
           "iss": "zentra", "sid": "fam-1", "scope": "me"})
}

/// A token signed with `key` under `alg`, its header naming `kid`.
fn forge(alg: Algorithm, kid: Option<&str>, key: &EncodingKey, claims: &Value) -> String {
    let mut header = Header::new(alg);
    header.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&header, claims, key).unwrap()
}

fn refused(service: &JwtTokenService, token: &str) {
    assert_eq!(
        service.decode(token, TokenKind::Access, NOW),
        Err(TokenError::Invalid),
        "{token}"
    );
}

#[test]
fn each_algorithm_signs_access_tokens_that_decode_to_their_claims() {
    for algorithm in ALGORITHMS {
        let service = service(algorithm);
        let issued = issue(&service, TokenKind::Access);
        let header = part(&issued.token, 0);
        assert_eq!(header["alg"], algorithm.name());
        assert_eq!(header["typ"], "JWT");
        assert_eq!(header["kid"], jwks(algorithm)[0]["kid"]);
        let claims = service
            .decode(&issued.token, TokenKind::Access, NOW)
            .unwrap();
        assert_eq!(claims, issued.claims, "{algorithm}");
        assert_eq!(claims.granted().to_string(), "items:read me");
        assert_eq!(
            service.decode(&issued.token, TokenKind::Access, NOW + 900),
            Err(TokenError::Expired)
        );
    }
}

#[test]
fn refresh_tokens_stay_hs256_with_the_refresh_secret_and_carry_its_kid() {
    for algorithm in ALGORITHMS {
        let service = service(algorithm);
        let refresh = issue(&service, TokenKind::Refresh);
        let header = part(&refresh.token, 0);
        assert_eq!(header["alg"], "HS256");
        assert_eq!(header["kid"], hmac_kid(&SecretKey::new(REFRESH_KEY)));
        assert!(
            service
                .decode(&refresh.token, TokenKind::Refresh, NOW)
                .is_ok()
        );
        refused(&service, &refresh.token);
        let access = issue(&service, TokenKind::Access).token;
        assert_eq!(
            service.decode(&access, TokenKind::Refresh, NOW),
            Err(TokenError::Invalid)
        );
    }
}

#[test]
fn a_well_forged_token_with_the_private_key_is_accepted() {
    // The control for the forgeries below: each fails for its one flaw.
    for algorithm in ALGORITHMS {
        let jwk = &jwks(algorithm)[0];
        let token = forge(
            algorithm.to_jsonwebtoken(),
            Some(&kid(jwk)),
            &encoding_key(jwk),
            &access_claims(),
        );
        assert!(
            service(algorithm)
                .decode(&token, TokenKind::Access, NOW)
                .is_ok(),
            "{algorithm}"
        );
    }
}

#[test]
fn every_forged_claim_of_section_5_is_refused_under_each_algorithm() {
    for algorithm in ALGORITHMS {
        let service = service(algorithm);
        let jwk = &jwks(algorithm)[0];
        let key = encoding_key(jwk);
        let kid = kid(jwk);
        let mut variants = Vec::new();
        for (claim, value) in [
            ("type", json!("refresh")),
            ("iss", json!("someone-else")),
            ("exp", json!("tomorrow")),
            ("sub", json!("agent47\u{0}")),
            ("scope", json!("me ADMIN")),
        ] {
            let mut claims = access_claims();
            claims[claim] = value;
            variants.push(claims);
        }
        for claim in ["exp", "iss"] {
            let mut claims = access_claims();
            claims.as_object_mut().unwrap().remove(claim);
            variants.push(claims);
        }
        for claims in variants {
            refused(
                &service,
                &forge(algorithm.to_jsonwebtoken(), Some(&kid), &key, &claims),
            );
        }
    }
}

#[test]
fn alg_none_tampering_and_extra_segments_are_refused_under_each_algorithm() {
    for algorithm in ALGORITHMS {
        let service = service(algorithm);
        let valid = issue(&service, TokenKind::Access).token;
        let (header, rest) = valid.split_once('.').unwrap();
        let (body, signature) = rest.split_once('.').unwrap();
        let none = URL_SAFE_NO_PAD.encode(
            json!({"alg": "none", "typ": "JWT", "kid": kid(&jwks(algorithm)[0])}).to_string(),
        );
        let mut claims = part(&valid, 1);
        claims["sub"] = json!("someone-else");
        let other_body = URL_SAFE_NO_PAD.encode(claims.to_string());
        let mut altered = URL_SAFE_NO_PAD.decode(signature).unwrap();
        altered[7] ^= 1;
        let altered = URL_SAFE_NO_PAD.encode(altered);
        for token in [
            format!("{none}.{body}."),
            format!("{none}.{body}.{signature}"),
            format!("{header}.{other_body}.{signature}"),
            format!("{header}.{body}.{altered}"),
            format!("{header}.{body}.{signature}.{signature}"),
            format!("{header}.{body}"),
            format!("{header}.{body}."),
        ] {
            refused(&service, &token);
        }
    }
}

#[test]
fn an_unknown_or_missing_kid_or_another_key_claiming_ours_is_refused() {
    for algorithm in ALGORITHMS {
        let service = service(algorithm);
        let [ours, theirs] = jwks(algorithm);
        let alg = algorithm.to_jsonwebtoken();
        let claims = access_claims();
        // A key we do not hold, under its own kid, under ours, under none.
        refused(
            &service,
            &forge(alg, Some(&kid(theirs)), &encoding_key(theirs), &claims),
        );
        refused(
            &service,
            &forge(alg, Some(&kid(ours)), &encoding_key(theirs), &claims),
        );
        refused(&service, &forge(alg, None, &encoding_key(theirs), &claims));
        // Our own key, but the header names no kid, or another.
        refused(&service, &forge(alg, None, &encoding_key(ours), &claims));
        refused(
            &service,
            &forge(alg, Some("zentra"), &encoding_key(ours), &claims),
        );
    }
}

#[test]
fn a_kid_is_pinned_to_its_keys_algorithm() {
    // One set holding a key of each algorithm: a token that names one
    // key's kid but another algorithm, or is signed by another key of the
    // set under that kid, is refused.
    let [ed, es, rs] = ALGORITHMS.map(|algorithm| &jwks(algorithm)[0]);
    let service = service_with(set_of(&[ed, es, rs]));
    let claims = access_claims();
    for (signer, signer_alg) in [
        (ed, Algorithm::EdDSA),
        (es, Algorithm::ES256),
        (rs, Algorithm::RS256),
    ] {
        // The control: each key verifies its own tokens.
        let own = forge(
            signer_alg,
            Some(&kid(signer)),
            &encoding_key(signer),
            &claims,
        );
        assert!(service.decode(&own, TokenKind::Access, NOW).is_ok());
        for named in [ed, es, rs] {
            if named != signer {
                refused(
                    &service,
                    &forge(
                        signer_alg,
                        Some(&kid(named)),
                        &encoding_key(signer),
                        &claims,
                    ),
                );
            }
        }
    }
}

#[test]
fn an_hmac_token_is_refused_when_the_keys_are_asymmetric() {
    for algorithm in ALGORITHMS {
        let service = service(algorithm);
        let kid = kid(&jwks(algorithm)[0]);
        for secret in [&b"some-hmac-secret-some-hmac-secret-0123"[..], REFRESH_KEY] {
            let key = EncodingKey::from_secret(secret);
            for named in [
                Some(kid.as_str()),
                None,
                Some(&hmac_kid(&SecretKey::new(secret))),
            ] {
                refused(
                    &service,
                    &forge(Algorithm::HS256, named, &key, &access_claims()),
                );
            }
        }
    }
}

#[test]
fn the_public_key_used_as_an_hmac_secret_is_refused() {
    // The classic algorithm confusion: a verifier that took the header's
    // alg would check an HS256 signature keyed with the public key, which
    // anyone can fetch from the JWKS. Every form of it is tried.
    for algorithm in ALGORITHMS {
        let service = service(algorithm);
        let public = set_of(&[&jwks(algorithm)[0]]).public_jwks()["keys"][0].clone();
        let kid = kid(&public);
        let mut secrets: Vec<Vec<u8>> = vec![public.to_string().into_bytes()];
        for member in ["x", "y", "n"] {
            if let Some(text) = public[member].as_str() {
                secrets.push(text.as_bytes().to_vec());
                secrets.push(URL_SAFE_NO_PAD.decode(text).unwrap());
            }
        }
        for secret in &secrets {
            for alg in [Algorithm::HS256, Algorithm::HS384, Algorithm::HS512] {
                let token = forge(
                    alg,
                    Some(&kid),
                    &EncodingKey::from_secret(secret),
                    &access_claims(),
                );
                refused(&service, &token);
            }
        }
    }
}

#[test]
fn a_rotation_verifies_the_old_keys_tokens_until_it_is_dropped() {
    for algorithm in ALGORITHMS {
        let [old, new] = jwks(algorithm);
        let before = service_with(set_of(&[old]));
        // Step 1: the new key published, verify-only; the old one signs.
        let published = service_with(set_of(&[old, new]));
        // Step 2: the new key signs; the old one verifies what it signed.
        let switched = service_with(set_of(&[new, old]));
        // Step 3: the old key dropped.
        let after = service_with(set_of(&[new]));

        let old_token = issue(&before, TokenKind::Access).token;
        assert_eq!(
            part(&issue(&published, TokenKind::Access).token, 0)["kid"],
            old["kid"]
        );
        let new_token = issue(&switched, TokenKind::Access).token;
        assert_eq!(part(&new_token, 0)["kid"], new["kid"]);
        for service in [&before, &published, &switched] {
            assert!(service.decode(&old_token, TokenKind::Access, NOW).is_ok());
        }
        for service in [&published, &switched, &after] {
            assert!(service.decode(&new_token, TokenKind::Access, NOW).is_ok());
        }
        refused(&before, &new_token);
        refused(&after, &old_token);
    }
}

#[test]
fn with_an_audience_signed_tokens_carry_it_and_must_name_it() {
    let service = JwtTokenService::new(&JwtSettings {
        audience: Some("orders-api".into()),
        ..settings(set_of(&[&jwks(JwtAlgorithm::EdDsa)[0]]))
    });
    let token = issue(&service, TokenKind::Access).token;
    assert_eq!(part(&token, 1)["aud"], "orders-api");
    assert!(service.decode(&token, TokenKind::Access, NOW).is_ok());
    let jwk = &jwks(JwtAlgorithm::EdDsa)[0];
    let without = forge(
        Algorithm::EdDSA,
        Some(&kid(jwk)),
        &encoding_key(jwk),
        &access_claims(),
    );
    refused(&service, &without);
}

#[test]
fn signed_tokens_are_remembered_once_verified() {
    for algorithm in ALGORITHMS {
        let service = service(algorithm);
        let token = issue(&service, TokenKind::Access).token;
        let first = service.decode(&token, TokenKind::Access, NOW).unwrap();
        assert_eq!(service.verified_len(), 1);
        assert_eq!(
            service.decode(&token, TokenKind::Access, NOW + 1),
            Ok(first)
        );
        assert_eq!(
            service.decode(&token, TokenKind::Access, NOW + 900),
            Err(TokenError::Expired)
        );
        let (signed, _) = token.rsplit_once('.').unwrap();
        refused(&service, &format!("{signed}.AAAA"));
        assert_eq!(service.verified_len(), 1);
    }
}

/// The first bytes of a base64url member as a derived `Debug` shows bytes:
/// `12, 34, …` (without the brackets, to match inside a longer list).
fn decimal_bytes(base64url: &str) -> String {
    let bytes = URL_SAFE_NO_PAD.decode(base64url).unwrap();
    let shown = format!("{:?}", &bytes[..8]);
    shown
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_owned()
}

#[test]
fn no_private_member_shows_in_debug_output() {
    for algorithm in ALGORITHMS {
        let jwk = &jwks(algorithm)[0];
        let keys = set_of(&[jwk]);
        let service = service_with(keys.clone());
        let settings = settings(keys);
        for shown in [format!("{settings:?}"), format!("{service:?}")] {
            for member in ["d", "p", "q", "dp", "dq", "qi"] {
                if let Some(private) = jwk[member].as_str() {
                    assert!(!shown.contains(private), "{member} in {shown}");
                    // A derived Debug shows the DER as decimal bytes.
                    let decimal = decimal_bytes(private);
                    assert!(
                        !shown.contains(&decimal),
                        "{member} as {decimal} in {shown}"
                    );
                }
            }
            assert!(shown.contains(&kid(jwk)), "{shown}");
        }
    }
}
