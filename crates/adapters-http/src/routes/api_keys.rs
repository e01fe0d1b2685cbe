//! API keys and introspection (docs/api.md §10): a user's own keys under
//! `/api/auth/api-keys`, anyone's for an administrator under
//! `/api/admin/users/{username}/api-keys`, and `POST
//! /api/auth/token/introspect` (RFC 7662) for resource servers.

use std::sync::Arc;

use actix_web::{HttpResponse, http::StatusCode, http::header, web};
use domain::{
    ApiKey, CreateKeyRequest, CreatedKey, IntrospectedKind, Introspection, KeyLifetime, KeyName,
    ScopeCatalogue, Scopes,
};
use secrecy::ExposeSecret;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

use super::{
    AdminData, LanesData, Service,
    admin::{as_superuser, found, named},
    wire::{Rfc3339, ScopeList, ScopeText, positive_id},
};
use crate::{
    Envelope, FieldError, UseCase,
    client_address::RequestOrigin,
    envelope::{NoData, Wire},
    error::ApiError,
    extract::{Admin, Authorized, Introspect, JsonBody, JsonOrFormBody, Me},
    openapi::{
        error_example, forbidden_examples, insufficient_scope_example, other_error_example,
        unavailable_example,
    },
};

const KEY_REVOKED: &str = "API key revoked.";

/// A key as listed: never its secret.
#[derive(Serialize, ToSchema)]
#[schema(example = json!(KeyOut::from(&example_key())))]
pub(crate) struct KeyOut<'a> {
    id: i64,
    name: &'a str,
    /// The first 8 characters after `zk_`.
    prefix: &'a str,
    #[schema(value_type = Vec<String>)]
    scopes: ScopeList<'a>,
    /// RFC 3339, UTC.
    #[schema(value_type = String, format = DateTime)]
    created_at: Rfc3339,
    #[schema(value_type = String, format = DateTime)]
    expires_at: Rfc3339,
    /// Written at most once a minute; null if never used.
    #[schema(value_type = Option<String>, format = DateTime)]
    last_used_at: Option<Rfc3339>,
}

impl<'a> From<&'a ApiKey> for KeyOut<'a> {
    fn from(key: &'a ApiKey) -> Self {
        Self {
            id: key.id,
            name: key.name.as_str(),
            prefix: &key.prefix,
            scopes: ScopeList(&key.scopes),
            created_at: Rfc3339(key.created_at),
            expires_at: Rfc3339(key.expires_at),
            last_used_at: key.last_used_at.map(Rfc3339),
        }
    }
}

/// A key just created, with its secret: shown this once.
#[derive(Serialize, ToSchema)]
#[schema(example = json!(NewKeyOut::from(&example_created())))]
pub(crate) struct NewKeyOut<'a> {
    id: i64,
    name: &'a str,
    /// The key itself. Store it now: only its digest is kept.
    key: &'a str,
    prefix: &'a str,
    #[schema(value_type = Vec<String>)]
    scopes: ScopeList<'a>,
    #[schema(value_type = String, format = DateTime)]
    created_at: Rfc3339,
    #[schema(value_type = String, format = DateTime)]
    expires_at: Rfc3339,
}

impl<'a> From<&'a CreatedKey> for NewKeyOut<'a> {
    fn from(created: &'a CreatedKey) -> Self {
        let key = &created.key;
        Self {
            id: key.id,
            name: key.name.as_str(),
            key: created.secret.expose_secret(),
            prefix: &key.prefix,
            scopes: ScopeList(&key.scopes),
            created_at: Rfc3339(key.created_at),
            expires_at: Rfc3339(key.expires_at),
        }
    }
}

/// `{"keys": [...]}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct KeyList<'a> {
    keys: Vec<KeyOut<'a>>,
}

fn example_key() -> ApiKey {
    ApiKey {
        id: 3,
        user_id: 47,
        name: KeyName::parse("ci deploy").expect("a valid name"),
        prefix: "4fX9a2Lq".into(),
        scopes: Scopes::parse("items:read").expect("valid scopes"),
        created_at: 1_796_195_400,
        expires_at: 1_803_971_400,
        last_used_at: None,
    }
}

