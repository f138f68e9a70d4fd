//! What the phone says about each notification, one line for a terminal, in English or
//! Simplified Chinese: how it was shown, or what the app's own logic and iOS's rules did.

use protocol::gateway::Outcome;
use protocol::{Lang, t};

use crate::Received;
use crate::activity::Change;
use crate::present::Shown;

/// How a notification looks on the phone, as one line for a terminal.
pub fn describe(r: &Received) -> String {
    describe_in(Lang::En, r)
}

/// [`describe`], in `lang`.
pub fn describe_in(lang: Lang, r: &Received) -> String {
    let Some(decision) = &r.decision else {
        return t!(
            lang,
            "[5] {}: duplicate of {} dropped",
            "[5] {}：重复的 {}，已丢弃",
            r.delivery.topic,
            r.delivery.apns_id
        );
    };
    let app = decision.bundle_id.as_deref().unwrap_or(&r.delivery.topic);
    let mut how = if r.delivery.from_storage {
        lang.pick(" (stored while offline)", "（离线期间存储，现在送达）").to_owned()
    } else if r.delivery.redelivered {
        lang.pick(" (redelivered)", "（重新送达）").to_owned()
    } else {
        String::new()
    };
    if r.replaced {
        let id = r.delivery.collapse_id.as_deref().unwrap_or("");
        how.push_str(&t!(
            lang,
            ", replacing the earlier one with collapse id {id}",
            "，替换了折叠 ID 为 {id} 的上一条"
        ));
    }
    let state = || {
        serde_json::from_str::<serde_json::Value>(r.delivery.payload.get())
            .ok()
            .and_then(|p| p["aps"].get("content-state").map(|s| s.to_string()))
            .unwrap_or_default()
    };
    let id = match &r.activity {
        Some(
            Change::Started { id, .. }
            | Change::Updated { id, .. }
            | Change::Ended { id, .. }
            | Change::Deferred { id, .. }
            | Change::Dismissed { id },
        ) => id.as_str(),
        None => "",
    };
    let lit = match &r.activity {
        Some(Change::Updated { alert: true, .. }) => {
            lang.pick(" — the screen lights with its alert", " —— 屏幕亮起并显示其提醒")
        }
        _ => "",
    };
    let state = state();
    let reason = decision.reason.as_deref().unwrap_or_default();
    match (decision.outcome, &decision.shown) {
        (Outcome::ActivityStarted, _) => t!(
            lang,
            "[5] {app}: Live Activity {id} started by push, on the Lock Screen: {state}{how}",
            "[5] {app}：实时活动 {id} 由推送启动，显示在锁定屏幕上：{state}{how}"
        ),
        (Outcome::ActivityUpdated, _) if decision.reason.is_some() => {
            t!(
                lang,
                "[5] {app}: Live Activity {id} update {reason}{how}",
                "[5] {app}：实时活动 {id} 的更新{reason}{how}"
            )
        }
        (Outcome::ActivityUpdated, _) => {
            t!(
                lang,
                "[5] {app}: Live Activity {id} updated: {state}{lit}{how}",
                "[5] {app}：实时活动 {id} 已更新：{state}{lit}{how}"
            )
        }
        (Outcome::ActivityEnded, _) => {
            t!(
                lang,
                "[5] {app}: Live Activity {id} ended: {state}{how}",
                "[5] {app}：实时活动 {id} 已结束：{state}{how}"
            )
        }
        (Outcome::Presented, Some(s)) => t!(lang, "[5] {app}: {}{how}", "[5] {app}：{}{how}", shown(lang, s)),
        (Outcome::ModifiedByExtension, Some(s)) => {
            let s = Shown { via_service_extension: false, ..s.clone() };
            t!(
                lang,
                "[5] {app}: modified by its service extension, then {}{how}",
                "[5] {app}：经通知服务扩展修改后，{}{how}",
                shown(lang, &s)
            )
        }
        (Outcome::ExtensionTimedOut, _) => t!(
            lang,
            "[5] {app}: its service extension timed out (serviceExtensionTimeWillExpire): {reason}{how}",
            "[5] {app}：通知服务扩展超时（serviceExtensionTimeWillExpire）：{reason}{how}"
        ),
        (Outcome::ExtensionFailed, _) => t!(
            lang,
            "[5] {app}: its service extension failed: {reason}{how}",
            "[5] {app}：通知服务扩展失败：{reason}{how}"
        ),
        (Outcome::BackgroundFetch, _) => t!(
            lang,
            "[5] {app}: woken in the background; its fetch ended {reason}{how}",
            "[5] {app}：在后台被唤醒；它的后台获取结果为 {reason}{how}"
        ),
        (Outcome::CallReported, _) => t!(
            lang,
            "[5] {app}: VoIP push reported to CallKit — {reason}{how}",
            "[5] {app}：VoIP 推送已报告给 CallKit —— {reason}{how}"
        ),
        (Outcome::VoipNoCall, _) => t!(
            lang,
            "[5] {app}: VoIP push with no call reported to CallKit — iOS terminated the app: {reason}{how}",
            "[5] {app}：VoIP 推送没有向 CallKit 报告来电 —— iOS 终止了 App：{reason}{how}"
        ),
        (Outcome::Responded, _) => {
            let action = r.delivery.response.as_ref().map(|x| x.action.as_str()).unwrap_or_default();
            let app_did = reason.split_once("; ").map(|(_, rest)| rest).unwrap_or_default();
            let what = match action {
                protocol::gateway::UserResponse::TAP => {
                    lang.pick("tapped the notification: the app opens", "点按了通知：App 打开").to_owned()
                }
                protocol::gateway::UserResponse::DISMISS => {
                    lang.pick("dismissed the notification", "清除了通知").to_owned()
                }
                a => t!(lang, "chose the notification's action {a}", "选择了通知的操作 {a}"),
            };
            match app_did {
                "" => t!(lang, "[5] {app}: the user {what}", "[5] {app}：用户{what}"),
                more => t!(lang, "[5] {app}: the user {what} ({more})", "[5] {app}：用户{what}（{more}）"),
            }
        }
        (Outcome::VoipBlocked, _) => t!(
            lang,
            "[5] {app}: VoIP push not delivered: iOS stopped launching the app for VoIP pushes until it is reinstalled{how}",
            "[5] {app}：VoIP 推送未送达：iOS 已停止为 VoIP 推送启动该 App，直到重新安装{how}"
        ),
        (Outcome::HandledSilently, _) => {
            t!(
                lang,
                "[5] {app}: woken in the background, nothing shown{how}",
                "[5] {app}：在后台被唤醒，不显示任何内容{how}"
            )
        }
        (Outcome::AppNotInstalled, _) => {
            t!(lang, "[5] {}: no such app on this phone{how}", "[5] {}：这台手机上没有这个 App{how}", r.delivery.topic)
        }
        (_, _) => {
            let why = decision.reason.as_deref().unwrap_or(lang.pick("discarded", "已丢弃"));
            t!(lang, "[5] {app}: not shown ({why}){how}", "[5] {app}：未显示（{why}）{how}")
        }
    }
}

