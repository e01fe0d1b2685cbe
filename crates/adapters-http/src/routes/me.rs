//! The caller's own account: `GET`/`PATCH /api/auth/users/me`,
//! `POST /api/auth/users/me/password` and `GET /api/auth/users/me/events`
//! (docs/api.md §3.1, §4, §9). Every route needs the scope `me`.

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use domain::{
    AuthService, ChangePasswordRequest, DetailsUpdate, Email, EmailError, FullName, Password,
    PasswordError, PasswordHash, Phone, Scopes, User, UserDetails, Username,
};
use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize};

use utoipa::ToSchema;

use super::{
    LanesData, Service,
    events::{self, EventPage, Filters},
    wire::ScopeList,
};
use crate::{
    Envelope, FieldError, HttpSettings, UseCase,
    client_address::RequestOrigin,
    envelope::{NoData, Wire},
    error::ApiError,
    extract::{Authorized, JsonBody, Me},
    openapi::{error_example, insufficient_scope_example, other_error_example},
};

/// `GetUser` of docs/api.md §2 and §9.
#[derive(Serialize, ToSchema)]
#[schema(example = json!(GetUser::from(&agent47())))]
pub(crate) struct GetUser<'a> {
    username: &'a str,
    email: Option<&'a str>,
    phone: Option<&'a str>,
    full_name: Option<&'a str>,
    is_active: bool,
    is_superuser: bool,
    /// The scopes the user holds (a token is granted at most these), in
    /// name order.
    #[schema(value_type = Vec<String>)]
    scopes: ScopeList<'a>,
}

impl<'a> From<&'a User> for GetUser<'a> {
    fn from(user: &'a User) -> Self {
        Self {
            username: user.username.as_ref(),
            email: user.details.email.as_ref().map(AsRef::as_ref),
            phone: user.details.phone.as_ref().map(AsRef::as_ref),
            full_name: user.details.full_name.as_ref().map(AsRef::as_ref),
            is_active: user.is_active,
            is_superuser: user.is_superuser,
            scopes: ScopeList(&user.scopes),
        }
    }
}

/// The user of the document's examples.
pub(crate) fn agent47() -> User {
    User {
        id: 47,
        username: Username::parse("agent47").expect("a valid username"),
        password_hash: PasswordHash::new("$2b$12$never.shown"),
        credential_version: 0,
        is_active: true,
        is_superuser: false,
        scopes: Scopes::parse("me").expect("valid scopes"),
        created_at: 1_796_195_400,
        details: UserDetails {
            email: Email::parse("johndoe@email.com").ok(),
            phone: Phone::parse("+44123456789").ok(),
            full_name: FullName::parse("Agent 47").ok(),
        },
    }
}

fn user_envelope(user: GetUser<'_>) -> Envelope {
    Envelope::new(StatusCode::OK).data(user).bearer()
}

fn user_response(user: &User) -> HttpResponse {
    user_envelope(GetUser::from(user)).into_response()
}

/// Only these fields may change; anything else (`username`, `is_active`,
/// `password`, unknown names) is refused: no mass assignment.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"email": "johndoe@email.com", "phone": "+44123456789", "full_name": "Agent 47"}))]
pub(crate) struct DetailsBody {
    /// One `@` and a dotted domain; stored in one normal form (NFKC,
    /// lower-cased); invisible and bidirectional-control characters are
    /// refused.
    #[serde(default, deserialize_with = "present")]
    #[schema(format = Email)]
    email: Option<Option<String>>,
    /// E.164: `+` and 8 to 15 digits.
    #[serde(default, deserialize_with = "present")]
    #[schema(pattern = "^\\+[0-9]{8,15}$")]
    phone: Option<Option<String>>,
    /// At most 256 characters; no control, invisible or
    /// bidirectional-control character (the joiners U+200C and U+200D are
    /// kept).
    #[serde(default, deserialize_with = "present")]
    #[schema(max_length = 256)]
    full_name: Option<Option<String>>,
}

/// A field that is present, perhaps as `null` (absent fields stay `None`
/// through `#[serde(default)]`).
pub(crate) fn present<'de, D: Deserializer<'de>>(
    deserializer: D,
) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// Parses each present field, reporting every one that is malformed.
pub(crate) fn parse_field<T, E: ToString>(
    field: &str,
    value: Option<Option<String>>,
    parse: impl FnOnce(&str) -> Result<T, E>,
    errors: &mut Vec<FieldError>,
) -> Option<Option<T>> {
    match value? {
        None => Some(None),
        Some(raw) => match parse(&raw) {
            Ok(parsed) => Some(Some(parsed)),
            Err(error) => {
                errors.push(FieldError::new(field, error.to_string()));
                None
            }
        },
    }
}

