//! One sandbox per run: a fresh wasmtime `Store` holding the run's WASI
//! context, its egress gate, its output captures and its memory accountant.
//!
//! - [`limits`]: the limits and the memory accountant;
//! - [`wasi`]: what of the host a hook can see;
//! - [`code_cache`]: hooks' compiled code, kept per content;
//! - [`egress`]: the one place outgoing network access is decided;
//! - [`output`]: capped stdout/stderr capture;
//! - [`scratch`]: the run's private, capped `/tmp`;
//! - [`teardown`]: finished stores dropped off the run's path.

pub mod code_cache;
pub mod egress;
pub mod limits;
pub mod output;
pub mod preload;
pub mod scratch;
pub mod teardown;
pub mod wasi;

use wasmtime::component::{Linker, ResourceTable};
use wasmtime::{Engine, Store, StoreContextMut, Trap};
use wasmtime_wasi::{I32Exit, WasiCtx, WasiCtxView, WasiView};
use wasmtime_wasi_http::{WasiHttpCtx, WasiHttpCtxView, WasiHttpView};

use code_cache::{CodeCache, RunCodeCache};
use egress::EgressGate;
use egress::policy::EgressPolicy;
use hookbox_crypto::tls::TlsSettings;
use hookbox_record::RunStatus;
use limits::{Limits, MemoryAccountant};
use output::CappedOutput;

/// Most WASI resources (open files, sockets, streams, pollables, HTTP
/// requests) a run may hold at once: each open file and socket is a host
/// descriptor, and one run must not take the service's.
pub const MAX_RESOURCES: usize = 1024;

/// The state a run's `Store` owns.
pub struct SandboxState {
    wasi: WasiCtx,
    http: WasiHttpCtx,
    table: ResourceTable,
    egress: EgressGate,
    memory: MemoryAccountant,
    code: RunCodeCache,
    /// The cap on the scratch folder's writes, when the run has one.
    scratch: Option<scratch::ScratchQuota>,
    /// The scratch folder itself, removed when the store is dropped.
    _scratch_dir: Option<scratch::Scratch>,
}

impl WasiView for SandboxState {
    fn ctx(&mut self) -> WasiCtxView<'_> {
        WasiCtxView {
            ctx: &mut self.wasi,
            table: &mut self.table,
        }
    }
}

impl WasiHttpView for SandboxState {
    fn http(&mut self) -> WasiHttpCtxView<'_> {
        WasiHttpCtxView {
            ctx: &mut self.http,
            table: &mut self.table,
            hooks: &mut self.egress,
        }
    }
}

/// The names of hookbox's own interfaces in the runner's world.
const EGRESS_INTERFACE: &str = "hookbox:runner/egress@0.1.0";
const CODE_INTERFACE: &str = "hookbox:runner/code@0.1.0";
/// hookbox's process interface (`guest-sdk/wit/hookbox.wit`).
const PROCESS_INTERFACE: &str = "hookbox:runner/process@0.1.0";

/// Adds what a compiled hook may import to `linker`: WASI 0.2, outgoing
/// HTTP (through the egress gate) and hookbox's egress interface. Nothing
/// else: the runner's `code` and `process` interfaces are the runner's own.
pub fn add_to_hook_linker(linker: &mut Linker<SandboxState>) -> wasmtime::Result<()> {
    wasmtime_wasi::p2::add_to_linker_async(linker)?;
    wasmtime_wasi_http::p2::add_only_http_to_linker_async(linker)?;
    add_http_handle(linker)?;
    add_egress(linker)?;
    add_tcp_connect(linker)?;
    add_tcp_after_reset(linker)?;
    add_udp_send(linker)?;
    scratch::add_to_linker(linker)
}

/// Adds what the Python runner imports to `linker`: everything a compiled
/// hook gets, plus the hook's compiled code (`code`, keyed by the host from
/// the source it read) and `process`.
pub fn add_to_runner_linker(linker: &mut Linker<SandboxState>) -> wasmtime::Result<()> {
    add_to_hook_linker(linker)?;
    linker.instance(PROCESS_INTERFACE)?.func_wrap(
        "exit",
        |_store: StoreContextMut<'_, SandboxState>, (code,): (u8,)| -> wasmtime::Result<()> {
            Err(I32Exit(code.into()).into())
        },
    )?;
    let mut code = linker.instance(CODE_INTERFACE)?;
    code.func_wrap(
        "hook-source",
        |mut store: StoreContextMut<'_, SandboxState>, (): ()| {
            Ok((store.data_mut().code.hook_source(),))
        },
    )?;
    code.func_wrap(
        "store",
        |mut store: StoreContextMut<'_, SandboxState>, (code,): (Vec<u8>,)| {
            store.data_mut().code.store(code);
            Ok(())
        },
    )?;
    preload::add_to_run_linker(linker)
}

