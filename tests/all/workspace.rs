//! The README's list of crates is the workspace's: one line per crate under
//! `crates/`, saying what its `Cargo.toml` says it is.

use std::path::Path;

#[test]
fn the_readme_lists_every_crate_with_its_description() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let readme = std::fs::read_to_string(root.join("README.md")).unwrap();
    let listed = readme
        .lines()
        .filter(|line| line.starts_with("| [`hookbox-"))
        .count();
    let mut crates = 0;
    let mut wrong = Vec::new();
    for entry in std::fs::read_dir(root.join("crates")).unwrap().flatten() {
        let Ok(manifest) = std::fs::read_to_string(entry.path().join("Cargo.toml")) else {
            continue;
        };
        crates += 1;
        let manifest: toml::Table = toml::from_str(&manifest).unwrap();
        let package = manifest["package"].as_table().unwrap();
        let name = package["name"].as_str().unwrap();
        let description = package["description"].as_str().unwrap();
        let row = format!("| [`{name}`](crates/{name}) | {description} |");
        if !readme.lines().any(|line| line == row) {
            wrong.push(row);
        }
    }
    assert!(crates >= 13, "found only {crates} crates");
    assert!(
        wrong.is_empty(),
        "README.md's crate list should have these rows:\n{}",
        wrong.join("\n")
    );
    assert_eq!(listed, crates, "README.md lists a crate that is gone");
}
