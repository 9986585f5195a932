//! The run's scratch folder: `/tmp` inside the sandbox, where `tempfile`
//! and a hook's own temporary files go. Private to the run (a fresh host
//! folder only this run mounts, removed with the run's store), empty at
//! start, and capped by `--max-scratch`.
//!
//! The cap counts what the run writes there, as it writes it: every byte
//! written (also those overwritten or deleted later, and those written to a
//! file already unlinked), every byte a file grows by (`truncate` past its
//! end, a write past its end: sparse sizes count in full) and
//! [`ENTRY_BYTES`] for each file, folder or link created, so a flood of
//! empty files stops too. Nothing is given back: the count only grows, so
//! no deletion, rename or path the host cannot walk hides a byte from it,
//! and the host never has to look at the folder. A refused write fails
//! with `ENOSPC` ("No space left on device", or "I/O error" where the
//! guest's C library maps a stream error so), as on a full disk, and the
//! hook's stderr says which limit it was.
//!
//! The counting sits in front of `wasi:filesystem`'s writes
//! ([`add_to_linker`]); in a hook's run the scratch folder is the only
//! writable mount, so every write is a scratch write. hookbox's own compile
//! runs, which write bytecode into mounts of their own, have no scratch
//! folder and are not counted.

use std::io;
use std::path::Path;
use std::sync::{Arc, Mutex};

use bytes::Bytes;
use wasmtime::StoreContextMut;
use wasmtime::component::{Linker, Resource};
use wasmtime_wasi::filesystem::WasiFilesystemView;
use wasmtime_wasi::p2::bindings::filesystem::types::{
    Descriptor, DescriptorFlags, ErrorCode, HostDescriptor, OpenFlags, PathFlags,
};
use wasmtime_wasi::p2::{DynOutputStream, OutputStream, Pollable, StreamError, StreamResult};

use super::SandboxState;
use super::output::CappedOutput;

/// Where the scratch folder appears inside the sandbox.
pub const SCRATCH_DIR_GUEST: &str = "/tmp";

/// What each file, folder or link in the scratch folder counts for besides
/// its contents (a file system block).
pub const ENTRY_BYTES: u64 = 4096;

/// The scratch folder of one run and the count of what is written to it.
#[derive(Debug)]
pub struct Scratch {
    dir: tempfile::TempDir,
    quota: ScratchQuota,
}

impl Scratch {
    /// A fresh, empty scratch folder to which a run may write `cap` bytes;
    /// the cap's refusals are explained on `stderr`.
    pub fn new(cap: u64, stderr: CappedOutput) -> io::Result<Scratch> {
        let dir = tempfile::Builder::new()
            .prefix("hookbox-scratch-")
            .tempdir()?;
        let quota = ScratchQuota(Arc::new(Mutex::new(Usage {
            cap,
            written: 0,
            refused: false,
            stderr,
        })));
        Ok(Scratch { dir, quota })
    }

    /// The host folder mounted at [`SCRATCH_DIR_GUEST`].
    pub fn host_dir(&self) -> &Path {
        self.dir.path()
    }

    /// The cap's accountant, for the run's state.
    pub fn quota(&self) -> ScratchQuota {
        self.quota.clone()
    }
}

/// Charges writes to the scratch folder against its cap.
#[derive(Debug, Clone)]
pub struct ScratchQuota(Arc<Mutex<Usage>>);

#[derive(Debug)]
struct Usage {
    cap: u64,
    written: u64,
    refused: bool,
    stderr: CappedOutput,
}

impl ScratchQuota {
    /// Takes `bytes` more from the cap, or refuses with `ENOSPC` when they
    /// do not fit.
    pub fn charge(&self, bytes: u64) -> io::Result<()> {
        let mut usage = self.0.lock().unwrap_or_else(|e| e.into_inner());
        if usage.written.saturating_add(bytes) > usage.cap {
            if !usage.refused {
                usage.refused = true;
                usage.stderr.write_line(&format!(
                    "hookbox: the scratch folder {SCRATCH_DIR_GUEST} is full: a run may write \
                     {} bytes there (--max-scratch; every byte written counts, also those \
                     deleted later, and {ENTRY_BYTES} bytes for each file or folder)",
                    usage.cap
                ));
            }
            return Err(io::Error::from_raw_os_error(libc::ENOSPC));
        }
        usage.written += bytes;
        Ok(())
    }

    /// What the run wrote to the folder, as the cap counts it.
    pub fn written(&self) -> u64 {
        self.0.lock().unwrap_or_else(|e| e.into_inner()).written
    }
}

/// An output stream into a scratch file whose writes are charged first.
struct Charged {
    inner: DynOutputStream,
    quota: ScratchQuota,
}

