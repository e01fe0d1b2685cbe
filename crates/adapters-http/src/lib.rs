//! The HTTP adapter: actix-web routes that call the domain's use cases and
//! answer in Zentra's JSON envelope (docs/api.md §1).
//!
//! [`configure`] mounts every route; [`error_envelopes`] wraps the app so
//! that errors the framework raises itself answer in the envelope too,
//! [`limits::refuse_oversized`] refuses oversized headers and URIs, and
//! [`limits::read_body_in_time`] reads every body within the client timeout.

pub mod client_address;
pub mod cookie;
pub mod cors;
pub mod envelope;
pub mod error;
pub mod extract;
pub mod lanes;
pub mod limits;
pub mod metrics;
pub mod openapi;
pub mod request_log;
mod routes;

#[cfg(feature = "fuzzing")]
pub use routes::fuzzing;

use std::{sync::Arc, time::Duration};

use actix_web::{
    body::MessageBody,
    dev::ServiceResponse,
    http::header,
    middleware::{ErrorHandlerResponse, ErrorHandlers},
    web,
};
use domain::{AdminService, AuthService, InfraError};

pub use client_address::{RequestOrigin, client_address, origin};
pub use cookie::{RefreshCookie, RefreshCookieMode};
pub use envelope::{Envelope, FieldError};
pub use error::ApiError;
pub use extract::{Admin, Authorized, Me, RequiredScope};
pub use lanes::{Lane, Lanes, UseCase, WorkerPool};
pub use metrics::{Metrics, MetricsToken, PoolStatus, PoolUsage};
pub use routes::well_known::JWKS_MAX_AGE_SECS;

/// Whether the service can do its job right now (docs/api.md §6, `/api/health`).
pub trait ReadinessProbe: Send + Sync {
    /// # Errors
    /// The reason the store does not answer.
    fn check(&self) -> Result<(), InfraError>;
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HttpSettings {
    /// Largest accepted request body, in bytes (413 beyond).
    pub body_limit_bytes: usize,
    /// Whether `X-Forwarded-For` names the client (behind a trusted proxy).
    pub trust_forwarded_for: bool,
    /// How many trusted proxies append to `X-Forwarded-For`: the client is
    /// this many entries from the right (see [`client_address()`]). At least 1.
    pub trusted_proxy_hops: usize,
    /// How long a client may take to send a request's body (408 beyond;
    /// the server bounds the head with the same value).
    pub client_timeout: Duration,
    /// The refresh token in a cookie for browsers (docs/api.md §11).
    pub refresh_cookie: RefreshCookie,
    /// `BACKEND_CORS_ORIGINS`: besides the service's own, the origins a
    /// cookie-authenticated request may come from.
    pub cors_origins: Vec<String>,
    /// The public JWK Set of `/.well-known/jwks.json` (docs/api.md §12).
    pub jwks: serde_json::Value,
    /// The service's URL as clients reach it, without a trailing slash: the
    /// base of the discovery document's URLs.
    pub public_url: String,
}

/// The defaults of docs/api.md §7 and §8.
impl Default for HttpSettings {
    fn default() -> Self {
        Self {
            body_limit_bytes: 64 * 1024,
            trust_forwarded_for: false,
            trusted_proxy_hops: 1,
            client_timeout: Duration::from_secs(10),
            refresh_cookie: RefreshCookie::default(),
            cors_origins: Vec::new(),
            jwks: serde_json::json!({ "keys": [] }),
            public_url: "http://127.0.0.1:8000".to_owned(),
        }
    }
}

/// Mounts every route, the state they need and the envelope 404. The
/// routes' use cases run on `lanes`; the admin API's on `admin`. The
/// OpenAPI document offers the scopes `service` knows.
pub fn configure(
    service: Arc<AuthService>,
    admin: Arc<AdminService>,
    probe: Arc<dyn ReadinessProbe>,
    lanes: Arc<Lanes>,
    settings: HttpSettings,
) -> impl FnOnce(&mut web::ServiceConfig) {
    move |config| {
        routes::mount(config, service.scopes().known());
        let well_known = routes::well_known::WellKnown::new(
            &settings.jwks,
            service.issuer(),
            &settings.public_url,
            service.scopes().known(),
        );
        config
            .app_data(web::Data::new(well_known))
            .app_data(web::Data::from(service))
            .app_data(web::Data::from(admin))
            .app_data(web::Data::from(probe))
            .app_data(web::Data::from(lanes))
            .app_data(web::PayloadConfig::new(settings.body_limit_bytes))
            .app_data(web::Data::new(settings));
        config.default_service(web::to(routes::not_found));
    }
}

/// Wraps any error response that is not already JSON in the envelope, so
/// that nothing the framework answers on its own reaches a client as HTML
/// or plain text.
pub fn error_envelopes<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(|response: ServiceResponse<B>| {
        let is_json = response
            .headers()
            .get(header::CONTENT_TYPE)
            .is_some_and(|value| value.as_bytes().starts_with(b"application/json"));
        if is_json {
            return Ok(ErrorHandlerResponse::Response(
                response.map_into_left_body(),
            ));
        }
        let status = response.status();
        let (request, _) = response.into_parts();
        let message = status.canonical_reason().unwrap_or("Error").to_owned() + ".";
        let enveloped = Envelope::new(status).message(message).into_response();
        Ok(ErrorHandlerResponse::Response(
            ServiceResponse::new(request, enveloped).map_into_right_body(),
        ))
    })
}
