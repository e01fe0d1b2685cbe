//! Requests too large or too slow to be honest are refused before any
//! handler runs: tokens are a few hundred bytes, so kilobytes of headers or
//! URL are only an attempt to make the service parse, log or store them,
//! and a body that does not arrive in time only holds a connection.

use actix_web::{
    Error, HttpMessage, ResponseError,
    body::{EitherBody, MessageBody},
    dev::{Payload, ServiceRequest, ServiceResponse},
    http::{ConnectionType, StatusCode},
    middleware::Next,
    rt::time::timeout,
    web,
};

use crate::{HttpSettings, error::ApiError, extract::read_body};

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

/// Middleware (use with `actix_web::middleware::from_fn`): reads the whole
/// body of every request that has one within `client_timeout` and the body
/// limit, before any route runs. actix bounds the request head only
/// (`client_request_timeout`): a client that sends its headers and then
/// trickles or stalls its body would hold the connection for as long as it
/// likes, on routes that read the body and on those that never do. At the
/// deadline: 408 `Request timeout.` in the envelope; past the limit, 413;
/// both close the connection, whose unread rest cannot be skipped.
/// Otherwise the route reads the body from memory.
///
/// # Errors
/// Whatever the wrapped service returns.
pub async fn read_body_in_time(
    settings: web::Data<HttpSettings>,
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody + 'static>>, Error> {
    let mut payload = request.take_payload();
    if matches!(payload, Payload::None) {
        return next
            .call(request)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let read = timeout(
        settings.client_timeout,
        read_body(request.request(), &mut payload),
    )
    .await
    .unwrap_or_else(|_elapsed| {
        Err(ApiError::refused(
            StatusCode::REQUEST_TIMEOUT,
            "Request timeout.",
        ))
    });
    match read {
        Ok(body) => {
            request.set_payload(Payload::from(body));
            next.call(request)
                .await
                .map(ServiceResponse::map_into_left_body)
        }
        Err(error) => {
            let mut response = error.error_response();
            response
                .head_mut()
                .set_connection_type(ConnectionType::Close);
            Ok(request.into_response(response).map_into_right_body())
        }
    }
}
