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
}
