//! `GET /metrics` (API.md §13), read back with a real Prometheus parser:
//! Python's `prometheus_client.parser`, run as a subprocess. Without
//! python3 and `prometheus_client` these tests skip with a notice, unless
//! `ZENTRA_REQUIRE_PROMETHEUS=1` (set by `.ci/run`, which installs it).

use std::time::Duration;

use serde_json::Value;

use crate::support::{Backend, PASSWORD, TestApp};

const REQUIRE_VAR: &str = "ZENTRA_REQUIRE_PROMETHEUS";

/// Parses the exposition text and prints its samples as JSON.
const PARSER: &str = r#"
import json, sys
from prometheus_client.parser import text_string_to_metric_families
samples = []
for family in text_string_to_metric_families(sys.stdin.read()):
    for sample in family.samples:
        samples.append({"family": family.name, "type": family.type,
                        "name": sample.name, "labels": sample.labels,
                        "value": sample.value})
print(json.dumps(samples))
"#;

/// Whether the parser can run here; panics when it must and cannot.
fn parser_available() -> bool {
    crate::support::python_can_import("prometheus_client.parser", REQUIRE_VAR, "prometheus_client")
}

/// One sample as the parser read it.
struct Sample {
    name: String,
    labels: serde_json::Map<String, Value>,
    value: f64,
}

fn parse(text: &str) -> Vec<Sample> {
    let output =
        crate::support::python(PARSER, &[], text, "the Prometheus parser refused the text");
    let samples: Vec<Value> = serde_json::from_slice(&output).unwrap();
    samples
        .into_iter()
        .map(|sample| Sample {
            name: sample["name"].as_str().unwrap().to_owned(),
            labels: sample["labels"].as_object().unwrap().clone(),
            value: sample["value"].as_f64().unwrap(),
        })
        .collect()
}

/// The value of the sample `name` with exactly `labels`, if any.
fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|sample| {
            sample.name == name
                && sample.labels.len() == labels.len()
                && labels.iter().all(|(key, value)| {
                    sample.labels.get(*key).and_then(Value::as_str) == Some(value)
                })
        })
        .map(|sample| sample.value)
}

/// `GET /metrics`: (status, content type, body).
fn scrape(app: &TestApp, bearer: Option<&str>) -> (u16, String, String) {
    let mut request = ureq::get(&app.url("/metrics"));
    if let Some(token) = bearer {
        request = request.set("Authorization", &format!("Bearer {token}"));
    }
    let response = match request.call() {
        Ok(response) | Err(ureq::Error::Status(_, response)) => response,
        Err(error) => panic!("GET /metrics: {error}"),
    };
    let status = response.status();
    let content_type = response.header("Content-Type").unwrap_or("").to_owned();
    (status, content_type, response.into_string().unwrap())
}

fn a_login_and_users_me_are_counted_by_route_pattern(backend: Backend) {
    if !parser_available() {
        return;
    }
    let Some((app, _db)) = TestApp::spawn(backend) else {
        return;
    };
    let (access, refresh) = app.signed_in("agent47");
    assert_eq!(app.get("/api/auth/users/me", Some(&access)).status, 200);
    assert_eq!(app.login("agent47", "a wrong password").status, 401);
    // Tokens in paths and queries: none may reach a label.
    let verify = app.post_raw(&format!("/api/auth/token/verify/{access}"), None, "");
    assert_eq!(verify.status, 200);
    app.post_raw(&format!("/api/auth/token/verify/{access}/more"), None, "");
    app.post_raw(
        &format!("/api/auth/token/refresh?refresh_token={refresh}"),
        None,
        "",
    );
    app.get(&format!("/no/such/{access}"), None);

    let (status, content_type, text) = scrape(&app, None);
    assert_eq!(status, 200, "{text}");
    assert!(content_type.starts_with("text/plain"), "{content_type}");
    let samples = parse(&text);

    let requests = |route, method, status| {
        value(
            &samples,
            "zentra_http_requests_total",
            &[("route", route), ("method", method), ("status", status)],
        )
        .unwrap_or(0.0)
    };
    assert!(requests("/api/auth/token", "POST", "202") >= 1.0, "{text}");
    assert!(
        requests("/api/auth/users/me", "GET", "200") >= 1.0,
        "{text}"
    );
    assert!(
        requests("/api/auth/token/verify/{token}", "POST", "200") >= 1.0,
        "{text}"
    );
    let logins = |outcome| value(&samples, "zentra_logins_total", &[("outcome", outcome)]);
    assert!(logins("success").unwrap() >= 1.0, "{text}");
    assert!(logins("invalid").unwrap() >= 1.0, "{text}");
    assert_eq!(logins("limited"), Some(0.0), "{text}");
    assert!(
        value(
            &samples,
            "zentra_http_request_duration_seconds_count",
            &[("route", "/api/auth/users/me")]
        )
        .unwrap()
            >= 1.0,
        "{text}"
    );
    assert!(
        value(
            &samples,
            "zentra_http_request_duration_seconds_bucket",
            &[("route", "/api/auth/users/me"), ("le", "+Inf")]
        )
        .is_some(),
        "{text}"
    );
    for lane in ["database", "hashing", "lookup"] {
        assert!(
            value(&samples, "zentra_lane_queued_calls", &[("lane", lane)]).is_some(),
            "{text}"
        );
    }
    let in_use = value(&samples, "zentra_db_pool_connections_in_use", &[]).unwrap();
    let max = value(&samples, "zentra_db_pool_connections_max", &[]).unwrap();
    assert!(in_use >= 0.0 && max >= 1.0 && in_use <= max, "{text}");

    // Route patterns only: no token, no path with one in it.
    for sample in &samples {
        for (key, label) in &sample.labels {
            let label = label.as_str().unwrap();
            assert!(
                !label.contains(&access) && !label.contains(&refresh) && !label.contains("eyJ"),
                "a token in label {key}={label}"
            );
            assert!(
                !label.starts_with("/no/such"),
                "a path in label {key}={label}"
            );
        }
    }
    assert!(!text.contains(PASSWORD));
}

