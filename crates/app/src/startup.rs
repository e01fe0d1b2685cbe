//! Builds the service from its settings: database, adapters, use cases and
//! the HTTP server.

use std::{net::TcpListener, sync::Arc, time::Duration};

use actix_web::{
    App, HttpServer,
    dev::Server,
    middleware::{Condition, from_fn},
    web,
};
use adapters_crypto::{AccessKeys, BcryptHasher, JwtTokenService, Sha256KeyMinter};
use adapters_db::{
    DbPool, DieselApiKeyRepository, DieselAuditRepository, DieselLoginFailureRepository,
    DieselSessionRepository, DieselUserRepository,
};
use adapters_http::{
    HttpSettings, Lanes, Metrics, PoolStatus, PoolUsage, ReadinessProbe, WorkerPool, configure,
    cors::cors,
    error_envelopes,
    limits::{read_body_in_time, refuse_oversized},
    metrics,
    request_log::log_requests,
};
use anyhow::Context;
use domain::{AdminService, AuthPolicy, AuthService, Clock, InfraError, Ports, SystemClock};

use crate::{config::Settings, upkeep};

/// A bound, not yet running, server.
pub struct Application {
    server: Server,
    address: std::net::SocketAddr,
}

struct DatabaseProbe(DbPool);

impl ReadinessProbe for DatabaseProbe {
    fn check(&self) -> Result<(), InfraError> {
        adapters_db::ping(&self.0)
    }
}

/// The pool's connections, for the metrics.
struct PoolGauge(DbPool);

impl PoolStatus for PoolGauge {
    fn usage(&self) -> PoolUsage {
        let state = self.0.state();
        PoolUsage {
            in_use: state.connections.saturating_sub(state.idle_connections),
            max: self.0.max_size(),
        }
    }
}

/// Calls that may wait per hashing-lane thread: at cost 12 (~0.25 s a
/// hash) a full queue is about four seconds of work; past it, logins and
/// registrations answer 503 at once.
const HASH_QUEUE_PER_THREAD: usize = 16;

/// Calls that may wait per database-lane thread: at a few hundred
/// microseconds a call, a full queue is well under a second of work.
const DB_QUEUE_PER_THREAD: usize = 64;

/// Calls that may wait per lookup-lane thread: its threads are many, and
/// mostly asleep in a batch.
const LOOKUP_QUEUE_PER_THREAD: usize = 16;

/// Threads of the hashing lane: one per core, since a bcrypt hash holds a
/// core for its whole run; more would only share the cores more slowly.
fn hashing_threads() -> usize {
    std::thread::available_parallelism().map_or(1, std::num::NonZero::get)
}

/// The lookup lane (`Lanes`): its threads, and the connections they may
/// hold at once, which the pool adds to the other lanes' ones.
struct LookupLane {
    threads: usize,
    connections: u32,
}

/// `DB__LOOKUP_THREADS` threads where user lookups share queries
/// (Postgres), holding at most as many connections as there are such
/// queries at once; none on SQLite, where every lookup takes a connection.
fn lookup_lane(settings: &Settings) -> LookupLane {
    match adapters_db::shared_lookup_connections(&settings.database_url) {
        Some(leaders) if settings.lookup_threads > 0 => LookupLane {
            threads: usize::try_from(settings.lookup_threads).unwrap_or(1),
            connections: leaders.min(settings.lookup_threads),
        },
        _ => LookupLane {
            threads: 0,
            connections: 0,
        },
    }
}

/// The use cases, wired to the adapters, and the pool under them.
pub struct Wired {
    pub service: Arc<AuthService>,
    pub admin: Arc<AdminService>,
    pub pool: DbPool,
}

/// Opens the database (running pending migrations) and wires the adapters
/// into the use cases. Blocking: connects and migrates.
///
/// # Errors
/// When the database cannot be reached or migrated.
pub fn wire(settings: &Settings) -> anyhow::Result<Wired> {
    wire_with_clock(settings, Arc::new(SystemClock))
}

