//! The audit trail (docs/api.md §9): what is recorded, with which origin,
//! how it is paged and filtered, what outlives a deleted user, and that no
//! secret is ever in it.

use serde_json::{Value, json};

use crate::{
    admin::{ROOT, spawn_admin},
    support::{Backend, PASSWORD, Reply, TestApp},
};

const AGENT: &str = "zentra-e2e/1.0 (audit)";
const NEW_PASSWORD: &str = "brand new horse";
const WRONG_PASSWORD: &str = "not my password";

/// A request as a client with a `User-Agent` of its own and a fresh
/// `X-Request-Id`: the answer and that id.
fn traced(
    app: &TestApp,
    method: &str,
    path: &str,
    bearer: Option<&str>,
    body: Option<&Value>,
) -> (Reply, String) {
    let request_id = uuid::Uuid::new_v4().to_string();
    let reply = app.send(
        method,
        path,
        bearer,
        &[("User-Agent", AGENT), ("X-Request-Id", &request_id)],
        body,
    );
    (reply, request_id)
}

/// The events of a page, checked to be newest first.
fn events(reply: &Reply) -> Vec<Value> {
    assert_eq!(reply.status, 200, "{}", reply.body);
    assert_eq!(reply.body["headers"]["WWW-Authenticate"], "Bearer");
    let events = reply.body["data"]["events"]
        .as_array()
        .unwrap_or_else(|| panic!("no events in {}", reply.body))
        .clone();
    let ids: Vec<i64> = events.iter().map(id).collect();
    assert!(
        ids.windows(2).all(|pair| pair[0] > pair[1]),
        "not newest first: {ids:?}"
    );
    events
}

fn id(event: &Value) -> i64 {
    event["id"]
        .as_i64()
        .unwrap_or_else(|| panic!("no id in {event}"))
}

fn actions(events: &[Value]) -> Vec<&str> {
    events
        .iter()
        .map(|event| event["action"].as_str().expect("an action"))
        .collect()
}

fn own_events(app: &TestApp, access: &str, query: &str) -> Reply {
    app.get_bearer(&format!("/api/auth/users/me/events{query}"), access)
}

fn admin_events(app: &TestApp, admin: &str, query: &str) -> Reply {
    app.get_bearer(&format!("/api/admin/events{query}"), admin)
}

/// Asserts that `event` is exactly one of the documented shape.
fn assert_event_shape(event: &Value) {
    let mut keys: Vec<&str> = event
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {event}"))
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "action",
            "actor",
            "at",
            "client_address",
            "id",
            "request_id",
            "subject",
            "user_agent"
        ],
        "{event}"
    );
    let at = event["at"].as_str().expect("at as text");
    assert!(
        at.len() == 20 && at.starts_with("20") && at.ends_with('Z') && at.as_bytes()[10] == b'T',
        "not RFC 3339 UTC: {at}"
    );
}

/// Asserts that none of `secrets` is anywhere in the answer's text.
fn assert_no_secrets(reply: &Reply, secrets: &[&str]) {
    let text = reply.body.to_string();
    for secret in secrets {
        assert!(
            !text.contains(secret),
            "a secret ({secret}) is in the audit trail: {text}"
        );
    }
}

