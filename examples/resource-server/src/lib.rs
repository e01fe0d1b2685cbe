//! An example resource server for Zentra (docs/api.md §12), to copy: it
//! verifies access tokens **offline**, with the public keys of Zentra's
//! JWKS, and guards `GET /items` by the scope `items:read`.
//!
//! - The keys are fetched once, cached, and fetched again when they are
//!   older than Zentra's `Cache-Control` max-age (five minutes) or when a
//!   token names a `kid` the cache does not hold (a key published since) —
//!   but never more often than once per cool-down, so that tokens with
//!   made-up kids cannot make it fetch on every request.
//! - Each key is used with its own `alg` only (never the token's word for
//!   it), and only the asymmetric algorithms: an HMAC key would be a secret.
//! - `iss`, `exp` (no leeway), `aud` (required when expected) and
//!   `type: access` are checked; the scope is Zentra's space-separated
//!   `scope` claim.
//! - Fetching blocks (ureq): it runs on actix's blocking pool, never on an
//!   async worker, and holds no lock while it waits on the network. A
//!   cached key costs a read lock and a signature check; an unknown kid
//!   within the cool-down is refused at once, with no task spawned.

use std::{
    collections::HashMap,
    net::TcpListener,
    sync::{
        Arc, RwLock,
        atomic::{AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use actix_web::{
    App, HttpRequest, HttpResponse, HttpServer,
    dev::Server,
    http::header::{AUTHORIZATION, WWW_AUTHENTICATE},
    web,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::Jwk};
use serde::Deserialize;
use serde_json::{Value, json};

/// How long fetched keys are trusted (Zentra's `max-age`).
pub const MAX_AGE: Duration = Duration::from_secs(300);
/// The least time between two fetches, whatever tokens arrive.
pub const COOL_DOWN: Duration = Duration::from_secs(30);
/// The scope `GET /items` needs.
pub const ITEMS_SCOPE: &str = "items:read";

/// What the discovery document tells a resource server.
#[derive(Debug, Clone, Deserialize)]
pub struct Metadata {
    pub issuer: String,
    pub jwks_uri: String,
}

/// Reads `/.well-known/oauth-authorization-server` of the Zentra at `base`.
///
/// # Errors
/// When it cannot be fetched or read.
pub fn discover(base: &str) -> Result<Metadata, String> {
    let url = format!(
        "{}/.well-known/oauth-authorization-server",
        base.trim_end_matches('/')
    );
    let text = get(&url)?;
    serde_json::from_str(&text).map_err(|error| format!("{url}: {error}"))
}

/// The body of `url`, within five seconds.
fn get(url: &str) -> Result<String, String> {
    ureq::AgentBuilder::new()
        .timeout(Duration::from_secs(5))
        .build()
        .get(url)
        .call()
        .map_err(|error| format!("{url}: {error}"))?
        .into_string()
        .map_err(|error| format!("{url}: {error}"))
}

/// Fetches the JWK Set at `url` (as text).
pub fn fetch_from(url: String) -> impl Fn() -> Result<String, String> + Send + Sync {
    move || get(&url)
}

/// A verification key, pinned to its algorithm.
#[derive(Clone)]
struct Key {
    decoding: DecodingKey,
    algorithm: Algorithm,
}

#[derive(Default)]
struct Cached {
    keys: HashMap<String, Key>,
    fetched_at: Option<Instant>,
    tried_at: Option<Instant>,
}

/// The keys of one JWKS, fetched as needed (see the crate's doc).
pub struct JwksCache {
    fetch: Box<dyn Fn() -> Result<String, String> + Send + Sync>,
    cool_down: Duration,
    cached: RwLock<Cached>,
    fetches: AtomicUsize,
}

impl JwksCache {
    pub fn new(
        fetch: impl Fn() -> Result<String, String> + Send + Sync + 'static,
        cool_down: Duration,
    ) -> Self {
        Self {
            fetch: Box::new(fetch),
            cool_down,
            cached: RwLock::default(),
            fetches: AtomicUsize::new(0),
        }
    }

    /// How many times the JWKS was fetched.
    pub fn fetches(&self) -> usize {
        self.fetches.load(Ordering::Relaxed)
    }

    /// What the cache says about `kid` at once, under the read lock (held
    /// for a map look-up only: no fetch ever holds a lock).
    fn lookup(&self, kid: &str) -> Lookup {
        let cached = self.cached.read().unwrap_or_else(|e| e.into_inner());
        let fresh = cached.fetched_at.is_some_and(|at| at.elapsed() < MAX_AGE);
        let cooling = cached
            .tried_at
            .is_some_and(|at| at.elapsed() < self.cool_down);
        match cached.keys.get(kid) {
            // Within the cool-down, a stale key still serves: a fetch is
            // under way or has just failed, and Zentra being down for a
            // moment must not refuse tokens we can still check.
            Some(key) if fresh || cooling => Lookup::Held(key.clone()),
            None if cooling => Lookup::Refused,
            _ => Lookup::Fetch,
        }
    }

    /// The key `kid`, fetching the JWKS first if it is stale or lacks
    /// `kid` and the cool-down has passed. Blocking, but never while
    /// holding the lock: the fetch is claimed (`tried_at`) under the write
    /// lock, made without it, and its keys swapped in under it again.
    fn fetched(&self, kid: &str) -> Option<Key> {
        let started = {
            let mut cached = self.cached.write().unwrap_or_else(|e| e.into_inner());
            let fresh = cached.fetched_at.is_some_and(|at| at.elapsed() < MAX_AGE);
            let cooling = cached
                .tried_at
                .is_some_and(|at| at.elapsed() < self.cool_down);
            if (fresh && cached.keys.contains_key(kid)) || cooling {
                return cached.keys.get(kid).cloned();
            }
            let now = Instant::now();
            cached.tried_at = Some(now);
            now
        };
        self.fetches.fetch_add(1, Ordering::Relaxed);
        let fetched = (self.fetch)().and_then(|text| parse_jwks(&text));
        let mut cached = self.cached.write().unwrap_or_else(|e| e.into_inner());
        // A failed fetch keeps the keys we have; so does a fetch overtaken
        // by a later one that has already swapped its keys in.
        if let Ok(keys) = fetched
            && cached.fetched_at.is_none_or(|at| at < started)
        {
            cached.keys = keys;
            cached.fetched_at = Some(Instant::now());
        }
        cached.keys.get(kid).cloned()
    }
}

/// What [`JwksCache::lookup`] finds, without blocking.
enum Lookup {
    /// A key to check the token with.
    Held(Key),
    /// An unknown kid within the cool-down: 401 at once, no fetch.
    Refused,
    /// Worth a fetch (on the blocking pool).
    Fetch,
}

/// The usable keys of a JWK Set: each with a kid and an asymmetric `alg`.
fn parse_jwks(text: &str) -> Result<HashMap<String, Key>, String> {
    let set: Value = serde_json::from_str(text).map_err(|e| e.to_string())?;
    let mut keys = HashMap::new();
    for jwk in set["keys"].as_array().ok_or("no keys")? {
        let algorithm = match jwk["alg"].as_str() {
            Some("EdDSA") => Algorithm::EdDSA,
            Some("ES256") => Algorithm::ES256,
            Some("RS256") => Algorithm::RS256,
            _ => continue,
        };
        let (Some(kid), Ok(parsed)) = (
            jwk["kid"].as_str(),
            serde_json::from_value::<Jwk>(jwk.clone()),
        ) else {
            continue;
        };
        if let Ok(decoding) = DecodingKey::from_jwk(&parsed) {
            keys.insert(
                kid.to_owned(),
                Key {
                    decoding,
                    algorithm,
                },
            );
        }
    }
    Ok(keys)
}

/// The claims this server reads.
#[derive(Debug, Deserialize)]
pub struct Claims {
    pub sub: String,
    #[serde(rename = "type")]
    kind: String,
    /// Absent in tokens from before scopes: Zentra counts those as `me`.
    scope: Option<String>,
}

impl Claims {
    pub fn has_scope(&self, wanted: &str) -> bool {
        self.scope
            .as_deref()
            .unwrap_or("me")
            .split(' ')
            .any(|scope| scope == wanted)
    }
}

/// Checks access tokens against the cached keys.
pub struct Verifier {
    keys: JwksCache,
    issuer: String,
    audience: Option<String>,
}

/// Why a request is refused.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// 401: no token, or not one of Zentra's valid access tokens.
    Unauthorized,
    /// 403: a valid token without the scope.
    InsufficientScope,
}

impl Verifier {
    pub fn new(keys: JwksCache, issuer: String, audience: Option<String>) -> Self {
        Self {
            keys,
            issuer,
            audience,
        }
    }

    /// With the JWKS the metadata names, and the default cool-down.
    pub fn from_metadata(metadata: &Metadata, audience: Option<String>) -> Self {
        let fetch = fetch_from(metadata.jwks_uri.clone());
        Self::new(
            JwksCache::new(fetch, COOL_DOWN),
            metadata.issuer.clone(),
            audience,
        )
    }

    pub fn keys(&self) -> &JwksCache {
        &self.keys
    }

    fn decode(&self, token: &str, key: &Key) -> Result<Claims, Refusal> {
        let mut validation = Validation::new(key.algorithm);
        validation.leeway = 0;
        validation.set_issuer(&[&self.issuer]);
        match &self.audience {
            // `set_audience` alone checks `aud` only when a token has one.
            Some(audience) => {
                validation.set_required_spec_claims(&["exp", "iss", "sub", "aud"]);
                validation.set_audience(&[audience]);
            }
            None => {
                validation.set_required_spec_claims(&["exp", "iss", "sub"]);
                validation.validate_aud = false;
            }
        }
        let claims = jsonwebtoken::decode::<Claims>(token, &key.decoding, &validation)
            .map_err(|_| Refusal::Unauthorized)?
            .claims;
        if claims.kind != "access" {
            return Err(Refusal::Unauthorized);
        }
        Ok(claims)
    }

    /// The claims of the bearer token of `request` if it holds `scope`.
    pub async fn authorize(
        self: &Arc<Self>,
        request: &HttpRequest,
        scope: &str,
    ) -> Result<Claims, Refusal> {
        let token = request
            .headers()
            .get(AUTHORIZATION)
            .and_then(|value| value.to_str().ok())
            .and_then(|value| value.strip_prefix("Bearer "))
            .ok_or(Refusal::Unauthorized)?
            .to_owned();
        let kid = jsonwebtoken::decode_header(&token)
            .ok()
            .and_then(|header| header.kid)
            .ok_or(Refusal::Unauthorized)?;
        let key = match self.keys.lookup(&kid) {
            Lookup::Held(key) => key,
            Lookup::Refused => return Err(Refusal::Unauthorized),
            Lookup::Fetch => {
                let verifier = Arc::clone(self);
                web::block(move || verifier.keys.fetched(&kid))
                    .await
                    .ok()
                    .flatten()
                    .ok_or(Refusal::Unauthorized)?
            }
        };
        let claims = self.decode(&token, &key)?;
        if claims.has_scope(scope) {
            Ok(claims)
        } else {
            Err(Refusal::InsufficientScope)
        }
    }
}

fn refused(refusal: &Refusal) -> HttpResponse {
    match refusal {
        Refusal::Unauthorized => HttpResponse::Unauthorized()
            .insert_header((WWW_AUTHENTICATE, r#"Bearer error="invalid_token""#))
            .json(json!({"error": "invalid_token"})),
        Refusal::InsufficientScope => HttpResponse::Forbidden()
            .insert_header((
                WWW_AUTHENTICATE,
                format!(r#"Bearer error="insufficient_scope", scope="{ITEMS_SCOPE}""#),
            ))
            .json(json!({"error": "insufficient_scope"})),
    }
}

/// `GET /items`: needs `items:read`.
async fn items(request: HttpRequest, verifier: web::Data<Verifier>) -> HttpResponse {
    match verifier.into_inner().authorize(&request, ITEMS_SCOPE).await {
        Ok(claims) => HttpResponse::Ok().json(json!({
            "owner": claims.sub,
            "items": ["apple", "pear"],
        })),
        Err(refusal) => refused(&refusal),
    }
}

/// The server on `listener`.
///
/// # Errors
/// When the listener cannot be used.
pub fn server(verifier: Arc<Verifier>, listener: TcpListener) -> std::io::Result<Server> {
    let data = web::Data::from(verifier);
    Ok(HttpServer::new(move || {
        App::new()
            .app_data(data.clone())
            .route("/items", web::get().to(items))
    })
    .listen(listener)?
    .run())
}

/// Runs [`server`] on a thread of its own (tests); its address.
///
/// # Errors
/// When the address cannot be bound.
pub fn spawn(verifier: Arc<Verifier>) -> std::io::Result<std::net::SocketAddr> {
    let listener = TcpListener::bind("127.0.0.1:0")?;
    let address = listener.local_addr()?;
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            if let Ok(server) = server(verifier, listener) {
                let _ = server.await;
            }
        });
    });
    Ok(address)
}

#[cfg(test)]
mod tests;
