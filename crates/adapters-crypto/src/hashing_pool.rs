//! bcrypt on a bounded pool of its own.
//!
//! A hash at cost 12 takes about a quarter of a second of one core. Run on
//! the shared blocking pool, a login storm would queue without bound and
//! hold threads the database calls need; here hashing gets a fixed number
//! of threads (one per core) and a bounded queue, and when the queue is
//! full the request is refused at once (503 with `Retry-After`) instead of
//! waiting for seconds.

use std::{
    sync::{
        Arc, Mutex,
        atomic::{AtomicUsize, Ordering},
        mpsc::{self, Receiver, SyncSender, TrySendError},
    },
    thread,
};

use domain::{InfraError, Password, PasswordHash, PasswordHasher};

type Job = Box<dyn FnOnce() + Send>;

/// Runs another [`PasswordHasher`] on `workers` threads with at most
/// `queue` waiting jobs.
pub struct PooledHasher<H> {
    inner: Arc<H>,
    jobs: SyncSender<Job>,
    /// Jobs queued and not yet started.
    waiting: Arc<AtomicUsize>,
}

/// The hashing queue was full: try again shortly.
#[derive(Debug, thiserror::Error)]
#[error("the password hashing queue is full")]
pub struct HashingQueueFull;

impl<H: PasswordHasher + 'static> PooledHasher<H> {
    /// Starts `workers` threads (at least one) that live as long as the
    /// hasher does, with room for `queue` (at least one) waiting jobs.
    #[must_use]
    pub fn new(inner: H, workers: usize, queue: usize) -> Self {
        let (jobs, receiver) = mpsc::sync_channel::<Job>(queue.max(1));
        let receiver = Arc::new(Mutex::new(receiver));
        for index in 0..workers.max(1) {
            let receiver = Arc::clone(&receiver);
            thread::Builder::new()
                .name(format!("bcrypt-{index}"))
                .spawn(move || work(&receiver))
                .expect("the hashing thread starts");
        }
        Self {
            inner: Arc::new(inner),
            jobs,
            waiting: Arc::new(AtomicUsize::new(0)),
        }
    }

    /// Jobs queued and not yet started.
    #[must_use]
    pub fn waiting(&self) -> usize {
        self.waiting.load(Ordering::SeqCst)
    }

    /// Queues `job` and waits for its result.
    fn run<T: Send + 'static>(
        &self,
        job: impl FnOnce(&H) -> Result<T, InfraError> + Send + 'static,
    ) -> Result<T, InfraError> {
        let (reply, result) = mpsc::sync_channel(1);
        let inner = Arc::clone(&self.inner);
        let waiting = Arc::clone(&self.waiting);
        let job: Job = Box::new(move || {
            waiting.fetch_sub(1, Ordering::SeqCst);
            // The caller may have given up; nobody to tell then.
            let _ = reply.send(job(&inner));
        });
        self.waiting.fetch_add(1, Ordering::SeqCst);
        self.jobs.try_send(job).map_err(|error| {
            self.waiting.fetch_sub(1, Ordering::SeqCst);
            match error {
                TrySendError::Full(_) => InfraError::unavailable(HashingQueueFull),
                TrySendError::Disconnected(_) => {
                    InfraError::unexpected("the hashing threads stopped")
                }
            }
        })?;
        result
            .recv()
            .map_err(|_| InfraError::unexpected("a hashing thread died"))?
    }
}

/// A worker: takes jobs until the hasher is dropped.
fn work(receiver: &Mutex<Receiver<Job>>) {
    loop {
        // Hold the lock only to take a job, never while hashing.
        let job = match receiver.lock() {
            Ok(receiver) => receiver.recv(),
            Err(_) => return,
        };
        match job {
            Ok(job) => job(),
            Err(_) => return,
        }
    }
}