/// hookbox's egress interface: why a request was refused, how a URL may be
/// shown, TLS on a raw connection and name lookups for socket rules.
fn add_egress(linker: &mut Linker<SandboxState>) -> wasmtime::Result<()> {
    let mut egress = linker.instance(EGRESS_INTERFACE)?;
    egress.func_wrap(
        "last-denial",
        |store: StoreContextMut<'_, SandboxState>, (): ()| Ok((store.data().egress.last_denial(),)),
    )?;
    egress.func_wrap(
        "verify-next-request",
        |mut store: StoreContextMut<'_, SandboxState>, (verify,): (bool,)| {
            store.data_mut().egress.verify_next_request(verify);
            Ok(())
        },
    )?;
    egress.func_wrap(
        "identify-next-request",
        |mut store: StoreContextMut<'_, SandboxState>,
         (identity,): (Option<egress::tls_session::ClientIdentity>,)| {
            store.data_mut().egress.identify_next_request(identity);
            Ok(())
        },
    )?;
    egress.func_wrap(
        "shown-url",
        |store: StoreContextMut<'_, SandboxState>, (url,): (String,)| {
            Ok((store.data().egress.shown_url(&url),))
        },
    )?;
    egress.func_wrap_async(
        "start-tls",
        |store: StoreContextMut<'_, SandboxState>,
         (port, server_name, verify, identity): (
            u16,
            String,
            bool,
            Option<egress::tls_session::ClientIdentity>,
        )| {
            let upgrade = store
                .data()
                .egress
                .start_tls(port, server_name, verify, identity);
            Box::new(async move { Ok((upgrade.await,)) })
        },
    )?;
    egress.func_wrap_async(
        "resolve",
        |store: StoreContextMut<'_, SandboxState>, (name,): (String,)| {
            let lookup = store.data().egress.resolve(name);
            Box::new(async move { Ok((lookup.await,)) })
        },
    )?;
    Ok(())
}

/// Defines, with `define`, functions of `instance` in `linker` in place of
/// those wasmtime-wasi (or wasmtime-wasi-http) defined.
fn shadowing(
    linker: &mut Linker<SandboxState>,
    instance: &str,
    define: impl FnOnce(
        &mut wasmtime::component::LinkerInstance<'_, SandboxState>,
    ) -> wasmtime::Result<()>,
) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let defined = linker
        .instance(instance)
        .and_then(|mut instance| define(&mut instance));
    linker.allow_shadowing(false);
    defined
}

/// The `wasi:sockets` version wasmtime-wasi defines (guests importing any
/// 0.2.x version are linked to it).
const WASI_SOCKETS_TCP: &str = "wasi:sockets/tcp@0.2.12";

/// Puts the egress gate in front of `tcp-socket.start-connect`: the gate
/// decides, and the hook's socket connects to where the gate says (a live
/// relay or the recording receiver); the socket check then lets only those
/// addresses through.
fn add_tcp_connect(linker: &mut Linker<SandboxState>) -> wasmtime::Result<()> {
    use wasmtime::component::Resource;
    use wasmtime_wasi::p2::bindings::sockets::network::{IpSocketAddress, Network};
    use wasmtime_wasi::p2::bindings::sockets::tcp::HostTcpSocket;
    use wasmtime_wasi::sockets::WasiSocketsView;

    shadowing(linker, WASI_SOCKETS_TCP, |tcp| {
        tcp.func_wrap_async(
            "[method]tcp-socket.start-connect",
            |mut store: StoreContextMut<'_, SandboxState>,
             (socket, network, remote): (
                Resource<wasmtime_wasi::p2::TcpSocket>,
                Resource<Network>,
                IpSocketAddress,
            )| {
                let target = store.data().egress.connect_target(remote.into());
                Box::new(async move {
                    let target = match target.await {
                        Ok(target) => target,
                        Err(refused) => return Ok((Err(refused),)),
                    };
                    let started =
                        store
                            .data_mut()
                            .sockets()
                            .start_connect(socket, network, target.into());
                    match started {
                        Ok(()) => Ok((Ok(()),)),
                        Err(error) => Ok((Err(error.downcast()?),)),
                    }
                })
            },
        )
    })
}

