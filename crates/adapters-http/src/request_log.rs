//! One log line per request, and a request id to find it by.
//!
//! Hand-written rather than `tracing-actix-web`'s logger because that one
//! records the request target, and this API carries tokens in its URLs
//! (`/token/verify/{token}`, `?refresh_token=`): here only the route
//! *pattern* is logged, never the path or the query.

use std::{error::Error as StdError, fmt, time::Instant};

use actix_web::{
    Error, HttpMessage,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{HeaderName, HeaderValue},
    middleware::Next,
    web,
};

use crate::{
    error::ApiError,
    metrics::{self, Metrics},
};

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request's id, in its extensions from the start of
/// [`log_requests`] on: handlers read it for the audit trail
/// ([`crate::client_address::origin`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(pub String);

/// The route pattern of a request that its handler routed itself, where
/// actix knows no resource pattern (see `routes::auth::verify`).
#[derive(Debug, Clone, Copy)]
pub struct RoutedAs(pub &'static str);

/// A client's request id is echoed only if it is short and plain, so it
/// cannot forge log lines; otherwise a fresh one is made.
fn is_acceptable(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Middleware (use with `actix_web::middleware::from_fn`, outermost):
/// answers with `X-Request-Id` and writes one line per request with its id,
/// method, route pattern, status and latency: at info, or at warn (503) and
/// error (500) with the cause, which never reaches the client. Records
/// the same request in the [`Metrics`], when they are on.
///
/// One event and no span: a span per request cost as much as the rest of
/// the line, and the request's only other log lines were these causes.
///
/// # Errors
/// Whatever the wrapped service returns.
pub async fn log_requests<B: MessageBody>(
    request: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<B>, Error> {
    let request_id = request
        .headers()
        .get(&REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|id| is_acceptable(id))
        .map_or_else(|| uuid::Uuid::new_v4().to_string(), str::to_owned);
    let method = request.method().clone();
    let started = Instant::now();
    // Moved in, not copied: read back from the response's request below.
    request.extensions_mut().insert(RequestId(request_id));
    let mut response = next.call(request).await?;
    let request_id = response
        .request()
        .extensions_mut()
        .remove::<RequestId>()
        .map_or_else(String::new, |id| id.0);
    // Whole microseconds, so the field reads 0.068, not 0.06779900000000001.
    let elapsed = started.elapsed();
    let micros = u32::try_from(elapsed.as_micros()).unwrap_or(u32::MAX);
    let latency_ms = f64::from(micros) / 1000.0;
    let routed_as = response
        .request()
        .extensions()
        .get::<RoutedAs>()
        .map(|routed| routed.0);
    let matched = routed_as
        .is_none()
        .then(|| response.request().match_pattern())
        .flatten();
    let route = routed_as
        .or(matched.as_deref())
        .unwrap_or(metrics::UNMATCHED);
    if let Some(metrics) = response.request().app_data::<web::Data<Metrics>>() {
        metrics.record(route, &method, response.status(), elapsed);
    }
    let status = response.status().as_u16();
    let cause = response
        .response()
        .error()
        .and_then(|error| error.as_error::<ApiError>())
        .and_then(ApiError::cause);
    match cause {
        None => {
            tracing::info!(request_id = request_id.as_str(), %method, route, status, latency_ms, "request")
        }
        Some(cause) if status == 503 => {
            tracing::warn!(request_id = request_id.as_str(), %method, route, status, latency_ms, cause = %Chain(cause), "request");
        }
        Some(cause) => {
            tracing::error!(request_id = request_id.as_str(), %method, route, status, latency_ms, cause = %Chain(cause), "request");
        }
    }
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(response)
}

/// An error and its sources, `: `-separated.
struct Chain<'a>(&'a (dyn StdError + 'static));

impl fmt::Display for Chain<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.0)?;
        let mut source = self.0.source();
        while let Some(next) = source {
            write!(f, ": {next}")?;
            source = next.source();
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn plain_ids_are_echoed_and_anything_else_replaced() {
        assert!(is_acceptable("3f2a-01_b.c:9"));
        assert!(!is_acceptable(""));
        assert!(!is_acceptable("a b"));
        assert!(!is_acceptable("line\nbreak"));
        assert!(!is_acceptable(&"a".repeat(129)));
    }
}
