//! Per-run resource limits (plain data with safe defaults) and the store's
//! memory accountant that enforces the memory limit and measures peak use.

use std::time::Duration;

use serde::{Deserialize, Serialize};

/// Default wall-clock limit of one run.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(10);
/// Default fuel budget: about 1.7 s of busy CPU at the ~1.2e10 units per
/// second measured on the 2-core x86-64 machine (release build); a typical
/// forwarding hook uses about ten million.
pub const DEFAULT_FUEL: u64 = 20_000_000_000;
/// Default cap on the linear memory of one run, all memories together.
pub const DEFAULT_MEMORY_BYTES: u64 = 128 * 1024 * 1024;
/// Default cap on each of stdout and stderr.
pub const DEFAULT_OUTPUT_BYTES: u64 = 64 * 1024;
/// Default cap on the payload handed to a hook (Hoop's payload carries the
/// session input, so it can be large, but not unbounded).
pub const DEFAULT_PAYLOAD_BYTES: u64 = 1024 * 1024;
/// Default cap on one HTTP request body a hook sends.
pub const DEFAULT_HTTP_REQUEST_BYTES: u64 = 10 * 1024 * 1024;
/// Default cap on one HTTP response body a hook receives.
pub const DEFAULT_HTTP_RESPONSE_BYTES: u64 = 10 * 1024 * 1024;
/// Most table elements one run may have (CPython's function tables need a few
/// thousand; this only stops a runaway `table.grow`).
pub const MAX_TABLE_ELEMENTS: usize = 1_000_000;

/// The limits one run is held to. Every field has a safe default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Limits {
    /// Wall-clock limit, including time blocked in host calls such as sleeps.
    #[serde(with = "humantime_serde_compat")]
    pub timeout: Duration,
    /// Fuel (WebAssembly instructions, roughly) the run may consume.
    pub fuel: u64,
    /// Linear memory the run may hold, in bytes.
    pub memory_bytes: u64,
    /// Bytes of stdout kept; the rest is dropped and marked as truncated.
    pub stdout_bytes: u64,
    /// Bytes of stderr kept; the rest is dropped and marked as truncated.
    pub stderr_bytes: u64,
    /// Largest payload accepted, in bytes.
    pub payload_bytes: u64,
    /// Largest HTTP request body a hook may send, in bytes.
    pub http_request_bytes: u64,
    /// Largest HTTP response body a hook may receive, in bytes.
    pub http_response_bytes: u64,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            timeout: DEFAULT_TIMEOUT,
            fuel: DEFAULT_FUEL,
            memory_bytes: DEFAULT_MEMORY_BYTES,
            stdout_bytes: DEFAULT_OUTPUT_BYTES,
            stderr_bytes: DEFAULT_OUTPUT_BYTES,
            payload_bytes: DEFAULT_PAYLOAD_BYTES,
            http_request_bytes: DEFAULT_HTTP_REQUEST_BYTES,
            http_response_bytes: DEFAULT_HTTP_RESPONSE_BYTES,
        }
    }
}

/// Durations in configuration files are written as humans do: `10s`, `1500ms`.
mod humantime_serde_compat {
    use std::time::Duration;

    use serde::{Deserialize, Deserializer, Serializer, de::Error};

    pub fn serialize<S: Serializer>(value: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&humantime::format_duration(*value).to_string())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(deserializer: D) -> Result<Duration, D::Error> {
        let text = String::deserialize(deserializer)?;
        humantime::parse_duration(&text).map_err(D::Error::custom)
    }
}

/// Writes a byte count the way limits are given: `64 MiB`, `512 KiB`, `1000 bytes`.
pub fn format_bytes(bytes: u64) -> String {
    const KIB: u64 = 1024;
    const MIB: u64 = 1024 * KIB;
    const GIB: u64 = 1024 * MIB;
    match bytes {
        0 => "0 bytes".into(),
        b if b % GIB == 0 => format!("{} GiB", b / GIB),
        b if b % MIB == 0 => format!("{} MiB", b / MIB),
        b if b % KIB == 0 => format!("{} KiB", b / KIB),
        b => format!("{b} bytes"),
    }
}

/// Enforces the memory limit over all linear memories of a store together and
/// remembers the peak and whether a growth was refused.
#[derive(Debug)]
pub struct MemoryAccountant {
    limit: usize,
    current: usize,
    peak: usize,
    refused: bool,
}

impl MemoryAccountant {
    /// An accountant that lets memories grow up to `limit` bytes in total.
    pub fn new(limit: u64) -> Self {
        MemoryAccountant {
            limit: usize::try_from(limit).unwrap_or(usize::MAX),
            current: 0,
            peak: 0,
            refused: false,
        }
    }

    /// The most memory held at one time, in bytes.
    pub fn peak(&self) -> u64 {
        self.peak as u64
    }

    /// Whether a growth was refused because of the limit.
    pub fn refused(&self) -> bool {
        self.refused
    }
}

impl wasmtime::ResourceLimiter for MemoryAccountant {
    fn memory_growing(
        &mut self,
        current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        let after = self.current - current.min(self.current) + desired;
        if after > self.limit {
            self.refused = true;
            return Ok(false);
        }
        self.current = after;
        self.peak = self.peak.max(after);
        Ok(true)
    }

    fn table_growing(
        &mut self,
        _current: usize,
        desired: usize,
        _maximum: Option<usize>,
    ) -> wasmtime::Result<bool> {
        Ok(desired <= MAX_TABLE_ELEMENTS)
    }
}

#[cfg(test)]
mod tests {
    use wasmtime::ResourceLimiter;

    use super::*;

    #[test]
    fn memories_are_limited_together() {
        let mut accountant = MemoryAccountant::new(100);
        assert!(accountant.memory_growing(0, 60, None).unwrap());
        assert!(accountant.memory_growing(0, 30, None).unwrap());
        assert!(!accountant.memory_growing(30, 50, None).unwrap());
        assert!(accountant.refused());
        assert_eq!(accountant.peak(), 90);
    }

    #[test]
    fn growth_within_the_limit_tracks_the_peak() {
        let mut accountant = MemoryAccountant::new(1000);
        assert!(accountant.memory_growing(0, 100, None).unwrap());
        assert!(accountant.memory_growing(100, 400, None).unwrap());
        assert!(!accountant.refused());
        assert_eq!(accountant.peak(), 400);
    }

    #[test]
    fn byte_counts_read_like_flags() {
        assert_eq!(format_bytes(64 * 1024 * 1024), "64 MiB");
        assert_eq!(format_bytes(1536), "1536 bytes");
        assert_eq!(format_bytes(2048), "2 KiB");
    }

    #[test]
    fn limits_read_from_toml_like_data_keep_defaults() {
        let limits: Limits = serde_json::from_str(r#"{"timeout": "2s", "fuel": 5}"#).unwrap();
        assert_eq!(limits.timeout, Duration::from_secs(2));
        assert_eq!(limits.fuel, 5);
        assert_eq!(limits.memory_bytes, DEFAULT_MEMORY_BYTES);
    }
}
