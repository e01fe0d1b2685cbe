//! The refresh token in an HttpOnly cookie, for browsers (docs/api.md §11):
//! `AUTH__REFRESH_COOKIE`, the cookie login and refresh set, the cookie
//! refresh and logout read, and the `Origin` check that keeps other sites
//! from using it (CSRF).

use std::{fmt, str::FromStr};

use actix_web::{
    HttpRequest, HttpResponse,
    cookie::{Cookie, SameSite, time::Duration},
    http::header,
};

use crate::error::ApiError;

/// Whether login and refresh send the refresh token in a cookie.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum RefreshCookieMode {
    /// The body only, as the original.
    #[default]
    Off,
    /// The body and the cookie.
    Both,
    /// The cookie only: page scripts never see the refresh token.
    Cookie,
}

impl FromStr for RefreshCookieMode {
    type Err = String;

    fn from_str(raw: &str) -> Result<Self, Self::Err> {
        match raw.to_ascii_lowercase().as_str() {
            "off" => Ok(Self::Off),
            "both" => Ok(Self::Both),
            "cookie" => Ok(Self::Cookie),
            _ => Err(format!(
                "unknown refresh cookie mode {raw:?}, expected off, both or cookie"
            )),
        }
    }
}

impl fmt::Display for RefreshCookieMode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Off => "off",
            Self::Both => "both",
            Self::Cookie => "cookie",
        })
    }
}

/// The refresh cookie's settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RefreshCookie {
    pub mode: RefreshCookieMode,
    /// `AUTH__REFRESH_COOKIE_NAME` (default `__Host-zentra_refresh`).
    pub name: String,
    /// The refresh token's lifetime: the cookie's `Max-Age`.
    pub max_age_secs: u64,
}

impl Default for RefreshCookie {
    fn default() -> Self {
        Self {
            mode: RefreshCookieMode::Off,
            name: "__Host-zentra_refresh".into(),
            max_age_secs: 7 * 86_400,
        }
    }
}

impl RefreshCookie {
    #[must_use]
    pub fn enabled(&self) -> bool {
        self.mode != RefreshCookieMode::Off
    }

    /// Whether the token response leaves `refresh_token` out of its body.
    #[must_use]
    pub fn only(&self) -> bool {
        self.mode == RefreshCookieMode::Cookie
    }

    /// The cookie carrying `token`: `HttpOnly; Secure; SameSite=Strict;
    /// Path=/`, no `Domain` (what the `__Host-` prefix demands).
    #[must_use]
    pub fn set(&self, token: &str) -> Cookie<'static> {
        self.cookie(token.to_owned(), self.max_age_secs)
    }

    /// The same cookie, expired: the browser forgets it.
    #[must_use]
    pub fn clear(&self) -> Cookie<'static> {
        self.cookie(String::new(), 0)
    }

    fn cookie(&self, value: String, max_age_secs: u64) -> Cookie<'static> {
        let max_age = Duration::seconds(i64::try_from(max_age_secs).unwrap_or(i64::MAX));
        Cookie::build(self.name.clone(), value)
            .path("/")
            .http_only(true)
            .secure(true)
            .same_site(SameSite::Strict)
            .max_age(max_age)
            .finish()
    }

    /// Adds the clearing cookie to `response` if the cookie is on.
    ///
    /// # Errors
    /// 500 if the cookie cannot be written as a header (it always can).
    pub fn clear_on(&self, response: &mut HttpResponse) -> Result<(), ApiError> {
        if self.enabled() {
            response
                .add_cookie(&self.clear())
                .map_err(|error| ApiError::Internal(Box::new(error)))?;
        }
        Ok(())
    }

    /// Whether an answer to `request` may set the cookie: a browser's
    /// request (it carries `Origin`) only from an allowed origin, so that a
    /// page of another origin, even one of the same site, cannot swap the
    /// cookie for a session of its own; a client that is no browser sends
    /// no `Origin`.
    #[must_use]
    pub fn may_set(&self, request: &HttpRequest, allowed: &[String]) -> bool {
        self.enabled()
            && (!request.headers().contains_key(header::ORIGIN)
                || check_origin(request, allowed).is_ok())
    }

    /// The refresh token of the cookie, if the cookie is on and sent.
    #[must_use]
    pub fn read(&self, request: &HttpRequest) -> Option<String> {
        if !self.enabled() {
            return None;
        }
        let value = request.cookie(&self.name)?.value().to_owned();
        (!value.is_empty()).then_some(value)
    }
}

/// The check every request that is authenticated by the cookie passes: it
/// carries an `Origin` that is the service's own or one of
/// `BACKEND_CORS_ORIGINS` (a browser always sends `Origin` with a
/// cross-origin or a POST request, and a page cannot forge it).
///
/// # Errors
/// 403 `Origin not allowed.` for a missing or foreign `Origin`.
pub fn check_origin(request: &HttpRequest, allowed: &[String]) -> Result<(), ApiError> {
    let origin = request
        .headers()
        .get(header::ORIGIN)
        .and_then(|value| value.to_str().ok());
    let own = || {
        let info = request.connection_info();
        format!("{}://{}", info.scheme(), info.host())
    };
    match origin {
        Some(origin) if allowed.iter().any(|allowed| allowed == origin) || origin == own() => {
            Ok(())
        }
        _ => Err(ApiError::refused(
            actix_web::http::StatusCode::FORBIDDEN,
            ORIGIN_NOT_ALLOWED,
        )),
    }
}

pub const ORIGIN_NOT_ALLOWED: &str = "Origin not allowed.";

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    #[test]
    fn the_mode_reads_as_configured() {
        assert_eq!("off".parse(), Ok(RefreshCookieMode::Off));
        assert_eq!("Both".parse(), Ok(RefreshCookieMode::Both));
        assert_eq!("cookie".parse(), Ok(RefreshCookieMode::Cookie));
        assert!("on".parse::<RefreshCookieMode>().is_err());
        assert_eq!(RefreshCookieMode::Cookie.to_string(), "cookie");
    }

    #[test]
    fn the_cookie_is_host_only_http_only_secure_and_strict() {
        let cookie = RefreshCookie {
            mode: RefreshCookieMode::Both,
            max_age_secs: 600,
            ..RefreshCookie::default()
        };
        assert_eq!(
            cookie.set("tok").to_string(),
            "__Host-zentra_refresh=tok; HttpOnly; SameSite=Strict; Secure; Path=/; Max-Age=600"
        );
        assert_eq!(
            cookie.clear().to_string(),
            "__Host-zentra_refresh=; HttpOnly; SameSite=Strict; Secure; Path=/; Max-Age=0"
        );
    }

    #[test]
    fn only_the_own_or_a_listed_origin_passes() {
        let allowed = vec!["http://127.0.0.1:3000".to_owned()];
        let with = |origin: Option<&str>| {
            let mut request = TestRequest::post().insert_header((header::HOST, "auth.example"));
            if let Some(origin) = origin {
                request = request.insert_header((header::ORIGIN, origin));
            }
            check_origin(&request.to_http_request(), &allowed).is_ok()
        };
        assert!(with(Some("http://127.0.0.1:3000")));
        assert!(with(Some("http://auth.example")));
        assert!(!with(Some("http://127.0.0.1:3001")));
        assert!(!with(Some("null")));
        assert!(!with(None));
    }
}
