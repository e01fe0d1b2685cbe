//! The JSON envelope every answer travels in (docs/api.md §1).

use actix_web::{
    HttpResponse,
    http::{
        StatusCode,
        header::{CONTENT_TYPE, HeaderName, HeaderValue},
    },
    web::Bytes,
};
use std::{
    borrow::Cow,
    fmt::{self, Write as _},
    sync::OnceLock,
};

use serde::{Serialize, Serializer, ser::SerializeMap};
use serde_json::value::RawValue;
use utoipa::{
    PartialSchema, ToSchema,
    openapi::{
        RefOr, Type,
        schema::{ObjectBuilder, Schema, SchemaType},
    },
};

/// One field's complaint in a 422 answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
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
///
/// Serialised in one pass with no intermediate `serde_json::Value`: the
/// data is rendered once when given, names and messages are borrowed.
#[derive(Debug)]
#[must_use]
pub struct Envelope {
    status: StatusCode,
    data: Option<Box<RawValue>>,
    message: Option<Cow<'static, str>>,
    details: Option<Vec<FieldError>>,
    headers: Vec<(HeaderName, Cow<'static, str>)>,
}

/// The envelope as it goes on the wire, `D` being the type of `data`. The
/// handlers send `Wire<RawValue>` (the data rendered once); the OpenAPI
/// document describes this same struct with the real data type of each
/// route (`Envelope_GetUser`, …), and with [`NoData`] for messages and
/// errors.
#[derive(Serialize, ToSchema)]
#[schema(
    as = Envelope,
    description = "The envelope every answer but the token pair travels in (docs/api.md §1). \
        A success carries `data` or `message`, never both; an error carries `message`, \
        and `details` on 422."
)]
pub(crate) struct Wire<'a, D: ?Sized> {
    status: Outcome,
    /// The HTTP status.
    code: u16,
    /// `<code>_<REASON>`: the canonical reason phrase, upper case.
    #[schema(value_type = String, pattern = "^[0-9]{3}_[A-Z_]+$", example = "200_OK")]
    response: ResponseName,
    /// A success's payload; a success carries `data` or `message`, never both.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    data: Option<&'a D>,
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    message: Option<&'a str>,
    /// On 422: one entry per offending field.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(nullable = false)]
    details: Option<&'a [FieldError]>,
    #[schema(required = true)]
    headers: Option<MirroredHeaders<'a>>,
}

/// `success` for 2xx, `error` for 4xx and 5xx.
#[derive(Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
enum Outcome {
    Success,
    Error,
}

/// The `data` of an envelope that carries none (a message or an error):
/// uninhabited, so such an envelope never has `data`.
pub(crate) enum NoData {}

impl PartialSchema for NoData {
    fn schema() -> RefOr<Schema> {
        ObjectBuilder::new()
            .schema_type(SchemaType::AnyValue)
            .description(Some("Never sent: messages and errors carry no `data`."))
            .into()
    }
}

impl ToSchema for NoData {}

/// `201_CREATED`, `422_UNPROCESSABLE_ENTITY`, … from the canonical reason,
/// written straight into the body.
struct ResponseName(StatusCode);

impl fmt::Display for ResponseName {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}_", self.0.as_u16())?;
        for byte in self.0.canonical_reason().unwrap_or("Unknown").bytes() {
            let shouted = match byte {
                b' ' | b'-' => '_',
                other => char::from(other.to_ascii_uppercase()),
            };
            f.write_char(shouted)?;
        }
        Ok(())
    }
}

impl Serialize for ResponseName {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.collect_str(self)
    }
}

/// The body's `headers`: an object in canonical case.
struct MirroredHeaders<'a>(&'a [(HeaderName, Cow<'static, str>)]);

impl PartialSchema for MirroredHeaders<'_> {
    fn schema() -> RefOr<Schema> {
        let sent = || ObjectBuilder::new().schema_type(Type::String);
        ObjectBuilder::new()
            .description(Some(
                "The headers that matter to the client, as sent on the response \
                 (`null` when none).",
            ))
            .property("WWW-Authenticate", sent())
            .property("Retry-After", sent().description(Some("Seconds.")))
            .property("Allow", sent())
            .into()
    }
}

impl ToSchema for MirroredHeaders<'_> {
    fn name() -> Cow<'static, str> {
        Cow::Borrowed("EnvelopeHeaders")
    }
}

