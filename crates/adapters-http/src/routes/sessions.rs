//! Sessions per device (docs/api.md §11): `GET /api/auth/sessions` and
//! `DELETE /api/auth/sessions/{id}`, scope `me`.

use actix_web::{HttpResponse, http::StatusCode, web};
use domain::{Device, ListedSession, SessionInfo};
use serde::Serialize;
use utoipa::ToSchema;

use super::{
    LanesData, Service,
    wire::{Rfc3339, positive_id},
};
use crate::{
    Envelope, UseCase,
    client_address::RequestOrigin,
    envelope::{NoData, Wire},
    error::ApiError,
    extract::{Authorized, Me},
    openapi::{error_example, insufficient_scope_example, unavailable_example},
};

const SESSION_REVOKED: &str = "Session revoked.";

/// A live session as its owner sees it.
#[derive(Serialize, ToSchema)]
pub(crate) struct SessionOut<'a> {
    id: i64,
    /// RFC 3339, UTC.
    #[schema(value_type = String, format = DateTime)]
    created_at: Rfc3339,
    /// The last login or refresh; null for a session from before this was
    /// recorded.
    #[schema(value_type = Option<String>, format = DateTime)]
    last_used_at: Option<Rfc3339>,
    #[schema(value_type = String, format = DateTime)]
    expires_at: Rfc3339,
    /// The client address of the last login or refresh.
    ip: Option<&'a str>,
    user_agent: Option<&'a str>,
    /// Whether the caller's access token belongs to this session.
    current: bool,
}

impl<'a> From<&'a ListedSession> for SessionOut<'a> {
    fn from(listed: &'a ListedSession) -> Self {
        let session = &listed.session;
        Self {
            id: session.id,
            created_at: Rfc3339(session.created_at),
            last_used_at: session.last_used_at.map(Rfc3339),
            expires_at: Rfc3339(session.expires_at),
            ip: session.device.client_address.as_deref(),
            user_agent: session.device.user_agent.as_deref(),
            current: listed.current,
        }
    }
}

/// `{"sessions": [...]}`.
#[derive(Serialize, ToSchema)]
pub(crate) struct SessionList<'a> {
    sessions: Vec<SessionOut<'a>>,
}

fn list_envelope(sessions: &[ListedSession]) -> Envelope {
    Envelope::new(StatusCode::OK)
        .data(SessionList {
            sessions: sessions.iter().map(SessionOut::from).collect(),
        })
        .bearer()
}

fn example_sessions() -> Vec<ListedSession> {
    vec![ListedSession {
        session: SessionInfo {
            id: 12,
            family: "f3c1…".into(),
            created_at: 1_796_195_400,
            last_used_at: Some(1_796_199_000),
            expires_at: 1_796_803_800,
            device: Device {
                client_address: Some("203.0.113.7".into()),
                user_agent: Some("Mozilla/5.0 (X11; Linux x86_64)".into()),
            },
        },
        current: true,
    }]
}

fn revoked() -> Envelope {
    Envelope::new(StatusCode::OK)
        .message(SESSION_REVOKED)
        .bearer()
}

#[utoipa::path(get, path = "/api/auth/sessions", tag = "auth",
    summary = "The caller's live sessions, newest first, one per device",
    security(("bearer" = []), ("password" = ["me"])),
    responses(
        (status = 200, description = "The sessions", body = Wire<SessionList>,
            example = json!(list_envelope(&example_sessions()).to_value())),
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
            example = json!(unavailable_example())),
    ))]
pub(crate) async fn list(
    service: Service,
    lanes: LanesData,
    auth: Authorized<Me>,
) -> Result<HttpResponse, ApiError> {
    let credential = auth.credential.clone();
    let sessions = super::as_current_user(
        &lanes,
        UseCase::ListSessions,
        service,
        auth.credential,
        move |service, user| service.list_sessions(&credential, user),
    )
    .await?;
    Ok(list_envelope(&sessions).into_response())
}

#[utoipa::path(delete, path = "/api/auth/sessions/{id}", tag = "auth",
    summary = "End one of the caller's sessions (its refresh token stops working)",
    security(("bearer" = []), ("password" = ["me"])),
    params(("id" = i64, Path, description = "The session's id")),
    responses(
        (status = 200, description = "Session revoked.", body = Wire<NoData>,
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
        (status = 404, description = "Session not found.", body = Wire<NoData>,
            example = json!(error_example(ApiError::SessionNotFound))),
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
    let id = positive_id(&path).ok_or(ApiError::SessionNotFound);
    super::as_current_user(
        &lanes,
        UseCase::RevokeSession,
        service,
        auth.credential,
        move |service, user| -> Result<(), ApiError> {
            if service.revoke_session(user, id?, &origin)? {
                Ok(())
            } else {
                Err(ApiError::SessionNotFound)
            }
        },
    )
    .await?;
    Ok(revoked().into_response())
}
