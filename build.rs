//! Builds the bundled Python runner component from `guest-sdk/python/`.
//!
//! componentize-py links CPython 3.14 (built for WASI) with the runner module and
//! snapshots the result after the runner's imports have run, so the modules it
//! pre-imports cost nothing at run time. The build also ships the pure-Python
//! standard library (as a tar) so hooks can import any other module at run time.
//! Nothing here touches the network: componentize-py carries its artifacts.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::{env, fs};

use anyhow::{Context, Result, bail};

const WASI_WIT_PACKAGES: &[&str] = &[
    "cli-0.2.0",
    "clocks-0.2.0",
    "filesystem-0.2.0",
    "http-0.2.0",
    "io-0.2.0",
    "random-0.2.0",
    "sockets-0.2.0",
];

/// zstd's level for the embedded runner: about as small as the slowest
/// levels, in a second rather than twenty.
const RUNNER_COMPRESSION_LEVEL: i32 = 9;

fn main() -> Result<()> {
    let manifest_dir = PathBuf::from(env::var("CARGO_MANIFEST_DIR")?);
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    let guest_dir = manifest_dir.join("guest-sdk/python");
    println!("cargo::rerun-if-changed=guest-sdk/python/runner");
    println!("cargo::rerun-if-changed=guest-sdk/python/sdk");
    println!("cargo::rerun-if-changed=guest-sdk/python/runner.wit");
    println!("cargo::rerun-if-changed=guest-sdk/wit");
    println!("cargo::rerun-if-changed=build.rs");
    // Every one-shot `hookbox run` starts the binary, and the dynamic loader
    // first applies ~70,000 relative relocations: packed (DT_RELR, glibc
    // 2.36+) their table shrinks from 1.7 MB to 18 KB, and a start about
    // half a millisecond.
    if env::var("CARGO_CFG_TARGET_OS").as_deref() == Ok("linux")
        && env::var("CARGO_CFG_TARGET_ENV").as_deref() == Ok("gnu")
    {
        println!("cargo::rustc-link-arg-bins=-Wl,-z,pack-relative-relocs");
    }

    let componentize_dir = componentize_py_source_dir(&manifest_dir)?;

    // Assemble a WIT directory: hookbox's interfaces (shared with the Rust
    // SDK), the runner's world, and the WASI 0.2.0 packages that
    // componentize-py ships (the same ones its Python bindings are tested with).
    let wit_dir = out_dir.join("wit");
    if wit_dir.exists() {
        fs::remove_dir_all(&wit_dir)?;
    }
    fs::create_dir_all(wit_dir.join("deps"))?;
    fs::copy(
        manifest_dir.join("guest-sdk/wit/hookbox.wit"),
        wit_dir.join("hookbox.wit"),
    )?;
    fs::copy(guest_dir.join("runner.wit"), wit_dir.join("runner.wit"))?;
    for package in WASI_WIT_PACKAGES {
        copy_dir(
            &componentize_dir.join("wit/deps").join(package),
            &wit_dir.join("deps").join(package),
        )?;
    }

    // The standard library, embedded compressed as componentize-py ships it
    // (a sixth of its size); read here for its identity and version.
    let stdlib_zst = fs::read(componentize_dir.join("python-lib.tar.zst"))?;
    let stdlib_tar = zstd::decode_all(&stdlib_zst[..]).context("decompressing python-lib")?;
    fs::write(out_dir.join("python-lib.tar.zst"), &stdlib_zst)?;
    let stdlib_hash = xxhash_rust::xxh3::xxh3_128(&stdlib_tar);
    fs::write(out_dir.join("python-version"), python_version(&stdlib_tar)?)?;
    fs::write(
        out_dir.join("python-lib.hash"),
        format!("{stdlib_hash:032x}"),
    )?;

    // componentize-py mounts these directories writable while snapshotting
    // (CPython drops `__pycache__` there), so it gets copies, not the sources.
    let mut python_path = Vec::new();
    for part in ["runner", "sdk"] {
        let copy = out_dir.join(part);
        if copy.exists() {
            fs::remove_dir_all(&copy)?;
        }
        copy_dir(&guest_dir.join(part), &copy)?;
        python_path.push(copy.to_str().context("non-UTF-8 path")?.to_owned());
    }
    // The same sources, as the runner sees them (componentize-py mounts the
    // python_path entries at /0, /1, ...), so tracebacks through the runner
    // and the SDK show their lines at run time.
    let mut sources = tar::Builder::new(Vec::new());
    for (index, dir) in python_path.iter().enumerate() {
        sources.append_dir_all(index.to_string(), dir)?;
    }
    fs::write(out_dir.join("guest-sources.tar"), sources.into_inner()?)?;
    let python_path: Vec<&str> = python_path.iter().map(String::as_str).collect();
    let component_path = out_dir.join("runner.wasm");
    let import_names: HashMap<&str, &str> = [("wasi:http/types@0.2.0", "types")].into();
    let export_names = HashMap::new();
    let wit_paths = [wit_dir.as_path()];
    let generator = componentize_py::ComponentGenerator {
        wit_paths: &wit_paths,
        worlds: &["hookbox:runner/runner"],
        features: &[],
        all_features: false,
        world_module: None,
        python_path: &python_path,
        module_worlds: &[],
        app_name: "hookbox_runner",
        output_path: &component_path,
        add_to_linker: None,
        stub_wasi: false,
        import_interface_names: &import_names,
        export_interface_names: &export_names,
        full_names: false,
        intersect_world: None,
    };
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(generator.generate())
        .context("componentize-py failed to build the runner")?;
    // Embedded compressed too (27 MB to 8.5 MB): it is read only to compile
    // it, once per machine, and to snapshot packages into it.
    let runner = fs::read(&component_path)?;
    fs::write(
        out_dir.join("runner.wasm.zst"),
        zstd::encode_all(&runner[..], RUNNER_COMPRESSION_LEVEL)?,
    )?;
    fs::remove_file(&component_path)?;

    let identity = runner_identity(&manifest_dir, &componentize_dir, stdlib_hash)?;
    fs::write(out_dir.join("runner.hash"), format!("{identity:032x}"))?;
    Ok(())
}

