//! Tokens other services verify without the secret (docs/api.md §12): the
//! JWKS and the discovery document of the live service, tokens checked by an
//! independent implementation — PyJWT's `PyJWKClient`, run as a subprocess —
//! and a key rotation across two instances that share one database.
//!
//! Without python3 and PyJWT the PyJWT checks skip with a notice, unless
//! `ZENTRA_REQUIRE_PYJWT=1` (set by `.ci/run`, which installs it).

use std::process::Command;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::support::{ACCESS_SECRET, Backend, Database, PASSWORD, TestApp, binary, now};

const REQUIRE_VAR: &str = "ZENTRA_REQUIRE_PYJWT";

/// Verifies each token of the JSON list on stdin as a resource server
/// would: the JWKS found through the discovery document, the key chosen by
/// the token's kid, the one algorithm expected, iss, aud (when given), exp.
/// Prints one result per token: the claims, or the exception's name.
const VERIFIER: &str = r#"
import json, sys, urllib.request
import jwt
base, algorithm, audience = sys.argv[1], sys.argv[2], sys.argv[3] or None
with urllib.request.urlopen(base + "/.well-known/oauth-authorization-server", timeout=10) as answer:
    metadata = json.load(answer)
client = jwt.PyJWKClient(metadata["jwks_uri"], timeout=10)
results = []
for token in json.load(sys.stdin):
    try:
        key = client.get_signing_key_from_jwt(token)
        claims = jwt.decode(token, key.key, algorithms=[algorithm], issuer=metadata["issuer"],
                            audience=audience, options={"require": ["exp", "iss", "sub"]})
        results.append({"kid": key.key_id, "claims": claims})
    except Exception as error:
        results.append({"error": type(error).__name__})
print(json.dumps(results))
"#;

/// Whether PyJWT can run here; panics when it must and cannot.
fn pyjwt_available() -> bool {
    crate::support::python_can_import("jwt, cryptography", REQUIRE_VAR, "'PyJWT[crypto]'")
}

/// PyJWT's verdict on each of `tokens`, against the live service at `app`.
fn pyjwt(app: &TestApp, algorithm: &str, audience: Option<&str>, tokens: &[&str]) -> Vec<Value> {
    let input = json!(tokens).to_string();
    let args = [app.base.as_str(), algorithm, audience.unwrap_or("")];
    let output = crate::support::python(VERIFIER, &args, &input, "the PyJWT verifier failed");
    serde_json::from_slice(&output).unwrap()
}

/// `zentra new-key --algorithm ALG`: a private JWK.
pub fn new_key(algorithm: &str) -> Value {
    let output = Command::new(binary())
        .args(["new-key", "--algorithm", algorithm])
        .env_clear()
        .output()
        .expect("zentra new-key");
    assert!(output.status.success(), "{output:?}");
    serde_json::from_slice(&output.stdout).expect("a JWK")
}

pub fn key_set(keys: &[&Value]) -> String {
    json!({ "keys": keys }).to_string()
}

pub fn kid(jwk: &Value) -> &str {
    jwk["kid"].as_str().unwrap()
}

/// A token's header.
pub fn header(token: &str) -> Value {
    let segment = token.split('.').next().unwrap();
    serde_json::from_slice(&URL_SAFE_NO_PAD.decode(segment).unwrap()).unwrap()
}

fn me(app: &TestApp, token: &str) -> u16 {
    app.get("/api/auth/users/me", Some(token)).status
}

