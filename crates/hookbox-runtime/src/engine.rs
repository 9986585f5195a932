//! The wasmtime engine hookbox runs every hook on, and the epoch ticker that
//! drives wall-clock deadlines for all runs at once.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use wasmtime::{Config, Engine, InstanceAllocationStrategy, PoolingAllocationConfig};

/// How often the shared ticker advances the engine's epoch; the resolution of
/// wall-clock deadlines for code that is running (not waiting in the host).
pub const EPOCH_TICK: Duration = Duration::from_millis(5);

/// Default most memory one linear memory may reach on the engine; a run's
/// memory limit above it is held to it.
pub const DEFAULT_MAX_MEMORY_BYTES: u64 = 1 << 30;
/// Instances the pool holds at once: the most runs that can be in flight.
pub const POOLED_INSTANCES: u32 = 128;
/// Bytes of each reused memory slot reset by copying the snapshot back (or
/// zeroing) and kept mapped rather than returned to the kernel: more than the
/// Python runner's whole memory after a typical hook (about 19 MiB), so a
/// reset releases nothing, the next run takes no page faults there, and no
/// release interrupts the other threads' runs to flush their TLBs. The copy
/// is done off the run's path ([`hookbox_sandbox::teardown`]).
///
/// Wasmtime's `pagemap_scan` (reset only the pages a run wrote) stays off,
/// although it made a run faster before the reset left the run's path: a
/// written page that is swapped out is neither reset nor released, so the
/// next run could read the previous run's payload, and a run of the Python
/// runner writes its few hundred pages in far more than the 32 stretches the
/// scan collects, so the rest of the slot is released and faulted in again
/// (wasmtime pull request 14357).
const KEEP_RESIDENT_BYTES: usize = 32 << 20;
/// Reused slots kept warm; beyond these, freed slots are returned to the kernel.
const WARM_SLOTS: u32 = 16;

/// Engine choices that matter for speed, measured by `hookbox-bench` (`just bench`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EngineOptions {
    /// Use the pooling instance allocator (slots reused across runs, the first
    /// megabytes of each kept resident) instead of mapping and unmapping each
    /// instance's memory per run.
    pub pooling: bool,
    /// Map memory images copy-on-write at instantiation instead of copying the
    /// snapshot's data segments into each fresh memory.
    pub memory_init_cow: bool,
    /// The most memory one linear memory may reach.
    pub max_memory_bytes: u64,
    /// Tear finished stores down on a background thread
    /// ([`hookbox_sandbox::teardown`]) instead of before the run returns.
    pub background_teardown: bool,
}

impl EngineOptions {
    /// The default options with room for one memory of `memory_limit` bytes
    /// (never less than the default maximum).
    pub fn for_memory_limit(memory_limit: u64) -> EngineOptions {
        EngineOptions {
            max_memory_bytes: memory_limit.max(DEFAULT_MAX_MEMORY_BYTES),
            ..EngineOptions::default()
        }
    }
}

impl Default for EngineOptions {
    fn default() -> Self {
        EngineOptions {
            pooling: true,
            memory_init_cow: true,
            max_memory_bytes: DEFAULT_MAX_MEMORY_BYTES,
            background_teardown: true,
        }
    }
}

/// Creates the engine: components, async calls (so host waits can be cancelled
/// by the wall clock), fuel metering and epoch interruption.
pub fn new_engine(options: EngineOptions) -> wasmtime::Result<Engine> {
    let mut config = Config::new();
    config
        .wasm_component_model(true)
        .consume_fuel(true)
        .epoch_interruption(true)
        .memory_init_cow(options.memory_init_cow);
    if options.pooling {
        let instances = POOLED_INSTANCES;
        let mut pool = PoolingAllocationConfig::default();
        pool.total_component_instances(instances)
            .total_core_instances(instances * 32)
            .total_memories(instances * 4)
            .total_tables(instances * 8)
            .total_stacks(instances)
            .max_core_instances_per_component(64)
            .max_memories_per_component(8)
            .max_tables_per_component(32)
            .max_memory_size(usize::try_from(options.max_memory_bytes).unwrap_or(usize::MAX))
            .max_unused_warm_slots(WARM_SLOTS)
            .linear_memory_keep_resident(KEEP_RESIDENT_BYTES)
            .table_keep_resident(1 << 20)
            .async_stack_keep_resident(1 << 20);
        config.allocation_strategy(InstanceAllocationStrategy::Pooling(pool));
    }
    Engine::new(&config)
}

/// The number of epoch ticks a run may last.
pub fn deadline_ticks(timeout: Duration) -> u64 {
    let ticks = timeout.as_nanos().div_ceil(EPOCH_TICK.as_nanos());
    u64::try_from(ticks).unwrap_or(u64::MAX).max(1)
}

/// A thread that advances an engine's epoch every [`EPOCH_TICK`] until dropped.
pub struct EpochTicker {
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<()>>,
}

impl EpochTicker {
    /// Starts ticking `engine`.
    pub fn start(engine: &Engine) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let engine = engine.clone();
        let thread = std::thread::Builder::new()
            .name("hookbox-epoch".into())
            .spawn({
                let stop = stop.clone();
                move || {
                    while !stop.load(Ordering::Relaxed) {
                        std::thread::sleep(EPOCH_TICK);
                        engine.increment_epoch();
                    }
                }
            })
            .expect("spawning the epoch ticker thread");
        EpochTicker {
            stop,
            thread: Some(thread),
        }
    }
}

impl Drop for EpochTicker {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        if let Some(thread) = self.thread.take() {
            let _ = thread.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deadlines_round_up_to_whole_ticks() {
        assert_eq!(deadline_ticks(Duration::from_millis(1)), 1);
        assert_eq!(deadline_ticks(Duration::from_millis(10)), 2);
        assert_eq!(deadline_ticks(Duration::from_millis(11)), 3);
        assert_eq!(deadline_ticks(Duration::ZERO), 1);
    }
}
