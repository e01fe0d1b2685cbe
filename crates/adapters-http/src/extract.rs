//! Request extraction that answers in the envelope: bodies in JSON or form
//! encoding with per-field 422 details, and the bearer token.

use std::{borrow::Cow, future::Future, marker::PhantomData, pin::Pin, sync::OnceLock};

use actix_web::{
    FromRequest, HttpMessage, HttpRequest, dev::Payload, http::StatusCode, http::header, web,
};
use domain::{AuthService, Credential, Scope, Scopes, api_key::KEY_PREFIX};
use serde::de::DeserializeOwned;

use crate::{envelope::FieldError, error::ApiError};

const JSON: &str = "application/json";
const FORM: &str = "application/x-www-form-urlencoded";

/// Which body encodings a route takes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Encodings {
    Json,
    JsonOrForm,
}

/// Parses `body` as `T` in the encoding its `Content-Type` names.
///
/// A missing `Content-Type` is read as JSON (as FastAPI does); one the route
/// does not take is 415.
///
/// # Errors
/// 415 for an encoding the route does not take; 422 with details for a
/// malformed body or a missing or mistyped field.
pub fn parse_body<T: DeserializeOwned>(
    request: &HttpRequest,
    body: &[u8],
    accepted: Encodings,
) -> Result<T, ApiError> {
    let content_type = request.content_type();
    if content_type.is_empty() || content_type.eq_ignore_ascii_case(JSON) {
        from_json(body)
    } else if accepted == Encodings::JsonOrForm && content_type.eq_ignore_ascii_case(FORM) {
        from_form(body)
    } else {
        Err(ApiError::refused(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            match accepted {
                Encodings::Json => "Unsupported media type: send application/json.",
                Encodings::JsonOrForm => {
                    "Unsupported media type: send application/json or application/x-www-form-urlencoded."
                }
            },
        ))
    }
}

fn from_json<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    // serde would fill a struct from an array by position; a client of the
    // original must send an object.
    if body.iter().find(|b| !b.is_ascii_whitespace()) != Some(&b'{') {
        return Err(ApiError::validation("body", "Expected a JSON object."));
    }
    let mut deserializer = serde_json::Deserializer::from_slice(body);
    let value = serde_path_to_error::deserialize(&mut deserializer).map_err(|error| {
        let path = error.path().to_string();
        let inner = error.into_inner();
        if inner.is_syntax() || inner.is_eof() {
            ApiError::validation(
                "body",
                format!("Malformed JSON: {}.", strip_position(&inner.to_string())),
            )
        } else {
            field_error::<T>(
                &path,
                &strip_position(&inner.to_string()),
                body,
                Format::Json,
            )
        }
    })?;
    // Trailing garbage after the JSON value is malformed input too.
    deserializer
        .end()
        .map_err(|_| ApiError::validation("body", "Malformed JSON: trailing characters."))?;
    Ok(value)
}

fn from_form<T: DeserializeOwned>(body: &[u8]) -> Result<T, ApiError> {
    if !is_strict_form(body) {
        return Err(ApiError::validation(
            "body",
            "Malformed form: every % must start two hex digits, and the text must be UTF-8.",
        ));
    }
    let deserializer = serde_urlencoded::Deserializer::new(form_urlencoded::parse(body));
    serde_path_to_error::deserialize(deserializer).map_err(|error| {
        let path = error.path().to_string();
        field_error::<T>(&path, &error.into_inner().to_string(), body, Format::Form)
    })
}

/// Whether a form body is well-formed: form_urlencoded's own decoding is
/// lenient, keeping a `%` without two hex digits as it is and replacing
/// invalid UTF-8 with U+FFFD, so `password=%FF` would be checked as the
/// password "\u{FFFD}". Names and values are split on ASCII `&` and `=`,
/// so the whole body decodes as UTF-8 exactly when each of them does.
fn is_strict_form(body: &[u8]) -> bool {
    let mut rest = body;
    while let Some(at) = rest.iter().position(|&b| b == b'%') {
        match rest.get(at + 1..at + 3) {
            Some([high, low]) if high.is_ascii_hexdigit() && low.is_ascii_hexdigit() => {
                rest = &rest[at + 3..];
            }
            _ => return false,
        }
    }
    percent_encoding::percent_decode(body).decode_utf8().is_ok()
}

