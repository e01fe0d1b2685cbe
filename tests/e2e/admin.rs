//! The first superuser and the admin API (docs/api.md §9): who may call it,
//! what each route does to a user, and what it may not do to one's own
//! account.

use std::collections::BTreeSet;

use serde_json::{Value, json};

use crate::support::{Backend, Database, PASSWORD, Reply, TestApp};

pub const ROOT: &str = "root";
pub const ROOT_PASSWORD: &str = "root password 12345";

/// The first superuser's settings, then `extra`.
pub fn with_superuser(extra: &[(&'static str, &'static str)]) -> Vec<(&'static str, &'static str)> {
    let mut settings = vec![
        ("DB__FIRST_SUPERUSER", ROOT),
        ("DB__FIRST_SUPERUSER_PASSWORD", ROOT_PASSWORD),
    ];
    settings.extend_from_slice(extra);
    settings
}

/// A service with the first superuser, and that superuser's admin token.
pub fn spawn_admin(
    backend: Backend,
    extra: &[(&'static str, &'static str)],
) -> Option<(TestApp, Database, String)> {
    let (app, db) = TestApp::spawn_with(backend, &with_superuser(extra))?;
    let admin = app.token_with_scope(ROOT, ROOT_PASSWORD, "admin");
    Some((app, db, admin))
}

fn refresh(app: &TestApp, token: &str) -> Reply {
    app.post_json("/api/auth/token/refresh", &json!({"refresh_token": token}))
}

fn user_path(username: &str) -> String {
    format!("/api/admin/users/{username}")
}

fn create(app: &TestApp, admin: &str, body: &Value) -> Reply {
    app.post_json_bearer("/api/admin/users", admin, body)
}

fn patch(app: &TestApp, admin: &str, username: &str, body: &Value) -> Reply {
    app.patch_json_bearer(&user_path(username), admin, body)
}

fn read(app: &TestApp, admin: &str, username: &str) -> Reply {
    app.get_bearer(&user_path(username), admin)
}

fn list(app: &TestApp, admin: &str, query: &str) -> Reply {
    app.get_bearer(&format!("/api/admin/users{query}"), admin)
}

/// The usernames of a list answer, in its order.
fn names(reply: &Reply) -> Vec<String> {
    assert_eq!(reply.status, 200, "{}", reply.body);
    reply.body["data"]["users"]
        .as_array()
        .unwrap_or_else(|| panic!("no users in {}", reply.body))
        .iter()
        .map(|user| user["username"].as_str().expect("a username").to_owned())
        .collect()
}

/// Asserts that `user` is an AdminUser: exactly GetUser's fields, `id`
/// and `created_at` (RFC 3339, UTC).
fn assert_admin_user(user: &Value) {
    let mut keys: Vec<&str> = user
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {user}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "created_at",
            "email",
            "full_name",
            "id",
            "is_active",
            "is_superuser",
            "phone",
            "scopes",
            "username"
        ],
        "{user}"
    );
    let created_at = user["created_at"].as_str().expect("created_at text");
    assert!(
        created_at.len() == 20
            && created_at.ends_with('Z')
            && created_at.as_bytes()[4] == b'-'
            && created_at.as_bytes()[10] == b'T',
        "not RFC 3339 UTC: {created_at}"
    );
    assert!(created_at.starts_with("20"), "{created_at}");
    assert!(!user["id"].is_null(), "{user}");
}

fn not_found(reply: &Reply) {
    reply.assert_error(404, "404_NOT_FOUND", "User not found.");
}

fn own_account(reply: &Reply) {
    reply.assert_error(403, "403_FORBIDDEN", "Not allowed on your own account.");
}

fn forbidden(reply: &Reply) {
    reply.assert_error(403, "403_FORBIDDEN", "Not enough permissions.");
}

// --- the first superuser -------------------------------------------------------

