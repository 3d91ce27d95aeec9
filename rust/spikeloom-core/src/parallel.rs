//! Thread pools: every parallel call takes an explicit thread count (0 = all cores).

use crate::error::{Error, Result};

/// Samples per work item. Fixed (not derived from the thread count), so every reduction adds the
/// same partial sums in the same order whatever the number of threads: results are bit-identical.
pub const CHUNK: usize = 8;

/// A rayon pool of `threads` threads (0 = one per core).
pub fn pool(threads: usize) -> Result<rayon::ThreadPool> {
    rayon::ThreadPoolBuilder::new()
        .num_threads(threads)
        .thread_name(|i| format!("spikeloom-{i}"))
        .build()
        .map_err(|e| Error::param("threads", "a thread count the OS can provide", e))
}

/// Run `f` inside a rayon pool of `threads` threads (0 = one per core).
pub fn with_threads<R: Send>(threads: usize, f: impl FnOnce() -> R + Send) -> Result<R> {
    Ok(pool(threads)?.install(f))
}
