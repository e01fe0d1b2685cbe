//! Lookups that wait together go to the database together: the group
//! commit of reads (issue 16).
//!
//! On Postgres every lookup is a round trip, and under load the database
//! lane's threads spend it asleep, each with its own query for the server
//! to parse, plan and answer. With a [`Batcher`], a caller that finds
//! fewer than [`MAX_LEADERS`] batches running *leads* one: it takes the
//! lookups queued so far beside its own, runs them as one query (`WHERE
//! key = ANY($1)`) on its own connection, and hands each caller its row.
//! Others queue and sleep. A leader runs one batch, its own, and on the
//! way out makes the first queued caller the next leader: no caller waits
//! for more than the batch it is in and the one before it.
//!
//! Nothing is cached: a lookup is answered by a query that began after it
//! was queued, so it sees every change committed before it was asked (a
//! user deactivated is refused at the next request, as without batching).

use std::collections::HashMap;
use std::hash::Hash;
use std::panic::{self, AssertUnwindSafe};
use std::sync::{Arc, Condvar, Mutex, MutexGuard, OnceLock, PoisonError};

use diesel::QueryResult;
use domain::InfraError;

use crate::connection::AnyConnection;
use crate::error::query_error;
use crate::pool::{DbPool, checkout};

/// How many batches may run at once, each on its leader's own pooled
/// connection. Measured on the 2-core benchmark machine (Postgres beside
/// the service, users/me at 64 connections, rounds in turn; requests/s):
///
/// | at once | one user | 300 users at random |
/// |---|---:|---:|
/// | no batching | 35.1k | 25.6k |
/// | 1 | 37.2k | 35.4k |
/// | 2 | 39.2k | 36.3k |
/// | 4 | 24.9k | 20.7k |
///
/// Every query in flight is one more Postgres backend to wake on the same
/// two cores; with two, a batch need not wait for the previous one's round
/// trip, and the batch grows with the load (README, Performance).
pub(crate) const MAX_LEADERS: usize = 2;

/// At most this many lookups go into one query.
pub(crate) const MAX_BATCH: usize = 64;

/// What a queued caller is woken with.
enum Signal<V> {
    /// Its batch ran: its value, or the batch's error.
    Answer(Result<Option<V>, String>),
    /// A leader left: it leads the next batch.
    Lead,
}

/// One queued caller's lookup.
struct Waiter<K, V> {
    key: K,
    signal: Mutex<Option<Signal<V>>>,
    woken: Condvar,
}

impl<K, V> Waiter<K, V> {
    fn wake(&self, signal: Signal<V>) {
        *self.signal.lock().unwrap_or_else(PoisonError::into_inner) = Some(signal);
        self.woken.notify_one();
    }

    fn sleep(&self) -> Signal<V> {
        let mut signal = self.signal.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if let Some(signal) = signal.take() {
                return signal;
            }
            signal = self
                .woken
                .wait(signal)
                .unwrap_or_else(PoisonError::into_inner);
        }
    }
}

struct Queue<K, V> {
    waiting: Vec<Arc<Waiter<K, V>>>,
    leaders: usize,
}

/// Combines concurrent lookups by key into batched queries.
pub(crate) struct Batcher<K, V> {
    queue: Mutex<Queue<K, V>>,
}

impl<K, V> Default for Batcher<K, V> {
    fn default() -> Self {
        Self {
            queue: Mutex::new(Queue {
                waiting: Vec::new(),
                leaders: 0,
            }),
        }
    }
}

impl<K, V> std::fmt::Debug for Batcher<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Batcher").finish_non_exhaustive()
    }
}

impl<K: Eq + Hash + Clone, V: Clone> Batcher<K, V> {
    /// The value of `key`, found by `run` together with the lookups queued
    /// at the same time. `run` gets distinct keys and answers the values
    /// it found by key (a key it leaves out has no value).
    ///
    /// # Errors
    /// The error of the batch `key` went in: a leader's own
    /// [`InfraError`], or for the others [`InfraError::Unavailable`]
    /// naming it.
    pub(crate) fn find(
        &self,
        key: K,
        run: impl Fn(&[K]) -> Result<HashMap<K, V>, InfraError>,
    ) -> Result<Option<V>, InfraError> {
        let mut queue = self.lock();
        if queue.leaders < MAX_LEADERS {
            queue.leaders += 1;
            return self.lead(queue, key, &run);
        }
        let me = Arc::new(Waiter {
            key,
            signal: Mutex::new(None),
            woken: Condvar::new(),
        });
        queue.waiting.push(Arc::clone(&me));
        drop(queue);
        match me.sleep() {
            Signal::Answer(answer) => answer.map_err(InfraError::unavailable),
            // Promoted: counted among the leaders, and out of the queue.
            Signal::Lead => self.lead(self.lock(), me.key.clone(), &run),
        }
    }