/// Says "connection reset" where wasmtime-wasi says `invalid-state` for a
/// connection the peer reset (`getpeername` and `shutdown` then fail with
/// `ENOTCONN`): the guest's C library checked the socket is connected
/// before asking, takes `invalid-state` for its own bug and aborts the
/// interpreter, and the hook's own failure would look like hookbox's.
fn add_tcp_after_reset(linker: &mut Linker<SandboxState>) -> wasmtime::Result<()> {
    use wasmtime::component::Resource;
    use wasmtime_wasi::p2::SocketError;
    use wasmtime_wasi::p2::bindings::sockets::network::ErrorCode;
    use wasmtime_wasi::p2::bindings::sockets::tcp::{HostTcpSocket, ShutdownType};
    use wasmtime_wasi::sockets::WasiSocketsView;

    fn after_reset<T>(result: Result<T, SocketError>) -> wasmtime::Result<(Result<T, ErrorCode>,)> {
        match result {
            Ok(value) => Ok((Ok(value),)),
            Err(error) => match error.downcast()? {
                ErrorCode::InvalidState => Ok((Err(ErrorCode::ConnectionReset),)),
                code => Ok((Err(code),)),
            },
        }
    }

    shadowing(linker, WASI_SOCKETS_TCP, |tcp| {
        tcp.func_wrap(
            "[method]tcp-socket.remote-address",
            |mut store: StoreContextMut<'_, SandboxState>,
             (socket,): (Resource<wasmtime_wasi::p2::TcpSocket>,)| {
                after_reset(store.data_mut().sockets().remote_address(socket))
            },
        )
        .and_then(|()| {
            tcp.func_wrap(
                    "[method]tcp-socket.shutdown",
                    |mut store: StoreContextMut<'_, SandboxState>,
                     (socket, how): (Resource<wasmtime_wasi::p2::TcpSocket>, ShutdownType)| {
                        after_reset(store.data_mut().sockets().shutdown(socket, how))
                    },
                )
        })
    })
}

/// The `wasi:http` version wasmtime-wasi-http defines.
const WASI_HTTP_OUTGOING_HANDLER: &str = "wasi:http/outgoing-handler@0.2.12";

/// Drops the request options a hook hands over with each request:
/// wasmtime-wasi-http's `handle` reads them but leaves them in the run's
/// resource table, so every request with a timeout held one more of the
/// run's resources until it could open no more (about 1,000 requests).
fn add_http_handle(linker: &mut Linker<SandboxState>) -> wasmtime::Result<()> {
    use wasmtime::component::Resource;
    use wasmtime_wasi_http::p2::bindings::http::outgoing_handler::Host;
    use wasmtime_wasi_http::p2::bindings::http::types::{ErrorCode, RequestOptions};
    use wasmtime_wasi_http::p2::types::{HostFutureIncomingResponse, HostOutgoingRequest};

    shadowing(linker, WASI_HTTP_OUTGOING_HANDLER, |handler| {
        handler.func_wrap(
            "handle",
            |mut store: StoreContextMut<'_, SandboxState>,
             (request, options): (
                Resource<HostOutgoingRequest>,
                Option<Resource<RequestOptions>>,
            )|
             -> wasmtime::Result<(Result<Resource<HostFutureIncomingResponse>, ErrorCode>,)> {
                let handed_over = options.as_ref().map(|options| options.rep());
                let mut http = store.data_mut().http();
                let handled = http.handle(request, options);
                if let Some(rep) = handed_over {
                    let _ = http.table.delete(Resource::<RequestOptions>::new_own(rep));
                }
                match handled {
                    Ok(future) => Ok((Ok(future),)),
                    Err(error) => Ok((Err(error.downcast()?),)),
                }
            },
        )
    })
}

/// The `wasi:sockets/udp` version wasmtime-wasi defines.
const WASI_SOCKETS_UDP: &str = "wasi:sockets/udp@0.2.12";

