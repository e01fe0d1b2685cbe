//! Where blocking work runs: the service's one execution model.
//!
//! Use cases are synchronous (their ports block on the database and on
//! bcrypt), so none may run on actix's async workers. Each runs, start to
//! finish, on one of the **lanes**: a fixed set of threads taking calls from
//! one bounded queue ([`WorkerPool`]). [`UseCase::lane`] is the one place
//! that says which: anything that hashes a password runs on the hashing
//! lane (one thread per core: a bcrypt hash holds a core for ~250 ms),
//! everything else on the database lane (one thread per pooled connection),
//! but for the lookup lane below. A use case does its database calls on its
//! own lane's thread — no thread ever waits for another pool's thread — and
//! the database pool holds a connection for every thread that may hold one
//! at once, so none waits for a connection either.
//!
//! On Postgres a third lane, **lookup**, runs `users/me`: its database
//! call is the lookup of the token's user or of the API key and its owner,
//! which the database adapter batches with the lookups waiting beside it.
//! A thread waiting in a batch holds no connection, only a batch's leader
//! does (two at most of each kind), so this lane has many threads
//! (`DB__LOOKUP_THREADS`) on a few connections: the more lookups wait
//! together, the fewer queries answer them. A key's last use, written once
//! a minute, takes one more. Without the lane (SQLite, or 0 threads) the
//! database lane runs them.
//!
//! A full queue answers 503 with `Retry-After` at once (the service is
//! behind: clients should come back, not wait); a panicking call answers
//! 500 and its thread goes on. `verify` and the token and scope check of
//! every bearer route (`extract::Authorized`) are pure CPU (one HMAC, or a
//! cache hit) and run on the async worker itself. Under an asymmetric
//! algorithm (docs/api.md §12) a token's first check is a signature
//! verification instead (release: EdDSA ~50 µs, RS256 ~180 µs, ES256
//! ~300 µs), still short enough for the worker, and paid once per token and
//! instance (the verified-token cache); signing, up to 2 ms for RS256, only
//! happens in login and refresh, which run on the lanes like every use case.

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    thread,
};

use crossbeam_channel::{Sender, TrySendError};
use tokio::sync::oneshot;

use crate::error::ApiError;

/// The use cases that block, by the lane they run on. A password attempt
/// (login, password change) is two steps: admitted past the failure limits
/// with database work only, then checked — so that refused guesses answer
/// 429 at once and never queue behind password hashing.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UseCase {
    Register,
    AdmitLogin,
    Login,
    AdmitPasswordChange,
    ChangePassword,
    /// Gives back the places of an admitted attempt its lane never ran.
    AbandonAttempt,
    /// The user of a bearer token or the owner of an API key: one batched
    /// lookup (and for a key, once a minute, a write of its last use).
    CurrentUser,
    UpdateDetails,
    Refresh,
    Logout,
    LogoutAll,
    /// The caller's own audit trail.
    OwnEvents,
    Readiness,
    /// The periodic deletion of expired sessions and old failed logins.
    Prune,
    // The admin API (docs/api.md §9): each checks the acting superuser in
    // the store first, on the same lane.
    AdminListUsers,
    AdminGetUser,
    /// Hashes the new user's password.
    AdminCreateUser,
    /// A change that sets no password.
    AdminUpdateUser,
    /// A change that sets a password: it hashes it.
    AdminSetPassword,
    AdminDeleteUser,
    AdminLogoutUser,
    AdminUnlockUser,
    AdminEvents,
    // API keys and introspection (docs/api.md §10).
    CreateApiKey,
    ListApiKeys,
    RevokeApiKey,
    Introspect,
    AdminListApiKeys,
    AdminRevokeApiKey,
    // Sessions per device (docs/api.md §11).
    ListSessions,
    RevokeSession,
}

/// The lanes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lane {
    /// Database calls only: a few hundred microseconds each.
    Database,
    /// Work that hashes or checks a password, with its database calls.
    Hashing,
    /// A batched lookup (and a key's last use): the database lane when
    /// there is no lookup lane.
    Lookup,
}

impl UseCase {
    /// Which lane runs this use case: the one place that decides.
    #[must_use]
    pub fn lane(self) -> Lane {
        match self {
            Self::Register
            | Self::Login
            | Self::ChangePassword
            | Self::AdminCreateUser
            | Self::AdminSetPassword => Lane::Hashing,
            Self::AdmitLogin
            | Self::AdmitPasswordChange
            | Self::AbandonAttempt
            | Self::UpdateDetails
            | Self::Refresh
            | Self::Logout
            | Self::LogoutAll
            | Self::OwnEvents
            | Self::Readiness
            | Self::Prune
            | Self::AdminListUsers
            | Self::AdminGetUser
            | Self::AdminUpdateUser
            | Self::AdminDeleteUser
            | Self::AdminLogoutUser
            | Self::AdminUnlockUser
            | Self::AdminEvents
            | Self::CreateApiKey
            | Self::ListApiKeys
            | Self::RevokeApiKey
            | Self::Introspect
            | Self::AdminListApiKeys
            | Self::AdminRevokeApiKey
            | Self::ListSessions
            | Self::RevokeSession => Lane::Database,
            Self::CurrentUser => Lane::Lookup,
        }
    }
}