fn own_events_tell_the_story_newest_first(backend: Backend) {
    let Some((app, db)) = TestApp::spawn(backend) else {
        return;
    };
    let credentials = json!({"username": "alice", "password": PASSWORD});
    let (registered, on_register) =
        traced(&app, "POST", "/api/auth/register", None, Some(&credentials));
    assert_eq!(registered.status, 201);
    let (tokens, on_login) = traced(&app, "POST", "/api/auth/token", None, Some(&credentials));
    assert_eq!(tokens.status, 202, "{}", tokens.body);
    let (failed, on_failure) = traced(
        &app,
        "POST",
        "/api/auth/token",
        None,
        Some(&json!({"username": "alice", "password": WRONG_PASSWORD})),
    );
    assert_eq!(failed.status, 401);
    let (refreshed, on_refresh) = traced(
        &app,
        "POST",
        "/api/auth/token/refresh",
        None,
        Some(&json!({"refresh_token": tokens.str("refresh_token")})),
    );
    assert_eq!(refreshed.status, 201);
    let access = refreshed.str("access_token");
    let (out, on_logout) = traced(
        &app,
        "POST",
        "/api/auth/logout",
        None,
        Some(&json!({"refresh_token": refreshed.str("refresh_token")})),
    );
    assert_eq!(out.status, 200);
    let hash = db.stored_password_hash("alice");
    let (changed, on_password) = traced(
        &app,
        "POST",
        "/api/auth/users/me/password",
        Some(&access),
        Some(&json!({"current_password": PASSWORD, "new_password": NEW_PASSWORD})),
    );
    assert_eq!(changed.status, 200, "{}", changed.body);
    let (updated, on_profile) = traced(
        &app,
        "PATCH",
        "/api/auth/users/me",
        Some(&access),
        Some(&json!({"full_name": "Alice A"})),
    );
    assert_eq!(updated.status, 200);
    // Someone else's doings are not alice's.
    let (bob, _) = app.signed_in("bob");

    let page = own_events(&app, &access, "");
    let trail = events(&page);
    let expected = [
        ("profile.updated", &on_profile),
        ("password.changed", &on_password),
        ("session.logout", &on_logout),
        ("token.refreshed", &on_refresh),
        ("login.failed", &on_failure),
        ("login.succeeded", &on_login),
        ("user.registered", &on_register),
    ];
    assert_eq!(
        actions(&trail),
        expected
            .iter()
            .map(|(action, _)| *action)
            .collect::<Vec<_>>(),
        "{}",
        page.body
    );
    for (event, (action, request_id)) in trail.iter().zip(&expected) {
        assert_event_shape(event);
        assert_eq!(event["subject"], "alice", "{event}");
        assert_eq!(event["request_id"], request_id.as_str(), "{event}");
        assert_eq!(event["user_agent"], AGENT, "{event}");
        assert_eq!(event["client_address"], "127.0.0.1", "{event}");
        // A failed login has no authenticated actor to name.
        if *action != "login.failed" {
            assert_eq!(event["actor"], "alice", "{event}");
        }
    }
    assert_eq!(page.body["data"]["next_before"], Value::Null);
    assert_no_secrets(
        &page,
        &[
            PASSWORD,
            NEW_PASSWORD,
            WRONG_PASSWORD,
            &hash,
            &db.stored_password_hash("alice"),
            &tokens.str("access_token"),
            &tokens.str("refresh_token"),
            &refreshed.str("access_token"),
            &refreshed.str("refresh_token"),
        ],
    );

    // Bob sees only his own.
    let bobs = events(&own_events(&app, &bob, ""));
    assert_eq!(actions(&bobs), ["login.succeeded", "user.registered"]);
    assert!(bobs.iter().all(|event| event["subject"] == "bob"));
}

fn pages_follow_next_before(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn(backend) else {
        return;
    };
    let (access, _) = app.signed_in("alice");
    for _ in 0..4 {
        assert_eq!(app.login("alice", PASSWORD).status, 202);
    }
    // user.registered and five logins.
    let all = events(&own_events(&app, &access, ""));
    assert_eq!(all.len(), 6, "{all:?}");

    for limit in [1_usize, 2, 3, 4, 6, 7] {
        let mut collected = Vec::new();
        let mut query = format!("?limit={limit}");
        let mut pages = 0;
        loop {
            pages += 1;
            assert!(pages <= 8, "limit {limit}: paging does not end");
            let reply = own_events(&app, &access, &query);
            let page = events(&reply);
            assert!(page.len() <= limit);
            let next = &reply.body["data"]["next_before"];
            if page.len() == limit {
                assert_eq!(
                    next.as_i64(),
                    Some(id(page.last().unwrap())),
                    "{}",
                    reply.body
                );
            } else {
                assert_eq!(next, &Value::Null, "{}", reply.body);
            }
            collected.extend(page);
            match next.as_i64() {
                Some(before) => query = format!("?limit={limit}&before={before}"),
                None => break,
            }
        }
        assert_eq!(collected, all, "limit {limit}");
    }

    // `before` is exclusive: strictly older events.
    let newest = id(&all[0]);
    let older = events(&own_events(&app, &access, &format!("?before={newest}")));
    assert_eq!(older, all[1..]);
    let oldest = id(all.last().unwrap());
    assert!(events(&own_events(&app, &access, &format!("?before={oldest}"))).is_empty());
}

