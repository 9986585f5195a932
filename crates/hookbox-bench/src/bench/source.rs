//! Source: looking a hook up from a warm git cache, and fetching a runbooks
//! repository with 1,000 commits and 500 files — hookbox's shallow gix fetch
//! (clone + materialize) against `git clone --depth 1` and a full clone.

use std::fmt::Write as _;
use std::io::Write as _;
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::{Context, bail};

use super::{Table, figures, launches};
use hookbox::intake::Event;
use hookbox::source::git::GitSource;
use hookbox::source::git::config::GitConfig;

/// Commits in the benchmark repository.
pub const COMMITS: usize = 1000;
/// Files in its tip.
pub const FILES: usize = 500;

/// What to measure.
#[derive(Debug, Clone, Copy)]
pub struct SourcePlan {
    /// Warm lookups timed.
    pub lookups: usize,
    /// Fetches (and baseline clones) timed.
    pub fetches: usize,
}

/// Runs the benchmark and returns a Markdown report.
pub fn run(plan: SourcePlan) -> anyhow::Result<String> {
    let work = tempfile::tempdir()?;
    let repo = work.path().join("runbooks.git");
    make_repository(&repo)?;
    let url = format!("file://{}", repo.display());

    let cache = work.path().join("cache");
    let source = GitSource::new(
        GitConfig {
            url: url.clone(),
            branch: None,
            ttl: Duration::from_secs(3600),
        },
        &cache,
    );
    let snapshot = source.fetch()?;
    for _ in 0..100 {
        source
            .hook(Event::SessionOpen)?
            .hook
            .context("the benchmark hook is missing")?;
    }
    let started = Instant::now();
    let samples: Vec<Duration> = (0..plan.lookups)
        .map(|_| {
            let lookup = Instant::now();
            let _ = source.hook(Event::SessionOpen);
            lookup.elapsed()
        })
        .collect();
    let lookup = figures(
        "hook lookup, warm cache (within the TTL)".into(),
        samples,
        started.elapsed(),
    );

    let started = Instant::now();
    let mut samples = Vec::new();
    for _ in 0..plan.fetches {
        let fetch = Instant::now();
        source.fetch()?;
        samples.push(fetch.elapsed());
    }
    let fetch = figures(
        "hookbox fetch: shallow gix clone + materialize `hoop-hooks/`".into(),
        samples,
        started.elapsed(),
    );
    let clone = |depth: Option<&'static str>| {
        let (url, work) = (url.clone(), work.path().to_path_buf());
        move || {
            let target = work.join(format!("clone-{}", rand_suffix()));
            let mut command = Command::new("git");
            command.args(["clone", "-q", "--bare", "--single-branch"]);
            if let Some(depth) = depth {
                command.args(["--depth", depth]);
            }
            command.arg(&url).arg(target);
            command
        }
    };
    let shallow = launches(
        "baseline: `git clone --depth 1`",
        plan.fetches,
        b"",
        clone(Some("1")),
    )?;
    let full = launches(
        "baseline: full `git clone` (all history)",
        plan.fetches,
        b"",
        clone(None),
    )?;

    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Hook source\n\nWritten by `hookbox-bench --source` (release build). The repository has {COMMITS} commits \
         and {FILES} files in its tip ({} of them under `hoop-hooks/`).\n",
        snapshot.files.len()
    );
    let mut table = Table::new(&["measurement", "p50", "p99", "per second"]);
    table.row([
        lookup.name.clone(),
        format!("{:.1} µs", micros(lookup.p50)),
        format!("{:.1} µs", micros(lookup.p99)),
        format!("{:.0}", lookup.per_second),
    ]);
    for row in [&fetch, &shallow, &full] {
        table.row([
            row.name.clone(),
            format!("{:.1} ms", row.p50.as_secs_f64() * 1000.0),
            format!("{:.1} ms", row.p99.as_secs_f64() * 1000.0),
            format!("{:.1}", row.per_second),
        ]);
    }
    out.push_str(table.markdown());
    let _ = writeln!(
        out,
        "\n{} lookups, {} fetches per fetch row; {} cores.",
        plan.lookups,
        plan.fetches,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    Ok(out)
}

fn micros(duration: Duration) -> f64 {
    duration.as_secs_f64() * 1e6
}

fn rand_suffix() -> u128 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos())
}

/// Builds the repository with `git fast-import`: a first commit with all
/// files, then one small change per commit.
fn make_repository(path: &Path) -> anyhow::Result<()> {
    let status = Command::new("git")
        .args(["init", "-q", "--bare", "-b", "main"])
        .arg(path)
        .status()
        .context("running git (needed to build the benchmark repository)")?;
    if !status.success() {
        bail!("git init failed");
    }
    let mut import = Command::new("git")
        .arg("-C")
        .arg(path)
        .args(["fast-import", "--quiet"])
        .stdin(Stdio::piped())
        .spawn()?;
    let mut stream = std::io::BufWriter::new(import.stdin.take().context("fast-import stdin")?);
    let file = |index: usize| match index {
        0 => "hoop-hooks/session-open.runbook.py".to_owned(),
        1 => "hoop-hooks/session-close.runbook.py".to_owned(),
        i if i < 20 => format!("hoop-hooks/lib/helper_{i}.py"),
        i => format!("runbooks/team-{}/runbook-{i}.runbook.py", i % 10),
    };
    for commit in 0..COMMITS {
        let message = format!("change {commit}");
        writeln!(stream, "commit refs/heads/main")?;
        writeln!(
            stream,
            "committer ops <ops@example.com> {} +0000",
            1_700_000_000 + commit
        )?;
        writeln!(stream, "data {}\n{message}", message.len())?;
        let changed: Vec<usize> = if commit == 0 {
            (0..FILES).collect()
        } else {
            vec![commit % FILES]
        };
        for index in changed {
            let contents = format!("# {}\nprint('revision {commit}')\n", file(index));
            writeln!(stream, "M 100644 inline {}", file(index))?;
            writeln!(stream, "data {}\n{contents}", contents.len())?;
        }
    }
    drop(stream);
    if !import.wait()?.success() {
        bail!("git fast-import failed");
    }
    Ok(())
}
