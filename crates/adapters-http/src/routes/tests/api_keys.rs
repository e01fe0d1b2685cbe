//! API keys and introspection (docs/api.md §10) through the real routes,
//! the real key minter and a mocked key store.

use domain::{ApiKey, ApiKeyMinter, KeyName};
use secrecy::ExposeSecret;

use super::*;

/// A key really minted, its stored row (of `owner`, with `granted`) and
/// a store that finds it by its digest and accepts its use.
fn stored_key(owner: User, granted: &str) -> (String, MockApiKeyRepository) {
    let minted = Sha256KeyMinter.mint().unwrap();
    let key = ApiKey {
        id: 9,
        user_id: owner.id,
        name: KeyName::parse("ci").unwrap(),
        prefix: minted.prefix.clone(),
        scopes: scopes(granted),
        created_at: CREATED_AT,
        expires_at: u64::MAX / 2,
        last_used_at: None,
    };
    let digest = minted.digest.clone();
    let mut keys = MockApiKeyRepository::new();
    keys.expect_find()
        .returning(move |found| Ok((*found == digest).then(|| (key.clone(), owner.clone()))));
    keys.expect_touch().returning(|_, _| Ok(()));
    (minted.secret.expose_secret().to_owned(), keys)
}

/// A store nobody may read: a call would fail the request with a 500.
fn untouched_keys() -> MockApiKeyRepository {
    MockApiKeyRepository::new()
}