/// Puts the gate's datagram sizes in front of `outgoing-datagram-stream.send`:
/// the socket check of each datagram (made inside `send`, in order) then
/// records its size with its destination.
fn add_udp_send(linker: &mut Linker<SandboxState>) -> wasmtime::Result<()> {
    use wasmtime::component::Resource;
    use wasmtime_wasi::p2::bindings::sockets::udp::{
        HostOutgoingDatagramStream, OutgoingDatagram, OutgoingDatagramStream,
    };
    use wasmtime_wasi::sockets::WasiSocketsView;

    shadowing(linker, WASI_SOCKETS_UDP, |udp| {
        udp.func_wrap(
            "[method]outgoing-datagram-stream.send",
            |mut store: StoreContextMut<'_, SandboxState>,
             (stream, datagrams): (Resource<OutgoingDatagramStream>, Vec<OutgoingDatagram>)| {
                store
                    .data()
                    .egress
                    .sending_datagrams(datagrams.iter().map(|d| d.data.len() as u64));
                let sent = store.data_mut().sockets().send(stream, datagrams);
                // Sizes of datagrams that were not sent are no one's.
                store.data().egress.sending_datagrams([]);
                match sent {
                    Ok(count) => Ok((Ok(count),)),
                    Err(error) => Ok((Err(error.downcast()?),)),
                }
            },
        )
    })
}

/// Fuel between two yields of a running hook to the async executor (a few
/// milliseconds of busy CPU): the most a stopped hook's fuel count can miss.
const FUEL_YIELD_INTERVAL: u64 = 10_000_000;

/// A store ready to instantiate a hook in, with handles on what it captures.
pub struct Sandbox {
    /// The fresh store, with fuel, deadline and memory limits applied.
    pub store: Store<SandboxState>,
    /// The hook's stdout capture.
    pub stdout: CappedOutput,
    /// The hook's stderr capture.
    pub stderr: CappedOutput,
    fuel: u64,
}

/// What the hook's input and host view are, for [`Sandbox::new`].
pub struct SandboxSpec<'a> {
    /// The host directory holding the hook.
    pub hook_dir: &'a std::path::Path,
    /// The hook's file name.
    pub hook_file_name: &'a str,
    /// Arguments after the hook's path.
    pub args: &'a [String],
    /// The Python runner's files and the hook's checked source, for Python
    /// hooks.
    pub python: Option<(wasi::PythonFiles<'a>, &'a std::sync::Arc<[u8]>)>,
    /// The event JSON.
    pub payload: &'a str,
    /// Extra environment variables.
    pub env: &'a [(String, String)],
    /// The limits to apply.
    pub limits: &'a Limits,
    /// Epoch ticks until the wall-clock deadline.
    pub deadline_ticks: u64,
    /// When the run must be over (bounds every network wait too).
    pub deadline: tokio::time::Instant,
    /// Where the hook may connect.
    pub policy: std::sync::Arc<EgressPolicy>,
    /// The operator's client certificates for destinations.
    pub identities: std::sync::Arc<egress::operator_identity::OperatorIdentities>,
    /// Whether what the policy allows reaches the network or is recorded.
    pub egress_mode: &'a egress::recording::EgressMode,
    /// TLS settings for HTTPS.
    pub tls: std::sync::Arc<TlsSettings>,
    /// Hooks' compiled code, shared by the runtime's runs.
    pub code_cache: std::sync::Arc<CodeCache>,
    /// Which runner the hook runs on (the shipped one, or a snapshot of it
    /// with a folder's packages imported); code kept for a hook is handed
    /// only to runs on the runner that compiled it.
    pub runner_identity: &'a str,
    /// Which URLs are recorded with their path masked.
    pub url_masks: std::sync::Arc<egress::mask::UrlMasks>,
    /// The secrets the host injects into the hook's HTTP requests.
    pub secrets: std::sync::Arc<egress::inject::SecretInjection>,
    /// The operator's CA bundle, where hooks see it.
    pub ca_bundle: Option<&'a wasi::CaBundleView>,
    /// Whether the run gets a scratch folder (hookbox's own compile runs,
    /// which write into mounts of their own, do not).
    pub scratch: bool,
}

