//! Peer misbehaviour, counted and logged without flooding: every occurrence is counted
//! (`apns_peer_misbehaviour_total{kind}` on `/metrics`), and each kind is logged at most
//! once per second, with how many happened since its last line. An attack that cuts
//! 10 000 connections a second writes one line a second, not 10 000.

use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

/// What a peer did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The TLS handshake failed.
    TlsHandshake,
    /// A handshake (TLS or HTTP/2) did not finish in time.
    HandshakeTimeout,
    /// The peer broke HTTP/2 (protocol errors, rapid resets, floods h2 stops).
    Http2,
}

impl Kind {
    /// Every kind, in metric order.
    pub(crate) const ALL: [Kind; 3] = [Kind::TlsHandshake, Kind::HandshakeTimeout, Kind::Http2];

    /// The metric label.
    pub(crate) const fn as_str(self) -> &'static str {
        match self {
            Kind::TlsHandshake => "tls-handshake",
            Kind::HandshakeTimeout => "handshake-timeout",
            Kind::Http2 => "http2",
        }
    }
}

/// The counts, and when each kind was last logged.
#[derive(Default)]
pub(crate) struct Misbehaviour {
    counts: [AtomicU64; 3],
    /// Per kind: when it was last logged, and how many since.
    logged: Mutex<[(Option<Instant>, u64); 3]>,
}

impl Misbehaviour {
    /// Counts one occurrence; logs it (with those since the last line) unless this kind
    /// was logged less than a second ago.
    pub(crate) fn report(&self, kind: Kind, detail: &dyn std::fmt::Display) {
        if let Some(n) = self.count(kind, Instant::now()) {
            tracing::warn!(kind = kind.as_str(), since_last = n, "peer misbehaviour: {detail}");
        }
    }

    /// Counts one at `now`: `Some(n)` when it is to be logged, with the `n` occurrences it
    /// stands for.
    fn count(&self, kind: Kind, now: Instant) -> Option<u64> {
        let i = kind as usize;
        self.counts[i].fetch_add(1, Ordering::Relaxed);
        let mut logged = self.logged.lock().unwrap_or_else(|e| e.into_inner());
        let (last, pending) = &mut logged[i];
        *pending += 1;
        if last.is_some_and(|t| now.duration_since(t) < Duration::from_secs(1)) {
            return None;
        }
        *last = Some(now);
        Some(std::mem::take(pending))
    }

    /// How many of `kind` so far.
    pub(crate) fn total(&self, kind: Kind) -> u64 {
        self.counts[kind as usize].load(Ordering::Relaxed)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn once_a_second_per_kind_with_the_count() {
        let m = Misbehaviour::default();
        let t0 = Instant::now();
        assert_eq!(m.count(Kind::Http2, t0), Some(1), "the first is logged");
        for i in 1..1000u64 {
            assert_eq!(m.count(Kind::Http2, t0 + Duration::from_micros(i)), None, "then silence");
        }
        assert_eq!(m.count(Kind::TlsHandshake, t0), Some(1), "each kind has its own second");
        assert_eq!(m.count(Kind::Http2, t0 + Duration::from_secs(1)), Some(1000), "the next line says how many");
        assert_eq!(m.total(Kind::Http2), 1001);
    }
}
