//! API keys and introspection (docs/api.md §10), as a machine client and a
//! resource server use them: a key made by a user, used as a bearer and in
//! `X-API-Key`, asked about by a second key holding `introspect`, listed,
//! revoked; and keys whose user is deactivated or deleted.

use serde_json::{Value, json};

use crate::{
    admin::spawn_admin,
    support::{Backend, Reply, TestApp},
};

crate::on_both_backends!(
    a_machine_client_uses_a_key_that_a_resource_server_introspects,
    keys_stop_with_their_user_and_administrators_revoke_them,
);

fn create_key(app: &TestApp, token: &str, body: &Value) -> Reply {
    app.post_json_bearer("/api/auth/api-keys", token, body)
}

/// A key of the caller's, checked to be shown as §10 writes it.
fn new_key(app: &TestApp, token: &str, body: &Value) -> (String, i64) {
    let created = create_key(app, token, body);
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.header("Cache-Control"), Some("no-store"));
    let data = &created.body["data"];
    let key = data["key"].as_str().expect("the key is shown").to_owned();
    assert!(key.starts_with("zk_") && key.len() >= 3 + 22, "{key}");
    assert_eq!(data["prefix"], key[3..11]);
    (key, data["id"].as_i64().unwrap())
}

fn introspect(app: &TestApp, caller: &str, token: &str) -> Reply {
    let reply = app.send(
        "POST",
        "/api/auth/token/introspect",
        Some(caller),
        &[],
        Some(&json!({"token": token})),
    );
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply
}