    /// Runs one batch: `key` and the lookups queued before it, then hands
    /// the lead to the first caller still queued, if any.
    fn lead(
        &self,
        mut queue: MutexGuard<'_, Queue<K, V>>,
        key: K,
        run: &impl Fn(&[K]) -> Result<HashMap<K, V>, InfraError>,
    ) -> Result<Option<V>, InfraError> {
        let take = queue.waiting.len().min(MAX_BATCH - 1);
        let batch: Vec<_> = queue.waiting.drain(..take).collect();
        drop(queue);
        let mut keys = vec![key.clone()];
        for waiter in &batch {
            if !keys.contains(&waiter.key) {
                keys.push(waiter.key.clone());
            }
        }
        // A panic in `run` must not leave the others asleep for ever (their
        // lane threads would never come back): they get an error, the lead
        // passes on, and then the panic goes on up this thread.
        let (found, panicked) = match panic::catch_unwind(AssertUnwindSafe(|| run(&keys))) {
            Ok(found) => (found, None),
            Err(panicked) => (
                Err(InfraError::unexpected("the batched lookup panicked")),
                Some(panicked),
            ),
        };
        let failure = found
            .as_ref()
            .err()
            .map(|error| format!("batched lookup failed: {error}"));
        for waiter in batch {
            let answer = match (&found, &failure) {
                (Ok(values), _) => Ok(values.get(&waiter.key).cloned()),
                (Err(_), failure) => Err(failure.clone().unwrap_or_default()),
            };
            waiter.wake(Signal::Answer(answer));
        }
        let mut queue = self.lock();
        if queue.waiting.is_empty() {
            queue.leaders -= 1;
        } else {
            // The lead passes on: `leaders` stays as it is.
            queue.waiting.remove(0).wake(Signal::Lead);
        }
        drop(queue);
        if let Some(panicked) = panicked {
            panic::resume_unwind(panicked);
        }
        found.map(|mut values| values.remove(&key))
    }

    fn lock(&self) -> MutexGuard<'_, Queue<K, V>> {
        self.queue.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A lookup by key that is batched on Postgres, where each query is a
/// round trip, and not on SQLite, where a query is a function call.
pub(crate) struct Lookups<K, V> {
    batcher: Batcher<K, V>,
    /// Whether the pool's connections are Postgres ones, once seen.
    postgres: OnceLock<bool>,
    /// Held by the one caller that looks (the others wait for its answer):
    /// the many threads of a lookup lane, started together, must not each
    /// check a connection out to see the backend.
    learning: Mutex<()>,
}

impl<K, V> Default for Lookups<K, V> {
    fn default() -> Self {
        Self {
            batcher: Batcher::default(),
            postgres: OnceLock::new(),
            learning: Mutex::new(()),
        }
    }
}

impl<K, V> std::fmt::Debug for Lookups<K, V> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Lookups").finish_non_exhaustive()
    }
}

impl<K: Eq + Hash + Clone, V: Clone> Lookups<K, V> {
    /// The value of `key`: by `one` on SQLite; on Postgres by `many`, with
    /// the lookups waiting at the same time ([`Batcher`]), which answers
    /// each value found with its key.
    ///
    /// # Errors
    /// [`InfraError`] when the store fails.
    pub(crate) fn find(
        &self,
        pool: &DbPool,
        key: K,
        one: impl FnOnce(&mut AnyConnection, &K) -> QueryResult<Option<V>>,
        many: impl Fn(&mut AnyConnection, &[K]) -> QueryResult<Vec<(K, V)>>,
    ) -> Result<Option<V>, InfraError> {
        if !self.is_postgres(pool)? {
            let mut conn = checkout(pool)?;
            return one(&mut conn, &key).map_err(query_error);
        }
        self.batcher.find(key, |keys| {
            let mut conn = checkout(pool)?;
            Ok(many(&mut conn, keys)
                .map_err(query_error)?
                .into_iter()
                .collect())
        })
    }
}

