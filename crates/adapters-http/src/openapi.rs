//! The OpenAPI 3.1 document (`/api/openapi.json`) and the Swagger UI
//! (`/api/docs`), generated from the handlers' annotations with utoipa; the
//! UI's assets are vendored into the binary (nothing is fetched).
//!
//! The schemas are those of the types the handlers send: the envelope is
//! [`crate::envelope::Wire`] with each route's data type, and every example
//! is rendered by the code that answers (see [`error_example`]). The
//! end-to-end suite checks that every answer matches the schema documented
//! here for its route and status.

use std::sync::Arc;
use utoipa::{
    Modify, OpenApi,
    openapi::{
        self,
        security::{Flow, HttpAuthScheme, HttpBuilder, OAuth2, Password, Scopes, SecurityScheme},
    },
};

use actix_web::{
    HttpResponse,
    http::header::{ContentEncoding, ContentType},
    web,
};
use utoipa_swagger_ui::Config;

use crate::{
    error::ApiError,
    routes::{GET, get_or_head, not_allowed},
};

/// The body `error` answers with, as a documented example.
pub(crate) fn error_example(error: ApiError) -> serde_json::Value {
    error.envelope().to_value()
}

/// The example of the `default` response: an unknown route.
pub(crate) fn other_error_example() -> serde_json::Value {
    error_example(crate::routes::not_found_error())
}

/// The example of the `default` response of a route that documents its
/// own 404: the database is down.
pub(crate) fn unavailable_example() -> serde_json::Value {
    error_example(ApiError::Unavailable("database down".into()))
}

/// The 403 of a token without the scope `name` (docs/api.md §9).
pub(crate) fn insufficient_scope_example(name: &str) -> serde_json::Value {
    let needed = domain::Scopes::parse(name).expect("a scope name");
    error_example(ApiError::InsufficientScope { needed })
}

/// The admin API's two 403s: the token lacks `admin`; the caller is not an
/// active superuser holding `admin` now.
pub(crate) fn forbidden_examples() -> [serde_json::Value; 2] {
    [
        insufficient_scope_example(domain::Scope::ADMIN),
        error_example(ApiError::Forbidden),
    ]
}

/// The token route the docs page logs in with.
const TOKEN_URL: &str = "/api/auth/token";

/// What each built-in scope lets a token do, as the docs page's Authorize
/// dialog offers them.
const BUILTIN_SCOPES: [(&str, &str); 3] = [
    (
        domain::Scope::ME,
        "Act on your own account: /api/auth/users/me*, /api/auth/logout/all.",
    ),
    (
        domain::Scope::ADMIN,
        "The admin API (/api/admin/*), for active superusers; granted only when asked for.",
    ),
    (
        domain::Scope::INTROSPECT,
        "Ask about other tokens (resource servers).",
    ),
];

/// The OAuth2 password flow offering `scopes`: the built-ins with their
/// descriptions, and any other (the operator's `AUTH__SCOPES`) as theirs.
fn password_flow<'a>(scopes: impl IntoIterator<Item = &'a str>) -> SecurityScheme {
    let described = scopes.into_iter().map(|name| {
        let description = BUILTIN_SCOPES
            .iter()
            .find(|(builtin, _)| *builtin == name)
            .map_or(
                "A scope of this deployment's own APIs (AUTH__SCOPES).",
                |(_, d)| *d,
            );
        (name.to_owned(), description.to_owned())
    });
    SecurityScheme::OAuth2(OAuth2::new([Flow::Password(Password::new(
        TOKEN_URL,
        Scopes::from_iter(described),
    ))]))
}

/// The security schemes: a bearer token, and the OAuth2 password flow the
/// docs page uses to log in, with the built-in scopes ([`document`] adds
/// the deployment's own).
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
            password_flow(BUILTIN_SCOPES.iter().map(|(name, _)| *name)),
        );
    }
}