fn example_created() -> CreatedKey {
    CreatedKey {
        key: example_key(),
        secret: "zk_4fX9a2LqR7sT0uV1wX2yZ3aB4cD5eF6g0Jb3Kc".into(),
    }
}

fn created_envelope(created: &CreatedKey) -> Envelope {
    Envelope::new(StatusCode::CREATED)
        .data(NewKeyOut::from(created))
        .header(header::CACHE_CONTROL, "no-store")
        .bearer()
}

fn list_envelope(keys: &[ApiKey]) -> Envelope {
    Envelope::new(StatusCode::OK)
        .data(KeyList {
            keys: keys.iter().map(KeyOut::from).collect(),
        })
        .bearer()
}

fn revoked() -> Envelope {
    Envelope::new(StatusCode::OK).message(KEY_REVOKED).bearer()
}

/// `POST /api/auth/api-keys`. Unknown fields are refused.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
#[schema(example = json!({"name": "ci deploy", "scopes": ["items:read"], "expires_in_days": 90}))]
pub(crate) struct CreateKeyBody {
    /// 1–64 characters.
    name: String,
    /// Some of the caller's grants (default: all of them but `admin`).
    #[serde(default)]
    scopes: Option<Vec<String>>,
    /// 1–366 (default 90).
    #[serde(default)]
    #[schema(minimum = 1, maximum = 366)]
    expires_in_days: Option<i64>,
}

impl CreateKeyBody {
    fn into_request(self, catalogue: &ScopeCatalogue) -> Result<CreateKeyRequest, ApiError> {
        let mut errors = Vec::new();
        let name = KeyName::parse(&self.name)
            .map_err(|error| errors.push(FieldError::new("name", error.to_string())))
            .ok();
        let lifetime = self
            .expires_in_days
            .map_or(Ok(KeyLifetime::DEFAULT), KeyLifetime::days)
            .map_err(|error| errors.push(FieldError::new("expires_in_days", error.to_string())))
            .ok();
        let (Some(name), Some(lifetime)) = (name, lifetime) else {
            return Err(ApiError::Validation(errors));
        };
        let scopes = self
            .scopes
            .map(|names| super::admin::grants(&names, catalogue))
            .transpose()?;
        Ok(CreateKeyRequest {
            name,
            scopes,
            lifetime,
        })
    }
}

#[utoipa::path(post, path = "/api/auth/api-keys", tag = "auth",
    summary = "Create an API key (shown once)",
    description = "A key for a machine client: `Authorization: Bearer zk_…` or `X-API-Key: zk_…` \
        on any bearer route, with its scopes. Needs an access token: a key cannot create keys.",
    security(("bearer" = []), ("password" = ["me"])),
    request_body(content = CreateKeyBody, content_type = "application/json"),
    responses(
        (status = 201, description = "The key, with its secret", body = Wire<NewKeyOut>,
            example = json!(created_envelope(&example_created()).to_value())),
        (status = 400, description = "Invalid scope. / Inactive user.", body = Wire<NoData>,
            examples(
                ("Invalid scope." = (value = json!(error_example(ApiError::InvalidScope)))),
                ("Inactive user." = (value = json!(error_example(ApiError::InactiveUser)))),
            )),
        (status = 401, description = "Not authenticated. / Could not validate credentials.", body = Wire<NoData>,
            examples(
                ("Not authenticated." = (value = json!(error_example(ApiError::NotAuthenticated)))),
                ("Could not validate credentials." = (value = json!(error_example(ApiError::InvalidToken)))),
            )),
        (status = 403, description = "Not enough permissions. (the token lacks `me`, or the caller is an API key)", body = Wire<NoData>,
            example = json!(insufficient_scope_example("me"))),
        (status = 422, description = "Validation failed.", body = Wire<NoData>,
            example = json!(error_example(ApiError::validation("expires_in_days", "A key lives 1 to 366 days")))),
        (status = "default", description = "Any other error (404, 405, 413, 415, 431, 500, 503…)", body = Wire<NoData>,
            example = json!(other_error_example())),
    ))]