fn a_machine_client_uses_a_key_that_a_resource_server_introspects(backend: Backend) {
    let Some((app, _db, admin)) = spawn_admin(backend, &[("AUTH__SCOPES", "items:read")]) else {
        return;
    };
    let (alice, _) = app.signed_in("alice");
    let (key, id) = new_key(
        &app,
        &alice,
        &json!({"name": "ci deploy", "expires_in_days": 30}),
    );

    for headers in [
        vec![("Authorization", format!("Bearer {key}"))],
        vec![("X-API-Key", key.clone())],
    ] {
        let headers: Vec<(&str, &str)> = headers.iter().map(|(n, v)| (*n, v.as_str())).collect();
        let me = app.send("GET", "/api/auth/users/me", None, &headers, None);
        assert_eq!(me.status, 200, "{}", me.body);
        assert_eq!(me.body["data"]["username"], "alice");
    }
    // A key cannot make keys, nor change the password.
    create_key(&app, &key, &json!({"name": "child"})).assert_error(
        403,
        "403_FORBIDDEN",
        "Not enough permissions.",
    );

    // A resource server: granted `introspect` by an administrator, it
    // holds a key with that scope alone.
    let (resource, _) = app.signed_in("resource");
    let granted = app.patch_json_bearer(
        "/api/admin/users/resource",
        &admin,
        &json!({"scopes": ["introspect", "me"]}),
    );
    assert_eq!(granted.status, 200, "{}", granted.body);
    let (server_key, _) = new_key(
        &app,
        &resource,
        &json!({"name": "resource server", "scopes": ["introspect"]}),
    );

    let about_key = introspect(&app, &server_key, &key);
    assert_eq!(about_key.body["active"], true, "{}", about_key.body);
    assert_eq!(about_key.body["sub"], "alice");
    assert_eq!(about_key.body["scope"], "me");
    assert_eq!(about_key.body["token_type"], "api_key");
    assert_eq!(about_key.body["iss"], "zentra");
    let lifetime =
        about_key.body["exp"].as_u64().unwrap() - about_key.body["iat"].as_u64().unwrap();
    assert_eq!(lifetime, 30 * 86_400);
    let about_token = introspect(&app, &server_key, &alice);
    assert_eq!(about_token.body["token_type"], "access_token");
    assert_eq!(about_token.body["sub"], "alice");
    assert_eq!(
        introspect(&app, &server_key, "zk_made_up").body,
        json!({"active": false})
    );
    // Alice's key lacks `introspect`: it may not ask.
    app.send(
        "POST",
        "/api/auth/token/introspect",
        Some(&key),
        &[],
        Some(&json!({"token": alice})),
    )
    .assert_insufficient_scope("introspect");

    // Listed without its secret, with its last use.
    let listed = app.get_bearer("/api/auth/api-keys", &alice);
    assert_eq!(listed.status, 200, "{}", listed.body);
    let keys = listed.body["data"]["keys"].as_array().unwrap();
    assert_eq!(keys.len(), 1);
    assert_eq!(keys[0]["id"], id);
    assert_eq!(keys[0]["name"], "ci deploy");
    assert!(keys[0].get("key").is_none(), "never the secret again");
    assert!(keys[0]["last_used_at"].is_string(), "{}", keys[0]);
    assert!(!listed.body.to_string().contains(&key));

    // Revoked: 401 at once, inactive to the resource server.
    let path = format!("/api/auth/api-keys/{id}");
    let revoked = app.delete_bearer(&path, &alice);
    assert_eq!(revoked.status, 200, "{}", revoked.body);
    assert_eq!(revoked.body["message"], "API key revoked.");
    app.get("/api/auth/users/me", Some(&key)).assert_error(
        401,
        "401_UNAUTHORIZED",
        "Could not validate credentials.",
    );
    assert_eq!(
        introspect(&app, &server_key, &key).body,
        json!({"active": false})
    );
    app.delete_bearer(&path, &alice)
        .assert_error(404, "404_NOT_FOUND", "API key not found.");

    let events = app.get_bearer("/api/auth/users/me/events", &alice);
    let actions: Vec<&str> = events.body["data"]["events"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(|event| event["action"].as_str())
        .collect();
    assert!(actions.contains(&"api_key.created"), "{actions:?}");
    assert!(actions.contains(&"api_key.revoked"), "{actions:?}");
}

fn keys_stop_with_their_user_and_administrators_revoke_them(backend: Backend) {
    let Some((app, _db, admin)) = spawn_admin(backend, &[]) else {
        return;
    };
    let (alice, _) = app.signed_in("alice");
    let (key, id) = new_key(&app, &alice, &json!({"name": "one"}));
    let patch = |body: Value| {
        let reply = app.patch_json_bearer("/api/admin/users/alice", &admin, &body);
        assert_eq!(reply.status, 200, "{}", reply.body);
    };

    patch(json!({"is_active": false}));
    app.get("/api/auth/users/me", Some(&key)).assert_error(
        400,
        "400_BAD_REQUEST",
        "Inactive user.",
    );
    patch(json!({"is_active": true}));
    assert_eq!(app.get("/api/auth/users/me", Some(&key)).status, 200);

    let listed = app.get_bearer("/api/admin/users/alice/api-keys", &admin);
    assert_eq!(listed.status, 200, "{}", listed.body);
    assert_eq!(listed.body["data"]["keys"][0]["id"], id);
    let path = format!("/api/admin/users/alice/api-keys/{id}");
    assert_eq!(app.delete_bearer(&path, &admin).status, 200);
    app.delete_bearer(&path, &admin)
        .assert_error(404, "404_NOT_FOUND", "API key not found.");
    app.get("/api/auth/users/me", Some(&key)).assert_error(
        401,
        "401_UNAUTHORIZED",
        "Could not validate credentials.",
    );
    app.get_bearer("/api/admin/users/nobody/api-keys", &admin)
        .assert_error(404, "404_NOT_FOUND", "User not found.");

    let (second, _) = new_key(&app, &alice, &json!({"name": "two"}));
    assert_eq!(app.get("/api/auth/users/me", Some(&second)).status, 200);
    let deleted = app.delete_bearer("/api/admin/users/alice", &admin);
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    app.get("/api/auth/users/me", Some(&second)).assert_error(
        401,
        "401_UNAUTHORIZED",
        "Could not validate credentials.",
    );
}