/// The document this deployment serves: [`ApiDoc`] with the password
/// flow offering every scope the service knows (`known`: the built-ins and
/// `AUTH__SCOPES`, runtime configuration that the derive cannot see).
#[must_use]
pub fn document(known: &domain::Scopes) -> openapi::OpenApi {
    let mut document = ApiDoc::openapi();
    document
        .components
        .get_or_insert_with(Default::default)
        .add_security_scheme(
            "password",
            password_flow(known.iter().map(domain::Scope::as_str)),
        );
    document
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
        crate::routes::well_known::jwks,
        crate::routes::well_known::metadata,
        crate::routes::auth::register,
        crate::routes::auth::login,
        crate::routes::auth::verify,
        crate::routes::auth::refresh,
        crate::routes::auth::logout,
        crate::routes::auth::logout_all,
        crate::routes::me::current_user,
        crate::routes::me::update_details,
        crate::routes::me::change_password,
        crate::routes::me::own_events,
        crate::routes::api_keys::create,
        crate::routes::api_keys::list,
        crate::routes::api_keys::revoke,
        crate::routes::api_keys::introspect,
        crate::routes::sessions::list,
        crate::routes::sessions::revoke,
        crate::routes::admin::list_users,
        crate::routes::admin::create_user,
        crate::routes::admin::get_user,
        crate::routes::admin::update_user,
        crate::routes::admin::delete_user,
        crate::routes::admin::logout_user,
        crate::routes::admin::unlock_user,
        crate::routes::admin::events,
        crate::routes::api_keys::admin_list,
        crate::routes::api_keys::admin_revoke,
    ),
    modifiers(&Security),
    tags((name = "auth", description = "Authentication (prefix /api/auth)"),
         (name = "admin", description = "Administration, for superusers with the scope `admin` (prefix /api/admin)"),
         (name = "service", description = "Liveness, readiness, and the keys and metadata other services verify tokens with")),
)]
pub struct ApiDoc;

/// `/api/openapi.json` and the Swagger UI under `/api/docs/`, for GET and
/// HEAD alike (utoipa-swagger-ui's own actix service routes GET only). The
/// document is serialised once, here.
pub(crate) fn mount_docs(config: &mut web::ServiceConfig, known_scopes: &domain::Scopes) {
    let document = web::Bytes::from(
        document(known_scopes)
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
        return Err(crate::routes::not_found_error());
    };
    let mut response = HttpResponse::Ok();
    if found.gzpipped {
        response.insert_header(ContentEncoding::Gzip);
    }
    Ok(response
        .content_type(found.content_type)
        .body(found.bytes.into_owned()))
}

#[cfg(test)]
mod tests {
    use actix_web::http::StatusCode;
    use serde_json::Value;
    use utoipa::OpenApi;

    use super::ApiDoc;

    /// `422_UNPROCESSABLE_ENTITY` for 422, written out independently of the
    /// envelope's own code.
    fn response_name(code: u16) -> String {
        let reason = StatusCode::from_u16(code)
            .ok()
            .and_then(|status| status.canonical_reason())
            .unwrap_or("Unknown");
        format!(
            "{code}_{}",
            reason.to_ascii_uppercase().replace([' ', '-'], "_")
        )
    }

    #[test]
    fn every_example_shows_the_status_and_message_it_is_documented_under() {
        let document = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let mut checked = 0;
        for (path, operations) in document["paths"].as_object().unwrap() {
            for (method, operation) in operations.as_object().unwrap() {
                let responses = operation["responses"].as_object().unwrap();
                for (key, response) in responses {
                    let place = format!("{method} {path} {key}");
                    let media = &response["content"]["application/json"];
                    let schema = media["schema"]["$ref"].as_str().unwrap_or_default();
                    if !schema.starts_with("#/components/schemas/Envelope_") {
                        continue; // The bare token pair and `/`.
                    }
                    let examples: Vec<&Value> = media
                        .get("example")
                        .into_iter()
                        .chain(
                            media["examples"]
                                .as_object()
                                .into_iter()
                                .flat_map(|named| named.values().map(|example| &example["value"])),
                        )
                        .collect();
                    assert!(!examples.is_empty(), "{place}: no example");
                    for example in examples {
                        let code = example["code"].as_u64().unwrap_or_else(|| {
                            panic!("{place}: an example without a code: {example}")
                        });
                        if key == "default" {
                            assert!(code >= 400, "{place}: {example}");
                            assert!(
                                !responses.contains_key(&code.to_string()),
                                "{place}: the example of a documented status: {example}"
                            );
                        } else {
                            assert_eq!(code.to_string(), *key, "{place}: {example}");
                            if let Some(message) = example["message"].as_str() {
                                let description = response["description"].as_str().unwrap();
                                assert!(description.contains(message), "{place}: {example}");
                            }
                        }
                        let code = u16::try_from(code).unwrap();
                        assert_eq!(example["response"], response_name(code), "{place}");
                        let outcome = if code < 400 { "success" } else { "error" };
                        assert_eq!(example["status"], outcome, "{place}");
                        let headers = &example["headers"];
                        match code {
                            401 => assert_eq!(headers["WWW-Authenticate"], "Bearer", "{place}"),
                            422 => assert!(
                                example["details"].as_array().is_some_and(|d| !d.is_empty()),
                                "{place}: a 422 without details: {example}"
                            ),
                            429 | 503 => {
                                assert!(headers["Retry-After"].is_string(), "{place}: {example}");
                            }
                            _ => {}
                        }
                        checked += 1;
                    }
                }
            }
        }
        assert!(checked > 30, "only {checked} examples");
    }