/// A body's encoding, for finding every missing field.
#[derive(Debug, Clone, Copy)]
enum Format {
    Json,
    Form,
}

impl Format {
    /// Values to fill a missing field with, in the order tried: the first
    /// of the field's type lets the search go on past it.
    fn fills(self) -> &'static [&'static str] {
        match self {
            Self::Json => &[r#""""#, "false", "0", "[]", "{}"],
            Self::Form => &["", "false", "0"],
        }
    }

    /// Parses `body` as `T` again with each `(field, fill)` added, only to
    /// learn whether it parses; `Err` holds serde's message.
    fn reparse<T: DeserializeOwned>(
        self,
        body: &[u8],
        added: &[(&str, &str)],
    ) -> Result<(), String> {
        let parsed = match self {
            Self::Json => {
                let mut object: serde_json::Map<String, serde_json::Value> =
                    serde_json::from_slice(body).map_err(|error| error.to_string())?;
                for (field, fill) in added {
                    let fill = serde_json::from_str(fill).expect("the fills are JSON");
                    object.insert((*field).to_owned(), fill);
                }
                serde_json::from_value::<T>(object.into()).map_err(|error| error.to_string())
            }
            Self::Form => {
                let body = String::from_utf8_lossy(body).into_owned();
                let form = form_urlencoded::Serializer::new(body)
                    .extend_pairs(added)
                    .finish();
                serde_urlencoded::from_str::<T>(&form).map_err(|error| error.to_string())
            }
        };
        parsed.map(drop)
    }
}

/// serde stops at the first missing field, and a client should learn every
/// one at once (docs/api.md §8): fill each missing field with a value of its
/// type and parse again, until none is missing. Runs only on this error
/// path, at most a few parses per field of `T`.
fn every_missing_field<T: DeserializeOwned>(
    first: &str,
    body: &[u8],
    format: Format,
) -> Vec<String> {
    let fills = format.fills();
    let mut added = vec![(first.to_owned(), 0)];
    loop {
        let with: Vec<(&str, &str)> = added
            .iter()
            .map(|(field, fill)| (field.as_str(), fills[*fill]))
            .collect();
        let Err(message) = format.reparse::<T>(body, &with) else {
            break;
        };
        match missing_field(&message) {
            Some(next) if added.iter().all(|(field, _)| field != next) => {
                added.push((next.to_owned(), 0));
            }
            Some(_) => break,
            None => {
                // The last fill is not of its field's type: try the next.
                let (_, fill) = added.last_mut().expect("never empty");
                *fill += 1;
                if *fill == fills.len() {
                    break;
                }
            }
        }
    }
    added.into_iter().map(|(field, _)| field).collect()
}

/// One field's error from serde's message: a missing field names itself in
/// the message (and then every missing field is named), any other error in
/// the path.
fn field_error<T: DeserializeOwned>(
    path: &str,
    message: &str,
    body: &[u8],
    format: Format,
) -> ApiError {
    if let Some(first) = missing_field(message) {
        return ApiError::Validation(
            every_missing_field::<T>(first, body, format)
                .into_iter()
                .map(|field| FieldError::new(field, "Field required."))
                .collect(),
        );
    }
    if let Some(field) = message
        .strip_prefix("unknown field `")
        .and_then(|rest| rest.split('`').next())
    {
        return ApiError::validation(field, "Field not allowed here.");
    }
    let field = if path.is_empty() || path == "." {
        "body"
    } else {
        path
    };
    ApiError::Validation(vec![FieldError::new(field, capitalise(message) + ".")])
}

fn missing_field(message: &str) -> Option<&str> {
    message
        .strip_prefix("missing field `")
        .and_then(|rest| rest.strip_suffix('`'))
}

