//! Realistic hooks side by side with `python3 hook.py`: every shipped example,
//! hooks written for plain `python3` (urllib, `http.client` over HTTPS, Hoop's
//! curl example, a dozen standard imports) and the compiled Rust hook, each
//! in-process, as a one-shot `hookbox run` and under the real interpreter,
//! against receivers on loopback; then a concurrency sweep with memory.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Instant;

use anyhow::Context;

use super::receivers::{HttpReceiver, tcp_sink};
use super::{Figures, Table, in_process, launches, memory, real_python3};
use hookbox::env_names;
use hookbox::intake::Payload;
use hookbox::runtime::Instantiation::Prelinked;
use hookbox::runtime::config::SandboxConfig;
use hookbox::runtime::engine::EngineOptions;
use hookbox::runtime::{PackagesSnapshot, RunRequest, Runtime, RuntimeOptions};
use hookbox::sandbox::egress::policy::EgressPolicy;
use hookbox::sandbox::limits::Limits;
use hookbox::source::HookFile;

const SESSION_OPEN: &str = include_str!("../../../../hooks-examples/payloads/session-open.json");
const SESSION_CLOSE: &str = include_str!("../../../../hooks-examples/payloads/session-close.json");

/// What to measure.
#[derive(Debug, Clone)]
pub struct HooksPlan {
    /// In-process runs per hook and per concurrency level.
    pub runs: usize,
    /// Process launches per one-shot and `python3` measurement.
    pub launches: usize,
    /// The `hookbox` binary for one-shot runs.
    pub hookbox_exe: PathBuf,
    /// The cache directory.
    pub cache_dir: PathBuf,
    /// The repository's `hooks-examples/`.
    pub examples: PathBuf,
    /// The compiled Rust example (`session-open.wasm`), if built.
    pub wasm_hook: Option<PathBuf>,
    /// A folder of pure-Python wheels for the `requests` hook, if given.
    pub packages: Option<PathBuf>,
    /// Concurrency levels of the sweep.
    pub levels: Vec<usize>,
    /// Only the hooks whose name contains this, if given.
    pub only: Option<String>,
}

/// One hook to measure.
struct Case {
    name: String,
    hook: PathBuf,
    env: Vec<(String, String)>,
    rules: Vec<String>,
    /// Whether `python3` can run it (not for a compiled hook).
    python: bool,
    /// Whether its packages are prepared (imported into the runner's
    /// snapshot) before it is measured; else they import on every run.
    prepare: bool,
}

impl Case {
    fn open(&self) -> anyhow::Result<(HookFile, Payload)> {
        let hook = HookFile::open(&self.hook)?;
        let payload = Payload::from_bytes(self.payload().as_bytes().to_vec(), "bench payload")?;
        Ok((hook, payload))
    }

    fn request<'a>(
        &self,
        hook: &'a HookFile,
        payload: &'a Payload,
        config: &'a SandboxConfig,
    ) -> RunRequest<'a> {
        RunRequest {
            hook,
            payload,
            config,
            args: &[],
        }
    }

    fn payload(&self) -> &'static str {
        let name = self.hook.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if name.starts_with("session-close") {
            SESSION_CLOSE
        } else {
            SESSION_OPEN
        }
    }
}

/// One row of the per-hook table.
struct HookRow {
    name: String,
    fuel: u64,
    in_process: Figures,
    one_shot: Figures,
    python: Option<Figures>,
}

/// Where the receivers listen.
struct Targets {
    http: String,
    https: String,
    tcp: String,
}

