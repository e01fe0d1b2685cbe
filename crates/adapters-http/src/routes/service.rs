//! `/` (liveness, as the original) and `/api/health` (readiness).

use std::time::Duration;

use actix_web::{HttpResponse, http::StatusCode, rt::time::timeout, web};
use serde_json::json;

use crate::{Envelope, ReadinessProbe, error::ApiError, extract::run_blocking};

/// How long the database gets to answer a readiness check.
const READINESS_TIMEOUT: Duration = Duration::from_secs(1);

pub(crate) async fn root() -> HttpResponse {
    HttpResponse::Ok().json(json!({"health": "check complete"}))
}

pub(crate) async fn health(probe: web::Data<dyn ReadinessProbe>) -> Result<HttpResponse, ApiError> {
    let probe = probe.into_inner();
    match timeout(READINESS_TIMEOUT, run_blocking(move || probe.check())).await {
        Ok(result) => result?,
        Err(_elapsed) => {
            return Err(ApiError::Unavailable("readiness check timed out".into()));
        }
    }
    Ok(Envelope::new(StatusCode::OK)
        .data(json!({"database": "ok"}))
        .into_response())
}
