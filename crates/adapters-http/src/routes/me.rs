//! The caller's own account: `GET`/`PATCH /api/auth/users/me` and
//! `POST /api/auth/users/me/password` (docs/api.md §3.1, §4).

use actix_web::{HttpRequest, HttpResponse, http::StatusCode, web};
use domain::{
    AuthService, ChangePasswordRequest, DetailsUpdate, Email, EmailError, FullName, Password,
    PasswordError, Phone, User,
};
use secrecy::SecretString;
use serde::{Deserialize, Deserializer, Serialize};

use utoipa::ToSchema;

use super::{LanesData, Service};
use crate::{
    Envelope, FieldError, HttpSettings, UseCase, client_address,
    envelope::{NoData, Wire},
    error::ApiError,
    extract::{BearerToken, JsonBody},
    openapi::{error_example, other_error_example},
};

/// `GetUser` of docs/api.md §2.
#[derive(Serialize, ToSchema)]
#[schema(example = json!(AGENT_47))]
pub(crate) struct GetUser<'a> {
    username: &'a str,
    email: Option<&'a str>,
    phone: Option<&'a str>,
    full_name: Option<&'a str>,
    is_active: bool,
}

impl<'a> From<&'a User> for GetUser<'a> {
    fn from(user: &'a User) -> Self {
        Self {
            username: user.username.as_ref(),
            email: user.details.email.as_ref().map(AsRef::as_ref),
            phone: user.details.phone.as_ref().map(AsRef::as_ref),
            full_name: user.details.full_name.as_ref().map(AsRef::as_ref),
            is_active: user.is_active,
        }
    }
}

/// The user of the document's examples.
const AGENT_47: GetUser<'static> = GetUser {
    username: "agent47",
    email: Some("johndoe@email.com"),
    phone: Some("+44123456789"),
    full_name: Some("Agent 47"),
    is_active: true,
};

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
fn present<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Option<Option<String>>, D::Error> {
    Option::<String>::deserialize(deserializer).map(Some)
}

/// Parses each present field, reporting every one that is malformed.
fn parse_field<T, E: ToString>(
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
    security(("bearer" = []), ("password" = [])),
    responses(
        (status = 200, description = "The user", body = Wire<GetUser>,
            example = json!(user_envelope(AGENT_47).to_value())),
        (status = 400, description = "Inactive user.", body = Wire<NoData>,
            example = json!(error_example(ApiError::InactiveUser))),
        (status = 401, description = "Not authenticated. / Could not validate credentials.", body = Wire<NoData>,
            examples(
                ("Not authenticated." = (value = json!(error_example(ApiError::NotAuthenticated)))),
                ("Could not validate credentials." = (value = json!(error_example(ApiError::InvalidToken)))),
            )),
        (status = "default", description = "Any other error (404, 405, 413, 415, 431, 500, 503…)", body = Wire<NoData>,
            example = json!(other_error_example())),
    ))]
pub(crate) async fn current_user(
    service: Service,
    lanes: LanesData,
    token: BearerToken,
) -> Result<HttpResponse, ApiError> {
    let service = service.into_inner();
    let user = lanes
        .run(UseCase::CurrentUser, move || service.current_user(&token.0))
        .await?;
    Ok(user_response(&user))
}

#[utoipa::path(patch, path = "/api/auth/users/me", tag = "auth",
    summary = "Change email, phone or full name (null clears)",
    security(("bearer" = []), ("password" = [])),
    request_body(content = DetailsBody, content_type = "application/json"),
    responses(
        (status = 200, description = "The updated user", body = Wire<GetUser>,
            example = json!(user_envelope(AGENT_47).to_value())),
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
        (status = "default", description = "Any other error (404, 405, 413, 415, 431, 500, 503…)", body = Wire<NoData>,
            example = json!(other_error_example())),
    ))]
pub(crate) async fn update_details(
    service: Service,
    lanes: LanesData,
    token: BearerToken,
    body: JsonBody<DetailsBody>,
) -> Result<HttpResponse, ApiError> {
    let update = body.0.into_update()?;
    let user = super::as_current_user(
        &lanes,
        UseCase::UpdateDetails,
        service,
        token,
        move |service, user| service.update_details(user, &update),
    )
    .await?;
    Ok(user_response(&user))
}

#[utoipa::path(post, path = "/api/auth/users/me/password", tag = "auth",
    summary = "Change the password (ends every session)",
    security(("bearer" = []), ("password" = [])),
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
        (status = "default", description = "Any other error (404, 405, 413, 415, 431, 500, 503…)", body = Wire<NoData>,
            example = json!(other_error_example())),
    ))]
pub(crate) async fn change_password(
    service: Service,
    lanes: LanesData,
    settings: web::Data<HttpSettings>,
    request: HttpRequest,
    token: BearerToken,
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
        client_address: client_address(&request, &settings),
    };
    super::password_attempt(
        &lanes,
        service,
        (
            UseCase::AdmitPasswordChange,
            move |service: &AuthService| {
                let user = service.current_user(&token.0)?;
                Ok(service.admit_password_change(user, request)?)
            },
        ),
        (UseCase::ChangePassword, |service: &AuthService, attempt| {
            service.change_password(attempt)
        }),
    )
    .await?;
    Ok(password_updated().into_response())
}

fn password_updated() -> Envelope {
    Envelope::new(StatusCode::OK)
        .message("Password updated.")
        .bearer()
}
