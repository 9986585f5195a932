//! Hooks' compiled code, kept by the host so a hook's source is compiled once
//! per content, not once per run.
//!
//! The host read the hook's source when it checked the file; the runner asks
//! [`RunCodeCache::hook_source`] for that source and any code kept for it,
//! and on a miss compiles it and hands the marshalled code to
//! [`RunCodeCache::store`], before any of the hook's own code runs. The key
//! is computed here, from the runner, the path and the source the host read
//! (SHA-256): a guest names no key, so it can neither plant code for another
//! source nor (asking once, storing once) change what its own source runs as
//! next time; and code compiled on a runner snapshot with a folder's packages
//! imported is never handed to a run on another runner (once the packages
//! changed, say), whatever those packages did to the compiling run.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, Mutex};

/// Most compiled hooks kept.
const MAX_ENTRIES: usize = 256;
/// Most bytes of compiled code kept in all.
const MAX_BYTES: usize = 32 * 1024 * 1024;
/// Largest compiled hook kept.
const MAX_ENTRY_BYTES: usize = 4 * 1024 * 1024;

/// The key of a hook's code: SHA-256 of the runner's identity, a zero byte,
/// its path in the sandbox, a zero byte and its source.
type Digest = [u8; 32];

/// The compiled hooks of one runtime, shared by its runs; oldest out first.
#[derive(Debug, Default)]
pub struct CodeCache {
    entries: Mutex<Entries>,
}

#[derive(Debug, Default)]
struct Entries {
    code: HashMap<Digest, Arc<Vec<u8>>>,
    order: VecDeque<Digest>,
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

    fn get(&self, digest: &Digest) -> Option<Arc<Vec<u8>>> {
        self.entries.lock().unwrap().code.get(digest).cloned()
    }

    fn put(&self, digest: Digest, code: Vec<u8>) {
        if code.is_empty() || code.len() > MAX_ENTRY_BYTES {
            return;
        }
        let mut entries = self.entries.lock().unwrap();
        if entries.code.contains_key(&digest) {
            return;
        }
        entries.bytes += code.len();
        entries.order.push_back(digest);
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
    hook: Option<(Digest, Arc<[u8]>)>,
    state: RunState,
}

#[derive(Debug, PartialEq, Eq)]
enum RunState {
    /// Nothing asked yet.
    Fresh,
    /// The cache had no code for the hook; it may be stored once.
    Missed,
    /// Asked and answered (or stored): nothing more is taken.
    Closed,
}

impl RunCodeCache {
    /// A run's view of `cache`, for the Python hook at `guest_path` (its
    /// path in the sandbox) whose checked source is `source`, run on the
    /// runner named `runner`; `None` for a run that has no Python hook.
    pub fn new(cache: Arc<CodeCache>, hook: Option<(&str, &str, &Arc<[u8]>)>) -> RunCodeCache {
        let hook = hook.map(|(runner, guest_path, source)| {
            let keyed = [
                runner.as_bytes(),
                b"\0",
                guest_path.as_bytes(),
                b"\0",
                source,
            ]
            .concat();
            (hookbox_crypto::digest::sha256(&keyed), source.clone())
        });
        RunCodeCache {
            cache,
            hook,
            state: RunState::Fresh,
        }
    }

    /// The hook's source, and the code kept for it: answered for the run's
    /// first question only (the runner asks once, before the hook runs; a
    /// later question gets nothing, so asking costs the host no copies).
    pub fn hook_source(&mut self) -> (Vec<u8>, Option<Vec<u8>>) {
        let asked_before = self.state != RunState::Fresh;
        let Some((digest, source)) = self.hook.as_ref().filter(|_| !asked_before) else {
            self.state = RunState::Closed;
            return (Vec::new(), None);
        };
        let code = self.cache.get(digest);
        self.state = match code {
            None => RunState::Missed,
            Some(_) => RunState::Closed,
        };
        (source.to_vec(), code.map(|code| code.as_ref().clone()))
    }

