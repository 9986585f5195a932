//! The run's scratch folder, `/tmp`: writable, private to the run, empty at
//! start, gone after it, and capped (`--max-scratch`).

use hookbox::record::RunStatus;
use hookbox::sandbox::limits::Limits;

use crate::compat::{Case, allow, assert_same_requests};
use crate::receiver::{Receiver, Reply};
use crate::support::{TestHook, run_source};

const MIB: u64 = 1024 * 1024;

fn capped(bytes: u64) -> Limits {
    Limits {
        scratch_bytes: bytes,
        ..Limits::default()
    }
}

const TEMPFILE_AND_CURL: &str = r#"
import os, subprocess, tempfile

with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as body:
    body.write(os.environ["HOOP_RUNBOOK_HOOK_PAYLOAD"])
with tempfile.TemporaryDirectory() as folder:
    reply = os.path.join(folder, "reply.txt")
    result = subprocess.run(
        ["curl", "-sS", "--fail", "-H", "Content-Type: application/json",
         "-d", "@" + body.name, "-o", reply, os.environ["SIEM_URL"]],
        capture_output=True,
    )
    with open(reply) as file:
        print(result.returncode, file.read())
os.unlink(body.name)
print(os.path.exists(body.name), os.path.exists(folder))
"#;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_body_in_a_temporary_file_goes_out_with_curl_and_the_reply_comes_back_in_one() {
    let receiver = Receiver::http(Reply::Status(200, "accepted")).await;
    let hook = TestHook::new(TEMPFILE_AND_CURL);
    let case = Case {
        hook: &hook,
        env: vec![
            (
                "SIEM_URL",
                format!("http://127.0.0.1:{}/hoop", receiver.port()),
            ),
            ("PATH", "/usr/bin:/bin".into()),
        ],
        hookbox_args: allow(format!("http://127.0.0.1:{}", receiver.port())),
    };
    assert_eq!(case.both_succeed_alike().await, "0 accepted\nFalse False\n");
    let requests = assert_same_requests(&receiver, 1, false);
    assert!(
        String::from_utf8_lossy(&requests[1].body).contains("event_session_open"),
        "{requests:?}"
    );
}

#[tokio::test]
async fn a_scratch_flood_stops_at_its_cap() {
    let hook = TestHook::new(
        "import errno\n\
         written = 0\n\
         try:\n    \
             with open('/tmp/flood', 'wb') as file:\n        \
                 while True:\n            \
                     file.write(b'x' * 65536)\n            \
                     file.flush()\n            \
                     written += 65536\n\
         except OSError as error:\n    \
             print('stopped', error.errno in (errno.ENOSPC, errno.EIO))\n\
         print(written)\n",
    );
    let outcome = hook.run(&capped(MIB)).await;
    assert_eq!(outcome.status, RunStatus::Ok, "{outcome:?}");
    let mut lines = outcome.stdout.lines();
    assert_eq!(lines.next(), Some("stopped True"), "{outcome:?}");
    let written: u64 = lines.next().unwrap().parse().unwrap();
    assert!((MIB / 2..=MIB).contains(&written), "{written}");
    assert!(
        outcome.stderr.contains(
            "the scratch folder /tmp is full: a run may write 1048576 bytes there (--max-scratch"
        ),
        "{}",
        outcome.stderr
    );
    assert!(
        outcome.scratch_bytes_written <= MIB && outcome.scratch_bytes_written >= written,
        "{}",
        outcome.scratch_bytes_written
    );
}