/// The service's lanes. Dropping it lets their threads finish the queued
/// calls and exit.
#[derive(Debug)]
pub struct Lanes {
    database: WorkerPool,
    hashing: WorkerPool,
    lookup: Option<WorkerPool>,
}

impl Lanes {
    /// The database and hashing lanes; the database lane also runs the
    /// lookups.
    #[must_use]
    pub fn new(database: WorkerPool, hashing: WorkerPool) -> Self {
        Self {
            database,
            hashing,
            lookup: None,
        }
    }

    /// Lookups on their own lane (see the module's documentation).
    #[must_use]
    pub fn with_lookup(self, lookup: WorkerPool) -> Self {
        Self {
            lookup: Some(lookup),
            ..self
        }
    }

    fn pool(&self, lane: Lane) -> &WorkerPool {
        match lane {
            Lane::Database => &self.database,
            Lane::Hashing => &self.hashing,
            Lane::Lookup => self.lookup.as_ref().unwrap_or(&self.database),
        }
    }

    /// Runs `work`, the use case `use_case`, on its lane and awaits its
    /// result.
    ///
    /// # Errors
    /// As [`WorkerPool::run`].
    pub async fn run<T, E>(
        &self,
        use_case: UseCase,
        work: impl FnOnce() -> Result<T, E> + Send + 'static,
    ) -> Result<T, ApiError>
    where
        T: Send + 'static,
        E: Into<ApiError> + Send + 'static,
    {
        self.pool(use_case.lane()).run(work).await
    }

    /// Calls waiting in `lane`'s queue (not those running): for the
    /// metrics. Without a lookup lane its calls wait in the database
    /// lane's queue, and the lookup lane's is empty.
    #[must_use]
    pub fn queued(&self, lane: Lane) -> usize {
        match lane {
            Lane::Lookup => self.lookup.as_ref().map_or(0, WorkerPool::queued),
            other => self.pool(other).queued(),
        }
    }
}

type Job = Box<dyn FnOnce() + Send>;

/// A fixed set of threads with a bounded queue: the one pool type of the
/// service, used as its lanes.
///
/// actix's `web::block` hands each call to tokio's elastic blocking pool,
/// which under load grows a thread per request in flight (about a hundred
/// at 64 connections) and wakes one for every call: two context switches a
/// request. Here a fixed number of threads take calls from one queue, and
/// under load go from one to the next without sleeping.
#[derive(Debug)]
pub struct WorkerPool {
    name: &'static str,
    queue: Sender<Job>,
}