impl Serialize for MirroredHeaders<'_> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in self.0 {
            map.serialize_entry(&canonical_case(name), value)?;
        }
        map.end()
    }
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
        self.data = Some(serde_json::value::to_raw_value(&data).expect("response DTOs serialise"));
        self
    }

    pub fn message(mut self, message: impl Into<Cow<'static, str>>) -> Self {
        self.message = Some(message.into());
        self
    }

    pub fn details(mut self, details: Vec<FieldError>) -> Self {
        self.details = Some(details);
        self
    }

    /// Sets a header (replacing an earlier value of the same name).
    pub fn header(mut self, name: HeaderName, value: impl Into<Cow<'static, str>>) -> Self {
        let value = value.into();
        match self.headers.iter_mut().find(|(known, _)| *known == name) {
            Some((_, earlier)) => *earlier = value,
            None => self.headers.push((name, value)),
        }
        self
    }

    /// `WWW-Authenticate: Bearer`, sent by every 401 and by the successes
    /// of the bearer-authenticated routes.
    pub fn bearer(self) -> Self {
        self.header(actix_web::http::header::WWW_AUTHENTICATE, "Bearer")
    }

    pub fn into_response(self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status);
        for (name, value) in &self.headers {
            response.insert_header((name.clone(), value.as_ref()));
        }
        response.json(self.wire())
    }

    /// The answer as [`into_response`](Self::into_response) sends it, kept
    /// to be sent again.
    fn fixed(&self) -> Fixed {
        Fixed {
            status: self.status,
            headers: self
                .headers
                .iter()
                .map(|(name, value)| {
                    let value =
                        HeaderValue::from_str(value).expect("header values are visible ASCII");
                    (name.clone(), value)
                })
                .collect(),
            body: Bytes::from(serde_json::to_vec(&self.wire()).expect("an envelope serialises")),
        }
    }

    /// The body as JSON: the OpenAPI document's examples are real answers.
    pub(crate) fn to_value(&self) -> serde_json::Value {
        serde_json::to_value(self.wire()).expect("an envelope serialises")
    }

    fn wire(&self) -> Wire<'_, RawValue> {
        Wire {
            status: if self.status.is_success() {
                Outcome::Success
            } else {
                Outcome::Error
            },
            code: self.status.as_u16(),
            response: ResponseName(self.status),
            data: self.data.as_deref(),
            message: self.message.as_deref(),
            details: self.details.as_deref(),
            headers: (!self.headers.is_empty()).then_some(MirroredHeaders(&self.headers)),
        }
    }
}

/// An answer that is the same every time, serialised once: `verify`'s
/// "Token is valid." is most of what that route sends, and building its
/// envelope cost a tenth of the route's instructions (callgrind).
pub struct FixedAnswer {
    make: fn() -> Envelope,
    built: OnceLock<Fixed>,
}

/// What [`FixedAnswer`] keeps: the status, the headers and the body.
struct Fixed {
    status: StatusCode,
    headers: Vec<(HeaderName, HeaderValue)>,
    body: Bytes,
}

impl FixedAnswer {
    /// The answer `make` builds, built on first use.
    pub const fn new(make: fn() -> Envelope) -> Self {
        Self {
            make,
            built: OnceLock::new(),
        }
    }

    pub fn response(&self) -> HttpResponse {
        let fixed = self.built.get_or_init(|| (self.make)().fixed());
        let mut response = HttpResponse::build(fixed.status);
        for (name, value) in &fixed.headers {
            response.insert_header((name.clone(), value.clone()));
        }
        response
            .insert_header((CONTENT_TYPE, HeaderValue::from_static("application/json")))
            .body(fixed.body.clone())
    }
}

/// `www-authenticate` → `WWW-Authenticate`, as clients of the original see it.
fn canonical_case(name: &HeaderName) -> Cow<'static, str> {
    match name.as_str() {
        "www-authenticate" => Cow::Borrowed("WWW-Authenticate"),
        "retry-after" => Cow::Borrowed("Retry-After"),
        "allow" => Cow::Borrowed("Allow"),
        other => Cow::Owned(
            other
                .split('-')
                .map(|part| {
                    let mut chars = part.chars();
                    chars.next().map_or_else(String::new, |first| {
                        first.to_ascii_uppercase().to_string() + chars.as_str()
                    })
                })
                .collect::<Vec<_>>()
                .join("-"),
        ),
    }
}

#[cfg(test)]
mod tests {
    use actix_web::{body::to_bytes, http::header};
    use serde_json::Value;

    use super::*;

    #[actix_web::test]
    async fn a_fixed_answer_is_the_envelope_it_was_built_from() {
        fn unauthorized() -> Envelope {
            Envelope::new(StatusCode::UNAUTHORIZED)
                .message("Could not validate credentials.")
                .bearer()
        }
        static FIXED: FixedAnswer = FixedAnswer::new(unauthorized);
        for _ in 0..2 {
            let (fixed, built) = (FIXED.response(), unauthorized().into_response());
            assert_eq!(fixed.status(), built.status());
            let headers = |response: &HttpResponse| {
                let mut headers: Vec<_> = response
                    .headers()
                    .iter()
                    .map(|(name, value)| (name.clone(), value.clone()))
                    .collect();
                headers.sort_by(|a, b| a.0.as_str().cmp(b.0.as_str()));
                headers
            };
            assert_eq!(headers(&fixed), headers(&built));
            assert_eq!(
                to_bytes(fixed.into_body()).await.unwrap(),
                to_bytes(built.into_body()).await.unwrap()
            );
        }
    }

    async fn body(response: HttpResponse) -> Value {
        serde_json::from_slice(&to_bytes(response.into_body()).await.unwrap()).unwrap()
    }

    fn response_name(status: StatusCode) -> String {
        ResponseName(status).to_string()
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
    async fn a_header_set_twice_is_sent_and_mirrored_once() {
        let response = Envelope::new(StatusCode::SERVICE_UNAVAILABLE)
            .header(header::RETRY_AFTER, "1")
            .header(header::RETRY_AFTER, String::from("30"))
            .header(header::HeaderName::from_static("x-request-id"), "r-1")
            .into_response();
        assert_eq!(response.headers().get_all(header::RETRY_AFTER).count(), 1);
        let bytes = to_bytes(response.into_body()).await.unwrap();
        let text = std::str::from_utf8(&bytes).unwrap();
        assert_eq!(text.matches("Retry-After").count(), 1, "{text}");
        let json: Value = serde_json::from_str(text).unwrap();
        assert_eq!(
            json["headers"],
            serde_json::json!({"Retry-After": "30", "X-Request-Id": "r-1"})
        );
        assert_eq!(json["response"], "503_SERVICE_UNAVAILABLE");
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
