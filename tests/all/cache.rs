//! The compile cache: artifacts are reused, and corrupt or stale ones are
//! detected and rebuilt, never trusted blindly. Uses a tiny real component so
//! each compile takes milliseconds.

use std::fs;

use hookbox::runtime::cache::{CacheResult, ComponentCache};
use hookbox::runtime::engine::{EngineOptions, new_engine};

fn tiny_component() -> Vec<u8> {
    wat::parse_str("(component (core module (func (export \"f\"))))").unwrap()
}

fn load(cache: &ComponentCache, engine: &wasmtime::Engine, wasm: &[u8]) -> CacheResult {
    let hash = format!("{:032x}", xxhash_rust::xxh3::xxh3_128(wasm));
    cache
        .load_or_compile(engine, "tiny", &hash, wasm, || Box::new(|| {}))
        .expect("load or compile")
        .1
}

/// An empty cache in a fresh directory, an engine, and the tiny component.
struct Fixture {
    dir: tempfile::TempDir,
    cache: ComponentCache,
    engine: wasmtime::Engine,
    wasm: Vec<u8>,
}

impl Fixture {
    fn new() -> Fixture {
        let dir = tempfile::tempdir().unwrap();
        Fixture {
            cache: ComponentCache::new(dir.path()),
            dir,
            engine: new_engine(EngineOptions::default()).unwrap(),
            wasm: tiny_component(),
        }
    }

    fn load(&self) -> CacheResult {
        load(&self.cache, &self.engine, &self.wasm)
    }

    fn artifact(&self) -> std::path::PathBuf {
        artifact(self.dir.path())
    }
}

fn artifact(dir: &std::path::Path) -> std::path::PathBuf {
    fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .find(|p| p.extension().is_some_and(|e| e == "cwasm"))
        .expect("an artifact")
}

#[test]
fn compiles_once_then_loads() {
    let fixture = Fixture::new();
    assert_eq!(fixture.load(), CacheResult::Compiled);
    assert_eq!(fixture.load(), CacheResult::Hit);
}

#[test]
fn a_corrupt_artifact_is_rebuilt() {
    let fixture = Fixture::new();
    fixture.load();
    let path = fixture.artifact();
    let mut bytes = fs::read(&path).unwrap();
    let middle = bytes.len() / 2;
    bytes[middle] ^= 0xff;
    fs::write(&path, &bytes).unwrap();
    assert_eq!(fixture.load(), CacheResult::Replaced);
    assert_eq!(fixture.load(), CacheResult::Hit);
}

#[test]
fn a_truncated_artifact_is_rebuilt() {
    let fixture = Fixture::new();
    fixture.load();
    let path = fixture.artifact();
    let bytes = fs::read(&path).unwrap();
    fs::write(&path, &bytes[..bytes.len() / 3]).unwrap();
    assert_eq!(fixture.load(), CacheResult::Replaced);
}

#[test]
fn an_artifact_without_its_checksum_is_rebuilt() {
    let fixture = Fixture::new();
    fixture.load();
    let checksum = fixture.artifact().with_extension("cwasm.xxh3");
    fs::remove_file(checksum).unwrap();
    assert_eq!(fixture.load(), CacheResult::Replaced);
}

#[test]
fn a_different_engine_or_component_uses_another_artifact() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ComponentCache::new(dir.path());
    let engine = new_engine(EngineOptions::default()).unwrap();
    let mut plain_config = wasmtime::Config::new();
    plain_config.consume_fuel(false);
    let unmetered = wasmtime::Engine::new(&plain_config).unwrap();
    let path = cache.artifact_path(&engine, "tiny", "aa");
    assert_ne!(path, cache.artifact_path(&unmetered, "tiny", "aa"));
    assert_ne!(path, cache.artifact_path(&engine, "tiny", "bb"));
}

#[test]
fn artifacts_unused_for_a_week_are_removed_when_compiling() {
    let dir = tempfile::tempdir().unwrap();
    let cache = ComponentCache::new(dir.path());
    let engine = new_engine(EngineOptions::default()).unwrap();
    let week_and_a_day =
        std::time::SystemTime::now() - std::time::Duration::from_secs(8 * 24 * 3600);
    let old = dir.path().join("tiny-0000000000000000-old.cwasm");
    let recent = dir.path().join("tiny-0000000000000000-recent.cwasm");
    let other_name = dir.path().join("other-0000000000000000-old.cwasm");
    for path in [&old, &recent, &other_name] {
        fs::write(path, b"stale").unwrap();
        fs::write(path.with_extension("cwasm.xxh3"), b"x").unwrap();
    }
    for path in [&old, &other_name] {
        for file in [path.clone(), path.with_extension("cwasm.xxh3")] {
            fs::File::options()
                .append(true)
                .open(&file)
                .unwrap()
                .set_modified(week_and_a_day)
                .unwrap();
        }
    }
    assert_eq!(
        load(&cache, &engine, &tiny_component()),
        CacheResult::Compiled
    );
    assert!(!old.exists(), "unused for a week");
    assert!(!old.with_extension("cwasm.xxh3").exists());
    assert!(recent.exists(), "used recently");
    assert!(other_name.exists(), "another component's artifact");
}