pub(crate) async fn create(
    service: Service,
    lanes: LanesData,
    RequestOrigin(origin): RequestOrigin,
    auth: Authorized<Me>,
    body: JsonBody<CreateKeyBody>,
) -> Result<HttpResponse, ApiError> {
    let request = body.0.into_request(service.scopes())?;
    let service = service.into_inner();
    let credential = auth.credential;
    let created = lanes
        .run(UseCase::CreateApiKey, move || {
            service.create_api_key(&credential, request, &origin)
        })
        .await?;
    Ok(created_envelope(&created).into_response())
}

#[utoipa::path(get, path = "/api/auth/api-keys", tag = "auth",
    summary = "The caller's API keys, newest first (never their secrets)",
    security(("bearer" = []), ("password" = ["me"])),
    responses(
        (status = 200, description = "The keys", body = Wire<KeyList>,
            example = json!(list_envelope(&[example_key()]).to_value())),
        (status = 400, description = "Inactive user.", body = Wire<NoData>,
            example = json!(error_example(ApiError::InactiveUser))),
        (status = 401, description = "Not authenticated. / Could not validate credentials.", body = Wire<NoData>,
            examples(
                ("Not authenticated." = (value = json!(error_example(ApiError::NotAuthenticated)))),
                ("Could not validate credentials." = (value = json!(error_example(ApiError::InvalidToken)))),
            )),
        (status = 403, description = "Not enough permissions. (the token lacks the scope `me`)", body = Wire<NoData>,
            example = json!(insufficient_scope_example("me"))),
        (status = "default", description = "Any other error (405, 431, 500, 503…)", body = Wire<NoData>,
            example = json!(other_error_example())),
    ))]
pub(crate) async fn list(
    service: Service,
    lanes: LanesData,
    auth: Authorized<Me>,
) -> Result<HttpResponse, ApiError> {
    let keys = super::as_current_user(
        &lanes,
        UseCase::ListApiKeys,
        service,
        auth.credential,
        |service, user| service.list_api_keys(user),
    )
    .await?;
    Ok(list_envelope(&keys).into_response())
}

/// A key id from the path.
fn key_id(path: &str) -> Result<i64, ApiError> {
    positive_id(path).ok_or(ApiError::KeyNotFound)
}

#[utoipa::path(delete, path = "/api/auth/api-keys/{id}", tag = "auth",
    summary = "Revoke one of the caller's API keys",
    security(("bearer" = []), ("password" = ["me"])),
    params(("id" = i64, Path, description = "The key's id")),
    responses(
        (status = 200, description = "API key revoked.", body = Wire<NoData>,
            example = json!(revoked().to_value())),
        (status = 400, description = "Inactive user.", body = Wire<NoData>,
            example = json!(error_example(ApiError::InactiveUser))),
        (status = 401, description = "Not authenticated. / Could not validate credentials.", body = Wire<NoData>,
            examples(
                ("Not authenticated." = (value = json!(error_example(ApiError::NotAuthenticated)))),
                ("Could not validate credentials." = (value = json!(error_example(ApiError::InvalidToken)))),
            )),
        (status = 403, description = "Not enough permissions. (the token lacks the scope `me`)", body = Wire<NoData>,
            example = json!(insufficient_scope_example("me"))),
        (status = 404, description = "API key not found.", body = Wire<NoData>,
            example = json!(error_example(ApiError::KeyNotFound))),
        (status = "default", description = "Any other error (405, 431, 500, 503…)", body = Wire<NoData>,
            example = json!(unavailable_example())),
    ))]
pub(crate) async fn revoke(
    service: Service,
    lanes: LanesData,
    RequestOrigin(origin): RequestOrigin,
    auth: Authorized<Me>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = key_id(&path);
    super::as_current_user(
        &lanes,
        UseCase::RevokeApiKey,
        service,
        auth.credential,
        move |service, user| -> Result<(), ApiError> {
            Ok(service.revoke_api_key(user, id?, &origin)?)
        },
    )
    .await?;
    Ok(revoked().into_response())
}

