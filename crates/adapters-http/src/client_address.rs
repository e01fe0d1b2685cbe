//! Who sent a request, as the failed-login limit counts clients (docs/api.md §8)
//! and as the audit trail records them (§9).

use std::net::{IpAddr, Ipv6Addr, SocketAddr};

use actix_web::{
    FromRequest, HttpMessage, HttpRequest,
    dev::Payload,
    http::header::{USER_AGENT, X_FORWARDED_FOR},
    web,
};
use domain::Origin;

use crate::{HttpSettings, error::ApiError, request_log::RequestId};

/// The [`origin`] of a request, as a handler argument.
#[derive(Debug, Clone)]
pub struct RequestOrigin(pub Origin);

impl FromRequest for RequestOrigin {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, ApiError>>;

    fn from_request(request: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            request
                .app_data::<web::Data<HttpSettings>>()
                .map(|settings| Self(origin(request, settings)))
                .ok_or_else(|| {
                    ApiError::Internal("the HttpSettings are not in the app data".into())
                }),
        )
    }
}

/// Where a request came from, for the audit trail: the client address (as
/// [`client_address()`] counts it), the `User-Agent` and the request id of
/// the log line ([`crate::request_log::log_requests`]). The domain bounds
/// each and drops what it could not store.
#[must_use]
pub fn origin(request: &HttpRequest, settings: &HttpSettings) -> Origin {
    let user_agent = request
        .headers()
        .get(USER_AGENT)
        .and_then(|value| std::str::from_utf8(value.as_bytes()).ok());
    let extensions = request.extensions();
    let request_id = extensions.get::<RequestId>().map(|id| id.0.as_str());
    Origin::new(client_address(request, settings), user_agent, request_id)
}

/// The client's address, as the key the failed-login limit counts.
///
/// The socket's peer, unless `trust_forwarded_for` is set: then the entry
/// `trusted_proxy_hops` from the right of `X-Forwarded-For` (every line of
/// the header, in order, as one comma-separated list) — the one the
/// trusted proxy appended. Entries to its left are whatever the client
/// sent, so they never count. An entry is an IP address with optional
/// surrounding whitespace; `v4:port` and `[v6]:port` (as some proxies
/// write) are accepted and the port dropped. Anything else — too few
/// entries, a name, `unknown`, a zone id, leading zeros
/// (`203.0.113.009`) — falls back to the peer.
///
/// The address is canonical: an IPv4-mapped IPv6 address is its IPv4
/// address, and an IPv6 client counts per /64 (`2001:db8:1:2::/64`), the
/// smallest network a site is normally given, so one client cannot rotate
/// through its own addresses. `None` only without a peer (test requests).
#[must_use]
pub fn client_address(request: &HttpRequest, settings: &HttpSettings) -> Option<String> {
    settings
        .trust_forwarded_for
        .then(|| forwarded_for(request, settings.trusted_proxy_hops))
        .flatten()
        .or_else(|| request.peer_addr().map(|peer| peer.ip()))
        .map(canonical)
}

/// The entry `hops` from the right of all `X-Forwarded-For` lines, if it
/// is an address. Lines are split as bytes: a non-ASCII line to the left
/// of the trusted entries does not hide them.
fn forwarded_for(request: &HttpRequest, hops: usize) -> Option<IpAddr> {
    let entry = request
        .headers()
        .get_all(X_FORWARDED_FOR)
        .rev()
        .flat_map(|line| line.as_bytes().rsplit(|&byte| byte == b','))
        .nth(hops.checked_sub(1)?)?;
    let entry = std::str::from_utf8(entry).ok()?.trim();
    entry
        .parse::<IpAddr>()
        .or_else(|_| entry.parse::<SocketAddr>().map(|socket| socket.ip()))
        .ok()
}