/// [`wire`] with another clock (tests move time on with one).
///
/// # Errors
/// As [`wire`].
pub fn wire_with_clock(settings: &Settings, clock: Arc<dyn Clock>) -> anyhow::Result<Wired> {
    let url = &settings.database_url;
    // A connection for every thread that may hold one at once
    // (`DB__POOL_SIZE` database threads, the hashing threads, whose use
    // cases query too, and the lookup lane's leaders): no thread ever waits
    // for a connection another holds.
    let connections = settings.pool_size
        + u32::try_from(hashing_threads()).unwrap_or(1)
        + lookup_lane(settings).connections;
    let pool = adapters_db::connect_with(url, connections, settings.sqlite)
        .with_context(|| format!("cannot open the database at {url}"))?;
    // bcrypt runs on the calling thread: the hashing lane's (see `Lanes`).
    let hasher = BcryptHasher::new(settings.bcrypt_cost)?;
    let dummy_hash = hasher.dummy_hash();
    let ports = Ports {
        users: Arc::new(DieselUserRepository::new(pool.clone())),
        sessions: Arc::new(DieselSessionRepository::new(pool.clone())),
        login_failures: Arc::new(DieselLoginFailureRepository::new(pool.clone())),
        hasher: Arc::new(hasher),
        tokens: Arc::new(JwtTokenService::new(&settings.jwt)),
        audit: Arc::new(DieselAuditRepository::new(pool.clone())),
        api_keys: Arc::new(DieselApiKeyRepository::new(pool.clone())),
        key_minter: Arc::new(Sha256KeyMinter),
        clock,
    };
    let policy = AuthPolicy {
        dummy_hash,
        login_limits: settings.login_limits,
        scopes: settings.scopes.clone(),
        audit_retention_secs: settings.audit_retention_secs,
        issuer: settings.jwt.issuer.clone(),
        refresh_reuse_grace_secs: settings.refresh_reuse_grace_secs,
    };
    let admin = Arc::new(AdminService::new(ports.clone(), settings.scopes.clone()));
    Ok(Wired {
        service: Arc::new(AuthService::new(ports, policy)),
        admin,
        pool,
    })
}

/// Creates `DB__FIRST_SUPERUSER` unless a user of that name exists (never
/// changing one that does). Blocking.
///
/// # Errors
/// When the database or the hasher fails.
pub fn ensure_first_superuser(settings: &Settings, admin: &AdminService) -> anyhow::Result<()> {
    let Some((username, password)) = &settings.first_superuser else {
        return Ok(());
    };
    if admin
        .ensure_superuser(username, password)
        .with_context(|| format!("cannot create the first superuser {username}"))?
    {
        tracing::info!(%username, "created the first superuser (DB__FIRST_SUPERUSER)");
    } else {
        tracing::info!(%username, "the first superuser exists: left as it is");
    }
    Ok(())
}

/// The public keys other services verify access tokens with: none under
/// HS*, whose key is a secret.
fn public_jwks(keys: &AccessKeys) -> serde_json::Value {
    match keys {
        AccessKeys::Hmac(_) => serde_json::json!({ "keys": [] }),
        AccessKeys::Signing(keys) => keys.public_jwks(),
    }
}