#[utoipa::path(get, path = "/api/admin/users/{username}/api-keys", tag = "admin",
    summary = "A user's API keys, newest first",
    security(("bearer" = []), ("password" = ["admin"])),
    params(("username" = String, Path, description = "The user's username")),
    responses(
        (status = 200, description = "The keys", body = Wire<KeyList>,
            example = json!(list_envelope(&[example_key()]).to_value())),
        (status = 401, description = "Not authenticated. / Could not validate credentials.", body = Wire<NoData>,
            examples(
                ("Not authenticated." = (value = json!(error_example(ApiError::NotAuthenticated)))),
                ("Could not validate credentials." = (value = json!(error_example(ApiError::InvalidToken)))),
            )),
        (status = 403, description = "Not enough permissions.", body = Wire<NoData>,
            examples(
                ("Not enough permissions. (the token lacks the scope `admin`)" = (value = json!(forbidden_examples()[0]))),
                ("Not enough permissions. (the caller is not an active superuser now)" = (value = json!(forbidden_examples()[1]))),
            )),
        (status = 404, description = "User not found.", body = Wire<NoData>,
            example = json!(error_example(ApiError::UserNotFound))),
        (status = "default", description = "Any other error (405, 431, 500, 503…)", body = Wire<NoData>,
            example = json!(unavailable_example())),
    ))]
pub(crate) async fn admin_list(
    admin: AdminData,
    lanes: LanesData,
    RequestOrigin(origin): RequestOrigin,
    auth: Authorized<Admin>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let username = named(&path);
    let keys = as_superuser(
        &lanes,
        UseCase::AdminListApiKeys,
        admin,
        auth.credential,
        origin,
        move |admin, _| -> Result<Vec<ApiKey>, ApiError> {
            Ok(admin.list_api_keys(&found(username)?)?)
        },
    )
    .await?;
    Ok(list_envelope(&keys).into_response())
}

#[utoipa::path(delete, path = "/api/admin/users/{username}/api-keys/{id}", tag = "admin",
    summary = "Revoke a user's API key",
    security(("bearer" = []), ("password" = ["admin"])),
    params(
        ("username" = String, Path, description = "The user's username"),
        ("id" = i64, Path, description = "The key's id"),
    ),
    responses(
        (status = 200, description = "API key revoked.", body = Wire<NoData>,
            example = json!(revoked().to_value())),
        (status = 401, description = "Not authenticated. / Could not validate credentials.", body = Wire<NoData>,
            examples(
                ("Not authenticated." = (value = json!(error_example(ApiError::NotAuthenticated)))),
                ("Could not validate credentials." = (value = json!(error_example(ApiError::InvalidToken)))),
            )),
        (status = 403, description = "Not enough permissions.", body = Wire<NoData>,
            examples(
                ("Not enough permissions. (the token lacks the scope `admin`)" = (value = json!(forbidden_examples()[0]))),
                ("Not enough permissions. (the caller is not an active superuser now)" = (value = json!(forbidden_examples()[1]))),
            )),
        (status = 404, description = "User not found. / API key not found.", body = Wire<NoData>,
            examples(
                ("User not found." = (value = json!(error_example(ApiError::UserNotFound)))),
                ("API key not found." = (value = json!(error_example(ApiError::KeyNotFound)))),
            )),
        (status = "default", description = "Any other error (405, 431, 500, 503…)", body = Wire<NoData>,
            example = json!(unavailable_example())),
    ))]
pub(crate) async fn admin_revoke(
    admin: AdminData,
    lanes: LanesData,
    RequestOrigin(origin): RequestOrigin,
    auth: Authorized<Admin>,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (username, id) = path.into_inner();
    let username = named(&username);
    let id = key_id(&id);
    as_superuser(
        &lanes,
        UseCase::AdminRevokeApiKey,
        admin,
        auth.credential,
        origin,
        move |admin, actor| -> Result<(), ApiError> {
            let username = found(username)?;
            Ok(admin.revoke_api_key(actor, &username, id?)?)
        },
    )
    .await?;
    Ok(revoked().into_response())
}

