//! `GET /metrics` in the Prometheus text format (API.md §13), and what it
//! counts.
//!
//! The request log middleware ([`crate::request_log`]) records every
//! answer here, once, with the labels it logs: the route *pattern* (never
//! the path, which can carry tokens; one shared label for unmatched paths),
//! the method (the standard ones, every other as `other`) and the status.
//! Every label comes from a small fixed set, so the series stay few
//! whatever clients send. The gauges (lane queues, pool connections) are
//! read when scraped.
//!
//! The recorder is this service's own `PrometheusRecorder`, held here
//! rather than installed as the process-wide one: no global state, and
//! tests can build as many as they like. Counters and histograms are
//! looked up once per route, method and status and kept: a request then
//! costs two map look-ups under read locks and no allocation.

use std::{
    collections::HashMap,
    sync::{Arc, PoisonError, RwLock},
    time::Duration,
};

use actix_web::{
    HttpRequest, HttpResponse,
    http::{Method, StatusCode, header},
    web,
};
use metrics::{Counter, Gauge, Histogram, Key, Label, Metadata, Recorder};
use metrics_exporter_prometheus::{
    Matcher, PrometheusBuilder, PrometheusHandle, PrometheusRecorder,
};
use secrecy::{ExposeSecret, SecretString};
use subtle::ConstantTimeEq;

use crate::{Lanes, error::ApiError, extract::bearer_token, lanes::Lane};

/// Requests answered, by `route`, `method` and `status`.
pub const REQUESTS: &str = "zentra_http_requests_total";
/// Time from the request's arrival to its answer, by `route`.
pub const DURATION: &str = "zentra_http_request_duration_seconds";
/// Login attempts (`POST /api/auth/token`), by `outcome`.
pub const LOGINS: &str = "zentra_logins_total";
/// Calls waiting in a lane's queue, by `lane` (`database`, `hashing`).
pub const LANE_QUEUED: &str = "zentra_lane_queued_calls";
/// Database connections checked out of the pool.
pub const POOL_IN_USE: &str = "zentra_db_pool_connections_in_use";
/// The pool's size.
pub const POOL_MAX: &str = "zentra_db_pool_connections_max";

/// The label of every path no route matched.
pub const UNMATCHED: &str = "<no route>";

/// The login route, whose answers are also counted by outcome.
const LOGIN_ROUTE: &str = "/api/auth/token";

/// Seconds: from a cached `GET /` (well under a millisecond) to a login
/// queued behind others on the hashing lane (seconds).
const DURATION_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How a login attempt ended, from its status.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LoginOutcome {
    /// Tokens issued (202).
    Success,
    /// Refused: wrong credentials, an inactive user, a malformed body.
    Invalid,
    /// Too many failures (429).
    Limited,
    /// The service failed or was behind (5xx).
    Error,
}

impl LoginOutcome {
    const ALL: [Self; 4] = [Self::Success, Self::Invalid, Self::Limited, Self::Error];

    #[must_use]
    pub fn of(status: StatusCode) -> Self {
        match status.as_u16() {
            429 => Self::Limited,
            _ if status.is_success() => Self::Success,
            _ if status.is_server_error() => Self::Error,
            _ => Self::Invalid,
        }
    }

    fn label(self) -> &'static str {
        match self {
            Self::Success => "success",
            Self::Invalid => "invalid",
            Self::Limited => "limited",
            Self::Error => "error",
        }
    }
}

/// Connections of the database pool, read at scrape time.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PoolUsage {
    pub in_use: u32,
    pub max: u32,
}

/// Where the pool's usage comes from (the app passes the real pool's).
pub trait PoolStatus: Send + Sync {
    fn usage(&self) -> PoolUsage;
}

/// The secret `/metrics` asks for, as `Authorization: Bearer <token>`.
/// Never shown by `Debug`; compared in constant time.
#[derive(Debug, Clone)]
pub struct MetricsToken(SecretString);

impl MetricsToken {
    #[must_use]
    pub fn new(token: impl Into<String>) -> Self {
        Self(SecretString::from(token.into()))
    }

    /// The token's length in bytes, for `check-config`'s masked print-out.
    #[must_use]
    pub fn byte_len(&self) -> usize {
        self.0.expose_secret().len()
    }