impl<H: PasswordHasher + 'static> PasswordHasher for PooledHasher<H> {
    fn hash(&self, password: &Password) -> Result<PasswordHash, InfraError> {
        let password = password.clone();
        self.run(move |inner| inner.hash(&password))
    }

    fn verify(&self, password: &Password, hash: &PasswordHash) -> Result<bool, InfraError> {
        let (password, hash) = (password.clone(), hash.clone());
        self.run(move |inner| inner.verify(&password, &hash))
    }

    /// Reads the hash's parameters: no hashing, so not queued.
    fn strength(&self, hash: &PasswordHash) -> domain::HashStrength {
        self.inner.strength(hash)
    }
}

#[cfg(test)]
mod tests {
    use std::{sync::Condvar, time::Duration};

    use super::*;

    /// A hasher whose calls wait until the gate opens, counting how many
    /// run at once.
    #[derive(Default)]
    struct Gate {
        open: Mutex<bool>,
        opened: Condvar,
        running: AtomicUsize,
        most: AtomicUsize,
    }

    impl Gate {
        fn open(&self) {
            *self.open.lock().unwrap() = true;
            self.opened.notify_all();
        }
    }

    /// The pool owns its hasher; the test keeps a handle on the gate.
    struct Shared(Arc<Gate>);

    impl PasswordHasher for Shared {
        fn hash(&self, _: &Password) -> Result<PasswordHash, InfraError> {
            let gate = &self.0;
            let now = gate.running.fetch_add(1, Ordering::SeqCst) + 1;
            gate.most.fetch_max(now, Ordering::SeqCst);
            let mut open = gate.open.lock().unwrap();
            while !*open {
                open = gate.opened.wait(open).unwrap();
            }
            drop(open);
            gate.running.fetch_sub(1, Ordering::SeqCst);
            Ok(PasswordHash::new("h"))
        }

        fn verify(&self, _: &Password, _: &PasswordHash) -> Result<bool, InfraError> {
            Ok(true)
        }

        fn strength(&self, _: &PasswordHash) -> domain::HashStrength {
            domain::HashStrength::Current
        }
    }

    fn password() -> Password {
        Password::parse("correct horse").unwrap()
    }

    #[test]
    fn results_come_back_from_the_pool() {
        let pool = PooledHasher::new(crate::BcryptHasher::new(4).unwrap(), 2, 4);
        let hash = pool.hash(&password()).unwrap();
        assert!(pool.verify(&password(), &hash).unwrap());
        assert!(
            !pool
                .verify(&Password::parse("wrong horse").unwrap(), &hash)
                .unwrap()
        );
    }

    /// Waits (at most ten seconds) until `ready` holds.
    fn until(ready: impl Fn() -> bool) {
        let deadline = std::time::Instant::now() + Duration::from_secs(10);
        while !ready() {
            assert!(std::time::Instant::now() < deadline, "timed out");
            thread::sleep(Duration::from_millis(5));
        }
    }

    #[test]
    fn when_every_worker_is_busy_and_the_queue_full_a_call_is_refused_at_once() {
        let gate = Arc::new(Gate::default());
        let pool = Arc::new(PooledHasher::new(Shared(Arc::clone(&gate)), 2, 1));
        let call = || {
            let pool = Arc::clone(&pool);
            thread::spawn(move || pool.hash(&password()))
        };
        // Two calls occupy the two workers (one at a time: a job counts
        // against the queue until a worker takes it), a third waits.
        let mut callers = vec![call()];
        until(|| gate.running.load(Ordering::SeqCst) == 1);
        callers.push(call());
        until(|| gate.running.load(Ordering::SeqCst) == 2);
        callers.push(call());
        until(|| pool.waiting() == 1);

        assert!(matches!(
            pool.hash(&password()),
            Err(InfraError::Unavailable(_))
        ));
        gate.open();
        for caller in callers {
            assert!(caller.join().unwrap().is_ok());
        }
        assert_eq!(gate.most.load(Ordering::SeqCst), 2);
        assert_eq!(pool.waiting(), 0);
    }
}