impl DetailsBody {
    pub(crate) fn into_update(self) -> Result<DetailsUpdate, ApiError> {
        let mut errors = Vec::new();
        let update = DetailsUpdate {
            email: parse_field("email", self.email, Email::parse, &mut errors),
            phone: parse_field("phone", self.phone, Phone::parse, &mut errors),
            full_name: parse_field("full_name", self.full_name, FullName::parse, &mut errors),
        };
        if errors.is_empty() {
            Ok(update)
        } else {
            Err(ApiError::Validation(errors))
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"current_password": "correct horse", "new_password": "battery staple"}))]
pub(crate) struct PasswordBody {
    #[schema(value_type = String)]
    current_password: SecretString,
    /// The registration policy: at least 8 characters, at most 72 bytes.
    #[schema(value_type = String, min_length = 8, max_length = 72)]
    new_password: SecretString,
}

#[utoipa::path(get, path = "/api/auth/users/me", tag = "auth",
    summary = "The caller's own profile",
    security(("bearer" = []), ("password" = ["me"])),
    responses(
        (status = 200, description = "The user", body = Wire<GetUser>,
            example = json!(user_envelope(GetUser::from(&agent47())).to_value())),
        (status = 400, description = "Inactive user.", body = Wire<NoData>,
            example = json!(error_example(ApiError::InactiveUser))),
        (status = 401, description = "Not authenticated. / Could not validate credentials.", body = Wire<NoData>,
            examples(
                ("Not authenticated." = (value = json!(error_example(ApiError::NotAuthenticated)))),
                ("Could not validate credentials." = (value = json!(error_example(ApiError::InvalidToken)))),
            )),
        (status = 403, description = "Not enough permissions. (the token lacks the scope `me`)", body = Wire<NoData>,
            example = json!(insufficient_scope_example("me"))),
        (status = "default", description = "Any other error (404, 405, 413, 415, 431, 500, 503…)", body = Wire<NoData>,
            example = json!(other_error_example())),
    ))]
pub(crate) async fn current_user(
    service: Service,
    lanes: LanesData,
    auth: Authorized<Me>,
) -> Result<HttpResponse, ApiError> {
    let service = service.into_inner();
    let user = lanes
        .run(UseCase::CurrentUser, move || {
            service.current_user(&auth.credential)
        })
        .await?;
    Ok(user_response(&user))
}

#[utoipa::path(patch, path = "/api/auth/users/me", tag = "auth",
    summary = "Change email, phone or full name (null clears)",
    security(("bearer" = []), ("password" = ["me"])),
    request_body(content = DetailsBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated user", body = Wire<GetUser>,
            example = json!(user_envelope(GetUser::from(&agent47())).to_value())),
        (status = 400, description = "Email already in use. / Phone already in use. / Inactive user.", body = Wire<NoData>,
            examples(
                ("Email already in use." = (value = json!(error_example(ApiError::EmailTaken)))),
                ("Phone already in use." = (value = json!(error_example(ApiError::PhoneTaken)))),
                ("Inactive user." = (value = json!(error_example(ApiError::InactiveUser)))),
            )),
        (status = 401, description = "Not authenticated. / Could not validate credentials.", body = Wire<NoData>,
            examples(
                ("Not authenticated." = (value = json!(error_example(ApiError::NotAuthenticated)))),
                ("Could not validate credentials." = (value = json!(error_example(ApiError::InvalidToken)))),
            )),
        (status = 422, description = "Validation failed.", body = Wire<NoData>,
            example = json!(error_example(ApiError::validation("email", EmailError.to_string())))),
        (status = 403, description = "Not enough permissions. (the token lacks the scope `me`)", body = Wire<NoData>,
            example = json!(insufficient_scope_example("me"))),
        (status = "default", description = "Any other error (404, 405, 413, 415, 431, 500, 503…)", body = Wire<NoData>,
            example = json!(other_error_example())),
    ))]
pub(crate) async fn update_details(
    service: Service,
    lanes: LanesData,
    RequestOrigin(origin): RequestOrigin,
    auth: Authorized<Me>,
    body: JsonBody<DetailsBody>,
) -> Result<HttpResponse, ApiError> {
    let update = body.0.into_update()?;
    let user = super::as_current_user(
        &lanes,
        UseCase::UpdateDetails,
        service,
        auth.credential,
        move |service, user| service.update_details(user, &update, &origin),
    )
    .await?;
    Ok(user_response(&user))
}