/// Runs the benchmark and returns a Markdown report.
pub fn run(plan: &HooksPlan) -> anyhow::Result<String> {
    let tokio = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let work = tempfile::tempdir()?;
    let ca = hookbox_testkit::tls::TestCa::new();
    let ca_path = work.path().join("ca.pem");
    std::fs::write(&ca_path, &ca.ca_pem)?;
    let (http, https, tcp) = tokio.block_on(async {
        anyhow::Ok((
            HttpReceiver::start(None).await?,
            HttpReceiver::start(Some(&ca)).await?,
            tcp_sink().await?,
        ))
    })?;
    let targets = Targets {
        http: format!("http://{}", http.address),
        https: format!("https://{}", https.address),
        tcp: tcp.to_string(),
    };
    let cases = cases(plan, work.path(), &targets, &ca.ca_pem)?;
    // Compiled by another process if it must be: the compiler's memory
    // would otherwise stay in this one's, and in its idle figure.
    let warmed = Command::new(&plan.hookbox_exe)
        .arg("warm")
        .env(env_names::CACHE_DIR, &plan.cache_dir)
        .env_remove(env_names::CONFIG)
        .env_remove(env_names::GIT_URL)
        .stdout(std::process::Stdio::null())
        .status()
        .context("running `hookbox warm`")?;
    anyhow::ensure!(warmed.success(), "`hookbox warm` failed: {warmed}");
    let runtime = Arc::new(Runtime::load(&RuntimeOptions {
        guest: &hookbox::guest::GUEST,
        cache_dir: plan.cache_dir.clone(),
        engine: EngineOptions::default(),
        show_progress: false,
        ca_bundle: ca.ca_pem.clone().into_bytes(),
        ca_bundle_path: None,
    })?);
    // The runner is loaded when a run first needs it: here before the idle
    // figure, which counts it.
    runtime.load_runner()?;
    let idle_rss = memory::rss_kib(memory::THIS_PROCESS);
    // Level by level, both hooks at each level: the pool keeps a slot's
    // memory resident once used, so the peak of a level is what that many
    // runs in flight hold. First, so that no other hook's slots, runner
    // snapshot or compilation is in the process's memory yet.
    let mut sweep = Vec::new();
    let swept: Vec<&Case> = cases
        .iter()
        .filter(|case| case.name.starts_with("sweep:"))
        .collect();
    for &level in &plan.levels {
        memory::reset_peak();
        for case in &swept {
            let config = config_for(case)?;
            let (hook, payload) = case.open()?;
            let request = case.request(&hook, &payload, &config);
            let runs = plan.runs.max(level * 4);
            let (figures, _) =
                tokio.block_on(in_process(&runtime, request, Prelinked, runs, level))?;
            sweep.push((
                case.name.clone(),
                level,
                figures,
                memory::peak_kib(memory::THIS_PROCESS),
            ));
        }
    }
    let python3 = real_python3()?;

    let mut rows = Vec::new();
    let mut notes = Vec::new();
    for case in &cases {
        let config = config_for(case)?;
        let (hook, payload) = case.open()?;
        if case.prepare {
            let started = Instant::now();
            let prepared = tokio.block_on(runtime.prepare_hook(&hook, &Limits::default()));
            anyhow::ensure!(
                matches!(&prepared.snapshot, PackagesSnapshot::Made { imported, .. } if imported.iter().any(|m| m == "requests")),
                "{}: the packages were not snapshotted: {:?}",
                case.name,
                prepared.snapshot
            );
            notes.push(format!(
                "{}: preparing the packages (their bytecode, then the runner's snapshot with \
                 them imported; once per version of them) took {:.1} s.",
                case.name,
                started.elapsed().as_secs_f64()
            ));
        }
        let request = case.request(&hook, &payload, &config);
        let (in_process, fuel) =
            tokio.block_on(in_process(&runtime, request, Prelinked, plan.runs, 1))?;
        let one_shot = launches(&case.name, plan.launches, b"", || {
            one_shot_command(plan, case, &ca_path)
        })?;
        let python = if case.python {
            Some(launches(&case.name, plan.launches, b"", || {
                python_command(&python3, case, &ca_path, &case.hook)
            })?)
        } else {
            None
        };
        if case.prepare {
            notes.push(requests_call_alone(
                &python3,
                case,
                &ca_path,
                plan.runs.min(100),
            )?);
        }
        rows.push(HookRow {
            name: case.name.clone(),
            fuel,
            in_process,
            one_shot,
            python,
        });
    }

    Ok(report(plan, &rows, &notes, &sweep, idle_rss))
}

