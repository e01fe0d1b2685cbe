use base64::{Engine as _, engine::general_purpose::URL_SAFE_NO_PAD};
use domain::Username;
use jsonwebtoken::{EncodingKey, Header};
use serde_json::{Value, json};

use super::*;

const NOW: u64 = 1_700_000_000;
const ACCESS_KEY: &[u8] = b"access-key-access-key-access-key-0123456789";
const REFRESH_KEY: &[u8] = b"refresh-key-refresh-key-refresh-key-01234567";

fn settings(algorithm: JwtAlgorithm) -> JwtSettings {
    JwtSettings {
        algorithm,
        access_keys: AccessKeys::Hmac(SecretKey::new(ACCESS_KEY)),
        refresh_secret: SecretKey::new(REFRESH_KEY),
        issuer: "zentra".into(),
        audience: None,
        access_lifetime_secs: 900,
        refresh_lifetime_secs: 604_800,
        verified_cache_entries: 1024,
    }
}

fn service() -> JwtTokenService {
    JwtTokenService::new(&settings(JwtAlgorithm::Hs256))
}

fn issue(service: &JwtTokenService, kind: TokenKind, family: Option<&str>) -> IssuedToken {
    service
        .issue(&TokenRequest {
            kind,
            subject: Username::parse("agent47").unwrap(),
            family: family.map(Into::into),
            scopes: Scopes::parse("me items:read").unwrap(),
            now: NOW,
            id: None,
        })
        .unwrap()
}

/// A token signed with `key` and `alg` over arbitrary claims: how an
/// attacker who knows (or guesses) things would forge one.
fn forge(alg: Algorithm, key: &[u8], claims: &Value) -> String {
    jsonwebtoken::encode(&Header::new(alg), claims, &EncodingKey::from_secret(key)).unwrap()
}

fn access_claims() -> Value {
    json!({"sub": "agent47", "exp": NOW + 60, "iat": NOW, "jti": "j", "type": "access", "iss": "zentra"})
}

fn payload(token: &str) -> Value {
    serde_json::from_slice(&base64url_decode(token.split('.').nth(1).unwrap())).unwrap()
}

