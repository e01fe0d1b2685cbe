//! `/.well-known/jwks.json` and `/.well-known/oauth-authorization-server`
//! (docs/api.md §12).

use adapters_crypto::{JwtAlgorithm, SigningKeys};

use super::*;

fn with_http(http: HttpSettings) -> TestApp {
    TestApp {
        http,
        ..TestApp::new(MockUserRepository::new())
    }
}

/// What the route serves by default; that HS* gives it no key is the app's
/// mapping (`startup::public_jwks`, and `tests/e2e/signing.rs`).
#[actix_web::test]
async fn by_default_the_jwks_is_empty_and_cacheable_for_five_minutes() {
    let app = app(MockUserRepository::new()).await;
    let (status, headers, json) =
        send(&app, TestRequest::get().uri("/.well-known/jwks.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json, json!({"keys": []}));
    assert_eq!(
        headers.get(header::CACHE_CONTROL).unwrap(),
        "public, max-age=300"
    );
    assert_eq!(
        headers.get(header::CONTENT_TYPE).unwrap(),
        "application/json"
    );
}

#[actix_web::test]
async fn the_jwks_serves_the_public_keys_it_is_given() {
    let jwk = SigningKeys::generate(JwtAlgorithm::EdDsa).unwrap();
    let private: Value = serde_json::from_str(&jwk).unwrap();
    let public = SigningKeys::parse(&jwk).unwrap().public_jwks();
    let app = with_http(HttpSettings {
        jwks: public.clone(),
        ..HttpSettings::default()
    })
    .start()
    .await;
    let (status, _, json) = send(&app, TestRequest::get().uri("/.well-known/jwks.json")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json, public);
    assert_eq!(json["keys"][0]["kid"], private["kid"]);
    assert!(json["keys"][0].get("d").is_none(), "{json}");
}

#[actix_web::test]
async fn the_metadata_names_the_issuer_and_absolute_endpoints() {
    let app = with_http(HttpSettings {
        public_url: "https://auth.example.com".into(),
        ..HttpSettings::default()
    })
    .start()
    .await;
    let (status, headers, json) = send(
        &app,
        TestRequest::get().uri("/.well-known/oauth-authorization-server"),
    )
    .await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(
        headers.get(header::CONTENT_TYPE).unwrap(),
        "application/json"
    );
    assert_eq!(
        json,
        json!({
            "issuer": "zentra",
            "token_endpoint": "https://auth.example.com/api/auth/token",
            "jwks_uri": "https://auth.example.com/.well-known/jwks.json",
            "introspection_endpoint": "https://auth.example.com/api/auth/token/introspect",
            "scopes_supported": ["admin", "introspect", "items:read", "me"],
            "grant_types_supported": ["password", "refresh_token"],
            "token_endpoint_auth_methods_supported": ["none"],
            "response_types_supported": [],
        })
    );
}

#[actix_web::test]
async fn head_answers_as_get_and_other_methods_get_405() {
    let app = app(MockUserRepository::new()).await;
    for uri in [
        "/.well-known/jwks.json",
        "/.well-known/oauth-authorization-server",
    ] {
        let get = test::call_service(&app, TestRequest::get().uri(uri).to_request()).await;
        let head = test::call_service(
            &app,
            TestRequest::default()
                .method(Method::HEAD)
                .uri(uri)
                .to_request(),
        )
        .await;
        assert_eq!(head.status(), StatusCode::OK, "{uri}");
        assert_eq!(
            head.headers().get(header::CACHE_CONTROL),
            get.headers().get(header::CACHE_CONTROL),
            "{uri}"
        );
        let (status, headers, _) = send(&app, TestRequest::post().uri(uri)).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{uri}");
        assert_eq!(headers.get(header::ALLOW).unwrap(), "GET, HEAD");
    }
}

#[actix_web::test]
async fn both_documents_are_in_the_openapi_document() {
    let document = crate::openapi::document(&catalogue().known().clone());
    let document = serde_json::to_value(document).unwrap();
    for path in [
        "/.well-known/jwks.json",
        "/.well-known/oauth-authorization-server",
    ] {
        assert!(document["paths"][path]["get"].is_object(), "{path}");
    }
}