fn the_first_superuser_comes_from_the_environment(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn_with(backend, &with_superuser(&[])) else {
        return;
    };
    // Admin is granted only when asked for.
    let plain = app.login(ROOT, ROOT_PASSWORD);
    assert_eq!(plain.status, 202, "{}", plain.body);
    assert_eq!(plain.str("scope"), "me");
    let me = app.get("/api/auth/users/me", Some(&plain.str("access_token")));
    assert_eq!(me.status, 200, "{}", me.body);
    assert_eq!(
        me.body["data"],
        json!({"username": ROOT, "email": null, "phone": null, "full_name": null,
               "is_active": true, "is_superuser": true, "scopes": ["admin", "me"]})
    );
    forbidden(&list(&app, &plain.str("access_token"), ""));

    let admin = app.token_with_scope(ROOT, ROOT_PASSWORD, "admin");
    let users = list(&app, &admin, "");
    assert_eq!(names(&users), [ROOT]);
    assert_eq!(users.body["data"]["total"], 1);
    assert_eq!(users.body["headers"]["WWW-Authenticate"], "Bearer");
    assert_admin_user(&users.body["data"]["users"][0]);
    // Both at once, too.
    app.token_with_scope(ROOT, ROOT_PASSWORD, "admin me");
}

fn instances_starting_together_create_one_first_superuser(backend: Backend) {
    let Some(database) = Database::fresh(backend) else {
        return;
    };
    let settings = with_superuser(&[]);
    let (first, second) = std::thread::scope(|scope| {
        let a = scope.spawn(|| TestApp::start(database.url(), &settings));
        let b = scope.spawn(|| TestApp::start(database.url(), &settings));
        (a.join().unwrap(), b.join().unwrap())
    });
    for app in [&first, &second] {
        let admin = app.token_with_scope(ROOT, ROOT_PASSWORD, "admin");
        let users = list(app, &admin, "");
        assert_eq!(names(&users), [ROOT], "{}", users.body);
        assert_eq!(users.body["data"]["total"], 1);
    }
    drop((first, second));
    // A restart finds it and leaves it alone.
    let third = TestApp::start(database.url(), &settings);
    let admin = third.token_with_scope(ROOT, ROOT_PASSWORD, "admin");
    assert_eq!(names(&list(&third, &admin, "")), [ROOT]);
}

fn an_existing_user_of_that_name_is_never_touched(backend: Backend) {
    let Some(database) = Database::fresh(backend) else {
        return;
    };
    let before = TestApp::start(database.url(), &[]);
    assert_eq!(before.register(ROOT, PASSWORD).status, 201);
    let hash = database.stored_password_hash(ROOT);
    drop(before);

    let app = TestApp::start(database.url(), &with_superuser(&[]));
    assert_eq!(database.stored_password_hash(ROOT), hash);
    app.login(ROOT, ROOT_PASSWORD).assert_error(
        401,
        "401_UNAUTHORIZED",
        "Incorrect username or password.",
    );
    let tokens = app.login_with_scope(ROOT, PASSWORD, "admin me");
    assert_eq!(tokens.status, 202, "{}", tokens.body);
    assert_eq!(tokens.str("scope"), "me");
    let access = tokens.str("access_token");
    let me = app.get("/api/auth/users/me", Some(&access));
    assert_eq!(me.body["data"]["is_superuser"], false);
    assert_eq!(me.body["data"]["scopes"], json!(["me"]));
    assert_eq!(me.body["data"]["is_active"], true);
    let attempt = app.login_with_scope(ROOT, PASSWORD, "admin");
    assert_eq!(attempt.status, 202);
    assert_eq!(attempt.str("scope"), "");
    list(&app, &attempt.str("access_token"), "").assert_insufficient_scope("admin");
}

// --- the admin API -------------------------------------------------------------

