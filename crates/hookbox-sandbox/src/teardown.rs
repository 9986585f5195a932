//! Tearing a finished run's store down off the run's own path.
//!
//! Dropping a store closes what the hook left open and hands its instance
//! slot back to the pool, which resets the slot's memory to the snapshot: a
//! copy of the resident part and a release of the rest, most of a
//! millisecond for the Python runner. Nothing of the run's outcome depends
//! on that reset, so one background thread does it while the caller goes on
//! to record the outcome or start the next run. The queue is short: when the
//! thread is behind, the caller drops the store itself, so slots in teardown
//! stay bounded and a burst slows down instead of exhausting the pool.

use std::sync::OnceLock;
use std::sync::mpsc::{Receiver, SyncSender, TrySendError, sync_channel};

use wasmtime::Store;

use super::SandboxState;

/// Stores that may wait for the teardown thread at once. One keeps a run
/// from waiting for the one before it at one run at a time (measured); every
/// store waiting holds a pool slot and its memory, so no more than that.
const QUEUED_STORES: usize = 1;

/// Drops `store` on the teardown thread, or here when that thread is busy
/// with [`QUEUED_STORES`] others or could not be started.
pub fn release(store: Store<SandboxState>) {
    let Some(queue) = queue() else {
        drop(store);
        return;
    };
    match queue.try_send(store) {
        Ok(()) => {}
        Err(TrySendError::Full(store) | TrySendError::Disconnected(store)) => drop(store),
    }
}

fn queue() -> Option<&'static SyncSender<Store<SandboxState>>> {
    static QUEUE: OnceLock<Option<SyncSender<Store<SandboxState>>>> = OnceLock::new();
    QUEUE
        .get_or_init(|| {
            let (sender, receiver) = sync_channel(QUEUED_STORES);
            std::thread::Builder::new()
                .name("hookbox-teardown".into())
                .spawn(move || drain(receiver))
                .inspect_err(|error| {
                    tracing::warn!(%error, "cannot start the teardown thread; stores are dropped inline");
                })
                .ok()
                .map(|_| sender)
        })
        .as_ref()
}

fn drain(stores: Receiver<Store<SandboxState>>) {
    for store in stores {
        drop(store);
    }
}
