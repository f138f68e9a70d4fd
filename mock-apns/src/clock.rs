//! The mock's notion of "now", injectable so tests can move time (JWT age, the 20-minute
//! refresh rule) without sleeping.

use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

/// A wall clock: the system's, or a manual one that only moves when told.
#[derive(Clone, Default)]
pub struct Clock(Option<Arc<Mutex<SystemTime>>>);

impl Clock {
    /// The system clock (the default).
    pub fn system() -> Self {
        Clock(None)
    }

    /// A clock stopped at `start` until [`Clock::advance`] or [`Clock::set`].
    pub fn manual(start: SystemTime) -> Self {
        Clock(Some(Arc::new(Mutex::new(start))))
    }

    /// The current time.
    pub fn now(&self) -> SystemTime {
        match &self.0 {
            None => SystemTime::now(),
            Some(t) => *t.lock().unwrap_or_else(|e| e.into_inner()),
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

    /// Moves a manual clock forward; the system clock ignores this.
    pub fn advance(&self, by: Duration) {
        if let Some(t) = &self.0 {
            *t.lock().unwrap_or_else(|e| e.into_inner()) += by;
        }
    }

    /// Sets a manual clock; the system clock ignores this.
    pub fn set(&self, to: SystemTime) {
        if let Some(t) = &self.0 {
            *t.lock().unwrap_or_else(|e| e.into_inner()) = to;
        }
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match &self.0 {
            None => f.write_str("Clock::system"),
            Some(_) => write!(f, "Clock::manual({:?})", self.now()),
        }
    }
}
