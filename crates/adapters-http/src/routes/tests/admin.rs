//! The admin API (docs/api.md §9): who may call it, and each route's
//! answers.

use domain::{UpdateUserError, UserPage};

use super::*;

/// A repository that knows the superuser `root` (id 7) and `agent47` (id 1).
fn root_and_agent47() -> MockUserRepository {
    repository_with(vec![superuser("root"), stored_user("agent47", true)])
}

/// An `admin me` token for `root`.
fn root_token() -> String {
    access_token_with("root", "admin me")
}

fn as_root(request: TestRequest) -> TestRequest {
    request.insert_header(bearer(&root_token()))
}

/// One request to each admin route.
fn every_admin_route() -> Vec<TestRequest> {
    vec![
        TestRequest::get().uri("/api/admin/users"),
        TestRequest::post()
            .uri("/api/admin/users")
            .set_json(json!({"username": "agent48", "password": PASSWORD})),
        TestRequest::get().uri("/api/admin/users/agent47"),
        TestRequest::patch()
            .uri("/api/admin/users/agent47")
            .set_json(json!({"is_active": false})),
        TestRequest::delete().uri("/api/admin/users/agent47"),
        TestRequest::post().uri("/api/admin/users/agent47/logout"),
        TestRequest::post().uri("/api/admin/users/agent47/unlock"),
        TestRequest::get().uri("/api/admin/events"),
    ]
}

#[actix_web::test]
async fn a_token_without_admin_is_403_insufficient_scope_on_every_admin_route() {
    // No store expectation: refused before any store call.
    let app = app(MockUserRepository::new()).await;
    let challenge = r#"Bearer error="insufficient_scope", scope="admin""#;
    for request in every_admin_route() {
        let request = request.insert_header(bearer(&access_token_for("root")));
        let (status, headers, json) = send(&app, request).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{json}");
        assert_eq!(headers.get(header::WWW_AUTHENTICATE).unwrap(), challenge);
        assert_error(&json, 403, "403_FORBIDDEN", "Not enough permissions.");
        assert_eq!(json["headers"]["WWW-Authenticate"], challenge);
    }
}

#[actix_web::test]
async fn an_admin_token_whose_user_is_not_an_active_superuser_now_is_403() {
    let mut demoted = superuser("demoted");
    demoted.is_superuser = false;
    let mut deactivated = superuser("sleeper");
    deactivated.is_active = false;
    let mut stripped = superuser("stripped");
    stripped.scopes = scopes("me");
    let app = app(repository_with(vec![demoted, deactivated, stripped])).await;
    for name in ["demoted", "sleeper", "stripped", "deleted"] {
        for request in every_admin_route() {
            let request = request.insert_header(bearer(&access_token_with(name, "admin me")));
            let (status, headers, json) = send(&app, request).await;
            assert_eq!(status, StatusCode::FORBIDDEN, "{name}: {json}");
            assert_error(&json, 403, "403_FORBIDDEN", "Not enough permissions.");
            assert!(headers.get(header::WWW_AUTHENTICATE).is_none(), "{name}");
            assert_eq!(json["headers"], Value::Null);
        }
    }
}

#[actix_web::test]
async fn an_unknown_user_is_404_and_so_is_a_path_no_user_can_have() {
    let app = app(root_and_agent47()).await;
    for path in ["nobody", "a%20b", "x"] {
        for request in [
            TestRequest::get().uri(&format!("/api/admin/users/{path}")),
            TestRequest::patch()
                .uri(&format!("/api/admin/users/{path}"))
                .set_json(json!({})),
            TestRequest::delete().uri(&format!("/api/admin/users/{path}")),
            TestRequest::post().uri(&format!("/api/admin/users/{path}/logout")),
            TestRequest::post().uri(&format!("/api/admin/users/{path}/unlock")),
        ] {
            let (status, _, json) = send(&app, as_root(request)).await;
            assert_eq!(status, StatusCode::NOT_FOUND, "{path}: {json}");
            assert_error(&json, 404, "404_NOT_FOUND", "User not found.");
        }
    }
}

#[actix_web::test]
async fn a_superuser_may_not_delete_deactivate_or_demote_their_own_account() {
    let app = app(root_and_agent47()).await;
    for request in [
        TestRequest::delete().uri("/api/admin/users/root"),
        TestRequest::patch()
            .uri("/api/admin/users/root")
            .set_json(json!({"is_active": false})),
        TestRequest::patch()
            .uri("/api/admin/users/root")
            .set_json(json!({"is_superuser": false})),
        TestRequest::patch()
            .uri("/api/admin/users/root")
            .set_json(json!({"scopes": ["me"]})),
    ] {
        let (status, _, json) = send(&app, as_root(request)).await;
        assert_eq!(status, StatusCode::FORBIDDEN, "{json}");
        assert_error(
            &json,
            403,
            "403_FORBIDDEN",
            "Not allowed on your own account.",
        );
    }
}