/// serde_json appends ` at line 1 column 5`; the client sent one line.
fn strip_position(message: &str) -> String {
    message
        .rfind(" at line ")
        .map_or(message, |at| &message[..at])
        .to_owned()
}

fn capitalise(message: &str) -> String {
    let mut chars = message.chars();
    chars.next().map_or_else(String::new, |first| {
        first.to_uppercase().collect::<String>() + chars.as_str()
    })
}

/// Reads the whole body within the configured limit.
///
/// # Errors
/// 413 over the limit; 400 if the body cannot be read.
pub async fn read_body(
    request: &HttpRequest,
    payload: &mut Payload,
) -> Result<web::Bytes, ApiError> {
    web::Bytes::from_request(request, payload)
        .await
        .map_err(|error| {
            if error.as_response_error().status_code() == StatusCode::PAYLOAD_TOO_LARGE {
                ApiError::refused(StatusCode::PAYLOAD_TOO_LARGE, "Request body too large.")
            } else {
                ApiError::refused(StatusCode::BAD_REQUEST, "Could not read the request body.")
            }
        })
}

type LocalFuture<T> = Pin<Box<dyn Future<Output = Result<T, ApiError>>>>;

/// The raw body, read within the limit, for routes that parse it themselves.
#[derive(Debug)]
pub struct RawBody(pub web::Bytes);

impl FromRequest for RawBody {
    type Error = ApiError;
    type Future = LocalFuture<Self>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let request = request.clone();
        let mut payload = payload.take();
        Box::pin(async move { read_body(&request, &mut payload).await.map(RawBody) })
    }
}

/// A body parsed by [`parse_body`]; `FORM_TOO` says whether a form is taken
/// besides JSON.
#[derive(Debug)]
pub struct Body<T, const FORM_TOO: bool>(pub T);

/// A JSON-only body.
pub type JsonBody<T> = Body<T, false>;
/// A JSON or `application/x-www-form-urlencoded` body.
pub type JsonOrFormBody<T> = Body<T, true>;

impl<T: DeserializeOwned + 'static, const FORM_TOO: bool> FromRequest for Body<T, FORM_TOO> {
    type Error = ApiError;
    type Future = LocalFuture<Self>;

    fn from_request(request: &HttpRequest, payload: &mut Payload) -> Self::Future {
        let request = request.clone();
        let mut payload = payload.take();
        Box::pin(async move {
            let bytes = read_body(&request, &mut payload).await?;
            let accepted = if FORM_TOO {
                Encodings::JsonOrForm
            } else {
                Encodings::Json
            };
            parse_body(&request, &bytes, accepted).map(Body)
        })
    }
}

/// The scope a route needs, named by a zero-sized marker type
/// ([`Me`], [`Admin`]): `Authorized<Me>` in a handler's arguments is the
/// one place that says what the route requires.
pub trait RequiredScope: 'static {
    /// The scopes the token must carry, built once.
    fn needed() -> &'static Scopes;
}

/// Acting on one's own account: every `/api/auth/users/me*` route and
/// `/logout/all` (docs/api.md §9).
#[derive(Debug)]
pub enum Me {}

/// The admin API (`/api/admin/*`).
#[derive(Debug)]
pub enum Admin {}

/// Asking about other credentials: `/api/auth/token/introspect`.
#[derive(Debug)]
pub enum Introspect {}

macro_rules! required_scope {
    ($marker:ty, $scope:expr) => {
        impl RequiredScope for $marker {
            fn needed() -> &'static Scopes {
                static NEEDED: OnceLock<Scopes> = OnceLock::new();
                NEEDED.get_or_init(|| Scopes::from_iter([$scope]))
            }
        }
    };
}

required_scope!(Me, Scope::me());
required_scope!(Admin, Scope::admin());
required_scope!(Introspect, Scope::introspect());