fn administrators_filter_everyone_s_events_and_their_own_are_recorded(backend: Backend) {
    let Some((app, _db, admin)) = spawn_admin(backend, &[("AUTH__LOGIN_MAX_FAILURES", "2")]) else {
        return;
    };
    let (alice_access, alice_refresh) = app.signed_in("alice");
    let (bob_access, _) = app.signed_in("bob");
    assert_eq!(app.login("bob", WRONG_PASSWORD).status, 401);

    let carol_password = "carol's own password";
    let (created, on_create) = traced(
        &app,
        "POST",
        "/api/admin/users",
        Some(&admin),
        Some(&json!({"username": "carol", "password": carol_password})),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let (updated, on_update) = traced(
        &app,
        "PATCH",
        "/api/admin/users/alice",
        Some(&admin),
        Some(&json!({"full_name": "Alice A", "password": NEW_PASSWORD})),
    );
    assert_eq!(updated.status, 200, "{}", updated.body);
    let (out, on_logout) = traced(
        &app,
        "POST",
        "/api/admin/users/bob/logout",
        Some(&admin),
        None,
    );
    assert_eq!(out.status, 200);
    for _ in 0..2 {
        assert_eq!(app.login("alice", WRONG_PASSWORD).status, 401);
    }
    assert_eq!(app.login("alice", NEW_PASSWORD).status, 429);
    let (unlocked, on_unlock) = traced(
        &app,
        "POST",
        "/api/admin/users/alice/unlock",
        Some(&admin),
        None,
    );
    assert_eq!(unlocked.status, 200);
    let (deleted, on_delete) = traced(&app, "DELETE", "/api/admin/users/carol", Some(&admin), None);
    assert_eq!(deleted.status, 200);

    // Each administrator action: actor the superuser, subject the target.
    for (action, subject, request_id) in [
        ("admin.user_created", "carol", &on_create),
        ("admin.user_updated", "alice", &on_update),
        ("admin.user_logged_out", "bob", &on_logout),
        ("admin.user_unlocked", "alice", &on_unlock),
        ("admin.user_deleted", "carol", &on_delete),
    ] {
        let page = admin_events(&app, &admin, &format!("?action={action}&user={subject}"));
        let found = events(&page);
        assert_eq!(found.len(), 1, "{action}: {}", page.body);
        let event = &found[0];
        assert_event_shape(event);
        assert_eq!(event["action"], action);
        assert_eq!(event["actor"], ROOT, "{event}");
        assert_eq!(event["subject"], subject, "{event}");
        assert_eq!(event["request_id"], request_id.as_str(), "{event}");
        assert_eq!(event["user_agent"], AGENT, "{event}");
        assert_eq!(event["client_address"], "127.0.0.1", "{event}");
    }

    // The first superuser's creation at the start: by the system itself.
    let at_start = events(&admin_events(
        &app,
        &admin,
        "?action=admin.user_created&user=root",
    ));
    assert_eq!(at_start.len(), 1, "{at_start:?}");
    assert_eq!(at_start[0]["actor"], Value::Null, "{}", at_start[0]);

    // By user.
    let alices_page = admin_events(&app, &admin, "?user=alice");
    let alices = events(&alices_page);
    assert!(
        alices.iter().all(|event| event["subject"] == "alice"),
        "{}",
        alices_page.body
    );
    let alice_actions = actions(&alices);
    for action in [
        "user.registered",
        "login.succeeded",
        "admin.user_updated",
        "login.failed",
        "login.locked",
        "admin.user_unlocked",
    ] {
        assert!(
            alice_actions.contains(&action),
            "{action} not in {alice_actions:?}"
        );
    }
    assert!(!alice_actions.contains(&"admin.user_logged_out"));

    // By action, and by both.
    let failures = events(&admin_events(&app, &admin, "?action=login.failed"));
    let mut failed: Vec<&str> = failures
        .iter()
        .map(|event| event["subject"].as_str().unwrap())
        .collect();
    failed.sort_unstable();
    assert_eq!(failed, ["alice", "alice", "bob"]);
    let alice_failures = events(&admin_events(
        &app,
        &admin,
        "?user=alice&action=login.failed",
    ));
    assert_eq!(alice_failures.len(), 2);
    assert!(
        alice_failures
            .iter()
            .all(|e| e["subject"] == "alice" && e["action"] == "login.failed")
    );
    assert!(events(&admin_events(&app, &admin, "?user=nobody")).is_empty());

    // Unfiltered: everyone's, newest first, with the paging of one's own.
    let everything_page = admin_events(&app, &admin, "?limit=200");
    let everything = events(&everything_page);
    for subject in ["alice", "bob", "carol", ROOT] {
        assert!(
            everything.iter().any(|event| event["subject"] == subject),
            "nothing about {subject}"
        );
    }
    let first_two = admin_events(&app, &admin, "?limit=2");
    assert_eq!(events(&first_two), everything[..2]);
    assert_eq!(first_two.body["data"]["next_before"], id(&everything[1]));
    let filtered_page = admin_events(
        &app,
        &admin,
        &format!("?user=alice&limit=1&before={}", id(&alices[0])),
    );
    assert_eq!(events(&filtered_page), alices[1..2]);

    assert_no_secrets(
        &everything_page,
        &[
            PASSWORD,
            NEW_PASSWORD,
            WRONG_PASSWORD,
            carol_password,
            &admin,
            &alice_access,
            &alice_refresh,
            &bob_access,
        ],
    );
}

fn bad_filters_are_422(backend: Backend) {
    let Some((app, _db, admin)) = spawn_admin(backend, &[]) else {
        return;
    };
    let (access, _) = app.signed_in("alice");
    for (query, field) in [
        ("?limit=0", "limit"),
        ("?limit=201", "limit"),
        ("?limit=x", "limit"),
        ("?limit=-1", "limit"),
        ("?before=0", "before"),
        ("?before=-1", "before"),
        ("?before=x", "before"),
    ] {
        own_events(&app, &access, query).assert_invalid(field);
        admin_events(&app, &admin, query).assert_invalid(field);
    }
    for (query, field) in [
        ("?user=a%20b", "user"),
        ("?user=x", "user"),
        ("?user=%00root", "user"),
        ("?action=nope", "action"),
        ("?action=login", "action"),
        ("?action=LOGIN.FAILED", "action"),
    ] {
        admin_events(&app, &admin, query).assert_invalid(field);
    }
    // The limits themselves are fine.
    assert_eq!(own_events(&app, &access, "?limit=1").status, 200);
    assert_eq!(own_events(&app, &access, "?limit=200").status, 200);
    assert_eq!(
        admin_events(&app, &admin, "?action=login.succeeded&limit=200").status,
        200
    );
}

fn a_deleted_user_s_events_stay(backend: Backend) {
    let Some((app, _db, admin)) = spawn_admin(backend, &[]) else {
        return;
    };
    app.signed_in("alice");
    let deleted = app.delete_bearer("/api/admin/users/alice", &admin);
    assert_eq!(deleted.status, 200, "{}", deleted.body);

    let trail = events(&admin_events(&app, &admin, "?user=alice"));
    assert_eq!(
        actions(&trail),
        ["admin.user_deleted", "login.succeeded", "user.registered"]
    );
    assert_eq!(trail[0]["actor"], ROOT);
    assert_eq!(trail[1]["actor"], "alice");
}

/// A new account that takes a deleted user's name does not inherit that
/// user's history as its own.
fn a_new_account_of_a_deleted_name_does_not_see_the_old_trail(backend: Backend) {
    let Some((app, _db, admin)) = spawn_admin(backend, &[]) else {
        return;
    };
    app.signed_in("alice");
    assert_eq!(app.login("alice", WRONG_PASSWORD).status, 401);
    assert_eq!(
        app.delete_bearer("/api/admin/users/alice", &admin).status,
        200
    );

    let (newcomer, _) = app.signed_in("alice");
    let own = events(&own_events(&app, &newcomer, ""));
    assert_eq!(
        actions(&own),
        ["login.succeeded", "user.registered"],
        "the new alice sees the old one's events"
    );
}

crate::on_both_backends!(
    own_events_tell_the_story_newest_first,
    pages_follow_next_before,
    administrators_filter_everyone_s_events_and_their_own_are_recorded,
    bad_filters_are_422,
    a_deleted_user_s_events_stay,
    a_new_account_of_a_deleted_name_does_not_see_the_old_trail,
);
