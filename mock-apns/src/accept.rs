//! The one accept loop every listener runs (the provider API's, the gateway's, the admin
//! API's): at most `max` connections at once — the rest wait in the kernel's backlog — an
//! accept error backed off instead of spun on (out of file descriptors, say), and each
//! connection served in a task of its own that holds its place until it ends, until
//! `shutdown` fires.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::{Semaphore, watch};

/// Accepts on `listener` until `shutdown`, serving each connection with `serve`.
pub(crate) async fn accept_loop<F, Fut>(
    listener: TcpListener,
    name: &'static str,
    max: usize,
    mut shutdown: watch::Receiver<bool>,
    mut serve: F,
) where
    F: FnMut(TcpStream, SocketAddr) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    let limit = Arc::new(Semaphore::new(max));
    loop {
        let permit = tokio::select! {
            permit = limit.clone().acquire_owned() => match permit { Ok(p) => p, Err(_) => return },
            _ = shutdown.changed() => return,
        };
        let (tcp, peer) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(a) => a,
                Err(e) => {
                    tracing::warn!(error = %e, listener = name, "accept failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            _ = shutdown.changed() => return,
        };
        let connection = serve(tcp, peer);
        tokio::spawn(async move {
            let _permit = permit;
            connection.await;
        });
    }
}