fn refused(error: io::Error) -> StreamError {
    StreamError::LastOperationFailed(wasmtime::Error::from(error))
}

#[async_trait::async_trait]
impl Pollable for Charged {
    async fn ready(&mut self) {
        self.inner.ready().await;
    }
}

#[async_trait::async_trait]
impl OutputStream for Charged {
    fn write(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.quota.charge(bytes.len() as u64).map_err(refused)?;
        self.inner.write(bytes)
    }

    fn flush(&mut self) -> StreamResult<()> {
        self.inner.flush()
    }

    fn check_write(&mut self) -> StreamResult<usize> {
        self.inner.check_write()
    }

    async fn blocking_write_and_flush(&mut self, bytes: Bytes) -> StreamResult<()> {
        self.quota.charge(bytes.len() as u64).map_err(refused)?;
        self.inner.blocking_write_and_flush(bytes).await
    }

    fn write_zeroes(&mut self, count: usize) -> StreamResult<()> {
        self.quota.charge(count as u64).map_err(refused)?;
        self.inner.write_zeroes(count)
    }

    async fn cancel(&mut self) {
        self.inner.cancel().await;
    }
}

/// The `wasi:filesystem` version wasmtime-wasi defines (guests importing any
/// 0.2.x version are linked to it).
pub(super) const WASI_FILESYSTEM_TYPES: &str = "wasi:filesystem/types@0.2.12";

/// The functions [`add_to_linker`] puts the cap in front of.
pub(super) const CHARGED_FUNCTIONS: [&str; 8] = [
    "[method]descriptor.write-via-stream",
    "[method]descriptor.append-via-stream",
    "[method]descriptor.write",
    "[method]descriptor.set-size",
    "[method]descriptor.open-at",
    "[method]descriptor.create-directory-at",
    "[method]descriptor.symlink-at",
    "[method]descriptor.link-at",
];

type FsResult<T> = wasmtime::Result<(Result<T, ErrorCode>,)>;

/// Turns wasmtime-wasi's result into the function's, passing traps on.
fn answer<T>(result: Result<T, wasmtime_wasi::p2::FsError>) -> FsResult<T> {
    match result {
        Ok(value) => Ok((Ok(value),)),
        Err(error) => Ok((Err(error.downcast()?),)),
    }
}

fn no_space() -> ErrorCode {
    ErrorCode::InsufficientSpace
}

/// Charges `written` bytes written at `offset` (a write's, a stream's
/// start, a new size) to the file behind `fd`, plus the hole left when
/// `offset` lies past the file's end, when the run has a scratch cap.
async fn charge_growth(
    store: &mut StoreContextMut<'_, SandboxState>,
    fd: &Resource<Descriptor>,
    offset: u64,
    written: u64,
) -> Result<(), ErrorCode> {
    if store.data().scratch.is_none() {
        return Ok(());
    }
    let mut view = store.data_mut().filesystem();
    let stat = HostDescriptor::stat(&mut view, Resource::new_borrow(fd.rep())).await;
    // A descriptor that cannot be looked at fails the call itself.
    let hole = stat.map_or(0, |stat| offset.saturating_sub(stat.size));
    charge(store, written.saturating_add(hole))
}

/// Charges `bytes` to the run's scratch cap, if it has one.
fn charge(store: &StoreContextMut<'_, SandboxState>, bytes: u64) -> Result<(), ErrorCode> {
    match &store.data().scratch {
        Some(quota) => quota.charge(bytes).map_err(|_| no_space()),
        None => Ok(()),
    }
}

/// Puts the scratch cap in front of every `wasi:filesystem` function that
/// makes a file bigger or adds an entry.
pub(super) fn add_to_linker(linker: &mut Linker<SandboxState>) -> wasmtime::Result<()> {
    linker.allow_shadowing(true);
    let defined = define(linker);
    linker.allow_shadowing(false);
    defined
}

