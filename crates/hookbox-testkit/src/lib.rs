//! What hookbox's integration tests and its benchmarks share, so neither
//! keeps a copy: the real `python3`, waiting with a deadline ([`poll`]),
//! loopback ports without races ([`ports`]) and certificate authorities made per run ([`tls`]). A crate
//! that never ships in the binary.

pub mod poll;
pub mod ports;
pub mod tls;

use std::path::PathBuf;
use std::process::Command;

use anyhow::{Context, bail};

/// The real interpreter behind `python3` (`sys.executable`): `python3` on PATH
/// may be a version manager's shim that adds ~100 ms per start, which Hoop's
/// agents, running a real interpreter, never pay. Every baseline and every
/// side-by-side test runs this one.
pub fn real_python3() -> anyhow::Result<PathBuf> {
    let output = Command::new("python3")
        .args(["-c", "import sys; print(sys.executable)"])
        .output()
        .context("running python3 (the baseline) to find its interpreter")?;
    if !output.status.success() {
        bail!(
            "python3 failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(String::from_utf8(output.stdout)?.trim().into())
}
