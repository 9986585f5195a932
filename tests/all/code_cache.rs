//! A hook's source is compiled once per content: later runs of the same file
//! reuse the code the host kept, and no hook can plant code for later runs.

use hookbox::sandbox::limits::Limits;

use crate::support::{TestHook, runtime};

/// A hook long enough that compiling it is a visible part of its fuel.
fn long_hook(marker: &str) -> String {
    let mut source = String::from("import json\ntotal = 0\n");
    for i in 0..300 {
        source.push_str(&format!(
            "def f{i}(x):\n    return {{'n': x + {i}, 'k': [x, {i}]}}\ntotal += f{i}(1)['n']\n"
        ));
    }
    source.push_str(&format!("print('{marker}', total)\n"));
    source
}

#[tokio::test]
async fn a_second_run_of_the_same_source_skips_the_compile() {
    let hook = TestHook::new(&long_hook("first"));
    let first = hook.run(&Limits::default()).await;
    let second = hook.run(&Limits::default()).await;
    assert_eq!(first.stdout, "first 45150\n", "{first:?}");
    assert_eq!(second.stdout, first.stdout);
    assert!(
        second.fuel_consumed * 2 < first.fuel_consumed,
        "first run {} fuel, second {}",
        first.fuel_consumed,
        second.fuel_consumed
    );
    // Another source at the same path is compiled afresh, not served stale.
    std::fs::write(&hook.path, long_hook("changed")).unwrap();
    let changed = hook.run(&Limits::default()).await;
    assert_eq!(changed.stdout, "changed 45150\n", "{changed:?}");
}

#[tokio::test]
async fn a_cached_hook_still_reports_its_own_file_and_lines() {
    let hook =
        TestHook::new("import sys\n\n\ndef fail():\n    raise RuntimeError('boom')\n\nfail()\n");
    for _ in 0..2 {
        let outcome = hook.run(&Limits::default()).await;
        assert_eq!(outcome.exit_code, Some(1));
        assert!(
            outcome
                .stderr
                .contains("session-close.runbook.py\", line 5, in fail"),
            "{}",
            outcome.stderr
        );
        assert!(
            outcome.stderr.contains("raise RuntimeError('boom')"),
            "{}",
            outcome.stderr
        );
    }
}

#[tokio::test]
async fn a_hook_cannot_plant_code_for_itself_or_others() {
    // The hook asks and offers code itself: the runner already asked and
    // stored, so the host answers nothing and takes none of it; and a guest
    // names no key, so there is no way to name another source's.
    let victim = TestHook::new("print('victim ran')\n");
    let attacker = TestHook::new(
        "import marshal\n\
         from wit_world.imports import code\n\
         evil = marshal.dumps(compile(\"print('planted')\", __file__, 'exec'))\n\
         for attempt in range(2):\n\
         \x20   source, cached = code.hook_source()\n\
         \x20   print(cached is None)\n\
         \x20   code.store(evil)\n\
         print('attacker ran')\n",
    );
    let first = attacker.run(&Limits::default()).await;
    assert_eq!(first.stdout, "True\nTrue\nattacker ran\n", "{first:?}");
    let again = attacker.run(&Limits::default()).await;
    assert_eq!(again.stdout, first.stdout, "{again:?}");
    let outcome = victim.run(&Limits::default()).await;
    assert_eq!(outcome.stdout, "victim ran\n", "{outcome:?}");
    assert!(runtime().stdlib_dir().exists());
}