/// The bearer credential of a route that needs the scopes of `S`: an
/// access token that carries them, or an API key (`Authorization: Bearer
/// zk_…` or `X-API-Key: zk_…`, docs/api.md §10).
///
/// Checked on the async worker as far as it can be without the store: a
/// token's HMAC (usually a cache hit) and scopes, a key's form and
/// checksum. A key's scopes are checked where its row is read, with its
/// user, on the lane that reads the user anyway (`current_user`), so a
/// request with a key costs one store read, as one with a token.
/// 401 `Not authenticated.` without a credential, 401 `Could not validate
/// credentials.` for a bad one, 403 `Not enough permissions.` with the
/// RFC 6750 challenge for one without the scope.
#[derive(Debug)]
pub struct Authorized<S> {
    pub credential: Credential,
    scope: PhantomData<fn() -> S>,
}

impl<S: RequiredScope> Authorized<S> {
    fn from_http(request: &HttpRequest) -> Result<Self, ApiError> {
        let bearer = match bearer_token(request) {
            Some(token) => token,
            None => api_key_header(request).ok_or(ApiError::NotAuthenticated)??,
        };
        let service = request
            .app_data::<web::Data<AuthService>>()
            .ok_or_else(|| ApiError::Internal("the AuthService is not in the app data".into()))?;
        let credential = service.credential(bearer, S::needed())?;
        Ok(Self {
            credential,
            scope: PhantomData,
        })
    }
}

impl<S: RequiredScope> FromRequest for Authorized<S> {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(Self::from_http(request))
    }
}

/// The `X-API-Key` header, read only when there is no bearer header (the
/// `Authorization` header wins). It holds a key or nothing: anything else
/// there (a JWT) is 401, never read as a token.
fn api_key_header(request: &HttpRequest) -> Option<Result<&str, ApiError>> {
    let value = visible_ascii(request.headers().get("x-api-key")?.as_bytes())?.trim();
    if value.is_empty() {
        None
    } else if value.starts_with(KEY_PREFIX) {
        Some(Ok(value))
    } else {
        Some(Err(ApiError::InvalidToken))
    }
}

/// The token of an `Authorization: Bearer <token>` header. The scheme is
/// case-insensitive, as in FastAPI's `OAuth2PasswordBearer`.
pub(crate) fn bearer_token(request: &HttpRequest) -> Option<&str> {
    let value = visible_ascii(request.headers().get(header::AUTHORIZATION)?.as_bytes())?;
    let (scheme, token) = value.split_once(' ')?;
    let token = token.trim();
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// `bytes` as text if every byte is visible ASCII or a tab: what
/// `HeaderValue::to_str` accepts, checked without stopping at the first
/// byte that fails, so that the compiler checks many bytes at a time (a
/// bearer header is ~350 bytes; `to_str` tests them one by one, callgrind:
/// ~2,600 instructions per request, this ~10 times fewer).
fn visible_ascii(bytes: &[u8]) -> Option<&str> {
    let visible = bytes.iter().fold(true, |all, &byte| {
        all & (byte == b'\t' || (b' '..=b'~').contains(&byte))
    });
    visible.then(|| std::str::from_utf8(bytes).ok()).flatten()
}

/// A query parameter whose value is not strictly percent-encoded UTF-8.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Malformed;

/// The value of the query parameter `name` in `query` (the last one, if it
/// is given more than once, as FastAPI reads it), decoded strictly: `+`
/// is a space, every `%` starts two hex digits, and the text is UTF-8.
/// Other parameters are not looked at, so they may be anything.
pub(crate) fn query_param<'a>(
    query: &'a str,
    name: &str,
) -> Option<Result<Cow<'a, str>, Malformed>> {
    let raw = query
        .split('&')
        .filter_map(|pair| {
            let (key, value) = pair.split_once('=').unwrap_or((pair, ""));
            (decode_component(key).ok()? == name).then_some(value)
        })
        .next_back()?;
    Some(decode_component(raw))
}