/// The runner's identity, from what it is built of: componentize-py's output
/// is not byte-for-byte reproducible, so hashing the component would make
/// every rebuild look like a new runner and recompile it (10-15 s) on first
/// use. Two builds from the same inputs behave the same, so they share it.
fn runner_identity(
    manifest_dir: &Path,
    componentize_dir: &Path,
    stdlib_hash: u128,
) -> Result<u128> {
    let mut inputs = Vec::new();
    let componentize_version = componentize_dir
        .file_name()
        .and_then(|name| name.to_str())
        .context("componentize-py's directory has no name")?;
    inputs.extend_from_slice(componentize_version.as_bytes());
    inputs.extend_from_slice(&stdlib_hash.to_le_bytes());
    inputs.extend_from_slice(&fs::read(manifest_dir.join("build.rs"))?);
    for part in ["python/runner", "python/sdk", "python/runner.wit", "wit"] {
        hash_tree(&manifest_dir.join("guest-sdk").join(part), &mut inputs)?;
    }
    Ok(xxhash_rust::xxh3::xxh3_128(&inputs))
}

/// Appends every file under `dir`, or `dir` itself if it is a file (path
/// and contents, in a stable order).
fn hash_tree(dir: &Path, inputs: &mut Vec<u8>) -> Result<()> {
    if dir.is_file() {
        inputs.extend_from_slice(dir.file_name().unwrap_or_default().as_encoded_bytes());
        inputs.extend_from_slice(&fs::read(dir)?);
        return Ok(());
    }
    let mut entries: Vec<_> = fs::read_dir(dir)?.collect::<Result<_, _>>()?;
    entries.sort_by_key(|entry| entry.file_name());
    for entry in entries {
        if entry.file_name() == "__pycache__" {
            continue;
        }
        if entry.file_type()?.is_dir() {
            hash_tree(&entry.path(), inputs)?;
        } else {
            inputs.extend_from_slice(entry.file_name().as_encoded_bytes());
            inputs.extend_from_slice(&fs::read(entry.path())?);
        }
    }
    Ok(())
}

/// The bundled CPython's version (`3.14.0`), from the standard library's
/// sysconfig variables.
fn python_version(stdlib_tar: &[u8]) -> Result<String> {
    for entry in tar::Archive::new(stdlib_tar).entries()? {
        let mut entry = entry?;
        let path = entry.path()?.to_string_lossy().into_owned();
        if path.starts_with("_sysconfig_vars_") && path.ends_with(".json") {
            let vars: serde_json::Value = serde_json::from_reader(&mut entry)?;
            return vars["py_version"]
                .as_str()
                .map(str::to_owned)
                .context("no py_version in the sysconfig variables");
        }
    }
    bail!("the standard library has no sysconfig variables")
}

/// Finds componentize-py's package directory (its WIT files and the standard
/// library archive) through `cargo metadata`, so vendored or relocated
/// registries work too.
fn componentize_py_source_dir(manifest_dir: &Path) -> Result<PathBuf> {
    let cargo = env::var("CARGO").unwrap_or_else(|_| "cargo".into());
    let output = std::process::Command::new(cargo)
        .args(["metadata", "--format-version", "1", "--filter-platform"])
        .arg(env::var("TARGET")?)
        .arg("--manifest-path")
        .arg(manifest_dir.join("Cargo.toml"))
        .output()
        .context("running cargo metadata")?;
    if !output.status.success() {
        bail!(
            "cargo metadata failed: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let metadata: serde_json::Value = serde_json::from_slice(&output.stdout)?;
    let packages = metadata["packages"].as_array().context("no packages")?;
    let manifest = packages
        .iter()
        .find(|p| p["name"] == "componentize-py")
        .and_then(|p| p["manifest_path"].as_str())
        .context("componentize-py not found in cargo metadata")?;
    Ok(Path::new(manifest)
        .parent()
        .context("manifest has no parent")?
        .to_path_buf())
}

fn copy_dir(from: &Path, to: &Path) -> Result<()> {
    fs::create_dir_all(to)?;
    for entry in fs::read_dir(from).with_context(|| format!("reading {}", from.display()))? {
        let entry = entry?;
        if entry.file_name() == "__pycache__" {
            continue;
        }
        let target = to.join(entry.file_name());
        if entry.file_type()?.is_dir() {
            copy_dir(&entry.path(), &target)?;
        } else {
            fs::copy(entry.path(), target)?;
        }
    }
    Ok(())
}