    /// Every route `routes::mount` serves, with its methods and the scope
    /// it needs (`None`: no bearer token).
    const ROUTES: &[(&str, &str, Option<&str>)] = &[
        ("/", "get", None),
        ("/api/health", "get", None),
        ("/.well-known/jwks.json", "get", None),
        ("/.well-known/oauth-authorization-server", "get", None),
        ("/api/auth/register", "post", None),
        ("/api/auth/token", "post", None),
        ("/api/auth/token/verify/{token}", "post", None),
        ("/api/auth/token/refresh", "post", None),
        ("/api/auth/logout", "post", None),
        ("/api/auth/logout/all", "post", Some("me")),
        ("/api/auth/users/me", "get", Some("me")),
        ("/api/auth/users/me", "patch", Some("me")),
        ("/api/auth/users/me/password", "post", Some("me")),
        ("/api/auth/users/me/events", "get", Some("me")),
        ("/api/admin/users", "get", Some("admin")),
        ("/api/admin/users", "post", Some("admin")),
        ("/api/admin/users/{username}", "get", Some("admin")),
        ("/api/admin/users/{username}", "patch", Some("admin")),
        ("/api/admin/users/{username}", "delete", Some("admin")),
        ("/api/admin/users/{username}/logout", "post", Some("admin")),
        ("/api/admin/users/{username}/unlock", "post", Some("admin")),
        ("/api/admin/events", "get", Some("admin")),
        ("/api/auth/api-keys", "post", Some("me")),
        ("/api/auth/api-keys", "get", Some("me")),
        ("/api/auth/api-keys/{id}", "delete", Some("me")),
        ("/api/auth/token/introspect", "post", Some("introspect")),
        ("/api/auth/sessions", "get", Some("me")),
        ("/api/auth/sessions/{id}", "delete", Some("me")),
        ("/api/admin/users/{username}/api-keys", "get", Some("admin")),
        (
            "/api/admin/users/{username}/api-keys/{id}",
            "delete",
            Some("admin"),
        ),
    ];

    #[test]
    fn every_route_is_documented_with_the_scope_it_needs_and_its_403() {
        let document = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let mut documented = 0;
        for (path, method, scope) in ROUTES {
            let operation = &document["paths"][path][method];
            assert!(operation.is_object(), "{method} {path} is not documented");
            documented += 1;
            let Some(scope) = scope else {
                assert!(operation["security"].is_null(), "{method} {path}");
                continue;
            };
            assert_eq!(
                operation["security"],
                serde_json::json!([{"bearer": []}, {"password": [scope]}]),
                "{method} {path}"
            );
            let forbidden = &operation["responses"]["403"]["content"]["application/json"];
            let challenge = format!(r#"Bearer error="insufficient_scope", scope="{scope}""#);
            let shows_the_challenge = forbidden
                .get("example")
                .into_iter()
                .chain(
                    forbidden["examples"]
                        .as_object()
                        .into_iter()
                        .flat_map(|named| named.values().map(|example| &example["value"])),
                )
                .any(|example| example["headers"]["WWW-Authenticate"] == challenge.as_str());
            assert!(
                shows_the_challenge,
                "{method} {path}: no 403 with {challenge}"
            );
        }
        let operations: usize = document["paths"]
            .as_object()
            .unwrap()
            .values()
            .map(|operations| operations.as_object().unwrap().len())
            .sum();
        assert_eq!(
            operations, documented,
            "a documented route missing from ROUTES"
        );
    }

    #[test]
    fn the_password_flow_offers_every_scope_the_service_knows() {
        let known = domain::Scopes::parse("admin introspect items:read me").unwrap();
        let document = serde_json::to_value(super::document(&known)).unwrap();
        let scopes =
            &document["components"]["securitySchemes"]["password"]["flows"]["password"]["scopes"];
        let names: Vec<&String> = scopes.as_object().unwrap().keys().collect();
        assert_eq!(names, ["admin", "introspect", "items:read", "me"]);
        assert!(
            scopes["items:read"]
                .as_str()
                .unwrap()
                .contains("AUTH__SCOPES")
        );
        assert!(
            scopes["me"]
                .as_str()
                .unwrap()
                .contains("/api/auth/users/me")
        );
        let builtin = serde_json::to_value(ApiDoc::openapi()).unwrap();
        let builtin = &builtin["components"]["securitySchemes"]["password"]["flows"]["password"];
        assert_eq!(builtin["tokenUrl"], "/api/auth/token");
        assert_eq!(builtin["scopes"].as_object().unwrap().len(), 3);
    }
}