fn decode_component(raw: &str) -> Result<Cow<'_, str>, Malformed> {
    if !is_strict_form(raw.as_bytes()) {
        return Err(Malformed);
    }
    if !raw.contains(['+', '%']) {
        return Ok(Cow::Borrowed(raw));
    }
    let spaced = raw.replace('+', " ");
    percent_encoding::percent_decode_str(&spaced)
        .decode_utf8()
        .map(|decoded| Cow::Owned(decoded.into_owned()))
        .map_err(|_| Malformed)
}

#[cfg(test)]
mod tests {
    use actix_web::{ResponseError, test::TestRequest};
    use serde::Deserialize;

    use super::*;

    #[derive(Debug, Deserialize, PartialEq)]
    struct Login {
        username: String,
        password: String,
        #[serde(default)]
        is_active: Option<bool>,
    }

    fn details(error: ApiError) -> Vec<FieldError> {
        match error {
            ApiError::Validation(details) => details,
            other => panic!("expected a validation error, got {other:?}"),
        }
    }

    fn json_request() -> HttpRequest {
        TestRequest::default()
            .insert_header((header::CONTENT_TYPE, "application/json; charset=utf-8"))
            .to_http_request()
    }

    #[test]
    fn json_and_form_bodies_parse_alike() {
        let form = TestRequest::default()
            .insert_header((header::CONTENT_TYPE, FORM))
            .to_http_request();
        let from_form: Login = parse_body(
            &form,
            b"username=a%40b&password=p+w&is_active=false",
            Encodings::JsonOrForm,
        )
        .unwrap();
        let from_json: Login = parse_body(
            &json_request(),
            br#"{"username":"a@b","password":"p w","is_active":false}"#,
            Encodings::JsonOrForm,
        )
        .unwrap();
        assert_eq!(from_form, from_json);
        assert_eq!(from_form.password, "p w");
    }

