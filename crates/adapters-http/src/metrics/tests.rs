use actix_web::{App, middleware::from_fn, test as http};

use super::*;
use crate::{WorkerPool, request_log::log_requests};

struct FixedPool;

impl PoolStatus for FixedPool {
    fn usage(&self) -> PoolUsage {
        PoolUsage { in_use: 3, max: 8 }
    }
}

fn metrics(token: Option<&str>) -> Arc<Metrics> {
    Arc::new(Metrics::new(
        token.map(MetricsToken::new),
        Arc::new(FixedPool),
    ))
}

fn lanes() -> Lanes {
    Lanes::new(WorkerPool::new("db", 1, 4), WorkerPool::new("hash", 1, 4))
}

#[test]
fn labels_come_from_fixed_sets() {
    assert_eq!(method_label(&Method::GET), "GET");
    assert_eq!(method_label(&Method::PATCH), "PATCH");
    assert_eq!(method_label(&Method::from_bytes(b"BREW").unwrap()), "other");
    assert_eq!(status_label(100), "100");
    assert_eq!(status_label(202), "202");
    assert_eq!(status_label(599), "599");
    assert_eq!(status_label(99), "other");
    assert_eq!(status_label(600), "other");
}

#[test]
fn login_outcomes_follow_the_status() {
    for (status, outcome) in [
        (202, LoginOutcome::Success),
        (401, LoginOutcome::Invalid),
        (400, LoginOutcome::Invalid),
        (422, LoginOutcome::Invalid),
        (429, LoginOutcome::Limited),
        (500, LoginOutcome::Error),
        (503, LoginOutcome::Error),
    ] {
        assert_eq!(
            LoginOutcome::of(StatusCode::from_u16(status).unwrap()),
            outcome,
            "{status}"
        );
    }
}

#[test]
fn requests_are_counted_by_route_method_and_status_and_timed_by_route() {
    let metrics = metrics(None);
    let fast = Duration::from_micros(300);
    metrics.record("/api/auth/users/me", &Method::GET, StatusCode::OK, fast);
    metrics.record("/api/auth/users/me", &Method::GET, StatusCode::OK, fast);
    metrics.record(
        "/api/auth/users/me",
        &Method::GET,
        StatusCode::UNAUTHORIZED,
        Duration::from_millis(20),
    );
    metrics.record(
        UNMATCHED,
        &Method::from_bytes(b"BREW").unwrap(),
        StatusCode::NOT_FOUND,
        fast,
    );
    let text = metrics.render(&lanes());
    for line in [
        r#"zentra_http_requests_total{route="/api/auth/users/me",method="GET",status="200"} 2"#,
        r#"zentra_http_requests_total{route="/api/auth/users/me",method="GET",status="401"} 1"#,
        r#"zentra_http_requests_total{route="<no route>",method="other",status="404"} 1"#,
        r#"zentra_http_request_duration_seconds_bucket{route="/api/auth/users/me",le="0.0005"} 2"#,
        r#"zentra_http_request_duration_seconds_bucket{route="/api/auth/users/me",le="0.025"} 3"#,
        r#"zentra_http_request_duration_seconds_count{route="/api/auth/users/me"} 3"#,
        r#"zentra_db_pool_connections_in_use 3"#,
        r#"zentra_db_pool_connections_max 8"#,
        r#"zentra_lane_queued_calls{lane="database"} 0"#,
        r#"zentra_lane_queued_calls{lane="hashing"} 0"#,
        r#"zentra_logins_total{outcome="success"} 0"#,
    ] {
        assert!(text.lines().any(|l| l == line), "no {line} in\n{text}");
    }
}