fn a_token_guards_the_scrape(backend: Backend) {
    if !parser_available() {
        return;
    }
    let token = "scrape-token-0123456789";
    let Some((app, _db)) = TestApp::spawn_with(backend, &[("METRICS__TOKEN", token)]) else {
        return;
    };
    app.get("/metrics", None)
        .assert_error(401, "401_UNAUTHORIZED", "Not authenticated.");
    app.get("/metrics", Some("scrape-token-012345678X"))
        .assert_error(401, "401_UNAUTHORIZED", "Could not validate credentials.");
    let (status, _, text) = scrape(&app, Some(token));
    assert_eq!(status, 200, "{text}");
    let samples = parse(&text);
    // The refused scrapes were counted too.
    assert!(
        value(
            &samples,
            "zentra_http_requests_total",
            &[("route", "/metrics"), ("method", "GET"), ("status", "401")]
        )
        .unwrap()
            >= 2.0,
        "{text}"
    );
}

/// The lookup lane (README, Performance): on Postgres `users/me` runs on
/// `DB__LOOKUP_THREADS` threads that share queries and hold a connection
/// only while leading one (the contract suite's
/// `many_concurrent_lookups_hold_no_more_connections_than_promised`), so
/// the pool grows by five (two leaders for users, two for keys, a key's
/// last use), not by the threads, and answers a storm of lookups from 24
/// threads. SQLite has no such lane.
fn bearer_lookups_share_a_few_connections(backend: Backend) {
    if !parser_available() {
        return;
    }
    let Some((app, _db)) = TestApp::spawn_with(
        backend,
        &[("DB__POOL_SIZE", "1"), ("DB__LOOKUP_THREADS", "24")],
    ) else {
        return;
    };
    let hashing = std::thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let lookup_connections = match backend {
        Backend::Postgres => 5,
        Backend::Sqlite => 0,
    };
    let (access, _) = app.signed_in("agent47");
    let created = app.post_json_bearer(
        "/api/auth/api-keys",
        &access,
        &serde_json::json!({"name": "storm"}),
    );
    assert_eq!(created.status, 201, "{}", created.body);
    let key = created.body["data"]["key"].as_str().unwrap().to_owned();
    let app = &app;
    std::thread::scope(|scope| {
        for caller in 0..32 {
            // Half with the token, half with the key (as a bearer).
            let credential = if caller % 2 == 0 { &access } else { &key };
            scope.spawn(move || {
                for _ in 0..25 {
                    let reply = app.get("/api/auth/users/me", Some(credential));
                    assert_eq!(reply.status, 200, "{}", reply.body);
                }
            });
        }
    });
    let (_, _, text) = scrape(app, None);
    let samples = parse(&text);
    assert_eq!(
        value(&samples, "zentra_db_pool_connections_max", &[]),
        Some((1 + hashing + lookup_connections) as f64),
        "{text}"
    );
    assert_eq!(
        value(
            &samples,
            "zentra_http_requests_total",
            &[
                ("route", "/api/auth/users/me"),
                ("method", "GET"),
                ("status", "200")
            ]
        ),
        Some(800.0),
        "{text}"
    );
}

fn disabled_metrics_are_a_404(backend: Backend) {
    let Some((app, _db)) = TestApp::spawn_with(backend, &[("METRICS__ENABLED", "false")]) else {
        return;
    };
    assert_eq!(app.get("/", None).status, 200);
    app.get("/metrics", None)
        .assert_error(404, "404_NOT_FOUND", "Not found.");
    std::thread::sleep(Duration::from_millis(50));
}

crate::on_both_backends!(
    a_login_and_users_me_are_counted_by_route_pattern,
    a_token_guards_the_scrape,
    bearer_lookups_share_a_few_connections,
    disabled_metrics_are_a_404,
);
