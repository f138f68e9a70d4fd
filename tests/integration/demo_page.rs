//! The dashboard of a freshly started `apns-lab demo`, used as a student would: every
//! lesson clicked in English at 1440 px, then again in Chinese at a phone's 390 px, each
//! ending with its rule and saying only what happened; and what the page shows around
//! them — the flow in order, the phones, the console, the keyboard.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use fantoccini::{Client, Locator};
use serde_json::Value;

use crate::page::*;

/// Every lesson, in the order the page lists them.
const LESSONS: [&str; 14] = [
    "first",
    "away",
    "collapse",
    "silent",
    "extension",
    "voip",
    "update",
    "restore",
    "erase",
    "uninstall",
    "activity",
    "broadcast",
    "webpush",
    "scope",
];

/// `apns-lab demo` running (not `--once`), stopped with SIGTERM when dropped; its log file
/// is in a temporary directory of its own, removed after it.
struct Demo(Child, #[allow(dead_code)] tempfile::TempDir);

impl Drop for Demo {
    fn drop(&mut self) {
        let _ = Command::new("kill").args(["-TERM", &self.0.id().to_string()]).status();
        for _ in 0..50 {
            if matches!(self.0.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Starts the demo and waits (bounded) until its script is done and it prints the
/// dashboard's address.
fn start_demo() -> (Demo, String) {
    let tmp = tempfile::tempdir().expect("a temporary directory");
    let mut child = Command::new(env!("CARGO_BIN_EXE_apns-lab"))
        .args(["demo", "--lang", "en"])
        .env("TMPDIR", tmp.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .expect("demo starts");
    let stdout = child.stdout.take().expect("stdout");
    let demo = Demo(child, tmp);
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines().map_while(Result::ok) {
            if line.starts_with("The dashboard")
                && let Some(at) = line.find("http://")
            {
                let _ = tx.send(line[at..].trim().to_owned());
            }
        }
    });
    let url = rx.recv_timeout(Duration::from_secs(120)).expect("the demo prints its dashboard within 2 min");
    (demo, url)
}

async fn js(c: &Client, script: &str) -> Value {
    c.execute(script, vec![]).await.unwrap_or_else(|e| panic!("{script}: {e}"))
}

/// Clicks a lesson and waits for its end; it must end "done", with its rule. Its text.
async fn lesson(c: &Client, id: &str) -> String {
    js(c, "document.getElementById('lessons').scrollIntoView()").await;
    click_lesson(c, id).await;
    let out = format!(r##"#lesson-out[data-lesson="{id}"]"##);
    let mut state = String::new();
    for _ in 0..600 {
        let s = js(c, &format!("const o = document.querySelector('{out}'); return o ? o.dataset.state : ''")).await;
        state = s.as_str().unwrap_or_default().to_owned();
        if ["done", "failed", "no-phone"].contains(&state.as_str()) {
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let text = c.find(Locator::Css(&out)).await.expect("out").text().await.expect("text");
    assert_eq!(state, "done", "{id}: {text}");
    let rule = js(c, "const r = document.querySelector('#lesson-out .rule'); return r ? r.textContent : ''").await;
    assert!(rule.as_str().is_some_and(|r| r.len() > 20), "{id} ends with its rule: {text}");
    // …and the chapter of the book that tells it at length, which is there.
    let chapter =
        js(c, "const b = document.querySelector('#lesson-out .book code'); return b ? b.textContent : ''").await;
    let chapter = chapter.as_str().unwrap_or_default();
    assert!(
        chapter.starts_with("docs/src/") && std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join(chapter).exists(),
        "{id}: {chapter:?}"
    );
    text
}

/// What every view of the page must hold, after any lesson: nothing cut off, nothing
/// wider than the screen, phones that read like phones.
async fn page_holds(c: &Client, width: u64, when: &str) {
    let found = js(
        c,
        r##"
        const bad = [];
        const w = document.documentElement.clientWidth;
        if (document.documentElement.scrollWidth > w) bad.push(`page ${document.documentElement.scrollWidth} px wide in ${w}`);
        for (const l of document.querySelectorAll("#flow .arrow .label"))
          if (l.scrollWidth > l.clientWidth + 1) bad.push(`label cut: ${l.textContent}`);
        for (const t of document.querySelectorAll(".app-icon .app-token")) {
          const icon = t.closest(".app-icon").getBoundingClientRect(), r = t.getBoundingClientRect();
          if (r.left < icon.left - 1 || r.right > icon.right + 1) bad.push(`token wider than its icon: ${t.textContent}`);
        }
        for (const h of document.querySelectorAll(".activity .head")) {
          const [a, b] = h.querySelectorAll("span"), ra = a.getBoundingClientRect(), rb = b.getBoundingClientRect();
          if (rb.top < ra.bottom - 1 && rb.left < ra.right + 4) bad.push(`activity header runs together: ${h.textContent}`);
        }
        for (const id of document.querySelectorAll("#flow .note .id"))
          if (/·\s*·|·\s*$|^\s*·/.test(id.textContent)) bad.push(`empty field: ${id.textContent}`);
        for (const b of document.querySelectorAll("#flow .arrow b, #log td"))
          if (/^2\d\d\b/.test(b.textContent.trim()) && (b.classList.contains("bad") || b.closest(".arrow.fail")))
            bad.push(`success drawn as an error: ${b.textContent}`);
        for (const l of document.querySelectorAll("#flow .arrow.back.fail .line")) {
          const head = getComputedStyle(l, "::after");
          if (head.borderLeftColor !== "rgba(0, 0, 0, 0)") bad.push("a return arrow with two heads");
        }
        if (document.querySelectorAll('#flow [tabindex="0"]').length !== 1) bad.push("the flow is not one tab stop");
        return bad;"##,
    )
    .await;
    assert_eq!(found, Value::Array(Vec::new()), "{width} px, {when}");
}

/// The lessons' groups in the flow: the newest lesson on top, each oldest first.
async fn flow_in_order(c: &Client, newest: &str) {
    let order = js(
        c,
        r##"
        const groups = [...document.querySelectorAll("#flow > .flow-group")];
        const sorted = groups.every((g) => {
          const t = [...g.querySelectorAll(":scope > .note")].map((n) => Number(n.dataset.time));
          return t.every((v, i) => i === 0 || t[i - 1] <= v);
        });
        return {top: groups[0] && groups[0].dataset.lesson, sorted};"##,
    )
    .await;
    assert_eq!(order["top"], newest, "{order}");
    assert_eq!(order["sorted"], true, "{order}");
}

async fn phone_text(c: &Client, udid: &str, part: &str) -> String {
    let v = js(
        c,
        &format!(
            r##"const p = document.querySelector('.phone[data-udid="{udid}"] {part}'); return p ? p.textContent : ''"##
        ),
    )
    .await;
    v.as_str().unwrap_or_default().to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn every_lesson_completes_in_a_freshly_started_demo_in_both_languages() {
    let (demo, url) = start_demo();
    let (_driver, c) = browser().await;
    let result = async {
        c.goto(&url).await.expect("page loads");
        text_when(&c, "#live", |t| t == "live").await;

        // The keyboard: the flow is one tab stop, and the arrow keys move inside it.
        let moved = js(
            &c,
            r##"
            const first = document.querySelector('#flow [tabindex="0"]');
            first.focus();
            first.dispatchEvent(new KeyboardEvent("keydown", {key: "ArrowDown", bubbles: true}));
            const now = document.activeElement;
            return {moved: now !== first && now.classList.contains("arrow"), stops: document.querySelectorAll('#flow [tabindex="0"]').length,
              arrows: document.querySelectorAll('#flow .arrow[data-detail]').length};"##,
        )
        .await;
        assert_eq!((moved["moved"].as_bool(), moved["stops"].as_u64()), (Some(true), Some(1)), "{moved}");
        assert!(moved["arrows"].as_u64().unwrap_or(0) > 50, "{moved}");

        // The console: the user picks Ann's chat token and writes a payload of their own.
        let chosen = js(
            &c,
            r##"
            const sel = document.getElementById("console-token");
            const o = [...sel.options].find((o) => o.dataset.app === "ANN-IPHONE|com.example.chat");
            sel.value = o.value; sel.dispatchEvent(new Event("change"));
            document.getElementById("console-payload").value = '{"aps":{"alert":"mine"}}';
            return o.value;"##,
        )
        .await;

        for id in LESSONS {
            let text = lesson(&c, id).await;
            match id {
                "away" => {
                    // The phone registered again with the same token: step 3 is explained.
                    let skipped = js(&c, r##"return document.querySelectorAll('#flow .flow-group[data-lesson="away"] .note.reg .arrow.skipped').length"##).await;
                    assert!(skipped.as_u64().unwrap_or(0) >= 1, "step 3 explained when the token did not change");
                }
                "restore" => {
                    let status = phone_text(&c, "NEW-ANN-IPHONE", ".status").await;
                    assert!(status.contains("offline"), "a restored phone is online only when a phone runs: {status}");
                }
                "erase" => {
                    assert!(text.contains("deleted") && text.contains("holds only the new token"), "{text}");
                    let erased = js(&c, r##"return document.querySelectorAll('#flow .flow-group[data-lesson="erase"] .note.life[data-kind="erase"]').length"##).await;
                    assert_eq!(erased, 1, "the erase is an event of its own");
                    let shown = js(&c, r##"return document.querySelectorAll('.phone[data-udid="ANN-IPHONE"] .banner').length"##).await;
                    assert_eq!(shown, 0, "notifications leave with the tokens they were sent to");
                }
                "uninstall" => {
                    let shown = phone_text(&c, "ANN-IPHONE", ".lock").await + &phone_text(&c, "ANN-IPHONE", ".notifs").await;
                    assert!(!shown.to_lowercase().contains("chat"), "the deleted app's notifications do not come back: {shown}");
                }
                "activity" => assert!(text.contains("the activity ends"), "{text}"),
                "broadcast" => {
                    assert!(text.contains("2 of them updated a Lock Screen"), "{text}");
                    for fan in ["DAN-IPHONE", "EVE-IPHONE"] {
                        text_when(&c, &format!(r##".phone[data-udid="{fan}"] .activity"##), |t| t.contains("23")).await;
                    }
                    js(&c, "document.getElementById('lessons').scrollIntoView()").await;
                    save_screenshot(&c, "dashboard-demo-lesson.png").await;
                }
                _ => {}
            }
            page_holds(&c, 1440, id).await;
            flow_in_order(&c, id).await;
        }
        // The user's choice stands: the token (gone with the erase) and the payload.
        let console = js(
            &c,
            r##"const sel = document.getElementById("console-token");
            return {value: sel.value, label: sel.selectedOptions[0].textContent, payload: document.getElementById("console-payload").value};"##,
        )
        .await;
        assert_eq!(console["value"], chosen, "{console}");
        assert!(console["label"].as_str().is_some_and(|l| l.contains("no longer its token")), "{console}");
        assert_eq!(console["payload"], r##"{"aps":{"alert":"mine"}}"##);
        let derivation = js(&c, r##"return [...document.querySelectorAll('#flow .note.reg .arrow .label')].some((l) => l.textContent.includes("= f(UDID, bundle ID"))"##).await;
        assert_eq!(derivation, true, "the derivation is in the flow's labels");
    }
    .await;
    c.close().await.expect("browser closes");
    let () = result;

    // In Chinese, on a phone's screen, every lesson again (on the phones the first pass
    // left): each ends with its rule, and the page holds.
    let (_driver, c) = browser_at(390).await;
    let result = async {
        c.goto(&url).await.expect("page loads");
        js(&c, "localStorage.setItem('apns-lab-lang', 'zh-CN'); location.reload()").await;
        text_when(&c, "#devices-h", |t| t == "设备").await;
        text_when(&c, "#live", |t| !t.is_empty() && t != "connecting…").await;
        for id in LESSONS {
            let text = lesson(&c, id).await;
            // No English left in what the lesson says (identifiers and wire values aside).
            for english in ["presented", "handled silently", "replaced in storage", "from storage", "activity updated",
                "app not installed", "call reported", "timed out", "by extension", "discarded", "per-app 令牌", "The rule"] {
                assert!(!text.contains(english), "{id}: {english:?} in {text}");
            }
            match id {
                "broadcast" => assert!(text.contains("更新了锁定屏幕"), "{text}"),
                "erase" => {
                    assert!(text.contains("已删除") && text.contains("只保存新的设备令牌"), "{text}");
                    js(&c, "document.getElementById('lesson-out').scrollIntoView()").await;
                    save_screenshot(&c, "dashboard-demo-lesson-zh-CN-phone.png").await;
                }
                _ => {}
            }
            page_holds(&c, 390, id).await;
        }
        // What was discarded is said in Chinese.
        let counts = js(&c, r##"return [...document.querySelectorAll('#counts [data-count^="discarded: "] span')].map((s) => s.textContent)"##).await;
        let counts: Vec<&str> = counts.as_array().expect("list").iter().filter_map(Value::as_str).collect();
        assert!(!counts.is_empty(), "the lessons discard some");
        for label in counts {
            assert!(
                !["device offline", "says try once", "expired", "discarded"].iter().any(|e| label.contains(e)),
                "{label}"
            );
        }
    }
    .await;
    c.close().await.expect("browser closes");
    drop(demo);
    result
}