/// The hooks, each in a folder of its own with the test CA beside it.
fn cases(
    plan: &HooksPlan,
    work: &Path,
    targets: &Targets,
    ca_pem: &str,
) -> anyhow::Result<Vec<Case>> {
    let examples = &plan.examples;
    let mut cases = Vec::new();
    let mut add = |name: &str, source: &str, file: &str, env: &[(&str, &str)], rules: &[&str]| {
        let dir = work.join(format!("case-{}", cases.len()));
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("ca.pem"), ca_pem)?;
        std::fs::write(dir.join(file), source)?;
        cases.push(Case {
            name: name.to_owned(),
            hook: dir.join(file),
            env: env
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
                .collect(),
            rules: rules.iter().map(|r| (*r).to_owned()).collect(),
            python: true,
            prepare: false,
        });
        anyhow::Ok(())
    };
    let example = |path: &str| {
        std::fs::read_to_string(examples.join(path)).with_context(|| format!("reading {path}"))
    };
    let (http, https, tcp) = (&targets.http, &targets.https, &targets.tcp);
    let https_rule = format!("https://{}", &https["https://".len()..]);
    let http_rule = format!("http://{}", &http["http://".len()..]);
    let tcp_rule = format!("tcp://{tcp}");

    add(
        "sweep: trivial (parse the payload, print a line)",
        super::run::TRIVIAL_HOOK,
        "session-close.runbook.py",
        &[],
        &[],
    )?;
    add(
        "imports a dozen standard modules",
        IMPORTS_A_DOZEN,
        "session-open.runbook.py",
        &[],
        &[],
    )?;
    add(
        "sweep: urllib POST (plain python3)",
        URLLIB_POST,
        "session-open.runbook.py",
        &[("SIEM_URL", http)],
        &[&http_rule],
    )?;
    add(
        "http.client HTTPS POST, Splunk HEC snippet (plain python3)",
        HTTPS_CONNECTION,
        "session-open.runbook.py",
        &[("SIEM_URL", https)],
        &[&https_rule],
    )?;
    add(
        "thread fan-out: a pool of 3 POSTs to SIEM, chat and audit (plain python3)",
        THREAD_FAN_OUT,
        "session-open.runbook.py",
        &[("SIEM_URL", http)],
        &[&http_rule],
    )?;
    let documented = example("hoop-documented/hoop-hooks/session-close.runbook.py")?.replace(
        "https://your-siem.example.com/events",
        &format!("{http}/events"),
    );
    add(
        "Hoop's documented curl example",
        &documented,
        "session-close.runbook.py",
        &[],
        &[&http_rule],
    )?;
    add(
        "example: session-audit (no network)",
        &example("session-audit/hoop-hooks/session-open.runbook.py")?,
        "session-open.runbook.py",
        &[],
        &[],
    )?;
    /// A shipped example: its name, hook, settings and rule.
    type Example<'a> = (&'a str, &'a str, Vec<(&'a str, &'a str)>, &'a str);
    let forwarders: [Example; 5] = [
        (
            "splunk-hec",
            "splunk-hec/hoop-hooks/session-open.runbook.py",
            vec![("SPLUNK_HEC_URL", https), ("SPLUNK_HEC_TOKEN", "bench")],
            &https_rule,
        ),
        (
            "elastic-bulk",
            "elastic-bulk/hoop-hooks/session-open.runbook.py",
            vec![("ELASTIC_URL", https), ("ELASTIC_API_KEY", "bench")],
            &https_rule,
        ),
        (
            "datadog-logs",
            "datadog-logs/hoop-hooks/session-open.runbook.py",
            vec![("DD_LOGS_URL", https), ("DD_API_KEY", "bench")],
            &https_rule,
        ),
        (
            "slack-prod-alert",
            "slack-prod-alert/hoop-hooks/session-open.runbook.py",
            vec![("SLACK_WEBHOOK_URL", https)],
            &https_rule,
        ),
        (
            "syslog-tcp",
            "syslog-tcp/hoop-hooks/session-open.runbook.py",
            vec![("SYSLOG_COLLECTOR", tcp)],
            &tcp_rule,
        ),
    ];
    for (name, path, env, rule) in &forwarders {
        add(
            &format!("example: {name}"),
            &example(path)?,
            "session-open.runbook.py",
            env,
            &[rule],
        )?;
    }
    // The session-audit hook imports the module beside it.
    if let Some(audit) = cases
        .iter()
        .find(|case| case.name.contains("session-audit"))
    {
        std::fs::copy(
            examples.join("session-audit/hoop-hooks/audit_format.py"),
            audit.hook.with_file_name("audit_format.py"),
        )?;
    }
    if let Some(wasm) = &plan.wasm_hook {
        let dir = work.join("case-rust");
        std::fs::create_dir_all(&dir)?;
        let hook = dir.join("session-open.wasm");
        std::fs::copy(wasm, &hook)
            .with_context(|| format!("copying the Rust hook {}", wasm.display()))?;
        cases.push(Case {
            name: "example: splunk-hec-rust (compiled Rust hook)".into(),
            hook,
            env: vec![
                ("SPLUNK_HEC_URL".into(), https.clone()),
                ("SPLUNK_HEC_TOKEN".into(), "bench".into()),
            ],
            rules: vec![https_rule.clone()],
            python: false,
            prepare: false,
        });
    }
    if let Some(wheels) = &plan.packages {
        let dir = work.join("case-requests");
        std::fs::create_dir_all(&dir)?;
        std::fs::write(dir.join("ca.pem"), ca_pem)?;
        let hook = dir.join("session-open.runbook.py");
        std::fs::write(&hook, REQUESTS_POST)?;
        unpack_wheels(wheels, &dir)?;
        for prepare in [false, true] {
            cases.push(Case {
                name: if prepare {
                    "requests JSON POST over HTTPS (packages in the snapshot)".into()
                } else {
                    "requests JSON POST over HTTPS (packages imported on each run)".into()
                },
                hook: hook.clone(),
                env: vec![("SIEM_URL".into(), https.clone())],
                rules: vec![https_rule.clone()],
                python: true,
                prepare,
            });
        }
    }
    if let Some(only) = &plan.only {
        cases.retain(|case| case.name.contains(only.as_str()));
        anyhow::ensure!(!cases.is_empty(), "no hook's name contains {only:?}");
    }
    for case in &cases {
        std::fs::write(case.hook.with_file_name(PAYLOAD_FILE), case.payload())?;
    }
    Ok(cases)
}