/// `POST /api/auth/token/introspect` (RFC 7662 §2.1): form or JSON.
#[derive(Deserialize, ToSchema)]
#[schema(example = json!({"token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9…"}))]
pub(crate) struct IntrospectBody {
    /// An access token or an API key. Other parameters (RFC 7662's
    /// `token_type_hint`) are ignored: both kinds are told apart without.
    token: String,
}

/// The bare RFC 7662 answer.
#[derive(Serialize, ToSchema)]
#[schema(example = json!({"active": true, "sub": "agent47", "scope": "items:read me",
    "exp": 1_796_196_300, "iat": 1_796_195_400, "token_type": "access_token", "iss": "zentra"}))]
pub(crate) struct IntrospectionOut<'a> {
    active: bool,
    #[serde(skip_serializing_if = "Option::is_none")]
    sub: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<String>)]
    scope: Option<ScopeText<'a>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    exp: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iat: Option<u64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    token_type: Option<&'static str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    iss: Option<&'a str>,
}

impl<'a> IntrospectionOut<'a> {
    fn new(found: Option<&'a Introspection>, issuer: &'a str) -> Self {
        Self {
            active: found.is_some(),
            sub: found.map(|found| found.subject.as_str()),
            scope: found.map(|found| ScopeText(&found.scopes)),
            exp: found.map(|found| found.expires_at),
            iat: found.map(|found| found.issued_at),
            token_type: found.map(|found| match found.kind {
                IntrospectedKind::AccessToken => "access_token",
                IntrospectedKind::ApiKey => "api_key",
            }),
            iss: found.map(|_| issuer),
        }
    }
}

#[utoipa::path(post, path = "/api/auth/token/introspect", tag = "auth",
    summary = "What a token or API key is (RFC 7662), for resource servers",
    description = "Needs a bearer credential (token or key) with the scope `introspect`. Answers \
        the bare RFC 7662 object: `{\"active\": false}` for anything that would be refused.",
    security(("bearer" = []), ("password" = ["introspect"])),
    request_body(content = IntrospectBody, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The RFC 7662 answer (not in the envelope)", body = IntrospectionOut),
        (status = 401, description = "Not authenticated. / Could not validate credentials.", body = Wire<NoData>,
            examples(
                ("Not authenticated." = (value = json!(error_example(ApiError::NotAuthenticated)))),
                ("Could not validate credentials." = (value = json!(error_example(ApiError::InvalidToken)))),
            )),
        (status = 403, description = "Not enough permissions. (the caller lacks the scope `introspect`)", body = Wire<NoData>,
            example = json!(insufficient_scope_example("introspect"))),
        (status = 422, description = "Validation failed.", body = Wire<NoData>,
            example = json!(error_example(ApiError::validation("token", "Field required.")))),
        (status = "default", description = "Any other error (404, 405, 413, 415, 431, 500, 503…)", body = Wire<NoData>,
            example = json!(other_error_example())),
    ))]
pub(crate) async fn introspect(
    service: Service,
    lanes: LanesData,
    auth: Authorized<Introspect>,
    body: JsonOrFormBody<IntrospectBody>,
) -> Result<HttpResponse, ApiError> {
    let service = service.into_inner();
    let answering = Arc::clone(&service);
    let credential = auth.credential;
    let token = body.0.token;
    let found = lanes
        .run(UseCase::Introspect, move || -> Result<_, ApiError> {
            // The caller first: a key, or the user of a token, must be live.
            answering.current_user(&credential)?;
            Ok(answering.introspect(token.trim())?)
        })
        .await?;
    Ok(HttpResponse::Ok()
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .json(IntrospectionOut::new(found.as_ref(), service.issuer())))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_key_id_is_a_positive_integer_or_no_key() {
        assert_eq!(key_id("31").unwrap(), 31);
        for bad in ["0", "-1", "x", "", "99999999999999999999"] {
            assert!(matches!(key_id(bad), Err(ApiError::KeyNotFound)), "{bad}");
        }
    }

    #[test]
    fn an_inactive_answer_is_active_false_alone() {
        assert_eq!(
            serde_json::to_value(IntrospectionOut::new(None, "zentra")).unwrap(),
            serde_json::json!({"active": false})
        );
    }
}
