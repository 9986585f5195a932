//! Captured stdout/stderr of a run: kept up to a cap, the rest counted and
//! dropped, so a hook that prints without end cannot exhaust the host's memory.
//! The hook never sees an error for writing past the cap (as with a pipe whose
//! reader discards), so its exit code stays its own.

use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::Bytes;
use tokio::io::AsyncWrite;
use wasmtime_wasi::cli::{IsTerminal, StdoutStream};
use wasmtime_wasi::p2::{OutputStream, Pollable, StreamError};

/// How much the guest may write in one call; larger writes are split by it.
const WRITE_BUDGET: usize = 64 * 1024;

#[derive(Debug, Default)]
struct Captured {
    kept: Vec<u8>,
    dropped: u64,
}

/// A capped, in-memory capture of one output stream.
#[derive(Debug, Clone)]
pub struct CappedOutput {
    cap: usize,
    inner: Arc<Mutex<Captured>>,
}

/// What a capture held when the run ended.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CapturedText {
    /// The kept bytes (lossy UTF-8) followed by a truncation marker when needed.
    pub text: String,
    /// Whether anything was dropped.
    pub truncated: bool,
}

impl CappedOutput {
    /// A capture that keeps at most `cap` bytes.
    pub fn new(cap: u64) -> Self {
        CappedOutput {
            cap: usize::try_from(cap).unwrap_or(usize::MAX),
            inner: Arc::default(),
        }
    }

    fn append(&self, bytes: &[u8]) {
        let mut captured = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let room = self.cap.saturating_sub(captured.kept.len());
        let keep = room.min(bytes.len());
        captured.kept.extend_from_slice(&bytes[..keep]);
        captured.dropped += (bytes.len() - keep) as u64;
    }

    /// Adds one line written by the host (a notice the hook should see).
    pub fn write_line(&self, line: &str) {
        self.append(line.as_bytes());
        self.append(b"\n");
    }

    /// The captured text, with a marker line when output was dropped.
    pub fn finish(&self) -> CapturedText {
        let captured = self.inner.lock().unwrap_or_else(|e| e.into_inner());
        let mut text = String::from_utf8_lossy(&captured.kept).into_owned();
        let truncated = captured.dropped > 0;
        if truncated {
            if !text.ends_with('\n') && !text.is_empty() {
                text.push('\n');
            }
            text.push_str(&format!(
                "[hookbox: output truncated: {} more bytes dropped over the {}-byte limit]\n",
                captured.dropped, self.cap
            ));
        }
        CapturedText { text, truncated }
    }
}

impl IsTerminal for CappedOutput {
    fn is_terminal(&self) -> bool {
        false
    }
}

impl StdoutStream for CappedOutput {
    fn p2_stream(&self) -> Box<dyn OutputStream> {
        Box::new(self.clone())
    }

    fn async_stream(&self) -> Box<dyn AsyncWrite + Send + Sync> {
        Box::new(self.clone())
    }
}

#[async_trait::async_trait]
impl OutputStream for CappedOutput {
    fn write(&mut self, bytes: Bytes) -> Result<(), StreamError> {
        self.append(&bytes);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), StreamError> {
        Ok(())
    }

    fn check_write(&mut self) -> Result<usize, StreamError> {
        Ok(WRITE_BUDGET)
    }
}

#[async_trait::async_trait]
impl Pollable for CappedOutput {
    async fn ready(&mut self) {}
}

impl AsyncWrite for CappedOutput {
    fn poll_write(
        self: Pin<&mut Self>,
        _cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        self.append(buf);
        Poll::Ready(Ok(buf.len()))
    }

    fn poll_flush(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn poll_shutdown(self: Pin<&mut Self>, _cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_under_the_cap_is_kept_whole() {
        let output = CappedOutput::new(10);
        output.append(b"hello\n");
        assert_eq!(
            output.finish(),
            CapturedText {
                text: "hello\n".into(),
                truncated: false
            }
        );
    }

    #[test]
    fn output_over_the_cap_is_cut_and_marked() {
        let output = CappedOutput::new(4);
        output.append(b"abcdef");
        output.append(b"gh");
        let captured = output.finish();
        assert!(captured.truncated);
        assert!(
            captured
                .text
                .starts_with("abcd\n[hookbox: output truncated: 4 more bytes")
        );
    }
}
