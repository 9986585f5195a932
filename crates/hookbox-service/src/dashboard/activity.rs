//! The activity page's pictures, drawn from the spool's attempts within a
//! window: attempts per interval by how they ended, their latency, and
//! egress by destination. Everything is computed here into plain
//! rectangles; the template only places them in an SVG (no script, and the
//! Content-Security-Policy allows no inline style).

use std::collections::HashMap;

use crate::spool::{AttemptCount, AttemptEnd, AttemptSample, Millis, OTHER_DESTINATIONS, rfc3339};

/// Intervals a window is cut into.
const COLUMNS: usize = 24;
/// Width of one interval's column in the charts, and of its bar.
const COLUMN_WIDTH: u32 = 30;
const BAR_WIDTH: u32 = 24;
/// Height of the bar charts' drawing area.
pub(super) const CHART_HEIGHT: u32 = 120;
/// Width of the charts (every column) and of a destination's bar.
pub(super) const CHART_WIDTH: u32 = COLUMNS as u32 * COLUMN_WIDTH;
/// Width of the busiest destination's bar.
pub(super) const DESTINATION_WIDTH: u32 = 240;
/// Destinations listed, the busiest first.
const MOST_DESTINATIONS: usize = 20;
/// Destinations counted one by one while reading a window.
const MOST_TRACKED: usize = 1_000;
/// Attempts read for one page: a busy service's window holds more, and the
/// page then says it drew the newest this many.
pub(super) const MOST_ATTEMPTS: usize = 5_000;

/// How far back the page looks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Window {
    /// The last 24 hours, by the hour.
    Day,
    /// The last 7 days, by 7 hours.
    Week,
}

impl Window {
    /// `24h` or `7d` (the default is a day).
    pub(super) fn parse(text: Option<&str>) -> Option<Window> {
        match text.filter(|t| !t.is_empty()) {
            None | Some("24h") => Some(Window::Day),
            Some("7d") => Some(Window::Week),
            Some(_) => None,
        }
    }

    /// The length of one interval, in ms.
    pub(super) fn interval(self) -> Millis {
        match self {
            Window::Day => 3_600_000,
            Window::Week => 7 * 3_600_000,
        }
    }

    /// Where the window starts and each interval's length: intervals end on
    /// a multiple of their length, so hours start on the hour.
    pub(super) fn start(self, now: Millis) -> Millis {
        let interval = self.interval();
        let end = (now.div_euclid(interval) + 1) * interval;
        end - COLUMNS as Millis * interval
    }

    fn label(self, at: Millis) -> String {
        // `2026-12-03T14:00:00...`: the hour, and for a week the day too.
        let stamp = rfc3339(at);
        match self {
            Window::Day => stamp.get(11..16).unwrap_or_default().to_owned(),
            Window::Week => format!(
                "{} {}",
                stamp.get(5..10).unwrap_or_default(),
                stamp.get(11..16).unwrap_or_default()
            ),
        }
    }

    /// As the page's links write it.
    pub(super) fn as_str(self) -> &'static str {
        match self {
            Window::Day => "24h",
            Window::Week => "7d",
        }
    }
}

/// One rectangle of a chart, with the text a pointer over it shows.
#[derive(Debug, Clone)]
pub(super) struct Bar {
    pub(super) x: u32,
    pub(super) y: u32,
    pub(super) width: u32,
    pub(super) height: u32,
    /// `ok`, `failed`, `skipped`, `p50`, `p95`, `allowed` or `denied`.
    pub(super) class: &'static str,
    pub(super) title: String,
}

/// A time under a chart's column.
#[derive(Debug, Clone)]
pub(super) struct Tick {
    pub(super) x: u32,
    pub(super) text: String,
}

/// One destination's row.
#[derive(Debug, Clone)]
pub(super) struct Destination {
    /// `scheme://host:port`.
    pub(super) name: String,
    pub(super) allowed: u64,
    pub(super) denied: u64,
    pub(super) bytes_out: u64,
    pub(super) bars: Vec<Bar>,
}