fn canonical(address: IpAddr) -> String {
    match address {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => v4.to_string(),
            None => {
                let [a, b, c, d, ..] = v6.segments();
                format!("{}/64", Ipv6Addr::new(a, b, c, d, 0, 0, 0, 0))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use std::net::SocketAddr;

    use actix_web::{http::header::HeaderValue, test::TestRequest};

    use super::*;

    const PEER: &str = "192.0.2.1:40000";

    fn settings(trust_forwarded_for: bool, trusted_proxy_hops: usize) -> HttpSettings {
        HttpSettings {
            trust_forwarded_for,
            trusted_proxy_hops,
            ..HttpSettings::default()
        }
    }

    /// The address of a request from `peer` with these `X-Forwarded-For`
    /// lines, trusting `hops` proxies (0: the header is not trusted).
    fn address_of(peer: &str, lines: &[&str], hops: usize) -> Option<String> {
        let mut request = TestRequest::default().peer_addr(peer.parse::<SocketAddr>().unwrap());
        for line in lines {
            request = request.append_header((X_FORWARDED_FOR, *line));
        }
        client_address(&request.to_http_request(), &settings(hops > 0, hops.max(1)))
    }

    #[test]
    fn without_trust_the_peer_is_the_client_whatever_the_header_says() {
        assert_eq!(
            address_of(PEER, &["203.0.113.9"], 0).as_deref(),
            Some("192.0.2.1")
        );
    }

    #[test]
    fn the_entry_the_trusted_proxy_appended_is_the_client() {
        // The client wrote the left part; the proxy appended the last entry.
        let lines = ["10.9.9.9, 198.51.100.7", "203.0.113.9"];
        assert_eq!(address_of(PEER, &lines, 1).as_deref(), Some("203.0.113.9"));
        assert_eq!(address_of(PEER, &lines, 2).as_deref(), Some("198.51.100.7"));
        assert_eq!(address_of(PEER, &lines, 3).as_deref(), Some("10.9.9.9"));
    }

    #[test]
    fn too_few_entries_fall_back_to_the_peer() {
        assert_eq!(
            address_of(PEER, &["203.0.113.9"], 2).as_deref(),
            Some("192.0.2.1")
        );
        assert_eq!(address_of(PEER, &[], 1).as_deref(), Some("192.0.2.1"));
    }

    #[test]
    fn an_unparsable_entry_falls_back_to_the_peer() {
        for entry in [
            "not-an-ip",
            "203.0.113.009",
            "",
            "203.0.113.9.1",
            "unknown",
            "2001:db8::1%eth0",
            "203.0.113.9:99999",
        ] {
            assert_eq!(
                address_of(PEER, &[&format!("198.51.100.7, {entry}")], 1).as_deref(),
                Some("192.0.2.1"),
                "{entry:?}"
            );
        }
    }

    #[test]
    fn surrounding_whitespace_and_a_port_are_tolerated() {
        for entry in [" 203.0.113.9 ", "\t203.0.113.9", "203.0.113.9:8080"] {
            assert_eq!(
                address_of(PEER, &[&format!("10.0.0.1,{entry}")], 1).as_deref(),
                Some("203.0.113.9"),
                "{entry:?}"
            );
        }
        assert_eq!(
            address_of(PEER, &["[2001:db8:1:2::9]:443"], 1).as_deref(),
            Some("2001:db8:1:2::/64")
        );
    }

    #[test]
    fn an_ipv4_mapped_ipv6_address_is_the_ipv4_address() {
        assert_eq!(
            address_of(PEER, &["::ffff:203.0.113.9"], 1).as_deref(),
            Some("203.0.113.9")
        );
        assert_eq!(
            address_of("[::ffff:192.0.2.1]:40000", &[], 0).as_deref(),
            Some("192.0.2.1")
        );
    }

    #[test]
    fn ipv6_clients_count_per_64_bit_prefix() {
        for entry in ["2001:db8:1:2::1", "2001:DB8:1:2:ffff:ffff:ffff:ffff"] {
            assert_eq!(
                address_of(PEER, &[entry], 1).as_deref(),
                Some("2001:db8:1:2::/64"),
                "{entry}"
            );
        }
        assert_eq!(
            address_of("[2001:db8:a:b:c:d:e:f]:40000", &[], 0).as_deref(),
            Some("2001:db8:a:b::/64")
        );
    }

    #[test]
    fn a_non_ascii_line_left_of_the_trusted_entries_does_not_matter() {
        let request = TestRequest::default()
            .peer_addr(PEER.parse::<SocketAddr>().unwrap())
            .append_header((
                X_FORWARDED_FOR,
                HeaderValue::from_bytes(b"\xff\xfe, 10.0.0.1").unwrap(),
            ))
            .append_header((X_FORWARDED_FOR, "203.0.113.9"))
            .to_http_request();
        assert_eq!(
            client_address(&request, &settings(true, 1)).as_deref(),
            Some("203.0.113.9")
        );
        assert_eq!(
            client_address(&request, &settings(true, 2)).as_deref(),
            Some("10.0.0.1")
        );
        assert_eq!(
            client_address(&request, &settings(true, 3)).as_deref(),
            Some("192.0.2.1")
        );
    }

    #[test]
    fn an_origin_has_the_address_the_user_agent_and_the_request_id() {
        let request = TestRequest::default()
            .peer_addr(PEER.parse::<SocketAddr>().unwrap())
            .insert_header((USER_AGENT, "curl/8.5"))
            .to_http_request();
        request.extensions_mut().insert(RequestId("r-1".into()));
        let origin = origin(&request, &settings(false, 1));
        assert_eq!(origin.client_address.as_deref(), Some("192.0.2.1"));
        assert_eq!(origin.user_agent.as_deref(), Some("curl/8.5"));
        assert_eq!(origin.request_id.as_deref(), Some("r-1"));
        let bare = super::origin(
            &TestRequest::default().to_http_request(),
            &settings(false, 1),
        );
        assert_eq!(bare, Origin::default());
    }

    #[test]
    fn without_a_peer_or_a_trusted_entry_there_is_no_address() {
        let request = TestRequest::default().to_http_request();
        assert_eq!(client_address(&request, &settings(true, 1)), None);
    }
}