    /// Whether `presented` is the token. The time taken does not depend on
    /// where the two first differ (it does on their lengths).
    #[must_use]
    pub fn matches(&self, presented: &str) -> bool {
        self.0
            .expose_secret()
            .as_bytes()
            .ct_eq(presented.as_bytes())
            .into()
    }
}

impl PartialEq for MetricsToken {
    fn eq(&self, other: &Self) -> bool {
        self.matches(other.0.expose_secret())
    }
}

impl Eq for MetricsToken {}

/// The counters and histogram of one route.
struct RouteSeries {
    duration: Histogram,
    /// By method and status.
    requests: RwLock<HashMap<(&'static str, u16), Counter>>,
}

/// The service's metrics: what `/metrics` renders.
pub struct Metrics {
    recorder: PrometheusRecorder,
    handle: PrometheusHandle,
    token: Option<MetricsToken>,
    pool: Arc<dyn PoolStatus>,
    routes: RwLock<HashMap<String, RouteSeries>>,
    logins: [Counter; 4],
    database_queued: Gauge,
    hashing_queued: Gauge,
    lookup_queued: Gauge,
    pool_in_use: Gauge,
    pool_max: Gauge,
}

const METADATA: Metadata<'static> = Metadata::new(module_path!(), metrics::Level::INFO, None);

impl Metrics {
    /// Metrics whose scrape needs `token` when set, reading the pool's
    /// usage from `pool`.
    #[must_use]
    pub fn new(token: Option<MetricsToken>, pool: Arc<dyn PoolStatus>) -> Self {
        let recorder = PrometheusBuilder::new()
            .set_buckets_for_metric(Matcher::Full(DURATION.to_owned()), DURATION_BUCKETS)
            .expect("the buckets are not empty")
            .build_recorder();
        let handle = recorder.handle();
        let gauge = |name: &'static str, labels: Vec<Label>| {
            recorder.register_gauge(&Key::from_parts(name, labels), &METADATA)
        };
        // Registered up front, so that every outcome is there (at 0) from
        // the first scrape on: rates need the series before the first event.
        let logins = LoginOutcome::ALL.map(|outcome| {
            recorder.register_counter(
                &Key::from_parts(LOGINS, vec![Label::new("outcome", outcome.label())]),
                &METADATA,
            )
        });
        Self {
            database_queued: gauge(LANE_QUEUED, vec![Label::new("lane", "database")]),
            hashing_queued: gauge(LANE_QUEUED, vec![Label::new("lane", "hashing")]),
            lookup_queued: gauge(LANE_QUEUED, vec![Label::new("lane", "lookup")]),
            pool_in_use: gauge(POOL_IN_USE, vec![]),
            pool_max: gauge(POOL_MAX, vec![]),
            logins,
            routes: RwLock::new(HashMap::new()),
            recorder,
            handle,
            token,
            pool,
        }
    }

    /// Records one answered request. `route` is the route pattern (or
    /// [`UNMATCHED`]), never the path.
    pub fn record(&self, route: &str, method: &Method, status: StatusCode, elapsed: Duration) {
        let method = method_label(method);
        let code = status.as_u16();
        let seconds = elapsed.as_secs_f64();
        {
            let routes = self.routes.read().unwrap_or_else(PoisonError::into_inner);
            if let Some(series) = routes.get(route) {
                series.duration.record(seconds);
                let requests = series
                    .requests
                    .read()
                    .unwrap_or_else(PoisonError::into_inner);
                if let Some(counter) = requests.get(&(method, code)) {
                    counter.increment(1);
                    drop(requests);
                    drop(routes);
                    self.count_login(route, method, status);
                    return;
                }
            }
        }
        // The first request of its kind: register its series (a fixed set
        // in all, see the module's doc).
        let mut routes = self.routes.write().unwrap_or_else(PoisonError::into_inner);
        let series = routes.entry(route.to_owned()).or_insert_with(|| {
            let duration = self.recorder.register_histogram(
                &Key::from_parts(DURATION, vec![Label::new("route", route.to_owned())]),
                &METADATA,
            );
            duration.record(seconds);
            RouteSeries {
                duration,
                requests: RwLock::default(),
            }
        });
        let mut requests = series
            .requests
            .write()
            .unwrap_or_else(PoisonError::into_inner);
        requests
            .entry((method, code))
            .or_insert_with(|| {
                let labels = vec![
                    Label::new("route", route.to_owned()),
                    Label::new("method", method),
                    Label::new("status", status_label(code)),
                ];
                self.recorder
                    .register_counter(&Key::from_parts(REQUESTS, labels), &METADATA)
            })
            .increment(1);
        drop(requests);
        drop(routes);
        self.count_login(route, method, status);
    }

