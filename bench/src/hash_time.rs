//! The hashing ceiling: how long one bcrypt hash takes at a given cost.
//!
//! `hash_time [COST] [SAMPLES]` (defaults 12 and 5) hashes a password
//! `SAMPLES` times on one thread and prints the median in milliseconds, then
//! hashes on every core at once and prints the hashes per second achieved:
//!
//! ```text
//! cost=12 samples=5 median_ms=274.1 min_ms=271.9 threads=2 parallel_per_s=7.21
//! ```
//!
//! The hashing ceiling is `cores / median` logins per second; the parallel
//! figure shows how well the cores really scale.

use std::{env, process::ExitCode, thread, time::Instant};

const PASSWORD: &str = "bench-password-1";

fn arg(index: usize, default: u32) -> Result<u32, String> {
    env::args().nth(index).map_or(Ok(default), |raw| {
        raw.parse()
            .map_err(|error| format!("bad argument {raw:?}: {error}"))
    })
}

fn hash_ms(cost: u32) -> Result<f64, bcrypt::BcryptError> {
    let start = Instant::now();
    bcrypt::hash(PASSWORD, cost)?;
    Ok(start.elapsed().as_secs_f64() * 1000.0)
}

fn run() -> Result<String, String> {
    let cost = arg(1, 12)?;
    let samples = arg(2, 5)?.max(1);
    let mut times = (0..samples)
        .map(|_| hash_ms(cost))
        .collect::<Result<Vec<_>, _>>()
        .map_err(|error| error.to_string())?;
    times.sort_by(f64::total_cmp);
    let median = times[times.len() / 2];
    let min = times[0];

    // Every core hashing at once, two hashes each.
    let threads = thread::available_parallelism().map_or(1, std::num::NonZero::get);
    let start = Instant::now();
    let workers: Vec<_> = (0..threads)
        .map(|_| thread::spawn(move || (0..2).try_for_each(|_| hash_ms(cost).map(drop))))
        .collect();
    for worker in workers {
        worker
            .join()
            .map_err(|_| "a hashing thread panicked".to_owned())?
            .map_err(|error| error.to_string())?;
    }
    let parallel = (threads * 2) as f64 / start.elapsed().as_secs_f64();
    Ok(format!(
        "cost={cost} samples={samples} median_ms={median:.1} min_ms={min:.1} threads={threads} parallel_per_s={parallel:.2}"
    ))
}

fn main() -> ExitCode {
    match run() {
        Ok(line) => {
            println!("{line}");
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("hash_time: {error}");
            ExitCode::FAILURE
        }
    }
}