/// base64url without padding, enough for reading our own tokens in tests.
fn base64url_decode(input: &str) -> Vec<u8> {
    let alphabet = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut bits = 0u32;
    let mut count = 0;
    let mut out = Vec::new();
    for byte in input.bytes() {
        let value = alphabet.iter().position(|&c| c == byte).unwrap() as u32;
        bits = (bits << 6) | value;
        count += 6;
        if count >= 8 {
            count -= 8;
            out.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    out
}

#[test]
fn an_issued_access_token_decodes_to_its_claims() {
    let service = service();
    let issued = issue(&service, TokenKind::Access, None);
    let claims = service
        .decode(&issued.token, TokenKind::Access, NOW)
        .unwrap();
    assert_eq!(claims, issued.claims);
    assert_eq!(claims.subject, "agent47");
    assert_eq!(claims.expires_at, NOW + 900);
    assert_eq!(claims.family, None);
}

#[test]
fn tokens_carry_the_claims_of_the_contract() {
    let service = service();
    let access = payload(&issue(&service, TokenKind::Access, None).token);
    assert_eq!(access["sub"], "agent47");
    assert_eq!(access["type"], "access");
    assert_eq!(access["iss"], "zentra");
    assert_eq!(access["iat"], NOW);
    assert_eq!(access["exp"], NOW + 900);
    assert!(access["jti"].as_str().is_some_and(|j| !j.is_empty()));
    assert!(access.get("fam").is_none());

    let refresh = payload(&issue(&service, TokenKind::Refresh, Some("fam-1")).token);
    assert_eq!(refresh["type"], "refresh");
    assert_eq!(refresh["fam"], "fam-1");
    assert_eq!(refresh["exp"], NOW + 604_800);
    // The session's scopes are the session's: not in the refresh token.
    assert!(refresh.get("scope").is_none());
    assert!(refresh.get("sid").is_none());
}

#[test]
fn an_access_token_carries_its_scopes_and_session() {
    // docs/api.md §9: `scope` (one space-separated string, RFC 9068) and
    // `sid`, the session family.
    let service = service();
    let issued = issue(&service, TokenKind::Access, Some("fam-1"));
    let wire = payload(&issued.token);
    assert_eq!(wire["scope"], "items:read me");
    assert_eq!(wire["sid"], "fam-1");
    assert!(wire.get("fam").is_none());
    let claims = service
        .decode(&issued.token, TokenKind::Access, NOW)
        .unwrap();
    assert_eq!(claims, issued.claims);
    assert_eq!(claims.family.as_deref(), Some("fam-1"));
    assert_eq!(claims.granted().to_string(), "items:read me");
}

#[test]
fn an_access_token_without_a_scope_claim_counts_as_me() {
    // Tokens issued before scopes existed.
    let token = forge(Algorithm::HS256, ACCESS_KEY, &access_claims());
    let claims = service().decode(&token, TokenKind::Access, NOW).unwrap();
    assert_eq!(claims.scopes, None);
    assert_eq!(claims.granted().to_string(), "me");
}

#[test]
fn a_signed_token_with_a_malformed_scope_or_session_is_refused() {
    let service = service();
    for (claim, value) in [
        ("scope", json!("me ADMIN")),
        ("scope", json!(7)),
        ("sid", json!("s\u{0}")),
    ] {
        let mut claims = access_claims();
        claims[claim] = value;
        let token = forge(Algorithm::HS256, ACCESS_KEY, &claims);
        assert_eq!(
            service.decode(&token, TokenKind::Access, NOW),
            Err(TokenError::Invalid),
            "{claims}"
        );
    }
}

#[test]
fn the_header_names_the_configured_algorithm_jwt_and_the_keys_kid() {
    for (algorithm, name) in [
        (JwtAlgorithm::Hs256, "HS256"),
        (JwtAlgorithm::Hs384, "HS384"),
        (JwtAlgorithm::Hs512, "HS512"),
    ] {
        let service = JwtTokenService::new(&settings(algorithm));
        let token = issue(&service, TokenKind::Access, None).token;
        let header: Value =
            serde_json::from_slice(&base64url_decode(token.split('.').next().unwrap())).unwrap();
        assert_eq!(header["alg"], name);
        assert_eq!(header["typ"], "JWT");
        let kid = header["kid"].as_str().unwrap();
        assert_eq!(kid, hmac_kid(&SecretKey::new(ACCESS_KEY)));
        assert!(service.decode(&token, TokenKind::Access, NOW).is_ok());
    }
}

#[test]
fn each_refresh_token_starts_or_continues_a_family() {
    let service = service();
    let first = issue(&service, TokenKind::Refresh, None);
    let second = issue(&service, TokenKind::Refresh, None);
    assert_ne!(first.claims.family, second.claims.family);
    assert!(first.claims.family.is_some());
    let continued = issue(&service, TokenKind::Refresh, first.claims.family.as_deref());
    assert_eq!(continued.claims.family, first.claims.family);
    assert_ne!(continued.claims.id, first.claims.id);
}

#[test]
fn a_token_expires_exactly_at_its_exp_with_no_leeway() {
    let service = service();
    let token = issue(&service, TokenKind::Access, None).token;
    assert!(service.decode(&token, TokenKind::Access, NOW + 899).is_ok());
    assert_eq!(
        service.decode(&token, TokenKind::Access, NOW + 900),
        Err(TokenError::Expired)
    );
    assert_eq!(
        service.decode(&token, TokenKind::Access, NOW + 910),
        Err(TokenError::Expired)
    );
}

#[test]
fn expiry_follows_the_callers_clock_not_the_system_clock() {
    // jsonwebtoken would check `exp` against the system clock: the clock
    // the domain passes in is the one that counts.
    let service = service();
    let long_ago = issue(&service, TokenKind::Access, None).token; // exp: 2023
    assert!(service.decode(&long_ago, TokenKind::Access, NOW).is_ok());
    let mut far_future = access_claims();
    far_future["exp"] = json!(4_000_000_000_u64); // 2096
    let token = forge(Algorithm::HS256, ACCESS_KEY, &far_future);
    assert!(service.decode(&token, TokenKind::Access, NOW).is_ok());
    assert_eq!(
        service.decode(&token, TokenKind::Access, 4_000_000_000),
        Err(TokenError::Expired)
    );
}

#[test]
fn a_refresh_token_is_not_an_access_token_nor_the_reverse() {
    let service = service();
    let access = issue(&service, TokenKind::Access, None).token;
    let refresh = issue(&service, TokenKind::Refresh, None).token;
    assert_eq!(
        service.decode(&refresh, TokenKind::Access, NOW),
        Err(TokenError::Invalid)
    );
    assert_eq!(
        service.decode(&access, TokenKind::Refresh, NOW),
        Err(TokenError::Invalid)
    );
}

#[test]
fn a_token_with_the_right_key_but_the_wrong_type_is_refused() {
    let mut claims = access_claims();
    claims["type"] = json!("refresh");
    let token = forge(Algorithm::HS256, ACCESS_KEY, &claims);
    assert_eq!(
        service().decode(&token, TokenKind::Access, NOW),
        Err(TokenError::Invalid)
    );
}

#[test]
fn a_well_forged_token_with_the_known_key_is_accepted() {
    // The control for the attack tests below: they fail for their one flaw.
    let token = forge(Algorithm::HS256, ACCESS_KEY, &access_claims());
    assert!(service().decode(&token, TokenKind::Access, NOW).is_ok());
}

#[test]
fn another_key_another_hmac_size_or_another_or_no_issuer_is_refused() {
    let service = service();
    let other_key = forge(
        Algorithm::HS256,
        b"some-other-key-some-other-key-0123",
        &access_claims(),
    );
    let other_size = forge(Algorithm::HS512, ACCESS_KEY, &access_claims());
    let mut foreign = access_claims();
    foreign["iss"] = json!("someone-else");
    let other_issuer = forge(Algorithm::HS256, ACCESS_KEY, &foreign);
    foreign.as_object_mut().unwrap().remove("iss");
    let no_issuer = forge(Algorithm::HS256, ACCESS_KEY, &foreign);
    for token in [other_key, other_size, other_issuer, no_issuer] {
        assert_eq!(
            service.decode(&token, TokenKind::Access, NOW),
            Err(TokenError::Invalid)
        );
    }
}

#[test]
fn an_hmac_kid_is_stable_for_its_key_differs_between_keys_and_shows_nothing_of_it() {
    let kid = hmac_kid(&SecretKey::new(ACCESS_KEY));
    assert_eq!(kid, hmac_kid(&SecretKey::new(ACCESS_KEY)));
    assert_ne!(kid, hmac_kid(&SecretKey::new(REFRESH_KEY)));
    assert!(kid.starts_with("hs-") && kid.len() == 19, "{kid}");
    assert!(!kid.contains("access"));
}

#[test]
fn an_hmac_token_without_kid_from_before_kids_is_accepted_one_with_another_kid_is_not() {
    // access_claims() are forged without kid, as every token was before
    // docs/api.md §12: sessions outlive the upgrade.
    let service = service();
    let no_kid = forge(Algorithm::HS256, ACCESS_KEY, &access_claims());
    assert!(service.decode(&no_kid, TokenKind::Access, NOW).is_ok());
    let mut refresh = access_claims();
    refresh["type"] = json!("refresh");
    refresh["fam"] = json!("family");
    let old_refresh = forge(Algorithm::HS256, REFRESH_KEY, &refresh);
    assert!(
        service
            .decode(&old_refresh, TokenKind::Refresh, NOW)
            .is_ok()
    );

    for kid in ["someone-elses", &hmac_kid(&SecretKey::new(REFRESH_KEY)), ""] {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(kid.to_owned());
        let token = jsonwebtoken::encode(
            &header,
            &access_claims(),
            &EncodingKey::from_secret(ACCESS_KEY),
        )
        .unwrap();
        assert_eq!(
            service.decode(&token, TokenKind::Access, NOW),
            Err(TokenError::Invalid),
            "{kid}"
        );
    }
}

#[test]
fn an_audience_is_ignored_as_no_audience_is_configured() {
    // jsonwebtoken refuses any `aud` unless told otherwise; we set none and
    // ignore one, as before.
    let mut claims = access_claims();
    claims["aud"] = json!("someone");
    let token = forge(Algorithm::HS256, ACCESS_KEY, &claims);
    assert!(service().decode(&token, TokenKind::Access, NOW).is_ok());
}

#[test]
fn alg_none_is_refused() {
    let header = "eyJhbGciOiJub25lIiwidHlwIjoiSldUIn0"; // {"alg":"none","typ":"JWT"}
    let valid = forge(Algorithm::HS256, ACCESS_KEY, &access_claims());
    let body = valid.split('.').nth(1).unwrap();
    for token in [format!("{header}.{body}."), format!("{header}.{body}")] {
        assert_eq!(
            service().decode(&token, TokenKind::Access, NOW),
            Err(TokenError::Invalid)
        );
    }
}

#[test]
fn a_tampered_payload_or_signature_and_extra_segments_are_refused() {
    let valid = forge(Algorithm::HS256, ACCESS_KEY, &access_claims());
    let (header, rest) = valid.split_once('.').unwrap();
    let (body, signature) = rest.split_once('.').unwrap();
    let mut claims = access_claims();
    claims["sub"] = json!("someone-else");
    let other_body = forge(
        Algorithm::HS256,
        b"unknown-key-unknown-key-0123456789",
        &claims,
    );
    let other_body = other_body.split('.').nth(1).unwrap();
    let flipped = if signature.ends_with('A') { "B" } else { "A" };
    let tampered_signature = format!("{}{flipped}", &signature[..signature.len() - 1]);
    for token in [
        format!("{header}.{other_body}.{signature}"),
        format!("{header}.{body}.{tampered_signature}"),
        format!("{header}.{body}.{signature}.{signature}"),
        format!("{header}.{body}.{body}.{signature}"),
        format!("{header}.{body}"),
    ] {
        assert_eq!(
            service().decode(&token, TokenKind::Access, NOW),
            Err(TokenError::Invalid),
            "{token}"
        );
    }
}

#[test]
fn a_header_naming_another_algorithm_is_refused_even_with_a_good_signature() {
    let valid = forge(Algorithm::HS256, ACCESS_KEY, &access_claims());
    let body = valid.split('.').nth(1).unwrap();
    for alg in ["HS384", "none", "RS256"] {
        let header = URL_SAFE_NO_PAD.encode(format!(r#"{{"alg":"{alg}","typ":"JWT"}}"#));
        let message = format!("{header}.{body}");
        // An HS256 signature with the right key, over the lying header.
        let signature = jsonwebtoken::crypto::sign(
            message.as_bytes(),
            &EncodingKey::from_secret(ACCESS_KEY),
            Algorithm::HS256,
        )
        .unwrap();
        assert_eq!(
            service().decode(&format!("{message}.{signature}"), TokenKind::Access, NOW),
            Err(TokenError::Invalid),
            "{alg}"
        );
    }
}

#[test]
fn a_missing_or_non_numeric_exp_is_refused() {
    let mut missing = access_claims();
    missing.as_object_mut().unwrap().remove("exp");
    let mut text = access_claims();
    text["exp"] = json!("tomorrow");
    for claims in [missing, text] {
        let token = forge(Algorithm::HS256, ACCESS_KEY, &claims);
        assert_eq!(
            service().decode(&token, TokenKind::Access, NOW),
            Err(TokenError::Invalid)
        );
    }
}

#[test]
fn a_correctly_signed_token_with_a_nul_in_a_claim_is_refused() {
    // A NUL never reaches the database (docs/api.md §8): `jti` and `fam` are
    // looked up in the sessions table, `sub` in the users table.
    let service = service();
    let mut access = access_claims();
    access["jti"] = json!("j\u{0}");
    let mut subject = access_claims();
    subject["sub"] = json!("agent47\u{0}");
    for claims in [access, subject] {
        let token = forge(Algorithm::HS256, ACCESS_KEY, &claims);
        assert_eq!(
            service.decode(&token, TokenKind::Access, NOW),
            Err(TokenError::Invalid),
            "{claims}"
        );
    }
    let mut refresh = access_claims();
    refresh["type"] = json!("refresh");
    refresh["fam"] = json!("family\u{0}");
    let token = forge(Algorithm::HS256, REFRESH_KEY, &refresh);
    assert_eq!(
        service.decode(&token, TokenKind::Refresh, NOW),
        Err(TokenError::Invalid)
    );
    // The control: the same refresh token without the NUL is accepted.
    refresh["fam"] = json!("family");
    let token = forge(Algorithm::HS256, REFRESH_KEY, &refresh);
    assert!(service.decode(&token, TokenKind::Refresh, NOW).is_ok());
}

#[test]
fn garbage_and_oversized_tokens_are_refused() {
    let service = service();
    let huge = format!("{}.{}.{}", "a".repeat(3000), "b".repeat(3000), "c");
    for token in ["", "not-a-jwt", "a.b.c", "....", huge.as_str()] {
        assert_eq!(
            service.decode(token, TokenKind::Access, NOW),
            Err(TokenError::Invalid)
        );
    }
}

#[test]
fn algorithms_parse_from_their_names_only() {
    assert_eq!("HS384".parse::<JwtAlgorithm>(), Ok(JwtAlgorithm::Hs384));
    assert!("hs256".parse::<JwtAlgorithm>().is_err());
    assert_eq!("EdDSA".parse::<JwtAlgorithm>(), Ok(JwtAlgorithm::EdDsa));
    assert_eq!("ES256".parse::<JwtAlgorithm>(), Ok(JwtAlgorithm::Es256));
    assert_eq!("RS256".parse::<JwtAlgorithm>(), Ok(JwtAlgorithm::Rs256));
    assert!("eddsa".parse::<JwtAlgorithm>().is_err());
    assert!("ES384".parse::<JwtAlgorithm>().is_err());
    assert!("none".parse::<JwtAlgorithm>().is_err());
}

#[test]
fn secrets_are_redacted_in_debug_output() {
    let settings = settings(JwtAlgorithm::Hs256);
    for debug in [
        format!("{settings:?}"),
        format!("{:?}", JwtTokenService::new(&settings)),
    ] {
        assert!(!debug.contains("access-key"), "{debug}");
        assert!(!debug.contains("refresh-key"), "{debug}");
    }
}

#[test]
fn with_an_audience_access_tokens_carry_it_and_must_name_it() {
    let service = JwtTokenService::new(&JwtSettings {
        audience: Some("orders-api".into()),
        ..settings(JwtAlgorithm::Hs256)
    });
    let issued = issue(&service, TokenKind::Access, None);
    assert_eq!(payload(&issued.token)["aud"], "orders-api");
    assert!(
        service
            .decode(&issued.token, TokenKind::Access, NOW)
            .is_ok()
    );
    // Refresh tokens only come back here: no audience.
    let refresh = issue(&service, TokenKind::Refresh, None);
    assert!(payload(&refresh.token).get("aud").is_none());
    assert!(
        service
            .decode(&refresh.token, TokenKind::Refresh, NOW)
            .is_ok()
    );

    let mut other = access_claims();
    other["aud"] = json!("billing-api");
    let mut listed = access_claims();
    listed["aud"] = json!(["billing-api", "orders-api"]);
    for (claims, accepted) in [(access_claims(), false), (other, false), (listed, true)] {
        let token = forge(Algorithm::HS256, ACCESS_KEY, &claims);
        assert_eq!(
            service.decode(&token, TokenKind::Access, NOW).is_ok(),
            accepted,
            "{claims}"
        );
    }
}

/// A service that sends every token through jsonwebtoken's `decode`.
fn forgetful_service() -> JwtTokenService {
    JwtTokenService::new(&JwtSettings {
        verified_cache_entries: 0,
        ..settings(JwtAlgorithm::Hs256)
    })
}

#[test]
fn an_access_token_seen_before_is_answered_as_the_first_time() {
    let service = service();
    let token = issue(&service, TokenKind::Access, None).token;
    let first = service.decode(&token, TokenKind::Access, NOW).unwrap();
    assert_eq!(service.verified_len(), 1);
    let again = service.decode(&token, TokenKind::Access, NOW + 1).unwrap();
    assert_eq!(again, first);
    assert_eq!(
        forgetful_service().decode(&token, TokenKind::Access, NOW),
        Ok(first)
    );
    assert_eq!(service.verified_len(), 1);
}

#[test]
fn an_access_token_seen_before_still_expires_at_its_exp() {
    let service = service();
    let token = issue(&service, TokenKind::Access, None).token;
    assert!(service.decode(&token, TokenKind::Access, NOW).is_ok());
    assert!(service.decode(&token, TokenKind::Access, NOW + 899).is_ok());
    assert_eq!(
        service.decode(&token, TokenKind::Access, NOW + 900),
        Err(TokenError::Expired)
    );
    // Not expired for a caller whose clock is earlier: the same rule as
    // the first decode, on every call.
    assert!(service.decode(&token, TokenKind::Access, NOW + 10).is_ok());
}

#[test]
fn an_access_token_seen_before_is_no_refresh_token_and_its_variants_are_decoded_and_refused() {
    let service = service();
    let token = issue(&service, TokenKind::Access, None).token;
    assert!(service.decode(&token, TokenKind::Access, NOW).is_ok());
    assert_eq!(
        service.decode(&token, TokenKind::Refresh, NOW),
        Err(TokenError::Invalid)
    );
    let (signed, signature) = token.rsplit_once('.').unwrap();
    let mut altered = signature.as_bytes().to_vec();
    altered[0] = if altered[0] == b'A' { b'B' } else { b'A' };
    let variants = [
        format!("{signed}.{}", String::from_utf8(altered).unwrap()),
        format!("{signed}."),
        format!("{token}."),
        token[..token.len() - 1].to_owned(),
        format!(" {token}"),
    ];
    for variant in variants {
        assert_eq!(
            service.decode(&variant, TokenKind::Access, NOW),
            Err(TokenError::Invalid),
            "{variant}"
        );
    }
    assert_eq!(service.verified_len(), 1, "refused tokens are not kept");
}

#[test]
fn refresh_tokens_and_refused_or_expired_tokens_are_not_kept() {
    let service = service();
    let refresh = issue(&service, TokenKind::Refresh, None).token;
    assert!(service.decode(&refresh, TokenKind::Refresh, NOW).is_ok());
    let expired = issue(&service, TokenKind::Access, None).token;
    assert_eq!(
        service.decode(&expired, TokenKind::Access, NOW + 900),
        Err(TokenError::Expired)
    );
    let forged = forge(
        Algorithm::HS256,
        b"not-our-key-not-our-key-not-our-key",
        &access_claims(),
    );
    assert!(service.decode(&forged, TokenKind::Access, NOW).is_err());
    assert_eq!(service.verified_len(), 0);
}

#[test]
fn with_no_room_nothing_is_kept() {
    let service = forgetful_service();
    let token = issue(&service, TokenKind::Access, None).token;
    assert!(service.decode(&token, TokenKind::Access, NOW).is_ok());
    assert!(service.decode(&token, TokenKind::Access, NOW).is_ok());
    assert_eq!(service.verified_len(), 0);
}

#[test]
fn the_remembered_tokens_are_not_shown_by_debug() {
    let service = service();
    let token = issue(&service, TokenKind::Access, None).token;
    service.decode(&token, TokenKind::Access, NOW).unwrap();
    let shown = format!("{service:?}");
    assert!(!shown.contains(&token), "{shown}");
    assert!(!shown.contains(token.split('.').nth(1).unwrap()), "{shown}");
}
