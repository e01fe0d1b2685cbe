//! The JSON envelope every answer travels in (API.md §1).

use actix_web::{
    HttpResponse,
    http::{StatusCode, header::HeaderName},
};
use serde::Serialize;
use serde_json::{Map, Value};

/// One field's complaint in a 422 answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[schema(example = json!({"field": "password", "message": "Password must be at least 8 characters long."}))]
pub struct FieldError {
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// An envelope under construction. Headers added here are sent on the
/// HTTP response *and* mirrored in the body's `headers`, so the two can
/// never disagree.
#[derive(Debug)]
#[must_use]
pub struct Envelope {
    status: StatusCode,
    data: Option<Value>,
    message: Option<String>,
    details: Option<Vec<FieldError>>,
    headers: Vec<(HeaderName, String)>,
}

#[derive(Serialize)]
struct Wire<'a> {
    status: &'static str,
    code: u16,
    response: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    data: Option<&'a Value>,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<&'a str>,
    #[serde(skip_serializing_if = "Option::is_none")]
    details: Option<&'a [FieldError]>,
    headers: Option<Map<String, Value>>,
}

/// `201_CREATED`, `422_UNPROCESSABLE_ENTITY`, … from the canonical reason.
#[must_use]
pub fn response_name(status: StatusCode) -> String {
    let reason = status.canonical_reason().unwrap_or("Unknown");
    format!(
        "{}_{}",
        status.as_u16(),
        reason.to_ascii_uppercase().replace([' ', '-'], "_")
    )
}

impl Envelope {
    pub fn new(status: StatusCode) -> Self {
        Self {
            status,
            data: None,
            message: None,
            details: None,
            headers: Vec::new(),
        }
    }

    /// A success carrying `data`.
    pub fn data(mut self, data: impl Serialize) -> Self {
        self.data = Some(serde_json::to_value(data).expect("response DTOs serialise"));
        self
    }

    pub fn message(mut self, message: impl Into<String>) -> Self {
        self.message = Some(message.into());
        self
    }

    pub fn details(mut self, details: Vec<FieldError>) -> Self {
        self.details = Some(details);
        self
    }

    pub fn header(mut self, name: HeaderName, value: impl Into<String>) -> Self {
        self.headers.push((name, value.into()));
        self
    }

    /// `WWW-Authenticate: Bearer`, sent by every 401 and by the successes
    /// of the bearer-authenticated routes.
    pub fn bearer(self) -> Self {
        self.header(actix_web::http::header::WWW_AUTHENTICATE, "Bearer")
    }

    pub fn into_response(self) -> HttpResponse {
        let headers = (!self.headers.is_empty()).then(|| {
            self.headers
                .iter()
                .map(|(name, value)| (canonical_case(name), Value::from(value.as_str())))
                .collect()
        });
        let wire = Wire {
            status: if self.status.is_success() {
                "success"
            } else {
                "error"
            },
            code: self.status.as_u16(),
            response: response_name(self.status),
            data: self.data.as_ref(),
            message: self.message.as_deref(),
            details: self.details.as_deref(),
            headers,
        };
        let mut response = HttpResponse::build(self.status);
        for (name, value) in &self.headers {
            response.insert_header((name.clone(), value.as_str()));
        }
        response.json(wire)
    }
}

/// `www-authenticate` → `WWW-Authenticate`, as clients of the original see it.
fn canonical_case(name: &HeaderName) -> String {
    match name.as_str() {
        "www-authenticate" => "WWW-Authenticate".to_owned(),
        other => other
            .split('-')
            .map(|part| {
                let mut chars = part.chars();
                chars.next().map_or_else(String::new, |first| {
                    first.to_ascii_uppercase().to_string() + chars.as_str()
                })
            })
            .collect::<Vec<_>>()
            .join("-"),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::{body::to_bytes, http::header};

    use super::*;

    async fn body(response: HttpResponse) -> Value {
        serde_json::from_slice(&to_bytes(response.into_body()).await.unwrap()).unwrap()
    }

    #[test]
    fn response_names_follow_the_canonical_reasons() {
        assert_eq!(response_name(StatusCode::OK), "200_OK");
        assert_eq!(response_name(StatusCode::CREATED), "201_CREATED");
        assert_eq!(
            response_name(StatusCode::UNPROCESSABLE_ENTITY),
            "422_UNPROCESSABLE_ENTITY"
        );
        assert_eq!(
            response_name(StatusCode::PAYLOAD_TOO_LARGE),
            "413_PAYLOAD_TOO_LARGE"
        );
        assert_eq!(
            response_name(StatusCode::from_u16(431).unwrap()),
            "431_REQUEST_HEADER_FIELDS_TOO_LARGE"
        );
    }

    #[actix_web::test]
    async fn a_success_with_data_has_no_message_and_null_headers() {
        let response = Envelope::new(StatusCode::CREATED)
            .data(serde_json::json!({"username": "agent47"}))
            .into_response();
        assert_eq!(response.status(), StatusCode::CREATED);
        assert_eq!(
            body(response).await,
            serde_json::json!({"status": "success", "code": 201, "response": "201_CREATED",
                "data": {"username": "agent47"}, "headers": null})
        );
    }

    #[actix_web::test]
    async fn headers_are_sent_and_mirrored() {
        let response = Envelope::new(StatusCode::TOO_MANY_REQUESTS)
            .message("Too many requests, try again later.")
            .header(header::RETRY_AFTER, "30")
            .bearer()
            .into_response();
        assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "30");
        assert_eq!(
            response.headers().get(header::WWW_AUTHENTICATE).unwrap(),
            "Bearer"
        );
        assert_eq!(
            response.headers().get(header::CONTENT_TYPE).unwrap(),
            "application/json"
        );
        let json = body(response).await;
        assert_eq!(json["status"], "error");
        assert_eq!(
            json["headers"],
            serde_json::json!({"Retry-After": "30", "WWW-Authenticate": "Bearer"})
        );
        assert!(json.get("data").is_none());
    }
}