fn tokens_verify_offline_with_pyjwt_against_the_live_jwks(backend: Backend) {
    if !pyjwt_available() {
        return;
    }
    for (algorithm, audience) in [("EdDSA", Some("orders-api")), ("ES256", None)] {
        let jwk = new_key(algorithm);
        let keys = key_set(&[&jwk]);
        let mut extra = vec![
            ("AUTH__ALGORITHM", algorithm),
            ("AUTH__SIGNING_KEYS", keys.as_str()),
            ("AUTH__ISSUER", "https://auth.example.test"),
        ];
        if let Some(audience) = audience {
            extra.push(("AUTH__AUDIENCE", audience));
        }
        let Some((app, _db)) = TestApp::spawn_with(backend, &extra) else {
            return;
        };
        let (access, _) = app.signed_in("agent47");
        assert_eq!(header(&access)["alg"], algorithm);
        assert_eq!(header(&access)["kid"], kid(&jwk));

        // Forgeries: another subject under the real signature; HS256 keyed
        // with the published public key (algorithm confusion).
        let (head, rest) = access.split_once('.').unwrap();
        let (_, signature) = rest.split_once('.').unwrap();
        let mut claims: Value = serde_json::from_slice(
            &URL_SAFE_NO_PAD
                .decode(rest.split('.').next().unwrap())
                .unwrap(),
        )
        .unwrap();
        claims["sub"] = json!("root");
        let swapped = format!(
            "{head}.{}.{signature}",
            URL_SAFE_NO_PAD.encode(claims.to_string())
        );
        let jwks: Value = ureq::get(&app.url("/.well-known/jwks.json"))
            .call()
            .unwrap()
            .into_json()
            .unwrap();
        let mut confused = Header::new(Algorithm::HS256);
        confused.kid = Some(kid(&jwk).to_owned());
        let confused = jsonwebtoken::encode(
            &confused,
            &claims,
            &EncodingKey::from_secret(jwks["keys"][0].to_string().as_bytes()),
        )
        .unwrap();

        let results = pyjwt(&app, algorithm, audience, &[&access, &swapped, &confused]);
        let verified = &results[0];
        assert_eq!(verified["kid"], kid(&jwk), "{results:?}");
        assert_eq!(verified["claims"]["sub"], "agent47");
        assert_eq!(verified["claims"]["scope"], "me");
        assert_eq!(verified["claims"]["type"], "access");
        assert_eq!(verified["claims"]["iss"], "https://auth.example.test");
        assert_eq!(
            verified["claims"].get("aud"),
            audience.map(|a| json!(a)).as_ref()
        );
        assert_eq!(results[1]["error"], "InvalidSignatureError", "{results:?}");
        assert!(results[2]["error"].is_string(), "{results:?}");
        // The service agrees.
        assert_eq!(me(&app, &access), 200);
        assert_eq!(me(&app, &swapped), 401);
        assert_eq!(me(&app, &confused), 401);
    }
}

fn the_discovery_document_has_rfc_8414s_fields_and_leads_to_the_keys(backend: Backend) {
    let jwk = new_key("EdDSA");
    let keys = key_set(&[&jwk]);
    let Some((app, _db)) = TestApp::spawn_with(
        backend,
        &[("AUTH__ALGORITHM", "EdDSA"), ("AUTH__SIGNING_KEYS", &keys)],
    ) else {
        return;
    };
    let reply = app.get("/.well-known/oauth-authorization-server", None);
    assert_eq!(reply.status, 200);
    let metadata = &reply.body;
    // RFC 8414 §2: issuer and response_types_supported are REQUIRED, and
    // token_endpoint too unless only the implicit grant is offered; every
    // value of the *_supported members is a JSON array of strings; no
    // authorization_endpoint, as no grant uses one.
    assert_eq!(metadata["issuer"], "zentra");
    assert_eq!(metadata["response_types_supported"], json!([]));
    assert!(metadata.get("authorization_endpoint").is_none());
    for member in [
        "scopes_supported",
        "grant_types_supported",
        "token_endpoint_auth_methods_supported",
        "response_types_supported",
    ] {
        let values = metadata[member]
            .as_array()
            .unwrap_or_else(|| panic!("{member}"));
        assert!(values.iter().all(Value::is_string), "{member}");
    }
    assert_eq!(
        metadata["grant_types_supported"],
        json!(["password", "refresh_token"])
    );
    assert_eq!(
        metadata["token_endpoint_auth_methods_supported"],
        json!(["none"])
    );
    let scopes = metadata["scopes_supported"].as_array().unwrap();
    assert!(scopes.contains(&json!("me")), "{scopes:?}");
    // Absolute URLs of this very service, each answering.
    for (member, path) in [
        ("token_endpoint", "/api/auth/token"),
        ("jwks_uri", "/.well-known/jwks.json"),
        ("introspection_endpoint", "/api/auth/token/introspect"),
    ] {
        assert_eq!(metadata[member], app.url(path), "{member}");
    }
    let jwks = app.get("/.well-known/jwks.json", None);
    assert_eq!(jwks.status, 200);
    assert_eq!(jwks.header("Cache-Control"), Some("public, max-age=300"));
    assert_eq!(jwks.body["keys"].as_array().unwrap().len(), 1);
    let public = &jwks.body["keys"][0];
    assert_eq!(public["kid"], kid(&jwk));
    assert_eq!(public["alg"], "EdDSA");
    assert_eq!(public["use"], "sig");
    assert_eq!(public["x"], jwk["x"]);
    assert!(public.get("d").is_none(), "{public}");
    // HEAD answers with the GET's headers.
    let head = app.request("HEAD", "/.well-known/jwks.json");
    assert_eq!(head.status, 200);
    assert_eq!(head.header("Cache-Control"), Some("public, max-age=300"));

    // Behind a proxy the configured public URL is the base.
    let Some((proxied, _db)) = TestApp::spawn_with(
        backend,
        &[("SERVER__PUBLIC_URL", "https://auth.example.test/")],
    ) else {
        return;
    };
    let metadata = proxied
        .get("/.well-known/oauth-authorization-server", None)
        .body;
    assert_eq!(
        metadata["jwks_uri"],
        "https://auth.example.test/.well-known/jwks.json"
    );
}

