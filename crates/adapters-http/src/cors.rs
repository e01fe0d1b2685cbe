//! CORS for the front ends named in `BACKEND_CORS_ORIGINS` (actix-cors).

use actix_cors::Cors;
use actix_web::http::{Method, header};

/// Allows the listed origins to call every route with a bearer token, an
/// API key or a JSON/form body, and with `credentials` (the refresh cookie
/// on, docs/api.md §11) to send cookies. Requests from other origins are
/// served without CORS headers, so browsers refuse them, while the server
/// answers as it would to any client that is not a browser.
pub fn cors(origins: &[String], credentials: bool) -> Cors {
    let cors = origins
        .iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin));
    let cors = if credentials {
        cors.supports_credentials()
    } else {
        cors
    };
    cors.allowed_methods([
        Method::GET,
        Method::POST,
        Method::PATCH,
        Method::DELETE,
        Method::OPTIONS,
    ])
    .allowed_headers([
        header::AUTHORIZATION,
        header::CONTENT_TYPE,
        header::ACCEPT,
        header::HeaderName::from_static("x-api-key"),
    ])
    .expose_headers([header::WWW_AUTHENTICATE, header::RETRY_AFTER])
    .block_on_origin_mismatch(false)
    .max_age(3600)
}