impl Application {
    /// Connects to the database (running its migrations), wires the
    /// adapters and binds the listener.
    ///
    /// # Errors
    /// When the database cannot be reached or migrated, or the address
    /// cannot be bound.
    pub async fn build(settings: Settings) -> anyhow::Result<Self> {
        let wiring = settings.clone();
        // Connecting, migrating and the first superuser's hash block: keep
        // them off the runtime.
        let Wired {
            service,
            admin,
            pool,
        } = web::block(move || -> anyhow::Result<Wired> {
            let wired = wire(&wiring)?;
            ensure_first_superuser(&wiring, &wired.admin)?;
            Ok(wired)
        })
        .await??;
        // The database lane gets the connections the other lanes do not
        // (an in-memory SQLite database has one connection for all).
        let hashing = hashing_threads();
        let lookup = lookup_lane(&settings);
        let database = usize::try_from(pool.max_size().saturating_sub(lookup.connections))
            .unwrap_or(1)
            .saturating_sub(hashing)
            .max(1);
        let mut lanes = Lanes::new(
            WorkerPool::new("db", database, database * DB_QUEUE_PER_THREAD),
            WorkerPool::new("hashing", hashing, hashing * HASH_QUEUE_PER_THREAD),
        );
        if lookup.threads > 0 {
            lanes = lanes.with_lookup(WorkerPool::new(
                "lookup",
                lookup.threads,
                lookup.threads * LOOKUP_QUEUE_PER_THREAD,
            ));
        }
        let lanes = Arc::new(lanes);
        let metrics = settings.metrics.enabled.then(|| {
            Arc::new(Metrics::new(
                settings.metrics.token.clone(),
                Arc::new(PoolGauge(pool.clone())),
            ))
        });
        if let Some(metrics) = &metrics {
            upkeep::metrics_upkeep(Arc::clone(metrics));
        }
        if let Some(every) = settings.prune_interval {
            upkeep::prune_periodically(Arc::clone(&service), Arc::clone(&lanes), every);
        }
        let probe: Arc<dyn ReadinessProbe> = Arc::new(DatabaseProbe(pool));
        let listener = TcpListener::bind((settings.server.host.as_str(), settings.server.port))
            .with_context(|| {
                format!(
                    "cannot listen on {}:{} (SERVER__HOST, SERVER__PORT)",
                    settings.server.host, settings.server.port
                )
            })?;
        let address = listener.local_addr()?;
        let http = HttpSettings {
            body_limit_bytes: settings.server.body_limit_bytes,
            trust_forwarded_for: settings.server.trust_forwarded_for,
            trusted_proxy_hops: settings.server.trusted_proxy_hops,
            client_timeout: Duration::from_secs(settings.server.client_timeout_secs),
            refresh_cookie: settings.refresh_cookie.clone(),
            cors_origins: settings.cors_origins.clone(),
            jwks: public_jwks(&settings.jwt.access_keys),
            public_url: settings
                .public_url
                .clone()
                .unwrap_or_else(|| format!("http://{address}")),
        };
        let client_timeout = http.client_timeout;
        let cors_origins = settings.cors_origins.clone();
        let credentials = settings.refresh_cookie.enabled();
        let server = HttpServer::new(move || {
            // The last `wrap` is the outermost: the request log sees the
            // final answer, and the envelope also covers CORS refusals.
            App::new()
                .wrap(from_fn(read_body_in_time))
                .wrap(from_fn(refuse_oversized))
                // No origins configured, no CORS: browsers then refuse
                // every cross-origin call, and requests skip its work.
                .wrap(Condition::new(
                    !cors_origins.is_empty(),
                    cors(&cors_origins, credentials),
                ))
                .wrap(error_envelopes())
                .wrap(from_fn(log_requests))
                .configure(metrics::configure(metrics.clone()))
                .configure(configure(
                    service.clone(),
                    admin.clone(),
                    probe.clone(),
                    lanes.clone(),
                    http.clone(),
                ))
        })
        // Bounds the request head (a bare 408, then close: actix answers
        // before any of our code runs); `read_body_in_time` bounds the body.
        .client_request_timeout(client_timeout)
        .listen(listener)?
        // SIGTERM and SIGINT stop accepting, then let requests in flight
        // finish for up to this long.
        .shutdown_timeout(10)
        .run();
        Ok(Self { server, address })
    }

    #[must_use]
    pub fn address(&self) -> std::net::SocketAddr {
        self.address
    }

    /// Serves until SIGTERM or SIGINT.
    ///
    /// # Errors
    /// When the server fails.
    pub async fn run(self) -> std::io::Result<()> {
        self.server.await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn access_keys(vars: &[(&str, &str)]) -> AccessKeys {
        let vars = vars.iter().map(|(k, v)| ((*k).to_owned(), (*v).to_owned()));
        Settings::from_vars(vars).unwrap().jwt.access_keys
    }

    #[test]
    fn the_jwks_is_empty_under_hs_star_and_holds_the_public_keys_otherwise() {
        for algorithm in ["HS256", "HS512"] {
            let keys = access_keys(&[("AUTH__ALGORITHM", algorithm)]);
            assert_eq!(public_jwks(&keys), serde_json::json!({ "keys": [] }));
        }
        let keys = access_keys(&[("AUTH__ALGORITHM", "EdDSA")]);
        let AccessKeys::Signing(set) = &keys else {
            panic!("{keys:?}")
        };
        let jwks = public_jwks(&keys);
        assert_eq!(jwks, set.public_jwks());
        assert_eq!(jwks["keys"][0]["kid"], set.kids().next().unwrap());
    }
}
