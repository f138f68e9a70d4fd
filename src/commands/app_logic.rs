//! The options that give simulated apps their own logic — `--handler APP=COMMAND|URL` —
//! and set the budgets iOS holds that logic to; shared by `device run` and `device fleet`.

use std::path::PathBuf;
use std::time::Duration;

/// Handlers and the rules they run under.
#[derive(clap::Args, Debug, Clone)]
pub(crate) struct AppLogic {
    /// The app's own code, APP=COMMAND or APP=URL (repeatable): APP is an --app bundle ID
    /// or a --web-app origin. A command runs once (sh -c) and gets one JSON event per
    /// line on stdin, answering one JSON line each; a URL gets each event POSTed as JSON.
    /// Events: didReceive, serviceExtensionTimeWillExpire, didReceiveRemoteNotification,
    /// willPresent, didReceiveIncomingPushWith, didRegisterForRemoteNotifications,
    /// pushToStartTokenUpdates, pushTokenUpdates, didReceiveResponse (the user tapped,
    /// dismissed or chose an action: `apns-lab device respond`), push (a web app's
    /// service worker).
    #[arg(long = "handler", value_name = "APP=COMMAND|URL", value_parser = parse_handler)]
    pub(crate) handlers: Vec<(String, String)>,
    /// Allow handler URLs that are not on this machine (loopback only by default).
    #[arg(long)]
    pub(crate) allow_remote_handlers: bool,
    /// The CA certificate (PEM) to trust for https:// handlers.
    #[arg(long, value_name = "FILE")]
    pub(crate) handler_ca: Option<PathBuf>,
    /// Seconds a service extension has to change a notification [iOS: about 30].
    #[arg(long, value_name = "SECS", default_value_t = 30.0, value_parser = parse_secs)]
    pub(crate) extension_budget: f64,
    /// Seconds a background fetch may take [iOS: 30].
    #[arg(long, value_name = "SECS", default_value_t = 30.0, value_parser = parse_secs)]
    pub(crate) background_time: f64,
    /// Background pushes an app may receive per --background-window; more are throttled
    /// (Apple publishes no number; it says "two or three per hour").
    #[arg(long, value_name = "N", default_value_t = 3)]
    pub(crate) background_budget: u32,
    /// The background budget's window, seconds of the mock's clock.
    #[arg(long, value_name = "SECS", default_value_t = 3600)]
    pub(crate) background_window: u64,
    /// Seconds PushKit waits for the app to report a VoIP push's call.
    #[arg(long, value_name = "SECS", default_value_t = 10.0, value_parser = parse_secs)]
    pub(crate) voip_time: f64,
    /// Unreported VoIP pushes in a row after which iOS stops launching the app for them
    /// until it is reinstalled (Apple publishes no number).
    #[arg(long, value_name = "N", default_value_t = 3, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) voip_strikes: u32,
}

impl AppLogic {
    /// The rules, as the phone holds them.
    pub(crate) fn rules(&self) -> device_sim::Rules {
        device_sim::Rules {
            extension_budget: Duration::from_secs_f64(self.extension_budget),
            background_time: Duration::from_secs_f64(self.background_time),
            background_limit: self.background_budget,
            background_window_secs: self.background_window,
            voip_time: Duration::from_secs_f64(self.voip_time),
            voip_strikes: self.voip_strikes,
            ..device_sim::Rules::default()
        }
    }

    /// The handler for `app`, if one was given.
    pub(crate) fn target(&self, app: &str) -> Result<Option<device_sim::Target>, String> {
        match self.handlers.iter().find(|(a, _)| a == app) {
            Some((_, spec)) => {
                device_sim::Target::parse(spec, self.allow_remote_handlers).map(Some).map_err(|e| e.to_string())
            }
            None => Ok(None),
        }
    }

    /// Checks every handler names one of `apps`, and reads the CA file.
    pub(crate) fn check(&self, apps: &[&str]) -> Result<Option<String>, String> {
        for (app, spec) in &self.handlers {
            if !apps.contains(&app.as_str()) {
                return Err(format!("--handler {app}=…: {app} is not one of the --app or --web-app apps"));
            }
            device_sim::Target::parse(spec, self.allow_remote_handlers).map_err(|e| e.to_string())?;
        }
        self.handler_ca
            .as_ref()
            .map(|p| std::fs::read_to_string(p).map_err(|e| format!("{}: {e}", p.display())))
            .transpose()
    }
}

fn parse_handler(s: &str) -> Result<(String, String), String> {
    match s.split_once('=') {
        Some((app, spec)) if !app.is_empty() && !spec.trim().is_empty() => Ok((app.to_owned(), spec.to_owned())),
        _ => Err(format!("{s:?} is not APP=COMMAND or APP=URL")),
    }
}

fn parse_secs(s: &str) -> Result<f64, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 && v <= 3600.0 => Ok(v),
        _ => Err(format!("{s:?} is not a number of seconds between 0 and 3600")),
    }
}