/// Unpacks every wheel in `wheels` into `dir`, as `pip install --target`
/// lays them out (with the real `python3`'s `zipfile`).
fn unpack_wheels(wheels: &Path, dir: &Path) -> anyhow::Result<()> {
    let python3 = real_python3()?;
    for entry in
        std::fs::read_dir(wheels).with_context(|| format!("reading {}", wheels.display()))?
    {
        let wheel = entry?.path();
        if wheel.extension().is_some_and(|e| e == "whl") {
            let status = Command::new(&python3)
                .args(["-m", "zipfile", "-e"])
                .arg(&wheel)
                .arg(dir)
                .status()?;
            anyhow::ensure!(status.success(), "unpacking {}", wheel.display());
        }
    }
    Ok(())
}

/// The payload file beside each hook, for one-shot runs.
const PAYLOAD_FILE: &str = "payload.json";

const IMPORTS_A_DOZEN: &str = "import argparse, logging.handlers, email.mime.text, xml.etree.ElementTree, html\n\
import statistics, configparser, smtplib, zoneinfo, difflib, platform, queue\nprint('imported')\n";

const URLLIB_POST: &str = r#"import json, os, urllib.request
event = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
body = json.dumps({"event": "session-open", "sid": event["sid"]}).encode()
request = urllib.request.Request(os.environ["SIEM_URL"] + "/events", data=body,
                                 headers={"Content-Type": "application/json"}, method="POST")
