//! The OpenAPI 3.1 document (`/api/openapi.json`) and the Swagger UI
//! (`/api/docs`), generated from the handlers' annotations with utoipa; the
//! UI's assets are vendored into the binary (nothing is fetched).
//!
//! The envelope types below exist for the document only: the handlers build
//! envelopes with [`crate::Envelope`], and the end-to-end suite checks that
//! every answer matches the schema documented here for its route and status.

#![allow(dead_code)] // Schema-only types: read by utoipa, never built.

use std::sync::Arc;
use utoipa::{
    Modify, OpenApi, ToSchema,
    openapi::{
        self,
        security::{Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityScheme},
    },
};

use actix_web::{
    HttpResponse,
    http::{
        StatusCode,
        header::{ContentEncoding, ContentType},
    },
    web,
};
use utoipa_swagger_ui::Config;

use crate::{
    envelope::FieldError,
    error::ApiError,
    routes::{GET, get_or_head, not_allowed},
};

/// The headers that matter to the client, as sent (`null` when none).
#[derive(ToSchema)]
#[schema(example = json!({"WWW-Authenticate": "Bearer"}))]
pub struct EnvelopeHeaders {
    #[schema(rename = "WWW-Authenticate")]
    www_authenticate: Option<String>,
    #[schema(rename = "Retry-After")]
    retry_after: Option<String>,
    #[schema(rename = "Allow")]
    allow: Option<String>,
}

/// A success with a message (`Token is valid.`, `Logged out.`, …).
#[derive(ToSchema)]
#[schema(example = json!({"status": "success", "code": 200, "response": "200_OK",
    "message": "Token is valid.", "headers": {"WWW-Authenticate": "Bearer"}}))]
pub struct MessageEnvelope {
    #[schema(pattern = "^success$")]
    status: String,
    code: u16,
    #[schema(example = "200_OK")]
    response: String,
    message: String,
    #[schema(required = true)]
    headers: Option<EnvelopeHeaders>,
}

/// Every error, from the routes and from the framework alike.
#[derive(ToSchema)]
#[schema(example = json!({"status": "error", "code": 401, "response": "401_UNAUTHORIZED",
    "message": "Could not validate credentials.", "headers": {"WWW-Authenticate": "Bearer"}}))]
pub struct ErrorEnvelope {
    #[schema(pattern = "^error$")]
    status: String,
    code: u16,
    #[schema(example = "401_UNAUTHORIZED")]
    response: String,
    message: String,
    /// On 422: one entry per offending field.
    details: Option<Vec<FieldError>>,
    #[schema(required = true)]
    headers: Option<EnvelopeHeaders>,
}

/// `GetUser` (API.md §2).
#[derive(ToSchema)]
#[schema(example = json!({"username": "agent47", "email": "johndoe@email.com",
    "phone": "+44123456789", "full_name": "Agent 47", "is_active": true}))]
pub struct GetUser {
    username: String,
    email: Option<String>,
    phone: Option<String>,
    full_name: Option<String>,
    is_active: bool,
}

#[derive(ToSchema)]
#[schema(example = json!({"status": "success", "code": 200, "response": "200_OK",
    "data": {"username": "agent47", "email": "johndoe@email.com", "phone": "+44123456789",
        "full_name": "Agent 47", "is_active": true},
    "headers": {"WWW-Authenticate": "Bearer"}}))]
pub struct UserEnvelope {
    #[schema(pattern = "^success$")]
    status: String,
    code: u16,
    response: String,
    data: GetUser,
    #[schema(required = true)]
    headers: Option<EnvelopeHeaders>,
}

#[derive(ToSchema)]
pub struct Registered {
    username: String,
}

#[derive(ToSchema)]
#[schema(example = json!({"status": "success", "code": 201, "response": "201_CREATED",
    "data": {"username": "agent47"}, "headers": null}))]
pub struct RegisteredEnvelope {
    #[schema(pattern = "^success$")]
    status: String,
    code: u16,
    response: String,
    data: Registered,
    #[schema(required = true)]
    headers: Option<EnvelopeHeaders>,
}

#[derive(ToSchema)]
pub struct Health {
    #[schema(example = "ok")]
    database: String,
}