impl<K, V> Lookups<K, V> {
    /// Whether the pool's connections are Postgres ones: seen once, on a
    /// connection checked out by one caller at a time.
    fn is_postgres(&self, pool: &DbPool) -> Result<bool, InfraError> {
        if let Some(postgres) = self.postgres.get() {
            return Ok(*postgres);
        }
        let _learning = self.learning.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(postgres) = self.postgres.get() {
            return Ok(*postgres);
        }
        let conn = checkout(pool)?;
        Ok(*self
            .postgres
            .get_or_init(|| matches!(&*conn, AnyConnection::Postgresql(_))))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Barrier;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::thread;
    use std::time::Duration;

    use super::*;

    fn squares(keys: &[u32]) -> HashMap<u32, u32> {
        keys.iter()
            .filter(|key| **key != 0)
            .map(|key| (*key, key * key))
            .collect()
    }

    #[test]
    fn a_lone_lookup_is_its_own_batch() {
        let batcher = Batcher::default();
        assert_eq!(batcher.find(3, |keys| Ok(squares(keys))).unwrap(), Some(9));
        assert_eq!(batcher.find(0, |keys| Ok(squares(keys))).unwrap(), None);
    }

    #[test]
    fn concurrent_lookups_share_queries_and_each_gets_its_own_answer() {
        const THREADS: u32 = 16;
        const ROUNDS: u32 = 50;
        let batcher = Batcher::default();
        let queries = AtomicUsize::new(0);
        let barrier = Barrier::new(THREADS as usize);
        thread::scope(|scope| {
            for thread in 0..THREADS {
                let (batcher, queries, barrier) = (&batcher, &queries, &barrier);
                scope.spawn(move || {
                    barrier.wait();
                    for round in 0..ROUNDS {
                        // Some keys shared between threads, some not.
                        let key = (thread % 4) * 1000 + round;
                        let found = batcher
                            .find(key, |keys| {
                                queries.fetch_add(1, Ordering::Relaxed);
                                let mut distinct = keys.to_vec();
                                distinct.dedup();
                                assert_eq!(distinct.len(), keys.len(), "distinct keys");
                                thread::sleep(Duration::from_micros(200));
                                Ok(squares(keys))
                            })
                            .unwrap();
                        let expected = (key != 0).then(|| key * key);
                        assert_eq!(found, expected, "thread {thread} round {round}");
                    }
                });
            }
        });
        let queries = queries.load(Ordering::Relaxed);
        assert!(
            queries < (THREADS * ROUNDS) as usize / 2,
            "{queries} queries for {} lookups",
            THREADS * ROUNDS
        );
    }

    #[test]
    fn a_panicking_batch_gives_its_lead_back_and_lookups_go_on() {
        // On a thread of its own, so that a lookup left asleep fails the
        // test instead of hanging it.
        let (sent, answered) = std::sync::mpsc::channel();
        thread::spawn(move || {
            let batcher = Batcher::default();
            // More panics than leaders: a leader lost to each would leave
            // none, and every later lookup would sleep for ever.
            for key in 0..=MAX_LEADERS as u32 {
                let found = panic::catch_unwind(AssertUnwindSafe(|| {
                    batcher.find(key, |_| -> Result<HashMap<u32, u32>, InfraError> {
                        panic!("a bug in the query")
                    })
                }));
                assert!(found.is_err(), "the panic reaches its caller");
            }
            let _ = sent.send(batcher.find(3, |keys| Ok(squares(keys))).unwrap());
        });
        assert_eq!(
            answered.recv_timeout(Duration::from_secs(10)),
            Ok(Some(9)),
            "lookups after the panics are answered"
        );
    }

    #[test]
    fn a_failed_batch_fails_every_lookup_in_it_and_the_next_batch_runs() {
        const THREADS: usize = 8;
        let batcher = Batcher::default();
        let failures = AtomicUsize::new(0);
        let barrier = Barrier::new(THREADS);
        let first = AtomicUsize::new(0);
        thread::scope(|scope| {
            for thread in 0..THREADS {
                let (batcher, failures, barrier, first) = (&batcher, &failures, &barrier, &first);
                scope.spawn(move || {
                    barrier.wait();
                    let found = batcher.find(thread as u32 + 1, |keys| {
                        if first.fetch_add(1, Ordering::Relaxed) == 0 {
                            thread::sleep(Duration::from_millis(20));
                            return Err(InfraError::unavailable("connection lost"));
                        }
                        Ok(squares(keys))
                    });
                    match found {
                        Ok(value) => assert_eq!(value, Some((thread as u32 + 1).pow(2))),
                        Err(error) => {
                            assert!(matches!(error, InfraError::Unavailable(_)));
                            failures.fetch_add(1, Ordering::Relaxed);
                        }
                    }
                });
            }
        });
        // The first batch failed (at least its leader), later ones did not.
        let failures = failures.load(Ordering::Relaxed);
        assert!((1..THREADS).contains(&failures), "{failures}");
        // And the batcher is usable afterwards.
        assert_eq!(batcher.find(2, |keys| Ok(squares(keys))).unwrap(), Some(4));
    }
}