impl Sandbox {
    /// Creates the store of one run.
    pub fn new(engine: &Engine, spec: SandboxSpec<'_>) -> wasmtime::Result<Sandbox> {
        let stdout = CappedOutput::new(spec.limits.output_bytes);
        let stderr = CappedOutput::new(spec.limits.output_bytes);
        let egress = EgressGate::new(
            spec.policy,
            spec.identities,
            spec.egress_mode,
            spec.tls,
            stderr.clone(),
            spec.deadline,
            spec.limits.http_body_bytes,
            spec.url_masks,
            spec.secrets,
        );
        let scratch = if spec.scratch {
            Some(scratch::Scratch::new(
                spec.limits.scratch_bytes,
                stderr.clone(),
            )?)
        } else {
            None
        };
        let wasi = wasi::build(wasi::WasiSpec {
            hook_dir: spec.hook_dir,
            hook_file_name: spec.hook_file_name,
            args: spec.args,
            python: spec.python.map(|(files, _)| files),
            payload: spec.payload,
            env: spec.env,
            stdout: stdout.clone(),
            stderr: stderr.clone(),
            sockets: egress.socket_check(),
            ca_bundle: spec.ca_bundle,
            scratch: scratch.as_ref().map(scratch::Scratch::host_dir),
        })?;
        let state = SandboxState {
            wasi,
            http: WasiHttpCtx::new(),
            table: {
                let mut table = ResourceTable::new();
                table.set_max_capacity(MAX_RESOURCES);
                table
            },
            egress,
            memory: MemoryAccountant::new(spec.limits.memory_bytes),
            code: RunCodeCache::new(
                spec.code_cache,
                spec.python
                    .map(|(_, source)| (wasi::hook_guest_path(spec.hook_file_name), source))
                    .as_ref()
                    .map(|(path, source)| (spec.runner_identity, path.as_str(), *source)),
            ),
            scratch: scratch.as_ref().map(scratch::Scratch::quota),
            _scratch_dir: scratch,
        };
        let mut store = Store::new(engine, state);
        store.limiter(|state| &mut state.memory);
        store.set_fuel(spec.limits.fuel)?;
        // Compiled code keeps its fuel count in a register and writes it
        // back only at calls and yields, not when the deadline stops it: a
        // yield every FUEL_YIELD_INTERVAL units keeps the store's count (and
        // so the record of a hook the wall clock stopped) that close.
        store.fuel_async_yield_interval(Some(FUEL_YIELD_INTERVAL))?;
        store.set_epoch_deadline(spec.deadline_ticks);
        store.epoch_deadline_trap();
        Ok(Sandbox {
            store,
            stdout,
            stderr,
            fuel: spec.limits.fuel,
        })
    }

    /// Fuel the run has used so far.
    pub fn fuel_consumed(&self) -> u64 {
        self.fuel
            .saturating_sub(self.store.get_fuel().unwrap_or(self.fuel))
    }

    /// The most linear memory the run held at once.
    pub fn peak_memory(&self) -> u64 {
        self.store.data().memory.peak()
    }

    /// What the run wrote to its scratch folder, as its cap counts it.
    pub fn scratch_written(&self) -> u64 {
        self.store
            .data()
            .scratch
            .as_ref()
            .map_or(0, scratch::ScratchQuota::written)
    }

    /// Whether the memory limit refused a growth during the run.
    pub fn memory_refused(&self) -> bool {
        self.store.data().memory.refused()
    }

    /// Ends the sandbox (closing every connection the hook left open; on the
    /// teardown thread if `in_background`) and returns its recorded egress
    /// attempts and how many more were made, once the recording receiver, if
    /// any, has seen everything sent.
    pub async fn finish_egress(
        self,
        in_background: bool,
    ) -> (Vec<hookbox_record::EgressAttempt>, u64) {
        let log = self.store.data().egress.log();
        let settled = self.store.data().egress.settled();
        if in_background {
            teardown::release(self.store);
        } else {
            drop(self.store);
        }
        settled.await;
        (log.attempts(), log.unrecorded())
    }
}

/// What a hook that exhausted its stack is told on stderr and the record
/// says (`python3` raises `RecursionError` there).
pub const STACK_EXHAUSTED: &str = "RecursionError: maximum recursion depth exceeded \
     (the hook's call stack ran out and the sandbox stopped it)";

/// How a call into the guest ended, before limits are taken into account.
#[derive(Debug)]
pub enum CallEnd {
    /// The hook returned or exited with this code.
    Exited(i32),
    /// The guest trapped or the host failed.
    Failed(wasmtime::Error),
    /// The wall clock ran out while the guest waited in a host call.
    DeadlinePassed,
}

