//! The mock's notion of "now" — APNs's time. Every rule that is about APNs's clock reads
//! it: a provider token's age and the 20-minute refresh rule, how long a stored
//! notification lives, the 410 `timestamp`, rate-limit buckets and journeys' times. What
//! is about connections (handshake, body and idle timeouts, low-priority batching) stays
//! on real time.
//!
//! Tests move it without sleeping: in-process through [`Clock::advance`] and
//! [`Clock::set_offset`], from any language through `GET/PUT /api/v1/clock`. A clock is
//! a base (the system's time, or a fixed instant for a manual clock) plus an offset, so
//! moving it never stops it, and setting the offset back to 0 returns to the base.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

use crate::error::Error;

/// A wall clock: the system's or a fixed instant, plus an offset tests can move.
#[derive(Clone, Default)]
pub struct Clock(Arc<Inner>);

struct Inner {
    /// `None`: the system clock; `Some`: a manual clock stopped at this instant.
    base: Option<SystemTime>,
    /// Added to the base, in milliseconds (negative: behind it).
    offset_ms: AtomicI64,
    /// Bumped whenever the clock is moved (not as it runs), for whoever must tell others.
    moved: tokio::sync::watch::Sender<()>,
}

impl Default for Inner {
    fn default() -> Self {
        Inner { base: None, offset_ms: AtomicI64::new(0), moved: tokio::sync::watch::Sender::new(()) }
    }
}

impl Clock {
    /// The system clock (the default).
    pub fn system() -> Self {
        Clock::default()
    }

    /// A clock stopped at `start` until [`Clock::advance`], [`Clock::set`] or
    /// [`Clock::set_offset`] moves it.
    pub fn manual(start: SystemTime) -> Self {
        Clock(Arc::new(Inner { base: Some(start), ..Inner::default() }))
    }

    /// Whether this clock stands still between moves (a manual clock).
    pub fn is_manual(&self) -> bool {
        self.0.base.is_some()
    }

    /// The current time.
    pub fn now(&self) -> SystemTime {
        let base = self.0.base.unwrap_or_else(SystemTime::now);
        let offset = self.0.offset_ms.load(Ordering::Relaxed);
        if offset >= 0 {
            base + Duration::from_millis(offset as u64)
        } else {
            base.checked_sub(Duration::from_millis(offset.unsigned_abs())).unwrap_or(UNIX_EPOCH)
        }
    }

    /// Seconds since the UNIX epoch.
    pub fn unix_secs(&self) -> u64 {
        self.now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
    }

    /// Milliseconds since the UNIX epoch (the unit of a 410's `timestamp`).
    pub fn unix_millis(&self) -> u64 {
        self.now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
    }

    /// How far this clock is from its base, in milliseconds.
    pub fn offset_ms(&self) -> i64 {
        self.0.offset_ms.load(Ordering::Relaxed)
    }

    /// Sets how far this clock is from its base (0: the system's time again, or the
    /// manual clock's start).
    pub fn set_offset(&self, ms: i64) {
        self.0.offset_ms.store(ms, Ordering::Relaxed);
        self.0.moved.send_replace(());
    }

    /// Moves the clock forward by `by`.
    pub fn advance(&self, by: Duration) {
        let ms = i64::try_from(by.as_millis()).unwrap_or(i64::MAX);
        let _ = self.0.offset_ms.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |o| Some(o.saturating_add(ms)));
        self.0.moved.send_replace(());
    }

    /// Changes each time the clock is moved (advanced or set), not as it runs.
    pub(crate) fn moves(&self) -> tokio::sync::watch::Receiver<()> {
        self.0.moved.subscribe()
    }

    /// Sets the clock so that it reads `to` now.
    pub fn set(&self, to: SystemTime) {
        let base = self.0.base.unwrap_or_else(SystemTime::now);
        let ms = match to.duration_since(base) {
            Ok(ahead) => i64::try_from(ahead.as_millis()).unwrap_or(i64::MAX),
            Err(behind) => -i64::try_from(behind.duration().as_millis()).unwrap_or(i64::MAX),
        };
        self.set_offset(ms);
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let kind = if self.is_manual() { "manual" } else { "system" };
        write!(f, "Clock::{kind}(offset {} ms, now {:?})", self.offset_ms(), self.now())
    }
}

/// `GET /api/v1/clock`: APNs's time as the mock reads it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct ClockView {
    /// The mock's now, ms since the UNIX epoch.
    pub now_ms: u64,
    /// How far it is from its base (the real time, or a manual clock's start), ms.
    pub offset_ms: i64,
    /// Whether the clock stands still between moves (a manual clock, in-process only).
    pub manual: bool,
}

impl ClockView {
    /// What `clock` reads now.
    pub fn of(clock: &Clock) -> ClockView {
        ClockView { now_ms: clock.unix_millis(), offset_ms: clock.offset_ms(), manual: clock.is_manual() }
    }
}

/// `PUT /api/v1/clock`: exactly one of the three.
#[derive(Debug, Clone, Copy, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetClock {
    /// Move the clock forward by this many ms.
    #[serde(default)]
    pub advance_ms: Option<u64>,
    /// Set the offset from the base (0: back to the real time).
    #[serde(default)]
    pub offset_ms: Option<i64>,
    /// Set the clock so that it reads this now (ms since the UNIX epoch).
    #[serde(default)]
    pub now_ms: Option<u64>,
}

impl SetClock {
    /// Moves `clock` as asked; answers what it reads then.
    pub fn apply(self, clock: &Clock) -> Result<ClockView, Error> {
        match (self.advance_ms, self.offset_ms, self.now_ms) {
            (Some(ms), None, None) => clock.advance(std::time::Duration::from_millis(ms)),
            (None, Some(ms), None) => clock.set_offset(ms),
            (None, None, Some(ms)) => clock.set(std::time::UNIX_EPOCH + std::time::Duration::from_millis(ms)),
            _ => return Err(Error::Invalid("give exactly one of advance_ms, offset_ms, now_ms".into())),
        }
        Ok(ClockView::of(clock))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn offsets_move_both_kinds_and_zero_goes_back() {
        let start = UNIX_EPOCH + Duration::from_secs(1_800_000_000);
        let manual = Clock::manual(start);
        manual.advance(Duration::from_secs(61 * 60));
        assert_eq!(manual.unix_secs(), 1_800_000_000 + 61 * 60);
        assert_eq!(manual.offset_ms(), 61 * 60 * 1000);
        manual.set_offset(-1000);
        assert_eq!(manual.unix_millis(), 1_800_000_000_000 - 1000);
        manual.set(start + Duration::from_secs(5));
        assert_eq!((manual.unix_secs(), manual.offset_ms()), (1_800_000_005, 5000));
        manual.set_offset(0);
        assert_eq!(manual.now(), start);

        let system = Clock::system();
        system.advance(Duration::from_secs(2 * 86_400));
        let real = SystemTime::now().duration_since(UNIX_EPOCH).expect("after 1970").as_secs();
        assert!(system.unix_secs() >= real + 2 * 86_400 - 1 && system.unix_secs() <= real + 2 * 86_400 + 1);
        system.set_offset(0);
        assert!(system.unix_secs().abs_diff(real) <= 1);
    }
}
