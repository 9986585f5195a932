//! Compiled hooks: a `.wasm` hook is a WASI 0.2 command component (a Rust
//! `fn main` built for `wasm32-wasip2`, say). It is compiled once per content
//! through the same on-disk cache as the runner (keyed by the SHA-256 of its
//! bytes: whoever crafts a hook must not be able to collide with another),
//! linked against the compiled-hook world's imports alone (never the
//! runner's own `code` and `process` interfaces), and kept pre-linked in
//! memory for the next run.

use std::collections::HashMap;
use std::sync::Mutex;

use wasmtime::Engine;
use wasmtime::component::Linker;
use wasmtime_wasi::p2::bindings::CommandPre;

use super::cache::ComponentCache;
use hookbox_sandbox::SandboxState;
use hookbox_source::HookFile;

/// Pre-linked hooks kept in memory; past this many the set starts over (a
/// service runs two hooks per repository, a test session a handful).
const MAX_KEPT: usize = 32;

/// Why a compiled hook cannot run.
#[derive(Debug, thiserror::Error)]
pub enum HookComponentError {
    /// The file is not a component wasmtime can compile.
    #[error(
        "hook {path} is not a WebAssembly component: {reason:#} (build it with `cargo build --release --target wasm32-wasip2`)"
    )]
    NotAComponent {
        /// The hook's path.
        path: String,
        /// The compiler's complaint.
        reason: anyhow::Error,
    },
    /// The component needs imports the sandbox does not offer, or is not a
    /// command (no `wasi:cli/run` export).
    #[error(
        "hook {path} cannot run in the sandbox: {reason:#} (a hook is a WASI 0.2 command that may import wasi:cli, wasi:filesystem, wasi:sockets, wasi:http/outgoing-handler and hookbox:runner/egress)"
    )]
    Link {
        /// The hook's path.
        path: String,
        /// The linker's complaint.
        reason: anyhow::Error,
    },
}

/// Compiled hooks, keyed by the SHA-256 of their bytes.
pub struct HookComponents {
    cache: ComponentCache,
    linked: Mutex<HashMap<[u8; 32], CommandPre<SandboxState>>>,
}

impl HookComponents {
    /// Compiled hooks stored in `cache`.
    pub fn new(cache: ComponentCache) -> Self {
        HookComponents {
            cache,
            linked: Mutex::default(),
        }
    }

    /// Forgets every linked hook; each is loaded from the cache when next run.
    pub fn clear(&self) {
        // Dropped after the lock is released: dropping a linked hook
        // releases its memory slots, which takes a while.
        let forgotten = std::mem::take(&mut *self.lock());
        drop(forgotten);
    }

    /// The pre-linked command for `hook`, compiling it (off the async
    /// executor) the first time its content is seen.
    pub async fn get(
        &self,
        engine: &Engine,
        linker: &Linker<SandboxState>,
        hook: &HookFile,
    ) -> Result<CommandPre<SandboxState>, HookComponentError> {
        let path = hook.path();
        let shown = path.display().to_string();
        let bytes = hook.source().bytes().to_vec();
        let hash = hookbox_crypto::digest::sha256(&bytes);
        if let Some(pre) = self.lock().get(&hash) {
            return Ok(pre.clone());
        }
        let (cache, compile_engine) = (self.cache.clone(), engine.clone());
        let compiled = tokio::task::spawn_blocking(move || {
            cache.load_or_compile(&compile_engine, "hook", &hex::encode(hash), &bytes, || {
                Box::new(|| {})
            })
        })
        .await
        .map_err(|e| HookComponentError::NotAComponent {
            path: shown.clone(),
            reason: anyhow::anyhow!("the compile task failed: {e}"),
        })?;
        let (component, _) = compiled.map_err(|e| HookComponentError::NotAComponent {
            path: shown.clone(),
            reason: e.into(),
        })?;
        let link = |reason: wasmtime::Error| HookComponentError::Link {
            path: shown.clone(),
            reason: reason.into(),
        };
        let pre =
            CommandPre::new(linker.instantiate_pre(&component).map_err(link)?).map_err(link)?;
        let forgotten = {
            let mut linked = self.lock();
            let forgotten = match linked.len() >= MAX_KEPT {
                true => std::mem::take(&mut *linked),
                false => HashMap::new(),
            };
            linked.insert(hash, pre.clone());
            forgotten
        };
        // Dropped after the lock is released, as in `clear`.
        drop(forgotten);
        Ok(pre)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<[u8; 32], CommandPre<SandboxState>>> {
        self.linked.lock().unwrap_or_else(|e| e.into_inner())
    }
}

impl hookbox_core::failure::Categorized for HookComponentError {
    fn failure(&self) -> hookbox_core::failure::Failure {
        match self {
            // The hook file the user named is not a usable component.
            HookComponentError::NotAComponent { .. } | HookComponentError::Link { .. } => {
                hookbox_core::failure::Failure::Usage
            }
        }
    }
}
