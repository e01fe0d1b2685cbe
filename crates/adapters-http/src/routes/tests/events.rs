//! The audit trail's routes, and the origin every change records.

use domain::{Action, Event, Origin};

use super::*;

fn event(id: i64) -> Event {
    Event {
        id,
        at: CREATED_AT,
        action: "login.succeeded".into(),
        actor: Some("agent47".into()),
        subject: Some("agent47".into()),
        origin: Origin::new(Some("203.0.113.9".into()), Some("curl/8.5"), Some("req-1")),
    }
}

/// An audit trail that answers `count` events (ids counting down from
/// 100) to a query `check` accepts.
fn trail(
    count: i64,
    check: impl Fn(&domain::EventQuery) -> bool + Send + 'static,
) -> MockAuditRepository {
    let mut audit = MockAuditRepository::new();
    audit.expect_record().returning(|_| Ok(()));
    audit
        .expect_list()
        .withf(move |query| check(query))
        .returning(move |_| Ok((0..count).map(|n| event(100 - n)).collect()));
    audit
}

fn own_events(query: &str) -> TestRequest {
    TestRequest::get()
        .uri(&format!("/api/auth/users/me/events{query}"))
        .insert_header(bearer(&access_token_for("agent47")))
}

#[actix_web::test]
async fn ones_own_events_are_listed_with_every_field() {
    let audit = trail(1, |query| {
        query.subject.as_ref().map(AsRef::as_ref) == Some("agent47")
            && query.limit == 50
            && query.before.is_none()
            && query.action.is_none()
    });
    let app = TestApp::new(only_agent47()).with_audit(audit).start().await;
    // `user` and `action` are not filters of one's own trail: ignored.
    let (status, headers, json) = send(&app, own_events("?user=root&action=x")).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(headers.get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
    assert_eq!(
        json["data"],
        json!({"events": [{"id": 100, "at": "2026-12-02T07:10:00Z", "action": "login.succeeded",
            "actor": "agent47", "subject": "agent47", "client_address": "203.0.113.9",
            "user_agent": "curl/8.5", "request_id": "req-1"}],
            "next_before": null})
    );
}

#[actix_web::test]
async fn a_full_page_names_the_next_before_and_a_short_one_null() {
    for (count, next_before) in [(3, json!(98)), (2, Value::Null)] {
        let audit = trail(count, |query| query.limit == 3 && query.before == Some(101));
        let app = TestApp::new(only_agent47()).with_audit(audit).start().await;
        let (status, _, json) = send(&app, own_events("?limit=3&before=101")).await;
        assert_eq!(status, StatusCode::OK, "{json}");
        assert_eq!(json["data"]["next_before"], next_before, "{count}");
        assert_eq!(
            json["data"]["events"].as_array().unwrap().len(),
            count as usize
        );
    }
}

#[actix_web::test]
async fn bad_paging_values_are_422_on_both_event_routes() {
    let app = app(repository_with(vec![
        stored_user("agent47", true),
        superuser("root"),
    ]))
    .await;
    for query in [
        "limit=0",
        "limit=201",
        "limit=x",
        "limit=1.5",
        "before=0",
        "before=-1",
        "before=abc",
        "before=99999999999999999999",
    ] {
        let field = query.split('=').next().unwrap();
        for request in [
            own_events(&format!("?{query}")),
            TestRequest::get()
                .uri(&format!("/api/admin/events?{query}"))
                .insert_header(bearer(&access_token_with("root", "admin"))),
        ] {
            let (status, _, json) = send(&app, request).await;
            assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {json}");
            assert_error(&json, 422, "422_UNPROCESSABLE_ENTITY", "Validation failed.");
            assert_eq!(detail_fields(&json), [field], "{query}");
        }
    }
}

fn admin_events(query: &str) -> TestRequest {
    TestRequest::get()
        .uri(&format!("/api/admin/events{query}"))
        .insert_header(bearer(&access_token_with("root", "admin")))
}

#[actix_web::test]
async fn everyones_events_filter_by_user_and_action() {
    let audit = trail(2, |query| {
        query.subject.as_ref().map(AsRef::as_ref) == Some("agent47")
            && query.action == Some(Action::LoginFailed)
            && query.limit == 2
    });
    let app = TestApp::new(repository_with(vec![superuser("root")]))
        .with_audit(audit)
        .start()
        .await;
    let (status, _, json) = send(
        &app,
        admin_events("?user=agent47&action=login.failed&limit=2&unknown=1"),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["data"]["next_before"], 99);
}

#[actix_web::test]
async fn a_bad_user_or_action_filter_is_422_naming_each() {
    let app = app(repository_with(vec![superuser("root")])).await;
    for (query, fields) in [
        ("?user=a%20b", vec!["user"]),
        ("?action=login.nope", vec!["action"]),
        ("?user=x&action=&limit=0", vec!["limit", "user", "action"]),
        ("?user=%FF", vec!["user"]),
    ] {
        let (status, _, json) = send(&app, admin_events(query)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {json}");
        assert_eq!(detail_fields(&json), fields, "{query}");
    }
}

#[actix_web::test]
async fn a_change_records_the_client_address_user_agent_and_request_id() {
    let mut sessions = MockSessionRepository::new();
    sessions
        .expect_revoke_all_for_user()
        .withf(|id, event| {
            *id == 1
                && event.action == Action::SessionLogoutAll
                && event.origin
                    == Origin::new(
                        Some("192.0.2.1".into()),
                        Some("zentra-test/1"),
                        Some("req-42"),
                    )
        })
        .times(1)
        .returning(|_, _| Ok(()));
    let app = TestApp {
        sessions,
        ..TestApp::new(only_agent47())
    }
    .start()
    .await;
    let (status, headers, json) = send(
        &app,
        TestRequest::post()
            .uri("/api/auth/logout/all")
            .peer_addr("192.0.2.1:5000".parse().unwrap())
            .insert_header((header::USER_AGENT, "zentra-test/1"))
            .insert_header(("X-Request-Id", "req-42"))
            .insert_header(bearer(&access_token_for("agent47"))),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(headers.get("x-request-id").unwrap(), "req-42");
}
