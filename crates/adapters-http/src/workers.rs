//! A fixed set of threads for short blocking work: database calls.
//!
//! actix's `web::block` hands each call to tokio's elastic blocking pool,
//! which under load grows a thread per request in flight (about a hundred
//! at 64 connections) and wakes one for every call: two context switches a
//! request. Here as many threads as the database pool has connections take
//! calls from one bounded queue, and under load go from one to the next
//! without sleeping. Work that waits on password hashing (~250 ms a call)
//! must not run here, or a login storm would hold every thread: it keeps
//! using [`crate::extract::run_blocking`].

use std::{
    panic::{AssertUnwindSafe, catch_unwind},
    thread,
};

use crossbeam_channel::{Sender, TrySendError};
use tokio::sync::oneshot;

use crate::error::ApiError;

type Job = Box<dyn FnOnce() + Send>;

/// Threads for database calls, with a bounded queue. Dropping it lets the
/// threads finish the queued calls and exit.
#[derive(Debug)]
pub struct DatabaseWorkers {
    queue: Sender<Job>,
}

/// Why a call was not run.
#[derive(Debug, thiserror::Error)]
pub enum WorkerError {
    #[error("the database work queue is full")]
    QueueFull,
    #[error("a database call panicked")]
    Panicked,
    #[error("the database workers have stopped")]
    Stopped,
}

impl DatabaseWorkers {
    /// Starts `threads` threads (at least one) sharing a queue of
    /// `queue_capacity` calls.
    ///
    /// # Panics
    /// When the OS cannot start a thread.
    #[must_use]
    pub fn new(threads: usize, queue_capacity: usize) -> Self {
        let (queue, jobs) = crossbeam_channel::bounded::<Job>(queue_capacity);
        for index in 0..threads.max(1) {
            let jobs = jobs.clone();
            thread::Builder::new()
                .name(format!("zentra-db-{index}"))
                .spawn(move || {
                    for job in jobs {
                        job();
                    }
                })
                .expect("the OS starts a database worker thread");
        }
        Self { queue }
    }

    /// Runs `work` on a worker thread and awaits its result.
    ///
    /// # Errors
    /// The work's own error; 503 when the queue is full (the database is
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
        let (answer, result) = oneshot::channel();
        let job: Job = Box::new(move || {
            // A closed receiver means the request is gone: nothing to do.
            let _ = answer.send(catch_unwind(AssertUnwindSafe(work)));
        });
        self.queue.try_send(job).map_err(|error| {
            ApiError::Unavailable(Box::new(match error {
                TrySendError::Full(_) => WorkerError::QueueFull,
                TrySendError::Disconnected(_) => WorkerError::Stopped,
            }))
        })?;
        match result.await {
            Ok(Ok(outcome)) => outcome.map_err(Into::into),
            Ok(Err(_panic)) => Err(ApiError::Internal(Box::new(WorkerError::Panicked))),
            // The call was dropped unrun: the workers are shutting down.
            Err(_) => Err(ApiError::Unavailable(Box::new(WorkerError::Stopped))),
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
        let workers = DatabaseWorkers::new(2, 8);
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
        let workers = DatabaseWorkers::new(1, 8);
        let panicked = workers
            .run(|| -> Result<(), ApiError> { panic!("a bug") })
            .await
            .unwrap_err();
        assert_eq!(panicked.status_code(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(workers.run(|| Ok::<_, ApiError>(7)).await.unwrap(), 7);
    }

    #[actix_web::test]
    async fn a_full_queue_is_a_503_at_once() {
        let workers = DatabaseWorkers::new(1, 1);
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
        // ...and one more is refused without waiting.
        let refused = workers.run(|| Ok::<_, ApiError>(())).await.unwrap_err();
        assert_eq!(refused.status_code(), StatusCode::SERVICE_UNAVAILABLE);
        hold.wait();
        busy.await.unwrap();
        queued.await.unwrap();
    }

    /// Polls `future` once: enough for [`DatabaseWorkers::run`] to queue its
    /// call.
    async fn poll_once<F: std::future::Future + Unpin>(future: &mut F) {
        std::future::poll_fn(|context| {
            let _ = std::pin::Pin::new(&mut *future).poll(context);
            std::task::Poll::Ready(())
        })
        .await;
    }
}
