//! Every error type hookbox ships says what kind of failure it is (the
//! `Categorized` trait, by hand or with the `categorized!` macro) in the
//! crate that declares it, and `src/exit_code.rs` probes it, so no error
//! ends a command with an exit code nobody chose.

use std::path::{Path, PathBuf};

/// The crates under `crates/` that never ship in the binary.
const NEVER_SHIPPED: &[&str] = &["hookbox-bench", "hookbox-testkit"];

fn rust_files(dir: &Path, found: &mut Vec<std::path::PathBuf>) {
    for entry in std::fs::read_dir(dir).unwrap().flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, found);
        } else if path.extension().is_some_and(|e| e == "rs") {
            found.push(path);
        }
    }
}

/// The error types a source file declares with `thiserror`.
fn error_types(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    let mut rest = source;
    while let Some(at) = rest.find("thiserror::Error)]") {
        rest = &rest[at..];
        let declaration = rest
            .lines()
            .find(|line| line.contains("enum ") || line.contains("struct "))
            .unwrap_or("");
        let after = declaration
            .split_once("enum ")
            .or_else(|| declaration.split_once("struct "))
            .map_or("", |(_, name)| name);
        let name: String = after
            .chars()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
            .collect();
        found.push(name);
        rest = &rest[1..];
    }
    found
}

/// Whether `source` says what kind of failure `name` is, by hand or with the
/// `categorized!` macro.
fn categorizes(source: &str, name: &str) -> bool {
    let implemented = source.split("Categorized for ").skip(1).any(|rest| {
        let path = rest.split_whitespace().next().unwrap_or("");
        path.rsplit("::").next() == Some(name)
    });
    if implemented {
        return true;
    }
    source.split("categorized!(").skip(1).any(|call| {
        let list = call.split(')').next().unwrap_or("");
        let names = list.split_once(':').map_or("", |(_, names)| names);
        names
            .split(',')
            .any(|listed| listed.trim().rsplit("::").next() == Some(name))
    })
}

/// The source folders of the crates that ship: hookbox's own `src/` and
/// every crate under `crates/` but [`NEVER_SHIPPED`], so a new crate is
/// checked without being listed.
fn shipped_sources() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut sources = vec![root.join("src")];
    for entry in std::fs::read_dir(root.join("crates")).unwrap().flatten() {
        let name = entry.file_name().to_string_lossy().into_owned();
        if !NEVER_SHIPPED.contains(&name.as_str()) && entry.path().join("Cargo.toml").is_file() {
            sources.push(entry.path().join("src"));
        }
    }
    sources
}

#[test]
fn every_error_type_says_its_kind_of_failure() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let exit_codes = std::fs::read_to_string(root.join("src/exit_code.rs")).unwrap();
    let (mut missing, mut seen, mut crates) = (Vec::new(), 0, 0);
    for src in shipped_sources() {
        crates += 1;
        let mut files = Vec::new();
        rust_files(&src, &mut files);
        let sources: Vec<(PathBuf, String)> = files
            .into_iter()
            .map(|file| {
                let source = std::fs::read_to_string(&file).unwrap();
                (file, source)
            })
            .collect();
        let everything: String = sources.iter().map(|(_, source)| source.as_str()).collect();
        for (file, source) in &sources {
            let relative = file.strip_prefix(root).unwrap();
            for name in error_types(source) {
                seen += 1;
                if !categorizes(&everything, &name) {
                    missing.push(format!(
                        "{name} ({}) does not implement Categorized in its crate",
                        relative.display()
                    ));
                }
                // The CLI's own errors become exit codes where they occur.
                if !relative.starts_with("src/cli") && !exit_codes.contains(&format!("{name}>,")) {
                    missing.push(format!("{name} is not probed in src/exit_code.rs"));
                }
            }
        }
    }
    assert!(crates >= 12, "the scan found only {crates} crates");
    assert!(seen >= 20, "the scan found only {seen} error types");
    assert!(missing.is_empty(), "{}", missing.join("\n"));
}

#[test]
fn the_error_check_sees_a_forgotten_type() {
    let source = "#[derive(Debug, thiserror::Error)]\n#[error(\"x\")]\npub enum NewError {}\n\
                  #[derive(Debug, thiserror::Error)]\npub struct Known;\ncategorized!(Usage: Known, Other);\n";
    assert_eq!(error_types(source), ["NewError", "Known"]);
    assert!(!categorizes(source, "NewError"));
    assert!(categorizes(source, "Known"));
}
