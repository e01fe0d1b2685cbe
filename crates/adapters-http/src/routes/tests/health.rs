//! The root and the health check.

use super::*;

#[actix_web::test]
async fn the_root_answers_like_the_original() {
    let app = app(MockUserRepository::new()).await;
    let (status, _, json) = send(&app, TestRequest::get().uri("/")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json, json!({"health": "check complete"}));
}

#[actix_web::test]
async fn health_reports_the_database() {
    let app = app(MockUserRepository::new()).await;
    let (status, _, json) = send(&app, TestRequest::get().uri("/api/health")).await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(json["data"], json!({"database": "ok"}));

    let down = app_with_probe(MockUserRepository::new(), Err("connection refused")).await;
    let (status, _, json) = send(&down, TestRequest::get().uri("/api/health")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert_error(
        &json,
        503,
        "503_SERVICE_UNAVAILABLE",
        "Service unavailable, try again later.",
    );
}
