//! The crate's modules import one way only: each top-level module may use
//! modules of a lower layer, never one of its own layer or above (see the
//! architecture note in `src/lib.rs`).

use std::path::Path;

/// The floor crates that ship in the binary, whose errors end commands.
const FLOORS: &[&str] = &[
    "hookbox-core",
    "hookbox-crypto",
    "hookbox-intake",
    "hookbox-policy",
    "hookbox-record",
    "hookbox-sandbox",
    "hookbox-source",
    "hookbox-spool",
];

/// The layers, lowest first. A module may import only from earlier rows.
/// Floor crates re-exported as modules (`failure`, `tls`, `intake`, `source`,
/// `sandbox`, …) are in the first row: the compiler already keeps them from importing
/// what is built on them.
const LAYERS: &[&[&str]] = &[
    // The floor crates, re-exported.
    &[
        "failure",
        "env_names",
        "units",
        "backoff",
        "tls",
        "digest",
        "record",
        "intake",
        "source",
    ],
    // The sandbox a hook runs in.
    &["sandbox"],
    // One run: an event's hook in a fresh sandbox.
    &["runtime"],
    // What is built on runs.
    &["hooktest", "service"],
    &["settings"],
    &["exit_code"],
    &["cli"],
];

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|layer| layer.contains(&module))
}

/// The top-level modules a source file uses through `crate::` paths, outside
/// comments.
fn crate_imports(source: &str) -> Vec<String> {
    let mut found = Vec::new();
    for line in source.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect();
            if !name.is_empty() {
                found.push(name);
            }
        }
    }
    found
}

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

#[test]
fn no_module_imports_from_its_own_layer_or_above() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut violations = Vec::new();
    for file in files {
        let relative = file.strip_prefix(&src).unwrap();
        let first = relative.components().next().unwrap().as_os_str();
        let module = first.to_str().unwrap().trim_end_matches(".rs").to_owned();
        if module == "lib" || module == "main" {
            continue;
        }
        let own = layer_of(&module)
            .unwrap_or_else(|| panic!("src/{module} is in no layer: add it to LAYERS"));
        for import in crate_imports(&std::fs::read_to_string(&file).unwrap()) {
            if import == module {
                continue;
            }
            let theirs = layer_of(&import).unwrap_or_else(|| {
                panic!(
                    "{} uses crate::{import}, which is in no layer",
                    relative.display()
                )
            });
            if theirs >= own {
                violations.push(format!("{} uses crate::{import}", relative.display()));
            }
        }
    }
    assert!(
        violations.is_empty(),
        "imports against the layers:\n{}",
        violations.join("\n")
    );
}

#[test]
fn the_check_sees_an_import_against_the_layers() {
    let source = "use crate::runtime::Runtime; // crate::cli in a comment\n";
    assert_eq!(crate_imports(source), ["runtime"]);
    assert!(layer_of("runtime").unwrap() >= layer_of("sandbox").unwrap());
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

#[test]
fn every_error_type_says_its_kind_of_failure() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let exit_codes = std::fs::read_to_string(src.join("exit_code.rs")).unwrap();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut missing = Vec::new();
    let mut seen = 0;
    for file in files {
        let source = std::fs::read_to_string(&file).unwrap();
        let relative = file.strip_prefix(&src).unwrap();
        for name in error_types(&source) {
            seen += 1;
            if !categorizes(&source, &name) {
                missing.push(format!(
                    "{name} ({}) does not implement Categorized",
                    relative.display()
                ));
            }
            // The CLI's own errors become exit codes where they occur.
            if !relative.starts_with("cli") && !exit_codes.contains(&format!("{name}>,")) {
                missing.push(format!("{name} is not probed in src/exit_code.rs"));
            }
        }
    }
    // The floor crates' errors say their kind where they are declared.
    let crates = Path::new(env!("CARGO_MANIFEST_DIR")).join("crates");
    for floor in FLOORS {
        let mut floor_files = Vec::new();
        rust_files(&crates.join(floor).join("src"), &mut floor_files);
        let mut everything = String::new();
        for file in &floor_files {
            everything.push_str(&std::fs::read_to_string(file).unwrap());
        }
        for file in &floor_files {
            for name in error_types(&std::fs::read_to_string(file).unwrap()) {
                seen += 1;
                if !categorizes(&everything, &name) {
                    missing.push(format!(
                        "{name} ({}) is not categorized in {floor}",
                        file.display()
                    ));
                }
                if !exit_codes.contains(&format!("{name}>,")) {
                    missing.push(format!("{name} is not probed in src/exit_code.rs"));
                }
            }
        }
    }
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