#[tokio::test]
async fn a_flood_of_empty_files_and_folders_stops_at_the_cap_too() {
    let hook = TestHook::new(
        "import os\n\
         made = 0\n\
         try:\n    \
             while True:\n        \
                 os.mkdir(f'/tmp/d{made}')\n        \
                 open(f'/tmp/d{made}/f', 'w').close()\n        \
                 made += 1\n\
         except OSError as error:\n    \
             print('stopped', error.strerror)\n\
         print(made)\n",
    );
    let outcome = hook.run(&capped(MIB)).await;
    assert_eq!(outcome.status, RunStatus::Ok, "{outcome:?}");
    assert!(outcome.stdout.starts_with("stopped "), "{outcome:?}");
    let made: u64 = outcome.stdout.lines().nth(1).unwrap().parse().unwrap();
    // Two entries of 4 KiB each per round.
    assert_eq!(made, MIB / (2 * 4096), "{outcome:?}");
}

#[tokio::test]
async fn a_sparse_file_cannot_claim_more_than_the_cap() {
    let hook = TestHook::new(
        "with open('/tmp/sparse', 'wb') as file:\n    \
             try:\n        \
                 file.truncate(10 * 1024 ** 3)\n        \
                 print('grown')\n    \
             except OSError as error:\n        \
                 print('refused', error.strerror)\n",
    );
    let outcome = hook.run(&capped(MIB)).await;
    assert_eq!(
        outcome.stdout, "refused No space left on device\n",
        "{outcome:?}"
    );
}

/// Writes `MIB` MiB in 64 KiB writes through `file` (set up by `open`),
/// printing how many MiB went through before the cap stopped them.
fn flood(open: &str) -> String {
    format!(
        "import os\n{open}\n\
         written = 0\n\
         try:\n    \
             for _ in range(16 * int(os.environ.get('MIB', '64'))):\n        \
                 file.write(b'x' * 65536)\n        \
                 file.flush()\n        \
                 written += 65536\n\
         except OSError:\n    \
             pass\n\
         print(written // (1024 * 1024))\n"
    )
}

#[tokio::test]
async fn neither_deleting_nor_unlinking_nor_rewriting_gives_bytes_back() {
    for open in [
        // Writes to a file with no name left.
        "file = open('/tmp/ghost', 'wb')\nos.unlink('/tmp/ghost')",
        // The same file rewritten from its start, again and again.
        "class Rewound:\n    \
             def __init__(self):\n        \
                 self.f = open('/tmp/again', 'wb')\n    \
             def write(self, data):\n        \
                 self.f.seek(0)\n        \
                 self.f.write(data)\n    \
             def flush(self):\n        \
                 self.f.flush()\n\
         file = Rewound()",
        // Deep below paths longer than the host's PATH_MAX.
        "fd = os.open('/tmp', os.O_RDONLY | os.O_DIRECTORY)\n\
         for _ in range(20):\n    \
             os.mkdir('d' * 250, dir_fd=fd)\n    \
             fd = os.open('d' * 250, os.O_RDONLY | os.O_DIRECTORY, dir_fd=fd)\n\
         file = open(os.open('deep', os.O_WRONLY | os.O_CREAT, dir_fd=fd), 'wb')",
    ] {
        let hook = TestHook::new(&flood(open));
        let outcome = hook.run(&capped(MIB)).await;
        assert_eq!(outcome.status, RunStatus::Ok, "{open}: {outcome:?}");
        assert_eq!(outcome.stdout, "0\n", "{open}: under 1 MiB went through");
        assert!(
            outcome.scratch_bytes_written <= MIB,
            "{open}: {}",
            outcome.scratch_bytes_written
        );
        assert!(
            outcome.stderr.contains("scratch folder /tmp is full"),
            "{open}"
        );
    }
}

#[tokio::test]
async fn a_write_far_past_the_end_counts_the_hole() {
    let hook = TestHook::new(
        "import os\n\
         fd = os.open('/tmp/sparse', os.O_WRONLY | os.O_CREAT)\n\
         try:\n    \
             os.pwrite(fd, b'z', 1 << 40)\n    \
             print('written')\n\
         except OSError as error:\n    \
             print('refused', error.strerror)\n",
    );
    let outcome = hook.run(&capped(MIB)).await;
    assert_eq!(
        outcome.stdout, "refused No space left on device\n",
        "{outcome:?}"
    );
}

