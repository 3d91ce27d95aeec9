//! Thread pools: every parallel call takes an explicit thread count (0 = all cores).

use crate::error::{Error, Result};
use std::sync::{Arc, Mutex, OnceLock};

/// Samples per work item. Fixed (not derived from the thread count), so every reduction adds the
/// same partial sums in the same order whatever the number of threads: results are bit-identical.
pub const CHUNK: usize = 8;

type PoolEntry = (usize, Arc<rayon::ThreadPool>);

/// The rayon pool of `threads` threads (0 = one per core), built on first use and reused: spawning
/// threads on every call cost ~100 us, a tenth of a 1000-sample inference. Pools hold no model state.
pub fn pool(threads: usize) -> Result<Arc<rayon::ThreadPool>> {
    static POOLS: OnceLock<Mutex<Vec<PoolEntry>>> = OnceLock::new();
    let threads = if threads == 0 {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    } else {
        threads
    };
    let mut pools = POOLS
        .get_or_init(|| Mutex::new(Vec::new()))
        .lock()
        .unwrap_or_else(|e| e.into_inner());
    if let Some((_, p)) = pools.iter().find(|(n, _)| *n == threads) {
        return Ok(Arc::clone(p));
    }
    let p = Arc::new(
        rayon::ThreadPoolBuilder::new()
            .num_threads(threads)
            .thread_name(|i| format!("spikeloom-{i}"))
            .build()
            .map_err(|e| Error::param("threads", "a thread count the OS can provide", e))?,
    );
    pools.push((threads, Arc::clone(&p)));
    Ok(p)
}

/// Run `f` inside the rayon pool of `threads` threads (0 = one per core).
pub fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> Result<R> {
    Ok(pool(threads)?.install(f))
}