#[derive(ToSchema)]
#[schema(example = json!({"status": "success", "code": 200, "response": "200_OK",
    "data": {"database": "ok"}, "headers": null}))]
pub struct HealthEnvelope {
    #[schema(pattern = "^success$")]
    status: String,
    code: u16,
    response: String,
    data: Health,
    #[schema(required = true)]
    headers: Option<EnvelopeHeaders>,
}

/// The bare OAuth2 token object of login and refresh (RFC 6749 §5.1).
#[derive(ToSchema)]
#[schema(example = json!({"access_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9…",
    "refresh_token": "eyJhbGciOiJIUzI1NiIsInR5cCI6IkpXVCJ9…", "token_type": "bearer", "expires_in": 900}))]
pub struct TokenPair {
    access_token: String,
    refresh_token: String,
    #[schema(pattern = "^bearer$")]
    token_type: String,
    /// The access token's lifetime in seconds.
    expires_in: u64,
}

/// `GET /` (liveness, as the original).
#[derive(ToSchema)]
#[schema(example = json!({"health": "check complete"}))]
pub struct Liveness {
    health: String,
}

/// The security schemes: a bearer token, and the OAuth2 password flow the
/// docs page uses to log in.
struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .bearer_format("JWT")
                    .build(),
            ),
        );
        components.add_security_scheme(
            "password",
            SecurityScheme::OAuth2(OAuth2::new([Flow::Password(Password::new(
                "/api/auth/token",
                Scopes::new(),
            ))])),
        );
    }
}

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Zentra Auth",
        description = "User authentication: register, log in for an access and refresh JWT pair, \
            read and change your profile, verify, refresh (rotated) and revoke tokens. \
            Every answer but the token pair travels in the Zentra JSON envelope.",
    ),
    paths(
        crate::routes::health::root,
        crate::routes::health::health,
        crate::routes::auth::register,
        crate::routes::auth::login,
        crate::routes::auth::verify,
        crate::routes::auth::refresh,
        crate::routes::auth::logout,
        crate::routes::auth::logout_all,
        crate::routes::me::current_user,
        crate::routes::me::update_details,
        crate::routes::me::change_password,
    ),
    components(schemas(
        MessageEnvelope, ErrorEnvelope, UserEnvelope, RegisteredEnvelope, HealthEnvelope,
        TokenPair, Liveness, FieldError,
    )),
    modifiers(&Security),
    tags((name = "auth", description = "Authentication (prefix /api/auth)"),
         (name = "service", description = "Liveness and readiness")),
)]
pub struct ApiDoc;

/// `/api/openapi.json` and the Swagger UI under `/api/docs/`, for GET and
/// HEAD alike (utoipa-swagger-ui's own actix service routes GET only). The
/// document is serialised once, here.
pub(crate) fn mount_docs(config: &mut web::ServiceConfig) {
    let document = web::Bytes::from(
        ApiDoc::openapi()
            .to_json()
            .expect("the OpenAPI document serialises"),
    );
    let ui = Arc::new(Config::new(["/api/openapi.json"]));
    config
        .service(
            web::resource("/api/openapi.json")
                .route(get_or_head().to(move || {
                    let document = document.clone();
                    async move {
                        HttpResponse::Ok()
                            .content_type(ContentType::json())
                            .body(document)
                    }
                }))
                .default_service(not_allowed(GET)),
        )
        .service(
            web::resource("/api/docs/{file:.*}")
                .route(get_or_head().to(move |file: web::Path<String>| {
                    let ui = ui.clone();
                    async move { ui_file(&file, ui) }
                }))
                .default_service(not_allowed(GET)),
        );
}

/// One file of the vendored Swagger UI (`index.html` for the folder).
fn ui_file(file: &str, ui: Arc<Config<'static>>) -> Result<HttpResponse, ApiError> {
    let found = utoipa_swagger_ui::serve(file, ui)
        .map_err(|error| ApiError::Internal(error.to_string().into()))?;
    let Some(found) = found else {
        return Err(ApiError::refused(StatusCode::NOT_FOUND, "Not found."));
    };
    let mut response = HttpResponse::Ok();
    if found.gzpipped {
        response.insert_header(ContentEncoding::Gzip);
    }
    Ok(response
        .content_type(found.content_type)
        .body(found.bytes.into_owned()))
}
