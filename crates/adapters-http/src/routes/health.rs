//! `/` (liveness, as the original) and `/api/health` (readiness).

use std::time::Duration;

use actix_web::{HttpResponse, http::StatusCode, rt::time::timeout, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::LanesData;
use crate::{
    Envelope, ReadinessProbe, UseCase,
    envelope::{NoData, Wire},
    error::ApiError,
    openapi::{error_example, other_error_example},
};

/// How long the database gets to answer a readiness check.
const READINESS_TIMEOUT: Duration = Duration::from_secs(1);

/// `GET /` (liveness, as the original).
#[derive(Serialize, ToSchema)]
#[schema(example = json!(LIVE))]
pub(crate) struct Liveness {
    health: &'static str,
}

const LIVE: Liveness = Liveness {
    health: "check complete",
};

/// The `data` of a ready service.
#[derive(Serialize, ToSchema)]
pub(crate) struct Health {
    #[schema(example = "ok")]
    database: &'static str,
}

fn ready() -> Envelope {
    Envelope::new(StatusCode::OK).data(Health { database: "ok" })
}

#[utoipa::path(get, path = "/", tag = "service",
    summary = "Liveness, as the original",
    responses((status = 200, description = "The service runs", body = Liveness)))]
pub(crate) async fn root() -> HttpResponse {
    HttpResponse::Ok().json(LIVE)
}

#[utoipa::path(get, path = "/api/health", tag = "service",
    summary = "Readiness: the database answers within a second",
    responses(
        (status = 200, description = "Ready", body = Wire<Health>,
            example = json!(ready().to_value())),
        (status = 503, description = "Service unavailable, try again later.", body = Wire<NoData>,
            example = json!(error_example(ApiError::Unavailable("database down".into())))),
        (status = "default", description = "Any other error", body = Wire<NoData>,
            example = json!(other_error_example())),
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
    Ok(ready().into_response())
}
