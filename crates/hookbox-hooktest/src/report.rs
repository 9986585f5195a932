//! What `hookbox test` prints: one line per case with its status, duration,
//! fuel, peak memory and egress count, the connections it made, and for a
//! failed case each unmet expectation and the end of its stderr; or one JSON
//! document with all of it.

use std::fmt::Write;

use serde::Serialize;

use super::CaseResult;
use hookbox_record::EgressAttempt;

/// Lines of a failed hook's stderr shown under it.
const STDERR_TAIL_LINES: usize = 12;

/// The whole run, for `--json`.
#[derive(Debug, Serialize)]
pub struct Summary<'a> {
    /// Cases that passed.
    pub passed: usize,
    /// Cases that failed.
    pub failed: usize,
    /// Every case.
    pub cases: &'a [CaseResult],
}

impl<'a> Summary<'a> {
    /// Counts the results.
    pub fn of(cases: &'a [CaseResult]) -> Self {
        let passed = cases.iter().filter(|c| c.passed).count();
        Summary {
            passed,
            failed: cases.len() - passed,
            cases,
        }
    }
}

/// The human-readable report.
pub fn text(cases: &[CaseResult]) -> String {
    let mut out = String::new();
    let hook_width = cases.iter().map(|c| c.hook.len()).max().unwrap_or(0);
    let case_width = cases.iter().map(|c| c.case.len()).max().unwrap_or(0);
    for case in cases {
        let status = if case.passed { "PASS" } else { "FAIL" };
        let _ = write!(
            out,
            "{status}  {:hook_width$}  {:case_width$}",
            case.hook, case.case
        );
        if let Some(outcome) = &case.outcome {
            let _ = write!(
                out,
                "  {:>8.1} ms  fuel {:>9}  mem {:>9}  egress {}",
                outcome.duration_ms,
                format!("{:.2e}", outcome.fuel_consumed as f64),
                format!(
                    "{:.1} MiB",
                    outcome.peak_memory_bytes as f64 / (1024.0 * 1024.0)
                ),
                outcome.egress.len() as u64 + outcome.egress_unrecorded
            );
        }
        out.push('\n');
        if let Some(outcome) = &case.outcome {
            for attempt in &outcome.egress {
                let _ = writeln!(out, "      {}", describe(attempt));
            }
        }
        if let Some(error) = &case.error {
            let _ = writeln!(out, "      error: {}", error.replace('\n', "\n        "));
        }
        for mismatch in &case.mismatches {
            let _ = writeln!(
                out,
                "      {}: expected {}, got {}",
                mismatch.subject,
                mismatch.expected,
                mismatch.actual.replace('\n', "\n        ")
            );
        }
        if !case.passed
            && let Some(outcome) = &case.outcome
        {
            let lines: Vec<&str> = outcome.stderr.lines().collect();
            if !lines.is_empty() {
                let _ = writeln!(out, "      stderr:");
                for line in &lines[lines.len().saturating_sub(STDERR_TAIL_LINES)..] {
                    let _ = writeln!(out, "        | {line}");
                }
            }
        }
    }
    let summary = Summary::of(cases);
    let _ = writeln!(out, "{} passed, {} failed", summary.passed, summary.failed);
    out
}

/// One connection attempt on one line: where, and what became of it.
fn describe(attempt: &EgressAttempt) -> String {
    let target = match (&attempt.method, &attempt.request, &attempt.url) {
        (Some(method), Some(request), _) => format!("{method} {}", request.url),
        (Some(method), None, Some(url)) => format!("{method} {url}"),
        _ => attempt.destination(),
    };
    if !attempt.allowed {
        return format!(
            "x {target}  refused: {}",
            attempt.reason.as_deref().unwrap_or("by the policy")
        );
    }
    let mut line = format!("> {target}");
    if let Some(status) = attempt.status {
        let _ = write!(line, "  {status}");
    }
    let _ = write!(line, "  {} bytes sent", attempt.bytes_out);
    if let Some(rule) = &attempt.rule {
        let _ = write!(line, "  (allowed by {rule})");
    }
    if let Some(reason) = &attempt.reason {
        let _ = write!(line, "  {reason}");
    }
    line
}