impl CallEnd {
    /// What the hook is told on stderr when the sandbox stopped it for
    /// something it did itself (as `python3` would report it), if so.
    pub fn hooks_own_fault(&self) -> Option<String> {
        let CallEnd::Failed(error) = self else {
            return None;
        };
        if error.downcast_ref::<Trap>() == Some(&Trap::StackOverflow) {
            return Some(STACK_EXHAUSTED.to_owned());
        }
        let table_full = error.chain().any(|cause| {
            matches!(
                cause.downcast_ref::<wasmtime::component::ResourceTableError>(),
                Some(wasmtime::component::ResourceTableError::Full)
            )
        });
        table_full.then(|| {
            format!(
                "OSError: too many open files: the hook held more than {MAX_RESOURCES} host \
                 resources (files, sockets, streams) at once and the sandbox stopped it"
            )
        })
    }
}

/// Classifies a finished call into a status, exit code and error message.
pub fn classify(
    end: CallEnd,
    memory_refused: bool,
    limits: &Limits,
) -> (RunStatus, Option<i32>, Option<String>) {
    let timeout = || {
        format!(
            "the hook ran past its wall-clock limit of {} and was stopped",
            humantime::format_duration(limits.timeout)
        )
    };
    let memory = || {
        format!(
            "the hook ran out of memory: the {} memory limit refused to grow it",
            hookbox_core::units::format_bytes(limits.memory_bytes)
        )
    };
    // Recursion in C code (a deeply nested `json.loads`) that ran past the
    // stack before CPython's own check, or resources held without end: the
    // hook's failure, as `RecursionError` or `OSError` is under `python3`.
    if let Some(fault) = end.hooks_own_fault() {
        return (RunStatus::Failed, Some(1), Some(fault));
    }
    match end {
        CallEnd::Exited(0) => (RunStatus::Ok, Some(0), None),
        CallEnd::Exited(code) if memory_refused => {
            (RunStatus::MemoryExceeded, Some(code), Some(memory()))
        }
        CallEnd::Exited(code) => (RunStatus::Failed, Some(code), None),
        CallEnd::DeadlinePassed => (RunStatus::Timeout, None, Some(timeout())),
        CallEnd::Failed(error) => {
            if let Some(exit) = error.downcast_ref::<I32Exit>() {
                return classify(CallEnd::Exited(exit.0), memory_refused, limits);
            }
            match error.downcast_ref::<Trap>() {
                Some(Trap::OutOfFuel) => (
                    RunStatus::FuelExhausted,
                    None,
                    Some(format!(
                        "the hook used up its fuel budget of {} units and was stopped",
                        limits.fuel
                    )),
                ),
                Some(Trap::Interrupt) => (RunStatus::Timeout, None, Some(timeout())),

                _ if memory_refused => (
                    RunStatus::MemoryExceeded,
                    None,
                    Some(format!("{} ({error:#})", memory())),
                ),
                _ => (
                    RunStatus::Error,
                    None,
                    Some(format!("the sandbox stopped the hook: {error:#}")),
                ),
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The egress gate replaces wasmtime-wasi's `start-connect` by name: a
    /// wasmtime-wasi that defines another `wasi:sockets` version would leave
    /// the original in place, so the name must match exactly.
    #[test]
    fn the_shadowed_sockets_interfaces_are_the_ones_wasmtime_wasi_defines() {
        let engine = Engine::default();
        let mut linker = Linker::<SandboxState>::new(&engine);
        wasmtime_wasi::p2::add_to_linker_async(&mut linker).unwrap();
        let charged = scratch::CHARGED_FUNCTIONS
            .iter()
            .map(|function| (scratch::WASI_FILESYSTEM_TYPES, *function));
        for (interface, function) in [
            (WASI_SOCKETS_TCP, "[method]tcp-socket.start-connect"),
            (WASI_SOCKETS_UDP, "[method]outgoing-datagram-stream.send"),
        ]
        .into_iter()
        .chain(charged)
        {
            let mut instance = linker.instance(interface).unwrap();
            let redefined = instance
                .func_wrap(function, |_: StoreContextMut<'_, SandboxState>, (): ()| {
                    Ok(())
                });
            assert!(
                redefined.is_err(),
                "wasmtime-wasi does not define {interface}: set the constant to the \
                 wasi:sockets version it defines"
            );
        }
    }
}
