//! The provider API room: what a provider's APNs client meets — the listeners (TLS,
//! HTTP/2, the byte tap under h2), the push checks in Apple's order, authentication by
//! token or certificate and the credentials behind it, fault rules and rate limits.

pub(crate) mod auth;
pub(crate) mod credentials;
pub(crate) mod faults;
pub(crate) mod limits;
pub(crate) mod push;
pub(crate) mod server;
pub(crate) mod tap;

/// Polls `f` once, within the task running now: `Ready` with its output, or `Pending`
/// (it has registered to be woken). For work that has usually nothing to wait for, so
/// that only what does wait gets a timer or a task of its own.
pub(crate) async fn poll_once<F: Future + ?Sized>(mut f: std::pin::Pin<&mut F>) -> std::task::Poll<F::Output> {
    std::future::poll_fn(|cx| std::task::Poll::Ready(f.as_mut().poll(cx))).await
}

impl crate::Shared {
    /// Sets the idle timeout (ms; 0 = never) and tells every provider connection.
    pub(crate) fn set_idle_timeout_ms(&self, ms: u64) {
        self.idle_timeout_ms.store(ms, std::sync::atomic::Ordering::Relaxed);
        self.idle_changed.notify_waiters();
    }

    /// Lowers (or raises) MAX_CONCURRENT_STREAMS on every open provider connection with a
    /// SETTINGS frame; answers how many connections were told.
    pub(crate) fn set_max_streams(&self, n: u32) -> usize {
        let mut told = 0;
        for conn in self.provider_conns.iter().filter_map(|c| c.upgrade()) {
            conn.limit.store(n, std::sync::atomic::Ordering::Release);
            conn.tap.send_settings(&[(tap::SETTINGS_MAX_CONCURRENT_STREAMS, n)]);
            told += 1;
        }
        told
    }
}
