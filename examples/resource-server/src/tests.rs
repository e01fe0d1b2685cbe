use std::sync::{Mutex, mpsc};

use jsonwebtoken::{EncodingKey, Header};

use super::*;

/// RFC 8037 Appendix A.1: an Ed25519 key pair.
const D: [u8; 32] = [
    0x9d, 0x61, 0xb1, 0x9d, 0xef, 0xfd, 0x5a, 0x60, 0xba, 0x84, 0x4a, 0xf4, 0x92, 0xec, 0x2c, 0xc4,
    0x44, 0x49, 0xc5, 0x69, 0x7b, 0x32, 0x69, 0x19, 0x70, 0x3b, 0xac, 0x03, 0x1c, 0xae, 0x7f, 0x60,
];
const X: &str = "11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo";

fn signing_key() -> EncodingKey {
    // PKCS#8 of an Ed25519 private key: a fixed prefix, then the 32 bytes.
    let mut der = vec![
        0x30, 0x2e, 0x02, 0x01, 0x00, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x04, 0x22, 0x04,
        0x20,
    ];
    der.extend_from_slice(&D);
    EncodingKey::from_ed_der(&der)
}

fn jwks(kids: &[&str]) -> String {
    let keys: Vec<Value> = kids
        .iter()
        .map(|kid| json!({"kty": "OKP", "crv": "Ed25519", "x": X, "kid": kid, "alg": "EdDSA", "use": "sig"}))
        .collect();
    json!({ "keys": keys }).to_string()
}

/// A cache over a JWKS the test can change.
fn cache(served: &Arc<Mutex<String>>, cool_down: Duration) -> JwksCache {
    let served = Arc::clone(served);
    JwksCache::new(move || Ok(served.lock().unwrap().clone()), cool_down)
}

fn token(kid: &str, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(kid.to_owned());
    jsonwebtoken::encode(&header, claims, &signing_key()).unwrap()
}

fn claims(scope: &str) -> Value {
    json!({"sub": "agent47", "type": "access", "iss": "zentra", "scope": scope,
           "exp": 4_000_000_000_u64, "iat": 1})
}

#[test]
fn unknown_kids_cause_one_fetch_per_cool_down_not_one_per_request() {
    let served = Arc::new(Mutex::new(jwks(&["k1"])));
    let keys = cache(&served, Duration::from_secs(3600));
    assert!(keys.fetched("k1").is_some());
    for forged in 0..100 {
        assert!(keys.fetched(&format!("forged-{forged}")).is_none());
    }
    assert_eq!(keys.fetches(), 1);
    assert!(
        matches!(keys.lookup("k1"), Lookup::Held(_)),
        "the known key stays cached"
    );
    assert!(matches!(keys.lookup("forged-0"), Lookup::Refused));
}

#[test]
fn a_kid_published_since_is_fetched_once_the_cool_down_has_passed() {
    let served = Arc::new(Mutex::new(jwks(&["old"])));
    let keys = cache(&served, Duration::from_millis(50));
    assert!(keys.fetched("old").is_some());
    *served.lock().unwrap() = jwks(&["new", "old"]);
    assert!(keys.fetched("new").is_none(), "within the cool-down");
    std::thread::sleep(Duration::from_millis(60));
    assert!(keys.fetched("new").is_some());
    assert!(matches!(keys.lookup("old"), Lookup::Held(_)));
    assert_eq!(keys.fetches(), 2);
}

#[test]
fn a_failed_fetch_keeps_the_keys_already_held() {
    let failing = Arc::new(Mutex::new(false));
    let flag = Arc::clone(&failing);
    let keys = JwksCache::new(
        move || {
            if *flag.lock().unwrap() {
                Err("down".into())
            } else {
                Ok(jwks(&["k1"]))
            }
        },
        Duration::ZERO,
    );
    assert!(keys.fetched("k1").is_some());
    *failing.lock().unwrap() = true;
    assert!(keys.fetched("other").is_none());
    assert!(keys.fetched("k1").is_some());
}

#[test]
fn hmac_and_alg_less_keys_are_never_used() {
    let set = json!({"keys": [
        {"kty": "oct", "k": "c2VjcmV0", "kid": "h", "alg": "HS256"},
        {"kty": "OKP", "crv": "Ed25519", "x": X, "kid": "no-alg"},
        {"kty": "OKP", "crv": "Ed25519", "x": X, "alg": "EdDSA"},
    ]});
    assert!(parse_jwks(&set.to_string()).unwrap().is_empty());
}