#[tokio::test]
async fn a_runs_scratch_files_are_gone_for_the_next_run() {
    let writer = run_source(
        "import os, tempfile\n\
         open('/tmp/secret', 'w').write('token')\n\
         os.mkdir('/tmp/kept')\n\
         tempfile.mkstemp()\n\
         print(len(os.listdir('/tmp')))\n",
    )
    .await;
    assert_eq!(writer.stdout, "3\n", "{writer:?}");
    // The same runtime, so the same instance slot if the pool reuses one.
    let reader = run_source("import os\nprint(os.listdir('/tmp'))\n").await;
    assert_eq!(reader.stdout, "[]\n", "{reader:?}");
}

#[tokio::test]
async fn a_link_in_scratch_leads_nowhere_outside_it() {
    let hook = TestHook::new(
        "import os\n\
         for target, link in (('/etc/passwd', '/tmp/passwd'), ('../hook', '/tmp/up')):\n    \
             try:\n        \
                 os.symlink(target, link)\n    \
             except OSError:\n        \
                 pass\n\
         for path in ('/tmp/passwd', '/tmp/up/session-close.runbook.py'):\n    \
             try:\n        \
                 open(path).read()\n        \
                 print('read', path)\n    \
             except OSError as error:\n        \
                 print('refused', path)\n",
    );
    let outcome = hook.run(&Limits::default()).await;
    assert_eq!(
        outcome.stdout, "refused /tmp/passwd\nrefused /tmp/up/session-close.runbook.py\n",
        "{outcome:?}"
    );
}

#[tokio::test]
async fn the_hooks_own_folder_stays_read_only_beside_scratch() {
    let hook = TestHook::new(
        "try:\n    \
             open('/hook/new.txt', 'w')\n    \
             print('written')\n\
         except OSError:\n    \
             print('read-only')\n",
    );
    let outcome = hook.run(&Limits::default()).await;
    assert_eq!(outcome.stdout, "read-only\n", "{outcome:?}");
    assert!(!hook.dir.path().join("new.txt").exists());
}

/// A one-shot `hookbox run` leaves nothing in the host's temporary folder:
/// not the run's scratch folder, not the CA bundle's view, also when the
/// wall clock stops the hook.
#[test]
fn a_one_shot_run_leaves_nothing_in_the_hosts_temporary_folder() {
    let host_tmp = tempfile::tempdir().unwrap();
    let inputs = tempfile::tempdir().unwrap();
    let bundle = inputs.path().join("ca.pem");
    std::fs::write(&bundle, crate::receiver::TestCa::new().ca_pem).unwrap();
    let payload = inputs.path().join("payload.json");
    std::fs::write(&payload, crate::support::SESSION_CLOSE).unwrap();
    let writes = TestHook::new(
        "import tempfile\n\
         tempfile.NamedTemporaryFile(delete=False).write(b'kept?')\n\
         print('written')\n",
    );
    let stalls = TestHook::new(
        "import tempfile, time\n\
         tempfile.mkdtemp()\n\
         time.sleep(60)\n",
    );
    for (hook, timeout, code) in [(&writes, "10s", 0), (&stalls, "300ms", 124)] {
        let output = crate::support::hookbox()
            .env("TMPDIR", host_tmp.path())
            .arg("run")
            .arg(&hook.path)
            .args(["--payload".as_ref(), payload.as_os_str()])
            .args(["--ca-bundle".as_ref(), bundle.as_os_str()])
            .args(["--timeout", timeout])
            .output()
            .unwrap();
        assert_eq!(
            output.status.code(),
            Some(code),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let left: Vec<_> = std::fs::read_dir(host_tmp.path())
            .unwrap()
            .map(|entry| entry.unwrap().file_name())
            .collect();
        assert!(
            left.is_empty(),
            "left behind by {}: {left:?}",
            hook.path.display()
        );
    }
}