/// Everything the activity page shows.
#[derive(Debug, Clone)]
pub(super) struct Activity {
    pub(super) window: Window,
    pub(super) succeeded: u64,
    pub(super) failed: u64,
    pub(super) skipped: u64,
    /// Median and 95th percentile of the attempts' run time, in ms.
    pub(super) p50_ms: Option<f64>,
    pub(super) p95_ms: Option<f64>,
    pub(super) attempts_chart: Vec<Bar>,
    /// The largest number of attempts in one interval (the chart's top).
    pub(super) attempts_top: u64,
    pub(super) latency_chart: Vec<Bar>,
    /// The largest 95th percentile of one interval, in ms (the chart's top).
    pub(super) latency_top_ms: f64,
    pub(super) ticks: Vec<Tick>,
    pub(super) destinations: Vec<Destination>,
    /// The window held more attempts than were read.
    pub(super) capped: bool,
}

#[derive(Default)]
struct Column {
    succeeded: u64,
    failed: u64,
    skipped: u64,
    durations: Vec<f64>,
}

#[derive(Default)]
struct Traffic {
    allowed: u64,
    denied: u64,
    bytes_out: u64,
}

impl Activity {
    /// The pictures of a window ending now: `counts` of every attempt in it
    /// (by interval and how it ended), and `samples`, the newest attempts
    /// that ran a hook, for run times and egress.
    pub(super) fn new(
        window: Window,
        now: Millis,
        counts: &[AttemptCount],
        samples: &[AttemptSample],
    ) -> Activity {
        let start = window.start(now);
        let interval = window.interval();
        let mut columns: Vec<Column> = (0..COLUMNS).map(|_| Column::default()).collect();
        for counted in counts {
            let Some(column) = usize::try_from(counted.interval)
                .ok()
                .and_then(|index| columns.get_mut(index))
            else {
                continue;
            };
            match counted.end {
                AttemptEnd::Succeeded => column.succeeded += counted.count,
                AttemptEnd::Failed => column.failed += counted.count,
                AttemptEnd::Skipped => column.skipped += counted.count,
            }
        }
        let mut traffic: HashMap<String, Traffic> = HashMap::new();
        let mut durations = Vec::new();
        for attempt in samples.iter().take(MOST_ATTEMPTS) {
            let Some(column) = usize::try_from((attempt.started_at - start).div_euclid(interval))
                .ok()
                .and_then(|index| columns.get_mut(index))
            else {
                continue;
            };
            let duration = match &attempt.summary {
                Some(summary) => summary.duration_ms,
                None => (attempt.finished_at - attempt.started_at).max(0) as f64,
            };
            column.durations.push(duration);
            durations.push(duration);
            for count in attempt.summary.iter().flat_map(|s| &s.egress) {
                // A page names at most so many destinations; the rest are
                // counted together, whatever hooks try.
                let name =
                    if traffic.len() < MOST_TRACKED || traffic.contains_key(&count.destination) {
                        count.destination.clone()
                    } else {
                        OTHER_DESTINATIONS.to_owned()
                    };
                let seen = traffic.entry(name).or_default();
                seen.allowed += count.allowed;
                seen.denied += count.denied;
                seen.bytes_out += count.bytes_out;
            }
        }
        let (p50_ms, p95_ms) = percentiles(&mut durations);
        let mut activity = Activity {
            window,
            succeeded: columns.iter().map(|c| c.succeeded).sum(),
            failed: columns.iter().map(|c| c.failed).sum(),
            skipped: columns.iter().map(|c| c.skipped).sum(),
            p50_ms,
            p95_ms,
            attempts_chart: Vec::new(),
            attempts_top: 0,
            latency_chart: Vec::new(),
            latency_top_ms: 0.0,
            ticks: Vec::new(),
            destinations: destinations(traffic),
            capped: samples.len() > MOST_ATTEMPTS,
        };
        activity.draw_columns(start, interval, &mut columns);
        activity
    }