fn shown(lang: Lang, s: &Shown) -> String {
    let mut parts = Vec::new();
    let text = [s.title.as_deref(), s.subtitle.as_deref(), s.body.as_deref()]
        .into_iter()
        .flatten()
        .collect::<Vec<_>>()
        .join(" — ");
    parts.push(if s.in_foreground {
        t!(lang, "to the app in the foreground: \"{text}\"", "交给前台的 App：“{text}”")
    } else if s.banner {
        t!(lang, "banner \"{text}\"", "横幅“{text}”")
    } else {
        t!(lang, "in the notification center \"{text}\"", "在通知中心“{text}”")
    });
    if let Some(sound) = &s.sound {
        parts.push(t!(lang, "sound {sound}", "声音 {sound}"));
    }
    if let Some(badge) = s.badge {
        parts.push(if badge == 0 {
            lang.pick("badge cleared", "标记已清除").into()
        } else {
            t!(lang, "badge {badge}", "标记 {badge}")
        });
    }
    if let Some(thread) = &s.thread_id {
        parts.push(t!(lang, "thread {thread}", "线程 {thread}"));
    }
    if s.interruption_level != "active" {
        parts.push(s.interruption_level.clone());
    }
    match s.shown_by.as_deref() {
        Some("declarative") => parts.push(lang.pick("declarative Web Push", "声明式 Web 推送").into()),
        Some(_) => parts.push(lang.pick("shown by the service worker", "由 Service Worker 显示").into()),
        None => {}
    }
    if let Some(url) = &s.navigate {
        parts.push(t!(lang, "opens {url}", "点按打开 {url}"));
    }
    if s.via_service_extension {
        parts.push(lang.pick("via service extension", "经由通知服务扩展").into());
    }
    parts.join(lang.pick(", ", "，"))
}