fn users_are_listed_searched_and_paged(backend: Backend) {
    let Some((app, _db, admin)) = spawn_admin(backend, &[]) else {
        return;
    };
    for i in 0..12 {
        assert_eq!(app.register(&format!("user{i:02}"), PASSWORD).status, 201);
    }
    assert_eq!(app.register("Other.Name", PASSWORD).status, 201);
    let everyone: BTreeSet<String> = (0..12)
        .map(|i| format!("user{i:02}"))
        .chain([ROOT.to_owned(), "Other.Name".to_owned()])
        .collect();

    let default = list(&app, &admin, "");
    assert_eq!(default.body["data"]["page"], 1);
    assert_eq!(default.body["data"]["per_page"], 50);
    assert_eq!(default.body["data"]["total"], 14);
    assert_eq!(
        names(&default).into_iter().collect::<BTreeSet<_>>(),
        everyone
    );
    for user in default.body["data"]["users"].as_array().unwrap() {
        assert_admin_user(user);
    }

    // Pages of 5: 5, 5, 4, then none; every user on exactly one page.
    let mut seen = Vec::new();
    for (page, expected) in [(1, 5), (2, 5), (3, 4), (4, 0)] {
        let reply = list(&app, &admin, &format!("?page={page}&per_page=5"));
        assert_eq!(reply.body["data"]["page"], page);
        assert_eq!(reply.body["data"]["per_page"], 5);
        assert_eq!(reply.body["data"]["total"], 14);
        let on_page = names(&reply);
        assert_eq!(on_page.len(), expected, "page {page}: {on_page:?}");
        seen.extend(on_page);
    }
    assert_eq!(seen.len(), 14, "{seen:?}");
    assert_eq!(seen.into_iter().collect::<BTreeSet<_>>(), everyone);

    // A case-insensitive username substring.
    let search = list(&app, &admin, "?q=USER1");
    assert_eq!(
        names(&search).into_iter().collect::<BTreeSet<_>>(),
        BTreeSet::from(["user10".to_owned(), "user11".to_owned()])
    );
    assert_eq!(search.body["data"]["total"], 2);
    assert_eq!(names(&list(&app, &admin, "?q=other.")), ["Other.Name"]);
    let paged_search = list(&app, &admin, "?q=user&per_page=10&page=2");
    assert_eq!(paged_search.body["data"]["total"], 12);
    assert_eq!(names(&paged_search).len(), 2);
    let none = list(&app, &admin, "?q=nobody-here");
    assert_eq!(none.body["data"]["total"], 0);
    assert!(names(&none).is_empty());
    // A substring with LIKE's wildcards matches them literally.
    assert!(names(&list(&app, &admin, "?q=%25")).is_empty());
    assert!(names(&list(&app, &admin, "?q=_")).is_empty());

    for query in [
        "?per_page=0",
        "?per_page=201",
        "?per_page=x",
        "?per_page=-1",
    ] {
        list(&app, &admin, query).assert_invalid("per_page");
    }
    for query in ["?page=0", "?page=x"] {
        list(&app, &admin, query).assert_invalid("page");
    }
    assert_eq!(names(&list(&app, &admin, "?per_page=200")).len(), 14);
}

