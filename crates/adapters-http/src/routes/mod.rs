//! Route table. Every resource answers 405 with `Allow` for other methods.

pub(crate) mod admin;
pub(crate) mod api_keys;
pub(crate) mod auth;
pub(crate) mod events;
pub(crate) mod health;
pub(crate) mod me;
pub(crate) mod sessions;
#[cfg(test)]
mod tests;
pub(crate) mod well_known;
pub(crate) mod wire;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;

use actix_web::{HttpResponse, Route, guard, web};
use std::sync::Arc;

use domain::{AdminService, Admitted, AuthService, Credential, User};

use crate::{Lanes, UseCase, error::ApiError};

/// The state the handlers take.
pub(crate) type Service = web::Data<AuthService>;
pub(crate) type AdminData = web::Data<AdminService>;
pub(crate) type LanesData = web::Data<Lanes>;

/// Runs `work` for the active user an authorized token names (see
/// [`crate::extract::Authorized`]), on the lane of `use_case`: the shape of
/// every `me`-scoped route but `users/me` itself.
pub(crate) async fn as_current_user<T, E>(
    lanes: &Lanes,
    use_case: UseCase,
    service: Service,
    credential: Credential,
    work: impl FnOnce(&AuthService, &User) -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    E: Into<ApiError>,
{
    let service = service.into_inner();
    lanes
        .run(use_case, move || -> Result<T, ApiError> {
            let user = service.current_user(&credential)?;
            work(&service, &user).map_err(Into::into)
        })
        .await
}

/// Runs a password attempt in its two steps: `admit` on the database lane
/// (the failure limits), then `check` on the hashing lane. If the hashing
/// lane could not run the check (its queue is full, or the service stops),
/// the attempt gives its places back: a check that never happened is no
/// failure.
pub(crate) async fn password_attempt<R, T, E>(
    lanes: &Lanes,
    service: Service,
    admit: (
        UseCase,
        impl FnOnce(&AuthService) -> Result<Admitted<R>, ApiError> + Send + 'static,
    ),
    check: (
        UseCase,
        impl FnOnce(&AuthService, Admitted<R>) -> Result<T, E> + Send + 'static,
    ),
) -> Result<T, ApiError>
where
    R: Send + 'static,
    T: Send + 'static,
    E: Into<ApiError> + Send + 'static,
{
    let service = service.into_inner();
    let (admit_on, admit) = admit;
    let (check_on, check) = check;
    let admitting = Arc::clone(&service);
    let attempt = lanes.run(admit_on, move || admit(&admitting)).await?;
    let places = attempt.places().clone();
    let checking = Arc::clone(&service);
    let result = lanes.run(check_on, move || check(&checking, attempt)).await;
    if let Err(ApiError::Unavailable(_)) = &result {
        // Best effort: the answer is the 503 either way.
        let _ = lanes
            .run(UseCase::AbandonAttempt, move || service.abandon(&places))
            .await;
    }
    result
}

pub(crate) fn mount(config: &mut web::ServiceConfig, known_scopes: &domain::Scopes) {
    // actix tries resources in the order they are registered, each match
    // a few hundred instructions (callgrind): the routes every other API
    // calls on each of its requests, `verify` and `users/me`, come first,
    // the documents last. No path below is a prefix of another's.
    config.service(
        web::scope("/api/auth")
            .service(web::scope("/token/verify").default_service(web::to(auth::verify)))
            .service(
                web::resource("/users/me")
                    .route(get_or_head().to(me::current_user))
                    .route(web::patch().to(me::update_details))
                    .default_service(not_allowed("GET, HEAD, PATCH")),
            )
            .service(
                web::resource("/users/me/password")
                    .route(web::post().to(me::change_password))
                    .default_service(not_allowed("POST")),
            )
            .service(
                web::resource("/users/me/events")
                    .route(get_or_head().to(me::own_events))
                    .default_service(not_allowed(GET)),
            )
            .service(
                web::resource("/api-keys")
                    .route(get_or_head().to(api_keys::list))
                    .route(web::post().to(api_keys::create))
                    .default_service(not_allowed("GET, HEAD, POST")),
            )
            .service(
                web::resource("/api-keys/{id}")
                    .route(web::delete().to(api_keys::revoke))
                    .default_service(not_allowed("DELETE")),
            )
            .service(
                web::resource("/sessions")
                    .route(get_or_head().to(sessions::list))
                    .default_service(not_allowed(GET)),
            )
            .service(
                web::resource("/sessions/{id}")
                    .route(web::delete().to(sessions::revoke))
                    .default_service(not_allowed("DELETE")),
            )
            .service(
                web::resource("/token/introspect")
                    .route(web::post().to(api_keys::introspect))
                    .default_service(not_allowed("POST")),
            )
            .service(
                web::resource("/logout")
                    .route(web::post().to(auth::logout))
                    .default_service(not_allowed("POST")),
            )
            .service(
                web::resource("/logout/all")
                    .route(web::post().to(auth::logout_all))
                    .default_service(not_allowed("POST")),
            )
            .service(
                web::resource("/register")
                    .route(web::post().to(auth::register))
                    .default_service(not_allowed("POST")),
            )
            .service(
                web::resource("/token")
                    .route(web::post().to(auth::login))
                    .default_service(not_allowed("POST")),
            )
            .service(
                web::resource("/token/refresh")
                    .route(web::post().to(auth::refresh))
                    .default_service(not_allowed("POST")),
            ),
    );
    crate::openapi::mount_docs(config, known_scopes);
    config
        .service(
            web::resource("/api/docs")
                .route(get_or_head().to(|| async {
                    HttpResponse::PermanentRedirect()
                        .insert_header((actix_web::http::header::LOCATION, "/api/docs/"))
                        .finish()
                }))
                .default_service(not_allowed(GET)),
        )
        .service(
            web::resource("/")
                .route(get_or_head().to(health::root))
                .default_service(not_allowed(GET)),
        )
        .service(
            web::resource("/api/health")
                .route(get_or_head().to(health::health))
                .default_service(not_allowed(GET)),
        )
        .service(
            web::resource("/.well-known/jwks.json")
                .route(get_or_head().to(well_known::jwks))
                .default_service(not_allowed(GET)),
        )
        .service(
            web::resource("/.well-known/oauth-authorization-server")
                .route(get_or_head().to(well_known::metadata))
                .default_service(not_allowed(GET)),
        )
        .service(admin::scope());
}

/// The `Allow` of a resource that only reads.
pub(crate) const GET: &str = "GET, HEAD";

/// A route for GET and HEAD alike: actix routes HEAD only where asked to,
/// and leaves the body of an answer to HEAD off the wire itself, so the
/// headers are exactly those of the GET (RFC 9110 §9.3.2).
pub(crate) fn get_or_head() -> Route {
    web::route().guard(guard::Any(guard::Get()).or(guard::Head()))
}

pub(crate) fn not_allowed(allow: &'static str) -> Route {
    web::route()
        .to(move || async move { Err::<HttpResponse, _>(ApiError::method_not_allowed(allow)) })
}

pub(crate) async fn not_found() -> Result<HttpResponse, ApiError> {
    Err(not_found_error())
}

pub(crate) fn not_found_error() -> ApiError {
    ApiError::refused(actix_web::http::StatusCode::NOT_FOUND, "Not found.")
}
