//! The book (`docs/`, an mdBook) and the README held to the code: every link and anchor
//! resolves; every code block runs (in a test, or in a script of `.ci/run`), is the same
//! as a file that runs, or says why not and is held to what it names; the README stays a
//! front door. (The generated reference pages: book_reference.rs.)

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use serde_json::Value;

pub(crate) fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

/// The README, the top-level documents and every page of the book.
fn pages() -> Vec<PathBuf> {
    let mut all = vec![root().join("README.md"), root().join("ARCHITECTURE.md"), root().join("BENCHMARKS.md")];
    let mut dirs = vec![root().join("docs/src")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).expect("docs/src").flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "md") {
                all.push(path);
            }
        }
    }
    all.sort();
    all
}

pub(crate) fn read(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn name(path: &Path) -> String {
    path.strip_prefix(root()).unwrap_or(path).display().to_string()
}

/// The recipes run as printed, by their marker, and what runs each: a test, or a script of
/// `.ci/run` (which reads the block by its marker with dist/book_block.sh).
const RECIPES: [(&str, &str); 21] = [
    ("<!-- tokens recipe -->", "book::the_tokens_and_faults_recipes_run_as_printed"),
    ("<!-- faults recipe -->", "book::the_tokens_and_faults_recipes_run_as_printed"),
    ("<!-- zh demo recipe -->", "book::the_chinese_demo_recipe_runs_as_printed"),
    ("<!-- activity phone recipe -->", "book::the_activity_phone_recipe_runs_as_printed"),
    ("<!-- handler recipe -->", "book::the_handler_recipe_runs_as_printed"),
    ("<!-- phone recipe -->", "book::the_phone_recipe_runs_as_printed"),
    ("<!-- provider recipe -->", "book::the_provider_recipe_runs_as_printed"),
    ("<!-- web push recipe -->", "book::the_web_push_recipe_runs_as_printed"),
    ("<!-- exec recipe -->", "exec::the_readme_exec_recipe_runs_as_printed"),
    ("<!-- live activity recipe -->", "channels::the_readme_live_activity_and_channel_commands_run_as_printed"),
    ("<!-- channels recipe -->", "channels::the_readme_live_activity_and_channel_commands_run_as_printed"),
    ("<!-- broadcast recipe -->", "channels::the_readme_broadcast_recipe_runs_as_printed"),
    ("<!-- curl recipe -->", "book::the_curl_recipe_runs_as_printed"),
    ("<!-- two commands -->", ".ci/run"),
    ("<!-- source install recipe -->", ".ci/run"),
    ("<!-- static binary recipe -->", ".ci/run"),
    ("<!-- pip install recipe -->", "dist/python.sh"),
    ("<!-- npm install recipe -->", "dist/npm.sh"),
    ("<!-- pytest exec recipe -->", "dist/python.sh"),
    ("<!-- node exec recipe -->", "dist/npm.sh"),
    ("<!-- go exec recipe -->", "interop::a_go_suite_runs_under_exec_as_the_book_prints_it"),
];

/// Each fenced block with its language, its text and the comment line above it.
fn blocks(text: &str) -> Vec<(String, String, String)> {
    let lines: Vec<&str> = text.lines().collect();
    let mut out = Vec::new();
    let mut i = 0;
    while i < lines.len() {
        if let Some(lang) = lines[i].strip_prefix("```") {
            let above = if i > 0 { lines[i - 1].trim().to_owned() } else { String::new() };
            let end = (i + 1..lines.len()).find(|&j| lines[j].starts_with("```")).unwrap_or(lines.len());
            out.push((lang.trim().to_owned(), lines[i + 1..end].join("\n"), above));
            i = end + 1;
        } else {
            i += 1;
        }
    }
    out
}

/// Each recipe's marker is on a page, and what runs it exists: the test by its name, or the
/// script reading the block by its marker. A recipe on two pages is the same commands on
/// both (what runs it reads one of them).
#[test]
fn every_recipe_has_what_runs_it() {
    let all: Vec<(String, String, String)> = pages().iter().flat_map(|p| blocks(&read(p))).collect();
    let commands =
        |code: &str| code.lines().map(|l| l.split(" #").next().unwrap_or(l).trim()).collect::<Vec<_>>().join("\n");
    for (marker, runner) in RECIPES {
        let copies: BTreeSet<String> =
            all.iter().filter(|(_, _, above)| above == marker).map(|(_, code, _)| commands(code)).collect();
        assert_eq!(copies.len(), 1, "{marker}: on no page, or different on two: {copies:?}");
        if let Some((module, test)) = runner.split_once("::") {
            let file = read(&root().join(format!("tests/integration/{module}.rs")));
            assert!(file.contains(&format!("fn {test}(")), "{marker}: no test {runner}");
        } else {
            assert!(read(&root().join(runner)).contains(marker), "{marker}: {runner} does not run it");
        }
    }
}

/// Every block of code a reader might run — shell, Python, JavaScript, Rust, Go, Java,
/// YAML — is run by a test (a recipe marker), is the same as a file whose suite runs it
/// (`<!-- same as PATH -->`), or says why it is not run (`<!-- not run: … -->`).
#[test]
fn every_code_block_runs_or_says_why_not() {
    let mut problems = Vec::new();
    // (BENCHMARKS.md's blocks are the benchmarks' commands: run by hand, their results
    // recorded beside them.)
    for page in pages().into_iter().filter(|p| !p.ends_with("BENCHMARKS.md")) {
        for (lang, code, above) in blocks(&read(&page)) {
            if !["sh", "python", "js", "rust", "go", "java", "yaml"].contains(&lang.as_str()) {
                continue;
            }
            let first = code.lines().next().unwrap_or_default();
            let at = format!("{}: ```{lang} {first}", name(&page));
            if RECIPES.iter().any(|(marker, _)| *marker == above) {
                continue;
            }
            if let Some(path) = above.strip_prefix("<!-- same as ").and_then(|r| r.strip_suffix(" -->")) {
                // (Compared line by line without indentation: a block may be dedented.)
                let flat = |t: &str| t.lines().map(str::trim).collect::<Vec<_>>().join("\n");
                if !flat(&read(&root().join(path))).contains(&flat(code.trim())) {
                    problems.push(format!("{at}: not the same as {path}"));
                }
                continue;
            }
            if above.starts_with("<!-- not run: ") && above.len() > 30 {
                // A test the reason names exists.
                for word in above.split_whitespace().filter(|w| w.contains("::")) {
                    let (module, test) = word.trim_end_matches([',', ';']).split_once("::").unwrap_or_default();
                    let file = std::fs::read_to_string(root().join(format!("tests/integration/{module}.rs")));
                    if !file.is_ok_and(|f| f.contains(&format!("fn {test}("))) {
                        problems.push(format!("{at}: its reason names {word}, no test"));
                    }
                }
                continue;
            }
            problems.push(format!("{at}: runs nowhere (mark it)"));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// A heading as mdBook and GitHub make its anchor.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter_map(|c| match c {
            c if c.is_alphanumeric() || c == '_' || c == '-' => Some(c),
            c if c.is_whitespace() => Some('-'),
            _ => None,
        })
        .collect()
}

/// The anchors of a page's headings (outside code blocks).
fn anchors(text: &str) -> BTreeSet<String> {
    let mut fenced = false;
    let mut out = BTreeSet::new();
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
        } else if !fenced && line.starts_with('#') {
            out.insert(slug(line.trim_start_matches('#')));
        }
    }
    out
}

