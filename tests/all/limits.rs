//! Hard limits: each stops a hostile hook with its own status and message.

use std::time::{Duration, Instant};

use hookbox::record::RunStatus;
use hookbox::sandbox::limits::Limits;

use crate::support::{TestHook, run_source};

#[tokio::test]
async fn an_infinite_loop_runs_out_of_fuel() {
    let hook = TestHook::new("while True:\n    pass\n");
    let limits = Limits {
        fuel: 500_000_000,
        ..Limits::default()
    };
    let outcome = hook.run(&limits).await;
    assert_eq!(outcome.status, RunStatus::FuelExhausted, "{outcome:?}");
    assert_eq!(outcome.exit_code, None);
    assert!(
        outcome
            .error
            .as_deref()
            .unwrap()
            .contains("fuel budget of 500000000")
    );
    assert!(outcome.fuel_consumed >= 500_000_000 - 1000);
}

#[tokio::test]
async fn an_infinite_loop_with_plenty_of_fuel_hits_the_wall_clock() {
    let hook = TestHook::new("while True:\n    pass\n");
    let limits = Limits {
        fuel: u64::MAX,
        timeout: Duration::from_millis(500),
        ..Limits::default()
    };
    let started = Instant::now();
    let outcome = hook.run(&limits).await;
    assert_eq!(outcome.status, RunStatus::Timeout, "{outcome:?}");
    assert!(
        outcome
            .error
            .as_deref()
            .unwrap()
            .contains("wall-clock limit of 500ms")
    );
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
    // The record says what the loop really burnt (far more than starting
    // up), and when it was stopped: the figures are bounded generously here,
    // the distribution is a benchmark's business.
    let start_up = crate::support::run_source("pass\n").await.fuel_consumed;
    assert!(
        outcome.fuel_consumed > 100 * start_up,
        "{} fuel recorded; starting up takes {start_up}",
        outcome.fuel_consumed
    );
    assert!(
        outcome.duration_ms < 500.0 + 400.0,
        "stopped {} ms after a 500 ms limit",
        outcome.duration_ms
    );
}

#[tokio::test]
async fn sleeping_past_the_deadline_is_stopped() {
    let hook = TestHook::new(
        "import time\nprint('going to sleep', flush=True)\ntime.sleep(60)\nprint('woke up')\n",
    );
    let limits = Limits {
        timeout: Duration::from_millis(300),
        ..Limits::default()
    };
    let started = Instant::now();
    let outcome = hook.run(&limits).await;
    assert_eq!(outcome.status, RunStatus::Timeout, "{outcome:?}");
    assert_eq!(outcome.stdout, "going to sleep\n");
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn a_memory_bomb_hits_the_memory_limit() {
    let hook =
        TestHook::new("blocks = []\nwhile True:\n    blocks.append(bytearray(8 * 1024 * 1024))\n");
    let limits = Limits {
        memory_bytes: 64 * 1024 * 1024,
        ..Limits::default()
    };
    let outcome = hook.run(&limits).await;
    assert_eq!(outcome.status, RunStatus::MemoryExceeded, "{outcome:?}");
    assert!(
        outcome
            .error
            .as_deref()
            .unwrap()
            .contains("64 MiB memory limit"),
        "{outcome:?}"
    );
    assert!(outcome.peak_memory_bytes <= 64 * 1024 * 1024);
    assert!(outcome.peak_memory_bytes > 32 * 1024 * 1024);
}

#[tokio::test]
async fn a_single_huge_allocation_hits_the_memory_limit() {
    let outcome = run_source("x = bytearray(512 * 1024 * 1024)\nprint('allocated')\n").await;
    assert_eq!(outcome.status, RunStatus::MemoryExceeded, "{outcome:?}");
    assert!(outcome.stderr.contains("MemoryError"), "{}", outcome.stderr);
    assert_eq!(outcome.stdout, "");
}

/// An error too big to print in the memory left ends the run at the
/// memory limit, and says that is why its traceback is missing.
#[tokio::test]
async fn an_error_too_big_to_report_says_memory_ran_out() {
    let hook = TestHook::new("raise ValueError('E' * (40 * 1024 * 1024))\n");
    let limits = Limits {
        memory_bytes: 64 * 1024 * 1024,
        ..Limits::default()
    };
    let outcome = hook.run(&limits).await;
    assert_eq!(outcome.status, RunStatus::MemoryExceeded, "{outcome:?}");
    assert!(
        outcome.stderr.contains("no memory was left to report it"),
        "{}",
        outcome.stderr
    );
}

#[tokio::test]
async fn a_hook_that_handles_a_memory_error_is_not_blamed() {
    let outcome = run_source(
        "try:\n    x = bytearray(512 * 1024 * 1024)\nexcept MemoryError:\n    print('fell back to small batches')\n",
    )
    .await;
    assert_eq!(outcome.status, RunStatus::Ok, "{outcome:?}");
}

#[tokio::test]
async fn a_hundred_megabytes_of_output_is_cut_at_the_cap() {
    let hook = TestHook::new(
        "import sys\nchunk = 'x' * 65536 + '\\n'\nfor _ in range(1600):\n    sys.stdout.write(chunk)\nsys.stderr.write('e' * 200_000)\nprint('end')\n",
    );
    let limits = Limits {
        output_bytes: 1000,
        ..Limits::default()
    };
    let outcome = hook.run(&limits).await;
    assert_eq!(outcome.status, RunStatus::Ok, "{outcome:?}");
    assert!(outcome.stdout_truncated);
    assert!(outcome.stderr_truncated);
    assert!(outcome.stdout.len() < 1200, "{}", outcome.stdout.len());
    assert!(outcome.stdout.starts_with(&"x".repeat(1000)));
    assert!(
        outcome.stdout.contains("[hookbox: output truncated: "),
        "{}",
        &outcome.stdout[1000..]
    );
    assert!(outcome.stderr.starts_with(&"e".repeat(1000)));
    assert!(outcome.stderr.len() < 1200, "{}", outcome.stderr.len());
}

#[tokio::test]
async fn output_under_the_cap_is_not_marked() {
    let outcome = run_source("print('short')\n").await;
    assert!(!outcome.stdout_truncated);
    assert!(!outcome.stderr_truncated);
}

#[tokio::test]
async fn deep_recursion_fails_cleanly() {
    let outcome = run_source("def down(n):\n    return down(n + 1)\n\ndown(0)\n").await;
    assert!(
        matches!(outcome.status, RunStatus::Failed | RunStatus::Error),
        "{outcome:?}"
    );
    assert_ne!(outcome.status, RunStatus::Ok);
    // And the process is fine: another hook runs.
    assert_eq!(run_source("print(1)\n").await.stdout, "1\n");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fifty_concurrent_runs_keep_to_themselves() {
    let tasks: Vec<_> = (0..50)
        .map(|i| {
            let hook = TestHook::new(&format!(
                "import time\ntime.sleep(0.01)\nx = bytearray({i} * 100_000)\nprint('run {i}')\n"
            ));
            tokio::spawn(async move { hook.run(&Limits::default()).await })
        })
        .collect();
    for (i, task) in tasks.into_iter().enumerate() {
        let outcome = task.await.expect("the run's task");
        assert_eq!(outcome.status, RunStatus::Ok, "{outcome:?}");
        assert_eq!(outcome.stdout, format!("run {i}\n"));
    }
}