    #[test]
    fn a_missing_field_is_named_in_the_details() {
        let error = parse_body::<Login>(&json_request(), br#"{"username":"a"}"#, Encodings::Json)
            .unwrap_err();
        assert_eq!(
            details(error),
            vec![FieldError::new("password", "Field required.")]
        );
    }

    #[test]
    fn every_missing_field_is_named_in_the_details() {
        let form = TestRequest::default()
            .insert_header((header::CONTENT_TYPE, FORM))
            .to_http_request();
        for (request, body) in [(&json_request(), &b"{}"[..]), (&form, b"")] {
            let error = parse_body::<Login>(request, body, Encodings::JsonOrForm).unwrap_err();
            assert_eq!(
                details(error),
                vec![
                    FieldError::new("username", "Field required."),
                    FieldError::new("password", "Field required."),
                ]
            );
        }
    }

    #[test]
    fn a_missing_field_is_found_whatever_the_type_of_the_one_before() {
        #[derive(Debug, Deserialize)]
        #[allow(dead_code)]
        struct Typed {
            flag: bool,
            count: u32,
            list: Vec<String>,
            name: String,
        }
        let error =
            parse_body::<Typed>(&json_request(), br#"{"count": 1}"#, Encodings::Json).unwrap_err();
        let fields: Vec<String> = details(error).into_iter().map(|d| d.field).collect();
        assert_eq!(fields, ["flag", "list", "name"]);
    }

    #[test]
    fn form_bodies_are_percent_decoded_strictly() {
        let form = TestRequest::default()
            .insert_header((header::CONTENT_TYPE, FORM))
            .to_http_request();
        for body in [
            &b"username=%zz%&password=%%%"[..],
            b"username=a&password=%FF",
            b"username=a&password=%ED%A0%80",
            b"username=a&password=%4",
            b"username=a&password=\xc3",
        ] {
            let error = parse_body::<Login>(&form, body, Encodings::JsonOrForm).unwrap_err();
            let details = details(error);
            assert_eq!(details.len(), 1, "{body:?}");
            assert_eq!(details[0].field, "body", "{body:?}");
        }
        let login: Login = parse_body(
            &form,
            "username=%C3%A9%2B%26&password=a+b%20c".as_bytes(),
            Encodings::JsonOrForm,
        )
        .unwrap();
        assert_eq!(login.username, "é+&");
        assert_eq!(login.password, "a b c");
    }

    #[test]
    fn a_mistyped_field_is_named_in_the_details() {
        let error = parse_body::<Login>(
            &json_request(),
            br#"{"username":1,"password":"x"}"#,
            Encodings::Json,
        )
        .unwrap_err();
        let details = details(error);
        assert_eq!(details[0].field, "username");
        assert!(
            details[0].message.starts_with("Invalid type"),
            "{details:?}"
        );
    }

    #[test]
    fn malformed_json_is_a_body_error() {
        for body in [&b"{\"username\":"[..], b"", b"[1,2]", b"{} trailing"] {
            let error = parse_body::<Login>(&json_request(), body, Encodings::Json).unwrap_err();
            let details = details(error);
            assert_eq!(details.len(), 1, "{body:?}");
            assert!(
                details[0].field == "body" || details[0].field == "username",
                "{body:?}: {details:?}"
            );
            assert!(!details[0].message.contains("line 1"), "{details:?}");
        }
    }

    #[test]
    fn a_form_is_refused_where_only_json_is_taken() {
        let form = TestRequest::default()
            .insert_header((header::CONTENT_TYPE, FORM))
            .to_http_request();
        let error = parse_body::<Login>(&form, b"username=a", Encodings::Json).unwrap_err();
        assert_eq!(error.status_code(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
        let text = TestRequest::default()
            .insert_header((header::CONTENT_TYPE, "text/plain"))
            .to_http_request();
        let error = parse_body::<Login>(&text, b"x", Encodings::JsonOrForm).unwrap_err();
        assert_eq!(error.status_code(), StatusCode::UNSUPPORTED_MEDIA_TYPE);
    }

    #[test]
    fn bearer_tokens_are_read_case_insensitively_and_never_empty() {
        let with = |value: &str| {
            bearer_token(
                &TestRequest::default()
                    .insert_header((header::AUTHORIZATION, value))
                    .to_http_request(),
            )
            .map(str::to_owned)
        };
        assert_eq!(with("Bearer abc").as_deref(), Some("abc"));
        assert_eq!(with("bearer abc").as_deref(), Some("abc"));
        assert_eq!(with("Bearer "), None);
        assert_eq!(with("Basic abc"), None);
        assert_eq!(with("Bearerabc"), None);
        assert_eq!(with("Bearer a\tb").as_deref(), Some("a\tb"));
        assert_eq!(
            bearer_token(&TestRequest::default().to_http_request()),
            None
        );
    }

    #[test]
    fn header_text_is_what_to_str_accepts_for_every_byte() {
        for byte in 0..=u8::MAX {
            let bytes = [b'a', byte, b'z'];
            let by_http = header::HeaderValue::from_bytes(&bytes)
                .ok()
                .and_then(|value| value.to_str().ok().map(str::to_owned));
            assert_eq!(
                visible_ascii(&bytes).map(str::to_owned),
                by_http,
                "byte {byte:#04x}"
            );
        }
    }

    #[test]
    fn a_query_parameter_is_decoded_strictly_and_the_last_one_wins() {
        assert_eq!(query_param("a=1&b=x+y%2B", "b"), Some(Ok("x y+".into())));
        assert_eq!(
            query_param("limit=1&limit=2", "limit"),
            Some(Ok("2".into()))
        );
        assert_eq!(
            query_param("scope=me%20admin", "scope"),
            Some(Ok("me admin".into()))
        );
        assert_eq!(query_param("flag", "flag"), Some(Ok("".into())));
        assert_eq!(query_param("", "q"), None);
        assert_eq!(query_param("other=%zz&q=ok", "q"), Some(Ok("ok".into())));
        for bad in ["q=%FF", "q=%4", "q=%ED%A0%80", "q=100%"] {
            assert_eq!(query_param(bad, "q"), Some(Err(Malformed)), "{bad}");
        }
    }
}
