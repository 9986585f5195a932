//! Resident memory of a process, from `/proc` (Linux).

/// This process, for the functions below.
pub const THIS_PROCESS: &str = "self";

/// Current resident set size of process `pid` ([`THIS_PROCESS`] or a
/// number), KiB.
pub fn rss_kib(pid: &str) -> Option<u64> {
    status_field(pid, "VmRSS:")
}

/// Peak resident set size of process `pid` since it started or since this
/// process's last [`reset_peak`], KiB.
pub fn peak_kib(pid: &str) -> Option<u64> {
    status_field(pid, "VmHWM:")
}

/// Starts a new peak for this process (Linux 4.0 and later).
pub fn reset_peak() {
    let _ = std::fs::write("/proc/self/clear_refs", "5");
}

fn status_field(pid: &str, name: &str) -> Option<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    status
        .lines()
        .find_map(|line| line.strip_prefix(name))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}