#[actix_web::test]
async fn a_key_reads_its_owner_as_a_bearer_or_in_x_api_key() {
    for header_name in [header::AUTHORIZATION.as_str(), "x-api-key"] {
        let (key, keys) = stored_key(stored_user("agent47", true), "me");
        // No user lookup by name: the key's row brings its owner.
        let app = TestApp::new(MockUserRepository::new())
            .with_api_keys(keys)
            .start()
            .await;
        let value = if header_name == "x-api-key" {
            key.clone()
        } else {
            format!("Bearer {key}")
        };
        let (status, _, json) = send(
            &app,
            TestRequest::get()
                .uri("/api/auth/users/me")
                .insert_header((header_name, value)),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{header_name}: {json}");
        assert_eq!(json["data"]["username"], "agent47");
    }
}

#[actix_web::test]
async fn a_key_with_a_broken_checksum_is_401_without_a_store_read() {
    let (key, _) = stored_key(stored_user("agent47", true), "me");
    let mut broken = key.into_bytes();
    let last = broken.len() - 1;
    broken[last] = if broken[last] == b'A' { b'B' } else { b'A' };
    let broken = String::from_utf8(broken).unwrap();
    let app = TestApp::new(MockUserRepository::new())
        .with_api_keys(untouched_keys())
        .start()
        .await;
    for request in [
        TestRequest::get().insert_header(bearer(&broken)),
        TestRequest::get().insert_header(("x-api-key", broken.as_str())),
        // A JWT is no key: never read as a token from this header.
        TestRequest::get().insert_header(("x-api-key", access_token_for("agent47"))),
    ] {
        let (status, headers, json) = send(&app, request.uri("/api/auth/users/me")).await;
        assert_error(
            &json,
            401,
            "401_UNAUTHORIZED",
            "Could not validate credentials.",
        );
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert!(headers.contains_key(header::WWW_AUTHENTICATE));
    }
}

#[actix_web::test]
async fn a_key_without_the_routes_scope_is_403_with_the_challenge() {
    let (key, keys) = stored_key(
        User {
            scopes: scopes("items:read me"),
            ..stored_user("agent47", true)
        },
        "items:read",
    );
    let app = TestApp::new(MockUserRepository::new())
        .with_api_keys(keys)
        .start()
        .await;
    let (status, headers, json) = send(
        &app,
        TestRequest::get()
            .uri("/api/auth/users/me")
            .insert_header(bearer(&key)),
    )
    .await;
    assert_eq!(status, StatusCode::FORBIDDEN, "{json}");
    assert_eq!(
        headers.get(header::WWW_AUTHENTICATE).unwrap(),
        r#"Bearer error="insufficient_scope", scope="me""#
    );
}

#[actix_web::test]
async fn a_key_of_a_deactivated_user_is_400_inactive() {
    let (key, keys) = stored_key(stored_user("agent47", false), "me");
    let app = TestApp::new(MockUserRepository::new())
        .with_api_keys(keys)
        .start()
        .await;
    let (_, _, json) = send(
        &app,
        TestRequest::get()
            .uri("/api/auth/users/me")
            .insert_header(bearer(&key)),
    )
    .await;
    assert_error(&json, 400, "400_BAD_REQUEST", "Inactive user.");
}

#[actix_web::test]
async fn a_key_can_neither_make_keys_nor_change_the_password() {
    let (key, keys) = stored_key(stored_user("agent47", true), "me");
    let app = TestApp::new(MockUserRepository::new())
        .with_api_keys(keys)
        .start()
        .await;
    let create = TestRequest::post()
        .uri("/api/auth/api-keys")
        .set_json(json!({"name": "from a key"}));
    let password = TestRequest::post()
        .uri("/api/auth/users/me/password")
        .set_json(json!({"current_password": PASSWORD, "new_password": "another horse"}));
    for request in [create, password] {
        let (_, _, json) = send(&app, request.insert_header(bearer(&key))).await;
        assert_error(&json, 403, "403_FORBIDDEN", "Not enough permissions.");
    }
}

#[actix_web::test]
async fn a_created_key_is_shown_once_with_what_was_stored() {
    let mut keys = MockApiKeyRepository::new();
    keys.expect_create()
        .withf(|new, event| {
            new.scopes == scopes("me")
                && new.name.as_str() == "deploy"
                && new.expires_at == new.created_at + 30 * 86_400
                && event.action == domain::Action::ApiKeyCreated
        })
        .times(1)
        .returning(|new, _| {
            Ok(Some(ApiKey {
                id: 4,
                user_id: new.user_id,
                name: new.name.clone(),
                prefix: new.prefix.clone(),
                scopes: new.scopes.clone(),
                created_at: new.created_at,
                expires_at: new.expires_at,
                last_used_at: None,
            }))
        });
    let app = TestApp::new(only_agent47())
        .with_api_keys(keys)
        .start()
        .await;
    let (status, headers, json) = send(
        &app,
        TestRequest::post()
            .uri("/api/auth/api-keys")
            .insert_header(bearer(&access_token_for("agent47")))
            .set_json(json!({"name": " deploy ", "expires_in_days": 30})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{json}");
    assert_eq!(headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
    let data = &json["data"];
    let key = data["key"].as_str().unwrap();
    assert!(key.starts_with("zk_"));
    assert!(Sha256KeyMinter.digest(key).is_some(), "a real key");
    assert_eq!(data["prefix"], key[3..11]);
    assert_eq!(data["scopes"], json!(["me"]));
    assert_eq!(data["name"], "deploy");
    assert_eq!(data["id"], 4);
}

#[actix_web::test]
async fn bad_key_requests_are_answered_in_the_envelope() {
    let app = TestApp::new(only_agent47())
        .with_api_keys(untouched_keys())
        .start()
        .await;
    let token = access_token_for("agent47");
    for (body, code, message) in [
        (
            json!({"name": "k", "scopes": ["items:read"]}),
            400,
            "Invalid scope.",
        ),
        (
            json!({"name": "k", "scopes": ["nope"]}),
            400,
            "Invalid scope.",
        ),
        (json!({"name": "k", "scopes": []}), 400, "Invalid scope."),
        (json!({"name": ""}), 422, "Validation failed."),
        (
            json!({"name": "k", "expires_in_days": 367}),
            422,
            "Validation failed.",
        ),
        (json!({"name": "k", "extra": 1}), 422, "Validation failed."),
    ] {
        let (status, _, json) = send(
            &app,
            TestRequest::post()
                .uri("/api/auth/api-keys")
                .insert_header(bearer(&token))
                .set_json(&body),
        )
        .await;
        assert_eq!(status.as_u16(), code, "{body}: {json}");
        assert_eq!(json["message"], message, "{body}");
    }
    for path in ["/api/auth/api-keys/0", "/api/auth/api-keys/abc"] {
        let (_, _, json) = send(
            &app,
            TestRequest::delete()
                .uri(path)
                .insert_header(bearer(&token)),
        )
        .await;
        assert_error(&json, 404, "404_NOT_FOUND", "API key not found.");
    }
}

#[actix_web::test]
async fn introspection_needs_the_introspect_scope_and_answers_the_bare_rfc_object() {
    let app = TestApp::new(repository_with(vec![
        stored_user("agent47", true),
        User {
            username: Username::parse("resource").unwrap(),
            scopes: scopes("introspect me"),
            ..stored_user("resource", true)
        },
    ]))
    .start()
    .await;
    let asked = access_token_with("agent47", "me");
    let (_, _, json) = send(
        &app,
        TestRequest::post()
            .uri("/api/auth/token/introspect")
            .insert_header(bearer(&access_token_for("agent47")))
            .set_form([("token", asked.as_str())]),
    )
    .await;
    assert_error(&json, 403, "403_FORBIDDEN", "Not enough permissions.");

    let caller = access_token_with("resource", "introspect");
    for (token, active) in [(asked.as_str(), true), ("garbage", false)] {
        let (status, headers, json) = send(
            &app,
            TestRequest::post()
                .uri("/api/auth/token/introspect")
                .insert_header(bearer(&caller))
                .set_form([("token", token)]),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
        if active {
            assert_eq!(json["active"], true);
            assert_eq!(json["sub"], "agent47");
            assert_eq!(json["scope"], "me");
            assert_eq!(json["token_type"], "access_token");
            assert_eq!(json["iss"], "zentra");
            assert!(json["exp"].as_u64().unwrap() > json["iat"].as_u64().unwrap());
        } else {
            assert_eq!(json, json!({"active": false}));
        }
    }
}