#[actix_web::test]
async fn paging_values_out_of_range_are_422_naming_the_field() {
    let mut repository = root_and_agent47();
    repository
        .expect_list()
        .withf(|query| query.page == u32::MAX)
        .times(1)
        .returning(|_| {
            Ok(UserPage {
                users: Vec::new(),
                total: 2,
            })
        });
    let app = app(repository).await;
    for (query, fields) in [
        ("per_page=0", vec!["per_page"]),
        ("per_page=201", vec!["per_page"]),
        ("per_page=ten", vec!["per_page"]),
        ("page=0", vec!["page"]),
        ("page=4294967296", vec!["page"]),
        ("page=-1&per_page=0", vec!["page", "per_page"]),
        ("q=%FF", vec!["q"]),
        ("q=a%00b", vec!["q"]),
    ] {
        let request = TestRequest::get().uri(&format!("/api/admin/users?{query}"));
        let (status, _, json) = send(&app, as_root(request)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{query}: {json}");
        assert_error(&json, 422, "422_UNPROCESSABLE_ENTITY", "Validation failed.");
        assert_eq!(detail_fields(&json), fields, "{query}");
    }
    // The largest page the document allows is taken (and is empty).
    let request = TestRequest::get().uri("/api/admin/users?page=4294967295");
    let (status, _, json) = send(&app, as_root(request)).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["data"]["page"], 4_294_967_295_u64);
    let long = "a".repeat(65);
    let request = TestRequest::get().uri(&format!("/api/admin/users?q={long}"));
    let (status, _, json) = send(&app, as_root(request)).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(detail_fields(&json), ["q"]);
}

