//! Compiled (`.wasm`) hooks under the same sandbox and limits as Python ones:
//! small hand-written components, each doing one thing a hook could do.

use hookbox::record::{RunOutcome, RunStatus};
use hookbox::sandbox::limits::Limits;

use crate::support::{SESSION_OPEN, TestHook, runtime};

/// A WASI command component whose `run` is the core function body given.
fn command(body: &str) -> Vec<u8> {
    wat::parse_str(format!(
        r#"(component
             (core module $m
               (memory 1)
               (func (export "run") (result i32) {body}))
             (core instance $i (instantiate $m))
             (func $run (result (result)) (canon lift (core func $i "run")))
             (instance $cli (export "run" (func $run)))
             (export "wasi:cli/run@0.2.0" (instance $cli)))"#
    ))
    .expect("valid component text")
}

fn hook(bytes: &[u8]) -> TestHook {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("session-open.wasm");
    std::fs::write(&path, bytes).unwrap();
    TestHook { dir, path }
}

async fn run(bytes: &[u8], limits: &Limits) -> RunOutcome {
    hook(bytes)
        .run_on(runtime(), SESSION_OPEN, &[], limits, &[])
        .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn success_and_failure_are_exit_0_and_1() {
    let ok = run(&command("i32.const 0"), &Limits::default()).await;
    assert_eq!(
        (ok.status, ok.exit_code),
        (RunStatus::Ok, Some(0)),
        "{ok:?}"
    );
    let failed = run(&command("i32.const 1"), &Limits::default()).await;
    assert_eq!(
        (failed.status, failed.exit_code),
        (RunStatus::Failed, Some(1)),
        "{failed:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_trap_is_the_hooks_failure() {
    let outcome = run(&command("unreachable"), &Limits::default()).await;
    assert_eq!(outcome.status, RunStatus::Failed, "{outcome:?}");
    assert_eq!(outcome.exit_code, Some(1));
    assert!(
        outcome
            .error
            .as_deref()
            .unwrap_or("")
            .contains("unreachable"),
        "{outcome:?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_endless_loop_runs_out_of_fuel() {
    let limits = Limits {
        fuel: 5_000_000,
        ..Limits::default()
    };
    let outcome = run(&command("(loop $l (br $l)) i32.const 0"), &limits).await;
    assert_eq!(outcome.status, RunStatus::FuelExhausted, "{outcome:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn growing_past_the_memory_limit_is_refused() {
    let limits = Limits {
        memory_bytes: 8 * 1024 * 1024,
        ..Limits::default()
    };
    // Ask for 16 MiB more; trap if refused, as an allocator would abort.
    let body =
        "(if (i32.eq (memory.grow (i32.const 256)) (i32.const -1)) (then unreachable)) i32.const 0";
    let outcome = run(&command(body), &limits).await;
    assert_eq!(outcome.status, RunStatus::MemoryExceeded, "{outcome:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn what_is_not_a_command_component_is_refused_with_the_reason() {
    let garbage = run(b"not wasm at all", &Limits::default()).await;
    assert_eq!(garbage.status, RunStatus::Error);
    assert!(
        garbage
            .error
            .as_deref()
            .unwrap()
            .contains("is not a WebAssembly component"),
        "{garbage:?}"
    );

    let core_module = wat::parse_str("(module (func (export \"_start\")))").unwrap();
    let module = run(&core_module, &Limits::default()).await;
    assert_eq!(module.status, RunStatus::Error, "{module:?}");

    let asks_for_more = wat::parse_str(
        r#"(component
             (import "evil:host/escape" (instance (export "out" (func))))
             (core module $m (func (export "run") (result i32) i32.const 0))
             (core instance $i (instantiate $m))
             (func $run (result (result)) (canon lift (core func $i "run")))
             (instance $cli (export "run" (func $run)))
             (export "wasi:cli/run@0.2.0" (instance $cli)))"#,
    )
    .unwrap();
    let unknown_import = run(&asks_for_more, &Limits::default()).await;
    assert_eq!(unknown_import.status, RunStatus::Error);
    let error = unknown_import.error.as_deref().unwrap();
    assert!(
        error.contains("cannot run in the sandbox") && error.contains("evil:host/escape"),
        "{error}"
    );
}

/// What one run leaves in its memory, the next never sees: each run grows
/// its memory to 48 MiB (past the part a reused slot keeps resident), fails
/// if any byte of it is not zero, then fills all of it. The runs follow one
/// another as fast as they can, so slots are reused while earlier ones are
/// still being torn down.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_run_never_sees_what_the_last_one_left_in_memory() {
    const PAGES: u32 = 768;
    let body = format!(
        "(local $at i32) (local $end i32)
         (if (i32.eq (memory.grow (i32.const {grow})) (i32.const -1)) (then unreachable))
         (local.set $end (i32.const {bytes}))
         (loop $scan
           (if (i64.ne (i64.load (local.get $at)) (i64.const 0)) (then (return (i32.const 1))))
           (local.set $at (i32.add (local.get $at) (i32.const 8)))
           (br_if $scan (i32.lt_u (local.get $at) (local.get $end))))
         (memory.fill (i32.const 0) (i32.const 0xa5) (local.get $end))
         i32.const 0",
        grow = PAGES - 1,
        bytes = PAGES * 65536,
    );
    let component = command(&body);
    let hook = hook(&component);
    for run in 0..8 {
        let outcome = hook
            .run_on(runtime(), SESSION_OPEN, &[], &Limits::default(), &[])
            .await;
        assert_eq!(
            (outcome.status, outcome.exit_code),
            (RunStatus::Ok, Some(0)),
            "run {run} found another run's bytes in its memory: {outcome:?}"
        );
    }
}