    fn draw_columns(&mut self, start: Millis, interval: Millis, columns: &mut [Column]) {
        self.attempts_top = columns
            .iter()
            .map(|c| c.succeeded + c.failed + c.skipped)
            .max()
            .unwrap_or(0);
        let latencies: Vec<(Option<f64>, Option<f64>)> = columns
            .iter_mut()
            .map(|c| percentiles(&mut c.durations))
            .collect();
        self.latency_top_ms = latencies
            .iter()
            .filter_map(|(_, p95)| *p95)
            .fold(0.0, f64::max);
        for (index, column) in columns.iter().enumerate() {
            let from = start + index as Millis * interval;
            let when = format!(
                "{} to {} UTC",
                self.window.label(from),
                self.window.label(from + interval)
            );
            let x = index as u32 * COLUMN_WIDTH + (COLUMN_WIDTH - BAR_WIDTH) / 2;
            if index % 6 == 0 {
                self.ticks.push(Tick {
                    x: index as u32 * COLUMN_WIDTH,
                    text: self.window.label(from),
                });
            }
            // Stacked from the bottom: succeeded, failed, skipped.
            let stack = [
                (column.succeeded, "ok", "succeeded"),
                (column.failed, "failed", "failed"),
                (column.skipped, "skipped", "skipped (no hook)"),
            ];
            let heights = fit(
                &stack.map(|(count, _, _)| count),
                self.attempts_top,
                CHART_HEIGHT,
            );
            let mut bottom = CHART_HEIGHT;
            for ((count, class, what), height) in stack.into_iter().zip(heights) {
                if height == 0 {
                    continue;
                }
                bottom = bottom.saturating_sub(height);
                self.attempts_chart.push(Bar {
                    x,
                    y: bottom,
                    width: BAR_WIDTH,
                    height,
                    class,
                    title: format!("{when}: {count} {what}"),
                });
            }
            let (Some(p50), Some(p95)) = latencies[index] else {
                continue;
            };
            let title = format!("{when}: p50 {p50:.0} ms, p95 {p95:.0} ms");
            for (value, class) in [(p95, "p95"), (p50, "p50")] {
                let height = scaled(value, self.latency_top_ms, CHART_HEIGHT).max(1);
                self.latency_chart.push(Bar {
                    x,
                    y: CHART_HEIGHT - height,
                    width: BAR_WIDTH,
                    height,
                    class,
                    title: title.clone(),
                });
            }
        }
    }
}

/// `value` of `top` as a length of at most `full`; anything above zero
/// shows at least one unit.
fn scaled(value: f64, top: f64, full: u32) -> u32 {
    if value <= 0.0 || top <= 0.0 {
        return 0;
    }
    ((value / top * full as f64).round() as u32).clamp(1, full)
}

/// Lengths for `counts` stacked in one bar, `top` filling `full`: every
/// count above zero gets at least one unit, and together they never pass
/// `full` (rounding each on its own could).
fn fit<const N: usize>(counts: &[u64; N], top: u64, full: u32) -> [u32; N] {
    let mut lengths = counts.map(|count| scaled(count as f64, top as f64, full));
    while lengths.iter().sum::<u32>() > full {
        let Some(longest) = lengths.iter_mut().max() else {
            break;
        };
        *longest -= 1;
    }
    lengths
}

/// The median and 95th percentile (nearest rank) of `values`.
fn percentiles(values: &mut [f64]) -> (Option<f64>, Option<f64>) {
    if values.is_empty() {
        return (None, None);
    }
    values.sort_by(f64::total_cmp);
    let rank =
        |p: f64| values[((p * values.len() as f64).ceil() as usize).clamp(1, values.len()) - 1];
    (Some(rank(0.5)), Some(rank(0.95)))
}

