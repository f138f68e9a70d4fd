//! What a release must hold to: one version (the workspace's, in `Cargo.toml`) in the
//! wheel's and the npm package's metadata and in the artifact names the README gives;
//! the licence the metadata names, with its texts at the root; and dependencies from
//! crates.io only, as published.

use std::path::Path;

const VERSION: &str = env!("CARGO_PKG_VERSION");

fn read(path: &str) -> String {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    std::fs::read_to_string(root.join(path)).unwrap_or_else(|e| panic!("reads {path}: {e}"))
}

/// Each version (digits and dots) that directly follows `prefix` in `text`.
fn versions_after<'a>(text: &'a str, prefix: &str) -> Vec<&'a str> {
    text.match_indices(prefix)
        .map(|(at, _)| {
            let rest = &text[at + prefix.len()..];
            let end = rest.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(rest.len());
            rest[..end].trim_end_matches('.')
        })
        .filter(|v| !v.is_empty())
        .collect()
}

#[test]
fn the_packages_carry_the_workspaces_version() {
    let pyproject = read("dist/python/pyproject.toml");
    let python = pyproject.lines().find_map(|l| l.strip_prefix("version = ")).expect("pyproject.toml has a version");
    assert_eq!(python.trim_matches('"'), VERSION, "dist/python/pyproject.toml");

    let package: serde_json::Value =
        serde_json::from_str(&read("dist/npm/package.json")).expect("package.json is JSON");
    assert_eq!(package["version"], VERSION, "dist/npm/package.json");
}

#[test]
fn the_readmes_artifact_names_carry_the_workspaces_version() {
    let readme = read("README.md") + &read("docs/src/install.md") + &read("docs/src/ci.md");
    let mut named = 0;
    for prefix in ["apns-lab-", "apns-lab:", "apns_lab-"] {
        for v in versions_after(&readme, prefix) {
            assert_eq!(v, VERSION, "the README or the book names {prefix}{v}");
            named += 1;
        }
    }
    assert!(named >= 3, "the README and the book name the npm tarball and the image by version ({named} found)");
}

#[test]
fn the_licence_texts_are_the_ones_the_metadata_names() {
    assert!(read("Cargo.toml").contains(r#"license = "MIT OR Apache-2.0""#));
    assert!(read("dist/python/pyproject.toml").contains(r#"license = "MIT OR Apache-2.0""#));
    let package: serde_json::Value =
        serde_json::from_str(&read("dist/npm/package.json")).expect("package.json is JSON");
    assert_eq!(package["license"], "MIT OR Apache-2.0");
    assert!(read("LICENSE-MIT").contains("Permission is hereby granted, free of charge"));
    assert!(read("LICENSE-APACHE").contains("Apache License\n                        Version 2.0, January 2004"));
}

#[test]
fn versions_are_found_after_their_prefix() {
    let text =
        "npm install apns-lab-1.2.3.tgz; docker run apns-lab:1.2.3 and apns_lab-1.2.3-py3-none.whl, apns-lab-ca.pem";
    assert_eq!(versions_after(text, "apns-lab-"), ["1.2.3"]);
    assert_eq!(versions_after(text, "apns-lab:"), ["1.2.3"]);
    assert_eq!(versions_after(text, "apns_lab-"), ["1.2.3"]);
}

/// The crates.io index, as `Cargo.lock` names it.
const CRATES_IO: &str = "registry+https://github.com/rust-lang/crates.io-index";
/// The project's own packages: the workspace's members and the fuzz targets' package.
const OURS: [&str; 7] =
    ["apns-lab", "protocol", "mock-apns", "device-sim", "provider", "bench-fixtures", "apns-lab-fuzz"];

/// What in a `Cargo.lock` does not come from crates.io: each package that names another
/// source (a git repository, another registry) or none (a path: a vendored or patched
/// copy) without being one of the project's own, and each registry package without a
/// checksum.
fn not_from_crates_io(lock: &str) -> Vec<String> {
    let lock: toml::Table = toml::from_str(lock).expect("Cargo.lock is TOML");
    let packages = lock["package"].as_array().expect("Cargo.lock lists packages");
    packages
        .iter()
        .filter_map(|p| {
            let name = p["name"].as_str().expect("a package has a name");
            let version = p["version"].as_str().expect("a package has a version");
            match (p.get("source").and_then(|s| s.as_str()), p.get("checksum")) {
                (Some(CRATES_IO), Some(_)) => None,
                (Some(CRATES_IO), None) => Some(format!("{name} {version}: from crates.io without a checksum")),
                (Some(other), _) => Some(format!("{name} {version}: from {other}")),
                (None, _) if OURS.contains(&name) => None,
                (None, _) => Some(format!("{name} {version}: a path, not one of the project's own packages")),
            }
        })
        .collect()
}

/// Every package in the lock files (the workspace's and the fuzz targets') comes from
/// crates.io, with its checksum, or is one of the project's own: no vendored or patched
/// copy, no git dependency, no other registry (deny.toml holds the licences and bans).
#[test]
fn every_locked_package_comes_from_crates_io_or_the_workspace() {
    for path in ["Cargo.lock", "fuzz/Cargo.lock"] {
        let bad = not_from_crates_io(&read(path));
        assert!(bad.is_empty(), "{path}: {bad:#?}");
    }
}

#[test]
fn a_path_or_git_package_is_caught() {
    let lock = format!(
        r#"
version = 4

[[package]]
name = "apns-lab"
version = "{VERSION}"

[[package]]
name = "h2"
version = "0.4.21"

[[package]]
name = "rustls"
version = "0.23.48"
source = "git+https://github.com/example/rustls?branch=main#0123456789abcdef"

[[package]]
name = "bytes"
version = "1.11.0"
source = "{CRATES_IO}"

[[package]]
name = "http"
version = "1.6.0"
source = "{CRATES_IO}"
checksum = "00"
"#
    );
    assert_eq!(
        not_from_crates_io(&lock),
        [
            "h2 0.4.21: a path, not one of the project's own packages",
            "rustls 0.23.48: from git+https://github.com/example/rustls?branch=main#0123456789abcdef",
            "bytes 1.11.0: from crates.io without a checksum",
        ]
    );
}