/// Why a call was not run.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("the {0} queue is full")]
    QueueFull(&'static str),
    #[error("a call on the {0} lane panicked")]
    Panicked(&'static str),
    #[error("the {0} threads have stopped")]
    Stopped(&'static str),
}

impl WorkerPool {
    /// Starts `threads` threads (at least one) named `zentra-<name>-<n>`,
    /// sharing a queue of `queue_capacity` calls.
    ///
    /// # Panics
    /// When the OS cannot start a thread.
    #[must_use]
    pub fn new(name: &'static str, threads: usize, queue_capacity: usize) -> Self {
        let (queue, jobs) = crossbeam_channel::bounded::<Job>(queue_capacity);
        for index in 0..threads.max(1) {
            let jobs = jobs.clone();
            thread::Builder::new()
                .name(format!("zentra-{name}-{index}"))
                .spawn(move || {
                    for job in jobs {
                        job();
                    }
                })
                .expect("the OS starts a worker thread");
        }
        Self { name, queue }
    }

    /// Calls waiting in the queue, not yet taken by a thread.
    #[must_use]
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Runs `work` on one of the threads and awaits its result.
    ///
    /// # Errors
    /// The work's own error; 503 when the queue is full (the lane is
    /// behind: clients should come back); 500 when the work panicked (the
    /// thread survives).
    pub async fn run<T, E>(
        &self,
        work: impl FnOnce() -> Result<T, E> + Send + 'static,
    ) -> Result<T, ApiError>
    where
        T: Send + 'static,
        E: Into<ApiError> + Send + 'static,
    {
        let name = self.name;
        let (answer, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            // A closed receiver means the request is gone: nothing to do.
            let _ = answer.send(catch_unwind(AssertUnwindSafe(work)));
        });
        self.queue.try_send(job).map_err(|error| {
            ApiError::Unavailable(Box::new(match error {
                TrySendError::Full(_) => WorkerError::QueueFull(name),
                TrySendError::Disconnected(_) => WorkerError::Stopped(name),
            }))
        })?;
        match result.await {
            Ok(Ok(outcome)) => outcome.map_err(Into::into),
            Ok(Err(_panic)) => Err(ApiError::Internal(Box::new(WorkerError::Panicked(name)))),
            // The call was dropped unrun: the threads are shutting down.
            Err(_) => Err(ApiError::Unavailable(Box::new(WorkerError::Stopped(name)))),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Barrier};

    use actix_web::{ResponseError, http::StatusCode};

    use super::*;

    #[actix_web::test]
    async fn work_runs_off_the_calling_thread_and_its_result_comes_back() {
        let workers = WorkerPool::new("test", 2, 8);
        let caller = thread::current().id();
        let ran_on = workers
            .run(move || Ok::<_, ApiError>(thread::current().id()))
            .await
            .unwrap();
        assert_ne!(ran_on, caller);
        let refused = workers
            .run(|| Err::<(), _>(ApiError::InvalidToken))
            .await
            .unwrap_err();
        assert_eq!(refused.status_code(), StatusCode::UNAUTHORIZED);
    }

    #[actix_web::test]
    async fn a_panic_is_a_500_and_the_thread_goes_on() {
        let workers = WorkerPool::new("test", 1, 8);
        let panicked = workers
            .run(|| -> Result<(), ApiError> { panic!("a bug") })
            .await
            .unwrap_err();
        assert_eq!(panicked.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(workers.run(|| Ok::<_, ApiError>(7)).await.unwrap(), 7);
    }

    #[actix_web::test]
    async fn a_full_queue_is_a_503_at_once() {
        let workers = WorkerPool::new("test", 1, 1);
        // The one thread takes a call and holds it...
        let (started, running) = std::sync::mpsc::channel();
        let hold = Arc::new(Barrier::new(2));
        let held = hold.clone();
        let mut busy = Box::pin(workers.run(move || {
            started.send(()).unwrap();
            held.wait();
            Ok::<_, ApiError>(())
        }));
        poll_once(&mut busy).await;
        running.recv().unwrap();
        // ...the next one waits in the one queued slot...
        let mut queued = Box::pin(workers.run(|| Ok::<_, ApiError>(())));
        poll_once(&mut queued).await;
        assert_eq!(workers.queued(), 1);
        // ...and one more is refused without waiting.
        let refused = workers.run(|| Ok::<_, ApiError>(())).await.unwrap_err();
        assert_eq!(refused.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        hold.wait();
        busy.await.unwrap();
        queued.await.unwrap();
    }

    #[actix_web::test]
    async fn each_use_case_runs_on_its_lane() {
        let lanes = Lanes::new(WorkerPool::new("db", 1, 8), WorkerPool::new("hash", 1, 8));
        let thread_of = |use_case| {
            lanes.run(use_case, || {
                Ok::<_, ApiError>(thread::current().name().unwrap_or_default().to_owned())
            })
        };
        for use_case in [
            UseCase::Register,
            UseCase::Login,
            UseCase::ChangePassword,
            UseCase::AdminCreateUser,
            UseCase::AdminSetPassword,
        ] {
            assert_eq!(thread_of(use_case).await.unwrap(), "zentra-hash-0");
        }
        for use_case in [
            UseCase::AdmitLogin,
            UseCase::AdmitPasswordChange,
            UseCase::AbandonAttempt,
            UseCase::CurrentUser,
            UseCase::UpdateDetails,
            UseCase::Refresh,
            UseCase::Logout,
            UseCase::LogoutAll,
            UseCase::OwnEvents,
            UseCase::Readiness,
            UseCase::Prune,
            UseCase::AdminListUsers,
            UseCase::AdminGetUser,
            UseCase::AdminUpdateUser,
            UseCase::AdminDeleteUser,
            UseCase::AdminLogoutUser,
            UseCase::AdminUnlockUser,
            UseCase::AdminEvents,
        ] {
            assert_eq!(thread_of(use_case).await.unwrap(), "zentra-db-0");
        }
    }

    #[actix_web::test]
    async fn lookups_run_on_the_lookup_lane_when_there_is_one() {
        let lanes = Lanes::new(WorkerPool::new("db", 1, 8), WorkerPool::new("hash", 1, 8))
            .with_lookup(WorkerPool::new("lookup", 1, 8));
        let thread_of = |use_case| {
            lanes.run(use_case, || {
                Ok::<_, ApiError>(thread::current().name().unwrap_or_default().to_owned())
            })
        };
        assert_eq!(
            thread_of(UseCase::CurrentUser).await.unwrap(),
            "zentra-lookup-0"
        );
        assert_eq!(thread_of(UseCase::Refresh).await.unwrap(), "zentra-db-0");
    }

    /// Polls `future` once: enough for [`WorkerPool::run`] to queue its
    /// call.
    async fn poll_once<F: std::future::Future + Unpin>(future: &mut F) {
        std::future::poll_fn(|context| {
            let _ = std::pin::Pin::new(&mut *future).poll(context);
            std::task::Poll::Ready(())
        })
        .await;
    }
}