#[actix_web::test]
async fn the_user_list_answers_its_page_of_admin_users() {
    let mut repository = root_and_agent47();
    repository
        .expect_list()
        .withf(|query| {
            query.page == 2
                && query.per_page == 200
                && query.username_contains.as_deref() == Some("ag")
        })
        .returning(|_| {
            Ok(UserPage {
                users: vec![stored_user("agent47", true)],
                total: 201,
            })
        });
    let app = app(repository).await;
    let request = TestRequest::get().uri("/api/admin/users?page=2&per_page=200&q=ag&x=%zz");
    let (status, headers, json) = send(&app, as_root(request)).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(headers.get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
    assert_eq!(json["data"]["page"], 2);
    assert_eq!(json["data"]["per_page"], 200);
    assert_eq!(json["data"]["total"], 201);
    assert_eq!(json["data"]["users"][0]["username"], "agent47");
    assert_eq!(json["headers"], json!({"WWW-Authenticate": "Bearer"}));
}

#[actix_web::test]
async fn the_user_list_defaults_to_the_first_page_of_50() {
    let mut repository = root_and_agent47();
    repository
        .expect_list()
        .withf(|query| query.page == 1 && query.per_page == 50 && query.username_contains.is_none())
        .returning(|_| {
            Ok(UserPage {
                users: vec![],
                total: 0,
            })
        });
    let app = app(repository).await;
    let request = TestRequest::get().uri("/api/admin/users?q=");
    let (status, _, json) = send(&app, as_root(request)).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(
        json["data"],
        json!({"users": [], "page": 1, "per_page": 50, "total": 0})
    );
}

/// A repository that creates whatever user it is given, as id 48, and
/// checks that root is the actor.
fn creating() -> MockUserRepository {
    let mut repository = root_and_agent47();
    repository.expect_create().returning(|new, event| {
        assert_eq!(event.actor.as_ref().map(AsRef::as_ref), Some("root"));
        assert_eq!(event.action, domain::Action::AdminUserCreated);
        Ok(User {
            id: 48,
            username: new.username.clone(),
            password_hash: new.password_hash.clone(),
            credential_version: 0,
            is_active: new.is_active,
            is_superuser: new.is_superuser,
            scopes: new.scopes.clone(),
            created_at: CREATED_AT,
            details: new.details.clone(),
        })
    });
    repository
}

fn create(body: Value) -> TestRequest {
    as_root(TestRequest::post().uri("/api/admin/users").set_json(body))
}

#[actix_web::test]
async fn creating_a_user_answers_201_with_the_admin_user() {
    let app = app(creating()).await;
    let (status, headers, json) = send(
        &app,
        create(json!({"username": "agent48", "password": PASSWORD,
            "email": "Agent48@Example.com", "full_name": "Agent 48"})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED, "{json}");
    assert_eq!(headers.get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
    assert_eq!(
        json,
        json!({"status": "success", "code": 201, "response": "201_CREATED",
            "data": {"id": 48, "username": "agent48", "email": "agent48@example.com",
                "phone": null, "full_name": "Agent 48", "is_active": true,
                "is_superuser": false, "scopes": ["me"],
                "created_at": "2026-12-02T07:10:00Z"},
            "headers": {"WWW-Authenticate": "Bearer"}})
    );
}

#[actix_web::test]
async fn a_superuser_is_created_with_admin_and_given_scopes_are_kept() {
    let app = app(creating()).await;
    for (body, granted) in [
        (
            json!({"username": "boss", "password": PASSWORD, "is_superuser": true}),
            json!(["admin", "me"]),
        ),
        (
            json!({"username": "reader", "password": PASSWORD, "is_active": false,
                "scopes": ["items:read"]}),
            json!(["items:read"]),
        ),
        (
            json!({"username": "nobody", "password": PASSWORD, "scopes": []}),
            json!([]),
        ),
    ] {
        let (status, _, json) = send(&app, create(body.clone())).await;
        assert_eq!(status, StatusCode::CREATED, "{body}: {json}");
        assert_eq!(json["data"]["scopes"], granted, "{body}");
    }
}

#[actix_web::test]
async fn a_created_user_is_validated_field_by_field_and_unknown_fields_are_refused() {
    let app = app(root_and_agent47()).await;
    let (status, _, json) = send(
        &app,
        create(
            json!({"username": "a b", "password": "short", "email": "nope",
            "phone": "123", "full_name": "Agent \u{202E}48"}),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{json}");
    assert_eq!(
        detail_fields(&json),
        ["username", "password", "email", "phone", "full_name"]
    );
    for (body, field) in [
        (
            json!({"username": "agent48", "password": PASSWORD, "is_admin": true}),
            "is_admin",
        ),
        (json!({"password": PASSWORD}), "username"),
        (
            json!({"username": "agent48", "password": PASSWORD, "scopes": "me"}),
            "scopes",
        ),
        (
            json!({"username": "agent48", "password": PASSWORD, "is_active": "yes"}),
            "is_active",
        ),
    ] {
        let (status, _, json) = send(&app, create(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {json}");
        assert_eq!(detail_fields(&json), [field], "{body}");
    }
}

#[actix_web::test]
async fn unknown_scopes_are_400_and_admin_for_a_non_superuser_is_422() {
    let app = app(root_and_agent47()).await;
    for scopes in [json!(["items:delete"]), json!(["me admin"]), json!(["Me"])] {
        let (status, _, json) = send(
            &app,
            create(json!({"username": "agent48", "password": PASSWORD, "scopes": scopes})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST, "{scopes}: {json}");
        assert_error(&json, 400, "400_BAD_REQUEST", "Invalid scope.");
    }
    let (status, _, json) = send(
        &app,
        create(json!({"username": "agent48", "password": PASSWORD, "scopes": ["admin"]})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{json}");
    assert_eq!(
        json["details"],
        json!([{"field": "scopes", "message": "Only superusers may hold the admin scope."}])
    );
}

#[actix_web::test]
async fn creating_a_taken_username_is_400() {
    let mut repository = root_and_agent47();
    repository
        .expect_create()
        .returning(|_, _| Err(CreateUserError::UsernameTaken));
    let app = app(repository).await;
    let (status, _, json) = send(
        &app,
        create(json!({"username": "agent47", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&json, 400, "400_BAD_REQUEST", "User already registered.");
}

#[actix_web::test]
async fn getting_a_user_answers_the_admin_user() {
    let app = app(root_and_agent47()).await;
    let (status, _, json) = send(
        &app,
        as_root(TestRequest::get().uri("/api/admin/users/agent47")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["data"]["id"], 1);
    assert_eq!(json["data"]["created_at"], "2026-12-02T07:10:00Z");
    assert_eq!(json["data"]["scopes"], json!(["me"]));
}

#[actix_web::test]
async fn a_change_applies_only_the_fields_sent_and_null_clears_a_detail() {
    let mut repository = root_and_agent47();
    repository
        .expect_update()
        .withf(|id, change, event| {
            *id == 1
                && change.is_active == Some(false)
                && change.is_superuser.is_none()
                && change.scopes.is_none()
                && change.password_hash.is_some()
                && change.revoke_sessions
                && change.details.full_name == Some(None)
                && change.details.email.is_none()
                && event.action == domain::Action::AdminUserUpdated
        })
        .returning(|_, _, _| {
            let mut user = stored_user("agent47", false);
            user.details.full_name = None;
            Ok(user)
        });
    let app = app(repository).await;
    let (status, headers, json) = send(
        &app,
        as_root(
            TestRequest::patch()
                .uri("/api/admin/users/agent47")
                .set_json(
                    json!({"is_active": false, "password": "brand new horse", "full_name": null}),
                ),
        ),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(headers.get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
    assert_eq!(json["data"]["is_active"], false);
    assert_eq!(json["data"]["full_name"], Value::Null);
}

#[actix_web::test]
async fn a_change_is_validated_and_refuses_other_fields() {
    let app = app(root_and_agent47()).await;
    for (body, fields) in [
        (json!({"username": "renamed"}), vec!["username"]),
        (json!({"id": 9}), vec!["id"]),
        (
            json!({"password": "short", "email": "nope"}),
            vec!["password", "email"],
        ),
        (json!({"phone": "0123"}), vec!["phone"]),
    ] {
        let (status, _, json) = send(
            &app,
            as_root(
                TestRequest::patch()
                    .uri("/api/admin/users/agent47")
                    .set_json(body.clone()),
            ),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {json}");
        assert_eq!(detail_fields(&json), fields, "{body}");
    }
}

#[actix_web::test]
async fn a_change_to_a_taken_email_is_400_and_a_vanished_user_404() {
    for (error, status, message) in [
        (UpdateUserError::EmailTaken, 400, "Email already in use."),
        (UpdateUserError::NotFound, 404, "User not found."),
    ] {
        let mut repository = root_and_agent47();
        let error = Mutex::new(Some(error));
        repository
            .expect_update()
            .returning(move |_, _, _| Err(error.lock().unwrap().take().unwrap()));
        let app = app(repository).await;
        let (code, _, json) = send(
            &app,
            as_root(
                TestRequest::patch()
                    .uri("/api/admin/users/agent47")
                    .set_json(json!({"email": "taken@example.com"})),
            ),
        )
        .await;
        assert_eq!(code.as_u16(), status, "{json}");
        assert_eq!(json["message"], message);
    }
}

#[actix_web::test]
async fn deleting_a_user_answers_200_user_deleted() {
    let mut repository = root_and_agent47();
    repository
        .expect_delete()
        .withf(|id, event| *id == 1 && event.action == domain::Action::AdminUserDeleted)
        .times(1)
        .returning(|_, _| Ok(true));
    let app = app(repository).await;
    let (status, headers, json) = send(
        &app,
        as_root(TestRequest::delete().uri("/api/admin/users/agent47")),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(headers.get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
    assert_eq!(
        json,
        json!({"status": "success", "code": 200, "response": "200_OK",
            "message": "User deleted.", "headers": {"WWW-Authenticate": "Bearer"}})
    );
}

#[actix_web::test]
async fn logging_a_user_out_and_unlocking_them_answer_their_messages() {
    let app = app(root_and_agent47()).await;
    for (path, message) in [
        (
            "/api/admin/users/agent47/logout",
            "Logged out of all sessions.",
        ),
        ("/api/admin/users/agent47/unlock", "Login limit cleared."),
    ] {
        let (status, _, json) = send(&app, as_root(TestRequest::post().uri(path))).await;
        assert_eq!(status, StatusCode::OK, "{path}: {json}");
        assert_eq!(json["message"], message);
        assert_eq!(json["headers"], json!({"WWW-Authenticate": "Bearer"}));
    }
}

#[actix_web::test]
async fn every_admin_resource_answers_405_with_allow_for_other_methods() {
    let app = app(MockUserRepository::new()).await;
    for (method, uri, allow) in [
        (Method::DELETE, "/api/admin/users", "GET, HEAD, POST"),
        (
            Method::POST,
            "/api/admin/users/agent47",
            "GET, HEAD, PATCH, DELETE",
        ),
        (Method::GET, "/api/admin/users/agent47/logout", "POST"),
        (Method::DELETE, "/api/admin/users/agent47/unlock", "POST"),
        (Method::POST, "/api/admin/events", "GET, HEAD"),
        (Method::POST, "/api/auth/users/me/events", "GET, HEAD"),
    ] {
        let (status, headers, json) =
            send(&app, TestRequest::default().method(method).uri(uri)).await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED, "{uri}");
        assert_eq!(headers.get(header::ALLOW).unwrap(), allow, "{uri}");
        assert_eq!(json["headers"]["Allow"], allow);
    }
    let (status, _, json) = send(&app, TestRequest::get().uri("/api/admin/nope")).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_error(&json, 404, "404_NOT_FOUND", "Not found.");
}

#[actix_web::test]
async fn head_answers_on_the_admin_get_routes() {
    let mut repository = root_and_agent47();
    repository.expect_list().returning(|_| {
        Ok(UserPage {
            users: vec![],
            total: 0,
        })
    });
    let app = app(repository).await;
    for uri in [
        "/api/admin/users",
        "/api/admin/users/agent47",
        "/api/admin/events",
    ] {
        let response = test::call_service(
            &app,
            as_root(TestRequest::default().method(Method::HEAD).uri(uri)).to_request(),
        )
        .await;
        assert_eq!(response.status(), StatusCode::OK, "{uri}");
    }
}
