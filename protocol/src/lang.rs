//! The languages apns-lab speaks to people — the dashboard and the narration of the demo
//! and the simulated phones: English and Simplified Chinese (简体中文), whose terms follow
//! Apple's Chinese documentation (设备令牌, 推送通知, 提供者服务器 …). What goes over the
//! wire (headers, reasons, JSON) is never translated.

use std::fmt;
use std::str::FromStr;

/// A language for people.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default)]
pub enum Lang {
    /// English (the default).
    #[default]
    En,
    /// Simplified Chinese.
    ZhCn,
}

impl Lang {
    /// Every language, in the order a switch lists them.
    pub const ALL: [Lang; 2] = [Lang::En, Lang::ZhCn];

    /// Its tag: `en` or `zh-CN`.
    pub fn as_str(self) -> &'static str {
        match self {
            Lang::En => "en",
            Lang::ZhCn => "zh-CN",
        }
    }

    /// The one a POSIX locale names (`LC_ALL`, then `LC_MESSAGES`, then `LANG`, the first
    /// that is set): Chinese for `zh_*` (and `zh-*`), English otherwise.
    pub fn from_locale(lc_all: Option<&str>, lc_messages: Option<&str>, lang: Option<&str>) -> Lang {
        let locale = [lc_all, lc_messages, lang].into_iter().flatten().find(|v| !v.is_empty()).unwrap_or("");
        if locale.starts_with("zh") { Lang::ZhCn } else { Lang::En }
    }

    /// [`Lang::from_locale`] of this process's environment.
    pub fn from_env() -> Lang {
        let var = |k: &str| std::env::var(k).ok();
        Lang::from_locale(var("LC_ALL").as_deref(), var("LC_MESSAGES").as_deref(), var("LANG").as_deref())
    }

    /// `en` or `zh`: picks the text for this language.
    pub fn pick<'a>(self, en: &'a str, zh: &'a str) -> &'a str {
        match self {
            Lang::En => en,
            Lang::ZhCn => zh,
        }
    }
}

impl fmt::Display for Lang {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Lang {
    type Err = String;
    fn from_str(s: &str) -> Result<Lang, String> {
        match s.to_ascii_lowercase().replace('_', "-").as_str() {
            "en" | "en-us" | "en-gb" => Ok(Lang::En),
            "zh-cn" | "zh-hans" | "zh" => Ok(Lang::ZhCn),
            _ => Err(format!("{s:?} is not a language apns-lab speaks (en, zh-CN)")),
        }
    }
}

/// Text in every language: `t!(lang, "English {x}", "中文 {x}")` formats the one for `lang`.
#[macro_export]
macro_rules! t {
    ($lang:expr, $en:literal, $zh:literal $(, $arg:expr)* $(,)?) => {
        match $lang {
            $crate::Lang::En => format!($en $(, $arg)*),
            $crate::Lang::ZhCn => format!($zh $(, $arg)*),
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_locale_picks_the_language() {
        assert_eq!(Lang::from_locale(None, None, Some("zh_CN.UTF-8")), Lang::ZhCn);
        assert_eq!(Lang::from_locale(Some("en_US.UTF-8"), None, Some("zh_CN.UTF-8")), Lang::En, "LC_ALL first");
        assert_eq!(Lang::from_locale(Some(""), Some("zh_TW"), None), Lang::ZhCn);
        assert_eq!(Lang::from_locale(None, None, Some("C.UTF-8")), Lang::En);
        assert_eq!(Lang::from_locale(None, None, None), Lang::En);
    }

    #[test]
    fn tags_parse_and_print() {
        for l in Lang::ALL {
            assert_eq!(l.as_str().parse::<Lang>(), Ok(l));
        }
        assert_eq!("zh_CN".parse::<Lang>(), Ok(Lang::ZhCn));
        assert!("fr".parse::<Lang>().is_err());
        let n = 3;
        assert_eq!(t!(Lang::ZhCn, "{n} tokens", "{n} 个令牌"), "3 个令牌");
        assert_eq!(t!(Lang::En, "{} tokens", "{} 个令牌", n), "3 tokens");
    }
}