    fn count_login(&self, route: &str, method: &str, status: StatusCode) {
        if route == LOGIN_ROUTE && method == "POST" {
            self.logins[LoginOutcome::of(status) as usize].increment(1);
        }
    }

    /// Drains the histograms' samples into their buckets. Without a scrape
    /// nothing else does: run it every few seconds.
    pub fn run_upkeep(&self) {
        self.handle.run_upkeep();
    }

    /// The text a scrape gets, with the gauges read now.
    #[must_use]
    pub fn render(&self, lanes: &Lanes) -> String {
        self.database_queued
            .set(lanes.queued(Lane::Database) as f64);
        self.hashing_queued.set(lanes.queued(Lane::Hashing) as f64);
        self.lookup_queued.set(lanes.queued(Lane::Lookup) as f64);
        let pool = self.pool.usage();
        self.pool_in_use.set(f64::from(pool.in_use));
        self.pool_max.set(f64::from(pool.max));
        self.handle.render()
    }

    /// Refuses a scrape without the token, when one is set.
    fn authorize(&self, request: &HttpRequest) -> Result<(), ApiError> {
        let Some(token) = &self.token else {
            return Ok(());
        };
        match bearer_token(request) {
            None => Err(ApiError::NotAuthenticated),
            Some(presented) if token.matches(presented) => Ok(()),
            Some(_) => Err(ApiError::InvalidToken),
        }
    }
}

/// The standard methods by name; any other is `other`, so that clients
/// cannot mint series.
fn method_label(method: &Method) -> &'static str {
    match method.as_str() {
        "GET" => "GET",
        "HEAD" => "HEAD",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "OPTIONS" => "OPTIONS",
        "CONNECT" => "CONNECT",
        "TRACE" => "TRACE",
        _ => "other",
    }
}

/// "100" to "599", each three bytes of one static string.
static STATUS_DIGITS: [u8; 1500] = {
    let mut digits = [0u8; 1500];
    let mut index = 0;
    while index < 500 {
        let code = index + 100;
        digits[index * 3] = b'0' + (code / 100) as u8;
        digits[index * 3 + 1] = b'0' + (code / 10 % 10) as u8;
        digits[index * 3 + 2] = b'0' + (code % 10) as u8;
        index += 1;
    }
    digits
};

fn status_label(code: u16) -> &'static str {
    let index = usize::from(code.saturating_sub(100)) * 3;
    STATUS_DIGITS
        .get(index..index + 3)
        .filter(|_| (100..600).contains(&code))
        .and_then(|digits| std::str::from_utf8(digits).ok())
        .unwrap_or("other")
}

/// Mounts `GET /metrics` when `metrics` is `Some`, and hands it to the
/// request log middleware; with `None` the path is a 404 and nothing is
/// recorded.
pub fn configure(metrics: Option<Arc<Metrics>>) -> impl FnOnce(&mut web::ServiceConfig) {
    move |config| {
        let Some(metrics) = metrics else {
            return;
        };
        config.app_data(web::Data::from(metrics)).service(
            web::resource("/metrics")
                .route(crate::routes::get_or_head().to(scrape))
                .default_service(crate::routes::not_allowed(crate::routes::GET)),
        );
    }
}

/// `GET /metrics`: not in the OpenAPI document, which describes the API
/// clients call; this is for the operator's Prometheus.
async fn scrape(
    request: HttpRequest,
    metrics: web::Data<Metrics>,
    lanes: web::Data<Lanes>,
) -> Result<HttpResponse, ApiError> {
    metrics.authorize(&request)?;
    Ok(HttpResponse::Ok()
        .insert_header((
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        ))
        .body(metrics.render(&lanes)))
}

#[cfg(test)]
mod tests;