fn under_hs256_the_jwks_is_empty_and_tokens_from_before_kids_still_work(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn(backend) else {
        return;
    };
    let jwks = app.get("/.well-known/jwks.json", None);
    assert_eq!(jwks.body, json!({"keys": []}));
    let (access, _) = app.signed_in("agent47");
    let head = header(&access);
    assert_eq!(head["alg"], "HS256");
    assert!(
        head["kid"]
            .as_str()
            .is_some_and(|kid| kid.starts_with("hs-")),
        "{head}"
    );
    // An access token as every one was before kids (no kid): still valid.
    let claims = json!({"sub": "agent47", "exp": now() + 600, "iat": now(), "jti": "old",
                        "type": "access", "iss": "zentra"});
    let old = jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        &claims,
        &EncodingKey::from_secret(ACCESS_SECRET.as_bytes()),
    )
    .unwrap();
    assert_eq!(me(&app, &old), 200);
}

/// Starts an instance on `database` with `keys`, as one of several behind
/// one load balancer would be.
fn instance(database: &Database, keys: &[&Value]) -> TestApp {
    let set = key_set(keys);
    TestApp::start(
        database.url(),
        &[("AUTH__ALGORITHM", "EdDSA"), ("AUTH__SIGNING_KEYS", &set)],
    )
}

fn kids_published(app: &TestApp) -> Vec<String> {
    app.get("/.well-known/jwks.json", None).body["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect()
}

fn login(app: &TestApp) -> String {
    let reply = app.login("agent47", PASSWORD);
    assert_eq!(reply.status, 202, "{}", reply.body);
    reply.str("access_token")
}

/// The README's procedure, with two instances restarted one at a time at
/// each step: no token any instance issued is refused by another until the
/// old key is dropped.
fn a_rotation_across_two_instances_refuses_nothing_until_the_old_key_is_dropped(backend: Backend) {
    let Some(database) = Database::fresh(backend) else {
        return;
    };
    let (old, new) = (new_key("EdDSA"), new_key("EdDSA"));
    let mut a = instance(&database, &[&old]);
    let mut b = instance(&database, &[&old]);
    let (old_token, refresh) = a.signed_in("agent47");
    assert_eq!(header(&old_token)["kid"], kid(&old));
    assert_eq!(me(&b, &old_token), 200);

    // 1. Publish the new key second (verify-only), one instance at a time.
    a = instance(&database, &[&old, &new]);
    assert_eq!(kids_published(&a), [kid(&old), kid(&new)]);
    assert_eq!(
        header(&login(&a))["kid"],
        kid(&old),
        "the old key still signs"
    );
    b = instance(&database, &[&old, &new]);
    for app in [&a, &b] {
        assert_eq!(me(app, &old_token), 200);
    }

    // 2. After the caches' five minutes: move it first, one at a time.
    // While `b` still runs step 1, the new key's tokens verify there.
    a = instance(&database, &[&new, &old]);
    let new_token = login(&a);
    assert_eq!(header(&new_token)["kid"], kid(&new));
    assert_eq!(me(&b, &new_token), 200);
    assert_eq!(me(&a, &login(&b)), 200);
    b = instance(&database, &[&new, &old]);
    for app in [&a, &b] {
        assert_eq!(me(app, &old_token), 200);
        assert_eq!(me(app, &new_token), 200);
    }
    if pyjwt_available() {
        let results = pyjwt(&b, "EdDSA", None, &[&old_token, &new_token]);
        assert_eq!(results[0]["kid"], kid(&old), "{results:?}");
        assert_eq!(results[1]["kid"], kid(&new), "{results:?}");
    }

    // 3. After the access lifetime: drop the old key.
    a = instance(&database, &[&new]);
    b = instance(&database, &[&new]);
    for app in [&a, &b] {
        assert_eq!(kids_published(app), [kid(&new)]);
        assert_eq!(me(app, &old_token), 401);
        assert_eq!(me(app, &new_token), 200);
    }
    // Sessions go on throughout: refresh tokens are HMAC, untouched.
    let refreshed = b.post_json(
        "/api/auth/token/refresh",
        &json!({"refresh_token": refresh}),
    );
    assert_eq!(refreshed.status, 201, "{}", refreshed.body);
    assert_eq!(header(&refreshed.str("access_token"))["kid"], kid(&new));
}

crate::on_both_backends!(
    tokens_verify_offline_with_pyjwt_against_the_live_jwks,
    the_discovery_document_has_rfc_8414s_fields_and_leads_to_the_keys,
    under_hs256_the_jwks_is_empty_and_tokens_from_before_kids_still_work,
    a_rotation_across_two_instances_refuses_nothing_until_the_old_key_is_dropped,
);
