//! Registering and logging in, and the limits on failed logins.

use super::*;

#[actix_web::test]
async fn registering_answers_201_with_the_username() {
    let mut repository = repository_with(vec![]);
    repository.expect_create().returning(|new, _| {
        Ok(User {
            username: new.username.clone(),
            ..stored_user("agent47", true)
        })
    });
    let app = app(repository).await;

    let (status, _, json) = send(
        &app,
        register(json!({"username": "agent47", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, StatusCode::CREATED);
    assert_eq!(
        json,
        json!({"status": "success", "code": 201, "response": "201_CREATED",
               "data": {"username": "agent47"}, "headers": null})
    );
}

#[actix_web::test]
async fn registering_a_taken_name_is_400_even_when_the_race_is_lost_in_the_store() {
    let mut repository = repository_with(vec![]);
    repository
        .expect_create()
        .returning(|_, _| Err(CreateUserError::UsernameTaken));
    let app = app(repository).await;

    let (status, _, json) = send(
        &app,
        register(json!({"username": "agent47", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&json, 400, "400_BAD_REQUEST", "User already registered.");
    assert_eq!(json["headers"], Value::Null);
}

#[actix_web::test]
async fn a_policy_breach_is_422_with_a_detail_per_field() {
    let app = app(MockUserRepository::new()).await;
    let (status, _, json) = send(
        &app,
        register(json!({"username": "a b", "password": "short"})),
    )
    .await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_error(&json, 422, "422_UNPROCESSABLE_ENTITY", "Validation failed.");
    let fields: Vec<_> = json["details"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["field"].as_str().unwrap())
        .collect();
    assert_eq!(fields, ["username", "password"]);
}

#[actix_web::test]
async fn a_missing_or_mistyped_field_is_422() {
    let app = app(MockUserRepository::new()).await;
    for (body, field) in [
        (json!({"username": "agent47"}), "password"),
        (
            json!({"username": "agent47", "password": PASSWORD, "is_active": "yes"}),
            "is_active",
        ),
        (json!({"username": 47, "password": PASSWORD}), "username"),
    ] {
        let (status, _, json) = send(&app, register(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
        assert_eq!(json["details"][0]["field"], field, "{json}");
    }
}

#[actix_web::test]
async fn logging_in_with_a_form_answers_202_with_a_bare_uncached_token_pair() {
    let app = app(only_agent47()).await;
    let (status, headers, json) = send(
        &app,
        TestRequest::post()
            .uri("/api/auth/token")
            .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
            .set_payload("grant_type=password&username=agent47&password=correct+horse&scope="),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
    assert_eq!(headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
    assert_eq!(headers.get(header::PRAGMA).unwrap(), "no-cache");
    assert_eq!(json["token_type"], "bearer");
    assert_eq!(json["expires_in"], 900);
    assert!(
        json.get("status").is_none(),
        "no envelope on success: {json}"
    );
    let access = json["access_token"].as_str().unwrap();
    let now = domain::Clock::now(&SystemClock);
    assert!(tokens().decode(access, TokenKind::Access, now).is_ok());
    let refresh = json["refresh_token"].as_str().unwrap();
    assert!(tokens().decode(refresh, TokenKind::Refresh, now).is_ok());
}

#[actix_web::test]
async fn logging_in_with_json_works_too() {
    let app = app(only_agent47()).await;
    let (status, _, _) = send(
        &app,
        TestRequest::post()
            .uri("/api/auth/token")
            .set_json(json!({"username": "agent47", "password": PASSWORD})),
    )
    .await;
    assert_eq!(status, StatusCode::ACCEPTED);
}

#[actix_web::test]
async fn a_wrong_password_and_an_unknown_user_get_the_same_401() {
    let app = app(only_agent47()).await;
    let mut answers = Vec::new();
    for (name, password) in [("agent47", "wrong horse"), ("nobody", PASSWORD)] {
        let (status, headers, json) = send(&app, login_as(name, password)).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers.get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
        answers.push(json);
    }
    assert_error(
        &answers[0],
        401,
        "401_UNAUTHORIZED",
        "Incorrect username or password.",
    );
    assert_eq!(answers[0]["headers"], json!({"WWW-Authenticate": "Bearer"}));
    assert_eq!(answers[0], answers[1]);
}

#[actix_web::test]
async fn a_login_without_password_or_with_another_grant_is_422() {
    let app = app(MockUserRepository::new()).await;
    for (form, field) in [
        ("username=agent47", "password"),
        (
            "username=agent47&password=x&grant_type=client_credentials",
            "grant_type",
        ),
    ] {
        let (status, _, json) = send(
            &app,
            TestRequest::post()
                .uri("/api/auth/token")
                .insert_header((header::CONTENT_TYPE, "application/x-www-form-urlencoded"))
                .set_payload(form),
        )
        .await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{form}");
        assert_eq!(json["details"][0]["field"], field);
    }
}

#[actix_web::test]
async fn a_form_with_malformed_percent_encoding_or_invalid_utf8_is_422_naming_the_body() {
    let app = app(only_agent47()).await;
    for body in [
        "username=%zz%&password=%%%",
        "username=agent47&password=%FF",
        "username=agent47&password=%ED%A0%80", // an encoded lone surrogate
        "username=agent47&password=abc%2",
        "username=agent47&password=%C3",
    ] {
        let (status, _, json) = send(&app, form_login(body)).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}: {json}");
        assert_eq!(detail_fields(&json), ["body"], "{body}");
    }
    // Raw (unencoded) invalid UTF-8 too.
    let raw = form_login(&b"username=agent47&password=\xff\xfe"[..]);
    let (status, _, json) = send(&app, raw).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{json}");
    assert_eq!(detail_fields(&json), ["body"]);
}

#[actix_web::test]
async fn a_locked_username_gets_429_with_retry_after_even_with_the_right_password() {
    let app = TestApp::new(only_agent47())
        .with_failures("user:agent47", 3)
        .start()
        .await;
    let (status, headers, json) = send(&app, login_as("agent47", PASSWORD)).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert_error(
        &json,
        429,
        "429_TOO_MANY_REQUESTS",
        "Too many requests, try again later.",
    );
    let retry_after = headers.get(header::RETRY_AFTER).unwrap().to_str().unwrap();
    // The failures are 60 s old in a 900 s window (a second may tick by).
    assert!(["840", "839"].contains(&retry_after), "{retry_after}");
    assert_eq!(json["headers"]["Retry-After"], retry_after);
}

#[actix_web::test]
async fn the_address_limit_counts_the_peer_and_forwarded_for_only_when_trusted() {
    // The client wrote the left entry; the trusted proxy appended the last.
    let login = || {
        login_as("agent47", PASSWORD)
            .peer_addr("192.0.2.1:5000".parse().unwrap())
            .insert_header(("X-Forwarded-For", "198.51.100.1, 203.0.113.9"))
    };
    for (trusted, limited) in [(false, false), (true, true)] {
        let mut app = TestApp::new(only_agent47()).with_failures("addr:203.0.113.9", 10);
        app.http.trust_forwarded_for = trusted;
        let app = app.start().await;
        let (status, _, _) = send(&app, login()).await;
        let expected = if limited {
            StatusCode::TOO_MANY_REQUESTS
        } else {
            StatusCode::ACCEPTED
        };
        assert_eq!(status, expected, "trusted: {trusted}");
    }
    let app = TestApp::new(only_agent47())
        .with_failures("addr:192.0.2.1", 10)
        .start()
        .await;
    let (status, _, _) = send(&app, login()).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
}