with urllib.request.urlopen(request, timeout=5) as response:
    print(response.status)
"#;

const THREAD_FAN_OUT: &str = r#"import json, os, urllib.request
from concurrent.futures import ThreadPoolExecutor
event = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
body = json.dumps({"event": "session-open", "sid": event["sid"]}).encode()
def send(path):
    request = urllib.request.Request(os.environ["SIEM_URL"] + path, data=body,
                                     headers={"Content-Type": "application/json"}, method="POST")
    with urllib.request.urlopen(request, timeout=5) as response:
        return response.status
with ThreadPoolExecutor(max_workers=3) as pool:
    print(list(pool.map(send, ["/siem", "/chat", "/audit"])))
"#;

const HTTPS_CONNECTION: &str = r#"import http.client, json, os, ssl
from urllib.parse import urlsplit
event = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
siem = urlsplit(os.environ["SIEM_URL"])
connection = http.client.HTTPSConnection(siem.hostname, siem.port, timeout=5,
                                         context=ssl.create_default_context(cafile="ca.pem"))
connection.request("POST", "/services/collector/event", body=json.dumps({"event": {"sid": event["sid"]}}),
                   headers={"Authorization": "Splunk bench", "Content-Type": "application/json"})
print(connection.getresponse().status)
"#;

const REQUESTS_POST: &str = r#"import json, os
import requests
event = json.loads(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
response = requests.post(os.environ["SIEM_URL"] + "/services/collector/event", json={"event": {"sid": event["sid"]}},
                         headers={"Authorization": "Splunk bench"}, timeout=5, verify="ca.pem")
print(response.status_code)
"#;

/// The `requests` hook's call alone under `python3`, its packages already
/// imported: what is left of `python3`'s time once imports cost nothing,
/// which in-process runs on a snapshot are measured against.
const REQUESTS_CALL_ALONE: &str = r#"import json, os, sys, time
import requests
url = os.environ["SIEM_URL"] + "/services/collector/event"
times = []
for _ in range(int(sys.argv[1])):
    started = time.perf_counter()
    response = requests.post(url, json={"event": {"sid": "bench"}}, headers={"Authorization": "Splunk bench"},
                             timeout=5, verify="ca.pem")
    response.raise_for_status()
    times.append(time.perf_counter() - started)
print(json.dumps(times))
"#;

/// Times `calls` of the `requests` hook's call under `python3`, in one
/// process after importing its packages, against the same receiver; says
/// what the first and the later calls took.
fn requests_call_alone(
    python3: &Path,
    case: &Case,
    ca_path: &Path,
    calls: usize,
) -> anyhow::Result<String> {
    let folder = case.hook.parent().context("the hook has no folder")?;
    let script = folder.with_file_name("requests-call-alone.py");
    std::fs::write(&script, REQUESTS_CALL_ALONE)?;
    let output = python_command(python3, case, ca_path, &script)
        .arg(calls.to_string())
        .env("PYTHONPATH", folder)
        .output()
        .context("running the requests call under python3")?;
    anyhow::ensure!(
        output.status.success(),
        "the requests call under python3 failed: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let times: Vec<f64> = serde_json::from_slice(&output.stdout)
        .context("reading the requests call's times from python3")?;
    let (first, later) = times.split_first().context("python3 timed no call")?;
    let mut later = later.to_vec();
    later.sort_by(f64::total_cmp);
    let later_p50 = later.get(later.len() / 2).copied().unwrap_or(*first);
    Ok(format!(
        "{}: under `python3`, with the packages already imported, the `requests.post` call \
         alone took {:.2} ms the first time in a process and {:.2} ms (median) the {} times after.",
        case.name,
        first * 1000.0,
        later_p50 * 1000.0,
        later.len()
    ))
}

fn config_for(case: &Case) -> anyhow::Result<SandboxConfig> {
    Ok(SandboxConfig {
        env: case.env.clone(),
        egress: Arc::new(EgressPolicy::parse(case.rules.iter().map(String::as_str))?),
        ..SandboxConfig::default()
    })
}

fn one_shot_command(plan: &HooksPlan, case: &Case, ca_path: &Path) -> Command {
    let mut command = Command::new(&plan.hookbox_exe);
    command
        .arg("run")
        .arg(&case.hook)
        .arg("--payload")
        .arg(case.hook.with_file_name(PAYLOAD_FILE))
        .arg("--ca-bundle")
        .arg(ca_path)
        .env(env_names::CACHE_DIR, &plan.cache_dir)
        // What is measured is prepared here, or not at all.
        .env(env_names::PREPARE_IN_BACKGROUND, "0")
        .env_remove(env_names::CONFIG);
    for (name, value) in &case.env {
        command.arg("--env").arg(format!("{name}={value}"));
    }
    for rule in &case.rules {
        command.arg("--allow").arg(rule);
    }
    command
}

/// `python3 script` as Hoop's agent would start the hook: in its folder,
/// with the payload and the hook's environment only.
fn python_command(python3: &Path, case: &Case, ca_path: &Path, script: &Path) -> Command {
    let mut command = Command::new(python3);
    command
        .arg(script)
        .current_dir(case.hook.parent().unwrap_or(Path::new(".")))
        .env_clear()
        .env("PATH", "/usr/local/bin:/usr/bin:/bin")
        .env(env_names::HOOK_PAYLOAD, case.payload())
        // OpenSSL's default trust, so urllib's default context trusts the
        // bench CA as hookbox's --ca-bundle does.
        .env("SSL_CERT_FILE", ca_path)
        .envs(case.env.iter().map(|(k, v)| (k, v)));
    command
}

fn report(
    plan: &HooksPlan,
    rows: &[HookRow],
    notes: &[String],
    sweep: &[(String, usize, Figures, Option<u64>)],
    idle_rss: Option<u64>,
) -> String {
    let ms = |figures: &Figures| figures.p50.as_secs_f64() * 1000.0;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "# Realistic hooks\n\nWritten by `hookbox-bench --hooks --runs {} --launches {}` (release build). \
         Each hook runs against receivers on loopback (HTTP, HTTPS with a CA made for the run, TCP), \
         in-process (one runtime, one run at a time), as a one-shot `hookbox run` and as \
         `python3 hook.py` with the real interpreter, in the same run. Times are medians in ms.\n",
        plan.runs, plan.launches
    );
    let mut table = Table::new(&[
        "hook",
        "fuel/run",
        "in-process p50",
        "in-process p99",
        "one-shot p50",
        "python3 p50",
        "python3 ÷ one-shot",
        "python3 ÷ in-process",
    ]);
    for row in rows {
        let name = row.name.trim_start_matches("sweep: ");
        let (python, one_shot_ratio, in_process_ratio) = match &row.python {
            Some(python) => (
                format!("{:.1}", ms(python)),
                format!("{:.1}x", ms(python) / ms(&row.one_shot)),
                format!("{:.0}x", ms(python) / ms(&row.in_process)),
            ),
            None => ("n/a".into(), "n/a".into(), "n/a".into()),
        };
        table.row([
            name.to_owned(),
            format!("{:.1} M", row.fuel as f64 / 1e6),
            format!("{:.2}", ms(&row.in_process)),
            format!("{:.2}", row.in_process.p99.as_secs_f64() * 1000.0),
            format!("{:.1}", ms(&row.one_shot)),
            python,
            one_shot_ratio,
            in_process_ratio,
        ]);
    }
    out.push_str(table.markdown());
    for note in notes {
        let _ = writeln!(out, "\n{note}");
    }
    if !sweep.is_empty() {
        sweep_section(&mut out, sweep, idle_rss);
    }
    let _ = writeln!(
        out,
        "\n{} in-process runs per row (at least 4 per run in flight in the sweep), {} launches per \
         one-shot and python3 figure; {} cores.",
        plan.runs,
        plan.launches,
        std::thread::available_parallelism().map_or(0, |n| n.get())
    );
    out
}

/// The concurrency sweep's section of the report.
fn sweep_section(
    out: &mut String,
    sweep: &[(String, usize, Figures, Option<u64>)],
    idle_rss: Option<u64>,
) {
    let ms = |figures: &Figures| figures.p50.as_secs_f64() * 1000.0;
    let idle = idle_rss.map_or("unknown".into(), |kib| {
        format!("{:.0} MiB", kib as f64 / 1024.0)
    });
    let _ = writeln!(
        out,
        "\n## Concurrency sweep (in-process)\n\nPeak RSS is the whole process's while that many runs \
         were in flight (measured before any other hook ran in the process; levels run in \
         increasing order, both hooks at each level; the pooling allocator keeps a used \
         slot's memory resident). The runtime with the compiled runner \
         loaded, idle, held {idle}; the added memory per run in flight counts from there, so it \
         includes the runner's code as it is first touched, shared by every run. What each \
         more run in flight costs is the last column: the growth of the peak from one run in \
         flight, per extra run.\n"
    );
    let mut table = Table::new(&[
        "hook",
        "concurrency",
        "p50 (ms)",
        "p99 (ms)",
        "runs/s",
        "peak RSS (MiB)",
        "added RSS per run in flight (MiB)",
        "each run in flight past the first (MiB)",
    ]);
    let peak_at_one = |hook: &str| {
        sweep
            .iter()
            .find(|(name, level, _, _)| name == hook && *level == 1)
            .and_then(|(_, _, _, peak)| *peak)
    };
    for (name, level, figures, peak) in sweep {
        let marginal = match (peak, peak_at_one(name)) {
            (Some(peak), Some(first)) if *level > 1 => format!(
                "{:.1}",
                peak.saturating_sub(first) as f64 / 1024.0 / (*level - 1) as f64
            ),
            _ => "-".into(),
        };
        let (peak, per_run) = match (peak, idle_rss) {
            (Some(peak), Some(idle)) => (
                format!("{:.0}", *peak as f64 / 1024.0),
                format!(
                    "{:.1}",
                    peak.saturating_sub(idle) as f64 / 1024.0 / *level as f64
                ),
            ),
            _ => ("unknown".into(), "unknown".into()),
        };
        table.row([
            name.trim_start_matches("sweep: ").to_owned(),
            level.to_string(),
            format!("{:.2}", ms(figures)),
            format!("{:.2}", figures.p99.as_secs_f64() * 1000.0),
            format!("{:.0}", figures.per_second),
            peak,
            per_run,
            marginal,
        ]);
    }
    out.push_str(table.markdown());
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plan(only: &str) -> HooksPlan {
        HooksPlan {
            runs: 1,
            launches: 1,
            hookbox_exe: PathBuf::from("hookbox"),
            cache_dir: PathBuf::from("cache"),
            examples: Path::new(env!("CARGO_MANIFEST_DIR")).join("../../hooks-examples"),
            wasm_hook: None,
            packages: None,
            levels: vec![1],
            only: Some(only.to_owned()),
        }
    }

    #[test]
    fn only_keeps_the_hooks_whose_name_has_the_text_and_none_is_an_error() {
        let targets = Targets {
            http: "http://127.0.0.1:1".into(),
            https: "https://127.0.0.1:2".into(),
            tcp: "127.0.0.1:3".into(),
        };
        let work = tempfile::tempdir().unwrap();
        let kept = cases(&plan("example: s"), work.path(), &targets, "").unwrap();
        let names: Vec<&str> = kept.iter().map(|case| case.name.as_str()).collect();
        assert_eq!(
            names,
            [
                "example: session-audit (no network)",
                "example: splunk-hec",
                "example: slack-prod-alert",
                "example: syslog-tcp"
            ]
        );
        let work = tempfile::tempdir().unwrap();
        assert!(cases(&plan("no such hook"), work.path(), &targets, "").is_err());
    }
}
