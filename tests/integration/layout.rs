//! The house rules for every Rust file in the tree — the crates, `src/`, `tests/`,
//! `bench/` and `fuzz/`: each starts with a `//!` line saying its role, and none grows
//! past ~720 lines unless its first lines say why it reads best whole. (The room order
//! inside mock-apns is `mock-apns/tests/rooms.rs`'s.)

use std::path::{Path, PathBuf};

const MAX_LINES: usize = 720;

/// Every `.rs` file under `dir`, build output left out.
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable") {
        let path = entry.expect("an entry").path();
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !matches!(name, "target" | "node_modules" | ".git" | "corpus" | "artifacts") {
                rust_files(&path, out);
            }
        } else if name.ends_with(".rs") {
            out.push(path);
        }
    }
}

fn the_tree() -> Vec<PathBuf> {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let mut files = Vec::new();
    for dir in ["src", "tests", "protocol", "mock-apns", "device-sim", "provider", "bench", "fuzz"] {
        rust_files(&root.join(dir), &mut files);
    }
    assert!(files.len() > 100, "found only {} files", files.len());
    files
}

#[test]
fn every_file_says_its_role_first() {
    let silent: Vec<String> = the_tree()
        .iter()
        .filter(|f| !std::fs::read_to_string(f).expect("readable").starts_with("//!"))
        .map(|f| f.display().to_string())
        .collect();
    assert!(silent.is_empty(), "files that do not start with a //! line:\n{}", silent.join("\n"));
}

#[test]
fn no_file_is_longer_than_the_rule_without_saying_why() {
    let mut long = Vec::new();
    for file in the_tree() {
        let text = std::fs::read_to_string(&file).expect("readable");
        let head: String = text.lines().take(40).collect::<Vec<_>>().join("\n");
        let lines = text.lines().count();
        if lines > MAX_LINES && !head.contains("reads best whole") {
            long.push(format!("{}: {lines} lines", file.display()));
        }
    }
    assert!(long.is_empty(), "files over {MAX_LINES} lines that do not say why:\n{}", long.join("\n"));
}
