//! `/api/openapi.json` and `/api/docs`.

use serde_json::Value;

use crate::support::{Backend, TestApp};

/// Every route of docs/api.md, with its methods.
const ROUTES: &[(&str, &str)] = &[
    ("/", "get"),
    ("/api/health", "get"),
    ("/api/auth/register", "post"),
    ("/api/auth/token", "post"),
    ("/api/auth/token/verify/{token}", "post"),
    ("/api/auth/token/refresh", "post"),
    ("/api/auth/users/me", "get"),
    ("/api/auth/users/me", "patch"),
    ("/api/auth/users/me/password", "post"),
    ("/api/auth/logout", "post"),
    ("/api/auth/logout/all", "post"),
    ("/.well-known/jwks.json", "get"),
    ("/.well-known/oauth-authorization-server", "get"),
];

fn the_document_is_valid_openapi_3_1_and_covers_every_route(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn(backend) else {
        return;
    };
    let document: Value = ureq::get(&app.url("/api/openapi.json"))
        .call()
        .unwrap()
        .into_json()
        .unwrap();

    let meta: Value =
        serde_json::from_str(include_str!("fixtures/openapi-3.1-schema.json")).unwrap();
    let validator = jsonschema::validator_for(&meta).unwrap();
    let errors: Vec<String> = validator
        .iter_errors(&document)
        .map(|e| e.to_string())
        .collect();
    assert!(
        errors.is_empty(),
        "not a valid OpenAPI 3.1 document: {errors:#?}"
    );
    assert!(document["openapi"].as_str().unwrap().starts_with("3.1"));

    for (path, method) in ROUTES {
        let operation = &document["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is not documented");
        assert!(
            operation["responses"]["default"].is_object() || *path == "/",
            "{method} {path}"
        );
    }
    assert_eq!(
        document["paths"]["/api/auth/token"]["post"]["requestBody"]["content"]
            .as_object()
            .unwrap()
            .keys()
            .collect::<Vec<_>>(),
        ["application/json", "application/x-www-form-urlencoded"]
    );
    assert_eq!(
        document["components"]["securitySchemes"]["bearer"]["scheme"],
        "bearer"
    );
    assert_eq!(
        document["paths"]["/api/auth/users/me"]["get"]["security"][0],
        serde_json::json!({"bearer": []})
    );
    // Every schema is itself valid JSON Schema (2020-12, as OpenAPI 3.1 says).
    for (name, schema) in document["components"]["schemas"].as_object().unwrap() {
        let root = serde_json::json!({"components": document["components"], "allOf": [schema]});
        assert!(jsonschema::validator_for(&root).is_ok(), "schema {name}");
    }
}

fn the_docs_page_is_served_from_the_binary(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn(backend) else {
        return;
    };
    let agent = ureq::AgentBuilder::new().redirects(0).build();
    let redirect = agent.get(&app.url("/api/docs")).call().unwrap();
    assert_eq!(redirect.status(), 308);
    assert_eq!(redirect.header("Location"), Some("/api/docs/"));

    let page = ureq::get(&app.url("/api/docs/")).call().unwrap();
    assert!(page.content_type().starts_with("text/html"));
    let html = page.into_string().unwrap();
    assert!(html.contains("swagger-ui"), "{html}");
    assert!(
        !html.contains("://unpkg") && !html.contains("://cdn"),
        "assets must be local"
    );
    for asset in [
        "swagger-ui.css",
        "swagger-ui-bundle.js",
        "swagger-initializer.js",
    ] {
        let response = ureq::get(&app.url(&format!("/api/docs/{asset}")))
            .call()
            .unwrap();
        assert_eq!(response.status(), 200, "{asset}");
    }
    let initializer = ureq::get(&app.url("/api/docs/swagger-initializer.js"))
        .call()
        .unwrap()
        .into_string()
        .unwrap();
    assert!(initializer.contains("/api/openapi.json"), "{initializer}");
}

crate::on_both_backends!(
    the_document_is_valid_openapi_3_1_and_covers_every_route,
    the_docs_page_is_served_from_the_binary,
);

#[test]
fn the_conformance_check_catches_an_answer_off_its_schema() {
    let Some((app, _db)) = TestApp::spawn(Backend::Sqlite) else {
        return;
    };
    let off_schema = serde_json::json!({"status": "success", "code": 200, "response": "200_OK",
        "data": {"username": 47}, "headers": null});
    let caught = std::panic::catch_unwind(|| {
        crate::conformance::check(&app.base, "GET", "/api/auth/users/me", 200, &off_schema);
    });
    assert!(caught.is_err(), "a wrong data type must fail the check");
    let undocumented_status = std::panic::catch_unwind(|| {
        crate::conformance::check(&app.base, "GET", "/", 500, &serde_json::json!({}));
    });
    assert!(
        undocumented_status.is_err(),
        "an undocumented status must fail the check"
    );
}
