//! Sessions per device (docs/api.md §11) through the real routes.

use domain::{Device, SessionInfo};

use super::*;

fn info(id: i64, family: &str) -> SessionInfo {
    SessionInfo {
        id,
        family: family.into(),
        created_at: CREATED_AT,
        last_used_at: None,
        expires_at: CREATED_AT + 3600,
        device: Device {
            client_address: Some("203.0.113.7".into()),
            user_agent: None,
        },
    }
}

#[actix_web::test]
async fn the_sessions_are_listed_with_the_callers_own_marked() {
    let mut sessions = MockSessionRepository::new();
    sessions
        .expect_list_live()
        .returning(|_, _| Ok(vec![info(2, "fam-mine"), info(1, "fam-other")]));
    let app = TestApp {
        sessions,
        ..TestApp::new(only_agent47())
    }
    .start()
    .await;
    let token = tokens()
        .issue(&TokenRequest {
            kind: TokenKind::Access,
            subject: Username::parse("agent47").unwrap(),
            family: Some("fam-mine".into()),
            scopes: scopes("me"),
            now: domain::Clock::now(&SystemClock),
            id: None,
        })
        .unwrap()
        .token;
    let (status, _, json) = send(
        &app,
        TestRequest::get()
            .uri("/api/auth/sessions")
            .insert_header(bearer(&token)),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(
        json["data"]["sessions"],
        json!([
            {"id": 2, "created_at": "2026-12-02T07:10:00Z", "last_used_at": null,
             "expires_at": "2026-12-02T08:10:00Z", "ip": "203.0.113.7", "user_agent": null,
             "current": true},
            {"id": 1, "created_at": "2026-12-02T07:10:00Z", "last_used_at": null,
             "expires_at": "2026-12-02T08:10:00Z", "ip": "203.0.113.7", "user_agent": null,
             "current": false},
        ])
    );
}

#[actix_web::test]
async fn revoking_a_session_that_is_not_a_live_one_of_the_callers_is_404() {
    let mut sessions = MockSessionRepository::new();
    sessions
        .expect_revoke_by_id()
        .withf(|id, user_id, _, _| (*id, *user_id) == (5, 1))
        .times(1)
        .returning(|_, _, _, _| Ok(false));
    let app = TestApp {
        sessions,
        ..TestApp::new(only_agent47())
    }
    .start()
    .await;
    // Ids that are no ids are refused without a store call.
    for path in [
        "/api/auth/sessions/5",
        "/api/auth/sessions/0",
        "/api/auth/sessions/x",
    ] {
        let (_, _, json) = send(
            &app,
            TestRequest::delete()
                .uri(path)
                .insert_header(bearer(&access_token_for("agent47"))),
        )
        .await;
        assert_error(&json, 404, "404_NOT_FOUND", "Session not found.");
    }
}
