//! One log line per request, and a request id to find it by.
//!
//! Hand-written rather than `tracing-actix-web`'s logger because that one
//! records the request target, and this API carries tokens in its URLs
//! (`/token/verify/{token}`, `?refresh_token=`): here only the route
//! *pattern* is logged, never the path or the query.

use std::time::Instant;

use actix_web::{
    Error,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::header::{HeaderName, HeaderValue},
    middleware::Next,
};
use tracing::Instrument;

pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// A client's request id is echoed only if it is short and plain, so it
/// cannot forge log lines; otherwise a fresh one is made.
fn is_acceptable(id: &str) -> bool {
    (1..=128).contains(&id.len())
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b':'))
}

/// Middleware (use with `actix_web::middleware::from_fn`, outermost): runs
/// the request in a span carrying its id, answers with `X-Request-Id`, and
/// logs method, route pattern, status and latency at info.
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
    let span = tracing::info_span!("request", request_id = %request_id);
    let started = Instant::now();
    let mut response = next.call(request).instrument(span.clone()).await?;
    let route = response
        .request()
        .match_pattern()
        .unwrap_or_else(|| "<no route>".to_owned());
    let status = response.status().as_u16();
    let latency_ms = started.elapsed().as_secs_f64() * 1000.0;
    span.in_scope(|| {
        tracing::info!(%method, %route, status, latency_ms, "request");
    });
    if let Ok(value) = HeaderValue::from_str(&request_id) {
        response.headers_mut().insert(REQUEST_ID, value);
    }
    Ok(response)
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