fn users_are_created_and_read(backend: Backend) {
    let Some((app, _db, admin)) = spawn_admin(backend, &[("AUTH__SCOPES", "items:read")]) else {
        return;
    };
    let created = create(
        &app,
        &admin,
        &json!({"username": "carol", "password": "carol's password", "is_active": true,
                "is_superuser": false, "scopes": ["me", "items:read"],
                "email": "Carol@Example.com", "phone": "+4412345678", "full_name": "Carol C"}),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    assert_eq!(created.body["response"], "201_CREATED");
    let carol = &created.body["data"];
    assert_admin_user(carol);
    assert_eq!(carol["username"], "carol");
    assert_eq!(carol["email"], "carol@example.com");
    assert_eq!(carol["phone"], "+4412345678");
    assert_eq!(carol["full_name"], "Carol C");
    assert_eq!(carol["is_active"], true);
    assert_eq!(carol["is_superuser"], false);
    assert_eq!(carol["scopes"], json!(["items:read", "me"]));
    let got = read(&app, &admin, "carol");
    assert_eq!(got.status, 200, "{}", got.body);
    assert_eq!(&got.body["data"], carol);

    // Carol can sign in with what the administrator set.
    let tokens = app.login("carol", "carol's password");
    assert_eq!(tokens.status, 202, "{}", tokens.body);
    assert_eq!(tokens.str("scope"), "items:read me");

    // The least a creation needs; the rest takes the defaults.
    let dave = create(
        &app,
        &admin,
        &json!({"username": "dave", "password": PASSWORD}),
    );
    assert_eq!(dave.status, 201, "{}", dave.body);
    assert_eq!(dave.body["data"]["is_active"], true);
    assert_eq!(dave.body["data"]["is_superuser"], false);
    assert_eq!(dave.body["data"]["scopes"], json!(["me"]));
    assert_eq!(dave.body["data"]["email"], Value::Null);

    // Another superuser.
    let eve = create(
        &app,
        &admin,
        &json!({"username": "eve", "password": PASSWORD, "is_superuser": true,
                "scopes": ["admin", "me"]}),
    );
    assert_eq!(eve.status, 201, "{}", eve.body);
    assert_eq!(eve.body["data"]["is_superuser"], true);
    assert_eq!(eve.body["data"]["scopes"], json!(["admin", "me"]));
    let eve_admin = app.token_with_scope("eve", PASSWORD, "admin");
    assert_eq!(list(&app, &eve_admin, "").body["data"]["total"], 4);

    // Refusals, and none of them creates anything.
    create(
        &app,
        &admin,
        &json!({"username": "carol", "password": PASSWORD}),
    )
    .assert_error(400, "400_BAD_REQUEST", "User already registered.");
    create(
        &app,
        &admin,
        &json!({"username": "frank", "password": PASSWORD, "email": "CAROL@example.com"}),
    )
    .assert_error(400, "400_BAD_REQUEST", "Email already in use.");
    create(
        &app,
        &admin,
        &json!({"username": "frank", "password": PASSWORD, "phone": "+4412345678"}),
    )
    .assert_error(400, "400_BAD_REQUEST", "Phone already in use.");
    create(
        &app,
        &admin,
        &json!({"username": "frank", "password": PASSWORD, "scopes": ["me", "nope"]}),
    )
    .assert_error(400, "400_BAD_REQUEST", "Invalid scope.");
    for (body, field) in [
        (json!({"username": "fr", "password": PASSWORD}), "username"),
        (
            json!({"username": "fr ank", "password": PASSWORD}),
            "username",
        ),
        (
            json!({"username": "frank", "password": "short"}),
            "password",
        ),
        (
            json!({"username": "frank", "password": "x".repeat(73)}),
            "password",
        ),
        (json!({"password": PASSWORD}), "username"),
        (json!({"username": "frank"}), "password"),
        (
            json!({"username": "frank", "password": PASSWORD, "email": "frank"}),
            "email",
        ),
        (
            json!({"username": "frank", "password": PASSWORD, "phone": "123"}),
            "phone",
        ),
        (
            json!({"username": "frank", "password": PASSWORD, "is_active": "yes"}),
            "is_active",
        ),
        (
            json!({"username": "frank", "password": PASSWORD, "scopes": ["admin"]}),
            "scopes",
        ),
    ] {
        create(&app, &admin, &body).assert_invalid(field);
    }
    // Unknown fields are refused: no mass assignment.
    let unknown = create(
        &app,
        &admin,
        &json!({"username": "frank", "password": PASSWORD, "id": 1}),
    );
    assert_eq!(unknown.status, 422, "{}", unknown.body);
    not_found(&read(&app, &admin, "frank"));
    assert_eq!(list(&app, &admin, "").body["data"]["total"], 4);
    not_found(&read(&app, &admin, "nobody"));
}

fn each_field_can_be_updated(backend: Backend) {
    let Some((app, _db, admin)) = spawn_admin(backend, &[("AUTH__SCOPES", "items:read")]) else {
        return;
    };
    let (alice, _) = app.signed_in("alice");
    let (bob, _) = app.signed_in("bob");
    assert_eq!(
        app.patch_json_bearer(
            "/api/auth/users/me",
            &bob,
            &json!({"email": "bob@example.com"})
        )
        .status,
        200
    );

    for (change, field, expected) in [
        (
            json!({"email": "Alice@Example.com"}),
            "email",
            json!("alice@example.com"),
        ),
        (
            json!({"phone": "+4412345678"}),
            "phone",
            json!("+4412345678"),
        ),
        (
            json!({"full_name": "Alice A"}),
            "full_name",
            json!("Alice A"),
        ),
        (
            json!({"scopes": ["items:read", "me"]}),
            "scopes",
            json!(["items:read", "me"]),
        ),
        (json!({"full_name": null}), "full_name", Value::Null),
    ] {
        let updated = patch(&app, &admin, "alice", &change);
        assert_eq!(updated.status, 200, "{change}: {}", updated.body);
        assert_admin_user(&updated.body["data"]);
        assert_eq!(updated.body["data"][field], expected, "{change}");
        assert_eq!(
            read(&app, &admin, "alice").body["data"],
            updated.body["data"]
        );
    }
    // Alice sees the changes as hers.
    let me = app.get("/api/auth/users/me", Some(&alice));
    assert_eq!(
        me.body["data"],
        json!({"username": "alice", "email": "alice@example.com", "phone": "+4412345678",
               "full_name": null, "is_active": true, "is_superuser": false,
               "scopes": ["items:read", "me"]})
    );

    // A conflict changes nothing, not even the other fields sent with it.
    let before = read(&app, &admin, "alice").body["data"].clone();
    patch(
        &app,
        &admin,
        "alice",
        &json!({"email": "BOB@example.com", "full_name": "Changed"}),
    )
    .assert_error(400, "400_BAD_REQUEST", "Email already in use.");
    patch(&app, &admin, "alice", &json!({"scopes": ["me", "nope"]})).assert_error(
        400,
        "400_BAD_REQUEST",
        "Invalid scope.",
    );
    for (body, field) in [
        (json!({"email": "alice"}), "email"),
        (json!({"phone": "12"}), "phone"),
        (json!({"password": "short"}), "password"),
        (json!({"is_active": "no"}), "is_active"),
        (json!({"scopes": "me"}), "scopes"),
        (json!({"scopes": ["me", "admin"]}), "scopes"),
    ] {
        patch(&app, &admin, "alice", &body).assert_invalid(field);
    }
    for body in [json!({"username": "mallory"}), json!({"id": 1})] {
        let refused = patch(&app, &admin, "alice", &body);
        assert_eq!(refused.status, 422, "{body}: {}", refused.body);
    }
    assert_eq!(read(&app, &admin, "alice").body["data"], before);
    not_found(&patch(&app, &admin, "nobody", &json!({"full_name": "x"})));
}

fn deactivation_ends_every_session_at_once(backend: Backend) {
    let Some((app, _db, admin)) = spawn_admin(backend, &[]) else {
        return;
    };
    let (access, refresh_token) = app.signed_in("alice");
    let phone = app.login("alice", PASSWORD).str("refresh_token");

    let off = patch(&app, &admin, "alice", &json!({"is_active": false}));
    assert_eq!(off.status, 200, "{}", off.body);
    assert_eq!(off.body["data"]["is_active"], false);
    for token in [&refresh_token, &phone] {
        refresh(&app, token).assert_error(401, "401_UNAUTHORIZED", "Invalid refresh token.");
    }
    app.get("/api/auth/users/me", Some(&access)).assert_error(
        400,
        "400_BAD_REQUEST",
        "Inactive user.",
    );

    let on = patch(&app, &admin, "alice", &json!({"is_active": true}));
    assert_eq!(on.body["data"]["is_active"], true);
    assert_eq!(app.get("/api/auth/users/me", Some(&access)).status, 200);
    // Reactivation brings no revoked session back.
    refresh(&app, &refresh_token).assert_error(401, "401_UNAUTHORIZED", "Invalid refresh token.");
}

fn a_new_password_revokes_the_old_sessions(backend: Backend) {
    let Some((app, _db, admin)) = spawn_admin(backend, &[]) else {
        return;
    };
    let (_, refresh_token) = app.signed_in("alice");
    let set = patch(
        &app,
        &admin,
        "alice",
        &json!({"password": "a brand new one"}),
    );
    assert_eq!(set.status, 200, "{}", set.body);
    refresh(&app, &refresh_token).assert_error(401, "401_UNAUTHORIZED", "Invalid refresh token.");
    app.login("alice", PASSWORD).assert_error(
        401,
        "401_UNAUTHORIZED",
        "Incorrect username or password.",
    );
    let again = app.login("alice", "a brand new one");
    assert_eq!(again.status, 202);
    assert_eq!(refresh(&app, &again.str("refresh_token")).status, 201);
}

fn a_deleted_user_is_gone(backend: Backend) {
    let Some((app, _db, admin)) = spawn_admin(backend, &[]) else {
        return;
    };
    let (access, refresh_token) = app.signed_in("alice");
    assert_eq!(
        app.patch_json_bearer(
            "/api/auth/users/me",
            &access,
            &json!({"email": "alice@example.com"})
        )
        .status,
        200
    );

    let deleted = app.delete_bearer(&user_path("alice"), &admin);
    assert_eq!(deleted.status, 200, "{}", deleted.body);
    assert_eq!(deleted.body["message"], "User deleted.");
    assert_eq!(deleted.body["status"], "success");
    assert!(deleted.body.get("data").is_none());

    not_found(&read(&app, &admin, "alice"));
    not_found(&app.delete_bearer(&user_path("alice"), &admin));
    not_found(&app.post_raw_bearer(&format!("{}/logout", user_path("alice")), &admin));
    not_found(&app.post_raw_bearer(&format!("{}/unlock", user_path("alice")), &admin));
    assert_eq!(names(&list(&app, &admin, "")), [ROOT]);
    app.get("/api/auth/users/me", Some(&access)).assert_error(
        401,
        "401_UNAUTHORIZED",
        "Could not validate credentials.",
    );
    refresh(&app, &refresh_token).assert_error(401, "401_UNAUTHORIZED", "Invalid refresh token.");
    app.login("alice", PASSWORD).assert_error(
        401,
        "401_UNAUTHORIZED",
        "Incorrect username or password.",
    );
    // The name and the email are free again.
    let (newcomer, _) = app.signed_in("alice");
    assert_eq!(
        app.patch_json_bearer(
            "/api/auth/users/me",
            &newcomer,
            &json!({"email": "alice@example.com"})
        )
        .status,
        200
    );
}

fn logout_everywhere_and_unlock(backend: Backend) {
    let Some((app, _db, admin)) = spawn_admin(backend, &[("AUTH__LOGIN_MAX_FAILURES", "2")]) else {
        return;
    };
    let (access, laptop) = app.signed_in("alice");
    let phone = app.login("alice", PASSWORD).str("refresh_token");
    let (_, bob) = app.signed_in("bob");

    let out = app.post_raw_bearer("/api/admin/users/alice/logout", &admin);
    assert_eq!(out.status, 200, "{}", out.body);
    assert_eq!(out.body["message"], "Logged out of all sessions.");
    for token in [&laptop, &phone] {
        refresh(&app, token).assert_error(401, "401_UNAUTHORIZED", "Invalid refresh token.");
    }
    assert_eq!(refresh(&app, &bob).status, 201, "another user's session");
    // Access tokens are stateless: they live until they expire.
    assert_eq!(app.get("/api/auth/users/me", Some(&access)).status, 200);
    not_found(&app.post_raw_bearer("/api/admin/users/nobody/logout", &admin));

    // Two wrong passwords lock alice; even the right one is refused then.
    for _ in 0..2 {
        assert_eq!(app.login("alice", "wrong password").status, 401);
    }
    let locked = app.login("alice", PASSWORD);
    locked.assert_error(
        429,
        "429_TOO_MANY_REQUESTS",
        "Too many requests, try again later.",
    );
    assert!(locked.header("Retry-After").is_some());

    let unlocked = app.post_raw_bearer("/api/admin/users/alice/unlock", &admin);
    assert_eq!(unlocked.status, 200, "{}", unlocked.body);
    assert_eq!(unlocked.body["message"], "Login limit cleared.");
    assert_eq!(app.login("alice", PASSWORD).status, 202);
    // Unlocking an unlocked user is no error.
    assert_eq!(
        app.post_raw_bearer("/api/admin/users/alice/unlock", &admin)
            .status,
        200
    );
    not_found(&app.post_raw_bearer("/api/admin/users/nobody/unlock", &admin));
}

fn a_demotion_takes_effect_at_the_next_request(backend: Backend) {
    let Some((app, _db, admin)) = spawn_admin(backend, &[]) else {
        return;
    };
    let created = create(
        &app,
        &admin,
        &json!({"username": "bea", "password": PASSWORD, "is_superuser": true,
                "scopes": ["admin", "me"]}),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let bea = app.token_with_scope("bea", PASSWORD, "admin me");
    assert_eq!(list(&app, &bea, "").status, 200);

    let demoted = patch(&app, &admin, "bea", &json!({"is_superuser": false}));
    assert_eq!(demoted.status, 200, "{}", demoted.body);
    assert_eq!(demoted.body["data"]["is_superuser"], false);
    assert_eq!(demoted.body["data"]["scopes"], json!(["me"]));
    // Her token still carries `admin`, and is refused at once.
    forbidden(&list(&app, &bea, ""));
    forbidden(&read(&app, &bea, ROOT));
    forbidden(&patch(&app, &bea, ROOT, &json!({"is_superuser": false})));
    // She remains a user.
    assert_eq!(app.get("/api/auth/users/me", Some(&bea)).status, 200);
    // A new login no longer gets admin.
    let again = app.login_with_scope("bea", PASSWORD, "admin me");
    assert_eq!(again.str("scope"), "me");

    // Promotion gives the grant back, and the same token works again.
    let promoted = patch(&app, &admin, "bea", &json!({"is_superuser": true}));
    assert_eq!(promoted.body["data"]["is_superuser"], true);
    assert_eq!(promoted.body["data"]["scopes"], json!(["admin", "me"]));
    assert_eq!(list(&app, &bea, "").status, 200);

    // An inactive superuser is no administrator either.
    let off = patch(&app, &admin, "bea", &json!({"is_active": false}));
    assert_eq!(off.status, 200, "{}", off.body);
    forbidden(&list(&app, &bea, ""));

    // The root is still in charge of its own account.
    let root = read(&app, &admin, ROOT);
    assert_eq!(root.body["data"]["is_superuser"], true);
    assert_eq!(root.body["data"]["is_active"], true);
}

fn a_superuser_cannot_lock_themself_out(backend: Backend) {
    let Some((app, _db, admin)) = spawn_admin(backend, &[]) else {
        return;
    };
    own_account(&patch(&app, &admin, ROOT, &json!({"is_active": false})));
    own_account(&patch(&app, &admin, ROOT, &json!({"is_superuser": false})));
    own_account(&patch(
        &app,
        &admin,
        ROOT,
        &json!({"full_name": "Root", "is_superuser": false}),
    ));
    own_account(&app.delete_bearer(&user_path(ROOT), &admin));
    let root = read(&app, &admin, ROOT);
    assert_eq!(root.body["data"]["is_superuser"], true);
    assert_eq!(root.body["data"]["is_active"], true);
    assert_eq!(root.body["data"]["full_name"], Value::Null);
    assert_eq!(root.body["data"]["scopes"], json!(["admin", "me"]));
    assert_eq!(list(&app, &admin, "").status, 200);
    // What is no demotion stays allowed.
    let named = patch(
        &app,
        &admin,
        ROOT,
        &json!({"full_name": "Root", "is_active": true}),
    );
    assert_eq!(named.status, 200, "{}", named.body);
    assert_eq!(named.body["data"]["full_name"], "Root");
}

fn only_admin_tokens_of_superusers_pass(backend: Backend) {
    let Some((app, _db, admin)) = spawn_admin(backend, &[]) else {
        return;
    };
    let (alice, _) = app.signed_in("alice");
    let root_me = app.token_with_scope(ROOT, ROOT_PASSWORD, "me");
    let calls: [(&str, &str, Option<Value>); 8] = [
        ("GET", "/api/admin/users", None),
        (
            "POST",
            "/api/admin/users",
            Some(json!({"username": "mallory", "password": PASSWORD})),
        ),
        ("GET", "/api/admin/users/alice", None),
        (
            "PATCH",
            "/api/admin/users/alice",
            Some(json!({"is_active": false})),
        ),
        ("DELETE", "/api/admin/users/alice", None),
        ("POST", "/api/admin/users/alice/logout", None),
        ("POST", "/api/admin/users/alice/unlock", None),
        ("GET", "/api/admin/events", None),
    ];
    for (method, path, body) in &calls {
        for token in [&alice, &root_me] {
            app.send(method, path, Some(token), &[], body.as_ref())
                .assert_insufficient_scope("admin");
        }
        app.send(method, path, None, &[], body.as_ref())
            .assert_error(401, "401_UNAUTHORIZED", "Not authenticated.");
        app.send(method, path, Some("garbage"), &[], body.as_ref())
            .assert_error(401, "401_UNAUTHORIZED", "Could not validate credentials.");
    }
    // Nothing happened to alice.
    let alice_now = read(&app, &admin, "alice");
    assert_eq!(alice_now.body["data"]["is_active"], true);
    not_found(&read(&app, &admin, "mallory"));
}

fn no_admin_grant_without_superuser(backend: Backend) {
    let Some((app, _db, admin)) = spawn_admin(backend, &[]) else {
        return;
    };
    assert_eq!(app.register("alice", PASSWORD).status, 201);
    patch(&app, &admin, "alice", &json!({"scopes": ["admin", "me"]})).assert_invalid("scopes");
    create(
        &app,
        &admin,
        &json!({"username": "mallory", "password": PASSWORD, "is_superuser": false,
                "scopes": ["admin"]}),
    )
    .assert_invalid("scopes");
    // Demoting and granting admin at once is no way round it.
    let created = create(
        &app,
        &admin,
        &json!({"username": "bea", "password": PASSWORD, "is_superuser": true,
                "scopes": ["admin", "me"]}),
    );
    assert_eq!(created.status, 201);
    patch(
        &app,
        &admin,
        "bea",
        &json!({"is_superuser": false, "scopes": ["admin", "me"]}),
    )
    .assert_invalid("scopes");
    assert_eq!(read(&app, &admin, "bea").body["data"]["is_superuser"], true);

    assert_eq!(
        read(&app, &admin, "alice").body["data"]["scopes"],
        json!(["me"])
    );
    not_found(&read(&app, &admin, "mallory"));
    let tokens = app.login_with_scope("alice", PASSWORD, "admin me");
    assert_eq!(tokens.str("scope"), "me");
}

/// The README's walk-through: from an empty database, the first superuser
/// manages another user's scopes and reads the audit trail.
fn a_superuser_manages_scopes_and_reads_the_trail(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn_with(
        backend,
        &with_superuser(&[("AUTH__SCOPES", "items:read items:write")]),
    ) else {
        return;
    };
    // 1. The operator logs in as the first superuser, asking for admin.
    let tokens = app.login_with_scope(ROOT, ROOT_PASSWORD, "admin");
    assert_eq!(tokens.status, 202, "{}", tokens.body);
    assert_eq!(tokens.str("scope"), "admin");
    let admin = tokens.str("access_token");

    // 2. A user registers and gets the default grants.
    assert_eq!(app.register("alice", PASSWORD).status, 201);
    let alice = read(&app, &admin, "alice");
    assert_eq!(alice.body["data"]["scopes"], json!(["me"]));

    // 3. The superuser grants her the items API.
    let granted = patch(
        &app,
        &admin,
        "alice",
        &json!({"scopes": ["me", "items:read", "items:write"]}),
    );
    assert_eq!(granted.status, 200, "{}", granted.body);

    // 4. She logs in for the items API only.
    let items = app.login_with_scope("alice", PASSWORD, "items:read items:write");
    assert_eq!(items.status, 202);
    assert_eq!(items.str("scope"), "items:read items:write");
    let verified = app.post_raw(
        &format!(
            "/api/auth/token/verify/{}?scope=items:write",
            items.str("access_token")
        ),
        None,
        "",
    );
    assert_eq!(verified.status, 200, "{}", verified.body);

    // 5. The superuser reads what happened to her.
    let trail = app.get_bearer("/api/admin/events?user=alice", &admin);
    assert_eq!(trail.status, 200, "{}", trail.body);
    let events = trail.body["data"]["events"].as_array().unwrap();
    let actions: Vec<&str> = events
        .iter()
        .map(|event| event["action"].as_str().unwrap())
        .collect();
    assert_eq!(
        actions,
        ["login.succeeded", "admin.user_updated", "user.registered"],
        "{}",
        trail.body
    );
    assert_eq!(events[1]["actor"], ROOT);
    assert_eq!(events[1]["subject"], "alice");
    assert_eq!(trail.body["data"]["next_before"], Value::Null);
}

crate::on_both_backends!(
    the_first_superuser_comes_from_the_environment,
    instances_starting_together_create_one_first_superuser,
    an_existing_user_of_that_name_is_never_touched,
    users_are_listed_searched_and_paged,
    users_are_created_and_read,
    each_field_can_be_updated,
    deactivation_ends_every_session_at_once,
    a_new_password_revokes_the_old_sessions,
    a_deleted_user_is_gone,
    logout_everywhere_and_unlock,
    a_demotion_takes_effect_at_the_next_request,
    a_superuser_cannot_lock_themself_out,
    only_admin_tokens_of_superusers_pass,
    no_admin_grant_without_superuser,
    a_superuser_manages_scopes_and_reads_the_trail,
);
