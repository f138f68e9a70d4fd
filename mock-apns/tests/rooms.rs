//! The crate's layout as a rule: each room imports only rooms below it (and the ground
//! modules every room stands on), and reaches the rooms below only through fields named
//! for them (`self.devices.storage`, `shared.registry.table`), never through `Deref`, so
//! every reach down is written and checked here. ARCHITECTURE.md draws the same order.
//! (The line rule for every file in the tree is `tests/integration/layout.rs`'s.)

use std::path::{Path, PathBuf};

/// The rooms, from the bottom up.
const ROOMS: [&str; 6] = ["state", "registry", "observe", "devices", "provider_api", "admin"];

/// Modules at the crate root that import no room.
const GROUND: [&str; 6] = ["error", "clock", "config", "tls", "random", "accept"];

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("src is readable") {
        let path = entry.expect("an entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// The room (or ground module) a file under `src/` belongs to.
fn owner(src: &Path, file: &Path) -> String {
    let rel = file.strip_prefix(src).expect("under src");
    let first = rel.components().next().expect("a component").as_os_str().to_string_lossy().into_owned();
    first.trim_end_matches(".rs").to_owned()
}

/// The crate modules a file's code names (`crate::x`), comments left out.
fn imports(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        let mut rest = code;
        while let Some(at) = rest.find("crate::") {
            rest = &rest[at + "crate::".len()..];
            let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
            if !name.is_empty() {
                out.push(name);
            }
        }
    }
    out
}

fn level(name: &str) -> Option<usize> {
    ROOMS.iter().position(|r| *r == name)
}

#[test]
fn a_room_never_imports_a_room_above_it() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let me = owner(&src, file);
        if me == "lib" || me == "fuzzing" {
            continue; // the crate root wires the rooms together; the fuzz entry points stand on the top
        }
        let text = std::fs::read_to_string(file).expect("readable");
        for used in imports(&text) {
            let ok = if GROUND.contains(&me.as_str()) {
                GROUND.contains(&used.as_str())
            } else {
                let mine =
                    level(&me).unwrap_or_else(|| panic!("{} is in no room: add it to ROOMS or GROUND", file.display()));
                GROUND.contains(&used.as_str()) || level(&used).is_some_and(|l| l <= mine)
            };
            if !ok {
                wrong.push(format!("{} ({me}) imports crate::{used}", file.display()));
            }
        }
    }
    assert!(wrong.is_empty(), "imports against the room order {ROOMS:?}:\n{}", wrong.join("\n"));
}

/// The rooms a file's code reaches through a room's fields (`self.devices.…`,
/// `shared.registry.…`), comments left out.
fn reaches(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or("");
        for holder in ["self.", "shared."] {
            let mut rest = code;
            while let Some(at) = rest.find(holder) {
                let before = rest[..at].chars().next_back();
                rest = &rest[at + holder.len()..];
                if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '.') {
                    continue; // `x.self.` or `my_shared.`: another name
                }
                let name: String = rest.chars().take_while(|c| c.is_ascii_alphanumeric() || *c == '_').collect();
                if level(&name).is_some() {
                    out.push(name);
                }
            }
        }
    }
    out
}

#[test]
fn a_room_reaches_down_by_name_and_never_through_deref() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let mut wrong = Vec::new();
    for file in &files {
        let me = owner(&src, file);
        let text = std::fs::read_to_string(file).expect("readable");
        if text.contains("ops::Deref for Room") || text.contains("impl Deref for Room") {
            wrong.push(format!("{}: a room that derefs to another hides the reach down", file.display()));
        }
        let Some(mine) = level(&me) else { continue };
        for room in reaches(&text) {
            if level(&room).is_none_or(|l| l >= mine) {
                wrong.push(format!("{} ({me}) reaches the {room} room, which is not below it", file.display()));
            }
        }
    }
    assert!(wrong.is_empty(), "reaches against the room order {ROOMS:?}:\n{}", wrong.join("\n"));
}

#[test]
fn the_rule_sees_an_upward_import() {
    assert_eq!(imports("use crate::devices::Room; // crate::admin"), vec!["devices"]);
    assert!(level("state") < level("admin"));
    assert_eq!(reaches("let n = shared.devices.storage; self.state.clock // self.admin"), vec!["state", "devices"]);
    assert!(reaches("t.devices.len(); my_shared.admin").is_empty());
}