#[test]
fn a_token_is_checked_with_its_keys_algorithm_issuer_type_and_scope() {
    let served = Arc::new(Mutex::new(jwks(&["k1"])));
    let verifier = Verifier::new(cache(&served, Duration::ZERO), "zentra".into(), None);
    let key = verifier.keys.fetched("k1").unwrap();
    let good = verifier
        .decode(&token("k1", &claims("me items:read")), &key)
        .unwrap();
    assert_eq!(good.sub, "agent47");
    assert!(good.has_scope("items:read"));
    assert!(
        !verifier
            .decode(&token("k1", &claims("me")), &key)
            .unwrap()
            .has_scope("items:read")
    );

    let mut other = claims("items:read");
    other["iss"] = json!("someone-else");
    let mut refresh = claims("items:read");
    refresh["type"] = json!("refresh");
    let mut expired = claims("items:read");
    expired["exp"] = json!(1);
    for bad in [other, refresh, expired] {
        assert_eq!(
            verifier.decode(&token("k1", &bad), &key).unwrap_err(),
            Refusal::Unauthorized,
            "{bad}"
        );
    }
    // The public key as an HMAC secret: the key's algorithm is EdDSA.
    let mut header = Header::new(Algorithm::HS256);
    header.kid = Some("k1".into());
    let confused = jsonwebtoken::encode(
        &header,
        &claims("items:read"),
        &EncodingKey::from_secret(X.as_bytes()),
    )
    .unwrap();
    assert_eq!(
        verifier.decode(&confused, &key).unwrap_err(),
        Refusal::Unauthorized
    );
}

/// The answer of `authorize` to a token with `kid` (and the right claims).
fn answer(verifier: &Arc<Verifier>, kid: &str) -> Result<Claims, Refusal> {
    let request = actix_web::test::TestRequest::default()
        .insert_header((
            AUTHORIZATION,
            format!("Bearer {}", token(kid, &claims("items:read"))),
        ))
        .to_http_request();
    actix_web::rt::System::new().block_on(verifier.authorize(&request, ITEMS_SCOPE))
}

#[test]
fn a_slow_fetch_holds_up_neither_known_kids_nor_forged_ones() {
    let (started_tx, started) = mpsc::channel();
    let (release, released) = mpsc::channel::<()>();
    let released = Mutex::new(released);
    let calls = AtomicUsize::new(0);
    let keys = JwksCache::new(
        move || {
            // The first fetch answers at once, the next one when released.
            if calls.fetch_add(1, Ordering::SeqCst) > 0 {
                started_tx.send(()).unwrap();
                let _ = released.lock().unwrap().recv();
            }
            Ok(jwks(&["k1"]))
        },
        Duration::from_secs(3600),
    );
    let verifier = Arc::new(Verifier::new(keys, "zentra".into(), None));
    assert!(verifier.keys.fetched("k1").is_some());
    // As if the cool-down had passed: the next unknown kid fetches.
    verifier.keys.cached.write().unwrap().tried_at = None;
    let fetching = {
        let verifier = Arc::clone(&verifier);
        std::thread::spawn(move || verifier.keys.fetched("k2"))
    };
    started.recv_timeout(Duration::from_secs(10)).unwrap();

    // While that fetch waits on the network:
    let (answers_tx, answers) = mpsc::channel();
    {
        let verifier = Arc::clone(&verifier);
        std::thread::spawn(move || {
            let known = answer(&verifier, "k1");
            let forged = answer(&verifier, "forged");
            let _ = answers_tx.send((known, forged));
        });
    }
    let answered = answers.recv_timeout(Duration::from_secs(5));
    release.send(()).unwrap();
    assert!(fetching.join().unwrap().is_none());

    let (known, forged) = answered.expect("answered while the fetch was under way");
    assert_eq!(known.unwrap().sub, "agent47");
    assert_eq!(forged.unwrap_err(), Refusal::Unauthorized);
    // Within the cool-down the fetch began, a forged kid is refused with
    // no task spawned (and so no fetch).
    assert!(matches!(verifier.keys.lookup("forged-2"), Lookup::Refused));
    assert_eq!(verifier.keys.fetches(), 2, "no fetch for the forged kid");
}

#[test]
fn with_an_audience_expected_a_token_without_aud_is_refused() {
    let served = Arc::new(Mutex::new(jwks(&["k1"])));
    let verifier = Verifier::new(
        cache(&served, Duration::ZERO),
        "zentra".into(),
        Some("orders-api".into()),
    );
    let key = verifier.keys.fetched("k1").unwrap();
    let mut addressed = claims("items:read");
    addressed["aud"] = json!("orders-api");
    assert!(verifier.decode(&token("k1", &addressed), &key).is_ok());
    let mut elsewhere = claims("items:read");
    elsewhere["aud"] = json!("billing-api");
    for bad in [claims("items:read"), elsewhere] {
        assert_eq!(
            verifier.decode(&token("k1", &bad), &key).unwrap_err(),
            Refusal::Unauthorized,
            "{bad}"
        );
    }
}
