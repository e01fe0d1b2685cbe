//! `/` (liveness, as the original) and `/api/health` (readiness).

use std::time::Duration;

use actix_web::{HttpResponse, http::StatusCode, rt::time::timeout, web};
use serde_json::json;

use super::LanesData;
use crate::{Envelope, ReadinessProbe, UseCase, error::ApiError};

/// How long the database gets to answer a readiness check.
const READINESS_TIMEOUT: Duration = Duration::from_secs(1);

#[utoipa::path(get, path = "/", tag = "service",
    summary = "Liveness, as the original",
    responses((status = 200, description = "The service runs", body = crate::openapi::Liveness)))]
pub(crate) async fn root() -> HttpResponse {
    HttpResponse::Ok().json(json!({"health": "check complete"}))
}

#[utoipa::path(get, path = "/api/health", tag = "service",
    summary = "Readiness: the database answers within a second",
    responses(
        (status = 200, description = "Ready", body = crate::openapi::HealthEnvelope),
        (status = 503, description = "Service unavailable, try again later.", body = crate::openapi::ErrorEnvelope),
        (status = "default", description = "Any other error", body = crate::openapi::ErrorEnvelope),
    ))]
pub(crate) async fn health(
    probe: web::Data<dyn ReadinessProbe>,
    lanes: LanesData,
) -> Result<HttpResponse, ApiError> {
    let probe = probe.into_inner();
    match timeout(
        READINESS_TIMEOUT,
        lanes.run(UseCase::Readiness, move || probe.check()),
    )
    .await
    {
        Ok(result) => result?,
        Err(_elapsed) => {
            return Err(ApiError::Unavailable("readiness check timed out".into()));
        }
    }
    Ok(Envelope::new(StatusCode::OK)
        .data(json!({"database": "ok"}))
        .into_response())
}