#[utoipa::path(post, path = "/api/auth/users/me/password", tag = "auth",
    summary = "Change the password (ends every session)",
    security(("bearer" = []), ("password" = ["me"])),
    request_body(content = PasswordBody, content_type = "application/json"),
    responses(
        (status = 200, description = "Password updated.", body = Wire<NoData>,
            example = json!(password_updated().to_value())),
        (status = 401, description = "Incorrect password. / Not authenticated.", body = Wire<NoData>,
            examples(
                ("Incorrect password." = (value = json!(error_example(ApiError::IncorrectPassword)))),
                ("Not authenticated." = (value = json!(error_example(ApiError::NotAuthenticated)))),
            )),
        (status = 422, description = "Validation failed.", body = Wire<NoData>,
            example = json!(error_example(ApiError::validation("new_password", PasswordError::TooShort.to_string())))),
        (status = 429, description = "Too many requests, try again later. (Retry-After: a wrong current password counts as a failed login)", body = Wire<NoData>,
            example = json!(error_example(ApiError::TooManyRequests { retry_after_secs: 900 }))),
        (status = 403, description = "Not enough permissions. (the token lacks the scope `me`)", body = Wire<NoData>,
            example = json!(insufficient_scope_example("me"))),
        (status = "default", description = "Any other error (404, 405, 413, 415, 431, 500, 503…)", body = Wire<NoData>,
            example = json!(other_error_example())),
    ))]
pub(crate) async fn change_password(
    service: Service,
    lanes: LanesData,
    settings: web::Data<HttpSettings>,
    RequestOrigin(origin): RequestOrigin,
    auth: Authorized<Me>,
    body: JsonBody<PasswordBody>,
) -> Result<HttpResponse, ApiError> {
    let PasswordBody {
        current_password,
        new_password,
    } = body.0;
    let new_password = Password::parse(new_password)
        .map_err(|error| ApiError::validation("new_password", error.to_string()))?;
    let request = ChangePasswordRequest {
        current_password,
        new_password,
        origin,
    };
    let credential = auth.credential;
    super::password_attempt(
        &lanes,
        service,
        (
            UseCase::AdmitPasswordChange,
            move |service: &AuthService| {
                // Only a user who logged in changes the password, not a key.
                let user = service.token_user(&credential)?;
                Ok(service.admit_password_change(user, request)?)
            },
        ),
        (UseCase::ChangePassword, |service: &AuthService, attempt| {
            service.change_password(attempt)
        }),
    )
    .await?;
    let mut response = password_updated().into_response();
    // Every session ended with the change, this browser's too.
    settings.refresh_cookie.clear_on(&mut response)?;
    Ok(response)
}

fn password_updated() -> Envelope {
    Envelope::new(StatusCode::OK)
        .message("Password updated.")
        .bearer()
}

#[utoipa::path(get, path = "/api/auth/users/me/events", tag = "auth",
    summary = "The caller's own audit trail, newest first",
    description = "Security events whose subject is the caller. Page on with `before` = the \
        `next_before` of the previous page (null: no further page).",
    security(("bearer" = []), ("password" = ["me"])),
    params(
        ("limit" = Option<u32>, Query, minimum = 1, maximum = 200,
            description = "Events per page (default 50)"),
        ("before" = Option<i64>, Query, minimum = 1,
            description = "Only events with a smaller id: the `next_before` of the previous page"),
    ),
    responses(
        (status = 200, description = "A page of events", body = Wire<EventPage>,
            example = json!(events::example_page().to_value())),
        (status = 400, description = "Inactive user.", body = Wire<NoData>,
            example = json!(error_example(ApiError::InactiveUser))),
        (status = 401, description = "Not authenticated. / Could not validate credentials.", body = Wire<NoData>,
            examples(
                ("Not authenticated." = (value = json!(error_example(ApiError::NotAuthenticated)))),
                ("Could not validate credentials." = (value = json!(error_example(ApiError::InvalidToken)))),
            )),
        (status = 403, description = "Not enough permissions. (the token lacks the scope `me`)", body = Wire<NoData>,
            example = json!(insufficient_scope_example("me"))),
        (status = 422, description = "Validation failed.", body = Wire<NoData>,
            example = json!(error_example(ApiError::validation("limit", "limit must be an integer from 1 to 200.")))),
        (status = "default", description = "Any other error (404, 405, 413, 415, 431, 500, 503…)", body = Wire<NoData>,
            example = json!(other_error_example())),
    ))]
pub(crate) async fn own_events(
    service: Service,
    lanes: LanesData,
    request: HttpRequest,
    auth: Authorized<Me>,
) -> Result<HttpResponse, ApiError> {
    let query = events::parse_query(request.query_string(), Filters::Paging)?;
    let limit = query.limit;
    let found = super::as_current_user(
        &lanes,
        UseCase::OwnEvents,
        service,
        auth.credential,
        move |service, user| service.own_events(user, query),
    )
    .await?;
    Ok(events::page(&found, limit).into_response())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_documented_user_is_what_the_route_sends() {
        let user = agent47();
        assert_eq!(
            serde_json::to_value(GetUser::from(&user)).unwrap(),
            serde_json::json!({"username": "agent47", "email": "johndoe@email.com",
                "phone": "+44123456789", "full_name": "Agent 47", "is_active": true,
                "is_superuser": false, "scopes": ["me"]})
        );
    }
}
