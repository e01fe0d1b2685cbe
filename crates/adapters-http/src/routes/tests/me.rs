//! The current user: the profile, its details and the password.

use domain::{Email, FullName};

use super::*;

#[actix_web::test]
async fn the_current_user_is_returned_with_a_bearer_header() {
    let app = app(only_agent47()).await;
    let (status, headers, json) = send(&app, get_me("agent47")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(headers.get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
    assert_eq!(
        json,
        json!({"status": "success", "code": 200, "response": "200_OK",
               "data": {"username": "agent47", "email": "agent47@example.com", "phone": null,
                        "full_name": "Agent 47", "is_active": true, "is_superuser": false,
                        "scopes": ["me"]},
               "headers": {"WWW-Authenticate": "Bearer"}})
    );
}

#[actix_web::test]
async fn no_bearer_header_is_not_authenticated() {
    let app = app(MockUserRepository::new()).await;
    for request in [
        TestRequest::get().uri("/api/auth/users/me"),
        TestRequest::get()
            .uri("/api/auth/users/me")
            .insert_header((header::AUTHORIZATION, "Basic YWdlbnQ0Nzpw")),
    ] {
        let (status, headers, json) = send(&app, request).await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_eq!(headers.get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
        assert_error(&json, 401, "401_UNAUTHORIZED", "Not authenticated.");
    }
}

#[actix_web::test]
async fn a_bad_a_refresh_or_an_orphan_token_could_not_be_validated() {
    let app = app(repository_with(vec![])).await;
    for token in [
        "garbage".to_owned(),
        issue(TokenKind::Refresh, "agent47"),
        access_token_for("deleted-user"),
    ] {
        let (status, _, json) = send(
            &app,
            TestRequest::get()
                .uri("/api/auth/users/me")
                .insert_header((header::AUTHORIZATION, format!("Bearer {token}"))),
        )
        .await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
        assert_error(
            &json,
            401,
            "401_UNAUTHORIZED",
            "Could not validate credentials.",
        );
    }
}

#[actix_web::test]
async fn an_inactive_user_gets_400() {
    let app = app(repository_with(vec![stored_user("sleeper", false)])).await;
    let (status, _, json) = send(&app, get_me("sleeper")).await;
    assert_eq!(status, StatusCode::BAD_REQUEST);
    assert_error(&json, 400, "400_BAD_REQUEST", "Inactive user.");
}

fn patch_me(body: Value) -> TestRequest {
    TestRequest::patch()
        .uri("/api/auth/users/me")
        .insert_header(bearer(&access_token_for("agent47")))
        .set_json(body)
}

#[actix_web::test]
async fn details_are_updated_and_the_new_profile_returned() {
    let mut repository = only_agent47();
    repository
        .expect_update_details()
        .withf(|id, update, _| {
            *id == 1
                && update.email == Some(Some(domain::Email::parse("new@example.com").unwrap()))
                && update.phone.is_none()
                && update.full_name == Some(None)
        })
        .returning(|_, _, _| {
            let mut user = stored_user("agent47", true);
            user.details.email = Some(Email::parse("new@example.com").unwrap());
            user.details.full_name = None;
            Ok(user)
        });
    let app = app(repository).await;
    let (status, headers, json) = send(
        &app,
        patch_me(json!({"email": "New@Example.com", "full_name": null})),
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(headers.get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
    assert_eq!(json["data"]["email"], "new@example.com");
    assert_eq!(json["data"]["full_name"], Value::Null);
}

#[actix_web::test]
async fn other_fields_and_malformed_values_are_422() {
    let app = app(only_agent47()).await;
    for (body, field) in [
        (json!({"username": "root"}), "username"),
        (json!({"is_active": false}), "is_active"),
        (json!({"password": "x"}), "password"),
        (json!({"favourite_colour": "red"}), "favourite_colour"),
        (json!({"email": "not-an-email"}), "email"),
        (json!({"phone": "0123 456"}), "phone"),
        (json!({"phone": 44_123_456_789_i64}), "phone"),
        (json!({"email": "ali\u{200B}ce@example.com"}), "email"),
        (json!({"full_name": "Agent \u{202E}74"}), "full_name"),
        (json!({"full_name": "Agent\u{FEFF} 47"}), "full_name"),
    ] {
        let (status, _, json) = send(&app, patch_me(body.clone())).await;
        assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY, "{body}");
        assert_eq!(json["details"][0]["field"], field, "{json}");
    }
}

#[actix_web::test]
async fn a_taken_email_or_phone_is_400() {
    for (error, message) in [
        (
            domain::UpdateDetailsError::EmailTaken,
            "Email already in use.",
        ),
        (
            domain::UpdateDetailsError::PhoneTaken,
            "Phone already in use.",
        ),
    ] {
        let mut repository = only_agent47();
        let error = Mutex::new(Some(error));
        repository
            .expect_update_details()
            .returning(move |_, _, _| Err(error.lock().unwrap().take().unwrap()));
        let app = app(repository).await;
        let (status, _, json) = send(
            &app,
            patch_me(json!({"email": "a@b.co", "phone": "+4412345678"})),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert_eq!(json["message"], message);
    }
}

#[actix_web::test]
async fn a_look_alike_email_is_stored_in_its_normal_form_and_collides() {
    let mut repository = only_agent47();
    repository
        .expect_update_details()
        .withf(|_, update, _| {
            update.email == Some(Some(domain::Email::parse("alice@example.com").unwrap()))
        })
        .returning(|_, _, _| Err(domain::UpdateDetailsError::EmailTaken));
    let app = app(repository).await;
    let (status, _, json) =
        send(&app, patch_me(json!({"email": "\u{FF41}lice@example.com"}))).await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "{json}");
    assert_eq!(json["message"], "Email already in use.");
}

#[actix_web::test]
async fn a_full_name_keeps_the_joiners_a_script_needs() {
    let name = "\u{0915}\u{094D}\u{200D}\u{0937} \u{0645}\u{06CC}\u{200C}\u{062E}";
    let mut repository = only_agent47();
    repository
        .expect_update_details()
        .withf(move |_, update, _| update.full_name == Some(Some(FullName::parse(name).unwrap())))
        .returning(move |_, _, _| {
            let mut user = stored_user("agent47", true);
            user.details.full_name = Some(FullName::parse(name).unwrap());
            Ok(user)
        });
    let app = app(repository).await;
    let (status, _, json) = send(&app, patch_me(json!({"full_name": name}))).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["data"]["full_name"], name);
}

fn change_password(current: &str, new: &str) -> TestRequest {
    TestRequest::post()
        .uri("/api/auth/users/me/password")
        .insert_header(bearer(&access_token_for("agent47")))
        .set_json(json!({"current_password": current, "new_password": new}))
}

#[actix_web::test]
async fn a_password_change_needs_the_current_password_and_a_valid_new_one() {
    let mut repository = only_agent47();
    repository
        .expect_change_password()
        .times(1)
        .returning(|_, _, _, _| Ok(true));
    let app = app(repository).await;

    let (status, headers, json) =
        send(&app, change_password("wrong horse", "brand new horse")).await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    assert_eq!(headers.get(header::WWW_AUTHENTICATE).unwrap(), "Bearer");
    assert_eq!(json["message"], "Incorrect password.");

    let (status, _, json) = send(&app, change_password(PASSWORD, "short")).await;
    assert_eq!(status, StatusCode::UNPROCESSABLE_ENTITY);
    assert_eq!(json["details"][0]["field"], "new_password");

    let (status, _, json) = send(&app, change_password(PASSWORD, "brand new horse")).await;
    assert_eq!(status, StatusCode::OK, "{json}");
    assert_eq!(json["message"], "Password updated.");
}
