//! Hooks' compiled code, kept by the host so a hook's source is compiled once
//! per content, not once per run.
//!
//! The runner reads the hook, hashes its path and source, and asks
//! [`RunCodeCache::cached`]; on a miss it compiles and hands the marshalled
//! code to [`RunCodeCache::store`], before any of the hook's own code runs.
//! Each run may ask once and store once, for the digest it asked about, so a
//! hook (which runs only after that) can neither plant code for another
//! source nor change what its own source runs as next time.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// The digests the runner uses (SHA-256).
const DIGEST_BYTES: usize = 32;
/// Most compiled hooks kept.
const MAX_ENTRIES: usize = 256;
/// Most bytes of compiled code kept in all.
const MAX_BYTES: usize = 32 * 1024 * 1024;
/// Largest compiled hook kept.
const MAX_ENTRY_BYTES: usize = 4 * 1024 * 1024;

/// The compiled hooks of one runtime, shared by its runs; oldest out first.
#[derive(Debug, Default)]
pub struct CodeCache {
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    code: HashMap<Vec<u8>, Arc<Vec<u8>>>,
    order: VecDeque<Vec<u8>>,
    bytes: usize,
}

impl CodeCache {
    /// How many compiled hooks are kept.
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap().code.len()
    }

    /// Whether nothing is kept.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn get(&self, digest: &[u8]) -> Option<Arc<Vec<u8>>> {
        self.entries.lock().unwrap().code.get(digest).cloned()
    }

    fn put(&self, digest: Vec<u8>, code: Vec<u8>) {
        if code.is_empty() || code.len() > MAX_ENTRY_BYTES {
            return;
        }
        let mut entries = self.entries.lock().unwrap();
        if entries.code.contains_key(&digest) {
            return;
        }
        entries.bytes += code.len();
        entries.order.push_back(digest.clone());
        entries.code.insert(digest, Arc::new(code));
        while entries.code.len() > MAX_ENTRIES || entries.bytes > MAX_BYTES {
            let Some(oldest) = entries.order.pop_front() else {
                break;
            };
            if let Some(code) = entries.code.remove(&oldest) {
                entries.bytes -= code.len();
            }
        }
    }
}

/// One run's access to the cache: one question, then at most one answer.
#[derive(Debug)]
pub struct RunCodeCache {
    cache: Arc<CodeCache>,
    state: RunState,
}

#[derive(Debug)]
enum RunState {
    /// Nothing asked yet.
    Fresh,
    /// The cache had no code for this digest; it may be stored once.
    Missed(Vec<u8>),
    /// Asked and answered (or stored): nothing more is taken.
    Closed,
}

impl RunCodeCache {
    /// A run's view of `cache`.
    pub fn new(cache: Arc<CodeCache>) -> RunCodeCache {
        RunCodeCache {
            cache,
            state: RunState::Fresh,
        }
    }

    /// The code stored for `digest`, answered for the run's first question only.
    pub fn cached(&mut self, digest: Vec<u8>) -> Option<Vec<u8>> {
        if !matches!(self.state, RunState::Fresh) || digest.len() != DIGEST_BYTES {
            self.state = RunState::Closed;
            return None;
        }
        match self.cache.get(&digest) {
            Some(code) => {
                self.state = RunState::Closed;
                Some(code.as_ref().clone())
            }
            None => {
                self.state = RunState::Missed(digest);
                None
            }
        }
    }

    /// Keeps `code` for `digest` if it is the digest the run asked about and
    /// missed, and nothing was stored yet in this run.
    pub fn store(&mut self, digest: Vec<u8>, code: Vec<u8>) {
        if let RunState::Missed(missed) = std::mem::replace(&mut self.state, RunState::Closed)
            && missed == digest
        {
            self.cache.put(digest, code);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn digest(byte: u8) -> Vec<u8> {
        vec![byte; DIGEST_BYTES]
    }

    #[test]
    fn a_miss_then_a_store_serves_the_next_run() {
        let cache = Arc::new(CodeCache::default());
        let mut first = RunCodeCache::new(cache.clone());
        assert_eq!(first.cached(digest(1)), None);
        first.store(digest(1), b"code".to_vec());
        let mut second = RunCodeCache::new(cache);
        assert_eq!(second.cached(digest(1)), Some(b"code".to_vec()));
    }

    #[test]
    fn a_run_stores_only_the_digest_it_missed_and_only_once() {
        let cache = Arc::new(CodeCache::default());
        let mut run = RunCodeCache::new(cache.clone());
        run.cached(digest(1));
        run.store(digest(2), b"planted".to_vec());
        run.store(digest(1), b"late".to_vec());
        assert!(cache.is_empty());

        let mut run = RunCodeCache::new(cache.clone());
        run.cached(digest(3));
        run.store(digest(3), b"mine".to_vec());
        run.store(digest(3), b"changed".to_vec());
        let mut later = RunCodeCache::new(cache);
        assert_eq!(later.cached(digest(3)), Some(b"mine".to_vec()));
    }

    #[test]
    fn only_the_first_question_is_answered() {
        let cache = Arc::new(CodeCache::default());
        cache.put(digest(1), b"one".to_vec());
        let mut run = RunCodeCache::new(cache.clone());
        assert_eq!(run.cached(digest(2)), None);
        assert_eq!(run.cached(digest(1)), None);
        run.store(digest(2), b"two".to_vec());
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn the_oldest_entries_go_first() {
        let cache = CodeCache::default();
        for i in 0..=MAX_ENTRIES {
            cache.put(
                [vec![(i % 256) as u8, (i / 256) as u8], vec![0; 30]].concat(),
                vec![1],
            );
        }
        assert_eq!(cache.len(), MAX_ENTRIES);
        assert!(cache.get(&[vec![0, 0], vec![0; 30]].concat()).is_none());
    }
}