/// The link targets of a page (outside code blocks).
fn links(text: &str) -> Vec<String> {
    let mut fenced = false;
    let mut out = Vec::new();
    for line in text.lines() {
        if line.starts_with("```") {
            fenced = !fenced;
            continue;
        }
        if fenced {
            continue;
        }
        let mut rest = line;
        while let Some(at) = rest.find("](") {
            let after = &rest[at + 2..];
            let end = after.find(')').unwrap_or(after.len());
            out.push(after[..end].to_owned());
            rest = &after[end..];
        }
    }
    out
}

/// Every relative link in the README, the top-level documents and the book points at a
/// file that exists, and every anchor at a heading of its page.
#[test]
fn every_link_and_anchor_resolves() {
    let mut problems = Vec::new();
    for page in pages() {
        let text = read(&page);
        for target in links(&text) {
            if target.starts_with("http://") || target.starts_with("https://") || target.starts_with("mailto:") {
                continue;
            }
            let (file, anchor) = target.split_once('#').unwrap_or((&target, ""));
            let path = if file.is_empty() { page.clone() } else { page.parent().expect("a dir").join(file) };
            if !path.exists() {
                problems.push(format!("{}: {target}: no such file", name(&page)));
                continue;
            }
            if !anchor.is_empty()
                && path.extension().is_some_and(|e| e == "md")
                && !anchors(&read(&path)).contains(anchor)
            {
                problems.push(format!("{}: {target}: no such heading", name(&page)));
            }
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

/// The book's table of contents lists every page in `docs/src`, and only those.
#[test]
fn the_summary_lists_every_page() {
    let src = root().join("docs/src");
    let summary = read(&src.join("SUMMARY.md"));
    let listed: BTreeSet<String> = links(&summary).into_iter().collect();
    let present: BTreeSet<String> = pages()
        .into_iter()
        .filter_map(|p| p.strip_prefix(&src).ok().map(|r| r.display().to_string()))
        .filter(|p| p != "SUMMARY.md")
        .collect();
    assert_eq!(listed, present);
}

/// The README is the front door: short, with the two commands, a test per language and a
/// map of the book.
#[test]
fn the_readme_is_a_front_door() {
    let readme = read(&root().join("README.md"));
    let lines = readme.lines().count();
    assert!(lines <= 250, "README.md is {lines} lines");
    for must in ["cargo run --release -- demo", "cargo test --workspace", "```python", "```js", "<!-- curl recipe -->"]
    {
        assert!(readme.contains(must), "the README has {must}");
    }
    for page in ["getting-started", "testing", "ci", "tokens", "teaching", "teaching.zh-CN", "reference/cli"] {
        assert!(readme.contains(&format!("docs/src/{page}.md")), "the README maps {page}");
    }
}

/// The `sh` block after `marker` in the README or a page of the book.
pub(crate) fn doc_block(marker: &str) -> String {
    let text = pages()
        .iter()
        .map(|p| read(p))
        .find(|t| t.contains(marker))
        .unwrap_or_else(|| panic!("{marker} is in the README or the book"));
    let block = text.split(marker).nth(1).expect("after the marker");
    block.split("```sh\n").nth(1).and_then(|b| b.split("\n```").next()).expect("a sh block").to_owned()
}

/// Runs `script` with bash (`-euo pipefail`, at most 60 s) and `env`, in a temporary
/// directory of its own as `TMPDIR` (removed after); its stdout, once it succeeded.
pub(crate) fn run_script(what: &str, script: &str, env: &[(&str, &str)]) -> String {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let out = std::process::Command::new("timeout")
        .args(["60", "bash", "-euo", "pipefail", "-c", script])
        .env("TMPDIR", tmp.path())
        .envs(env.iter().copied())
        .env("RUST_LOG", "warn")
        .output()
        .expect("bash runs");
    let stdout = String::from_utf8_lossy(&out.stdout).into_owned();
    assert!(out.status.success(), "{what}: {stdout}{}", String::from_utf8_lossy(&out.stderr));
    stdout
}

/// Runs the `sh` block after `marker` (README or book) as printed, with the binary for
/// `cargo run --release --`, `ready` for `/tmp/apns-lab.ready` and `env` set; its stdout.
pub(crate) fn run_readme_block(marker: &str, ready: Option<&Path>, env: &[(&str, &str)]) -> String {
    let mut script = doc_block(marker).replace("cargo run --release --", env!("CARGO_BIN_EXE_apns-lab"));
    if let Some(ready) = ready {
        script = script.replace("/tmp/apns-lab.ready", ready.to_str().expect("a path"));
    }
    run_script(marker, &script, env)
}

/// The README's curl recipe (Apple's own, the host and CA changed) runs as printed.
#[test]
fn the_curl_recipe_runs_as_printed() {
    let dir = tempfile::tempdir().expect("temp dir");
    let data = dir.path().join("data");
    let ready = dir.path().join("ready");
    let script = doc_block("<!-- curl recipe -->")
        .replace("cargo run --release --", env!("CARGO_BIN_EXE_apns-lab"))
        .replace("--data-dir /tmp/apns-lab", &format!("--data-dir {} --sandbox-addr 127.0.0.1:0 --production-addr 127.0.0.1:0 --admin-addr 127.0.0.1:0 --gateway-addr 127.0.0.1:0", data.display()))
        .replace("/tmp/apns-lab.ready", ready.to_str().expect("path"));
    let stdout = run_script("the curl recipe", &script, &[]);
    assert!(stdout.contains("HTTP/2 200") && stdout.contains("\"status\": 200"), "{stdout}");
}

/// Runs a book recipe against a mock started as the curl recipe starts it, its fixed
/// provider port and files moved to a free port and a temporary directory; its stdout.
fn run_recipe(marker: &str, fixed_port: &str) -> String {
    let dir = tempfile::tempdir().expect("temp dir");
    let s = crate::serve::serve(&dir.path().join("data"));
    let ready = crate::serve::ready_file(dir.path(), &s);
    let port = std::net::TcpListener::bind("127.0.0.1:0").expect("a free port").local_addr().expect("addr").port();
    let tmp = dir.path().to_str().expect("a path");
    // (The binary and the ready file go in last: either may itself be under /tmp.)
    let script = doc_block(marker)
        .replace("cargo run --release --", "THE-BINARY")
        .replace(fixed_port, &format!("127.0.0.1:{port}"))
        .replace("/tmp/apns-lab.ready", "READY-FILE")
        .replace("/tmp/", &format!("{tmp}/"))
        .replace("READY-FILE", ready.to_str().expect("a path"))
        .replace("THE-BINARY", env!("CARGO_BIN_EXE_apns-lab"));
    run_script(marker, &script, &[])
}

/// The provider chapter's recipe runs as printed: `send` accepted, refused on the wrong
/// environment, a load run; the provider server sends to the token an app registered.
#[test]
fn the_provider_recipe_runs_as_printed() {
    let out = run_recipe("<!-- provider recipe -->", "127.0.0.1:9000");
    assert!(out.contains("200 accepted") && out.contains("400 BadDeviceToken"), "{out}");
    assert!(out.contains("1000 sent") && out.contains("0 not accepted"), "{out}");
    assert!(out.contains(r#"{"status":200,"action":"kept"}"#), "{out}");
}

/// The phones chapter's recipe runs as printed: a phone shows what was injected.
#[test]
fn the_phone_recipe_runs_as_printed() {
    let out = run_recipe("<!-- phone recipe -->", "127.0.0.1:9000");
    assert_eq!(out.trim(), "[5] com.example.chat: banner \"Hi — from a file\"", "{out}");
}

/// The app-logic chapter's recipe runs as printed: a command handler's extension
/// modifies what the phone shows.
#[test]
fn the_handler_recipe_runs_as_printed() {
    let out = run_recipe("<!-- handler recipe -->", "127.0.0.1:9000");
    assert!(out.trim().parse::<u32>().is_ok_and(|n| n >= 1), "{out}");
}

/// The Live Activity chapter's phone recipe runs as printed: the provider gets both of
/// the phone's activity tokens.
#[test]
fn the_activity_phone_recipe_runs_as_printed() {
    let out = run_recipe("<!-- activity phone recipe -->", "127.0.0.1:9000");
    assert!(
        out.contains(r#"{"kind":"push-to-start","attributes_type":"DeliveryAttributes","state":"valid"}"#),
        "{out}"
    );
    assert!(out.contains(r#"{"kind":"update","attributes_type":"DeliveryAttributes","state":"valid"}"#), "{out}");
}

/// The Chinese teaching chapter's demo runs as printed, in Chinese.
#[test]
fn the_chinese_demo_recipe_runs_as_printed() {
    let out = run_readme_block("<!-- zh demo recipe -->", None, &[]);
    assert!(out.contains("第 1–3 步") && out.trim_end().ends_with("完成。"), "{out}");
}

/// The tokens chapter's recipe (an erase, then 410 and 200) and the faults chapter's (a
/// 429 retried past, an expired provider token on a moved clock) run as printed.
#[test]
fn the_tokens_and_faults_recipes_run_as_printed() {
    let out = run_recipe("<!-- tokens recipe -->", "127.0.0.1:9000");
    assert!(out.contains("410 Unregistered (timestamp") && out.contains("200 accepted"), "{out}");
    assert!(out.trim_end().ends_with("[true,true]"), "{out}");
    let out = run_recipe("<!-- faults recipe -->", "127.0.0.1:9000");
    assert!(out.contains("200 accepted") && out.contains("[200,429]"), "{out}");
    assert!(out.contains("403 ExpiredProviderToken"), "{out}");
}

/// The book's Web Push recipe runs as printed against a mock started as the curl recipe
/// starts it (its fixed ports and files moved to free ones and a temporary directory).
#[test]
fn the_web_push_recipe_runs_as_printed() {
    let out = run_recipe("<!-- web push recipe -->", "127.0.0.1:9001");
    assert_eq!(out.trim(), "201", "{out}");
}

/// Every command's help ends with the chapter of the book to read, and that chapter is
/// there (read from the generated command-line page, itself checked against the binary).
#[test]
fn every_commands_help_points_to_its_chapter() {
    let page = crate::book_reference::cli_page();
    let sections: Vec<&str> = page.split("\n## `apns-lab").skip(1).collect();
    assert!(sections.len() >= 15, "{} commands", sections.len());
    for section in sections {
        let name = section.lines().next().unwrap_or_default();
        let chapter = section
            .split("docs/src/")
            .nth(1)
            .and_then(|rest| rest.split(|c: char| c.is_whitespace() || c == ',' || c == ')' || c == ';').next())
            .unwrap_or_else(|| panic!("apns-lab{name}: its help names no chapter"));
        let chapter = chapter.trim_end_matches('.');
        assert!(root().join("docs/src").join(chapter).exists(), "apns-lab{name}: docs/src/{chapter}");
    }
}

/// Every block that runs the container image (a CI service, compose, Testcontainers,
/// `docker run`) reaches it on ports the image listens on: each port number in it is one
/// the Containerfile exposes (and its entrypoint serves).
#[test]
fn every_container_block_uses_the_image_s_ports() {
    let containerfile = read(&root().join("dist/container/Containerfile"));
    let exposed: BTreeSet<&str> = containerfile
        .lines()
        .find_map(|l| l.strip_prefix("EXPOSE "))
        .expect("an EXPOSE line")
        .split_whitespace()
        .collect();
    assert!(exposed.iter().all(|port| containerfile.contains(&format!("0.0.0.0:{port}"))), "{exposed:?}");
    let mut seen = 0;
    for page in pages() {
        for (lang, code, _) in blocks(&read(&page)) {
            if !code.contains("apns-lab:0.1.0") {
                continue;
            }
            seen += 1;
            for number in code.split(|c: char| !c.is_ascii_digit()).filter(|n| n.len() == 4) {
                assert!(exposed.contains(number), "{}: ```{lang}: port {number} is not the image's", name(&page));
            }
        }
    }
    assert!(seen >= 4, "the docker run, Actions, compose and Testcontainers blocks: {seen}");
}

/// The blocks that cannot run here are held to what they use all the same: the Actions
/// workflow to GitHub's schema and the compose file to the Compose Specification (the
/// copies check-jsonschema carries; nothing is fetched), the Testcontainers fixture to the
/// names and signatures Testcontainers and `apns_lab` have (tests/interop/snippet_names.py).
#[test]
fn the_blocks_that_cannot_run_are_held_to_their_schemas_and_libraries() {
    let python = crate::interop::python();
    let dir = tempfile::tempdir().expect("temp dir");
    let mut checked = Vec::new();
    for (i, (lang, code, above)) in blocks(&read(&root().join("docs/src/ci.md"))).into_iter().enumerate() {
        if !above.contains("book::the_blocks_that_cannot_run_are_held_to_their_schemas_and_libraries") {
            continue;
        }
        let file = dir.path().join(format!("block{i}.{}", if lang == "yaml" { "yml" } else { "py" }));
        std::fs::write(&file, &code).expect("written");
        let mut command = if lang == "yaml" {
            let schema = if code.contains("\njobs:") { "vendor.github-workflows" } else { "vendor.compose-spec" };
            let mut c = std::process::Command::new(python.with_file_name("check-jsonschema"));
            c.args(["--builtin-schema", schema]);
            checked.push(schema);
            c
        } else {
            let mut c = std::process::Command::new(&python);
            c.arg(root().join("tests/interop/snippet_names.py")).env("PYTHONPATH", root().join("dist/python/src"));
            checked.push("names");
            c
        };
        let out = command.arg(&file).output().expect("runs");
        let said = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success(), "docs/src/ci.md: ```{lang} {}: {said}", code.lines().next().unwrap_or_default());
    }
    assert_eq!(checked, ["vendor.github-workflows", "vendor.compose-spec", "names"]);
}

/// What every block names is in the code, run or not: each `apns-lab` option (checked
/// against the command line's reference, itself generated from clap) and each
/// `APNS_LAB_*` variable (in the sources that read or set it). A block that cannot run
/// here (a CI service, a registry's install) still cannot drift.
#[test]
fn what_every_block_names_is_in_the_code() {
    let cli = crate::book_reference::cli_page();
    let mut code = String::new();
    let mut dirs =
        vec![root().join("src"), root().join("mock-apns/src"), root().join("dist/python/src"), root().join("tests")];
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                dirs.push(path);
            } else if path.extension().is_some_and(|e| e == "rs" || e == "py") {
                code.push_str(&read(&path));
            }
        }
    }
    code.push_str(&read(&root().join("dist/npm/index.js")));
    let subcommands = ["serve", "exec", "demo", "device", "send", "channels", "provider", "token", "health"];
    let (mut problems, mut checked) = (Vec::new(), 0);
    for page in pages().into_iter().filter(|p| !p.ends_with("BENCHMARKS.md")) {
        let text = read(&page);
        for (_, block, _) in blocks(&text) {
            for line in block.lines() {
                let line = line.replace("cargo run --release --", "apns-lab");
                for (at, _) in line.match_indices("apns-lab ") {
                    let rest = &line[at + "apns-lab ".len()..];
                    if !subcommands.iter().any(|s| rest.starts_with(&format!("{s} ")) || rest == *s) {
                        continue;
                    }
                    // The command's own options: up to a pipe, a redirection, `--` or a comment.
                    let own = rest.split(['|', '>', '#', ';', '&']).next().unwrap_or_default();
                    let own = own.split(" -- ").next().unwrap_or_default();
                    for word in own.split_whitespace().filter(|w| w.starts_with("--") && w.len() > 2) {
                        let option = word.split('=').next().unwrap_or(word).trim_end_matches(['"', '\'', ')', ',']);
                        checked += 1;
                        if !cli.contains(&format!("`{option}")) && !cli.contains(&format!(", {option}")) {
                            problems.push(format!("{}: {option} is no apns-lab option", name(&page)));
                        }
                    }
                }
            }
        }
        let mut rest = text.as_str();
        while let Some(at) = rest.find("APNS_LAB_") {
            let var: String =
                rest[at..].chars().take_while(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || *c == '_').collect();
            // (`APNS_LAB_<KEY>`: the pattern, not a variable.)
            if var.len() > "APNS_LAB_".len() && !code.contains(&var) {
                problems.push(format!("{}: {var} is read or set nowhere", name(&page)));
            }
            rest = &rest[at + var.len().max(1)..];
        }
    }
    // Each admin API path a block calls is one the API documents (`{id}` matching a segment).
    let openapi: Value = serde_json::from_str(&read(&root().join("mock-apns/src/admin/openapi.json"))).expect("json");
    let routes: Vec<Vec<String>> = openapi["paths"]
        .as_object()
        .expect("paths")
        .keys()
        .map(|p| p.split('/').map(str::to_owned).collect())
        .collect();
    for page in pages().into_iter().filter(|p| !p.ends_with("BENCHMARKS.md")) {
        for (_, block, _) in blocks(&read(&page)) {
            for (at, _) in block.match_indices("/api/v1/") {
                let path: String =
                    block[at..].chars().take_while(|c| c.is_ascii_alphanumeric() || "/-_.{}$".contains(*c)).collect();
                let parts: Vec<&str> = path.trim_end_matches(['/', '.']).split('/').collect();
                let known = routes.iter().any(|r| {
                    r.len() == parts.len()
                        && r.iter()
                            .zip(&parts)
                            .all(|(r, p)| r == p || r.starts_with('{') || p.starts_with('$') || p.starts_with('{'))
                });
                if !known {
                    problems.push(format!("{}: {path} is no admin API route", name(&page)));
                }
            }
        }
    }
    problems.sort();
    problems.dedup();
    assert!(problems.is_empty(), "{}", problems.join("\n"));
    assert!(checked > 40, "only {checked} options found in the blocks");
}
