//! Every answer the suite receives is checked against the schema that
//! `/api/openapi.json` documents for its route, method and status.

use std::{
    collections::HashMap,
    sync::{Arc, Mutex, OnceLock, PoisonError},
};

use serde_json::{Value, json};

static DOCUMENT: OnceLock<Value> = OnceLock::new();
type Key = (String, String, String);
static VALIDATORS: OnceLock<Mutex<HashMap<Key, Arc<jsonschema::Validator>>>> = OnceLock::new();

/// The service's own OpenAPI document, fetched once per test process.
pub fn document(base: &str) -> &'static Value {
    DOCUMENT.get_or_init(|| {
        ureq::get(&format!("{base}/api/openapi.json"))
            .call()
            .expect("GET /api/openapi.json")
            .into_json()
            .expect("the OpenAPI document is JSON")
    })
}

/// The documented path template that `path` matches (`{x}` matches one
/// segment), if any.
fn template<'a>(document: &'a Value, path: &str) -> Option<&'a str> {
    let segments: Vec<&str> = path.split('/').collect();
    document["paths"]
        .as_object()?
        .keys()
        .map(String::as_str)
        .find(|template| {
            let parts: Vec<&str> = template.split('/').collect();
            parts.len() == segments.len()
                && parts
                    .iter()
                    .zip(&segments)
                    .all(|(part, segment)| part.starts_with('{') || part == segment)
        })
}

/// Panics unless `body` matches the schema documented for this answer.
/// Answers of undocumented routes (404s, the docs page) are not checked.
pub fn check(base: &str, method: &str, path: &str, status: u16, body: &Value) {
    if method == "OPTIONS" {
        return; // CORS preflights are the CORS layer's, not the API's.
    }
    let document = document(base);
    let path = path.split('?').next().unwrap_or(path);
    let Some(template) = template(document, path) else {
        return;
    };
    let operation = &document["paths"][template][method.to_ascii_lowercase()];
    if operation.is_null() {
        return; // 405: no operation of this method to hold it to.
    }
    let status = status.to_string();
    let key = (template.to_owned(), method.to_owned(), status.clone());
    let validators = VALIDATORS.get_or_init(Default::default);
    // Never hold the lock while building: building panics on an
    // undocumented status, and a poisoned cache would fail every test.
    let cached = validators
        .lock()
        .unwrap_or_else(PoisonError::into_inner)
        .get(&key)
        .cloned();
    let validator = cached.unwrap_or_else(|| {
        let responses = &operation["responses"];
        let response = responses
            .get(&status)
            .or_else(|| responses.get("default"))
            .unwrap_or_else(|| panic!("{method} {template}: status {status} is not documented"));
        let schema = &response["content"]["application/json"]["schema"];
        assert!(
            !schema.is_null(),
            "{method} {template} {status}: no JSON schema"
        );
        let root = json!({"components": document["components"], "allOf": [schema]});
        let built = Arc::new(jsonschema::validator_for(&root).expect("a valid JSON Schema"));
        validators
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(key, Arc::clone(&built));
        built
    });
    if let Err(error) = validator.validate(body) {
        panic!("{method} {path} answered {status} off its documented schema: {error}\n{body}");
    }
}
