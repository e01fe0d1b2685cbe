//! Requests too large to be honest are refused before any handler runs:
//! tokens are a few hundred bytes, so kilobytes of headers or URL are only
//! an attempt to make the service parse, log or store them.

use actix_web::{
    Error, ResponseError,
    body::{EitherBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::StatusCode,
    middleware::Next,
};

use crate::error::ApiError;

/// Largest accepted sum of header names and values, in bytes.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Largest accepted path and query, in bytes.
pub const MAX_URI_BYTES: usize = 8 * 1024;

/// Middleware (use with `actix_web::middleware::from_fn`): 431 for oversized
/// headers, 414 for an oversized URI, in the envelope.
///
/// # Errors
/// Whatever the wrapped service returns.
pub async fn refuse_oversized<B: MessageBody>(
    request: ServiceRequest,
    next: Next<B>,
) -> Result<ServiceResponse<EitherBody<B>>, Error> {
    let header_bytes: usize = request
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    let uri_bytes = request
        .uri()
        .path_and_query()
        .map_or(0, |path| path.as_str().len());
    let refusal = if header_bytes > MAX_HEADER_BYTES {
        Some(ApiError::refused(
            StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            "Request headers too large.",
        ))
    } else if uri_bytes > MAX_URI_BYTES {
        Some(ApiError::refused(
            StatusCode::URI_TOO_LONG,
            "Request URI too long.",
        ))
    } else {
        None
    };
    match refusal {
        Some(error) => Ok(request
            .into_response(error.error_response())
            .map_into_right_body()),
        None => next
            .call(request)
            .await
            .map(ServiceResponse::map_into_left_body),
    }
}