#[test]
fn logins_are_counted_by_outcome() {
    let metrics = metrics(None);
    let took = Duration::from_millis(250);
    for status in [202, 202, 401, 429, 503] {
        let status = StatusCode::from_u16(status).unwrap();
        metrics.record(LOGIN_ROUTE, &Method::POST, status, took);
    }
    // Only a POST to the login route is a login.
    metrics.record(
        LOGIN_ROUTE,
        &Method::GET,
        StatusCode::METHOD_NOT_ALLOWED,
        took,
    );
    metrics.record(
        "/api/auth/register",
        &Method::POST,
        StatusCode::CREATED,
        took,
    );
    let text = metrics.render(&lanes());
    for line in [
        r#"zentra_logins_total{outcome="success"} 2"#,
        r#"zentra_logins_total{outcome="invalid"} 1"#,
        r#"zentra_logins_total{outcome="limited"} 1"#,
        r#"zentra_logins_total{outcome="error"} 1"#,
    ] {
        assert!(text.lines().any(|l| l == line), "no {line} in\n{text}");
    }
}

#[test]
fn the_token_is_compared_whole_and_never_shown() {
    let token = MetricsToken::new("s3cret-scrape-token");
    assert!(token.matches("s3cret-scrape-token"));
    assert!(!token.matches("s3cret-scrape-toke"));
    assert!(!token.matches("s3cret-scrape-tokenX"));
    assert!(!token.matches(""));
    assert!(!format!("{token:?}").contains("s3cret"));
}

macro_rules! app {
    ($metrics:expr) => {
        http::init_service(
            App::new()
                .wrap(from_fn(log_requests))
                .app_data(web::Data::new(lanes()))
                .configure(configure($metrics))
                .route("/", web::get().to(HttpResponse::Ok))
                .default_service(web::to(crate::routes::not_found)),
        )
        .await
    };
}

async fn scrape_text(
    app: &impl actix_web::dev::Service<
        actix_http::Request,
        Response = actix_web::dev::ServiceResponse,
        Error = actix_web::Error,
    >,
    bearer: Option<&str>,
) -> (StatusCode, String) {
    let mut request = http::TestRequest::get().uri("/metrics");
    if let Some(token) = bearer {
        request = request.insert_header((header::AUTHORIZATION, format!("Bearer {token}")));
    }
    let response = http::call_service(app, request.to_request()).await;
    let status = response.status();
    let body = http::read_body(response).await;
    (status, String::from_utf8(body.to_vec()).unwrap())
}

#[actix_web::test]
async fn the_scrape_counts_what_the_middleware_saw() {
    let app = app!(Some(metrics(None)));
    http::call_service(&app, http::TestRequest::get().uri("/").to_request()).await;
    http::call_service(
        &app,
        http::TestRequest::get().uri("/nowhere/abc").to_request(),
    )
    .await;
    let (status, text) = scrape_text(&app, None).await;
    assert_eq!(status, StatusCode::OK);
    assert!(
        text.contains(r#"zentra_http_requests_total{route="/",method="GET",status="200"} 1"#),
        "{text}"
    );
    assert!(
        text.contains(
            r#"zentra_http_requests_total{route="<no route>",method="GET",status="404"} 1"#
        ),
        "{text}"
    );
    assert!(!text.contains("nowhere"), "{text}");
    let head = http::call_service(
        &app,
        http::TestRequest::default()
            .method(Method::HEAD)
            .uri("/metrics")
            .to_request(),
    )
    .await;
    assert_eq!(head.status(), StatusCode::OK);
    assert!(
        head.headers()
            .get(header::CONTENT_TYPE)
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
}

#[actix_web::test]
async fn with_a_token_a_scrape_needs_it() {
    let app = app!(Some(metrics(Some("scrape-me"))));
    let (missing, body) = scrape_text(&app, None).await;
    assert_eq!(missing, StatusCode::UNAUTHORIZED);
    assert!(body.contains("Not authenticated."), "{body}");
    let (wrong, body) = scrape_text(&app, Some("scrape-you")).await;
    assert_eq!(wrong, StatusCode::UNAUTHORIZED);
    assert!(body.contains("Could not validate credentials."), "{body}");
    let (right, text) = scrape_text(&app, Some("scrape-me")).await;
    assert_eq!(right, StatusCode::OK);
    assert!(text.contains("zentra_logins_total"), "{text}");
}

#[actix_web::test]
async fn off_means_no_route() {
    let app = app!(None);
    http::call_service(&app, http::TestRequest::get().uri("/").to_request()).await;
    let (status, _) = scrape_text(&app, None).await;
    assert_eq!(status, StatusCode::NOT_FOUND);
}
