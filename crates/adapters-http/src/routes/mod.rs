//! Route table. Every resource answers 405 with `Allow` for other methods.

pub(crate) mod auth;
pub(crate) mod me;
pub(crate) mod service;
#[cfg(test)]
mod tests;

#[cfg(feature = "fuzzing")]
pub mod fuzzing;

use actix_web::{HttpResponse, Route, guard, web};
use domain::{AuthService, User};

use crate::{
    DatabaseWorkers,
    error::ApiError,
    extract::{BearerToken, run_blocking},
};

/// Where a route's blocking work runs.
#[derive(Clone, Copy)]
pub(crate) enum Lane<'a> {
    /// Database calls only: the fixed database workers.
    Database(&'a DatabaseWorkers),
    /// Work that waits on password hashing: actix's elastic blocking pool
    /// (a hash takes ~250 ms; it must not hold a database worker).
    Hashing,
}

impl Lane<'_> {
    pub(crate) async fn run<T, E>(
        self,
        work: impl FnOnce() -> Result<T, E> + Send + 'static,
    ) -> Result<T, ApiError>
    where
        T: Send + 'static,
        E: Into<ApiError> + Send + 'static,
    {
        match self {
            Self::Database(workers) => workers.run(work).await,
            Self::Hashing => run_blocking(work).await,
        }
    }
}

/// Runs `work` for the active user a bearer token names, off the async
/// workers: the shape of every bearer-authenticated route but `users/me`.
pub(crate) async fn as_current_user<T, E>(
    lane: Lane<'_>,
    service: web::Data<AuthService>,
    token: BearerToken,
    work: impl FnOnce(&AuthService, &User) -> Result<T, E> + Send + 'static,
) -> Result<T, ApiError>
where
    T: Send + 'static,
    E: Into<ApiError>,
{
    let service = service.into_inner();
    lane.run(move || -> Result<T, ApiError> {
        let user = service.current_user(&token.0)?;
        work(&service, &user).map_err(Into::into)
    })
    .await
}

pub(crate) fn mount(config: &mut web::ServiceConfig) {
    crate::openapi::mount_docs(config);
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
                .route(get_or_head().to(service::root))
                .default_service(not_allowed(GET)),
        )
        .service(
            web::resource("/api/health")
                .route(get_or_head().to(service::health))
                .default_service(not_allowed(GET)),
        )
        .service(
            web::scope("/api/auth")
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
                )
                .service(web::scope("/token/verify").default_service(web::to(auth::verify))),
        );
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
    Err(ApiError::refused(
        actix_web::http::StatusCode::NOT_FOUND,
        "Not found.",
    ))
}