/// The busiest destinations first, each with its allowed and denied bars.
fn destinations(traffic: HashMap<String, Traffic>) -> Vec<Destination> {
    let mut rows: Vec<(String, Traffic)> = traffic.into_iter().collect();
    rows.sort_by(|(a_name, a), (b_name, b)| {
        (b.allowed + b.denied)
            .cmp(&(a.allowed + a.denied))
            .then_with(|| a_name.cmp(b_name))
    });
    rows.truncate(MOST_DESTINATIONS);
    let top = rows
        .iter()
        .map(|(_, t)| t.allowed + t.denied)
        .max()
        .unwrap_or(0);
    rows.into_iter()
        .map(|(name, seen)| {
            let [allowed, denied] = fit(&[seen.allowed, seen.denied], top, DESTINATION_WIDTH);
            let mut bars = Vec::new();
            if allowed > 0 {
                bars.push(Bar {
                    x: 0,
                    y: 0,
                    width: allowed,
                    height: 14,
                    class: "allowed",
                    title: format!("{name}: {} allowed", seen.allowed),
                });
            }
            if denied > 0 {
                bars.push(Bar {
                    x: allowed,
                    y: 0,
                    width: denied,
                    height: 14,
                    class: "denied",
                    title: format!("{name}: {} denied", seen.denied),
                });
            }
            Destination {
                name,
                allowed: seen.allowed,
                denied: seen.denied,
                bytes_out: seen.bytes_out,
                bars,
            }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::spool::AttemptSummary;
    use hookbox_record::{RunOutcome, RunStatus};

    const HOUR: Millis = 3_600_000;

    fn attempt(
        started_at: Millis,
        status: Option<RunStatus>,
        egress: &[(&str, bool)],
    ) -> AttemptSample {
        let egress: Vec<serde_json::Value> = egress
            .iter()
            .map(|(host, allowed)| {
                serde_json::json!({"time": "t", "scheme": "https", "host": host, "port": 443,
                    "address": null, "method": "POST", "url": null, "allowed": allowed,
                    "rule": null, "reason": null, "status": null, "bytes_out": 100,
                    "bytes_in": 0, "duration_ms": 1.0})
            })
            .collect();
        AttemptSample {
            started_at,
            finished_at: started_at + 40,
            summary: status.map(|status| {
                AttemptSummary::of(
                    &serde_json::from_value::<RunOutcome>(serde_json::json!({
                        "status": status, "exit_code": 0, "stdout": "", "stderr": "",
                        "stdout_truncated": false, "stderr_truncated": false,
                        "duration_ms": 10.0, "fuel_consumed": 1, "peak_memory_bytes": 1,
                        "egress": egress}))
                    .unwrap(),
                )
            }),
        }
    }

    fn counted(interval: i64, end: AttemptEnd, count: u64) -> AttemptCount {
        AttemptCount {
            interval,
            end,
            count,
        }
    }

    #[test]
    fn counts_fall_in_their_interval_and_samples_give_run_times_and_egress() {
        let now = 1_000 * HOUR + HOUR / 2;
        let last = COLUMNS as i64 - 1;
        let counts = [
            counted(last, AttemptEnd::Succeeded, 1),
            counted(last, AttemptEnd::Failed, 1),
            counted(last - 1, AttemptEnd::Failed, 1),
            counted(last - 2, AttemptEnd::Skipped, 1),
            counted(-3, AttemptEnd::Succeeded, 9),
            counted(COLUMNS as i64, AttemptEnd::Succeeded, 9),
        ];
        let samples = [
            attempt(now, Some(RunStatus::Ok), &[("siem.example", true)]),
            attempt(
                now - 10,
                Some(RunStatus::Failed),
                &[("evil.example", false)],
            ),
            attempt(now - HOUR, None, &[]),
            attempt(now - 30 * HOUR, Some(RunStatus::Ok), &[]),
        ];
        let activity = Activity::new(Window::Day, now, &counts, &samples);
        assert_eq!(
            (activity.succeeded, activity.failed, activity.skipped),
            (1, 2, 1)
        );
        assert_eq!(activity.attempts_top, 2, "two in the current hour");
        let last_column = activity
            .attempts_chart
            .iter()
            .filter(|bar| bar.x > (COLUMNS as u32 - 1) * COLUMN_WIDTH)
            .map(|bar| (bar.class, bar.height))
            .collect::<Vec<_>>();
        assert_eq!(last_column, [("ok", 60), ("failed", 60)]);
        let names: Vec<_> = activity
            .destinations
            .iter()
            .map(|d| (d.name.as_str(), d.allowed, d.denied, d.bytes_out))
            .collect();
        assert_eq!(
            names,
            [
                ("https://evil.example:443", 0, 1, 0),
                ("https://siem.example:443", 1, 0, 100)
            ]
        );
        // The attempt with no summary counts its stored times.
        assert_eq!(activity.p95_ms, Some(40.0));
        assert!(!activity.capped);
    }

    #[test]
    fn stacked_bars_never_pass_their_chart_whatever_the_counts() {
        // 15 and 1 of 16 round to 113 and 8 on their own: 121 of 120.
        for top in 1..=300u64 {
            for first in 0..=top {
                for second in [0, 1, 2, top - first] {
                    let third = top.saturating_sub(first + second).min(1);
                    let counts = [first, second.min(top - first), third];
                    let lengths = fit(&counts, top, CHART_HEIGHT);
                    assert!(
                        lengths.iter().sum::<u32>() <= CHART_HEIGHT,
                        "{counts:?} of {top}"
                    );
                    for (count, length) in counts.iter().zip(lengths) {
                        assert_eq!(*count > 0, length > 0, "{counts:?} of {top}");
                    }
                }
            }
        }
        let now = 1_000 * HOUR;
        let counts = [
            counted(0, AttemptEnd::Succeeded, 15),
            counted(0, AttemptEnd::Skipped, 1),
        ];
        let activity = Activity::new(Window::Day, now, &counts, &[]);
        let heights: u32 = activity.attempts_chart.iter().map(|bar| bar.height).sum();
        assert_eq!(heights, CHART_HEIGHT);
        assert!(
            activity
                .attempts_chart
                .iter()
                .all(|bar| bar.y <= CHART_HEIGHT)
        );
    }

    #[test]
    fn hooks_naming_endless_or_endlessly_long_destinations_cannot_grow_the_page() {
        let now = 1_000 * HOUR;
        // Each run tries 60 hosts of its own, as a hostile hook may (the
        // record keeps a thousand attempts a run), one of them 60 kB long.
        let long = "h".repeat(60_000);
        let attempts: Vec<AttemptSample> = (0..60)
            .map(|run| {
                let mut hosts: Vec<String> =
                    (0..59).map(|n| format!("h{run}-{n}.example")).collect();
                hosts.push(format!("{long}{run}"));
                let egress: Vec<(&str, bool)> = hosts.iter().map(|h| (h.as_str(), false)).collect();
                attempt(now - 1, Some(RunStatus::Failed), &egress)
            })
            .collect();
        for sample in &attempts {
            let summary = sample.summary.as_ref().unwrap();
            assert_eq!(summary.egress.len(), 20, "a summary names at most 20");
            assert_eq!(
                summary.egress.last().unwrap().destination,
                OTHER_DESTINATIONS
            );
            assert_eq!(summary.egress.iter().map(|c| c.denied).sum::<u64>(), 60);
            assert!(summary.egress.iter().all(|c| c.destination.len() < 300));
        }
        let activity = Activity::new(Window::Day, now, &[], &attempts);
        assert_eq!(activity.destinations.len(), MOST_DESTINATIONS);
        let other = activity
            .destinations
            .iter()
            .find(|d| d.name == OTHER_DESTINATIONS)
            .expect("the rest counted together");
        assert!(other.denied > 0);
        for destination in &activity.destinations {
            let width: u32 = destination.bars.iter().map(|bar| bar.width).sum();
            assert!(width <= DESTINATION_WIDTH);
        }
    }

    #[test]
    fn windows_parse_and_align_their_intervals() {
        assert_eq!(Window::parse(None), Some(Window::Day));
        assert_eq!(Window::parse(Some("7d")), Some(Window::Week));
        assert_eq!(Window::parse(Some("1y")), None);
        let now = 1_000 * HOUR + 5;
        assert_eq!(Window::Day.start(now), 977 * HOUR);
        assert_eq!(Window::Week.start(now) % (7 * HOUR), 0);
    }
}
