//! `AUTH__REFRESH_REUSE_GRACE_SECS` (docs/api.md §11): several browser tabs
//! refreshing with one token at once all get the same new pair; a replay
//! outside the grace still ends the session.

use std::time::Duration;

use serde_json::json;

use crate::support::{Backend, Reply, TestApp};

fn refresh(app: &TestApp, token: &str) -> Reply {
    app.post_json("/api/auth/token/refresh", &json!({"refresh_token": token}))
}

fn grace(backend: Backend, secs: &str) -> Option<(TestApp, crate::support::Database)> {
    TestApp::spawn_with(backend, &[("AUTH__REFRESH_REUSE_GRACE_SECS", secs)])
}

fn within_the_grace_the_retired_token_gets_the_same_pair(backend: Backend) {
    let Some((app, _db)) = grace(backend, "30") else {
        return;
    };
    let (_, first) = app.signed_in("agent47");

    let tab_a = refresh(&app, &first);
    let tab_b = refresh(&app, &first);

    assert_eq!(tab_a.status, 201, "{}", tab_a.body);
    assert_eq!(tab_b.status, 201, "{}", tab_b.body);
    for field in ["access_token", "refresh_token", "scope", "token_type"] {
        assert_eq!(tab_b.body[field], tab_a.body[field], "{field}");
    }
    assert_eq!(tab_b.header("cache-control"), Some("no-store"));
    let second = tab_a.str("refresh_token");
    assert_ne!(second, first);
    // The pair works: its access token, and its refresh token, once.
    assert_eq!(
        app.get("/api/auth/users/me", Some(&tab_b.str("access_token")))
            .status,
        200
    );
    let third = refresh(&app, &second);
    assert_eq!(third.status, 201);

    // Two rotations old is a replay, grace or not: the family ends.
    refresh(&app, &first).assert_error(401, "401_UNAUTHORIZED", "Invalid refresh token.");
    refresh(&app, &third.str("refresh_token")).assert_error(
        401,
        "401_UNAUTHORIZED",
        "Invalid refresh token.",
    );
}

fn under_asymmetric_keys_the_pair_answered_again_is_the_same_text(backend: Backend) {
    // ES256 (RFC 6979) and EdDSA signatures are deterministic: the pair
    // signed again under the same claims is the same text.
    for algorithm in ["ES256", "EdDSA"] {
        let key = crate::signing::new_key(algorithm);
        let keys = crate::signing::key_set(&[&key]);
        let Some((app, _db)) = TestApp::spawn_with(
            backend,
            &[
                ("AUTH__REFRESH_REUSE_GRACE_SECS", "30"),
                ("AUTH__ALGORITHM", algorithm),
                ("AUTH__SIGNING_KEYS", keys.as_str()),
            ],
        ) else {
            return;
        };
        let (_, first) = app.signed_in("agent47");

        let tab_a = refresh(&app, &first);
        let tab_b = refresh(&app, &first);

        assert_eq!(tab_a.status, 201, "{algorithm}: {}", tab_a.body);
        assert_eq!(tab_b.status, 201, "{algorithm}: {}", tab_b.body);
        assert_eq!(
            tab_b.body["access_token"], tab_a.body["access_token"],
            "{algorithm}"
        );
        assert_eq!(
            tab_b.body["refresh_token"], tab_a.body["refresh_token"],
            "{algorithm}"
        );
        assert_eq!(
            app.get("/api/auth/users/me", Some(&tab_b.str("access_token")))
                .status,
            200,
            "{algorithm}"
        );
    }
}

fn tabs_refreshing_at_once_all_get_the_winners_pair(backend: Backend) {
    let Some((app, _db)) = grace(backend, "30") else {
        return;
    };
    let (_, token) = app.signed_in("agent47");

    let replies: Vec<Reply> = std::thread::scope(|scope| {
        let handles: Vec<_> = (0..8)
            .map(|_| scope.spawn(|| refresh(&app, &token)))
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });

    for reply in &replies {
        assert_eq!(reply.status, 201, "{}", reply.body);
        assert_eq!(
            reply.body["refresh_token"],
            replies[0].body["refresh_token"]
        );
        assert_eq!(reply.body["access_token"], replies[0].body["access_token"]);
    }
    // The session lives on, at the shared token.
    assert_eq!(refresh(&app, &replies[0].str("refresh_token")).status, 201);
}

fn after_the_grace_a_replay_still_ends_the_session(backend: Backend) {
    let Some((app, _db)) = grace(backend, "1") else {
        return;
    };
    let (_, first) = app.signed_in("agent47");
    let rotated = refresh(&app, &first);
    assert_eq!(rotated.status, 201);

    // A grace of 1 s covers the second of the rotation only.
    std::thread::sleep(Duration::from_millis(2100));

    refresh(&app, &first).assert_error(401, "401_UNAUTHORIZED", "Invalid refresh token.");
    refresh(&app, &rotated.str("refresh_token")).assert_error(
        401,
        "401_UNAUTHORIZED",
        "Invalid refresh token.",
    );
}

fn a_grace_out_of_range_stops_the_start(backend: Backend) {
    let Some(db) = crate::support::Database::fresh(backend) else {
        return;
    };
    let output = std::process::Command::new(crate::support::binary())
        .env("DB__URL", db.url())
        .env("AUTH__REFRESH_REUSE_GRACE_SECS", "301")
        .arg("check-config")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(2));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("AUTH__REFRESH_REUSE_GRACE_SECS"),
        "{stderr}"
    );
}

crate::on_both_backends!(
    within_the_grace_the_retired_token_gets_the_same_pair,
    under_asymmetric_keys_the_pair_answered_again_is_the_same_text,
    tabs_refreshing_at_once_all_get_the_winners_pair,
    after_the_grace_a_replay_still_ends_the_session,
    a_grace_out_of_range_stops_the_start,
);