fn define(linker: &mut Linker<SandboxState>) -> wasmtime::Result<()> {
    let mut types = linker.instance(WASI_FILESYSTEM_TYPES)?;
    types.func_wrap_async(
        CHARGED_FUNCTIONS[0],
        |mut store: StoreContextMut<'_, SandboxState>,
         (fd, offset): (Resource<Descriptor>, u64)| {
            Box::new(async move {
                // A stream that starts past the end grows the file first.
                if let Err(code) = charge_growth(&mut store, &fd, offset, 0).await {
                    return Ok((Err(code),));
                }
                let opened = HostDescriptor::write_via_stream(
                    &mut store.data_mut().filesystem(),
                    fd,
                    offset,
                );
                charged_stream(store, opened)
            })
        },
    )?;
    types.func_wrap(
        CHARGED_FUNCTIONS[1],
        |mut store: StoreContextMut<'_, SandboxState>, (fd,): (Resource<Descriptor>,)| {
            let opened = HostDescriptor::append_via_stream(&mut store.data_mut().filesystem(), fd);
            charged_stream(store, opened)
        },
    )?;
    types.func_wrap_async(
        CHARGED_FUNCTIONS[2],
        |mut store: StoreContextMut<'_, SandboxState>,
         (fd, buffer, offset): (Resource<Descriptor>, Vec<u8>, u64)| {
            Box::new(async move {
                let written = buffer.len() as u64;
                if let Err(code) = charge_growth(&mut store, &fd, offset, written).await {
                    return Ok((Err(code),));
                }
                let mut view = store.data_mut().filesystem();
                answer(HostDescriptor::write(&mut view, fd, buffer, offset).await)
            })
        },
    )?;
    types.func_wrap_async(
        CHARGED_FUNCTIONS[3],
        |mut store: StoreContextMut<'_, SandboxState>, (fd, size): (Resource<Descriptor>, u64)| {
            Box::new(async move {
                if let Err(code) = charge_growth(&mut store, &fd, size, 0).await {
                    return Ok((Err(code),));
                }
                let mut view = store.data_mut().filesystem();
                answer(HostDescriptor::set_size(&mut view, fd, size).await)
            })
        },
    )?;
    types.func_wrap_async(
        CHARGED_FUNCTIONS[4],
        |mut store: StoreContextMut<'_, SandboxState>,
         (fd, path_flags, path, open_flags, flags): (
            Resource<Descriptor>,
            PathFlags,
            String,
            OpenFlags,
            DescriptorFlags,
        )| {
            Box::new(async move {
                if open_flags.contains(OpenFlags::CREATE)
                    && let Err(code) = charge(&store, ENTRY_BYTES)
                {
                    return Ok((Err(code),));
                }
                let mut view = store.data_mut().filesystem();
                answer(
                    HostDescriptor::open_at(&mut view, fd, path_flags, path, open_flags, flags)
                        .await,
                )
            })
        },
    )?;
    types.func_wrap_async(
        CHARGED_FUNCTIONS[5],
        |mut store: StoreContextMut<'_, SandboxState>,
         (fd, path): (Resource<Descriptor>, String)| {
            Box::new(async move {
                if let Err(code) = charge(&store, ENTRY_BYTES) {
                    return Ok((Err(code),));
                }
                let mut view = store.data_mut().filesystem();
                answer(HostDescriptor::create_directory_at(&mut view, fd, path).await)
            })
        },
    )?;
    types.func_wrap_async(
        CHARGED_FUNCTIONS[6],
        |mut store: StoreContextMut<'_, SandboxState>,
         (fd, old_path, new_path): (Resource<Descriptor>, String, String)| {
            Box::new(async move {
                if let Err(code) = charge(&store, ENTRY_BYTES) {
                    return Ok((Err(code),));
                }
                let mut view = store.data_mut().filesystem();
                answer(HostDescriptor::symlink_at(&mut view, fd, old_path, new_path).await)
            })
        },
    )?;
    types.func_wrap_async(
        CHARGED_FUNCTIONS[7],
        |mut store: StoreContextMut<'_, SandboxState>,
         (fd, old_flags, old_path, new_fd, new_path): (
            Resource<Descriptor>,
            PathFlags,
            String,
            Resource<Descriptor>,
            String,
        )| {
            Box::new(async move {
                if let Err(code) = charge(&store, ENTRY_BYTES) {
                    return Ok((Err(code),));
                }
                let mut view = store.data_mut().filesystem();
                answer(
                    HostDescriptor::link_at(&mut view, fd, old_flags, old_path, new_fd, new_path)
                        .await,
                )
            })
        },
    )
}

/// Wraps a newly opened write stream so its writes are charged, when the
/// run has a scratch cap.
fn charged_stream(
    mut store: StoreContextMut<'_, SandboxState>,
    opened: Result<Resource<DynOutputStream>, wasmtime_wasi::p2::FsError>,
) -> FsResult<Resource<DynOutputStream>> {
    let stream = match opened {
        Ok(stream) => stream,
        Err(error) => return answer(Err(error)),
    };
    let Some(quota) = store.data().scratch.clone() else {
        return Ok((Ok(stream),));
    };
    let table = &mut store.data_mut().table;
    let inner = table.delete(stream)?;
    let wrapped: DynOutputStream = Box::new(Charged { inner, quota });
    Ok((Ok(table.push(wrapped)?),))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_refused_write_reads_back_as_no_space() {
        let error = wasmtime::Error::from(io::Error::from_raw_os_error(libc::ENOSPC));
        let io = error.downcast_ref::<io::Error>().expect("an io::Error");
        assert_eq!(io.raw_os_error(), Some(libc::ENOSPC));
    }
}