    /// Keeps `code` for the hook if the run asked and missed, and stored
    /// nothing yet.
    pub fn store(&mut self, code: Vec<u8>) {
        let state = std::mem::replace(&mut self.state, RunState::Closed);
        if let (RunState::Missed, Some((digest, _))) = (state, &self.hook) {
            self.cache.put(*digest, code);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn source(text: &str) -> Arc<[u8]> {
        Arc::from(text.as_bytes())
    }

    fn run(cache: &Arc<CodeCache>, path: &str, text: &str) -> RunCodeCache {
        on(cache, "runner", path, text)
    }

    fn on(cache: &Arc<CodeCache>, runner: &str, path: &str, text: &str) -> RunCodeCache {
        RunCodeCache::new(cache.clone(), Some((runner, path, &source(text))))
    }

    #[test]
    fn a_miss_then_a_store_serves_the_next_run_of_the_same_source() {
        let cache = Arc::new(CodeCache::default());
        let mut first = run(&cache, "/hook/a.py", "print(1)");
        assert_eq!(first.hook_source(), (b"print(1)".to_vec(), None));
        first.store(b"code".to_vec());
        let mut second = run(&cache, "/hook/a.py", "print(1)");
        assert_eq!(second.hook_source().1, Some(b"code".to_vec()));
        let mut edited = run(&cache, "/hook/a.py", "print(2)");
        assert_eq!(edited.hook_source().1, None, "another source");
        let mut moved = run(&cache, "/hook/b.py", "print(1)");
        assert_eq!(moved.hook_source().1, None, "another path");
        let mut snapshot = on(&cache, "runner-with-packages", "/hook/a.py", "print(1)");
        assert_eq!(snapshot.hook_source().1, None, "another runner");
    }

    #[test]
    fn a_run_stores_only_after_a_miss_and_only_once() {
        let cache = Arc::new(CodeCache::default());
        let mut unasked = run(&cache, "/hook/a.py", "x");
        unasked.store(b"planted".to_vec());
        assert!(cache.is_empty(), "a store before asking");

        let mut once = run(&cache, "/hook/a.py", "x");
        once.hook_source();
        once.store(b"mine".to_vec());
        once.store(b"changed".to_vec());
        assert_eq!(
            run(&cache, "/hook/a.py", "x").hook_source().1,
            Some(b"mine".to_vec())
        );
    }

    #[test]
    fn only_the_first_question_is_answered() {
        let cache = Arc::new(CodeCache::default());
        let mut first = run(&cache, "/hook/a.py", "x");
        first.hook_source();
        first.store(b"one".to_vec());
        let mut again = run(&cache, "/hook/a.py", "x");
        assert!(again.hook_source().1.is_some());
        assert_eq!(
            again.hook_source(),
            (Vec::new(), None),
            "nothing, not even the source"
        );
        let mut twice = run(&cache, "/hook/b.py", "y");
        twice.hook_source();
        twice.hook_source();
        twice.store(b"late".to_vec());
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_run_without_a_python_hook_gets_nothing_and_stores_nothing() {
        let cache = Arc::new(CodeCache::default());
        let mut none = RunCodeCache::new(cache.clone(), None);
        assert_eq!(none.hook_source(), (Vec::new(), None));
        none.store(b"x".to_vec());
        assert!(cache.is_empty());
    }

    #[test]
    fn the_oldest_entries_go_first() {
        let cache = CodeCache::default();
        let key = |i: usize| {
            let mut digest = [0; 32];
            digest[0] = (i % 256) as u8;
            digest[1] = (i / 256) as u8;
            digest
        };
        for i in 0..=MAX_ENTRIES {
            cache.put(key(i), vec![1]);
        }
        assert_eq!(cache.len(), MAX_ENTRIES);
        assert!(cache.get(&key(0)).is_none());
    }
}
