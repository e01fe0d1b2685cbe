//! The example resource server (`examples/resource-server`) in front of the
//! real binary: it verifies access tokens offline with the JWKS, guards a
//! route by scope, fetches again for a key published since, and cannot be
//! made to fetch per request by made-up kids.

use std::{
    sync::{Arc, Mutex},
    time::{Duration, Instant},
};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use resource_server::{JwksCache, Verifier, discover, fetch_from};
use serde_json::{Value, json};

use crate::{
    signing::{header, key_set, kid, new_key},
    support::{Backend, Database, PASSWORD, TestApp},
};

const COOL_DOWN: Duration = Duration::from_millis(500);

fn start(database: &Database, keys: &[&Value]) -> TestApp {
    let set = key_set(keys);
    TestApp::start(
        database.url(),
        &[
            ("AUTH__ALGORITHM", "EdDSA"),
            ("AUTH__SIGNING_KEYS", &set),
            ("AUTH__SCOPES", "items:read"),
            ("AUTH__DEFAULT_SCOPES", "me items:read"),
            ("AUTH__AUDIENCE", "items-api"),
        ],
    )
}

/// `GET /items` on the resource server: status and body.
fn items(server: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = ureq::get(&format!("{server}/items"));
    if let Some(token) = token {
        request = request.set("Authorization", &format!("Bearer {token}"));
    }
    match request.call() {
        Ok(response) | Err(ureq::Error::Status(_, response)) => (
            response.status(),
            response.into_json().unwrap_or(Value::Null),
        ),
        Err(error) => panic!("GET /items: {error}"),
    }
}

fn the_example_resource_server_verifies_offline_and_guards_by_scope(backend: Backend) {
    let Some(database) = Database::fresh(backend) else {
        return;
    };
    let (old, new) = (new_key("EdDSA"), new_key("EdDSA"));
    // Two instances behind one name: `current` is the JWKS URL the
    // resource server reaches, moved from the first to the second as a
    // load balancer would once all instances run the next step.
    let first = start(&database, &[&old]);
    let second = start(&database, &[&new, &old]);
    let metadata = discover(&first.base).unwrap();
    assert_eq!(metadata.jwks_uri, first.url("/.well-known/jwks.json"));
    let current = Arc::new(Mutex::new(metadata.jwks_uri.clone()));
    let reached = Arc::clone(&current);
    let keys = JwksCache::new(
        move || fetch_from(reached.lock().unwrap().clone())(),
        COOL_DOWN,
    );
    let verifier = Arc::new(Verifier::new(
        keys,
        metadata.issuer,
        Some("items-api".into()),
    ));
    let server = format!(
        "http://{}",
        resource_server::spawn(Arc::clone(&verifier)).unwrap()
    );

    assert_eq!(first.register("agent47", PASSWORD).status, 201);
    let login = first.login("agent47", PASSWORD);
    let token = login.str("access_token");
    let (status, body) = items(&server, Some(&token));
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["owner"], "agent47");
    assert_eq!(verifier.keys().fetches(), 1);

    // Refusals: no token, a token without the scope, an altered one.
    assert_eq!(items(&server, None).0, 401);
    let narrow = first
        .login_with_scope("agent47", PASSWORD, "me")
        .str("access_token");
    assert_eq!(items(&server, Some(&narrow)).0, 403);
    // (A middle character: the last one of a signature may only carry
    // padding bits, which decoders ignore.)
    let at = token.len() - 10;
    let flipped = if &token[at..=at] == "A" { "B" } else { "A" };
    let altered = format!("{}{flipped}{}", &token[..at], &token[at + 1..]);
    assert_eq!(items(&server, Some(&altered)).0, 401);

    // Made-up kids: every one refused, and not one fetch per request: at
    // most one when the loop begins and one per cool-down it lasts (timed,
    // so that a loaded host cannot fail it).
    let began = Instant::now();
    for forged in 0..20 {
        let mut header = Header::new(Algorithm::HS256);
        header.kid = Some(format!("forged-{forged}"));
        let claims: Value = json!({"sub": "root", "scope": "items:read"});
        let forged =
            jsonwebtoken::encode(&header, &claims, &EncodingKey::from_secret(b"x")).unwrap();
        assert_eq!(items(&server, Some(&forged)).0, 401);
    }
    let cool_downs = began.elapsed().as_millis() / COOL_DOWN.as_millis();
    let allowed = 1 + 1 + usize::try_from(cool_downs).unwrap();
    assert!(
        verifier.keys().fetches() <= allowed,
        "{} fetches, {allowed} allowed",
        verifier.keys().fetches()
    );

    // A token of the new key, once its JWKS is what the server reaches and
    // the cool-down has passed: fetched for its unknown kid, then accepted;
    // the old key's tokens still pass.
    *current.lock().unwrap() = second.url("/.well-known/jwks.json");
    std::thread::sleep(COOL_DOWN + Duration::from_millis(100));
    let newer = second.login("agent47", PASSWORD).str("access_token");
    assert_eq!(header(&newer)["kid"], kid(&new));
    let before = verifier.keys().fetches();
    assert_eq!(items(&server, Some(&newer)).0, 200);
    assert_eq!(verifier.keys().fetches(), before + 1);
    assert_eq!(items(&server, Some(&token)).0, 200);
    assert_eq!(items(&server, Some(&newer)).0, 200);
    assert_eq!(verifier.keys().fetches(), before + 1, "cached since");
}

crate::on_both_backends!(the_example_resource_server_verifies_offline_and_guards_by_scope);
